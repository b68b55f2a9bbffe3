//! *Mes documents*: the list (grouped by month of the act, replaced versions folded under the
//! version in force, filters by a GET form), a document's page (its metadata in words, an inline
//! viewer, the download, its versions, *Masquer aux professionnels*) and *Ajouter un document*
//! (the person's own deposit, streamed like `/api`'s).
//!
//! Every read goes through the same service methods as `/api` (`visible_documents`,
//! `visible_document` with the action's `DocumentAction`, `set_labels`, `submit_document`), so the
//! gate, the scopes and the ledger apply unchanged. The pages are about `session.record()`: a
//! document of another record answers like one that does not exist.

use std::time::Duration;

use askama::Template;
use axum::Extension;
use axum::extract::{FromRequest, Multipart, Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use bytes::Bytes;
use carnet_domain::codes::{CLASS_SYSTEM, Code, FORMAT_SYSTEM_IHE};
use carnet_domain::document::{DocumentSubmission, XdsMetadata};
use carnet_domain::{DocumentId, DocumentMeta, DocumentStatus, Ins, SecurityLabel};
use carnet_service::{ContentError, DocumentAction, DocumentView, ServiceError, Submitted, Visible};

use crate::routes::documents::UploadPace;
use sha2::Digest;

use super::session::{CSRF_FIELD, PortalSession};
use super::{page, words};
use crate::AppState;

/// The document page's own policy: the page's, plus frames of Carnet's own content route.
pub const DOCUMENT_PAGE_CSP: &str =
    "default-src 'none'; style-src 'self'; img-src 'self'; frame-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The content route's policy: the bytes are someone else's, so they run sandboxed (no script,
/// an opaque origin), load nothing, and only Carnet's own pages may frame them. Inline style
/// only for what the browser's own viewers draw.
pub const CONTENT_CSP: &str = "sandbox; default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; frame-ancestors 'self'";

/// A PDF's policy in the viewer. Browsers refuse to draw a PDF in a sandboxed document, so a
/// PDF is not sandboxed: served as `application/pdf` with `nosniff`, its bytes go to the
/// browser's own PDF viewer, which runs in an origin of its own (never Carnet's), and this policy
/// lets that viewer load nothing but the document.
pub const PDF_CONTENT_CSP: &str = "default-src 'none'; object-src 'self'; frame-ancestors 'self'";

/// The formats the viewer shows in the page (the others are downloaded).
pub const VIEWABLE: [&str; 4] = ["application/pdf", "image/jpeg", "image/png", "text/plain"];

pub fn essence(mime: &str) -> String {
    mime.split(';').next().unwrap_or_default().trim().to_ascii_lowercase()
}

/// The date of the act: the service's rule, the same as `/api`'s timeline and search.
pub(super) use carnet_service::act_date;

pub(super) fn type_words(state: &AppState, meta: &DocumentMeta) -> String {
    state
        .carnet
        .config()
        .codes
        .find_type(&meta.xds.type_code)
        .map_or_else(|| "Type de document non précisé".to_owned(), |t| t.display.clone())
}

fn class_words(state: &AppState, meta: &DocumentMeta) -> String {
    state.carnet.config().codes.find_class(&meta.xds.class_code).map_or_else(|| "Classe non précisée".to_owned(), |c| c.display.clone())
}

/// Who wrote or deposited it, in words: a name when the metadata carries one, else what the
/// reference says of them (never the reference itself: it may be an INS).
fn person_words(session: &PortalSession, reference: &str, name: Option<&carnet_domain::document::PersonName>) -> String {
    if session.actor.has_reference(reference) {
        return "Vous".to_owned();
    }
    if let Some(name) = name {
        let full: Vec<&str> = [name.given.as_deref(), name.family.as_deref()].into_iter().flatten().collect();
        if !full.is_empty() {
            return full.join(" ");
        }
    }
    if reference.starts_with("ins:") {
        "Le patient lui-même".to_owned()
    } else if reference.starts_with("rpps:") {
        "Un professionnel de santé".to_owned()
    } else {
        "Un logiciel ou un organisme".to_owned()
    }
}

/// An opaque key for an author, for the filter's URL: never the reference (an INS for a patient).
fn author_key(reference: &str) -> String {
    carnet_domain::hex::encode(&sha2::Sha256::digest(reference.as_bytes())[..8])
}

/// The notes of a line: labels and, unless in force, the status, in words.
pub fn notes(meta: &DocumentMeta) -> Vec<&'static str> {
    let mut notes: Vec<&'static str> = meta.labels.iter().map(|l| words::label(*l)).collect();
    if meta.status != DocumentStatus::Current {
        notes.push(words::status(meta.status));
    }
    if meta.archived {
        notes.push(words::ARCHIVED);
    }
    notes
}

/// The record the pages are about (`None`: the person speaks for none, the pages answer 404).
fn record_of(session: &PortalSession) -> Option<Ins> {
    session.record().cloned()
}

// ---------------------------------------------------------------------------------------------
// Mes documents

/// A link to another version of a document.
pub struct VersionLink {
    pub id: String,
    pub label: String,
    pub current: bool,
}

/// A line of the list: a document in force (or the latest visible version) and its older ones.
pub struct Line {
    pub id: String,
    pub title: String,
    pub kind: String,
    pub date: String,
    pub author: String,
    pub notes: Vec<&'static str>,
    /// Older versions, newest first (empty: only one version).
    pub older: Vec<VersionLink>,
}

pub struct MonthGroup {
    pub month: String,
    pub lines: Vec<Line>,
}

/// A choice of a filter's list.
pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "documents.html")]
struct ListPage {
    page: &'static str,
    csrf: String,
    represented: Option<super::record::Represented>,
    groups: Vec<MonthGroup>,
    /// "12 documents, dont 1 masqué aux professionnels".
    summary: String,
    /// No document at all (not: none matching the filters).
    empty_record: bool,
    filtered: bool,
    classes: Vec<Choice>,
    types: Vec<Choice>,
    authors: Vec<Choice>,
    from: String,
    to: String,
    from_error: Option<&'static str>,
    to_error: Option<&'static str>,
    hidden_only: bool,
    /// "Documents 51 à 100 sur 200", when the list takes several pages.
    range: Option<String>,
    /// Query strings of the newer and older pages.
    newer: Option<String>,
    older: Option<String>,
}

/// Documents per page of the list (the page stays light, and readable on a phone).
const PER_PAGE: usize = 50;

/// The list's filters as typed (kept as such to be shown again).
#[derive(Default)]
struct Filters {
    class: String,
    kind: String,
    author: String,
    from: String,
    to: String,
    hidden_only: bool,
    /// From 1.
    page: usize,
}

impl Filters {
    fn of(query: Option<&str>) -> Filters {
        let pairs: Vec<(String, String)> = query.and_then(|q| serde_urlencoded::from_str(q).ok()).unwrap_or_default();
        let mut f = Filters::default();
        for (k, v) in pairs {
            let v = v.trim().to_owned();
            match k.as_str() {
                "classe" => f.class = v,
                "type" => f.kind = v,
                "auteur" => f.author = v,
                "du" => f.from = v,
                "au" => f.to = v,
                "masques" => f.hidden_only = !v.is_empty(),
                "page" => f.page = v.parse().unwrap_or(1),
                _ => {}
            }
        }
        f.page = f.page.max(1);
        f
    }

    /// The query string of page `page` with the same filters.
    fn page_query(&self, page: usize) -> String {
        let mut q: Vec<(&str, &str)> = Vec::new();
        for (k, v) in [("classe", &self.class), ("type", &self.kind), ("auteur", &self.author), ("du", &self.from), ("au", &self.to)] {
            if !v.is_empty() {
                q.push((k, v));
            }
        }
        if self.hidden_only {
            q.push(("masques", "1"));
        }
        let page = page.to_string();
        q.push(("page", &page));
        serde_urlencoded::to_string(&q).unwrap_or_default()
    }

    fn any(&self) -> bool {
        !(self.class.is_empty() && self.kind.is_empty() && self.author.is_empty() && self.from.is_empty() && self.to.is_empty())
            || self.hidden_only
    }
}

pub(super) const DATE_HELP: &str = "Cette date n’existe pas. Écrivez-la sous la forme 12/03/2026.";
const RANGE_HELP: &str = "Cette date est avant la date «\u{a0}Du\u{a0}». Choisissez une date après celle-ci.";

/// A date as a browser's date field sends it (`2026-03-12`) or as a person types it (`12/03/2026`).
pub fn parse_day(raw: &str) -> Option<time::Date> {
    let (y, m, d) = if let Some((y, rest)) = raw.split_once('-') {
        let (m, d) = rest.split_once('-')?;
        (y, m, d)
    } else {
        let mut parts = raw.split('/');
        let (d, m, y) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        (y, m, d)
    };
    let year: i32 = y.trim().parse().ok().filter(|y| (1900..=9999).contains(y))?;
    let month = time::Month::try_from(m.trim().parse::<u8>().ok()?).ok()?;
    time::Date::from_calendar_date(year, month, d.trim().parse().ok()?).ok()
}

/// The newest visible version of each chain first, with its older visible versions folded under
/// it: the service's folding, the same as `/api`'s timeline.
fn fold_versions(views: Vec<DocumentView>) -> Vec<(DocumentView, Vec<DocumentView>)> {
    carnet_service::fold_versions(views, |v| &v.meta)
}

/// `Mars 2026`: a heading starts with a capital.
fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

fn version_label(meta: &DocumentMeta) -> String {
    format!("Version déposée le {}", words::date_time(meta.submitted_at))
}

/// A list of documents as the pages show it: grouped by month of the act, replaced versions
/// folded, filtered and paged as `query` asks (the patient's *Mes documents*, a professional's
/// view of a record).
pub struct DocumentList {
    pub groups: Vec<MonthGroup>,
    /// "12 documents, dont 1 masqué aux professionnels".
    pub summary: String,
    /// No document at all (not: none matching the filters).
    pub empty_record: bool,
    pub filtered: bool,
    pub classes: Vec<Choice>,
    pub types: Vec<Choice>,
    pub authors: Vec<Choice>,
    pub from: String,
    pub to: String,
    pub from_error: Option<&'static str>,
    pub to_error: Option<&'static str>,
    pub hidden_only: bool,
    /// "Documents 51 à 100 sur 200", when the list takes several pages.
    pub range: Option<String>,
    /// Query strings of the newer and older pages.
    pub newer: Option<String>,
    pub older: Option<String>,
}

/// `/documents`: the documents of the record the person may see.
pub async fn list(State(state): State<AppState>, session: PortalSession, RawQuery(query): RawQuery) -> Response {
    let Some(ins) = record_of(&session) else { return super::not_found_page() };
    let views = match visible_views(&state, &session, &ins).await {
        Ok(v) => v,
        Err(e) => return super::service_error_page(e),
    };
    let list = document_list(&state, &session, views, query.as_deref());
    let status = if list.from_error.is_some() || list.to_error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    let rendered = ListPage {
        page: "documents",
        csrf: session.csrf_token.clone(),
        represented: super::record::represented(&state, &session).await,
        groups: list.groups,
        summary: list.summary,
        empty_record: list.empty_record,
        filtered: list.filtered,
        classes: list.classes,
        types: list.types,
        authors: list.authors,
        from: list.from,
        to: list.to,
        from_error: list.from_error,
        to_error: list.to_error,
        hidden_only: list.hidden_only,
        range: list.range,
        newer: list.newer,
        older: list.older,
    }
    .render();
    page(status, rendered)
}

/// The list of `views` (the documents the gate let through) as the pages show it.
pub fn document_list(state: &AppState, session: &PortalSession, views: Vec<DocumentView>, query: Option<&str>) -> DocumentList {
    let filters = Filters::of(query);
    let empty_record = views.is_empty();
    let mut chains = fold_versions(views);
    chains.sort_by_key(|(head, _)| std::cmp::Reverse((act_date(&head.meta), head.meta.submitted_at)));

    let from = (!filters.from.is_empty()).then(|| parse_day(&filters.from));
    let to = (!filters.to.is_empty()).then(|| parse_day(&filters.to));
    let from_error = matches!(from, Some(None)).then_some(DATE_HELP);
    let to_error = match (from, to) {
        (_, Some(None)) => Some(DATE_HELP),
        (Some(Some(f)), Some(Some(t))) if t < f => Some(RANGE_HELP),
        _ => None,
    };
    // An invalid bound does not filter: the list stays whole and the field says why.
    let (from, to) = if to_error.is_some() || from_error.is_some() { (None, None) } else { (from.flatten(), to.flatten()) };

    let mut classes: Vec<Choice> = Vec::new();
    let mut types: Vec<Choice> = Vec::new();
    let mut authors: Vec<Choice> = Vec::new();
    for (head, _) in &chains {
        let m = &head.meta;
        if !classes.iter().any(|c| c.value == m.xds.class_code.code) {
            let selected = filters.class == m.xds.class_code.code;
            classes.push(Choice { value: m.xds.class_code.code.clone(), label: class_words(state, m), selected });
        }
        if !types.iter().any(|c| c.value == m.xds.type_code.code) {
            let selected = filters.kind == m.xds.type_code.code;
            types.push(Choice { value: m.xds.type_code.code.clone(), label: type_words(state, m), selected });
        }
        let key = author_key(&m.author);
        if !authors.iter().any(|c| c.value == key) {
            let selected = filters.author == key;
            authors.push(Choice { label: person_words(session, &m.author, m.author_name.as_ref()), value: key, selected });
        }
    }
    for list in [&mut classes, &mut types, &mut authors] {
        list.sort_by(|a, b| a.label.cmp(&b.label));
    }

    let matches = |m: &DocumentMeta| {
        let day = words::day_in_paris(act_date(m));
        (filters.class.is_empty() || filters.class == m.xds.class_code.code)
            && (filters.kind.is_empty() || filters.kind == m.xds.type_code.code)
            && (filters.author.is_empty() || filters.author == author_key(&m.author))
            && from.is_none_or(|f| day >= f)
            && to.is_none_or(|t| day <= t)
            && (!filters.hidden_only || m.labels.contains(&SecurityLabel::MasquePs))
    };
    let total = chains.len() as u64;
    let shown: Vec<_> = chains.into_iter().filter(|(head, _)| matches(&head.meta)).collect();
    let hidden = shown.iter().filter(|(h, _)| h.meta.labels.contains(&SecurityLabel::MasquePs)).count() as u64;
    let mut summary = words::counted(shown.len() as u64, "document", "documents", "Aucun document");
    if hidden > 0 {
        summary.push_str(&format!(", dont {} aux professionnels", words::counted(hidden, "masqué", "masqués", "")));
    }
    if filters.any() && !empty_record {
        summary.push_str(&format!(" (sur {} au total)", words::count(total)));
    }
    summary.push('.');

    // The newest first, a page at a time (a page past the end shows the last).
    let pages = shown.len().div_ceil(PER_PAGE).max(1);
    let at = filters.page.min(pages);
    let range = (pages > 1).then(|| {
        let last = (at * PER_PAGE).min(shown.len());
        format!(
            "Documents {} à {} sur {}",
            words::count(((at - 1) * PER_PAGE + 1) as u64),
            words::count(last as u64),
            words::count(shown.len() as u64)
        )
    });
    let newer = (at > 1).then(|| filters.page_query(at - 1));
    let older_page = (at < pages).then(|| filters.page_query(at + 1));
    let mut groups: Vec<MonthGroup> = Vec::new();
    for (head, older) in shown.into_iter().skip((at - 1) * PER_PAGE).take(PER_PAGE) {
        let month = capitalized(&words::month(act_date(&head.meta)));
        let line = Line {
            id: head.meta.id.to_string(),
            title: head.title.clone().unwrap_or_else(|| "Document sans titre".to_owned()),
            kind: type_words(state, &head.meta),
            date: words::date(act_date(&head.meta)),
            author: person_words(session, &head.meta.author, head.meta.author_name.as_ref()),
            notes: notes(&head.meta),
            older: older.iter().map(|v| VersionLink { id: v.meta.id.to_string(), label: version_label(&v.meta), current: false }).collect(),
        };
        match groups.last_mut() {
            Some(g) if g.month == month => g.lines.push(line),
            _ => groups.push(MonthGroup { month, lines: vec![line] }),
        }
    }
    DocumentList {
        groups,
        summary,
        empty_record,
        filtered: filters.any(),
        classes,
        types,
        authors,
        from: filters.from,
        to: filters.to,
        from_error,
        to_error,
        hidden_only: filters.hidden_only,
        range,
        newer,
        older: older_page,
    }
}

async fn visible_views(state: &AppState, session: &PortalSession, ins: &Ins) -> Result<Vec<DocumentView>, ServiceError> {
    let visible = state.carnet.visible_documents(&session.actor, ins).await?;
    state.carnet.views(&visible).await
}

// ---------------------------------------------------------------------------------------------
// A document's page, its content and its download

/// A labelled fact of the document page.
pub struct Fact {
    pub name: &'static str,
    pub value: String,
}

#[derive(Template)]
#[template(path = "documents_fiche.html")]
struct DocumentPage {
    page: &'static str,
    csrf: String,
    represented: Option<super::record::Represented>,
    id: String,
    title: String,
    facts: Vec<Fact>,
    notes: Vec<&'static str>,
    /// What the status region says after an action (`?fait=`).
    done: Option<&'static str>,
    viewable: bool,
    /// Shown by the browser's PDF viewer, which refuses a sandboxed frame (see `PDF_CONTENT_CSP`).
    pdf: bool,
    format: &'static str,
    hidden: bool,
    versions: Vec<VersionLink>,
}

/// A document of the session's record through the gate for `action`, or the page to answer
/// with: another record's document is answered like a missing one.
async fn document_of(state: &AppState, session: &PortalSession, raw_id: &str, action: DocumentAction) -> Result<Visible, Response> {
    let ins = record_of(session).ok_or_else(super::not_found_page)?;
    document_in(state, session, &ins, raw_id, action).await
}

/// A document of the record `ins` through the gate for `action`, or the page to answer with: a
/// document of another record is answered like a missing one.
pub async fn document_in(
    state: &AppState,
    session: &PortalSession,
    ins: &Ins,
    raw_id: &str,
    action: DocumentAction,
) -> Result<Visible, Response> {
    let Ok(id) = DocumentId::parse(raw_id) else { return Err(super::not_found_page()) };
    let visible = state.carnet.visible_document(&session.actor, id, action).await.map_err(super::service_error_page)?;
    if visible.meta().ins != *ins {
        return Err(super::not_found_page());
    }
    Ok(visible)
}

/// `/documents/{id}`.
pub async fn show(State(state): State<AppState>, session: PortalSession, Path(id): Path<String>, RawQuery(query): RawQuery) -> Response {
    let visible = match document_of(&state, &session, &id, DocumentAction::Read).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let view = match state.carnet.view(&visible).await {
        Ok(v) => v,
        Err(e) => return super::service_error_page(e),
    };
    let m = &view.meta;
    let versions = match versions_of(&state, &session, m).await {
        Ok(v) => v,
        Err(e) => return super::service_error_page(e),
    };
    let mut facts = document_facts(&state, &session, m).await;
    let labels = if m.labels.is_empty() {
        "Visible par vous et par les professionnels que vous autorisez".to_owned()
    } else {
        m.labels.iter().map(|l| words::label(*l)).collect::<Vec<_>>().join(", ")
    };
    facts.push(Fact { name: "Visibilité", value: labels });
    // What was just done: a fixed flag of the redirect after a form (anything else is ignored).
    let pairs: Vec<(String, String)> = query.as_deref().and_then(|q| serde_urlencoded::from_str(q).ok()).unwrap_or_default();
    let done = match pairs.iter().find(|(k, _)| k == "fait").map(|(_, v)| v.as_str()) {
        Some("masque") => Some("Document masqué aux professionnels. Votre médecin traitant et l’auteur du document le voient toujours."),
        Some("visible") => Some("Le document n’est plus masqué\u{a0}: les professionnels que vous autorisez peuvent de nouveau le voir."),
        Some("ajoute") => Some("Document ajouté."),
        _ => None,
    };
    let rendered = DocumentPage {
        page: "documents",
        csrf: session.csrf_token.clone(),
        represented: super::record::represented(&state, &session).await,
        id: m.id.to_string(),
        title: view.title.clone().unwrap_or_else(|| "Document sans titre".to_owned()),
        notes: notes(m),
        facts,
        done,
        viewable: VIEWABLE.contains(&essence(&m.xds.mime_type).as_str()),
        pdf: essence(&m.xds.mime_type) == "application/pdf",
        format: words::format(&m.xds.mime_type),
        hidden: m.labels.contains(&SecurityLabel::MasquePs),
        versions,
    }
    .render();
    let mut response = page(StatusCode::OK, rendered);
    // This page only frames the content route (`page_headers` keeps a policy already set).
    response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(DOCUMENT_PAGE_CSP));
    response
}

/// What the document page tells of a document, in words (its visibility aside: said to each
/// reader in their own words).
pub async fn document_facts(state: &AppState, session: &PortalSession, m: &DocumentMeta) -> Vec<Fact> {
    let mut facts = vec![
        Fact { name: "Type", value: type_words(state, m) },
        Fact { name: "Classe", value: class_words(state, m) },
        Fact {
            name: "Date de l’acte",
            value: m.xds.service_start.or(m.xds.authored_at).map_or_else(|| "Non précisée".to_owned(), words::date),
        },
        Fact { name: "Déposé le", value: words::date_time(m.submitted_at) },
        Fact { name: "Déposé par", value: person_words(session, &m.deposited_by, None) },
        Fact { name: "Auteur", value: person_words(session, &m.author, m.author_name.as_ref()) },
    ];
    if let Some(organisation) = organisation_of(state, session, &m.author).await {
        facts.push(Fact { name: "Établissement", value: organisation });
    }
    facts.push(Fact { name: "Format", value: words::format(&m.xds.mime_type).to_owned() });
    facts.push(Fact { name: "Taille", value: words::size(m.size) });
    let status = if m.archived {
        format!("{}, {}", words::status(m.status), words::ARCHIVED.to_lowercase())
    } else {
        words::status(m.status).to_owned()
    };
    facts.push(Fact { name: "État", value: status });
    facts
}

/// The versions of the chain `meta` belongs to that the person may see, newest first (none
/// asked for a document that neither replaces nor was replaced).
pub async fn versions_of(state: &AppState, session: &PortalSession, meta: &DocumentMeta) -> Result<Vec<VersionLink>, ServiceError> {
    if meta.replaces.is_none() && meta.status != DocumentStatus::Superseded {
        return Ok(vec![]);
    }
    let views = visible_views(state, session, &meta.ins).await?;
    let chain =
        fold_versions(views).into_iter().find(|(head, older)| head.meta.id == meta.id || older.iter().any(|v| v.meta.id == meta.id));
    Ok(chain
        .map(|(head, older)| {
            std::iter::once(head)
                .chain(older)
                .map(|v| VersionLink { id: v.meta.id.to_string(), label: version_label(&v.meta), current: v.meta.id == meta.id })
                .collect()
        })
        .unwrap_or_default())
}

/// The author's profession and organisation from the directory, when the author is a
/// professional it knows.
async fn organisation_of(state: &AppState, session: &PortalSession, author: &str) -> Option<String> {
    let rpps = author.strip_prefix("rpps:")?.parse().ok()?;
    let found = state.carnet.find_professional(&session.actor, &rpps).await.ok()?;
    let profession = found.profession.label_fr();
    Some(match found.organisation {
        Some(f) => format!("{profession}, établissement FINESS {f}"),
        None => profession.to_owned(),
    })
}

/// A file name safe in a header and on any disk: the title's ASCII letters and digits.
fn file_name(title: Option<&str>, mime: &str) -> String {
    let stem: String = title
        .unwrap_or("document")
        .chars()
        .map(|c| match c {
            'à' | 'â' | 'ä' | 'á' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'î' | 'ï' => 'i',
            'ô' | 'ö' => 'o',
            'ù' | 'û' | 'ü' => 'u',
            'ç' => 'c',
            'À' | 'Â' => 'A',
            'É' | 'È' | 'Ê' => 'E',
            'Ç' => 'C',
            c if c.is_ascii_alphanumeric() => c,
            _ => '-',
        })
        .collect::<String>()
        .split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    let stem: String = stem.chars().take(60).collect();
    let stem = if stem.is_empty() { "document".to_owned() } else { stem };
    let extension = match essence(mime).as_str() {
        "application/pdf" => "pdf",
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "text/plain" => "txt",
        "text/xml" | "application/xml" | "application/hl7-cda+xml" => "xml",
        _ => "bin",
    };
    format!("{stem}.{extension}")
}

/// The bytes of a document of the session's record, with `/api`'s protective headers and a
/// `Content-Disposition` of `disposition`.
async fn bytes_of(state: &AppState, session: &PortalSession, id: &str, headers: &HeaderMap, disposition: &str) -> Response {
    let Some(ins) = record_of(session) else { return super::not_found_page() };
    bytes_in(state, session, &ins, id, headers, disposition).await
}

/// The bytes of a document of the record `ins` (see `bytes_of`).
pub async fn bytes_in(state: &AppState, session: &PortalSession, ins: &Ins, id: &str, headers: &HeaderMap, disposition: &str) -> Response {
    let visible = match document_in(state, session, ins, id, DocumentAction::Retrieve).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let title = match state.carnet.titles(std::slice::from_ref(&visible)).await {
        Ok(mut t) => t.pop().flatten(),
        Err(e) => return super::service_error_page(e),
    };
    let mut response = match crate::routes::documents::content_response(state, &visible, headers).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(status = %e.status, detail = %e.detail, "a document's content could not be served");
            return super::error_page(StatusCode::SERVICE_UNAVAILABLE, "Document momentanément indisponible", "Réessayez dans un instant.");
        }
    };
    let mime = &visible.meta().xds.mime_type;
    let h = response.headers_mut();
    if essence(mime) == "text/plain" && !mime.contains("charset") {
        // Carnet's own text deposits are checked UTF-8; a browser would guess otherwise.
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    }
    if let Ok(v) = HeaderValue::from_str(&format!("{disposition}; filename=\"{}\"", file_name(title.as_deref(), mime))) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    let policy = if disposition == "inline" && essence(mime) == "application/pdf" { PDF_CONTENT_CSP } else { CONTENT_CSP };
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(policy));
    // Framed by the document page only (`page_headers` keeps it).
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("SAMEORIGIN"));
    response
}

/// `/documents/{id}/contenu`: what the document page's viewer frames.
pub async fn content(State(state): State<AppState>, session: PortalSession, Path(id): Path<String>, headers: HeaderMap) -> Response {
    bytes_of(&state, &session, &id, &headers, "inline").await
}

/// `/documents/{id}/telecharger`.
pub async fn download(State(state): State<AppState>, session: PortalSession, Path(id): Path<String>, headers: HeaderMap) -> Response {
    bytes_of(&state, &session, &id, &headers, "attachment").await
}

#[derive(serde::Deserialize)]
pub struct VisibilityForm {
    /// `oui`: hide from professionals; anything else: show again.
    masquer: String,
}

/// `POST /documents/{id}/visibilite`: *Masquer aux professionnels* / *Ne plus masquer*.
pub async fn visibility(
    State(state): State<AppState>,
    Path(id): Path<String>,
    super::session::PortalForm { session, form }: super::session::PortalForm<VisibilityForm>,
) -> Response {
    // The labels a professional set stay as they are: only MASQUE_PS changes.
    let visible = match document_of(&state, &session, &id, DocumentAction::Read).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let hide = form.masquer == "oui";
    let meta = visible.meta();
    let mut labels: Vec<SecurityLabel> = meta.labels.iter().copied().filter(|l| *l != SecurityLabel::MasquePs).collect();
    if hide {
        labels.push(SecurityLabel::MasquePs);
    }
    match state.carnet.set_labels(&session.actor, meta.id, labels).await {
        Ok(_) => Redirect::to(&format!("/documents/{}?fait={}", meta.id, if hide { "masque" } else { "visible" })).into_response(),
        Err(e) => super::service_error_page(e),
    }
}

// ---------------------------------------------------------------------------------------------
// Ajouter un document

#[derive(Template)]
#[template(path = "documents_ajouter.html")]
struct AddPage {
    page: &'static str,
    csrf: String,
    represented: Option<super::record::Represented>,
    title: String,
    date: String,
    today: String,
    types: Vec<Choice>,
    errors: AddErrors,
    max_size: String,
}

/// What is wrong with a deposit, by field.
#[derive(Default)]
pub struct AddErrors {
    /// Not about one field: the record refused the deposit.
    pub general: Option<&'static str>,
    pub title: Option<&'static str>,
    pub date: Option<&'static str>,
    pub kind: Option<&'static str>,
    pub file: Option<String>,
}

impl AddErrors {
    fn any(&self) -> bool {
        self.general.is_some() || self.title.is_some() || self.date.is_some() || self.kind.is_some() || self.file.is_some()
    }
}

/// The type a patient's deposit has unless they choose another: "Autre document du patient".
const DEFAULT_PATIENT_TYPE: &str = "EXPPAT_2";

/// The form's values as typed.
#[derive(Default)]
struct AddValues {
    title: String,
    date: String,
    kind: String,
}

pub(super) fn max_deposit(state: &AppState, http_limit: usize) -> u64 {
    state.carnet.config().max_document_bytes.min(http_limit as u64)
}

async fn add_page(
    state: &AppState,
    session: &PortalSession,
    status: StatusCode,
    values: AddValues,
    errors: AddErrors,
    limit: u64,
) -> Response {
    let chosen = if values.kind.is_empty() { DEFAULT_PATIENT_TYPE } else { values.kind.as_str() };
    let types = state
        .carnet
        .config()
        .codes
        .patient_deposit_types()
        .map(|t| Choice { value: t.code.code.clone(), label: t.display.clone(), selected: t.code.code == chosen })
        .collect();
    let today = words::day_in_paris(state.carnet.clock().now()).to_string();
    let rendered = AddPage {
        page: "documents",
        csrf: session.csrf_token.clone(),
        represented: super::record::represented(state, session).await,
        title: values.title,
        date: values.date,
        today,
        types,
        errors,
        max_size: words::size(limit),
    }
    .render();
    page(status, rendered)
}

/// The largest deposit body the portal takes (the HTTP limit of `/api`'s uploads), counted by
/// the handler itself so that a body over it still gets its French page.
#[derive(Debug, Clone, Copy)]
pub struct UploadLimit(pub usize);

/// `GET /documents/ajouter`.
pub async fn add_form(
    State(state): State<AppState>,
    Extension(UploadLimit(http_limit)): Extension<UploadLimit>,
    session: PortalSession,
) -> Response {
    if record_of(&session).is_none() {
        return super::not_found_page();
    }
    let limit = max_deposit(&state, http_limit);
    add_page(&state, &session, StatusCode::OK, AddValues::default(), AddErrors::default(), limit).await
}

/// What a file is, by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Pdf,
    Jpeg,
    Png,
    Text,
}

impl Kind {
    pub(super) fn mime(self) -> &'static str {
        match self {
            Kind::Pdf => "application/pdf",
            Kind::Jpeg => "image/jpeg",
            Kind::Png => "image/png",
            Kind::Text => "text/plain",
        }
    }

    pub(super) fn words(self) -> &'static str {
        match self {
            Kind::Pdf => "un PDF",
            Kind::Jpeg => "une image JPEG",
            Kind::Png => "une image PNG",
            Kind::Text => "un texte",
        }
    }

    /// What the file says it is: its name's extension, else the type the browser sent.
    pub(super) fn declared(file_name: &str, content_type: Option<&str>) -> Option<Kind> {
        let extension = file_name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
        match extension.as_deref() {
            Some("pdf") => Some(Kind::Pdf),
            Some("jpg" | "jpeg") => Some(Kind::Jpeg),
            Some("png") => Some(Kind::Png),
            Some("txt" | "text") => Some(Kind::Text),
            Some(_) => None,
            None => match content_type.map(essence).as_deref() {
                Some("application/pdf") => Some(Kind::Pdf),
                Some("image/jpeg") => Some(Kind::Jpeg),
                Some("image/png") => Some(Kind::Png),
                Some("text/plain") => Some(Kind::Text),
                _ => None,
            },
        }
    }

    /// Whether the bytes begin as this kind's do. Text: UTF-8 without control characters other
    /// than line breaks and tabs (a cut multi-byte character at the end of the sample is fine).
    pub(super) fn matches(self, head: &[u8]) -> bool {
        match self {
            Kind::Pdf => head.starts_with(b"%PDF-"),
            Kind::Jpeg => head.starts_with(&[0xFF, 0xD8, 0xFF]),
            Kind::Png => head.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]),
            Kind::Text => {
                let valid = match std::str::from_utf8(head) {
                    Ok(s) => s,
                    Err(e) if e.error_len().is_none() => std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or_default(),
                    Err(_) => return false,
                };
                valid.chars().all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t' | '\u{c}'))
            }
        }
    }
}

/// How much of the file is looked at to tell its kind.
pub(super) const SNIFF_BYTES: usize = 1024;
/// A text field of the form is short, and the form has few.
const FIELD_LIMIT: usize = 8 * 1024;
pub(super) const MAX_FIELDS: usize = 16;
/// A pause this long in the middle of an upload ends it (as on `/api`).
const UPLOAD_IDLE: Duration = Duration::from_secs(60);

/// A deposit whose body is not the form's: nothing was stored.
pub(super) fn unreadable() -> Response {
    super::error_page(
        StatusCode::BAD_REQUEST,
        "Envoi illisible",
        "Ce formulaire n’a pas pu être lu\u{a0}: rien n’a été ajouté. Revenez à la page précédente et recommencez.",
    )
}

/// A deposit arriving too slowly, or for too long (`UploadPace`): nothing was stored.
pub(super) fn too_slow() -> Response {
    super::error_page(
        StatusCode::REQUEST_TIMEOUT,
        "Envoi trop lent",
        "Le fichier arrivait trop lentement\u{a0}: l’envoi a été arrêté et rien n’a été ajouté. Réessayez avec une meilleure connexion, ou un fichier plus petit.",
    )
}

pub(super) fn too_large(limit: u64) -> String {
    format!(
        "Ce fichier est trop volumineux\u{a0}: la taille maximale est de {}. Réduisez-le (par exemple en le numérisant en qualité moindre) puis réessayez.",
        words::size(limit)
    )
}

/// What a deposit request said of itself before its body is read.
pub(super) struct FormRequest {
    pub method: axum::http::Method,
    pub headers: HeaderMap,
    /// The body's `Content-Length`, if the browser sent one.
    pub declared_length: Option<u64>,
}

/// The body of a deposit form as `multipart/form-data`, and what the request said of itself
/// (for the CSRF check and the size limit); a body that is not a form answers `unreadable`.
pub(super) async fn open_form(state: &AppState, request: Request) -> Result<(Multipart, FormRequest), Response> {
    let (method, headers) = (request.method().clone(), request.headers().clone());
    let declared_length: Option<u64> = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    let multipart = Multipart::from_request(request, state).await.map_err(|_| unreadable())?;
    Ok((multipart, FormRequest { method, headers, declared_length }))
}

/// A text field of a deposit form, held to the pace of the whole body: a field longer than a
/// text field may be, or an interrupted one, answers `unreadable`; a slow one `too_slow`.
pub(super) async fn read_text(field: &mut axum::extract::multipart::Field<'_>, pace: &mut Paced) -> Result<String, Response> {
    let mut raw = Vec::new();
    loop {
        match tokio::time::timeout(UPLOAD_IDLE, field.chunk()).await {
            Ok(Ok(Some(piece))) => {
                raw.extend_from_slice(&piece);
                pace.fields_bytes += piece.len() as u64;
                if raw.len() > FIELD_LIMIT {
                    return Err(unreadable());
                }
                if pace.check(0).is_err() {
                    return Err(too_slow());
                }
            }
            Ok(Ok(None)) => break,
            Ok(Err(_)) | Err(_) => return Err(unreadable()),
        }
    }
    Ok(String::from_utf8_lossy(&raw).into_owned())
}

/// The first bytes of the file (up to `SNIFF_BYTES`; `true`: that was all of it), which tell
/// what it is.
pub(super) async fn sniff(file: &mut axum::extract::multipart::Field<'_>, pace: &Paced) -> Result<(Vec<u8>, bool), Response> {
    let mut head = Vec::new();
    let mut ended = false;
    while head.len() < SNIFF_BYTES && !ended {
        match tokio::time::timeout(UPLOAD_IDLE, file.chunk()).await {
            Ok(Ok(Some(piece))) => head.extend_from_slice(&piece),
            Ok(Ok(None)) => ended = true,
            Ok(Err(_)) | Err(_) => return Err(unreadable()),
        }
        if pace.check(head.len() as u64).is_err() {
            return Err(too_slow());
        }
    }
    Ok((head, ended))
}

/// The file's bytes for `submit_document`: the sniffed `head`, then the rest as it arrives,
/// ended by a pause of 60 s, more than `limit` bytes, or a pace below the floor. The routes take
/// no default body limit (a body over it would end before the form's fields are read): the
/// file's bytes are counted here instead.
pub(super) fn file_stream<'a>(
    file: axum::extract::multipart::Field<'a>,
    head: Vec<u8>,
    ended: bool,
    limit: u64,
    pace: Paced,
) -> std::pin::Pin<Box<dyn futures::Stream<Item = Result<Bytes, ContentError>> + Send + Sync + 'a>> {
    let received = head.len() as u64;
    let first = futures::stream::iter([Ok(Bytes::from(head))]);
    let rest = futures::stream::unfold((file, ended, received), move |(mut field, ended, received)| async move {
        if ended {
            return None;
        }
        match tokio::time::timeout(UPLOAD_IDLE, field.chunk()).await {
            Err(_) => Some((Err(ContentError::Interrupted("no data for 60 s".into())), (field, true, received))),
            Ok(Ok(Some(bytes))) => {
                let received = received + bytes.len() as u64;
                if received > limit {
                    Some((Err(ContentError::TooLarge), (field, true, received)))
                } else if let Err(slow) = pace.check(received) {
                    Some((Err(slow), (field, true, received)))
                } else {
                    Some((Ok(bytes), (field, false, received)))
                }
            }
            Ok(Ok(None)) => None,
            Ok(Err(e)) => Some((Err(ContentError::Interrupted(e.body_text())), (field, true, received))),
        }
    });
    Box::pin(futures::StreamExt::chain(first, rest))
}

/// `POST /documents/ajouter`: `multipart/form-data`, the CSRF token first, then the title, the
/// date, the type, and the file last (browsers send fields in the form's order), so everything
/// is checked before a byte of the file is stored.
pub async fn add(
    State(state): State<AppState>,
    Extension(UploadLimit(http_limit)): Extension<UploadLimit>,
    Extension(pace): Extension<UploadPace>,
    session: PortalSession,
    request: Request,
) -> Response {
    // The whole body, the fields before the file included, is held to the pace of `/api`.
    let mut paced = Paced::start(pace);
    let Some(ins) = record_of(&session) else { return super::not_found_page() };
    let limit = max_deposit(&state, http_limit);
    let (mut multipart, form) = match open_form(&state, request).await {
        Ok(opened) => opened,
        Err(refusal) => return refusal,
    };

    let mut values = AddValues::default();
    let mut csrf: Option<String> = None;
    for _ in 0..MAX_FIELDS {
        let mut field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(_) => return unreadable(),
        };
        let name = field.name().unwrap_or_default().to_owned();
        if name == "fichier" {
            // Handled here: the field borrows the body, which the loop borrows again.
            let leading = Leading { ins, values, csrf, form, http_limit, limit, pace: paced };
            return deposit(&state, &session, leading, Some(field)).await;
        }
        let text = match read_text(&mut field, &mut paced).await {
            Ok(text) => text,
            Err(refusal) => return refusal,
        };
        match name.as_str() {
            CSRF_FIELD => csrf = Some(text),
            "titre" => values.title = text,
            "date" => values.date = text.trim().to_owned(),
            "type" => values.kind = text.trim().to_owned(),
            _ => {}
        }
    }
    let leading = Leading { ins, values, csrf, form, http_limit, limit, pace: paced };
    deposit(&state, &session, leading, None).await
}

/// The pace a deposit is held to, since the body began: `fields_bytes` arrived before the file.
#[derive(Clone, Copy)]
pub(super) struct Paced {
    pace: UploadPace,
    started: std::time::Instant,
    fields_bytes: u64,
}

impl Paced {
    /// From now: taken before the body is read.
    pub(super) fn start(pace: UploadPace) -> Paced {
        Paced { pace, started: std::time::Instant::now(), fields_bytes: 0 }
    }

    /// Whether the body is too slow (or too long) with `file_bytes` of the file received.
    fn check(&self, file_bytes: u64) -> Result<(), ContentError> {
        self.pace.check(self.fields_bytes + file_bytes, self.started.elapsed())
    }
}

/// The form's fields before the file, and what the request said of itself.
struct Leading {
    ins: Ins,
    values: AddValues,
    csrf: Option<String>,
    form: FormRequest,
    http_limit: usize,
    limit: u64,
    pace: Paced,
}

/// The deposit once the fields before the file are read: the CSRF check, the fields' checks,
/// the file's kind by its first bytes, then the bytes streamed into `submit_document`.
async fn deposit(
    state: &AppState,
    session: &PortalSession,
    leading: Leading,
    file: Option<axum::extract::multipart::Field<'_>>,
) -> Response {
    let Leading { ins, values, csrf, form, http_limit, limit, pace } = leading;
    // Before anything is looked at further, let alone stored.
    if let Err(refusal) = session.check_form(&state.portal.cookies, &form.method, &form.headers, csrf.as_deref()) {
        return refusal.into_response();
    }

    let mut errors = AddErrors::default();
    let title = values.title.trim().to_owned();
    if title.is_empty() {
        errors.title = Some("Donnez un titre au document, par exemple «\u{a0}Ordonnance du Dr Martin\u{a0}».");
    } else if title.chars().count() > 200 {
        errors.title = Some("Ce titre est trop long\u{a0}: 200 caractères au plus.");
    }
    let today = words::day_in_paris(state.carnet.clock().now());
    let date = if values.date.is_empty() {
        None
    } else {
        match parse_day(&values.date) {
            None => {
                errors.date = Some(DATE_HELP);
                None
            }
            Some(d) if d > today => {
                errors.date = Some("Cette date est dans le futur\u{a0}: indiquez le jour où le document a été établi.");
                None
            }
            Some(d) => Some(d),
        }
    };
    let codes = &state.carnet.config().codes;
    let chosen = if values.kind.is_empty() { DEFAULT_PATIENT_TYPE } else { values.kind.as_str() };
    let kind = codes.patient_deposit_types().find(|t| t.code.code == chosen).cloned();
    if kind.is_none() {
        errors.kind = Some("Choisissez un type de document dans la liste.");
    }
    let file = file.filter(|f| f.file_name().is_some_and(|n| !n.is_empty()));
    let Some(mut file) = file else {
        errors.file = Some("Choisissez le fichier à ajouter.".to_owned());
        return add_page(state, session, StatusCode::BAD_REQUEST, values, errors, limit).await;
    };
    if form.declared_length.is_some_and(|n| n > http_limit as u64) {
        errors.file = Some(too_large(limit));
        return add_page(state, session, StatusCode::PAYLOAD_TOO_LARGE, values, errors, limit).await;
    }
    let declared = Kind::declared(file.file_name().unwrap_or_default(), file.content_type());
    let Some(declared) = declared else {
        errors.file = Some("Ce format n’est pas accepté. Formats acceptés\u{a0}: PDF, image JPEG ou PNG, texte (.txt).".to_owned());
        return add_page(state, session, StatusCode::BAD_REQUEST, values, errors, limit).await;
    };
    if errors.any() {
        return add_page(state, session, StatusCode::BAD_REQUEST, values, errors, limit).await;
    }
    // The first bytes say what the file is; its name only what it claims to be.
    let (head, ended) = match sniff(&mut file, &pace).await {
        Ok(sniffed) => sniffed,
        Err(refusal) => return refusal,
    };
    if head.len() as u64 > limit {
        errors.file = Some(too_large(limit));
        return add_page(state, session, StatusCode::PAYLOAD_TOO_LARGE, values, errors, limit).await;
    }
    if head.is_empty() {
        errors.file = Some("Ce fichier est vide\u{a0}: choisissez un autre fichier.".to_owned());
        return add_page(state, session, StatusCode::BAD_REQUEST, values, errors, limit).await;
    }
    if !declared.matches(&head[..head.len().min(SNIFF_BYTES)]) {
        errors.file = Some(format!(
            "Ce fichier n’est pas {}\u{a0}: son contenu ne correspond pas à son nom. Rien n’a été ajouté. Formats acceptés\u{a0}: PDF, image JPEG ou PNG, texte.",
            declared.words()
        ));
        return add_page(state, session, StatusCode::BAD_REQUEST, values, errors, limit).await;
    }
    let Some(kind) = kind else { return add_page(state, session, StatusCode::BAD_REQUEST, values, errors, limit).await };
    let submission = DocumentSubmission {
        ins,
        xds: XdsMetadata {
            unique_id: format!("urn:uuid:{}", uuid::Uuid::new_v4()),
            class_code: Code::new(CLASS_SYSTEM, &kind.class),
            type_code: kind.code.clone(),
            format_code: Code::new(FORMAT_SYSTEM_IHE, "urn:ihe:iti:xds:2017:mimeTypeSufficient"),
            practice_setting: None,
            facility_type: None,
            service_start: None,
            service_end: None,
            mime_type: declared.mime().to_owned(),
            language: "fr-FR".to_owned(),
            // Midday UTC: the same day in Paris, winter and summer.
            authored_at: date.map(|d| d.with_hms(12, 0, 0).unwrap_or(d.midnight()).assume_utc()),
        },
        title: Some(title),
        declared_author: None,
        labels: vec![],
        declared_size: None,
        declared_sha256: None,
        replaces: None,
    };
    let stream = file_stream(file, head, ended, limit, pace);
    match state.carnet.submit_document(&session.actor, submission, stream).await {
        Ok(Submitted::Created(view) | Submitted::Unchanged(view)) => {
            Redirect::to(&format!("/documents/{}?fait=ajoute", view.meta.id)).into_response()
        }
        Err(ServiceError::TooLarge { .. }) => {
            errors.file = Some(too_large(limit));
            add_page(state, session, StatusCode::PAYLOAD_TOO_LARGE, values, errors, limit).await
        }
        Err(ServiceError::TooSlow(_)) => too_slow(),
        Err(ServiceError::Interrupted(_)) => {
            errors.file = Some("L’envoi du fichier a été interrompu\u{a0}: rien n’a été ajouté. Réessayez.".to_owned());
            add_page(state, session, StatusCode::BAD_REQUEST, values, errors, limit).await
        }
        Err(ServiceError::Conflict(_)) => {
            errors.general =
                Some("Votre dossier n’accepte pas de nouveau document pour l’instant (il est peut-être fermé). Rien n’a été ajouté.");
            add_page(state, session, StatusCode::CONFLICT, values, errors, limit).await
        }
        Err(ServiceError::Invalid(reason)) => {
            tracing::warn!(%reason, "a deposit from the portal was refused as invalid");
            errors.general = Some("Ce document n’a pas pu être ajouté. Rien n’a été enregistré. Réessayez.");
            add_page(state, session, StatusCode::BAD_REQUEST, values, errors, limit).await
        }
        Err(e) => super::service_error_page(e),
    }
}
