// The workspace's invitation screen (owners, admins, managers): invite several addresses
// at once with a role, groups, threads and a personal note (or upload a CSV file), with
// the Lite limit shown and checked while choosing access; and the invitations still open
// (or all of them), each with resend and revoke.

import {api} from '../api.js';
import {formatFull, formatRelative, h, icon, parseEmails, ROLE_LABELS, fill} from '../dom.js';
import {store} from '../store.js';
import {confirmDialog} from './dialogs.js';
import {busy, errorBox, field, showApiError, uid} from './forms.js';

const ROLE_RANK = {owner: 4, admin: 3, manager: 2, member: 1, lite: 0};

export function mountInvitations(root, wsId) {
  let alive = true;
  const ws = store.workspaces.get(wsId);
  const pendingArea = h('div', {class: 'pending-area'});
  const formArea = h('div', {class: 'invite-area'}, h('p', {class: 'muted'}, 'Loading…'));
  let showAll = false;

  fill(root, 
    h('section', {'aria-labelledby': 'invite-h', class: 'invite-section'}, h('h2', {id: 'invite-h'}, `Invite people to ${ws.name}`), formArea),
    h('section', {'aria-labelledby': 'pending-h'}, h('div', {class: 'section-head'}, h('h2', {id: 'pending-h'}, 'Pending invitations'),
      h('label', {class: 'check inline'}, h('input', {type: 'checkbox', onchange: (e) => { showAll = e.target.checked; loadPending(); }}), 'Show accepted and revoked too')),
    pendingArea));

  const loadPending = async () => {
    try {
      const r = await api.invitations(wsId, showAll ? 'all' : undefined);
      if (alive) renderPending(r.invitations);
    } catch (e) {
      if (alive) fill(pendingArea, h('p', {class: 'inline-error', role: 'alert'}, e.message));
    }
  };

  const pendingStatus = h('p', {class: 'panel-status', role: 'status'});
  const renderPending = (list) => {
    if (!list.length) {
      fill(pendingArea, pendingStatus, h('p', {class: 'muted', id: 'no-pending'}, showAll ? 'No invitations yet.' : 'No pending invitations.'));
      return;
    }
    const rows = list.map((inv) => {
      const open = inv.state === 'pending' || inv.state === 'expired';
      const stateText = {pending: `Expires ${formatRelative(inv.expires_at)}`, expired: 'Expired', accepted: 'Accepted', revoked: 'Revoked'}[inv.state];
      return h('tr', {'data-invitation': inv.id, 'data-email': inv.email},
        h('th', {scope: 'row'}, h('span', {class: 'email-strong'}, inv.email), inv.message ? h('span', {class: 'muted small note-line'}, `“${inv.message}”`) : null),
        h('td', {}, inv.role ? ROLE_LABELS[inv.role] : 'Guest'),
        h('td', {}, inv.grants.length ? h('ul', {class: 'grant-chips'}, inv.grants.map((g) => h('li', {}, g.kind === 'group' ? icon('hash') : icon('thread'), g.title))) : h('span', {class: 'muted'}, 'Workspace only')),
        h('td', {}, inv.invited_by ? inv.invited_by.display_name : '—', h('span', {class: 'muted small block'}, formatFull(inv.sent_at))),
        h('td', {}, h('span', {class: `badge badge-state ${inv.state}`}, inv.state === 'pending' ? 'Pending' : stateText), inv.state === 'pending' ? h('span', {class: 'muted small block'}, stateText) : null),
        h('td', {class: 'actions'}, open ? [
          h('button', {class: 'btn small', type: 'button', 'aria-label': `Resend the invitation to ${inv.email}`, onclick: (e) => resend(inv, e.currentTarget)}, 'Resend'),
          h('button', {class: 'btn small ghost danger-text', type: 'button', 'aria-label': `Revoke the invitation to ${inv.email}`, onclick: (e) => revoke(inv, e.currentTarget)}, 'Revoke')] : null));
    });
    fill(pendingArea, pendingStatus, h('div', {class: 'table-wrap'}, h('table', {class: 'table', id: 'pending-table', 'aria-labelledby': 'pending-h'},
      h('thead', {}, h('tr', {}, ['E-mail', 'Role', 'Access', 'Invited by', 'State'].map((t) => h('th', {scope: 'col'}, t)), h('th', {scope: 'col'}, h('span', {class: 'visually-hidden'}, 'Actions')))),
      h('tbody', {}, rows))));
  };

  const resend = async (inv, button) => {
    try {
      await busy(button, () => api.resendInvitation(inv.id));
      pendingStatus.className = 'panel-status ok';
      pendingStatus.textContent = `A new link was sent to ${inv.email}; the old one no longer works.`;
      loadPending();
    } catch (e) {
      pendingStatus.className = 'panel-status error';
      pendingStatus.textContent = `${inv.email}: ${e.message}`;
    }
  };

  const revoke = async (inv, button) => {
    if (!await confirmDialog({title: `Revoke the invitation to ${inv.email}?`, text: 'The link stops working and any access it was waiting to give disappears.', confirm: 'Revoke', danger: true})) return;
    try {
      const receipt = await busy(button, () => api.revokeInvitation(inv.id));
      pendingStatus.className = 'panel-status ok';
      pendingStatus.textContent = `The invitation to ${inv.email} was revoked (audit entry ${receipt.id}).`;
      loadPending();
    } catch (e) {
      pendingStatus.className = 'panel-status error';
      pendingStatus.textContent = `${inv.email}: ${e.message}`;
    }
  };

  const buildForm = async () => {
    const [info, groups] = await Promise.all([api.workspace(wsId), api.groups(wsId).then((r) => r.groups)]);
    if (!alive) return;
    const limit = info.lite_grant_limit;
    const threads = [...store.convs.values()].filter((c) => c.workspace_id === wsId && c.kind === 'thread' && !c.locked)
      .sort((a, b) => a.title.localeCompare(b.title));
    const myRank = ROLE_RANK[info.my_role];
    const roles = ['admin', 'manager', 'member', 'lite'].filter((r) => ROLE_RANK[r] <= myRank);

    const emails = field({label: 'E-mail addresses', name: 'emails', tag: 'textarea', rows: '3', required: true,
      hint: 'One or more: one per line, or separated by commas.', placeholder: 'ana@client.example, ben@client.example'});
    const emailCount = h('p', {class: 'hint count', 'aria-live': 'polite'});
    emails.control.addEventListener('input', () => {
      const n = parseEmails(emails.control.value).length;
      emailCount.textContent = n ? `${n} ${n === 1 ? 'address' : 'addresses'}` : '';
      submit.textContent = n > 1 ? `Send ${n} invitations` : 'Send invitation';
    });
    const role = field({label: 'Role', name: 'role', tag: 'select', options: roles.map((r) => [r, ROLE_LABELS[r]])});
    role.control.value = roles.includes('member') ? 'member' : roles[0];
    const roleHelp = h('p', {class: 'hint', id: uid('rolehelp')});

    const checkList = (title, items, name) => {
      const id = uid(name);
      return h('fieldset', {class: 'checks'}, h('legend', {}, title),
        items.length ? h('ul', {class: 'check-list', id}, items.map((it) => h('li', {},
          h('label', {class: 'check'}, h('input', {type: 'checkbox', name, value: it.id}), icon(name === 'groups' ? 'hash' : 'thread'), h('span', {}, it.name),
            it.detail ? h('span', {class: 'muted small'}, ` · ${it.detail}`) : null))))
          : h('p', {class: 'muted'}, name === 'groups' ? 'No groups yet.' : 'No open threads you can see.'));
    };
    const groupsBox = checkList('Groups', groups.filter((g) => !g.archived).map((g) => ({id: g.id, name: g.name, detail: `${g.member_count} members`})), 'groups');
    const threadsBox = checkList('Threads (conversation access)', threads.map((t) => ({id: t.id, name: t.title, detail: t.has_externals ? 'includes external people' : null})), 'threads');
    const liteNote = h('p', {class: 'lite-note', role: 'status', hidden: true});
    const message = field({label: 'Personal message (optional)', name: 'message', tag: 'textarea', rows: '3', maxlength: '1000', hint: 'Shown in the e-mail and on the invitation page.'});
    const submit = h('button', {class: 'btn primary', type: 'submit'}, 'Send invitation');
    const box = errorBox();
    const result = h('div', {class: 'panel-status', role: 'status'});

    const chosen = (name) => [...formEl.querySelectorAll(`input[name=${name}]:checked`)].map((i) => i.value);
    const updateRole = () => {
      const r = role.control.value;
      roleHelp.textContent = {
        admin: 'Admins manage the workspace, its people and roles. Takes a seat.',
        manager: 'Managers invite people and manage access. Takes a seat.',
        member: 'Members chat, start groups and threads. Takes a seat.',
        lite: `Lite users read, never post, and take no seat. They may hold at most ${limit} conversations of this workspace.`,
      }[r];
      const n = chosen('groups').length + chosen('threads').length;
      if (r !== 'lite') { liteNote.hidden = true; return; }
      liteNote.hidden = false;
      liteNote.className = `lite-note${n > limit || n === 0 ? ' warn' : ''}`;
      liteNote.textContent = n === 0
        ? `Lite: choose at least one group or thread (up to ${limit}).`
        : `Lite: this invitation grants ${n} of at most ${limit} conversations.${n > limit ? ' That is over the limit: choose fewer.' : ''}`;
    };
    role.control.setAttribute('aria-describedby', `${role.control.getAttribute('aria-describedby')} ${roleHelp.id}`);

    const formEl = h('form', {class: 'invite-form', 'aria-labelledby': 'invite-h'},
      h('div', {class: 'form-grid'},
        h('div', {}, emails, emailCount, role, roleHelp, message),
        h('div', {}, groupsBox, threadsBox, liteNote)),
      h('div', {class: 'form-actions'}, submit), box, result);
    formEl.addEventListener('change', updateRole);
    updateRole();

    formEl.addEventListener('submit', async (e) => {
      e.preventDefault();
      showApiError(formEl, box, null);
      result.textContent = '';
      const list = parseEmails(emails.control.value);
      if (!list.length) return showApiError(formEl, box, Object.assign(new Error('Enter at least one e-mail address.'), {field: 'emails'}));
      const r = role.control.value;
      const g = chosen('groups');
      const t = chosen('threads');
      if (r === 'lite' && (g.length + t.length === 0 || g.length + t.length > limit)) {
        return showApiError(formEl, box, new Error(g.length + t.length === 0 ? 'A Lite invitation needs at least one group or thread.' : `A Lite user may hold at most ${limit} conversations: choose fewer.`));
      }
      const note = message.control.value.trim();
      const invitations = list.map((email) => ({email, role: r, groups: g, threads: t, ...(note ? {message: note} : {})}));
      try {
        const res = await busy(submit, () => api.invite(wsId, invitations), 'Sending…');
        result.className = 'panel-status ok';
        result.textContent = `Invitations sent to ${res.invitations.map((i) => i.email).join(', ')}.`;
        emails.control.value = '';
        message.control.value = '';
        emailCount.textContent = '';
        submit.textContent = 'Send invitation';
        loadPending();
      } catch (err) {
        // The server names a field like `invitations[1].email`: say it on the form.
        showApiError(formEl, box, {message: err.message});
      }
    });

    // CSV upload.
    const file = field({label: 'CSV file', name: 'csv', type: 'file', accept: '.csv,text/csv',
      hint: 'One line per address: email,role,groups,threads,message. Groups and threads by name or id, separated by “;”. Role defaults to member. A header line is allowed.'});
    const csvSubmit = h('button', {class: 'btn', type: 'submit'}, 'Upload and invite');
    const csvBox = errorBox();
    const csvResult = h('div', {class: 'panel-status', role: 'status'});
    const csvForm = h('form', {class: 'csv-form', 'aria-label': 'Invite from a CSV file'}, file, h('div', {class: 'form-actions'}, csvSubmit), csvBox, csvResult);
    csvForm.addEventListener('submit', async (e) => {
      e.preventDefault();
      showApiError(csvForm, csvBox, null);
      const f = file.control.files[0];
      if (!f) return showApiError(csvForm, csvBox, new Error('Choose a CSV file first.'));
      try {
        const text = await f.text();
        const res = await busy(csvSubmit, () => api.inviteCsv(wsId, text), 'Uploading…');
        csvResult.className = 'panel-status ok';
        csvResult.textContent = `${res.invitations.length} ${res.invitations.length === 1 ? 'invitation' : 'invitations'} sent from ${f.name}.`;
        file.control.value = '';
        loadPending();
      } catch (err) {
        showApiError(csvForm, csvBox, {message: err.message});
      }
    });

    fill(formArea, formEl, h('details', {class: 'csv'}, h('summary', {}, 'Or upload a CSV file'), csvForm));
  };

  buildForm().catch((e) => { if (alive) fill(formArea, h('p', {class: 'inline-error', role: 'alert'}, e.message)); });
  loadPending();
  return {destroy() { alive = false; }};
}
