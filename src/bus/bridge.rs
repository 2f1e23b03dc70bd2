//! The Redis bridge of cluster mode: publishing this node's events, receiving the others',
//! keeping one subscription per channel the node's sockets need, confirming removals,
//! heartbeats between nodes, and the health that decides whether the node trusts its view.
//!
//! Three tasks:
//! - the **publisher** owns a multiplexed connection and sends what the node queued, in
//!   order, pipelined in batches; after an outage it resends what it kept (removals are
//!   never dropped) and tells every node to catch up from the database;
//! - the **subscriber** owns the pub/sub connection: it is the only reader of it (the
//!   `redis` crate's driver drains the socket into a channel, so Redis never sees a slow
//!   reader), applies what it receives to the hub (which never blocks), and changes
//!   subscriptions as the hub reports interest, one Redis subscription per channel;
//! - the **heartbeat** publishes this node's liveness and watches the peers'.
//!
//! Never holds a lock across an await; never blocks the hub.
//!
//! Wire format (internal to a cluster of the same version): one line of space-separated
//! fields, then for events a newline and the frame's JSON text exactly as sockets get it.
//! `E origin at_us conversation seq|-` (conversation event), `A origin at_us account
//! conversation|-` (event for an account), `G origin account conversation` (grant),
//! `R origin nonce account conversation` (revocation), `C origin account code token|*
//! others` (close sockets), `K nonce` (another node applied revocation `nonce`; the origin
//! counts its own copy of `R` itself), `H origin` (heartbeat), `B origin` (leaving),
//! `Y origin` (catch up: that node may have failed to publish).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::ws::Utf8Bytes;
use dashmap::DashMap;
use futures_util::StreamExt;
use tokio::sync::{Notify, mpsc, oneshot};

use super::BusError;
use crate::config::ClusterConfig;
use crate::crypto::{TokenHash, random_id};
use crate::domain::{AccountId, ConversationId, now_ms, now_us};
use crate::hub::{Event, Hub, Interest};
use crate::metrics::Histogram;

/// Most messages in one pipelined batch.
const BATCH: usize = 512;
/// Queued messages kept while Redis is unreachable; beyond, events are dropped (removals,
/// grants and closes never are) and the others catch up from the database instead.
const MAX_PENDING: usize = 100_000;
/// Channels per SUBSCRIBE command.
const SUBSCRIBE_CHUNK: usize = 1000;

/// Counters and gauges of the bridge, for `/metrics`.
pub struct BusStats {
    pub published: AtomicU64,
    pub publish_errors: AtomicU64,
    pub received: AtomicU64,
    pub reconnects: AtomicU64,
    pub ack_timeouts: AtomicU64,
    pub dropped: AtomicU64,
    pub subscribed_channels: AtomicUsize,
    pub peers: AtomicUsize,
    /// From publication on the origin node to reception here.
    pub receive_lag: Histogram,
    /// How long removals waited for the other nodes' confirmations.
    pub removal_wait: Histogram,
}

/// One message for Redis.
struct Outgoing {
    channel: String,
    payload: Vec<u8>,
    /// Told how many nodes received it, once published.
    confirm: Option<oneshot::Sender<usize>>,
    /// Kept through an outage however long the queue gets.
    keep: bool,
}

/// Confirmations awaited for one removal.
struct Waiter {
    acks: AtomicUsize,
    notify: Notify,
}

pub struct Bridge {
    config: ClusterConfig,
    /// This node's identity on the bus, fresh at every start.
    node: String,
    client: redis::Client,
    hub: Arc<Hub>,
    out: mpsc::UnboundedSender<Outgoing>,
    barriers: mpsc::UnboundedSender<oneshot::Sender<()>>,
    /// The pub/sub connection is up and subscribed.
    subscribed: AtomicBool,
    /// Has been subscribed at least once since start.
    ever_subscribed: AtomicBool,
    /// Every peer heard from recently is still heard from.
    peers_ok: AtomicBool,
    peers: Mutex<HashMap<String, Instant>>,
    /// Unix ms of the last successful publication (a heartbeat goes out every
    /// `heartbeat_ms`): how long the peers have not heard from this node.
    last_published: AtomicI64,
    /// Reconciliations asked for and done (generations): trust needs done >= wanted.
    wanted: AtomicU64,
    done: AtomicU64,
    reconcile: Notify,
    waiters: DashMap<u64, Arc<Waiter>>,
    stopping: AtomicBool,
    stats: BusStats,
}

impl Bridge {
    /// Connects lazily: the tasks start now and keep retrying while Redis is away.
    pub fn start(
        config: &ClusterConfig,
        hub: Arc<Hub>,
        interest: mpsc::UnboundedReceiver<Interest>,
    ) -> Result<Arc<Bridge>, redis::RedisError> {
        let client = redis::Client::open(config.redis_url.expose().as_str())?;
        let (out, out_rx) = mpsc::unbounded_channel();
        let (barriers, barrier_rx) = mpsc::unbounded_channel();
        let bridge = Arc::new(Bridge {
            config: config.clone(),
            node: format!("{:016x}", random_id()),
            client,
            hub,
            out,
            barriers,
            subscribed: AtomicBool::new(false),
            ever_subscribed: AtomicBool::new(false),
            peers_ok: AtomicBool::new(true),
            peers: Mutex::new(HashMap::new()),
            last_published: AtomicI64::new(0),
            wanted: AtomicU64::new(0),
            done: AtomicU64::new(0),
            reconcile: Notify::new(),
            waiters: DashMap::new(),
            stopping: AtomicBool::new(false),
            stats: BusStats {
                published: AtomicU64::new(0),
                publish_errors: AtomicU64::new(0),
                received: AtomicU64::new(0),
                reconnects: AtomicU64::new(0),
                ack_timeouts: AtomicU64::new(0),
                dropped: AtomicU64::new(0),
                subscribed_channels: AtomicUsize::new(0),
                peers: AtomicUsize::new(0),
                receive_lag: Histogram::latency(),
                removal_wait: Histogram::latency(),
            },
        });
        tokio::spawn(bridge.clone().publisher(out_rx));
        tokio::spawn(bridge.clone().subscriber(interest, barrier_rx));
        tokio::spawn(bridge.clone().heartbeat());
        tracing::info!(node = %bridge.node, "cluster mode: connecting to Redis");
        Ok(bridge)
    }

    pub fn config(&self) -> &ClusterConfig {
        &self.config
    }

    pub fn stats(&self) -> &BusStats {
        &self.stats
    }

    pub fn ever_connected(&self) -> bool {
        self.ever_subscribed.load(Ordering::Acquire)
    }

    /// The trust rule: subscribed, every peer heard from, and reconciled since the last
    /// doubt.
    pub fn trusted(&self) -> bool {
        self.subscribed.load(Ordering::Acquire)
            && self.peers_ok.load(Ordering::Acquire)
            && self.done.load(Ordering::Acquire) >= self.wanted.load(Ordering::Acquire)
    }

    fn channel(&self, kind: &str, id: impl std::fmt::Display) -> String {
        format!("{}:{kind}:{id}", self.config.channel_prefix)
    }

    fn broadcast_channel(&self) -> String {
        format!("{}:all", self.config.channel_prefix)
    }

    fn send(&self, channel: String, payload: Vec<u8>, keep: bool) {
        let _ = self.out.send(Outgoing { channel, payload, confirm: None, keep });
    }

    // -------------------------------------------------------------------------------------
    // What the node sends

    pub fn publish_event(&self, conversation: ConversationId, event: &Event) {
        let seq = event.seq.map(|s| s.to_string()).unwrap_or_else(|| "-".into());
        let mut payload = format!("E {} {} {conversation} {seq}\n", self.node, event.at_us).into_bytes();
        payload.extend_from_slice(event.text.as_bytes());
        self.send(self.channel("c", conversation), payload, false);
    }

    pub fn publish_to_account(&self, account: AccountId, event: &Event) {
        let conversation = event.conversation.map(|c| c.to_string()).unwrap_or_else(|| "-".into());
        let mut payload = format!("A {} {} {account} {conversation}\n", self.node, event.at_us).into_bytes();
        payload.extend_from_slice(event.text.as_bytes());
        self.send(self.channel("a", account), payload, false);
    }

    pub fn publish_grant(&self, account: AccountId, conversation: ConversationId) {
        let payload = format!("G {} {account} {conversation}", self.node).into_bytes();
        self.send(self.channel("a", account), payload, true);
    }

    pub fn publish_close(&self, account: AccountId, token: Option<&TokenHash>, others: bool, code: u16) {
        let token: String =
            token.map(|t| t.0.iter().map(|b| format!("{b:02x}")).collect()).unwrap_or_else(|| "*".to_owned());
        let payload = format!("C {} {account} {code} {token} {}", self.node, u8::from(others)).into_bytes();
        self.send(self.channel("a", account), payload, true);
    }

    /// Publishes the revocations on their conversations' channels and waits until every
    /// node that received them confirmed applying them. While Redis cannot be reached,
    /// waits instead until the peers must have noticed this node's silence (then every
    /// one of them checks the database on each delivery, which already says "removed").
    pub async fn revoke(&self, pairs: &[(AccountId, ConversationId)]) -> Result<(), BusError> {
        let started = Instant::now();
        let nonce = random_id() as u64;
        let waiter = Arc::new(Waiter { acks: AtomicUsize::new(0), notify: Notify::new() });
        self.waiters.insert(nonce, waiter.clone());
        let mut confirms = Vec::with_capacity(pairs.len());
        for &(account, conversation) in pairs {
            let (tx, rx) = oneshot::channel();
            let payload = format!("R {} {nonce} {account} {conversation}", self.node).into_bytes();
            let _ = self.out.send(Outgoing {
                channel: self.channel("c", conversation),
                payload,
                confirm: Some(tx),
                keep: true,
            });
            confirms.push(rx);
        }
        let removal_timeout = Duration::from_millis(self.config.removal_timeout_ms);
        let peer_timeout = self.config.peer_timeout_ms as i64;
        let outcome = async {
            let mut expected = 0;
            for mut rx in confirms {
                loop {
                    // Published: count the nodes that got it.
                    match tokio::time::timeout(Duration::from_millis(50), &mut rx).await {
                        Ok(Ok(n)) => {
                            expected += n;
                            break;
                        }
                        Ok(Err(_)) => return Err(BusError::Unpublished),
                        Err(_) => {}
                    }
                    // Not yet: Redis may be away. Once the peers have not heard from this
                    // node for `peer_timeout`, they distrust their view: safe to return.
                    let silent = now_ms() - self.last_published.load(Ordering::Acquire);
                    if self.ever_connected() && silent >= peer_timeout {
                        tracing::warn!(silent_ms = silent, "removal not published yet; peers check the database");
                        return Ok(());
                    }
                    if started.elapsed() > removal_timeout + Duration::from_millis(peer_timeout as u64) {
                        return Err(BusError::Unpublished);
                    }
                }
            }
            let deadline = started + removal_timeout;
            loop {
                let notified = waiter.notify.notified();
                if waiter.acks.load(Ordering::Acquire) >= expected {
                    return Ok(());
                }
                if tokio::time::timeout_at(deadline.into(), notified).await.is_err() {
                    self.stats.ack_timeouts.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        expected,
                        got = waiter.acks.load(Ordering::Acquire),
                        "a node did not confirm a removal in time"
                    );
                    return Ok(());
                }
            }
        }
        .await;
        self.waiters.remove(&nonce);
        self.stats.removal_wait.observe(started.elapsed());
        outcome
    }

    /// Answers once the subscriptions asked for so far are in place (or at once while
    /// the subscription is down: the node is degraded and reconciles when it is back).
    pub async fn sync(&self) {
        if !self.subscribed.load(Ordering::Acquire) {
            return;
        }
        let (tx, rx) = oneshot::channel();
        if self.barriers.send(tx).is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(5), rx).await;
        }
    }

    fn request_reconcile(&self) {
        self.wanted.fetch_add(1, Ordering::AcqRel);
        self.reconcile.notify_one();
    }

    pub async fn reconcile_requested(&self) -> u64 {
        loop {
            let notified = self.reconcile.notified();
            let wanted = self.wanted.load(Ordering::Acquire);
            if wanted > self.done.load(Ordering::Acquire) {
                return wanted;
            }
            notified.await;
        }
    }

    pub fn reconciled(&self, generation: u64) {
        self.done.fetch_max(generation, Ordering::AcqRel);
    }

    pub async fn shutdown(&self) {
        self.stopping.store(true, Ordering::Release);
        let (tx, rx) = oneshot::channel();
        let _ = self.out.send(Outgoing {
            channel: self.broadcast_channel(),
            payload: format!("B {}", self.node).into_bytes(),
            confirm: Some(tx),
            keep: true,
        });
        let _ = tokio::time::timeout(Duration::from_secs(2), rx).await;
    }

    // -------------------------------------------------------------------------------------
    // Publisher

    async fn publisher(self: Arc<Self>, mut rx: mpsc::UnboundedReceiver<Outgoing>) {
        let mut pending: VecDeque<Outgoing> = VecDeque::new();
        let mut backoff = Backoff::new(self.config.reconnect_max_ms);
        let mut failed = false;
        loop {
            let mut connection = match self.client.get_multiplexed_async_connection().await {
                Ok(c) => c,
                Err(e) => {
                    if !failed {
                        tracing::warn!(error = %e, "cluster: cannot reach Redis to publish; retrying");
                    }
                    failed = true;
                    self.keep_while_down(&mut rx, &mut pending);
                    tokio::time::sleep(backoff.next()).await;
                    continue;
                }
            };
            backoff.reset();
            if failed {
                // Whatever could not be sent meanwhile is resent below; events dropped for
                // room are recovered by the others from the database.
                pending.push_back(Outgoing {
                    channel: self.broadcast_channel(),
                    payload: format!("Y {}", self.node).into_bytes(),
                    confirm: None,
                    keep: true,
                });
                tracing::info!("cluster: publishing again");
            }
            loop {
                if pending.is_empty() {
                    match rx.recv().await {
                        Some(item) => pending.push_back(item),
                        None => return,
                    }
                }
                while pending.len() < BATCH {
                    match rx.try_recv() {
                        Ok(item) => pending.push_back(item),
                        Err(_) => break,
                    }
                }
                let n = pending.len().min(BATCH);
                let mut pipe = redis::pipe();
                for item in pending.iter().take(n) {
                    pipe.cmd("PUBLISH").arg(&item.channel).arg(&item.payload);
                }
                match pipe.query_async::<Vec<usize>>(&mut connection).await {
                    Ok(counts) => {
                        self.last_published.store(now_ms(), Ordering::Release);
                        self.stats.published.fetch_add(n as u64, Ordering::Relaxed);
                        for (item, count) in pending.drain(..n).zip(counts) {
                            if let Some(confirm) = item.confirm {
                                let _ = confirm.send(count);
                            }
                        }
                    }
                    Err(e) => {
                        self.stats.publish_errors.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(error = %e, "cluster: publishing failed; reconnecting");
                        failed = true;
                        break;
                    }
                }
            }
        }
    }

    /// While Redis is away: keeps what arrives, dropping plain events past the bound.
    fn keep_while_down(&self, rx: &mut mpsc::UnboundedReceiver<Outgoing>, pending: &mut VecDeque<Outgoing>) {
        while let Ok(item) = rx.try_recv() {
            pending.push_back(item);
        }
        if pending.len() > MAX_PENDING {
            let before = pending.len();
            pending.retain(|item| item.keep);
            self.stats.dropped.fetch_add((before - pending.len()) as u64, Ordering::Relaxed);
        }
    }

    // -------------------------------------------------------------------------------------
    // Subscriber

    /// The channels this node needs now: its own, the broadcast one, and one per
    /// conversation and account with a socket here.
    fn wanted_channels(&self) -> HashSet<String> {
        let mut want: HashSet<String> = HashSet::new();
        want.insert(self.channel("n", &self.node));
        want.insert(self.broadcast_channel());
        want.extend(self.hub.conversation_ids().into_iter().map(|c| self.channel("c", c)));
        want.extend(self.hub.account_ids().into_iter().map(|a| self.channel("a", a)));
        want
    }

    async fn subscriber(
        self: Arc<Self>,
        mut interest: mpsc::UnboundedReceiver<Interest>,
        mut barriers: mpsc::UnboundedReceiver<oneshot::Sender<()>>,
    ) {
        let mut backoff = Backoff::new(self.config.reconnect_max_ms);
        let mut first = true;
        loop {
            if self.stopping.load(Ordering::Acquire) {
                return;
            }
            let pubsub = match self.client.get_async_pubsub().await {
                Ok(p) => p,
                Err(e) => {
                    if first || backoff.attempts == 0 {
                        tracing::warn!(error = %e, "cluster: cannot subscribe to Redis; retrying (degraded meanwhile)");
                    }
                    let pause = tokio::time::sleep(backoff.next());
                    tokio::pin!(pause);
                    // Nobody waits on subscriptions while there are none.
                    loop {
                        tokio::select! {
                            _ = &mut pause => break,
                            Some(b) = barriers.recv() => { let _ = b.send(()); }
                            Some(_) = interest.recv() => {}
                        }
                    }
                    continue;
                }
            };
            let (mut sink, mut stream) = pubsub.split();
            while interest.try_recv().is_ok() {}
            let want: Vec<String> = self.wanted_channels().into_iter().collect();
            let mut have: HashSet<String> = HashSet::new();
            let mut ok = true;
            for chunk in want.chunks(SUBSCRIBE_CHUNK) {
                if sink.subscribe(chunk).await.is_err() {
                    ok = false;
                    break;
                }
                have.extend(chunk.iter().cloned());
            }
            if !ok {
                continue;
            }
            backoff.reset();
            if !first {
                self.stats.reconnects.fetch_add(1, Ordering::Relaxed);
                tracing::info!(channels = have.len(), "cluster: subscribed again; catching up from the database");
            }
            first = false;
            self.stats.subscribed_channels.store(have.len(), Ordering::Relaxed);
            // Events may have been missed while not subscribed: reconcile before trusting.
            self.request_reconcile();
            self.subscribed.store(true, Ordering::Release);
            self.ever_subscribed.store(true, Ordering::Release);
            // The subscriber checks its own connection as often as the node says it is alive.
            let mut ping = tokio::time::interval(Duration::from_millis(self.config.heartbeat_ms));
            ping.tick().await;
            loop {
                tokio::select! {
                    message = stream.next() => match message {
                        Some(m) => self.on_message(m.get_channel_name(), m.get_payload_bytes()),
                        None => break,
                    },
                    Some(first) = interest.recv() => {
                        if self.apply_interest(first, &mut interest, &mut sink, &mut have).await.is_err() {
                            break;
                        }
                    }
                    Some(barrier) = barriers.recv() => {
                        // Interest reported before the barrier is applied before it is answered.
                        let next = interest.try_recv();
                        if let Ok(first) = next
                            && self.apply_interest(first, &mut interest, &mut sink, &mut have).await.is_err()
                        {
                            let _ = barrier.send(());
                            break;
                        }
                        let _ = barrier.send(());
                    }
                    _ = ping.tick() => {
                        // Any answer will do: a subscribed RESP2 connection answers a PING
                        // with `["pong", ""]`, not `PONG`.
                        let alive = tokio::time::timeout(Duration::from_millis(self.config.peer_timeout_ms), sink.ping::<redis::Value>()).await;
                        if !matches!(alive, Ok(Ok(_))) {
                            break;
                        }
                    }
                }
            }
            self.subscribed.store(false, Ordering::Release);
            self.stats.subscribed_channels.store(0, Ordering::Relaxed);
            if !self.stopping.load(Ordering::Acquire) {
                tracing::warn!("cluster: lost the Redis subscription; degraded until it is back");
            }
        }
    }

    /// Brings the subscriptions in line with the hub after `first` and whatever else was
    /// reported since.
    async fn apply_interest(
        &self,
        first: Interest,
        interest: &mut mpsc::UnboundedReceiver<Interest>,
        sink: &mut redis::aio::PubSubSink,
        have: &mut HashSet<String>,
    ) -> redis::RedisResult<()> {
        let mut changed = vec![first];
        while let Ok(more) = interest.try_recv() {
            changed.push(more);
        }
        let (mut add, mut drop) = (Vec::new(), Vec::new());
        for what in changed {
            let (channel, wanted) = match what {
                Interest::Conversation(c) => (self.channel("c", c), self.hub.has_conversation(c)),
                Interest::Account(a) => (self.channel("a", a), self.hub.sockets_of(a) > 0),
            };
            match (wanted, have.contains(&channel)) {
                (true, false) if !add.contains(&channel) => add.push(channel),
                (false, true) if !drop.contains(&channel) => drop.push(channel),
                _ => {}
            }
        }
        for chunk in add.chunks(SUBSCRIBE_CHUNK) {
            sink.subscribe(chunk).await?;
            have.extend(chunk.iter().cloned());
        }
        for chunk in drop.chunks(SUBSCRIBE_CHUNK) {
            sink.unsubscribe(chunk).await?;
            for c in chunk {
                have.remove(c);
            }
        }
        self.stats.subscribed_channels.store(have.len(), Ordering::Relaxed);
        Ok(())
    }

    /// Applies one message from another node (or confirms one of ours).
    fn on_message(&self, _channel: &str, payload: &[u8]) {
        self.stats.received.fetch_add(1, Ordering::Relaxed);
        let (head, body) = match payload.iter().position(|&b| b == b'\n') {
            Some(i) => (&payload[..i], &payload[i + 1..]),
            None => (payload, &[][..]),
        };
        let Ok(head) = std::str::from_utf8(head) else { return };
        let fields: Vec<&str> = head.split(' ').collect();
        let mine = fields.get(1).is_some_and(|o| *o == self.node);
        let id = |i: usize| fields.get(i).and_then(|f| f.parse::<i64>().ok());
        let text = || std::str::from_utf8(body).ok().map(|t| Utf8Bytes::from(t.to_owned()));
        match fields.first().copied() {
            Some("E") if !mine => {
                let (Some(at_us), Some(c), Some(text)) = (id(2), id(3), text()) else { return };
                self.observe_lag(at_us);
                let event = Event { conversation: Some(ConversationId(c)), seq: id(4), text, at_us };
                self.hub.publish(ConversationId(c), Arc::new(event));
            }
            Some("A") if !mine => {
                let (Some(at_us), Some(a), Some(text)) = (id(2), id(3), text()) else { return };
                self.observe_lag(at_us);
                let event = Event { conversation: id(4).map(ConversationId), seq: None, text, at_us };
                self.hub.to_account(AccountId(a), Arc::new(event));
            }
            Some("G") if !mine => {
                if let (Some(a), Some(c)) = (id(2), id(3)) {
                    self.hub.grant(AccountId(a), ConversationId(c));
                }
            }
            Some("R") => {
                let (Some(origin), Some(nonce), Some(a), Some(c)) = (fields.get(1), id(2), id(3), id(4)) else {
                    return;
                };
                if mine {
                    // Applied before it was published (`Bus::revoke`): counted here rather
                    // than confirmed to ourselves through Redis.
                    self.confirmed(nonce);
                } else {
                    self.hub.revoke(AccountId(a), ConversationId(c));
                    self.send(self.channel("n", origin), format!("K {nonce}").into_bytes(), true);
                }
            }
            Some("C") if !mine => {
                let (Some(a), Some(code), Some(token), Some(others)) = (id(2), id(3), fields.get(4), fields.get(5))
                else {
                    return;
                };
                let token = (*token != "*").then(|| TokenHash(hex(token)));
                match (token, *others == "1") {
                    (Some(keep), true) => self.hub.close_other_sessions(AccountId(a), &keep, code as u16),
                    (only, _) => self.hub.close_sessions(AccountId(a), only.as_ref(), code as u16),
                }
            }
            Some("K") => {
                if let Some(nonce) = id(1) {
                    self.confirmed(nonce);
                }
            }
            Some("H") if !mine => {
                if let Some(origin) = fields.get(1) {
                    let mut peers = self.peers.lock().expect("not poisoned");
                    peers.insert((*origin).to_owned(), Instant::now());
                    self.stats.peers.store(peers.len(), Ordering::Relaxed);
                }
            }
            Some("B") if !mine => {
                if let Some(origin) = fields.get(1) {
                    let mut peers = self.peers.lock().expect("not poisoned");
                    peers.remove(*origin);
                    self.stats.peers.store(peers.len(), Ordering::Relaxed);
                    tracing::info!(node = origin, "cluster: a node left");
                }
            }
            Some("Y") if !mine => self.request_reconcile(),
            _ => {}
        }
    }

    /// A node confirmed applying our removal `nonce` (if we still wait for it).
    fn confirmed(&self, nonce: i64) {
        if let Some(waiter) = self.waiters.get(&(nonce as u64)) {
            waiter.acks.fetch_add(1, Ordering::AcqRel);
            waiter.notify.notify_waiters();
        }
    }

    fn observe_lag(&self, at_us: i64) {
        let lag = (now_us() - at_us).max(0) as u64;
        self.stats.receive_lag.observe(Duration::from_micros(lag));
    }

    // -------------------------------------------------------------------------------------
    // Heartbeat

    async fn heartbeat(self: Arc<Self>) {
        let every = Duration::from_millis(self.config.heartbeat_ms);
        let silent_after = Duration::from_millis(self.config.peer_timeout_ms);
        let evict_after = Duration::from_secs(self.config.peer_eviction_seconds);
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            if self.stopping.load(Ordering::Acquire) {
                return;
            }
            self.send(self.broadcast_channel(), format!("H {}", self.node).into_bytes(), false);
            let (silent, evicted) = {
                let mut peers = self.peers.lock().expect("not poisoned");
                let before = peers.len();
                peers.retain(|_, seen| seen.elapsed() < evict_after);
                let silent = peers.values().any(|seen| seen.elapsed() >= silent_after);
                self.stats.peers.store(peers.len(), Ordering::Relaxed);
                (silent, peers.len() < before)
            };
            let was_ok = self.peers_ok.swap(!silent, Ordering::AcqRel);
            if was_ok && silent {
                tracing::warn!("cluster: a node went silent; checking the database on every delivery");
            }
            // A node that comes back or is given up on may have failed to publish a
            // removal: reconcile before trusting again.
            if (!was_ok && !silent) || evicted {
                self.request_reconcile();
            }
        }
    }
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len() / 2).filter_map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()).collect()
}

/// Reconnection delays: 50 ms doubling to the configured cap, with jitter so that nodes
/// do not all come back at once.
struct Backoff {
    next_ms: u64,
    max_ms: u64,
    attempts: u32,
}

impl Backoff {
    fn new(max_ms: u64) -> Backoff {
        Backoff { next_ms: 50, max_ms, attempts: 0 }
    }

    fn next(&mut self) -> Duration {
        let base = self.next_ms.min(self.max_ms);
        self.next_ms = (self.next_ms * 2).min(self.max_ms);
        self.attempts += 1;
        let jitter = (random_id() as u64) % (base / 4 + 1);
        Duration::from_millis(base - base / 8 + jitter)
    }

    fn reset(&mut self) {
        self.next_ms = 50;
        self.attempts = 0;
    }
}
