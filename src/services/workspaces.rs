//! Workspaces: create, rename, list, members and their roles, the seat limit.
//!
//! Who may do what: anyone signed in creates a workspace and becomes its owner; owners
//! and admins rename it and change roles; only owners grant, change or remove the
//! `owner` role and set the seat limit; anyone may leave, except the last owner. The
//! seat and last-owner rules are checked by the store inside the writing transaction, so
//! they hold under concurrent calls.

use std::sync::Arc;

use crate::config::Config;
use crate::crypto::random_id;
use crate::domain::{AccountId, Role, WorkspaceId, WorkspaceName, now_ms};
use crate::hub::Hub;
use crate::services::{Error, Membership, Result};
use crate::store::{MemberRow, PersonRow, Store, WorkspaceRow};

const MANAGE_ROLES: &[Role] = &[Role::Owner, Role::Admin];

pub struct Workspaces {
    store: Arc<dyn Store>,
    membership: Arc<Membership>,
    default_seat_limit: u32,
    hub: Arc<Hub>,
}

impl Workspaces {
    pub fn new(config: &Config, store: Arc<dyn Store>, membership: Arc<Membership>, hub: Arc<Hub>) -> Workspaces {
        Workspaces { store, membership, default_seat_limit: config.workspaces.default_seat_limit, hub }
    }

    pub async fn create(&self, caller: AccountId, name: &str) -> Result<(WorkspaceRow, Role)> {
        let name = WorkspaceName::parse("name", name)?;
        let row = self
            .store
            .create_workspace(WorkspaceId(random_id()), &name, caller, self.default_seat_limit, now_ms())
            .await?;
        tracing::info!(workspace_id = %row.id, "workspace created");
        Ok((row, Role::Owner))
    }

    pub async fn list(&self, caller: AccountId) -> Result<Vec<(WorkspaceRow, Role)>> {
        Ok(self.store.workspaces_of(caller).await?)
    }

    pub async fn get(&self, caller: AccountId, id: WorkspaceId) -> Result<(WorkspaceRow, Role)> {
        let role = self.membership.workspace_role(caller, id).await?;
        let row = self.store.workspace(id).await?.ok_or(Error::NotFound)?;
        Ok((row, role))
    }

    /// Renames (owner, admin) and/or sets the seat limit (owner).
    pub async fn update(
        &self,
        caller: AccountId,
        id: WorkspaceId,
        name: Option<&str>,
        seat_limit: Option<u32>,
    ) -> Result<(WorkspaceRow, Role)> {
        let name = name.map(|n| WorkspaceName::parse("name", n)).transpose()?;
        if let Some(limit) = seat_limit
            && !(1..=1_000_000).contains(&limit)
        {
            return Err(crate::domain::Invalid {
                field: "seat_limit",
                message: "must be between 1 and 1000000".into(),
            }
            .into());
        }
        let role =
            self.membership.require_role(caller, id, MANAGE_ROLES, "only owners and admins change a workspace").await?;
        if seat_limit.is_some() && role != Role::Owner {
            return Err(Error::Forbidden("only owners change the seat limit"));
        }
        if let Some(limit) = seat_limit {
            self.store.set_seat_limit(id, limit).await?;
        }
        if let Some(name) = &name {
            self.store.rename_workspace(id, name).await?;
        }
        self.get(caller, id).await
    }

    /// The workspace's members, and the guests of the conversations the caller can see
    /// (people in them who are not members). Only members see this directory.
    pub async fn members(&self, caller: AccountId, id: WorkspaceId) -> Result<(Vec<MemberRow>, Vec<PersonRow>)> {
        self.membership.workspace_role(caller, id).await?;
        Ok((self.store.members(id).await?, self.store.externals_of_workspace(id, caller).await?))
    }

    pub async fn change_role(&self, caller: AccountId, id: WorkspaceId, target: AccountId, role: Role) -> Result<()> {
        let mine =
            self.membership.require_role(caller, id, MANAGE_ROLES, "only owners and admins change roles").await?;
        self.store.change_role(id, target, role, mine == Role::Owner).await?;
        tracing::info!(workspace_id = %id, account_id = %target, role = role.as_str(), "role changed");
        Ok(())
    }

    /// Removes `target` from the workspace; `target == caller` is leaving.
    pub async fn remove_member(&self, caller: AccountId, id: WorkspaceId, target: AccountId) -> Result<()> {
        let mine = if caller == target {
            self.membership.workspace_role(caller, id).await?
        } else {
            self.membership.require_role(caller, id, MANAGE_ROLES, "only owners and admins remove people").await?
        };
        let may_change_owner = mine == Role::Owner;
        self.store.remove_member(id, target, may_change_owner).await?;
        // Leaving the workspace is leaving all of its conversations: the sockets are told
        // before this returns. Read after the commit, so a grant racing the removal is
        // revoked too.
        for conversation in self.store.workspace_conversations(id).await? {
            self.hub.revoke(target, conversation);
        }
        tracing::info!(workspace_id = %id, account_id = %target, "member removed");
        Ok(())
    }

    /// Adds an existing account with a role. Not reachable over HTTP yet: invitations
    /// (which never reveal whether an address has an account) will call it.
    pub async fn add_member(&self, id: WorkspaceId, account: AccountId, role: Role) -> Result<()> {
        self.store.add_member(id, account, role, now_ms()).await?;
        Ok(())
    }
}
