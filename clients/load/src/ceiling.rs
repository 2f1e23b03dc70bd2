//! The raw SQL ceiling for `persist` on SQLite: the statement Salon's store runs to post
//! a message (one insert that takes the next sequence, checks access, the role, the lock
//! and the reply and reads the author's name and role; a trigger moves `last_seq`), one
//! transaction per message (autocommit, as Salon posts a lone message), in a plain loop
//! on one connection, with nothing else around it. (Salon's writer may do better than
//! this loop: it commits the posts that queue up while it is busy together, one WAL sync
//! for several.) (PostgreSQL's ceiling is measured with pgbench running the same
//! statements; see `scripts/bench`.)

use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, Instant};

use serde_json::json;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{Connection, Row};

const VISIBLE: &str = "SELECT cp.conversation_id FROM conversation_participants cp WHERE cp.account_id = $1 \
     UNION SELECT cg.conversation_id FROM conversation_groups cg \
     JOIN group_members gm ON gm.group_id = cg.group_id WHERE gm.account_id = $1";

pub async fn sqlite(db: &Path, seconds: f64, synchronous: &str) -> serde_json::Value {
    let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", db.display()))
        .expect("a database path")
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(if synchronous == "normal" { SqliteSynchronous::Normal } else { SqliteSynchronous::Full })
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10));
    let mut db = sqlx::SqliteConnection::connect_with(&options).await.expect("the database opens");
    let pairs: Vec<(i64, i64)> = sqlx::query(
        "SELECT cp.conversation_id, cp.account_id FROM conversation_participants cp \
         JOIN conversations c ON c.id = cp.conversation_id WHERE c.kind = 'thread' AND NOT c.locked \
         AND NOT EXISTS (SELECT 1 FROM workspace_members wl WHERE wl.workspace_id = c.workspace_id \
           AND wl.account_id = cp.account_id AND wl.role = 'lite') LIMIT 32",
    )
    .fetch_all(&mut db)
    .await
    .expect("participants")
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect();
    assert!(!pairs.is_empty(), "run the persist scenario on this database first");
    let started = Instant::now();
    let mut latencies = Vec::new();
    let mut n: i64 = 0;
    while started.elapsed().as_secs_f64() < seconds {
        let (conversation, author) = pairs[n as usize % pairs.len()];
        n += 1;
        let t = Instant::now();
        let id = (n << 20) ^ (started.elapsed().as_nanos() as i64 & 0xfffff) ^ 0x5a5a_0000_0000;
        // `VISIBLE` names the author `$1`. The trigger of migration 0004 moves `last_seq`.
        sqlx::query(&format!(
            "INSERT INTO messages (id, conversation_id, seq, author_id, body, reply_to, client_id, created_at) \
             SELECT $3, c.id, c.last_seq + 1, $1, $4, $5, NULL, 0 FROM conversations c \
             WHERE c.id = $2 AND NOT c.locked AND c.id IN ({VISIBLE}) \
               AND NOT EXISTS (SELECT 1 FROM workspace_members wl WHERE wl.workspace_id = c.workspace_id \
                 AND wl.account_id = $1 AND wl.role = 'lite') \
               AND ($5 IS NULL OR ($5 >= 1 AND $5 <= c.last_seq)) \
             ON CONFLICT (conversation_id, author_id, client_id) WHERE client_id IS NOT NULL DO NOTHING \
             RETURNING seq, (SELECT a.display_name FROM accounts a WHERE a.id = $1) AS author_name, \
             (SELECT wm.role FROM workspace_members wm WHERE wm.account_id = $1 \
               AND wm.workspace_id = (SELECT cw.workspace_id FROM conversations cw WHERE cw.id = $2)) AS author_role"
        ))
        .bind(author)
        .bind(conversation)
        .bind(id)
        .bind("t=0 n=0 lorem ipsum dolor sit amet, consectetur adipiscing elit; sed do eiusmod")
        .bind(None::<i64>)
        .fetch_one(&mut db)
        .await
        .expect("insert");
        latencies.push(t.elapsed().as_micros() as u32);
    }
    let elapsed = started.elapsed().as_secs_f64();
    json!({
        "scenario": "persist-ceiling",
        "target": "sqlite-loop",
        "transactions_per_s": (latencies.len() as f64 / elapsed * 10.0).round() / 10.0,
        "p50_ms": crate::stats::percentile_ms(&mut latencies, 0.5),
        "p99_ms": crate::stats::percentile_ms(&mut latencies, 0.99),
    })
}
