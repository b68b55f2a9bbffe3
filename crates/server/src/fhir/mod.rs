//! `/fhir`: FHIR R4 (4.0.1) and the IHE profiles on it (MHD, PDQm, PCF, BALP), the transactions
//! `carnet_fhir::capability::Transaction` lists. Handlers parse (with `carnet-fhir`), call `carnet-service`,
//! and render (with `carnet-fhir`); they decide nothing.
//!
//! Every answer is `application/fhir+json`; every error is an `OperationOutcome` (never the
//! problem details of `/api`), with the failing element or parameter in `expression`:
//! authentication, unknown paths and methods, bodies over `limits.fhir_body_bytes` (413),
//! malformed JSON and search parameters (400), refused content (422), denials (403) and what
//! the caller may not see (404, exactly as for what does not exist). Under
//! `Prefer: handling=lenient`, a search ignores the parameters it does not support and names them
//! in a warning OperationOutcome, the searchset's entry of search mode `outcome`.

mod documents;
mod lists;
mod patients;
mod privacy;
mod profile;

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use carnet_domain::Actor;
use carnet_fhir::model::{BundleLink, OperationOutcome};
use carnet_fhir::search::{Handling, Page, SearchError};
use carnet_fhir::{IssueSeverity, IssueType, MhdError, ServerDescription, ServerSecurity, SmartEndpoints, Transaction, operation_outcome};
use carnet_service::ServiceError;
use http_body_util::BodyExt;
use tower_http::timeout::TimeoutLayer;

use crate::error::ApiError;
use crate::extract::Authenticated;
use crate::{AppState, HttpLimits};

pub const FHIR_JSON: &str = "application/fhir+json";

/// What `/fhir` mounts: the CapabilityStatement is built from this list and `router` mounts
/// exactly these (a test walks every declared interaction).
pub const MOUNTED: &[Transaction] = &[
    Transaction::PatientDemographicsQuery,
    Transaction::ProvideDocumentBundle,
    Transaction::FindDocumentReferences,
    Transaction::RetrieveDocument,
    Transaction::FindLists,
    Transaction::UpdateSecurityLabels,
    Transaction::ReadConsents,
    Transaction::ReadAuditEvents,
    Transaction::PatientSummary,
    Transaction::SearchProfile,
    Transaction::CreateProfileItem,
];

/// The FHIR edge's body limits (`HttpLimits`), handed to handlers as an extension.
#[derive(Debug, Clone, Copy)]
pub struct FhirLimits {
    pub body_bytes: usize,
    pub binary_json_bytes: u64,
}

/// The FHIR edge's error: rendered once, as an `OperationOutcome`.
#[derive(Debug)]
pub struct FhirError {
    pub status: StatusCode,
    pub code: IssueType,
    pub diagnostics: String,
    pub expression: Vec<String>,
    challenge: Option<String>,
}

impl FhirError {
    pub fn new(status: StatusCode, code: IssueType, diagnostics: impl Into<String>) -> FhirError {
        FhirError { status, code, diagnostics: diagnostics.into(), expression: vec![], challenge: None }
    }

    /// Names the failing element (a FHIRPath) or parameter.
    pub fn at(mut self, expression: impl Into<String>) -> FhirError {
        self.expression = vec![expression.into()];
        self
    }

    pub fn not_found(what: &str) -> FhirError {
        FhirError::new(StatusCode::NOT_FOUND, IssueType::NotFound, format!("{what} not found"))
    }

    pub fn bad_request(diagnostics: impl Into<String>) -> FhirError {
        FhirError::new(StatusCode::BAD_REQUEST, IssueType::Invalid, diagnostics)
    }

    pub fn outcome(&self) -> OperationOutcome {
        let expression: Vec<&str> = self.expression.iter().map(String::as_str).collect();
        operation_outcome(IssueSeverity::Error, self.code, &self.diagnostics, &expression)
    }
}

fn issue_type(status: StatusCode) -> IssueType {
    match status {
        StatusCode::UNAUTHORIZED => IssueType::Login,
        StatusCode::FORBIDDEN => IssueType::Forbidden,
        StatusCode::NOT_FOUND => IssueType::NotFound,
        StatusCode::CONFLICT => IssueType::Conflict,
        StatusCode::PAYLOAD_TOO_LARGE => IssueType::TooLong,
        StatusCode::TOO_MANY_REQUESTS => IssueType::Throttled,
        StatusCode::REQUEST_TIMEOUT => IssueType::Timeout,
        StatusCode::UNPROCESSABLE_ENTITY => IssueType::BusinessRule,
        StatusCode::BAD_REQUEST | StatusCode::RANGE_NOT_SATISFIABLE => IssueType::Invalid,
        s if s.is_server_error() => IssueType::Exception,
        _ => IssueType::Processing,
    }
}

impl From<ApiError> for FhirError {
    fn from(e: ApiError) -> FhirError {
        FhirError { status: e.status, code: issue_type(e.status), diagnostics: e.detail, expression: vec![], challenge: e.challenge }
    }
}

impl From<ServiceError> for FhirError {
    fn from(e: ServiceError) -> FhirError {
        // One mapping of service errors to statuses (and of causes to logs): the /api one.
        FhirError::from(ApiError::from(e))
    }
}

impl From<SearchError> for FhirError {
    fn from(e: SearchError) -> FhirError {
        FhirError::new(StatusCode::BAD_REQUEST, IssueType::Invalid, e.to_string()).at(e.param)
    }
}

impl From<MhdError> for FhirError {
    fn from(e: MhdError) -> FhirError {
        // Unreadable or wrongly shaped input is 400; well-formed input that breaks a rule 422.
        let status = match e.code {
            IssueType::Structure | IssueType::Invalid | IssueType::Required | IssueType::Value => StatusCode::BAD_REQUEST,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        FhirError { status, code: e.code, diagnostics: e.to_string(), expression: vec![e.path], challenge: None }
    }
}

impl IntoResponse for FhirError {
    fn into_response(self) -> Response {
        let mut response = json(self.status, &self.outcome());
        if let Some(challenge) = self.challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, challenge);
        }
        response
    }
}

/// A FHIR JSON response.
pub fn json<T: serde::Serialize>(status: StatusCode, body: &T) -> Response {
    // A search page is tens of KB: start big enough that it is not copied through ten doublings.
    let mut bytes = Vec::with_capacity(16 * 1024);
    match serde_json::to_writer(&mut bytes, body) {
        Ok(()) => {
            let mut r = (status, bytes).into_response();
            r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
            r
        }
        Err(e) => {
            tracing::error!(error = %e, "a FHIR resource did not serialize");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

/// The authenticated caller, with authentication failures answered as an OperationOutcome.
pub struct FhirActor(pub Actor);

impl FromRequestParts<AppState> for FhirActor {
    type Rejection = FhirError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Authenticated(actor) = Authenticated::from_request_parts(parts, state).await?;
        Ok(FhirActor(actor))
    }
}

/// The query's `(name, value)` pairs, percent-decoded.
pub struct FhirQuery(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for FhirQuery {
    type Rejection = FhirError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let raw = parts.uri.query().unwrap_or_default();
        serde_urlencoded::from_str(raw).map(FhirQuery).map_err(|e| FhirError::bad_request(format!("the query string: {e}")))
    }
}

/// The FHIR base URL of this request (`{scheme}://{host}/fhir`): from `X-Forwarded-Proto` /
/// `X-Forwarded-Host` behind a proxy, else the `Host` header.
pub fn base_url(headers: &HeaderMap) -> String {
    let text =
        |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(|v| v.split(',').next().unwrap_or_default().trim().to_owned());
    let scheme = text("x-forwarded-proto").filter(|s| s == "https" || s == "http").unwrap_or_else(|| "http".into());
    let host = text("x-forwarded-host")
        .or_else(|| text("host"))
        .filter(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c)))
        .unwrap_or_else(|| "localhost".into());
    format!("{scheme}://{host}/fhir")
}

/// Reads a body up to `limit` bytes; more is a 413 OperationOutcome, before or while reading.
pub async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<bytes::Bytes, FhirError> {
    let too_large =
        || FhirError::new(StatusCode::PAYLOAD_TOO_LARGE, IssueType::TooLong, format!("the body is larger than the limit of {limit} bytes"));
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    match http_body_util::Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => Err(too_large()),
        Err(e) => Err(FhirError::bad_request(format!("the body could not be read: {e}"))),
    }
}

/// A search's `handling` preference (`Prefer`, RFC 7240); strict unless asked otherwise.
pub fn handling(headers: &HeaderMap) -> Handling {
    Handling::from_prefer(headers.get_all("prefer").iter().filter_map(|v| v.to_str().ok()))
}

/// A searchset answer; under lenient handling it says so (`Preference-Applied`, RFC 7240).
pub fn searchset<T: serde::Serialize>(body: &T, handling: Handling) -> Response {
    let mut response = json(StatusCode::OK, body);
    if handling == Handling::Lenient {
        response.headers_mut().insert("preference-applied", HeaderValue::from_static("handling=lenient"));
    }
    response
}

/// The query's parameters the search applied: the paging links repeat those, not the ignored.
pub fn applied(params: &[(String, String)], ignored: &[SearchError]) -> Vec<(String, String)> {
    params.iter().filter(|(k, _)| !ignored.iter().any(|e| e.param == *k)).cloned().collect()
}

/// `self`, `next` and `previous` links of a searchset page.
pub fn paging_links(base: &str, resource: &str, params: &[(String, String)], page: Page, more: bool) -> Vec<BundleLink> {
    let url = |offset: usize| {
        let mut pairs: Vec<(String, String)> = params.iter().filter(|(k, _)| k != "_offset").cloned().collect();
        if offset > 0 {
            pairs.push(("_offset".into(), offset.to_string()));
        }
        let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
        if query.is_empty() { format!("{base}/{resource}") } else { format!("{base}/{resource}?{query}") }
    };
    let mut links = vec![BundleLink { relation: "self".into(), url: url(page.offset) }];
    if more {
        links.push(BundleLink { relation: "next".into(), url: url(page.offset + page.count.max(1)) });
    }
    if page.offset > 0 {
        links.push(BundleLink { relation: "previous".into(), url: url(page.offset.saturating_sub(page.count.max(1))) });
    }
    links
}

/// When this server's description took effect: its first `metadata` answer's clock.
static STARTED_AT: std::sync::OnceLock<time::OffsetDateTime> = std::sync::OnceLock::new();

async fn metadata(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let base = base_url(&headers);
    let started_at = *STARTED_AT.get_or_init(|| state.carnet.clock().now());
    let statement = carnet_fhir::capability_statement(&ServerDescription {
        software_name: "Carnet",
        software_version: env!("CARGO_PKG_VERSION"),
        base_url: &base,
        date: started_at,
        transactions: MOUNTED,
        security: Some(ServerSecurity {
            cors: !state.browser.cors_origins.is_empty(),
            smart: state.browser.smart.as_ref().map(|s| SmartEndpoints {
                authorize: &s.authorization_endpoint,
                token: &s.token_endpoint,
                revoke: s.revocation_endpoint.as_deref(),
                introspect: s.introspection_endpoint.as_deref(),
            }),
        }),
    });
    json(StatusCode::OK, &statement)
}

async fn not_found() -> FhirError {
    FhirError::new(StatusCode::NOT_FOUND, IssueType::NotSupported, "no such FHIR endpoint: see /fhir/metadata for what Carnet serves")
}

async fn method_not_allowed() -> FhirError {
    FhirError::new(StatusCode::METHOD_NOT_ALLOWED, IssueType::NotSupported, "this interaction is not supported here: see /fhir/metadata")
}

/// Every `/fhir` route. FHIR JSON bodies are read by the handlers up to
/// `limits.fhir_body_bytes`; documents stream out of `Binary` without the total timeout.
pub fn router(limits: &HttpLimits) -> Router<AppState> {
    let profile =
        carnet_fhir::profile::ProfileResource::ALL.into_iter().fold(Router::new(), |r, resource| r.merge(profile::routes(resource)));
    let json_routes = Router::new()
        .merge(profile)
        .route("/fhir/metadata", get(metadata))
        .route("/fhir/.well-known/smart-configuration", get(crate::smart::fhir_configuration))
        .route("/fhir", post(documents::provide))
        .route("/fhir/", post(documents::provide))
        .route("/fhir/Patient", get(patients::search))
        .route("/fhir/Patient/{id}", get(patients::read))
        .route("/fhir/Patient/{id}/$summary", get(patients::summary))
        .route("/fhir/DocumentReference", get(documents::search))
        .route("/fhir/DocumentReference/{id}", get(documents::read).put(documents::update).patch(documents::patch))
        .route("/fhir/List", get(lists::search))
        .route("/fhir/Consent", get(privacy::consents))
        .route("/fhir/AuditEvent", get(privacy::audit_events))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, limits.request_timeout.max(std::time::Duration::from_secs(60))));
    Router::new()
        .merge(json_routes)
        .route("/fhir/Binary/{id}", get(documents::binary))
        .route("/fhir/{*rest}", any(not_found))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::Extension(FhirLimits { body_bytes: limits.fhir_body_bytes, binary_json_bytes: limits.fhir_binary_json_bytes }))
}
