//! Request and response bodies of the REST API, grouped by resource.
//! Request types reject unknown fields; response types never carry secrets other than
//! the session token a log-in hands out.

use serde::{Deserialize, Serialize};

use crate::{AccountId, AuditId, ConversationId, InvitationId, MessageId, WorkspaceId};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

// ---------------------------------------------------------------------------------------
// Accounts and sessions

/// Sign up. The answer is the same whether or not the address already has an account:
/// an e-mail tells the owner of the address what to do next.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SignupRequest {
    pub email: String,
    /// 8 to 1,024 bytes.
    pub password: String,
    /// 1 to 64 characters, no control characters.
    pub display_name: String,
}

/// What sign-up and password-reset requests, and adding someone by e-mail, answer,
/// whatever the address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Accepted {
    /// `"check_your_email"` (sign-up, password reset) or `"email_sent"` (adding someone by
    /// e-mail: they were added, or invited to sign up; the answer does not say which).
    pub status: String,
}

impl Accepted {
    pub fn check_your_email() -> Self {
        Accepted { status: "check_your_email".to_owned() }
    }

    pub fn email_sent() -> Self {
        Accepted { status: "email_sent".to_owned() }
    }
}

/// A single-use token taken from an e-mailed link.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    pub token: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

/// A new session. Send `token` as `Authorization: Bearer <token>`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Session {
    pub token: String,
    /// Unix milliseconds after which the token stops working.
    pub expires_at: i64,
    pub account: Account,
}

/// The signed-in account, as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Account {
    pub id: AccountId,
    pub email: String,
    pub display_name: String,
    /// Unix milliseconds.
    pub created_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateProfileRequest {
    pub display_name: String,
}

/// Change the password. Every other session of the account is signed out.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    pub new_password: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PasswordResetRequest {
    pub email: String,
}

/// Set a new password from a reset link. Every session of the account is signed out.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PasswordResetConfirm {
    pub token: String,
    pub new_password: String,
}

// ---------------------------------------------------------------------------------------
// Workspaces

/// A role inside a workspace. `owner`, `admin`, `manager` and `member` take a seat;
/// `lite` (read-only) never does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Owner,
    Admin,
    Manager,
    Member,
    Lite,
}

impl Role {
    pub const ALL: [Role; 5] = [Role::Owner, Role::Admin, Role::Manager, Role::Member, Role::Lite];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Manager => "manager",
            Role::Member => "member",
            Role::Lite => "lite",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Whether this role counts against the workspace's seat limit.
    pub fn takes_seat(self) -> bool {
        self != Role::Lite
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateWorkspaceRequest {
    /// 1 to 80 characters.
    pub name: String,
}

/// Change a workspace's name (owner, admin), seat limit or lite grant limit (owner).
/// Absent fields are left as they are.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateWorkspaceRequest {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub seat_limit: Option<u32>,
    /// 1 to 1,000. Applies to later grants; lite users above a lowered limit keep what
    /// they have but get nothing more.
    #[serde(default)]
    pub lite_grant_limit: Option<u32>,
}

/// A workspace, as one of its members sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Workspace {
    pub id: WorkspaceId,
    pub name: String,
    /// The caller's role in it.
    pub my_role: Role,
    /// Seats taken: owners, admins, managers and members.
    pub seats_used: u32,
    pub seat_limit: u32,
    /// The most conversations a `lite` user may be granted here: each group membership
    /// and each thread granted directly counts one.
    pub lite_grant_limit: u32,
    /// Unix milliseconds.
    pub created_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct WorkspaceList {
    pub workspaces: Vec<Workspace>,
}

/// A person as a workspace shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Member {
    pub account_id: AccountId,
    pub display_name: String,
    pub email: String,
    pub role: Role,
    /// Always `false`: members belong to the workspace (guests are listed in
    /// `MemberList::externals`).
    pub external: bool,
    /// Groups and directly granted threads of the workspace this member holds: what the
    /// `lite_grant_limit` counts for `lite` users.
    pub grants: i64,
    /// Unix milliseconds.
    pub joined_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct MemberList {
    pub members: Vec<Member>,
    /// People in the workspace's conversations who are not members (guests).
    pub externals: Vec<Person>,
    /// Pending invitations into the workspace (invited users), for its owners, admins and
    /// managers; empty for everyone else.
    pub invited: Vec<Invitation>,
}

/// Change a member's role (owners and admins; only owners grant or take away `owner`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ChangeRoleRequest {
    pub role: Role,
}

// ---------------------------------------------------------------------------------------
// Operations

/// `/healthz`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Health {
    /// `"ok"`.
    pub status: String,
}

/// `/readyz`: whether this node can serve, and how well.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Readiness {
    /// `"ok"`; `"degraded"` (serving correctly, more slowly: the node checks the database
    /// on every delivery because Redis or a peer is unreachable); `"unavailable"` (503:
    /// the database is unreachable, or a cluster node has not reached Redis yet).
    pub status: String,
    /// `"ok"` or `"unreachable"`.
    pub database: String,
    /// `"embedded"` (one node), `"healthy"`, `"degraded"` or `"starting"`.
    pub bus: String,
}

// ---------------------------------------------------------------------------------------
// Conversations: groups, threads, direct conversations

/// What kind of conversation this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ConversationKind {
    /// A group's own chat; its participants are the group's members.
    Group,
    /// A conversation with a subject, addressed to groups and individual accounts.
    Thread,
    /// A conversation between two accounts, without a subject.
    Direct,
}

impl ConversationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ConversationKind::Group => "group",
            ConversationKind::Thread => "thread",
            ConversationKind::Direct => "direct",
        }
    }

    pub fn parse(s: &str) -> Option<ConversationKind> {
        [ConversationKind::Group, ConversationKind::Thread, ConversationKind::Direct]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// A message's author or a participant, as a conversation shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Person {
    pub account_id: AccountId,
    pub display_name: String,
    /// Whether the person is outside the conversation's workspace (a guest).
    pub external: bool,
}

/// A conversation as one of its participants sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Conversation {
    pub id: ConversationId,
    pub workspace_id: WorkspaceId,
    pub kind: ConversationKind,
    /// The group's name or the thread's subject; empty for a direct conversation.
    pub title: String,
    /// Read-only: a closed thread or an archived group. Nobody posts, edits or reacts.
    pub locked: bool,
    /// The sequence number of the newest message (0: none yet).
    pub last_seq: i64,
    /// Messages after the caller's read marker that others wrote and did not delete.
    pub unread: i64,
    /// The caller's read marker (0: nothing read).
    pub read_seq: i64,
    /// Whether anyone who can see this conversation is external to its workspace.
    pub has_externals: bool,
    /// Whether the caller may post here (false for `lite` users and locked conversations).
    pub can_post: bool,
    /// The newest message not deleted, if any.
    pub last_message: Option<Message>,
    /// Unix milliseconds.
    pub created_at: i64,
}

/// The caller's conversations of one workspace.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct WorkspaceConversations {
    pub workspace_id: WorkspaceId,
    pub workspace_name: String,
    /// The caller's role there; absent for an external.
    pub my_role: Option<Role>,
    /// Newest activity first.
    pub conversations: Vec<Conversation>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ConversationList {
    pub workspaces: Vec<WorkspaceConversations>,
}

/// Create a group (and its chat). The creator becomes a member.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateGroupRequest {
    /// 1 to 80 characters.
    pub name: String,
    /// Further members.
    #[serde(default)]
    pub members: Vec<AccountId>,
}

/// A group as the workspace's managers and its members see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Group {
    /// Also the identifier of the group's chat.
    pub id: ConversationId,
    pub workspace_id: WorkspaceId,
    pub name: String,
    pub archived: bool,
    pub member_count: i64,
    /// Whether the caller is a member (and so sees the group's chat).
    pub is_member: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct GroupList {
    pub groups: Vec<Group>,
}

/// Rename or archive a group. Absent fields are left as they are.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateGroupRequest {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub archived: Option<bool>,
}

/// Add a person to a group: exactly one of `account_id` (a workspace member or one of
/// your contacts, picked by name) or `email` (anyone: added at once if the address has an
/// account, else invited to sign up for a free account; the answer is the same).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AddMemberRequest {
    #[serde(default)]
    pub account_id: Option<AccountId>,
    #[serde(default)]
    pub email: Option<String>,
    /// A personal note for the e-mail (with `email` only), up to 1,000 characters.
    #[serde(default)]
    pub message: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PersonList {
    pub people: Vec<Person>,
    /// Addresses invited and not signed up yet, shown to workspace members only.
    pub invited: Vec<PendingPerson>,
}

/// Someone invited by e-mail who has not signed up yet: a pending membership.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PendingPerson {
    pub invitation_id: InvitationId,
    pub email: String,
    /// Unix milliseconds.
    pub invited_at: i64,
    pub expires_at: i64,
}

/// Start a thread: a subject and any mix of groups and individual accounts. The creator
/// is a participant.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateThreadRequest {
    /// 1 to 200 characters.
    pub subject: String,
    #[serde(default)]
    pub groups: Vec<ConversationId>,
    #[serde(default)]
    pub accounts: Vec<AccountId>,
}

/// Open (or find) the direct conversation with another account in a workspace.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateDirectRequest {
    pub account_id: AccountId,
}

/// Change a thread's subject or close/reopen it. Absent fields are left as they are.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateThreadRequest {
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub locked: Option<bool>,
}

/// Address a thread to one more group or person: exactly one of `group_id`, `account_id`
/// (a workspace member or a contact) or `email` (anyone: added at once if the address has
/// an account, else invited to sign up for a free account; the answer is the same).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AddRecipientRequest {
    #[serde(default)]
    pub group_id: Option<ConversationId>,
    #[serde(default)]
    pub account_id: Option<AccountId>,
    #[serde(default)]
    pub email: Option<String>,
    /// A personal note for the e-mail (with `email` only), up to 1,000 characters.
    #[serde(default)]
    pub message: Option<String>,
}

/// Who can see a conversation: its direct participants and the groups that grant access.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Audience {
    pub participants: Vec<Person>,
    pub groups: Vec<AudienceGroup>,
    /// Addresses invited here that have not signed up yet (shown to workspace members
    /// only).
    pub invited: Vec<PendingPerson>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AudienceGroup {
    pub id: ConversationId,
    pub name: String,
    pub members: Vec<Person>,
}

// ---------------------------------------------------------------------------------------
// Messages

/// Post a message.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PostMessageRequest {
    /// 1 to 65,536 bytes of text.
    pub body: String,
    /// A client-chosen id (1 to 64 characters) making a resend idempotent: the same id
    /// and body return the original message; the same id with another body is refused.
    #[serde(default)]
    pub client_id: Option<String>,
    /// The sequence of the message this one answers, in the same conversation.
    #[serde(default)]
    pub reply_to: Option<i64>,
    /// Accounts mentioned; each must be able to see the conversation.
    #[serde(default)]
    pub mentions: Vec<AccountId>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EditMessageRequest {
    pub body: String,
}

/// A reaction, aggregated over everyone who reacted with the same emoji.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Reaction {
    pub emoji: String,
    pub count: i64,
    /// Whether the caller is among them.
    pub me: bool,
}

/// A message. Fields that are empty or unset are left out (every delivery of a new
/// message carries them, and most are empty): a missing `reply_to`, `client_id`,
/// `edited_at` or `deleted_at` means none, missing `mentions` or `reactions` an empty list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Message {
    pub id: MessageId,
    pub conversation_id: ConversationId,
    /// Gapless and increasing within the conversation, from 1.
    pub seq: i64,
    pub author: Person,
    /// Empty once deleted.
    pub body: String,
    /// The `seq` of the message this one answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<AccountId>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reactions: Vec<Reaction>,
    /// The author's own id for the post (idempotent resends), if they gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds, if the body was edited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<i64>,
    /// Unix milliseconds, if it was deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct MessagePage {
    /// In sequence order.
    pub messages: Vec<Message>,
    /// Whether older messages exist before the first one here.
    pub has_before: bool,
    /// Whether newer messages exist after the last one here.
    pub has_after: bool,
}

/// Move the caller's read marker (it never moves backwards).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReadMarkerRequest {
    pub seq: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SearchHit {
    pub conversation_id: ConversationId,
    pub workspace_id: WorkspaceId,
    pub message: Message,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SearchResults {
    /// Newest first.
    pub hits: Vec<SearchHit>,
}

/// Someone the caller shares a conversation with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Contact {
    pub account_id: AccountId,
    pub display_name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ContactList {
    pub contacts: Vec<Contact>,
}

/// A person as the caller may see them: someone they share a workspace or a conversation
/// with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Profile {
    pub account_id: AccountId,
    pub display_name: String,
}

// ---------------------------------------------------------------------------------------
// Invitations

/// The state of an invitation. `expired` is a pending invitation past `expires_at`
/// (resend it to make it pending again).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum InvitationState {
    Pending,
    Expired,
    Accepted,
    Revoked,
}

/// One address to invite into a workspace.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct InvitationRequest {
    pub email: String,
    /// `admin`, `manager`, `member` or `lite` (never above the inviter's own role).
    pub role: Role,
    /// Groups to join on acceptance. Each counts one against a lite user's limit.
    #[serde(default)]
    pub groups: Vec<ConversationId>,
    /// Threads to be added to directly on acceptance. Each counts one against a lite
    /// user's limit. A lite invitation needs at least one group or thread.
    #[serde(default)]
    pub threads: Vec<ConversationId>,
    /// A personal note for the e-mail, up to 1,000 characters.
    #[serde(default)]
    pub message: Option<String>,
}

/// Invite many addresses at once. All or nothing: one refused entry refuses the batch
/// (the error's `field` names it, as `invitations[2].email`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct InviteRequest {
    pub invitations: Vec<InvitationRequest>,
}

/// A conversation an invitation grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Grant {
    pub conversation_id: ConversationId,
    /// `group` (membership) or `thread` (direct participation).
    pub kind: ConversationKind,
    pub title: String,
}

/// An invitation as the workspace's owners, admins and managers see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Invitation {
    pub id: InvitationId,
    pub workspace_id: WorkspaceId,
    pub email: String,
    /// The workspace role it gives; `null` for a guest invitation (conversations only,
    /// from adding an address to a group or thread).
    pub role: Option<Role>,
    pub state: InvitationState,
    pub grants: Vec<Grant>,
    pub message: String,
    pub invited_by: Option<Person>,
    /// Unix milliseconds.
    pub created_at: i64,
    /// When the current link was sent (a resend moves it).
    pub sent_at: i64,
    pub expires_at: i64,
    /// Who accepted it, once accepted.
    pub accepted_by: Option<AccountId>,
    /// When it was accepted or revoked.
    pub closed_at: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct InvitationList {
    pub invitations: Vec<Invitation>,
}

/// What an invitation link offers, shown to whoever holds the link before they accept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct InvitationPreview {
    pub email: String,
    pub workspace_name: String,
    /// `null`: a guest invitation (conversations only, with a free account).
    pub role: Option<Role>,
    pub invited_by: String,
    pub message: String,
    pub grants: Vec<Grant>,
    pub expires_at: i64,
    /// Whether the address has an account (then log in and accept; else sign up here).
    /// Only the holder of the e-mailed link learns this.
    pub account_exists: bool,
}

/// Create an account from an invitation link: the link proves the address, so no
/// further verification e-mail is needed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct InvitationSignupRequest {
    pub token: String,
    /// 8 to 1,024 bytes.
    pub password: String,
    /// 1 to 64 characters.
    pub display_name: String,
}

/// What accepting an invitation gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AcceptedInvitation {
    pub workspace_id: WorkspaceId,
    /// The role in the workspace now (`null`: a guest there).
    pub role: Option<Role>,
    /// Conversations the invitation granted.
    pub conversations: Vec<ConversationId>,
}

/// Hand a leaver's group memberships and directly granted threads in a workspace to a
/// successor, in one step: exactly one of `successor_account_id` (a member or a contact)
/// and `successor_email` (an address without an account gets an invitation carrying the
/// grants, with the leaver's role if they are a `member` or `lite` user).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReplaceRequest {
    pub leaver: AccountId,
    #[serde(default)]
    pub successor_account_id: Option<AccountId>,
    #[serde(default)]
    pub successor_email: Option<String>,
}

/// What a replace did; `receipt` is its audit record.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ReplaceResult {
    pub receipt: AuditEntry,
    /// Group memberships handed over.
    pub groups: i64,
    /// Directly granted threads handed over (threads the caller cannot see are neither
    /// handed over nor taken away).
    pub threads: i64,
}

// ---------------------------------------------------------------------------------------
// Audit log

/// What an audit entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    InvitationSent,
    InvitationResent,
    InvitationRevoked,
    InvitationAccepted,
    RoleChanged,
    MemberRemoved,
    MemberLeft,
    GroupMemberAdded,
    GroupMemberRemoved,
    ParticipantAdded,
    ParticipantRemoved,
    GroupAddressed,
    GroupUnaddressed,
    AccessReplaced,
}

impl AuditAction {
    pub const ALL: [AuditAction; 14] = [
        AuditAction::InvitationSent,
        AuditAction::InvitationResent,
        AuditAction::InvitationRevoked,
        AuditAction::InvitationAccepted,
        AuditAction::RoleChanged,
        AuditAction::MemberRemoved,
        AuditAction::MemberLeft,
        AuditAction::GroupMemberAdded,
        AuditAction::GroupMemberRemoved,
        AuditAction::ParticipantAdded,
        AuditAction::ParticipantRemoved,
        AuditAction::GroupAddressed,
        AuditAction::GroupUnaddressed,
        AuditAction::AccessReplaced,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::InvitationSent => "invitation_sent",
            AuditAction::InvitationResent => "invitation_resent",
            AuditAction::InvitationRevoked => "invitation_revoked",
            AuditAction::InvitationAccepted => "invitation_accepted",
            AuditAction::RoleChanged => "role_changed",
            AuditAction::MemberRemoved => "member_removed",
            AuditAction::MemberLeft => "member_left",
            AuditAction::GroupMemberAdded => "group_member_added",
            AuditAction::GroupMemberRemoved => "group_member_removed",
            AuditAction::ParticipantAdded => "participant_added",
            AuditAction::ParticipantRemoved => "participant_removed",
            AuditAction::GroupAddressed => "group_addressed",
            AuditAction::GroupUnaddressed => "group_unaddressed",
            AuditAction::AccessReplaced => "access_replaced",
        }
    }

    pub fn parse(s: &str) -> Option<AuditAction> {
        AuditAction::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// Someone or something an audit entry names, as it was called when read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AuditName {
    pub id: String,
    pub name: String,
}

/// One line of a workspace's audit log: who did what to whom, when. Written in the same
/// transaction as the change; a removal answers with its entry as the receipt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AuditEntry {
    pub id: AuditId,
    pub workspace_id: WorkspaceId,
    /// Unix milliseconds.
    pub at: i64,
    pub action: AuditAction,
    /// Who did it (`null` once their account is gone).
    pub actor: Option<AuditName>,
    /// The account it was done to, if any.
    pub account: Option<AuditName>,
    /// The address it was done to (invitations).
    pub email: Option<String>,
    /// The group or thread concerned, if any.
    pub conversation: Option<AuditName>,
    /// Further facts: `{"from": "member", "to": "lite"}` for a role change, the role and
    /// grants of an invitation, the successor and counts of a replace.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub detail: serde_json::Value,
}

/// A page of the audit log, newest first.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    /// Whether older entries exist: ask again with `before` = the last entry's id.
    pub has_more: bool,
}
