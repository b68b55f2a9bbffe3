//! The people's spaces: server-rendered French pages (askama templates in `templates/`, checked
//! at compile time), our own stylesheet, no script. Pages call the same service methods as `/api`;
//! this module renders, it decides nothing.
//!
//! Every page answers with the headers of `page_headers`: a Content-Security-Policy that allows
//! no script at all and no framing, no referrer, no caching of what may be personal.

use askama::Template;
use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use crate::AppState;

pub mod session;
pub mod signin;

/// What a page may load: its own stylesheet and images, forms posted to itself; nothing else.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const STYLESHEET: &str = include_str!("../../static/carnet.css");

pub fn router() -> Router<AppState> {
    Router::new().route("/", get(home)).route("/static/carnet.css", get(stylesheet)).layer(axum::middleware::from_fn(page_headers))
}

/// The security headers of every portal answer (pages, their stylesheet, their 404).
pub async fn page_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// A rendered page, or a plain 500 when a template fails (it cannot with checked templates and
/// owned data, but rendering is fallible by type).
fn page(status: StatusCode, rendered: Result<String, askama::Error>) -> Response {
    match rendered {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a page failed to render");
            (StatusCode::INTERNAL_SERVER_ERROR, "erreur interne").into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "accueil_public.html")]
struct PublicHome {
    /// Whether the "Se connecter" link leads somewhere.
    connexion: bool,
}

async fn home() -> Response {
    page(StatusCode::OK, PublicHome { connexion: true }.render())
}

async fn stylesheet() -> Response {
    let mut response = ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLESHEET).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    response
}

#[derive(Template)]
#[template(path = "introuvable.html")]
struct NotFoundPage;

/// Whether the caller is a browser asking for a page (HTML first), rather than an API client.
pub fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.split(',').next().is_some_and(|first| first.trim().starts_with("text/html")))
}

/// The French 404 page, with the page headers.
pub fn not_found_page() -> Response {
    let mut response = page(StatusCode::NOT_FOUND, NotFoundPage.render());
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
