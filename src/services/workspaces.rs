//! Workspaces: create, rename, list, members and their roles, the seat limit.
//!
//! Who may do what: anyone signed in creates a workspace and becomes its owner; owners
//! and admins rename it and change roles; only owners grant, change or remove the
//! `owner` role and set the seat limit; anyone may leave, except the last owner. The
//! seat and last-owner rules are checked by the store inside the writing transaction, so
//! they hold under concurrent calls.

use std::sync::Arc;

use crate::bus::Bus;
use crate::config::Config;
use crate::crypto::random_id;
use crate::domain::{AccountId, AuditAction, Invalid, Role, WorkspaceId, WorkspaceName, now_ms};
use crate::services::membership::MANAGERS;
use crate::services::{Error, Membership, Result};
use crate::store::{AuditRow, InvitationRow, MemberRow, NewAudit, PersonRow, Store, StoreError, WorkspaceRow};

/// The largest page of the audit log one call returns.
pub const MAX_AUDIT_PAGE: i64 = 500;

const MANAGE_ROLES: &[Role] = &[Role::Owner, Role::Admin];

pub struct Workspaces {
    store: Arc<dyn Store>,
    membership: Arc<Membership>,
    default_seat_limit: u32,
    default_lite_grant_limit: u32,
    bus: Arc<Bus>,
}

/// A workspace's directory: its members, the guests of the conversations the caller can
/// see, and (for its owners, admins and managers) the pending invitations.
pub type Directory = (Vec<MemberRow>, Vec<PersonRow>, Vec<InvitationRow>);

impl Workspaces {
    pub fn new(config: &Config, store: Arc<dyn Store>, membership: Arc<Membership>, bus: Arc<Bus>) -> Workspaces {
        Workspaces {
            store,
            membership,
            default_seat_limit: config.workspaces.default_seat_limit,
            default_lite_grant_limit: config.workspaces.default_lite_grant_limit,
            bus,
        }
    }

    pub async fn create(&self, caller: AccountId, name: &str) -> Result<(WorkspaceRow, Role)> {
        let name = WorkspaceName::parse("name", name)?;
        let row = self
            .store
            .create_workspace(
                WorkspaceId(random_id()),
                &name,
                caller,
                self.default_seat_limit,
                self.default_lite_grant_limit,
                now_ms(),
            )
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

    /// Renames (owner, admin) and/or sets the seat limit and lite grant limit (owner).
    pub async fn update(
        &self,
        caller: AccountId,
        id: WorkspaceId,
        name: Option<&str>,
        seat_limit: Option<u32>,
        lite_grant_limit: Option<u32>,
    ) -> Result<(WorkspaceRow, Role)> {
        let name = name.map(|n| WorkspaceName::parse("name", n)).transpose()?;
        if let Some(limit) = seat_limit
            && !(1..=1_000_000).contains(&limit)
        {
            return Err(Invalid { field: "seat_limit", message: "must be between 1 and 1000000".into() }.into());
        }
        if let Some(limit) = lite_grant_limit
            && !(1..=1000).contains(&limit)
        {
            return Err(Invalid { field: "lite_grant_limit", message: "must be between 1 and 1000".into() }.into());
        }
        let role =
            self.membership.require_role(caller, id, MANAGE_ROLES, "only owners and admins change a workspace").await?;
        if (seat_limit.is_some() || lite_grant_limit.is_some()) && role != Role::Owner {
            return Err(Error::Forbidden("only owners change the seat limit and the lite grant limit"));
        }
        if let Some(limit) = seat_limit {
            self.store.set_seat_limit(id, limit).await?;
        }
        if let Some(limit) = lite_grant_limit {
            self.store.set_lite_grant_limit(id, limit).await?;
        }
        if let Some(name) = &name {
            self.store.rename_workspace(id, name).await?;
        }
        self.get(caller, id).await
    }

    /// The workspace's members, the guests of the conversations the caller can see
    /// (people in them who are not members) and, for those who invite, the invited users.
    /// Only members see this directory.
    pub async fn members(&self, caller: AccountId, id: WorkspaceId) -> Result<Directory> {
        let role = self.membership.workspace_role(caller, id).await?;
        let invited = if MANAGERS.contains(&role) {
            self.store.workspace_invitations(id, true).await?.into_iter().filter(|i| i.role.is_some()).collect()
        } else {
            vec![]
        };
        Ok((self.store.members(id).await?, self.store.externals_of_workspace(id, caller).await?, invited))
    }

    pub async fn change_role(&self, caller: AccountId, id: WorkspaceId, target: AccountId, role: Role) -> Result<()> {
        let mine =
            self.membership.require_role(caller, id, MANAGE_ROLES, "only owners and admins change roles").await?;
        let from = self.store.member_role(id, target).await?.ok_or(Error::NotFound)?;
        let audit = NewAudit::new(id, caller, AuditAction::RoleChanged)
            .account(target)
            .detail(serde_json::json!({"from": from.as_str(), "to": role.as_str()}));
        self.store.change_role(id, target, role, mine == Role::Owner, &audit).await?;
        tracing::info!(workspace_id = %id, account_id = %target, role = role.as_str(), "role changed");
        Ok(())
    }

    /// Removes `target` from the workspace; `target == caller` is leaving. Returns the
    /// audit entry: the removal's receipt.
    pub async fn remove_member(&self, caller: AccountId, id: WorkspaceId, target: AccountId) -> Result<AuditRow> {
        let mine = if caller == target {
            self.membership.workspace_role(caller, id).await?
        } else {
            self.membership.require_role(caller, id, MANAGE_ROLES, "only owners and admins remove people").await?
        };
        let may_change_owner = mine == Role::Owner;
        let action = if caller == target { AuditAction::MemberLeft } else { AuditAction::MemberRemoved };
        let audit = NewAudit::new(id, caller, action).account(target);
        self.store.remove_member(id, target, may_change_owner, &audit).await?;
        // Leaving the workspace is leaving all of its conversations: the sockets are told
        // before this returns. Read after the commit, so a grant racing the removal is
        // revoked too.
        let lost: Vec<_> = self.store.workspace_conversations(id).await?.into_iter().map(|c| (target, c)).collect();
        self.bus.revoke(&lost).await?;
        tracing::info!(workspace_id = %id, account_id = %target, "member removed");
        self.store.audit_entry(audit.id).await?.ok_or(Error::Internal(StoreError::NotFound))
    }

    /// The workspace's audit log, newest first, for its owners and admins.
    pub async fn audit_log(
        &self,
        caller: AccountId,
        id: WorkspaceId,
        before: Option<i64>,
        limit: Option<i64>,
    ) -> Result<(Vec<AuditRow>, bool)> {
        let limit = limit.unwrap_or(100);
        if !(1..=MAX_AUDIT_PAGE).contains(&limit) {
            return Err(Invalid { field: "limit", message: format!("must be between 1 and {MAX_AUDIT_PAGE}") }.into());
        }
        self.membership.require_role(caller, id, MANAGE_ROLES, "only owners and admins read the audit log").await?;
        let mut rows = self.store.audit_entries(id, before, limit + 1).await?;
        let more = rows.len() as i64 > limit;
        rows.truncate(limit as usize);
        Ok((rows, more))
    }

    /// Adds an existing account with a role. Not reachable over HTTP yet: invitations
    /// (which never reveal whether an address has an account) will call it.
    pub async fn add_member(&self, id: WorkspaceId, account: AccountId, role: Role) -> Result<()> {
        self.store.add_member(id, account, role, now_ms()).await?;
        Ok(())
    }
}
