//! `salon-load`: Salon's load client. Each scenario prepares its shape through the real
//! protocol, runs, and prints one JSON object of results on standard output (progress
//! goes to standard error). `scripts/bench` runs them all, side by side with the
//! reference servers, and writes `docs/benchmarks.md`.

mod ceiling;
mod floor;
mod proto;
mod scenarios;
mod setup;
mod stats;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use proto::Kind;
use scenarios::Target;

#[derive(Parser)]
#[command(name = "salon-load", about = "Load scenarios against Salon and reference servers")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct On {
    /// salon, floor (the bare broadcast reference) or socketio.
    #[arg(long, default_value = "salon")]
    target: String,
    /// Base URL of a node (repeat for several nodes: sockets are spread over them).
    #[arg(long = "url", required = true)]
    urls: Vec<String>,
    /// Salon's outbox folder (its `mail.outbox_dir`), where verification links land.
    #[arg(long, default_value = "data/outbox")]
    outbox: PathBuf,
    /// Server process ids, for memory figures (repeat for several).
    #[arg(long = "pid")]
    pids: Vec<u32>,
    /// A label added to the result (for example the storage backend).
    #[arg(long)]
    label: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// N subscribers in one conversation, one sender at a rate (with several --url: the
    /// `cluster` scenario).
    Fanout {
        #[command(flatten)]
        on: On,
        #[arg(long, default_value_t = 1000)]
        receivers: usize,
        /// Messages per second from the sender.
        #[arg(long, default_value_t = 10.0)]
        rate: f64,
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
    },
    /// Many small conversations, each with a message per second.
    Chat {
        #[command(flatten)]
        on: On,
        #[arg(long, default_value_t = 2000)]
        conversations: usize,
        #[arg(long, default_value_t = 5)]
        size: usize,
        /// Messages per second in each conversation.
        #[arg(long, default_value_t = 1.0)]
        rate: f64,
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// Keep the accounts and threads made in this file, and reuse them when it exists
        /// (for repeated runs against the same database: making 10,000 accounts takes minutes).
        #[arg(long)]
        setup: Option<PathBuf>,
    },
    /// Authenticated idle sockets: the server's memory per socket.
    Idle {
        #[command(flatten)]
        on: On,
        #[arg(long, default_value_t = 1000)]
        sockets: usize,
        /// Sockets per account (the server's gateway.max_sockets_per_account must allow it).
        #[arg(long, default_value_t = 100)]
        per_account: usize,
    },
    /// The most acknowledged messages per second, and the ack latency.
    Persist {
        #[command(flatten)]
        on: On,
        #[arg(long, default_value_t = 32)]
        conversations: usize,
        /// Sends in flight per sender.
        #[arg(long, default_value_t = 4)]
        window: usize,
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
    },
    /// Removals while a conversation is under load.
    Revoke {
        #[command(flatten)]
        on: On,
        #[arg(long, default_value_t = 200)]
        receivers: usize,
        #[arg(long, default_value_t = 50.0)]
        rate: f64,
        #[arg(long, default_value_t = 50)]
        removals: usize,
    },
    /// Runs the floor reference server.
    FloorServer {
        #[arg(long, default_value = "127.0.0.1:9100")]
        listen: String,
    },
    /// The raw SQL ceiling on SQLite: the statements of a post, in a plain loop.
    SqliteCeiling {
        /// The database file (a copy of one Salon ran on).
        #[arg(long)]
        db: PathBuf,
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// "full" or "normal", as the server's database.sqlite_synchronous.
        #[arg(long, default_value = "full")]
        synchronous: String,
    },
}

fn target(on: &On) -> Target {
    let kind = Kind::parse(&on.target).unwrap_or_else(|| panic!("unknown target {:?}", on.target));
    Target { kind, nodes: on.urls.clone(), outbox: on.outbox.clone(), pids: on.pids.clone() }
}

fn print(mut result: serde_json::Value, on: &On) {
    if let Some(label) = &on.label {
        result["label"] = serde_json::json!(label);
    }
    println!("{result}");
}

fn main() {
    let cli = Cli::parse();
    // Two cores are shared with the server: two workers keep the client from starving it.
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async move {
        match cli.command {
            Command::Fanout { on, receivers, rate, seconds } => {
                print(scenarios::fanout(&target(&on), receivers, rate, seconds).await, &on)
            }
            Command::Chat { on, conversations, size, rate, seconds, setup } => {
                print(scenarios::chat(&target(&on), conversations, size, rate, seconds, setup.as_deref()).await, &on)
            }
            Command::Idle { on, sockets, per_account } => {
                print(scenarios::idle(&target(&on), sockets, per_account).await, &on)
            }
            Command::Persist { on, conversations, window, seconds } => {
                print(scenarios::persist(&target(&on), conversations, window, seconds).await, &on)
            }
            Command::Revoke { on, receivers, rate, removals } => {
                print(scenarios::revoke(&target(&on), receivers, rate, removals).await, &on)
            }
            Command::FloorServer { listen } => floor::serve(&listen).await,
            Command::SqliteCeiling { db, seconds, synchronous } => {
                println!("{}", ceiling::sqlite(&db, seconds, &synchronous).await)
            }
        }
    });
}
