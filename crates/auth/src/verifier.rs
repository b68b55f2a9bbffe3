//! Verifying bearer tokens against trusted issuers.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use carnet_domain::{Actor, Role, Scopes};
use reqwest::Url;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use crate::jwks::{Alg, KeySet, Mode, VerifyKey, parse_set};
use crate::{AuthError, actor_from_claims};

/// Where an issuer's public keys come from.
#[derive(Debug, Clone, PartialEq)]
pub enum JwksSource {
    /// A JWK set file, read once by [`TokenVerifier::new`].
    File(PathBuf),
    /// A JWK set URL (https, or http to a loopback address), fetched on first use.
    Url(String),
    /// OpenID Connect discovery: `{issuer}/.well-known/openid-configuration` → `jwks_uri`,
    /// fetched on first use. The issuer must then be an https URL (http on loopback only).
    Discover,
    /// A JWK set held in memory (`{"keys": [...]}`): the dev issuer, tests, air-gapped setups.
    Static(Value),
}

/// An OpenID Connect issuer whose tokens Carnet accepts. In configuration (TOML shown; any
/// serde format works), `issuer` and `audience` are required and at most one key source is set:
///
/// ```toml
/// [[auth.issuers]]
/// issuer = "https://idp.example.org/realms/health"   # the tokens' `iss`, exactly
/// audience = "carnet"                                 # must appear in the tokens' `aud`
/// # then one of:
/// # (nothing)                                         → OIDC discovery from `issuer`
/// # jwks_url = "https://idp.example.org/realms/health/protocol/openid-connect/certs"
/// # jwks_file = "/etc/carnet/idp-jwks.json"
/// # jwks = { keys = [ { kty = "EC", crv = "P-256", kid = "k1", x = "…", y = "…" } ] }
/// unscoped_roles = ["professional", "regulator"]     # may act without a `scope` claim
/// ```
///
/// A token with a `scope` claim is held to its SMART scopes. A token without one acts on its
/// role alone only when its role is listed in `unscoped_roles` (default: none); otherwise it is
/// granted nothing (403 `insufficient_scope` on every resource).
///
/// Unknown fields and two sources at once are refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "IssuerConfig", into = "IssuerConfig")]
pub struct TrustedIssuer {
    pub issuer: String,
    pub audience: String,
    pub jwks: JwksSource,
    /// The roles whose tokens may omit `scope` and act on their role alone.
    pub unscoped_roles: Vec<Role>,
}

/// The configuration shape of [`TrustedIssuer`].
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct IssuerConfig {
    issuer: String,
    audience: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    jwks_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    jwks_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    jwks: Option<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    unscoped_roles: Vec<String>,
}

impl TryFrom<IssuerConfig> for TrustedIssuer {
    type Error = String;
    fn try_from(c: IssuerConfig) -> Result<Self, String> {
        let jwks = match (c.jwks_file, c.jwks_url, c.jwks) {
            (None, None, None) => JwksSource::Discover,
            (Some(path), None, None) => JwksSource::File(path),
            (None, Some(url), None) => JwksSource::Url(url),
            (None, None, Some(set)) => JwksSource::Static(set),
            _ => {
                return Err(format!("issuer {:?}: set at most one of jwks_file, jwks_url and jwks (none: OIDC discovery)", c.issuer));
            }
        };
        let unscoped_roles = c
            .unscoped_roles
            .iter()
            .map(|r| {
                Role::parse(r).ok_or_else(|| {
                    format!(
                        "issuer {:?}: unscoped_roles: unknown role {r:?}; expected some of {}",
                        c.issuer,
                        Role::ALL.map(Role::as_str).join(", ")
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(TrustedIssuer { issuer: c.issuer, audience: c.audience, jwks, unscoped_roles })
    }
}

impl From<TrustedIssuer> for IssuerConfig {
    fn from(t: TrustedIssuer) -> IssuerConfig {
        let mut c = IssuerConfig {
            issuer: t.issuer,
            audience: t.audience,
            jwks_file: None,
            jwks_url: None,
            jwks: None,
            unscoped_roles: t.unscoped_roles.iter().map(|r| r.as_str().to_owned()).collect(),
        };
        match t.jwks {
            JwksSource::File(path) => c.jwks_file = Some(path),
            JwksSource::Url(url) => c.jwks_url = Some(url),
            JwksSource::Static(set) => c.jwks = Some(set),
            JwksSource::Discover => {}
        }
        c
    }
}

/// How remote keys are reached.
enum Remote {
    Jwks(Url),
    /// The discovery document's URL.
    Discover(Url),
}

#[derive(Default)]
struct FetchState {
    /// When the last fetch ended, and whether it succeeded.
    last: Option<(Instant, bool)>,
}

struct IssuerState {
    issuer: String,
    audience: String,
    unscoped_roles: Vec<Role>,
    remote: Option<Remote>,
    /// Swapped whole after a fetch; readers never wait on the network.
    keys: RwLock<Arc<KeySet>>,
    /// Serialises fetches (one at a time per issuer) and remembers the last one.
    fetch: tokio::sync::Mutex<FetchState>,
}

impl IssuerState {
    fn current(&self) -> Arc<KeySet> {
        self.keys.read().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// Signatures already checked: a client sends the same token with every request, and an ES256
/// verification costs more than the rest of a search. Keyed by the SHA-256 of the whole token, so
/// only the very bytes that were verified hit; the entry remembers the key that verified it and
/// counts only while the issuer still serves that same key (a withdrawn or rotated key misses),
/// and lives at most `SIGNATURE_CACHE_TTL`. Dates, audience and claims are checked on every
/// request all the same.
#[derive(Default)]
struct VerifiedSignatures {
    entries: HashMap<[u8; 32], (Arc<VerifyKey>, Instant)>,
}

const SIGNATURE_CACHE_TTL: Duration = Duration::from_secs(60);
const SIGNATURE_CACHE_CAPACITY: usize = 10_000;

impl VerifiedSignatures {
    fn holds(&self, token: &[u8; 32], key: &Arc<VerifyKey>) -> bool {
        self.entries.get(token).is_some_and(|(k, at)| Arc::ptr_eq(k, key) && at.elapsed() < SIGNATURE_CACHE_TTL)
    }

    fn remember(&mut self, token: [u8; 32], key: Arc<VerifyKey>) {
        if self.entries.len() >= SIGNATURE_CACHE_CAPACITY {
            self.entries.retain(|_, (_, at)| at.elapsed() < SIGNATURE_CACHE_TTL);
            if self.entries.len() >= SIGNATURE_CACHE_CAPACITY {
                self.entries.clear();
            }
        }
        self.entries.insert(token, (key, Instant::now()));
    }
}

#[derive(Clone)]
struct Inner {
    issuers: Vec<Arc<IssuerState>>,
    verified: Arc<Mutex<VerifiedSignatures>>,
    leeway: Duration,
    refetch_after: Duration,
    http: reqwest::Client,
}

/// Checks bearer tokens. Cheap to clone (an `Arc` inside); `Send + Sync`.
#[derive(Clone)]
pub struct TokenVerifier {
    inner: Arc<Inner>,
}

impl fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenVerifier")
            .field("issuers", &self.inner.issuers.iter().map(|i| i.issuer.as_str()).collect::<Vec<_>>())
            .field("leeway", &self.inner.leeway)
            .finish_non_exhaustive()
    }
}

/// Longer than any sane access token; a bound on the work spent on garbage.
const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// Bound on discovery documents and JWK sets.
const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;
const HTTP_TIMEOUT: Duration = Duration::from_secs(5);
/// Default: a token naming an unknown `kid` makes us refetch at most once a minute.
const REFETCH_AFTER: Duration = Duration::from_secs(60);
/// After a failed fetch, requests fail fast for this long (or `refetch_after` if shorter).
const FAILED_FETCH_BACKOFF: Duration = Duration::from_secs(5);

impl TokenVerifier {
    /// Trusts `issuers`, tolerating `leeway` of clock skew on `exp`, `nbf` and `iat` (60 s is
    /// usual).
    ///
    /// Key files and in-memory sets are loaded now: an unreadable file or a set without a usable
    /// key fails here. URL and discovery keys are fetched lazily, on the first token of that
    /// issuer, so Carnet starts while an issuer is briefly down; their URLs are checked now.
    pub async fn new(issuers: Vec<TrustedIssuer>, leeway: Duration) -> Result<TokenVerifier, AuthError> {
        let http = reqwest::Client::builder()
            .timeout(HTTP_TIMEOUT)
            .connect_timeout(HTTP_TIMEOUT)
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()
            .map_err(|e| AuthError::Keys(format!("HTTP client: {e}")))?;
        let mut verifier = TokenVerifier {
            inner: Arc::new(Inner { issuers: Vec::new(), verified: Arc::default(), leeway, refetch_after: REFETCH_AFTER, http }),
        };
        for trusted in issuers {
            let (keys, remote) = match &trusted.jwks {
                JwksSource::File(path) => {
                    let at = |e: &dyn fmt::Display| AuthError::Keys(format!("issuer {}: {}: {e}", trusted.issuer, path.display()));
                    let text = tokio::fs::read(path).await.map_err(|e| at(&e))?;
                    let set: Value = serde_json::from_slice(&text).map_err(|_| at(&"not JSON"))?;
                    (parse_set(&set, Mode::Strict).map_err(|e| at(&e))?, None)
                }
                JwksSource::Static(set) => (static_set(&trusted.issuer, set)?, None),
                JwksSource::Url(url) => {
                    let url = remote_url(url).map_err(|e| AuthError::Keys(format!("issuer {}: jwks_url {e}", trusted.issuer)))?;
                    (KeySet::default(), Some(Remote::Jwks(url)))
                }
                JwksSource::Discover => {
                    let doc = format!("{}/.well-known/openid-configuration", trusted.issuer.trim_end_matches('/'));
                    let doc = remote_url(&doc).map_err(|e| {
                        AuthError::Keys(format!("issuer {}: OIDC discovery needs the issuer to be a URL: {e}", trusted.issuer))
                    })?;
                    (KeySet::default(), Some(Remote::Discover(doc)))
                }
            };
            verifier = verifier.trusting(&trusted.issuer, &trusted.audience, &trusted.unscoped_roles, keys, remote)?;
        }
        Ok(verifier)
    }

    /// Also trusts `issuer` for `audience` with the JWK set `jwks` (`{"keys": [...]}`) held in
    /// memory — the same as a [`JwksSource::Static`] entry given to [`TokenVerifier::new`].
    /// Its tokens may omit `scope` whatever their role (tests, air-gapped tools).
    pub fn with_static_keys(self, issuer: &str, audience: &str, jwks: &Value) -> Result<TokenVerifier, AuthError> {
        let keys = static_set(issuer, jwks)?;
        self.trusting(issuer, audience, &Role::ALL, keys, None)
    }

    /// How long to wait before fetching a remote issuer's keys again when a token names a key
    /// we do not have (key rotation). Default 60 s; it bounds the load a stream of tokens with
    /// made-up `kid`s can put on the issuer.
    pub fn with_refetch_after(self, every: Duration) -> TokenVerifier {
        let mut inner = (*self.inner).clone();
        inner.refetch_after = every;
        TokenVerifier { inner: Arc::new(inner) }
    }

    fn trusting(
        self,
        issuer: &str,
        audience: &str,
        unscoped_roles: &[Role],
        keys: KeySet,
        remote: Option<Remote>,
    ) -> Result<TokenVerifier, AuthError> {
        if issuer.trim().is_empty() || audience.trim().is_empty() {
            return Err(AuthError::Keys(format!("issuer {issuer:?}: `issuer` and `audience` must not be empty")));
        }
        if self.inner.issuers.iter().any(|i| i.issuer == issuer) {
            return Err(AuthError::Keys(format!("issuer {issuer} is configured twice")));
        }
        let mut inner = (*self.inner).clone();
        inner.issuers.push(Arc::new(IssuerState {
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            unscoped_roles: unscoped_roles.to_vec(),
            remote,
            keys: RwLock::new(Arc::new(keys)),
            fetch: tokio::sync::Mutex::new(FetchState::default()),
        }));
        Ok(TokenVerifier { inner: Arc::new(inner) })
    }

    /// Verifies `bearer_token` (the token alone, without `Bearer `) at instant `now` and returns
    /// the actor its claims describe.
    ///
    /// Checks, in order: JWS compact form; `alg` ES256 or RS256 and no `crit`; `iss` trusted;
    /// a key of that issuer for the `kid` and `alg` (fetching remote keys if needed); the
    /// signature; `aud` contains the issuer's audience; `exp` (required), `nbf`, `iat` against
    /// `now` with the leeway; the claims contract ([`actor_from_claims`]).
    pub async fn verify(&self, bearer_token: &str, now: OffsetDateTime) -> Result<Actor, AuthError> {
        if bearer_token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::Malformed);
        }
        let mut parts = bearer_token.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) = (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(AuthError::Malformed);
        };
        let header = json_object(header_b64)?;
        let alg_name = header.get("alg").and_then(Value::as_str).ok_or(AuthError::Malformed)?;
        let alg = Alg::parse(alg_name).ok_or_else(|| AuthError::Algorithm(public_alg_name(alg_name).to_owned()))?;
        if header.get("crit").is_some() {
            return Err(AuthError::CriticalHeader);
        }
        let kid = match header.get("kid") {
            None | Some(Value::Null) => None,
            Some(Value::String(kid)) => Some(kid.as_str()),
            Some(_) => return Err(AuthError::Malformed),
        };
        let claims = json_object(payload_b64)?;
        let issuer = match claims.get("iss") {
            Some(Value::String(iss)) => self.inner.issuers.iter().find(|i| i.issuer == *iss).ok_or(AuthError::UnknownIssuer)?,
            None | Some(Value::Null) => return Err(AuthError::claim("iss", "is required")),
            Some(_) => return Err(AuthError::claim("iss", "must be a string")),
        };
        let key = self.key_for(issuer, kid, alg).await?;
        let fingerprint: [u8; 32] = {
            use sha2::Digest;
            sha2::Sha256::digest(bearer_token.as_bytes()).into()
        };
        let known = self.inner.verified.lock().unwrap_or_else(PoisonError::into_inner).holds(&fingerprint, &key);
        if !known {
            let signed = &bearer_token[..header_b64.len() + 1 + payload_b64.len()];
            match jsonwebtoken::crypto::verify(signature_b64, signed.as_bytes(), &key.key, alg.jsonwebtoken()) {
                Ok(true) => {}
                Ok(false) | Err(_) => return Err(AuthError::Signature),
            }
            self.inner.verified.lock().unwrap_or_else(PoisonError::into_inner).remember(fingerprint, key.clone());
        }
        check_audience(&claims, &issuer.audience)?;
        self.check_dates(&claims, now)?;
        let mut actor = actor_from_claims(&claims)?;
        if actor.scopes == Scopes::RoleOnly && !issuer.unscoped_roles.contains(&actor.role()) {
            // Without a `scope` claim, only the roles this issuer is trusted for act on their
            // role alone; any other such token is granted nothing.
            actor.scopes = Scopes::Granted(vec![]);
        }
        Ok(actor)
    }

    fn check_dates(&self, claims: &Value, now: OffsetDateTime) -> Result<(), AuthError> {
        let now = now.unix_timestamp();
        let leeway = i64::try_from(self.inner.leeway.as_secs()).unwrap_or(i64::MAX);
        let exp = seconds(claims, "exp")?.ok_or_else(|| AuthError::claim("exp", "is required"))?;
        // RFC 7519 §4.1.4: not accepted on or after `exp`.
        if now >= exp.saturating_add(leeway) {
            return Err(AuthError::Expired);
        }
        for claim in ["nbf", "iat"] {
            if seconds(claims, claim)?.is_some_and(|t| t > now.saturating_add(leeway)) {
                return Err(AuthError::NotYetValid);
            }
        }
        Ok(())
    }

    /// The issuer's key for `kid`/`alg`, fetching remote keys when we have none that fits — at
    /// most once per `refetch_after` (or the failure backoff), one fetch at a time.
    async fn key_for(&self, issuer: &IssuerState, kid: Option<&str>, alg: Alg) -> Result<Arc<VerifyKey>, AuthError> {
        let seen = issuer.current();
        if let Some(key) = seen.select(kid, alg) {
            return Ok(key);
        }
        let Some(remote) = &issuer.remote else {
            return Err(AuthError::UnknownKey);
        };
        let mut fetch = issuer.fetch.lock().await;
        // Another request may have fetched while we waited for the lock.
        let current = issuer.current();
        if !Arc::ptr_eq(&current, &seen)
            && let Some(key) = current.select(kid, alg)
        {
            return Ok(key);
        }
        if let Some((at, succeeded)) = fetch.last {
            let wait = if succeeded { self.inner.refetch_after } else { self.inner.refetch_after.min(FAILED_FETCH_BACKOFF) };
            if at.elapsed() < wait {
                return Err(if succeeded {
                    AuthError::UnknownKey
                } else {
                    AuthError::Fetch(format!("issuer {}: the last fetch failed; retrying shortly", issuer.issuer))
                });
            }
        }
        let fetched = self.fetch(issuer, remote).await;
        fetch.last = Some((Instant::now(), fetched.is_ok()));
        let keys = Arc::new(fetched.inspect_err(|e| tracing::warn!(error = %e, "fetching issuer keys"))?);
        *issuer.keys.write().unwrap_or_else(PoisonError::into_inner) = keys.clone();
        keys.select(kid, alg).ok_or(AuthError::UnknownKey)
    }

    async fn fetch(&self, issuer: &IssuerState, remote: &Remote) -> Result<KeySet, AuthError> {
        let jwks_url = match remote {
            Remote::Jwks(url) => url.clone(),
            Remote::Discover(doc_url) => {
                let doc = self.get_json(doc_url).await?;
                // OpenID Connect Discovery 1.0 §4.3: the document must be the issuer's own.
                let named = doc.get("issuer").and_then(Value::as_str).map(|i| i.trim_end_matches('/'));
                if named != Some(issuer.issuer.trim_end_matches('/')) {
                    return Err(AuthError::Fetch(format!("{doc_url}: the discovery document names another issuer")));
                }
                let uri = doc
                    .get("jwks_uri")
                    .and_then(Value::as_str)
                    .ok_or_else(|| AuthError::Fetch(format!("{doc_url}: the discovery document has no jwks_uri")))?;
                remote_url(uri).map_err(|e| AuthError::Fetch(format!("{doc_url}: jwks_uri {e}")))?
            }
        };
        let set = self.get_json(&jwks_url).await?;
        let keys = parse_set(&set, Mode::Lenient).map_err(|e| AuthError::Fetch(format!("{jwks_url}: {e}")))?;
        tracing::info!(issuer = %issuer.issuer, url = %jwks_url, keys = keys.len(), "fetched the issuer's signing keys");
        Ok(keys)
    }

    async fn get_json(&self, url: &Url) -> Result<Value, AuthError> {
        let failed = |e: &dyn fmt::Display| AuthError::Fetch(format!("{url}: {e}"));
        let mut response = self
            .inner
            .http
            .get(url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| failed(&error_chain(&e)))?;
        if !response.status().is_success() {
            return Err(failed(&format!("HTTP status {}", response.status())));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| failed(&error_chain(&e)))? {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_DOCUMENT_BYTES {
                return Err(failed(&"the document is larger than 1 MiB"));
            }
        }
        serde_json::from_slice(&body).map_err(|_| failed(&"the document is not JSON"))
    }
}

fn static_set(issuer: &str, set: &Value) -> Result<KeySet, AuthError> {
    parse_set(set, Mode::Strict).map_err(|e| AuthError::Keys(format!("issuer {issuer}: in-memory JWK set: {e}")))
}

/// A URL we may fetch keys from: https, or http to a loopback address (tests, a sidecar).
fn remote_url(s: &str) -> Result<Url, String> {
    let url = Url::parse(s).map_err(|e| format!("{s:?} is not a URL: {e}"))?;
    let loopback = match url.host_str() {
        Some("localhost") => true,
        Some(host) => host.trim_start_matches('[').trim_end_matches(']').parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback()),
        None => false,
    };
    match url.scheme() {
        "https" if url.host().is_some() => Ok(url),
        "http" if loopback => Ok(url),
        "http" => Err(format!("{s}: plain http is only allowed to a loopback address; use https")),
        _ => Err(format!("{s}: only https URLs are supported")),
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// A base64url JSON object (a JWS header or payload).
fn json_object(part: &str) -> Result<Value, AuthError> {
    let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| AuthError::Malformed)?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(AuthError::Malformed),
    }
}

/// The `alg` as it may be echoed: a registered JOSE name, or `unsupported`.
fn public_alg_name(alg: &str) -> &'static str {
    const KNOWN: [&str; 15] = [
        "none", "HS256", "HS384", "HS512", "RS384", "RS512", "PS256", "PS384", "PS512", "ES384", "ES512", "ES256K", "EdDSA", "Ed25519",
        "Ed448",
    ];
    KNOWN.into_iter().find(|k| *k == alg).unwrap_or("unsupported")
}

fn check_audience(claims: &Value, audience: &str) -> Result<(), AuthError> {
    let ours = match claims.get("aud") {
        Some(Value::String(aud)) => aud == audience,
        Some(Value::Array(list)) if list.iter().all(Value::is_string) => list.iter().any(|a| a.as_str() == Some(audience)),
        None | Some(Value::Null) => return Err(AuthError::claim("aud", "is required")),
        Some(_) => return Err(AuthError::claim("aud", "must be a string or an array of strings")),
    };
    if ours { Ok(()) } else { Err(AuthError::Audience) }
}

/// A NumericDate claim (RFC 7519 §2), in whole seconds.
fn seconds(claims: &Value, claim: &'static str) -> Result<Option<i64>, AuthError> {
    match claims.get(claim) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => {
            // Fractions are allowed; saturating conversion keeps absurd values absurd.
            Ok(Some(n.as_i64().unwrap_or_else(|| n.as_f64().map_or(i64::MAX, |f| f.floor() as i64))))
        }
        Some(_) => Err(AuthError::claim(claim, "must be a number of seconds since the epoch")),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn config(v: Value) -> Result<TrustedIssuer, String> {
        serde_json::from_value::<TrustedIssuer>(v).map_err(|e| e.to_string())
    }

    #[test]
    fn configuration_shape() {
        let base = json!({"issuer": "https://idp.test", "audience": "carnet"});
        let with = |extra: Value| {
            let mut v = base.clone();
            if let (Some(m), Value::Object(e)) = (v.as_object_mut(), extra) {
                m.extend(e);
            }
            v
        };
        assert_eq!(config(base.clone()).map(|t| t.jwks), Ok(JwksSource::Discover));
        assert_eq!(config(with(json!({"jwks_file": "/etc/jwks.json"}))).map(|t| t.jwks), Ok(JwksSource::File("/etc/jwks.json".into())));
        assert_eq!(
            config(with(json!({"jwks_url": "https://idp.test/certs"}))).map(|t| t.jwks),
            Ok(JwksSource::Url("https://idp.test/certs".into()))
        );
        assert_eq!(config(with(json!({"jwks": {"keys": []}}))).map(|t| t.jwks), Ok(JwksSource::Static(json!({"keys": []}))));
        let two = config(with(json!({"jwks_file": "/a", "jwks_url": "https://b"}))).expect_err("two sources");
        assert!(two.contains("at most one"), "{two}");
        assert!(config(with(json!({"jwks_uri": "https://idp.test/certs"}))).is_err(), "unknown fields are refused");
        assert!(config(json!({"issuer": "https://idp.test"})).is_err(), "audience is required");
        for source in
            [json!({}), json!({"jwks_file": "/etc/jwks.json"}), json!({"jwks_url": "https://x/certs"}), json!({"jwks": {"keys": []}})]
        {
            let parsed = config(with(source.clone())).expect("valid");
            assert_eq!(serde_json::to_value(&parsed).expect("serialize"), with(source), "round trip");
        }
    }

    #[test]
    fn remote_urls_are_https_or_loopback_http() {
        for ok in ["https://idp.example.org/certs", "http://127.0.0.1:8080/certs", "http://localhost/x", "http://[::1]:9/x"] {
            assert!(remote_url(ok).is_ok(), "{ok}");
        }
        for bad in ["http://idp.example.org/certs", "ftp://idp/x", "file:///etc/jwks.json", "urn:carnet:dev-issuer", "not a url"] {
            assert!(remote_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn numeric_dates() {
        let c = json!({"a": 10, "b": 10.9, "c": "10", "d": 1e300, "e": -5});
        assert_eq!(seconds(&c, "a").ok().flatten(), Some(10));
        assert_eq!(seconds(&c, "b").ok().flatten(), Some(10));
        assert!(matches!(seconds(&c, "c"), Err(AuthError::Claim { claim: "c", .. })));
        assert_eq!(seconds(&c, "d").ok().flatten(), Some(i64::MAX));
        assert_eq!(seconds(&c, "e").ok().flatten(), Some(-5));
        assert_eq!(seconds(&c, "z").ok().flatten(), None);
    }

    #[test]
    fn only_registered_algorithm_names_are_echoed() {
        assert_eq!(public_alg_name("HS256"), "HS256");
        assert_eq!(public_alg_name("none"), "none");
        assert_eq!(public_alg_name("<script>"), "unsupported");
    }

    #[test]
    fn the_verifier_is_shareable() {
        fn shareable<T: Send + Sync + Clone + 'static>() {}
        shareable::<TokenVerifier>();
    }
}
