//! Conversations: groups (and their chats), threads, direct conversations, who each is
//! addressed to, the caller's list of conversations, contacts and profiles.
//!
//! Who may do what:
//! - start a group or a thread: a workspace `owner`, `admin`, `manager` or `member`;
//! - manage a group (rename, archive, members): the workspace's owners, admins and
//!   managers, and `member`s who belong to the group;
//! - change a thread (subject, closed, recipients): any workspace member of it who may
//!   write; guests and `lite` users never bring people in;
//! - leave a thread one was added to directly: anyone;
//! - open a direct conversation: with a member of the workspace (for its members) or a
//!   contact there (for guests).
//!
//! Nobody addresses a conversation to a group they could not look at, and nothing here
//! reveals a conversation, group or person the caller may not see.

use std::collections::HashSet;
use std::sync::Arc;

use crate::bus::Bus;
use crate::crypto::random_id;
use crate::domain::{
    AccountId, AuditAction, ConversationId, ConversationKind, Invalid, Role, WorkspaceId, WorkspaceName, now_ms,
};
use crate::hub::Event;
use crate::services::membership::{Access, GroupAccess, MANAGERS, WRITERS};
use crate::services::{Error, Membership, Result};
use crate::store::{
    AuditRow, ConversationRow, ConversationSummary, GroupRow, InvitationRow, MessageRow, NewAudit, NewConversation,
    PersonRow, Store, StoreError,
};
use salon_protocol::gateway::ServerFrame;

/// Most recipients one thread can be created with, or a group with.
const MAX_RECIPIENTS: usize = 500;

/// One group or one account a thread is addressed to.
#[derive(Debug, Clone, Copy)]
pub enum Recipient {
    Group(ConversationId),
    Account(AccountId),
}

pub struct Conversations {
    store: Arc<dyn Store>,
    membership: Arc<Membership>,
    bus: Arc<Bus>,
}

pub(crate) type AccessSet = HashSet<(AccountId, ConversationId)>;

/// Who can see a conversation: direct participants, the groups that grant access with
/// their members, and the addresses invited that have not signed up yet.
pub type AudienceRows = (Vec<PersonRow>, Vec<(GroupRow, Vec<PersonRow>)>, Vec<InvitationRow>);

fn subject(raw: &str) -> Result<String> {
    let trimmed = raw.trim();
    if trimmed.is_empty() || trimmed.chars().count() > 200 || trimmed.chars().any(char::is_control) {
        return Err(Invalid {
            field: "subject",
            message: "must be 1 to 200 characters without control characters".into(),
        }
        .into());
    }
    Ok(trimmed.to_owned())
}

fn too_many(field: &'static str) -> Error {
    Invalid { field, message: format!("at most {MAX_RECIPIENTS}") }.into()
}

impl Conversations {
    pub fn new(store: Arc<dyn Store>, membership: Arc<Membership>, bus: Arc<Bus>) -> Conversations {
        Conversations { store, membership, bus }
    }

    /// Which of `accounts` can see which of `conversations`, now.
    pub(crate) async fn access_set(
        &self,
        accounts: &[AccountId],
        conversations: &[ConversationId],
    ) -> Result<AccessSet> {
        let mut set = HashSet::new();
        for &a in accounts {
            for &c in conversations {
                if self.membership.can_see(a, c).await? {
                    set.insert((a, c));
                }
            }
        }
        Ok(set)
    }

    /// Tells the sockets who gained and who lost access between two snapshots taken
    /// around a change. Revocations are complete, on every node, when this returns.
    pub(crate) async fn announce_access(&self, before: &AccessSet, after: &AccessSet) -> Result<()> {
        let lost: Vec<(AccountId, ConversationId)> = before.difference(after).copied().collect();
        for &(a, c) in after.difference(before) {
            self.bus.grant(a, c);
        }
        self.bus.revoke(&lost).await?;
        Ok(())
    }

    /// Everyone who can see a new conversation gets it live.
    async fn announce_new(&self, conversation: ConversationId) -> Result<()> {
        let (participants, groups) = self.store.audience(conversation).await?;
        let mut everyone: HashSet<AccountId> = participants.iter().map(|p| p.account_id).collect();
        for (_, members) in &groups {
            everyone.extend(members.iter().map(|m| m.account_id));
        }
        for account in everyone {
            self.bus.grant(account, conversation);
        }
        Ok(())
    }

    async fn announce_update(&self, conversation: ConversationId) -> Result<()> {
        let row = self.store.conversation(conversation).await?.ok_or(Error::NotFound)?;
        let frame = ServerFrame::ConversationUpdated { conversation_id: row.id, title: row.title, locked: row.locked };
        self.bus.publish(conversation, Event::new(Some(conversation), None, &frame));
        Ok(())
    }

    /// `NotFound` unless the account exists. (Ids are random: this reveals nothing.)
    async fn require_account(&self, id: AccountId) -> Result<()> {
        self.store.account_by_id(id).await?.map(|_| ()).ok_or(Error::NotFound)
    }

    /// The audit entry just written: a removal's receipt.
    async fn receipt(&self, audit: &NewAudit) -> Result<AuditRow> {
        let row = self.store.audit_entry(audit.id).await?;
        row.ok_or(Error::Internal(StoreError::NotFound))
    }

    // -------------------------------------------------------------------------------------
    // Groups

    pub async fn create_group(
        &self,
        caller: AccountId,
        workspace: WorkspaceId,
        name: &str,
        members: &[AccountId],
    ) -> Result<GroupRow> {
        let name = WorkspaceName::parse("name", name)?;
        if members.len() > MAX_RECIPIENTS {
            return Err(too_many("members"));
        }
        self.membership.require_role(caller, workspace, WRITERS, "only workspace members create groups").await?;
        let mut all: Vec<AccountId> = vec![caller];
        for m in members {
            if !all.contains(m) {
                self.require_account(*m).await?;
                all.push(*m);
            }
        }
        let id = ConversationId(random_id());
        let audit: Vec<NewAudit> = all
            .iter()
            .map(|&m| NewAudit::new(workspace, caller, AuditAction::GroupMemberAdded).account(m).conversation(id))
            .collect();
        let group = self
            .store
            .create_conversation(
                NewConversation {
                    id,
                    workspace_id: workspace,
                    kind: ConversationKind::Group,
                    title: name.as_str().to_owned(),
                    created_by: caller,
                    created_at: now_ms(),
                    direct_key: None,
                    groups: vec![id],
                    participants: vec![],
                    members: all.clone(),
                },
                &audit,
            )
            .await?;
        self.announce_new(id).await?;
        Ok(GroupRow { group, member_count: all.len() as i64 })
    }

    /// Groups the caller may look at: all of the workspace's for its managers, the ones
    /// they belong to for everyone else. `(group, caller is a member)`.
    pub async fn list_groups(&self, caller: AccountId, workspace: WorkspaceId) -> Result<Vec<(GroupRow, bool)>> {
        let role = self.membership.workspace_role(caller, workspace).await?;
        let mut out = Vec::new();
        for g in self.store.groups_of_workspace(workspace).await? {
            let is_member = self.store.is_group_member(g.group.id, caller).await?;
            if is_member || MANAGERS.contains(&role) {
                out.push((g, is_member));
            }
        }
        Ok(out)
    }

    pub async fn group(&self, caller: AccountId, id: ConversationId) -> Result<(GroupRow, bool)> {
        let access = self.membership.group(caller, id).await?;
        let count = self.store.group_members(id).await?.len() as i64;
        Ok((GroupRow { group: access.group, member_count: count }, access.is_member))
    }

    pub async fn update_group(
        &self,
        caller: AccountId,
        id: ConversationId,
        name: Option<&str>,
        archived: Option<bool>,
    ) -> Result<(GroupRow, bool)> {
        let name = name.map(|n| WorkspaceName::parse("name", n)).transpose()?;
        self.membership.group(caller, id).await?.require_manage()?;
        self.store.update_conversation(id, name.as_ref().map(|n| n.as_str()), archived).await?;
        self.announce_update(id).await?;
        self.group(caller, id).await
    }

    /// The group's members and, for workspace members, the addresses invited into it
    /// that have not signed up yet.
    pub async fn group_members(
        &self,
        caller: AccountId,
        id: ConversationId,
    ) -> Result<(Vec<PersonRow>, Vec<InvitationRow>)> {
        let access = self.membership.group(caller, id).await?;
        let invited = self.pending_people(access.role, id).await?;
        Ok((self.store.group_members(id).await?, invited))
    }

    /// Addresses invited to a conversation and not signed up yet: shown to the
    /// workspace's members only (never to guests, who must not learn addresses).
    async fn pending_people(&self, role: Option<Role>, id: ConversationId) -> Result<Vec<InvitationRow>> {
        if role.is_none() {
            return Ok(vec![]);
        }
        Ok(self.store.pending_for_conversation(id, now_ms()).await?)
    }

    /// Adds an account (a member of the workspace or a contact of the caller, picked by
    /// name) to a group. Managers who are not in the group may add others but not
    /// themselves: that would let an admin read threads they were never addressed.
    pub async fn add_group_member(&self, caller: AccountId, id: ConversationId, account: AccountId) -> Result<()> {
        let access = self.membership.group(caller, id).await?;
        access.require_manage()?;
        if account == caller && !access.is_member {
            return Err(Error::Forbidden("ask a member of the group to add you"));
        }
        self.require_account(account).await?;
        self.grant_group(caller, &access, account).await.map(|_| ())
    }

    /// Makes `account` a member of the group `access` names (the caller may manage it),
    /// tells the sockets of what it gained; `false` if it was a member already.
    pub(crate) async fn grant_group(
        &self,
        caller: AccountId,
        access: &GroupAccess,
        account: AccountId,
    ) -> Result<bool> {
        let id = access.group.id;
        let reached = self.store.conversations_addressed_to(id).await?;
        let before = self.access_set(&[account], &reached).await?;
        let audit = NewAudit::new(access.group.workspace_id, caller, AuditAction::GroupMemberAdded)
            .account(account)
            .conversation(id);
        let added = self.store.add_group_member(id, account, now_ms(), &audit).await?;
        let after = self.access_set(&[account], &reached).await?;
        self.announce_access(&before, &after).await?;
        Ok(added)
    }

    /// Removes `account` from the group; `account == caller` is leaving it. From the
    /// moment this returns, the account no longer sees anything it saw only through the
    /// group. Returns the audit entry: the removal's receipt.
    pub async fn remove_group_member(
        &self,
        caller: AccountId,
        id: ConversationId,
        account: AccountId,
    ) -> Result<AuditRow> {
        let access: GroupAccess = self.membership.group(caller, id).await?;
        if account != caller {
            access.require_manage()?;
        }
        let reached = self.store.conversations_addressed_to(id).await?;
        let before = self.access_set(&[account], &reached).await?;
        let audit = NewAudit::new(access.group.workspace_id, caller, AuditAction::GroupMemberRemoved)
            .account(account)
            .conversation(id);
        if !self.store.remove_group_member(id, account, &audit).await? {
            return Err(Error::NotFound);
        }
        let after = self.access_set(&[account], &reached).await?;
        self.announce_access(&before, &after).await?;
        self.receipt(&audit).await
    }

    // -------------------------------------------------------------------------------------
    // Threads and direct conversations

    /// Checks that the caller may address a conversation to `group`: it belongs to the
    /// workspace and the caller is in it or manages the workspace.
    async fn addressable_group(&self, caller: AccountId, workspace: WorkspaceId, group: ConversationId) -> Result<()> {
        let access = self.membership.group(caller, group).await?;
        if access.group.workspace_id != workspace {
            return Err(Error::NotFound);
        }
        Ok(())
    }

    pub async fn create_thread(
        &self,
        caller: AccountId,
        workspace: WorkspaceId,
        subject_raw: &str,
        groups: &[ConversationId],
        accounts: &[AccountId],
    ) -> Result<ConversationRow> {
        let title = subject(subject_raw)?;
        if groups.len() > MAX_RECIPIENTS {
            return Err(too_many("groups"));
        }
        if accounts.len() > MAX_RECIPIENTS {
            return Err(too_many("accounts"));
        }
        self.membership.require_role(caller, workspace, WRITERS, "only workspace members start threads").await?;
        let groups: Vec<ConversationId> = groups.iter().copied().collect::<HashSet<_>>().into_iter().collect();
        for g in &groups {
            self.addressable_group(caller, workspace, *g).await?;
        }
        let mut participants = vec![caller];
        for a in accounts {
            if !participants.contains(a) {
                self.require_account(*a).await?;
                participants.push(*a);
            }
        }
        let id = ConversationId(random_id());
        let mut audit: Vec<NewAudit> = participants
            .iter()
            .map(|&p| NewAudit::new(workspace, caller, AuditAction::ParticipantAdded).account(p).conversation(id))
            .collect();
        audit.extend(groups.iter().map(|&g| {
            NewAudit::new(workspace, caller, AuditAction::GroupAddressed)
                .conversation(id)
                .detail(serde_json::json!({"group_id": g.to_string()}))
        }));
        let created = self
            .store
            .create_conversation(
                NewConversation {
                    id,
                    workspace_id: workspace,
                    kind: ConversationKind::Thread,
                    title,
                    created_by: caller,
                    created_at: now_ms(),
                    direct_key: None,
                    groups,
                    participants,
                    members: vec![],
                },
                &audit,
            )
            .await?;
        self.announce_new(created.id).await?;
        Ok(created)
    }

    /// Opens the direct conversation between the caller and `other` in the workspace,
    /// creating it the first time.
    pub async fn open_direct(
        &self,
        caller: AccountId,
        workspace: WorkspaceId,
        other: AccountId,
    ) -> Result<ConversationRow> {
        if other == caller {
            return Err(Invalid { field: "account_id", message: "cannot be yourself".into() }.into());
        }
        let my_role = self.store.member_role(workspace, caller).await?;
        let their_role = self.store.member_role(workspace, other).await?;
        let contacts = || async {
            Ok::<bool, Error>(self.store.contacts(caller, Some(workspace)).await?.iter().any(|(id, _)| *id == other))
        };
        match my_role {
            Some(Role::Lite) => return Err(Error::ReadOnly),
            // A member may write to any other member, or to a guest they share a
            // conversation with.
            Some(_) if their_role.is_some() || contacts().await? => {}
            // A guest writes only to contacts, and only in a workspace where they have one.
            None if contacts().await? => {}
            _ => return Err(Error::NotFound),
        }
        let (low, high) = if caller < other { (caller, other) } else { (other, caller) };
        let key = format!("{workspace}:{low}:{high}");
        if let Some(existing) = self.store.direct_conversation(&key).await? {
            return Ok(existing);
        }
        let created = self
            .store
            .create_conversation(
                NewConversation {
                    id: ConversationId(random_id()),
                    workspace_id: workspace,
                    kind: ConversationKind::Direct,
                    title: String::new(),
                    created_by: caller,
                    created_at: now_ms(),
                    direct_key: Some(key.clone()),
                    groups: vec![],
                    participants: vec![caller, other],
                    members: vec![],
                },
                &[],
            )
            .await;
        match created {
            Ok(row) => {
                self.announce_new(row.id).await?;
                Ok(row)
            }
            // Both opened it at once: the other call created it.
            Err(StoreError::AlreadyExists) => self.store.direct_conversation(&key).await?.ok_or(Error::NotFound),
            Err(e) => Err(e.into()),
        }
    }

    pub(crate) async fn thread(&self, caller: AccountId, id: ConversationId) -> Result<Access> {
        let access = self.membership.conversation(caller, id).await?;
        if access.conversation.kind != ConversationKind::Thread {
            return Err(Error::Forbidden("only threads have a subject and recipients to change"));
        }
        Ok(access)
    }

    pub async fn update_thread(
        &self,
        caller: AccountId,
        id: ConversationId,
        subject_raw: Option<&str>,
        locked: Option<bool>,
    ) -> Result<()> {
        let title = subject_raw.map(subject).transpose()?;
        self.thread(caller, id).await?.require_manage_thread()?;
        self.store.update_conversation(id, title.as_deref(), locked).await?;
        self.announce_update(id).await
    }

    pub async fn add_recipient(&self, caller: AccountId, id: ConversationId, recipient: Recipient) -> Result<()> {
        let access = self.thread(caller, id).await?;
        access.require_manage_thread()?;
        match recipient {
            Recipient::Group(group) => {
                self.addressable_group(caller, access.conversation.workspace_id, group).await?;
                let accounts: Vec<AccountId> =
                    self.store.group_members(group).await?.into_iter().map(|p| p.account_id).collect();
                let before = self.access_set(&accounts, &[id]).await?;
                let audit = NewAudit::new(access.conversation.workspace_id, caller, AuditAction::GroupAddressed)
                    .conversation(id)
                    .detail(serde_json::json!({"group_id": group.to_string()}));
                self.store.add_conversation_group(id, group, &audit).await?;
                let after = self.access_set(&accounts, &[id]).await?;
                self.announce_access(&before, &after).await?;
            }
            Recipient::Account(account) => {
                self.require_account(account).await?;
                self.grant_thread(caller, &access, account).await?;
            }
        }
        Ok(())
    }

    /// Addresses the thread `access` names (the caller may manage it) to `account`
    /// directly and tells its sockets; `false` if it was addressed already.
    pub(crate) async fn grant_thread(&self, caller: AccountId, access: &Access, account: AccountId) -> Result<bool> {
        let id = access.conversation.id;
        let before = self.access_set(&[account], &[id]).await?;
        let audit = NewAudit::new(access.conversation.workspace_id, caller, AuditAction::ParticipantAdded)
            .account(account)
            .conversation(id);
        let added = self.store.add_participant(id, account, now_ms(), &audit).await?;
        let after = self.access_set(&[account], &[id]).await?;
        self.announce_access(&before, &after).await?;
        Ok(added)
    }

    /// Takes a group or an account off a thread. Anyone may take themselves off; access
    /// that remains through another path (a group) stays. Returns the audit entry: the
    /// removal's receipt.
    pub async fn remove_recipient(
        &self,
        caller: AccountId,
        id: ConversationId,
        recipient: Recipient,
    ) -> Result<AuditRow> {
        let access = self.thread(caller, id).await?;
        let ws = access.conversation.workspace_id;
        let accounts = match recipient {
            Recipient::Group(group) => {
                self.store.group_members(group).await?.into_iter().map(|p| p.account_id).collect()
            }
            Recipient::Account(account) => vec![account],
        };
        // An account removed as a participant saw the conversation before (a participant
        // sees it; if it was none, nothing is removed and nothing announced): only a
        // group's members need asking. One round trip fewer on the way to the revocation
        // a removal waits for.
        let before = match recipient {
            Recipient::Group(_) => self.access_set(&accounts, &[id]).await?,
            Recipient::Account(account) => AccessSet::from([(account, id)]),
        };
        let (removed, audit) = match recipient {
            Recipient::Account(account) => {
                if account != caller {
                    access.require_manage_thread()?;
                }
                let audit =
                    NewAudit::new(ws, caller, AuditAction::ParticipantRemoved).account(account).conversation(id);
                (self.store.remove_participant(id, account, &audit).await?, audit)
            }
            Recipient::Group(group) => {
                access.require_manage_thread()?;
                let audit = NewAudit::new(ws, caller, AuditAction::GroupUnaddressed)
                    .conversation(id)
                    .detail(serde_json::json!({"group_id": group.to_string()}));
                (self.store.remove_conversation_group(id, group, &audit).await?, audit)
            }
        };
        if !removed {
            return Err(Error::NotFound);
        }
        let after = self.access_set(&accounts, &[id]).await?;
        self.announce_access(&before, &after).await?;
        self.receipt(&audit).await
    }

    // -------------------------------------------------------------------------------------
    // Reading

    /// The caller's conversations with their reading state, newest activity first, and
    /// the newest message of each.
    pub async fn list(&self, caller: AccountId) -> Result<(Vec<ConversationSummary>, Vec<MessageRow>)> {
        let summaries = self.store.visible_conversations(caller).await?;
        let ids: Vec<ConversationId> = summaries.iter().map(|s| s.conversation.id).collect();
        let last = self.store.last_messages(&ids).await?;
        Ok((summaries, last))
    }

    /// One conversation with the caller's reading state.
    pub async fn summary(
        &self,
        caller: AccountId,
        id: ConversationId,
    ) -> Result<(ConversationSummary, Option<MessageRow>)> {
        self.membership.conversation(caller, id).await?;
        let summary = self.store.conversation_summary(caller, id).await?.ok_or(Error::NotFound)?;
        let last = self.store.last_messages(&[id]).await?.into_iter().next();
        Ok((summary, last))
    }

    /// Who can see the conversation: its direct participants and the groups that grant
    /// access, with their members.
    pub async fn audience(&self, caller: AccountId, id: ConversationId) -> Result<AudienceRows> {
        let access = self.membership.conversation(caller, id).await?;
        let (mut participants, groups) = self.store.audience(id).await?;
        let invited = self.pending_people(access.role, id).await?;
        // A group's chat lists its members as participants; its one group is itself.
        if access.conversation.kind == ConversationKind::Group {
            let members = groups.into_iter().next().map(|(_, m)| m).unwrap_or_default();
            return Ok((members, vec![], invited));
        }
        if access.role.is_some() {
            return Ok((participants, groups, invited));
        }
        // A guest never learns the names of the workspace's groups it is not in: the people
        // those groups bring are shown as participants.
        let mut shown = Vec::new();
        for (group, members) in groups {
            if members.iter().any(|m| m.account_id == caller) {
                shown.push((group, members));
            } else {
                for m in members {
                    if !participants.iter().any(|p| p.account_id == m.account_id) {
                        participants.push(m);
                    }
                }
            }
        }
        participants.sort_by(|a, b| a.display_name.cmp(&b.display_name).then(a.account_id.cmp(&b.account_id)));
        Ok((participants, shown, invited))
    }

    pub async fn contacts(&self, caller: AccountId) -> Result<Vec<(AccountId, String)>> {
        Ok(self.store.contacts(caller, None).await?)
    }

    /// A person's public profile, if the caller shares a workspace or a conversation
    /// with them (or is them); `NotFound` otherwise.
    pub async fn profile(&self, caller: AccountId, id: AccountId) -> Result<(AccountId, String)> {
        let account = self.store.account_by_id(id).await?.ok_or(Error::NotFound)?;
        let visible = id == caller || self.shares_workspace(caller, id).await? || self.is_contact(caller, id).await?;
        if !visible {
            return Err(Error::NotFound);
        }
        Ok((account.id, account.display_name))
    }

    async fn shares_workspace(&self, a: AccountId, b: AccountId) -> Result<bool> {
        for (ws, _) in self.store.workspaces_of(a).await? {
            if self.store.member_role(ws.id, b).await?.is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    async fn is_contact(&self, a: AccountId, b: AccountId) -> Result<bool> {
        Ok(self.store.contacts(a, None).await?.iter().any(|(id, _)| *id == b))
    }
}
