//! *Mon dossier* (close, reopen, ask for destruction, download everything), *Historique des
//! remboursements*, and the representative's choice of record with the banner that names it.
//! Each form calls the same service methods as `/api` (`close_record`, `reopen_record`,
//! `request_destruction`, `export_record`, `change_policy`, `delete_reimbursement_history`);
//! the rules, the ledger and the gate apply unchanged. These pages decide nothing.

use askama::Template;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use carnet_domain::access::{REIMBURSEMENT_TYPE, TRE_A05_SYSTEM};
use carnet_domain::record::MAX_REASON;
use carnet_domain::{ActorKind, Ins, PolicyChange, RecordStatus};
use carnet_service::{RecordView, ServiceError};
use time::Duration;

use super::session::{PortalForm, PortalSession};
use super::{error_page, export, not_found_page, page, service_error_page, words};
use crate::AppState;

/// Whom a representative's pages are about, for the banner every space page shows
/// (`espace.html`): `None` for a person acting for themselves.
pub struct Represented {
    /// *Prénom NOM*, or a neutral *la personne représentée n° 2* when the record has no name to give.
    pub name: String,
    /// Whether they may switch to another record.
    pub several: bool,
}

/// The first given name and the birth name in capitals, as the record's identity has them.
fn display_name(view: &RecordView) -> Option<String> {
    let traits = view.traits.as_ref()?;
    let given = traits.birth_given_names.split_whitespace().next().unwrap_or_default();
    let name = format!("{given} {}", traits.birth_name.to_uppercase());
    let name = name.trim();
    (!name.is_empty()).then(|| name.to_owned())
}

fn neutral_name(index: usize) -> String {
    format!("la personne représentée n°\u{a0}{}", index + 1)
}

/// The banner of a representative's pages (every page of the space calls it for its template's
/// `represented` field). The name comes from the record as the service shows it to them.
pub async fn represented(state: &AppState, session: &PortalSession) -> Option<Represented> {
    let ActorKind::Representative { represents } = &session.actor.kind else { return None };
    let ins = session.record()?;
    let index = represents.iter().position(|i| i == ins).unwrap_or(0);
    let name = state.carnet.record_status(&session.actor, ins).await.ok().as_ref().and_then(display_name);
    Some(Represented { name: name.unwrap_or_else(|| neutral_name(index)), several: represents.len() > 1 })
}

/// One of the records a representative may switch to.
pub struct Choice {
    pub index: usize,
    pub name: String,
    pub current: bool,
}

async fn choices(state: &AppState, session: &PortalSession) -> Vec<Choice> {
    let ActorKind::Representative { represents } = &session.actor.kind else { return vec![] };
    if represents.len() < 2 {
        return vec![];
    }
    let current = session.record();
    let mut out = Vec::with_capacity(represents.len());
    for (index, ins) in represents.iter().enumerate() {
        let name = state.carnet.record_status(&session.actor, ins).await.ok().as_ref().and_then(display_name);
        out.push(Choice { index, name: name.unwrap_or_else(|| neutral_name(index)), current: current == Some(ins) });
    }
    out
}

/// A duration of the retention rules in words: `60 jours`, `10 ans`.
fn duration_words(d: Duration) -> String {
    let days = d.whole_days();
    if days >= 365 {
        // The rules count in years of 365 or 366 days (3 653 days = 10 years).
        let years = (days as f64 / 365.25).round() as u64;
        words::counted(years, "an", "ans", "moins d’un an")
    } else if days >= 1 {
        words::counted(days as u64, "jour", "jours", "")
    } else {
        let hours = d.whole_hours();
        words::counted(hours.max(0) as u64, "heure", "heures", "aucun délai")
    }
}

/// A text field of a form as entered, and its error if any.
#[derive(Default)]
pub struct Field {
    pub value: String,
    pub error: Option<&'static str>,
}

/// The retention rules as the service applies them, in words.
pub struct Rules {
    pub archive_after: String,
    pub destroy_after: String,
    /// `None`: the destruction is done by the next automatic pass.
    pub early_delay: Option<String>,
}

#[derive(Template)]
#[template(path = "dossier.html")]
struct RecordPage {
    page: &'static str,
    csrf: String,
    represented: Option<Represented>,
    done: Option<&'static str>,
    errors: Vec<(&'static str, &'static str)>,
    status: &'static str,
    active: bool,
    reopenable: bool,
    destroyable: bool,
    closed_on: Option<String>,
    close_reason: Option<String>,
    destruction_on: Option<String>,
    rules: Rules,
    close: Field,
    destruction: Field,
    choices: Vec<Choice>,
    max_reason: usize,
}

#[derive(serde::Deserialize, Default)]
pub struct Done {
    #[serde(default)]
    fait: Option<String>,
}

fn record_done(flag: Option<&str>) -> Option<&'static str> {
    Some(match flag? {
        "ferme" => "Votre dossier est fermé. Les professionnels de santé ne peuvent plus le consulter.",
        "rouvert" => "Votre dossier est rouvert. Les professionnels de santé peuvent de nouveau le consulter selon vos choix.",
        "suppression" => "Votre demande de suppression est enregistrée. Votre dossier est fermé en attendant.",
        _ => return None,
    })
}

fn status_words(status: RecordStatus) -> &'static str {
    match status {
        RecordStatus::Active => "ouvert",
        RecordStatus::Closed => "fermé",
        RecordStatus::Archived => "archivé",
        RecordStatus::Destroyed => "supprimé",
    }
}

/// What the page needs beyond the record: the flag, the forms as entered, their errors.
#[derive(Default)]
struct Entered {
    done: Option<&'static str>,
    close: Field,
    destruction: Field,
}

async fn record_page(state: &AppState, session: &PortalSession, ins: &Ins, status: StatusCode, entered: Entered) -> Response {
    let view = match state.carnet.record_status(&session.actor, ins).await {
        Ok(v) => v,
        Err(e) => return service_error_page(e),
    };
    let retention = state.carnet.config().retention;
    let rules = Rules {
        archive_after: duration_words(retention.archive_after_closure),
        destroy_after: duration_words(retention.destroy_after_closure),
        early_delay: (retention.early_destruction_delay > Duration::ZERO).then(|| duration_words(retention.early_destruction_delay)),
    };
    let mut errors = vec![];
    if let Some(e) = entered.close.error {
        errors.push(("motif-fermeture", e));
    }
    if let Some(e) = entered.destruction.error {
        errors.push(("motif-suppression", e));
    }
    let page_of = RecordPage {
        page: "dossier",
        csrf: session.csrf_token.clone(),
        represented: represented(state, session).await,
        done: entered.done,
        errors,
        status: status_words(view.status),
        active: view.status == RecordStatus::Active,
        reopenable: matches!(view.status, RecordStatus::Closed | RecordStatus::Archived),
        destroyable: view.status != RecordStatus::Destroyed,
        closed_on: view.closed_at.map(words::date),
        close_reason: view.close_reason.clone(),
        destruction_on: view.destruction_due_at.map(words::date),
        rules,
        close: entered.close,
        destruction: entered.destruction,
        choices: choices(state, session).await,
        max_reason: MAX_REASON,
    };
    page(status, page_of.render())
}

/// `GET /dossier`.
pub async fn record(State(state): State<AppState>, session: PortalSession, Query(done): Query<Done>) -> Response {
    let Some(ins) = session.record().cloned() else { return not_found_page() };
    let entered = Entered { done: record_done(done.fait.as_deref()), ..Entered::default() };
    record_page(&state, &session, &ins, StatusCode::OK, entered).await
}

#[derive(serde::Deserialize)]
pub struct ReasonFields {
    #[serde(default)]
    motif: String,
}

/// The reason as the domain will take it, or the message next to the field.
fn checked_reason(reason: &str, missing: &'static str) -> Result<(), &'static str> {
    let r = reason.trim();
    if r.is_empty() {
        Err(missing)
    } else if r.chars().count() > MAX_REASON {
        Err("Le motif est trop long\u{a0}: 500 caractères au plus.")
    } else {
        Ok(())
    }
}

/// A refusal of a lifecycle change: the record changed meanwhile (a double click, another
/// tab), or a service refusal.
fn lifecycle_error(e: ServiceError) -> Response {
    match e {
        ServiceError::Conflict(_) => error_page(
            StatusCode::CONFLICT,
            "Action impossible pour l’instant",
            "L’état de votre dossier a changé entre-temps\u{a0}: rien n’a été modifié. Revenez à la page «\u{a0}Mon dossier\u{a0}» pour voir son état actuel.",
        ),
        e => service_error_page(e),
    }
}

fn see(path: &'static str) -> Response {
    Redirect::to(path).into_response()
}

/// `POST /dossier/fermer`.
pub async fn close(State(state): State<AppState>, PortalForm { session, form }: PortalForm<ReasonFields>) -> Response {
    let Some(ins) = session.record().cloned() else { return not_found_page() };
    if let Err(error) = checked_reason(&form.motif, "Indiquez le motif de la fermeture.") {
        let entered = Entered { close: Field { value: form.motif, error: Some(error) }, ..Entered::default() };
        return record_page(&state, &session, &ins, StatusCode::BAD_REQUEST, entered).await;
    }
    match state.carnet.close_record(&session.actor, &ins, &form.motif).await {
        Ok(_) => see("/dossier?fait=ferme"),
        Err(e) => lifecycle_error(e),
    }
}

#[derive(serde::Deserialize)]
pub struct NoFields {}

/// `POST /dossier/rouvrir`.
pub async fn reopen(State(state): State<AppState>, PortalForm { session, .. }: PortalForm<NoFields>) -> Response {
    let Some(ins) = session.record().cloned() else { return not_found_page() };
    match state.carnet.reopen_record(&session.actor, &ins).await {
        Ok(_) => see("/dossier?fait=rouvert"),
        Err(e) => lifecycle_error(e),
    }
}

/// `POST /dossier/supprimer`.
pub async fn destroy(State(state): State<AppState>, PortalForm { session, form }: PortalForm<ReasonFields>) -> Response {
    let Some(ins) = session.record().cloned() else { return not_found_page() };
    if let Err(error) = checked_reason(&form.motif, "Indiquez le motif de votre demande de suppression.") {
        let entered = Entered { destruction: Field { value: form.motif, error: Some(error) }, ..Entered::default() };
        return record_page(&state, &session, &ins, StatusCode::BAD_REQUEST, entered).await;
    }
    match state.carnet.request_destruction(&session.actor, &ins, &form.motif).await {
        Ok(_) => see("/dossier?fait=suppression"),
        Err(e) => lifecycle_error(e),
    }
}

#[derive(serde::Deserialize)]
pub struct ChoiceFields {
    #[serde(default)]
    dossier: String,
}

/// `POST /dossier/choisir`: a representative chooses which record their pages are about. The
/// cookie holds an index into the records their identity carries; one it does not carry is
/// never another record (`PortalSession::record` falls back to the first).
pub async fn choose(State(state): State<AppState>, PortalForm { session, form }: PortalForm<ChoiceFields>) -> Response {
    let count = session.actor.spoken_for().map_or(0, <[Ins]>::len);
    let index = form.dossier.trim().parse::<usize>().ok().filter(|i| *i < count).unwrap_or(0);
    let mut response = see("/");
    response.headers_mut().append(header::SET_COOKIE, state.portal.cookies.set_record(index));
    response
}

/// `POST /dossier/export`: the ZIP of everything the person may see. A POST (with the form's
/// CSRF check), not a link: the export writes to the ledger — one consultation per document —
/// so another site must not be able to trigger it, and a browser must not prefetch it.
pub async fn download(State(state): State<AppState>, headers: HeaderMap, PortalForm { session, .. }: PortalForm<NoFields>) -> Response {
    let Some(ins) = session.record().cloned() else { return not_found_page() };
    let exported = match state.carnet.export_record(&session.actor, &ins).await {
        Ok(e) => e,
        Err(e) => return service_error_page(e),
    };
    let now = state.carnet.clock().now();
    let base = crate::fhir::base_url(&headers);
    let receipts = match state.carnet.access_receipts(&exported.history).await {
        Ok(r) => r,
        Err(e) => return service_error_page(e),
    };
    let archive = match export::archive(exported, &receipts, &base, &state.carnet, now) {
        Ok(a) => a,
        Err(export::ExportError::TooLarge) => {
            return error_page(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Dossier trop volumineux",
                "Votre dossier dépasse 4\u{a0}Go\u{a0}: il ne tient pas dans un seul fichier. Téléchargez vos documents un par un depuis la liste de vos documents.",
            );
        }
        Err(export::ExportError::Unrenderable) => {
            tracing::error!("an export's FHIR Bundle did not serialize");
            return error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Erreur interne",
                "Le téléchargement a échoué. Réessayez dans un instant.",
            );
        }
    };
    let body = Body::from_stream(export::stream(state.carnet.clone(), archive, now));
    let mut response = Response::new(body);
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/zip"));
    let file = format!("attachment; filename=\"carnet-mon-dossier-{}.zip\"", now.date());
    if let Ok(v) = HeaderValue::from_str(&file) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

/// A reimbursement line: its title and date.
pub struct ReimbursementLine {
    pub title: String,
    pub date: String,
}

#[derive(Template)]
#[template(path = "remboursements.html")]
struct ReimbursementsPage {
    page: &'static str,
    csrf: String,
    represented: Option<Represented>,
    done: Option<&'static str>,
    hidden: bool,
    lines: Vec<ReimbursementLine>,
    confirmation_error: Option<&'static str>,
}

fn reimbursements_done(flag: Option<&str>) -> Option<&'static str> {
    Some(match flag? {
        "masque" => "L’historique des remboursements est maintenant masqué aux professionnels de santé.",
        "affiche" => {
            "L’historique des remboursements n’est plus masqué\u{a0}: les professionnels autorisés peuvent de nouveau le consulter."
        }
        "supprime" => "L’historique des remboursements a été supprimé.",
        _ => return None,
    })
}

async fn reimbursements_page(
    state: &AppState,
    session: &PortalSession,
    ins: &Ins,
    status: StatusCode,
    done: Option<&'static str>,
    confirmation_error: Option<&'static str>,
) -> Response {
    let carnet = &state.carnet;
    let policy = match carnet.policy(&session.actor, ins).await {
        Ok(p) => p,
        Err(e) => return service_error_page(e),
    };
    let visible = match carnet.visible_documents(&session.actor, ins).await {
        Ok(v) => v,
        Err(e) => return service_error_page(e),
    };
    let remb: Vec<_> = visible
        .into_iter()
        .filter(|v| v.meta().xds.type_code.code == REIMBURSEMENT_TYPE && v.meta().xds.type_code.system == TRE_A05_SYSTEM)
        .collect();
    let views = match carnet.views(&remb).await {
        Ok(v) => v,
        Err(e) => return service_error_page(e),
    };
    let lines = views
        .into_iter()
        .map(|v| ReimbursementLine {
            date: words::date(carnet_service::act_date(&v.meta)),
            title: v.title.unwrap_or_else(|| "Remboursement sans titre".to_owned()),
        })
        .collect();
    let page_of = ReimbursementsPage {
        page: "remboursements",
        csrf: session.csrf_token.clone(),
        represented: represented(state, session).await,
        done,
        hidden: policy.reimbursement_hidden,
        lines,
        confirmation_error,
    };
    page(status, page_of.render())
}

/// `GET /remboursements`.
pub async fn reimbursements(State(state): State<AppState>, session: PortalSession, Query(done): Query<Done>) -> Response {
    let Some(ins) = session.record().cloned() else { return not_found_page() };
    reimbursements_page(&state, &session, &ins, StatusCode::OK, reimbursements_done(done.fait.as_deref()), None).await
}

#[derive(serde::Deserialize)]
pub struct HideFields {
    #[serde(default)]
    masquer: String,
}

/// `POST /remboursements/masquer`: `masquer=oui` hides, `masquer=non` shows again.
pub async fn hide_reimbursements(State(state): State<AppState>, PortalForm { session, form }: PortalForm<HideFields>) -> Response {
    let Some(ins) = session.record().cloned() else { return not_found_page() };
    let hidden = match form.masquer.as_str() {
        "oui" => true,
        "non" => false,
        _ => return super::session::french_error(StatusCode::BAD_REQUEST, "Ce formulaire est incomplet."),
    };
    match state.carnet.change_policy(&session.actor, &ins, PolicyChange::HideReimbursement { hidden }).await {
        Ok(_) => see(if hidden { "/remboursements?fait=masque" } else { "/remboursements?fait=affiche" }),
        Err(e) => service_error_page(e),
    }
}

#[derive(serde::Deserialize)]
pub struct DeleteFields {
    #[serde(default)]
    confirmation: Option<String>,
}

/// `POST /remboursements/supprimer`: only with the confirmation box ticked.
pub async fn delete_reimbursements(State(state): State<AppState>, PortalForm { session, form }: PortalForm<DeleteFields>) -> Response {
    let Some(ins) = session.record().cloned() else { return not_found_page() };
    if form.confirmation.as_deref() != Some("oui") {
        let error = Some("Cochez la case pour confirmer la suppression définitive.");
        return reimbursements_page(&state, &session, &ins, StatusCode::BAD_REQUEST, None, error).await;
    }
    match state.carnet.delete_reimbursement_history(&session.actor, &ins).await {
        Ok(_) => see("/remboursements?fait=supprime"),
        Err(e) => service_error_page(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_retention_rules_read_in_days_and_years() {
        assert_eq!(duration_words(Duration::days(60)), "60\u{a0}jours");
        assert_eq!(duration_words(Duration::days(3653)), "10\u{a0}ans");
        assert_eq!(duration_words(Duration::days(1)), "1\u{a0}jour");
        assert_eq!(duration_words(Duration::hours(48)), "2\u{a0}jours");
        assert_eq!(duration_words(Duration::hours(5)), "5\u{a0}heures");
    }

    #[test]
    fn a_reason_is_required_and_bounded_as_the_domain_bounds_it() {
        assert_eq!(checked_reason("  ", "manque"), Err("manque"));
        assert_eq!(checked_reason("Je déménage à l’étranger", "manque"), Ok(()));
        assert!(checked_reason(&"é".repeat(MAX_REASON), "manque").is_ok());
        assert!(checked_reason(&"é".repeat(MAX_REASON + 1), "manque").is_err());
    }
}
