//! The privacy officer's space: the review queue of emergency accesses and enumeration alerts
//! (`/revue`), each acknowledged (*Marquer comme examiné*) or annotated (*Ajouter une note*)
//! through `Carnet::review`, exactly as `/api`'s `POST /review-items/{id}/acknowledge` and
//! `/notes`: the same right, the same ledger entries. Who accessed, when and why — never a
//! document. Everyone else finds no such page (404), whatever they post.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use carnet_service::{MAX_NOTE, ReviewQueueItem, ServiceError};

use super::record::Field;
use super::session::{PortalForm, PortalSession};
use super::{not_found_page, page, service_error_page, words};
use crate::AppState;

/// Which list the page shows.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// *À examiner*: the open items, oldest first (the longest waiting on top).
    Open,
    /// *Examinés*: the acknowledged items, the latest first.
    Acknowledged,
}

impl View {
    fn of(param: Option<&str>) -> View {
        if param == Some("examines") { View::Acknowledged } else { View::Open }
    }
    fn status(self) -> &'static str {
        match self {
            View::Open => "open",
            View::Acknowledged => "acknowledged",
        }
    }
    /// The page's own address, with a flag after an action.
    fn path(self, done: Option<&str>) -> String {
        match (self, done) {
            (View::Open, None) => "/revue".to_owned(),
            (View::Open, Some(flag)) => format!("/revue?fait={flag}"),
            (View::Acknowledged, None) => "/revue?vue=examines".to_owned(),
            (View::Acknowledged, Some(flag)) => format!("/revue?vue=examines&fait={flag}"),
        }
    }
    pub fn param(self) -> &'static str {
        match self {
            View::Open => "",
            View::Acknowledged => "examines",
        }
    }
}

/// A note added to an item.
pub struct NoteLine {
    pub by_me: bool,
    pub at: String,
    pub text: String,
}

/// One item of the queue, in words.
pub struct ReviewLine {
    pub id: String,
    /// *Accès en urgence (bris de glace)*, *Alerte : …*.
    pub kind: &'static str,
    pub when: String,
    /// Who, by name, profession and organisation, and their RPPS.
    pub who: String,
    pub what: String,
    /// The record, by its INS as the API's review items give it (no name: the officer sees
    /// no identity traits).
    pub record: Option<String>,
    pub motive: Option<String>,
    pub acknowledged: bool,
    pub notes: Vec<NoteLine>,
    /// The note field as entered, and its error (after a refused form).
    pub note: Field,
}

#[derive(Template)]
#[template(path = "revue.html")]
struct ReviewPage {
    page: &'static str,
    csrf: String,
    represented: Option<super::record::Represented>,
    view: View,
    done: Option<&'static str>,
    /// `(field id, message)` of a refused form.
    errors: Vec<(String, &'static str)>,
    items: Vec<ReviewLine>,
    max_note: usize,
    /// `2 000`, as the help text says it.
    max_note_words: String,
}

#[derive(serde::Deserialize, Default)]
pub struct ReviewParams {
    #[serde(default)]
    vue: Option<String>,
    #[serde(default)]
    fait: Option<String>,
}

fn done_sentence(flag: Option<&str>) -> Option<&'static str> {
    Some(match flag? {
        "examine" => "L’élément est marqué comme examiné. Il figure désormais dans la liste « Examinés ».",
        "note" => "Votre note est ajoutée à l’élément.",
        "deja" => "Cet élément avait déjà été marqué comme examiné\u{a0}: rien n’a été modifié.",
        _ => return None,
    })
}

fn kind_words(item: &ReviewQueueItem) -> &'static str {
    let action = item.entry.as_ref().map(|e| e.entry.action.as_str());
    match (item.item.kind.as_str(), action) {
        ("emergency", Some("emergency.samu")) => "Accès par le médecin régulateur du SAMU (centre 15)",
        ("emergency", _) => "Accès en urgence (bris de glace)",
        ("enumeration", _) => "Alerte\u{a0}: nombreux dossiers ouverts",
        ("ledger", _) => "Alerte\u{a0}: registre des accès altéré",
        _ => "Élément à examiner",
    }
}

fn line(session: &PortalSession, item: ReviewQueueItem, enumeration_limit: usize) -> ReviewLine {
    let kind = kind_words(&item);
    let entry = item.entry.as_ref().map(|e| &e.entry);
    let rpps = item.item.actor_ref.strip_prefix("rpps:").map(|r| format!("RPPS n°\u{a0}{r}"));
    let name = entry.and_then(|e| e.actor.name.clone());
    let profession =
        entry.and_then(|e| e.actor.profession.as_deref()).and_then(|c| carnet_domain::Profession::from_code(c).ok()).map(|p| p.label_fr());
    let organisation = entry.and_then(|e| e.actor.organisation.as_ref()).map(|o| format!("établissement n°\u{a0}FINESS {o}"));
    let details: Vec<String> = profession.map(str::to_owned).into_iter().chain(organisation).chain(rpps).collect();
    let who = match (name, details.is_empty()) {
        _ if item.item.kind == "ledger" => "Carnet (vérification automatique du registre)".to_owned(),
        (Some(n), false) => format!("{n} ({})", details.join(", ")),
        (Some(n), true) => n,
        (None, false) => format!("Professionnel ({})", details.join(", ")),
        (None, true) => "Auteur inconnu".to_owned(),
    };
    let what = match item.item.kind.as_str() {
        "enumeration" => format!(
            "a ouvert plus de {} dossiers différents en moins d’une heure\u{a0}; les ouvertures suivantes ont été refusées pendant une heure",
            words::count(enumeration_limit as u64)
        ),
        "ledger" => "a trouvé le registre des accès altéré ou incomplet\u{a0}: les consultations et les dépôts de documents sont \
                     refusés jusqu’à l’intervention de l’exploitant, qui en trouve le détail dans les journaux du serveur"
            .to_owned(),
        _ => entry.and_then(|e| words::action(&e.action)).unwrap_or("a ouvert un accès en urgence").to_owned(),
    };
    let notes: Vec<serde_json::Value> = serde_json::from_str(&item.item.notes).unwrap_or_default();
    let notes = notes
        .iter()
        .filter_map(|n| {
            let text = n.get("text")?.as_str()?.to_owned();
            let at = n
                .get("at")
                .and_then(|a| a.as_str())
                .and_then(|a| time::OffsetDateTime::parse(a, &time::format_description::well_known::Rfc3339).ok())
                .map(words::date_time)
                .unwrap_or_default();
            let by_me = n.get("by").and_then(|b| b.as_str()).is_some_and(|b| session.actor.has_reference(b));
            Some(NoteLine { by_me, at, text })
        })
        .collect();
    ReviewLine {
        id: item.item.id.clone(),
        kind,
        when: words::date_time(item.item.opened_at),
        who,
        what,
        record: item.item.ins.as_ref().map(|i| format!("INS {i}")),
        motive: entry.and_then(|e| e.justification.clone()),
        acknowledged: item.item.status == "acknowledged",
        notes,
        note: Field::default(),
    }
}

/// The queue's page; `refused` is a form shown again with its error (status 400).
async fn review_page(
    state: &AppState,
    session: &PortalSession,
    view: View,
    done: Option<&'static str>,
    refused: Option<(String, Field)>,
) -> Response {
    let items = match state.carnet.review_queue(&session.actor, Some(view.status())).await {
        Ok(items) => items,
        // Not the privacy officer: there is no such page for them.
        Err(ServiceError::Forbidden(_) | ServiceError::Scope(_)) => return not_found_page(),
        Err(e) => return service_error_page(e),
    };
    let limit = state.carnet.config().enumeration_limit;
    let mut items: Vec<ReviewLine> = items.into_iter().map(|i| line(session, i, limit)).collect();
    if view == View::Acknowledged {
        items.reverse();
    }
    let mut errors = vec![];
    let mut status = StatusCode::OK;
    if let Some((id, field)) = refused {
        if let Some(item) = items.iter_mut().find(|i| i.id == id) {
            if let Some(message) = field.error {
                errors.push((format!("note-{id}"), message));
            }
            item.note = field;
        }
        status = StatusCode::BAD_REQUEST;
    }
    let page_of = ReviewPage {
        page: "revue",
        csrf: session.csrf_token.clone(),
        represented: None,
        view,
        done,
        errors,
        items,
        max_note: MAX_NOTE,
        max_note_words: words::count(MAX_NOTE as u64),
    };
    page(status, page_of.render())
}

/// `GET /revue`: *À examiner*, or *Examinés* (`?vue=examines`).
pub async fn queue(State(state): State<AppState>, session: PortalSession, Query(params): Query<ReviewParams>) -> Response {
    let view = View::of(params.vue.as_deref());
    review_page(&state, &session, view, done_sentence(params.fait.as_deref()), None).await
}

#[derive(serde::Deserialize)]
pub struct NoteFields {
    #[serde(default)]
    note: String,
    /// The list the form was on (`examines` or empty), to go back to it.
    #[serde(default)]
    vue: String,
}

/// The note as the service will take it, or the message next to its field.
fn checked_note(note: &str, required: bool) -> Result<(), &'static str> {
    let n = note.trim();
    if n.is_empty() && required {
        Err("Écrivez la note avant de l’ajouter.")
    } else if n.chars().count() > MAX_NOTE {
        Err("La note est trop longue\u{a0}: 2\u{a0}000 caractères au plus.")
    } else {
        Ok(())
    }
}

async fn act(state: AppState, session: PortalSession, id: String, form: NoteFields, acknowledge: bool) -> Response {
    let view = View::of(Some(form.vue.as_str()));
    if let Err(error) = checked_note(&form.note, !acknowledge) {
        return review_page(&state, &session, view, None, Some((id, Field { value: form.note, error: Some(error) }))).await;
    }
    let note = Some(form.note.as_str()).filter(|n| !n.trim().is_empty());
    match state.carnet.review(&session.actor, &id, acknowledge, note).await {
        Ok(_) => Redirect::to(&view.path(Some(if acknowledge { "examine" } else { "note" }))).into_response(),
        Err(ServiceError::Conflict(_)) => Redirect::to(&view.path(Some("deja"))).into_response(),
        Err(ServiceError::Forbidden(_) | ServiceError::Scope(_)) => not_found_page(),
        Err(e) => service_error_page(e),
    }
}

/// `POST /revue/{id}/examiner`: acknowledge, with an optional note.
pub async fn acknowledge(
    State(state): State<AppState>,
    Path(id): Path<String>,
    PortalForm { session, form }: PortalForm<NoteFields>,
) -> Response {
    act(state, session, id, form, true).await
}

/// `POST /revue/{id}/note`: annotate (a note is required).
pub async fn annotate(
    State(state): State<AppState>,
    Path(id): Path<String>,
    PortalForm { session, form }: PortalForm<NoteFields>,
) -> Response {
    act(state, session, id, form, false).await
}
