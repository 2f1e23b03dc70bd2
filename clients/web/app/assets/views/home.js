// The start view (no conversation open): a welcome that says where the person stands
// (guest, member, no workspace yet), a message search over everything they can read, and
// the way to create a first workspace. On a phone the sidebar stands in for it.

import {api} from '../api.js';
import {externalBadge, formatFull, h, icon, fill} from '../dom.js';
import {href} from '../router.js';
import {store} from '../store.js';
import {newWorkspaceDialog} from './dialogs.js';
import {snippet} from './message.js';

export function mountHome(main, ctx) {
  ctx.setTitle('');
  const member = [...store.workspaces.values()].some((w) => w.my_role);
  const guestOnly = store.workspaces.size > 0 && !member;
  const results = h('div', {class: 'search-results', 'aria-live': 'polite'});
  const q = h('input', {type: 'search', id: 'search-q', name: 'q', placeholder: 'Search messages', autocomplete: 'off'});
  const searchForm = h('form', {class: 'search-form', role: 'search', 'aria-label': 'Search messages'},
    h('label', {for: 'search-q', class: 'visually-hidden'}, 'Search messages'), q,
    h('button', {class: 'btn', type: 'submit'}, icon('search'), 'Search'));
  searchForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const text = q.value.trim();
    if (!text) return;
    fill(results, h('p', {class: 'muted'}, 'Searching…'));
    try {
      const r = await api.search(text);
      if (!r.hits.length) return fill(results, h('p', {}, `Nothing found for “${text}”.`));
      fill(results, h('h2', {class: 'small-head'}, `${r.hits.length} ${r.hits.length === 1 ? 'result' : 'results'}`),
        h('ul', {class: 'hits'}, r.hits.map((hit) => {
          const c = store.convs.get(hit.conversation_id);
          return h('li', {}, h('a', {href: href.conversation(hit.conversation_id)},
            h('span', {class: 'hit-where'}, c ? store.conversationTitle(c) : 'Conversation'),
            h('span', {class: 'hit-who'}, hit.message.author.display_name, hit.message.author.external ? externalBadge() : null, ' · ', formatFull(hit.message.created_at)),
            h('span', {class: 'hit-text'}, snippet(hit.message, 200))));
        })));
    } catch (err) {
      fill(results, h('p', {class: 'inline-error', role: 'alert'}, err.message));
    }
  });

  let lead;
  if (!store.workspaces.size) {
    lead = [h('p', {class: 'lead'}, 'You are not in any workspace yet. Create one for your team, or open an invitation link from your e-mail.'),
      h('button', {class: 'btn primary', type: 'button', onclick: () => newWorkspaceDialog()}, icon('plus'), 'Create a workspace')];
  } else if (guestOnly) {
    lead = [h('p', {class: 'lead'}, 'You are a guest: you see exactly the conversations you were invited to, in the list.')];
  } else {
    lead = [h('p', {class: 'lead'}, 'Pick a conversation from the list, or start a new group, thread or direct message with the + buttons.')];
  }
  fill(main, h('div', {class: 'home'},
    h('h1', {}, `Welcome, ${store.me.display_name}`),
    ...lead,
    store.convs.size ? searchForm : null,
    results));
  return {destroy() {}};
}
