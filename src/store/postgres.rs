//! The PostgreSQL backend: for clusters of nodes sharing one database.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Pool, Postgres};

use crate::config::{Backend, DatabaseConfig};
use crate::domain::{AccountId, WorkspaceId};
use crate::store::{MessageRow, Result, SearchStore, Store, migrator};

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
        let sql = format!(
            "{} WHERE m.tsv @@ plainto_tsquery('simple', $2) \
             AND m.conversation_id IN ({}) AND m.deleted_at IS NULL AND (CAST($3 AS BIGINT) IS NULL OR c.workspace_id = $3) \
             ORDER BY m.created_at DESC, m.id LIMIT $4",
            shared::MESSAGE_SELECT,
            shared::visible_ids("$1")
        );
        let rows = sqlx::query(&sql)
            .bind(account.0)
            .bind(terms.join(" "))
            .bind(workspace.map(|w| w.0))
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(shared::message).collect()
    }
}
