//! Bearer-token authentication.
//!
//! `TokenVerifier` checks a JWT (ES256 or RS256 only) against the trusted OpenID Connect issuers
//! — keys from a JWKS file, a JWKS URL, OIDC discovery or memory — then maps the claims contract
//! (the table in `claims.rs`) into a `carnet_domain::Actor`, once. `DevIssuer` is the built-in issuer of demo
//! and development mode.
//!
//! Architecture invariants: token signing keys live only in this crate (clinical data keys live
//! in the crypto crate); error messages never echo a token, a claim's value or key material.

mod claims;
mod dev_issuer;
mod dev_provider;
mod jwks;
mod verifier;

pub use claims::{TokenClaims, actor_from_claims};
pub use dev_issuer::DevIssuer;
pub use dev_provider::{AuthorizationRequest, DemoPerson, DevClient, DevProvider, ProviderError, TokenRequest};
pub use verifier::{JwksSource, TokenVerifier, TrustedIssuer};

/// The one error type of this crate.
///
/// For every variant but the server-side ones (`Keys`, `Fetch`), `Display` is a short public
/// description, safe to return to the caller: it never echoes the token, a claim's value, or key
/// material. `Keys` and `Fetch` carry operator detail (paths, URLs) for the logs; the caller gets
/// [`AuthError::public_description`].
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("the token is not a well-formed signed JWT")]
    Malformed,
    /// The header's `alg`; only standard JOSE names are echoed, anything else reads `unsupported`.
    #[error("the token's algorithm {0} is not accepted (ES256 or RS256 only)")]
    Algorithm(String),
    #[error("the token requires header extensions (crit) this server does not support")]
    CriticalHeader,
    #[error("the token's issuer is not trusted")]
    UnknownIssuer,
    #[error("no key of the issuer matches the token (kid and algorithm)")]
    UnknownKey,
    #[error("the token's signature is invalid")]
    Signature,
    #[error("the token is not meant for this server (aud)")]
    Audience,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet (nbf/iat)")]
    NotYetValid,
    /// A required claim is missing, or a claim breaks the claims contract.
    #[error("claim `{claim}`: {problem}")]
    Claim { claim: &'static str, problem: String },
    /// Configuration: an unreadable or invalid key set, a bad key file, a bad issuer entry.
    #[error("key configuration: {0}")]
    Keys(String),
    /// The issuer's keys could not be fetched: not the caller's fault.
    #[error("fetching the issuer's keys failed: {0}")]
    Fetch(String),
}

impl AuthError {
    pub(crate) fn claim(claim: &'static str, problem: impl Into<String>) -> AuthError {
        AuthError::Claim { claim, problem: problem.into() }
    }

    /// True when the failure is on our side (issuer keys unreachable or misconfigured), not the
    /// token's: answer 503, not 401.
    pub fn is_server_side(&self) -> bool {
        matches!(self, AuthError::Fetch(_) | AuthError::Keys(_))
    }

    /// What the caller may be told: `Display` for token errors, a generic sentence for
    /// server-side errors (whose detail is for the logs).
    pub fn public_description(&self) -> String {
        match self {
            AuthError::Fetch(_) | AuthError::Keys(_) => "token verification is temporarily unavailable".to_owned(),
            other => other.to_string(),
        }
    }

    /// The `WWW-Authenticate` challenge for a 401 caused by this error (RFC 6750 §3). The
    /// description is reduced to the characters RFC 6750 allows in `error_description`, so the
    /// value is always a valid header value.
    pub fn www_authenticate(&self) -> String {
        let description: String = self
            .public_description()
            .chars()
            .map(|c| match c {
                '"' => '\'',
                '\\' => '/',
                ' '..='~' => c,
                _ => '?',
            })
            .collect();
        format!("Bearer realm=\"carnet\", error=\"invalid_token\", error_description=\"{description}\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_are_valid_header_values() {
        let e = AuthError::claim("profession", "médecin \"10\" \\ \u{7f}");
        let header = e.www_authenticate();
        assert!(header.starts_with("Bearer realm=\"carnet\", error=\"invalid_token\", error_description=\"claim `profession`: "));
        let description = header.split("error_description=\"").nth(1).and_then(|d| d.strip_suffix('"')).expect("quoted");
        assert!(description.bytes().all(|b| b == 0x20 || b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b)));
    }

    #[test]
    fn server_side_errors_keep_their_detail_for_the_logs_only() {
        let e = AuthError::Fetch("https://idp.internal:8443/certs: connection refused".into());
        assert!(e.is_server_side());
        assert!(!e.www_authenticate().contains("idp.internal"));
        assert!(!e.public_description().contains("idp.internal"));
        assert!(e.to_string().contains("idp.internal"), "the log line keeps the detail");
        assert!(AuthError::Keys("x".into()).is_server_side());
        for token_side in [AuthError::Malformed, AuthError::Expired, AuthError::Signature, AuthError::claim("ins", "is required")] {
            assert!(!token_side.is_server_side());
            assert_eq!(token_side.public_description(), token_side.to_string());
        }
    }
}
