//! The people's spaces: server-rendered French pages (askama templates in `templates/`, checked
//! at compile time), our own stylesheet, no script. Pages call the same service methods as `/api`;
//! this module renders, it decides nothing.
//!
//! Every page answers with the headers of `page_headers`: a Content-Security-Policy that allows
//! no script at all and no framing, no referrer to other sites, no caching of what may be personal.
//! A page that needs more sets its own policy first (the document page frames its content).

use askama::Template;
use axum::Router;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};

use crate::AppState;

mod access;
mod activity;
mod chart;
mod deposit;
mod documents;
mod export;
mod oversight;
pub mod patients;
mod professional;
mod profile;
mod record;
pub mod session;
pub mod signin;
mod space;
mod text_search;
mod words;

/// What a page may load: its own stylesheet and images, forms posted to itself; nothing else.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const STYLESHEET: &str = include_str!("../../static/carnet.css");

/// The pages of a signed-in person (each walked by the tests that look for leaks: a new page
/// goes here too).
/// `{id}` stands for a document id of the walked record, `{handle}` for a patient handle of the
/// walking session naming that record.
pub const PAGES: &[&str] = &[
    "/",
    "/historique",
    "/historique?moi=1",
    "/documents",
    "/documents?masques=1",
    "/documents/ajouter",
    "/documents/recherche",
    "/documents/recherche?texte=compte",
    "/documents/{id}",
    "/documents/{id}/contenu",
    "/documents/{id}/telecharger",
    "/acces",
    "/acces?fait=bloque",
    "/notifications",
    "/applications",
    "/dossier",
    "/remboursements",
    "/patients",
    "/patients/{handle}",
    "/patients/{handle}?fait=urgence",
    "/patients/{handle}/documents/{id}",
    "/patients/{handle}/documents/{id}/contenu",
    "/patients/{handle}/documents/{id}/telecharger",
    "/patients/{handle}/deposer",
    "/patients/{handle}/recherche?texte=compte",
    "/patients/{handle}/deposer/{id}",
    "/activite",
    "/activite?avant=1",
    "/revue",
    "/revue?vue=examines&fait=examine",
];

/// The portal's routes; `limits` bound what a person deposits as they bound `/api`'s uploads.
pub fn router(limits: &crate::HttpLimits) -> Router<AppState> {
    let upload = documents::UploadLimit(limits.document_body_bytes);
    let pace = crate::routes::documents::UploadPace {
        min_bytes_per_second: limits.min_upload_bytes_per_second,
        grace: limits.upload_grace,
        max_duration: limits.max_upload,
    };
    Router::new()
        .route("/", get(home))
        .route("/historique", get(space::history))
        .route("/historique/preuves", get(space::history_receipts))
        .route("/documents", get(documents::list))
        .route(
            "/documents/ajouter",
            get(documents::add_form)
                .post(documents::add)
                // The handler counts the bytes itself, so that a body over the limit still gets its page.
                .layer::<_, std::convert::Infallible>(axum::extract::DefaultBodyLimit::disable())
                .layer::<_, std::convert::Infallible>(axum::Extension(upload))
                .layer::<_, std::convert::Infallible>(axum::Extension(pace)),
        )
        .route("/documents/recherche", get(text_search::patient))
        .route("/documents/{id}", get(documents::show))
        .route("/documents/{id}/contenu", get(documents::content))
        .route("/documents/{id}/telecharger", get(documents::download))
        .route("/documents/{id}/visibilite", axum::routing::post(documents::visibility))
        .route("/profil", get(profile::patient))
        .route("/profil/ajouter", post(profile::add))
        .route("/profil/declarer", post(profile::declare))
        .route("/profil/{id}/retirer", post(profile::withdraw))
        .route("/profil/{id}/corriger", get(profile::correction).post(profile::correct))
        .route("/dossier", get(record::record))
        .route("/dossier/fermer", post(record::close))
        .route("/dossier/rouvrir", post(record::reopen))
        .route("/dossier/supprimer", post(record::destroy))
        .route("/dossier/export", post(record::download))
        .route("/dossier/choisir", post(record::choose))
        .route("/remboursements", get(record::reimbursements))
        .route("/remboursements/masquer", post(record::hide_reimbursements))
        .route("/remboursements/supprimer", post(record::delete_reimbursements))
        .route("/acces", get(access::access))
        .route("/acces/rechercher", axum::routing::post(access::search))
        .route("/acces/modifier", axum::routing::post(access::change))
        .route("/notifications", get(access::notifications).post(access::save_notifications))
        .route("/applications", get(access::applications))
        .route("/applications/revoquer", axum::routing::post(access::revoke_app))
        .route("/applications/autoriser", axum::routing::post(access::allow_app))
        .route("/patients", get(professional::search_form))
        .route("/patients/rechercher", post(professional::search))
        .route("/patients/{handle}", get(professional::record))
        .route("/patients/{handle}/autorisation", post(professional::declare))
        .route("/patients/{handle}/urgence", post(professional::emergency))
        .route("/patients/{handle}/recherche", get(text_search::professional))
        .route("/patients/{handle}/profil", get(profile::professional))
        .route("/patients/{handle}/documents/{id}", get(professional::document))
        .route("/patients/{handle}/documents/{id}/contenu", get(professional::content))
        .route("/patients/{handle}/documents/{id}/telecharger", get(professional::download))
        .route(
            "/patients/{handle}/deposer",
            get(deposit::form)
                .post(deposit::deposit)
                // As `/documents/ajouter`: the handler counts the bytes itself.
                .layer::<_, std::convert::Infallible>(axum::extract::DefaultBodyLimit::disable())
                .layer::<_, std::convert::Infallible>(axum::Extension(upload))
                .layer::<_, std::convert::Infallible>(axum::Extension(pace)),
        )
        .route("/patients/{handle}/deposer/{id}", get(deposit::done))
        .route("/activite", get(activity::activity))
        .route("/revue", get(oversight::queue))
        .route("/revue/{id}/examiner", post(oversight::acknowledge))
        .route("/revue/{id}/note", post(oversight::annotate))
        .route("/static/carnet.css", get(stylesheet))
        .layer(axum::middleware::from_fn(page_headers))
}

/// The security headers of every portal answer (pages, their stylesheet, their 404).
pub async fn page_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    // A page that needs more (the document page frames its content) sets its own policy.
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if !headers.contains_key(header::X_FRAME_OPTIONS) {
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    // Not `no-referrer`: with it, browsers send `Origin: null` on the pages' own form posts and
    // the forms' origin check refuses them. `same-origin` still sends nothing to other sites.
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// A rendered page, or a plain 500 when a template fails (it cannot with checked templates and
/// owned data, but rendering is fallible by type).
fn page(status: StatusCode, rendered: Result<String, askama::Error>) -> Response {
    match rendered {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a page failed to render");
            (StatusCode::INTERNAL_SERVER_ERROR, "erreur interne").into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "accueil_public.html")]
struct PublicHome {
    /// Whether the "Se connecter" link leads somewhere.
    connexion: bool,
}

/// `/`: the signed-in person's home, or the public page with the way in.
async fn home(State(state): State<AppState>, request: Request) -> Response {
    let (mut parts, _) = request.into_parts();
    match session::PortalSession::from_request_parts(&mut parts, &state).await {
        Ok(session) => space::home(&state, session).await,
        Err(_) => page(StatusCode::OK, PublicHome { connexion: state.portal.client.is_some() }.render()),
    }
}

#[derive(Template)]
#[template(path = "erreur.html")]
struct ErrorPage<'a> {
    heading: &'a str,
    message: &'a str,
}

/// A French page saying why something was refused or failed, in the portal's layout.
pub(crate) fn error_page(status: StatusCode, heading: &str, message: &str) -> Response {
    page(status, ErrorPage { heading, message }.render())
}

/// A service refusal or failure as a French page (the causes are logged by the service's error).
fn service_error_page(e: carnet_service::ServiceError) -> Response {
    use carnet_service::ServiceError;
    let (status, heading, message) = match &e {
        ServiceError::NotFound(_) => return not_found_page(),
        ServiceError::Forbidden(_) | ServiceError::Scope(_) => {
            (StatusCode::FORBIDDEN, "Action refusée", "Vous n’avez pas accès à cette page ou à cette action.")
        }
        // Refusals of the request itself: nothing changed, and the page says so rather than
        // blaming the service.
        ServiceError::Conflict(_) => (
            StatusCode::CONFLICT,
            "Action impossible",
            "Rien n’a été modifié\u{a0}: cette action n’est pas possible dans l’état actuel. Revenez à la page précédente.",
        ),
        ServiceError::Invalid(_) => (
            StatusCode::BAD_REQUEST,
            "Demande incorrecte",
            "Rien n’a été modifié\u{a0}: la demande est incomplète ou incorrecte. Revenez à la page précédente.",
        ),
        ServiceError::Throttled => (
            StatusCode::TOO_MANY_REQUESTS,
            "Trop de demandes",
            "Trop de dossiers ont été ouverts en peu de temps. Réessayez dans une heure.",
        ),
        _ => {
            tracing::error!(error = %e, "a page could not be served");
            (StatusCode::SERVICE_UNAVAILABLE, "Service momentanément indisponible", "Réessayez dans un instant.")
        }
    };
    page(status, ErrorPage { heading, message }.render())
}

async fn stylesheet() -> Response {
    let mut response = ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLESHEET).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    response
}

#[derive(Template)]
#[template(path = "introuvable.html")]
struct NotFoundPage;

/// Whether the caller is a browser asking for a page (HTML first), rather than an API client.
pub fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.split(',').next().is_some_and(|first| first.trim().starts_with("text/html")))
}

/// The French 404 page, with the page headers.
pub fn not_found_page() -> Response {
    let mut response = page(StatusCode::NOT_FOUND, NotFoundPage.render());
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
