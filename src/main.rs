//! The `salon` binary: parses flags, loads the configuration, sets up logging and runs
//! the library. Nothing else lives here.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use salon::{App, Config};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

#[derive(Parser)]
#[command(name = "salon", version, about = "Self-hosted real-time chat with external guests")]
struct Cli {
    /// Configuration file (default: ./config.toml if present, else built-in defaults).
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Check the configuration and exit.
    CheckConfig,
    /// Print the OpenAPI document of the REST API.
    Openapi,
}

/// Keeps large allocations out of glibc's arenas. Each password hash takes a 19 MiB
/// block; glibc's default raises its mmap threshold after the first such block is freed,
/// so later ones come from per-thread arenas that keep the memory: a few hundred sign-ups
/// left the process at a gigabyte. A fixed threshold maps and unmaps them every time.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

fn main() -> ExitCode {
    tune_allocator();
    let cli = Cli::parse();
    if let Some(Command::Openapi) = cli.command {
        println!("{}", salon::http::openapi().to_pretty_json().expect("the OpenAPI document serializes"));
        return ExitCode::SUCCESS;
    }
    let config = match Config::load(cli.config.as_deref(), std::env::vars()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("salon: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    let filter: Targets = config.log.level.parse().expect("validated");
    tracing_subscriber::registry().with(tracing_subscriber::fmt::layer().with_filter(filter)).init();

    let runtime = tokio::runtime::Runtime::new().expect("the tokio runtime starts");
    let result = runtime.block_on(async move {
        match cli.command.unwrap_or(Command::Serve) {
            Command::CheckConfig => {
                println!("configuration OK");
                Ok(())
            }
            Command::Migrate => {
                let backend = config.backend()?;
                let store = salon::store::connect(&config.database, backend, true).await?;
                store.close().await;
                println!("migrations applied");
                Ok(())
            }
            Command::Serve => {
                let app = App::build(config).await?;
                app.run(shutdown_signal()).await.map_err(|e| Box::new(e) as Box<dyn std::error::Error>)
            }
            Command::Openapi => unreachable!("handled above"),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("salon: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}
