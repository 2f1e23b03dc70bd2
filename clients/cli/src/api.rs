//! The REST client: typed calls to `/api/v1`, and the one error type every command
//! returns, with the exit code it maps to. Knows nothing of the terminal.

use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use salon_protocol::{ErrorBody, ErrorCode};

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The server refused, with one of the documented codes.
    #[error("{message}")]
    Api { code: ErrorCode, message: String },
    #[error("cannot reach the server at {server}: {detail}")]
    Unreachable { server: String, detail: String },
    #[error("not logged in: run `salon-cli login --server URL` first")]
    NoSession,
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Other(String),
}

impl CliError {
    /// The process exit code: scripts tell outcomes apart without parsing messages.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => 2,
            CliError::NoSession => 3,
            CliError::Unreachable { .. } => 9,
            CliError::Other(_) => 1,
            CliError::Api { code, .. } => match code {
                ErrorCode::Unauthenticated | ErrorCode::InvalidCredentials | ErrorCode::InvalidToken => 3,
                ErrorCode::NotFound | ErrorCode::RouteNotFound => 4,
                ErrorCode::Forbidden | ErrorCode::ReadOnly | ErrorCode::ConversationLocked => 5,
                ErrorCode::MalformedJson
                | ErrorCode::InvalidRequest
                | ErrorCode::UnknownFrame
                | ErrorCode::ValidationFailed
                | ErrorCode::UnsupportedMediaType
                | ErrorCode::PayloadTooLarge
                | ErrorCode::MethodNotAllowed => 6,
                ErrorCode::ClientIdReused
                | ErrorCode::SeatLimitReached
                | ErrorCode::LastOwner
                | ErrorCode::LiteLimitReached
                | ErrorCode::AccountExists
                | ErrorCode::Conflict => 7,
                ErrorCode::RateLimited => 8,
                ErrorCode::Unavailable => 9,
                ErrorCode::Internal => 1,
            },
        }
    }

    /// The machine-readable code for `--json` error output.
    pub fn code(&self) -> &'static str {
        match self {
            CliError::Api { code, .. } => code.as_str(),
            CliError::Unreachable { .. } => "unreachable",
            CliError::NoSession => "not_logged_in",
            CliError::Usage(_) => "usage",
            CliError::Other(_) => "error",
        }
    }
}

pub type Result<T, E = CliError> = std::result::Result<T, E>;

/// A server and, once logged in, a session token.
#[derive(Clone)]
pub struct Api {
    pub server: String,
    pub token: Option<String>,
    http: reqwest::Client,
}

impl Api {
    pub fn new(server: &str, token: Option<String>) -> Api {
        let http = reqwest::Client::builder()
            .user_agent(concat!("salon-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("a default HTTP client builds");
        Api { server: server.trim_end_matches('/').to_owned(), token, http }
    }

    async fn send(&self, method: Method, path: &str, body: Option<reqwest::Body>, json: bool) -> Result<String> {
        let url = format!("{}/api/v1{path}", self.server);
        let mut request = self.http.request(method, &url);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.header("content-type", if json { "application/json" } else { "text/csv" }).body(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| CliError::Unreachable { server: self.server.clone(), detail: e.to_string() })?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| CliError::Unreachable { server: self.server.clone(), detail: e.to_string() })?;
        if status.is_success() {
            return Ok(text);
        }
        match serde_json::from_str::<ErrorBody>(&text) {
            Ok(body) => Err(CliError::Api { code: body.error.code, message: body.error.message }),
            Err(_) if status == StatusCode::NOT_FOUND => {
                Err(CliError::Other(format!("{} does not look like a Salon server", self.server)))
            }
            Err(_) => Err(CliError::Other(format!("unexpected answer {status} from {url}"))),
        }
    }

    /// A call with an optional JSON body, answering JSON.
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<T> {
        let body = body.map(|b| reqwest::Body::from(serde_json::to_vec(b).expect("requests serialize")));
        let text = self.send(method, path, body, true).await?;
        serde_json::from_str(&text).map_err(|e| CliError::Other(format!("unexpected answer from the server: {e}")))
    }

    /// A call whose answer has no body worth reading (204, or one we ignore).
    pub async fn call_ignoring(&self, method: Method, path: &str, body: Option<&impl Serialize>) -> Result<()> {
        let body = body.map(|b| reqwest::Body::from(serde_json::to_vec(b).expect("requests serialize")));
        self.send(method, path, body, true).await.map(|_| ())
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.call(Method::GET, path, None::<&()>).await
    }

    pub async fn post<T: DeserializeOwned>(&self, path: &str, body: &impl Serialize) -> Result<T> {
        self.call(Method::POST, path, Some(body)).await
    }

    /// Posts a CSV file.
    pub async fn post_csv<T: DeserializeOwned>(&self, path: &str, csv: String) -> Result<T> {
        let text = self.send(Method::POST, path, Some(reqwest::Body::from(csv)), false).await?;
        serde_json::from_str(&text).map_err(|e| CliError::Other(format!("unexpected answer from the server: {e}")))
    }

    /// The gateway's WebSocket URL.
    pub fn gateway_url(&self) -> String {
        let base = if let Some(rest) = self.server.strip_prefix("https://") {
            format!("wss://{rest}")
        } else if let Some(rest) = self.server.strip_prefix("http://") {
            format!("ws://{rest}")
        } else {
            self.server.clone()
        };
        format!("{base}/api/v1/gateway")
    }
}
