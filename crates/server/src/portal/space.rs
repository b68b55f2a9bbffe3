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
    /// An emergency access's written justification.
    pub justification: Option<String>,
    /// Whether its inclusion proof in the latest signed tree head checked (history page only).
    pub proven: Option<bool>,
}

/// The record part of the home page.
pub struct RecordAtAGlance {
    pub status: &'static str,
    /// Closed: professionals neither read nor feed it.
    pub closed: bool,
    /// Emergency accesses opened since the person's previous visit (all, on a first visit).
    pub emergencies: Vec<AccessLine>,
    /// "3 nouveaux documents" since the previous visit; `None` on a first visit or when none.
    pub new_documents: Option<String>,
    pub documents_count: String,
    pub latest: Vec<DocumentLine>,
    pub accesses: Vec<AccessLine>,
}

#[derive(Template)]
#[template(path = "accueil.html")]
struct Home {
    page: &'static str,
    csrf: String,
    represented: Option<super::record::Represented>,
    person: String,
    record: Option<RecordAtAGlance>,
    /// Why there is no record to show (none yet, or not this person's to open).
    unavailable: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "historique.html")]
struct History {
    page: &'static str,
    csrf: String,
    represented: Option<super::record::Represented>,
    entries: Vec<AccessLine>,
    filter: HistoryFilter,
    /// Messages of invalid filter fields, by field.
    errors: FieldErrors,
    /// The link to older entries (its query string), when there are more.
    older: Option<String>,
    ledger: Option<LedgerCheck>,
}

/// What the page says of the ledger's proofs.
pub struct LedgerCheck {
    /// The head's signature and every proof of the page checked.
    pub sound: bool,
    pub head_signed: bool,
    pub size: String,
    pub signed_at: String,
    /// The root hash's first 16 hex digits, in groups of four (to compare with a published head).
    pub fingerprint: String,
    pub unproven: usize,
}

/// Invalid fields of a form, each with its message (shown next to the field).
#[derive(Default)]
pub struct FieldErrors(Vec<(&'static str, &'static str)>);

impl FieldErrors {
    pub fn add(&mut self, field: &'static str, message: &'static str) {
        self.0.push((field, message));
    }
    pub fn of(&self, field: &str) -> Option<&'static str> {
        self.0.iter().find(|(f, _)| *f == field).map(|(_, m)| *m)
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn all(&self) -> &[(&'static str, &'static str)] {
        &self.0
    }
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

fn millis(t: time::OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
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
            (Some(p), Some(o)) => format!("{name} ({p}, établissement n°\u{a0}FINESS {o})"),
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
        // "a ouvert un accès en urgence (bris de glace)" says its basis already.
        (false, true) => String::new(),
        (false, false) if e.action.starts_with("emergency.") && e.action != "emergency.document" => String::new(),
        (false, false) => words::basis(&e.reason).unwrap_or_default().to_owned(),
    };
    AccessLine { when: words::date_time(at), who, what, basis, refused, justification: e.justification.clone(), proven: None }
}

/// Entries of one person this close to each other are one visit on the home page.
const VISIT_MS: i64 = 5 * 60 * 1000;

/// The visit being read.
struct Visit<'a> {
    reference: &'a str,
    refused: bool,
    /// Its oldest entry so far.
    oldest: i64,
    line: AccessLine,
    /// Its actions, newest first, each with how many times.
    whats: Vec<(String, usize)>,
    /// It opened an emergency access, which says its basis already.
    emergency: bool,
}

/// Others' actions as visits, newest first, at most `limit`: consecutive entries of one person
/// with one outcome, each within five minutes of the next, read as one line ("a consulté l’état
/// du dossier, la liste de vos documents et votre profil médical"). Opening a record is several
/// reads, each in the ledger (and each on the history page); four lines for one look would hide
/// what happened.
fn visits(entries: &[&RecordedEntry], actor: &Actor, limit: usize) -> Vec<AccessLine> {
    let mut out: Vec<AccessLine> = Vec::new();
    let mut visit: Option<Visit<'_>> = None;
    let flush = |visit: Option<Visit<'_>>, out: &mut Vec<AccessLine>| {
        if let Some(mut v) = visit {
            v.line.what = merged(v.whats.into_iter().rev().collect());
            if v.emergency {
                v.line.basis.clear();
            }
            out.push(v.line);
        }
    };
    for e in entries {
        let refused = e.entry.outcome == carnet_service::Outcome::Deny;
        let emergency = EMERGENCY_OPENINGS.contains(&e.entry.action.as_str());
        let line = access_line(e, actor);
        match &mut visit {
            Some(v) if v.reference == e.entry.actor.reference && v.refused == refused && v.oldest - e.entry.at <= VISIT_MS => {
                v.oldest = e.entry.at;
                v.emergency |= emergency;
                match v.whats.iter_mut().find(|(w, _)| *w == line.what) {
                    Some((_, n)) => *n += 1,
                    None => v.whats.push((line.what, 1)),
                }
                if v.line.basis.is_empty() {
                    v.line.basis = line.basis;
                }
                if v.line.justification.is_none() {
                    v.line.justification = line.justification;
                }
            }
            _ => {
                flush(visit.take(), &mut out);
                if out.len() == limit {
                    return out;
                }
                let whats = vec![(line.what.clone(), 1)];
                visit = Some(Visit { reference: e.entry.actor.reference.as_str(), refused, oldest: e.entry.at, line, whats, emergency });
            }
        }
    }
    flush(visit, &mut out);
    out.truncate(limit);
    out
}

/// One visit's actions, oldest first, in one phrase: "a consulté A, B et C" when they share
/// their verb, else the phrases joined; an action repeated says how many times.
fn merged(whats: Vec<(String, usize)>) -> String {
    let counted: Vec<String> = whats.into_iter().map(|(w, n)| if n > 1 { format!("{w} ({n}\u{a0}fois)") } else { w }).collect();
    let verb = "a consulté ";
    let (prefix, parts): (&str, Vec<&str>) = if counted.len() > 1 && counted.iter().all(|w| w.starts_with(verb)) {
        (verb, counted.iter().map(|w| &w[verb.len()..]).collect())
    } else {
        ("", counted.iter().map(String::as_str).collect())
    };
    let joined = match parts.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} et {last}", rest.join(", ")),
        Some((last, _)) => (*last).to_owned(),
        None => String::new(),
    };
    format!("{prefix}{joined}")
}

/// `/` for a signed-in person.
pub async fn home(state: &AppState, session: PortalSession) -> Response {
    // Professionals and SAMU regulators have a space of their own.
    if session.actor.professional().is_some() {
        return super::professional::home(session).await;
    }
    // The privacy officer's space is the review queue.
    if matches!(session.actor.kind, carnet_domain::ActorKind::PrivacyOfficer) {
        return axum::response::IntoResponse::into_response(axum::response::Redirect::to("/revue"));
    }
    let actor = &session.actor;
    let mut unavailable = None;
    let record = match session.record() {
        None => None,
        Some(ins) => match glance(state, actor, ins, session.signed_in_at).await {
            Ok(r) => Some(r),
            // No record, or none this person may open (a representation ended, a minor come of
            // age): said on the home page rather than as a missing page.
            Err(carnet_service::ServiceError::NotFound(_)) => {
                unavailable = Some(match actor.kind {
                    carnet_domain::ActorKind::Representative { .. } => {
                        "Vous n’êtes pas, ou plus, enregistré comme représentant légal de la personne dont vous demandez le dossier. Si vous pensez que c’est une erreur, adressez-vous à votre caisse d’Assurance maladie."
                    }
                    _ => {
                        "Vous n’avez pas encore de dossier médical partagé dans Carnet. Il est créé par votre caisse d’Assurance maladie, votre pharmacien ou votre médecin, à votre demande."
                    }
                });
                None
            }
            Err(e) => return super::service_error_page(e),
        },
    };
    let represented = match unavailable {
        Some(_) => None,
        None => super::record::represented(state, &session).await,
    };
    page(
        StatusCode::OK,
        Home { page: "accueil", csrf: session.csrf_token.clone(), represented, person: person_name(actor), record, unavailable }.render(),
    )
}

/// The emergency openings the ledger records (not the readings under them).
const EMERGENCY_OPENINGS: [&str; 2] = ["emergency.bris_de_glace", "emergency.samu"];

async fn glance(
    state: &AppState,
    actor: &Actor,
    ins: &Ins,
    signed_in_at: time::OffsetDateTime,
) -> Result<RecordAtAGlance, carnet_service::ServiceError> {
    let carnet = &state.carnet;
    let status = carnet.record_status(actor, ins).await?;
    let history = carnet.access_history(actor, ins, HistoryQuery { limit: 200, newest_first: true, ..HistoryQuery::default() }).await?;
    // The previous visit: the person's latest action before this session began.
    let session_start_ms = millis(signed_in_at);
    let last_visit_ms =
        history.entries.iter().find(|e| e.entry.at < session_start_ms && actor.has_reference(&e.entry.actor.reference)).map(|e| e.entry.at);
    let emergencies = history
        .entries
        .iter()
        .filter(|e| EMERGENCY_OPENINGS.contains(&e.entry.action.as_str()) && e.entry.outcome == carnet_service::Outcome::Permit)
        .filter(|e| last_visit_ms.is_none_or(|last| e.entry.at > last))
        .take(LATEST)
        .map(|e| access_line(e, actor))
        .collect();
    // Replaced versions are folded under the current one (as on Mes documents): not counted,
    // not listed; the latest are by date of the act, as the person thinks of them.
    let mut visible: Vec<_> = carnet
        .visible_documents(actor, ins)
        .await?
        .into_iter()
        .filter(|v| v.meta().status != carnet_domain::DocumentStatus::Superseded)
        .collect();
    visible.sort_by_key(|v| std::cmp::Reverse(carnet_service::act_date(v.meta())));
    let count = visible.len() as u64;
    let new_documents = last_visit_ms
        .map(|last| visible.iter().filter(|v| millis(v.meta().submitted_at) > last).count() as u64)
        .filter(|n| *n > 0)
        .map(|n| words::counted(n, "nouveau document", "nouveaux documents", ""));
    let latest: Vec<_> = visible.into_iter().take(LATEST).collect();
    let codes = &carnet.config().codes;
    let views = carnet.views(&latest).await?;
    let latest = views
        .into_iter()
        .map(|v| DocumentLine {
            id: v.meta.id.to_string(),
            kind: codes.find_type(&v.meta.xds.type_code).map_or_else(|| v.meta.xds.type_code.code.clone(), |t| t.display.clone()),
            date: words::date(carnet_service::act_date(&v.meta)),
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
    let others: Vec<&RecordedEntry> = history.entries.iter().filter(|e| !actor.has_reference(&e.entry.actor.reference)).collect();
    let accesses = visits(&others, actor, LATEST);
    Ok(RecordAtAGlance {
        status: record_status(status.status),
        closed: status.status == RecordStatus::Closed,
        emergencies,
        new_documents,
        documents_count: words::counted(count, "document", "documents", "aucun document"),
        latest,
        accesses,
    })
}

/// Entries per history page.
const HISTORY_PAGE: u32 = 50;

#[derive(serde::Deserialize, Default, Clone)]
pub struct HistoryFilter {
    /// Show the person's own consultations too.
    #[serde(default)]
    moi: Option<String>,
    /// From this Paris day (`AAAA-MM-JJ`), inclusive.
    #[serde(default)]
    du: Option<String>,
    /// To this Paris day, inclusive.
    #[serde(default)]
    au: Option<String>,
    /// Entries older than this leaf index (the "older" link).
    #[serde(default)]
    avant: Option<u64>,
}

impl HistoryFilter {
    fn own_included(&self) -> bool {
        self.moi.is_some()
    }
    fn du(&self) -> &str {
        self.du.as_deref().unwrap_or_default()
    }
    fn au(&self) -> &str {
        self.au.as_deref().unwrap_or_default()
    }
    /// The query string of the next page back from `before`.
    fn older(&self, before: u64) -> String {
        self.query(Some(before))
    }

    /// The query string of this very page (what its receipts link repeats).
    fn this_page(&self) -> String {
        self.query(self.avant)
    }

    fn query(&self, before: Option<u64>) -> String {
        let mut q: Vec<(&str, String)> = Vec::new();
        if self.own_included() {
            q.push(("moi", "1".into()));
        }
        if !self.du().is_empty() {
            q.push(("du", self.du().into()));
        }
        if !self.au().is_empty() {
            q.push(("au", self.au().into()));
        }
        if let Some(before) = before {
            q.push(("avant", before.to_string()));
        }
        serde_urlencoded::to_string(&q).unwrap_or_default()
    }

    /// The period the filter asks for, or the messages of its invalid fields.
    fn period(&self) -> Result<(Option<time::OffsetDateTime>, Option<time::OffsetDateTime>), FieldErrors> {
        let mut errors = FieldErrors::default();
        let from = match self.du() {
            "" => None,
            day => words::paris_day_start(day).or_else(|| {
                errors.add("du", "Date invalide : choisissez un jour du calendrier.");
                None
            }),
        };
        // Inclusive: up to the start of the next day.
        let to = match self.au() {
            "" => None,
            day => words::paris_day_end(day),
        };
        if !self.au().is_empty() && to.is_none() {
            errors.add("au", "Date invalide : choisissez un jour du calendrier.");
        }
        if let (Some(f), Some(t)) = (from, to)
            && t <= f
        {
            errors.add("au", "Cette date est avant la date de début.");
        }
        if errors.is_empty() { Ok((from, to)) } else { Err(errors) }
    }

    /// The entries of the history page this filter shows, newest first, and the index to go on
    /// from for older ones.
    async fn shown(
        &self,
        state: &AppState,
        actor: &Actor,
        ins: &Ins,
        (from, to): (Option<time::OffsetDateTime>, Option<time::OffsetDateTime>),
    ) -> carnet_service::Result<(Vec<RecordedEntry>, Option<u64>)> {
        let query = HistoryQuery { from, to, before: self.avant, newest_first: true, limit: HISTORY_PAGE, ..HistoryQuery::default() };
        let found = state.carnet.access_history(actor, ins, query).await?;
        let shown = found.entries.into_iter().filter(|e| self.own_included() || !actor.has_reference(&e.entry.actor.reference)).collect();
        Ok((shown, found.next_after))
    }
}

/// *Historique des accès*, newest first, fifty at a time, each entry checked against the latest
/// signed tree head.
pub async fn history(
    State(state): State<AppState>,
    session: PortalSession,
    axum::extract::Query(filter): axum::extract::Query<HistoryFilter>,
    _headers: HeaderMap,
) -> Response {
    let actor = &session.actor;
    let Some(ins) = session.record() else { return super::not_found_page() };
    let period = match filter.period() {
        Ok(period) => period,
        Err(errors) => {
            let represented = super::record::represented(&state, &session).await;
            let page_of = History {
                page: "historique",
                csrf: session.csrf_token.clone(),
                represented,
                entries: vec![],
                filter,
                errors,
                older: None,
                ledger: None,
            };
            return page(StatusCode::BAD_REQUEST, page_of.render());
        }
    };
    let (shown, next_after) = match filter.shown(&state, actor, ins, period).await {
        Ok(found) => found,
        Err(e) => return super::service_error_page(e),
    };
    let proofs = match state.carnet.prove_entries(&shown).await {
        Ok(p) => p,
        Err(e) => return super::service_error_page(e),
    };
    let unproven = proofs.included.iter().filter(|ok| !**ok).count();
    let root: String = proofs.head.head.root_hash.iter().take(8).map(|b| format!("{b:02x}")).collect();
    let fingerprint = root.as_bytes().chunks(4).filter_map(|c| std::str::from_utf8(c).ok()).collect::<Vec<_>>().join(" ");
    let signed_at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(proofs.head.head.timestamp_ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let ledger = LedgerCheck {
        sound: proofs.head_signed && unproven == 0,
        head_signed: proofs.head_signed,
        size: words::counted(proofs.head.head.tree_size, "entrée", "entrées", "aucune entrée"),
        signed_at: words::date_time(signed_at),
        fingerprint,
        unproven,
    };
    let entries = shown
        .iter()
        .zip(&proofs.included)
        .map(|(e, proven)| AccessLine { proven: Some(*proven && proofs.head_signed), ..access_line(e, actor) })
        .collect();
    let older = next_after.map(|before| filter.older(before));
    let represented = super::record::represented(&state, &session).await;
    let errors = FieldErrors::default();
    let page_of =
        History { page: "historique", csrf: session.csrf_token.clone(), represented, entries, filter, errors, older, ledger: Some(ledger) };
    page(StatusCode::OK, page_of.render())
}

/// `/historique/preuves`: the receipts of the entries the history page shows with the same
/// filter — the signed tree head and each entry's inclusion path — as a file the person keeps
/// and can check without Carnet (`carnet ledger check-receipt`).
pub async fn history_receipts(
    State(state): State<AppState>,
    session: PortalSession,
    axum::extract::Query(filter): axum::extract::Query<HistoryFilter>,
) -> Response {
    let actor = &session.actor;
    let Some(ins) = session.record() else { return super::not_found_page() };
    let Ok(period) = filter.period() else {
        return super::error_page(
            StatusCode::BAD_REQUEST,
            "Filtre invalide",
            "Les dates du filtre ne sont pas valides : revenez à l’historique des accès et choisissez-les dans le calendrier.",
        );
    };
    let receipts = match filter.shown(&state, actor, ins, period).await {
        Ok((shown, _)) => state.carnet.access_receipts(&shown).await,
        Err(e) => Err(e),
    };
    let receipts = match receipts {
        Ok(r) => r,
        Err(e) => return super::service_error_page(e),
    };
    let Ok(body) = serde_json::to_vec_pretty(&receipts) else {
        return super::error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Erreur interne",
            "Le téléchargement a échoué. Réessayez dans un instant.",
        );
    };
    let day = state.carnet.clock().now().date();
    let mut response = Response::new(axum::body::Body::from(body));
    let headers = response.headers_mut();
    headers.insert(axum::http::header::CONTENT_TYPE, axum::http::HeaderValue::from_static("application/json"));
    if let Ok(v) = axum::http::HeaderValue::from_str(&format!("attachment; filename=\"preuves-acces-{day}.json\"")) {
        headers.insert(axum::http::header::CONTENT_DISPOSITION, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::merged;

    fn w(s: &str, n: usize) -> (String, usize) {
        (s.to_owned(), n)
    }

    #[test]
    fn a_visits_reads_share_their_verb_and_say_what_repeated() {
        assert_eq!(merged(vec![w("a consulté l’état du dossier", 1)]), "a consulté l’état du dossier");
        assert_eq!(
            merged(vec![
                w("a consulté l’état du dossier", 1),
                w("a consulté la liste de vos documents", 1),
                w("a consulté votre profil médical", 1)
            ]),
            "a consulté l’état du dossier, la liste de vos documents et votre profil médical"
        );
        assert_eq!(
            merged(vec![w("a consulté un document", 3), w("a déposé un document", 1)]),
            "a consulté un document (3\u{a0}fois) et a déposé un document"
        );
    }
}
