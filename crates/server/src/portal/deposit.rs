//! *Déposer un document*: a professional deposits a document into a patient's record
//! (`/patients/{handle}/deposer`), then reads what was stored (`/patients/{handle}/deposer/{id}`).
//!
//! The patient is named by a handle of the session (`patients::ins_of`), never an INS. The form
//! is read like the patient's own deposit form (`documents::open_form`, `read_text`, `sniff`,
//! `file_stream`: the same CSRF check before the file is read, size limit and upload pace), its
//! metadata built as `/api`'s upload builds it (`UploadMetadata::parse`), and the document goes
//! through `Carnet::submit_document` like any deposit: who may feed, the checks, the ledger, the
//! encryption and the notifications are the service's. What the form offers follows the same
//! rules: the labels are those `rights::authorize` lets this depositor set, the versions to
//! replace those the service lets them replace (their own current documents). The page decides
//! nothing: a refusal of the service is shown as such, and nothing is stored.

use askama::Template;
use axum::Extension;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use carnet_domain::codes::{PATIENT_DEPOSIT_TYPES, TypeCode};
use carnet_domain::{Action, Actor, DocumentId, DocumentStatus, IdentityStatus, Ins, RecordStatus, SecurityLabel, authorize};
use carnet_service::{DocumentAction, RecordView, ServiceError, Submitted};

use super::documents::{
    Choice, DATE_HELP, Kind, MAX_FIELDS, Paced, UploadLimit, file_stream, max_deposit, open_form, parse_day, read_text, sniff, too_large,
    too_slow, unreadable,
};
use super::session::{CSRF_FIELD, PortalSession};
use super::{page, patients, words};
use crate::AppState;
use crate::routes::documents::{UploadMetadata, UploadPace};

/// The longest title the form takes (the service takes more: a title is read on a phone).
const MAX_TITLE: usize = 200;

/// Types a professional's form does not offer: those of the patient's own deposits (their
/// *Ajouter un document* offers them), the patient's profile, and the insurer's reimbursement
/// history.
fn offered_to_professionals(t: &TypeCode) -> bool {
    let code = t.code.code.as_str();
    !PATIENT_DEPOSIT_TYPES.contains(&code) && code != "DOCPAT08" && code != carnet_domain::access::REIMBURSEMENT_TYPE
}

/// A group of the type list: the class the types belong to, and the types.
pub struct TypeGroup {
    pub class: String,
    pub types: Vec<Choice>,
}

/// A visibility label the depositor may set, as a box to tick.
pub struct LabelChoice {
    pub value: &'static str,
    pub id: &'static str,
    pub label: &'static str,
    pub help: &'static str,
    pub checked: bool,
}

/// What a box says of a label: what ticking it does, and who then sees the document.
fn label_words(label: SecurityLabel) -> (&'static str, &'static str, &'static str) {
    match label {
        SecurityLabel::MasquePs => {
            ("masque-ps", "Masquer aux autres professionnels", "Seuls le patient, son médecin traitant et vous-même le verront.")
        }
        SecurityLabel::InvisiblePatient => (
            "invisible-patient",
            "Ne pas montrer au patient pour l’instant",
            "Pour un résultat à annoncer en consultation\u{a0}: le patient ne le verra pas tant que ce masquage n’est pas levé. Les professionnels qui ont accès au dossier le voient.",
        ),
        SecurityLabel::InvisibleRepresentantsLegaux => (
            "invisible-representants",
            "Ne pas montrer aux représentants légaux",
            "Pour un patient mineur qui demande le secret vis-à-vis de ses parents.",
        ),
    }
}

/// The labels `actor` may set on a deposit (the rule the service applies again).
fn settable_labels(actor: &Actor) -> Vec<SecurityLabel> {
    SecurityLabel::ALL.into_iter().filter(|l| authorize(actor, Action::SetDepositLabels(&[*l])).is_ok()).collect()
}

/// What is wrong with a deposit, by field.
#[derive(Default)]
pub struct DepositErrors {
    /// Not about one field: the record or the service refused the deposit.
    pub general: Option<String>,
    pub title: Option<&'static str>,
    pub date: Option<&'static str>,
    pub kind: Option<&'static str>,
    pub labels: Option<&'static str>,
    pub replaces: Option<&'static str>,
    pub file: Option<String>,
}

impl DepositErrors {
    fn any(&self) -> bool {
        self.general.is_some()
            || self.title.is_some()
            || self.date.is_some()
            || self.kind.is_some()
            || self.labels.is_some()
            || self.replaces.is_some()
            || self.file.is_some()
    }
}

/// The form's values as typed (shown again with the errors: all but the file).
#[derive(Default)]
struct DepositValues {
    title: String,
    date: String,
    kind: String,
    labels: Vec<String>,
    replaces: String,
}

#[derive(Template)]
#[template(path = "pro_deposer.html")]
struct DepositPage {
    page: &'static str,
    csrf: String,
    represented: Option<super::record::Represented>,
    handle: String,
    /// *Prénom NOM*.
    patient: String,
    /// *née le 1er décembre 1984*: the doctor checks whom they deposit for.
    born: String,
    /// Why the record takes no deposit now (closed, identity not qualified): then no form.
    closed: Option<&'static str>,
    title: String,
    date: String,
    today: String,
    groups: Vec<TypeGroup>,
    labels: Vec<LabelChoice>,
    /// The versions this professional may replace (empty: the field is not shown).
    replaceable: Vec<Choice>,
    errors: DepositErrors,
    max_size: String,
}

/// *né le …* / *née le …*, as the record's identity says.
fn born(view: &RecordView) -> String {
    let Some(traits) = view.traits.as_ref() else { return String::new() };
    let word = if traits.sex == carnet_domain::Sex::Female { "née" } else { "né" };
    format!("{word} le {}", words::date(traits.birth_date.midnight().assume_utc().saturating_add(time::Duration::hours(12))))
}

/// Why a record takes no deposit, in words (`None`: it takes them).
fn not_feedable(view: &RecordView) -> Option<&'static str> {
    if view.status != RecordStatus::Active {
        Some("Ce dossier est fermé\u{a0}: il n’accepte pas de nouveau document.")
    } else if view.identity_status.is_some_and(|s| s != IdentityStatus::Qualifiee) {
        Some("L’identité de ce patient n’est pas encore qualifiée\u{a0}: son dossier ne peut pas être alimenté tant qu’elle ne l’est pas.")
    } else {
        None
    }
}

/// The date of the act: the service's rule, the pages' and `/api`'s.
use carnet_service::act_date;

/// The current versions of this record's documents that `actor` sees and may replace: those
/// they wrote or deposited (`Carnet::replaceable` holds a depositor to the same rule).
async fn replaceable(state: &AppState, actor: &Actor, ins: &Ins) -> Result<Vec<(DocumentId, String)>, ServiceError> {
    let visible = state.carnet.visible_documents(actor, ins).await?;
    let mut views = state.carnet.views(&visible).await?;
    views.retain(|v| {
        v.meta.status == DocumentStatus::Current
            && authorize(actor, Action::ChangeDocumentStatus { author: &v.meta.author, deposited_by: &v.meta.deposited_by }).is_ok()
    });
    views.sort_by_key(|v| std::cmp::Reverse((act_date(&v.meta), v.meta.submitted_at)));
    let codes = &state.carnet.config().codes;
    Ok(views
        .into_iter()
        .map(|v| {
            let kind = codes.find_type(&v.meta.xds.type_code).map_or("Type non précisé", |t| t.display.as_str());
            let title = v.title.as_deref().unwrap_or("Document sans titre");
            (v.meta.id, format!("{title} — {kind} — {}", words::date(act_date(&v.meta))))
        })
        .collect())
}

/// The form, with `values` and `errors`, for the record of `ins`.
#[allow(clippy::too_many_arguments)]
async fn form_page(
    state: &AppState,
    session: &PortalSession,
    handle: &str,
    ins: &Ins,
    status: StatusCode,
    values: DepositValues,
    errors: DepositErrors,
    limit: u64,
) -> Response {
    let record = match state.carnet.record_status(&session.actor, ins).await {
        Ok(r) => r,
        Err(e) => return super::service_error_page(e),
    };
    // Roles that see no identity (insurer agents, operators, privacy officers) feed no one here.
    let Some(patient) = super::professional::known_short_name(&record) else { return super::not_found_page() };
    let closed = not_feedable(&record);
    let replaceable = if closed.is_some() {
        vec![]
    } else {
        match replaceable(state, &session.actor, ins).await {
            Ok(r) => r,
            Err(e) => return super::service_error_page(e),
        }
    };
    let codes = &state.carnet.config().codes;
    let mut groups: Vec<TypeGroup> = codes
        .classes
        .iter()
        .map(|c| TypeGroup {
            class: c.display.clone(),
            types: codes
                .types
                .iter()
                .filter(|t| t.class == c.code.code && offered_to_professionals(t))
                .map(|t| Choice { value: t.code.code.clone(), label: t.display.clone(), selected: t.code.code == values.kind })
                .collect(),
        })
        .filter(|g| !g.types.is_empty())
        .collect();
    for g in &mut groups {
        g.types.sort_by_cached_key(|c| carnet_domain::directory::name_key(&c.label));
    }
    let labels = settable_labels(&session.actor)
        .into_iter()
        .map(|l| {
            let (id, label, help) = label_words(l);
            LabelChoice { value: l.code(), id, label, help, checked: values.labels.iter().any(|v| v == l.code()) }
        })
        .collect();
    let replaceable = replaceable
        .into_iter()
        .map(|(id, label)| {
            let value = id.to_string();
            Choice { selected: value == values.replaces, value, label }
        })
        .collect();
    let today = words::day_in_paris(state.carnet.clock().now()).to_string();
    let rendered = DepositPage {
        page: "pro-patients",
        csrf: session.csrf_token.clone(),
        represented: None,
        handle: handle.to_owned(),
        born: born(&record),
        patient,
        closed,
        title: values.title,
        date: if values.date.is_empty() && !errors.any() { today.clone() } else { values.date },
        today,
        groups,
        labels,
        replaceable,
        errors,
        max_size: words::size(limit),
    }
    .render();
    page(status, rendered)
}

/// `GET /patients/{handle}/deposer`.
pub async fn form(
    State(state): State<AppState>,
    Extension(UploadLimit(http_limit)): Extension<UploadLimit>,
    session: PortalSession,
    Path(handle): Path<String>,
) -> Response {
    let Some(ins) = patients::ins_of(&session, &handle) else { return super::not_found_page() };
    let limit = max_deposit(&state, http_limit);
    form_page(&state, &session, &handle, &ins, StatusCode::OK, DepositValues::default(), DepositErrors::default(), limit).await
}

/// `POST /patients/{handle}/deposer`: `multipart/form-data`, the CSRF token first, the fields,
/// then the file last (browsers send fields in the form's order), so that everything is checked
/// before a byte of the file is stored.
pub async fn deposit(
    State(state): State<AppState>,
    Extension(UploadLimit(http_limit)): Extension<UploadLimit>,
    Extension(pace): Extension<UploadPace>,
    session: PortalSession,
    Path(handle): Path<String>,
    request: Request,
) -> Response {
    // The whole body, the fields before the file included, is held to the pace of `/api`.
    let mut paced = Paced::start(pace);
    let Some(ins) = patients::ins_of(&session, &handle) else { return super::not_found_page() };
    let limit = max_deposit(&state, http_limit);
    let (mut multipart, form) = match open_form(&state, request).await {
        Ok(opened) => opened,
        Err(refusal) => return refusal,
    };
    let mut values = DepositValues::default();
    let mut csrf: Option<String> = None;
    // The file is the last field: the fields end with it (it borrows the body).
    let file = 'fields: {
        for _ in 0..MAX_FIELDS {
            let mut field = match multipart.next_field().await {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(_) => return unreadable(),
            };
            let name = field.name().unwrap_or_default().to_owned();
            if name == "fichier" {
                break 'fields Some(field);
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
                "etiquette" => values.labels.push(text.trim().to_owned()),
                "remplace" => values.replaces = text.trim().to_owned(),
                _ => {}
            }
        }
        None
    };
    // Before anything is looked at further, let alone stored.
    if let Err(refusal) = session.check_form(&state.portal.cookies, &form.method, &form.headers, csrf.as_deref()) {
        return refusal.into_response();
    }
    let actor = &session.actor;
    let show = |status: StatusCode, values: DepositValues, errors: DepositErrors| {
        let (state, session, handle, ins) = (&state, &session, &handle, &ins);
        async move { form_page(state, session, handle, ins, status, values, errors, limit).await }
    };

    let mut errors = DepositErrors::default();
    let mut status = StatusCode::BAD_REQUEST;
    let title = values.title.trim().to_owned();
    if title.is_empty() {
        errors.title = Some("Donnez un titre au document, par exemple «\u{a0}Compte rendu de consultation du 12 mars\u{a0}».");
    } else if title.chars().count() > MAX_TITLE {
        errors.title = Some("Ce titre est trop long\u{a0}: 200 caractères au plus.");
    }
    let today = words::day_in_paris(state.carnet.clock().now());
    let date = match parse_day(&values.date) {
        _ if values.date.is_empty() => {
            errors.date = Some("Indiquez la date de l’acte\u{a0}: le jour de la consultation, de l’examen ou de l’ordonnance.");
            None
        }
        None => {
            errors.date = Some(DATE_HELP);
            None
        }
        Some(d) if d > today => {
            errors.date = Some("Cette date est dans le futur\u{a0}: indiquez le jour où l’acte a eu lieu.");
            None
        }
        Some(d) => Some(d),
    };
    let codes = &state.carnet.config().codes;
    let kind = codes.find_type_by_code(&values.kind).filter(|t| offered_to_professionals(t)).cloned();
    if kind.is_none() {
        errors.kind = Some("Choisissez un type de document dans la liste.");
    }
    let mut labels = Vec::new();
    for raw in &values.labels {
        match SecurityLabel::parse(raw) {
            Some(l) => labels.push(l),
            None => errors.labels = Some("Cette option de visibilité n’existe pas\u{a0}: cochez seulement celles de la liste."),
        }
    }
    if errors.labels.is_none() && authorize(actor, Action::SetDepositLabels(&labels)).is_err() {
        errors.labels = Some("Vous ne pouvez pas restreindre la visibilité de ce document de cette façon. Décochez cette option.");
        status = StatusCode::FORBIDDEN;
    }
    let replaces = if values.replaces.is_empty() {
        None
    } else {
        // Only a version this professional may replace, of this record, in force: as offered.
        let offered = match replaceable(&state, actor, &ins).await {
            Ok(r) => r,
            Err(e) => return super::service_error_page(e),
        };
        let chosen = DocumentId::parse(&values.replaces).ok().filter(|id| offered.iter().any(|(o, _)| o == id));
        if chosen.is_none() {
            errors.replaces = Some(
                "Ce document ne peut pas être remplacé\u{a0}: choisissez dans la liste un document en vigueur de ce dossier que vous avez déposé.",
            );
        }
        chosen
    };
    let Some(mut file) = file.filter(|f| f.file_name().is_some_and(|n| !n.is_empty())) else {
        errors.file = Some("Choisissez le fichier à déposer.".to_owned());
        return show(status, values, errors).await;
    };
    if form.declared_length.is_some_and(|n| n > http_limit as u64) {
        errors.file = Some(too_large(limit));
        return show(StatusCode::PAYLOAD_TOO_LARGE, values, errors).await;
    }
    let Some(declared) = Kind::declared(file.file_name().unwrap_or_default(), file.content_type()) else {
        errors.file = Some("Ce format n’est pas accepté. Formats acceptés\u{a0}: PDF, image JPEG ou PNG, texte (.txt).".to_owned());
        return show(status, values, errors).await;
    };
    if errors.any() {
        return show(status, values, errors).await;
    }
    // The first bytes say what the file is; its name only what it claims to be.
    let (head, ended) = match sniff(&mut file, &paced).await {
        Ok(sniffed) => sniffed,
        Err(refusal) => return refusal,
    };
    if head.len() as u64 > limit {
        errors.file = Some(too_large(limit));
        return show(StatusCode::PAYLOAD_TOO_LARGE, values, errors).await;
    }
    if head.is_empty() {
        errors.file = Some("Ce fichier est vide\u{a0}: choisissez un autre fichier.".to_owned());
        return show(status, values, errors).await;
    }
    if !declared.matches(&head) {
        errors.file = Some(format!(
            "Ce fichier n’est pas {}\u{a0}: son contenu ne correspond pas à son nom. Formats acceptés\u{a0}: PDF, image JPEG ou PNG, texte.",
            declared.words()
        ));
        return show(status, values, errors).await;
    }
    let (Some(kind), Some(date)) = (kind, date) else { return show(status, values, errors).await };
    // The metadata `/api` builds from an upload's `metadata` part, from the form's fields.
    let metadata = UploadMetadata {
        unique_id: format!("urn:uuid:{}", uuid::Uuid::new_v4()),
        class_code: None,
        type_code: kind.code.code.clone(),
        format_code: None,
        mime_type: Some(declared.mime().to_owned()),
        language: None,
        title: Some(title),
        // Midday UTC: the same day in Paris, winter and summer.
        authored_at: Some(format!("{date}T12:00:00Z")),
        labels: labels.iter().map(|l| l.code().to_owned()).collect(),
        size: None,
        sha256: None,
        replaces: replaces.map(|r| r.to_string()),
        practice_setting: None,
        facility_type: None,
        service_start: None,
        service_end: None,
        author: None,
    };
    let submission = match metadata.parse(ins.clone(), None, codes) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(detail = %e.detail, "a professional's deposit from the portal did not make metadata");
            errors.general = Some("Ce document n’a pas pu être déposé. Rien n’a été enregistré. Réessayez.".to_owned());
            return show(StatusCode::BAD_REQUEST, values, errors).await;
        }
    };
    let replacing = submission.replaces.is_some();
    let stream = file_stream(file, head, ended, limit, paced);
    match state.carnet.submit_document(actor, submission, stream).await {
        Ok(Submitted::Created(view) | Submitted::Unchanged(view)) => {
            let done = if replacing { "remplace" } else { "depose" };
            Redirect::to(&format!("/patients/{handle}/deposer/{}?fait={done}", view.meta.id)).into_response()
        }
        Err(ServiceError::TooLarge { .. }) => {
            errors.file = Some(too_large(limit));
            show(StatusCode::PAYLOAD_TOO_LARGE, values, errors).await
        }
        Err(ServiceError::TooSlow(_)) => too_slow(),
        Err(ServiceError::Interrupted(_)) => {
            errors.file = Some("L’envoi du fichier a été interrompu\u{a0}: rien n’a été déposé. Réessayez.".to_owned());
            show(StatusCode::BAD_REQUEST, values, errors).await
        }
        Err(ServiceError::NotFound("document to replace")) => {
            errors.replaces =
                Some("Ce document ne peut pas être remplacé\u{a0}: il n’est plus dans ce dossier, ou vous ne l’avez pas déposé.");
            show(StatusCode::BAD_REQUEST, values, errors).await
        }
        Err(ServiceError::Conflict(reason)) => {
            tracing::info!(%reason, "a professional's deposit from the portal was refused by the record's state");
            // The page says why from the record as it now is (closed, identity, a version replaced meanwhile).
            errors.general = Some(
                "Ce dossier n’accepte pas ce dépôt pour l’instant (il a peut-être été fermé, ou le document à remplacer a déjà été remplacé). Rien n’a été déposé."
                    .to_owned(),
            );
            show(StatusCode::CONFLICT, values, errors).await
        }
        Err(ServiceError::Forbidden(_) | ServiceError::Scope(_)) => super::error_page(
            StatusCode::FORBIDDEN,
            "Dépôt refusé",
            "Vous ne pouvez pas déposer de document dans ce dossier. Rien n’a été déposé.",
        ),
        Err(ServiceError::Invalid(reason)) => {
            tracing::warn!(%reason, "a professional's deposit from the portal was refused as invalid");
            errors.general = Some("Ce document n’a pas pu être déposé. Rien n’a été enregistré. Réessayez.".to_owned());
            show(StatusCode::BAD_REQUEST, values, errors).await
        }
        Err(e) => super::service_error_page(e),
    }
}

/// A fact of the confirmation.
pub struct Fact {
    pub name: &'static str,
    pub value: String,
}

#[derive(Template)]
#[template(path = "pro_deposer_fait.html")]
struct DonePage {
    page: &'static str,
    csrf: String,
    represented: Option<super::record::Represented>,
    handle: String,
    id: String,
    patient: String,
    title: String,
    /// What the status region says (`?fait=`), else nothing.
    done: Option<String>,
    facts: Vec<Fact>,
    /// A new version: the replaced one is folded under it.
    replaces: bool,
}

/// `GET /patients/{handle}/deposer/{id}`: what was stored, read back through the gate.
pub async fn done(
    State(state): State<AppState>,
    session: PortalSession,
    Path((handle, id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(ins) = patients::ins_of(&session, &handle) else { return super::not_found_page() };
    let Ok(id) = DocumentId::parse(&id) else { return super::not_found_page() };
    let visible = match state.carnet.visible_document(&session.actor, id, DocumentAction::Read).await {
        Ok(v) => v,
        Err(e) => return super::service_error_page(e),
    };
    // Another record's document answers like one that does not exist.
    if visible.meta().ins != ins {
        return super::not_found_page();
    }
    let view = match state.carnet.view(&visible).await {
        Ok(v) => v,
        Err(e) => return super::service_error_page(e),
    };
    let patient = match state.carnet.record_status(&session.actor, &ins).await {
        Ok(r) => super::professional::short_name(&r),
        Err(e) => return super::service_error_page(e),
    };
    let m = &view.meta;
    let codes = &state.carnet.config().codes;
    let labels = if m.labels.is_empty() {
        "Visible par le patient et par les professionnels qui ont accès à son dossier".to_owned()
    } else {
        m.labels.iter().map(|l| words::label(*l)).collect::<Vec<_>>().join(", ")
    };
    let facts = vec![
        Fact { name: "Type", value: codes.find_type(&m.xds.type_code).map_or_else(|| "Non précisé".to_owned(), |t| t.display.clone()) },
        Fact {
            name: "Classe",
            value: codes.find_class(&m.xds.class_code).map_or_else(|| "Non précisée".to_owned(), |c| c.display.clone()),
        },
        Fact {
            name: "Date de l’acte",
            value: m.xds.service_start.or(m.xds.authored_at).map_or_else(|| "Non précisée".to_owned(), words::date),
        },
        Fact { name: "Visibilité", value: labels },
        Fact { name: "Fichier", value: format!("{}, {}", words::format(&m.xds.mime_type), words::size(m.size)) },
        Fact { name: "Déposé le", value: words::date_time(m.submitted_at) },
    ];
    let pairs: Vec<(String, String)> = query.as_deref().and_then(|q| serde_urlencoded::from_str(q).ok()).unwrap_or_default();
    let done = match pairs.iter().find(|(k, _)| k == "fait").map(|(_, v)| v.as_str()) {
        Some("depose") => Some(format!("Document déposé dans le dossier de {patient}.")),
        Some("remplace") => Some(format!("Nouvelle version déposée dans le dossier de {patient}\u{a0}: elle remplace la précédente.")),
        _ => None,
    };
    let rendered = DonePage {
        page: "pro-patients",
        csrf: session.csrf_token.clone(),
        represented: None,
        handle,
        id: m.id.to_string(),
        patient,
        title: view.title.clone().unwrap_or_else(|| "Document sans titre".to_owned()),
        done,
        facts,
        replaces: m.replaces.is_some(),
    }
    .render();
    page(StatusCode::OK, rendered)
}
