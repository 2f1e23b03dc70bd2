// The pages e-mailed links land on: confirm an address (/verify), set a new password
// (/reset-password) and accept an invitation (/invite: sign up for a free account, or log
// in and accept when the address has one). The token travels in the fragment (never
// sent to a server by the browser) and is posted only when the person acts.

import {api, session} from '../api.js';
import {h, ROLE_LABELS, formatRelative, fill} from '../dom.js';
import {authLayout} from './auth.js';
import {field, form} from './forms.js';

const tokenFromHash = () => new URLSearchParams(location.hash.slice(1)).get('token');

export function showLinkPage(root, which, {onSignedIn}) {
  const token = tokenFromHash();
  const show = (...content) => {
    fill(root, authLayout(...content));
    const first = root.querySelector('input, button');
    if (first) first.focus();
  };
  const incomplete = () => h('p', {role: 'alert'}, 'This link is incomplete: open the link from your e-mail again, or copy all of it into the address bar.');
  if (which === 'verify') {
    document.title = 'Confirm your address · Salon';
    if (!token) return show(h('h1', {}, 'Confirm your e-mail address'), incomplete());
    const f = form({}, [h('p', {}, 'One click and your Salon account is ready.'),
      h('button', {class: 'btn primary wide', type: 'submit'}, 'Confirm my address')], async () => {
      const s = await api.verify(token);
      session.set(s.token);
      onSignedIn('#/');
    });
    return show(h('h1', {}, 'Confirm your e-mail address'), f);
  }
  if (which === 'reset') {
    document.title = 'Reset your password · Salon';
    if (!token) {
      const email = field({label: 'E-mail address', name: 'email', type: 'email', autocomplete: 'email', required: true});
      const f = form({}, [email, h('button', {class: 'btn primary wide', type: 'submit'}, 'Send me a reset link')], async () => {
        await api.requestReset(email.control.value.trim());
        f.replaceWith(h('p', {class: 'notice', role: 'status'}, 'If this address has an account, a reset link is on its way.'));
      });
      return show(h('h1', {}, 'Reset your password'), f);
    }
    const pw = field({label: 'New password', name: 'new_password', type: 'password', autocomplete: 'new-password', required: true, hint: 'At least 8 characters.'});
    const f = form({}, [pw, h('button', {class: 'btn primary wide', type: 'submit'}, 'Set my new password')], async () => {
      await api.confirmReset(token, pw.control.value);
      session.clear();
      f.replaceWith(h('div', {class: 'notice', role: 'status'},
        h('p', {}, 'Your password is changed and every session was signed out.'),
        h('p', {}, h('a', {class: 'btn primary', href: '/#/login'}, 'Log in with it'))));
    });
    return show(h('h1', {}, 'Choose a new password'), f);
  }
  document.title = 'Your invitation · Salon';
  if (!token) return show(h('h1', {}, 'Your invitation'), incomplete());
  show(h('h1', {}, 'Your invitation'), h('p', {role: 'status'}, 'Opening your invitation…'));
  invitation(token, show, onSignedIn);
}

async function invitation(token, show, onSignedIn) {
  let p;
  try {
    p = await api.previewInvitation(token);
  } catch (e) {
    return show(h('h1', {}, 'Your invitation'), h('p', {role: 'alert'}, e.message),
      h('p', {}, 'Ask the person who invited you to send the invitation again.'),
      h('p', {class: 'auth-links'}, h('a', {href: '/#/login'}, 'Log in to Salon')));
  }
  const what = p.role
    ? `${p.invited_by} invited you to join ${p.workspace_name} as ${p.role === 'lite' ? 'a Lite user (you can read, not post)' : (p.role === 'admin' ? 'an ' : 'a ') + ROLE_LABELS[p.role].toLowerCase()}.`
    : `${p.invited_by} invited you to a conversation in ${p.workspace_name}. You join as an external guest: you see only what you are invited to.`;
  const first = p.grants.length ? `#/c/${p.grants[0].conversation_id}` : '#/';
  const summary = [
    h('p', {class: 'lead'}, what),
    p.grants.length ? h('div', {class: 'grants'}, h('h2', {class: 'small-head'}, 'You will have access to'),
      h('ul', {class: 'grant-list'}, p.grants.map((g) => h('li', {}, h('span', {class: `kind kind-${g.kind}`}, g.kind === 'group' ? 'Group' : 'Thread'), ' ', g.title)))) : null,
    p.message ? h('figure', {class: 'note'}, h('blockquote', {}, p.message), h('figcaption', {}, `— ${p.invited_by}`)) : null,
    h('p', {class: 'hint'}, `This invitation is for ${p.email} and expires ${formatRelative(p.expires_at)}.`),
  ];

  const loginAndAccept = (intro) => {
    const pw = field({label: 'Password', name: 'password', type: 'password', autocomplete: 'current-password', required: true});
    return form({'aria-label': 'Log in and accept'}, [
      h('p', {}, intro),
      h('input', {type: 'email', name: 'email', autocomplete: 'username', value: p.email, hidden: true, readonly: true}),
      pw,
      h('button', {class: 'btn primary wide', type: 'submit'}, 'Log in and accept')], async () => {
      const s = await api.login(p.email, pw.control.value);
      session.set(s.token);
      const accepted = await api.acceptInvitation(token);
      onSignedIn(accepted.conversations.length ? `#/c/${accepted.conversations[0]}` : first);
    });
  };

  // Already signed in as the invited address: one click.
  if (session.token) {
    try {
      const me = await api.me();
      if (me.email.toLowerCase() === p.email.toLowerCase()) {
        const f = form({}, [h('p', {}, `You are logged in as ${me.display_name} (${me.email}).`),
          h('button', {class: 'btn primary wide', type: 'submit'}, 'Accept the invitation')], async () => {
          const accepted = await api.acceptInvitation(token);
          onSignedIn(accepted.conversations.length ? `#/c/${accepted.conversations[0]}` : first);
        });
        return show(h('h1', {}, `Join ${p.workspace_name}`), ...summary, f);
      }
    } catch { /* not signed in after all */ }
  }

  if (p.account_exists) {
    return show(h('h1', {}, `Join ${p.workspace_name}`), ...summary,
      loginAndAccept(`${p.email} already has a Salon account: log in to accept.`),
      h('p', {class: 'auth-links'}, h('a', {href: '/reset-password'}, 'Forgot your password?')));
  }
  const name = field({label: 'Your name', name: 'display_name', autocomplete: 'name', required: true, maxlength: '64', hint: 'How others will see you.'});
  const pw = field({label: 'Choose a password', name: 'password', type: 'password', autocomplete: 'new-password', required: true, hint: 'At least 8 characters.'});
  const f = form({'aria-label': 'Create your free account'}, [
    h('p', {}, `Create your free account for ${p.email}. No further confirmation needed: this link proves the address.`),
    h('input', {type: 'email', name: 'email', autocomplete: 'username', value: p.email, hidden: true, readonly: true}),
    name, pw,
    h('button', {class: 'btn primary wide', type: 'submit'}, 'Create my account and join')], async () => {
    try {
      const s = await api.signupFromInvitation(token, name.control.value.trim(), pw.control.value);
      session.set(s.token);
      onSignedIn(first);
    } catch (e) {
      if (e.code !== 'account_exists') throw e;
      f.replaceWith(loginAndAccept(`${p.email} already has a Salon account: log in to accept.`));
    }
  });
  show(h('h1', {}, `Join ${p.workspace_name}`), ...summary, f);
}
