//! The patient's space, first pages: *Accueil* (the record at a glance) and *Historique des
//! accès*. Each calls the same service methods as `/api` (the gate, the ledger and the scopes
//! apply unchanged: a portal session acts for the person, role only) and renders.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use carnet_domain::{Actor, Ins, RecordStatus};
use carnet_service::{HistoryQuery, RecordedEntry};

use super::session::PortalSession;
use super::{page, words};
use crate::AppState;

/// How many documents and accesses the home page shows.
const LATEST: usize = 5;

/// A document line of a page.
pub struct DocumentLine {
    /// Its opaque id, for the link to its page.
    pub id: String,
    pub title: String,
    pub kind: String,
    pub date: String,
    /// Its visibility labels and, unless current, its status, in words.
    pub notes: Vec<&'static str>,
}

/// An access line: when, who, what, on what basis.
pub struct AccessLine {
    pub when: String,
    pub who: String,
    pub what: String,
    pub basis: String,
    pub refused: bool,
}

/// The record part of the home page.
pub struct RecordAtAGlance {
    pub status: &'static str,
    pub documents_count: String,
    pub latest: Vec<DocumentLine>,
    pub accesses: Vec<AccessLine>,
}

#[derive(Template)]
#[template(path = "accueil.html")]
struct Home {
    page: &'static str,
    csrf: String,
    person: String,
    record: Option<RecordAtAGlance>,
}

#[derive(Template)]
#[template(path = "historique.html")]
struct History {
    page: &'static str,
    csrf: String,
    entries: Vec<AccessLine>,
    own_included: bool,
}

fn person_name(actor: &Actor) -> String {
    actor.name.clone().unwrap_or_else(|| words::role(actor.role()).to_owned())
}

fn record_status(status: RecordStatus) -> &'static str {
    match status {
        RecordStatus::Active => "ouvert",
        RecordStatus::Closed => "fermé",
        RecordStatus::Archived => "archivé",
        RecordStatus::Destroyed => "supprimé",
    }
}

fn own_entry(entry: &RecordedEntry, actor: &Actor) -> bool {
    actor.has_reference(&entry.entry.actor.reference)
}

/// An access-history entry in words; the person's own actions are "vous".
fn access_line(entry: &RecordedEntry, actor: &Actor) -> AccessLine {
    let e = &entry.entry;
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(e.at) * 1_000_000).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let who = if own_entry(entry, actor) {
        "Vous".to_owned()
    } else {
        let role = carnet_domain::Role::parse(&e.actor.role).map(words::role).unwrap_or("Quelqu’un");
        let profession = e.actor.profession.as_deref().and_then(|c| carnet_domain::Profession::from_code(c).ok()).map(|p| p.label_fr());
        let name = e.actor.name.clone().unwrap_or_else(|| role.to_owned());
        match (profession, &e.actor.organisation) {
            (Some(p), Some(o)) => format!("{name} ({p}, établissement {o})"),
            (Some(p), None) => format!("{name} ({p})"),
            _ => name,
        }
    };
    let refused = e.outcome == carnet_service::Outcome::Deny;
    let own = actor.has_reference(&e.actor.reference);
    let what = words::action(&e.action).map_or_else(|| e.action.clone(), str::to_owned);
    // The phrases are in the third person ("a consulté"); the person's own are "vous avez".
    let what = match what.strip_prefix("a ") {
        Some(rest) if own => format!("avez {rest}"),
        _ => what,
    };
    let basis = match (refused, own) {
        (true, _) => "refusé".to_owned(),
        (false, true) => String::new(),
        (false, false) => words::basis(&e.reason).unwrap_or_default().to_owned(),
    };
    AccessLine { when: words::date_time(at), who, what, basis, refused }
}

/// `/` for a signed-in person.
pub async fn home(state: &AppState, session: PortalSession) -> Response {
    let actor = &session.actor;
    let record = match session.record() {
        None => None,
        Some(ins) => match glance(state, actor, ins).await {
            Ok(r) => Some(r),
            Err(e) => return super::service_error_page(e),
        },
    };
    page(StatusCode::OK, Home { page: "accueil", csrf: session.csrf_token.clone(), person: person_name(actor), record }.render())
}

async fn glance(state: &AppState, actor: &Actor, ins: &Ins) -> Result<RecordAtAGlance, carnet_service::ServiceError> {
    let carnet = &state.carnet;
    let status = carnet.record_status(actor, ins).await?;
    let visible = carnet.visible_documents(actor, ins).await?;
    let count = visible.len() as u64;
    let latest: Vec<_> = visible.into_iter().take(LATEST).collect();
    let codes = &carnet.config().codes;
    let views = carnet.views(&latest).await?;
    let latest = views
        .into_iter()
        .map(|v| DocumentLine {
            id: v.meta.id.to_string(),
            kind: codes.find_type(&v.meta.xds.type_code).map_or_else(|| v.meta.xds.type_code.code.clone(), |t| t.display.clone()),
            date: words::date(v.meta.xds.authored_at.unwrap_or(v.meta.submitted_at)),
            notes: v
                .meta
                .labels
                .iter()
                .map(|l| words::label(*l))
                .chain((v.meta.status != carnet_domain::DocumentStatus::Current).then(|| words::status(v.meta.status)))
                .collect(),
            title: v.title.unwrap_or_else(|| "Document sans titre".to_owned()),
        })
        .collect();
    let page = carnet.access_history(actor, ins, HistoryQuery { limit: 200, ..HistoryQuery::default() }).await?;
    let accesses = page
        .entries
        .iter()
        .rev()
        .filter(|e| !actor.has_reference(&e.entry.actor.reference))
        .take(LATEST)
        .map(|e| access_line(e, actor))
        .collect();
    Ok(RecordAtAGlance {
        status: record_status(status.status),
        documents_count: words::counted(count, "document", "documents", "aucun document"),
        latest,
        accesses,
    })
}

#[derive(serde::Deserialize, Default)]
pub struct HistoryFilter {
    /// Show the person's own consultations too.
    #[serde(default)]
    moi: Option<String>,
}

/// *Historique des accès*, newest first.
pub async fn history(
    State(state): State<AppState>,
    session: PortalSession,
    axum::extract::Query(filter): axum::extract::Query<HistoryFilter>,
    _headers: HeaderMap,
) -> Response {
    let actor = &session.actor;
    let Some(ins) = session.record() else { return super::not_found_page() };
    let own_included = filter.moi.is_some();
    let page_of = state.carnet.access_history(actor, ins, HistoryQuery { limit: 200, ..HistoryQuery::default() }).await;
    let entries = match page_of {
        Ok(p) => p
            .entries
            .iter()
            .rev()
            .filter(|e| own_included || !actor.has_reference(&e.entry.actor.reference))
            .map(|e| access_line(e, actor))
            .collect(),
        Err(e) => return super::service_error_page(e),
    };
    page(StatusCode::OK, History { page: "historique", csrf: session.csrf_token.clone(), entries, own_included }.render())
}
