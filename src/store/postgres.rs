//! The PostgreSQL backend: for clusters of nodes sharing one database.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Pool, Postgres};
use tokio::sync::{Mutex, mpsc};

use crate::config::{Backend, DatabaseConfig};
use crate::domain::{AccountId, MessageId, WorkspaceId};
use crate::store::{MessageRow, Result, SearchStore, Store, migrator};

type Db = Postgres;
type ThisStore = PgStore;
/// The lock an `UPDATE` that changes no key takes: see `shared::lock_conversations`.
const ROW_LOCK: Option<&str> = Some("FOR NO KEY UPDATE");
/// A post that takes its conversation's row and inserts, in one round trip: the function
/// every connection defines when it opens (`shared::post_function_sql`).
const POST_TAKING_ROW: Option<&str> = Some("SELECT * FROM pg_temp.salon_post($1, $2, $3, $4, $5, $6, $7)");
/// A batch of posts without mentions in one statement: see `shared::post_many_function_sql`.
const POST_MANY: Option<&str> = Some("SELECT * FROM pg_temp.salon_post_many($1::JSON)");

/// How many transactions of posts may commit at once, at most: a quarter of the pool
/// (reads need connections too), at least one.
const COMMITTERS: u32 = 4;

/// A pooled connection idle for longer than this is pinged before it is handed out
/// (PostgreSQL may have restarted, or something between dropped the connection); one used
/// more recently is not.
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(1);

/// A new message's id: 63 random bits. Several nodes make them, so ids from the clock
/// could repeat across nodes (`time_ordered_id`); and PostgreSQL gained nothing from
/// them (`persist`: 2,990–3,080 acknowledged posts a second in time order, 2,980–3,370
/// random, three interleaved pairs, 2026-12-04).
fn new_message_id(_created_at: i64) -> MessageId {
    MessageId(crate::crypto::random_id())
}

// The same file is compiled once per backend, on purpose (see shared.rs).
#[allow(clippy::duplicate_mod)]
#[path = "shared.rs"]
mod shared;

pub struct PgStore {
    pool: Pool<Postgres>,
    posts: mpsc::Sender<shared::PostJob>,
}

impl PgStore {
    pub async fn connect(config: &DatabaseConfig) -> Result<PgStore> {
        let pool = PgPoolOptions::new()
            .max_connections(config.max_connections)
            .acquire_timeout(Duration::from_secs(10))
            // sqlx pings every connection it hands out by default: under load that was one
            // round trip to PostgreSQL in every five of a post's, for connections used a
            // moment before. Only a connection idle for a while is checked (a failed ping
            // drops it and the pool hands out another).
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= PING_IF_IDLE_FOR {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            // No JIT compilation: the planner's cost estimate of the conversation list
            // (per-conversation subqueries over a large messages table) crosses
            // `jit_above_cost`, and compiling it took 230 ms for a query that runs in
            // under 1 ms. Salon's queries are all short ones. And this connection's
            // `salon_post`, the one-round-trip post.
            .after_connect(|conn, _| {
                Box::pin(async move {
                    sqlx::Executor::execute(&mut *conn, "SET jit = off").await?;
                    sqlx::Executor::execute(&mut *conn, shared::post_function_sql().as_str()).await?;
                    sqlx::Executor::execute(&mut *conn, shared::post_many_function_sql().as_str()).await?;
                    Ok(())
                })
            })
            .connect(config.url.expose())
            .await?;
        let (posts, queue) = mpsc::channel(1024);
        let queue = Arc::new(Mutex::new(queue));
        // On the server's runtime, unlike SQLite's committer (`sqlite::start_committer`):
        // a PostgreSQL connection is a socket that the runtime which opened it watches,
        // and the pool's connections are opened by readers as well. A thread of their
        // own made no difference to `persist` here (2,180–2,680 acks/s either way).
        for _ in 0..(config.max_connections / 4).clamp(1, COMMITTERS) {
            tokio::spawn(shared::commit_posts(pool.clone(), queue.clone()));
        }
        Ok(PgStore { pool, posts })
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
        let matches = "m.tsv @@ plainto_tsquery('simple', $2)";
        shared::search(&self.pool, matches, terms.join(" "), account, workspace, limit).await
    }
}
