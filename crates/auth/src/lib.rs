//! Bearer-token authentication.
//!
//! `TokenVerifier` checks a JWT (ES256 or RS256 only) against the trusted OpenID Connect issuers
//! — keys from a JWKS file, a JWKS URL or OIDC discovery — then maps the claims contract of
//! DESIGN.md into a `carnet_domain::Actor`, once. `DevIssuer` is the built-in issuer of demo and
//! development mode.
//!
//! Architecture invariant: token signing keys live only in this crate; clinical data keys live
//! in the crypto crate.

mod claims;
mod dev_issuer;
mod verifier;

pub use claims::{TokenClaims, actor_from_claims};
pub use dev_issuer::DevIssuer;
pub use verifier::{TokenVerifier, TrustedIssuer};

/// The one error type of this crate. Messages are safe to show: they never echo the token,
/// its claims' values, or key material.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("the token's algorithm {0} is not accepted (ES256 or RS256 only)")]
    Algorithm(String),
    #[error("the token's issuer is not trusted")]
    UnknownIssuer,
    #[error("no key of the issuer matches the token")]
    UnknownKey,
    #[error("the token's signature is invalid")]
    Signature,
    #[error("the token is not meant for this server (aud)")]
    Audience,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet (nbf/iat)")]
    NotYetValid,
    #[error("claim `{claim}`: {problem}")]
    Claim { claim: &'static str, problem: String },
    /// Configuration: an unreadable or invalid key set, a bad key file.
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

    /// True when the failure is on our side (issuer keys unreachable), not the token's.
    pub fn is_server_side(&self) -> bool {
        matches!(self, AuthError::Fetch(_) | AuthError::Keys(_))
    }

    /// The `WWW-Authenticate` challenge for a 401 caused by this error (RFC 6750).
    pub fn www_authenticate(&self) -> String {
        let description = self.to_string().replace(['"', '\\'], "'");
        format!("Bearer realm=\"carnet\", error=\"invalid_token\", error_description=\"{description}\"")
    }
}
