//! The patient's choices of who sees their record: *Qui peut voir mon dossier* (médecin traitant,
//! authorizations, blocks, the two emergency oppositions, legal representatives, with a search of
//! the directory by name or RPPS), *Notifications* and *Applications connectées*. Each page calls
//! the service methods `/api` calls (`policy`, `change_policy`, the directory, the notification
//! preferences, the connected apps): who may do what stays the domain's.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use carnet_domain::{Actor, Ins, PatientPolicy, PolicyChange, Rpps};
use carnet_service::{Carnet, Preferences, ServiceError};
use time::{Duration, OffsetDateTime};

use super::session::{PortalForm, PortalSession};
use super::{page, words};
use crate::AppState;

/// A professional as the pages name them: from the directory when it knows them.
pub struct Person {
    pub rpps: String,
    /// `Paul Bernard`, or `professionnel n° RPPS …` for one the directory does not know.
    pub name: String,
    /// Profession and organisation, in words (empty when unknown).
    pub details: String,
}

pub struct Authorized {
    pub person: Person,
    /// `Autorisé jusqu’au 12 mars 2027`, or without an end.
    pub until: String,
    /// Declared by a professional at the point of care, rather than given here.
    pub declared: bool,
}

pub struct RepresentativeLine {
    pub who: String,
    pub kind: &'static str,
    pub since: String,
    pub until: String,
    pub current: bool,
    /// Whether this person may end it (the patient any; a representative their own).
    pub may_end: bool,
    /// The position in the policy's list (the form's value: never the reference itself).
    pub index: usize,
}

/// One directory answer of a search, as a choice.
pub struct Found {
    pub rpps: String,
    pub name: String,
    pub details: String,
    /// Why choosing them would not do what the button says, if so.
    pub note: Option<&'static str>,
}

/// A search of the directory and its answers, in one section of the page.
pub struct SearchBox {
    /// `autoriser`, `bloquer`, `medecin`: the change the chosen one is for.
    pub purpose: &'static str,
    pub label: &'static str,
    /// What the search button's name adds for screen readers (three on the page).
    pub button_more: &'static str,
    /// The button under the answers.
    pub choose: &'static str,
    pub query: String,
    pub error: Option<String>,
    pub searched: bool,
    pub results: Vec<Found>,
    pub more: bool,
    pub choice_error: Option<&'static str>,
}

impl SearchBox {
    fn new(purpose: &'static str) -> SearchBox {
        let (label, button_more, choose) = match purpose {
            "bloquer" => {
                ("Nom de famille ou numéro RPPS du professionnel à bloquer", " un professionnel à bloquer", "Bloquer ce professionnel")
            }
            "medecin" => {
                ("Nom de famille ou numéro RPPS de votre médecin traitant", " votre médecin traitant", "Désigner comme médecin traitant")
            }
            _ => (
                "Nom de famille ou numéro RPPS du professionnel à autoriser",
                " un professionnel à autoriser",
                "Autoriser ce professionnel",
            ),
        };
        SearchBox {
            purpose,
            label,
            button_more,
            choose,
            query: String::new(),
            error: None,
            searched: false,
            results: Vec::new(),
            more: false,
            choice_error: None,
        }
    }
}

#[derive(Template)]
#[template(path = "access.html")]
struct AccessPage {
    page: &'static str,
    csrf: String,
    represented: Option<super::record::Represented>,
    done: Option<&'static str>,
    /// `(field id, message)`, for the summary at the top.
    errors: Vec<(String, String)>,
    medecin: Option<Person>,
    extended: Vec<Person>,
    authorized: Vec<Authorized>,
    authorized_count: String,
    blocked: Vec<Person>,
    blocked_count: String,
    opposes_bris_de_glace: bool,
    opposes_samu: bool,
    representatives: Vec<RepresentativeLine>,
    show_representatives: bool,
    authorize: SearchBox,
    block: SearchBox,
    medecin_search: SearchBox,
}

/// What the page says after a change (the `fait` flag of the redirect).
fn done_sentence(flag: &str) -> Option<&'static str> {
    Some(match flag {
        "autorise" => "Le professionnel est autorisé à consulter votre dossier.",
        "retire" => "Autorisation retirée : ce professionnel ne peut plus consulter votre dossier.",
        "bloque" => "Professionnel bloqué : il ne voit plus rien de votre dossier.",
        "debloque" => "Professionnel débloqué. Il n’est pas autorisé pour autant : autorisez-le si vous le souhaitez.",
        "medecin" => "Votre médecin traitant est enregistré.",
        "sans-medecin" => "Vous n’avez plus de médecin traitant déclaré dans Carnet.",
        "droits-retires" => "Ce professionnel n’a plus les droits de votre médecin traitant.",
        "opposition-urgence" => "Votre opposition à l’accès en urgence est enregistrée.",
        "fin-opposition-urgence" => "Vous ne vous opposez plus à l’accès en urgence.",
        "opposition-samu" => "Votre opposition à l’accès par le SAMU est enregistrée.",
        "fin-opposition-samu" => "Vous ne vous opposez plus à l’accès par le SAMU.",
        "representation" => "La représentation légale a pris fin.",
        _ => return None,
    })
}

#[derive(serde::Deserialize, Default)]
pub struct Done {
    #[serde(default)]
    fait: Option<String>,
}

/// How the page names a professional of the policy: the directory's name and profession, or
/// their RPPS when the directory does not know them.
async fn person(carnet: &Carnet, actor: &Actor, rpps: &Rpps) -> Result<Person, ServiceError> {
    match carnet.find_professional(actor, rpps).await {
        Ok(p) => Ok(Person { rpps: rpps.to_string(), name: format!("{} {}", p.given_name, p.family_name), details: details(&p) }),
        Err(ServiceError::NotFound(_)) => {
            Ok(Person { rpps: rpps.to_string(), name: format!("professionnel n° RPPS {rpps}"), details: String::new() })
        }
        Err(e) => Err(e),
    }
}

fn details(p: &carnet_domain::Professional) -> String {
    match &p.organisation {
        Some(finess) => format!("{}, établissement n° FINESS {finess}", p.profession.label_fr()),
        None => p.profession.label_fr().to_owned(),
    }
}

async fn people(carnet: &Carnet, actor: &Actor, rpps: &[Rpps]) -> Result<Vec<Person>, ServiceError> {
    let mut out = Vec::with_capacity(rpps.len());
    for r in rpps {
        out.push(person(carnet, actor, r).await?);
    }
    Ok(out)
}

/// The page's data from the policy, with no search under way.
async fn access_page(
    state: &AppState,
    session: &PortalSession,
    ins: &Ins,
    done: Option<&'static str>,
) -> Result<(AccessPage, PatientPolicy), ServiceError> {
    let carnet = &state.carnet;
    let actor = &session.actor;
    let policy = carnet.policy(actor, ins).await?;
    let now = carnet.clock().now();
    let medecin = match &policy.medecin_traitant {
        Some(r) => Some(person(carnet, actor, r).await?),
        None => None,
    };
    let mut authorized = Vec::new();
    for a in &policy.authorizations {
        let until = match a.expires_at {
            Some(at) if at <= now => format!("Autorisation expirée le {}", words::date(at)),
            Some(at) => format!("Autorisé jusqu’au {}", words::date(at)),
            None => "Autorisé sans date de fin, jusqu’à ce que vous retiriez l’autorisation".to_owned(),
        };
        authorized.push(Authorized { person: person(carnet, actor, &a.rpps).await?, until, declared: a.declared.is_some() });
    }
    let representatives = policy
        .representatives
        .iter()
        .enumerate()
        .map(|(index, r)| {
            let own = actor.has_reference(&r.representative);
            RepresentativeLine {
                who: if own { "Vous".to_owned() } else { "Un représentant légal enregistré".to_owned() },
                kind: words::representation(r.kind),
                since: words::date(r.since),
                until: r.until.map_or_else(|| "sans date de fin".to_owned(), |u| format!("jusqu’au {}", words::date(u))),
                current: r.is_current(now),
                may_end: r.is_current(now) && (own || matches!(actor.kind, carnet_domain::ActorKind::Patient { .. })),
                index,
            }
        })
        .collect::<Vec<_>>();
    let blocked = people(carnet, actor, &policy.blocked).await?;
    let page = AccessPage {
        page: "acces",
        csrf: session.csrf_token.clone(),
        represented: super::record::represented(state, session).await,
        done,
        errors: Vec::new(),
        medecin,
        extended: people(carnet, actor, &policy.extended_rights).await?,
        authorized_count: words::counted(authorized.len() as u64, "professionnel", "professionnels", "aucun"),
        authorized,
        blocked_count: words::counted(blocked.len() as u64, "professionnel", "professionnels", "aucun"),
        blocked,
        opposes_bris_de_glace: policy.opposes_bris_de_glace,
        opposes_samu: policy.opposes_samu,
        show_representatives: !representatives.is_empty() || matches!(actor.kind, carnet_domain::ActorKind::Representative { .. }),
        representatives,
        authorize: SearchBox::new("autoriser"),
        block: SearchBox::new("bloquer"),
        medecin_search: SearchBox::new("medecin"),
    };
    Ok((page, policy))
}

/// `/acces`: *Qui peut voir mon dossier*.
pub async fn access(State(state): State<AppState>, session: PortalSession, Query(done): Query<Done>) -> Response {
    let Some(ins) = session.record().cloned() else { return super::not_found_page() };
    let done = done.fait.as_deref().and_then(done_sentence);
    match access_page(&state, &session, &ins, done).await {
        Ok((p, _)) => page(StatusCode::OK, p.render()),
        Err(e) => super::service_error_page(e),
    }
}

#[derive(serde::Deserialize)]
pub struct SearchForm {
    #[serde(default)]
    pour: String,
    #[serde(default)]
    recherche: String,
}

/// Which section a search or a choice belongs to.
fn purpose(raw: &str) -> Option<&'static str> {
    ["autoriser", "bloquer", "medecin"].into_iter().find(|p| *p == raw)
}

/// Looks `query` up in the directory (11 digits: an RPPS; else the start of a family name) and
/// fills the box with the answers or the message for its field.
async fn search_into(
    state: &AppState,
    actor: &Actor,
    policy: &PatientPolicy,
    search: &mut SearchBox,
    query: &str,
) -> Result<(), ServiceError> {
    let query = query.trim();
    search.query = query.to_owned();
    search.searched = true;
    let found = if !query.is_empty() && query.chars().all(|c| c.is_ascii_digit() || c == ' ') {
        let digits: String = query.chars().filter(|c| !c.is_whitespace()).collect();
        let Ok(rpps) = Rpps::parse(&digits) else {
            search.error = Some("Ce numéro RPPS n’est pas valide : il compte 11 chiffres. Vérifiez-le, ou cherchez par le nom.".to_owned());
            return Ok(());
        };
        match state.carnet.find_professional(actor, &rpps).await {
            Ok(p) => vec![p],
            Err(ServiceError::NotFound(_)) => Vec::new(),
            Err(e) => return Err(e),
        }
    } else {
        match state.carnet.find_professionals_by_name(actor, query).await {
            Ok(found) => {
                search.more = found.more;
                found.found
            }
            Err(ServiceError::Invalid(_)) => {
                search.error = Some(format!(
                    "Saisissez au moins {} lettres du nom de famille, ou les 11 chiffres du numéro RPPS.",
                    carnet_service::NAME_SEARCH_MIN
                ));
                return Ok(());
            }
            Err(e) => return Err(e),
        }
    };
    search.results = found
        .into_iter()
        .map(|p| {
            let note = match search.purpose {
                _ if policy.is_blocked(&p.rpps) && search.purpose != "bloquer" => Some("bloqué : débloquez-le d’abord"),
                "bloquer" if policy.is_blocked(&p.rpps) => Some("déjà bloqué"),
                "medecin" if policy.is_medecin_traitant(&p.rpps) => Some("déjà votre médecin traitant"),
                _ => None,
            };
            Found { rpps: p.rpps.to_string(), name: format!("{} {}", p.given_name, p.family_name), details: details(&p), note }
        })
        .collect();
    Ok(())
}

/// The page with a search's answers (or its error) in the section it was made from.
async fn page_with_search(
    state: &AppState,
    session: &PortalSession,
    purpose: &'static str,
    query: &str,
) -> Result<(AccessPage, bool), ServiceError> {
    let Some(ins) = session.record().cloned() else { return Err(ServiceError::NotFound("record")) };
    let (mut p, policy) = access_page(state, session, &ins, None).await?;
    let search = match purpose {
        "bloquer" => &mut p.block,
        "medecin" => &mut p.medecin_search,
        _ => &mut p.authorize,
    };
    search_into(state, &session.actor, &policy, search, query).await?;
    let invalid = search.error.clone();
    if let Some(message) = &invalid {
        p.errors.push((format!("recherche-{purpose}"), message.clone()));
    }
    Ok((p, invalid.is_some()))
}

/// `POST /acces/rechercher`: a search of the directory, answered by the page with the choices.
/// A POST (with the form's token) rather than a link: whom the patient looks for stays out of
/// URLs and logs.
pub async fn search(State(state): State<AppState>, PortalForm { session, form }: PortalForm<SearchForm>) -> Response {
    let Some(purpose) = purpose(&form.pour) else {
        return super::session::french_error(StatusCode::BAD_REQUEST, "Ce formulaire est incomplet.");
    };
    match page_with_search(&state, &session, purpose, &form.recherche).await {
        Ok((p, invalid)) => page(if invalid { StatusCode::BAD_REQUEST } else { StatusCode::OK }, p.render()),
        Err(e) => super::service_error_page(e),
    }
}

#[derive(serde::Deserialize)]
pub struct ChangeForm {
    action: String,
    #[serde(default)]
    rpps: Option<String>,
    #[serde(default)]
    duree: Option<String>,
    /// The search the choice was made among, shown again if nobody was chosen.
    #[serde(default)]
    recherche: Option<String>,
    #[serde(default)]
    representant: Option<usize>,
}

/// How long an authorization given here lasts; `None`: until withdrawn (a pharmacy's default
/// window aside, which the service applies).
fn expiry(duree: Option<&str>, now: OffsetDateTime) -> Option<OffsetDateTime> {
    match duree {
        Some("sans-fin") => None,
        Some("un-mois") => Some(now + Duration::days(30)),
        Some("six-mois") => Some(now + Duration::days(183)),
        _ => Some(now + Duration::days(365)),
    }
}

/// `POST /acces/modifier`: one change of the policy, then back to the page with what was done.
pub async fn change(State(state): State<AppState>, PortalForm { session, form }: PortalForm<ChangeForm>) -> Response {
    let Some(ins) = session.record().cloned() else { return super::not_found_page() };
    let actor = &session.actor;
    let chosen = match form.rpps.as_deref().map(str::trim).filter(|r| !r.is_empty()) {
        Some(raw) => match Rpps::parse(raw) {
            Ok(r) => Some(r),
            Err(_) => return super::session::french_error(StatusCode::BAD_REQUEST, "Ce formulaire est incomplet."),
        },
        None => None,
    };
    let now = state.carnet.clock().now();
    // The changes that need a professional chosen among a search's answers.
    if let Some(purpose) = purpose(&form.action)
        && chosen.is_none()
    {
        return choose_again(&state, &session, purpose, form.recherche.as_deref().unwrap_or_default()).await;
    }
    let (change, flag) = match (form.action.as_str(), chosen) {
        ("autoriser", Some(rpps)) => {
            (PolicyChange::Authorize { rpps, profession: None, expires_at: expiry(form.duree.as_deref(), now) }, "autorise")
        }
        ("retirer", Some(rpps)) => (PolicyChange::Revoke { rpps }, "retire"),
        ("bloquer", Some(rpps)) => (PolicyChange::Block { rpps }, "bloque"),
        ("debloquer", Some(rpps)) => (PolicyChange::Unblock { rpps }, "debloque"),
        ("medecin", Some(rpps)) => (PolicyChange::SetMedecinTraitant { rpps: Some(rpps) }, "medecin"),
        ("retirer-droits", Some(rpps)) => (PolicyChange::RevokeExtendedRights { rpps }, "droits-retires"),
        ("sans-medecin", _) => (PolicyChange::SetMedecinTraitant { rpps: None }, "sans-medecin"),
        ("opposition-urgence", _) => (PolicyChange::SetBrisDeGlaceOpposition { opposed: true }, "opposition-urgence"),
        ("fin-opposition-urgence", _) => (PolicyChange::SetBrisDeGlaceOpposition { opposed: false }, "fin-opposition-urgence"),
        ("opposition-samu", _) => (PolicyChange::SetSamuOpposition { opposed: true }, "opposition-samu"),
        ("fin-opposition-samu", _) => (PolicyChange::SetSamuOpposition { opposed: false }, "fin-opposition-samu"),
        ("fin-representation", _) => {
            // The form names the representation by its place in the list; the reference itself
            // (an identity provider's subject) is not the page's to carry.
            let policy = match state.carnet.policy(actor, &ins).await {
                Ok(p) => p,
                Err(e) => return super::service_error_page(e),
            };
            let Some(r) = form.representant.and_then(|i| policy.representatives.get(i)) else {
                return super::session::french_error(StatusCode::BAD_REQUEST, "Ce formulaire est incomplet.");
            };
            let own = actor.has_reference(&r.representative);
            let change = PolicyChange::EndRepresentative { representative: r.representative.clone() };
            return match state.carnet.change_policy(actor, &ins, change).await {
                // Their own ended, the record is no longer theirs to see.
                Ok(_) if own => Redirect::to("/").into_response(),
                Ok(_) => Redirect::to("/acces?fait=representation").into_response(),
                Err(e) => refused(e),
            };
        }
        _ => return super::session::french_error(StatusCode::BAD_REQUEST, "Ce formulaire est incomplet."),
    };
    match state.carnet.change_policy(actor, &ins, change).await {
        Ok(_) => Redirect::to(&format!("/acces?fait={flag}")).into_response(),
        Err(e) => refused(e),
    }
}

/// A change the service refused, said in words.
fn refused(e: ServiceError) -> Response {
    match e {
        ServiceError::Conflict(_) => super::error_page(
            StatusCode::CONFLICT,
            "Professionnel bloqué",
            "Ce professionnel est bloqué : rien ne peut lui être accordé. Débloquez-le d’abord si vous souhaitez l’autoriser, et rien n’a été modifié.",
        ),
        ServiceError::Invalid(_) => super::error_page(
            StatusCode::BAD_REQUEST,
            "Modification impossible",
            "Cette modification n’est pas possible : rien n’a été modifié.",
        ),
        other => super::service_error_page(other),
    }
}

/// A choice posted with nobody chosen: the answers again, with the message next to them.
async fn choose_again(state: &AppState, session: &PortalSession, purpose: &'static str, query: &str) -> Response {
    match page_with_search(state, session, purpose, query).await {
        Ok((mut p, _)) => {
            let message = "Choisissez un professionnel dans la liste.";
            let search = match purpose {
                "bloquer" => &mut p.block,
                "medecin" => &mut p.medecin_search,
                _ => &mut p.authorize,
            };
            search.choice_error = Some(message);
            p.errors.push((format!("trouves-{purpose}"), message.to_owned()));
            page(StatusCode::BAD_REQUEST, p.render())
        }
        Err(e) => super::service_error_page(e),
    }
}

// --- Notifications ---------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "access_notifications.html")]
struct NotificationsPage {
    page: &'static str,
    csrf: String,
    represented: Option<super::record::Represented>,
    done: bool,
    errors: Vec<(String, String)>,
    email: String,
    email_enabled: bool,
    webhook_url: String,
    email_error: Option<String>,
    webhook_error: Option<String>,
    /// The kinds the person chooses: (code, words, wanted).
    choices: Vec<(&'static str, &'static str, bool)>,
    /// What is always sent.
    always: &'static str,
}

impl NotificationsPage {
    fn new(session: &PortalSession, represented: Option<super::record::Represented>, prefs: &Preferences, done: bool) -> NotificationsPage {
        NotificationsPage {
            page: "notifications",
            csrf: session.csrf_token.clone(),
            represented,
            done,
            errors: Vec::new(),
            email: prefs.email.clone().unwrap_or_default(),
            email_enabled: prefs.email_enabled,
            webhook_url: prefs.webhook_url.clone().unwrap_or_default(),
            email_error: None,
            webhook_error: None,
            choices: carnet_service::MUTABLE_KINDS
                .iter()
                .filter_map(|k| Some((*k, words::notification_kind(k)?, !prefs.muted.iter().any(|m| m == k))))
                .collect(),
            always: words::notification_kind("emergency_access").unwrap_or_default(),
        }
    }
}

/// `/notifications`.
pub async fn notifications(State(state): State<AppState>, session: PortalSession, Query(done): Query<Done>) -> Response {
    let Some(ins) = session.record() else { return super::not_found_page() };
    match state.carnet.notification_preferences(&session.actor, ins).await {
        Ok(prefs) => page(
            StatusCode::OK,
            NotificationsPage::new(
                &session,
                super::record::represented(&state, &session).await,
                &prefs,
                done.fait.as_deref() == Some("enregistre"),
            )
            .render(),
        ),
        Err(e) => super::service_error_page(e),
    }
}

#[derive(serde::Deserialize)]
pub struct PreferencesForm {
    #[serde(default)]
    courriel: String,
    #[serde(default)]
    courriel_actif: Option<String>,
    #[serde(default)]
    webhook: String,
    /// Ticked: the person wants this kind (one field per kind: a form's repeated keys do not
    /// deserialize).
    #[serde(default)]
    voulu_new_document: Option<String>,
    #[serde(default)]
    voulu_first_access: Option<String>,
    #[serde(default)]
    voulu_policy_change: Option<String>,
}

/// `POST /notifications`: saved through the service, whose refusals are shown next to their field.
pub async fn save_notifications(State(state): State<AppState>, PortalForm { session, form }: PortalForm<PreferencesForm>) -> Response {
    let Some(ins) = session.record() else { return super::not_found_page() };
    let filled = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
    let wanted = [
        ("new_document", form.voulu_new_document.is_some()),
        ("first_access", form.voulu_first_access.is_some()),
        ("policy_change", form.voulu_policy_change.is_some()),
    ];
    let prefs = Preferences {
        email: filled(&form.courriel),
        email_enabled: form.courriel_actif.is_some(),
        webhook_url: filled(&form.webhook),
        muted: wanted.iter().filter(|(_, on)| !on).map(|(k, _)| (*k).to_owned()).collect(),
    };
    match state.carnet.set_notification_preferences(&session.actor, ins, prefs.clone()).await {
        Ok(_) => Redirect::to("/notifications?fait=enregistre").into_response(),
        Err(ServiceError::Invalid(message)) => {
            let mut p = NotificationsPage::new(&session, super::record::represented(&state, &session).await, &prefs, false);
            // The entered values stay as typed.
            p.email = form.courriel.clone();
            p.webhook_url = form.webhook.clone();
            if message.starts_with("webhook_url") {
                let m = "Cette adresse n’est pas valide : elle commence par https:// (ou http://) et ne contient pas d’espace.";
                p.webhook_error = Some(m.to_owned());
                p.errors.push(("webhook".to_owned(), m.to_owned()));
            } else if message.contains("required") {
                let m = "Indiquez votre adresse électronique pour recevoir les notifications par courriel.";
                p.email_error = Some(m.to_owned());
                p.errors.push(("courriel".to_owned(), m.to_owned()));
            } else {
                let m = "Cette adresse électronique n’est pas valide : elle s’écrit comme nom@exemple.fr.";
                p.email_error = Some(m.to_owned());
                p.errors.push(("courriel".to_owned(), m.to_owned()));
            }
            page(StatusCode::BAD_REQUEST, p.render())
        }
        Err(e) => super::service_error_page(e),
    }
}

// --- Applications connectées ----------------------------------------------------------------

pub struct AppLine {
    pub client_id: String,
    pub name: String,
    pub since: String,
    pub last_used: String,
    pub can: Vec<&'static str>,
    pub revoked: Option<String>,
}

#[derive(Template)]
#[template(path = "access_applications.html")]
struct AppsPage {
    page: &'static str,
    csrf: String,
    represented: Option<super::record::Represented>,
    done: Option<&'static str>,
    apps: Vec<AppLine>,
}

/// `/applications`.
pub async fn applications(State(state): State<AppState>, session: PortalSession, Query(done): Query<Done>) -> Response {
    let Some(ins) = session.record() else { return super::not_found_page() };
    let apps = match state.carnet.connected_apps(&session.actor, ins).await {
        Ok(apps) => apps,
        Err(e) => return super::service_error_page(e),
    };
    let apps = apps
        .into_iter()
        .map(|a| {
            let mut can: Vec<&'static str> = Vec::new();
            for phrase in a.scopes.split_whitespace().filter_map(words::scope) {
                if !can.contains(&phrase) {
                    can.push(phrase);
                }
            }
            AppLine {
                name: a.name,
                since: words::date(a.first_used_at),
                last_used: words::date_time(a.last_used_at),
                can,
                revoked: a.revoked.map(|r| words::date(r.at)),
                client_id: a.client_id,
            }
        })
        .collect();
    let done = match done.fait.as_deref() {
        Some("revoquee") => Some("L’application est révoquée : elle ne peut plus accéder à votre dossier."),
        Some("autorisee") => Some("L’application peut de nouveau accéder à votre dossier."),
        _ => None,
    };
    let represented = super::record::represented(&state, &session).await;
    page(StatusCode::OK, AppsPage { page: "applications", csrf: session.csrf_token.clone(), represented, done, apps }.render())
}

#[derive(serde::Deserialize)]
pub struct AppForm {
    application: String,
}

/// `POST /applications/revoquer`.
pub async fn revoke_app(State(state): State<AppState>, PortalForm { session, form }: PortalForm<AppForm>) -> Response {
    let Some(ins) = session.record() else { return super::not_found_page() };
    match state.carnet.revoke_app(&session.actor, ins, &form.application).await {
        Ok(_) => Redirect::to("/applications?fait=revoquee").into_response(),
        Err(e) => refused(e),
    }
}

/// `POST /applications/autoriser`.
pub async fn allow_app(State(state): State<AppState>, PortalForm { session, form }: PortalForm<AppForm>) -> Response {
    let Some(ins) = session.record() else { return super::not_found_page() };
    match state.carnet.allow_app(&session.actor, ins, &form.application).await {
        Ok(_) => Redirect::to("/applications?fait=autorisee").into_response(),
        Err(e) => refused(e),
    }
}
