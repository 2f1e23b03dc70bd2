//! The web app in a real browser: Debian's Chromium driven by Playwright
//! (`clients/web/tests`, run with Node), against an embedded server, and against two nodes
//! of a cluster with the member's browser on one and the guest's on the other.
//! `scripts/test` installs Chromium and the test's npm packages; without them these tests
//! fail, naming what is missing. Screenshots land in the target's temporary folder.

mod common;

use std::path::{Path, PathBuf};

use common::cluster::{Cluster, shared_redis};
use common::spawn_app_with;
use salon::config::Backend;

fn artifacts(name: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-artifacts").join(name)
}

/// Runs browser tests (all, or `only`) against `url` (and `url_2` for a second browser).
async fn run_browser_tests(url: &str, url_2: &str, outbox: &Path, artifacts: &Path, only: &[&str]) {
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("clients/web");
    assert!(
        web.join("node_modules/playwright-core").is_dir(),
        "run `npm ci` in clients/web (scripts/test does) to install playwright-core"
    );
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(Path::new(&chromium).exists(), "{chromium} is missing: install Debian's chromium (scripts/test does)");
    std::fs::create_dir_all(outbox).unwrap();
    let output = tokio::process::Command::new("node")
        .arg(web.join("tests/run-all.mjs"))
        .args(only)
        .env("SALON_URL", url)
        .env("SALON_URL_2", url_2)
        .env("SALON_OUTBOX", outbox)
        .env("SALON_ARTIFACTS", artifacts)
        .env("CHROMIUM", &chromium)
        .output()
        .await
        .expect("node runs (scripts/test installs it)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "browser tests failed:\n{stdout}\n{stderr}");
    eprintln!("{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_app_against_an_embedded_server() {
    let app = spawn_app_with(Backend::Sqlite, |c| c.auth.attempts_per_address = 100_000).await;
    run_browser_tests(&app.base, &app.base, &app.outbox, &artifacts("embedded"), &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_app_against_a_cluster() {
    let cluster = Cluster::start(2, shared_redis()).await;
    let (a, b) = (&cluster.node(0).base, &cluster.node(1).base);
    run_browser_tests(a, b, &cluster.outbox, &artifacts("cluster"), &["chat", "invite", "reconnect"]).await;
}
