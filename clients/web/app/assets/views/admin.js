// The workspace screens (People, Invitations, Audit log) and the People tab itself: the
// members with their roles (changed and removed by owners and admins), each Lite user's
// conversations against the workspace's Lite limit, the guests with their external badge,
// the invited users, and the client-group "replace" operation (hand a leaver's groups and
// threads to a successor, a member or an e-mail address) for owners, admins, managers.

import {api} from '../api.js';
import {avatar, externalBadge, formatFull, h, icon, ROLE_LABELS, fill} from '../dom.js';
import {href} from '../router.js';
import {store} from '../store.js';
import {refreshConversations} from '../sync.js';
import {mountAudit} from './audit.js';
import {confirmDialog} from './dialogs.js';
import {busy, errorBox, field, showApiError} from './forms.js';
import {mountInvitations} from './invitations.js';
import {createPicker, peopleOf} from './picker.js';

const ROLE_RANK = {owner: 4, admin: 3, manager: 2, member: 1, lite: 0};

export function mountWorkspaceAdmin(main, wsId, tab, ctx) {
  const ws = store.workspaces.get(wsId);
  if (!ws || !ws.my_role) {
    fill(main, h('div', {class: 'empty-state', role: 'alert'}, h('h1', {}, 'Not available'),
      h('p', {}, 'This workspace does not exist, or you are not a member of it.')));
    return {destroy() {}};
  }
  const tabs = [['people', 'People', true], ['invitations', 'Invitations', store.canManage(wsId)], ['audit', 'Audit log', store.canAudit(wsId)]]
    .filter(([, , allowed]) => allowed);
  const label = {people: 'People', invitations: 'Invitations', audit: 'Audit log'}[tab];
  ctx.setTitle(`${label} · ${ws.name}`);
  const content = h('div', {class: 'admin-content'});
  fill(main, h('div', {class: 'admin'},
    h('header', {class: 'admin-head'},
      h('a', {class: 'icon-btn back-btn', href: '#/', 'aria-label': 'Back to conversations'}, icon('back')),
      h('div', {}, h('p', {class: 'eyebrow'}, ws.name), h('h1', {}, label))),
    tabs.length > 1 ? h('nav', {class: 'tabs', 'aria-label': `${ws.name} administration`},
      tabs.map(([key, text]) => h('a', {href: `#/w/${wsId}/${key}`, class: 'tab', 'aria-current': key === tab ? 'page' : null}, text))) : null,
    content));
  if (tab === 'invitations' && store.canManage(wsId)) return mountInvitations(content, wsId);
  if (tab === 'audit' && store.canAudit(wsId)) return mountAudit(content, wsId);
  if (tab !== 'people') {
    fill(content, h('p', {role: 'alert'}, 'Only the workspace\'s owners, admins (and for invitations, managers) can open this.'));
    return {destroy() {}};
  }
  return mountPeople(content, wsId);
}

function mountPeople(root, wsId) {
  let alive = true;
  const status = h('p', {class: 'panel-status', role: 'status'});
  fill(root, status, h('p', {class: 'muted'}, 'Loading…'));

  const load = async () => {
    const [info, m] = await Promise.all([api.workspace(wsId), api.members(wsId)]);
    store.workspaces.set(wsId, {...store.workspaces.get(wsId), ...info});
    if (alive) render(info, m);
  };

  const render = (info, m) => {
    const me = store.me.id;
    const canRoles = ['owner', 'admin'].includes(info.my_role);
    const limit = info.lite_grant_limit;
    const rows = m.members.map((p) => {
      const self = p.account_id === me;
      let roleCell = ROLE_LABELS[p.role];
      // Owners change any role; admins any below owner (never to owner).
      const changeable = canRoles && !self && (info.my_role === 'owner' || p.role !== 'owner');
      if (changeable) {
        const choices = Object.keys(ROLE_RANK).filter((r) => info.my_role === 'owner' || r !== 'owner');
        const sel = h('select', {'aria-label': `Role of ${p.display_name}`}, choices.map((r) => h('option', {value: r, selected: r === p.role}, ROLE_LABELS[r])));
        sel.addEventListener('change', async () => {
          try {
            await api.changeRole(wsId, p.account_id, sel.value);
            status.className = 'panel-status ok';
            status.textContent = `${p.display_name} is now ${ROLE_LABELS[sel.value]}.`;
            load();
          } catch (e) {
            sel.value = p.role;
            status.className = 'panel-status error';
            status.textContent = e.message;
          }
        });
        roleCell = sel;
      }
      const grants = p.role === 'lite'
        ? h('span', {class: `lite-cap${p.grants >= limit ? ' full' : ''}`},
          h('meter', {min: '0', max: String(limit), value: String(p.grants), 'aria-label': `${p.display_name}: ${p.grants} of ${limit} conversations`}),
          ` ${p.grants} of ${limit}`, p.grants >= limit ? h('span', {class: 'cap-note'}, ' (limit reached)') : null)
        : String(p.grants);
      const removable = canRoles && !self && (info.my_role === 'owner' || p.role !== 'owner');
      return h('tr', {'data-account': p.account_id},
        h('th', {scope: 'row'}, h('span', {class: 'who'}, avatar(p, 'sm'), h('span', {}, h('span', {class: 'person-name'}, p.display_name, self ? h('span', {class: 'muted'}, ' (you)') : null), h('span', {class: 'email'}, p.email)))),
        h('td', {}, roleCell),
        h('td', {}, grants),
        h('td', {class: 'actions'}, removable ? h('button', {class: 'btn small ghost', type: 'button', onclick: (e) => remove(p, e.currentTarget)}, 'Remove') : null));
    });
    const blocks = [
      status,
      h('p', {class: 'stats'},
        h('span', {}, h('strong', {}, `${info.seats_used} of ${info.seat_limit}`), ' seats used'),
        h('span', {}, 'Lite users and guests never take a seat. A Lite user may hold at most ', h('strong', {}, String(limit)), ' conversations.')),
      h('section', {'aria-labelledby': 'members-h'},
        h('h2', {id: 'members-h'}, `Members (${m.members.length})`),
        h('div', {class: 'table-wrap'}, h('table', {class: 'table'},
          h('thead', {}, h('tr', {}, h('th', {scope: 'col'}, 'Name'), h('th', {scope: 'col'}, 'Role'), h('th', {scope: 'col'}, 'Conversations'), h('th', {scope: 'col'}, h('span', {class: 'visually-hidden'}, 'Actions')))),
          h('tbody', {}, rows)))),
      h('section', {'aria-labelledby': 'guests-h'},
        h('h2', {id: 'guests-h'}, `Guests (${m.externals.length})`),
        h('p', {class: 'muted'}, 'People from outside the workspace, in the groups and threads they were invited to.'),
        m.externals.length ? h('ul', {class: 'people grid'}, m.externals.map((p) => h('li', {class: 'person'}, avatar(p, 'sm'), h('span', {class: 'person-name'}, p.display_name), externalBadge())))
          : h('p', {}, 'No guests.')),
    ];
    if (m.invited && m.invited.length) {
      blocks.push(h('section', {'aria-labelledby': 'invited-h'},
        h('h2', {id: 'invited-h'}, `Invited (${m.invited.length})`),
        h('ul', {class: 'people grid'}, m.invited.map((i) => h('li', {class: 'person pending'},
          h('span', {class: 'person-name'}, i.email), h('span', {class: 'badge badge-pending'}, 'Pending'),
          h('span', {class: 'muted small'}, i.role ? ROLE_LABELS[i.role] : 'Guest')))),
        store.canManage(wsId) ? h('p', {}, h('a', {href: href.invitations(wsId)}, 'Manage invitations')) : null));
    }
    if (store.canManage(wsId)) blocks.push(replaceSection(wsId, m, () => load()));
    fill(root, ...blocks);
  };

  const remove = async (p, button) => {
    const ws = store.workspaces.get(wsId);
    if (!await confirmDialog({title: `Remove ${p.display_name} from ${ws.name}?`, text: 'They leave every group and thread of the workspace at once, history included.', confirm: 'Remove', danger: true})) return;
    try {
      const receipt = await busy(button, () => api.removeMember(wsId, p.account_id));
      status.className = 'panel-status ok';
      status.textContent = `${p.display_name} was removed (audit entry ${receipt.id}, ${formatFull(receipt.at)}).`;
      load();
    } catch (e) {
      status.className = 'panel-status error';
      status.textContent = e.message;
    }
  };

  load().catch((e) => { if (alive) fill(root, h('p', {class: 'inline-error', role: 'alert'}, e.message)); });
  return {destroy() { alive = false; }};
}

function replaceSection(wsId, m, reload) {
  const me = store.me.id;
  const leavers = [...m.members.filter((p) => p.account_id !== me).map((p) => [p.account_id, `${p.display_name} (${ROLE_LABELS[p.role]})`]),
    ...m.externals.map((p) => [p.account_id, `${p.display_name} (guest)`])];
  const leaver = field({label: 'Who is leaving?', name: 'leaver', tag: 'select', options: [['', 'Choose a person'], ...leavers], required: true});
  const picker = createPicker({label: 'Who takes over?', multiple: false, allowEmail: true,
    hint: 'A member or contact, or an e-mail address (someone without an account gets an invitation carrying the access).',
    exclude: (c) => c.kind === 'person' && c.id === leaver.control.value,
    load: () => peopleOf(api, store, wsId)});
  const box = errorBox();
  const result = h('div', {role: 'status', class: 'panel-status'});
  const submit = h('button', {class: 'btn primary', type: 'submit'}, 'Hand over access');
  const f = h('form', {class: 'card-form', 'aria-labelledby': 'replace-h'}, leaver, picker.node, h('div', {class: 'form-actions'}, submit), box, result);
  f.addEventListener('submit', async (e) => {
    e.preventDefault();
    showApiError(f, box, null);
    result.textContent = '';
    const who = leaver.control.value;
    const typed = picker.pendingEmail();
    const successor = picker.chosen[0] || (typed ? {kind: 'email', email: typed} : null);
    if (!who) return showApiError(f, box, new Error('Choose who is leaving.'));
    if (!successor) return showApiError(f, box, new Error('Choose who takes over, or type their e-mail address.'));
    const leaverName = leavers.find(([id]) => id === who)[1];
    const successorName = successor.kind === 'email' ? successor.email : successor.name;
    if (!await confirmDialog({title: 'Hand over access?', text: `${leaverName} loses their groups and threads at once; ${successorName} gets the same access.`, confirm: 'Hand over', danger: true})) return;
    const body = {leaver: who};
    if (successor.kind === 'email') body.successor_email = successor.email; else body.successor_account_id = successor.id;
    try {
      const r = await busy(submit, () => api.replace(wsId, body));
      result.className = 'panel-status ok';
      result.textContent = `Done: ${r.groups} ${r.groups === 1 ? 'group' : 'groups'} and ${r.threads} ${r.threads === 1 ? 'thread' : 'threads'} handed from ${leaverName} to ${successorName}.`;
      picker.clear();
      refreshConversations().catch(() => {});
      setTimeout(reload, 1500);
    } catch (err) {
      showApiError(f, box, err);
    }
  });
  return h('section', {'aria-labelledby': 'replace-h', class: 'replace'},
    h('h2', {id: 'replace-h'}, 'Replace a person (client groups)'),
    h('p', {class: 'muted'}, 'When someone leaves a client, hand their group memberships and directly granted threads to their successor in one step.'),
    f);
}
