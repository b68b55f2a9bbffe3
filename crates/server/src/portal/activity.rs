//! *Mon activité*, a professional's own activity: the records they consulted lately, what they
//! did in each (as the patient's *Historique des accès* says it), and their emergency accesses
//! with when each ends. `Carnet::actor_activity` reads only the caller's own ledger entries;
//! this page renders them and decides nothing.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use carnet_domain::{Ins, ReferenceTraits};
use carnet_service::{Activity, ActivityQuery, Outcome, RecordedEntry};

use super::session::PortalSession;
use super::{page, patients, service_error_page, words};
use crate::AppState;

/// How many records *Dossiers consultés récemment* lists.
const RECENT_RECORDS: usize = 10;

/// One thing the professional did.
pub struct ActionLine {
    pub when: String,
    /// `avez consulté un document` (after *Vous*).
    pub what: String,
    /// `le dossier de Marie DUPONT`, or `un dossier` when no name is to be shown.
    pub record: String,
    /// The record page, when the record has a name to show (it is live).
    pub link: Option<String>,
    pub basis: Option<&'static str>,
    pub refused: bool,
    pub justification: Option<String>,
}

/// A record consulted lately.
pub struct RecordLine {
    pub name: String,
    pub link: String,
    pub last: String,
}

/// One of the professional's emergency accesses.
pub struct EmergencyLine {
    pub kind: &'static str,
    pub record: String,
    pub link: Option<String>,
    pub opened: String,
    pub until: String,
    pub current: bool,
    pub justification: String,
}

#[derive(Template)]
#[template(path = "pro_activite.html")]
struct ActivityPage {
    page: &'static str,
    csrf: String,
    represented: Option<super::record::Represented>,
    /// Whether this is the latest page (the emergencies and recent records are shown there).
    first: bool,
    emergencies: Vec<EmergencyLine>,
    recent: Vec<RecordLine>,
    actions: Vec<ActionLine>,
    /// The leaf index to ask entries before, for the link to older ones.
    older: Option<u64>,
}

#[derive(serde::Deserialize, Default)]
pub struct ActivityParams {
    /// Entries older than this leaf index (the "plus anciens" link): an opaque cursor.
    #[serde(default)]
    avant: Option<u64>,
}

/// *Prénom NOM* as the record's identity has them.
fn display_name(traits: &ReferenceTraits) -> Option<String> {
    let given = traits.birth_given_names.split_whitespace().next().unwrap_or_default();
    let name = format!("{given} {}", traits.birth_name.to_uppercase());
    let name = name.trim();
    (!name.is_empty()).then(|| name.to_owned())
}

fn instant(ms: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// What a page says of the record `ins`, and the link to it when it has a name to show.
fn record_words(session: &PortalSession, activity: &Activity, ins: &Ins) -> (Option<String>, Option<String>) {
    match activity.identity(ins).and_then(display_name) {
        Some(name) => (Some(name), Some(format!("/patients/{}", patients::handle(session, ins)))),
        None => (None, None),
    }
}

fn action_line(session: &PortalSession, activity: &Activity, entry: &RecordedEntry) -> ActionLine {
    let e = &entry.entry;
    let (name, link) = e.ins.as_ref().map_or((None, None), |ins| record_words(session, activity, ins));
    let refused = e.outcome == Outcome::Deny;
    ActionLine {
        when: words::date_time(instant(e.at)),
        what: words::own_action(&e.action).unwrap_or_else(|| "avez agi".to_owned()),
        record: name.map_or_else(|| "un dossier".to_owned(), |n| format!("le dossier de {n}")),
        link,
        // An emergency opening says its basis already.
        basis: if refused || e.action.starts_with("emergency.") && e.action != "emergency.document" {
            None
        } else {
            words::own_basis(&e.reason)
        },
        refused,
        justification: e.justification.clone(),
    }
}

/// `GET /activite`: the latest hundred entries of the caller, then older ones a hundred at a time.
pub async fn activity(State(state): State<AppState>, session: PortalSession, Query(params): Query<ActivityParams>) -> Response {
    let query = ActivityQuery { before: params.avant, limit: carnet_service::ACTIVITY_PAGE };
    let activity = match state.carnet.actor_activity(&session.actor, query).await {
        Ok(a) => a,
        Err(e) => return service_error_page(e),
    };
    let first = params.avant.is_none();
    let emergencies = if first {
        activity
            .emergencies
            .iter()
            .map(|e| {
                let (name, link) = record_words(&session, &activity, &e.ins);
                EmergencyLine {
                    kind: words::emergency_kind(e.kind),
                    record: name.map_or_else(|| "Un dossier".to_owned(), |n| format!("Dossier de {n}")),
                    link,
                    opened: words::date_time(e.opened_at),
                    until: words::date_time(e.expires_at),
                    current: e.is_current(activity.now),
                    justification: e.justification.clone(),
                }
            })
            .collect()
    } else {
        vec![]
    };
    // The records of the permitted entries, each once, the latest first.
    let mut recent: Vec<RecordLine> = Vec::new();
    let mut seen: Vec<&Ins> = Vec::new();
    for entry in activity.entries.iter().filter(|e| first && e.entry.outcome == Outcome::Permit) {
        let Some(ins) = entry.entry.ins.as_ref() else { continue };
        if seen.contains(&ins) || recent.len() == RECENT_RECORDS {
            continue;
        }
        seen.push(ins);
        if let (Some(name), Some(link)) = record_words(&session, &activity, ins) {
            recent.push(RecordLine { name, link, last: words::date_time(instant(entry.entry.at)) });
        }
    }
    let actions = activity.entries.iter().map(|e| action_line(&session, &activity, e)).collect();
    let page_of = ActivityPage {
        // A professional's page sits in their space's nav; anyone else's stands alone.
        page: if session.actor.professional().is_some() { "pro-activite" } else { "activite" },
        csrf: session.csrf_token.clone(),
        represented: None,
        first,
        emergencies,
        recent,
        actions,
        older: activity.next_before,
    };
    page(StatusCode::OK, page_of.render())
}
