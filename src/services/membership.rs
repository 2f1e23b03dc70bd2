//! The gate: the one place that answers "may this account see that?". Handlers and other
//! services ask here and never read membership tables themselves. Anything the caller
//! may not see is reported as `NotFound`, exactly like something that does not exist.
//!
//! The access rule (DESIGN.md, invariant 1): an account sees a conversation if and only
//! if it is a direct participant, or a member of a group the conversation is addressed to
//! (a group's own chat is addressed to the group). Workspace roles never widen it: an
//! admin does not read a thread they are not in. Roles only narrow what a viewer may do
//! (`lite` reads and never writes).
//!
//! Every answer comes from the database, so a removal is effective the moment its
//! transaction commits. The only in-memory view of access is the hub's subscriptions,
//! which decide deliveries and which the bus trusts only while it is healthy (see
//! `bus/mod.rs`); no decision here is cached.

use std::sync::Arc;

use crate::domain::{AccountId, ConversationId, ConversationKind, Role, WorkspaceId};
use crate::services::{Error, Result};
use crate::store::{ConversationRow, Store};

/// Roles that manage a workspace's groups and moderate its conversations.
pub const MANAGERS: &[Role] = &[Role::Owner, Role::Admin, Role::Manager];
/// Roles that may start conversations and bring workspace people in.
pub const WRITERS: &[Role] = &[Role::Owner, Role::Admin, Role::Manager, Role::Member];

pub struct Membership {
    store: Arc<dyn Store>,
}

/// A conversation the caller can see, with their standing in its workspace.
#[derive(Debug, Clone)]
pub struct Access {
    pub conversation: ConversationRow,
    /// The caller's role in the conversation's workspace; `None`: they are external.
    pub role: Option<Role>,
}

impl Access {
    /// Refuses a write by a `lite` user, or in a locked conversation.
    pub fn require_write(&self) -> Result<()> {
        if self.role == Some(Role::Lite) {
            return Err(Error::ReadOnly);
        }
        if self.conversation.locked {
            return Err(Error::Locked);
        }
        Ok(())
    }

    /// Whether the caller moderates here (deletes others' messages).
    pub fn moderates(&self) -> bool {
        self.role.is_some_and(|r| MANAGERS.contains(&r))
    }

    /// Refuses changes to who a thread is addressed to, its subject or its state, unless
    /// the caller is a workspace member who may write.
    pub fn require_manage_thread(&self) -> Result<()> {
        match self.role {
            Some(Role::Lite) => Err(Error::ReadOnly),
            Some(_) => Ok(()),
            None => Err(Error::Forbidden("guests cannot change who a conversation includes")),
        }
    }
}

/// A group the caller may look at (a member, or a manager of its workspace).
#[derive(Debug, Clone)]
pub struct GroupAccess {
    pub group: ConversationRow,
    pub role: Option<Role>,
    pub is_member: bool,
}

impl GroupAccess {
    /// Managers manage any group of their workspace; members manage groups they are in.
    pub fn require_manage(&self) -> Result<()> {
        match self.role {
            Some(r) if MANAGERS.contains(&r) => Ok(()),
            Some(Role::Member) if self.is_member => Ok(()),
            Some(Role::Lite) => Err(Error::ReadOnly),
            _ => Err(Error::Forbidden("only the workspace's managers and the group's members manage a group")),
        }
    }
}

impl Membership {
    pub fn new(store: Arc<dyn Store>) -> Membership {
        Membership { store }
    }

    /// The caller's role in the workspace, or `NotFound` if they are not a member (or it
    /// does not exist: the two are indistinguishable).
    pub async fn workspace_role(&self, caller: AccountId, workspace: WorkspaceId) -> Result<Role> {
        self.store.member_role(workspace, caller).await?.ok_or(Error::NotFound)
    }

    /// Like [`Membership::workspace_role`], but also requires one of `allowed`; a member
    /// with another role gets `Forbidden` (`ReadOnly` for lite): they can see the
    /// workspace, so this is a refusal, not a not-found.
    pub async fn require_role(
        &self,
        caller: AccountId,
        workspace: WorkspaceId,
        allowed: &[Role],
        refusal: &'static str,
    ) -> Result<Role> {
        let role = self.workspace_role(caller, workspace).await?;
        if allowed.contains(&role) {
            Ok(role)
        } else if role == Role::Lite {
            Err(Error::ReadOnly)
        } else {
            Err(Error::Forbidden(refusal))
        }
    }

    /// Whether `account` can see the conversation (the access rule, nothing else).
    pub async fn can_see(&self, account: AccountId, conversation: ConversationId) -> Result<bool> {
        Ok(self.store.can_see(account, conversation).await?)
    }

    /// Every conversation `account` can see.
    pub async fn visible_ids(&self, account: AccountId) -> Result<Vec<ConversationId>> {
        Ok(self.store.visible_ids(account).await?)
    }

    /// The conversation, if the caller can see it; `NotFound` otherwise.
    pub async fn conversation(&self, caller: AccountId, id: ConversationId) -> Result<Access> {
        let (conversation, role) = self.store.access(caller, id).await?.ok_or(Error::NotFound)?;
        Ok(Access { conversation, role })
    }

    /// The group, if the caller is in it or manages its workspace; `NotFound` otherwise.
    pub async fn group(&self, caller: AccountId, id: ConversationId) -> Result<GroupAccess> {
        let group = self.store.conversation(id).await?.filter(|c| c.kind == ConversationKind::Group);
        let Some(group) = group else {
            return Err(Error::NotFound);
        };
        let is_member = self.store.is_group_member(id, caller).await?;
        let role = self.store.member_role(group.workspace_id, caller).await?;
        let manages = role.is_some_and(|r| MANAGERS.contains(&r));
        if !is_member && !manages {
            return Err(Error::NotFound);
        }
        Ok(GroupAccess { group, role, is_member })
    }
}
