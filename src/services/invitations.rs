//! Invitations: bringing people in by e-mail, into a workspace with a role (one at a time
//! or in batches) or as guests into one group or thread; accepting (with an existing
//! account, or by signing up for a free one from the link); resending, revoking,
//! expiry; and handing a leaver's access to a successor.
//!
//! Who may do what:
//! - invite into the workspace, list, resend and revoke its invitations: its owners,
//!   admins and managers (never with a role above their own, never `owner`); the
//!   inviter may also resend and revoke their own;
//! - add someone to a group or thread by e-mail: whoever may add people there (see
//!   `conversations.rs`); guests and lite users never bring people in;
//! - grant a group or thread in an invitation: only one the inviter may manage (a
//!   group) or can see (a thread): nobody shares what they cannot see;
//! - hand access over (`replace`): owners, admins and managers.
//!
//! Nothing here reveals whether an address has an account: adding by e-mail answers the
//! same either way (the person is added and told, or invited to sign up), and invitations
//! into a workspace always wait for the invitee to accept. Tokens are 256 random bits,
//! stored as SHA-256 only, single use (the store's acceptance is one conditional update),
//! bound to the invited address, expiring, and replaced by a resend; an unknown, expired,
//! revoked or used token gets one answer, `InvalidToken`.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::crypto::{Token, TokenHash, random_id};
use crate::domain::{
    AccountId, AuditAction, ConversationId, ConversationKind, DisplayName, Email, Invalid, InvitationId,
    InvitationState, Password, Role, WorkspaceId, now_ms,
};
use crate::mail::{self, Invite, Mailer};
use crate::ratelimit::Limiter;
use crate::services::conversations::AccessSet;
use crate::services::membership::MANAGERS;
use crate::services::{Accounts, Caller, Conversations, Error, Membership, NewSession, Result};
use crate::store::{
    AcceptOutcome, Acceptor, AuditRow, InvitationKey, InvitationRow, NewAudit, NewInvitation, Store, StoreError,
    Successor,
};

const HOUR: Duration = Duration::from_secs(3600);
/// The longest personal note an invitation carries, in characters.
const MAX_NOTE: usize = 1000;

/// One address of a batch invitation, as asked.
#[derive(Debug, Clone)]
pub struct InviteEntry {
    pub email: String,
    pub role: Role,
    pub groups: Vec<ConversationId>,
    pub threads: Vec<ConversationId>,
    pub message: Option<String>,
}

/// Where someone is added by e-mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Group,
    Thread,
}

/// Who takes over a leaver's access.
#[derive(Debug, Clone)]
pub enum SuccessorSpec {
    Account(AccountId),
    Email(String),
}

/// What an invitation link shows before it is accepted.
pub struct Preview {
    pub invitation: InvitationRow,
    pub account_exists: bool,
}

pub struct Invitations {
    store: Arc<dyn Store>,
    membership: Arc<Membership>,
    conversations: Arc<Conversations>,
    accounts: Arc<Accounts>,
    mailer: Mailer,
    public_url: String,
    ttl_hours: u64,
    max_batch: usize,
    per_inviter: Limiter<AccountId>,
    per_address: Limiter<String>,
}

/// How high a role ranks: nobody invites above their own rank.
fn rank(role: Role) -> u8 {
    match role {
        Role::Owner => 4,
        Role::Admin => 3,
        Role::Manager => 2,
        Role::Member => 1,
        Role::Lite => 0,
    }
}

fn invalid(field: &'static str, message: impl Into<String>) -> Error {
    Invalid { field, message: message.into() }.into()
}

/// A personal note: up to 1,000 characters, line breaks allowed, no other control
/// characters.
fn note(field: &'static str, raw: Option<&str>) -> Result<String> {
    let text = raw.unwrap_or("").replace("\r\n", "\n");
    let text = text.trim();
    if text.chars().count() > MAX_NOTE || text.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(invalid(field, format!("must be at most {MAX_NOTE} characters without control characters")));
    }
    Ok(text.to_owned())
}

impl Invitations {
    pub fn new(
        config: &Config,
        store: Arc<dyn Store>,
        membership: Arc<Membership>,
        conversations: Arc<Conversations>,
        accounts: Arc<Accounts>,
        mailer: Mailer,
    ) -> Invitations {
        let i = &config.invitations;
        Invitations {
            store,
            membership,
            conversations,
            accounts,
            mailer,
            public_url: config.public_url().to_owned(),
            ttl_hours: i.ttl_hours,
            max_batch: i.max_batch,
            per_inviter: Limiter::per_window(i.per_inviter_per_hour, HOUR),
            per_address: Limiter::per_window(i.per_address_per_hour, HOUR),
        }
    }

    /// Drops idle rate-limit buckets; called periodically.
    pub fn forget_idle_limits(&self) {
        self.per_inviter.forget_idle();
        self.per_address.forget_idle();
    }

    fn expires_at(&self, now: i64) -> i64 {
        now + self.ttl_hours as i64 * 3_600_000
    }

    /// Counts invitations against the inviter's and each address's hourly budget, all or
    /// nothing.
    fn limit(&self, inviter: AccountId, emails: &[&Email]) -> Result<()> {
        self.per_inviter.check_n(&inviter, emails.len() as u32).map_err(Error::RateLimited)?;
        for email in emails {
            self.per_address.check(&email.as_str().to_owned()).map_err(Error::RateLimited)?;
        }
        Ok(())
    }

    async fn display_name(&self, account: AccountId) -> Result<String> {
        Ok(self.store.account_by_id(account).await?.map(|a| a.display_name).unwrap_or_default())
    }

    /// E-mails the link of an invitation (new or resent).
    async fn send_invitation(&self, row: &InvitationRow, token: &Token) -> Result<()> {
        let inviter = row.invited_by.as_ref().map(|(_, n)| n.clone()).unwrap_or_else(|| row.workspace_name.clone());
        let titles: Vec<String> = row.grants.iter().map(|g| g.title.clone()).collect();
        let (subject, body) = mail::workspace_invitation(&Invite {
            public_url: &self.public_url,
            inviter: &inviter,
            workspace: &row.workspace_name,
            role: row.role.map(Role::as_str),
            grants: &titles,
            message: &row.message,
            token: token.reveal(),
            ttl_hours: self.ttl_hours,
        });
        self.mailer.send(&Email::from_trusted(row.email.clone()), &subject, body).await?;
        Ok(())
    }

    async fn load(&self, id: InvitationId) -> Result<InvitationRow> {
        self.store.invitation(id).await?.ok_or(Error::NotFound)
    }

    // -------------------------------------------------------------------------------------
    // Into the workspace

    /// Invites every entry into the workspace, all or nothing, and e-mails each a link.
    pub async fn invite(
        &self,
        caller: AccountId,
        ws: WorkspaceId,
        entries: Vec<InviteEntry>,
    ) -> Result<Vec<InvitationRow>> {
        let mine = self
            .membership
            .require_role(caller, ws, MANAGERS, "only owners, admins and managers invite people")
            .await?;
        if entries.is_empty() || entries.len() > self.max_batch {
            return Err(invalid("invitations", format!("give 1 to {} addresses", self.max_batch)));
        }
        let workspace = self.store.workspace(ws).await?.ok_or(Error::NotFound)?;
        let members: HashSet<String> = self.store.members(ws).await?.into_iter().map(|m| m.email).collect();
        let now = now_ms();
        let invited: HashSet<String> = self
            .store
            .workspace_invitations(ws, true)
            .await?
            .into_iter()
            .filter(|i| i.role.is_some() && i.state_at(now) == InvitationState::Pending)
            .map(|i| i.email)
            .collect();
        let mut seen = HashSet::new();
        let mut parsed = Vec::with_capacity(entries.len());
        for (n, entry) in entries.into_iter().enumerate() {
            let at = |what: &str| format!("entry {} ({}): {what}", n + 1, entry.email.trim());
            let email = Email::parse("invitations", &entry.email)
                .map_err(|_| invalid("invitations", at("is not an e-mail address")))?;
            if !seen.insert(email.as_str().to_owned()) {
                return Err(invalid("invitations", at("appears twice in the batch")));
            }
            if members.contains(email.as_str()) {
                return Err(invalid("invitations", at("is already a member of this workspace")));
            }
            if invited.contains(email.as_str()) {
                return Err(invalid("invitations", at("already has a pending invitation: resend or revoke it")));
            }
            if entry.role == Role::Owner || rank(entry.role) > rank(mine) {
                return Err(Error::Forbidden("you cannot invite with the owner role or a role above your own"));
            }
            let message = note("invitations", entry.message.as_deref())
                .map_err(|_| invalid("invitations", at("the note must be at most 1000 characters")))?;
            let mut grants: Vec<ConversationId> = Vec::new();
            for &g in &entry.groups {
                let access = self.membership.group(caller, g).await?;
                if access.group.workspace_id != ws {
                    return Err(Error::NotFound);
                }
                access.require_manage()?;
                if !grants.contains(&g) {
                    grants.push(g);
                }
            }
            for &t in &entry.threads {
                let access = self.membership.conversation(caller, t).await?;
                if access.conversation.workspace_id != ws || access.conversation.kind != ConversationKind::Thread {
                    return Err(Error::NotFound);
                }
                if !grants.contains(&t) {
                    grants.push(t);
                }
            }
            if entry.role == Role::Lite {
                if grants.is_empty() {
                    return Err(invalid("invitations", at("a lite user needs at least one group or thread")));
                }
                if grants.len() > workspace.lite_grant_limit as usize {
                    return Err(Error::LiteLimitReached);
                }
            }
            parsed.push((email, entry.role, grants, message));
        }
        let emails: Vec<&Email> = parsed.iter().map(|(e, ..)| e).collect();
        self.limit(caller, &emails)?;
        let mut new = Vec::with_capacity(parsed.len());
        let mut audit = Vec::with_capacity(parsed.len());
        let mut tokens = Vec::with_capacity(parsed.len());
        for (email, role, grants, message) in parsed {
            let token = Token::generate();
            let id = InvitationId(random_id());
            audit.push(NewAudit::new(ws, caller, AuditAction::InvitationSent).email(email.as_str()).detail(
                serde_json::json!({"invitation_id": id.to_string(), "role": role.as_str(), "grants": grants.len()}),
            ));
            new.push(NewInvitation {
                id,
                workspace_id: ws,
                email,
                role: Some(role),
                token_hash: token.hash(),
                message,
                invited_by: caller,
                created_at: now,
                expires_at: self.expires_at(now),
                grants,
            });
            tokens.push(token);
        }
        self.store.create_invitations(&new, &audit).await.map_err(|e| match e {
            StoreError::AlreadyExists => {
                Error::Conflict("an address was invited or joined meanwhile: reload the list and try again")
            }
            other => other.into(),
        })?;
        let mut rows = Vec::with_capacity(new.len());
        for (invitation, token) in new.iter().zip(&tokens) {
            let row = self.load(invitation.id).await?;
            self.send_invitation(&row, token).await?;
            rows.push(row);
        }
        tracing::info!(workspace_id = %ws, count = rows.len(), "invitations sent");
        Ok(rows)
    }

    /// Invites the addresses of a CSV file (columns `email, role, groups, threads,
    /// message`; an optional header row; groups and threads separated by `;`, each by id
    /// or by exact name), all or nothing, like [`Invitations::invite`].
    pub async fn invite_csv(&self, caller: AccountId, ws: WorkspaceId, text: &str) -> Result<Vec<InvitationRow>> {
        self.membership.require_role(caller, ws, MANAGERS, "only owners, admins and managers invite people").await?;
        let rows = parse_csv(text, self.max_batch)?;
        let groups: Vec<(ConversationId, String)> = self
            .conversations
            .list_groups(caller, ws)
            .await?
            .into_iter()
            .map(|(g, _)| (g.group.id, g.group.title))
            .collect();
        let threads: Vec<(ConversationId, String)> = self
            .store
            .visible_conversations(caller)
            .await?
            .into_iter()
            .filter(|s| s.conversation.workspace_id == ws && s.conversation.kind == ConversationKind::Thread)
            .map(|s| (s.conversation.id, s.conversation.title))
            .collect();
        let mut entries = Vec::with_capacity(rows.len());
        for row in rows {
            let at = |what: String| invalid("csv", format!("line {}: {what}", row.line));
            let role = Role::parse(&row.role.to_lowercase())
                .ok_or_else(|| at(format!("unknown role {:?} (admin, manager, member or lite)", row.role)))?;
            let resolve = |names: &[String], known: &[(ConversationId, String)], what: &str| {
                names
                    .iter()
                    .map(|name| {
                        if let Ok(id) = name.parse::<i64>() {
                            return Ok(ConversationId(id));
                        }
                        let found: Vec<_> = known.iter().filter(|(_, t)| t.eq_ignore_ascii_case(name)).collect();
                        match found.as_slice() {
                            [(id, _)] => Ok(*id),
                            [] => Err(at(format!("no {what} named {name:?} that you can share"))),
                            _ => Err(at(format!("several {what}s are named {name:?}: give its id"))),
                        }
                    })
                    .collect::<Result<Vec<_>>>()
            };
            entries.push(InviteEntry {
                email: row.email.clone(),
                role,
                groups: resolve(&row.groups, &groups, "group")?,
                threads: resolve(&row.threads, &threads, "thread")?,
                message: Some(row.message.clone()).filter(|m| !m.is_empty()),
            });
        }
        self.invite(caller, ws, entries).await
    }

    /// The workspace's invitations (open ones, or all) for its owners, admins and managers.
    pub async fn list(&self, caller: AccountId, ws: WorkspaceId, all: bool) -> Result<Vec<InvitationRow>> {
        self.membership.require_role(caller, ws, MANAGERS, "only owners, admins and managers see invitations").await?;
        Ok(self.store.workspace_invitations(ws, !all).await?)
    }

    /// The caller may manage the invitation: a manager of its workspace, or its inviter
    /// while still a member. Someone who is not a member of the workspace gets
    /// `NotFound`.
    async fn require_manage(&self, caller: AccountId, row: &InvitationRow) -> Result<()> {
        let role = self.membership.workspace_role(caller, row.workspace_id).await?;
        let inviter = row.invited_by.as_ref().is_some_and(|(id, _)| *id == caller);
        if MANAGERS.contains(&role) || inviter {
            Ok(())
        } else if role == Role::Lite {
            Err(Error::ReadOnly)
        } else {
            Err(Error::Forbidden(
                "only the workspace's owners, admins and managers, or the inviter, manage an invitation",
            ))
        }
    }

    /// Sends a new link (the old one stops working) and starts the validity period again.
    pub async fn resend(&self, caller: AccountId, id: InvitationId) -> Result<InvitationRow> {
        let row = self.load(id).await?;
        self.require_manage(caller, &row).await?;
        if matches!(row.stored_state, InvitationState::Accepted | InvitationState::Revoked) {
            return Err(Error::Conflict("this invitation was already accepted or revoked"));
        }
        let email = Email::from_trusted(row.email.clone());
        self.limit(caller, &[&email])?;
        let token = Token::generate();
        let now = now_ms();
        let audit = NewAudit::new(row.workspace_id, caller, AuditAction::InvitationResent)
            .email(&row.email)
            .detail(serde_json::json!({"invitation_id": id.to_string()}));
        if !self.store.resend_invitation(id, &token.hash(), now, self.expires_at(now), &audit).await? {
            return Err(Error::Conflict("this invitation was already accepted or revoked"));
        }
        let row = self.load(id).await?;
        self.send_invitation(&row, &token).await?;
        Ok(row)
    }

    /// Revokes a pending invitation: its link stops working and its pending memberships
    /// disappear. Returns the audit entry.
    pub async fn revoke(&self, caller: AccountId, id: InvitationId) -> Result<AuditRow> {
        let row = self.load(id).await?;
        self.require_manage(caller, &row).await?;
        let audit = NewAudit::new(row.workspace_id, caller, AuditAction::InvitationRevoked)
            .email(&row.email)
            .detail(serde_json::json!({"invitation_id": id.to_string()}));
        if !self.store.revoke_invitation(id, now_ms(), &audit).await? {
            return Err(Error::Conflict("this invitation was already accepted or revoked"));
        }
        self.store.audit_entry(audit.id).await?.ok_or(Error::Internal(StoreError::NotFound))
    }

    // -------------------------------------------------------------------------------------
    // The invitee's side

    /// What a live link offers; `InvalidToken` for an unknown, expired, revoked or used
    /// one.
    pub async fn preview(&self, token: &str) -> Result<Preview> {
        let invitation = self.live(token).await?;
        let email = Email::from_trusted(invitation.email.clone());
        let account_exists = self.store.account_by_email(&email).await?.is_some();
        Ok(Preview { invitation, account_exists })
    }

    async fn live(&self, token: &str) -> Result<InvitationRow> {
        let row = self.store.invitation_by_token(&TokenHash::of(token)).await?.ok_or(Error::InvalidToken)?;
        if row.state_at(now_ms()) != InvitationState::Pending {
            return Err(Error::InvalidToken);
        }
        Ok(row)
    }

    /// Live invitations into workspaces addressed to the caller's (verified) address.
    pub async fn mine(&self, caller: &Caller) -> Result<Vec<InvitationRow>> {
        Ok(self.store.invitations_to(&caller.account.email, now_ms()).await?)
    }

    /// Accepts an invitation to the caller's address, by its link's token or by id.
    pub async fn accept(&self, caller: &Caller, key: InvitationKey) -> Result<AcceptOutcome> {
        let by_token = matches!(key, InvitationKey::Token(_));
        let outcome = self.store.accept_invitation(key, Acceptor::Account(caller.id()), now_ms()).await;
        let outcome = outcome.map_err(|e| match e {
            StoreError::NotFound if by_token => Error::InvalidToken,
            other => other.into(),
        })?;
        self.announce_gained(&outcome).await?;
        tracing::info!(account_id = %caller.id(), workspace_id = %outcome.workspace_id, "invitation accepted");
        Ok(outcome)
    }

    /// Creates a free account from an invitation link (the link proves the address),
    /// accepts the invitation and every other live guest invitation to the address, and
    /// opens a first session.
    pub async fn sign_up(
        &self,
        token: &str,
        display_name: &str,
        password: String,
        from: IpAddr,
    ) -> Result<(NewSession, AcceptOutcome)> {
        let display_name = DisplayName::parse("display_name", display_name)?;
        let password = Password::parse("password", password)?;
        self.accounts.limit_address(from)?;
        // Only a live token is worth the hashing work.
        self.live(token).await?;
        let digest = self.accounts.hash_password(password).await;
        let acceptor = Acceptor::NewAccount { id: AccountId(random_id()), display_name, password_hash: digest };
        let outcome = self
            .store
            .accept_invitation(InvitationKey::Token(TokenHash::of(token)), acceptor, now_ms())
            .await
            .map_err(|e| match e {
                StoreError::NotFound => Error::InvalidToken,
                StoreError::AlreadyExists => Error::AccountExists,
                other => other.into(),
            })?;
        tracing::info!(account_id = %outcome.account.id, "account created from an invitation");
        let session = self.accounts.open_session(outcome.account.clone()).await?;
        Ok((session, outcome))
    }

    /// Tells the new member's sockets (if any) about the conversations they gained.
    async fn announce_gained(&self, outcome: &AcceptOutcome) -> Result<()> {
        let after: AccessSet = outcome.gained.iter().map(|&c| (outcome.account.id, c)).collect();
        self.conversations.announce_access(&AccessSet::new(), &after).await
    }

    // -------------------------------------------------------------------------------------
    // Into one group or thread, by e-mail

    /// Adds the owner of `email` to a group or thread: at once if the address has an
    /// account (they are told by e-mail), else as a pending guest with an invitation to
    /// sign up for a free account. The answer is the same in both cases.
    pub async fn add_by_email(
        &self,
        caller: AccountId,
        target: Target,
        id: ConversationId,
        email: &str,
        message: Option<&str>,
    ) -> Result<()> {
        let email = Email::parse("email", email)?;
        let message = note("message", message)?;
        // The gate first: whoever may not add people here learns nothing about the address.
        let (ws, title, group) = match target {
            Target::Group => {
                let access = self.membership.group(caller, id).await?;
                access.require_manage()?;
                (access.group.workspace_id, access.group.title.clone(), Some(access))
            }
            Target::Thread => {
                let access = self.conversations.thread(caller, id).await?;
                access.require_manage_thread()?;
                (access.conversation.workspace_id, access.conversation.title.clone(), None)
            }
        };
        self.limit(caller, &[&email])?;
        let inviter = self.display_name(caller).await?;
        let workspace = self.store.workspace(ws).await?.ok_or(Error::NotFound)?;
        match self.store.account_by_email(&email).await? {
            Some(account) => {
                let added = match &group {
                    Some(access) => {
                        if account.id == caller && !access.is_member {
                            return Err(Error::Forbidden("ask a member of the group to add you"));
                        }
                        self.conversations.grant_group(caller, access, account.id).await?
                    }
                    None => {
                        let access = self.conversations.thread(caller, id).await?;
                        self.conversations.grant_thread(caller, &access, account.id).await?
                    }
                };
                if added {
                    let (subject, body) =
                        mail::added_to_conversation(&self.public_url, &inviter, &workspace.name, &title, id, &message);
                    self.mailer.send(&email, &subject, body).await?;
                }
            }
            None => {
                let now = now_ms();
                let pending = self.store.pending_for_conversation(id, now).await?;
                if pending.iter().any(|p| p.email == email.as_str()) {
                    return Ok(());
                }
                let token = Token::generate();
                let invitation = NewInvitation {
                    id: InvitationId(random_id()),
                    workspace_id: ws,
                    email: email.clone(),
                    role: None,
                    token_hash: token.hash(),
                    message,
                    invited_by: caller,
                    created_at: now,
                    expires_at: self.expires_at(now),
                    grants: vec![id],
                };
                let audit = NewAudit::new(ws, caller, AuditAction::InvitationSent)
                    .email(email.as_str())
                    .conversation(id)
                    .detail(serde_json::json!({"invitation_id": invitation.id.to_string(), "role": null, "grants": 1}));
                self.store.create_invitations(std::slice::from_ref(&invitation), &[audit]).await?;
                let row = self.load(invitation.id).await?;
                self.send_invitation(&row, &token).await?;
            }
        }
        Ok(())
    }

    // -------------------------------------------------------------------------------------
    // Client groups: handing access over

    /// Moves `leaver`'s group memberships in the workspace, and their direct access to
    /// threads the caller can see, to a successor in one step. A successor address without
    /// an account gets an invitation carrying those grants (as a lite user if the leaver
    /// was one, a member if the leaver was any other member, a guest otherwise). Returns
    /// the summary audit entry (the receipt) and the counts handed over.
    pub async fn replace(
        &self,
        caller: AccountId,
        ws: WorkspaceId,
        leaver: AccountId,
        successor: SuccessorSpec,
    ) -> Result<(AuditRow, i64, i64)> {
        self.membership.require_role(caller, ws, MANAGERS, "only owners, admins and managers hand access over").await?;
        let successor = match successor {
            SuccessorSpec::Account(id) => {
                self.store.account_by_id(id).await?.ok_or(Error::NotFound)?;
                (Some(id), None)
            }
            SuccessorSpec::Email(raw) => {
                let email = Email::parse("successor_email", &raw)?;
                match self.store.account_by_email(&email).await? {
                    Some(account) => (Some(account.id), None),
                    None => (None, Some(email)),
                }
            }
        };
        if successor.0 == Some(leaver) {
            return Err(invalid("successor_account_id", "the successor must be someone else"));
        }
        let (groups, threads) = self.store.grants_of(ws, leaver).await?;
        let mut moved = groups.clone();
        for t in threads {
            if self.membership.can_see(caller, t).await? {
                moved.push(t);
            }
        }
        // Everything whose visibility may change: the threads, and what the groups reach.
        let mut reached: Vec<ConversationId> = moved.clone();
        for &g in &groups {
            reached.extend(self.store.conversations_addressed_to(g).await?);
        }
        reached.sort_unstable();
        reached.dedup();
        let people: Vec<AccountId> = std::iter::once(leaver).chain(successor.0).collect();
        let before = self.conversations.access_set(&people, &reached).await?;
        let now = now_ms();
        let mut summary = NewAudit::new(ws, caller, AuditAction::AccessReplaced).account(leaver);
        let mut token = None;
        let heir = match (successor.0, &successor.1) {
            (Some(id), _) => {
                summary = summary.detail(serde_json::json!({"successor_account_id": id.to_string()}));
                Successor::Account(id)
            }
            (None, Some(email)) => {
                self.limit(caller, &[email])?;
                summary = summary.email(email.as_str());
                let role = match self.store.member_role(ws, leaver).await? {
                    Some(Role::Lite) => Some(Role::Lite),
                    Some(_) => Some(Role::Member),
                    None => None,
                };
                let t = Token::generate();
                let invitation = NewInvitation {
                    id: InvitationId(random_id()),
                    workspace_id: ws,
                    email: email.clone(),
                    role,
                    token_hash: t.hash(),
                    message: String::new(),
                    invited_by: caller,
                    created_at: now,
                    expires_at: self.expires_at(now),
                    grants: vec![],
                };
                token = Some((invitation.id, t));
                Successor::Invitation(invitation)
            }
            (None, None) => unreachable!("a successor is an account or an address"),
        };
        let (g, t) = self.store.replace_grants(ws, leaver, heir, &moved, caller, &summary).await?;
        let after = self.conversations.access_set(&people, &reached).await?;
        self.conversations.announce_access(&before, &after).await?;
        if let Some((id, t)) = token
            && let Some(row) = self.store.invitation(id).await?
        {
            self.send_invitation(&row, &t).await?;
        }
        let receipt = self.store.audit_entry(summary.id).await?.ok_or(Error::Internal(StoreError::NotFound))?;
        Ok((receipt, g, t))
    }
}

/// One line of an invitation CSV file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CsvRow {
    line: u64,
    email: String,
    role: String,
    groups: Vec<String>,
    threads: Vec<String>,
    message: String,
}

/// Reads `email, role, groups, threads, message` lines (RFC 4180 quoting; an optional
/// header row whose first cell is `email`; blank lines skipped).
fn parse_csv(text: &str, max_rows: usize) -> Result<Vec<CsvRow>> {
    let mut reader =
        csv::ReaderBuilder::new().has_headers(false).flexible(true).trim(csv::Trim::All).from_reader(text.as_bytes());
    let split = |cell: Option<&str>| -> Vec<String> {
        cell.unwrap_or("").split(';').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
    };
    let mut rows = Vec::new();
    for (n, record) in reader.records().enumerate() {
        let record = record.map_err(|e| invalid("csv", format!("not valid CSV: {e}")))?;
        let line = record.position().map(|p| p.line()).unwrap_or(n as u64 + 1);
        if n == 0 && record.get(0).is_some_and(|c| c.eq_ignore_ascii_case("email")) {
            continue;
        }
        if record.iter().all(str::is_empty) {
            continue;
        }
        if record.len() > 5 {
            return Err(invalid(
                "csv",
                format!("line {line}: at most 5 columns (email, role, groups, threads, message)"),
            ));
        }
        if rows.len() == max_rows {
            return Err(invalid("csv", format!("at most {max_rows} addresses per upload")));
        }
        rows.push(CsvRow {
            line,
            email: record.get(0).unwrap_or("").to_owned(),
            role: record.get(1).filter(|r| !r.is_empty()).unwrap_or("member").to_owned(),
            groups: split(record.get(2)),
            threads: split(record.get(3)),
            message: record.get(4).unwrap_or("").to_owned(),
        });
    }
    if rows.is_empty() {
        return Err(invalid("csv", "no addresses: one line per address, `email,role,groups,threads,message`"));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_lines_with_header_quotes_and_lists() {
        let text = "email,role,groups,threads,message\n\
                    ann@client.test,lite,Client group;123,Launch,\"Hi Ann, welcome\"\n\
                    \n\
                    bob@client.test,,,,\n";
        let rows = parse_csv(text, 10).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].email, "ann@client.test");
        assert_eq!(rows[0].role, "lite");
        assert_eq!(rows[0].groups, vec!["Client group".to_owned(), "123".to_owned()]);
        assert_eq!(rows[0].threads, vec!["Launch".to_owned()]);
        assert_eq!(rows[0].message, "Hi Ann, welcome");
        assert_eq!(rows[1].role, "member", "the role defaults to member");
        assert!(rows[1].groups.is_empty());
    }

    #[test]
    fn csv_refuses_what_it_cannot_read() {
        assert!(parse_csv("", 10).is_err(), "empty");
        assert!(parse_csv("email\n", 10).is_err(), "a header only");
        assert!(parse_csv("a@b.c,lite,,,,extra\n", 10).is_err(), "too many columns");
        assert!(parse_csv("a@b.c\nb@b.c\nc@b.c\n", 2).is_err(), "too many lines");
    }

    #[test]
    fn notes_keep_line_breaks_and_refuse_control_characters() {
        assert_eq!(note("m", Some("  Hello\r\nthere  ")).unwrap(), "Hello\nthere");
        assert!(note("m", Some("bell\u{7}")).is_err());
        assert!(note("m", Some(&"x".repeat(1001))).is_err());
        assert_eq!(note("m", None).unwrap(), "");
    }
}
