// DOM helpers: building elements, formatting times and names, announcing to screen
// readers. Every piece of text goes in as a text node or an attribute value: nothing here
// (or anywhere in the app) parses strings as HTML, so server-provided names and messages
// can never become markup.

/**
 * Creates an element. `props`: `class`, `text`, `on<event>` handlers, booleans
 * (`hidden: true`), and any other attribute (`aria-*`, `data-*`, `for`, ...). Children:
 * nodes, strings (inserted as text), arrays, and null/false/undefined (skipped).
 */
export function h(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = value;
    else if (key.startsWith('on') && typeof value === 'function') node.addEventListener(key.slice(2), value);
    else if (key === 'value' && 'value' in node) node.value = value;
    else if (value === true) node.setAttribute(key, '');
    else node.setAttribute(key, String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else if (child instanceof Node) node.append(child);
    else node.append(document.createTextNode(String(child)));
  }
}

/** An SVG icon from the inline sprite-free set below (paths only, no markup parsing). */
const ICONS = {
  hash: 'M5 9h14M4 15h14M10 3 8 21M16 3l-2 18',
  thread: 'M4 5h16v10H9l-5 4z',
  direct: 'M12 12a4 4 0 1 0 0-8 4 4 0 0 0 0 8zm-7 9a7 7 0 0 1 14 0',
  lock: 'M6 11h12v10H6zM8 11V7a4 4 0 0 1 8 0v4',
  people: 'M9 11a3.5 3.5 0 1 0 0-7 3.5 3.5 0 0 0 0 7zM2.5 20a6.5 6.5 0 0 1 13 0M16 4.5a3.5 3.5 0 0 1 0 6.5M18 14a6 6 0 0 1 3.5 6',
  plus: 'M12 5v14M5 12h14',
  close: 'M6 6l12 12M18 6 6 18',
  back: 'M15 5l-7 7 7 7',
  reply: 'M10 8 5 12l5 4M5 12h9a5 5 0 0 1 5 5v1',
  smile: 'M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18zM8.5 14.5a4.5 4.5 0 0 0 7 0M9 9.5h.01M15 9.5h.01',
  edit: 'M4 20h4L19 9l-4-4L4 16zM13.5 6.5l4 4',
  trash: 'M5 7h14M10 11v6M14 11v6M6 7l1 13h10l1-13M9 7V4h6v3',
  send: 'M4 12 20 4l-6 16-3-7z',
  mail: 'M3 6h18v12H3zM3 7l9 6 9-6',
  menu: 'M4 7h16M4 12h16M4 17h16',
  search: 'M11 18a7 7 0 1 0 0-14 7 7 0 0 0 0 14zm5-2 5 5',
};

export function icon(name, label) {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('class', 'icon');
  svg.setAttribute('focusable', 'false');
  if (label) {
    svg.setAttribute('role', 'img');
    svg.setAttribute('aria-label', label);
  } else {
    svg.setAttribute('aria-hidden', 'true');
  }
  const path = document.createElementNS(ns, 'path');
  path.setAttribute('d', ICONS[name] || '');
  svg.append(path);
  return svg;
}

/** The badge worn by anyone outside the workspace, and by conversations holding them. */
export function externalBadge(kind = 'person') {
  const title = kind === 'person' ? 'Outside this workspace' : 'Includes people from outside the workspace';
  return h('span', {class: 'badge badge-external', title}, 'External');
}

export function initials(name) {
  const words = String(name || '?').trim().split(/\s+/).filter(Boolean);
  const letters = words.length > 1 ? words[0][0] + words[words.length - 1][0] : (words[0] || '?').slice(0, 2);
  return letters.toUpperCase();
}

/** A stable colour class (`c0`..`c7`) for an id: avatars keep their colour everywhere. */
export function colourClass(id) {
  let n = 0;
  for (const ch of String(id)) n = (n * 31 + ch.charCodeAt(0)) % 9973;
  return `c${n % 8}`;
}

export function avatar(person, size = '') {
  return h('span', {class: `avatar ${colourClass(person.account_id)} ${size}`, 'aria-hidden': 'true'}, initials(person.display_name));
}

const timeFmt = new Intl.DateTimeFormat(undefined, {hour: '2-digit', minute: '2-digit'});
const dayFmt = new Intl.DateTimeFormat(undefined, {weekday: 'long', month: 'long', day: 'numeric'});
const dayYearFmt = new Intl.DateTimeFormat(undefined, {year: 'numeric', month: 'long', day: 'numeric'});
const fullFmt = new Intl.DateTimeFormat(undefined, {dateStyle: 'medium', timeStyle: 'short'});

export const formatTime = (ms) => timeFmt.format(new Date(ms));
export const formatFull = (ms) => fullFmt.format(new Date(ms));

export function dayKey(ms) {
  const d = new Date(ms);
  return `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`;
}

export function formatDay(ms) {
  const now = new Date();
  const d = new Date(ms);
  if (dayKey(ms) === dayKey(now.getTime())) return 'Today';
  if (dayKey(ms) === dayKey(now.getTime() - 86400000)) return 'Yesterday';
  return d.getFullYear() === now.getFullYear() ? dayFmt.format(d) : dayYearFmt.format(d);
}

/** "in 6 days", "2 hours ago": for expiry dates and the like. */
export function formatRelative(ms) {
  const rtf = new Intl.RelativeTimeFormat(undefined, {numeric: 'auto'});
  const diff = ms - Date.now();
  const abs = Math.abs(diff);
  const units = [['day', 86400000], ['hour', 3600000], ['minute', 60000]];
  for (const [unit, size] of units) {
    if (abs >= size) return rtf.format(Math.round(diff / size), unit);
  }
  return rtf.format(0, 'minute');
}

export function timeEl(ms, text) {
  return h('time', {datetime: new Date(ms).toISOString(), title: formatFull(ms)}, text ?? formatTime(ms));
}

/** Says something through the page's polite live region (screen readers only). */
export function announce(text, region = 'live-status') {
  const node = document.getElementById(region);
  if (!node) return;
  // Clearing first makes repeated identical texts be read again.
  node.textContent = '';
  requestAnimationFrame(() => { node.textContent = text; });
}

/** Shows an error (or clears it when `message` is empty) in a region next to the form. */
export function showError(node, message) {
  node.textContent = message || '';
  node.hidden = !message;
}

/** Moves focus to the first focusable element inside `root`, or to `root` itself. */
export function focusFirst(root) {
  const target = root.querySelector('[autofocus], input:not([type=hidden]):not([disabled]), textarea, select, button:not([disabled]), a[href], [tabindex="0"]');
  (target || root).focus();
}

export const ROLE_LABELS = {owner: 'Owner', admin: 'Admin', manager: 'Manager', member: 'Member', lite: 'Lite (read-only)'};

/** Splits pasted text into e-mail addresses (commas, semicolons, spaces or lines). */
export function parseEmails(text) {
  const seen = new Set();
  const out = [];
  for (const part of String(text).split(/[\s,;]+/)) {
    const email = part.trim().replace(/^<|>$/g, '');
    if (!email) continue;
    const key = email.toLowerCase();
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(email);
  }
  return out;
}

export const looksLikeEmail = (text) => /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(String(text).trim());

/** Replaces a node's children (same child rules as `h`: null and false are skipped). */
export function fill(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

/** Appends children (same child rules as `h`). */
export function add(node, ...children) {
  append(node, children);
  return node;
}
