// The pages e-mailed links land on: confirm an address, reset a password, accept an
// invitation. Tokens travel in the URL fragment (never sent to a server) and are posted
// only when the person acts. Server text is inserted as text, never as HTML.
const app = document.getElementById('app');
const token = new URLSearchParams(location.hash.slice(1)).get('token');

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith('on')) node.addEventListener(k.slice(2), v); else node.setAttribute(k, v);
  }
  node.append(...children);
  return node;
}

async function post(path, body, session) {
  const headers = {'Content-Type': 'application/json'};
  if (session) headers.Authorization = `Bearer ${session}`;
  const r = await fetch(path, {method: 'POST', headers, body: JSON.stringify(body)});
  const text = await r.text();
  return {ok: r.ok, body: text ? JSON.parse(text) : null};
}

function show(...nodes) { app.replaceChildren(...nodes); }
const status = el('p', {role: 'status'});
const say = (text) => { status.textContent = text; };

function field(id, label, attrs) {
  return [el('label', {for: id}, label), el('input', {id, required: '', ...attrs})];
}

function verify() {
  if (!token) return show(el('h1', {}, 'Confirm your e-mail address'), el('p', {}, 'This link is incomplete: open the link from your e-mail again.'));
  show(el('h1', {}, 'Confirm your e-mail address'),
    el('form', {onsubmit: async (e) => {
      e.preventDefault();
      const r = await post('/api/v1/auth/verify', {token});
      if (!r.ok) return say(r.body.error.message);
      localStorage.setItem('salon.session', r.body.token);
      say('Your address is confirmed and your account is ready.');
    }}, el('button', {type: 'submit'}, 'Confirm my address')), status);
}

function reset() {
  const form = token
    ? el('form', {onsubmit: async (e) => {
        e.preventDefault();
        const r = await post('/api/v1/auth/password-reset/confirm', {token, new_password: document.getElementById('pw').value});
        say(r.ok ? 'Your password is changed and every session is signed out. Log in again with it.' : r.body.error.message);
      }}, ...field('pw', 'New password (at least 8 characters)', {type: 'password', autocomplete: 'new-password', minlength: '8'}), el('p', {}, el('button', {type: 'submit'}, 'Set my new password')))
    : el('form', {onsubmit: async (e) => {
        e.preventDefault();
        const r = await post('/api/v1/auth/password-reset', {email: document.getElementById('email').value});
        say(r.ok ? 'If this address has an account, a reset link is on its way.' : r.body.error.message);
      }}, ...field('email', 'Your e-mail address', {type: 'email', autocomplete: 'email'}), el('p', {}, el('button', {type: 'submit'}, 'Send me a reset link')));
  show(el('h1', {}, 'Reset your password'), form, status);
}

async function invite() {
  show(el('h1', {}, 'Your invitation'), status);
  if (!token) return say('This link is incomplete: open the link from your e-mail again.');
  const preview = await post('/api/v1/invitations/preview', {token});
  if (!preview.ok) return say(preview.body.error.message);
  const p = preview.body;
  const what = p.role
    ? `${p.invited_by} invited you to join ${p.workspace_name} as ${p.role === 'lite' ? 'a Lite (read-only) user' : 'a ' + p.role}.`
    : `${p.invited_by} invited you to a conversation in ${p.workspace_name}. You join as an external guest.`;
  const done = (session) => { localStorage.setItem('salon.session', session); say('You are in.'); };
  const form = p.account_exists
    ? el('form', {onsubmit: async (e) => {
        e.preventDefault();
        const login = await post('/api/v1/auth/login', {email: p.email, password: document.getElementById('pw').value});
        if (!login.ok) return say(login.body.error.message);
        const r = await post('/api/v1/invitations/accept', {token}, login.body.token);
        if (!r.ok) return say(r.body.error.message);
        done(login.body.token);
      }}, el('p', {}, `${p.email} has an account: log in to accept.`), ...field('pw', 'Password', {type: 'password', autocomplete: 'current-password'}), el('p', {}, el('button', {type: 'submit'}, 'Log in and accept')))
    : el('form', {onsubmit: async (e) => {
        e.preventDefault();
        const r = await post('/api/v1/invitations/signup', {token, display_name: document.getElementById('name').value, password: document.getElementById('pw').value});
        if (!r.ok) return say(r.body.error.message);
        done(r.body.token);
      }}, el('p', {}, `Create your free account for ${p.email}.`), ...field('name', 'Your name', {autocomplete: 'name', maxlength: '64'}), ...field('pw', 'Choose a password (at least 8 characters)', {type: 'password', autocomplete: 'new-password', minlength: '8'}), el('p', {}, el('button', {type: 'submit'}, 'Create my account and join')));
  show(el('h1', {}, 'Your invitation'), el('p', {}, what), el('ul', {}, ...p.grants.map((g) => el('li', {}, g.title))), ...(p.message ? [el('blockquote', {}, p.message)] : []), form, status);
}

function home() {
  show(el('h1', {}, 'Salon'), el('p', {}, 'This Salon server is running. The API is described at ', el('a', {href: '/api/v1/openapi.json'}, '/api/v1/openapi.json'), '.'));
}

({'/verify': verify, '/reset-password': reset, '/invite': invite}[location.pathname] || home)();
