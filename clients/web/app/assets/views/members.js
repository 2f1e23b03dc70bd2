// The members panel of a conversation: "who can see this conversation" (people addressed
// directly, the groups that grant access with their members, and invited addresses
// still pending), adding people (type-ahead over contacts, workspace members and groups,
// or any e-mail address) and removing them, with the removal's receipt. Groups list their
// members and pending invitations. Only actions the caller may take are offered.

import {api} from '../api.js';
import {avatar, externalBadge, formatFull, formatRelative, h, icon, fill, add} from '../dom.js';
import {store} from '../store.js';
import {refreshConversation} from '../sync.js';
import {confirmDialog} from './dialogs.js';
import {busy, errorBox, showApiError, field} from './forms.js';
import {createPicker, peopleOf} from './picker.js';

export function openMembersPanel(ctx, id, opener) {
  const conv = store.convs.get(id);
  ctx.openPanel({
    label: conv.kind === 'group' ? 'Group members' : 'Who can see this',
    opener,
    key: `members:${id}`,
    build: (body) => membersPanel(body, id),
  });
}

function membersPanel(body, id) {
  const conv = store.convs.get(id);
  const role = store.workspaces.get(conv.workspace_id)?.my_role;
  // Workspace members who may write change threads and manage the groups they are in.
  const mayChange = conv.kind !== 'direct' && ['owner', 'admin', 'manager', 'member'].includes(role);
  const status = h('p', {class: 'panel-status', role: 'status'});
  const listArea = h('div', {class: 'audience', 'aria-busy': 'true'}, h('p', {class: 'muted'}, 'Loading…'));
  let current = {people: [], groups: [], invited: []};
  let alive = true;

  const load = async () => {
    try {
      if (conv.kind === 'group') {
        const r = await api.groupMembers(id);
        current = {people: r.people, groups: [], invited: r.invited};
      } else {
        const r = await api.audience(id);
        current = {people: r.participants, groups: r.groups, invited: r.invited};
      }
      [...current.people, ...current.groups.flatMap((g) => g.members)].forEach((p) => store.rememberPerson(p));
      if (alive) renderList();
    } catch (e) {
      if (alive) fill(listArea, h('p', {class: 'inline-error', role: 'alert'}, e.message));
    }
  };

  const person = (p, removable, removeLabel) => {
    const presence = store.presence.get(p.account_id);
    return h('li', {class: 'person', 'data-account': p.account_id},
      h('span', {class: 'lead-avatar'}, avatar(p, 'sm'), presence ? h('span', {class: `presence-dot ${presence}`, title: presence}) : null),
      h('span', {class: 'person-name'}, p.display_name, p.account_id === store.me.id ? h('span', {class: 'muted'}, ' (you)') : null),
      p.external ? externalBadge() : null,
      presence ? h('span', {class: 'visually-hidden'}, `, ${presence}`) : null,
      removable ? h('button', {class: 'icon-btn danger-hover', type: 'button', 'aria-label': removeLabel || `Remove ${p.display_name}`, title: removeLabel || `Remove ${p.display_name}`,
        onclick: (e) => removePerson(p, e.currentTarget)}, icon('close')) : null);
  };

  const renderList = () => {
    listArea.removeAttribute('aria-busy');
    const me = store.me.id;
    const blocks = [];
    const title = store.conversationTitle(conv);
    if (conv.kind === 'group') {
      blocks.push(h('h3', {class: 'small-head'}, `Members (${current.people.length})`),
        h('ul', {class: 'people'}, current.people.map((p) => person(p, mayChange || p.account_id === me,
          p.account_id === me ? `Leave ${title}` : `Remove ${p.display_name} from ${title}`))));
    } else {
      blocks.push(h('h3', {class: 'small-head'}, conv.kind === 'direct' ? 'People' : `People added directly (${current.people.length})`),
        current.people.length ? h('ul', {class: 'people'}, current.people.map((p) => person(p,
          conv.kind === 'thread' && (mayChange || p.account_id === me),
          p.account_id === me ? `Leave ${title}` : `Remove ${p.display_name} from ${title}`))) : h('p', {class: 'muted'}, 'Nobody is addressed directly.'));
      if (current.groups.length) {
        blocks.push(h('h3', {class: 'small-head'}, 'Through groups'));
        for (const g of current.groups) {
          blocks.push(h('details', {class: 'group-block', open: true},
            h('summary', {}, icon('hash'), h('span', {class: 'group-name'}, g.name), h('span', {class: 'muted'}, ` · ${g.members.length} ${g.members.length === 1 ? 'member' : 'members'}`)),
            h('ul', {class: 'people'}, g.members.map((p) => person(p, false))),
            mayChange ? h('button', {class: 'btn small ghost', type: 'button', onclick: (e) => removeGroup(g, e.currentTarget)}, `Take ${g.name} off this thread`) : null));
        }
      }
    }
    if (current.invited.length) {
      blocks.push(h('h3', {class: 'small-head'}, `Invited, not signed up yet (${current.invited.length})`),
        h('ul', {class: 'people'}, current.invited.map((p) => h('li', {class: 'person pending'},
          h('span', {class: 'avatar xs pending-avatar', 'aria-hidden': 'true'}, icon('mail')),
          h('span', {class: 'person-name'}, p.email),
          h('span', {class: 'badge badge-pending', title: `Invited ${formatFull(p.invited_at)}; the link expires ${formatRelative(p.expires_at)}`}, 'Pending')))));
    }
    fill(listArea, ...blocks);
  };

  const removePerson = async (p, button) => {
    const self = p.account_id === store.me.id;
    const title = store.conversationTitle(conv);
    const ok = await confirmDialog({
      title: self ? `Leave ${title}?` : `Remove ${p.display_name}?`,
      text: self ? 'You will no longer see this conversation or its history.' : `${p.display_name} loses access to “${title}” and its history at once${conv.kind === 'thread' ? ' (unless a group still gives them access)' : ''}.`,
      confirm: self ? 'Leave' : 'Remove', danger: true,
    });
    if (!ok) return;
    try {
      const receipt = await busy(button, () => conv.kind === 'group' ? api.removeGroupMember(id, p.account_id) : api.removeRecipientAccount(id, p.account_id));
      showReceipt(receipt, self ? 'You left.' : `${p.display_name} was removed.`);
      if (!self) { await load(); refreshConversation(id); }
    } catch (e) {
      status.textContent = e.message;
      status.className = 'panel-status error';
    }
  };

  const removeGroup = async (g, button) => {
    const ok = await confirmDialog({title: `Take ${g.name} off this thread?`, text: `Members of ${g.name} lose access unless they were added directly.`, confirm: 'Take off', danger: true});
    if (!ok) return;
    try {
      const receipt = await busy(button, () => api.removeRecipientGroup(id, g.id));
      showReceipt(receipt, `${g.name} was taken off the thread.`);
      await load();
      refreshConversation(id);
    } catch (e) {
      status.textContent = e.message;
      status.className = 'panel-status error';
    }
  };

  const showReceipt = (receipt, text) => {
    status.className = 'panel-status ok';
    fill(status, h('strong', {}, text), ' ', receipt && receipt.at ? h('span', {class: 'receipt'}, `Recorded in the audit log at ${formatFull(receipt.at)} (entry ${receipt.id}).`) : null);
  };

  // ---- adding
  let addForm = null;
  if (mayChange) {
    const inAudience = () => new Set([...current.people, ...current.groups.flatMap((g) => conv.kind === 'thread' ? [] : g.members)].map((p) => p.account_id));
    const groupIds = () => new Set(current.groups.map((g) => g.id));
    const picker = createPicker({
      label: conv.kind === 'group' ? 'Add people to the group' : 'Add people or groups',
      allowEmail: true,
      hint: 'Pick a contact or member by name, or type an e-mail address: people without an account get an invitation to a free guest account.',
      exclude: (c) => (c.kind === 'person' && inAudience().has(c.id)) || (c.kind === 'group' && groupIds().has(c.id)),
      load: async () => {
        const people = await peopleOf(api, store, conv.workspace_id);
        if (conv.kind !== 'thread') return people;
        const groups = await api.groups(conv.workspace_id).then((r) => r.groups).catch(() => []);
        return [...groups.filter((g) => !g.archived).map((g) => ({kind: 'group', id: g.id, name: g.name, detail: `${g.member_count} members`})), ...people];
      },
    });
    const note = field({label: 'Personal note for e-mail invitations (optional)', name: 'message', tag: 'textarea', rows: '2', maxlength: '1000'});
    const box = errorBox();
    const submit = h('button', {class: 'btn primary', type: 'submit'}, 'Add');
    addForm = h('form', {class: 'add-form', 'aria-label': 'Add people'}, picker.node, note, h('div', {class: 'form-actions'}, submit), box);
    addForm.addEventListener('submit', async (e) => {
      e.preventDefault();
      const typed = picker.pendingEmail();
      const chosen = [...picker.chosen, ...(typed ? [{kind: 'email', email: typed}] : [])];
      if (!chosen.length) return showApiError(null, box, new Error('Choose someone from the list, or type an e-mail address.'));
      showApiError(null, box, null);
      const message = note.control.value.trim() || undefined;
      const done = [];
      try {
        await busy(submit, async () => {
          for (const c of chosen) {
            const bodyFor = c.kind === 'email' ? {email: c.email, message} : c.kind === 'group' ? {group_id: c.id} : {account_id: c.id};
            if (conv.kind === 'group') await api.addGroupMember(id, bodyFor);
            else await api.addRecipient(id, bodyFor);
            done.push(c);
          }
        });
      } catch (err) {
        const failed = chosen[done.length];
        showApiError(null, box, new Error(`${failed.kind === 'email' ? failed.email : failed.name}: ${err.message}`));
      }
      if (done.length) {
        const text = done.map((c) => c.kind === 'email' ? `${c.email} (e-mail sent)` : c.name).join(', ');
        status.className = 'panel-status ok';
        status.textContent = `Added: ${text}.`;
        picker.clear();
        picker.reload();
        note.control.value = '';
        await load();
        refreshConversation(id);
      }
    });
  }

  const intro = conv.kind === 'thread'
    ? h('p', {class: 'muted small'}, 'Everyone listed here can read the whole thread, history included.')
    : conv.kind === 'group' ? h('p', {class: 'muted small'}, 'Members see the group chat and every thread addressed to the group.') : null;
  add(body, intro, status, listArea, addForm ? h('div', {class: 'panel-section'}, addForm) : null);
  load();
  const off = store.on('presence', () => { if (current.people.length) renderList(); });
  return () => { alive = false; off(); };
}
