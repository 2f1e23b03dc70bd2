// One message in a timeline: author (with the external badge), time, the quoted message
// it replies to, the body (plain text; web addresses become links), "edited", the
// tombstone of a deleted message, reactions, and its actions (react, reply, edit and
// delete where allowed). Also the inline editor and the reaction picker. Messages still
// being sent render here too, with their state (sending, waiting for the connection,
// failed with the server's reason and Retry/Discard).

import {avatar, dayKey, externalBadge, formatDay, formatFull, h, icon, timeEl, fill} from '../dom.js';
import {store} from '../store.js';

export const EMOJI = ['👍', '❤️', '😂', '🎉', '👀', '✅', '🙏', '😮'];

/** Plain text with web addresses as links; never parsed as HTML. */
export function richText(text) {
  const out = [];
  const re = /\bhttps?:\/\/[^\s<>"]+[^\s<>".,;:!?)\]]/g;
  let last = 0;
  let m;
  while ((m = re.exec(text))) {
    if (m.index > last) out.push(text.slice(last, m.index));
    out.push(h('a', {href: m[0], target: '_blank', rel: 'noopener noreferrer nofollow'}, m[0]));
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

export function snippet(m, max = 90) {
  if (!m) return '…';
  if (m.deleted_at) return 'deleted message';
  const text = m.body.replace(/\s+/g, ' ').trim();
  return text.length > max ? text.slice(0, max - 1) + '…' : text;
}

/** Builds the list item of a stored message. `ctx`: the conversation view's callbacks. */
export function renderMessage(m, ctx) {
  const li = h('li', {class: 'msg', id: `msg-${m.seq}`, 'data-seq': String(m.seq), tabindex: '-1'});
  fillMessage(li, m, ctx);
  return li;
}

export function fillMessage(li, m, ctx) {
  const focusedKey = li.contains(document.activeElement) ? document.activeElement.dataset.key : null;
  const conv = ctx.conversation();
  const mine = m.author.account_id === store.me.id;
  const deleted = Boolean(m.deleted_at);
  const canPost = conv.can_post;
  const canDelete = !deleted && (mine || store.canManage(conv.workspace_id));
  const tab = li.tabIndex === 0 ? '0' : '-1';

  const head = h('div', {class: 'msg-head'},
    h('span', {class: 'msg-author'}, m.author.display_name),
    m.author.external ? externalBadge() : null,
    h('span', {class: 'msg-time'}, timeEl(m.created_at)),
    m.edited_at && !deleted ? h('span', {class: 'edited', title: `Edited ${formatFull(m.edited_at)}`}, '(edited)') : null);

  let quote = null;
  if (m.reply_to && !deleted) {
    const target = ctx.lookup(m.reply_to);
    const text = h('span', {class: 'quote-text'}, target ? snippet(target) : 'an earlier message');
    quote = h('button', {class: 'msg-quote', type: 'button', tabindex: tab, 'data-key': 'quote',
      'aria-label': `In reply to ${target ? target.author.display_name : 'a message'}: ${target ? snippet(target) : ''}. Show it.`,
      onclick: () => ctx.jumpTo(m.reply_to)},
    icon('reply'), h('span', {class: 'quote-author'}, target ? target.author.display_name : 'Reply'), ' ', text);
    if (!target) ctx.fetchReply(m.reply_to);
  }

  const body = deleted
    ? h('p', {class: 'msg-body deleted'}, 'This message was deleted.')
    : h('div', {class: 'msg-body'}, richText(m.body));

  const reactions = (m.reactions || []).length && !deleted
    ? h('div', {class: 'reactions', role: 'group', 'aria-label': 'Reactions'}, m.reactions.map((r) => h('button', {
      class: `reaction${r.me ? ' mine' : ''}`, type: 'button', tabindex: tab, 'data-key': `r-${r.emoji}`,
      'aria-pressed': String(r.me), disabled: !canPost,
      'aria-label': `${r.emoji} ${r.count} ${r.count === 1 ? 'reaction' : 'reactions'}${r.me ? ', including yours' : ''}`,
      onclick: () => ctx.react(m.seq, r.emoji)}, h('span', {'aria-hidden': 'true'}, r.emoji), h('span', {class: 'count', 'aria-hidden': 'true'}, String(r.count)))))
    : null;

  const actions = [];
  if (!deleted && canPost) {
    actions.push(actionBtn('smile', 'Add reaction', 'react', tab, (e) => ctx.pickReaction(m.seq, e.currentTarget)));
    actions.push(actionBtn('reply', 'Reply', 'reply', tab, () => ctx.reply(m)));
    if (mine) actions.push(actionBtn('edit', 'Edit', 'edit', tab, () => ctx.edit(m.seq)));
  }
  if (canDelete) actions.push(actionBtn('trash', mine ? 'Delete' : 'Delete (moderate)', 'delete', tab, () => ctx.remove(m)));

  fill(li, 
    h('div', {class: 'day-sep', 'aria-hidden': 'true', hidden: true}, h('span', {}, formatDay(m.created_at))),
    h('div', {class: 'unread-sep', hidden: true}, h('span', {}, 'New messages')),
    h('div', {class: 'msg-row'},
      h('div', {class: 'msg-gutter'}, avatar(m.author), h('span', {class: 'gutter-time', 'aria-hidden': 'true'}, timeEl(m.created_at))),
      h('div', {class: 'msg-main'}, head, quote, body, reactions),
      actions.length ? h('div', {class: 'msg-actions', role: 'toolbar', 'aria-label': 'Message actions'}, actions) : null));
  li.classList.toggle('mine', mine);
  li.classList.toggle('is-deleted', deleted);
  li.dataset.author = m.author.account_id;
  li.dataset.day = dayKey(m.created_at);
  li._v = m._v;
  li.setAttribute('aria-label', `${m.author.display_name}${m.author.external ? ' (external)' : ''}, ${formatFull(m.created_at)}`);
  if (focusedKey) {
    const again = li.querySelector(`[data-key="${CSS.escape(focusedKey)}"]`);
    (again || li).focus();
  }
}

function actionBtn(iconName, label, key, tab, onclick) {
  return h('button', {class: 'icon-btn', type: 'button', 'aria-label': label, title: label, tabindex: tab, 'data-key': key, onclick}, icon(iconName));
}

/** A message of ours not yet stored: "Sending…", "Waiting for the connection…", or failed. */
export function renderPending(p, ctx) {
  const li = h('li', {class: `msg mine pending ${p.state}`, 'data-client': p.clientId, tabindex: '-1'});
  fillPending(li, p, ctx);
  return li;
}

export function fillPending(li, p, ctx) {
  const me = {account_id: store.me.id, display_name: store.me.display_name};
  const status = {
    sending: 'Sending…',
    queued: 'Not sent yet: waiting for the connection. It goes out once Salon is reachable.',
    failed: `Not sent: ${p.error || 'the server refused it.'}`,
  }[p.state];
  li.className = `msg mine pending ${p.state}`;
  li.dataset.state = p.state;
  const replyTarget = p.replyTo ? ctx.lookup(p.replyTo) : null;
  fill(li, h('div', {class: 'msg-row'},
    h('div', {class: 'msg-gutter'}, avatar(me)),
    h('div', {class: 'msg-main'},
      h('div', {class: 'msg-head'}, h('span', {class: 'msg-author'}, me.display_name)),
      replyTarget ? h('p', {class: 'msg-quote static'}, icon('reply'), h('span', {class: 'quote-author'}, replyTarget.author.display_name), ' ', snippet(replyTarget)) : null,
      h('div', {class: 'msg-body'}, richText(p.body)),
      h('p', {class: 'pending-state', role: p.state === 'failed' ? 'alert' : null}, status,
        p.state === 'failed' ? [' ',
          h('button', {class: 'link-btn', type: 'button', onclick: () => ctx.retry(p.clientId)}, 'Retry'), ' · ',
          h('button', {class: 'link-btn', type: 'button', onclick: () => ctx.discard(p.clientId)}, 'Discard')] : null))));
  li._state = p.state;
}

/** Updates the day separators, "new messages" line and author grouping of a timeline. */
export function decorate(items, firstUnread) {
  let prev = null;
  for (const {li, m} of items) {
    const newDay = !prev || dayKey(prev.created_at) !== dayKey(m.created_at);
    const day = li.querySelector('.day-sep');
    if (day) day.hidden = !newDay;
    const unread = li.querySelector('.unread-sep');
    const isFirstUnread = firstUnread !== null && m.seq === firstUnread;
    if (unread) unread.hidden = !isFirstUnread;
    const continued = prev && !newDay && !isFirstUnread && !m.reply_to &&
      prev.author.account_id === m.author.account_id && m.created_at - prev.created_at < 5 * 60000;
    li.classList.toggle('continued', Boolean(continued));
    prev = m;
  }
}

/** The small popover of reactions to choose from. */
export function reactionPicker(anchor, onPick) {
  const existing = document.querySelector('.emoji-picker');
  if (existing) existing.remove();
  const close = () => {
    picker.remove();
    document.removeEventListener('mousedown', outside, true);
    if (anchor.isConnected) anchor.focus();
  };
  const outside = (e) => { if (!picker.contains(e.target) && e.target !== anchor) close(); };
  const picker = h('div', {class: 'emoji-picker', role: 'dialog', 'aria-label': 'Choose a reaction'},
    EMOJI.map((emoji) => h('button', {class: 'emoji', type: 'button', 'aria-label': `React with ${emoji}`,
      onclick: () => { close(); onPick(emoji); }}, emoji)));
  picker.addEventListener('keydown', (e) => {
    const buttons = [...picker.querySelectorAll('button')];
    const i = buttons.indexOf(document.activeElement);
    if (e.key === 'Escape') { e.preventDefault(); e.stopPropagation(); close(); }
    else if (e.key === 'ArrowRight' || e.key === 'ArrowDown') { e.preventDefault(); buttons[(i + 1) % buttons.length].focus(); }
    else if (e.key === 'ArrowLeft' || e.key === 'ArrowUp') { e.preventDefault(); buttons[(i - 1 + buttons.length) % buttons.length].focus(); }
    else if (e.key === 'Tab') { close(); }
  });
  anchor.closest('.msg').append(picker);
  document.addEventListener('mousedown', outside, true);
  picker.querySelector('button').focus();
}
