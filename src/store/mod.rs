//! Durable state: the store interface and its two implementations, SQLite and PostgreSQL.
//!
//! The interface is a handful of traits ([`AccountStore`], [`WorkspaceStore`],
//! [`MailStore`]) gathered into [`Store`]; services hold an `Arc<dyn Store>` and never
//! know which backend is behind it. Most SQL is portable and lives once, in `shared.rs`,
//! which is compiled into each backend's module against that backend's types; what
//! differs (connection set-up, DDL) lives in `sqlite.rs` and `postgres.rs`.
//!
//! The store enforces the invariants that need a transaction to be true under concurrent
//! writers (seat limit, last owner, single-use tokens). It never decides who may do what:
//! permission is the services' business.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};

use crate::config::{Backend, DatabaseConfig};
use crate::crypto::TokenHash;
use crate::domain::{
    AccountId, AuditAction, ConversationId, ConversationKind, DisplayName, Email, InvitationId, InvitationState,
    MessageId, Role, WorkspaceId, WorkspaceName,
};

mod postgres;
mod sqlite;

pub use postgres::PgStore;
pub use sqlite::SqliteStore;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("already exists")]
    AlreadyExists,
    #[error("the workspace has no free seat")]
    SeatLimitReached,
    #[error("the seat limit is below the seats already taken")]
    SeatLimitBelowUsed,
    #[error("the workspace would be left without an owner")]
    LastOwner,
    #[error("only an owner may change an owner")]
    OwnerProtected,
    #[error("the conversation is read-only")]
    Locked,
    #[error("a lite user would hold more conversations than the workspace allows")]
    LiteLimitReached,
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database file: {0}")]
    Io(#[from] std::io::Error),
}

// ---------------------------------------------------------------------------------------
// Rows

#[derive(Debug, Clone)]
pub struct AccountRow {
    pub id: AccountId,
    pub email: Email,
    pub display_name: String,
    pub password_hash: String,
    pub created_at: i64,
}

/// A sign-up waiting for its address to be verified. The account only exists once the
/// link is followed, so nobody can squat an address they do not read.
#[derive(Debug, Clone)]
pub struct NewSignup {
    pub token_hash: TokenHash,
    pub email: Email,
    pub display_name: DisplayName,
    pub password_hash: String,
    pub created_at: i64,
    pub expires_at: i64,
}

#[derive(Debug, Clone)]
pub struct WorkspaceRow {
    pub id: WorkspaceId,
    pub name: String,
    pub seat_limit: u32,
    pub seats_used: u32,
    pub lite_grant_limit: u32,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct MemberRow {
    pub account_id: AccountId,
    pub display_name: String,
    pub email: String,
    pub role: Role,
    /// Groups and directly granted threads of the workspace (what the lite limit counts).
    pub grants: i64,
    pub joined_at: i64,
}

#[derive(Debug, Clone)]
pub struct NewMail {
    pub id: i64,
    pub recipient: String,
    pub subject: String,
    pub body: String,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct MailRow {
    pub id: i64,
    pub recipient: String,
    pub subject: String,
    pub body: String,
    pub attempts: i64,
}

#[derive(Debug, Clone)]
pub struct ConversationRow {
    pub id: ConversationId,
    pub workspace_id: WorkspaceId,
    pub kind: ConversationKind,
    pub title: String,
    pub locked: bool,
    pub last_seq: i64,
    pub created_by: AccountId,
    pub created_at: i64,
}

/// A conversation to create, with everyone it is addressed to.
#[derive(Debug, Clone)]
pub struct NewConversation {
    pub id: ConversationId,
    pub workspace_id: WorkspaceId,
    pub kind: ConversationKind,
    pub title: String,
    pub created_by: AccountId,
    pub created_at: i64,
    /// For direct conversations: the key that makes them unique per pair and workspace.
    pub direct_key: Option<String>,
    /// Groups it is addressed to (threads).
    pub groups: Vec<ConversationId>,
    /// Accounts it is addressed to directly (threads, direct conversations).
    pub participants: Vec<AccountId>,
    /// For a group: its members.
    pub members: Vec<AccountId>,
}

/// One conversation in an account's list, with the account's reading state.
#[derive(Debug, Clone)]
pub struct ConversationSummary {
    pub conversation: ConversationRow,
    pub workspace_name: String,
    /// The account's role in the conversation's workspace; `None`: external.
    pub role: Option<Role>,
    pub read_seq: i64,
    pub unread: i64,
    pub has_externals: bool,
}

#[derive(Debug, Clone)]
pub struct GroupRow {
    pub group: ConversationRow,
    pub member_count: i64,
}

/// A person seen from a conversation's workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonRow {
    pub account_id: AccountId,
    pub display_name: String,
    /// The person's role in the workspace; `None`: external.
    pub role: Option<Role>,
}

#[derive(Debug, Clone)]
pub struct MessageRow {
    pub id: MessageId,
    pub conversation_id: ConversationId,
    pub seq: i64,
    pub author: PersonRow,
    pub body: String,
    pub reply_to: Option<i64>,
    pub client_id: Option<String>,
    pub created_at: i64,
    pub edited_at: Option<i64>,
    pub deleted_at: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct NewMessage {
    pub id: MessageId,
    pub conversation_id: ConversationId,
    pub author: AccountId,
    pub body: String,
    pub reply_to: Option<i64>,
    pub client_id: Option<String>,
    pub mentions: Vec<AccountId>,
    pub created_at: i64,
}

/// What posting did.
#[derive(Debug, Clone)]
pub enum Posted {
    /// Stored under the next sequence number.
    Created(MessageRow),
    /// Not stored, nothing changed, for this reason (decided when the insert refused it).
    Refused(Refusal),
}

/// Why a post was not stored, in the order the rules are applied: a post may be sent to
/// the store unchecked, so only an author who sees the conversation learns more than
/// `NotFound`.
#[derive(Debug, Clone)]
pub enum Refusal {
    /// The author does not see the conversation, or it does not exist.
    NotFound,
    /// A resend: the author stored this client id with this body here before, as this
    /// message (answered with it even if the conversation closed since).
    Resent(MessageRow),
    /// The author used this client id here before, with another body.
    ClientIdReused,
    /// The author is a `lite` user of the conversation's workspace.
    ReadOnly,
    /// The conversation is closed.
    Locked,
    /// `reply_to` is not one of the conversation's messages.
    NoSuchReply,
    /// Refused, yet every rule allowed it when asked right after: a change committed in
    /// between (on PostgreSQL a grant does not wait for the conversation's row, and a lone
    /// post's reason is read after its own transaction).
    Changed,
}

/// Reactions and mentions of a run of messages, for assembling their views.
#[derive(Debug, Clone, Default)]
pub struct MessageExtras {
    /// `(message, emoji, who)`, in the order they were added.
    pub reactions: Vec<(MessageId, String, AccountId)>,
    pub mentions: Vec<(MessageId, AccountId)>,
}

/// One line of a workspace's audit log, written by the store in the transaction of the
/// change it records (and only if the change happened).
#[derive(Debug, Clone)]
pub struct NewAudit {
    pub id: i64,
    pub workspace_id: WorkspaceId,
    pub at: i64,
    pub actor: Option<AccountId>,
    pub action: AuditAction,
    pub account: Option<AccountId>,
    pub email: Option<String>,
    pub conversation: Option<ConversationId>,
    /// A JSON object.
    pub detail: String,
}

impl NewAudit {
    /// A record of `action` by `actor` in `workspace`, now, with a fresh id.
    pub fn new(workspace_id: WorkspaceId, actor: AccountId, action: AuditAction) -> NewAudit {
        NewAudit {
            id: crate::crypto::random_id(),
            workspace_id,
            at: crate::domain::now_ms(),
            actor: Some(actor),
            action,
            account: None,
            email: None,
            conversation: None,
            detail: "{}".to_owned(),
        }
    }

    pub fn account(mut self, account: AccountId) -> NewAudit {
        self.account = Some(account);
        self
    }

    pub fn email(mut self, email: &str) -> NewAudit {
        self.email = Some(email.to_owned());
        self
    }

    pub fn conversation(mut self, conversation: ConversationId) -> NewAudit {
        self.conversation = Some(conversation);
        self
    }

    pub fn detail(mut self, detail: serde_json::Value) -> NewAudit {
        self.detail = detail.to_string();
        self
    }
}

/// An audit entry with the names of what it refers to, as they are now.
#[derive(Debug, Clone)]
pub struct AuditRow {
    pub id: i64,
    pub workspace_id: WorkspaceId,
    pub at: i64,
    pub action: AuditAction,
    pub actor: Option<(AccountId, String)>,
    pub account: Option<(AccountId, String)>,
    pub email: Option<String>,
    pub conversation: Option<(ConversationId, String)>,
    pub detail: String,
}

/// An invitation to store: into the workspace with `role`, or (`None`) as a guest of the
/// granted conversations only.
#[derive(Debug, Clone)]
pub struct NewInvitation {
    pub id: InvitationId,
    pub workspace_id: WorkspaceId,
    pub email: Email,
    pub role: Option<Role>,
    pub token_hash: TokenHash,
    pub message: String,
    pub invited_by: AccountId,
    pub created_at: i64,
    pub expires_at: i64,
    /// Groups (membership) and threads (direct participation).
    pub grants: Vec<ConversationId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRow {
    pub conversation_id: ConversationId,
    pub kind: ConversationKind,
    pub title: String,
}

#[derive(Debug, Clone)]
pub struct InvitationRow {
    pub id: InvitationId,
    pub workspace_id: WorkspaceId,
    pub workspace_name: String,
    pub email: String,
    pub role: Option<Role>,
    pub message: String,
    pub invited_by: Option<(AccountId, String)>,
    pub created_at: i64,
    pub sent_at: i64,
    pub expires_at: i64,
    /// As stored: `Pending`, `Accepted` or `Revoked` (see [`InvitationRow::state_at`]).
    pub stored_state: InvitationState,
    pub accepted_by: Option<AccountId>,
    pub closed_at: Option<i64>,
    pub grants: Vec<GrantRow>,
}

impl InvitationRow {
    /// The state at `now`: a pending invitation past its expiry is `Expired`.
    pub fn state_at(&self, now: i64) -> InvitationState {
        match self.stored_state {
            InvitationState::Pending if self.expires_at <= now => InvitationState::Expired,
            state => state,
        }
    }
}

/// Which invitation an acceptance names: by the e-mailed token, or by id (an account
/// accepting an invitation to its own, verified address).
#[derive(Debug, Clone)]
pub enum InvitationKey {
    Token(TokenHash),
    Id(InvitationId),
}

/// Who accepts.
#[derive(Debug, Clone)]
pub enum Acceptor {
    /// An account whose address must be the invitation's.
    Account(AccountId),
    /// A new account for the invitation's address (the link proved it).
    NewAccount { id: AccountId, display_name: DisplayName, password_hash: String },
}

/// What an acceptance did.
#[derive(Debug, Clone)]
pub struct AcceptOutcome {
    pub account: AccountRow,
    pub workspace_id: WorkspaceId,
    /// The acceptor's role in the workspace afterwards (`None`: a guest there).
    pub role: Option<Role>,
    /// The conversations this invitation granted.
    pub granted: Vec<ConversationId>,
    /// Every conversation the account gained, this invitation's and, for a new account,
    /// those of its other pending guest invitations.
    pub gained: Vec<ConversationId>,
}

/// Who takes over a leaver's grants.
#[derive(Debug, Clone)]
pub enum Successor {
    Account(AccountId),
    /// An address without an account: an invitation carrying the grants (its `grants`
    /// are filled in by the store).
    Invitation(NewInvitation),
}

// ---------------------------------------------------------------------------------------
// Interface

#[async_trait]
pub trait AccountStore: Send + Sync {
    async fn create_signup(&self, signup: NewSignup) -> Result<()>;
    /// Consumes a sign-up token (whatever its state) and, if it had not expired and its
    /// address has no account yet, creates the account, all in one transaction. Other
    /// pending sign-ups for the address are dropped, and its live guest invitations are
    /// accepted (their conversations granted). `None`: nothing was created.
    async fn complete_signup(&self, token: &TokenHash, now: i64, new_id: AccountId) -> Result<Option<AccountRow>>;
    async fn account_by_email(&self, email: &Email) -> Result<Option<AccountRow>>;
    async fn account_by_id(&self, id: AccountId) -> Result<Option<AccountRow>>;
    async fn set_display_name(&self, id: AccountId, name: &DisplayName) -> Result<()>;
    /// Replaces the password hash and deletes every session of the account but `keep`.
    async fn set_password(&self, id: AccountId, password_hash: &str, keep: Option<&TokenHash>) -> Result<()>;

    async fn create_session(&self, token: &TokenHash, account: AccountId, now: i64, expires_at: i64) -> Result<()>;
    /// The account a live (unexpired) session belongs to.
    async fn session_account(&self, token: &TokenHash, now: i64) -> Result<Option<AccountRow>>;
    async fn delete_session(&self, token: &TokenHash) -> Result<()>;
    async fn delete_sessions(&self, account: AccountId) -> Result<()>;

    /// Whether a reset token is live (exists, unexpired); consumes nothing.
    async fn reset_is_live(&self, token: &TokenHash, now: i64) -> Result<bool>;
    async fn create_reset(&self, token: &TokenHash, account: AccountId, now: i64, expires_at: i64) -> Result<()>;
    /// Consumes a reset token; if it was live, sets the new password and deletes every
    /// session and every other reset token of the account, in one transaction.
    async fn complete_reset(&self, token: &TokenHash, now: i64, password_hash: &str) -> Result<Option<AccountId>>;
}

#[async_trait]
pub trait WorkspaceStore: Send + Sync {
    /// Creates the workspace with `owner` as its first owner.
    async fn create_workspace(
        &self,
        id: WorkspaceId,
        name: &WorkspaceName,
        owner: AccountId,
        seat_limit: u32,
        lite_grant_limit: u32,
        now: i64,
    ) -> Result<WorkspaceRow>;
    async fn workspace(&self, id: WorkspaceId) -> Result<Option<WorkspaceRow>>;
    /// Every workspace `account` is a member of, with its role there.
    async fn workspaces_of(&self, account: AccountId) -> Result<Vec<(WorkspaceRow, Role)>>;
    async fn member_role(&self, workspace: WorkspaceId, account: AccountId) -> Result<Option<Role>>;
    async fn members(&self, workspace: WorkspaceId) -> Result<Vec<MemberRow>>;
    async fn rename_workspace(&self, workspace: WorkspaceId, name: &WorkspaceName) -> Result<()>;
    /// Fails with `SeatLimitBelowUsed` if fewer seats than are taken.
    async fn set_seat_limit(&self, workspace: WorkspaceId, limit: u32) -> Result<()>;
    async fn set_lite_grant_limit(&self, workspace: WorkspaceId, limit: u32) -> Result<()>;
    /// Adds a member; `SeatLimitReached` if the role takes a seat and none is free,
    /// `AlreadyExists` if they are a member already.
    async fn add_member(&self, workspace: WorkspaceId, account: AccountId, role: Role, now: i64) -> Result<()>;
    /// Changes a member's role, atomically checking the seat limit, the lite limit (for
    /// `lite`) and that an owner remains. Unless `may_change_owner`, an owner's role
    /// cannot be changed and nobody can be made owner (`OwnerProtected`). Records
    /// `audit` if the role changed.
    async fn change_role(
        &self,
        workspace: WorkspaceId,
        account: AccountId,
        role: Role,
        may_change_owner: bool,
        audit: &NewAudit,
    ) -> Result<()>;
    /// Removes a member, atomically checking that an owner remains. Unless
    /// `may_change_owner`, an owner cannot be removed (`OwnerProtected`).
    async fn remove_member(
        &self,
        workspace: WorkspaceId,
        account: AccountId,
        may_change_owner: bool,
        audit: &NewAudit,
    ) -> Result<()>;
}

#[async_trait]
pub trait MailStore: Send + Sync {
    async fn enqueue_mail(&self, mail: NewMail) -> Result<()>;
    /// Claims up to `limit` messages due at `now`, leasing them until `lease_until` so
    /// that no other worker (on this node or another) sends them meanwhile.
    async fn claim_mail(&self, now: i64, lease_until: i64, limit: i64) -> Result<Vec<MailRow>>;
    /// Marks a message delivered and forgets its body (which may hold a one-time link).
    async fn mail_sent(&self, id: i64, now: i64) -> Result<()>;
    async fn mail_failed(&self, id: i64, retry_at: i64, error: &str) -> Result<()>;
}

/// Conversations and who they are addressed to. The access rule itself (`can_see`,
/// `visible_conversations`) is evaluated here in SQL, but only the membership service
/// calls it.
#[async_trait]
pub trait ConversationStore: Send + Sync {
    /// Creates the conversation and its addressing in one transaction, recording
    /// `audit`. For a direct conversation whose key exists, `AlreadyExists`; a lite
    /// member over the workspace's limit, `LiteLimitReached`.
    async fn create_conversation(&self, new: NewConversation, audit: &[NewAudit]) -> Result<ConversationRow>;
    async fn conversation(&self, id: ConversationId) -> Result<Option<ConversationRow>>;
    async fn direct_conversation(&self, key: &str) -> Result<Option<ConversationRow>>;
    async fn update_conversation(&self, id: ConversationId, title: Option<&str>, locked: Option<bool>) -> Result<()>;

    async fn groups_of_workspace(&self, workspace: WorkspaceId) -> Result<Vec<GroupRow>>;
    async fn is_group_member(&self, group: ConversationId, account: AccountId) -> Result<bool>;
    /// Every conversation of a workspace.
    async fn workspace_conversations(&self, workspace: WorkspaceId) -> Result<Vec<ConversationId>>;
    /// Every conversation addressed to the group, its own chat included.
    async fn conversations_addressed_to(&self, group: ConversationId) -> Result<Vec<ConversationId>>;
    // Each of these records its `audit` entry in its transaction if it changed anything.
    /// `false` if they were a member already; `LiteLimitReached` for a lite member at
    /// the workspace's limit.
    async fn add_group_member(
        &self,
        group: ConversationId,
        account: AccountId,
        now: i64,
        audit: &NewAudit,
    ) -> Result<bool>;
    /// `false` if they were not a member.
    async fn remove_group_member(&self, group: ConversationId, account: AccountId, audit: &NewAudit) -> Result<bool>;
    async fn add_conversation_group(
        &self,
        conversation: ConversationId,
        group: ConversationId,
        audit: &NewAudit,
    ) -> Result<bool>;
    async fn remove_conversation_group(
        &self,
        conversation: ConversationId,
        group: ConversationId,
        audit: &NewAudit,
    ) -> Result<bool>;
    /// `LiteLimitReached` for a lite member at the workspace's limit (threads only).
    async fn add_participant(
        &self,
        conversation: ConversationId,
        account: AccountId,
        now: i64,
        audit: &NewAudit,
    ) -> Result<bool>;
    async fn remove_participant(
        &self,
        conversation: ConversationId,
        account: AccountId,
        audit: &NewAudit,
    ) -> Result<bool>;
    /// The groups of the workspace `account` belongs to, and the threads it is a direct
    /// participant of: its grants there.
    async fn grants_of(
        &self,
        workspace: WorkspaceId,
        account: AccountId,
    ) -> Result<(Vec<ConversationId>, Vec<ConversationId>)>;
    /// Moves `leaver`'s membership or participation in each of `conversations` (groups
    /// and threads of `workspace`) to the successor in one transaction, recording an
    /// entry per change plus `summary`. Returns `(groups, threads)` handed over.
    async fn replace_grants(
        &self,
        workspace: WorkspaceId,
        leaver: AccountId,
        successor: Successor,
        conversations: &[ConversationId],
        actor: AccountId,
        summary: &NewAudit,
    ) -> Result<(i64, i64)>;

    /// The access rule: a direct participant, or a member of a group the conversation is
    /// addressed to.
    async fn can_see(&self, account: AccountId, conversation: ConversationId) -> Result<bool>;
    /// The conversation and `account`'s role in its workspace, if `account` can see it
    /// (the access rule of `can_see`), in one query: the gate's read on every call.
    async fn access(
        &self,
        account: AccountId,
        conversation: ConversationId,
    ) -> Result<Option<(ConversationRow, Option<Role>)>>;
    /// The ids of every conversation `account` can see (the access rule, nothing more).
    async fn visible_ids(&self, account: AccountId) -> Result<Vec<ConversationId>>;
    /// The newest sequence of each of these conversations.
    async fn last_seqs(&self, conversations: &[ConversationId]) -> Result<Vec<(ConversationId, i64)>>;
    /// Every conversation `account` can see, with its reading state, newest first.
    async fn visible_conversations(&self, account: AccountId) -> Result<Vec<ConversationSummary>>;
    /// One conversation with `account`'s reading state, if `account` can see it.
    async fn conversation_summary(&self, account: AccountId, id: ConversationId)
    -> Result<Option<ConversationSummary>>;
    /// Accounts in a conversation of the workspace (directly or through a group) that are
    /// not members of it: its guests.
    /// Among them, only those in a conversation `viewer` can see.
    async fn externals_of_workspace(&self, workspace: WorkspaceId, viewer: AccountId) -> Result<Vec<PersonRow>>;
    /// Direct participants and, per group the conversation is addressed to, its members.
    async fn audience(&self, conversation: ConversationId)
    -> Result<(Vec<PersonRow>, Vec<(GroupRow, Vec<PersonRow>)>)>;
    /// Members of a group, seen from its workspace.
    async fn group_members(&self, group: ConversationId) -> Result<Vec<PersonRow>>;
    /// Accounts sharing at least one conversation with `account` (optionally in one
    /// workspace), itself excluded.
    async fn contacts(&self, account: AccountId, workspace: Option<WorkspaceId>) -> Result<Vec<(AccountId, String)>>;
}

/// What runs for each message a commit created (with its mentions), right after the commit
/// and before the poster is answered: the service publishes the message from there, so
/// its deliveries do not wait for the poster's task to be woken by the answer.
pub type OnCommit = Arc<dyn Fn(&MessageRow, &[AccountId]) + Send + Sync>;

/// Messages, their sequence, reactions, mentions and read markers.
#[async_trait]
pub trait MessageStore: Send + Sync {
    /// An id for a message made at `created_at` (ms): the backend chooses how, for where
    /// its rows go (see each backend's `new_message_id`).
    fn new_message_id(&self, created_at: i64) -> MessageId;
    /// Assigns the conversation's next sequence and stores the message in one
    /// transaction, if the author may post it there (`Posted::Refused` otherwise).
    async fn post_message(&self, new: NewMessage) -> Result<Posted>;
    /// Posts several messages in the order given, as one caller's run of sends: each
    /// succeeds or fails alone (as `post_message` would), and a later one in the same
    /// conversation gets a higher sequence. They may share a transaction; none is
    /// answered before its commit. `on_commit` runs for each message created, on the
    /// committer, as soon as its commit is done.
    async fn post_messages(&self, batch: Vec<NewMessage>, on_commit: Option<OnCommit>) -> Vec<Result<Posted>>;
    async fn message(&self, conversation: ConversationId, seq: i64) -> Result<Option<MessageRow>>;
    /// The message `author` posted here with `client_id`, if any.
    async fn message_by_client_id(
        &self,
        conversation: ConversationId,
        author: AccountId,
        client_id: &str,
    ) -> Result<Option<MessageRow>>;
    /// Messages with `from <= seq <= to`, in order.
    async fn messages(&self, conversation: ConversationId, from: i64, to: i64) -> Result<Vec<MessageRow>>;
    /// Newest non-deleted message of each conversation.
    async fn last_messages(&self, conversations: &[ConversationId]) -> Result<Vec<MessageRow>>;
    async fn extras(&self, conversation: ConversationId, from: i64, to: i64) -> Result<MessageExtras>;
    // The changes below take the conversation's row and check, after it, that the caller
    // still sees the conversation (`NotFound` if not, as if it did not exist): a removal
    // that commits first wins, as it does against a post.
    /// The author's own message; `Locked` if the conversation is closed.
    async fn edit_message(
        &self,
        conversation: ConversationId,
        seq: i64,
        author: AccountId,
        body: &str,
        now: i64,
    ) -> Result<()>;
    /// Leaves a tombstone, closed conversation or not (who may is the service's to say).
    async fn delete_message(&self, conversation: ConversationId, seq: i64, caller: AccountId, now: i64) -> Result<()>;
    /// `false` if it was there already (or the message is deleted); `Locked` if closed.
    async fn add_reaction(
        &self,
        conversation: ConversationId,
        message: MessageId,
        account: AccountId,
        emoji: &str,
        now: i64,
    ) -> Result<bool>;
    /// `false` if there was no such reaction; `Locked` if closed.
    async fn remove_reaction(
        &self,
        conversation: ConversationId,
        message: MessageId,
        account: AccountId,
        emoji: &str,
    ) -> Result<bool>;
    /// Moves the read marker forward (never back); returns where it is.
    async fn mark_read(&self, account: AccountId, conversation: ConversationId, seq: i64) -> Result<i64>;
}

/// Invitations: creating, listing, resending, revoking and the atomic acceptance.
#[async_trait]
pub trait InvitationStore: Send + Sync {
    /// Stores invitations with their grants and audit entries, all or nothing.
    /// `AlreadyExists` if an address already has a live invitation into the workspace
    /// with a role, or is a member.
    async fn create_invitations(&self, invitations: &[NewInvitation], audit: &[NewAudit]) -> Result<()>;
    async fn invitation(&self, id: InvitationId) -> Result<Option<InvitationRow>>;
    async fn invitation_by_token(&self, token: &TokenHash) -> Result<Option<InvitationRow>>;
    /// A workspace's invitations, newest first: those not accepted or revoked (expired
    /// included), or all.
    async fn workspace_invitations(&self, workspace: WorkspaceId, open_only: bool) -> Result<Vec<InvitationRow>>;
    /// Live (pending, unexpired) invitations into workspaces with a role, to `email`.
    async fn invitations_to(&self, email: &Email, now: i64) -> Result<Vec<InvitationRow>>;
    /// Live guest invitations granting `conversation`: its pending people.
    async fn pending_for_conversation(&self, conversation: ConversationId, now: i64) -> Result<Vec<InvitationRow>>;
    /// Replaces the token of an invitation not accepted or revoked and extends it.
    /// `false` if it is accepted or revoked.
    async fn resend_invitation(
        &self,
        id: InvitationId,
        token: &TokenHash,
        now: i64,
        expires_at: i64,
        audit: &NewAudit,
    ) -> Result<bool>;
    /// `false` if it was already accepted or revoked.
    async fn revoke_invitation(&self, id: InvitationId, now: i64, audit: &NewAudit) -> Result<bool>;
    /// Accepts a live invitation, once: of concurrent acceptances exactly one succeeds.
    /// In one transaction: claims the invitation (`NotFound` if it is unknown, expired,
    /// revoked, used, or for another address), creates the account for `NewAccount`
    /// (`AlreadyExists` if the address has one), joins the workspace with the role
    /// (`SeatLimitReached`), grants the conversations (`LiteLimitReached`) and records
    /// the audit entries. A new account's other live guest invitations are accepted too.
    /// On any error nothing changes.
    async fn accept_invitation(&self, key: InvitationKey, acceptor: Acceptor, now: i64) -> Result<AcceptOutcome>;
}

/// The audit log, newest first.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Up to `limit` entries older than entry `before` (if given).
    async fn audit_entries(&self, workspace: WorkspaceId, before: Option<i64>, limit: i64) -> Result<Vec<AuditRow>>;
    async fn audit_entry(&self, id: i64) -> Result<Option<AuditRow>>;
}

/// Full-text search: the one part of messages whose SQL differs per backend (FTS5 on
/// SQLite, tsvector on PostgreSQL).
#[async_trait]
pub trait SearchStore: Send + Sync {
    /// Full-text search over the messages `account` can see (optionally in one
    /// workspace), newest first. `terms` are plain words, each required.
    async fn search(
        &self,
        account: AccountId,
        terms: &[String],
        workspace: Option<WorkspaceId>,
        limit: i64,
    ) -> Result<Vec<MessageRow>>;
}

/// Everything durable. One value of it per process, shared by the services.
#[async_trait]
pub trait Store:
    AccountStore
    + WorkspaceStore
    + MailStore
    + ConversationStore
    + MessageStore
    + SearchStore
    + InvitationStore
    + AuditStore
{
    fn backend(&self) -> Backend;
    /// A cheap round trip, for `/readyz`.
    async fn ping(&self) -> Result<()>;
    /// Applies pending migrations (idempotent; safe when several nodes start at once).
    async fn migrate(&self) -> Result<()>;
    async fn close(&self);
}

/// Opens the database the configuration names, applying migrations if `migrate`.
pub async fn connect(config: &DatabaseConfig, backend: Backend, migrate: bool) -> Result<Arc<dyn Store>> {
    let store: Arc<dyn Store> = match backend {
        Backend::Sqlite => Arc::new(SqliteStore::connect(config).await?),
        Backend::Postgres => Arc::new(PgStore::connect(config).await?),
    };
    if migrate {
        store.migrate().await?;
    }
    Ok(store)
}

// ---------------------------------------------------------------------------------------
// Migrations, embedded in the binary so it runs from anywhere.

#[derive(Debug)]
struct Embedded(Vec<Migration>);

impl<'s> MigrationSource<'s> for Embedded {
    fn resolve(self) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, BoxDynError>> + Send + 's>> {
        Box::pin(async move { Ok(self.0) })
    }
}

/// `(version, description, sql)` of every migration, per backend. A test checks this
/// list against the files under `migrations/`.
pub fn migration_files(backend: Backend) -> &'static [(i64, &'static str, &'static str)] {
    match backend {
        Backend::Sqlite => &[
            (1, "init", include_str!("../../migrations/sqlite/0001_init.sql")),
            (2, "conversations", include_str!("../../migrations/sqlite/0002_conversations.sql")),
            (3, "invitations", include_str!("../../migrations/sqlite/0003_invitations.sql")),
            (4, "message_seq", include_str!("../../migrations/sqlite/0004_message_seq.sql")),
            (5, "search_queue", include_str!("../../migrations/sqlite/0005_search_queue.sql")),
        ],
        Backend::Postgres => &[
            (1, "init", include_str!("../../migrations/postgres/0001_init.sql")),
            (2, "conversations", include_str!("../../migrations/postgres/0002_conversations.sql")),
            (3, "invitations", include_str!("../../migrations/postgres/0003_invitations.sql")),
            (4, "message_seq", include_str!("../../migrations/postgres/0004_message_seq.sql")),
        ],
    }
}

async fn migrator(backend: Backend) -> Result<Migrator> {
    let migrations = migration_files(backend)
        .iter()
        .map(|&(version, description, sql)| {
            Migration::new(version, Cow::Borrowed(description), MigrationType::Simple, Cow::Borrowed(sql), false)
        })
        .collect();
    Ok(Migrator::new(Embedded(migrations)).await?)
}

fn parse_kind(raw: &str) -> Result<ConversationKind> {
    ConversationKind::parse(raw)
        .ok_or_else(|| StoreError::Database(sqlx::Error::Decode(format!("unknown conversation kind {raw:?}").into())))
}

fn parse_action(raw: &str) -> Result<AuditAction> {
    AuditAction::parse(raw)
        .ok_or_else(|| StoreError::Database(sqlx::Error::Decode(format!("unknown audit action {raw:?}").into())))
}

fn parse_role(raw: &str) -> Result<Role> {
    Role::parse(raw).ok_or_else(|| StoreError::Database(sqlx::Error::Decode(format!("unknown role {raw:?}").into())))
}
