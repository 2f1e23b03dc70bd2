// The people picker: a type-ahead combobox (ARIA 1.2 pattern) over people and groups the
// caller knows (contacts, workspace members and guests, groups), which can also take an
// e-mail address for someone not on the list. Single or multiple choice; choices show as
// removable chips. Loads its candidates lazily and never shows who is already excluded.

import {avatar, externalBadge, h, icon, looksLikeEmail, fill} from '../dom.js';
import {uid} from './forms.js';

/**
 * `load()` resolves to candidates `{key, kind: 'person'|'group', id, name, detail?, external?}`.
 * `allowEmail`: an address typed in becomes a `{kind: 'email', email}` choice.
 */
export function createPicker({label, hint, load, allowEmail = false, multiple = true, exclude = () => false, placeholder, onChange = () => {}}) {
  const id = uid('picker');
  const listId = `${id}-list`;
  let candidates = null;
  let loading = null;
  let chosen = [];
  let options = [];
  let activeIndex = -1;

  const input = h('input', {id, type: 'text', class: 'picker-input', role: 'combobox', autocomplete: 'off', spellcheck: 'false',
    'aria-autocomplete': 'list', 'aria-expanded': 'false', 'aria-controls': listId, placeholder: placeholder || (allowEmail ? 'Type a name or an e-mail address' : 'Type a name')});
  const listbox = h('ul', {id: listId, role: 'listbox', class: 'picker-list', hidden: true, 'aria-label': label});
  const chips = h('ul', {class: 'chips', 'aria-label': 'Chosen'});
  const count = h('p', {class: 'visually-hidden', 'aria-live': 'polite'});
  const node = h('div', {class: 'picker field'},
    h('label', {for: id}, label),
    hint ? h('p', {class: 'hint', id: `${id}-hint`}, hint) : null,
    chips,
    h('div', {class: 'picker-box'}, input, listbox),
    count);
  if (hint) input.setAttribute('aria-describedby', `${id}-hint`);

  const ensure = () => {
    if (candidates) return Promise.resolve(candidates);
    if (!loading) loading = load().then((c) => { candidates = c; return c; }).catch(() => { candidates = []; return []; });
    return loading;
  };

  const keyOf = (c) => c.key || (c.kind === 'email' ? `e:${c.email.toLowerCase()}` : `${c.kind}:${c.id}`);

  const renderChips = () => {
    fill(chips, ...chosen.map((c) => h('li', {class: 'chip'},
      c.kind === 'group' ? icon('hash') : c.kind === 'email' ? icon('mail') : avatar({account_id: c.id, display_name: c.name}, 'xs'),
      h('span', {}, c.kind === 'email' ? c.email : c.name),
      c.external ? externalBadge() : null,
      h('button', {class: 'chip-x', type: 'button', 'aria-label': `Remove ${c.kind === 'email' ? c.email : c.name}`,
        onclick: () => { chosen = chosen.filter((x) => x !== c); renderChips(); onChange(chosen); input.focus(); }}, icon('close')))));
    chips.hidden = !chosen.length;
  };

  const close = () => {
    generation += 1;
    listbox.hidden = true;
    input.setAttribute('aria-expanded', 'false');
    input.removeAttribute('aria-activedescendant');
    activeIndex = -1;
  };

  const setActive = (i) => {
    activeIndex = i;
    [...listbox.children].forEach((li, j) => li.setAttribute('aria-selected', String(j === i)));
    if (i >= 0 && listbox.children[i]) {
      input.setAttribute('aria-activedescendant', listbox.children[i].id);
      listbox.children[i].scrollIntoView({block: 'nearest'});
    } else {
      input.removeAttribute('aria-activedescendant');
    }
  };

  let generation = 0;
  const refresh = async () => {
    const mine = ++generation;
    const q = input.value.trim().toLowerCase();
    const all = await ensure();
    // A choice, a newer keystroke or leaving the field since: this answer is stale.
    if (mine !== generation || document.activeElement !== input) return;
    const taken = new Set(chosen.map(keyOf));
    options = all.filter((c) => !taken.has(keyOf(c)) && !exclude(c) &&
      (!q || c.name.toLowerCase().includes(q) || (c.detail || '').toLowerCase().includes(q))).slice(0, 30);
    if (allowEmail && looksLikeEmail(q) && !taken.has(`e:${q}`) && !options.some((o) => (o.detail || '').toLowerCase() === q)) {
      options.push({kind: 'email', email: input.value.trim(), name: input.value.trim()});
    }
    fill(listbox, ...options.map((c, i) => h('li', {id: `${id}-o${i}`, role: 'option', class: 'picker-option', 'aria-selected': 'false',
      onmousedown: (e) => { e.preventDefault(); choose(i); }},
    c.kind === 'group' ? h('span', {class: 'opt-icon'}, icon('hash')) : c.kind === 'email' ? h('span', {class: 'opt-icon'}, icon('mail')) : avatar({account_id: c.id, display_name: c.name}, 'xs'),
    h('span', {class: 'opt-name'}, c.kind === 'email' ? `Invite ${c.email} by e-mail` : c.name),
    c.detail ? h('span', {class: 'opt-detail'}, c.detail) : null,
    c.external ? externalBadge() : null)));
    if (!options.length) {
      fill(listbox, h('li', {class: 'picker-empty', role: 'option', 'aria-disabled': 'true', id: `${id}-none`},
        q ? (allowEmail ? 'Nobody matches. Type a full e-mail address to invite someone new.' : 'Nobody matches.') : 'Nobody else to add.'));
    }
    listbox.hidden = false;
    input.setAttribute('aria-expanded', 'true');
    count.textContent = options.length ? `${options.length} suggestions` : 'No suggestions';
    setActive(options.length && q ? 0 : -1);
  };

  const choose = (i) => {
    const c = options[i];
    if (!c) return;
    generation += 1;
    chosen = multiple ? [...chosen, c] : [c];
    input.value = '';
    renderChips();
    close();
    onChange(chosen);
    input.focus();
  };

  input.addEventListener('input', refresh);
  input.addEventListener('focus', () => { ensure(); });
  input.addEventListener('click', refresh);
  input.addEventListener('blur', () => setTimeout(close, 100));
  input.addEventListener('keydown', (e) => {
    const open = !listbox.hidden;
    if (e.key === 'ArrowDown') {
      e.preventDefault();
      if (!open) refresh(); else setActive(Math.min(options.length - 1, activeIndex + 1));
    } else if (e.key === 'ArrowUp') {
      e.preventDefault();
      if (open) setActive(Math.max(0, activeIndex - 1));
    } else if (e.key === 'Enter') {
      if (open && activeIndex >= 0) { e.preventDefault(); choose(activeIndex); }
      else if (allowEmail && looksLikeEmail(input.value)) {
        e.preventDefault();
        options = [{kind: 'email', email: input.value.trim(), name: input.value.trim()}];
        choose(0);
      } else if (open) { e.preventDefault(); }
    } else if (e.key === 'Escape' && open) {
      e.preventDefault();
      e.stopPropagation();
      close();
    } else if (e.key === 'Backspace' && !input.value && chosen.length) {
      chosen = chosen.slice(0, -1);
      renderChips();
      onChange(chosen);
    }
  });
  renderChips();

  return {
    node,
    input,
    get chosen() { return chosen; },
    /** What is typed but not chosen yet: an address counts as chosen on submit. */
    pendingEmail() { return allowEmail && looksLikeEmail(input.value) ? input.value.trim() : null; },
    clear() { chosen = []; input.value = ''; renderChips(); close(); onChange(chosen); },
    reload() { candidates = null; loading = null; },
    focus() { input.focus(); },
  };
}

/** Candidates for a workspace: its members and guests (when visible), and one's contacts. */
export async function peopleOf(api, store, wsId) {
  const out = new Map();
  const me = store.me.id;
  if (wsId && store.workspaces.get(wsId)?.my_role) {
    try {
      const m = await api.members(wsId);
      for (const p of m.members) {
        if (p.account_id !== me) out.set(p.account_id, {kind: 'person', id: p.account_id, name: p.display_name, detail: p.email, external: false, role: p.role});
      }
      for (const p of m.externals) {
        if (p.account_id !== me) out.set(p.account_id, {kind: 'person', id: p.account_id, name: p.display_name, detail: 'Guest', external: true});
      }
    } catch { /* not allowed to list: contacts only */ }
  }
  try {
    const c = await api.contacts();
    for (const p of c.contacts) {
      if (p.account_id !== me && !out.has(p.account_id)) {
        const known = store.people.get(p.account_id);
        out.set(p.account_id, {kind: 'person', id: p.account_id, name: p.display_name, detail: 'Contact', external: wsId && store.workspaces.get(wsId)?.my_role ? true : Boolean(known?.external)});
      }
    }
  } catch { /* none */ }
  return [...out.values()].sort((a, b) => a.name.localeCompare(b.name));
}
