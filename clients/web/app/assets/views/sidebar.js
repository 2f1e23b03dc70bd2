// The navigation sidebar: who is signed in (and log-out), the conversation list grouped by
// workspace (groups, threads, direct conversations, with unread counts, the external
// badge, locked state and presence), per-workspace actions (new group/thread/direct
// conversation; people, invitations and audit for those allowed), invitations waiting
// for the signed-in person, and creating a workspace. It re-renders from the store and
// keeps keyboard focus where it was.

import {api} from '../api.js';
import {avatar, h, icon, ROLE_LABELS, announce, fill} from '../dom.js';
import {href} from '../router.js';
import {store} from '../store.js';
import {refreshConversations} from '../sync.js';
import {newDirectDialog, newGroupDialog, newThreadDialog, newWorkspaceDialog} from './dialogs.js';

const KIND_ORDER = [
  ['group', 'Groups'],
  ['thread', 'Threads'],
  ['direct', 'Direct messages'],
];

export function mountSidebar(nav, {onLogout}) {
  let current = {name: 'home'};
  let myInvitations = [];
  const head = h('div', {class: 'sidebar-head'});
  const list = h('div', {class: 'sidebar-scroll'});
  fill(nav, head, list);

  const renderHead = () => {
    const me = store.me;
    const menu = h('div', {class: 'user-menu', id: 'user-menu', hidden: true},
      h('p', {class: 'user-email'}, me.email),
      h('button', {class: 'btn small', type: 'button', onclick: () => onLogout()}, 'Log out'));
    const toggle = h('button', {class: 'user-btn', type: 'button', 'aria-expanded': 'false', 'aria-controls': 'user-menu',
      onclick: () => {
        menu.hidden = !menu.hidden;
        toggle.setAttribute('aria-expanded', String(!menu.hidden));
      }},
    avatar({account_id: me.id, display_name: me.display_name}, 'sm'),
    h('span', {class: 'user-name'}, me.display_name),
    h('span', {class: 'visually-hidden'}, ' (account menu)'));
    menu.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') { e.preventDefault(); menu.hidden = true; toggle.setAttribute('aria-expanded', 'false'); toggle.focus(); }
    });
    fill(head, 
      h('a', {class: 'brand', href: '#/'}, h('span', {class: 'brand-mark', 'aria-hidden': 'true'}, 'S'), 'Salon'),
      h('div', {class: 'user'}, toggle, menu));
  };

  const render = () => {
    const active = document.activeElement;
    const focusKey = active && nav.contains(active) ? active.dataset.key : null;
    const scroll = list.scrollTop;
    const sections = [];
    if (myInvitations.length) sections.push(invitationsSection(myInvitations, async (inv, button) => {
      button.disabled = true;
      try {
        const r = await api.acceptMine(inv.id);
        myInvitations = myInvitations.filter((i) => i.id !== inv.id);
        await refreshConversations();
        announce('Invitation accepted.');
        location.hash = r.conversations.length ? href.conversation(r.conversations[0]) : '#/';
      } catch (e) {
        button.disabled = false;
        button.closest('li').querySelector('.inline-error').textContent = e.message;
      }
    }));
    const workspaces = store.workspaceList();
    for (const ws of workspaces) sections.push(workspaceSection(ws, current));
    if (!workspaces.length) {
      sections.push(h('p', {class: 'sidebar-empty'}, 'No conversations yet.'));
    }
    sections.push(h('div', {class: 'sidebar-foot'},
      h('button', {class: 'btn ghost small', type: 'button', 'data-key': 'new-ws', onclick: () => newWorkspaceDialog()}, icon('plus'), 'New workspace')));
    fill(list, ...sections);
    list.scrollTop = scroll;
    if (focusKey) {
      const again = nav.querySelector(`[data-key="${CSS.escape(focusKey)}"]`);
      if (again) again.focus();
    }
  };

  renderHead();
  render();
  const offs = [store.on('conversations', render), store.on('presence', render)];
  api.myInvitations().then((r) => {
    myInvitations = r.invitations.filter((i) => i.state === 'pending');
    if (myInvitations.length) render();
  }).catch(() => {});

  return {
    setCurrent(route) {
      current = route;
      render();
    },
    destroy() { offs.forEach((off) => off()); },
  };
}

function invitationsSection(invitations, accept) {
  return h('section', {class: 'ws invites', 'aria-labelledby': 'my-invites'},
    h('h2', {class: 'ws-name', id: 'my-invites'}, 'Invitations for you'),
    h('ul', {class: 'invite-list'}, invitations.map((inv) => {
      const button = h('button', {class: 'btn small primary', type: 'button', 'data-key': `acc-${inv.id}`}, 'Accept');
      button.addEventListener('click', () => accept(inv, button));
      return h('li', {},
        h('p', {}, `${inv.invited_by ? inv.invited_by.display_name : 'Someone'} invited you as ${ROLE_LABELS[inv.role] || 'a guest'}.`),
        button, h('p', {class: 'inline-error', role: 'alert'}));
    })));
}

function workspaceSection(ws, current) {
  const id = `ws-${ws.id}`;
  const guest = !ws.my_role;
  const writer = store.canWrite(ws.id);
  const links = [];
  if (store.canManage(ws.id)) {
    links.push(navLink(href.people(ws.id), 'People', current.name === 'people' && current.ws === ws.id));
    links.push(navLink(href.invitations(ws.id), 'Invitations', current.name === 'invitations' && current.ws === ws.id));
  } else if (ws.my_role) {
    links.push(navLink(href.people(ws.id), 'People', current.name === 'people' && current.ws === ws.id));
  }
  if (store.canAudit(ws.id)) links.push(navLink(href.audit(ws.id), 'Audit log', current.name === 'audit' && current.ws === ws.id));

  const kinds = KIND_ORDER.map(([kind, label]) => {
    let convs = ws.conversations.filter((c) => c.kind === kind);
    if (kind === 'group') convs.sort((a, b) => store.conversationTitle(a).localeCompare(store.conversationTitle(b)));
    else convs.sort((a, b) => activity(b) - activity(a));
    let add = null;
    if (kind === 'group' && writer) add = addButton(`New group in ${ws.name}`, `ng-${ws.id}`, () => newGroupDialog(ws.id));
    if (kind === 'thread' && writer) add = addButton(`New thread in ${ws.name}`, `nt-${ws.id}`, () => newThreadDialog(ws.id));
    if (kind === 'direct' && ws.my_role !== 'lite') add = addButton(`New direct message in ${ws.name}`, `nd-${ws.id}`, () => newDirectDialog(ws.id));
    if (!convs.length && !add) return null;
    const headId = `${id}-${kind}`;
    return h('div', {class: 'kind-group'},
      h('div', {class: 'kind-head'}, h('h3', {id: headId}, label), add),
      convs.length
        ? h('ul', {class: 'conv-list', 'aria-labelledby': headId}, convs.map((c) => convItem(c, current)))
        : h('p', {class: 'kind-empty'}, kind === 'direct' ? 'No direct messages yet.' : `No ${label.toLowerCase()} yet.`));
  });

  return h('section', {class: 'ws', 'aria-labelledby': id},
    h('div', {class: 'ws-head'},
      h('h2', {class: 'ws-name', id}, ws.name),
      guest
        ? h('span', {class: 'badge badge-guest', title: 'You are a guest here: you see only what you were invited to.'}, 'Guest')
        : h('span', {class: 'badge badge-role', title: ROLE_LABELS[ws.my_role]}, ws.my_role === 'lite' ? 'Lite' : ROLE_LABELS[ws.my_role])),
    links.length ? h('ul', {class: 'ws-links'}, links) : null,
    kinds);
}

function activity(c) { return c.last_message ? c.last_message.created_at : c.created_at; }

function navLink(to, text, active) {
  return h('li', {}, h('a', {href: to, class: 'ws-link', 'data-key': to, 'aria-current': active ? 'page' : null}, text));
}

function addButton(label, key, onclick) {
  return h('button', {class: 'icon-btn add', type: 'button', 'aria-label': label, title: label, 'data-key': key, onclick}, icon('plus'));
}

function convItem(c, current) {
  const title = store.conversationTitle(c);
  const active = current.name === 'conversation' && current.id === c.id;
  const peer = c.kind === 'direct' ? store.directPeer.get(c.id) : null;
  let lead;
  if (peer) {
    const status = store.presence.get(peer.account_id);
    lead = h('span', {class: 'lead-avatar'}, avatar(peer, 'xs'),
      status ? h('span', {class: `presence-dot ${status}`, title: status}) : null);
  } else {
    lead = icon(c.kind === 'group' ? 'hash' : 'thread');
  }
  const extras = [];
  if (c.kind === 'direct' && peer && store.presence.get(peer.account_id)) extras.push(`, ${store.presence.get(peer.account_id)}`);
  if (c.has_externals) extras.push(', includes external people');
  if (c.locked) extras.push(c.kind === 'group' ? ', archived' : ', closed');
  if (c.unread) extras.push(`, ${c.unread} unread`);
  return h('li', {},
    h('a', {href: href.conversation(c.id), class: `conv-link${c.unread ? ' has-unread' : ''}${active ? ' active' : ''}`, 'data-key': `c-${c.id}`, 'data-conversation': c.id, 'aria-current': active ? 'page' : null},
      lead,
      h('span', {class: 'conv-name'}, title),
      c.has_externals ? h('span', {class: 'ext-dot', title: 'Includes external people', 'aria-hidden': 'true'}, 'ext') : null,
      c.locked ? icon('lock') : null,
      h('span', {class: 'visually-hidden'}, extras.join('')),
      c.unread ? h('span', {class: 'unread-badge', 'aria-hidden': 'true'}, c.unread > 99 ? '99+' : String(c.unread)) : null));
}

