//! Operational endpoints: liveness, readiness, metrics, the OpenAPI document.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::json;

use crate::AppState;
use crate::error::ApiError;

/// Liveness: the process answers.
pub async fn health(State(state): State<AppState>) -> impl IntoResponse {
    match state.carnet.ledger_problem() {
        None => Json(json!({ "status": "ok" })),
        // Alive, but refusing clinical work: restarting would not help, an operator must act.
        Some(problem) => Json(json!({ "status": "ledger untrusted", "ledger": problem })),
    }
}

/// Readiness: the database answers and the ledger passed its checks.
pub async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    if let Some(problem) = state.carnet.ledger_problem() {
        return (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "ledger untrusted", "ledger": problem })));
    }
    match state.carnet.ping().await {
        Ok(()) => (StatusCode::OK, Json(json!({ "status": "ready" }))),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "database unavailable" })))
        }
    }
}

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], state.metrics.render())
}

pub async fn openapi_document() -> impl IntoResponse {
    Json(crate::openapi())
}

pub async fn dev_jwks(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let jwks = state.dev_jwks.ok_or_else(ApiError::not_found)?;
    Ok(Json(jwks.as_ref().clone()))
}

/// Unknown paths: a French page for a browser outside the APIs, problem details otherwise.
pub async fn not_found(uri: axum::http::Uri, headers: axum::http::HeaderMap) -> axum::response::Response {
    if !uri.path().starts_with("/api/") && crate::portal::wants_html(&headers) {
        return crate::portal::not_found_page();
    }
    axum::response::IntoResponse::into_response(ApiError::not_found())
}
