//! `/api/v1/auth/*` and `/api/v1/me`: sign-up, verification, sessions, passwords, profile.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use salon_protocol::ErrorBody;
use salon_protocol::rest::{
    Accepted, Account, ChangePasswordRequest, LoginRequest, PasswordResetConfirm, PasswordResetRequest, Session,
    SignupRequest, TokenRequest, UpdateProfileRequest,
};

use super::{ApiJson, ApiResult, AppState, Caller, ClientAddr};
use crate::services::NewSession;
use crate::store::AccountRow;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sign_up))
        .routes(routes!(verify))
        .routes(routes!(log_in))
        .routes(routes!(log_out))
        .routes(routes!(log_out_everywhere))
        .routes(routes!(change_password))
        .routes(routes!(request_reset))
        .routes(routes!(complete_reset))
        .routes(routes!(me, update_me))
}

pub fn account_view(a: &AccountRow) -> Account {
    Account {
        id: a.id,
        email: a.email.as_str().to_owned(),
        display_name: a.display_name.clone(),
        created_at: a.created_at,
    }
}

pub(crate) fn session_view(s: NewSession) -> Session {
    Session { token: s.token.reveal().to_owned(), expires_at: s.expires_at, account: account_view(&s.account) }
}

/// Starts a sign-up: an e-mail with a verification link goes to the address. The answer
/// is the same whether or not the address already has an account.
#[utoipa::path(
    post,
    path = "/api/v1/auth/signup",
    tag = "auth",
    request_body = SignupRequest,
    responses(
        (status = 202, body = Accepted),
        (status = 400, body = ErrorBody, description = "malformed_json, invalid_request"),
        (status = 422, body = ErrorBody, description = "validation_failed"),
        (status = 429, body = ErrorBody, description = "rate_limited"),
    )
)]
async fn sign_up(
    State(state): State<AppState>,
    ClientAddr(from): ClientAddr,
    ApiJson(req): ApiJson<SignupRequest>,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    state.services.accounts.sign_up(&req.email, req.password, &req.display_name, from).await?;
    Ok((StatusCode::ACCEPTED, Json(Accepted::check_your_email())))
}

/// Completes a sign-up with the token from the e-mailed link; creates the account and
/// returns its first session.
#[utoipa::path(
    post,
    path = "/api/v1/auth/verify",
    tag = "auth",
    request_body = TokenRequest,
    responses((status = 200, body = Session), (status = 400, body = ErrorBody, description = "invalid_token"))
)]
async fn verify(State(state): State<AppState>, ApiJson(req): ApiJson<TokenRequest>) -> ApiResult<Json<Session>> {
    Ok(Json(session_view(state.services.accounts.verify(&req.token).await?)))
}

/// Opens a session. Unknown address, unverified address and wrong password all answer
/// `invalid_credentials`.
#[utoipa::path(
    post,
    path = "/api/v1/auth/login",
    tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, body = Session),
        (status = 401, body = ErrorBody, description = "invalid_credentials"),
        (status = 429, body = ErrorBody, description = "rate_limited"),
    )
)]
async fn log_in(
    State(state): State<AppState>,
    ClientAddr(from): ClientAddr,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Json<Session>> {
    Ok(Json(session_view(state.services.accounts.log_in(&req.email, req.password, from).await?)))
}

/// Ends the session used for this request.
#[utoipa::path(
    post,
    path = "/api/v1/auth/logout",
    tag = "auth",
    security(("session" = [])),
    responses((status = 204), (status = 401, body = ErrorBody, description = "unauthenticated"))
)]
async fn log_out(State(state): State<AppState>, caller: Caller) -> ApiResult<StatusCode> {
    state.services.accounts.log_out(&caller).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Ends every session of the account, this one included.
#[utoipa::path(
    post,
    path = "/api/v1/auth/logout-all",
    tag = "auth",
    security(("session" = [])),
    responses((status = 204), (status = 401, body = ErrorBody, description = "unauthenticated"))
)]
async fn log_out_everywhere(State(state): State<AppState>, caller: Caller) -> ApiResult<StatusCode> {
    state.services.accounts.log_out_everywhere(&caller).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Changes the password; every other session of the account ends.
#[utoipa::path(
    post,
    path = "/api/v1/auth/password",
    tag = "auth",
    security(("session" = [])),
    request_body = ChangePasswordRequest,
    responses(
        (status = 204),
        (status = 401, body = ErrorBody, description = "unauthenticated, invalid_credentials (wrong current password)"),
        (status = 422, body = ErrorBody, description = "validation_failed"),
    )
)]
async fn change_password(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<ChangePasswordRequest>,
) -> ApiResult<StatusCode> {
    state.services.accounts.change_password(&caller, req.current_password, req.new_password).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Asks for a password-reset link. The answer is the same whether or not the address has
/// an account.
#[utoipa::path(
    post,
    path = "/api/v1/auth/password-reset",
    tag = "auth",
    request_body = PasswordResetRequest,
    responses((status = 202, body = Accepted), (status = 429, body = ErrorBody, description = "rate_limited"))
)]
async fn request_reset(
    State(state): State<AppState>,
    ClientAddr(from): ClientAddr,
    ApiJson(req): ApiJson<PasswordResetRequest>,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    state.services.accounts.request_reset(&req.email, from).await?;
    Ok((StatusCode::ACCEPTED, Json(Accepted::check_your_email())))
}

/// Sets a new password with the token from a reset link; every session of the account
/// ends.
#[utoipa::path(
    post,
    path = "/api/v1/auth/password-reset/confirm",
    tag = "auth",
    request_body = PasswordResetConfirm,
    responses(
        (status = 204),
        (status = 400, body = ErrorBody, description = "invalid_token"),
        (status = 422, body = ErrorBody, description = "validation_failed"),
    )
)]
async fn complete_reset(
    State(state): State<AppState>,
    ClientAddr(from): ClientAddr,
    ApiJson(req): ApiJson<PasswordResetConfirm>,
) -> ApiResult<StatusCode> {
    state.services.accounts.complete_reset(&req.token, req.new_password, from).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in account.
#[utoipa::path(
    get,
    path = "/api/v1/me",
    tag = "auth",
    security(("session" = [])),
    responses((status = 200, body = Account), (status = 401, body = ErrorBody, description = "unauthenticated"))
)]
async fn me(caller: Caller) -> Json<Account> {
    Json(account_view(&caller.account))
}

/// Changes the signed-in account's display name.
#[utoipa::path(
    patch,
    path = "/api/v1/me",
    tag = "auth",
    security(("session" = [])),
    request_body = UpdateProfileRequest,
    responses(
        (status = 200, body = Account),
        (status = 401, body = ErrorBody, description = "unauthenticated"),
        (status = 422, body = ErrorBody, description = "validation_failed"),
    )
)]
async fn update_me(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<UpdateProfileRequest>,
) -> ApiResult<Json<Account>> {
    let account = state.services.accounts.update_profile(&caller, &req.display_name).await?;
    Ok(Json(account_view(&account)))
}
