//! The gate: the one place that answers "may this account see that?". Handlers and other
//! services ask here and never read membership tables themselves. Anything the caller
//! may not see is reported as `NotFound`, exactly like something that does not exist.
//!
//! Today it knows workspaces; conversations (groups, threads) join it next, with the
//! membership cache in front of the store.

use std::sync::Arc;

use crate::domain::{AccountId, Role, WorkspaceId};
use crate::services::{Error, Result};
use crate::store::Store;

pub struct Membership {
    store: Arc<dyn Store>,
}

impl Membership {
    pub fn new(store: Arc<dyn Store>) -> Membership {
        Membership { store }
    }

    /// The caller's role in the workspace, or `NotFound` if they are not a member (or it
    /// does not exist: the two are indistinguishable).
    pub async fn workspace_role(&self, caller: AccountId, workspace: WorkspaceId) -> Result<Role> {
        self.store
            .member_role(workspace, caller)
            .await?
            .ok_or(Error::NotFound)
    }

    /// Like [`Membership::workspace_role`], but also requires one of `allowed`; a member
    /// with another role gets `Forbidden` (they can see the workspace, so this is a
    /// refusal, not a not-found).
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
        } else {
            Err(Error::Forbidden(refusal))
        }
    }
}
