//! The SQLite backend: the embedded default. One file, WAL journal, one writer
//! connection (SQLite allows one writer at a time; funnelling writes through one
//! connection turns lock contention into an orderly queue) and a pool of readers.
//!
//! Two tasks keep writes quick under load. Posts go through a group-commit queue
//! (`shared::commit_posts`): those that arrive while the writer is busy share one
//! transaction and one WAL sync. And the writer never copies the WAL back into the database file itself
//! (SQLite's automatic checkpoint would stall whichever commit crossed the threshold for
//! tens of milliseconds): a checkpointer on its own connection does it in the background,
//! and starts the WAL over before it grows long (see `checkpoint`).

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, Pool, Sqlite, SqliteConnection};
use tokio::sync::{Mutex, mpsc};
use tokio::task::JoinHandle;

use crate::config::{Backend, DatabaseConfig};
use crate::domain::{AccountId, WorkspaceId};
use crate::store::{MessageRow, Result, SearchStore, Store, migrator};

type Db = Sqlite;
type ThisStore = SqliteStore;
/// SQLite has no row locks (one writer does everything): see `shared::lock_conversations`.
const ROW_LOCK: Option<&str> = None;
/// No statement that takes a row and posts: SQLite posts with the insert alone.
const POST_TAKING_ROW: Option<&str> = None;

// The same file is compiled once per backend, on purpose (see shared.rs).
#[allow(clippy::duplicate_mod)]
#[path = "shared.rs"]
mod shared;

/// How often the checkpointer copies the WAL back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// The WAL is cut back to this size when it restarts (SQLite's `journal_size_limit`).
const WAL_SIZE_LIMIT: &str = "67108864";

pub struct SqliteStore {
    write: Pool<Sqlite>,
    read: Pool<Sqlite>,
    posts: mpsc::Sender<shared::PostJob>,
    checkpointer: JoinHandle<()>,
}

impl SqliteStore {
    pub async fn connect(config: &DatabaseConfig) -> Result<SqliteStore> {
        let synchronous = match config.sqlite_synchronous.as_str() {
            "normal" => SqliteSynchronous::Normal,
            _ => SqliteSynchronous::Full,
        };
        let options = SqliteConnectOptions::from_str(config.url.expose())?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(synchronous)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let file = options.get_filename();
        if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let writer = options.clone().pragma("wal_autocheckpoint", "0").pragma("journal_size_limit", WAL_SIZE_LIMIT);
        let write = SqlitePoolOptions::new().max_connections(1).connect_with(writer).await?;
        let read = SqlitePoolOptions::new()
            .max_connections(config.max_connections)
            .connect_with(options.clone().read_only(true))
            .await?;
        let checkpoints = SqliteConnection::connect_with(&options).await?;
        let (posts, queue) = mpsc::channel(1024);
        // One committer: SQLite has one writer.
        start_committer(write.clone(), Arc::new(Mutex::new(queue)))?;
        let checkpointer = tokio::spawn(checkpoint(checkpoints, write.clone(), file.to_owned()));
        Ok(SqliteStore { write, read, posts, checkpointer })
    }

    fn writer(&self) -> &Pool<Sqlite> {
        &self.write
    }

    fn reader(&self) -> &Pool<Sqlite> {
        &self.read
    }
}

/// Starts the committer (`shared::commit_posts`) on a thread of its own, with a runtime
/// of its own; it ends when the store, the sending side of `queue`, is dropped.
///
/// On the server's runtime the committer was woken from outside once per statement (sqlx
/// runs each SQLite connection on a thread of its own), and each wake-up waited its turn
/// behind every task queued there: under a fan-out, the thousand sockets the previous
/// message had woken. A commit of 0.5 ms took 5–10 ms at p99, and every delivery of the
/// message waited for it. Here the kernel schedules the committer beside the runtime's
/// worker, and only the answer to the poster goes back through the runtime's queue (the
/// message is published from here, `OnCommit`).
fn start_committer(pool: Pool<Sqlite>, queue: shared::PostQueue) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    std::thread::Builder::new()
        .name("salon-commit".into())
        .spawn(move || runtime.block_on(shared::commit_posts(pool, queue)))?;
    Ok(())
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.checkpointer.abort();
    }
}

/// Keeps the WAL short without making commits pay for it.
///
/// Every `CHECKPOINT_EVERY`, a passive checkpoint copies committed pages from the WAL into
/// the database file, waiting for nobody. That alone does not bound the WAL: SQLite only
/// starts it over from the beginning when a checkpoint has copied *all* of it and no
/// reader still uses it, which a steady stream of commits and reads never allows
/// (checkpoint starvation). The WAL then grows for as long as the load lasts — hundreds
/// of megabytes — and the commit that finally restarts it truncates it back to
/// `journal_size_limit`, which stalled that commit for a third of a second.
///
/// So once the WAL holds `RESTART_AT_FRAMES`, the checkpointer restarts it on purpose, in
/// three steps that leave commits waiting only for the last, short one: it syncs the
/// database file itself (a passive checkpoint that does not reach the end does not sync
/// it; SQLite will not reuse the WAL before it does), copies what was committed meanwhile
/// and syncs again, then takes the writer connection (commits queue in the pool, without
/// SQLite's sleeping busy handler) for a RESTART checkpoint: the few frames left, a small
/// sync, and a wait for readers still on the WAL's older frames.
async fn checkpoint(mut db: SqliteConnection, writer: Pool<Sqlite>, file: std::path::PathBuf) {
    let mut every = tokio::time::interval(CHECKPOINT_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let frames = match passive_checkpoint(&mut db).await {
            Ok(frames) => frames,
            Err(e) => {
                tracing::warn!(error = %e, "WAL checkpoint failed; retrying");
                continue;
            }
        };
        if frames < RESTART_AT_FRAMES {
            continue;
        }
        if let Err(e) = restart_wal(&mut db, &writer, &file).await {
            tracing::warn!(error = %e, "restarting the WAL failed; retrying");
        }
    }
}

/// How long a WAL restart waits for readers to leave the WAL's older frames, at most.
const RESTART_WAIT: Duration = Duration::from_millis(20);

/// How long a connection waits for a lock SQLite holds elsewhere.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// How many frames the WAL holds when the checkpointer restarts it (about 32 MiB of
/// 4 KiB pages: half of `WAL_SIZE_LIMIT`, so the file is never truncated under load).
const RESTART_AT_FRAMES: i64 = 8192;

/// A passive checkpoint; the number of frames in the WAL.
async fn passive_checkpoint(db: &mut SqliteConnection) -> Result<i64> {
    let row = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").fetch_one(&mut *db).await?;
    Ok(sqlx::Row::try_get::<i64, _>(&row, 1)?)
}

async fn restart_wal(db: &mut SqliteConnection, writer: &Pool<Sqlite>, file: &std::path::Path) -> Result<()> {
    // What the passive checkpoint copied, then what was committed while that synced.
    sync_file(file).await?;
    passive_checkpoint(db).await?;
    sync_file(file).await?;
    // A RESTART waits (SQLite's busy handler) for readers still on the WAL's older frames
    // while it holds the writer; a long read must not hold every commit up with it. When
    // the wait runs out, the restart is tried again at the next turn.
    let mut conn = writer.acquire().await?;
    sqlx::query(&format!("PRAGMA busy_timeout = {}", RESTART_WAIT.as_millis())).execute(&mut *conn).await?;
    let restarted = sqlx::query("PRAGMA wal_checkpoint(RESTART)").fetch_one(&mut *conn).await;
    sqlx::query(&format!("PRAGMA busy_timeout = {}", BUSY_TIMEOUT.as_millis())).execute(&mut *conn).await?;
    if sqlx::Row::try_get::<i64, _>(&restarted?, 0)? != 0 {
        tracing::debug!("a reader kept the WAL from restarting; trying again");
    }
    Ok(())
}

/// Flushes the database file to disk (on a descriptor of our own: a sync covers the file,
/// whoever wrote it).
async fn sync_file(file: &std::path::Path) -> Result<()> {
    let file = file.to_owned();
    tokio::task::spawn_blocking(move || std::fs::File::open(file)?.sync_data())
        .await
        .map_err(std::io::Error::other)??;
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    async fn migrate(&self) -> Result<()> {
        migrator(Backend::Sqlite).await?.run(&self.write).await?;
        Ok(())
    }

    async fn close(&self) {
        self.checkpointer.abort();
        self.read.close().await;
        self.write.close().await;
    }
}

#[async_trait]
impl SearchStore for SqliteStore {
    async fn search(
        &self,
        account: AccountId,
        terms: &[String],
        workspace: Option<WorkspaceId>,
        limit: i64,
    ) -> Result<Vec<MessageRow>> {
        // Each term as an FTS5 string literal: user input is never FTS5 query syntax.
        let query: Vec<String> = terms.iter().map(|t| format!("\"{}\"", t.replace('"', "\"\""))).collect();
        let matches = "m.id IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH $2)";
        shared::search(&self.read, matches, query.join(" "), account, workspace, limit).await
    }
}
