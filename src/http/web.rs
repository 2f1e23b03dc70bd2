//! The web app: static files under `clients/web/app/`, embedded in release builds (so
//! the binary is all an operator ships) and read from the source tree in debug builds
//! (so editing the app needs no rebuild). Every page path the server e-mails links to
//! (`/verify`, `/reset-password`, `/invite`) and `/` answer the app's `index.html`; the
//! app routes on the path and the fragment.
//!
//! Owns the security headers of the app's responses: a strict Content-Security-Policy
//! (scripts, styles and connections from this origin only, no framing), `nosniff`, no
//! referrer. Never serves anything outside its folder.

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rust_embed::Embed;

use salon_protocol::ErrorCode;

use super::ApiError;

#[derive(Embed)]
#[folder = "clients/web/app/"]
struct Assets;

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self' ws: wss:; font-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("json" | "webmanifest") => "application/json",
        Some("woff2") => "font/woff2",
        _ => "application/octet-stream",
    }
}

/// A file of the app, with an ETag so browsers revalidate cheaply.
fn serve(path: &str, request: &HeaderMap) -> Response {
    let Some(file) = Assets::get(path) else {
        return ApiError::new(ErrorCode::RouteNotFound, "no such file").into_response();
    };
    let etag = format!("\"{}\"", file.metadata.sha256_hash().iter().map(|b| format!("{b:02x}")).collect::<String>());
    let fresh = request.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(etag.as_str());
    let mut response =
        if fresh { StatusCode::NOT_MODIFIED.into_response() } else { file.data.into_owned().into_response() };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(path)));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::ETAG, HeaderValue::from_str(&etag).expect("hex is a valid header value"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// The app's page, for `/` and every path e-mailed links land on.
pub async fn index(request: HeaderMap) -> Response {
    serve("index.html", &request)
}

/// `/assets/{path}`: the app's scripts, styles and images.
pub async fn asset(Path(path): Path<String>, request: HeaderMap) -> Response {
    if path.split('/').any(|part| part == ".." || part.is_empty()) {
        return ApiError::new(ErrorCode::RouteNotFound, "no such file").into_response();
    }
    serve(&format!("assets/{path}"), &request)
}
