// The conversation view: its header (title, external badge, closed/archived state, the
// members panel toggle, close/reopen for threads), the timeline (live messages in
// sequence order, scroll-back that loads older pages and keeps the reading position,
// "new messages" line, jump to newest), who is typing, and the composer (Enter sends,
// Shift+Enter adds a line, replies, drafts kept per conversation; a read-only notice
// for Lite users and locked conversations). It marks the conversation read while it is
// on screen and scrolled to its end, and tells the person at once when access is lost.

import {api} from '../api.js';
import {announce, externalBadge, h, icon, fill, add} from '../dom.js';
import {store} from '../store.js';
import * as sync from '../sync.js';
import {confirmDialog} from './dialogs.js';
import {decorate, fillMessage, fillPending, reactionPicker, renderMessage, renderPending, snippet} from './message.js';
import {openMembersPanel} from './members.js';

const drafts = new Map();

export function mountConversation(main, id, ctx) {
  const offs = [];
  let destroyed = false;
  const status = h('p', {class: 'view-status', role: 'status'}, 'Opening the conversation…');
  fill(main, h('div', {class: 'view-loading'}, status));

  const start = async () => {
    if (!store.convs.has(id)) await sync.refreshConversation(id);
    if (destroyed) return;
    if (!store.convs.has(id)) {
      ctx.setTitle('Not found');
      fill(main, gone('This conversation does not exist, or you do not have access to it.'));
      return;
    }
    build();
  };

  const gone = (text) => h('div', {class: 'empty-state', role: 'alert'},
    h('a', {class: 'back-link', href: '#/'}, icon('back'), 'Conversations'),
    h('h1', {}, 'Not available'), h('p', {}, text));

  let view = null;
  const build = () => {
    view = conversationView(main, id, ctx);
  };

  offs.push(store.on(`removed:${id}`, (conv) => {
    if (view) view.teardown();
    view = null;
    ctx.closePanel(false);
    ctx.setTitle('No access');
    fill(main, gone(`You no longer have access to “${store.conversationTitle(conv) || conv.title || 'this conversation'}”. Its history is no longer available to you.`));
    main.focus();
  }));

  start().catch((e) => {
    if (!destroyed) fill(main, gone(e.message));
  });

  return {
    destroy() {
      destroyed = true;
      if (view) view.teardown();
      offs.forEach((off) => off());
      sync.closeConversation(id);
    },
  };
}

function conversationView(main, id, ctx) {
  const conv = () => store.convs.get(id);
  const c0 = conv();
  const title = store.conversationTitle(c0);
  ctx.setTitle(title);
  const els = new Map(); // seq -> li
  const pendingEls = new Map(); // clientId -> li
  const tl = () => store.timeline(id);
  let firstUnread = c0.unread > 0 ? c0.read_seq + 1 : null;
  let replyTo = null;
  let editing = null; // seq being edited
  let active = null; // the message li in the tab order
  let initialScrollDone = false;
  let unseen = 0;
  const localOffs = [];

  // ---- header
  const titleEl = h('h1', {class: 'conv-title', id: 'conv-title'});
  const badges = h('span', {class: 'conv-badges'});
  const membersBtn = h('button', {class: 'btn ghost', type: 'button', 'aria-expanded': 'false', 'aria-controls': 'panel', 'data-action': 'members'},
    icon('people'), h('span', {class: 'btn-label'}, c0.kind === 'group' ? 'Members' : 'People'));
  membersBtn.addEventListener('click', () => {
    if (membersBtn.getAttribute('aria-expanded') === 'true') return ctx.closePanel(true);
    openMembersPanel(ctx, id, membersBtn);
  });
  const lockBtn = h('button', {class: 'btn ghost', type: 'button', hidden: true});
  lockBtn.addEventListener('click', async () => {
    const c = conv();
    const closing = !c.locked;
    if (closing && !await confirmDialog({title: 'Close this thread?', text: 'Nobody can post, edit or react in a closed thread. You can reopen it later.', confirm: 'Close thread'})) return;
    try {
      const updated = await api.updateThread(id, {locked: closing});
      Object.assign(c, updated);
      store.emit('conversations');
      store.emit(`conversation:${id}`);
      announce(closing ? 'Thread closed.' : 'Thread reopened.');
    } catch (e) { showComposerError(e.message); }
  });
  const kindLabel = h('span', {class: 'conv-kind'});
  const header = h('header', {class: 'conv-head'},
    h('a', {class: 'icon-btn back-btn', href: '#/', 'aria-label': 'Back to conversations'}, icon('back')),
    h('div', {class: 'conv-heading'}, h('div', {class: 'conv-title-row'}, titleEl, badges), kindLabel),
    h('div', {class: 'conv-actions'}, lockBtn, membersBtn));

  const renderHeader = () => {
    const c = conv();
    if (!c) return;
    const t = store.conversationTitle(c);
    fill(titleEl, c.kind === 'direct' ? '' : icon(c.kind === 'group' ? 'hash' : 'thread'), t);
    ctx.setTitle(t);
    const peer = c.kind === 'direct' ? store.directPeer.get(c.id) : null;
    fill(badges, 
      (c.kind === 'direct' && peer ? peer.external : c.has_externals) ? externalBadge(c.kind === 'direct' ? 'person' : 'conversation') : null,
      c.locked ? h('span', {class: 'badge badge-locked'}, icon('lock'), c.kind === 'group' ? 'Archived' : 'Closed') : null);
    const ws = store.workspaces.get(c.workspace_id);
    const presence = peer ? store.presence.get(peer.account_id) : null;
    kindLabel.textContent = `${{group: 'Group', thread: 'Thread', direct: 'Direct message'}[c.kind]} in ${ws ? ws.name : 'a workspace'}` +
      (c.has_externals && c.kind !== 'direct' ? ' · includes people from outside the workspace' : '') +
      (presence ? ` · ${presence}` : '');
    const mayChange = c.kind === 'thread' && store.canWrite(c.workspace_id) && (c.can_post || c.locked) && ws?.my_role !== 'lite';
    lockBtn.hidden = !mayChange;
    fill(lockBtn, icon('lock'), h('span', {class: 'btn-label'}, c.locked ? 'Reopen thread' : 'Close thread'));
    // Direct conversations learn their name (the other person's) after opening.
    const label = main.querySelector('.composer label');
    if (label && composerInput) {
      label.textContent = `Message ${t}`;
      composerInput.placeholder = `Message ${c.kind === 'group' ? '#' : ''}${t}`;
    }
    list.setAttribute('aria-label', `Messages in ${t}`);
  };

  // ---- timeline
  const list = h('ol', {class: 'messages', 'aria-label': `Messages in ${title}`, 'aria-describedby': 'msg-nav-help'});
  const olderBtn = h('button', {class: 'btn small ghost', type: 'button'}, 'Load older messages');
  const top = h('div', {class: 'history-top'});
  const scroller = h('div', {class: 'timeline', tabindex: '-1'}, top, list);
  const jump = h('button', {class: 'jump-new', type: 'button', hidden: true}, 'New messages ', icon('back'));
  const typingLine = h('p', {class: 'typing-line', 'aria-hidden': 'false'});
  const navHelp = h('p', {class: 'visually-hidden', id: 'msg-nav-help'}, 'Use the up and down arrow keys to move between messages, and Tab to reach a message\'s actions.');

  olderBtn.addEventListener('click', () => loadOlder(true));
  jump.addEventListener('click', () => { scrollToBottom(); markReadIfSeen(); composerInput?.focus(); });

  const atBottom = () => scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 48;
  const scrollToBottom = () => { scroller.scrollTop = scroller.scrollHeight; unseen = 0; jump.hidden = true; };

  const renderTop = () => {
    const t = tl();
    if (!t.loaded) fill(top, h('p', {class: 'muted'}, 'Loading messages…'));
    else if (t.hasBefore) fill(top, olderBtn);
    else {
      const c = conv();
      fill(top, h('div', {class: 'history-start'},
        h('p', {class: 'start-title'}, c.kind === 'direct' ? `This is the beginning of your conversation with ${store.conversationTitle(c)}.` : `This is the beginning of “${store.conversationTitle(c)}”.`),
        c.has_externals ? h('p', {class: 'muted'}, 'People from outside the workspace can read this conversation.') : null));
    }
  };

  const msgCtx = {
    conversation: conv,
    lookup: (seq) => tl().bySeq.get(seq),
    fetchReply: async (seq) => {
      try {
        const m = await sync.fetchMessage(id, seq);
        replyCache.set(seq, m);
        for (const [s, li] of els) {
          const msg = tl().bySeq.get(s);
          if (msg && msg.reply_to === seq && !tl().bySeq.has(seq)) {
            const q = li.querySelector('.quote-text');
            if (q) q.textContent = snippet(m);
            const a = li.querySelector('.quote-author');
            if (a) a.textContent = m.author.display_name;
          }
        }
      } catch { /* deleted or gone */ }
    },
    jumpTo: (seq) => {
      const li = els.get(seq);
      if (li) {
        li.scrollIntoView({block: 'center'});
        li.classList.add('flash');
        setTimeout(() => li.classList.remove('flash'), 1500);
        setActive(li, true);
      } else {
        announce('That message is further back in the history: scroll up to load it.');
      }
    },
    react: (seq, emoji) => sync.toggleReaction(id, seq, emoji).catch((e) => showComposerError(e.message)),
    pickReaction: (seq, anchor) => reactionPicker(anchor, (emoji) => msgCtx.react(seq, emoji)),
    reply: (m) => setReply(m),
    edit: (seq) => startEdit(seq),
    remove: async (m) => {
      const mine = m.author.account_id === store.me.id;
      const ok = await confirmDialog({
        title: 'Delete this message?',
        text: mine ? 'Everyone will see “This message was deleted.” instead.' : `You are deleting ${m.author.display_name}’s message as a moderator. Everyone will see “This message was deleted.” instead.`,
        confirm: 'Delete', danger: true,
      });
      if (!ok) return;
      try {
        await sync.deleteMessage(id, m.seq);
        announce('Message deleted.');
      } catch (e) { showComposerError(e.message); }
    },
    retry: (clientId) => sync.retrySend(id, clientId),
    discard: (clientId) => sync.discardSend(id, clientId),
  };
  const replyCache = new Map();
  const baseLookup = msgCtx.lookup;
  msgCtx.lookup = (seq) => baseLookup(seq) || replyCache.get(seq);

  const render = () => {
    const t = tl();
    const msgs = t.sorted();
    const wasAtBottom = !initialScrollDone || atBottom();
    const items = [];
    let prev = null;
    const seen = new Set();
    for (const m of msgs) {
      seen.add(m.seq);
      let li = els.get(m.seq);
      if (!li) {
        li = renderMessage(m, msgCtx);
        els.set(m.seq, li);
        if (prev) prev.after(li); else list.prepend(li);
      } else if (li._v !== m._v && editing !== m.seq) {
        fillMessage(li, m, msgCtx);
      }
      items.push({li, m});
      prev = li;
    }
    for (const [seq, li] of els) if (!seen.has(seq)) { li.remove(); els.delete(seq); }
    const pendingIds = new Set();
    for (const p of t.pending) {
      pendingIds.add(p.clientId);
      let li = pendingEls.get(p.clientId);
      if (!li) {
        li = renderPending(p, msgCtx);
        pendingEls.set(p.clientId, li);
      } else if (li._state !== p.state) {
        fillPending(li, p, msgCtx);
      }
      if (prev ? prev.nextSibling !== li : list.firstChild !== li) {
        if (prev) prev.after(li); else list.prepend(li);
      }
      prev = li;
    }
    for (const [cid, li] of pendingEls) if (!pendingIds.has(cid)) { li.remove(); pendingEls.delete(cid); }
    decorate(items, firstUnread);
    if (!active || !active.isConnected) {
      const last = items.length ? items[items.length - 1].li : null;
      if (last) setActive(last, false);
    }
    renderTop();
    return wasAtBottom;
  };

  const setActive = (li, focus) => {
    if (active && active !== li) {
      active.tabIndex = -1;
      for (const b of active.querySelectorAll('button')) b.tabIndex = -1;
    }
    active = li;
    li.tabIndex = 0;
    for (const b of li.querySelectorAll('button')) b.tabIndex = 0;
    if (focus) li.focus();
  };

  list.addEventListener('focusin', (e) => {
    const li = e.target.closest('li.msg');
    if (li && li !== active) setActive(li, false);
  });
  list.addEventListener('keydown', (e) => {
    const li = e.target.closest('li.msg');
    if (!li || e.target !== li) return;
    const all = [...list.querySelectorAll(':scope > li.msg')];
    const i = all.indexOf(li);
    let next = null;
    if (e.key === 'ArrowUp') next = all[i - 1];
    else if (e.key === 'ArrowDown') next = all[i + 1];
    else if (e.key === 'Home') next = all[0];
    else if (e.key === 'End') next = all[all.length - 1];
    else return;
    e.preventDefault();
    if (next) {
      setActive(next, true);
      next.scrollIntoView({block: 'nearest'});
    } else if (e.key === 'ArrowUp' && tl().hasBefore) {
      loadOlder(false);
    }
  });

  const afterRender = (wasAtBottom, reason) => {
    if (!initialScrollDone) {
      initialScrollDone = true;
      const divider = firstUnread !== null ? els.get(firstUnread) : null;
      if (divider && scroller.scrollHeight - divider.offsetTop > scroller.clientHeight) {
        scroller.scrollTop = Math.max(0, divider.offsetTop - 16);
      } else {
        scrollToBottom();
      }
      maybeFillViewport();
    } else if (wasAtBottom || reason === 'pending') {
      scrollToBottom();
    } else if (reason === 'new') {
      unseen += 1;
      jump.hidden = false;
      jump.firstChild.textContent = unseen > 1 ? `${unseen} new messages ` : 'New message ';
    }
    markReadIfSeen();
  };

  const markReadIfSeen = () => {
    if (document.visibilityState !== 'visible' || !atBottom() || !tl().loaded) return;
    jump.hidden = true;
    unseen = 0;
    sync.markRead(id);
  };

  // Loads older pages; keeps the message under the reader's eyes where it was.
  let loadingOlder = false;
  const loadOlder = async (focusFirstNew) => {
    if (loadingOlder || !tl().hasBefore) return;
    loadingOlder = true;
    const oldFirst = list.querySelector(':scope > li.msg');
    olderBtn.disabled = true;
    olderBtn.textContent = 'Loading…';
    const fromBottom = scroller.scrollHeight - scroller.scrollTop;
    try {
      const n = await sync.loadOlder(id);
      render();
      scroller.scrollTop = scroller.scrollHeight - fromBottom;
      announce(n ? `${n} older messages loaded.` : 'No older messages.');
      if (focusFirstNew && oldFirst) {
        const prevLi = oldFirst.previousElementSibling;
        if (prevLi) setActive(prevLi, true);
      }
    } catch (e) {
      fill(top, h('p', {class: 'inline-error', role: 'alert'}, e.message), olderBtn);
    } finally {
      loadingOlder = false;
      olderBtn.disabled = false;
      olderBtn.textContent = 'Load older messages';
    }
  };

  // If the first page does not fill the screen, there is nothing to scroll: load more.
  const maybeFillViewport = async () => {
    for (let i = 0; i < 5 && tl().hasBefore && scroller.scrollHeight <= scroller.clientHeight + 40; i += 1) await loadOlder(false);
  };

  scroller.addEventListener('scroll', () => {
    if (!initialScrollDone) return;
    if (scroller.scrollTop < 200 && tl().hasBefore) loadOlder(false);
    if (atBottom()) markReadIfSeen();
  }, {passive: true});

  // ---- typing
  const renderTyping = () => {
    const ids = sync.typers(id);
    if (!ids.length) { typingLine.textContent = ''; typingLine.classList.remove('on'); return; }
    const names = ids.map((a) => store.personName(a));
    typingLine.classList.add('on');
    typingLine.textContent = names.length === 1 ? `${names[0]} is typing…`
      : names.length === 2 ? `${names[0]} and ${names[1]} are typing…` : 'Several people are typing…';
  };

  // ---- composer
  let composerInput = null;
  const composerError = h('p', {class: 'composer-error', role: 'alert', hidden: true});
  const showComposerError = (text) => {
    composerError.textContent = text;
    composerError.hidden = !text;
  };
  const replyBar = h('div', {class: 'reply-bar', hidden: true});
  const composerWrap = h('div', {class: 'composer-wrap'});

  const setReply = (m) => {
    replyTo = m;
    if (!m) { replyBar.hidden = true; fill(replyBar); return; }
    replyBar.hidden = false;
    fill(replyBar, icon('reply'),
      h('span', {}, 'Replying to ', h('strong', {}, m.author.display_name), ': ', h('span', {class: 'quote-text'}, snippet(m, 60))),
      h('button', {class: 'icon-btn', type: 'button', 'aria-label': 'Cancel reply', onclick: () => { setReply(null); composerInput?.focus(); }}, icon('close')));
    composerInput?.focus();
  };

  const renderComposer = () => {
    const c = conv();
    if (!c) return;
    if (!c.can_post) {
      const role = store.workspaces.get(c.workspace_id)?.my_role;
      const why = c.locked
        ? (c.kind === 'group' ? 'This group is archived: it is read-only for everyone.' : 'This thread is closed: nobody can post in it.')
        : (role === 'lite' ? 'You have Lite (read-only) access: you can read this conversation but not post in it.' : 'You cannot post in this conversation.');
      composerInput = null;
      fill(composerWrap, h('div', {class: 'composer readonly', role: 'note', 'data-readonly': 'true'}, icon('lock'), h('p', {}, why)), composerError);
      return;
    }
    if (composerInput && composerInput.isConnected) return;
    const inputId = `composer-${id}`;
    const input = h('textarea', {id: inputId, class: 'composer-input', rows: '1', placeholder: `Message ${c.kind === 'group' ? '#' : ''}${store.conversationTitle(c)}`,
      'aria-describedby': `${inputId}-help`, maxlength: '16000', autocomplete: 'off'});
    input.value = drafts.get(id) || '';
    const send = h('button', {class: 'send-btn', type: 'submit', 'aria-label': 'Send message', title: 'Send (Enter)'}, icon('send'));
    const f = h('form', {class: 'composer', 'aria-label': 'Write a message'},
      replyBar,
      h('div', {class: 'composer-row'},
        h('label', {for: inputId, class: 'visually-hidden'}, `Message ${store.conversationTitle(c)}`),
        input, send),
      h('p', {class: 'composer-help', id: `${inputId}-help`}, h('kbd', {}, 'Enter'), ' to send, ', h('kbd', {}, 'Shift'), '+', h('kbd', {}, 'Enter'), ' for a new line'),
      composerError);
    const grow = () => {
      input.style.height = 'auto';
      input.style.height = `${Math.min(input.scrollHeight, 200)}px`;
    };
    f.addEventListener('submit', (e) => {
      e.preventDefault();
      const body = input.value;
      if (!body.trim()) return;
      showComposerError('');
      sync.sendMessage(id, body, replyTo ? replyTo.seq : null);
      input.value = '';
      drafts.delete(id);
      setReply(null);
      grow();
      input.focus();
    });
    input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && !e.altKey && !e.ctrlKey && !e.metaKey) {
        e.preventDefault();
        f.requestSubmit();
      } else if (e.key === 'Escape' && replyTo) {
        e.preventDefault();
        e.stopPropagation();
        setReply(null);
      } else if (e.key === 'ArrowUp' && !input.value) {
        // Up in an empty composer edits one's last message, as in most chat apps.
        const mine = tl().sorted().reverse().find((m) => m.author.account_id === store.me.id && !m.deleted_at);
        if (mine) { e.preventDefault(); startEdit(mine.seq); }
      }
    });
    input.addEventListener('input', () => {
      drafts.set(id, input.value);
      grow();
      if (input.value.trim()) sync.typing(id);
    });
    composerInput = input;
    fill(composerWrap, f);
    requestAnimationFrame(grow);
  };

  // ---- inline editing
  const startEdit = (seq) => {
    const li = els.get(seq);
    const m = tl().bySeq.get(seq);
    if (!li || !m) return;
    editing = seq;
    const body = li.querySelector('.msg-body');
    const area = h('textarea', {class: 'edit-input', rows: '2', 'aria-label': 'Edit message'});
    area.value = m.body;
    const err = h('p', {class: 'inline-error', role: 'alert', hidden: true});
    const stop = () => {
      editing = null;
      fillMessage(li, tl().bySeq.get(seq) || m, msgCtx);
      setActive(li, false);
    };
    const save = async () => {
      const text = area.value;
      if (!text.trim()) { err.textContent = 'A message cannot be empty: delete it instead.'; err.hidden = false; return; }
      if (text === m.body) { stop(); li.focus(); return; }
      try {
        saveBtn.disabled = true;
        await sync.editMessage(id, seq, text);
        stop();
        composerInput?.focus();
      } catch (e) {
        saveBtn.disabled = false;
        err.textContent = e.message;
        err.hidden = false;
      }
    };
    const saveBtn = h('button', {class: 'btn small primary', type: 'button', onclick: save}, 'Save');
    const cancelBtn = h('button', {class: 'btn small', type: 'button', onclick: () => { stop(); li.focus(); }}, 'Cancel');
    area.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); save(); }
      else if (e.key === 'Escape') { e.preventDefault(); e.stopPropagation(); stop(); li.focus(); }
    });
    const editor = h('div', {class: 'msg-editor'}, area, h('div', {class: 'edit-actions'}, saveBtn, cancelBtn,
      h('span', {class: 'muted small'}, 'Enter to save, Escape to cancel')), err);
    body.replaceWith(editor);
    area.focus();
    area.setSelectionRange(area.value.length, area.value.length);
  };

  // ---- assemble
  const section = h('section', {class: 'conv', 'aria-labelledby': 'conv-title'},
    header, h('div', {class: 'timeline-wrap'}, scroller, jump), navHelp, typingLine, composerWrap);
  fill(main, section);
  renderHeader();
  renderComposer();
  renderTop();

  localOffs.push(store.on(`messages:${id}`, (detail) => {
    const wasAtBottom = render();
    afterRender(wasAtBottom, detail && detail.reason);
  }));
  localOffs.push(store.on(`typing:${id}`, renderTyping));
  localOffs.push(store.on(`conversation:${id}`, () => { renderHeader(); renderComposer(); render(); }));
  localOffs.push(store.on('conversations', () => {
    renderHeader();
    const c = conv();
    if (c && composerWrap.querySelector('[data-readonly]') && c.can_post) renderComposer();
    if (c && !c.can_post && composerInput) renderComposer();
  }));
  localOffs.push(store.on('presence', renderHeader));
  localOffs.push(store.on('visible', markReadIfSeen));

  sync.openConversation(id).then(() => {
    const wasAtBottom = render();
    afterRender(wasAtBottom, 'initial');
    if (composerInput && !document.querySelector('dialog[open]') && window.matchMedia('(min-width: 721px)').matches) composerInput.focus();
  }).catch((e) => {
    fill(top, h('p', {class: 'inline-error', role: 'alert'}, e.message));
  });

  return {
    teardown() {
      localOffs.forEach((off) => off());
      if (composerInput) drafts.set(id, composerInput.value);
      const picker = document.querySelector('.emoji-picker');
      if (picker) picker.remove();
    },
  };
}
