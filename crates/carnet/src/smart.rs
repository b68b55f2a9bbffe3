//! SMART discovery and CORS from the settings: the `[smart]` authorization server (endpoints as
//! configured, the rest from its OpenID Connect discovery document read at start) and
//! `[http] cors_origins`. What is published is only what is true of that server and of Carnet.

use anyhow::Context;
use carnet_server::{BrowserAccess, SmartConfiguration};
use serde::Deserialize;

use crate::config::{Settings, SmartSettings};

/// SMART capabilities (App Launch 2.x, "Capability sets") an operator may declare for the
/// authorization server; the others Carnet derives itself.
const DECLARABLE: &[&str] = &[
    "authorize-post",
    "context-standalone-patient",
    "context-standalone-encounter",
    "context-banner",
    "context-style",
    "sso-openid-connect",
    "permission-offline",
    "permission-online",
];

/// What Carnet reads from an OpenID Connect discovery document.
#[derive(Debug, Default, Deserialize)]
pub struct Discovery {
    pub authorization_endpoint: Option<String>,
    pub token_endpoint: Option<String>,
    pub jwks_uri: Option<String>,
    pub revocation_endpoint: Option<String>,
    pub introspection_endpoint: Option<String>,
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Vec<String>,
    #[serde(default)]
    pub grant_types_supported: Vec<String>,
    #[serde(default)]
    pub scopes_supported: Vec<String>,
    #[serde(default)]
    pub code_challenge_methods_supported: Vec<String>,
}

/// An origin as browsers send it: `scheme://host[:port]` in lower case, nothing after (the CORS
/// check compares it byte for byte with the request's `Origin`).
pub fn check_origin(origin: &str) -> Result<(), String> {
    let rest = origin.strip_prefix("https://").or_else(|| origin.strip_prefix("http://"));
    match rest {
        Some(host) if !host.is_empty() && host.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-.:[]".contains(c)) => {
            Ok(())
        }
        _ => Err(format!("{origin:?} is not an origin (scheme://host[:port] in lower case, without path or trailing slash)")),
    }
}

pub fn check_capabilities(declared: &[String]) -> Result<(), String> {
    match declared.iter().find(|c| !DECLARABLE.contains(&c.as_str())) {
        Some(unknown) => Err(format!("{unknown:?} is not a capability that can be declared (one of {})", DECLARABLE.join(", "))),
        None => Ok(()),
    }
}

/// The browser-facing edge of `settings`; reads the SMART issuer's discovery document when
/// an endpoint is not configured.
pub async fn browser_access(settings: &Settings) -> anyhow::Result<BrowserAccess> {
    let smart = match &settings.smart {
        None => None,
        Some(smart) => {
            let discovery = if smart.authorization_endpoint.is_none()
                || smart.token_endpoint.is_none()
                || smart.jwks_uri.is_none()
                || smart.token_endpoint_auth_methods.is_none()
                || smart.scopes_supported.is_none()
            {
                discover(&smart.issuer).await?
            } else {
                Discovery::default()
            };
            Some(configuration(smart, &discovery)?)
        }
    };
    Ok(BrowserAccess { smart, cors_origins: settings.http.cors_origins.clone() })
}

async fn discover(issuer: &str) -> anyhow::Result<Discovery> {
    let url = format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'));
    let response = reqwest::Client::new()
        .get(&url)
        .timeout(std::time::Duration::from_secs(10))
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .with_context(|| format!("reading the SMART issuer's discovery document {url}"))?;
    response.json().await.with_context(|| format!("the SMART issuer's discovery document {url}"))
}

/// The published SMART configuration: the settings first, the discovery document for the rest.
pub fn configuration(smart: &SmartSettings, discovered: &Discovery) -> anyhow::Result<SmartConfiguration> {
    let pick = |configured: &Option<String>, found: &Option<String>, name: &str| {
        configured
            .clone()
            .or_else(|| found.clone())
            .with_context(|| format!("smart.{name}: not configured, and not in the issuer's discovery document"))
    };
    if !discovered.code_challenge_methods_supported.is_empty() && !discovered.code_challenge_methods_supported.iter().any(|m| m == "S256") {
        anyhow::bail!("smart.issuer {:?} does not support PKCE with S256, which SMART App Launch 2 requires", smart.issuer);
    }
    let auth_methods =
        smart.token_endpoint_auth_methods.clone().unwrap_or_else(|| discovered.token_endpoint_auth_methods_supported.clone());
    let mut capabilities: Vec<String> =
        ["launch-standalone", "permission-v2", "permission-v1", "permission-patient", "permission-user"].map(String::from).into();
    let supports = |methods: &[&str]| auth_methods.iter().any(|m| methods.contains(&m.as_str()));
    if supports(&["none"]) {
        capabilities.push("client-public".into());
    }
    if supports(&["client_secret_basic", "client_secret_post"]) {
        capabilities.push("client-confidential-symmetric".into());
    }
    if supports(&["private_key_jwt"]) {
        capabilities.push("client-confidential-asymmetric".into());
    }
    capabilities.extend(smart.extra_capabilities.iter().cloned());
    // SMART's grants only; an empty list in discovery means OIDC's default (the code flow).
    let mut grant_types: Vec<String> = discovered
        .grant_types_supported
        .iter()
        .filter(|g| ["authorization_code", "client_credentials"].contains(&g.as_str()))
        .cloned()
        .collect();
    if grant_types.is_empty() {
        grant_types.push("authorization_code".into());
    }
    Ok(SmartConfiguration {
        issuer: smart.issuer.clone(),
        jwks_uri: pick(&smart.jwks_uri, &discovered.jwks_uri, "jwks_uri")?,
        authorization_endpoint: pick(&smart.authorization_endpoint, &discovered.authorization_endpoint, "authorization_endpoint")?,
        token_endpoint: pick(&smart.token_endpoint, &discovered.token_endpoint, "token_endpoint")?,
        revocation_endpoint: smart.revocation_endpoint.clone().or_else(|| discovered.revocation_endpoint.clone()),
        introspection_endpoint: smart.introspection_endpoint.clone().or_else(|| discovered.introspection_endpoint.clone()),
        token_endpoint_auth_methods_supported: auth_methods,
        grant_types_supported: grant_types,
        scopes_supported: smart.scopes_supported.clone().unwrap_or_else(|| discovered.scopes_supported.clone()),
        response_types_supported: vec!["code".into()],
        code_challenge_methods_supported: vec!["S256".into()],
        capabilities,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> SmartSettings {
        SmartSettings { issuer: "https://idp.example".into(), ..SmartSettings::default() }
    }

    fn discovered() -> Discovery {
        Discovery {
            authorization_endpoint: Some("https://idp.example/auth".into()),
            token_endpoint: Some("https://idp.example/token".into()),
            jwks_uri: Some("https://idp.example/jwks".into()),
            revocation_endpoint: Some("https://idp.example/token/revocation".into()),
            token_endpoint_auth_methods_supported: vec!["client_secret_basic".into(), "none".into()],
            grant_types_supported: vec!["implicit".into(), "authorization_code".into(), "refresh_token".into()],
            scopes_supported: vec!["openid".into(), "patient/DocumentReference.rs".into()],
            code_challenge_methods_supported: vec!["S256".into()],
            ..Discovery::default()
        }
    }

    #[test]
    fn endpoints_come_from_discovery_unless_configured() {
        let smart = SmartSettings { token_endpoint: Some("https://gateway.example/token".into()), ..settings() };
        let c = configuration(&smart, &discovered()).expect("complete");
        assert_eq!(c.authorization_endpoint, "https://idp.example/auth");
        assert_eq!(c.token_endpoint, "https://gateway.example/token");
        assert_eq!(c.revocation_endpoint.as_deref(), Some("https://idp.example/token/revocation"));
        assert_eq!(c.introspection_endpoint, None, "not claimed when not known");
        assert_eq!(c.grant_types_supported, ["authorization_code"], "SMART's grants only");
        assert_eq!(c.code_challenge_methods_supported, ["S256"]);
    }

    #[test]
    fn capabilities_are_only_what_is_true() {
        let c = configuration(&settings(), &discovered()).expect("complete");
        assert!(c.capabilities.iter().any(|x| x == "client-public") && c.capabilities.iter().any(|x| x == "client-confidential-symmetric"));
        assert!(!c.capabilities.iter().any(|x| x == "context-standalone-patient"), "not unless declared");
        assert!(!c.capabilities.iter().any(|x| x == "client-confidential-asymmetric"));
        let confidential_only = Discovery { token_endpoint_auth_methods_supported: vec!["client_secret_post".into()], ..discovered() };
        let c = configuration(&settings(), &confidential_only).expect("complete");
        assert!(!c.capabilities.iter().any(|x| x == "client-public"));
        let declared = SmartSettings { extra_capabilities: vec!["context-standalone-patient".into()], ..settings() };
        assert!(configuration(&declared, &discovered()).expect("complete").capabilities.iter().any(|x| x == "context-standalone-patient"));
    }

    #[test]
    fn a_missing_endpoint_or_no_pkce_is_refused_by_name() {
        let e = configuration(&settings(), &Discovery { authorization_endpoint: None, ..discovered() }).expect_err("incomplete");
        assert!(e.to_string().contains("smart.authorization_endpoint"), "{e}");
        let e = configuration(&settings(), &Discovery { code_challenge_methods_supported: vec!["plain".into()], ..discovered() })
            .expect_err("no S256");
        assert!(e.to_string().contains("S256"), "{e}");
    }

    #[test]
    fn origins_and_capabilities_are_checked() {
        assert!(check_origin("https://app.example").is_ok() && check_origin("http://127.0.0.1:8081").is_ok());
        for bad in ["https://app.example/", "app.example", "https://app.example/path", "*", "ftp://x"] {
            assert!(check_origin(bad).is_err(), "{bad}");
        }
        assert!(check_origin("https://App.example").is_err(), "browsers send it in lower case");
        assert!(check_capabilities(&["sso-openid-connect".into()]).is_ok());
        let e = check_capabilities(&["launch-ehr".into()]).expect_err("Carnet has no EHR launch");
        assert!(e.contains("launch-ehr"), "{e}");
    }

    proptest::proptest! {
        /// Whatever follows the host (a path, a query, a trailing slash), it is not an origin;
        /// `scheme://host[:port]` is.
        #[test]
        fn only_bare_origins_are_accepted(
            scheme in "https?",
            host in "[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?(\\.[a-z]{2,6}){0,2}",
            port in proptest::option::of(1u16..),
            tail in "[/?#][ -~]{0,12}",
        ) {
            let origin = match port {
                Some(port) => format!("{scheme}://{host}:{port}"),
                None => format!("{scheme}://{host}"),
            };
            proptest::prop_assert!(check_origin(&origin).is_ok(), "{origin}");
            let with_tail = format!("{origin}{tail}");
            proptest::prop_assert!(check_origin(&with_tail).is_err(), "{with_tail}");
        }
    }
}
