//! Verifying bearer tokens against trusted issuers.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use carnet_domain::Actor;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use tokio::sync::RwLock;

use crate::{AuthError, actor_from_claims};

/// An OpenID Connect issuer whose tokens Carnet accepts. In configuration:
///
/// ```toml
/// [[auth.issuers]]
/// issuer = "https://idp.example.org/realms/health"
/// audience = "carnet"
/// # one of these, or neither for OIDC discovery ({issuer}/.well-known/openid-configuration):
/// jwks_file = "/etc/carnet/idp-jwks.json"
/// jwks_url = "https://idp.example.org/realms/health/protocol/openid-connect/certs"
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedIssuer {
    pub issuer: String,
    pub audience: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_url: Option<String>,
    /// Keys handed over in memory (the dev issuer); never from configuration.
    #[serde(skip)]
    pub jwks: Option<JwkSet>,
}

impl TrustedIssuer {
    fn is_remote(&self) -> bool {
        self.jwks.is_none() && self.jwks_file.is_none()
    }
}

struct IssuerKeys {
    config: TrustedIssuer,
    keys: RwLock<KeyCache>,
}

#[derive(Default)]
struct KeyCache {
    set: Option<JwkSet>,
    fetched_at: Option<Instant>,
}

struct Inner {
    issuers: Vec<IssuerKeys>,
    leeway: Duration,
    refetch_after: Duration,
    http: reqwest::Client,
}

/// Checks bearer tokens. Cheap to clone.
#[derive(Clone)]
pub struct TokenVerifier {
    inner: Arc<Inner>,
}

const ACCEPTED: [Algorithm; 2] = [Algorithm::ES256, Algorithm::RS256];

impl TokenVerifier {
    /// Key files and in-memory keys are loaded now (a bad file fails here); URL and discovery
    /// keys are fetched on first use, so Carnet starts even while an issuer is briefly down.
    pub async fn new(issuers: Vec<TrustedIssuer>, leeway: Duration) -> Result<TokenVerifier, AuthError> {
        let mut loaded = Vec::with_capacity(issuers.len());
        for config in issuers {
            let set = match (&config.jwks, &config.jwks_file) {
                (Some(set), _) => Some(set.clone()),
                (None, Some(path)) => {
                    let text = tokio::fs::read_to_string(path)
                        .await
                        .map_err(|e| AuthError::Keys(format!("reading {}: {e}", path.display())))?;
                    let set: JwkSet = serde_json::from_str(&text)
                        .map_err(|e| AuthError::Keys(format!("{} is not a JWK set: {e}", path.display())))?;
                    Some(set)
                }
                (None, None) => None,
            };
            loaded.push(IssuerKeys { config, keys: RwLock::new(KeyCache { set, fetched_at: None }) });
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| AuthError::Keys(format!("HTTP client: {e}")))?;
        Ok(TokenVerifier {
            inner: Arc::new(Inner { issuers: loaded, leeway, refetch_after: Duration::from_secs(60), http }),
        })
    }

    /// How long to wait before fetching a remote issuer's keys again when a token names an
    /// unknown key (key rotation). Default 60 s.
    pub fn with_refetch_after(self, every: Duration) -> TokenVerifier {
        match Arc::try_unwrap(self.inner) {
            Ok(mut inner) => {
                inner.refetch_after = every;
                TokenVerifier { inner: Arc::new(inner) }
            }
            Err(inner) => TokenVerifier { inner },
        }
    }

    /// Verifies `token` at instant `now` and returns the actor its claims describe.
    pub async fn verify(&self, token: &str, now: OffsetDateTime) -> Result<Actor, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Malformed)?;
        if !ACCEPTED.contains(&header.alg) {
            return Err(AuthError::Algorithm(format!("{:?}", header.alg)));
        }
        let issuer = self.issuer_of(token)?;
        let jwk = self.key_for(issuer, header.kid.as_deref(), header.alg).await?;
        let key = DecodingKey::from_jwk(&jwk).map_err(|e| AuthError::Keys(format!("issuer key: {e}")))?;

        let mut validation = Validation::new(header.alg);
        // Dates are checked below against the injected clock, not the system's.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.set_audience(&[&issuer.config.audience]);
        validation.set_issuer(&[&issuer.config.issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let data = jsonwebtoken::decode::<Value>(token, &key, &validation).map_err(|e| match e.kind() {
            ErrorKind::InvalidSignature | ErrorKind::InvalidEcdsaKey | ErrorKind::InvalidRsaKey(_) => AuthError::Signature,
            ErrorKind::InvalidAudience => AuthError::Audience,
            ErrorKind::InvalidIssuer => AuthError::UnknownIssuer,
            ErrorKind::InvalidAlgorithm => AuthError::Algorithm(format!("{:?}", header.alg)),
            ErrorKind::MissingRequiredClaim(c) => AuthError::claim(
                match c.as_str() {
                    "exp" => "exp",
                    "aud" => "aud",
                    "iss" => "iss",
                    _ => "sub",
                },
                "is required",
            ),
            _ => AuthError::Malformed,
        })?;
        self.check_dates(&data.claims, now)?;
        actor_from_claims(&data.claims)
    }

    fn check_dates(&self, claims: &Value, now: OffsetDateTime) -> Result<(), AuthError> {
        let now = now.unix_timestamp();
        let leeway = i64::try_from(self.inner.leeway.as_secs()).unwrap_or(i64::MAX);
        let number = |claim: &'static str| -> Result<Option<i64>, AuthError> {
            match claims.get(claim) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v
                    .as_f64()
                    .map(|f| Some(f as i64))
                    .ok_or_else(|| AuthError::claim(claim, "must be a number of seconds")),
            }
        };
        let exp = number("exp")?.ok_or_else(|| AuthError::claim("exp", "is required"))?;
        if now > exp.saturating_add(leeway) {
            return Err(AuthError::Expired);
        }
        for claim in ["nbf", "iat"] {
            if number(claim)?.is_some_and(|t| t > now.saturating_add(leeway)) {
                return Err(AuthError::NotYetValid);
            }
        }
        Ok(())
    }

    /// The trusted issuer named by the token's (still unverified) `iss`.
    fn issuer_of(&self, token: &str) -> Result<&IssuerKeys, AuthError> {
        let payload = token.split('.').nth(1).ok_or(AuthError::Malformed)?;
        let bytes = URL_SAFE_NO_PAD.decode(payload).map_err(|_| AuthError::Malformed)?;
        let claims: Value = serde_json::from_slice(&bytes).map_err(|_| AuthError::Malformed)?;
        let iss = claims.get("iss").and_then(Value::as_str).ok_or_else(|| AuthError::claim("iss", "is required"))?;
        self.inner.issuers.iter().find(|i| i.config.issuer == iss).ok_or(AuthError::UnknownIssuer)
    }

    async fn key_for(&self, issuer: &IssuerKeys, kid: Option<&str>, alg: Algorithm) -> Result<Jwk, AuthError> {
        {
            let cache = issuer.keys.read().await;
            if let Some(jwk) = cache.set.as_ref().and_then(|set| select(set, kid, alg)) {
                return Ok(jwk);
            }
            let fresh = cache.fetched_at.is_some_and(|t| t.elapsed() < self.inner.refetch_after);
            if !issuer.config.is_remote() || fresh {
                return Err(AuthError::UnknownKey);
            }
        }
        let mut cache = issuer.keys.write().await;
        // Another request may have refreshed the keys while we waited for the lock.
        let fresh = cache.fetched_at.is_some_and(|t| t.elapsed() < self.inner.refetch_after);
        if !fresh {
            let set = self.fetch(&issuer.config).await?;
            cache.set = Some(set);
            cache.fetched_at = Some(Instant::now());
        }
        cache.set.as_ref().and_then(|set| select(set, kid, alg)).ok_or(AuthError::UnknownKey)
    }

    async fn fetch(&self, config: &TrustedIssuer) -> Result<JwkSet, AuthError> {
        let http = &self.inner.http;
        let get_json = |url: String| async move {
            let response = http.get(&url).send().await.map_err(|e| AuthError::Fetch(format!("{url}: {e}")))?;
            let response = response.error_for_status().map_err(|e| AuthError::Fetch(format!("{url}: {e}")))?;
            response.json::<Value>().await.map_err(|e| AuthError::Fetch(format!("{url}: {e}")))
        };
        let jwks_url = match &config.jwks_url {
            Some(url) => url.clone(),
            None => {
                let discovery = format!("{}/.well-known/openid-configuration", config.issuer.trim_end_matches('/'));
                let doc = get_json(discovery.clone()).await?;
                doc.get("jwks_uri")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| AuthError::Fetch(format!("{discovery}: no jwks_uri")))?
            }
        };
        let set = get_json(jwks_url.clone()).await?;
        let set: JwkSet = serde_json::from_value(set).map_err(|e| AuthError::Fetch(format!("{jwks_url}: not a JWK set: {e}")))?;
        tracing::info!(issuer = %config.issuer, keys = set.keys.len(), "fetched issuer keys");
        Ok(set)
    }
}

/// The key for `alg` with this `kid`; without a kid, the only key of the right type.
fn select(set: &JwkSet, kid: Option<&str>, alg: Algorithm) -> Option<Jwk> {
    let fits = |k: &&Jwk| match (&k.algorithm, alg) {
        (AlgorithmParameters::EllipticCurve(p), Algorithm::ES256) => p.curve == EllipticCurve::P256,
        (AlgorithmParameters::RSA(_), Algorithm::RS256) => true,
        _ => false,
    };
    match kid {
        Some(kid) => set.keys.iter().filter(fits).find(|k| k.common.key_id.as_deref() == Some(kid)).cloned(),
        None => {
            let mut candidates = set.keys.iter().filter(fits);
            match (candidates.next(), candidates.next()) {
                (Some(only), None) => Some(only.clone()),
                _ => None,
            }
        }
    }
}
