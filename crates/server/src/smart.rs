//! SMART App Launch 2 discovery (`/.well-known/smart-configuration`, also under `/fhir`) and CORS
//! for browser apps. Carnet is only the resource server: the authorization server is the
//! configured OpenID provider, whose endpoints are published here as configured — and nothing
//! is claimed that is not configured.

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::AppState;
use crate::error::ApiError;
use crate::fhir::FhirError;

/// How browser apps and SMART clients reach Carnet. The default publishes no SMART
/// configuration and allows no origin.
#[derive(Debug, Clone, Default)]
pub struct BrowserAccess {
    /// The SMART authorization server (`None`: the well-known answers 404 and the
    /// CapabilityStatement does not claim the SMART-on-FHIR service).
    pub smart: Option<SmartConfiguration>,
    /// Origins (`scheme://host[:port]`) whose pages may call `/fhir` and the well-known.
    pub cors_origins: Vec<String>,
}

/// The SMART configuration document (SMART App Launch 2.x, "Conformance").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SmartConfiguration {
    pub issuer: String,
    pub jwks_uri: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revocation_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub introspection_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub token_endpoint_auth_methods_supported: Vec<String>,
    pub grant_types_supported: Vec<String>,
    pub scopes_supported: Vec<String>,
    pub response_types_supported: Vec<String>,
    pub code_challenge_methods_supported: Vec<String>,
    pub capabilities: Vec<String>,
}

/// Request headers a browser app may send (`Prefer` for FHIR's handling and return preferences).
const ALLOWED_HEADERS: [HeaderName; 6] = [
    header::AUTHORIZATION,
    header::CONTENT_TYPE,
    header::ACCEPT,
    HeaderName::from_static("prefer"),
    header::IF_MATCH,
    header::IF_NONE_MATCH,
];

/// Response headers a browser app may read: where a created resource is, its version, and why a
/// token was refused (`insufficient_scope`), and whether a lenient search was honoured.
const EXPOSED_HEADERS: [HeaderName; 6] = [
    header::LOCATION,
    header::CONTENT_LOCATION,
    header::ETAG,
    header::LAST_MODIFIED,
    header::WWW_AUTHENTICATE,
    HeaderName::from_static("preference-applied"),
];

/// The CORS layer for `origins`; `None` when no origin is configured (no CORS header is ever sent).
pub fn cors_layer(origins: &[String]) -> Option<CorsLayer> {
    let origins: Vec<HeaderValue> = origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect();
    if origins.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH])
            .allow_headers(ALLOWED_HEADERS)
            .expose_headers(EXPOSED_HEADERS)
            .max_age(std::time::Duration::from_secs(600)),
    )
}

/// A CORS preflight from an origin not configured is refused with a message naming it (the
/// CORS layer alone would answer it with no `Access-Control-Allow-Origin`, which browsers refuse
/// silently); any other answer to such an origin leaves with no CORS header at all.
pub async fn refuse_unknown_origins(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let preflight = request.method() == Method::OPTIONS && request.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let stranger = request
        .headers()
        .get(header::ORIGIN)
        .map(|o| String::from_utf8_lossy(o.as_bytes()).into_owned())
        .filter(|origin| !state.browser.cors_origins.iter().any(|o| o == origin));
    let Some(origin) = stranger else {
        return next.run(request).await;
    };
    if preflight {
        let detail = format!("the origin {origin:?} is not allowed to call Carnet from a browser (not among the configured CORS origins)");
        return if request.uri().path().starts_with("/fhir") {
            FhirError::new(StatusCode::FORBIDDEN, carnet_fhir::IssueType::Forbidden, detail).into_response()
        } else {
            ApiError::new(StatusCode::FORBIDDEN, detail).into_response()
        };
    }
    let mut response = next.run(request).await;
    let cors: Vec<HeaderName> = response.headers().keys().filter(|k| k.as_str().starts_with("access-control-")).cloned().collect();
    for name in cors {
        response.headers_mut().remove(name);
    }
    response
}

/// `GET /.well-known/smart-configuration`: public, no token.
pub async fn configuration(State(state): State<AppState>) -> Result<Response, ApiError> {
    published(&state).ok_or_else(not_configured)
}

/// `GET /fhir/.well-known/smart-configuration`: the same document; the refusal as an OperationOutcome.
pub async fn fhir_configuration(State(state): State<AppState>) -> Result<Response, FhirError> {
    published(&state).ok_or_else(|| FhirError::from(not_configured()))
}

fn published(state: &AppState) -> Option<Response> {
    state.browser.smart.as_ref().map(|smart| axum::Json(smart).into_response())
}

fn not_configured() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no SMART authorization server is configured on this server (the [smart] section of its configuration)",
    )
}
