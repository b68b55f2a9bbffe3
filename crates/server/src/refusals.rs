//! Refusals the HTTP stack produces itself — a body over its limit (413), a malformed multipart
//! or query (400), an undecodable path (`%ff`), a timeout (408) — come out of axum and tower-http
//! as `text/plain` or with no body at all. This outermost layer gives them the edge's one format:
//! problem details on `/api` and elsewhere, an `OperationOutcome` under `/fhir`, the French error
//! page for a browser asking for a portal page. The stack's own message is not echoed (it may
//! quote the input); the detail says what kind of refusal it is.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::ApiError;

/// Whether the response is one of the stack's bare refusals (a handler's have a typed body).
fn is_bare_refusal(status: StatusCode, headers: &HeaderMap) -> bool {
    if !(status.is_client_error() || status.is_server_error()) {
        return false;
    }
    match headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) {
        None => true,
        Some(kind) => kind.starts_with("text/plain"),
    }
}

/// What a bare refusal of `status` means, in the words of a problem's detail.
fn detail(status: StatusCode) -> &'static str {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => "the request body is larger than this endpoint accepts",
        StatusCode::BAD_REQUEST => "the request is malformed (its path, query, headers or body could not be read)",
        StatusCode::REQUEST_TIMEOUT => "the request took too long to arrive or to answer",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "the request body's Content-Type is not one this endpoint accepts",
        StatusCode::METHOD_NOT_ALLOWED => "this method is not allowed on this path",
        StatusCode::NOT_FOUND => "no such resource",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "a request header, or all of them together, is larger than this server accepts",
        StatusCode::URI_TOO_LONG => "the request's URI is longer than this server accepts",
        StatusCode::UNPROCESSABLE_ENTITY => "the request body could not be understood",
        s if s.is_server_error() => "the server could not answer; retry later",
        _ => "the request was refused",
    }
}

/// How large a request's head may be (`HttpLimits`): its headers, and its URI.
#[derive(Debug, Clone, Copy)]
pub struct HeaderLimits {
    one: usize,
    total: usize,
    uri: usize,
}

impl HeaderLimits {
    pub fn of(limits: &crate::HttpLimits) -> HeaderLimits {
        HeaderLimits { one: limits.header_bytes, total: limits.headers_total_bytes, uri: limits.uri_bytes }
    }

    /// Whether the request target stays within the limit (as sent: origin form, or absolute).
    fn admit_uri(&self, uri: &axum::http::Uri) -> bool {
        let scheme = uri.scheme_str().map_or(0, |s| s.len() + 3);
        let authority = uri.authority().map_or(0, |a| a.as_str().len());
        let target = uri.path_and_query().map_or(0, |pq| pq.as_str().len());
        scheme + authority + target <= self.uri
    }

    /// Whether `headers` stay within the limits (a header counts its name and its value).
    fn admit(&self, headers: &HeaderMap) -> bool {
        let mut total = 0usize;
        for (name, value) in headers {
            let size = name.as_str().len() + value.len();
            total = total.saturating_add(size);
            if size > self.one || total > self.total {
                return false;
            }
        }
        true
    }
}

pub async fn as_problems(State(limits): State<HeaderLimits>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let browser = crate::portal::wants_html(request.headers());
    let method = request.method().clone();
    let too_large = if !limits.admit_uri(request.uri()) {
        Some(StatusCode::URI_TOO_LONG)
    } else if !limits.admit(request.headers()) {
        Some(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
    } else {
        None
    };
    if let Some(status) = too_large {
        // The body is left unread: the connection closes after this answer.
        let mut refused = refusal(status, &path, browser, &method);
        refused.headers_mut().insert(header::CONNECTION, axum::http::HeaderValue::from_static("close"));
        return refused;
    }
    let response = next.run(request).await;
    let status = response.status();
    if !is_bare_refusal(status, response.headers()) {
        return response;
    }
    let mut kept = HeaderMap::new();
    for name in [header::ALLOW, header::WWW_AUTHENTICATE, header::RETRY_AFTER, header::CONNECTION] {
        if let Some(v) = response.headers().get(&name) {
            kept.insert(name, v.clone());
        }
    }
    let mut replaced = refusal(status, &path, browser, &method);
    replaced.headers_mut().extend(kept);
    replaced
}

/// A refusal of `status` in the edge's format for `path`.
fn refusal(status: StatusCode, path: &str, browser: bool, method: &axum::http::Method) -> Response {
    let mut response = if path == "/fhir" || path.starts_with("/fhir/") {
        crate::fhir::FhirError::from(ApiError::new(status, detail(status))).into_response()
    } else if browser && !path.starts_with("/api/") {
        let message = match status {
            StatusCode::PAYLOAD_TOO_LARGE => "Ce que vous avez envoyé est trop volumineux.",
            s if s.is_server_error() => "Le service est momentanément indisponible. Réessayez dans un instant.",
            _ => "Cette demande n’a pas pu être lue. Revenez à la page précédente et recommencez.",
        };
        crate::portal::session::french_error(status, message)
    } else {
        ApiError::new(status, detail(status)).into_response()
    };
    *response.status_mut() = status;
    if method == axum::http::Method::HEAD {
        *response.body_mut() = axum::body::Body::empty();
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_limited_one_by_one_and_together() {
        let limits = HeaderLimits { one: 100, total: 250, uri: 1024 };
        let mut h = HeaderMap::new();
        h.insert("x-a", "a".repeat(90).parse().expect("value"));
        assert!(limits.admit(&h));
        h.insert("x-b", "b".repeat(98).parse().expect("value"));
        assert!(!limits.admit(&h), "x-b is 101 bytes with its name");
        h.insert("x-b", "b".repeat(90).parse().expect("value"));
        h.insert("x-c", "c".repeat(90).parse().expect("value"));
        assert!(!limits.admit(&h), "279 bytes in all");
    }

    #[test]
    fn the_uri_is_limited_as_sent() {
        let limits = HeaderLimits { one: 100, total: 250, uri: 30 };
        let uri = |s: &str| s.parse::<axum::http::Uri>().expect("uri");
        assert!(limits.admit_uri(&uri(&format!("/p?q={}", "x".repeat(25)))), "30 bytes");
        assert!(!limits.admit_uri(&uri(&format!("/p?q={}", "x".repeat(26)))), "31 bytes");
        assert!(!limits.admit_uri(&uri(&format!("http://carnet.example/p?q={}", "x".repeat(20)))), "the scheme and host count when sent");
    }

    #[test]
    fn only_bare_refusals_are_replaced() {
        let mut typed = HeaderMap::new();
        typed.insert(header::CONTENT_TYPE, "application/problem+json".parse().expect("value"));
        assert!(!is_bare_refusal(StatusCode::BAD_REQUEST, &typed));
        let mut plain = HeaderMap::new();
        plain.insert(header::CONTENT_TYPE, "text/plain; charset=utf-8".parse().expect("value"));
        assert!(is_bare_refusal(StatusCode::PAYLOAD_TOO_LARGE, &plain));
        assert!(is_bare_refusal(StatusCode::REQUEST_TIMEOUT, &HeaderMap::new()));
        assert!(!is_bare_refusal(StatusCode::OK, &plain), "a text document is an answer, not a refusal");
        assert!(!is_bare_refusal(StatusCode::SEE_OTHER, &HeaderMap::new()));
    }
}
