//! Sign-in for people: the portal as an OpenID Connect client (authorization code flow, PKCE
//! S256, state and nonce kept server-side), sign-out, and — in demo and development mode only —
//! the dev issuer's minimal OpenID provider under `/dev-issuer`, so that the demo, the tests and
//! production take the same client path.
//!
//! `GET /connexion` → the provider's authorization endpoint; `GET /connexion/retour` → the code
//! exchanged, the ID token checked (signature from the provider's JWKS, issuer, audience = the
//! portal's client id, expiry, nonce), its claims mapped by the claims contract into the person
//! acting for themselves, a session opened, the cookie set, `/`. `POST /deconnexion` revokes.

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use carnet_auth::{AuthorizationRequest, DevProvider, TokenRequest};
use openidconnect::core::{CoreClient, CoreIdToken, CoreJwsSigningAlgorithm, CoreProviderMetadata, CoreResponseType};
use openidconnect::{
    AuthenticationFlow, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use serde::Deserialize;

use super::session::{PortalForm, SessionCookies, french_error};
use crate::AppState;

/// Forms of these routes are a few hundred bytes.
const FORM_LIMIT: usize = 16 * 1024;

/// The portal's client registration at its identity provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalClient {
    /// The provider's issuer URL (discovery at `<issuer>/.well-known/openid-configuration`): one
    /// of `[[auth.issuers]]`, or the dev provider's `<origin>/dev-issuer`.
    pub issuer: String,
    pub client_id: String,
    /// For a confidential client (sent with HTTP Basic); `None`: a public client, PKCE alone.
    pub client_secret: Option<String>,
    /// `<portal origin>/connexion/retour`, as registered at the provider.
    pub redirect_url: String,
    /// Scopes asked besides `openid` (some providers release Carnet's claims under a scope).
    pub extra_scopes: Vec<String>,
}

type Client = CoreClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointMaybeSet, EndpointMaybeSet>;

/// The portal's sign-in settings and what it learnt of its provider.
pub struct Portal {
    pub cookies: SessionCookies,
    /// `None`: sign-in is not configured (`/connexion` says so).
    pub client: Option<PortalClient>,
    /// Served under `/dev-issuer` when the dev issuer is on.
    pub dev_provider: Option<Arc<DevProvider>>,
    /// The provider's discovery (and keys), fetched at the first sign-in: the provider may be
    /// this very server (the dev provider), not listening yet at start.
    discovered: tokio::sync::RwLock<Option<(Arc<Client>, std::time::Instant)>>,
    http: reqwest::Client,
}

impl Default for Portal {
    fn default() -> Self {
        Portal::new(SessionCookies::default(), None, None)
    }
}

impl std::fmt::Debug for Portal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Portal")
            .field("cookies", &self.cookies)
            .field("issuer", &self.client.as_ref().map(|c| &c.issuer))
            .finish_non_exhaustive()
    }
}

impl Portal {
    pub fn new(cookies: SessionCookies, client: Option<PortalClient>, dev_provider: Option<Arc<DevProvider>>) -> Portal {
        // No redirects: a provider's endpoint answering a redirect is an error, not a hop
        // (openidconnect's advice against SSRF).
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        Portal { cookies, client, dev_provider, discovered: tokio::sync::RwLock::new(None), http }
    }

    /// The client as discovered (fetched at the first sign-in, then kept).
    async fn client(&self) -> Result<Arc<Client>, Response> {
        if let Some((client, _)) = self.discovered.read().await.as_ref() {
            return Ok(client.clone());
        }
        let mut cached = self.discovered.write().await;
        if let Some((client, _)) = cached.as_ref() {
            return Ok(client.clone());
        }
        let client = Arc::new(self.discover().await?);
        *cached = Some((client.clone(), std::time::Instant::now()));
        Ok(client)
    }

    /// Discovery again, when an ID token names a key the kept discovery lacks (the provider
    /// rotated its keys): at most once a minute, so forged tokens cannot make the portal hammer
    /// the provider. `None` when the kept one is fresher than that, or discovery failed.
    async fn rediscover(&self) -> Option<Arc<Client>> {
        let mut cached = self.discovered.write().await;
        if cached.as_ref().is_some_and(|(_, at)| at.elapsed() < REDISCOVERY_INTERVAL) {
            return None;
        }
        let client = Arc::new(self.discover().await.ok()?);
        *cached = Some((client.clone(), std::time::Instant::now()));
        Some(client)
    }

    async fn discover(&self) -> Result<Client, Response> {
        let Some(settings) = &self.client else {
            return Err(french_error(StatusCode::SERVICE_UNAVAILABLE, "La connexion n’est pas configurée sur ce serveur."));
        };
        let discovered = async {
            let issuer = IssuerUrl::new(settings.issuer.clone()).map_err(|e| format!("issuer URL: {e}"))?;
            let metadata = CoreProviderMetadata::discover_async(issuer, &self.http).await.map_err(|e| format!("discovery: {e}"))?;
            let redirect = RedirectUrl::new(settings.redirect_url.clone()).map_err(|e| format!("redirect URL: {e}"))?;
            Ok::<_, String>(
                CoreClient::from_provider_metadata(
                    metadata,
                    ClientId::new(settings.client_id.clone()),
                    settings.client_secret.clone().map(ClientSecret::new),
                )
                .set_redirect_uri(redirect),
            )
        };
        discovered.await.map_err(|e| {
            tracing::error!(error = %e, "the portal's identity provider");
            unavailable()
        })
    }
}

/// How often the provider's discovery and keys may be fetched again.
const REDISCOVERY_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

/// Checks the ID token: signature (ES256 or RS256) by the provider's keys, issuer, audience =
/// the portal's client id, expiry by Carnet's clock, and the nonce of this sign-in.
fn check_id_token(
    client: &Client,
    id_token: &CoreIdToken,
    nonce: &Nonce,
    carnet: &carnet_service::Carnet,
) -> Result<(), ClaimsVerificationError> {
    let verifier = client
        .id_token_verifier()
        .set_allowed_algs([CoreJwsSigningAlgorithm::EcdsaP256Sha256, CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256])
        .set_time_fn(move || {
            let now = carnet.clock().now();
            chrono::DateTime::from_timestamp(now.unix_timestamp(), now.nanosecond()).unwrap_or_default()
        });
    id_token.claims(&verifier, nonce).map(|_| ())
}

fn unavailable() -> Response {
    french_error(StatusCode::SERVICE_UNAVAILABLE, "Le service de connexion ne répond pas. Réessayez dans un instant.")
}

fn refused_sign_in() -> Response {
    french_error(
        StatusCode::BAD_REQUEST,
        "Cette réponse de connexion a expiré ou a déjà servi : vous n’êtes pas connecté. Recommencez depuis la page de connexion.",
    )
}

/// The routes of sign-in, sign-out and the dev provider.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/connexion", get(sign_in))
        .route("/connexion/retour", get(callback))
        .route("/deconnexion", axum::routing::post(sign_out))
        .route("/dev-issuer/.well-known/openid-configuration", get(dev_discovery))
        .route("/dev-issuer/authorize", get(dev_authorize).post(dev_choose))
        .route("/dev-issuer/token", axum::routing::post(dev_token))
        .layer(DefaultBodyLimit::max(FORM_LIMIT))
}

async fn sign_in(State(state): State<AppState>) -> Response {
    let portal = &state.portal;
    let client = match portal.client().await {
        Ok(client) => client,
        Err(response) => return response,
    };
    let secrets = match state.carnet.begin_sign_in().await {
        Ok(secrets) => secrets,
        Err(e) => {
            tracing::error!(error = %e, "starting a sign-in");
            return unavailable();
        }
    };
    let challenge = PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(secrets.pkce_verifier));
    let (state_token, nonce) = (secrets.state, secrets.nonce);
    let mut request = client
        .authorize_url(
            AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
            move || CsrfToken::new(state_token),
            move || Nonce::new(nonce),
        )
        .set_pkce_challenge(challenge);
    for scope in portal.client.iter().flat_map(|c| &c.extra_scopes) {
        request = request.add_scope(Scope::new(scope.clone()));
    }
    let (url, _, _) = request.url();
    no_store(Redirect::to(url.as_str()).into_response())
}

#[derive(Deserialize)]
struct Callback {
    state: Option<String>,
    code: Option<String>,
    error: Option<String>,
}

async fn callback(State(state): State<AppState>, Query(reply): Query<Callback>) -> Response {
    // The state is taken (deleted) first, whatever follows: a callback is tried once.
    let taken = match reply.state.as_deref() {
        Some(s) => state.carnet.take_sign_in(s).await,
        None => Ok(None),
    };
    let taken = match taken {
        Ok(Some(taken)) => taken,
        Ok(None) => return refused_sign_in(),
        Err(e) => {
            tracing::error!(error = %e, "finishing a sign-in");
            return unavailable();
        }
    };
    if reply.error.is_some() {
        return french_error(StatusCode::BAD_REQUEST, "La connexion a été refusée ou annulée : vous n’êtes pas connecté.");
    }
    let Some(code) = reply.code else { return refused_sign_in() };
    let client = match state.portal.client().await {
        Ok(client) => client,
        Err(response) => return response,
    };
    let exchange = match client.exchange_code(AuthorizationCode::new(code)) {
        Ok(request) => request.set_pkce_verifier(PkceCodeVerifier::new(taken.pkce_verifier)),
        Err(e) => {
            tracing::error!(error = %e, "the provider has no token endpoint");
            return unavailable();
        }
    };
    let tokens = match exchange.request_async(&state.portal.http).await {
        Ok(tokens) => tokens,
        // A code refused (reused, expired): the person starts again.
        Err(e) => {
            tracing::warn!(error = %e, "a sign-in's code exchange failed");
            return refused_sign_in();
        }
    };
    let Some(id_token) = tokens.id_token() else {
        tracing::warn!("the provider answered without an ID token");
        return refused_sign_in();
    };
    let nonce = Nonce::new(taken.nonce);
    let mut checked = check_id_token(&client, id_token, &nonce, &state.carnet);
    if matches!(checked, Err(ClaimsVerificationError::SignatureVerification(_)))
        && let Some(fresh) = state.portal.rediscover().await
    {
        checked = check_id_token(&fresh, id_token, &nonce, &state.carnet);
    }
    if let Err(e) = checked {
        tracing::warn!(error = %e, "a sign-in's ID token was refused");
        return refused_sign_in();
    }
    // Verified above; the claims contract reads Carnet's claims from the same payload.
    let Some(claims) = payload(&id_token.to_string()) else { return refused_sign_in() };
    let mut actor = match carnet_auth::actor_from_claims(&claims) {
        Ok(actor) => actor,
        Err(e) => {
            tracing::warn!(error = %e, "a sign-in's claims break the claims contract");
            return french_error(StatusCode::FORBIDDEN, "Votre identité ne permet pas d’ouvrir un espace sur ce serveur.");
        }
    };
    // The dev provider is the dev issuer answering the code flow: the same people, whose
    // references (`iss#sub`, e.g. a representative's in a record's policy) must not change with
    // the address the server happens to listen on.
    if state.portal.dev_provider.as_ref().is_some_and(|dev| dev.issuer_url() == actor.issuer) {
        actor.issuer = carnet_auth::DevIssuer::ISSUER.to_owned();
    }
    let opened = match state.carnet.open_session(&actor).await {
        Ok(opened) => opened,
        Err(e) => {
            tracing::error!(error = %e, "opening a session");
            return unavailable();
        }
    };
    let mut response = no_store(Redirect::to("/").into_response());
    response.headers_mut().append(header::SET_COOKIE, state.portal.cookies.set(&opened.id));
    response
}

/// The JSON payload of a compact JWS.
fn payload(jwt: &str) -> Option<serde_json::Value> {
    let part = jwt.split('.').nth(1)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok()
}

fn form_field(body: &[u8], name: &str) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).ok()?;
    pairs.into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

/// The sign-out form: its CSRF token only.
#[derive(Deserialize)]
struct SignOut {}

async fn sign_out(State(state): State<AppState>, signed_out: PortalForm<SignOut>) -> Response {
    if let Err(e) = state.carnet.close_session(&signed_out.session.id).await {
        tracing::error!(error = %e, "closing a session");
        return unavailable();
    }
    let mut response = Redirect::to("/").into_response();
    response.headers_mut().append(header::SET_COOKIE, state.portal.cookies.clear());
    response
}

fn no_store(mut response: Response) -> Response {
    response.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    response
}

// ---- The dev provider (demo and development only) ----

/// The dev provider; `None` (answered 404) unless the dev issuer is on.
fn dev(state: &AppState) -> Option<&DevProvider> {
    state.portal.dev_provider.as_deref()
}

async fn dev_discovery(State(state): State<AppState>) -> Response {
    match dev(&state) {
        Some(p) => axum::Json(p.discovery()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

#[derive(Template)]
#[template(path = "demo_choix.html")]
struct ChoosePage<'a> {
    /// The people by kind (patients and their relatives, professionals, others), each with
    /// their index in the provider's list (what the form posts).
    groups: Vec<(&'static str, Vec<(usize, &'a str)>)>,
    fields: Vec<(&'static str, String)>,
}

/// The demo people grouped as the choice page lists them, empty groups left out.
fn grouped(people: &[carnet_auth::DemoPerson]) -> Vec<(&'static str, Vec<(usize, &str)>)> {
    use carnet_domain::Role;
    let mut groups: Vec<(&'static str, Vec<(usize, &str)>)> =
        vec![("Patients et proches", vec![]), ("Professionnels de santé", vec![]), ("Autres rôles", vec![])];
    for (index, person) in people.iter().enumerate() {
        let group = match person.claims.role {
            Role::Patient | Role::Representative => 0,
            Role::Professional | Role::Regulator => 1,
            _ => 2,
        };
        groups[group].1.push((index, person.label.as_str()));
    }
    groups.retain(|(_, people)| !people.is_empty());
    groups
}

fn provider_refusal(e: &carnet_auth::ProviderError) -> Response {
    french_error(StatusCode::BAD_REQUEST, &format!("Demande de connexion refusée ({}) : {}.", e.code, e.description))
}

async fn dev_authorize(State(state): State<AppState>, Query(req): Query<AuthorizationRequest>) -> Response {
    let Some(provider) = dev(&state) else { return StatusCode::NOT_FOUND.into_response() };
    if let Err(e) = provider.check(&req) {
        return provider_refusal(&e);
    }
    let fields = vec![
        ("response_type", req.response_type.clone()),
        ("client_id", req.client_id.clone()),
        ("redirect_uri", req.redirect_uri.clone()),
        ("scope", req.scope.clone()),
        ("state", req.state.clone().unwrap_or_default()),
        ("nonce", req.nonce.clone().unwrap_or_default()),
        ("code_challenge", req.code_challenge.clone()),
        ("code_challenge_method", req.code_challenge_method.clone()),
    ];
    let page = ChoosePage { groups: grouped(provider.people()), fields };
    match page.render() {
        Ok(html) => no_store(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()),
        Err(e) => {
            tracing::error!(error = %e, "rendering the demo provider's page");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

async fn dev_choose(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(provider) = dev(&state) else { return StatusCode::NOT_FOUND.into_response() };
    // The choice is posted from the provider's own page: another site may not sign a browser in.
    let expected = state.portal.cookies.expected_origin(&headers);
    let from_elsewhere = headers.get("sec-fetch-site").is_some_and(|s| s.as_bytes() != b"same-origin")
        || headers.get(header::ORIGIN).is_some_and(|o| expected.as_deref().is_none_or(|e| o.as_bytes() != e.as_bytes()));
    if from_elsewhere {
        return french_error(StatusCode::FORBIDDEN, "Ce formulaire vient d’un autre site : personne n’a été connecté.");
    }
    let Ok(mut req) = serde_urlencoded::from_bytes::<AuthorizationRequest>(&body) else {
        return french_error(StatusCode::BAD_REQUEST, "Formulaire incomplet.");
    };
    // The page posts empty fields for absent ones.
    req.state = req.state.filter(|s| !s.is_empty());
    req.nonce = req.nonce.filter(|s| !s.is_empty());
    let person = form_field(&body, "person").and_then(|p| p.parse::<usize>().ok()).unwrap_or(usize::MAX);
    match provider.choose(&req, person, state.carnet.clock().now()) {
        Ok(to) => no_store(Redirect::to(&to).into_response()),
        Err(e) => provider_refusal(&e),
    }
}

async fn dev_token(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(provider) = dev(&state) else { return StatusCode::NOT_FOUND.into_response() };
    let Ok(req) = serde_urlencoded::from_bytes::<TokenRequest>(&body) else {
        return token_error("invalid_request", "the form cannot be read");
    };
    // A confidential client authenticates with HTTP Basic; the dev provider checks PKCE, not secrets.
    let basic_client = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|pair| pair.split_once(':').map(|(id, _)| id.to_owned()))
        .and_then(|id| serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("id={id}")).ok())
        .and_then(|v| v.into_iter().next().map(|(_, id)| id));
    match provider.exchange(&req, basic_client.as_deref(), state.carnet.clock().now()) {
        Ok(tokens) => no_store(axum::Json(tokens).into_response()),
        Err(e) => token_error(e.code, e.description),
    }
}

fn token_error(code: &str, description: &str) -> Response {
    let body = serde_json::json!({ "error": code, "error_description": description });
    no_store((StatusCode::BAD_REQUEST, axum::Json(body)).into_response())
}
