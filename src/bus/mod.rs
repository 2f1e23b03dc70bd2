//! The bus: how an event reaches every socket that should see it, on this node and, in
//! cluster mode, on every other node.
//!
//! Services publish here after their transaction commits. Every call applies to the local
//! hub at once; in cluster mode the [`Bridge`] also sends it through Redis, where each other
//! node applies it to its own hub. Embedded mode (no Redis) is the same code with no bridge.
//!
//! Channels: a conversation's events *and its revocations* travel on the conversation's
//! channel, so every node applies a removal before any message published after it; grants,
//! read markers and session closes travel on the account's channel. A node subscribes to
//! a channel while it has a socket interested in it (the hub reports the first and the
//! last), plus its own channel (removal confirmations) and the cluster-wide one
//! (heartbeats, "catch up" notices).
//!
//! A removal ([`Bus::revoke`]) returns only once its revocation is published and every
//! node subscribed to the conversation confirmed applying it (or `removal_timeout_ms`
//! passed): by then, no socket anywhere writes another event of it.
//!
//! The trust rule: a node's in-memory view of who may receive what (the hub's
//! subscriptions) is trusted only while its Redis subscription is healthy, every peer
//! heard from recently is still heard from, and the view was reconciled with the database
//! since the last doubt. Otherwise sessions check the database before every delivery.
//! Reconciling is the gateway's business (it knows sessions and the gate); the bus only
//! asks for it (`reconcile_requests`) and is told when it is done.

mod bridge;

use std::sync::Arc;

pub use bridge::{Bridge, BusStats};
use tokio::sync::mpsc;

use crate::config::{ClusterConfig, Config};
use crate::crypto::TokenHash;
use crate::domain::{AccountId, ConversationId};
use crate::hub::{Event, Hub, QueueLimits};

/// Why a removal could not be confirmed cluster-wide.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("the removal is recorded but Redis could not be reached to tell the other nodes")]
    Unpublished,
}

/// The state of the node's link to the others, for `/readyz` and `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusState {
    /// One node: nothing to link.
    Embedded,
    /// Cluster mode, Redis not reached yet since start: not ready.
    Starting,
    /// Subscribed, every peer heard from, the view reconciled: trusted.
    Healthy,
    /// Serving, but checking the database on every delivery (Redis unreachable, a peer
    /// silent, or a reconciliation under way).
    Degraded,
}

impl BusState {
    pub fn as_str(self) -> &'static str {
        match self {
            BusState::Embedded => "embedded",
            BusState::Starting => "starting",
            BusState::Healthy => "healthy",
            BusState::Degraded => "degraded",
        }
    }
}

pub struct Bus {
    hub: Arc<Hub>,
    bridge: Option<Arc<Bridge>>,
}

impl Bus {
    /// The bus of a node: embedded (in-process only) unless the configuration names a
    /// Redis. Cluster mode starts its tasks here and returns at once: a Redis that is not
    /// up yet is retried in the background, with the node degraded meanwhile.
    pub fn new(config: &Config) -> Result<Bus, redis::RedisError> {
        let limits = QueueLimits { frames: config.gateway.queue_frames, bytes: config.gateway.queue_bytes };
        if !config.clustered() {
            return Ok(Bus { hub: Arc::new(Hub::new(limits)), bridge: None });
        }
        let (interest_tx, interest_rx) = mpsc::unbounded_channel();
        let hub = Arc::new(Hub::with_interest(limits, interest_tx));
        let bridge = Bridge::start(&config.cluster, hub.clone(), interest_rx)?;
        Ok(Bus { hub, bridge: Some(bridge) })
    }

    /// An embedded bus around `hub` (tests of the hub and the gateway alone).
    pub fn local(hub: Arc<Hub>) -> Bus {
        Bus { hub, bridge: None }
    }

    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    pub fn cluster_config(&self) -> Option<&ClusterConfig> {
        self.bridge.as_ref().map(|b| b.config())
    }

    /// Publishes a conversation's event to every socket subscribed to it, everywhere.
    ///
    /// The other nodes' copy is queued first: queueing the local fan-out wakes every
    /// local socket's task, and a publisher woken after them would wait for all of
    /// their writes before the other nodes even hear of the event.
    pub fn publish(&self, conversation: ConversationId, event: Arc<Event>) {
        if let Some(bridge) = &self.bridge {
            bridge.publish_event(conversation, &event);
        }
        self.hub.publish(conversation, event);
    }

    /// Sends an event to every socket of an account, everywhere.
    pub fn to_account(&self, account: AccountId, event: Arc<Event>) {
        if let Some(bridge) = &self.bridge {
            bridge.publish_to_account(account, &event);
        }
        self.hub.to_account(account, event);
    }

    /// `account` can now see `conversation`: its sockets everywhere subscribe and are told.
    pub fn grant(&self, account: AccountId, conversation: ConversationId) {
        self.hub.grant(account, conversation);
        if let Some(bridge) = &self.bridge {
            bridge.publish_grant(account, conversation);
        }
    }

    /// The accounts can no longer see these conversations. Returns once no socket of
    /// theirs on this node will write another event of them, and, in cluster mode, once
    /// the revocations are published and every node subscribed to the conversations
    /// confirmed applying them (or `removal_timeout_ms` passed).
    pub async fn revoke(&self, pairs: &[(AccountId, ConversationId)]) -> Result<(), BusError> {
        for &(account, conversation) in pairs {
            self.hub.revoke(account, conversation);
        }
        match &self.bridge {
            Some(bridge) if !pairs.is_empty() => bridge.revoke(pairs).await,
            _ => Ok(()),
        }
    }

    /// Closes the sockets of `account` everywhere: all, or those of one session.
    pub fn close_sessions(&self, account: AccountId, only: Option<&TokenHash>, code: u16) {
        self.hub.close_sessions(account, only, code);
        if let Some(bridge) = &self.bridge {
            bridge.publish_close(account, only, false, code);
        }
    }

    /// Closes every socket of `account` everywhere but those of session `keep`.
    pub fn close_other_sessions(&self, account: AccountId, keep: &TokenHash, code: u16) {
        self.hub.close_other_sessions(account, keep, code);
        if let Some(bridge) = &self.bridge {
            bridge.publish_close(account, Some(keep), true, code);
        }
    }

    /// Waits until every Redis subscription this node's sockets asked for so far is in
    /// place, so that a state read from the database afterwards misses no event published
    /// after it. Immediate in embedded mode and while Redis is unreachable.
    pub async fn sync(&self) {
        if let Some(bridge) = &self.bridge {
            bridge.sync().await;
        }
    }

    /// Whether sockets may rely on the hub's subscriptions alone (the trust rule).
    pub fn trusted(&self) -> bool {
        self.bridge.as_ref().is_none_or(|b| b.trusted())
    }

    pub fn state(&self) -> BusState {
        match &self.bridge {
            None => BusState::Embedded,
            Some(b) if !b.ever_connected() => BusState::Starting,
            Some(b) if b.trusted() => BusState::Healthy,
            Some(_) => BusState::Degraded,
        }
    }

    pub fn stats(&self) -> Option<&BusStats> {
        self.bridge.as_ref().map(|b| b.stats())
    }

    /// The next request to reconcile this node's sockets with the database, with its
    /// generation (give it back to [`Bus::reconciled`]). Never resolves in embedded mode.
    pub async fn reconcile_requested(&self) -> u64 {
        match &self.bridge {
            Some(bridge) => bridge.reconcile_requested().await,
            None => std::future::pending().await,
        }
    }

    /// The reconciliation asked for as `generation` is done: trust may resume.
    pub fn reconciled(&self, generation: u64) {
        if let Some(bridge) = &self.bridge {
            bridge.reconciled(generation);
        }
    }

    /// Leaving the cluster: publishes what is queued and says goodbye, so the others
    /// neither wait for this node nor distrust their view because it went quiet.
    pub async fn shutdown(&self) {
        if let Some(bridge) = &self.bridge {
            bridge.shutdown().await;
        }
    }
}
