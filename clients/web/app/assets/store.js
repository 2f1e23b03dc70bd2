// The client's state and its change notifications. Owns: who is signed in, the
// workspaces, the conversation list (with unread counts), each opened conversation's
// timeline (messages by sequence, plus messages still being sent), the people seen so
// far (names, external badge, presence) and who is typing. It does no I/O: `sync.js`
// fills it from the API and the gateway, views read it and subscribe to topics.

export class Timeline {
  constructor() {
    this.bySeq = new Map();
    this.lowest = null; // lowest sequence loaded
    this.highest = 0; // highest sequence loaded
    this.hasBefore = false;
    this.loaded = false;
    this.loading = null;
    this.pending = []; // {clientId, body, replyTo, state: sending|queued|failed, error}
  }

  /** Adds or replaces messages; returns true when something changed. */
  merge(messages) {
    let changed = false;
    for (const m of messages) {
      const old = this.bySeq.get(m.seq);
      if (old && old.body === m.body && old.edited_at === m.edited_at && old.deleted_at === m.deleted_at &&
          JSON.stringify(old.reactions) === JSON.stringify(m.reactions)) continue;
      m._v = (old ? old._v : 0) + 1;
      this.bySeq.set(m.seq, m);
      if (this.lowest === null || m.seq < this.lowest) this.lowest = m.seq;
      if (m.seq > this.highest) this.highest = m.seq;
      changed = true;
      if (m.client_id) {
        const before = this.pending.length;
        this.pending = this.pending.filter((p) => p.clientId !== m.client_id);
        if (this.pending.length !== before) changed = true;
      }
    }
    return changed;
  }

  /** Changes one message in place (edit, deletion, reaction); false if it is not loaded. */
  patch(seq, change) {
    const m = this.bySeq.get(seq);
    if (!m) return false;
    change(m);
    m._v += 1;
    return true;
  }

  sorted() { return [...this.bySeq.values()].sort((a, b) => a.seq - b.seq); }
}

class Store {
  constructor() { this.reset(); }

  reset() {
    this.me = null;
    this.workspaces = new Map(); // id -> {id, name, my_role, lite_grant_limit, ...}
    this.convs = new Map(); // id -> Conversation (REST shape)
    this.directPeer = new Map(); // direct conversation id -> Person (the other one)
    this.people = new Map(); // account id -> {account_id, display_name, external}
    this.presence = new Map(); // account id -> online | away | offline
    this.typing = new Map(); // conversation id -> Map(account id -> expires at)
    this.timelines = new Map();
    this.connection = {state: 'connecting'};
    this.openId = null;
    this.listeners = this.listeners || new Map();
  }

  on(topic, fn) {
    if (!this.listeners.has(topic)) this.listeners.set(topic, new Set());
    this.listeners.get(topic).add(fn);
    return () => this.listeners.get(topic)?.delete(fn);
  }

  emit(topic, detail) {
    for (const fn of [...(this.listeners.get(topic) || [])]) {
      try { fn(detail); } catch (e) { console.error(e); }
    }
  }

  timeline(id) {
    if (!this.timelines.has(id)) this.timelines.set(id, new Timeline());
    return this.timelines.get(id);
  }

  rememberPerson(person) {
    if (!person || !person.account_id) return;
    const old = this.people.get(person.account_id);
    this.people.set(person.account_id, {...old, ...person});
  }

  personName(accountId) {
    if (this.me && accountId === this.me.id) return 'You';
    return this.people.get(accountId)?.display_name || 'Someone';
  }

  /** The conversation list as the sidebar shows it: workspaces, each with its conversations. */
  workspaceList() {
    const out = [];
    for (const ws of this.workspaces.values()) {
      const convs = [...this.convs.values()].filter((c) => c.workspace_id === ws.id);
      // A guest's workspace is only the conversations they are in: none left, none shown.
      if (!ws.my_role && !convs.length) continue;
      out.push({...ws, conversations: convs});
    }
    return out.sort((a, b) => (a.my_role ? 0 : 1) - (b.my_role ? 0 : 1) || a.name.localeCompare(b.name));
  }

  conversationTitle(conv) {
    if (!conv) return '';
    if (conv.kind === 'direct') {
      const peer = this.directPeer.get(conv.id);
      return conv.title || (peer ? peer.display_name : 'Direct conversation');
    }
    return conv.title;
  }

  totalUnread() {
    let n = 0;
    for (const c of this.convs.values()) n += c.unread || 0;
    return n;
  }

  /** Whether the signed-in account manages the workspace (invites, replaces). */
  canManage(wsId) { return ['owner', 'admin', 'manager'].includes(this.workspaces.get(wsId)?.my_role); }
  /** Whether it may start groups and threads and change threads there. */
  canWrite(wsId) { return ['owner', 'admin', 'manager', 'member'].includes(this.workspaces.get(wsId)?.my_role); }
  canAudit(wsId) { return ['owner', 'admin'].includes(this.workspaces.get(wsId)?.my_role); }
}

export const store = new Store();
