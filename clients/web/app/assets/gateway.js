// The WebSocket gateway client. Owns one socket to /api/v1/gateway: the `hello` with the
// session token (never in the URL) and the resume map, reconnecting with backoff after any
// drop (server restart 4012, slow consumer 4009, idle 4011, network loss), noticing dead
// sockets with its own pings, matching `send` frames to their `ack`/`error` by `ref`, and
// throttling `typing`. It reports frames and its state as DOM events and keeps no
// conversation state of its own: `resume()` is asked for the last sequences on each connect.

const TYPING_EVERY_MS = 2000;
const PING_EVERY_MS = 15000;
const PONG_WITHIN_MS = 8000;
const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 15000];

export class Gateway extends EventTarget {
  /** `token()`: the session token; `resume()`: {conversation_id: last_seq}. */
  constructor({token, resume}) {
    super();
    this.token = token;
    this.resume = resume;
    this.state = 'idle'; // idle | connecting | open | reconnecting | stopped
    this.ws = null;
    this.attempt = 0;
    this.retryTimer = null;
    this.pingTimer = null;
    this.pongTimer = null;
    this.nextRef = 1;
    this.pending = new Map(); // ref -> {resolve, reject}
    this.typingAt = new Map();
    this.everReady = false;
    this.onOnline = () => { if (this.state === 'reconnecting') this.connectNow(); };
    this.onOffline = () => { if (this.state === 'open' || this.state === 'connecting') this.drop('offline'); };
  }

  start() {
    window.addEventListener('online', this.onOnline);
    window.addEventListener('offline', this.onOffline);
    this.connect();
  }

  stop() {
    this.setState('stopped');
    window.removeEventListener('online', this.onOnline);
    window.removeEventListener('offline', this.onOffline);
    clearTimeout(this.retryTimer);
    this.abandon(1000);
    this.failPending('stopped');
  }

  get isOpen() { return this.state === 'open'; }

  setState(state, detail = {}) {
    this.state = state;
    this.dispatchEvent(new CustomEvent('state', {detail: {state, ...detail}}));
  }

  connect() {
    if (this.state === 'stopped') return;
    clearTimeout(this.retryTimer);
    this.setState(this.everReady ? 'reconnecting' : 'connecting', {attempt: this.attempt});
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    let ws;
    try {
      ws = new WebSocket(`${scheme}//${location.host}/api/v1/gateway`);
    } catch {
      this.scheduleRetry();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      ws.send(JSON.stringify({type: 'hello', token: this.token(), resume: this.resume()}));
    };
    ws.onmessage = (event) => {
      this.heard();
      let frame;
      try { frame = JSON.parse(event.data); } catch { return; }
      this.onFrame(frame);
    };
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.onClosed(event.code, event.reason);
    };
    ws.onerror = () => {};
  }

  connectNow() {
    this.attempt = 0;
    this.abandon(1000);
    this.connect();
  }

  onFrame(frame) {
    switch (frame.type) {
      case 'ready':
        this.attempt = 0;
        this.everReady = true;
        this.heartbeat(Math.min(PING_EVERY_MS, frame.heartbeat_ms || PING_EVERY_MS));
        this.setState('open');
        this.dispatchEvent(new CustomEvent('ready', {detail: frame}));
        return;
      case 'ack': {
        const waiter = this.pending.get(frame.ref);
        if (waiter) { this.pending.delete(frame.ref); waiter.resolve(frame); }
        return;
      }
      case 'error': {
        const waiter = frame.ref && this.pending.get(frame.ref);
        if (waiter) {
          this.pending.delete(frame.ref);
          const error = new Error(frame.message);
          error.code = frame.code;
          waiter.reject(error);
        } else {
          this.dispatchEvent(new CustomEvent('error-frame', {detail: frame}));
        }
        return;
      }
      case 'pong':
        return;
      default:
        this.dispatchEvent(new CustomEvent('frame', {detail: frame}));
    }
  }

  onClosed(code, reason) {
    this.stopHeartbeat();
    this.failPending('disconnected');
    if (this.state === 'stopped') return;
    if (code === 4001 || code === 4003) {
      this.setState('stopped');
      this.dispatchEvent(new CustomEvent('signedout', {detail: {code, reason}}));
      return;
    }
    // 4010: too many sockets; 4008: flooding. Both: try again, but slowly.
    const slow = code === 4010 || code === 4008;
    this.scheduleRetry(slow ? 30000 : undefined, {code, reason});
  }

  scheduleRetry(delay, detail = {}) {
    if (this.state === 'stopped') return;
    const base = delay ?? BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    const wait = Math.round(base * (0.8 + Math.random() * 0.4));
    this.attempt += 1;
    this.setState('reconnecting', {...detail, retryAt: Date.now() + wait, attempt: this.attempt});
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), wait);
  }

  /** Gives up on the current socket at once (dead network, going offline) and retries. */
  drop(why) {
    this.abandon(4000);
    this.stopHeartbeat();
    this.failPending('disconnected');
    this.scheduleRetry(why === 'offline' ? 1000 : undefined, {reason: why});
  }

  abandon(code) {
    const ws = this.ws;
    this.ws = null;
    if (!ws) return;
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    try { ws.close(code); } catch { /* already closing */ }
  }

  failPending(why) {
    for (const [, waiter] of this.pending) {
      const error = new Error(why);
      error.code = why;
      waiter.reject(error);
    }
    this.pending.clear();
  }

  heartbeat(every) {
    this.stopHeartbeat();
    this.pingTimer = setInterval(() => {
      if (!this.send({type: 'ping', ref: `p${this.nextRef++}`})) return;
      clearTimeout(this.pongTimer);
      this.pongTimer = setTimeout(() => this.drop('no answer'), PONG_WITHIN_MS);
    }, every);
  }

  heard() { clearTimeout(this.pongTimer); }

  stopHeartbeat() {
    clearInterval(this.pingTimer);
    clearTimeout(this.pongTimer);
  }

  send(frame) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN || this.state !== 'open') return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  /** Sends a frame that the server answers (`send`): resolves with the `ack`. */
  request(frame) {
    return new Promise((resolve, reject) => {
      const ref = `r${this.nextRef++}`;
      if (!this.send({...frame, ref})) {
        const error = new Error('disconnected');
        error.code = 'disconnected';
        reject(error);
        return;
      }
      this.pending.set(ref, {resolve, reject});
    });
  }

  typing(conversationId) {
    const last = this.typingAt.get(conversationId) || 0;
    if (Date.now() - last < TYPING_EVERY_MS) return;
    if (this.send({type: 'typing', conversation_id: conversationId})) this.typingAt.set(conversationId, Date.now());
  }

  presence(status) { this.send({type: 'presence', status}); }

  read(conversationId, seq) { return this.send({type: 'read', conversation_id: conversationId, seq}); }
}
