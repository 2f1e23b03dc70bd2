//! The local hub: which sockets on this node listen to which conversation, and the
//! fan-out of events to them.
//!
//! Owns the per-conversation subscriber lists and the per-account session lists (both
//! sharded maps), and every socket's bounded outbound queue. An event is encoded once
//! (`Event::text`, a reference-counted buffer) and the same bytes are queued for every
//! recipient. A socket whose queue is full (frames or bytes) is closed as a slow consumer;
//! nobody else waits for it.
//!
//! Never awaits while holding a shard of a map, and never awaits the network at all:
//! every method here is synchronous, so a removal (`revoke`) is complete when it returns.
//! Delivery re-checks: a session writes an event of a conversation only while the
//! conversation is in its `subscriptions`, which `revoke` clears before returning.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::ws::Utf8Bytes;
use dashmap::DashMap;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::crypto::TokenHash;
use crate::domain::{AccountId, ConversationId, IdBuildHasher, IdSet, now_us};
use crate::metrics::Histogram;
use salon_protocol::gateway::{ServerFrame, close};

/// An encoded event, shared by every recipient.
#[derive(Debug)]
pub struct Event {
    /// The conversation it belongs to (`None`: addressed to an account).
    pub conversation: Option<ConversationId>,
    /// For `message_created`: its sequence, which sessions use to keep order.
    pub seq: Option<i64>,
    pub text: Utf8Bytes,
    /// When it was published (Unix microseconds, on the node it came from): fan-out
    /// latency.
    pub at_us: i64,
}

impl Event {
    pub fn new(conversation: Option<ConversationId>, seq: Option<i64>, frame: &ServerFrame) -> Arc<Event> {
        Arc::new(Event { conversation, seq, text: encode(frame), at_us: now_us() })
    }
}

/// A change of this node's interest, for the cluster bridge: the first socket subscribed
/// to a conversation, or the last one left (likewise for an account's sockets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interest {
    Conversation(ConversationId),
    Account(AccountId),
}

pub fn encode<T: Serialize>(frame: &T) -> Utf8Bytes {
    Utf8Bytes::from(serde_json::to_string(frame).expect("frames serialize"))
}

/// What a session's queue carries.
#[derive(Debug)]
pub enum Outbound {
    Event(Arc<Event>),
    /// The account can now see this conversation.
    Added(ConversationId),
    /// The account can no longer see this conversation.
    Removed(ConversationId),
    /// The conversation's messages go up to this sequence: fill what is missing from the
    /// store (after the node may have missed events).
    CatchUp(ConversationId, i64),
    /// An answer to a client frame (ack, error, pong), written in turn. Boxed to keep
    /// every item small: each socket's queue starts with room for 32 of them.
    Reply(Box<Utf8Bytes>),
    /// Close the socket with this code once what was queued before is written.
    Close(u16),
    /// The hub has closed the socket (`SessionHandle::close`): stop now. Not counted
    /// against the queue's limits, so that it always gets through.
    Kill,
    /// Time to ping the client and check when it was last heard from (`Hub::heartbeat`).
    /// Not counted either.
    Heartbeat,
}

const _: () = assert!(std::mem::size_of::<Outbound>() <= 24, "keep queue items small");

impl Outbound {
    /// Bytes counted against the queue's byte limit; `None`: not counted at all.
    fn cost(&self) -> Option<usize> {
        match self {
            Outbound::Event(e) => Some(e.text.len()),
            Outbound::Reply(text) => Some(text.len()),
            Outbound::Kill | Outbound::Heartbeat => None,
            _ => Some(64),
        }
    }
}

/// Queue bounds per socket.
#[derive(Debug, Clone, Copy)]
pub struct QueueLimits {
    pub frames: usize,
    pub bytes: usize,
}

/// A socket's conversations, and whether it has left (after which nothing subscribes it).
#[derive(Default)]
struct Subscriptions {
    set: IdSet<ConversationId>,
    gone: bool,
}

/// The hub's side of one socket.
pub struct SessionHandle {
    pub id: u64,
    pub account: AccountId,
    /// The session token the socket authenticated with (so a log-out closes it).
    pub token: TokenHash,
    /// Unbounded on its own: the limits are counted here (a bounded channel would pay
    /// for a semaphore on every frame, and could refuse the kill).
    tx: mpsc::UnboundedSender<Outbound>,
    queued_frames: AtomicUsize,
    queued_bytes: AtomicUsize,
    limits: QueueLimits,
    /// Conversations this socket may receive events of. Changed only by the hub.
    subscriptions: Mutex<Subscriptions>,
    /// 0 while open; the close code once the hub has decided to close the socket.
    close_code: AtomicU16,
}

impl SessionHandle {
    /// Whether an event of `conversation` may still be written to this socket.
    pub fn subscribed(&self, conversation: ConversationId) -> bool {
        self.subscriptions.lock().expect("not poisoned").set.contains(&conversation)
    }

    /// Queues an answer to one of the client's frames.
    pub fn reply(&self, text: Utf8Bytes) {
        self.push(Outbound::Reply(Box::new(text)));
    }

    /// Closes the socket with `code` after what is already queued (the reader's verdict:
    /// answers it queued before go out first).
    pub fn close_after_queued(&self, code: u16) {
        self.push(Outbound::Close(code));
    }

    /// The conversations this socket is subscribed to.
    pub fn subscriptions(&self) -> Vec<ConversationId> {
        self.subscriptions.lock().expect("not poisoned").set.iter().copied().collect()
    }

    /// Marks a queued item as taken by the session.
    pub fn dequeued(&self, item: &Outbound) {
        if let Some(cost) = item.cost() {
            self.queued_frames.fetch_sub(1, Ordering::Relaxed);
            self.queued_bytes.fetch_sub(cost, Ordering::Relaxed);
        }
    }

    /// Closes the socket: its session stops at the next item it takes, and a session
    /// waiting for work is woken by a `Kill` (which never waits behind the limits).
    pub fn close(&self, code: u16) {
        debug_assert_ne!(code, 0, "0 means open");
        if self.close_code.compare_exchange(0, code, Ordering::AcqRel, Ordering::Acquire).is_ok() {
            let _ = self.tx.send(Outbound::Kill);
        }
    }

    /// The code the hub closed this socket with (meaningful once `is_closed`).
    pub fn close_code(&self) -> u16 {
        self.close_code.load(Ordering::Acquire)
    }

    pub fn is_closed(&self) -> bool {
        self.close_code() != 0
    }

    /// Queues without waiting; a full queue closes the socket as a slow consumer.
    fn push(&self, item: Outbound) {
        if self.is_closed() {
            return;
        }
        if let Some(cost) = item.cost() {
            let frames = self.queued_frames.fetch_add(1, Ordering::Relaxed) + 1;
            let bytes = self.queued_bytes.fetch_add(cost, Ordering::Relaxed) + cost;
            if frames > self.limits.frames || bytes > self.limits.bytes {
                self.close(close::SLOW_CONSUMER);
                return;
            }
        }
        // Fails only once the session has ended.
        let _ = self.tx.send(item);
    }
}

/// Counters for `/metrics` (and tests).
pub struct HubStats {
    pub events_published: AtomicU64,
    pub frames_queued: AtomicU64,
    pub slow_consumers: AtomicU64,
    /// Events written to sockets (by their sessions).
    pub frames_written: AtomicU64,
    /// From an event's publication (on whichever node) to its write to a socket here.
    pub fanout_latency: Histogram,
}

impl Default for HubStats {
    fn default() -> Self {
        HubStats {
            events_published: AtomicU64::new(0),
            frames_queued: AtomicU64::new(0),
            slow_consumers: AtomicU64::new(0),
            frames_written: AtomicU64::new(0),
            fanout_latency: Histogram::latency(),
        }
    }
}

pub struct Hub {
    conversations: DashMap<ConversationId, Vec<Arc<SessionHandle>>, IdBuildHasher>,
    accounts: DashMap<AccountId, Vec<Arc<SessionHandle>>, IdBuildHasher>,
    next_id: AtomicU64,
    limits: QueueLimits,
    /// Where changes of interest go (cluster mode), never waited on.
    interest: Option<mpsc::UnboundedSender<Interest>>,
    pub stats: HubStats,
}

impl Hub {
    pub fn new(limits: QueueLimits) -> Hub {
        Hub {
            conversations: DashMap::default(),
            accounts: DashMap::default(),
            next_id: AtomicU64::new(1),
            limits,
            interest: None,
            stats: HubStats::default(),
        }
    }

    /// A hub that reports every change of interest to `interest` (the cluster bridge
    /// keeps one Redis subscription per conversation and account with local sockets).
    pub fn with_interest(limits: QueueLimits, interest: mpsc::UnboundedSender<Interest>) -> Hub {
        Hub { interest: Some(interest), ..Hub::new(limits) }
    }

    fn changed(&self, what: Interest) {
        if let Some(tx) = &self.interest {
            let _ = tx.send(what);
        }
    }

    /// Registers a socket of `account`; from now on account-wide events (grants,
    /// revocations, read markers) reach it. Conversations are subscribed separately.
    pub fn register(
        &self,
        account: AccountId,
        token: TokenHash,
    ) -> (Arc<SessionHandle>, mpsc::UnboundedReceiver<Outbound>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let handle = Arc::new(SessionHandle {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            account,
            token,
            tx,
            queued_frames: AtomicUsize::new(0),
            queued_bytes: AtomicUsize::new(0),
            limits: self.limits,
            subscriptions: Mutex::new(Subscriptions::default()),
            close_code: AtomicU16::new(0),
        });
        let first = {
            let mut sessions = self.accounts.entry(account).or_default();
            sessions.push(handle.clone());
            sessions.len() == 1
        };
        if first {
            self.changed(Interest::Account(account));
        }
        (handle, rx)
    }

    /// Removes a socket everywhere. Returns whether it was the account's last one here.
    pub fn unregister(&self, handle: &SessionHandle) -> bool {
        let conversations: Vec<ConversationId> = {
            let mut subs = handle.subscriptions.lock().expect("not poisoned");
            subs.gone = true;
            subs.set.drain().collect()
        };
        for c in conversations {
            self.remove_subscriber(c, |s| s.id == handle.id);
        }
        let mut last = false;
        if let Some(mut sessions) = self.accounts.get_mut(&handle.account) {
            sessions.retain(|s| s.id != handle.id);
            last = sessions.is_empty();
        }
        if self.accounts.remove_if(&handle.account, |_, sessions| sessions.is_empty()).is_some() {
            self.changed(Interest::Account(handle.account));
        }
        last
    }

    /// Subscribes one socket to a conversation (the caller checked access).
    pub fn subscribe(&self, handle: &Arc<SessionHandle>, conversation: ConversationId) {
        // Under the socket's lock: once `unregister` marked it gone, nothing re-adds it.
        let mut subs = handle.subscriptions.lock().expect("not poisoned");
        if !subs.gone && subs.set.insert(conversation) {
            let first = {
                let mut subscribers = self.conversations.entry(conversation).or_default();
                subscribers.push(handle.clone());
                subscribers.len() == 1
            };
            if first {
                self.changed(Interest::Conversation(conversation));
            }
        }
    }

    /// Unsubscribes one socket from a conversation.
    pub fn unsubscribe(&self, handle: &SessionHandle, conversation: ConversationId) {
        handle.subscriptions.lock().expect("not poisoned").set.remove(&conversation);
        self.remove_subscriber(conversation, |s| s.id == handle.id);
    }

    fn remove_subscriber(&self, conversation: ConversationId, matches: impl Fn(&SessionHandle) -> bool) {
        if let Some(mut subs) = self.conversations.get_mut(&conversation) {
            subs.retain(|s| !matches(s));
        }
        if self.conversations.remove_if(&conversation, |_, subs| subs.is_empty()).is_some() {
            self.changed(Interest::Conversation(conversation));
        }
    }

    fn sessions_of(&self, account: AccountId) -> Vec<Arc<SessionHandle>> {
        self.accounts.get(&account).map(|s| s.clone()).unwrap_or_default()
    }

    /// Queues `event` for every socket subscribed to its conversation.
    pub fn publish(&self, conversation: ConversationId, event: Arc<Event>) {
        self.stats.events_published.fetch_add(1, Ordering::Relaxed);
        // Under the shard's read lock: queueing never waits and never comes back into the
        // hub, and copying the list (an allocation and two reference counts per
        // subscriber) cost more than the fan-out itself.
        if let Some(subscribers) = self.conversations.get(&conversation) {
            for s in subscribers.iter() {
                self.deliver(s, Outbound::Event(event.clone()));
            }
        }
    }

    /// Queues `event` for every socket of `account` on this node.
    pub fn to_account(&self, account: AccountId, event: Arc<Event>) {
        for s in self.sessions_of(account) {
            self.deliver(&s, Outbound::Event(event.clone()));
        }
    }

    fn deliver(&self, session: &SessionHandle, item: Outbound) {
        session.push(item);
        if session.is_closed() {
            if session.close_code.load(Ordering::Acquire) == close::SLOW_CONSUMER {
                self.stats.slow_consumers.fetch_add(1, Ordering::Relaxed);
            }
        } else {
            self.stats.frames_queued.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// `account` can now see `conversation`: subscribe its sockets and tell them.
    pub fn grant(&self, account: AccountId, conversation: ConversationId) {
        for s in self.sessions_of(account) {
            self.subscribe(&s, conversation);
            s.push(Outbound::Added(conversation));
        }
    }

    /// `account` can no longer see `conversation`. When this returns, none of its
    /// sockets on this node will write another event of it; each is told.
    pub fn revoke(&self, account: AccountId, conversation: ConversationId) {
        self.remove_subscriber(conversation, |s| s.account == account);
        for s in self.sessions_of(account) {
            s.subscriptions.lock().expect("not poisoned").set.remove(&conversation);
            s.push(Outbound::Removed(conversation));
        }
    }

    /// The conversation's newest sequence is `last_seq`: every socket subscribed to it
    /// fills what it has not seen from the store.
    pub fn catch_up(&self, conversation: ConversationId, last_seq: i64) {
        let subscribers = self.conversations.get(&conversation).map(|s| s.clone()).unwrap_or_default();
        for s in subscribers {
            s.push(Outbound::CatchUp(conversation, last_seq));
        }
    }

    /// Conversations with at least one socket subscribed on this node.
    pub fn conversation_ids(&self) -> Vec<ConversationId> {
        self.conversations.iter().map(|e| *e.key()).collect()
    }

    /// Accounts with at least one socket on this node.
    pub fn account_ids(&self) -> Vec<AccountId> {
        self.accounts.iter().map(|e| *e.key()).collect()
    }

    /// The conversations any socket of `account` on this node is subscribed to.
    pub fn subscriptions_of(&self, account: AccountId) -> HashSet<ConversationId> {
        let mut out = HashSet::new();
        for s in self.sessions_of(account) {
            out.extend(s.subscriptions.lock().expect("not poisoned").set.iter().copied());
        }
        out
    }

    /// Closes the sockets of `account` (all, or those opened with one session token).
    pub fn close_sessions(&self, account: AccountId, only: Option<&TokenHash>, code: u16) {
        for s in self.sessions_of(account) {
            if only.is_none_or(|t| *t == s.token) {
                s.close(code);
            }
        }
    }

    /// Closes every socket except those opened with `keep` (after a password change).
    pub fn close_other_sessions(&self, account: AccountId, keep: &TokenHash, code: u16) {
        for s in self.sessions_of(account) {
            if s.token != *keep {
                s.close(code);
            }
        }
    }

    /// Queues a `Heartbeat` for every socket here in slot `slot` of `slots`: a ticker
    /// calls this once a second with the next slot, so each socket gets one every `slots`
    /// seconds and the pings of many sockets are spread over the period.
    pub fn heartbeat(&self, slot: u64, slots: u64) {
        for entry in self.accounts.iter() {
            for s in entry.value().iter().filter(|s| s.id % slots == slot) {
                let _ = s.tx.send(Outbound::Heartbeat);
            }
        }
    }

    /// Closes every socket on this node (shutdown).
    pub fn close_all(&self, code: u16) {
        for entry in self.accounts.iter() {
            for s in entry.value() {
                s.close(code);
            }
        }
    }

    /// How many sockets are open on this node, and for one account.
    pub fn sockets(&self) -> usize {
        self.accounts.iter().map(|e| e.value().len()).sum()
    }

    /// Conversations with at least one subscribed socket on this node.
    pub fn active_conversations(&self) -> usize {
        self.conversations.len()
    }

    pub fn has_conversation(&self, conversation: ConversationId) -> bool {
        self.conversations.contains_key(&conversation)
    }

    pub fn sockets_of(&self, account: AccountId) -> usize {
        self.accounts.get(&account).map(|s| s.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub(frames: usize, bytes: usize) -> Hub {
        Hub::new(QueueLimits { frames, bytes })
    }

    fn event(c: i64) -> Arc<Event> {
        Event::new(Some(ConversationId(c)), None, &ServerFrame::Pong { reference: None })
    }

    #[tokio::test]
    async fn publish_reaches_subscribers_only() {
        let hub = hub(8, 1 << 20);
        let (a, mut ra) = hub.register(AccountId(1), TokenHash::of("a"));
        let (_b, mut rb) = hub.register(AccountId(2), TokenHash::of("b"));
        hub.subscribe(&a, ConversationId(10));
        hub.publish(ConversationId(10), event(10));
        assert!(matches!(ra.try_recv(), Ok(Outbound::Event(_))));
        assert!(rb.try_recv().is_err());
    }

    #[tokio::test]
    async fn revoke_is_complete_when_it_returns() {
        let hub = hub(8, 1 << 20);
        let (a, mut ra) = hub.register(AccountId(1), TokenHash::of("a"));
        hub.subscribe(&a, ConversationId(10));
        hub.revoke(AccountId(1), ConversationId(10));
        assert!(!a.subscribed(ConversationId(10)));
        hub.publish(ConversationId(10), event(10));
        assert!(matches!(ra.try_recv(), Ok(Outbound::Removed(ConversationId(10)))));
        assert!(ra.try_recv().is_err(), "nothing after the revocation");
    }

    #[tokio::test]
    async fn a_full_queue_closes_only_the_slow_socket() {
        let hub = hub(2, 1 << 20);
        let (slow, mut slow_rx) = hub.register(AccountId(1), TokenHash::of("a"));
        let (fast, mut rf) = hub.register(AccountId(2), TokenHash::of("b"));
        hub.subscribe(&slow, ConversationId(10));
        hub.subscribe(&fast, ConversationId(10));
        for _ in 0..3 {
            hub.publish(ConversationId(10), event(10));
            if let Ok(item) = rf.try_recv() {
                fast.dequeued(&item);
            }
        }
        assert!(slow.is_closed());
        assert_eq!(slow.close_code(), close::SLOW_CONSUMER);
        let mut queued = Vec::new();
        while let Ok(item) = slow_rx.try_recv() {
            queued.push(item);
        }
        assert!(matches!(queued.last(), Some(Outbound::Kill)), "the session is woken to stop: {queued:?}");
        assert!(!fast.is_closed());
        assert_eq!(hub.stats.slow_consumers.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn a_byte_budget_closes_too() {
        let hub = hub(100, 40);
        let (s, _rx) = hub.register(AccountId(1), TokenHash::of("a"));
        hub.subscribe(&s, ConversationId(1));
        hub.publish(ConversationId(1), event(1));
        hub.publish(ConversationId(1), event(1));
        assert!(s.is_closed(), "two pongs are over 40 bytes");
    }

    #[tokio::test]
    async fn unregister_forgets_everything() {
        let hub = hub(8, 1 << 20);
        let (a, _ra) = hub.register(AccountId(1), TokenHash::of("a"));
        hub.subscribe(&a, ConversationId(10));
        assert!(hub.unregister(&a));
        assert_eq!(hub.sockets(), 0);
        assert!(hub.conversations.is_empty());
    }
}
