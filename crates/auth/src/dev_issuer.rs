//! The development issuer: an ES256 key in the data directory, so that demo and development
//! work with no identity provider. Never trusted unless `auth.dev_issuer` is on.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::SecretKey;
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::{AuthError, TokenClaims, TrustedIssuer};

const KEY_FILE: &str = "dev-issuer-key.pem";

pub struct DevIssuer {
    encoding: EncodingKey,
    kid: String,
    public_jwk: Value,
}

impl DevIssuer {
    /// The `iss` of dev tokens.
    pub const ISSUER: &'static str = "urn:carnet:dev-issuer";

    /// Loads `DIR/dev-issuer-key.pem`, or creates it (mode 0600). Refuses a key file that
    /// others may read.
    pub fn load_or_create(dir: &Path) -> Result<DevIssuer, AuthError> {
        let path = dir.join(KEY_FILE);
        let keys = |e: &dyn std::fmt::Display| AuthError::Keys(format!("{}: {e}", path.display()));
        let secret = match std::fs::metadata(&path) {
            Ok(meta) => {
                if meta.permissions().mode() & 0o077 != 0 {
                    return Err(keys(&"readable by group or others; run `chmod 600` on it or delete it"));
                }
                let pem = std::fs::read_to_string(&path).map_err(|e| keys(&e))?;
                SecretKey::from_pkcs8_pem(&pem).map_err(|e| keys(&e))?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let secret = SecretKey::random(&mut rand::rngs::OsRng);
                let pem = secret.to_pkcs8_pem(LineEnding::LF).map_err(|e| keys(&e))?;
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)
                    .map_err(|e| keys(&e))?;
                file.write_all(pem.as_bytes()).map_err(|e| keys(&e))?;
                file.sync_all().map_err(|e| keys(&e))?;
                secret
            }
            Err(e) => return Err(keys(&e)),
        };
        let pem = secret.to_pkcs8_pem(LineEnding::LF).map_err(|e| keys(&e))?;
        let encoding = EncodingKey::from_ec_pem(pem.as_bytes()).map_err(|e| keys(&e))?;
        let point = secret.public_key().to_jwk();
        let (x, y) = (point.to_json_value_field("x"), point.to_json_value_field("y"));
        // RFC 7638 thumbprint: the required members in lexicographic order, no spaces.
        let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
        let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
        let public_jwk = json!({"kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": kid, "use": "sig", "alg": "ES256"});
        Ok(DevIssuer { encoding, kid, public_jwk })
    }

    /// The public JWK set, as an issuer publishes it.
    pub fn jwks(&self) -> Value {
        json!({ "keys": [self.public_jwk] })
    }

    /// The trust entry for the verifier.
    pub fn trusted_issuer(&self, audience: &str) -> TrustedIssuer {
        TrustedIssuer {
            issuer: Self::ISSUER.into(),
            audience: audience.into(),
            jwks_file: None,
            jwks_url: None,
            jwks: serde_json::from_value::<JwkSet>(self.jwks()).ok(),
        }
    }

    pub fn mint(&self, claims: &TokenClaims, audience: &str, lifetime: time::Duration, now: OffsetDateTime) -> Result<String, AuthError> {
        let mut payload = claims.to_json();
        let iat = now.unix_timestamp();
        payload.insert("iss".into(), json!(Self::ISSUER));
        payload.insert("aud".into(), json!(audience));
        payload.insert("iat".into(), json!(iat));
        payload.insert("exp".into(), json!(iat + lifetime.whole_seconds()));
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, &payload, &self.encoding).map_err(|e| AuthError::Keys(format!("signing: {e}")))
    }
}

trait JwkField {
    fn to_json_value_field(&self, field: &str) -> String;
}

impl JwkField for p256::elliptic_curve::JwkEcKey {
    fn to_json_value_field(&self, field: &str) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.get(field).and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_default()
    }
}
