//! The edge's one error type, `ApiError`, rendered once as RFC 9457 problem details.
//!
//! Which error to use where: handlers return `ApiError`; it converts from the service's
//! `ServiceError` and the auth crate's `AuthError`. The caller sees a precise message when the
//! fault is theirs, and a generic one (with the cause only in the log) when it is ours.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use carnet_auth::AuthError;
use carnet_service::ServiceError;
use serde::Serialize;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub detail: String,
    /// `WWW-Authenticate` value for 401s.
    pub challenge: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// Always `about:blank`: the status and title say it all.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub title: String,
    pub status: u16,
    pub detail: String,
}

impl ApiError {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> ApiError {
        ApiError { status, detail: detail.into(), challenge: None }
    }

    pub fn unprocessable(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, detail)
    }

    pub fn not_found() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "no such resource")
    }

    pub fn unauthenticated(challenge: String, detail: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::UNAUTHORIZED, detail: detail.into(), challenge: Some(challenge) }
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> ApiError {
        match e {
            ServiceError::Invalid(msg) => ApiError::unprocessable(msg),
            ServiceError::NotFound(what) => ApiError::new(StatusCode::NOT_FOUND, format!("{what} not found")),
            ServiceError::Conflict(msg) => ApiError::new(StatusCode::CONFLICT, msg),
            ServiceError::Forbidden(msg) => ApiError::new(StatusCode::FORBIDDEN, msg),
            ServiceError::Scope(denied) => {
                // RFC 6750 §3.1: `insufficient_scope`, naming a scope that would do.
                let challenge = match denied.needed() {
                    Some(needed) => format!("Bearer realm=\"carnet\", error=\"insufficient_scope\", scope=\"{}\"", header_safe(needed)),
                    None => "Bearer realm=\"carnet\", error=\"insufficient_scope\"".to_owned(),
                };
                ApiError { status: StatusCode::FORBIDDEN, detail: denied.to_string(), challenge: Some(challenge) }
            }
            ServiceError::Throttled => ApiError::new(StatusCode::TOO_MANY_REQUESTS, e.to_string()),
            ServiceError::TooLarge { .. } => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, e.to_string()),
            ServiceError::Interrupted(_) => ApiError::new(StatusCode::BAD_REQUEST, e.to_string()),
            ServiceError::TooSlow(_) => ApiError::new(StatusCode::REQUEST_TIMEOUT, e.to_string()),
            ServiceError::Store(cause) => {
                tracing::error!(error = %cause, source = ?std::error::Error::source(&cause), "storage failure");
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "storage is unavailable; retry later")
            }
            ServiceError::LedgerNotFound(msg) => ApiError::new(StatusCode::NOT_FOUND, msg),
            ServiceError::LedgerInvalid(msg) => ApiError::unprocessable(msg),
            ServiceError::Ledger(cause) => {
                tracing::error!(error = %cause, "the ledger refused an entry: access refused");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the access could not be recorded in the ledger; nothing was done; retry later",
                )
            }
            ServiceError::Search(cause) => {
                tracing::error!(error = %cause, "the search index failed");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "the search failed; retry later")
            }
            ServiceError::Crypto(cause) => {
                // Never shown: a failed authentication means tampering or a lost key.
                tracing::error!(error = %cause, "stored data failed an integrity or key check");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "the stored data could not be verified; the operator has been alerted")
            }
        }
    }
}

/// The characters RFC 6750 allows in a quoted challenge attribute; others become `?`.
fn header_safe(value: &str) -> String {
    value.chars().map(|c| if c != '"' && c != '\\' && (' '..='~').contains(&c) { c } else { '?' }).collect()
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> ApiError {
        if e.is_server_side() {
            tracing::error!(error = %e, "token verification unavailable");
            return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "token verification is unavailable; retry later");
        }
        ApiError::unauthenticated(e.www_authenticate(), e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = Problem {
            kind: "about:blank",
            title: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            status: self.status.as_u16(),
            detail: self.detail,
        };
        let mut response = (self.status, axum::Json(problem)).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if let Some(challenge) = self.challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, challenge);
        }
        response
    }
}
