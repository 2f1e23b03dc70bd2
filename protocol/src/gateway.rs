//! The WebSocket gateway's frames (`/api/v1/gateway`). Every frame is one JSON text
//! message with a `type`. Client frames reject unknown fields. `protocol/gateway.md`
//! describes the conversation between client and server; `protocol/gateway.schema.json`
//! holds a JSON schema for every frame, generated from these types.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::rest::{Account, ConversationKind, Message};
use crate::{AccountId, ConversationId, ErrorCode, MessageId, WorkspaceId};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// The gateway protocol version, sent in `ready`.
pub const GATEWAY_VERSION: u32 = 1;

/// Close codes the server uses (4000-4999 are Salon's; 1000-1015 are the WebSocket
/// standard's: 1003 for a binary frame, 1007 for invalid UTF-8, 1009 for a frame over
/// the size limit, 1011 for a server error).
pub mod close {
    /// No valid `hello` within the authentication timeout (10 s), or a bad token.
    pub const AUTHENTICATION_FAILED: u16 = 4001;
    /// A frame that is not part of the protocol at this point (for example a second
    /// `hello`, or anything before `hello`).
    pub const PROTOCOL_VIOLATION: u16 = 4002;
    /// The session was signed out (log-out, password change or reset).
    pub const SESSION_ENDED: u16 = 4003;
    /// The client kept sending faster than allowed after being warned.
    pub const RATE_LIMITED: u16 = 4008;
    /// The client did not read fast enough; its queue of outgoing frames overflowed.
    pub const SLOW_CONSUMER: u16 = 4009;
    /// Too many sockets for this account or address.
    pub const TOO_MANY_SOCKETS: u16 = 4010;
    /// Nothing heard from the client (not even a pong) within the idle timeout.
    pub const IDLE_TIMEOUT: u16 = 4011;
    /// The node is shutting down: reconnect (to another node) and resume.
    pub const GOING_AWAY: u16 = 4012;
}

/// What the client sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientFrame {
    /// The first frame: authenticates with a session token (from log-in). `resume` maps
    /// conversations to the last sequence the client has, to receive what it missed.
    Hello {
        token: String,
        #[serde(default)]
        resume: BTreeMap<ConversationId, i64>,
    },
    /// Posts a message; answered by `ack` (with the sequence, after it is stored) or
    /// `error`, both carrying `ref`.
    Send {
        #[serde(rename = "ref", default)]
        reference: Option<String>,
        conversation_id: ConversationId,
        body: String,
        #[serde(default)]
        client_id: Option<String>,
        #[serde(default)]
        reply_to: Option<i64>,
        #[serde(default)]
        mentions: Vec<AccountId>,
    },
    /// The caller is typing in a conversation (send at most every few seconds).
    Typing { conversation_id: ConversationId },
    /// Sets the caller's presence for this socket.
    Presence { status: ClientPresence },
    /// Moves the caller's read marker; echoed to the account's other sockets.
    Read { conversation_id: ConversationId, seq: i64 },
    /// An application-level ping, answered by `pong` with the same `ref`.
    Ping {
        #[serde(rename = "ref", default)]
        reference: Option<String>,
    },
}

/// Presence a client may claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ClientPresence {
    Online,
    Away,
}

/// Presence as others see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PresenceStatus {
    Online,
    Away,
    Offline,
}

/// A conversation in `ready`: enough to know what to fetch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ReadyConversation {
    pub id: ConversationId,
    pub workspace_id: WorkspaceId,
    pub kind: ConversationKind,
    pub title: String,
    pub locked: bool,
    pub last_seq: i64,
    pub read_seq: i64,
    pub unread: i64,
}

/// What the server sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// After `hello`: who you are and every conversation you can see, as of a moment after
    /// which every event reaches you. Missed messages of resumed conversations follow as
    /// `message_created` (or `resync` when too many were missed).
    Ready {
        version: u32,
        session_id: String,
        account: Account,
        conversations: Vec<ReadyConversation>,
        /// The server pings this often; answer pongs (browsers do) or send any frame.
        heartbeat_ms: u64,
    },
    /// A `send` was stored under `seq`. `duplicate`: it was a resend of a stored message.
    Ack {
        #[serde(rename = "ref")]
        reference: Option<String>,
        conversation_id: ConversationId,
        seq: i64,
        message_id: MessageId,
        duplicate: bool,
    },
    /// A frame was refused; nothing changed. `ref` echoes the frame's, if it had one.
    Error {
        #[serde(rename = "ref")]
        reference: Option<String>,
        code: ErrorCode,
        message: String,
    },
    /// A new message. Per conversation, these arrive in `seq` order without gaps.
    MessageCreated {
        message: Message,
    },
    MessageEdited {
        conversation_id: ConversationId,
        seq: i64,
        body: String,
        edited_at: i64,
    },
    MessageDeleted {
        conversation_id: ConversationId,
        seq: i64,
        deleted_at: i64,
    },
    ReactionAdded {
        conversation_id: ConversationId,
        seq: i64,
        emoji: String,
        account_id: AccountId,
    },
    ReactionRemoved {
        conversation_id: ConversationId,
        seq: i64,
        emoji: String,
        account_id: AccountId,
    },
    Typing {
        conversation_id: ConversationId,
        account_id: AccountId,
    },
    /// Someone you share this conversation with changed presence.
    Presence {
        conversation_id: ConversationId,
        account_id: AccountId,
        status: PresenceStatus,
    },
    /// Your read marker moved (from another of your sockets, or the REST API).
    ReadMarker {
        conversation_id: ConversationId,
        seq: i64,
    },
    /// You can now see this conversation (with its whole history).
    ConversationAdded {
        conversation: ReadyConversation,
    },
    /// Its title or read-only state changed.
    ConversationUpdated {
        conversation_id: ConversationId,
        title: String,
        locked: bool,
    },
    /// You can no longer see this conversation: forget it and its history. Nothing more
    /// of it follows.
    ConversationRemoved {
        conversation_id: ConversationId,
    },
    /// Too much was missed to replay: reload this conversation's history over REST.
    Resync {
        conversation_id: ConversationId,
        last_seq: i64,
    },
    Pong {
        #[serde(rename = "ref")]
        reference: Option<String>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_frames_reject_unknown_fields_and_types() {
        let ok: ClientFrame = serde_json::from_str(r#"{"type":"typing","conversation_id":"5"}"#).unwrap();
        assert_eq!(ok, ClientFrame::Typing { conversation_id: ConversationId(5) });
        assert!(serde_json::from_str::<ClientFrame>(r#"{"type":"typing","conversation_id":"5","x":1}"#).is_err());
        assert!(serde_json::from_str::<ClientFrame>(r#"{"type":"dance"}"#).is_err());
        let hello: ClientFrame = serde_json::from_str(r#"{"type":"hello","token":"t","resume":{"7":3}}"#).unwrap();
        assert_eq!(hello, ClientFrame::Hello { token: "t".into(), resume: BTreeMap::from([(ConversationId(7), 3)]) });
    }

    #[test]
    fn server_frames_are_tagged() {
        let frame = ServerFrame::Pong { reference: Some("a".into()) };
        assert_eq!(serde_json::to_string(&frame).unwrap(), r#"{"type":"pong","ref":"a"}"#);
    }
}
