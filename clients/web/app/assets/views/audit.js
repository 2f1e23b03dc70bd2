// The workspace's audit log (owners and admins): every invitation, acceptance, role
// change, addition and removal, newest first, as sentences, with older pages on demand.

import {api} from '../api.js';
import {formatFull, h, ROLE_LABELS, fill, add} from '../dom.js';

const ACTIONS = {
  invitation_sent: 'invited',
  invitation_resent: 'resent the invitation to',
  invitation_revoked: 'revoked the invitation to',
  invitation_accepted: 'accepted an invitation',
  role_changed: 'changed the role of',
  member_removed: 'removed',
  member_left: 'left the workspace',
  group_member_added: 'added',
  group_member_removed: 'removed',
  participant_added: 'added',
  participant_removed: 'removed',
  group_addressed: 'addressed a group to',
  group_unaddressed: 'took a group off',
  access_replaced: 'handed the access of',
};

function describe(e, names) {
  const actor = e.actor ? e.actor.name : 'Someone (account deleted)';
  const subject = e.account ? e.account.name : e.email || '';
  const where = e.conversation ? e.conversation.name : '';
  const d = e.detail || {};
  switch (e.action) {
    case 'invitation_sent':
      return `${actor} invited ${e.email || subject}${d.role ? ` as ${ROLE_LABELS[d.role] || d.role}` : ' as a guest'}${where ? ` to ${where}` : ''}${d.grants ? ` (${d.grants} ${d.grants === 1 ? 'conversation' : 'conversations'})` : ''}.`;
    case 'invitation_accepted':
      return `${subject || actor} accepted the invitation${d.role ? ` as ${ROLE_LABELS[d.role] || d.role}` : ''}.`;
    case 'role_changed':
      return `${actor} changed ${subject}'s role${d.from ? ` from ${ROLE_LABELS[d.from] || d.from}` : ''}${d.to ? ` to ${ROLE_LABELS[d.to] || d.to}` : ''}.`;
    case 'member_left':
      return `${subject || actor} left the workspace.`;
    case 'group_member_added':
    case 'participant_added':
      return `${actor} added ${subject}${where ? ` to ${where}` : ''}.`;
    case 'group_member_removed':
    case 'participant_removed':
      return actor === subject ? `${actor} left ${where || 'a conversation'}.` : `${actor} removed ${subject}${where ? ` from ${where}` : ''}.`;
    case 'group_addressed':
      return `${actor} addressed a group to ${where}.`;
    case 'group_unaddressed':
      return `${actor} took a group off ${where}.`;
    case 'access_replaced': {
      const heir = (d.successor_account_id && names.get(d.successor_account_id)) || e.email || 'a successor';
      return `${actor} handed ${subject}'s groups and threads to ${heir}.`;
    }
    default:
      return `${actor} ${ACTIONS[e.action] || e.action.replace(/_/g, ' ')} ${subject}${where ? ` (${where})` : ''}.`;
  }
}

export function mountAudit(root, wsId) {
  let alive = true;
  let last = null;
  const body = h('tbody');
  const more = h('button', {class: 'btn', type: 'button', hidden: true}, 'Load older entries');
  const status = h('p', {class: 'muted', role: 'status'}, 'Loading…');
  fill(root, 
    h('p', {class: 'muted'}, 'Every invitation, acceptance, role change, addition and removal in this workspace, newest first.'),
    h('div', {class: 'table-wrap'}, h('table', {class: 'table audit', 'aria-label': 'Audit log'},
      h('thead', {}, h('tr', {}, h('th', {scope: 'col'}, 'When'), h('th', {scope: 'col'}, 'What happened'), h('th', {scope: 'col'}, 'Action'))),
      body)),
    status, more);

  // Entries name the successor of a replace by id only: resolve it from the directory.
  const names = new Map();
  const directory = api.members(wsId).then((m) => {
    for (const p of [...m.members, ...m.externals]) names.set(p.account_id, p.display_name);
  }).catch(() => {});

  const load = async () => {
    more.disabled = true;
    await directory;
    try {
      const page = await api.audit(wsId, last || undefined);
      if (!alive) return;
      for (const e of page.entries) {
        add(body, h('tr', {}, h('td', {class: 'nowrap'}, formatFull(e.at)), h('td', {}, describe(e, names)), h('td', {}, h('code', {}, e.action))));
      }
      if (page.entries.length) last = page.entries[page.entries.length - 1].id;
      more.hidden = !page.has_more;
      status.textContent = body.children.length ? '' : 'Nothing recorded yet.';
    } catch (e) {
      status.textContent = e.message;
      status.className = 'inline-error';
    } finally {
      more.disabled = false;
    }
  };
  more.addEventListener('click', load);
  load();
  return {destroy() { alive = false; }};
}
