//! Assembling and running one Salon node: open the store (migrating it), build the
//! services and the router, bind the listener, run until told to stop, then drain.
//!
//! `App::build` does everything that can fail at start-up, so a misconfigured node stops
//! before it accepts a connection; `App::run` only serves.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::{Config, ConfigError};
use std::sync::Arc;

use crate::bus::Bus;
use crate::gateway::GatewayState;
use crate::http::{self, AppState};
use crate::mail::{Mailer, Worker};
use crate::services::Services;
use crate::store::{self, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot open the database: {0}")]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("cluster.redis_url: {0}")]
    Redis(#[from] redis::RedisError),
}

pub struct App {
    config: Config,
    listener: TcpListener,
    services: Services,
    mailer: Mailer,
}

impl App {
    pub async fn build(config: Config) -> Result<App, StartError> {
        config.validate()?;
        let backend = config.backend()?;
        let store = store::connect(&config.database, backend, true).await?;
        let mailer = Mailer::new(store.clone());
        let bus = Arc::new(Bus::new(&config)?);
        let services = Services::new(&config, store, mailer.clone(), bus);
        let addr = config.listen_addr();
        let listener = TcpListener::bind(addr).await.map_err(|source| StartError::Bind { addr, source })?;
        Ok(App { config, listener, services, mailer })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    pub fn services(&self) -> &Services {
        &self.services
    }

    /// Serves until `shutdown` resolves, then stops accepting, lets requests in flight
    /// finish (at most `http.shutdown_grace_seconds`), stops the mail worker and closes
    /// the database.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let App { config, listener, services, mailer } = self;
        let (stop_tx, stop_rx) = watch::channel(false);
        let stopped = move |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|stop| *stop).await;
        };
        let hub = services.hub.clone();
        tokio::spawn(async move {
            shutdown.await;
            tracing::info!("shutting down");
            let _ = stop_tx.send(true);
            // Gateway sockets reconnect elsewhere (4012) at once; a socket that
            // authenticates after this sees the flag and is closed the same way.
            hub.close_all(salon_protocol::gateway::close::GOING_AWAY);
        });

        // Every socket's ping and idle check: one ticker for the node, each socket in one
        // of `heartbeat_seconds` one-second slots (see `Hub::heartbeat`).
        let hub = services.hub.clone();
        let slots = config.gateway.heartbeat_seconds;
        let mut heartbeat_stop = stop_rx.clone();
        let heartbeat = tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(1));
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut slot = 0;
            loop {
                tokio::select! {
                    _ = every.tick() => {
                        hub.heartbeat(slot, slots);
                        slot = (slot + 1) % slots;
                    }
                    _ = heartbeat_stop.wait_for(|stop| *stop) => return,
                }
            }
        });

        let worker = tokio::spawn(mailer.run_worker(Worker::from_config(&config.mail), stopped(stop_rx.clone())));

        let accounts = services.accounts.clone();
        let invitations = services.invitations.clone();
        let mut maintenance_stop = stop_rx.clone();
        let maintenance = tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(60));
            loop {
                tokio::select! {
                    _ = every.tick() => {
                        accounts.forget_idle_limits();
                        invitations.forget_idle_limits();
                    }
                    _ = maintenance_stop.wait_for(|stop| *stop) => return,
                }
            }
        });

        // Cluster mode: whenever the node may have missed events, bring its sockets in line
        // with the database before it trusts its view again.
        let reconciling = services.clone();
        let mut reconcile_stop = stop_rx.clone();
        let reconciler = tokio::spawn(async move {
            loop {
                let generation = tokio::select! {
                    g = reconciling.bus.reconcile_requested() => g,
                    _ = reconcile_stop.wait_for(|stop| *stop) => return,
                };
                match crate::gateway::reconcile(&reconciling).await {
                    Ok(()) => reconciling.bus.reconciled(generation),
                    Err(e) => {
                        tracing::warn!(error = %e, "reconciling sockets with the database failed; retrying");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                }
            }
        });

        tracing::info!(
            addr = %listener.local_addr()?,
            backend = ?services.store.backend(),
            bus = services.bus.state().as_str(),
            "Salon is listening"
        );
        let gateway = Arc::new(GatewayState::new(config.gateway.clone(), config.allowed_origins(), stop_rx.clone()));
        let router = http::router(AppState { services: services.clone(), gateway }, config.http.max_body_bytes);
        // Nagle's algorithm holds back small frames waiting for an ACK; a chat server sends
        // nothing but small frames, so every accepted socket goes out without delay.
        let listener = listener.tap_io(|socket| {
            if let Err(e) = socket.set_nodelay(true) {
                tracing::debug!(error = %e, "could not set TCP_NODELAY");
            }
        });
        let serve = axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(stopped(stop_rx.clone()));
        let grace = Duration::from_secs(config.http.shutdown_grace_seconds);
        tokio::select! {
            served = serve => served?,
            _ = async { stopped(stop_rx.clone()).await; tokio::time::sleep(grace).await } => {
                tracing::warn!("shutdown grace period over; closing the connections still open");
            }
        }
        // Gateway sockets live outside the HTTP server's draining; they were told to
        // reconnect elsewhere (4012) when shutdown began: give them a moment to say so
        // before the store closes.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while services.hub.sockets() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        services.bus.shutdown().await;
        let _ = worker.await;
        let _ = maintenance.await;
        let _ = heartbeat.await;
        let _ = reconciler.await;
        services.store.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}
