// The signed-out screens: log in, sign up (which sends a verification e-mail) and
// "forgot password" (which sends a reset link). Chosen by the fragment (#/login,
// #/signup, #/forgot). On log-in it stores the session and hands over to the app.

import {api, session} from '../api.js';
import {h, fill} from '../dom.js';
import {field, form} from './forms.js';

export function authLayout(...content) {
  return h('div', {class: 'auth-page'},
    h('main', {class: 'card', id: 'main', tabindex: '-1'},
      h('p', {class: 'brand-lg', 'aria-hidden': 'true'}, h('span', {class: 'brand-mark'}, 'S'), 'Salon'),
      ...content));
}

export function showAuth(root, {onSignedIn, notice}) {
  const render = () => {
    const name = (location.hash.match(/^#\/(login|signup|forgot)/) || [])[1] || 'login';
    const view = {login, signup, forgot}[name]({onSignedIn, notice});
    notice = null;
    fill(root, view);
    document.title = {login: 'Log in', signup: 'Sign up', forgot: 'Reset your password'}[name] + ' · Salon';
    const first = view.querySelector('input');
    if (first) first.focus();
  };
  window.removeEventListener('hashchange', showAuth.listener || (() => {}));
  showAuth.listener = () => {
    if (session.token) return; // the app took over
    render();
  };
  window.addEventListener('hashchange', showAuth.listener);
  render();
}

function login({onSignedIn, notice}) {
  const email = field({label: 'E-mail address', name: 'email', type: 'email', autocomplete: 'email', required: true});
  const password = field({label: 'Password', name: 'password', type: 'password', autocomplete: 'current-password', required: true});
  const f = form({'aria-labelledby': 'auth-title'}, [email, password,
    h('button', {class: 'btn primary wide', type: 'submit'}, 'Log in')], async () => {
    const s = await api.login(email.control.value.trim(), password.control.value);
    session.set(s.token);
    window.removeEventListener('hashchange', showAuth.listener);
    const back = location.hash.startsWith('#/c/') || location.hash.startsWith('#/w/') ? location.hash : '#/';
    history.replaceState(null, '', '/' + back);
    onSignedIn();
  });
  return authLayout(
    h('h1', {id: 'auth-title'}, 'Log in to Salon'),
    notice ? h('p', {class: 'notice', role: 'status'}, notice) : null,
    f,
    h('p', {class: 'auth-links'}, h('a', {href: '#/forgot'}, 'Forgot your password?')),
    h('p', {class: 'auth-links'}, 'New here? ', h('a', {href: '#/signup'}, 'Create an account')));
}

function signup() {
  const name = field({label: 'Your name', name: 'display_name', autocomplete: 'name', required: true, maxlength: '64'});
  const email = field({label: 'E-mail address', name: 'email', type: 'email', autocomplete: 'email', required: true});
  const password = field({label: 'Password', name: 'password', type: 'password', autocomplete: 'new-password', required: true, hint: 'At least 8 characters.'});
  const done = h('div', {role: 'status'});
  const f = form({'aria-labelledby': 'auth-title'}, [name, email, password,
    h('button', {class: 'btn primary wide', type: 'submit'}, 'Create my account')], async () => {
    const address = email.control.value.trim();
    await api.signup(address, password.control.value, name.control.value.trim());
    f.replaceWith(h('div', {class: 'notice'},
      h('h2', {}, 'Check your e-mail'),
      h('p', {}, `We sent a link to ${address}. Follow it to confirm your address and finish signing up.`)));
    done.textContent = `A confirmation link was sent to ${address}.`;
  });
  return authLayout(h('h1', {id: 'auth-title'}, 'Create your Salon account'), f, done,
    h('p', {class: 'auth-links'}, 'Already have an account? ', h('a', {href: '#/login'}, 'Log in')));
}

function forgot() {
  const email = field({label: 'E-mail address', name: 'email', type: 'email', autocomplete: 'email', required: true});
  const f = form({'aria-labelledby': 'auth-title'}, [email,
    h('button', {class: 'btn primary wide', type: 'submit'}, 'Send me a reset link')], async () => {
    await api.requestReset(email.control.value.trim());
    f.replaceWith(h('p', {class: 'notice', role: 'status'}, 'If this address has an account, a reset link is on its way. Check your e-mail.'));
  });
  return authLayout(h('h1', {id: 'auth-title'}, 'Reset your password'), f,
    h('p', {class: 'auth-links'}, h('a', {href: '#/login'}, 'Back to log in')));
}
