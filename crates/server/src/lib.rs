//! Carnet's HTTP edge. Handlers parse, call `carnet-service`, and render; they decide nothing.
//!
//! Architecture invariant: every route that acts for someone takes the `Authenticated`
//! extractor; errors leave through `ApiError` only.

mod error;
mod extract;
mod fhir;
mod metrics;
mod openapi;
pub mod portal;
mod refusals;
pub(crate) mod routes;
pub mod serve;
mod smart;
mod unread_body;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use carnet_auth::TokenVerifier;
use carnet_service::Carnet;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use error::{ApiError, Problem};
pub use metrics::Metrics;
pub use openapi::openapi;
pub use smart::{BrowserAccess, SmartConfiguration};

/// Limits of the HTTP edge.
#[derive(Debug, Clone)]
pub struct HttpLimits {
    /// Largest accepted request body on `/api` (JSON), in bytes.
    pub json_body_bytes: usize,
    /// Largest accepted document deposit (the document plus its multipart framing), in bytes.
    pub document_body_bytes: usize,
    /// A request taking longer is answered 408. Document transfers are exempt: they are
    /// bounded by an idle timeout instead, so a gigabyte upload is not cut off.
    pub request_timeout: Duration,
    /// Largest FHIR JSON body (an ITI-65 bundle carries its documents in base64), in bytes.
    pub fhir_body_bytes: usize,
    /// Largest document served as a JSON `Binary` (base64 in memory); larger ones are
    /// answered 413 and must be fetched as raw bytes.
    pub fhir_binary_json_bytes: u64,
    /// A deposit must arrive at this mean rate at least, once `upload_grace` has passed: a
    /// slower one is ended (408), nothing stored.
    pub min_upload_bytes_per_second: u64,
    pub upload_grace: Duration,
    /// A deposit still arriving after this long is ended (408), however fast: the upload
    /// sweep counts on it to know an old pending upload is abandoned.
    pub max_upload: Duration,
    /// Largest request header (name and value), in bytes: beyond, 431.
    pub header_bytes: usize,
    /// Largest sum of a request's headers, in bytes: beyond, 431.
    pub headers_total_bytes: usize,
    /// Longest request target (the URI as sent), in bytes: beyond, 414. At most 65,534: hyper
    /// refuses a longer one itself (see `serve::ConnectionLimits::head_buffer_bytes`).
    pub uri_bytes: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            json_body_bytes: 1024 * 1024,
            document_body_bytes: 8 << 30,
            request_timeout: Duration::from_secs(30),
            fhir_body_bytes: 64 << 20,
            fhir_binary_json_bytes: 16 << 20,
            header_bytes: 16 * 1024,
            headers_total_bytes: 64 * 1024,
            uri_bytes: 16 * 1024,
            min_upload_bytes_per_second: 1024,
            upload_grace: Duration::from_secs(30),
            max_upload: Duration::from_secs(3600),
        }
    }
}

/// Everything a handler may need. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// Shared, not copied, by every request (a `Carnet` holds a score of handles).
    pub carnet: Arc<Carnet>,
    pub verifier: TokenVerifier,
    pub metrics: Arc<Metrics>,
    /// The dev issuer's public keys, served at `/dev-issuer/jwks.json` in demo/dev mode only.
    pub dev_jwks: Option<Arc<serde_json::Value>>,
    /// SMART discovery and the CORS origins of browser apps.
    pub browser: Arc<BrowserAccess>,
    /// The portal's sign-in: session cookies, its identity provider, the dev provider.
    pub portal: Arc<portal::signin::Portal>,
}

impl axum::extract::FromRef<AppState> for Arc<Metrics> {
    fn from_ref(state: &AppState) -> Arc<Metrics> {
        state.metrics.clone()
    }
}

pub fn router(state: AppState, limits: &HttpLimits) -> Router {
    use routes::{apps, directory, documents, ledger, ops, policy, profile, records, search, timeline};
    // Streams of any size: their own body limit, no total timeout.
    let transfers = Router::new()
        .route("/api/records/{ins}/documents", post(documents::upload).get(documents::list))
        .route("/api/documents/{id}/content", get(documents::content))
        .layer(DefaultBodyLimit::max(limits.document_body_bytes))
        .layer(RequestBodyLimitLayer::new(limits.document_body_bytes))
        .layer(axum::Extension(routes::documents::UploadPace {
            min_bytes_per_second: limits.min_upload_bytes_per_second,
            grace: limits.upload_grace,
            max_duration: limits.max_upload,
        }));
    let api = Router::new()
        .route("/openapi.json", get(ops::openapi_document))
        .route("/records", post(records::create))
        .route("/records/{ins}", get(records::status))
        .route("/records/{ins}/close", post(records::close))
        .route("/records/{ins}/reopen", post(records::reopen))
        .route("/records/{ins}/destruction-request", post(records::request_destruction))
        .route("/statistics/records", get(records::statistics))
        .route("/professionals", post(directory::import).get(directory::search))
        .route("/professionals/{rpps}", get(directory::find).put(directory::upsert))
        .route("/documents/{id}", get(documents::read))
        .route("/documents/{id}/withdraw", post(documents::withdraw))
        .route("/documents/{id}/archive", post(documents::archive))
        .route("/documents/{id}/unarchive", post(documents::unarchive))
        .route("/documents/{id}/labels", axum::routing::put(policy::labels))
        .route("/records/{ins}/policy", get(policy::read))
        .route("/records/{ins}/policy/changes", post(policy::change))
        .route("/records/{ins}/emergency-access", post(policy::emergency))
        .route("/records/{ins}/reimbursement-history", axum::routing::delete(policy::delete_reimbursement))
        .route("/records/{ins}/notification-preferences", get(policy::preferences).put(policy::set_preferences))
        .route("/records/{ins}/search", get(search::search))
        .route("/records/{ins}/profile", get(profile::list).post(profile::add))
        .route("/records/{ins}/profile/{id}", axum::routing::put(profile::correct))
        .route("/records/{ins}/profile/{id}/entered-in-error", post(profile::entered_in_error))
        .route("/records/{ins}/timeline", get(timeline::timeline))
        .route("/records/{ins}/access-history", get(ledger::history))
        .route("/records/{ins}/access-history/receipts", get(ledger::receipts))
        .route("/records/{ins}/apps", get(apps::list))
        .route("/records/{ins}/apps/{client_id}/revoke", post(apps::revoke))
        .route("/records/{ins}/apps/{client_id}/allow", post(apps::allow))
        .route("/ledger/tree-head", get(ledger::latest))
        .route("/ledger/public-key", get(ledger::public_key))
        .route("/ledger/tree-heads/{size}", get(ledger::at_size))
        .route("/ledger/inclusion-proof", get(ledger::inclusion))
        .route("/ledger/consistency-proof", get(ledger::consistency))
        .route("/review-items", get(ledger::review_items))
        .route("/review-items/{id}/acknowledge", post(ledger::acknowledge))
        .route("/review-items/{id}/notes", post(ledger::annotate));
    let bounded = Router::new()
        .route("/health", get(ops::health))
        .route("/ready", get(ops::ready))
        .route("/metrics", get(ops::metrics))
        .route("/dev-issuer/jwks.json", get(ops::dev_jwks))
        .nest("/api", api)
        .layer(DefaultBodyLimit::max(limits.json_body_bytes))
        .layer(RequestBodyLimitLayer::new(limits.json_body_bytes))
        .layer(TimeoutLayer::with_status_code(axum::http::StatusCode::REQUEST_TIMEOUT, limits.request_timeout));
    // Browser apps reach `/fhir` and the SMART well-known only, from configured origins.
    let browser = Router::new().route("/.well-known/smart-configuration", get(smart::configuration)).merge(fhir::router(limits));
    let browser = match smart::cors_layer(&state.browser.cors_origins) {
        Some(cors) => browser.layer(cors),
        None => browser,
    };
    let browser = browser.layer(axum::middleware::from_fn_with_state(state.clone(), smart::refuse_unknown_origins));
    Router::new()
        .merge(bounded)
        .merge(transfers)
        .merge(browser)
        .merge(portal::router(limits))
        .merge(portal::signin::routes().layer(axum::middleware::from_fn(portal::page_headers)))
        .fallback(ops::not_found)
        .layer(axum::middleware::from_fn_with_state(refusals::HeaderLimits::of(limits), refusals::as_problems))
        .layer(axum::middleware::from_fn_with_state(state.metrics.clone(), metrics::track))
        .layer(TraceLayer::new_for_http())
        // Outermost: it sees the body every other layer and handler may leave unread.
        .layer(axum::middleware::from_fn(unread_body::keep_connection))
        .with_state(state)
}
