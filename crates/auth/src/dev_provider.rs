//! The dev issuer as a minimal OpenID provider, for the demo and the tests: the portal signs
//! people in through the same authorization code flow (PKCE S256) as against a real provider.
//! Never served unless the dev issuer is on.
//!
//! Its issuer is an http(s) URL (`<portal origin>/dev-issuer`), as OpenID Connect discovery
//! requires, while bearer tokens minted by `carnet token` keep `DevIssuer::ISSUER`: both are
//! signed by the same key, and only the portal (as this provider's client) reads its ID tokens.
//!
//! Codes are kept in memory (one node; the demo's), single use, valid for a minute, bound to
//! the client, the redirect URI and the PKCE challenge.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use crate::{DevIssuer, TokenClaims};

/// How long a code may wait for its exchange.
const CODE_LIFETIME: Duration = Duration::minutes(1);
/// How long an ID token is valid (it is checked once, at sign-in).
const ID_TOKEN_LIFETIME: Duration = Duration::minutes(5);
/// Codes waiting at most; beyond, the oldest are dropped (a flood cannot grow memory).
const MAX_PENDING_CODES: usize = 1024;

/// A person one may sign in as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoPerson {
    /// What the choice page shows ("Marie Dupont, patiente").
    pub label: String,
    /// The claims of their ID token (`sub`, `carnet_role`, `ins`, …).
    pub claims: TokenClaims,
}

/// A client allowed to sign people in here: the portal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevClient {
    pub client_id: String,
    pub redirect_uri: String,
}

/// Why an authorization or token request is refused: the OAuth error code and a description
/// (never a secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {description}")]
pub struct ProviderError {
    pub code: &'static str,
    pub description: &'static str,
}

fn refuse(code: &'static str, description: &'static str) -> ProviderError {
    ProviderError { code, description }
}

/// An authorization request (query of `GET /authorize`, fields of its form).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct AuthorizationRequest {
    #[serde(default)]
    pub response_type: String,
    #[serde(default)]
    pub client_id: String,
    #[serde(default)]
    pub redirect_uri: String,
    #[serde(default)]
    pub scope: String,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub nonce: Option<String>,
    #[serde(default)]
    pub code_challenge: String,
    #[serde(default)]
    pub code_challenge_method: String,
}

/// A token request (form of `POST /token`).
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct TokenRequest {
    #[serde(default)]
    pub grant_type: String,
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub redirect_uri: String,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub code_verifier: String,
}

struct PendingCode {
    client_id: String,
    redirect_uri: String,
    code_challenge: String,
    nonce: Option<String>,
    person: usize,
    expires_at: OffsetDateTime,
}

/// The provider: the dev issuer's key, its people, its clients and the codes under way.
pub struct DevProvider {
    issuer: Arc<DevIssuer>,
    issuer_url: String,
    people: Vec<DemoPerson>,
    clients: Vec<DevClient>,
    codes: Mutex<HashMap<String, PendingCode>>,
}

impl std::fmt::Debug for DevProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevProvider").field("issuer_url", &self.issuer_url).field("people", &self.people.len()).finish_non_exhaustive()
    }
}

fn hash(code: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(code.as_bytes()))
}

impl DevProvider {
    /// `issuer_url`: where it is served, e.g. `http://127.0.0.1:8080/dev-issuer` (no trailing slash).
    pub fn new(issuer: Arc<DevIssuer>, issuer_url: impl Into<String>, people: Vec<DemoPerson>, clients: Vec<DevClient>) -> DevProvider {
        let issuer_url = issuer_url.into().trim_end_matches('/').to_owned();
        DevProvider { issuer, issuer_url, people, clients, codes: Mutex::new(HashMap::new()) }
    }

    pub fn issuer_url(&self) -> &str {
        &self.issuer_url
    }

    pub fn people(&self) -> &[DemoPerson] {
        &self.people
    }

    /// The OpenID Connect discovery document.
    pub fn discovery(&self) -> Value {
        let base = &self.issuer_url;
        json!({
            "issuer": base,
            "authorization_endpoint": format!("{base}/authorize"),
            "token_endpoint": format!("{base}/token"),
            "jwks_uri": format!("{base}/jwks.json"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["ES256"],
            "scopes_supported": ["openid", "profile"],
            "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
            "grant_types_supported": ["authorization_code"],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": ["sub", "name", "carnet_role", "ins", "represents", "rpps", "profession", "finess"],
        })
    }

    pub fn jwks(&self) -> Value {
        self.issuer.jwks()
    }

    /// Checks an authorization request before the choice page is shown. Errors about the client
    /// or its redirect URI must be shown to the person, never redirected (RFC 6749 §4.1.2.1).
    pub fn check(&self, req: &AuthorizationRequest) -> Result<(), ProviderError> {
        if !self.clients.iter().any(|c| c.client_id == req.client_id && c.redirect_uri == req.redirect_uri) {
            return Err(refuse("invalid_request", "unknown client or redirect URI"));
        }
        if req.response_type != "code" {
            return Err(refuse("unsupported_response_type", "only the authorization code flow (response_type=code)"));
        }
        if !req.scope.split(' ').any(|s| s == "openid") {
            return Err(refuse("invalid_scope", "the openid scope is required"));
        }
        if req.code_challenge_method != "S256" || req.code_challenge.len() != 43 {
            return Err(refuse("invalid_request", "PKCE with S256 is required"));
        }
        Ok(())
    }

    /// The person chose `person`: a new code, and where to send the browser with it.
    pub fn choose(&self, req: &AuthorizationRequest, person: usize, now: OffsetDateTime) -> Result<String, ProviderError> {
        self.check(req)?;
        if person >= self.people.len() {
            return Err(refuse("access_denied", "no such demo person"));
        }
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let code = URL_SAFE_NO_PAD.encode(bytes);
        let pending = PendingCode {
            client_id: req.client_id.clone(),
            redirect_uri: req.redirect_uri.clone(),
            code_challenge: req.code_challenge.clone(),
            nonce: req.nonce.clone(),
            person,
            expires_at: now + CODE_LIFETIME,
        };
        {
            let mut codes = self.codes.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            codes.retain(|_, c| c.expires_at > now);
            if codes.len() >= MAX_PENDING_CODES {
                codes.clear();
            }
            codes.insert(hash(&code), pending);
        }
        let mut query = vec![("code", code.as_str())];
        if let Some(state) = &req.state {
            query.push(("state", state));
        }
        let query = serde_urlencoded::to_string(query).map_err(|_| refuse("server_error", "cannot build the redirect"))?;
        let separator = if req.redirect_uri.contains('?') { '&' } else { '?' };
        Ok(format!("{}{separator}{query}", req.redirect_uri))
    }

    /// The token endpoint: a code, once, within its minute, by its client, with its redirect URI
    /// and the PKCE verifier of its challenge → `{access_token, token_type, id_token, expires_in}`.
    pub fn exchange(&self, req: &TokenRequest, authenticated_client: Option<&str>, now: OffsetDateTime) -> Result<Value, ProviderError> {
        if req.grant_type != "authorization_code" {
            return Err(refuse("unsupported_grant_type", "only authorization_code"));
        }
        // Taken out whatever follows: a code is tried once.
        let pending = self.codes.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&hash(&req.code));
        let Some(pending) = pending.filter(|p| p.expires_at > now) else {
            return Err(refuse("invalid_grant", "unknown, expired or already used code"));
        };
        let client = authenticated_client.or(req.client_id.as_deref());
        if client != Some(pending.client_id.as_str()) || req.redirect_uri != pending.redirect_uri {
            return Err(refuse("invalid_grant", "the code was issued to another client or redirect URI"));
        }
        if URL_SAFE_NO_PAD.encode(Sha256::digest(req.code_verifier.as_bytes())) != pending.code_challenge {
            return Err(refuse("invalid_grant", "the PKCE verifier does not match the challenge"));
        }
        let person = self.people.get(pending.person).ok_or_else(|| refuse("server_error", "the person is gone"))?;
        let mut claims = person.claims.to_json();
        // An ID token names its client in `aud` (and `azp`), never as an app acting with scopes.
        claims.remove("scope");
        claims.remove("client_id");
        if let Some(nonce) = pending.nonce {
            claims.insert("nonce".into(), json!(nonce));
        }
        let id_token = self
            .issuer
            .mint_as(&self.issuer_url, claims, &pending.client_id, ID_TOKEN_LIFETIME, now)
            .map_err(|_| refuse("server_error", "signing failed"))?;
        // The portal uses the ID token only; the access token is opaque and opens nothing.
        let mut opaque = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut opaque);
        Ok(json!({
            "access_token": URL_SAFE_NO_PAD.encode(opaque),
            "token_type": "Bearer",
            "expires_in": ID_TOKEN_LIFETIME.whole_seconds(),
            "id_token": id_token,
        }))
    }
}

#[cfg(test)]
mod tests {
    use carnet_domain::Role;
    use time::macros::datetime;

    use super::*;

    const NOW: OffsetDateTime = datetime!(2026-03-02 09:00 UTC);
    const VERIFIER: &str = "un-verificateur-pkce-assez-long-pour-la-norme-rfc-7636";

    fn provider(dir: &std::path::Path) -> DevProvider {
        let issuer = Arc::new(DevIssuer::load_or_create(dir).expect("dev issuer"));
        let person = DemoPerson {
            label: "Marie Dupont".into(),
            claims: TokenClaims { ins: Some("255081416802538".into()), ..TokenClaims::new("marie", Role::Patient) },
        };
        let client = DevClient { client_id: "portail".into(), redirect_uri: "http://127.0.0.1:8080/connexion/retour".into() };
        DevProvider::new(issuer, "http://127.0.0.1:8080/dev-issuer", vec![person], vec![client])
    }

    fn request() -> AuthorizationRequest {
        AuthorizationRequest {
            response_type: "code".into(),
            client_id: "portail".into(),
            redirect_uri: "http://127.0.0.1:8080/connexion/retour".into(),
            scope: "openid".into(),
            state: Some("s".into()),
            nonce: Some("n".into()),
            code_challenge: URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER.as_bytes())),
            code_challenge_method: "S256".into(),
        }
    }

    fn code_of(redirect: &str) -> String {
        let query = redirect.split_once('?').map(|(_, q)| q).unwrap_or_default();
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).expect("query");
        pairs.into_iter().find(|(k, _)| k == "code").map(|(_, v)| v).expect("a code")
    }

    fn token_request(code: &str) -> TokenRequest {
        TokenRequest {
            grant_type: "authorization_code".into(),
            code: code.into(),
            redirect_uri: request().redirect_uri,
            client_id: Some("portail".into()),
            code_verifier: VERIFIER.into(),
        }
    }

    #[test]
    fn a_code_is_exchanged_once_for_an_id_token_with_the_nonce() {
        let dir = tempfile::tempdir().expect("dir");
        let p = provider(dir.path());
        let redirect = p.choose(&request(), 0, NOW).expect("code");
        assert!(redirect.starts_with("http://127.0.0.1:8080/connexion/retour?code=") && redirect.ends_with("&state=s"));
        let code = code_of(&redirect);
        let answer = p.exchange(&token_request(&code), None, NOW).expect("tokens");
        let id_token = answer["id_token"].as_str().expect("id token");
        let payload = id_token.split('.').nth(1).expect("payload");
        let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("b64")).expect("json");
        assert_eq!(claims["iss"], "http://127.0.0.1:8080/dev-issuer");
        assert_eq!(claims["aud"], "portail");
        assert_eq!(claims["nonce"], "n");
        assert_eq!(claims["ins"], "255081416802538");
        assert_eq!(
            p.exchange(&token_request(&code), None, NOW).map(|_| ()),
            Err(refuse("invalid_grant", "unknown, expired or already used code"))
        );
    }

    #[test]
    fn pkce_client_redirect_and_lifetime_are_enforced() {
        let dir = tempfile::tempdir().expect("dir");
        let p = provider(dir.path());
        let fresh = || code_of(&p.choose(&request(), 0, NOW).expect("code"));
        let wrong_verifier = TokenRequest { code_verifier: "autre-chose".into(), ..token_request(&fresh()) };
        assert_eq!(p.exchange(&wrong_verifier, None, NOW).map_err(|e| e.code), Err("invalid_grant"));
        let other_client = TokenRequest { client_id: Some("autre".into()), ..token_request(&fresh()) };
        assert_eq!(p.exchange(&other_client, None, NOW).map_err(|e| e.code), Err("invalid_grant"));
        let other_redirect = TokenRequest { redirect_uri: "http://evil.example/".into(), ..token_request(&fresh()) };
        assert_eq!(p.exchange(&other_redirect, None, NOW).map_err(|e| e.code), Err("invalid_grant"));
        assert_eq!(p.exchange(&token_request(&fresh()), None, NOW + CODE_LIFETIME).map_err(|e| e.code), Err("invalid_grant"));
        assert!(p.exchange(&token_request(&fresh()), Some("portail"), NOW).is_ok());

        let plain = AuthorizationRequest { code_challenge_method: "plain".into(), ..request() };
        assert_eq!(p.check(&plain).map_err(|e| e.code), Err("invalid_request"));
        let no_openid = AuthorizationRequest { scope: "profile".into(), ..request() };
        assert_eq!(p.check(&no_openid).map_err(|e| e.code), Err("invalid_scope"));
        let elsewhere = AuthorizationRequest { redirect_uri: "http://evil.example/".into(), ..request() };
        assert_eq!(p.check(&elsewhere).map_err(|e| e.code), Err("invalid_request"));
        assert_eq!(p.choose(&request(), 7, NOW).map_err(|e| e.code), Err("access_denied"));
    }
}
