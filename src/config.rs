//! Configuration: `config.toml` defaults, then a file, then `SALON_*` environment variables.
//!
//! Owns parsing and validation of every setting; a wrong value stops start-up with a
//! message naming the key. Never reads a setting anywhere else, and never prints a
//! secret (see [`Secret`]).

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Every setting. The defaults here are the ones documented in `config.toml`; a test
/// checks that the two agree.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub http: HttpConfig,
    pub database: DatabaseConfig,
    pub mail: MailConfig,
    pub auth: AuthConfig,
    pub workspaces: WorkspacesConfig,
    pub invitations: InvitationsConfig,
    pub messages: MessagesConfig,
    pub gateway: GatewayConfig,
    pub cluster: ClusterConfig,
    pub log: LogConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    pub listen: String,
    pub public_url: String,
    pub max_body_bytes: usize,
    pub shutdown_grace_seconds: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    pub url: Secret<String>,
    pub max_connections: u32,
    pub sqlite_synchronous: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailConfig {
    pub transport: String,
    pub outbox_dir: PathBuf,
    pub from: String,
    pub smtp_host: String,
    pub smtp_port: u16,
    pub smtp_tls: String,
    pub smtp_username: String,
    pub smtp_password: Secret<String>,
    pub smtp_timeout_seconds: u64,
    pub retry_min_seconds: u64,
    pub retry_max_seconds: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    pub session_ttl_hours: u64,
    pub verification_ttl_hours: u64,
    pub reset_ttl_minutes: u64,
    pub max_concurrent_hashes: usize,
    pub login_attempts_per_account: u32,
    pub attempts_per_address: u32,
    pub emails_per_address_per_hour: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkspacesConfig {
    pub default_seat_limit: u32,
    pub default_lite_grant_limit: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InvitationsConfig {
    pub ttl_hours: u64,
    pub per_inviter_per_hour: u32,
    pub per_address_per_hour: u32,
    pub max_batch: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MessagesConfig {
    pub max_body_bytes: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayConfig {
    pub allowed_origins: Vec<String>,
    pub auth_timeout_seconds: u64,
    pub heartbeat_seconds: u64,
    pub idle_timeout_seconds: u64,
    pub max_frame_bytes: usize,
    pub queue_frames: usize,
    pub queue_bytes: usize,
    pub frames_per_second: u32,
    pub max_sockets_per_account: usize,
    pub max_sockets_per_address: usize,
    pub resume_max_messages: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    pub redis_url: Secret<String>,
    pub channel_prefix: String,
    pub heartbeat_ms: u64,
    pub peer_timeout_ms: u64,
    pub peer_eviction_seconds: u64,
    pub removal_timeout_ms: u64,
    pub reconnect_max_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub level: String,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: "127.0.0.1:8080".into(),
            public_url: "http://127.0.0.1:8080".into(),
            max_body_bytes: 1024 * 1024,
            shutdown_grace_seconds: 10,
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: Secret("sqlite://data/salon.db".into()),
            max_connections: 10,
            sqlite_synchronous: "full".into(),
        }
    }
}

impl Default for MailConfig {
    fn default() -> Self {
        MailConfig {
            transport: "file".into(),
            outbox_dir: PathBuf::from("data/outbox"),
            from: "Salon <salon@localhost>".into(),
            smtp_host: "localhost".into(),
            smtp_port: 587,
            smtp_tls: "starttls".into(),
            smtp_username: String::new(),
            smtp_password: Secret(String::new()),
            smtp_timeout_seconds: 10,
            retry_min_seconds: 5,
            retry_max_seconds: 3600,
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            session_ttl_hours: 24 * 30,
            verification_ttl_hours: 24,
            reset_ttl_minutes: 60,
            max_concurrent_hashes: 0,
            login_attempts_per_account: 10,
            attempts_per_address: 50,
            emails_per_address_per_hour: 5,
        }
    }
}

impl Default for WorkspacesConfig {
    fn default() -> Self {
        WorkspacesConfig { default_seat_limit: 50, default_lite_grant_limit: 5 }
    }
}

impl Default for InvitationsConfig {
    fn default() -> Self {
        InvitationsConfig { ttl_hours: 168, per_inviter_per_hour: 200, per_address_per_hour: 10, max_batch: 100 }
    }
}

impl Default for MessagesConfig {
    fn default() -> Self {
        MessagesConfig { max_body_bytes: 64 * 1024 }
    }
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            allowed_origins: Vec::new(),
            auth_timeout_seconds: 10,
            heartbeat_seconds: 20,
            idle_timeout_seconds: 60,
            max_frame_bytes: 96 * 1024,
            queue_frames: 1024,
            queue_bytes: 4 * 1024 * 1024,
            frames_per_second: 50,
            max_sockets_per_account: 16,
            max_sockets_per_address: 256,
            resume_max_messages: 1000,
        }
    }
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            redis_url: Secret(String::new()),
            channel_prefix: "salon".into(),
            heartbeat_ms: 1000,
            peer_timeout_ms: 3000,
            peer_eviction_seconds: 30,
            removal_timeout_ms: 2000,
            reconnect_max_ms: 5000,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig { level: "info,sqlx=warn".into() }
    }
}

/// A value that must never be printed: `Debug` and `Display` show `"***"`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret<T>(pub T);

impl<T> Secret<T> {
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Why a configuration was refused. The message always names the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("config key `{key}`: {message}")]
    Invalid { key: String, message: String },
    #[error("environment variable {var}: no such setting (settings are SALON_<SECTION>_<KEY>, see config.toml)")]
    UnknownEnv { var: String },
}

fn invalid(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { key: key.to_owned(), message: message.into() }
}

/// Which storage backend a database URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Config {
    /// Loads the configuration: the file at `path` if given (else `config.toml` in the
    /// working directory if it exists, else the built-in defaults), then `env`
    /// overrides. Validates everything before returning.
    pub fn load(path: Option<&Path>, env: impl IntoIterator<Item = (String, String)>) -> Result<Config, ConfigError> {
        let (text, source) = match path {
            Some(p) => (
                std::fs::read_to_string(p).map_err(|source| ConfigError::Read { path: p.to_owned(), source })?,
                p.to_owned(),
            ),
            None => {
                let p = PathBuf::from("config.toml");
                match std::fs::read_to_string(&p) {
                    Ok(t) => (t, p),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => (String::new(), p),
                    Err(source) => return Err(ConfigError::Read { path: p, source }),
                }
            }
        };
        let mut table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| ConfigError::Parse { path: source.clone(), message: e.to_string() })?;
        apply_env(&mut table, env)?;
        let config: Config = serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
            let key = e.path().to_string();
            ConfigError::Invalid { key, message: e.into_inner().to_string() }
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks ranges and formats that the types alone do not.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.http
            .listen
            .parse::<SocketAddr>()
            .map_err(|_| invalid("http.listen", "expected an address and port such as 127.0.0.1:8080"))?;
        let url = self.http.public_url.trim_end_matches('/');
        if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() < "http://x".len() {
            return Err(invalid("http.public_url", "expected an http:// or https:// URL"));
        }
        if !(1024..=64 * 1024 * 1024).contains(&self.http.max_body_bytes) {
            return Err(invalid("http.max_body_bytes", "must be between 1024 and 67108864"));
        }
        if self.http.shutdown_grace_seconds > 3600 {
            return Err(invalid("http.shutdown_grace_seconds", "must be at most 3600"));
        }
        self.backend()?;
        if !(1..=1000).contains(&self.database.max_connections) {
            return Err(invalid("database.max_connections", "must be between 1 and 1000"));
        }
        if !["full", "normal"].contains(&self.database.sqlite_synchronous.as_str()) {
            return Err(invalid("database.sqlite_synchronous", "must be \"full\" or \"normal\""));
        }
        let m = &self.mail;
        if !["file", "smtp"].contains(&m.transport.as_str()) {
            return Err(invalid("mail.transport", "must be \"file\" or \"smtp\""));
        }
        if m.from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(invalid("mail.from", "expected a mailbox such as `Salon <salon@example.com>`"));
        }
        if m.transport == "smtp" && (m.smtp_host.trim().is_empty() || m.smtp_port == 0) {
            return Err(invalid("mail.smtp_host", "the smtp transport needs a host and a port"));
        }
        if !["starttls", "tls", "none"].contains(&m.smtp_tls.as_str()) {
            return Err(invalid("mail.smtp_tls", "must be \"starttls\", \"tls\" or \"none\""));
        }
        if m.smtp_username.is_empty() != m.smtp_password.expose().is_empty() {
            return Err(invalid("mail.smtp_username", "give both smtp_username and smtp_password, or neither"));
        }
        for (key, value, max) in [
            ("mail.smtp_timeout_seconds", m.smtp_timeout_seconds, 300),
            ("mail.retry_min_seconds", m.retry_min_seconds, 3600),
            ("mail.retry_max_seconds", m.retry_max_seconds, 86_400),
        ] {
            if !(1..=max).contains(&value) {
                return Err(invalid(key, format!("must be between 1 and {max}")));
            }
        }
        if m.retry_max_seconds < m.retry_min_seconds {
            return Err(invalid("mail.retry_max_seconds", "must be at least mail.retry_min_seconds"));
        }
        let a = &self.auth;
        for (key, value, max) in [
            ("auth.session_ttl_hours", a.session_ttl_hours, 24 * 365),
            ("auth.verification_ttl_hours", a.verification_ttl_hours, 24 * 30),
            ("auth.reset_ttl_minutes", a.reset_ttl_minutes, 24 * 60),
        ] {
            if !(1..=max).contains(&value) {
                return Err(invalid(key, format!("must be between 1 and {max}")));
            }
        }
        if a.max_concurrent_hashes > 256 {
            return Err(invalid("auth.max_concurrent_hashes", "must be between 0 (one per core) and 256"));
        }
        for (key, value) in [
            ("auth.login_attempts_per_account", a.login_attempts_per_account),
            ("auth.attempts_per_address", a.attempts_per_address),
            ("auth.emails_per_address_per_hour", a.emails_per_address_per_hour),
        ] {
            if !(1..=100_000).contains(&value) {
                return Err(invalid(key, "must be between 1 and 100000"));
            }
        }
        if !(1..=1_000_000).contains(&self.workspaces.default_seat_limit) {
            return Err(invalid("workspaces.default_seat_limit", "must be between 1 and 1000000"));
        }
        if !(1..=1000).contains(&self.workspaces.default_lite_grant_limit) {
            return Err(invalid("workspaces.default_lite_grant_limit", "must be between 1 and 1000"));
        }
        let i = &self.invitations;
        if !(1..=2160).contains(&i.ttl_hours) {
            return Err(invalid("invitations.ttl_hours", "must be between 1 and 2160"));
        }
        for (key, value) in [
            ("invitations.per_inviter_per_hour", i.per_inviter_per_hour),
            ("invitations.per_address_per_hour", i.per_address_per_hour),
        ] {
            if !(1..=100_000).contains(&value) {
                return Err(invalid(key, "must be between 1 and 100000"));
            }
        }
        if !(1..=1000).contains(&i.max_batch) {
            return Err(invalid("invitations.max_batch", "must be between 1 and 1000"));
        }
        let g = &self.gateway;
        for origin in &g.allowed_origins {
            if !(origin.starts_with("http://") || origin.starts_with("https://")) || origin.ends_with('/') {
                return Err(invalid(
                    "gateway.allowed_origins",
                    format!("{origin:?}: expected an origin such as https://chat.example.com"),
                ));
            }
        }
        for (key, value, range) in [
            ("gateway.auth_timeout_seconds", g.auth_timeout_seconds, 1..=120),
            ("gateway.heartbeat_seconds", g.heartbeat_seconds, 1..=600),
            ("gateway.idle_timeout_seconds", g.idle_timeout_seconds, 2..=3600),
        ] {
            if !range.contains(&value) {
                return Err(invalid(key, format!("must be between {} and {}", range.start(), range.end())));
            }
        }
        if g.idle_timeout_seconds <= g.heartbeat_seconds {
            return Err(invalid("gateway.idle_timeout_seconds", "must be longer than gateway.heartbeat_seconds"));
        }
        if g.max_frame_bytes < self.messages.max_body_bytes + 1024 || g.max_frame_bytes > 16 * 1024 * 1024 {
            return Err(invalid(
                "gateway.max_frame_bytes",
                "must hold messages.max_body_bytes plus 1024, and at most 16 MiB",
            ));
        }
        for (key, value) in [
            ("gateway.queue_frames", g.queue_frames),
            ("gateway.queue_bytes", g.queue_bytes),
            ("gateway.max_sockets_per_account", g.max_sockets_per_account),
            ("gateway.max_sockets_per_address", g.max_sockets_per_address),
        ] {
            if !(1..=100_000_000).contains(&value) {
                return Err(invalid(key, "must be between 1 and 100000000"));
            }
        }
        if !(1..=10_000).contains(&g.frames_per_second) {
            return Err(invalid("gateway.frames_per_second", "must be between 1 and 10000"));
        }
        if !(0..=100_000).contains(&g.resume_max_messages) {
            return Err(invalid("gateway.resume_max_messages", "must be between 0 and 100000"));
        }
        if !(1..=1024 * 1024).contains(&self.messages.max_body_bytes) {
            return Err(invalid("messages.max_body_bytes", "must be between 1 and 1048576"));
        }
        let c = &self.cluster;
        if self.clustered() {
            let url = c.redis_url.expose();
            if !(url.starts_with("redis://") || url.starts_with("rediss://") || url.starts_with("unix://")) {
                return Err(invalid("cluster.redis_url", "expected redis://HOST:PORT[/DB] (or empty for one node)"));
            }
            if url.starts_with("rediss://") {
                return Err(invalid(
                    "cluster.redis_url",
                    "TLS to Redis (rediss://) is not built in: use a private network",
                ));
            }
            if self.backend()? != Backend::Postgres {
                return Err(invalid(
                    "cluster.redis_url",
                    "cluster mode needs a database the nodes share: set database.url to postgres://...",
                ));
            }
        }
        if c.channel_prefix.is_empty()
            || c.channel_prefix.len() > 64
            || !c.channel_prefix.chars().all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch))
        {
            return Err(invalid("cluster.channel_prefix", "1 to 64 letters, digits, '-', '_' or '.'"));
        }
        for (key, value, range) in [
            ("cluster.heartbeat_ms", c.heartbeat_ms, 50..=60_000),
            ("cluster.peer_timeout_ms", c.peer_timeout_ms, 100..=600_000),
            ("cluster.peer_eviction_seconds", c.peer_eviction_seconds, 1..=86_400),
            ("cluster.removal_timeout_ms", c.removal_timeout_ms, 10..=60_000),
            ("cluster.reconnect_max_ms", c.reconnect_max_ms, 10..=600_000),
        ] {
            if !range.contains(&value) {
                return Err(invalid(key, format!("must be between {} and {}", range.start(), range.end())));
            }
        }
        if c.peer_timeout_ms < 2 * c.heartbeat_ms {
            return Err(invalid("cluster.peer_timeout_ms", "must be at least twice cluster.heartbeat_ms"));
        }
        if c.peer_eviction_seconds * 1000 <= c.peer_timeout_ms {
            return Err(invalid("cluster.peer_eviction_seconds", "must be longer than cluster.peer_timeout_ms"));
        }
        self.log
            .level
            .parse::<tracing_subscriber::filter::Targets>()
            .map_err(|e| invalid("log.level", format!("{e} (expected e.g. \"info\" or \"info,salon=debug\")")))?;
        Ok(())
    }

    /// The storage backend the database URL selects.
    pub fn backend(&self) -> Result<Backend, ConfigError> {
        let url = self.database.url.expose();
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(invalid("database.url", "expected sqlite://PATH or postgres://USER@HOST:PORT/DB"))
        }
    }

    /// Whether this node is one of a cluster (a Redis URL is set).
    pub fn clustered(&self) -> bool {
        !self.cluster.redis_url.expose().is_empty()
    }

    pub fn listen_addr(&self) -> SocketAddr {
        self.http.listen.parse().expect("validated")
    }

    /// Origins allowed to open the gateway from a browser: the public URL's and the
    /// configured ones.
    pub fn allowed_origins(&self) -> Vec<String> {
        let mut origins = vec![origin_of(self.public_url())];
        origins.extend(self.gateway.allowed_origins.iter().cloned());
        origins
    }

    /// The public URL without a trailing slash, for building links.
    pub fn public_url(&self) -> &str {
        self.http.public_url.trim_end_matches('/')
    }
}

/// `scheme://host[:port]` of a URL.
fn origin_of(url: &str) -> String {
    let after_scheme = url.find("://").map(|i| i + 3).unwrap_or(0);
    match url[after_scheme..].find('/') {
        Some(i) => url[..after_scheme + i].to_owned(),
        None => url.to_owned(),
    }
}

/// The defaults as a TOML table, the shape `config.toml` documents.
pub fn defaults_table() -> toml::Table {
    match toml::Value::try_from(Config::default()).expect("defaults serialize") {
        toml::Value::Table(table) => table,
        _ => unreachable!("a struct serializes to a table"),
    }
}

/// Applies `SALON_<SECTION>_<KEY>` variables onto the parsed file. The set of valid
/// names comes from the defaults, so an unknown `SALON_` variable is an error rather than
/// a silently ignored typo. Values are read with the type of the default.
fn apply_env(table: &mut toml::Table, env: impl IntoIterator<Item = (String, String)>) -> Result<(), ConfigError> {
    let defaults = defaults_table();
    for (var, raw) in env {
        let Some(rest) = var.strip_prefix("SALON_") else {
            continue;
        };
        let found = defaults.iter().find_map(|(section, keys)| {
            let keys = keys.as_table()?;
            let key = rest.strip_prefix(&section.to_uppercase())?.strip_prefix('_')?;
            let (name, default) = keys.iter().find(|(k, _)| k.to_uppercase() == key)?;
            Some((section.clone(), name.clone(), default.clone()))
        });
        let Some((section, name, default)) = found else {
            return Err(ConfigError::UnknownEnv { var });
        };
        let key = format!("{section}.{name}");
        let value = match default {
            toml::Value::Integer(_) => toml::Value::Integer(
                raw.trim().parse().map_err(|_| invalid(&key, format!("{var}: expected a whole number")))?,
            ),
            toml::Value::Array(_) => toml::Value::Array(
                raw.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| toml::Value::String(s.to_owned()))
                    .collect(),
            ),
            toml::Value::Boolean(_) => toml::Value::Boolean(
                raw.trim().parse().map_err(|_| invalid(&key, format!("{var}: expected true or false")))?,
            ),
            _ => toml::Value::String(raw),
        };
        let section_table = table
            .entry(section)
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .ok_or_else(|| invalid(&key, "the section is not a table in the config file"))?;
        section_table.insert(name, value);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_str(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let dir = std::env::temp_dir().join(format!("salon-config-{}", crate::crypto::random_id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.toml");
        std::fs::write(&path, text).unwrap();
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        let result = Config::load(Some(&path), env);
        std::fs::remove_dir_all(&dir).ok();
        result
    }

    #[test]
    fn shipped_config_toml_matches_the_defaults() {
        let shipped = include_str!("../config.toml");
        let parsed: toml::Table = shipped.parse().expect("config.toml parses");
        let defaults = defaults_table();
        assert_eq!(parsed, defaults, "config.toml must list every setting with its default");
    }

    #[test]
    fn unknown_key_names_the_key() {
        let err = load_str("[http]\nlisten = \"127.0.0.1:1\"\nbogus = 1\n", &[]).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("bogus"), "{msg}");
    }

    #[test]
    fn out_of_range_value_names_the_key() {
        let err = load_str("[database]\nmax_connections = 0\n", &[]).unwrap_err();
        assert!(err.to_string().contains("database.max_connections"), "{err}");
    }

    #[test]
    fn bad_url_names_the_key() {
        let err = load_str("", &[("SALON_DATABASE_URL", "mysql://x")]).unwrap_err();
        assert!(err.to_string().contains("database.url"), "{err}");
        let err = load_str("[http]\npublic_url = \"ftp://x\"\n", &[]).unwrap_err();
        assert!(err.to_string().contains("http.public_url"), "{err}");
    }

    #[test]
    fn wrong_type_names_the_key() {
        let err = load_str("[http]\nmax_body_bytes = \"big\"\n", &[]).unwrap_err();
        assert!(err.to_string().contains("http.max_body_bytes"), "{err}");
    }

    #[test]
    fn environment_overrides_the_file() {
        let config = load_str(
            "[http]\nlisten = \"127.0.0.1:1\"\n",
            &[("SALON_HTTP_LISTEN", "127.0.0.1:2"), ("SALON_AUTH_SESSION_TTL_HOURS", "5"), ("HOME", "/x")],
        )
        .unwrap();
        assert_eq!(config.http.listen, "127.0.0.1:2");
        assert_eq!(config.auth.session_ttl_hours, 5);
    }

    #[test]
    fn unknown_salon_variable_is_refused() {
        let err = load_str("", &[("SALON_HTTP_LISTN", "x")]).unwrap_err();
        assert!(err.to_string().contains("SALON_HTTP_LISTN"), "{err}");
        let err = load_str("", &[("SALON_AUTH_SESSION_TTL_HOURS", "soon")]).unwrap_err();
        assert!(err.to_string().contains("auth.session_ttl_hours"), "{err}");
    }

    #[test]
    fn secrets_never_print() {
        let mut config = Config::default();
        config.database.url = Secret("postgres://u:hunter2@h/db".into());
        config.mail.smtp_password = Secret("swordfish".into());
        let printed = format!("{config:?}");
        assert!(!printed.contains("hunter2") && !printed.contains("swordfish"));
    }
}
