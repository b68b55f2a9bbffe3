//! *Profil médical*: the record's structured items, read by the service through the gate (an
//! item is shown exactly when its source document may be), in the sections people know —
//! antécédents, allergies, traitements, vaccinations, mesures (with a curve), then the patient's
//! own declarations. The patient adds what no document says, withdraws what they declared, and
//! corrects what a document says of them with their own statement (the document is unchanged:
//! its author corrects it by replacing it).

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use carnet_domain::profile::{Coding, ItemValue, Quantity};
use carnet_domain::{Ins, ItemContent, ItemId, ItemKind, ItemOrigin, ProfileItem};
use carnet_service::{NewItem, ProfileQuery};

use super::chart::{Trend, decimal, trend_svg};
use super::session::{PortalForm, PortalSession};
use super::{page, service_error_page, words};
use crate::AppState;

/// Longest text a person types into one field of the profile.
const MAX_TEXT: usize = 500;

/// One item as a line of the page.
pub struct Line {
    pub label: String,
    /// Value, dates, status, lot… in words.
    pub details: Vec<String>,
    /// Where it comes from, in words.
    pub provenance: String,
    /// The source document's page, for an item read from a document.
    pub source: Option<String>,
    /// The item's id when this viewer may withdraw it (the patient's own declarations).
    pub removable: Option<String>,
    /// The correction page, when this viewer may correct it (the patient, of what a document says).
    pub correctable: Option<String>,
}

pub struct Section {
    pub id: &'static str,
    pub title: &'static str,
    pub empty: &'static str,
    pub lines: Vec<Line>,
}

/// One measured thing over time (a result or a vital sign), newest value first.
pub struct Measure {
    pub id: String,
    pub name: String,
    pub latest: String,
    pub chart: Option<String>,
    pub values: Vec<String>,
    pub provenance: String,
}

/// What a form sent back with its mistake: the field's id and the message.
pub struct Mistake {
    pub field: &'static str,
    pub message: String,
}

/// The message of `mistake` if it is about `field`: the field is then marked invalid and
/// described by it.
fn error_of<'m>(mistake: &'m Option<Mistake>, field: &str) -> Option<&'m str> {
    mistake.as_ref().filter(|m| m.field == field).map(|m| m.message.as_str())
}

/// What the patient typed in the profile page's forms, shown again with a mistake: nothing she
/// typed is lost because one field is to correct.
#[derive(Default)]
struct Typed {
    sorte: String,
    libelle: String,
    date: String,
    lieu: String,
    position: String,
    nom: String,
    lien: String,
    telephone: String,
}

impl ProfilePage {
    fn error_of(&self, field: &str) -> Option<&str> {
        error_of(&self.mistake, field)
    }
}

#[derive(Template)]
#[template(path = "profil.html")]
struct ProfilePage {
    page: &'static str,
    csrf: String,
    represented: Option<super::record::Represented>,
    /// The patient's own page (forms shown) or a professional's reading.
    own: bool,
    heading: String,
    back: Option<String>,
    done: Option<&'static str>,
    mistake: Option<Mistake>,
    typed: Typed,
    sections: Vec<Section>,
    measures: Vec<Measure>,
    directives: Vec<Line>,
    donation: Vec<Line>,
    contacts: Vec<Line>,
    max_text: usize,
}

/// The interpretation of a result, in words (HL7 ObservationInterpretation).
fn interpretation_words(code: &Coding) -> Option<String> {
    let words = match code.code.as_deref()? {
        "H" => "élevé",
        "HH" | "HU" => "très élevé",
        "L" => "bas",
        "LL" | "LU" => "très bas",
        "N" => "normal",
        "A" | "AA" => "anormal",
        "POS" => "positif",
        "NEG" => "négatif",
        _ => return code.display.clone(),
    };
    Some(words.to_owned())
}

/// The status worth saying. A CDA observation's `completed` says the act of observing is over,
/// not that the problem is, so it says nothing; an allergy or a problem is current unless said
/// otherwise.
fn clinical_status_words(kind: ItemKind, status: &str) -> Option<&'static str> {
    Some(match (kind, status) {
        (ItemKind::Medication, "active") => "en cours",
        (ItemKind::Medication, "completed") => "terminé",
        (ItemKind::Medication, "stopped" | "aborted") => "arrêté",
        (ItemKind::Medication, "on-hold" | "suspended") => "suspendu",
        (ItemKind::Condition | ItemKind::Allergy, "resolved" | "inactive") => "passé",
        (ItemKind::Condition | ItemKind::Allergy, "remission") => "en rémission",
        _ => return None,
    })
}

/// French names of the vital signs a source may code without a display.
fn vital_sign_name(code: &str) -> Option<&'static str> {
    Some(match code {
        "29463-7" | "3141-9" => "Poids",
        "8302-2" => "Taille",
        "8480-6" => "Pression artérielle systolique",
        "8462-4" => "Pression artérielle diastolique",
        "85354-9" => "Pression artérielle",
        "8867-4" => "Fréquence cardiaque",
        "39156-5" => "Indice de masse corporelle",
        "8310-5" => "Température",
        _ => return None,
    })
}

/// What the item is called: its text, else its code's display, else a vital sign's French
/// name; never a raw code.
fn label(content: &ItemContent) -> String {
    let code = content.code.as_ref();
    content
        .text
        .clone()
        .or_else(|| code.and_then(|c| c.display.clone()))
        .or_else(|| code.and_then(|c| c.code.as_deref()).and_then(vital_sign_name).map(str::to_owned))
        .unwrap_or_else(|| "Sans libellé".to_owned())
}

/// A decimal as the source wrote it (`1.25`), as French pages write it (`1,25`).
fn quantity_words(q: &Quantity) -> String {
    let number = q.value.parse::<f64>().ok().filter(|v| v.is_finite()).map_or_else(|| q.value.clone(), |v| decimal(v, 6));
    match q.unit.as_deref() {
        Some(u) if !u.is_empty() && u != "1" => format!("{number}\u{a0}{u}"),
        _ => number,
    }
}

fn value_words(value: &ItemValue) -> String {
    match value {
        ItemValue::Quantity(q) => quantity_words(q),
        ItemValue::Coded(c) => c.display.clone().or_else(|| c.code.clone()).unwrap_or_default(),
        ItemValue::Text { text } => text.clone(),
    }
}

/// `le 2 mars 2015`, `en mai 2009`, `en 2009`: French says a day with "le", a month or a year
/// with "en".
fn dates_words(content: &ItemContent) -> Option<String> {
    let at = |s: &Option<String>| s.as_deref().and_then(|t| Some((words::partial_date(t)?, t.len() >= 10)));
    let on = |(d, day): (String, bool)| if day { format!("le {d}") } else { format!("en {d}") };
    let since = |(d, day): (String, bool)| if day { format!("depuis le {d}") } else { format!("depuis {d}") };
    let until = |(d, day): (String, bool)| if day { format!("jusqu’au {d}") } else { format!("jusqu’en {d}") };
    match (at(&content.at), at(&content.from), at(&content.to)) {
        (Some(a), _, _) => Some(on(a)),
        (None, Some(f), Some(t)) => Some(format!("{}, {}", since(f), until(t))),
        (None, Some(f), None) => Some(since(f)),
        (None, None, Some(t)) => Some(until(t)),
        (None, None, None) => None,
    }
}

/// What the patient declares of herself rather than of her health.
fn is_declaration(kind: ItemKind) -> bool {
    matches!(kind, ItemKind::AdvanceDirective | ItemKind::OrganDonation | ItemKind::Contact)
}

fn provenance(item: &ProfileItem, own: bool) -> String {
    let when = words::date(item.meta.recorded_at);
    let who = item.content.author_name.as_deref();
    match &item.meta.origin {
        ItemOrigin::Document { .. } => match who {
            Some(name) => format!("D’après un document de {name}, déposé le {when}"),
            None => format!("D’après un document déposé le {when}"),
        },
        // A declaration (directives, donation, a contact) replaces the patient's own previous
        // one; no document says any of these.
        ItemOrigin::Patient if item.meta.replaces.is_some() && is_declaration(item.meta.kind) => match own {
            true => format!("Déclaré par vous le {when}, à la place de votre déclaration précédente"),
            false => format!("Déclaré par le patient le {when}, à la place de sa déclaration précédente"),
        },
        ItemOrigin::Patient if own && item.meta.replaces.is_some() => {
            format!("Déclaré par vous le {when}, pour corriger ce qu’indiquait un document")
        }
        ItemOrigin::Patient if own => format!("Déclaré par vous le {when}"),
        // "Corrects what a document said" only when the reader may see the item it replaces
        // (the service keeps `replaces` from the others).
        ItemOrigin::Patient if item.meta.replaces.is_some() => {
            format!("Déclaré par le patient le {when}, pour corriger ce qu’indiquait un document")
        }
        ItemOrigin::Patient => format!("Déclaré par le patient le {when}"),
        ItemOrigin::Professional => match who {
            Some(name) => format!("Saisi par {name} le {when}"),
            None => format!("Saisi par un professionnel de santé le {when}"),
        },
    }
}

fn line(item: &ProfileItem, own: bool, document_href: &dyn Fn(&str) -> String) -> Line {
    let c = &item.content;
    let mut details = Vec::new();
    if c.negated {
        details.push(
            match item.meta.kind {
                ItemKind::Immunization => "non faite",
                ItemKind::Allergy => "absence d’allergie constatée",
                _ => "absent",
            }
            .to_owned(),
        );
    }
    // A problem's value is often its own name again: said once.
    if let Some(v) = &c.value
        && value_words(v) != label(c)
    {
        details.push(value_words(v));
    }
    if let Some(s) = c.clinical_status.as_deref().and_then(|s| clinical_status_words(item.meta.kind, s)) {
        details.push(s.to_owned());
    }
    if let Some(d) = dates_words(c) {
        details.push(d);
    }
    if let Some(lot) = &c.lot {
        details.push(format!("lot {lot}"));
    }
    if let Some(p) = &c.performer {
        details.push(format!("par {p}"));
    }
    if let Some(d) = &c.details {
        details.push(d.clone());
    }
    Line {
        label: label(c),
        details,
        provenance: provenance(item, own),
        source: item.meta.origin.source_document().map(|d| document_href(&d.to_string())),
        removable: (own && item.meta.origin == ItemOrigin::Patient).then(|| item.meta.id.to_string()),
        correctable: (own && item.meta.origin.source_document().is_some()).then(|| format!("/profil/{}/corriger", item.meta.id)),
    }
}

/// What a doctor reads first on a record's page: allergies, current treatments and antécédents,
/// each line as the profile says it (the provenance is on the profile's page).
pub struct Essentials {
    pub groups: Vec<(&'static str, Vec<Line>)>,
}

impl Essentials {
    pub fn is_empty(&self) -> bool {
        self.groups.iter().all(|(_, lines)| lines.is_empty())
    }
}

/// The essentials of `items` (the profile as the viewer may see it), newest first in each group.
pub(super) fn essentials(items: &[ProfileItem], document_href: &dyn Fn(&str) -> String) -> Essentials {
    let group = |kind: ItemKind| -> Vec<Line> {
        let mut of: Vec<&ProfileItem> = items.iter().filter(|i| i.meta.kind == kind).collect();
        of.sort_by_key(|i| std::cmp::Reverse(i.meta.effective));
        of.into_iter().map(|i| line(i, false, document_href)).collect()
    };
    Essentials {
        groups: vec![
            ("Allergies et intolérances", group(ItemKind::Allergy)),
            ("Traitements en cours", group(ItemKind::Medication)),
            ("Antécédents", group(ItemKind::Condition)),
        ],
    }
}

/// Results and vital signs grouped by what they measure, each group with its curve.
fn measures(items: &[&ProfileItem], own: bool) -> Vec<Measure> {
    let mut groups: BTreeMap<String, Vec<&ProfileItem>> = BTreeMap::new();
    for item in items {
        let key = match &item.content.code {
            Some(Coding { system, code: Some(code), .. }) => format!("{}|{code}", system.as_deref().unwrap_or_default()),
            _ => label(&item.content).to_lowercase(),
        };
        groups.entry(key).or_default().push(item);
    }
    let mut out: Vec<Measure> = groups
        .into_values()
        .enumerate()
        .map(|(n, mut group)| {
            // Newest first; undated last.
            group.sort_by_key(|i| std::cmp::Reverse(i.meta.effective));
            let newest = group[0];
            let name = label(&newest.content);
            let quantity = |i: &ProfileItem| match &i.content.value {
                Some(ItemValue::Quantity(q)) => Some(q.clone()),
                _ => None,
            };
            let unit = quantity(newest).and_then(|q| q.unit);
            let points = group
                .iter()
                .filter_map(|i| {
                    let q = quantity(i)?;
                    // One curve, one unit: a value in another unit is listed, not drawn.
                    (q.unit == unit).then_some(())?;
                    Some((i.meta.effective?, q.value.parse::<f64>().ok()?))
                })
                .collect();
            let range = newest.content.reference_range.as_ref();
            let bound = |q: Option<&Quantity>| q.and_then(|q| q.value.parse::<f64>().ok());
            let trend = Trend {
                name: name.clone(),
                unit: unit.clone(),
                points,
                low: bound(range.and_then(|r| r.low.as_ref())),
                high: bound(range.and_then(|r| r.high.as_ref())),
            };
            // `1,4 mg/dL (élevé), le 4 juin 2026`
            let value_line = |i: &ProfileItem| {
                let mut text = i.content.value.as_ref().map_or_else(|| label(&i.content), value_words);
                if let Some(w) = i.content.interpretation.as_ref().and_then(interpretation_words) {
                    text = format!("{text} ({w})");
                }
                match i.meta.effective {
                    Some(at) => format!("{text}, le {}", words::date(at)),
                    None => format!("{text}, date inconnue"),
                }
            };
            Measure {
                id: format!("mesure-{}", n + 1),
                latest: value_line(newest),
                chart: if group.len() > 1 { trend_svg(&trend, &format!("courbe-{}", n + 1)) } else { None },
                values: group.iter().map(|i| value_line(i)).collect(),
                provenance: provenance(newest, own),
                name,
            }
        })
        .collect();
    out.sort_by_key(|m| m.name.to_lowercase());
    out
}

#[derive(serde::Deserialize, Default)]
pub struct Done {
    #[serde(default)]
    fait: Option<String>,
}

fn done_words(done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "ajoute" => "Information ajoutée à votre profil médical.",
        "enregistre" => "Votre déclaration est enregistrée.",
        "retire" => "Information retirée de votre profil médical.",
        "corrige" => "Votre correction est enregistrée. Le document, lui, n’est pas modifié.",
        _ => return None,
    })
}

struct Viewer {
    own: bool,
    page: &'static str,
    heading: String,
    back: Option<String>,
    document_href: Box<dyn Fn(&str) -> String + Send + Sync>,
}

async fn render(
    state: &AppState,
    session: &PortalSession,
    ins: &Ins,
    viewer: Viewer,
    status: StatusCode,
    mistake: Option<(Mistake, Typed)>,
    done: Option<&'static str>,
) -> Response {
    let (mistake, typed) = mistake.map_or((None, Typed::default()), |(m, t)| (Some(m), t));
    let items = match state.carnet.profile(&session.actor, ins, ProfileQuery::default()).await {
        Ok(items) => items,
        Err(e) => return service_error_page(e),
    };
    let of = |kinds: &[ItemKind]| -> Vec<&ProfileItem> {
        let mut v: Vec<&ProfileItem> = items.iter().filter(|i| kinds.contains(&i.meta.kind)).collect();
        v.sort_by(|a, b| b.meta.effective.cmp(&a.meta.effective).then(b.meta.recorded_at.cmp(&a.meta.recorded_at)));
        v
    };
    let lines = |kinds: &[ItemKind]| of(kinds).into_iter().map(|i| line(i, viewer.own, &*viewer.document_href)).collect::<Vec<_>>();
    let sections = vec![
        Section {
            id: "antecedents",
            title: "Antécédents",
            empty: "Aucun antécédent connu dans le dossier.",
            lines: lines(&[ItemKind::Condition]),
        },
        Section {
            id: "allergies",
            title: "Allergies et intolérances",
            empty: "Aucune allergie ni intolérance connue dans le dossier.",
            lines: lines(&[ItemKind::Allergy]),
        },
        Section {
            id: "traitements",
            title: "Traitements en cours",
            empty: "Aucun traitement connu dans le dossier.",
            lines: lines(&[ItemKind::Medication]),
        },
        Section {
            id: "vaccinations",
            title: "Vaccinations",
            empty: "Aucune vaccination connue dans le dossier.",
            lines: lines(&[ItemKind::Immunization]),
        },
    ];
    let rendered = ProfilePage {
        page: viewer.page,
        csrf: session.csrf_token.clone(),
        represented: super::record::represented(state, session).await,
        own: viewer.own,
        heading: viewer.heading,
        back: viewer.back,
        done,
        mistake,
        typed,
        sections,
        measures: measures(&of(&[ItemKind::Result, ItemKind::VitalSign]), viewer.own),
        directives: lines(&[ItemKind::AdvanceDirective]),
        donation: lines(&[ItemKind::OrganDonation]),
        contacts: lines(&[ItemKind::Contact]),
        max_text: MAX_TEXT,
    };
    page(status, rendered.render())
}

fn own_viewer() -> Viewer {
    Viewer {
        own: true,
        page: "profil",
        heading: "Mon profil médical".to_owned(),
        back: None,
        document_href: Box::new(|id| format!("/documents/{id}")),
    }
}

/// `GET /profil`: the patient's (or their representative's) profile.
pub async fn patient(State(state): State<AppState>, session: PortalSession, Query(done): Query<Done>) -> Response {
    let Some(ins) = session.record().cloned() else { return super::not_found_page() };
    render(&state, &session, &ins, own_viewer(), StatusCode::OK, None, done_words(done.fait.as_deref())).await
}

/// `GET /patients/{handle}/profil`: a professional reads a patient's profile.
pub async fn professional(State(state): State<AppState>, session: PortalSession, Path(handle): Path<String>) -> Response {
    let Some(ins) = super::professional::record_ins(&session, &handle) else { return super::not_found_page() };
    // The heading names the patient, as the record's page does: a doctor with several tabs open
    // must not read one patient's allergies as another's.
    let name = match state.carnet.record_status(&session.actor, &ins).await {
        Ok(view) => super::professional::short_name(&view),
        Err(e) => return service_error_page(e),
    };
    let h = handle.clone();
    let viewer = Viewer {
        own: false,
        page: "pro-patients",
        heading: format!("Profil médical de {name}"),
        back: Some(format!("/patients/{handle}")),
        document_href: Box::new(move |id| format!("/patients/{h}/documents/{id}")),
    };
    render(&state, &session, &ins, viewer, StatusCode::OK, None, None).await
}

/// A typed text: trimmed, required or not, at most [`MAX_TEXT`] characters.
fn typed(value: &str, field: &'static str, required: Option<&str>) -> Result<Option<String>, Mistake> {
    let v = value.trim();
    if v.is_empty() {
        return match required {
            Some(message) => Err(Mistake { field, message: message.to_owned() }),
            None => Ok(None),
        };
    }
    if v.chars().count() > MAX_TEXT {
        return Err(Mistake { field, message: format!("{MAX_TEXT} caractères au plus.") });
    }
    Ok(Some(v.to_owned()))
}

#[derive(serde::Deserialize)]
pub struct AddFields {
    #[serde(default)]
    sorte: String,
    #[serde(default)]
    libelle: String,
    #[serde(default)]
    date: String,
}

/// The item an "add" form describes, or the field to correct.
fn added(form: &AddFields) -> Result<NewItem, Mistake> {
    let kind = match form.sorte.as_str() {
        "antecedent" => ItemKind::Condition,
        "allergie" => ItemKind::Allergy,
        "traitement" => ItemKind::Medication,
        "vaccination" => ItemKind::Immunization,
        _ => return Err(Mistake { field: "sorte", message: "Choisissez ce que vous ajoutez.".to_owned() }),
    };
    let text = typed(&form.libelle, "libelle", Some("Écrivez ce que vous ajoutez, par exemple «\u{a0}allergie à la pénicilline\u{a0}»."))?;
    let at = match form.date.trim() {
        "" => None,
        d if words::paris_day_start(d).is_some() => Some(d.to_owned()),
        _ => return Err(Mistake { field: "date", message: "La date est à écrire sous la forme jj/mm/aaaa.".to_owned() }),
    };
    let status = match kind {
        ItemKind::Immunization => "completed",
        _ => "active",
    };
    Ok(NewItem { kind, content: ItemContent { text, at, clinical_status: Some(status.to_owned()), ..ItemContent::default() } })
}

/// The profile page again, with the form's mistake and what was typed.
async fn refused(state: &AppState, session: &PortalSession, ins: &Ins, mistake: Mistake, typed: Typed) -> Response {
    render(state, session, ins, own_viewer(), StatusCode::BAD_REQUEST, Some((mistake, typed)), None).await
}

/// `POST /profil/ajouter`: the patient adds what they know (self-declared).
pub async fn add(State(state): State<AppState>, PortalForm { session, form }: PortalForm<AddFields>) -> Response {
    let Some(ins) = session.record().cloned() else { return super::not_found_page() };
    let item = match added(&form) {
        Ok(i) => i,
        Err(m) => {
            let AddFields { sorte, libelle, date } = form;
            return refused(&state, &session, &ins, m, Typed { sorte, libelle, date, ..Typed::default() }).await;
        }
    };
    match state.carnet.add_profile_item(&session.actor, &ins, item).await {
        Ok(_) => Redirect::to("/profil?fait=ajoute#ajouter").into_response(),
        Err(e) => service_error_page(e),
    }
}

#[derive(serde::Deserialize)]
pub struct DeclarationFields {
    #[serde(default)]
    sorte: String,
    #[serde(default)]
    lieu: String,
    #[serde(default)]
    position: String,
    #[serde(default)]
    nom: String,
    #[serde(default)]
    lien: String,
    #[serde(default)]
    telephone: String,
}

/// Organ donation positions as the page offers them.
const DONATION: [(&str, &str); 2] = [
    ("accord", "Je ne m’oppose pas au prélèvement de mes organes et tissus après mon décès."),
    ("refus", "Je m’oppose au prélèvement de mes organes et tissus après mon décès."),
];

fn declared(form: &DeclarationFields) -> Result<NewItem, Mistake> {
    match form.sorte.as_str() {
        "directives" => {
            let place = typed(&form.lieu, "lieu", Some("Indiquez où se trouvent vos directives anticipées."))?;
            Ok(NewItem {
                kind: ItemKind::AdvanceDirective,
                content: ItemContent {
                    text: Some("Directives anticipées rédigées".to_owned()), details: place, ..ItemContent::default()
                },
            })
        }
        "don" => {
            let Some((_, words)) = DONATION.iter().find(|(code, _)| *code == form.position) else {
                return Err(Mistake { field: "position-accord", message: "Choisissez votre position.".to_owned() });
            };
            Ok(NewItem {
                kind: ItemKind::OrganDonation,
                content: ItemContent { text: Some((*words).to_owned()), ..ItemContent::default() },
            })
        }
        "contact" => {
            let name = typed(&form.nom, "nom", Some("Indiquez le nom de la personne à prévenir."))?;
            let relation = typed(&form.lien, "lien", None)?;
            let phone = typed(&form.telephone, "telephone", None)?;
            let details = [relation, phone.map(|p| format!("téléphone {p}"))].into_iter().flatten().collect::<Vec<_>>().join(" ; ");
            Ok(NewItem {
                kind: ItemKind::Contact,
                content: ItemContent { text: name, details: (!details.is_empty()).then_some(details), ..ItemContent::default() },
            })
        }
        _ => Err(Mistake { field: "lieu", message: "Ce formulaire est incomplet.".to_owned() }),
    }
}

/// `POST /profil/declarer`: advance directives and the organ donation position replace the
/// previous declaration (one position at a time); people to contact are added.
pub async fn declare(State(state): State<AppState>, PortalForm { session, form }: PortalForm<DeclarationFields>) -> Response {
    let Some(ins) = session.record().cloned() else { return super::not_found_page() };
    let item = match declared(&form) {
        Ok(i) => i,
        Err(m) => {
            let DeclarationFields { sorte: _, lieu, position, nom, lien, telephone } = form;
            let typed = Typed { lieu, position, nom, lien, telephone, ..Typed::default() };
            return refused(&state, &session, &ins, m, typed).await;
        }
    };
    let previous = if matches!(item.kind, ItemKind::AdvanceDirective | ItemKind::OrganDonation) {
        match state.carnet.profile(&session.actor, &ins, ProfileQuery { kind: Some(item.kind), history: false }).await {
            Ok(items) => items.into_iter().find(|i| i.meta.origin == ItemOrigin::Patient).map(|i| i.meta.id),
            Err(e) => return service_error_page(e),
        }
    } else {
        None
    };
    let saved = match previous {
        Some(id) => state.carnet.correct_profile_item(&session.actor, &ins, id, item).await,
        None => state.carnet.add_profile_item(&session.actor, &ins, item).await,
    };
    match saved {
        Ok(_) => Redirect::to("/profil?fait=enregistre#declarations").into_response(),
        Err(e) => service_error_page(e),
    }
}

/// `POST /profil/{id}/retirer`: the patient withdraws what they declared.
pub async fn withdraw(
    State(state): State<AppState>,
    Path(id): Path<String>,
    PortalForm { session, form: _ }: PortalForm<Empty>,
) -> Response {
    let Some(ins) = session.record().cloned() else { return super::not_found_page() };
    let Ok(id) = ItemId::parse(&id) else { return super::not_found_page() };
    match state.carnet.mark_profile_item_entered_in_error(&session.actor, &ins, id).await {
        Ok(()) => Redirect::to("/profil?fait=retire").into_response(),
        Err(e) => service_error_page(e),
    }
}

#[derive(serde::Deserialize)]
pub struct Empty {}

impl CorrectionPage {
    fn error_of(&self, field: &str) -> Option<&str> {
        error_of(&self.mistake, field)
    }
}

#[derive(Template)]
#[template(path = "profil_corriger.html")]
struct CorrectionPage {
    page: &'static str,
    csrf: String,
    represented: Option<super::record::Represented>,
    id: String,
    /// What the document says, as the profile shows it.
    said: Line,
    mistake: Option<Mistake>,
    typed: String,
    date: String,
    max_text: usize,
}

#[derive(serde::Deserialize, Default)]
pub struct CorrectionFields {
    #[serde(default)]
    libelle: String,
    #[serde(default)]
    date: String,
}

/// An item read from a document of the patient's record, that she may correct; else the page
/// of a missing one (another record's, hidden, or not read from a document).
async fn correctable(state: &AppState, session: &PortalSession, id: &str) -> Result<(Ins, ProfileItem), Response> {
    let Some(ins) = session.record().cloned() else { return Err(super::not_found_page()) };
    let Ok(id) = ItemId::parse(id) else { return Err(super::not_found_page()) };
    match state.carnet.profile_item(&session.actor, id).await {
        Ok((item, _)) if item.meta.ins == ins && item.meta.origin.source_document().is_some() => Ok((ins, item)),
        Ok(_) | Err(carnet_service::ServiceError::NotFound(_)) => Err(super::not_found_page()),
        Err(e) => Err(service_error_page(e)),
    }
}

async fn correction_page(
    state: &AppState,
    session: &PortalSession,
    item: &ProfileItem,
    status: StatusCode,
    mistake: Option<Mistake>,
    form: CorrectionFields,
) -> Response {
    let rendered = CorrectionPage {
        page: "profil",
        csrf: session.csrf_token.clone(),
        represented: super::record::represented(state, session).await,
        id: item.meta.id.to_string(),
        said: line(item, true, &|d| format!("/documents/{d}")),
        mistake,
        typed: form.libelle,
        date: form.date,
        max_text: MAX_TEXT,
    };
    page(status, rendered.render())
}

/// `GET /profil/{id}/corriger`: what a document says of the patient, and a form for what she
/// says instead.
pub async fn correction(State(state): State<AppState>, session: PortalSession, Path(id): Path<String>) -> Response {
    match correctable(&state, &session, &id).await {
        Ok((_, item)) => correction_page(&state, &session, &item, StatusCode::OK, None, CorrectionFields::default()).await,
        Err(r) => r,
    }
}

/// `POST /profil/{id}/corriger`: her statement, self-declared, replaces the document's item in
/// her profile (the document's stays in the history, and comes back if she withdraws hers).
pub async fn correct(
    State(state): State<AppState>,
    Path(id): Path<String>,
    PortalForm { session, form }: PortalForm<CorrectionFields>,
) -> Response {
    let (ins, item) = match correctable(&state, &session, &id).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    let text = match typed(&form.libelle, "libelle", Some("Écrivez ce qui est juste selon vous.")) {
        Ok(t) => t,
        Err(m) => return correction_page(&state, &session, &item, StatusCode::BAD_REQUEST, Some(m), form).await,
    };
    let at = match form.date.trim() {
        "" => None,
        d if words::paris_day_start(d).is_some() => Some(d.to_owned()),
        _ => {
            let m = Mistake { field: "date", message: "La date est à écrire sous la forme jj/mm/aaaa.".to_owned() };
            return correction_page(&state, &session, &item, StatusCode::BAD_REQUEST, Some(m), form).await;
        }
    };
    let status = match item.meta.kind {
        ItemKind::Immunization => "completed",
        _ => "active",
    };
    let content = ItemContent { text, at, clinical_status: Some(status.to_owned()), ..ItemContent::default() };
    match state.carnet.correct_profile_item(&session.actor, &ins, item.meta.id, NewItem { kind: item.meta.kind, content }).await {
        Ok(_) => Redirect::to(&format!("/profil?fait=corrige#{}", section_id(item.meta.kind))).into_response(),
        Err(e) => service_error_page(e),
    }
}

/// The page section an item's kind is listed in.
fn section_id(kind: ItemKind) -> &'static str {
    match kind {
        ItemKind::Condition => "antecedents",
        ItemKind::Allergy => "allergies",
        ItemKind::Medication => "traitements",
        ItemKind::Immunization => "vaccinations",
        ItemKind::Result | ItemKind::VitalSign => "mesures",
        ItemKind::AdvanceDirective | ItemKind::OrganDonation | ItemKind::Contact => "declarations",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_read_in_french_with_their_interpretation() {
        assert_eq!(quantity_words(&Quantity { value: "1.25".into(), unit: Some("mg/dL".into()) }), "1,25\u{a0}mg/dL");
        assert_eq!(quantity_words(&Quantity { value: "12000".into(), unit: Some("1".into()) }), "12\u{a0}000");
        assert_eq!(quantity_words(&Quantity { value: "abc".into(), unit: None }), "abc");
        let h = Coding { system: None, code: Some("H".into()), display: None };
        assert_eq!(interpretation_words(&h).as_deref(), Some("élevé"));
    }

    #[test]
    fn dates_read_as_precisely_as_they_were_written() {
        let with = |at: Option<&str>, from: Option<&str>, to: Option<&str>| {
            dates_words(&ItemContent {
                at: at.map(str::to_owned),
                from: from.map(str::to_owned),
                to: to.map(str::to_owned),
                ..ItemContent::default()
            })
        };
        assert_eq!(with(Some("2009-05"), None, None).as_deref(), Some("en mai\u{a0}2009"));
        assert_eq!(with(Some("2015-03-02"), None, None).as_deref(), Some("le 2\u{a0}mars\u{a0}2015"));
        assert_eq!(with(None, Some("2015-03-01"), None).as_deref(), Some("depuis le 1er\u{a0}mars\u{a0}2015"));
        assert_eq!(with(None, Some("2015"), Some("2016-06")).as_deref(), Some("depuis 2015, jusqu’en juin\u{a0}2016"));
        assert_eq!(with(None, None, None), None);
    }

    #[test]
    fn a_form_names_the_field_to_correct() {
        let form = AddFields { sorte: "allergie".into(), libelle: "  ".into(), date: String::new() };
        assert_eq!(added(&form).err().map(|m| m.field), Some("libelle"));
        let form = AddFields { sorte: "autre".into(), libelle: "x".into(), date: String::new() };
        assert_eq!(added(&form).err().map(|m| m.field), Some("sorte"));
        let form = AddFields { sorte: "allergie".into(), libelle: "Pénicilline".into(), date: "12/03/2024".into() };
        assert_eq!(added(&form).err().map(|m| m.field), Some("date"));
        let form = AddFields { sorte: "allergie".into(), libelle: "Pénicilline".into(), date: "2024-03-12".into() };
        let item = added(&form).ok().expect("valid");
        assert_eq!((item.kind, item.content.at.as_deref()), (ItemKind::Allergy, Some("2024-03-12")));
        let long = "x".repeat(MAX_TEXT + 1);
        let form = DeclarationFields {
            sorte: "contact".into(),
            lieu: String::new(),
            position: String::new(),
            nom: long,
            lien: String::new(),
            telephone: String::new(),
        };
        assert_eq!(declared(&form).err().map(|m| m.field), Some("nom"));
    }
}
