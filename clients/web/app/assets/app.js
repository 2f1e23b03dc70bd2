// The entry point. Owns deciding what the page is: one of the pages e-mailed links land on
// (`/verify`, `/reset-password`, `/invite`, chosen by path), the signed-out screens, or
// the signed-in app; and moving between them (log-in, log-out here or in another tab,
// a session revoked on the server).

import {api, onSignedOut, session} from './api.js';
import {h, fill} from './dom.js';
import {boot, onGatewaySignedOut, shutdown} from './sync.js';
import {showAuth} from './views/auth.js';
import {showLinkPage} from './views/links.js';
import {mountShell, unmountShell} from './views/shell.js';

const root = document.getElementById('app');
let running = false;

/** Starts the signed-in app (after log-in, sign-up from a link, or with a stored session). */
export async function start() {
  if (!session.token) {
    showAuth(root, {onSignedIn: start});
    return;
  }
  fill(root, h('p', {class: 'boot', role: 'status'}, 'Loading your conversations…'));
  try {
    await boot();
  } catch (e) {
    if (e.code === 'unauthenticated') {
      session.clear();
      showAuth(root, {onSignedIn: start});
      return;
    }
    fill(root, h('div', {class: 'auth-page'}, h('div', {class: 'card', role: 'alert'},
      h('h1', {}, 'Salon is not reachable'), h('p', {}, e.message),
      h('button', {class: 'btn primary', type: 'button', onclick: () => start()}, 'Try again'))));
    return;
  }
  running = true;
  mountShell(root, {onLogout: logout});
}

/** Ends the session here (and, through localStorage, in this browser's other tabs). */
export async function logout() {
  try { await api.logout(); } catch { /* the session may already be gone */ }
  signedOut('You are logged out.');
}

function signedOut(notice) {
  session.clear();
  if (running) {
    running = false;
    unmountShell();
    shutdown();
  }
  if (!location.hash.startsWith('#/login')) history.replaceState(null, '', '/#/login');
  showAuth(root, {onSignedIn: start, notice});
}

onSignedOut(() => signedOut('Your session ended. Log in again.'));
onGatewaySignedOut(() => signedOut('Your session ended. Log in again.'));

// Another tab logged out (or in): follow it.
window.addEventListener('storage', (e) => {
  if (e.key !== session.KEY) return;
  if (!e.newValue && running) signedOut('You logged out in another tab.');
  else if (e.newValue && !running && !['/verify', '/reset-password', '/invite'].includes(location.pathname)) start();
});

const linkPage = {'/verify': 'verify', '/reset-password': 'reset', '/invite': 'invite'}[location.pathname];
if (linkPage) showLinkPage(root, linkPage, {onSignedIn: enterApp});
else start();

/** Leaves a link page for the app without a reload (the token leaves the address bar). */
function enterApp(fragment = '#/') {
  history.replaceState(null, '', '/' + fragment);
  start();
}
