//! The PostgreSQL backend: for clusters of nodes sharing one database.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Pool, Postgres};

use crate::config::{Backend, DatabaseConfig};
use crate::domain::{AccountId, WorkspaceId};
use crate::store::{MessageRow, NewMessage, Posted, Result, SearchStore, Store, migrator};

type Db = Postgres;
type ThisStore = PgStore;

// The same file is compiled once per backend, on purpose (see shared.rs).
#[allow(clippy::duplicate_mod)]
#[path = "shared.rs"]
mod shared;

pub struct PgStore {
    pool: Pool<Postgres>,
}

impl PgStore {
    pub async fn connect(config: &DatabaseConfig) -> Result<PgStore> {
        let pool = PgPoolOptions::new()
            .max_connections(config.max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .connect(config.url.expose())
            .await?;
        Ok(PgStore { pool })
    }

    fn writer(&self) -> &Pool<Postgres> {
        &self.pool
    }

    fn reader(&self) -> &Pool<Postgres> {
        &self.pool
    }

    /// One post, one transaction: concurrent posts commit side by side (PostgreSQL
    /// groups their WAL flushes itself).
    async fn post(&self, new: NewMessage) -> Result<Posted> {
        shared::post_alone(&self.pool, &new).await
    }
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn migrate(&self) -> Result<()> {
        migrator(Backend::Postgres).await?.run(&self.pool).await?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

#[async_trait]
impl SearchStore for PgStore {
    async fn search(
        &self,
        account: AccountId,
        terms: &[String],
        workspace: Option<WorkspaceId>,
        limit: i64,
    ) -> Result<Vec<MessageRow>> {
        // plainto_tsquery treats its input as plain words (all required), never as syntax.
        let matches = "m.tsv @@ plainto_tsquery('simple', $2)";
        shared::search(&self.pool, matches, terms.join(" "), account, workspace, limit).await
    }
}
