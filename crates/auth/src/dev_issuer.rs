//! The development issuer: an ES256 key in the data directory, so that demo and development
//! work with no identity provider. Never trusted unless `auth.dev_issuer` is on.

use std::fmt;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::SecretKey;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::{AuthError, JwksSource, TokenClaims, TrustedIssuer};

/// Mints ES256 tokens with a P-256 key kept in `<dir>/dev-issuer-key.pem` (PKCS#8 PEM, 0600).
pub struct DevIssuer {
    encoding: EncodingKey,
    kid: String,
    public_jwk: Value,
}

impl fmt::Debug for DevIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevIssuer").field("issuer", &Self::ISSUER).field("kid", &self.kid).finish_non_exhaustive()
    }
}

impl DevIssuer {
    /// The `iss` of dev tokens.
    pub const ISSUER: &'static str = "urn:carnet:dev-issuer";
    /// The key file's name in the directory given to [`DevIssuer::load_or_create`].
    pub const KEY_FILE: &'static str = "dev-issuer-key.pem";

    /// Loads `dir/dev-issuer-key.pem`, or creates it (mode 0600, written whole before it
    /// appears, so a concurrent start never sees half a key). Refuses a key file that group or
    /// others may read or write, and anything but a P-256 PKCS#8 key.
    pub fn load_or_create(dir: &Path) -> Result<DevIssuer, AuthError> {
        let path = dir.join(Self::KEY_FILE);
        let secret = match read_private(&path)? {
            Some(secret) => secret,
            None => match create(dir, &path)? {
                Some(secret) => secret,
                // Another process created it first: use theirs.
                None => read_private(&path)?.ok_or_else(|| AuthError::Keys(format!("{}: vanished while created", path.display())))?,
            },
        };
        DevIssuer::from_secret(&secret, &path)
    }

    fn from_secret(secret: &SecretKey, path: &Path) -> Result<DevIssuer, AuthError> {
        let failed = |e: &dyn fmt::Display| AuthError::Keys(format!("{}: {e}", path.display()));
        let pem = secret.to_pkcs8_pem(LineEnding::LF).map_err(|e| failed(&e))?;
        let encoding = EncodingKey::from_ec_pem(pem.as_bytes()).map_err(|e| failed(&e))?;
        let point = secret.public_key().to_encoded_point(false);
        let (Some(x), Some(y)) = (point.x(), point.y()) else {
            return Err(failed(&"the public key is the identity point"));
        };
        let (x, y) = (URL_SAFE_NO_PAD.encode(x), URL_SAFE_NO_PAD.encode(y));
        // RFC 7638 thumbprint: the required members in lexicographic order, no whitespace.
        let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
        let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
        let public_jwk = json!({"kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": kid, "use": "sig", "alg": "ES256"});
        Ok(DevIssuer { encoding, kid, public_jwk })
    }

    /// The key id: the RFC 7638 thumbprint of the public key, stable across restarts.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public JWK set, as an issuer publishes it (`{"keys": [...]}`).
    pub fn jwks(&self) -> Value {
        json!({ "keys": [self.public_jwk] })
    }

    /// The trust entry for [`crate::TokenVerifier::new`]: this issuer, `audience`, and its
    /// public keys in memory. (Or: `verifier.with_static_keys(DevIssuer::ISSUER, audience,
    /// &dev.jwks())`.)
    pub fn trusted_issuer(&self, audience: &str) -> TrustedIssuer {
        TrustedIssuer {
            issuer: Self::ISSUER.into(),
            audience: audience.into(),
            jwks: JwksSource::Static(self.jwks()),
            // The demo's and the tests' issuer: its tokens act on their role unless they carry scopes.
            unscoped_roles: carnet_domain::Role::ALL.to_vec(),
        }
    }

    /// Signs `claims` as [`DevIssuer::ISSUER`] for `audience`, issued at `now` and expiring
    /// `lifetime` later. The claims are not checked: tests mint broken tokens on purpose.
    pub fn mint(&self, claims: &TokenClaims, audience: &str, lifetime: time::Duration, now: OffsetDateTime) -> Result<String, AuthError> {
        self.mint_as(Self::ISSUER, claims.to_json(), audience, lifetime, now)
    }

    /// Signs `payload` with `iss`, `aud`, `iat` and `exp` added: [`DevIssuer::mint`] for
    /// bearer tokens, and the dev OpenID provider's ID tokens, whose issuer is an http(s) URL.
    pub(crate) fn mint_as(
        &self,
        issuer: &str,
        mut payload: serde_json::Map<String, Value>,
        audience: &str,
        lifetime: time::Duration,
        now: OffsetDateTime,
    ) -> Result<String, AuthError> {
        let iat = now.unix_timestamp();
        payload.insert("iss".into(), json!(issuer));
        payload.insert("aud".into(), json!(audience));
        payload.insert("iat".into(), json!(iat));
        payload.insert("exp".into(), json!(iat.saturating_add(lifetime.whole_seconds())));
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, &payload, &self.encoding).map_err(|e| AuthError::Keys(format!("signing a dev token: {e}")))
    }
}

/// The key in `path`, `None` when there is no such file.
fn read_private(path: &Path) -> Result<Option<SecretKey>, AuthError> {
    let failed = |e: &dyn fmt::Display| AuthError::Keys(format!("{}: {e}", path.display()));
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(failed(&e)),
    };
    // Checked on the open file, so the file checked is the file read.
    let meta = file.metadata().map_err(|e| failed(&e))?;
    if !meta.is_file() {
        return Err(failed(&"not a regular file"));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(failed(&format_args!(
            "the private key is accessible to group or others (mode {mode:03o}); run `chmod 600` on it, or delete it to get a new one"
        )));
    }
    let mut pem = String::new();
    Read::take(&mut file, 16 * 1024).read_to_string(&mut pem).map_err(|e| failed(&e))?;
    let secret = SecretKey::from_pkcs8_pem(&pem).map_err(|_| failed(&"not a P-256 private key in PKCS#8 PEM"))?;
    Ok(Some(secret))
}

/// Writes a new key to a private temporary file, then links it into place unless a key is
/// already there. `None`: another process won the race.
fn create(dir: &Path, path: &Path) -> Result<Option<SecretKey>, AuthError> {
    let failed = |e: &dyn fmt::Display| AuthError::Keys(format!("{}: {e}", path.display()));
    let secret = SecretKey::random(&mut rand::rngs::OsRng);
    let pem = secret.to_pkcs8_pem(LineEnding::LF).map_err(|e| failed(&e))?;
    let tmp = dir.join(format!(".{}.{:016x}.tmp", DevIssuer::KEY_FILE, rand::random::<u64>()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut file| file.write_all(pem.as_bytes()).and_then(|()| file.sync_all()));
    let linked = written.and_then(|()| std::fs::hard_link(&tmp, path));
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
            tracing::info!(path = %path.display(), "created the development issuer's key");
            Ok(Some(secret))
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(None),
        Err(e) => Err(failed(&e)),
    }
}
