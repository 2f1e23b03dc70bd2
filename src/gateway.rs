//! The WebSocket gateway at `/api/v1/gateway`: one session per socket.
//!
//! Owns the socket's life: the upgrade (origin and per-address checks), authentication by
//! the first frame, the `ready` snapshot, reading client frames (each through the same
//! services REST uses, so the membership gate decides), and writing what the hub queues
//! for it, in order. Never decides access itself and never holds a hub lock: it asks the
//! services, and the hub only hands it queued frames.
//!
//! Order: per conversation, a session remembers the last sequence it wrote. A
//! `message_created` at or below it is a duplicate and dropped; one beyond the next is
//! preceded by the missing messages, read from the store. So clients see every
//! conversation in sequence order without gaps or duplicates, whatever order events
//! arrive in.
//!
//! Race-free `ready`: the session registers with the hub (account-wide events reach it
//! from then on), subscribes to the conversations it can see, and only then reads the
//! state it reports; anything that happened in between is either in that state or
//! queued after it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::task::Poll;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message as WsMessage, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use dashmap::DashMap;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{FutureExt, SinkExt, StreamExt};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::{mpsc, watch};

use salon_protocol::gateway::{ClientFrame, ClientPresence, GATEWAY_VERSION, PresenceStatus, ServerFrame, close};
use salon_protocol::{ConversationId, ErrorCode};

use crate::config::GatewayConfig;
use crate::domain::{AccountId, IdMap};
use crate::http::{ApiError, AppState, ClientAddr};
use crate::hub::{Event, Outbound, SessionHandle, encode};
use crate::services::{self, Caller, NewPost};
use crate::views;

/// How long a typing notice lasts, and so the least time between two of one socket.
const TYPING_INTERVAL: Duration = Duration::from_secs(2);
/// Frames written to the socket in one go before flushing.
const WRITE_BATCH: usize = 64;
/// Client frames handled in one go at most (those that arrived while the last were
/// handled).
const READ_BATCH: usize = 64;
const TWO: NonZeroU32 = NonZeroU32::new(2).expect("2 is not zero");
/// A client that takes longer than this to accept a write is a slow consumer: the session
/// must stay responsive to kills, shutdown and the idle check.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// The least time between two presence changes of one socket that are forwarded.
const PRESENCE_INTERVAL: Duration = Duration::from_secs(2);
/// Messages read from the store per page when filling a gap or replaying.
const REPLAY_PAGE: i64 = 200;

/// What the gateway needs besides the services.
pub struct GatewayState {
    pub config: GatewayConfig,
    pub origins: Vec<String>,
    pub sockets_per_address: DashMap<IpAddr, usize>,
    pub shutdown: watch::Receiver<bool>,
}

impl GatewayState {
    pub fn new(config: GatewayConfig, origins: Vec<String>, shutdown: watch::Receiver<bool>) -> GatewayState {
        GatewayState { config, origins, sockets_per_address: DashMap::new(), shutdown }
    }
}

/// One socket counted against its address while it lives.
struct AddressSlot {
    state: Arc<GatewayState>,
    ip: IpAddr,
}

impl AddressSlot {
    fn acquire(state: &Arc<GatewayState>, ip: IpAddr) -> Option<AddressSlot> {
        let mut count = state.sockets_per_address.entry(ip).or_insert(0);
        if *count >= state.config.max_sockets_per_address {
            return None;
        }
        *count += 1;
        Some(AddressSlot { state: state.clone(), ip })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        if let Some(mut count) = self.state.sockets_per_address.get_mut(&self.ip) {
            *count = count.saturating_sub(1);
        }
        self.state.sockets_per_address.remove_if(&self.ip, |_, n| *n == 0);
    }
}

/// Opens a gateway socket. Browsers must come from an allowed origin (cross-site
/// WebSocket hijacking); authentication is the first frame (`hello`), never the URL.
#[utoipa::path(
    get,
    path = "/api/v1/gateway",
    tag = "gateway",
    responses(
        (status = 101, description = "Switching to the WebSocket protocol: see protocol/gateway.md"),
        (status = 400, body = salon_protocol::ErrorBody, description = "invalid_request: not a WebSocket upgrade"),
        (status = 403, body = salon_protocol::ErrorBody, description = "forbidden: origin not allowed"),
        (status = 429, body = salon_protocol::ErrorBody, description = "rate_limited: too many sockets from this address"),
    )
)]
pub async fn upgrade(
    State(state): State<AppState>,
    ClientAddr(ip): ClientAddr,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let gateway = state.gateway.clone();
    if let Some(origin) = headers.get(header::ORIGIN) {
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        if !origin.to_str().is_ok_and(|o| origin_allowed(o, host, &gateway.origins)) {
            return ApiError::new(ErrorCode::Forbidden, "this origin may not open the gateway").into_response();
        }
    }
    let ws = match ws {
        Ok(ws) => ws,
        Err(_) => return ApiError::new(ErrorCode::InvalidRequest, "expected a WebSocket upgrade").into_response(),
    };
    let Some(slot) = AddressSlot::acquire(&gateway, ip) else {
        return ApiError::new(ErrorCode::RateLimited, "too many sockets from this address").into_response();
    };
    let limit = gateway.config.max_frame_bytes;
    // tungstenite's default buffers cost ~90 KB per socket; most frames are small.
    ws.read_buffer_size(512)
        .write_buffer_size(4 * 1024)
        .max_message_size(limit)
        .max_frame_size(limit)
        // Split before the socket's future is made: an argument held by an async fn stays
        // in its future for good, and the whole `WebSocket` is kilobytes.
        .on_upgrade(move |socket| {
            let (sink, stream) = socket.split();
            async move {
                run(sink, stream, state).await;
                drop(slot);
            }
        })
        .into_response()
}

/// Whether a browser from `origin` may open the gateway: the page came from this very
/// server (its host is the one the request is addressed to: same origin, whatever name
/// or address the user typed), from the public URL's origin, or from a configured one.
fn origin_allowed(origin: &str, host: Option<&str>, allowed: &[String]) -> bool {
    let authority = origin.split_once("://").map(|(_, rest)| rest);
    let same_origin = authority.zip(host).is_some_and(|(a, h)| a.eq_ignore_ascii_case(h));
    same_origin || allowed.iter().any(|a| a.eq_ignore_ascii_case(origin))
}

type Sink = SplitSink<WebSocket, WsMessage>;
type Stream = SplitStream<WebSocket>;

fn close_frame(code: u16, reason: &'static str) -> WsMessage {
    WsMessage::Close(Some(CloseFrame { code, reason: Utf8Bytes::from_static(reason) }))
}

async fn close_with(sink: &mut Sink, code: u16, reason: &'static str) {
    let _ = sink.send(close_frame(code, reason)).await;
    let _ = sink.flush().await;
}

fn error_frame(reference: Option<String>, code: ErrorCode, message: impl Into<String>) -> ServerFrame {
    ServerFrame::Error { reference, code, message: message.into() }
}

/// Reads the first frame: it must be `hello`, within the authentication timeout.
async fn hello(
    stream: &mut Stream,
    timeout: Duration,
) -> Result<(String, BTreeMap<ConversationId, i64>), (u16, &'static str)> {
    let first = tokio::time::timeout(timeout, async {
        loop {
            match stream.next().await {
                Some(Ok(WsMessage::Text(text))) => return Some(text),
                Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => continue,
                _ => return None,
            }
        }
    })
    .await;
    let text = match first {
        Err(_) => return Err((close::AUTHENTICATION_FAILED, "no hello in time")),
        Ok(None) => return Err((close::PROTOCOL_VIOLATION, "expected a hello text frame")),
        Ok(Some(text)) => text,
    };
    match serde_json::from_str::<ClientFrame>(&text) {
        Ok(ClientFrame::Hello { token, resume }) => Ok((token, resume)),
        _ => Err((close::PROTOCOL_VIOLATION, "the first frame must be hello")),
    }
}

/// Runs one socket from `hello` to close.
async fn run(mut sink: Sink, mut stream: Stream, state: AppState) {
    // Every step but `serve` is boxed: a future is as large as its largest state, and
    // this one lives as long as the socket. Inline, the hello, authentication and ready
    // steps made it 9 KB; an idle socket now carries little more than `serve`.
    let config = state.gateway.config.clone();
    let (token, resume) = match Box::pin(hello(&mut stream, Duration::from_secs(config.auth_timeout_seconds))).await {
        Ok(hello) => hello,
        Err((code, reason)) => return Box::pin(close_with(&mut sink, code, reason)).await,
    };
    let caller = match Box::pin(state.services.accounts.authenticate(&token)).await {
        Ok(caller) => caller,
        Err(_) => return Box::pin(close_with(&mut sink, close::AUTHENTICATION_FAILED, "invalid session token")).await,
    };
    let hub = state.services.hub.clone();
    if hub.sockets_of(caller.id()) >= config.max_sockets_per_account {
        return Box::pin(close_with(&mut sink, close::TOO_MANY_SOCKETS, "too many sockets for this account")).await;
    }
    let (handle, rx) = hub.register(caller.id(), caller.session.clone());
    // A log-out between the check above and the registration would have missed this socket.
    if Box::pin(state.services.accounts.authenticate(&token)).await.is_err() {
        hub.unregister(&handle);
        return Box::pin(close_with(&mut sink, close::SESSION_ENDED, "session ended")).await;
    }
    let per_second = NonZeroU32::new(config.frames_per_second).expect("validated");
    let last_heard = Arc::new(AtomicI64::new(crate::domain::now_ms()));
    let reader = Reader {
        state: state.clone(),
        handle: handle.clone(),
        account: caller.id(),
        limiter: RateLimiter::direct(Quota::per_second(per_second).allow_burst(per_second.saturating_mul(TWO))),
        violations: 0,
        typing: HashMap::new(),
        presence: (PresenceStatus::Online, Instant::now() - PRESENCE_INTERVAL),
        last_heard: last_heard.clone(),
    };
    let mut session =
        Session { state: state.clone(), handle: handle.clone(), caller, delivered: IdMap::default(), sink, last_heard };
    let account = session.caller.id();
    // The writer answers `hello` (ready, resume) before client frames are read.
    let mut reading = None;
    let outcome = match Box::pin(session.ready(resume)).await {
        Ok(()) => {
            let task = tokio::spawn(reader.run(stream));
            let outcome = session.serve(rx).await;
            reading = Some(task);
            outcome
        }
        Err(e) => Err(e),
    };
    let conversations = handle.subscriptions();
    if let Err((code, reason)) = outcome {
        Box::pin(close_with(&mut session.sink, code, reason)).await;
    }
    // The closing handshake: let the client read the code and answer, briefly; the reader
    // ends on its close frame.
    if let Some(mut task) = reading
        && Box::pin(tokio::time::timeout(Duration::from_secs(2), &mut task)).await.is_err()
    {
        task.abort();
    }
    if hub.unregister(&handle) {
        announce_presence(&state, account, &conversations, PresenceStatus::Offline);
    }
}

fn announce_presence(state: &AppState, account: AccountId, conversations: &[ConversationId], status: PresenceStatus) {
    for &c in conversations {
        let frame = ServerFrame::Presence { conversation_id: c, account_id: account, status };
        state.services.bus.publish(c, Event::new(Some(c), None, &frame));
    }
}

/// Brings this node's sockets in line with the database, after the node may have missed
/// events (its Redis subscription dropped, a peer went silent, or a peer says it could not
/// publish): revokes what an account lost, grants what it gained, and has every
/// subscribed socket fill the messages it has not seen. The bus trusts the hub's
/// subscriptions again only once this is done.
pub async fn reconcile(services: &services::Services) -> Result<(), services::Error> {
    let hub = &services.hub;
    for account in hub.account_ids() {
        let visible: HashSet<ConversationId> = services.membership.visible_ids(account).await?.into_iter().collect();
        let subscribed = hub.subscriptions_of(account);
        for &lost in subscribed.difference(&visible) {
            hub.revoke(account, lost);
        }
        for &gained in visible.difference(&subscribed) {
            hub.grant(account, gained);
        }
    }
    let conversations = hub.conversation_ids();
    for (conversation, last_seq) in services.store.last_seqs(&conversations).await? {
        hub.catch_up(conversation, last_seq);
    }
    Ok(())
}

/// The writing half of a socket: owns the sink and the queue the hub fills, and decides
/// what may be written, in order.
struct Session {
    state: AppState,
    handle: Arc<SessionHandle>,
    caller: Caller,
    /// The last sequence written per conversation: the session's view of what it may
    /// send, and the order guard.
    delivered: IdMap<ConversationId, i64>,
    sink: Sink,
    /// When the client was last heard from (Unix ms, set by the reader).
    last_heard: Arc<AtomicI64>,
}

/// The reading half of a socket, in its own task: client frames, each through the
/// services; answers go through the socket's queue like every other frame, so the writer
/// stays the only one writing. It is woken only when the client sends something.
struct Reader {
    state: AppState,
    handle: Arc<SessionHandle>,
    account: AccountId,
    limiter: DefaultDirectRateLimiter,
    violations: u32,
    typing: HashMap<ConversationId, Instant>,
    /// The presence last forwarded, and when.
    presence: (PresenceStatus, Instant),
    last_heard: Arc<AtomicI64>,
}

/// The reason sent with a close code.
fn reason_for(code: u16) -> &'static str {
    match code {
        close::SLOW_CONSUMER => "too slow to read",
        close::SESSION_ENDED => "session ended",
        close::PROTOCOL_VIOLATION => "hello was already received",
        close::RATE_LIMITED => "too many frames",
        1003 => "binary frames are not part of the protocol",
        1009 => "frame too large",
        _ => "closed",
    }
}

/// Why a session ends: a close code and reason to send, or `Ok` when the peer left.
type Ended = Result<(), (u16, &'static str)>;

impl Session {
    fn account(&self) -> AccountId {
        self.caller.id()
    }

    async fn write(&mut self, frame: &ServerFrame) -> Ended {
        self.write_text(encode(frame)).await
    }

    async fn write_text(&mut self, text: Utf8Bytes) -> Ended {
        written(within(WRITE_TIMEOUT, self.sink.feed(WsMessage::Text(text))).await)
    }

    async fn flush(&mut self) -> Ended {
        written(within(WRITE_TIMEOUT, self.sink.flush()).await)
    }

    /// Writes what the hub queues for this socket until it must close.
    ///
    /// The queue is all the session waits on: a kill (the hub's `close`, which shutdown
    /// uses too) and the heartbeat come through it as items, so a wake-up for a frame
    /// polls nothing else, and an idle socket holds no timer or signal of its own.
    async fn serve(&mut self, mut rx: mpsc::UnboundedReceiver<Outbound>) -> Ended {
        // A socket that authenticated while the node began to stop was not closed by it.
        if *self.state.gateway.shutdown.borrow() {
            return Err((close::GOING_AWAY, "server restarting: reconnect"));
        }
        let handle = self.handle.clone();
        while let Some(item) = rx.recv().await {
            // Checked before every batch (one atomic load): nothing goes out after a kill.
            if handle.is_closed() {
                let code = handle.close_code();
                return Err((code, reason_for(code)));
            }
            self.on_outbound(item).await?;
            // Coalesce what else is queued into the same write.
            for _ in 0..WRITE_BATCH {
                match rx.try_recv() {
                    Ok(item) => self.on_outbound(item).await?,
                    Err(_) => break,
                }
            }
            self.flush().await?;
        }
        Ok(())
    }

    /// Subscribes, snapshots, sends `ready`, then replays what a resuming client missed.
    async fn ready(&mut self, resume: BTreeMap<ConversationId, i64>) -> Ended {
        let store = self.state.services.store.clone();
        let hub = self.state.services.hub.clone();
        let account = self.account();
        let internal = |_| (1011, "server error");
        let first = store.visible_conversations(account).await.map_err(internal)?;
        for s in &first {
            hub.subscribe(&self.handle, s.conversation.id);
        }
        // In cluster mode, wait until Redis delivers this node those conversations' events.
        self.state.services.bus.sync().await;
        // Read again now that events flow: this is the state `ready` reports.
        let snapshot = store.visible_conversations(account).await.map_err(internal)?;
        for s in &first {
            if !snapshot.iter().any(|n| n.conversation.id == s.conversation.id) {
                hub.unsubscribe(&self.handle, s.conversation.id);
            }
        }
        // Only what is still subscribed: a grant since the first read subscribed the socket
        // itself (its `conversation_added` is queued), a revocation unsubscribed it.
        let snapshot: Vec<_> = snapshot.into_iter().filter(|s| self.handle.subscribed(s.conversation.id)).collect();
        for s in &snapshot {
            self.delivered.insert(s.conversation.id, s.conversation.last_seq);
        }
        let ready = ServerFrame::Ready {
            version: GATEWAY_VERSION,
            session_id: self.handle.id.to_string(),
            account: crate::http::account_view(&self.caller.account),
            conversations: snapshot.iter().map(views::ready_conversation).collect(),
            heartbeat_ms: self.state.gateway.config.heartbeat_seconds * 1000,
        };
        self.write(&ready).await?;
        if hub.sockets_of(account) == 1 {
            let ids: Vec<ConversationId> = self.delivered.keys().copied().collect();
            announce_presence(&self.state, account, &ids, PresenceStatus::Online);
        }
        // One budget for the whole resume, not per conversation: beyond it, `resync`.
        let mut budget = self.state.gateway.config.resume_max_messages;
        for (conversation, from) in resume {
            let Some(&current) = self.delivered.get(&conversation) else { continue };
            let from = from.max(0);
            if from >= current {
                continue;
            }
            if current - from > budget {
                self.write(&ServerFrame::Resync { conversation_id: conversation, last_seq: current }).await?;
                continue;
            }
            budget -= current - from;
            self.replay(conversation, from + 1, current).await?;
        }
        self.flush().await
    }

    /// Whether an event of `conversation` may still be written to this socket: it is
    /// subscribed and, while the bus does not trust this node's view (cluster mode with
    /// Redis or a peer unreachable, or a reconciliation pending), the database agrees. A
    /// refusal from the database revokes the account's subscriptions here, and this socket
    /// is told at once, before anything queued behind the refused event.
    async fn may_deliver(&mut self, conversation: ConversationId) -> Result<bool, (u16, &'static str)> {
        if !self.handle.subscribed(conversation) {
            return Ok(false);
        }
        let services = &self.state.services;
        if services.bus.trusted() {
            return Ok(true);
        }
        let allowed = services.membership.can_see(self.account(), conversation).await;
        match allowed {
            Ok(true) => Ok(self.handle.subscribed(conversation)),
            Ok(false) => {
                services.hub.revoke(self.account(), conversation);
                self.removed(conversation).await?;
                Ok(false)
            }
            Err(_) => Err((1011, "server error")),
        }
    }

    /// Writes the messages `from..=to` of a conversation, in order, from the store.
    /// `Ok(false)`: the conversation was revoked meanwhile (nothing more of it may go out).
    async fn replay(&mut self, conversation: ConversationId, from: i64, to: i64) -> Result<bool, (u16, &'static str)> {
        if !self.may_deliver(conversation).await? {
            return Ok(false);
        }
        let store = self.state.services.store.clone();
        let mut next = from;
        while next <= to {
            let end = (next + REPLAY_PAGE - 1).min(to);
            let rows = store.messages(conversation, next, end).await.map_err(|_| (1011, "server error"))?;
            let extras = store.extras(conversation, next, end).await.map_err(|_| (1011, "server error"))?;
            for message in views::message_views(rows, &extras, self.account()) {
                if !self.handle.subscribed(conversation) {
                    return Ok(false);
                }
                self.write(&ServerFrame::MessageCreated { message }).await?;
            }
            next = end + 1;
        }
        Ok(self.handle.subscribed(conversation))
    }

    /// Brings a conversation from `last` (what this socket has) up to `through`: fills the
    /// gap from the store, or sends `resync` when it is over the replay bound.
    /// `Ok(false)`: nothing more of it may go out now.
    async fn fill(
        &mut self,
        conversation: ConversationId,
        last: i64,
        through: i64,
    ) -> Result<bool, (u16, &'static str)> {
        if through <= last {
            return Ok(true);
        }
        if through - last > self.state.gateway.config.resume_max_messages {
            self.delivered.insert(conversation, through);
            self.write(&ServerFrame::Resync { conversation_id: conversation, last_seq: through }).await?;
            return Ok(false);
        }
        if !self.replay(conversation, last + 1, through).await? {
            return Ok(false);
        }
        self.delivered.insert(conversation, through);
        Ok(true)
    }

    async fn on_outbound(&mut self, item: Outbound) -> Ended {
        self.handle.dequeued(&item);
        match item {
            Outbound::Event(event) => {
                let Some(conversation) = event.conversation else {
                    return self.write_event(&event).await;
                };
                // Delivery re-checks the hub's view (and, while it is not trusted, the
                // database): nothing of a revoked conversation, and nothing of one whose
                // `conversation_added` has not gone out yet (its `last_seq` covers what
                // came before).
                let Some(&last) = self.delivered.get(&conversation) else { return Ok(()) };
                if event.seq.is_some_and(|seq| seq <= last) {
                    return Ok(());
                }
                // The common case (subscribed, the node's view trusted, no gap) awaits
                // nothing but the write; the store's paths are boxed so that every
                // socket's future does not carry their state.
                let trusted = self.state.services.bus.trusted();
                if !self.handle.subscribed(conversation)
                    || (!trusted && !Box::pin(self.may_deliver(conversation)).await?)
                {
                    return Ok(());
                }
                if let Some(seq) = event.seq {
                    // Filling the gap awaited the store: it re-checked before writing on.
                    if seq - 1 > last && !Box::pin(self.fill(conversation, last, seq - 1)).await? {
                        return Ok(());
                    }
                    self.delivered.insert(conversation, seq);
                }
                self.write_event(&event).await
            }
            Outbound::CatchUp(conversation, through) => {
                let Some(&last) = self.delivered.get(&conversation) else { return Ok(()) };
                Box::pin(self.fill(conversation, last, through)).await.map(|_| ())
            }
            Outbound::Added(conversation) => Box::pin(self.added(conversation)).await,
            Outbound::Reply(text) => self.write_text(*text).await,
            Outbound::Close(code) => Err((code, reason_for(code))),
            Outbound::Kill => {
                let code = self.handle.close_code();
                Err((code, reason_for(code)))
            }
            Outbound::Heartbeat => {
                let idle = (self.state.gateway.config.idle_timeout_seconds * 1000) as i64;
                if crate::domain::now_ms() - self.last_heard.load(Ordering::Relaxed) > idle {
                    return Err((close::IDLE_TIMEOUT, "idle"));
                }
                written(within(WRITE_TIMEOUT, self.sink.feed(WsMessage::Ping(Default::default()))).await)
            }
            Outbound::Removed(conversation) => self.removed(conversation).await,
        }
    }

    /// Shows the client a conversation it can now see (`conversation_added`), unless it
    /// is gone again.
    async fn added(&mut self, conversation: ConversationId) -> Ended {
        if !self.handle.subscribed(conversation) || self.delivered.contains_key(&conversation) {
            return Ok(());
        }
        // In cluster mode, wait until Redis delivers this node its events.
        self.state.services.bus.sync().await;
        let summary = self.state.services.store.conversation_summary(self.account(), conversation).await;
        match summary {
            // Re-checked after the await: a revocation may have come meanwhile.
            Ok(Some(s)) if self.handle.subscribed(conversation) => {
                self.delivered.insert(conversation, s.conversation.last_seq);
                self.write(&ServerFrame::ConversationAdded { conversation: views::ready_conversation(&s) }).await
            }
            Ok(_) => {
                // A stale grant (access already gone again): undo the subscription.
                self.state.services.hub.unsubscribe(&self.handle, conversation);
                self.delivered.remove(&conversation);
                Ok(())
            }
            Err(_) => Err((1011, "server error")),
        }
    }

    /// Tells the client it lost `conversation`, once: not again when the revocation's
    /// queued notice follows a refusal already told, and not for a conversation the
    /// client was never shown (its `conversation_added` had not gone out).
    async fn removed(&mut self, conversation: ConversationId) -> Ended {
        if self.delivered.remove(&conversation).is_none() {
            return Ok(());
        }
        self.write(&ServerFrame::ConversationRemoved { conversation_id: conversation }).await
    }

    /// Writes a published event, counting it and its latency since publication.
    async fn write_event(&mut self, event: &Event) -> Ended {
        self.write_text(event.text.clone()).await?;
        let stats = &self.state.services.hub.stats;
        stats.frames_written.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let latency = (crate::domain::now_us() - event.at_us).max(0) as u64;
        stats.fanout_latency.observe(Duration::from_micros(latency));
        Ok(())
    }
}

impl Reader {
    /// Reads client frames until the client leaves or breaks the protocol, then has the
    /// writer close the socket with the right code.
    ///
    /// Each wake-up takes every frame that has already arrived (up to `READ_BATCH`) and
    /// handles them in order; a run of consecutive `send`s is posted together
    /// (`Messages::post_many`: one commit, the access rule applied by each insert). So a client
    /// that sends faster than one post's round trip is not held to one post per round
    /// trip, its messages keep the order it sent them in, and answers come back in
    /// that order.
    async fn run(mut self, mut stream: Stream) {
        // Grown on demand: with room for a full batch up front, every idle socket held
        // 3 KB for frames it never sends.
        let mut batch = Vec::new();
        let code = loop {
            let first = stream.next().await;
            self.last_heard.store(crate::domain::now_ms(), Ordering::Relaxed);
            batch.push(first);
            while batch.len() < READ_BATCH
                && let Some(more) = stream.next().now_or_never()
            {
                batch.push(more);
            }
            // Boxed: the task waits on the socket almost all its life, and would otherwise
            // carry the whole frame-handling state (posting included) while it does.
            if let Some(code) = Box::pin(self.on_frames(&mut batch)).await {
                break code;
            }
        };
        self.handle.close_after_queued(code);
        // Until the writer has closed: its close frame's answer ends the closing handshake.
        let _ = Box::pin(tokio::time::timeout(Duration::from_secs(2), async {
            while let Some(Ok(message)) = stream.next().await {
                if matches!(message, WsMessage::Close(_)) {
                    break;
                }
            }
        }))
        .await;
    }

    /// Handles the frames read in one go, in order, and empties `batch`. `Some(code)`:
    /// close the socket (after answering the frames before the one that closes it).
    async fn on_frames(&mut self, batch: &mut Vec<Option<Result<WsMessage, axum::Error>>>) -> Option<u16> {
        let mut sends = Vec::new();
        let mut verdict = None;
        for incoming in batch.drain(..) {
            let text = match incoming {
                None | Some(Ok(WsMessage::Close(_))) => {
                    verdict = Some(1000);
                    break;
                }
                Some(Err(e)) => {
                    let text = e.to_string();
                    let too_large = text.contains("too long") || text.contains("Space limit") || text.contains("size");
                    verdict = Some(if too_large { 1009 } else { 1000 });
                    break;
                }
                Some(Ok(WsMessage::Binary(_))) => {
                    verdict = Some(1003);
                    break;
                }
                Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => continue,
                Some(Ok(WsMessage::Text(text))) => text,
            };
            let frame = match self.admit(&text) {
                Ok(Ok(frame)) => frame,
                Ok(Err(refusal)) => {
                    self.post(&mut sends).await;
                    self.reply(&refusal);
                    continue;
                }
                Err(code) => {
                    verdict = Some(code);
                    break;
                }
            };
            if let ClientFrame::Send { reference, conversation_id, body, client_id, reply_to, mentions } = frame {
                let post = NewPost { conversation: conversation_id, body, client_id, reply_to, mentions };
                sends.push((reference, post));
                continue;
            }
            self.post(&mut sends).await;
            match self.on_frame(frame).await {
                Ok(Some(answer)) => self.reply(&answer),
                Ok(None) => {}
                Err(code) => {
                    verdict = Some(code);
                    break;
                }
            }
        }
        self.post(&mut sends).await;
        verdict
    }

    /// Posts a run of `send` frames and queues their answers, in order.
    async fn post(&self, sends: &mut Vec<(Option<String>, NewPost)>) {
        if sends.is_empty() {
            return;
        }
        let (references, posts): (Vec<_>, Vec<_>) = sends.drain(..).unzip();
        let conversations: Vec<ConversationId> = posts.iter().map(|p| p.conversation).collect();
        let answers = self.state.services.messages.post_many(self.account, posts).await;
        for ((reference, conversation_id), posted) in references.into_iter().zip(conversations).zip(answers) {
            let frame = match posted {
                Ok((message, new)) => ServerFrame::Ack {
                    reference,
                    conversation_id,
                    seq: message.seq,
                    message_id: message.id,
                    duplicate: !new,
                },
                Err(e) => service_error(reference, e),
            };
            self.reply(&frame);
        }
    }

    /// Queues an answer to the client.
    fn reply(&self, frame: &ServerFrame) {
        self.handle.reply(encode(frame));
    }

    /// Counts a frame against the rate limit and parses it. `Ok(Err(frame))`: refused,
    /// answer with `frame`; `Err(code)`: close (kept flooding).
    fn admit(&mut self, text: &str) -> Result<Result<ClientFrame, ServerFrame>, u16> {
        if self.limiter.check().is_err() {
            self.violations += 1;
            let sustained = 4 * self.state.gateway.config.frames_per_second;
            if self.violations > sustained {
                return Err(close::RATE_LIMITED);
            }
            return Ok(Err(error_frame(None, ErrorCode::RateLimited, "too many frames; slow down")));
        }
        self.violations = 0;
        Ok(parse(text).map_err(|(code, message)| error_frame(None, code, message)))
    }

    /// Handles one client frame other than `send` (see `post`); `Ok(Some(frame))` is the
    /// answer to queue, `Err(code)` closes.
    async fn on_frame(&mut self, frame: ClientFrame) -> Result<Option<ServerFrame>, u16> {
        let account = self.account;
        let services = self.state.services.clone();
        match frame {
            ClientFrame::Hello { .. } => Err(close::PROTOCOL_VIOLATION),
            ClientFrame::Ping { reference } => Ok(Some(ServerFrame::Pong { reference })),
            ClientFrame::Send { reference, conversation_id, body, client_id, reply_to, mentions } => {
                let post = NewPost { conversation: conversation_id, body, client_id, reply_to, mentions };
                self.post(&mut vec![(reference, post)]).await;
                Ok(None)
            }
            ClientFrame::Read { conversation_id, seq } => {
                match services.messages.mark_read(account, conversation_id, seq).await {
                    Ok(_) => Ok(None),
                    Err(e) => Ok(Some(service_error(None, e))),
                }
            }
            ClientFrame::Typing { conversation_id } => {
                if self.typing.get(&conversation_id).is_some_and(|at| at.elapsed() < TYPING_INTERVAL) {
                    return Ok(None);
                }
                let allowed = match services.membership.conversation(account, conversation_id).await {
                    Ok(access) => access.require_write(),
                    Err(e) => Err(e),
                };
                if let Err(e) = allowed {
                    return Ok(Some(service_error(None, e)));
                }
                self.typing.insert(conversation_id, Instant::now());
                let frame = ServerFrame::Typing { conversation_id, account_id: account };
                services.bus.publish(conversation_id, Event::new(Some(conversation_id), None, &frame));
                Ok(None)
            }
            ClientFrame::Presence { status } => {
                let status = match status {
                    ClientPresence::Online => PresenceStatus::Online,
                    ClientPresence::Away => PresenceStatus::Away,
                };
                // Forwarded only when it changes, and not too often: one frame fans out
                // to every conversation the account is in.
                let (previous, at) = self.presence;
                if previous == status || at.elapsed() < PRESENCE_INTERVAL {
                    return Ok(None);
                }
                self.presence = (status, Instant::now());
                let ids = self.handle.subscriptions();
                announce_presence(&self.state, account, &ids, status);
                Ok(None)
            }
        }
    }
}

/// `future`'s output, or `Err` when it has not finished within `limit`. Unlike
/// `tokio::time::timeout`, it reads the clock and arms a timer only when `future` does not
/// finish at once, which is nearly always for a socket write: that saves two clock reads
/// and a runtime-handle clone per frame.
async fn within<F: Future>(limit: Duration, future: F) -> Result<F::Output, ()> {
    let mut future = std::pin::pin!(future);
    let mut timer: Option<Pin<Box<tokio::time::Sleep>>> = None;
    std::future::poll_fn(|cx| {
        if let Poll::Ready(output) = future.as_mut().poll(cx) {
            return Poll::Ready(Ok(output));
        }
        timer.get_or_insert_with(|| Box::pin(tokio::time::sleep(limit))).as_mut().poll(cx).map(|()| Err(()))
    })
    .await
}

/// A write's outcome as the session's verdict.
fn written<E>(outcome: Result<Result<(), E>, ()>) -> Ended {
    match outcome {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err((1011, "write failed")),
        Err(()) => Err((close::SLOW_CONSUMER, "too slow to read")),
    }
}

/// Parses a client frame into one of the documented errors when it is not one.
fn parse(text: &str) -> Result<ClientFrame, (ErrorCode, String)> {
    // The common case costs one parse; only a refused frame is looked at again.
    let typed_error = match serde_json::from_str::<ClientFrame>(text) {
        Ok(frame) => return Ok(frame),
        Err(e) => e,
    };
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| (ErrorCode::MalformedJson, format!("not JSON: {e}")))?;
    const TYPES: &[&str] = &["hello", "send", "typing", "presence", "read", "ping"];
    match value.get("type").and_then(|t| t.as_str()) {
        Some(t) if TYPES.contains(&t) => Err((ErrorCode::InvalidRequest, typed_error.to_string())),
        Some(t) => Err((ErrorCode::UnknownFrame, format!("unknown frame type {t:?}"))),
        None => Err((ErrorCode::UnknownFrame, "a frame needs a string \"type\"".into())),
    }
}

fn service_error(reference: Option<String>, e: services::Error) -> ServerFrame {
    let (code, message) = e.code_and_message();
    error_frame(reference, code, message)
}

/// The JSON schema (2020-12) of every gateway frame, generated from the protocol types:
/// `$defs/ClientFrame` and `$defs/ServerFrame` and everything they use. Committed as
/// `protocol/gateway.schema.json`; a test keeps the two equal.
pub fn json_schema() -> serde_json::Value {
    use utoipa::OpenApi;
    #[derive(OpenApi)]
    #[openapi(components(schemas(ClientFrame, ServerFrame)))]
    struct Frames;
    let components = serde_json::to_value(Frames::openapi().components.expect("components")).expect("serializes");
    let defs =
        serde_json::to_string(&components["schemas"]).expect("serializes").replace("#/components/schemas/", "#/$defs/");
    serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://salon.invalid/protocol/gateway.schema.json",
        "title": "Salon gateway frames, version 1",
        "description": "Every frame is one JSON text message. Client frames: $defs/ClientFrame; server frames: $defs/ServerFrame. See gateway.md.",
        "$defs": serde_json::from_str::<serde_json::Value>(&defs).expect("valid JSON"),
    })
}
