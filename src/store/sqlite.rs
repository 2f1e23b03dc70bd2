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
//!
//! Search has a database file of its own beside the messages (`salon-search.db` for
//! `salon.db`), kept by the search indexer (`SearchIndex`) outside the posts' commits.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, Pool, Sqlite, SqliteConnection};
use tokio::sync::{Mutex, Notify, mpsc, watch};
use tokio::task::JoinHandle;

use crate::config::{Backend, DatabaseConfig};
use crate::domain::{AccountId, MessageId, WorkspaceId};
use crate::store::{MessageRow, Result, SearchStore, Store, migrator};

type Db = Sqlite;
type ThisStore = SqliteStore;
/// SQLite has no row locks (one writer does everything): see `shared::lock_conversations`.
const ROW_LOCK: Option<&str> = None;
/// No statement that takes a row and posts: SQLite posts with the insert alone.
const POST_TAKING_ROW: Option<&str> = None;
/// No batch statement: SQLite's one writer is in this process, and a transaction's
/// statements cost no round trips.
const POST_MANY: Option<&str> = None;

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
    search: SearchIndex,
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
        // The search file exists, with its tables, before any reader attaches it.
        let search_file = search_file(file);
        let mut indexer = SqliteConnection::connect_with(&options).await?;
        if let Err(e) = open_search_file(&mut indexer, &search_file).await {
            // Derived, so it can go: a file that is not a database (cut short, overwritten)
            // would otherwise keep the server from starting.
            tracing::warn!(error = %e, file = %search_file.display(), "the search file cannot be opened; building it again");
            indexer.close().await?;
            remove_search_file(&search_file)?;
            indexer = SqliteConnection::connect_with(&options).await?;
            open_search_file(&mut indexer, &search_file).await?;
        }
        let read = SqlitePoolOptions::new()
            .max_connections(config.max_connections)
            .after_connect(move |conn, _| {
                let search_file = search_file.clone();
                Box::pin(async move {
                    sqlx::query("ATTACH DATABASE $1 AS search").bind(path_text(&search_file)?).execute(conn).await?;
                    Ok(())
                })
            })
            .connect_with(options.clone().read_only(true))
            .await?;
        let checkpoints = SqliteConnection::connect_with(&options).await?;
        let (posts, queue) = mpsc::channel(1024);
        // One committer: SQLite has one writer.
        start_committer(write.clone(), Arc::new(Mutex::new(queue)))?;
        let restarts = WalRestarts::default();
        let checkpointer = tokio::spawn(checkpoint(checkpoints, write.clone(), file.to_owned(), restarts.clone()));
        let search = SearchIndex::new(indexer, write.clone(), restarts);
        Ok(SqliteStore { write, read, posts, checkpointer, search })
    }

    fn writer(&self) -> &Pool<Sqlite> {
        &self.write
    }

    fn reader(&self) -> &Pool<Sqlite> {
        &self.read
    }
}

/// A new message's id, from the clock (`time_ordered_id`): the server is SQLite's one
/// process, so they never repeat. `messages` is a rowid table keyed by the id, and a
/// random id put every post on a random leaf of it: a page of its own to write, copy back
/// at the checkpoint and split mid-tree when full. In time order posts share the last
/// leaf, which SQLite appends to cheaply: `persist` on SQLite rose from 5,100–5,800 to
/// 6,800–7,500 acknowledged posts a second (three interleaved pairs, 2026-12-04), and
/// chat's server CPU fell by about 5 %.
fn new_message_id(created_at: i64) -> MessageId {
    MessageId(crate::crypto::time_ordered_id(created_at))
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
        self.search.stop();
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
async fn checkpoint(mut db: SqliteConnection, writer: Pool<Sqlite>, file: std::path::PathBuf, restarts: WalRestarts) {
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
        if let Err(e) = restart_wal(&mut db, &writer, &file, &restarts).await {
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

/// Keeps the search indexer out of the way of a WAL restart, which waits for every reader
/// on the WAL's older frames: under load the indexer works back to back, and each round
/// holds a read lock on the messages' database, for its transaction on the search file
/// too (with it, restarts missed their 20 ms turn after turn, and the WAL passed 64 MiB).
/// The checkpointer holds this for writing while it restarts; the indexer for reading
/// during a round, so a restart waits for at most the round in progress (a few
/// milliseconds), and the next round waits for the restart.
#[derive(Clone, Default)]
struct WalRestarts(Arc<tokio::sync::RwLock<()>>);

async fn restart_wal(
    db: &mut SqliteConnection,
    writer: &Pool<Sqlite>,
    file: &std::path::Path,
    restarts: &WalRestarts,
) -> Result<()> {
    // What the passive checkpoint copied, then what was committed while that synced.
    sync_file(file).await?;
    passive_checkpoint(db).await?;
    sync_file(file).await?;
    // A RESTART waits (SQLite's busy handler) for readers still on the WAL's older frames
    // while it holds the writer; a long read must not hold every commit up with it. When
    // the wait runs out, the restart is tried again at the next turn.
    let _restarting = restarts.0.write().await;
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
        // What the indexer reads (`search_queue`) exists from here on.
        self.search.start();
        Ok(())
    }

    async fn close(&self) {
        self.checkpointer.abort();
        self.search.stop();
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
        let mut matches = "m.id IN (SELECT rowid FROM search.messages_fts WHERE messages_fts MATCH $2)".to_owned();
        if let Some(reached) = self.search.catch_up(&self.read).await? {
            // Behind: a message edited since may still match its old words; leave it out.
            matches +=
                &format!(" AND m.id NOT IN (SELECT message_id FROM search_queue WHERE changed AND seq > {reached})");
        }
        shared::search(&self.read, &matches, query.join(" "), account, workspace, limit).await
    }
}

// ---------------------------------------------------------------------------------------
// Search: an FTS5 index in a file of its own, kept by the indexer outside posts' commits.
//
// A post appends its message's id to `search_queue` (a trigger; the same for an edit or a
// deletion, marked `changed`), in the messages' own transaction and commit order. The
// indexer reads the queue past the last entry it indexed and indexes those messages into
// `search.messages_fts` (contentless: the bodies stay in `messages`), recording the last
// entry in `search.indexed` in the same transaction, so a crash repeats nothing and skips
// nothing. The file is derived: deleted, or of another version, it is built again from the
// messages. A search first waits for the indexer to reach the queue's end as it was when
// the search began (`catch_up`), so it finds everything stored before it.

/// Bumped when the index's shape or tokeniser changes: an index of another version is
/// dropped and built again from the messages.
const SEARCH_INDEX_VERSION: i64 = 2;

/// How often the indexer looks at the queue when no search asks it to.
const INDEX_EVERY: Duration = Duration::from_millis(250);

/// Queue entries indexed in one transaction, at most.
const INDEX_BATCH: i64 = 256;

/// The indexer prunes the queue once it has indexed this many entries since it last did.
const PRUNE_AFTER: i64 = 4096;

/// How long a search waits for the indexer at most; it then answers from the index as it is.
const SEARCH_WAIT: Duration = Duration::from_secs(5);

/// Rounds failed in a row after which the indexer drops its index and builds it again: a
/// damaged index fails every round, and nothing else would mend it.
const REBUILD_AFTER: u32 = 3;

/// The longest pause between the indexer's tries after failures (they double from
/// `INDEX_EVERY`).
const RETRY_AT_MOST: Duration = Duration::from_secs(30);

/// The search file beside the messages' file: `salon-search.db` for `salon.db`.
fn search_file(file: &std::path::Path) -> std::path::PathBuf {
    let stem = file.file_stem().map_or_else(|| "salon".into(), |s| s.to_string_lossy());
    let name = match file.extension() {
        Some(ext) => format!("{stem}-search.{}", ext.to_string_lossy()),
        None => format!("{stem}-search"),
    };
    file.with_file_name(name)
}

fn path_text(path: &std::path::Path) -> std::result::Result<&str, sqlx::Error> {
    path.to_str().ok_or_else(|| sqlx::Error::Configuration(format!("{} is not UTF-8", path.display()).into()))
}

/// Attaches the search file to the indexer's connection as `search` (creating it), with
/// an index of this version (empty when it was missing or of another).
async fn open_search_file(db: &mut SqliteConnection, file: &std::path::Path) -> Result<()> {
    sqlx::query("ATTACH DATABASE $1 AS search").bind(path_text(file)?).execute(&mut *db).await?;
    for pragma in [
        "PRAGMA search.journal_mode = WAL",
        // No sync per round: a power cut may take the index's last rounds back, and the
        // indexer then does them again, or rebuilds when the queue was pruned past them.
        "PRAGMA search.synchronous = NORMAL",
        // The WAL is cut back to this size when SQLite restarts it (as the messages').
        "PRAGMA search.journal_size_limit = 67108864",
        "CREATE TABLE IF NOT EXISTS search.indexed (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL)",
    ] {
        sqlx::query(pragma).execute(&mut *db).await?;
    }
    let version: Option<i64> =
        sqlx::query_scalar("SELECT version FROM search.indexed").fetch_optional(&mut *db).await?;
    create_index_tables(db, version != Some(SEARCH_INDEX_VERSION)).await
}

/// Creates the index's tables where they are missing, after dropping them first when asked.
async fn create_index_tables(db: &mut SqliteConnection, drop_first: bool) -> Result<()> {
    if drop_first {
        sqlx::query("DROP TABLE IF EXISTS search.messages_fts").execute(&mut *db).await?;
        sqlx::query("DROP TABLE IF EXISTS search.indexed").execute(&mut *db).await?;
    }
    // Where the index stands: the last queue entry it holds, and that entry's message
    // (the queue keeps that entry when it is pruned: see `is_current`).
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS search.indexed ( \
           id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL, seq INTEGER NOT NULL, message_id INTEGER)",
    )
    .execute(&mut *db)
    .await?;
    sqlx::query(
        "CREATE VIRTUAL TABLE IF NOT EXISTS search.messages_fts USING fts5( \
           body, content = '', contentless_delete = 1, tokenize = 'unicode61 remove_diacritics 2')",
    )
    .execute(&mut *db)
    .await?;
    Ok(())
}

/// Removes the search file with its WAL and shared-memory files (those that exist).
fn remove_search_file(file: &std::path::Path) -> std::io::Result<()> {
    for suffix in ["", "-wal", "-shm"] {
        let mut name = file.as_os_str().to_owned();
        name.push(suffix);
        match std::fs::remove_file(&name) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

/// The search indexer, and how far it has got.
struct SearchIndex {
    /// The indexer's connection and the writer (which prunes the queue), until `start`
    /// hands them to the indexer's task.
    idle: std::sync::Mutex<Option<(SqliteConnection, Pool<Sqlite>, WalRestarts)>>,
    task: std::sync::Mutex<Option<JoinHandle<()>>>,
    /// The last queue entry the index holds.
    reached: Arc<watch::Sender<i64>>,
    /// Asks the indexer to look at the queue now.
    wake: Arc<Notify>,
    /// Whether the indexer's rounds fail (more than once in a row): searches then answer
    /// from the index as it is instead of waiting for it.
    failing: Arc<std::sync::atomic::AtomicBool>,
}

impl SearchIndex {
    fn new(db: SqliteConnection, writer: Pool<Sqlite>, restarts: WalRestarts) -> SearchIndex {
        SearchIndex {
            idle: std::sync::Mutex::new(Some((db, writer, restarts))),
            task: std::sync::Mutex::new(None),
            reached: Arc::new(watch::Sender::new(0)),
            wake: Arc::new(Notify::new()),
            failing: Arc::default(),
        }
    }

    /// Starts the indexer, once: after the migrations, which make the queue it reads.
    fn start(&self) {
        let Some((db, writer, restarts)) = self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take()
        else {
            return;
        };
        let indexer = Indexer { writer, restarts, reached: self.reached.clone(), failing: self.failing.clone() };
        let task = tokio::spawn(indexer.run(db, self.wake.clone()));
        *self.task.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(task);
    }

    fn stop(&self) {
        if let Some(task) = self.task.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take() {
            task.abort();
        }
    }

    /// Waits until the index holds everything queued before now, so that a search finds
    /// every message stored before it began (as when posts indexed in their own commits).
    /// When it waited `SEARCH_WAIT` in vain, the last entry the index holds.
    async fn catch_up(&self, read: &Pool<Sqlite>) -> Result<Option<i64>> {
        let queued: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM search_queue").fetch_one(read).await?;
        let mut reached = self.reached.subscribe();
        if *reached.borrow_and_update() >= queued {
            return Ok(None);
        }
        if self.failing.load(std::sync::atomic::Ordering::Relaxed) {
            // The indexer logs its failures; waiting would only make every search slow.
            return Ok(Some(*reached.borrow()));
        }
        self.wake.notify_one();
        if tokio::time::timeout(SEARCH_WAIT, reached.wait_for(|&r| r >= queued)).await.is_ok() {
            return Ok(None);
        }
        let reached = *reached.borrow();
        tracing::warn!(queued, reached, "the search index is behind; answering from it as it is");
        Ok(Some(reached))
    }
}

/// The indexer's task, with what it shares.
struct Indexer {
    /// Prunes the queue.
    writer: Pool<Sqlite>,
    restarts: WalRestarts,
    reached: Arc<watch::Sender<i64>>,
    failing: Arc<std::sync::atomic::AtomicBool>,
}

impl Indexer {
    /// Indexes what the queue holds every `INDEX_EVERY`, at once when a search waits, and
    /// without a pause while a full batch leaves more behind it. After a failure it tries
    /// again later and later; after `REBUILD_AFTER` in a row, with an index built anew.
    async fn run(self, mut db: SqliteConnection, wake: Arc<Notify>) {
        let mut every = tokio::time::interval(INDEX_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut pruned = 0;
        let mut failures = 0u32;
        // Where the index stands, once the first round has found it (or rebuilt it). Only
        // this task writes the index and prunes the queue, so it cannot move from under it.
        let mut done = None;
        loop {
            let round = match done {
                None if failures >= REBUILD_AFTER => self.rebuild_anew(&mut db).await.map(|seq| (seq, false)),
                None => open_index(&mut db, &self.restarts).await.map(|seq| (seq, false)),
                Some(done) => index_queued(&mut db, &self.restarts, done).await,
            };
            let more = match round {
                Ok((seq, more)) => {
                    failures = 0;
                    self.failing.store(false, std::sync::atomic::Ordering::Relaxed);
                    done = Some(seq);
                    self.reached.send_replace(seq);
                    if seq - pruned >= PRUNE_AFTER {
                        // All but the last: `seq` is SQLite's rowid, one past the largest left.
                        match sqlx::query("DELETE FROM search_queue WHERE seq < $1")
                            .bind(seq)
                            .execute(&self.writer)
                            .await
                        {
                            Ok(_) => pruned = seq,
                            Err(e) => tracing::warn!(error = %e, "pruning the search queue failed; retrying"),
                        }
                    }
                    more
                }
                Err(e) => {
                    failures += 1;
                    self.failing.store(failures > 1, std::sync::atomic::Ordering::Relaxed);
                    if failures >= REBUILD_AFTER {
                        done = None;
                    }
                    let pause = INDEX_EVERY.saturating_mul(1 << (failures - 1).min(16)).min(RETRY_AT_MOST);
                    tracing::warn!(error = %e, failures, retry_in = ?pause, "indexing for search failed");
                    tokio::time::sleep(pause).await;
                    continue;
                }
            };
            if !more {
                tokio::select! {
                    _ = every.tick() => {}
                    () = wake.notified() => {}
                }
            }
        }
    }

    /// Drops the index and builds it again from the messages.
    async fn rebuild_anew(&self, db: &mut SqliteConnection) -> Result<i64> {
        let _reading = self.restarts.0.read().await;
        tracing::warn!("building the search index anew after rounds that failed");
        create_index_tables(db, true).await?;
        rebuild_index(db).await
    }
}

/// The indexer's first round: the last queue entry the index holds, when it was fed from
/// this queue (`is_current`); otherwise the index is built again from the messages.
async fn open_index(db: &mut SqliteConnection, restarts: &WalRestarts) -> Result<i64> {
    let _reading = restarts.0.read().await;
    match is_current(db).await? {
        Some(done) => Ok(done),
        None => rebuild_index(db).await,
    }
}

/// One round of the indexer: up to `INDEX_BATCH` queue entries after `done`. The last
/// entry the index now holds, and whether more wait.
///
/// The queued messages are read first, in one statement (one snapshot), and indexed after,
/// in a transaction that writes the search file alone; the round keeps out of a WAL
/// restart's way (`WalRestarts`).
async fn index_queued(db: &mut SqliteConnection, restarts: &WalRestarts, done: i64) -> Result<(i64, bool)> {
    let reading = restarts.0.read().await;
    let rows = sqlx::query(
        "SELECT q.seq, q.message_id, q.changed, m.body FROM search_queue q \
         LEFT JOIN messages m ON m.id = q.message_id AND m.deleted_at IS NULL \
         WHERE q.seq > $1 ORDER BY q.seq LIMIT $2",
    )
    .bind(done)
    .bind(INDEX_BATCH)
    .fetch_all(&mut *db)
    .await?;
    let Some(last) = rows.last() else { return Ok((done, false)) };
    let upto: i64 = sqlx::Row::try_get(last, "seq")?;
    // An edited or deleted message's earlier entry goes; every queued message that is not
    // deleted is indexed as it is now, once however often it was queued.
    let mut gone = Vec::new();
    let mut live = std::collections::BTreeMap::new();
    for row in &rows {
        let id: i64 = sqlx::Row::try_get(row, "message_id")?;
        if sqlx::Row::try_get(row, "changed")? {
            gone.push(id);
        }
        if let Some(body) = sqlx::Row::try_get::<Option<String>, _>(row, "body")? {
            live.insert(id, body);
        }
    }
    let live: Vec<(i64, String)> = live.into_iter().collect();
    let mut tx = db.begin().await?;
    if !gone.is_empty() {
        sqlx::query("DELETE FROM search.messages_fts WHERE rowid IN (SELECT value FROM json_each($1))")
            .bind(serde_json::to_string(&gone).map_err(std::io::Error::other)?)
            .execute(&mut *tx)
            .await?;
    }
    if !live.is_empty() {
        sqlx::query("INSERT INTO search.messages_fts (rowid, body) SELECT value ->> 0, value ->> 1 FROM json_each($1)")
            .bind(serde_json::to_string(&live).map_err(std::io::Error::other)?)
            .execute(&mut *tx)
            .await?;
    }
    let at: i64 = sqlx::Row::try_get(last, "message_id")?;
    sqlx::query("UPDATE search.indexed SET seq = $1, message_id = $2").bind(upto).bind(at).execute(&mut *tx).await?;
    tx.commit().await?;
    drop(reading);
    Ok((upto, rows.len() == INDEX_BATCH as usize))
}

/// Where the index stands, if it was fed from this queue: its last entry is still in the
/// queue with the same message (pruning keeps that entry), or it holds none and the queue
/// was never pruned. Otherwise the search file is of another database, or of this one at
/// another time: restored from a backup apart from it (behind the pruned queue, or ahead
/// of a database restored alone), or ahead of commits a power cut took back.
async fn is_current(db: &mut SqliteConnection) -> Result<Option<i64>> {
    let indexed: Option<(i64, Option<i64>)> =
        sqlx::query_as("SELECT seq, message_id FROM search.indexed").fetch_optional(&mut *db).await?;
    let Some((done, at)) = indexed else { return Ok(None) };
    let current = if done == 0 {
        let first: Option<i64> = sqlx::query_scalar("SELECT MIN(seq) FROM search_queue").fetch_one(&mut *db).await?;
        first.is_none_or(|first| first == 1)
    } else {
        let queued: Option<i64> = sqlx::query_scalar("SELECT message_id FROM search_queue WHERE seq = $1")
            .bind(done)
            .fetch_optional(&mut *db)
            .await?;
        at.is_some() && queued == at
    };
    Ok(current.then_some(done))
}

/// Builds the index from every stored message; the queue's last entry, read in the same
/// snapshot. (One statement: a rebuild holds the messages' snapshot while it runs, a few
/// seconds per 100,000 messages, once.)
async fn rebuild_index(db: &mut SqliteConnection) -> Result<i64> {
    let mut tx = db.begin().await?;
    sqlx::query("INSERT INTO search.messages_fts (messages_fts) VALUES ('delete-all')").execute(&mut *tx).await?;
    sqlx::query("INSERT INTO search.messages_fts (rowid, body) SELECT id, body FROM messages WHERE deleted_at IS NULL")
        .execute(&mut *tx)
        .await?;
    let seq: i64 = sqlx::query_scalar(
        "INSERT OR REPLACE INTO search.indexed (id, version, seq, message_id) \
         SELECT 1, $1, COALESCE(MAX(q.seq), 0), (SELECT message_id FROM search_queue ORDER BY seq DESC LIMIT 1) \
         FROM search_queue q RETURNING seq",
    )
    .bind(SEARCH_INDEX_VERSION)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    tracing::info!(seq, "built the search index from the stored messages");
    Ok(seq)
}
