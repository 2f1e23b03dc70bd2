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

    /// A run of one caller's posts to one conversation shares a transaction (one commit);
    /// posts to several conversations go one by one, so two runs can never take the same
    /// rows in opposite orders.
    async fn post_many(&self, batch: Vec<NewMessage>) -> Vec<Result<Posted>> {
        let one_conversation = batch.windows(2).all(|w| w[0].conversation_id == w[1].conversation_id);
        if batch.len() > 1 && one_conversation {
            match shared::post_batch(&self.pool, &batch.iter().collect::<Vec<_>>()).await {
                Ok(results) => return results,
                Err(e) => {
                    tracing::warn!(error = %e, posts = batch.len(), "a run of posts failed; posting them one by one")
                }
            }
        }
        let mut results = Vec::with_capacity(batch.len());
        for new in &batch {
            results.push(shared::post_alone(&self.pool, new).await);
        }
        results
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
