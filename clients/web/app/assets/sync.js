// Keeps the store in step with the server. Owns: the first load over REST, the gateway
// (applying every server frame to the store, resuming after reconnects, reloading on
// `resync`, refreshing what resume does not replay), and the actions views ask for:
// opening and scrolling back a conversation, sending (over the gateway, falling back to
// REST; queued messages are resent with the same client_id), editing, deleting,
// reacting, read markers, typing and presence. Views never call the gateway directly.

import {api} from './api.js';
import {Gateway} from './gateway.js';
import {session} from './api.js';
import {store} from './store.js';
import {announce} from './dom.js';

const PAGE = 50;
let gateway = null;
let signedOut = () => {};

export function onGatewaySignedOut(fn) { signedOut = fn; }

// ---------------------------------------------------------------- loading

export async function boot() {
  store.reset();
  store.me = await api.me();
  await refreshConversations();
  gateway = new Gateway({token: () => session.token, resume: resumeMap});
  gateway.addEventListener('state', (e) => {
    store.connection = e.detail;
    store.emit('connection', e.detail);
  });
  gateway.addEventListener('ready', (e) => onReady(e.detail));
  gateway.addEventListener('frame', (e) => onFrame(e.detail));
  gateway.addEventListener('signedout', () => signedOut());
  gateway.start();
  document.addEventListener('visibilitychange', onVisibility);
}

export function shutdown() {
  document.removeEventListener('visibilitychange', onVisibility);
  if (gateway) gateway.stop();
  gateway = null;
  store.reset();
}

function onVisibility() {
  if (!gateway) return;
  gateway.presence(document.visibilityState === 'visible' ? 'online' : 'away');
  if (document.visibilityState === 'visible') store.emit('visible');
}

function workspaceFromList(w) {
  const old = store.workspaces.get(w.workspace_id) || {};
  return {...old, id: w.workspace_id, name: w.workspace_name, my_role: w.my_role ?? old.my_role ?? null};
}

/** Reloads the conversation list and the workspaces (after start and each reconnect). */
export async function refreshConversations() {
  const [list, workspaces] = await Promise.all([api.conversations(), api.workspaces()]);
  const seen = new Set();
  const wsSeen = new Set();
  for (const w of workspaces.workspaces) {
    store.workspaces.set(w.id, {...store.workspaces.get(w.id), ...w});
    wsSeen.add(w.id);
  }
  for (const w of list.workspaces) {
    store.workspaces.set(w.workspace_id, workspaceFromList(w));
    wsSeen.add(w.workspace_id);
    for (const c of w.conversations) {
      seen.add(c.id);
      const old = store.convs.get(c.id);
      // A message counted by the gateway meanwhile is newer than this list: keep it.
      if (old && old.last_seq > c.last_seq) continue;
      store.convs.set(c.id, c);
      if (c.last_message) store.rememberPerson(c.last_message.author);
    }
  }
  for (const id of [...store.convs.keys()]) if (!seen.has(id)) dropConversation(id, false);
  for (const id of [...store.workspaces.keys()]) if (!wsSeen.has(id)) store.workspaces.delete(id);
  store.emit('conversations');
  resolveDirectPeers();
}

/** Direct conversations have no title: their name is the other participant's. */
async function resolveDirectPeers() {
  const todo = [...store.convs.values()].filter((c) => c.kind === 'direct' && !store.directPeer.has(c.id));
  await Promise.all(todo.map(async (c) => {
    try {
      const audience = await api.audience(c.id);
      const everyone = [...audience.participants, ...audience.groups.flatMap((g) => g.members)];
      everyone.forEach((p) => store.rememberPerson(p));
      const peer = everyone.find((p) => p.account_id !== store.me.id) || everyone[0];
      if (peer) store.directPeer.set(c.id, peer);
    } catch { /* gone meanwhile */ }
  }));
  if (todo.length) store.emit('conversations');
}

async function refreshOne(id) {
  try {
    const c = await api.conversation(id);
    if (!store.workspaces.has(c.workspace_id)) {
      await refreshConversations();
      return;
    }
    store.convs.set(c.id, c);
    store.emit('conversations');
    store.emit(`conversation:${id}`);
    if (c.kind === 'direct') resolveDirectPeers();
  } catch (e) {
    if (e.code === 'not_found') dropConversation(id, false);
  }
}

export const refreshConversation = refreshOne;

// The resume map the current socket said `hello` with.
let resumed = {};

function resumeMap() {
  const map = {};
  for (const [id, tl] of store.timelines) {
    if (tl.loaded && store.convs.has(id)) map[id] = tl.highest;
  }
  resumed = map;
  return map;
}

let readyCount = 0;
async function onReady(ready) {
  readyCount += 1;
  store.me = {...store.me, ...ready.account};
  const ids = new Set(ready.conversations.map((c) => c.id));
  let unknown = false;
  for (const rc of ready.conversations) {
    const c = store.convs.get(rc.id);
    if (!c) { unknown = true; continue; }
    Object.assign(c, {title: rc.title, locked: rc.locked, last_seq: Math.max(c.last_seq, rc.last_seq), read_seq: rc.read_seq, unread: rc.unread});
    if (rc.locked) c.can_post = false;
    // A conversation loaded after this socket said `hello` is not in its resume map:
    // what was stored before `ready` is counted in `last_seq` and never comes as an
    // event, so fetch it.
    const tl = store.timelines.get(rc.id);
    if (tl && tl.loaded && !(rc.id in resumed) && c.last_seq > tl.highest) fillGap(rc.id, tl);
  }
  for (const id of [...store.convs.keys()]) if (!ids.has(id)) dropConversation(id, true);
  store.emit('conversations');
  if (unknown || readyCount > 1) {
    // After a reconnect: edits, deletions and reactions are not replayed, and previews
    // may be stale. Reload the list and the open conversation's loaded page.
    refreshConversations().catch(() => {});
    if (store.openId && store.timelines.get(store.openId)?.loaded) refreshLoadedPage(store.openId);
  }
  flushQueued();
  if (document.visibilityState !== 'visible') gateway.presence('away');
}

async function refreshLoadedPage(id) {
  const tl = store.timelines.get(id);
  if (!tl || tl.lowest === null) return;
  try {
    const page = await api.messages(id, {after: tl.lowest - 1, limit: 200});
    page.messages.forEach((m) => store.rememberPerson(m.author));
    if (tl.merge(page.messages)) store.emit(`messages:${id}`, {reason: 'refresh'});
  } catch { /* the next reconnect tries again */ }
}

// ---------------------------------------------------------------- server frames

function onFrame(frame) {
  switch (frame.type) {
    case 'message_created': return onMessage(frame.message);
    case 'message_edited':
      return patchMessage(frame.conversation_id, frame.seq, (m) => { m.body = frame.body; m.edited_at = frame.edited_at; });
    case 'message_deleted':
      return patchMessage(frame.conversation_id, frame.seq, (m) => { m.body = ''; m.deleted_at = frame.deleted_at; m.reactions = []; });
    case 'reaction_added':
    case 'reaction_removed':
      return patchMessage(frame.conversation_id, frame.seq, (m) => applyReaction(m, frame));
    case 'typing': return onTyping(frame);
    case 'presence':
      if (frame.account_id === store.me?.id) return;
      store.presence.set(frame.account_id, frame.status);
      return store.emit('presence', frame);
    case 'read_marker': return onReadMarker(frame);
    case 'conversation_added': return onAdded(frame.conversation);
    case 'conversation_updated': {
      const c = store.convs.get(frame.conversation_id);
      if (!c) return;
      c.title = frame.title;
      c.locked = frame.locked;
      const role = store.workspaces.get(c.workspace_id)?.my_role;
      c.can_post = !frame.locked && role !== 'lite';
      store.emit('conversations');
      return store.emit(`conversation:${c.id}`);
    }
    case 'conversation_removed': return dropConversation(frame.conversation_id, true);
    case 'resync': return onResync(frame);
    default:
  }
}

function onMessage(m) {
  const id = m.conversation_id;
  const c = store.convs.get(id);
  store.rememberPerson(m.author);
  const mine = m.author.account_id === store.me.id;
  if (c) {
    // Replayed messages (resume) are already counted in `ready`: only newer ones count.
    const isNew = m.seq > c.last_seq;
    if (isNew || !c.last_message || m.seq >= c.last_message.seq) {
      c.last_seq = Math.max(c.last_seq, m.seq);
      c.last_message = m;
    }
    if (isNew && !mine && m.seq > c.read_seq) c.unread = (c.unread || 0) + 1;
    if (m.author.external && !c.has_externals) c.has_externals = true;
    store.emit('conversations');
  }
  const tl = store.timelines.get(id);
  if (tl && tl.loaded) {
    const gap = m.seq > tl.highest + 1;
    tl.merge([m]);
    store.emit(`messages:${id}`, {reason: 'new', message: m});
    if (gap) fillGap(id, tl);
  }
  clearTyping(id, m.author.account_id);
  if (!mine && store.openId === id) {
    announce(`${m.author.display_name}: ${m.body}`, 'live-messages');
  }
}

async function fillGap(id, tl) {
  try {
    let after = tl.lowest === null ? 0 : tl.lowest;
    // Walk forward from the loaded range until the end (pages of 200).
    for (let i = 0; i < 20; i += 1) {
      const page = await api.messages(id, {after, limit: 200});
      tl.merge(page.messages);
      if (!page.has_after || !page.messages.length) break;
      after = page.messages[page.messages.length - 1].seq;
    }
    store.emit(`messages:${id}`, {reason: 'refresh'});
  } catch { /* next reconnect */ }
}

function patchMessage(id, seq, change) {
  const tl = store.timelines.get(id);
  if (tl && tl.patch(seq, change)) store.emit(`messages:${id}`, {reason: 'patch', seq});
  const c = store.convs.get(id);
  if (c && c.last_message && c.last_message.seq === seq) {
    change(c.last_message);
    store.emit('conversations');
  }
}

function applyReaction(m, f) {
  const mine = f.account_id === store.me.id;
  const list = m.reactions || (m.reactions = []);
  let r = list.find((x) => x.emoji === f.emoji);
  if (f.type === 'reaction_added') {
    if (r && mine && r.me) return; // already counted (idempotent add)
    if (!r) { r = {emoji: f.emoji, count: 0, me: false}; list.push(r); }
    r.count += 1;
    if (mine) r.me = true;
  } else if (r) {
    if (mine && !r.me) return;
    r.count -= 1;
    if (mine) r.me = false;
    if (r.count <= 0) list.splice(list.indexOf(r), 1);
  }
}

const typingTimers = new Map();
function onTyping(f) {
  if (f.account_id === store.me.id) return;
  if (!store.typing.has(f.conversation_id)) store.typing.set(f.conversation_id, new Map());
  store.typing.get(f.conversation_id).set(f.account_id, Date.now() + 3500);
  store.emit(`typing:${f.conversation_id}`);
  const key = f.conversation_id + ':' + f.account_id;
  clearTimeout(typingTimers.get(key));
  typingTimers.set(key, setTimeout(() => clearTyping(f.conversation_id, f.account_id), 3600));
}

function clearTyping(id, account) {
  const map = store.typing.get(id);
  if (map && map.delete(account)) store.emit(`typing:${id}`);
}

export function typers(id) {
  const map = store.typing.get(id);
  if (!map) return [];
  const now = Date.now();
  return [...map.entries()].filter(([, until]) => until > now).map(([account]) => account);
}

function onReadMarker(f) {
  const c = store.convs.get(f.conversation_id);
  if (!c) return;
  if (f.seq <= c.read_seq && c.unread === 0) return;
  c.read_seq = Math.max(c.read_seq, f.seq);
  if (c.read_seq >= c.last_seq) {
    c.unread = 0;
    store.emit('conversations');
  } else {
    refreshOne(c.id); // exact count: unread never counts one's own messages
  }
}

async function onAdded(rc) {
  if (store.convs.has(rc.id)) return;
  await refreshOne(rc.id);
  const c = store.convs.get(rc.id);
  if (c) announce(`You now have access to ${store.conversationTitle(c)}.`);
}

function dropConversation(id, tell) {
  const c = store.convs.get(id);
  if (!c) return;
  store.convs.delete(id);
  store.timelines.delete(id);
  store.directPeer.delete(id);
  store.typing.delete(id);
  // Nothing of it may stay on the page, not even in the screen-reader live region.
  const live = document.getElementById('live-messages');
  if (live) live.textContent = '';
  store.emit('conversations');
  store.emit(`removed:${id}`, c);
  if (tell) announce(`You no longer have access to ${store.conversationTitle(c) || 'a conversation'}.`);
}

async function onResync(f) {
  const tl = store.timelines.get(f.conversation_id);
  const c = store.convs.get(f.conversation_id);
  if (c) c.last_seq = Math.max(c.last_seq, f.last_seq);
  if (!tl) return;
  const pending = tl.pending;
  store.timelines.delete(f.conversation_id);
  if (store.openId === f.conversation_id) {
    const fresh = store.timeline(f.conversation_id);
    fresh.pending = pending;
    await loadNewest(f.conversation_id);
    store.emit(`messages:${f.conversation_id}`, {reason: 'reset'});
  }
}

// ---------------------------------------------------------------- actions

async function loadNewest(id) {
  const tl = store.timeline(id);
  const page = await api.messages(id, {limit: PAGE});
  page.messages.forEach((m) => store.rememberPerson(m.author));
  tl.merge(page.messages);
  tl.hasBefore = page.has_before;
  tl.loaded = true;
  // Messages that arrived on the socket between the page and now are already merged;
  // if the page is older than what the list says, fetch the rest.
  const c = store.convs.get(id);
  if (c && c.last_seq > tl.highest) await fillGap(id, tl);
}

/** Makes `id` the open conversation and loads its newest page if needed. */
export async function openConversation(id) {
  store.openId = id;
  const tl = store.timeline(id);
  if (tl.loaded) return tl;
  if (!tl.loading) {
    tl.loading = loadNewest(id).finally(() => { tl.loading = null; });
  }
  await tl.loading;
  if (c(id)?.kind === 'direct') resolveDirectPeers();
  return tl;
}

const c = (id) => store.convs.get(id);

export function closeConversation(id) {
  if (store.openId === id) store.openId = null;
}

/** Loads the page before the oldest loaded message; resolves to the number loaded. */
export async function loadOlder(id) {
  const tl = store.timeline(id);
  if (!tl.loaded || !tl.hasBefore || tl.loading) return 0;
  tl.loading = (async () => {
    const page = await api.messages(id, {before: tl.lowest, limit: PAGE});
    page.messages.forEach((m) => store.rememberPerson(m.author));
    tl.merge(page.messages);
    tl.hasBefore = page.has_before;
    return page.messages.length;
  })().finally(() => { tl.loading = null; });
  return tl.loading;
}

function newClientId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
}

export function sendMessage(id, body, replyTo) {
  const tl = store.timeline(id);
  const entry = {clientId: newClientId(), body, replyTo: replyTo ?? null, state: 'sending', error: null, createdAt: Date.now()};
  tl.pending.push(entry);
  store.emit(`messages:${id}`, {reason: 'pending'});
  deliver(id, entry);
}

async function deliver(id, entry) {
  const tl = store.timeline(id);
  entry.state = 'sending';
  entry.error = null;
  const frame = {type: 'send', conversation_id: id, body: entry.body, client_id: entry.clientId};
  if (entry.replyTo) frame.reply_to = entry.replyTo;
  try {
    if (gateway && gateway.isOpen) {
      const ack = await gateway.request(frame);
      entry.seq = ack.seq;
      // The message itself arrives as message_created; if it already did, drop the entry.
      if (tl.bySeq.has(ack.seq)) tl.pending = tl.pending.filter((p) => p !== entry);
    } else {
      const body = {body: entry.body, client_id: entry.clientId};
      if (entry.replyTo) body.reply_to = entry.replyTo;
      const m = await api.post(id, body);
      if (tl.loaded) tl.merge([m]);
      tl.pending = tl.pending.filter((p) => p !== entry);
    }
  } catch (e) {
    if (e.code === 'disconnected' || e.code === 'network' || e.code === 'stopped') {
      entry.state = 'queued'; // resent with the same client_id once connected
    } else {
      entry.state = 'failed';
      entry.error = e.message;
    }
  }
  store.emit(`messages:${id}`, {reason: 'pending'});
}

function flushQueued() {
  for (const [id, tl] of store.timelines) {
    for (const entry of tl.pending) if (entry.state === 'queued') deliver(id, entry);
  }
}

export function retrySend(id, clientId) {
  const entry = store.timeline(id).pending.find((p) => p.clientId === clientId);
  if (entry) deliver(id, entry);
}

export function discardSend(id, clientId) {
  const tl = store.timeline(id);
  tl.pending = tl.pending.filter((p) => p.clientId !== clientId);
  store.emit(`messages:${id}`, {reason: 'pending'});
}

export async function editMessage(id, seq, body) {
  const m = await api.edit(id, seq, body);
  const tl = store.timelines.get(id);
  if (tl && tl.merge([m])) store.emit(`messages:${id}`, {reason: 'patch', seq});
}

export async function deleteMessage(id, seq) {
  await api.remove(id, seq);
  patchMessage(id, seq, (m) => { m.body = ''; m.deleted_at = m.deleted_at || Date.now(); m.reactions = []; });
}

export async function toggleReaction(id, seq, emoji) {
  const m = store.timelines.get(id)?.bySeq.get(seq);
  const mine = m?.reactions?.find((r) => r.emoji === emoji)?.me;
  if (mine) await api.unreact(id, seq, emoji); else await api.react(id, seq, emoji);
  // The gateway echoes reactions; without it, fetch the message to show the change.
  if (!gateway || !gateway.isOpen) {
    const fresh = await api.message(id, seq);
    const tl = store.timelines.get(id);
    if (tl && tl.merge([fresh])) store.emit(`messages:${id}`, {reason: 'patch', seq});
  }
}

/** Marks everything loaded in `id` as read (the conversation is on screen, at its end). */
export function markRead(id) {
  const conv = store.convs.get(id);
  const tl = store.timelines.get(id);
  if (!conv) return;
  const seq = Math.max(conv.last_seq, tl ? tl.highest : 0);
  if (seq <= conv.read_seq && !conv.unread) return;
  conv.read_seq = Math.max(conv.read_seq, seq);
  conv.unread = 0;
  store.emit('conversations');
  if (!(gateway && gateway.read(id, seq))) api.markRead(id, seq).catch(() => {});
}

export function typing(id) { if (gateway) gateway.typing(id); }

export function reconnectNow() { if (gateway) gateway.connectNow(); }

/** Fetches one message (for a reply's quote when it is not loaded). */
export async function fetchMessage(id, seq) {
  const tl = store.timeline(id);
  if (tl.bySeq.has(seq)) return tl.bySeq.get(seq);
  return api.message(id, seq);
}
