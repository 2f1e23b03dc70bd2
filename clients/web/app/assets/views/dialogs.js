// Modal dialogs (native <dialog>: focus stays inside, Escape closes, focus returns to
// where it was): confirming a destructive action, creating a workspace, a group or a
// thread, and starting a direct conversation.

import {api} from '../api.js';
import {announce, h, icon, add} from '../dom.js';
import {href} from '../router.js';
import {store} from '../store.js';
import {refreshConversation, refreshConversations} from '../sync.js';
import {field, form, uid} from './forms.js';
import {createPicker, peopleOf} from './picker.js';

/** Opens a modal. `build(body, close)` fills it; resolves with what `close(value)` got. */
export function openDialog({title, build, wide}) {
  return new Promise((resolve) => {
    const opener = document.activeElement;
    const titleId = uid('dlg');
    const body = h('div', {class: 'dialog-body'});
    const dialog = h('dialog', {class: `dialog${wide ? ' wide' : ''}`, 'aria-labelledby': titleId},
      h('div', {class: 'dialog-head'}, h('h2', {id: titleId}, title),
        h('button', {class: 'icon-btn', type: 'button', 'aria-label': 'Close', onclick: () => close(undefined)}, icon('close'))),
      body);
    let result;
    const close = (value) => {
      result = value;
      if (dialog.open) dialog.close();
    };
    dialog.addEventListener('close', () => {
      dialog.remove();
      if (opener && opener.isConnected) opener.focus();
      resolve(result);
    });
    add(document.body, dialog);
    build(body, close);
    dialog.showModal();
    const first = body.querySelector('[autofocus], input, textarea, select, button');
    if (first) first.focus();
  });
}

export function confirmDialog({title, text, confirm = 'OK', danger = false}) {
  return openDialog({
    title,
    build(body, close) {
      add(body, 
        h('p', {}, text),
        h('div', {class: 'dialog-actions'},
          h('button', {class: 'btn', type: 'button', onclick: () => close(false)}, 'Cancel'),
          h('button', {class: `btn ${danger ? 'danger' : 'primary'}`, type: 'button', autofocus: true, 'data-confirm': '1', onclick: () => close(true)}, confirm)));
    },
  }).then(Boolean);
}

const actions = (close, submitText) => h('div', {class: 'dialog-actions'},
  h('button', {class: 'btn', type: 'button', onclick: () => close()}, 'Cancel'),
  h('button', {class: 'btn primary', type: 'submit'}, submitText));

export function newWorkspaceDialog() {
  return openDialog({
    title: 'Create a workspace',
    build(body, close) {
      const name = field({label: 'Workspace name', name: 'name', required: true, maxlength: '80', placeholder: 'e.g. Acme Ltd', hint: 'Usually your company or team. You become its owner.'});
      add(body, form({}, [name, actions(close, 'Create workspace')], async () => {
        const ws = await api.createWorkspace(name.control.value.trim());
        await refreshConversations();
        close(ws);
        announce(`Workspace ${ws.name} created.`);
        location.hash = href.people(ws.id);
      }));
    },
  });
}

async function openNew(conversation) {
  await refreshConversation(conversation.id);
  location.hash = href.conversation(conversation.id);
}

export function newGroupDialog(wsId) {
  const ws = store.workspaces.get(wsId);
  return openDialog({
    title: `New group in ${ws.name}`,
    build(body, close) {
      const name = field({label: 'Group name', name: 'name', required: true, maxlength: '80', placeholder: 'e.g. Design, Client: Globex'});
      const picker = createPicker({label: 'Members (optional)', hint: 'You are a member already. Add more people now or later.', load: () => peopleOf(api, store, wsId)});
      add(body, form({}, [name, picker.node, actions(close, 'Create group')], async () => {
        const g = await api.createGroup(wsId, name.control.value.trim(), picker.chosen.filter((c) => c.kind === 'person').map((c) => c.id));
        close(g);
        announce(`Group ${g.name} created.`);
        await openNew(g);
      }));
    },
  });
}

export function newThreadDialog(wsId) {
  const ws = store.workspaces.get(wsId);
  return openDialog({
    title: `New thread in ${ws.name}`,
    wide: true,
    build(body, close) {
      const subject = field({label: 'Subject', name: 'subject', required: true, maxlength: '200', placeholder: 'What is it about?'});
      const picker = createPicker({
        label: 'Who is it for?',
        hint: 'Groups and people. Everyone in an addressed group can read the thread. You can add more later, including people from outside by e-mail.',
        load: async () => {
          const [people, groups] = await Promise.all([peopleOf(api, store, wsId), api.groups(wsId).then((r) => r.groups).catch(() => [])]);
          return [...groups.filter((g) => !g.archived).map((g) => ({kind: 'group', id: g.id, name: g.name, detail: `${g.member_count} members`})), ...people];
        },
      });
      add(body, form({}, [subject, picker.node, actions(close, 'Start thread')], async () => {
        const groups = picker.chosen.filter((c) => c.kind === 'group').map((c) => c.id);
        const accounts = picker.chosen.filter((c) => c.kind === 'person').map((c) => c.id);
        const t = await api.createThread(wsId, subject.control.value.trim(), groups, accounts);
        close(t);
        announce(`Thread ${t.title} started.`);
        await openNew(t);
      }));
    },
  });
}

export function newDirectDialog(wsId) {
  const ws = store.workspaces.get(wsId);
  return openDialog({
    title: `Direct message in ${ws.name}`,
    build(body, close) {
      const picker = createPicker({label: 'Person', multiple: false, hint: ws.my_role ? 'A member of the workspace, or a guest you share a conversation with.' : 'Someone you share a conversation with.',
        load: () => peopleOf(api, store, wsId)});
      add(body, form({}, [picker.node, actions(close, 'Open conversation')], async () => {
        const person = picker.chosen[0];
        if (!person) throw Object.assign(new Error('Choose a person from the list first.'), {});
        const c = await api.direct(wsId, person.id);
        close(c);
        await openNew(c);
      }));
    },
  });
}
