//! Clusters for tests: in-process nodes sharing a fresh PostgreSQL database, a Redis (the
//! shared one on its own channel prefix, or a private `redis-server` a test may kill) and
//! an outbox; and waiting on a node's `/readyz`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use salon::config::{Backend, Config, Secret};
use serde_json::Value;
use tokio::sync::oneshot;

use super::{TestApp, fresh_database, random_suffix, scratch};

pub fn shared_redis() -> String {
    std::env::var("SALON_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A `redis-server` of the test's own, on a port of its own, that it may kill and restart.
pub struct PrivateRedis {
    pub port: u16,
    child: Option<Child>,
}

impl PrivateRedis {
    pub async fn start() -> PrivateRedis {
        let mut redis = PrivateRedis { port: free_port(), child: None };
        redis.restart().await;
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub async fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs (scripts/test installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.is_err() {
            assert!(Instant::now() < deadline, "the private redis-server did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One in-process node and the means to stop it gracefully.
pub struct Node {
    pub app: TestApp,
    stop: Option<oneshot::Sender<()>>,
    running: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Node {
    pub async fn shut_down(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(running) = self.running.take() {
            tokio::time::timeout(Duration::from_secs(20), running).await.expect("the node stops").unwrap().unwrap();
        }
    }
}

/// Nodes sharing a database, a Redis and an outbox.
pub struct Cluster {
    pub db: String,
    pub redis: String,
    pub prefix: String,
    pub outbox: PathBuf,
    pub nodes: Vec<Node>,
}

impl Cluster {
    pub async fn start(nodes: usize, redis: String) -> Cluster {
        let mut cluster = Cluster {
            db: fresh_database(Backend::Postgres).await,
            redis,
            prefix: format!("salon-test-{}", random_suffix()),
            outbox: scratch("outbox"),
            nodes: Vec::new(),
        };
        for _ in 0..nodes {
            cluster.add_node().await;
        }
        cluster
    }

    pub fn config(&self) -> Config {
        let mut config = Config::default();
        config.http.listen = "127.0.0.1:0".into();
        config.http.public_url = "http://salon.test".into();
        config.database.url = Secret(self.db.clone());
        config.database.max_connections = 5;
        config.mail.outbox_dir = self.outbox.clone();
        config.gateway.frames_per_second = 1000;
        // Browser tests sign many people up from one address.
        config.auth.attempts_per_address = 100_000;
        config.cluster.redis_url = Secret(self.redis.clone());
        config.cluster.channel_prefix = self.prefix.clone();
        // Quick enough for tests, loose enough for a loaded two-core CI machine.
        config.cluster.heartbeat_ms = 200;
        config.cluster.peer_timeout_ms = 1500;
        config.cluster.peer_eviction_seconds = 3;
        config.cluster.reconnect_max_ms = 300;
        config
    }

    pub async fn add_node(&mut self) {
        let config = self.config();
        let app = salon::App::build(config.clone()).await.expect("the node starts");
        let base = format!("http://{}", app.local_addr());
        let services = app.services().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let running = tokio::spawn(app.run(async move {
            let _ = stopped.await;
        }));
        let app = TestApp { base, client: reqwest::Client::new(), outbox: self.outbox.clone(), services, config };
        wait_ready(&app.base).await;
        self.nodes.push(Node { app, stop: Some(stop), running: Some(running) });
    }

    pub fn node(&self, i: usize) -> &TestApp {
        &self.nodes[i].app
    }
}

/// Waits until `/readyz` answers 200 with the bus healthy.
pub async fn wait_ready(base: &str) {
    wait_bus(base, "healthy").await;
}

pub async fn bus_state(base: &str) -> Option<String> {
    let answer = reqwest::get(format!("{base}/readyz")).await.ok()?;
    let body: Value = answer.json().await.ok()?;
    body["bus"].as_str().map(str::to_owned)
}

pub async fn wait_bus(base: &str, state: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if bus_state(base).await.as_deref() == Some(state) {
            return;
        }
        assert!(Instant::now() < deadline, "{base} never reported bus {state:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
