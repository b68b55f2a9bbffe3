//! Extractors: the authenticated actor, a route's INS, and JSON bodies whose rejections are
//! problem details.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::header;
use axum::http::request::Parts;
use carnet_domain::{Actor, Ins};
use carnet_service::Admission;

use crate::AppState;
use crate::error::ApiError;

/// Proof that the request carries a valid bearer token: a handler that takes it cannot run
/// for an anonymous caller.
pub struct Authenticated(pub Actor);

const CHALLENGE: &str = "Bearer realm=\"carnet\"";
const APP_REVOKED: &str = "access by this app was revoked by the patient";

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Err(ApiError::unauthenticated(CHALLENGE.into(), "a bearer token is required"));
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::unauthenticated(
                    format!("{CHALLENGE}, error=\"invalid_request\""),
                    "the Authorization header must be `Bearer <token>`",
                )
            })?;
        let actor = state.verifier.verify(token, state.carnet.clock().now()).await?;
        // Here rather than in each handler, so no path can forget an app the patient revoked.
        // 401 `invalid_token` (RFC 6750 §3.1: "revoked"): the token no longer opens this record,
        // and a client re-authorizing is the way back once the patient allows the app again.
        match state.carnet.admit_app(actor).await? {
            Admission::Admitted(actor) => Ok(Authenticated(actor)),
            Admission::Revoked => Err(ApiError::unauthenticated(
                format!("{CHALLENGE}, error=\"invalid_token\", error_description=\"{APP_REVOKED}\""),
                APP_REVOKED,
            )),
            Admission::UnusableClientId => Err(ApiError::unauthenticated(
                format!("{CHALLENGE}, error=\"invalid_token\""),
                "the token's client_id is not a usable client id (1 to 256 characters, no control character)",
            )),
        }
    }
}

/// `axum::Json` whose rejections (bad syntax 400, wrong types 422, wrong content type 415,
/// too large 413) are answered as problem details.
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    axum::Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(ApiError::new(rejection.status(), rejection.body_text())),
        }
    }
}

/// `axum::extract::Query` whose rejections are problem details (400, naming the parameter).
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(ApiQuery(v)),
            Err(rejection) => Err(ApiError::new(axum::http::StatusCode::BAD_REQUEST, rejection.body_text())),
        }
    }
}

/// The `{ins}` segment of a route, parsed into an `Ins`: a malformed one answers 422 naming
/// the check that failed (e.g. the key), as problem details, and the handler never sees it.
pub struct InsPath(pub Ins);

impl<S: Send + Sync> FromRequestParts<S> for InsPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| ApiError::new(rejection.status(), rejection.body_text()))?;
        Ins::parse(&raw).map(InsPath).map_err(|e| ApiError::unprocessable(format!("ins: {e}")))
    }
}
