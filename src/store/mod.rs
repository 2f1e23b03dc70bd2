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
use crate::domain::{AccountId, DisplayName, Email, Role, WorkspaceId, WorkspaceName};

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
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct MemberRow {
    pub account_id: AccountId,
    pub display_name: String,
    pub email: String,
    pub role: Role,
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

// ---------------------------------------------------------------------------------------
// Interface

#[async_trait]
pub trait AccountStore: Send + Sync {
    async fn create_signup(&self, signup: NewSignup) -> Result<()>;
    /// Consumes a sign-up token (whatever its state) and, if it had not expired and its
    /// address has no account yet, creates the account, all in one transaction. Other
    /// pending sign-ups for the address are dropped. `None`: nothing was created.
    async fn complete_signup(
        &self,
        token: &TokenHash,
        now: i64,
        new_id: AccountId,
    ) -> Result<Option<AccountRow>>;
    async fn account_by_email(&self, email: &Email) -> Result<Option<AccountRow>>;
    async fn account_by_id(&self, id: AccountId) -> Result<Option<AccountRow>>;
    async fn set_display_name(&self, id: AccountId, name: &DisplayName) -> Result<()>;
    /// Replaces the password hash and deletes every session of the account but `keep`.
    async fn set_password(
        &self,
        id: AccountId,
        password_hash: &str,
        keep: Option<&TokenHash>,
    ) -> Result<()>;

    async fn create_session(
        &self,
        token: &TokenHash,
        account: AccountId,
        now: i64,
        expires_at: i64,
    ) -> Result<()>;
    /// The account a live (unexpired) session belongs to.
    async fn session_account(&self, token: &TokenHash, now: i64) -> Result<Option<AccountRow>>;
    async fn delete_session(&self, token: &TokenHash) -> Result<()>;
    async fn delete_sessions(&self, account: AccountId) -> Result<()>;

    async fn create_reset(
        &self,
        token: &TokenHash,
        account: AccountId,
        now: i64,
        expires_at: i64,
    ) -> Result<()>;
    /// Consumes a reset token; if it was live, sets the new password and deletes every
    /// session and every other reset token of the account, in one transaction.
    async fn complete_reset(
        &self,
        token: &TokenHash,
        now: i64,
        password_hash: &str,
    ) -> Result<Option<AccountId>>;
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
        now: i64,
    ) -> Result<WorkspaceRow>;
    async fn workspace(&self, id: WorkspaceId) -> Result<Option<WorkspaceRow>>;
    /// Every workspace `account` is a member of, with its role there.
    async fn workspaces_of(&self, account: AccountId) -> Result<Vec<(WorkspaceRow, Role)>>;
    async fn member_role(&self, workspace: WorkspaceId, account: AccountId)
    -> Result<Option<Role>>;
    async fn members(&self, workspace: WorkspaceId) -> Result<Vec<MemberRow>>;
    async fn rename_workspace(&self, workspace: WorkspaceId, name: &WorkspaceName) -> Result<()>;
    /// Fails with `SeatLimitBelowUsed` if fewer seats than are taken.
    async fn set_seat_limit(&self, workspace: WorkspaceId, limit: u32) -> Result<()>;
    /// Adds a member; `SeatLimitReached` if the role takes a seat and none is free,
    /// `AlreadyExists` if they are a member already.
    async fn add_member(
        &self,
        workspace: WorkspaceId,
        account: AccountId,
        role: Role,
        now: i64,
    ) -> Result<()>;
    /// Changes a member's role, atomically checking the seat limit and that an owner
    /// remains. Unless `may_change_owner`, an owner's role cannot be changed and nobody
    /// can be made owner (`OwnerProtected`).
    async fn change_role(
        &self,
        workspace: WorkspaceId,
        account: AccountId,
        role: Role,
        may_change_owner: bool,
    ) -> Result<()>;
    /// Removes a member, atomically checking that an owner remains. Unless
    /// `may_change_owner`, an owner cannot be removed (`OwnerProtected`).
    async fn remove_member(
        &self,
        workspace: WorkspaceId,
        account: AccountId,
        may_change_owner: bool,
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

/// Everything durable. One value of it per process, shared by the services.
#[async_trait]
pub trait Store: AccountStore + WorkspaceStore + MailStore {
    fn backend(&self) -> Backend;
    /// A cheap round trip, for `/readyz`.
    async fn ping(&self) -> Result<()>;
    /// Applies pending migrations (idempotent; safe when several nodes start at once).
    async fn migrate(&self) -> Result<()>;
    async fn close(&self);
}

/// Opens the database the configuration names, applying migrations if `migrate`.
pub async fn connect(
    config: &DatabaseConfig,
    backend: Backend,
    migrate: bool,
) -> Result<Arc<dyn Store>> {
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
    fn resolve(
        self,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, BoxDynError>> + Send + 's>> {
        Box::pin(async move { Ok(self.0) })
    }
}

/// `(version, description, sql)` of every migration, per backend. A test checks this
/// list against the files under `migrations/`.
pub fn migration_files(backend: Backend) -> &'static [(i64, &'static str, &'static str)] {
    match backend {
        Backend::Sqlite => &[(
            1,
            "init",
            include_str!("../../migrations/sqlite/0001_init.sql"),
        )],
        Backend::Postgres => &[(
            1,
            "init",
            include_str!("../../migrations/postgres/0001_init.sql"),
        )],
    }
}

async fn migrator(backend: Backend) -> Result<Migrator> {
    let migrations = migration_files(backend)
        .iter()
        .map(|&(version, description, sql)| {
            Migration::new(
                version,
                Cow::Borrowed(description),
                MigrationType::Simple,
                Cow::Borrowed(sql),
                false,
            )
        })
        .collect();
    Ok(Migrator::new(Embedded(migrations)).await?)
}

fn parse_role(raw: &str) -> Result<Role> {
    Role::parse(raw).ok_or_else(|| {
        StoreError::Database(sqlx::Error::Decode(format!("unknown role {raw:?}").into()))
    })
}
