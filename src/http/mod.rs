//! The REST transport: axum routes under `/api/v1`, the OpenAPI document generated from
//! them, health endpoints and the few HTML pages e-mailed links land on.
//!
//! Owns the mapping between HTTP and the services: parsing requests (every body through
//! [`ApiJson`], every path id through [`ApiPath`], the session through [`Caller`]) and
//! turning service errors into `{"error": {"code", "message"}}` once, in [`ApiError`].
//! Never reads the store for access decisions: handlers ask the services, which ask
//! the membership gate.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::{HeaderValue, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::de::DeserializeOwned;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;

use salon_protocol::{ErrorBody, ErrorCode, ErrorObject};

use crate::gateway::GatewayState;
use crate::services::{self, Services};

mod accounts;
mod conversations;
mod health;
mod invitations;
mod web;
mod workspaces;

pub use accounts::account_view;
pub use services::Caller;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub services: Services,
    pub gateway: Arc<GatewayState>,
}

/// Paths served outside the API: the web app's page (links in e-mails land on it) and its
/// assets. Not part of the OpenAPI document; a test checks that nothing else is routed
/// outside it.
pub const PAGES: &[&str] = &["/", "/verify", "/reset-password", "/invite", "/assets/{*path}"];

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Salon",
        description = "Self-hosted real-time chat with external guests. Errors are \
            `{\"error\": {\"code\", \"message\"}}`; codes are listed in the ErrorCode schema and \
            in protocol/README.md.",
        license(name = "AGPL-3.0-only")
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Sign-up, log-in, sessions, passwords"),
        (name = "workspaces", description = "Workspaces, members and roles, the audit log, handing access over"),
        (name = "invitations", description = "Inviting people by e-mail into a workspace or as guests; accepting"),
        (name = "groups", description = "Groups: named sets of people with their own chat; access in bulk"),
        (name = "conversations", description = "Threads, direct conversations, who can see them, the caller's list"),
        (name = "messages", description = "Messages, history, reactions, read markers, search"),
        (name = "people", description = "Contacts and profiles"),
        (name = "gateway", description = "The real-time WebSocket gateway (protocol/gateway.md)"),
        (name = "operations", description = "Health and the API description")
    ),
    components(schemas(ErrorCode))
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(health::routes())
        .merge(accounts::routes())
        .merge(workspaces::routes())
        .merge(conversations::routes())
        .merge(invitations::routes())
        .routes(utoipa_axum::routes!(crate::gateway::upgrade))
}

/// The OpenAPI document, as served at `/api/v1/openapi.json` and committed in
/// `protocol/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = api().into_openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc
}

/// The whole HTTP application.
pub fn router(state: AppState, max_body_bytes: usize) -> Router {
    let (api_router, _) = api().split_for_parts();
    api_router
        .route(PAGES[0], get(web::index))
        .route(PAGES[1], get(web::index))
        .route(PAGES[2], get(web::index))
        .route(PAGES[3], get(web::index))
        .route(PAGES[4], get(web::asset))
        .fallback(|| async { ApiError::new(ErrorCode::RouteNotFound, "no route matches this path") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(ErrorCode::MethodNotAllowed, "this path does not accept this method")
        })
        .layer(axum::extract::DefaultBodyLimit::max(max_body_bytes))
        .with_state(state)
}

// ---------------------------------------------------------------------------------------
// Errors

/// An error answer. Built from a service error or a request rejection; rendered as the
/// documented envelope with the code's status.
#[derive(Debug)]
pub struct ApiError {
    code: ErrorCode,
    message: String,
    field: Option<String>,
    retry_after_secs: Option<u64>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError { code, message: message.into(), field: None, retry_after_secs: None }
    }
}

impl From<services::Error> for ApiError {
    fn from(e: services::Error) -> ApiError {
        let (code, message) = e.code_and_message();
        let mut error = ApiError::new(code, message);
        match e {
            services::Error::Invalid(invalid) => error.field = Some(invalid.field.to_owned()),
            services::Error::RateLimited(wait) => error.retry_after_secs = Some(wait.as_secs().max(1)),
            _ => {}
        }
        error
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code.http_status()).expect("documented statuses are valid");
        let body = ErrorBody { error: ErrorObject { code: self.code, message: self.message, field: self.field } };
        let mut response = (status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after_secs {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

// ---------------------------------------------------------------------------------------
// Extractors

/// A JSON body whose every rejection is one of the documented codes.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    let code = match &rejection {
        JsonRejection::JsonDataError(_) => ErrorCode::InvalidRequest,
        JsonRejection::JsonSyntaxError(_) => ErrorCode::MalformedJson,
        JsonRejection::MissingJsonContentType(_) => ErrorCode::UnsupportedMediaType,
        JsonRejection::BytesRejection(b) if b.status() == StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
        _ => ErrorCode::InvalidRequest,
    };
    ApiError::new(code, rejection.body_text())
}

/// Query parameters; anything that does not fit (an unknown parameter, a wrong type) is
/// `invalid_request`.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(v)| ApiQuery(v))
            .map_err(|rejection| ApiError::new(ErrorCode::InvalidRequest, rejection.body_text()))
    }
}

/// Path parameters. A malformed identifier names nothing, so it answers `not_found`
/// exactly like an identifier that does not exist.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| ApiPath(v))
            .map_err(|_| services::Error::NotFound.into())
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| ApiError::from(services::Error::Unauthenticated))?;
        Ok(state.services.accounts.authenticate(token.trim()).await?)
    }
}

/// The client's address, for per-address rate limits.
pub struct ClientAddr(pub std::net::IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let ConnectInfo(addr) = ConnectInfo::<SocketAddr>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::new(ErrorCode::Internal, "internal error"))?;
        Ok(ClientAddr(addr.ip()))
    }
}
