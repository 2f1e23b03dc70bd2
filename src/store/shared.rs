//! The portable SQL, written once and compiled into both backends: `sqlite.rs` and
//! `postgres.rs` each declare `mod shared` on this file, with `super::Db` naming their
//! sqlx database and `super::ThisStore` their store type. Only SQL that means the same on
//! SQLite and PostgreSQL belongs here (numbered `$n` parameters, `RETURNING`,
//! `ON CONFLICT`); anything else goes in the backend's own file.
//!
//! Transactions that must serialise against each other on one workspace first touch the
//! workspace's row (`lock_workspace`): on PostgreSQL that takes its row lock, on SQLite
//! all writes already go through one connection.

use async_trait::async_trait;
use sqlx::{Row, Transaction};

use super::{Db, ThisStore};
use crate::crypto::TokenHash;
use crate::domain::{AccountId, DisplayName, Email, Role, WorkspaceId, WorkspaceName};
use crate::store::{
    AccountRow, AccountStore, MailRow, MailStore, MemberRow, NewMail, NewSignup, Result,
    StoreError, WorkspaceRow, WorkspaceStore, parse_role,
};

type DbRow = <Db as sqlx::Database>::Row;

const ACCOUNT_COLUMNS: &str = "a.id, a.email, a.display_name, a.password_hash, a.created_at";

fn account(row: &DbRow) -> Result<AccountRow> {
    Ok(AccountRow {
        id: AccountId(row.try_get("id")?),
        email: Email::from_trusted(row.try_get("email")?),
        display_name: row.try_get("display_name")?,
        password_hash: row.try_get("password_hash")?,
        created_at: row.try_get("created_at")?,
    })
}

const WORKSPACE_COLUMNS: &str = "w.id, w.name, w.seat_limit, w.created_at, \
     (SELECT COUNT(*) FROM workspace_members s WHERE s.workspace_id = w.id AND s.role <> 'lite') AS seats_used";

fn workspace(row: &DbRow) -> Result<WorkspaceRow> {
    Ok(WorkspaceRow {
        id: WorkspaceId(row.try_get("id")?),
        name: row.try_get("name")?,
        seat_limit: row.try_get::<i64, _>("seat_limit")? as u32,
        seats_used: row.try_get::<i64, _>("seats_used")? as u32,
        created_at: row.try_get("created_at")?,
    })
}

/// Serialises writers on one workspace for the rest of the transaction; `NotFound` if
/// it does not exist.
async fn lock_workspace(tx: &mut Transaction<'_, Db>, id: WorkspaceId) -> Result<()> {
    let done = sqlx::query("UPDATE workspaces SET seat_limit = seat_limit WHERE id = $1")
        .bind(id.0)
        .execute(&mut **tx)
        .await?;
    if done.rows_affected() == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

async fn seats_used(tx: &mut Transaction<'_, Db>, id: WorkspaceId) -> Result<i64> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n FROM workspace_members WHERE workspace_id = $1 AND role <> 'lite'",
    )
    .bind(id.0)
    .fetch_one(&mut **tx)
    .await?;
    Ok(row.try_get("n")?)
}

async fn seat_limit(tx: &mut Transaction<'_, Db>, id: WorkspaceId) -> Result<i64> {
    let row = sqlx::query("SELECT seat_limit FROM workspaces WHERE id = $1")
        .bind(id.0)
        .fetch_one(&mut **tx)
        .await?;
    Ok(row.try_get("seat_limit")?)
}

async fn owners(tx: &mut Transaction<'_, Db>, id: WorkspaceId) -> Result<i64> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n FROM workspace_members WHERE workspace_id = $1 AND role = 'owner'",
    )
    .bind(id.0)
    .fetch_one(&mut **tx)
    .await?;
    Ok(row.try_get("n")?)
}

async fn role_in(
    tx: &mut Transaction<'_, Db>,
    ws: WorkspaceId,
    account: AccountId,
) -> Result<Option<Role>> {
    let row = sqlx::query(
        "SELECT role FROM workspace_members WHERE workspace_id = $1 AND account_id = $2",
    )
    .bind(ws.0)
    .bind(account.0)
    .fetch_optional(&mut **tx)
    .await?;
    row.map(|r| parse_role(&r.try_get::<String, _>("role")?))
        .transpose()
}

#[async_trait]
impl AccountStore for ThisStore {
    async fn create_signup(&self, s: NewSignup) -> Result<()> {
        sqlx::query(
            "INSERT INTO signups (token_hash, email, display_name, password_hash, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(s.token_hash.0)
        .bind(s.email.as_str())
        .bind(s.display_name.as_str())
        .bind(s.password_hash)
        .bind(s.created_at)
        .bind(s.expires_at)
        .execute(self.writer())
        .await?;
        Ok(())
    }

    async fn complete_signup(
        &self,
        token: &TokenHash,
        now: i64,
        new_id: AccountId,
    ) -> Result<Option<AccountRow>> {
        let mut tx = self.writer().begin().await?;
        let Some(signup) = sqlx::query(
            "DELETE FROM signups WHERE token_hash = $1 RETURNING email, display_name, password_hash, expires_at",
        )
        .bind(&token.0)
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(None);
        };
        if signup.try_get::<i64, _>("expires_at")? <= now {
            tx.commit().await?;
            return Ok(None);
        }
        let email: String = signup.try_get("email")?;
        let created = sqlx::query(
            "INSERT INTO accounts (id, email, display_name, password_hash, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (email) DO NOTHING RETURNING id",
        )
        .bind(new_id.0)
        .bind(&email)
        .bind(signup.try_get::<String, _>("display_name")?)
        .bind(signup.try_get::<String, _>("password_hash")?)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        if created.is_none() {
            tx.commit().await?;
            return Ok(None);
        }
        sqlx::query("DELETE FROM signups WHERE email = $1")
            .bind(&email)
            .execute(&mut *tx)
            .await?;
        let row = sqlx::query(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE a.id = $1"
        ))
        .bind(new_id.0)
        .fetch_one(&mut *tx)
        .await?;
        let account = account(&row)?;
        tx.commit().await?;
        Ok(Some(account))
    }

    async fn account_by_email(&self, email: &Email) -> Result<Option<AccountRow>> {
        let row = sqlx::query(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE a.email = $1"
        ))
        .bind(email.as_str())
        .fetch_optional(self.reader())
        .await?;
        row.as_ref().map(account).transpose()
    }

    async fn account_by_id(&self, id: AccountId) -> Result<Option<AccountRow>> {
        let row = sqlx::query(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE a.id = $1"
        ))
        .bind(id.0)
        .fetch_optional(self.reader())
        .await?;
        row.as_ref().map(account).transpose()
    }

    async fn set_display_name(&self, id: AccountId, name: &DisplayName) -> Result<()> {
        let done = sqlx::query("UPDATE accounts SET display_name = $1 WHERE id = $2")
            .bind(name.as_str())
            .bind(id.0)
            .execute(self.writer())
            .await?;
        if done.rows_affected() == 0 {
            Err(StoreError::NotFound)
        } else {
            Ok(())
        }
    }

    async fn set_password(
        &self,
        id: AccountId,
        password_hash: &str,
        keep: Option<&TokenHash>,
    ) -> Result<()> {
        let mut tx = self.writer().begin().await?;
        let done = sqlx::query("UPDATE accounts SET password_hash = $1 WHERE id = $2")
            .bind(password_hash)
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        // An empty digest matches no session, so `None` deletes them all.
        let keep = keep.map(|t| t.0.clone()).unwrap_or_default();
        sqlx::query("DELETE FROM sessions WHERE account_id = $1 AND token_hash <> $2")
            .bind(id.0)
            .bind(keep)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn create_session(
        &self,
        token: &TokenHash,
        account: AccountId,
        now: i64,
        expires_at: i64,
    ) -> Result<()> {
        sqlx::query("INSERT INTO sessions (token_hash, account_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(&token.0)
            .bind(account.0)
            .bind(now)
            .bind(expires_at)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    async fn session_account(&self, token: &TokenHash, now: i64) -> Result<Option<AccountRow>> {
        let row = sqlx::query(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM sessions s JOIN accounts a ON a.id = s.account_id \
             WHERE s.token_hash = $1 AND s.expires_at > $2"
        ))
        .bind(&token.0)
        .bind(now)
        .fetch_optional(self.reader())
        .await?;
        row.as_ref().map(account).transpose()
    }

    async fn delete_session(&self, token: &TokenHash) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(&token.0)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    async fn delete_sessions(&self, account: AccountId) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE account_id = $1")
            .bind(account.0)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    async fn create_reset(
        &self,
        token: &TokenHash,
        account: AccountId,
        now: i64,
        expires_at: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO password_resets (token_hash, account_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&token.0)
        .bind(account.0)
        .bind(now)
        .bind(expires_at)
        .execute(self.writer())
        .await?;
        Ok(())
    }

    async fn complete_reset(
        &self,
        token: &TokenHash,
        now: i64,
        password_hash: &str,
    ) -> Result<Option<AccountId>> {
        let mut tx = self.writer().begin().await?;
        let Some(reset) = sqlx::query(
            "DELETE FROM password_resets WHERE token_hash = $1 RETURNING account_id, expires_at",
        )
        .bind(&token.0)
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(None);
        };
        let account = AccountId(reset.try_get("account_id")?);
        if reset.try_get::<i64, _>("expires_at")? <= now {
            tx.commit().await?;
            return Ok(None);
        }
        sqlx::query("UPDATE accounts SET password_hash = $1 WHERE id = $2")
            .bind(password_hash)
            .bind(account.0)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM sessions WHERE account_id = $1")
            .bind(account.0)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM password_resets WHERE account_id = $1")
            .bind(account.0)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(account))
    }
}

#[async_trait]
impl WorkspaceStore for ThisStore {
    async fn create_workspace(
        &self,
        id: WorkspaceId,
        name: &WorkspaceName,
        owner: AccountId,
        seat_limit: u32,
        now: i64,
    ) -> Result<WorkspaceRow> {
        let mut tx = self.writer().begin().await?;
        sqlx::query(
            "INSERT INTO workspaces (id, name, seat_limit, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(id.0)
        .bind(name.as_str())
        .bind(i64::from(seat_limit))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO workspace_members (workspace_id, account_id, role, joined_at) VALUES ($1, $2, 'owner', $3)",
        )
        .bind(id.0)
        .bind(owner.0)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(WorkspaceRow {
            id,
            name: name.as_str().to_owned(),
            seat_limit,
            seats_used: 1,
            created_at: now,
        })
    }

    async fn workspace(&self, id: WorkspaceId) -> Result<Option<WorkspaceRow>> {
        let row = sqlx::query(&format!(
            "SELECT {WORKSPACE_COLUMNS} FROM workspaces w WHERE w.id = $1"
        ))
        .bind(id.0)
        .fetch_optional(self.reader())
        .await?;
        row.as_ref().map(workspace).transpose()
    }

    async fn workspaces_of(&self, account: AccountId) -> Result<Vec<(WorkspaceRow, Role)>> {
        let rows = sqlx::query(&format!(
            "SELECT {WORKSPACE_COLUMNS}, m.role FROM workspace_members m \
             JOIN workspaces w ON w.id = m.workspace_id WHERE m.account_id = $1 ORDER BY w.name, w.id"
        ))
        .bind(account.0)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| Ok((workspace(r)?, parse_role(&r.try_get::<String, _>("role")?)?)))
            .collect()
    }

    async fn member_role(
        &self,
        workspace: WorkspaceId,
        account: AccountId,
    ) -> Result<Option<Role>> {
        let row = sqlx::query(
            "SELECT role FROM workspace_members WHERE workspace_id = $1 AND account_id = $2",
        )
        .bind(workspace.0)
        .bind(account.0)
        .fetch_optional(self.reader())
        .await?;
        row.map(|r| parse_role(&r.try_get::<String, _>("role")?))
            .transpose()
    }

    async fn members(&self, workspace: WorkspaceId) -> Result<Vec<MemberRow>> {
        let rows = sqlx::query(
            "SELECT a.id, a.display_name, a.email, m.role, m.joined_at FROM workspace_members m \
             JOIN accounts a ON a.id = m.account_id WHERE m.workspace_id = $1 ORDER BY a.display_name, a.id",
        )
        .bind(workspace.0)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(MemberRow {
                    account_id: AccountId(r.try_get("id")?),
                    display_name: r.try_get("display_name")?,
                    email: r.try_get("email")?,
                    role: parse_role(&r.try_get::<String, _>("role")?)?,
                    joined_at: r.try_get("joined_at")?,
                })
            })
            .collect()
    }

    async fn rename_workspace(&self, workspace: WorkspaceId, name: &WorkspaceName) -> Result<()> {
        let done = sqlx::query("UPDATE workspaces SET name = $1 WHERE id = $2")
            .bind(name.as_str())
            .bind(workspace.0)
            .execute(self.writer())
            .await?;
        if done.rows_affected() == 0 {
            Err(StoreError::NotFound)
        } else {
            Ok(())
        }
    }

    async fn set_seat_limit(&self, workspace: WorkspaceId, limit: u32) -> Result<()> {
        let mut tx = self.writer().begin().await?;
        lock_workspace(&mut tx, workspace).await?;
        if seats_used(&mut tx, workspace).await? > i64::from(limit) {
            return Err(StoreError::SeatLimitBelowUsed);
        }
        sqlx::query("UPDATE workspaces SET seat_limit = $1 WHERE id = $2")
            .bind(i64::from(limit))
            .bind(workspace.0)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn add_member(
        &self,
        workspace: WorkspaceId,
        account: AccountId,
        role: Role,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.writer().begin().await?;
        lock_workspace(&mut tx, workspace).await?;
        if role_in(&mut tx, workspace, account).await?.is_some() {
            return Err(StoreError::AlreadyExists);
        }
        if role.takes_seat()
            && seats_used(&mut tx, workspace).await? >= seat_limit(&mut tx, workspace).await?
        {
            return Err(StoreError::SeatLimitReached);
        }
        sqlx::query("INSERT INTO workspace_members (workspace_id, account_id, role, joined_at) VALUES ($1, $2, $3, $4)")
            .bind(workspace.0)
            .bind(account.0)
            .bind(role.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn change_role(
        &self,
        workspace: WorkspaceId,
        account: AccountId,
        role: Role,
        may_change_owner: bool,
    ) -> Result<()> {
        let mut tx = self.writer().begin().await?;
        lock_workspace(&mut tx, workspace).await?;
        let current = role_in(&mut tx, workspace, account)
            .await?
            .ok_or(StoreError::NotFound)?;
        if current == role {
            return Ok(());
        }
        if !may_change_owner && (current == Role::Owner || role == Role::Owner) {
            return Err(StoreError::OwnerProtected);
        }
        if current == Role::Owner && owners(&mut tx, workspace).await? <= 1 {
            return Err(StoreError::LastOwner);
        }
        if role.takes_seat()
            && !current.takes_seat()
            && seats_used(&mut tx, workspace).await? >= seat_limit(&mut tx, workspace).await?
        {
            return Err(StoreError::SeatLimitReached);
        }
        sqlx::query(
            "UPDATE workspace_members SET role = $1 WHERE workspace_id = $2 AND account_id = $3",
        )
        .bind(role.as_str())
        .bind(workspace.0)
        .bind(account.0)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn remove_member(
        &self,
        workspace: WorkspaceId,
        account: AccountId,
        may_change_owner: bool,
    ) -> Result<()> {
        let mut tx = self.writer().begin().await?;
        lock_workspace(&mut tx, workspace).await?;
        let current = role_in(&mut tx, workspace, account)
            .await?
            .ok_or(StoreError::NotFound)?;
        if current == Role::Owner {
            if !may_change_owner {
                return Err(StoreError::OwnerProtected);
            }
            if owners(&mut tx, workspace).await? <= 1 {
                return Err(StoreError::LastOwner);
            }
        }
        sqlx::query("DELETE FROM workspace_members WHERE workspace_id = $1 AND account_id = $2")
            .bind(workspace.0)
            .bind(account.0)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

#[async_trait]
impl MailStore for ThisStore {
    async fn enqueue_mail(&self, m: NewMail) -> Result<()> {
        sqlx::query(
            "INSERT INTO outbox (id, recipient, subject, body, created_at, due_at, attempts) \
             VALUES ($1, $2, $3, $4, $5, $5, 0)",
        )
        .bind(m.id)
        .bind(m.recipient)
        .bind(m.subject)
        .bind(m.body)
        .bind(m.created_at)
        .execute(self.writer())
        .await?;
        Ok(())
    }

    async fn claim_mail(&self, now: i64, lease_until: i64, limit: i64) -> Result<Vec<MailRow>> {
        let due = sqlx::query(
            "SELECT id FROM outbox WHERE sent_at IS NULL AND due_at <= $1 ORDER BY due_at, id LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(self.reader())
        .await?;
        let mut claimed = Vec::with_capacity(due.len());
        for row in due {
            let id: i64 = row.try_get("id")?;
            // The conditional update is the claim: of several workers racing for one
            // message, exactly one sees it still due and moves it past its lease.
            let won = sqlx::query(
                "UPDATE outbox SET due_at = $1, attempts = attempts + 1 \
                 WHERE id = $2 AND sent_at IS NULL AND due_at <= $3 \
                 RETURNING id, recipient, subject, body, attempts",
            )
            .bind(lease_until)
            .bind(id)
            .bind(now)
            .fetch_optional(self.writer())
            .await?;
            if let Some(r) = won {
                claimed.push(MailRow {
                    id: r.try_get("id")?,
                    recipient: r.try_get("recipient")?,
                    subject: r.try_get("subject")?,
                    body: r.try_get("body")?,
                    attempts: r.try_get("attempts")?,
                });
            }
        }
        Ok(claimed)
    }

    async fn mail_sent(&self, id: i64, now: i64) -> Result<()> {
        // The body may hold a single-use link: once delivered, it is not kept.
        sqlx::query("UPDATE outbox SET sent_at = $1, body = '', last_error = NULL WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    async fn mail_failed(&self, id: i64, retry_at: i64, error: &str) -> Result<()> {
        sqlx::query("UPDATE outbox SET due_at = $1, last_error = $2 WHERE id = $3")
            .bind(retry_at)
            .bind(error)
            .bind(id)
            .execute(self.writer())
            .await?;
        Ok(())
    }
}
