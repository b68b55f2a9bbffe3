//! The portal's session cookie, the `PortalSession` extractor and the CSRF check of forms.
//!
//! The cookie holds an opaque random id (the service keeps its hash). Behind TLS it is
//! `__Host-carnet_session` (`Secure`, `Path=/`, no `Domain`: the browser binds it to this exact
//! origin); for the plain-http local demo on loopback it is `carnet_session` without `Secure`
//! (a `__Host-` cookie must be `Secure`, and browsers drop `Secure` cookies set over http).
//! Both are `HttpOnly` (no script reads them) and `SameSite=Lax` (not sent on cross-site POSTs).

use axum::extract::FromRequestParts;
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use carnet_domain::Actor;

use crate::AppState;

/// The cookie's name behind TLS.
pub const SECURE_COOKIE: &str = "__Host-carnet_session";
/// The cookie's name on plain-http loopback (local demo only).
pub const PLAIN_COOKIE: &str = "carnet_session";
/// The cookie naming which of the records a person speaks for their pages are about (an index
/// into the list the session's identity carries: never an INS).
pub const SECURE_RECORD_COOKIE: &str = "__Host-carnet_dossier";
pub const PLAIN_RECORD_COOKIE: &str = "carnet_dossier";
/// Where a page sends a person without a live session.
pub const SIGN_IN_PATH: &str = "/connexion";
/// The hidden field every state-changing form carries.
pub const CSRF_FIELD: &str = "csrf";

/// How the portal's session cookie and forms are checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionCookies {
    /// `__Host-` and `Secure` (true: anything but plain http on loopback).
    pub secure: bool,
    /// The portal's origin (`https://dossier.example.fr`) that forms must come from; `None`:
    /// the origin the request's `Host` names (with `https` when `secure`, else `http`).
    pub origin: Option<String>,
}

impl Default for SessionCookies {
    fn default() -> Self {
        SessionCookies { secure: true, origin: None }
    }
}

impl SessionCookies {
    pub fn name(&self) -> &'static str {
        if self.secure { SECURE_COOKIE } else { PLAIN_COOKIE }
    }

    /// `Set-Cookie` for a new session. No `Max-Age`: the cookie ends with the browser, the
    /// session with its server-side expiry, whichever first.
    pub fn set(&self, id: &str) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        // The id is base64url: always a valid header value.
        HeaderValue::from_str(&format!("{}={id}; Path=/; HttpOnly; SameSite=Lax{secure}", self.name()))
            .unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    /// `Set-Cookie` that removes it (sign-out, a session found over).
    pub fn clear(&self) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        HeaderValue::from_str(&format!("{}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}", self.name()))
            .unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    /// `Set-Cookie` choosing the `index`-th record the person speaks for (a representative's
    /// switch between the records of the minors they represent).
    pub fn set_record(&self, index: usize) -> HeaderValue {
        let (name, secure) = if self.secure { (SECURE_RECORD_COOKIE, "; Secure") } else { (PLAIN_RECORD_COOKIE, "") };
        HeaderValue::from_str(&format!("{name}={index}; Path=/; HttpOnly; SameSite=Lax{secure}"))
            .unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    /// The record index the request's cookies choose (0 when none or unreadable).
    pub fn record_index(&self, headers: &HeaderMap) -> usize {
        let name = if self.secure { SECURE_RECORD_COOKIE } else { PLAIN_RECORD_COOKIE };
        cookie(headers, name).and_then(|v| v.parse().ok()).unwrap_or(0)
    }

    /// The session id the request's cookies carry, if any.
    pub fn session_id<'a>(&self, headers: &'a HeaderMap) -> Option<&'a str> {
        cookie(headers, self.name())
    }

    /// The origin forms must come from.
    pub(crate) fn expected_origin(&self, headers: &HeaderMap) -> Option<String> {
        if let Some(origin) = &self.origin {
            return Some(origin.trim_end_matches('/').to_owned());
        }
        let host = headers.get(header::HOST)?.to_str().ok()?;
        Some(format!("{}://{host}", if self.secure { "https" } else { "http" }))
    }
}

/// The value of the cookie `name` among the request's, if any and not empty.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// A person signed in to the portal: a handler that takes it runs only for a live session
/// (absent, expired or revoked → a redirect to `/connexion`).
#[derive(Debug, Clone)]
pub struct PortalSession {
    /// The person, acting for themselves (`Scopes::RoleOnly`, no client).
    pub actor: Actor,
    /// For the hidden field of this session's forms.
    pub csrf_token: String,
    /// The cookie's value (sign-out revokes it).
    pub(crate) id: String,
    /// Which of the records the person speaks for the pages are about (see `record`).
    pub(crate) record_index: usize,
    /// When this session began.
    pub signed_in_at: time::OffsetDateTime,
}

impl PortalSession {
    /// The record the person's pages are about: their own, or the one of the minors they
    /// represent they chose (the first until they choose). `None`: they speak for no record.
    pub fn record(&self) -> Option<&carnet_domain::Ins> {
        let records = self.actor.spoken_for()?;
        records.get(self.record_index).or_else(|| records.first())
    }
}

impl FromRequestParts<AppState> for PortalSession {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let cookies = &state.portal.cookies;
        let Some(id) = cookies.session_id(&parts.headers) else { return Err(to_sign_in(None)) };
        match state.carnet.session(id).await {
            Ok(Some(signed_in)) => Ok(PortalSession {
                actor: signed_in.actor,
                csrf_token: signed_in.csrf_token,
                id: id.to_owned(),
                record_index: cookies.record_index(&parts.headers),
                signed_in_at: signed_in.signed_in_at,
            }),
            // Over: the stale cookie goes too.
            Ok(None) => Err(to_sign_in(Some(cookies.clear()))),
            Err(e) => {
                tracing::error!(error = %e, "reading a portal session");
                Err(french_error(StatusCode::SERVICE_UNAVAILABLE, "Le service est momentanément indisponible. Réessayez dans un instant."))
            }
        }
    }
}

fn to_sign_in(clear: Option<HeaderValue>) -> Response {
    let mut response = Redirect::to(SIGN_IN_PATH).into_response();
    if let Some(clear) = clear {
        response.headers_mut().append(header::SET_COOKIE, clear);
    }
    response
}

/// A short French page for a refusal (the lead's layout replaces it when pages land).
pub fn french_error(status: StatusCode, message: &str) -> Response {
    super::error_page(status, status.canonical_reason().map_or("Erreur", french_reason), message)
}

fn french_reason(reason: &str) -> &'static str {
    match reason {
        "Forbidden" => "Action refusée",
        "Bad Request" => "Demande incorrecte",
        "Service Unavailable" => "Service indisponible",
        _ => "Erreur",
    }
}

/// Equal without telling how much is equal: the time taken depends on the lengths only.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Why a form was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsrfRefusal {
    /// The hidden field is missing or not this session's.
    Token,
    /// `Origin` is another site's, or the browser says the request is cross-site.
    Origin,
}

impl PortalSession {
    /// The check every state-changing form of the portal makes before changing anything: the
    /// posted token is this session's (constant-time comparison), and the browser does not say
    /// the request comes from elsewhere (`Sec-Fetch-Site` other than `same-origin`, or an
    /// `Origin` other than the portal's). A browser sending neither header is judged on the token.
    pub fn check_form(
        &self,
        cookies: &SessionCookies,
        method: &Method,
        headers: &HeaderMap,
        posted: Option<&str>,
    ) -> Result<(), CsrfRefusal> {
        if method == Method::GET || method == Method::HEAD {
            return Ok(());
        }
        if headers.get("sec-fetch-site").is_some_and(|site| site.as_bytes() != b"same-origin") {
            return Err(CsrfRefusal::Origin);
        }
        if let Some(origin) = headers.get(header::ORIGIN) {
            let matches = cookies.expected_origin(headers).is_some_and(|expected| origin.as_bytes() == expected.as_bytes());
            if !matches {
                return Err(CsrfRefusal::Origin);
            }
        }
        match posted {
            Some(token) if constant_time_eq(token.as_bytes(), self.csrf_token.as_bytes()) => Ok(()),
            _ => Err(CsrfRefusal::Token),
        }
    }
}

impl IntoResponse for CsrfRefusal {
    /// 403, nothing changed.
    fn into_response(self) -> Response {
        let message = match self {
            CsrfRefusal::Token => {
                "Ce formulaire a expiré ou ne vient pas de cette page : rien n’a été modifié. Rechargez la page et recommencez."
            }
            CsrfRefusal::Origin => "Ce formulaire vient d’un autre site : rien n’a été modifié.",
        };
        french_error(StatusCode::FORBIDDEN, message)
    }
}

/// A state-changing form of a signed-in person, already checked against CSRF: a handler that
/// takes it cannot change anything for a forged request. The body is
/// `application/x-www-form-urlencoded`; the `csrf` field must be the session's, and the browser
/// must not say it comes from elsewhere (`PortalSession::check_form`). Refusals: no session →
/// `303 /connexion`; CSRF → 403; a body that is not a form of `T` → 400 (a page that shows
/// errors next to their fields takes its fields as strings and checks them itself).
pub struct PortalForm<T> {
    pub session: PortalSession,
    pub form: T,
}

impl<T: serde::de::DeserializeOwned> axum::extract::FromRequest<AppState> for PortalForm<T> {
    type Rejection = Response;

    async fn from_request(req: axum::extract::Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let session = PortalSession::from_request_parts(&mut parts, state).await?;
        let (method, headers) = (parts.method.clone(), parts.headers.clone());
        let bytes = axum::body::Bytes::from_request(axum::extract::Request::from_parts(parts, body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        let fields: Vec<(String, String)> =
            serde_urlencoded::from_bytes(&bytes).map_err(|_| french_error(StatusCode::BAD_REQUEST, "Ce formulaire est illisible."))?;
        let token = fields.iter().find(|(k, _)| k == CSRF_FIELD).map(|(_, v)| v.as_str());
        session.check_form(&state.portal.cookies, &method, &headers, token).map_err(IntoResponse::into_response)?;
        let form =
            serde_urlencoded::from_bytes(&bytes).map_err(|_| french_error(StatusCode::BAD_REQUEST, "Ce formulaire est incomplet."))?;
        Ok(PortalForm { session, form })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> PortalSession {
        let actor = Actor {
            issuer: "urn:test".into(),
            subject: "p".into(),
            name: None,
            kind: carnet_domain::ActorKind::InsurerAgent,
            scopes: carnet_domain::Scopes::RoleOnly,
            client: None,
        };
        PortalSession {
            actor,
            csrf_token: "le-jeton".into(),
            id: "id".into(),
            record_index: 0,
            signed_in_at: time::OffsetDateTime::UNIX_EPOCH,
        }
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn the_cookie_is_host_bound_behind_tls_and_plain_on_loopback_http() {
        let tls = SessionCookies::default();
        assert_eq!(tls.set("abc").to_str().ok(), Some("__Host-carnet_session=abc; Path=/; HttpOnly; SameSite=Lax; Secure"));
        let plain = SessionCookies { secure: false, origin: None };
        assert_eq!(plain.set("abc").to_str().ok(), Some("carnet_session=abc; Path=/; HttpOnly; SameSite=Lax"));
        assert!(tls.clear().to_str().is_ok_and(|c| c.contains("Max-Age=0") && c.starts_with("__Host-carnet_session=;")));
    }

    #[test]
    fn the_session_id_is_read_from_its_own_cookie_only() {
        let c = SessionCookies::default();
        assert_eq!(c.session_id(&headers(&[("cookie", "a=1; __Host-carnet_session=xyz; b=2")])), Some("xyz"));
        assert_eq!(c.session_id(&headers(&[("cookie", "carnet_session=xyz")])), None, "the plain name is not the secure one");
        assert_eq!(c.session_id(&headers(&[("cookie", "__Host-carnet_session=")])), None);
        assert_eq!(c.session_id(&HeaderMap::new()), None);
    }

    #[test]
    fn a_form_needs_its_token_and_the_portals_origin() {
        let s = session();
        let c = SessionCookies { secure: true, origin: Some("https://dossier.example.fr".into()) };
        let same = headers(&[("origin", "https://dossier.example.fr"), ("sec-fetch-site", "same-origin")]);
        assert_eq!(s.check_form(&c, &Method::POST, &same, Some("le-jeton")), Ok(()));
        assert_eq!(s.check_form(&c, &Method::POST, &HeaderMap::new(), Some("le-jeton")), Ok(()), "old browsers: the token decides");
        assert_eq!(s.check_form(&c, &Method::POST, &same, None), Err(CsrfRefusal::Token));
        assert_eq!(s.check_form(&c, &Method::POST, &same, Some("le-jeto")), Err(CsrfRefusal::Token));
        assert_eq!(s.check_form(&c, &Method::POST, &same, Some("le-jetoN")), Err(CsrfRefusal::Token));
        let elsewhere = headers(&[("origin", "https://evil.example")]);
        assert_eq!(s.check_form(&c, &Method::POST, &elsewhere, Some("le-jeton")), Err(CsrfRefusal::Origin));
        let cross = headers(&[("sec-fetch-site", "cross-site")]);
        assert_eq!(s.check_form(&c, &Method::POST, &cross, Some("le-jeton")), Err(CsrfRefusal::Origin));
        let by_host = SessionCookies { secure: false, origin: None };
        let local = headers(&[("host", "127.0.0.1:8080"), ("origin", "http://127.0.0.1:8080")]);
        assert_eq!(s.check_form(&by_host, &Method::POST, &local, Some("le-jeton")), Ok(()));
        let other_port = headers(&[("host", "127.0.0.1:8080"), ("origin", "http://127.0.0.1:9999")]);
        assert_eq!(s.check_form(&by_host, &Method::POST, &other_port, Some("le-jeton")), Err(CsrfRefusal::Origin));
    }

    #[test]
    fn the_chosen_record_is_one_the_person_speaks_for() {
        let a = carnet_domain::Ins::parse("1850375123456 41").expect("a valid INS");
        let b = carnet_domain::Ins::parse("2890612345678 94").expect("a valid INS");
        let mut s = session();
        assert_eq!(s.record(), None, "an insurer agent speaks for no record");
        s.actor.kind = carnet_domain::ActorKind::Representative { represents: vec![a.clone(), b.clone()] };
        assert_eq!(s.record(), Some(&a), "the first until they choose");
        s.record_index = 1;
        assert_eq!(s.record(), Some(&b));
        s.record_index = 7;
        assert_eq!(s.record(), Some(&a), "an index the identity does not carry falls back to the first");
        let c = SessionCookies { secure: false, origin: None };
        assert_eq!(c.record_index(&headers(&[("cookie", "carnet_dossier=1")])), 1);
        assert_eq!(c.record_index(&headers(&[("cookie", "carnet_dossier=x")])), 0);
        assert_eq!(
            SessionCookies::default().record_index(&headers(&[("cookie", "carnet_dossier=1")])),
            0,
            "behind TLS only the __Host- one"
        );
        assert_eq!(c.set_record(2).to_str().ok(), Some("carnet_dossier=2; Path=/; HttpOnly; SameSite=Lax"));
    }

    #[test]
    fn constant_time_comparison_is_equality() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
