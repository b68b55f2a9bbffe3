//! The professional's space: *Mon espace professionnel* (who is signed in, the patient search),
//! finding a patient (`/patients`, by INS or by identity traits, exactly as PDQm finds them), and a
//! patient's record (`/patients/{handle}`): without access, the point-of-care declaration and the
//! emergency access; with access, the patient summary and the documents the gate lets through,
//! each opened in the page.
//!
//! A patient is named in URLs by a handle of this session (`patients::handle`), never by the INS.
//! These pages are the space of professionals and SAMU regulators (the actors who act under an
//! RPPS identity); to anyone else they answer 404, as the patient's pages do to a person without
//! a record. Every read and change calls the same service methods as `/api`, so the gate, the
//! ledger and the notifications apply unchanged.

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use carnet_domain::document::DocumentMeta;
use carnet_domain::{Actor, DocumentStatus, EmergencyKind, Ins, PolicyChange, ProfessionalIdentity, RecordStatus, Sex, TraitsQuery};
use carnet_service::{DocumentAction, PatientQuery, ProfileQuery, RecordView, ServiceError, Visible};

use super::documents::{self, DocumentList, Fact, VersionLink};
use super::patients;
use super::session::{PortalForm, PortalSession};
use super::{page, words};
use crate::AppState;

/// The professional's identity if the session's actor acts under one (professional, regulator).
fn professional(session: &PortalSession) -> Option<&ProfessionalIdentity> {
    session.actor.professional()
}

fn is_regulator(actor: &Actor) -> bool {
    matches!(actor.kind, carnet_domain::ActorKind::Regulator(_))
}

/// Who is signed in, in words.
pub struct SignedIn {
    pub name: String,
    /// "Médecin, médecine générale"; "Médecin régulateur du SAMU (centre 15)".
    pub profession: String,
    pub rpps: String,
    pub organisation: Option<String>,
}

fn signed_in(actor: &Actor, pro: &ProfessionalIdentity) -> SignedIn {
    let profession = if is_regulator(actor) {
        words::role(carnet_domain::Role::Regulator).to_owned()
    } else {
        match pro.specialty.as_deref().and_then(words::specialty) {
            Some(s) => format!("{}, {s}", pro.profession.label_fr()),
            None => pro.profession.label_fr().to_owned(),
        }
    };
    SignedIn {
        name: actor.name.clone().unwrap_or_else(|| words::role(actor.role()).to_owned()),
        profession,
        rpps: pro.rpps.to_string(),
        organisation: pro.organisation.as_ref().map(ToString::to_string),
    }
}

// ---------------------------------------------------------------------------------------------
// Finding a patient

/// The search forms' values as typed, and what is wrong with them.
#[derive(Default, serde::Deserialize)]
pub struct SearchForm {
    /// `ins` or `traits`: which of the two forms was sent.
    #[serde(default)]
    par: String,
    #[serde(default)]
    ins: String,
    #[serde(default)]
    nom: String,
    #[serde(default)]
    prenom: String,
    #[serde(default)]
    naissance: String,
    #[serde(default)]
    sexe: String,
}

/// A found patient: what PDQm tells of them, and the link to their record.
pub struct FoundPatient {
    pub handle: String,
    pub name: String,
    pub born: String,
    pub sex: &'static str,
    /// "Dossier fermé" when the record is not open (PDQm says whether it is active).
    pub note: Option<&'static str>,
}

/// The search's outcome shown under the forms.
pub struct Results {
    pub found: Vec<FoundPatient>,
    /// More patients match than are listed.
    pub more: bool,
}

/// Invalid fields, by field id, each with its message.
#[derive(Default)]
pub struct SearchErrors {
    pub ins: Option<&'static str>,
    pub traits: Option<&'static str>,
    pub birth: Option<&'static str>,
}

impl SearchErrors {
    fn any(&self) -> bool {
        self.ins.is_some() || self.traits.is_some() || self.birth.is_some()
    }
}

#[derive(Template)]
#[template(path = "pro_accueil.html")]
struct HomePage {
    page: &'static str,
    csrf: String,
    represented: Option<super::record::Represented>,
    who: SignedIn,
    form: SearchForm,
    errors: SearchErrors,
}

#[derive(Template)]
#[template(path = "pro_patients.html")]
struct SearchPage {
    page: &'static str,
    csrf: String,
    represented: Option<super::record::Represented>,
    form: SearchForm,
    errors: SearchErrors,
    results: Option<Results>,
}

/// `/` for a professional or a regulator: *Mon espace professionnel*.
pub async fn home(session: PortalSession) -> Response {
    let Some(pro) = professional(&session) else { return super::not_found_page() };
    let who = signed_in(&session.actor, pro);
    let rendered = HomePage {
        page: "pro-accueil",
        csrf: session.csrf_token.clone(),
        represented: None,
        who,
        form: SearchForm::default(),
        errors: SearchErrors::default(),
    }
    .render();
    page(StatusCode::OK, rendered)
}

/// `GET /patients`: the search forms.
pub async fn search_form(session: PortalSession) -> Response {
    if professional(&session).is_none() {
        return super::not_found_page();
    }
    search_page(&session, StatusCode::OK, SearchForm::default(), SearchErrors::default(), None)
}

fn search_page(session: &PortalSession, status: StatusCode, form: SearchForm, errors: SearchErrors, results: Option<Results>) -> Response {
    let rendered = SearchPage { page: "pro-patients", csrf: session.csrf_token.clone(), represented: None, form, errors, results }.render();
    page(status, rendered)
}

/// What is wrong with a typed INS, in words: its length, a letter, or its key.
fn ins_problem(e: &carnet_domain::InsError) -> &'static str {
    match e {
        carnet_domain::InsError::Length { .. } => {
            "Un INS compte 15 chiffres (13 chiffres et une clé de 2 chiffres). Vérifiez que le numéro est complet."
        }
        carnet_domain::InsError::Character { .. } => {
            "Un INS ne contient que des chiffres (sauf 2A ou 2B pour une naissance en Corse). Retirez les lettres ou signes."
        }
        carnet_domain::InsError::Key { .. } => {
            "La clé (les 2 derniers chiffres) ne correspond pas aux 13 premiers : un chiffre a sans doute été mal recopié. Vérifiez le numéro sur la carte Vitale ou l’attestation."
        }
    }
}

fn sex_of(raw: &str) -> Option<Sex> {
    match raw {
        "F" => Some(Sex::Female),
        "M" => Some(Sex::Male),
        "I" => Some(Sex::Indeterminate),
        _ => None,
    }
}

fn sex_words(sex: Sex) -> &'static str {
    match sex {
        Sex::Female => "Féminin",
        Sex::Male => "Masculin",
        Sex::Indeterminate => "Indéterminé",
    }
}

/// How many patients a search lists (more: the professional narrows it).
const FOUND_AT_MOST: usize = 20;

/// `POST /patients/rechercher`: by INS or by traits, through `find_patients` (PDQm's rules).
pub async fn search(State(state): State<AppState>, PortalForm { session, form }: PortalForm<SearchForm>) -> Response {
    if professional(&session).is_none() {
        return super::not_found_page();
    }
    let mut errors = SearchErrors::default();
    let query = if form.par == "ins" {
        match Ins::parse(form.ins.trim()) {
            _ if form.ins.trim().is_empty() => {
                errors.ins = Some("Saisissez l’INS du patient : 15 chiffres, tels qu’ils figurent sur sa carte Vitale.");
                None
            }
            Ok(ins) => Some(PatientQuery { ins: Some(ins), traits: TraitsQuery::default() }),
            Err(e) => {
                errors.ins = Some(ins_problem(&e));
                None
            }
        }
    } else {
        let birth = match form.naissance.trim() {
            "" => None,
            raw => match documents::parse_day(raw) {
                Some(d) => Some(d),
                None => {
                    errors.birth = Some("Cette date n’existe pas. Écrivez-la sous la forme 12/03/1978.");
                    None
                }
            },
        };
        let non_empty = |v: &str| Some(v.trim().to_owned()).filter(|v| !v.is_empty());
        let traits =
            TraitsQuery { family: non_empty(&form.nom), given: non_empty(&form.prenom), birth_date: birth, sex: sex_of(&form.sexe) };
        if traits == TraitsQuery::default() && errors.birth.is_none() {
            errors.traits = Some("Remplissez au moins un des champs : nom de naissance, prénom, date de naissance ou sexe.");
        }
        (!errors.any()).then_some(PatientQuery { ins: None, traits })
    };
    let Some(query) = query else { return search_page(&session, StatusCode::BAD_REQUEST, form, errors, None) };
    let limit = u32::try_from(FOUND_AT_MOST + 1).unwrap_or(u32::MAX);
    let found = match state.carnet.find_patients(&session.actor, &query, limit).await {
        Ok(found) => found,
        Err(e) => return super::service_error_page(e),
    };
    let more = found.len() > FOUND_AT_MOST;
    let found = found.iter().take(FOUND_AT_MOST).map(|view| found_patient(&session, view)).collect();
    search_page(&session, StatusCode::OK, form, errors, Some(Results { found, more }))
}

fn full_name(view: &RecordView) -> String {
    match &view.traits {
        Some(t) => format!("{} {}", t.birth_given_names, t.birth_name),
        None => "Patient".to_owned(),
    }
}

/// "Camille LEFEBVRE": the first given name and the birth name in capitals, as a heading names
/// a patient; "ce patient" when the record's identity is not shown or is empty.
pub(super) fn short_name(view: &RecordView) -> String {
    known_short_name(view).unwrap_or_else(|| "ce patient".to_owned())
}

/// [`short_name`], or `None` when there is no name to give.
pub(super) fn known_short_name(view: &RecordView) -> Option<String> {
    let t = view.traits.as_ref()?;
    let given = t.birth_given_names.split_whitespace().next().unwrap_or_default();
    Some(format!("{given} {}", t.birth_name.to_uppercase()).trim().to_owned()).filter(|n| !n.is_empty())
}

fn birth_words(date: time::Date) -> String {
    words::date(date.with_hms(12, 0, 0).unwrap_or(date.midnight()).assume_utc())
}

fn found_patient(session: &PortalSession, view: &RecordView) -> FoundPatient {
    FoundPatient {
        handle: patients::handle(session, &view.ins),
        name: full_name(view),
        born: view.traits.as_ref().map(|t| birth_words(t.birth_date)).unwrap_or_default(),
        sex: view.traits.as_ref().map_or("", |t| sex_words(t.sex)),
        note: (view.status != RecordStatus::Active).then_some("Dossier fermé"),
    }
}

// ---------------------------------------------------------------------------------------------
// A patient's record

/// The identity block of the record page: one line to check at a glance, the whole below.
pub struct Identity {
    /// "Née le 1er décembre 1984 (41 ans) · INS 2970… (NIR) · identité qualifiée".
    pub line: String,
    pub facts: Vec<Fact>,
}

/// Whole years from `born` to `today`.
fn age(born: time::Date, today: time::Date) -> i32 {
    let had_birthday = (today.month() as u8, today.day()) >= (born.month() as u8, born.day());
    today.year() - born.year() - i32::from(!had_birthday)
}

fn identity(view: &RecordView, today: time::Date) -> Identity {
    let mut line = Vec::new();
    if let Some(t) = &view.traits {
        let born = if t.sex == Sex::Female { "Née" } else { "Né" };
        let years = age(t.birth_date, today);
        line.push(format!(
            "{born} le {} ({})",
            birth_words(t.birth_date),
            words::counted(u64::try_from(years).unwrap_or(0), "an", "ans", "moins d’un an")
        ));
    }
    line.push(format!("INS {}", view.ins));
    if let Some(status) = view.identity_status {
        line.push(format!("identité {}", words::identity_status(status).split(' ').next().unwrap_or_default().to_lowercase()));
    }
    let mut facts = Vec::new();
    if let Some(t) = &view.traits {
        facts.push(Fact { name: "Nom de naissance", value: t.birth_name.clone() });
        facts.push(Fact { name: "Prénoms", value: t.birth_given_names.clone() });
        facts.push(Fact { name: "Date de naissance", value: birth_words(t.birth_date) });
        facts.push(Fact { name: "Sexe", value: sex_words(t.sex).to_owned() });
    }
    let kind = match view.ins_kind {
        carnet_domain::InsKind::Nir => "NIR",
        carnet_domain::InsKind::Nia => "NIA",
        carnet_domain::InsKind::TestNir => "NIR de test",
    };
    facts.push(Fact { name: "INS", value: format!("{} ({kind})", view.ins) });
    if let Some(status) = view.identity_status {
        facts.push(Fact { name: "Identité", value: words::identity_status(status).to_owned() });
    }
    facts.push(Fact { name: "État du dossier", value: words::record_status(view.status).to_owned() });
    Identity { line: line.join(" · "), facts }
}

/// One line of the summary: a type of documents, how many, the latest.
pub struct SummaryLine {
    pub kind: String,
    pub count: String,
    pub latest: String,
}

#[derive(Template)]
#[template(path = "pro_dossier.html")]
struct RecordPage {
    page: &'static str,
    csrf: String,
    represented: Option<super::record::Represented>,
    handle: String,
    name: String,
    identity: Identity,
    /// The status region after an action (`?fait=`).
    done: Option<String>,
    /// With access: the summary and the documents.
    access: Option<WithAccess>,
    /// Without access: why, and what the professional may do.
    without: Option<WithoutAccess>,
}

pub struct WithAccess {
    /// On what basis the professional consults the record, in words.
    pub basis: &'static str,
    pub summary: Vec<SummaryLine>,
    pub list: DocumentList,
    /// Allergies, treatments and antécédents from the profile, above the documents.
    pub essentials: super::profile::Essentials,
}

pub struct WithoutAccess {
    /// The record is open: the declaration and the emergency access are offered.
    pub open: bool,
    /// A regulator: SAMU access instead of bris de glace.
    pub regulator: bool,
    pub hours: String,
    pub motive: String,
    pub motive_error: Option<&'static str>,
    /// The service's refusal of the last action, in words.
    pub refusal: Option<&'static str>,
}

/// `GET /patients/{handle}`.
pub async fn record(
    State(state): State<AppState>,
    session: PortalSession,
    Path(handle): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(ins) = record_ins(&session, &handle) else { return super::not_found_page() };
    let pairs: Vec<(String, String)> = query.as_deref().and_then(|q| serde_urlencoded::from_str(q).ok()).unwrap_or_default();
    let done = match pairs.iter().find(|(k, _)| k == "fait").map(|(_, v)| v.as_str()) {
        Some("autorisation") => Some(
            "Autorisation du patient déclarée : vous pouvez consulter son dossier. Le patient en est informé et la voit dans l’historique des accès."
                .to_owned(),
        ),
        Some("urgence") => Some(format!(
            "Accès en urgence ouvert pour {}. Le patient en est informé et le délégué à la protection des données le contrôlera.",
            emergency_hours(&state)
        )),
        _ => None,
    };
    match state.carnet.patient_summary(&session.actor, &ins).await {
        Ok(found) => with_access(&state, &session, handle, found, done, query.as_deref()).await,
        Err(ServiceError::Forbidden(_)) => {
            let without = WithoutAccess {
                open: true,
                regulator: is_regulator(&session.actor),
                hours: emergency_hours(&state),
                motive: String::new(),
                motive_error: None,
                refusal: None,
            };
            without_access(&state, &session, &ins, handle, StatusCode::OK, without, done).await
        }
        Err(e) => super::service_error_page(e),
    }
}

/// The INS a handle of this session names, for a professional's session only.
pub(super) fn record_ins(session: &PortalSession, handle: &str) -> Option<Ins> {
    professional(session)?;
    patients::ins_of(session, handle)
}

fn emergency_hours(state: &AppState) -> String {
    let hours = state.carnet.config().emergency_duration.whole_hours().max(1);
    words::counted(u64::try_from(hours).unwrap_or(1), "heure", "heures", "")
}

async fn with_access(
    state: &AppState,
    session: &PortalSession,
    handle: String,
    (view, visible, basis): (RecordView, Vec<Visible>, carnet_domain::Basis),
    done: Option<String>,
    query: Option<&str>,
) -> Response {
    let views = match state.carnet.views(&visible).await {
        Ok(v) => v,
        Err(e) => return super::service_error_page(e),
    };
    let summary = summary(state, views.iter().map(|v| &v.meta));
    let list = documents::document_list(state, session, views, query);
    let status = if list.from_error.is_some() || list.to_error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    // What a doctor must not miss (an allergy) is read before the documents; a read of the
    // profile in the patient's history, as it is.
    let items = match state.carnet.profile(&session.actor, &view.ins, ProfileQuery::default()).await {
        Ok(items) => items,
        Err(e) => return super::service_error_page(e),
    };
    let h = handle.clone();
    let essentials = super::profile::essentials(&items, &move |id| format!("/patients/{h}/documents/{id}"));
    let rendered = RecordPage {
        page: "pro-patients",
        csrf: session.csrf_token.clone(),
        represented: None,
        handle,
        name: short_name(&view),
        identity: identity(&view, words::day_in_paris(state.carnet.clock().now())),
        done,
        access: Some(WithAccess { basis: basis_words(basis), summary, list, essentials }),
        without: None,
    }
    .render();
    page(status, rendered)
}

/// Why this professional may consult the record, as the page says it: they must know whether
/// it is the patient's trust or an emergency they are answering for.
fn basis_words(basis: carnet_domain::Basis) -> &'static str {
    use carnet_domain::Basis;
    match basis {
        Basis::MedecinTraitant => "Vous consultez ce dossier en tant que médecin traitant du patient.",
        Basis::Authorization => "Vous consultez ce dossier avec l’autorisation du patient.",
        Basis::ExtendedRights => "Vous consultez ce dossier avec des droits étendus que le patient vous a accordés.",
        Basis::Author => "Vous consultez ce dossier en tant qu’auteur de documents : vous n’y voyez que ceux que vous avez déposés.",
        Basis::BrisDeGlace => {
            "Vous consultez ce dossier en urgence (bris de glace) : le patient en est informé et le délégué à la protection des données contrôlera cet accès."
        }
        Basis::Samu => {
            "Vous consultez ce dossier par l’accès du SAMU (centre 15) : le patient en est informé et le délégué à la protection des données contrôlera cet accès."
        }
        Basis::Patient | Basis::Representative => "Vous consultez votre propre dossier.",
    }
}

/// The documents in force per type: how many and the latest.
fn summary<'a>(state: &AppState, metas: impl Iterator<Item = &'a DocumentMeta>) -> Vec<SummaryLine> {
    let codes = &state.carnet.config().codes;
    let mut by_type: Vec<(String, u64, time::OffsetDateTime)> = Vec::new();
    for m in metas.filter(|m| m.status == DocumentStatus::Current) {
        let kind = codes.find_type(&m.xds.type_code).map_or_else(|| "Type de document non précisé".to_owned(), |t| t.display.clone());
        let date = carnet_service::act_date(m);
        match by_type.iter_mut().find(|(k, _, _)| *k == kind) {
            Some((_, n, latest)) => {
                *n += 1;
                *latest = (*latest).max(date);
            }
            None => by_type.push((kind, 1, date)),
        }
    }
    by_type.sort_by_key(|(_, _, latest)| std::cmp::Reverse(*latest));
    by_type
        .into_iter()
        .map(|(kind, n, latest)| SummaryLine {
            kind,
            count: words::counted(n, "document", "documents", "aucun document"),
            latest: words::date(latest),
        })
        .collect()
}

/// The record page without access: the identity as PDQm gives it, and what may be done.
async fn without_access(
    state: &AppState,
    session: &PortalSession,
    ins: &Ins,
    handle: String,
    status: StatusCode,
    mut without: WithoutAccess,
    done: Option<String>,
) -> Response {
    let view = match state.carnet.read_patient(&session.actor, ins).await {
        Ok(Some(view)) => view,
        Ok(None) => return super::not_found_page(),
        Err(e) => return super::service_error_page(e),
    };
    without.open = view.status == RecordStatus::Active;
    let rendered = RecordPage {
        page: "pro-patients",
        csrf: session.csrf_token.clone(),
        represented: None,
        handle,
        name: short_name(&view),
        identity: identity(&view, words::day_in_paris(state.carnet.clock().now())),
        done,
        access: None,
        without: Some(without),
    }
    .render();
    page(status, rendered)
}

/// The fields of a form that carries nothing but its CSRF token.
#[derive(serde::Deserialize)]
pub struct NoFields {}

/// `POST /patients/{handle}/autorisation`: the professional declares, at the point of care, the
/// patient's authorization for themselves (`PolicyChange::DeclareAuthorization`, the default
/// window of their profession), recorded and notified as on `/api`.
pub async fn declare(
    State(state): State<AppState>,
    Path(handle): Path<String>,
    PortalForm { session, form: NoFields {} }: PortalForm<NoFields>,
) -> Response {
    let Some(ins) = record_ins(&session, &handle) else { return super::not_found_page() };
    let Some(pro) = professional(&session) else { return super::not_found_page() };
    let change = PolicyChange::DeclareAuthorization { rpps: pro.rpps.clone(), expires_at: None };
    let refusal = match state.carnet.change_policy(&session.actor, &ins, change).await {
        Ok(_) => return Redirect::to(&format!("/patients/{handle}?fait=autorisation")).into_response(),
        Err(ServiceError::NotFound(_)) => return super::not_found_page(),
        // As on `/api`, the refusal does not say why (a block is the patient's business).
        Err(e @ (ServiceError::Conflict(_) | ServiceError::Forbidden(_) | ServiceError::Invalid(_))) => (
            if matches!(e, ServiceError::Conflict(_)) { StatusCode::CONFLICT } else { StatusCode::FORBIDDEN },
            "Votre déclaration n’a pas été enregistrée : vous ne pouvez pas déclarer d’autorisation sur ce dossier.",
        ),
        Err(e) => return super::service_error_page(e),
    };
    let without = WithoutAccess {
        open: true,
        regulator: is_regulator(&session.actor),
        hours: emergency_hours(&state),
        motive: String::new(),
        motive_error: None,
        refusal: Some(refusal.1),
    };
    without_access(&state, &session, &ins, handle, refusal.0, without, None).await
}

#[derive(serde::Deserialize)]
pub struct EmergencyForm {
    #[serde(default)]
    motif: String,
}

/// `POST /patients/{handle}/urgence`: bris de glace (a professional) or SAMU access (a
/// regulator), with its written motive; refused here, before the service hears of it, when the
/// motive is empty (nothing recorded).
pub async fn emergency(
    State(state): State<AppState>,
    Path(handle): Path<String>,
    PortalForm { session, form }: PortalForm<EmergencyForm>,
) -> Response {
    let Some(ins) = record_ins(&session, &handle) else { return super::not_found_page() };
    let regulator = is_regulator(&session.actor);
    let motive = form.motif.trim().to_owned();
    let mut without = WithoutAccess {
        open: true,
        regulator,
        hours: emergency_hours(&state),
        motive: form.motif.clone(),
        motive_error: None,
        refusal: None,
    };
    if motive.is_empty() {
        without.motive_error = Some("Indiquez le motif de l’accès en urgence : il est obligatoire. Rien n’a été ouvert.");
        return without_access(&state, &session, &ins, handle, StatusCode::BAD_REQUEST, without, None).await;
    }
    if motive.chars().count() > carnet_domain::emergency::MAX_JUSTIFICATION {
        without.motive_error = Some("Ce motif est trop long : 1 000 caractères au plus. Rien n’a été ouvert.");
        return without_access(&state, &session, &ins, handle, StatusCode::BAD_REQUEST, without, None).await;
    }
    let kind = if regulator { EmergencyKind::Samu } else { EmergencyKind::BrisDeGlace };
    match state.carnet.open_emergency(&session.actor, &ins, kind, &motive).await {
        Ok(_) => Redirect::to(&format!("/patients/{handle}?fait=urgence")).into_response(),
        Err(ServiceError::Invalid(_)) => {
            without.motive_error = Some("Indiquez le motif de l’accès en urgence (1 000 caractères au plus). Rien n’a été ouvert.");
            without_access(&state, &session, &ins, handle, StatusCode::BAD_REQUEST, without, None).await
        }
        Err(ServiceError::Forbidden(_)) => {
            // One sentence whatever the reason: the professional must not learn what the patient chose.
            without.refusal = Some("L’accès en urgence à ce dossier n’est pas possible. Rien n’a été ouvert.");
            without_access(&state, &session, &ins, handle, StatusCode::FORBIDDEN, without, None).await
        }
        Err(e) => super::service_error_page(e),
    }
}

// ---------------------------------------------------------------------------------------------
// A document of the record

#[derive(Template)]
#[template(path = "pro_document.html")]
struct DocumentPage {
    page: &'static str,
    csrf: String,
    represented: Option<super::record::Represented>,
    handle: String,
    id: String,
    title: String,
    facts: Vec<Fact>,
    notes: Vec<&'static str>,
    viewable: bool,
    pdf: bool,
    format: &'static str,
    versions: Vec<VersionLink>,
}

/// `GET /patients/{handle}/documents/{id}`: a document's page, its content in the page.
pub async fn document(State(state): State<AppState>, session: PortalSession, Path((handle, id)): Path<(String, String)>) -> Response {
    let Some(ins) = record_ins(&session, &handle) else { return super::not_found_page() };
    let visible = match documents::document_in(&state, &session, &ins, &id, DocumentAction::Read).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let view = match state.carnet.view(&visible).await {
        Ok(v) => v,
        Err(e) => return super::service_error_page(e),
    };
    let m = &view.meta;
    let versions = match documents::versions_of(&state, &session, m).await {
        Ok(v) => v,
        Err(e) => return super::service_error_page(e),
    };
    let facts = documents::document_facts(&state, &session, m).await;
    let mime = documents::essence(&m.xds.mime_type);
    let rendered = DocumentPage {
        page: "pro-patients",
        csrf: session.csrf_token.clone(),
        represented: None,
        handle,
        id: m.id.to_string(),
        title: view.title.clone().unwrap_or_else(|| "Document sans titre".to_owned()),
        facts,
        notes: documents::notes(m),
        viewable: documents::VIEWABLE.contains(&mime.as_str()),
        pdf: mime == "application/pdf",
        format: words::format(&m.xds.mime_type),
        versions,
    }
    .render();
    let mut response = page(StatusCode::OK, rendered);
    response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(documents::DOCUMENT_PAGE_CSP));
    response
}

/// `GET /patients/{handle}/documents/{id}/contenu`: what the document page's viewer frames.
pub async fn content(
    State(state): State<AppState>,
    session: PortalSession,
    Path((handle, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let Some(ins) = record_ins(&session, &handle) else { return super::not_found_page() };
    documents::bytes_in(&state, &session, &ins, &id, &headers, "inline").await
}

/// `GET /patients/{handle}/documents/{id}/telecharger`.
pub async fn download(
    State(state): State<AppState>,
    session: PortalSession,
    Path((handle, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let Some(ins) = record_ins(&session, &handle) else { return super::not_found_page() };
    documents::bytes_in(&state, &session, &ins, &id, &headers, "attachment").await
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn each_ins_mistake_has_its_own_words() {
        let message = |raw: &str| Ins::parse(raw).err().map(|e| ins_problem(&e));
        assert!(message("1850375123456").is_some_and(|m| m.contains("15 chiffres")));
        assert!(message("18503751234A641").is_some_and(|m| m.contains("que des chiffres")));
        assert!(message("1850375123456 42").is_some_and(|m| m.contains("La clé")));
        assert_eq!(message("1850375123456 41"), None);
    }

    proptest! {
        /// Whatever is typed, the page has words for what is wrong with it (never a panic, never a code).
        #[test]
        fn any_typed_ins_is_accepted_or_explained(raw in "\\PC{0,30}") {
            if let Err(e) = Ins::parse(&raw) {
                let m = ins_problem(&e);
                prop_assert!(!m.is_empty() && !m.contains("found"));
            }
        }
    }
}
