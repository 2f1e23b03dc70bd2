// The signed-in layout: the conversation sidebar (navigation), the main view chosen by
// the route, the side panel (members), the connection banner and the page title. Owns
// routing between views, the panel's open/close (Escape closes it and gives focus back)
// and the phone layout switch (one column: the list, or the open view with a way back).

import {h, icon, fill, add} from '../dom.js';
import {parse} from '../router.js';
import {store} from '../store.js';
import {reconnectNow} from '../sync.js';
import {mountSidebar} from './sidebar.js';
import {mountConversation} from './conversation.js';
import {mountHome} from './home.js';
import {mountWorkspaceAdmin} from './admin.js';

let shell = null;

export function mountShell(root, {onLogout}) {
  const banner = h('div', {class: 'conn-banner', id: 'conn-banner', role: 'status', 'aria-live': 'polite', hidden: true});
  const nav = h('nav', {class: 'sidebar', id: 'sidebar', 'aria-label': 'Conversations'});
  const main = h('main', {class: 'main', id: 'main', tabindex: '-1'});
  const panel = h('aside', {class: 'panel', id: 'panel', hidden: true});
  const skip = h('a', {class: 'skip-link', href: '#main', onclick: (e) => { e.preventDefault(); main.focus(); }}, 'Skip to content');
  const node = h('div', {class: 'shell'}, skip, banner, nav, main, panel);
  fill(root, node);

  const state = {node, main, panel, banner, view: null, panelCtl: null, route: null, cleanups: []};
  shell = state;

  const sidebar = mountSidebar(nav, {onLogout});
  state.cleanups.push(() => sidebar.destroy());

  const route = () => {
    const r = parse();
    if (['login', 'signup', 'forgot'].includes(r.name)) {
      history.replaceState(null, '', '/#/');
      return route();
    }
    state.route = r;
    closePanel(false);
    if (state.view) state.view.destroy();
    fill(main);
    const ctx = {openPanel, closePanel, setTitle, focusMain: () => main.focus()};
    if (r.name === 'conversation') state.view = mountConversation(main, r.id, ctx);
    else if (['people', 'invitations', 'audit'].includes(r.name)) state.view = mountWorkspaceAdmin(main, r.ws, r.name, ctx);
    else state.view = mountHome(main, ctx);
    node.classList.toggle('show-detail', r.name !== 'home');
    sidebar.setCurrent(r);
  };
  window.addEventListener('hashchange', route);
  state.cleanups.push(() => window.removeEventListener('hashchange', route));

  const onKey = (e) => {
    if (e.key !== 'Escape' || e.defaultPrevented) return;
    if (document.querySelector('dialog[open]')) return; // the dialog closes itself
    if (state.panelCtl) {
      e.preventDefault();
      closePanel(true);
    }
  };
  document.addEventListener('keydown', onKey);
  state.cleanups.push(() => document.removeEventListener('keydown', onKey));

  state.cleanups.push(store.on('connection', (c) => renderBanner(banner, c)));
  state.cleanups.push(store.on('conversations', updateTitle));
  renderBanner(banner, store.connection);
  route();
}

export function unmountShell() {
  if (!shell) return;
  if (shell.view) shell.view.destroy();
  closePanel(false);
  for (const fn of shell.cleanups) fn();
  shell = null;
}

let titleBase = 'Salon';
function setTitle(text) {
  titleBase = text ? `${text} · Salon` : 'Salon';
  updateTitle();
}

function updateTitle() {
  const n = store.totalUnread();
  document.title = n ? `(${n}) ${titleBase}` : titleBase;
}

let bannerTimer = null;
function renderBanner(banner, c) {
  clearInterval(bannerTimer);
  const state = c.state;
  banner.className = `conn-banner ${state}`;
  if (state === 'open' || state === 'idle' || state === 'stopped') {
    if (!banner.hidden && banner.dataset.was === 'reconnecting') {
      fill(banner, 'Connected again.');
      banner.className = 'conn-banner ok';
      banner.dataset.was = 'ok';
      bannerTimer = setTimeout(() => { banner.hidden = true; }, 2000);
    } else {
      banner.hidden = true;
    }
    document.body.classList.remove('is-offline');
    return;
  }
  if (state === 'connecting') {
    banner.hidden = true;
    return;
  }
  // reconnecting
  banner.hidden = false;
  banner.dataset.was = 'reconnecting';
  document.body.classList.add('is-offline');
  const text = h('span', {class: 'conn-text'});
  const update = () => {
    const secs = c.retryAt ? Math.max(0, Math.ceil((c.retryAt - Date.now()) / 1000)) : 0;
    text.textContent = secs > 1 ? `Reconnecting… (trying again in ${secs} s)` : 'Reconnecting…';
  };
  update();
  fill(banner, h('span', {class: 'spinner', 'aria-hidden': 'true'}), text,
    h('span', {class: 'conn-sub'}, ' Messages you send are kept and go out once connected.'),
    h('button', {class: 'btn small', type: 'button', onclick: () => reconnectNow()}, 'Retry now'));
  // Keep the countdown fresh without re-announcing it to screen readers every second.
  text.setAttribute('aria-hidden', 'true');
  banner.prepend(h('span', {class: 'visually-hidden'}, 'Connection lost. Reconnecting.'));
  bannerTimer = setInterval(update, 1000);
}

/**
 * Opens the side panel. `build(container, close)` fills it and may return a cleanup;
 * `opener` gets focus back when the panel closes.
 */
function openPanel({label, build, opener, key}) {
  closePanel(false);
  const {panel} = shell;
  const heading = h('h2', {id: 'panel-title'}, label);
  const close = h('button', {class: 'icon-btn', type: 'button', 'aria-label': `Close ${label.toLowerCase()}`, onclick: () => closePanel(true)}, icon('close'));
  const body = h('div', {class: 'panel-body'});
  fill(panel, h('div', {class: 'panel-head'}, heading, close), body);
  panel.setAttribute('aria-labelledby', 'panel-title');
  panel.hidden = false;
  shell.node.classList.add('with-panel');
  const cleanup = build(body, () => closePanel(true));
  shell.panelCtl = {cleanup, opener, key};
  if (opener) opener.setAttribute('aria-expanded', 'true');
  close.focus();
}

function closePanel(restoreFocus) {
  if (!shell || !shell.panelCtl) return;
  const {cleanup, opener} = shell.panelCtl;
  shell.panelCtl = null;
  if (typeof cleanup === 'function') cleanup();
  shell.panel.hidden = true;
  fill(shell.panel);
  shell.node.classList.remove('with-panel');
  if (opener) {
    opener.setAttribute('aria-expanded', 'false');
    if (restoreFocus && opener.isConnected) opener.focus();
  }
}

export function panelOpen(key) { return shell?.panelCtl?.key === key; }
