//! A profile item as its FHIR R4 resource, and its `Provenance`. Cannot fail; decides nothing
//! about visibility (the caller passes only items the gate let through).
//!
//! Provenance on each resource, the standard way where R4 has one: the author in `recorder`
//! (Condition, AllergyIntolerance), `informationSource` (MedicationStatement), `performer`
//! (Observation), `performer` (Consent); self-declared items name the Patient as `asserter` /
//! `informationSource` / `performer`, and an Immunization says `primarySource: false` with
//! `reportOrigin` `recall`. The source document of a CDA-derived item is `derivedFrom`
//! (Observation, MedicationStatement), `evidence.detail` (Condition), or Carnet's
//! `source-document` extension where R4 has no element (see [`super::systems`]); the
//! [`provenance`] resource says it for every kind (`entity.role` `source`).

use carnet_domain::InsKind;
use carnet_domain::profile::{Coding as ItemCoding, ItemKind, ItemOrigin, ItemStatus, ItemValue, ProfileItem, Quantity as ItemQuantity};

use super::{no_known_code, systems as sys};
use crate::datetime;
use crate::model::*;
use crate::render::{author_rpps, patient_reference};
use crate::systems;

/// The resource type that renders a kind.
pub fn resource_type(kind: ItemKind) -> &'static str {
    match kind {
        ItemKind::Condition => "Condition",
        ItemKind::Allergy => "AllergyIntolerance",
        ItemKind::Medication => "MedicationStatement",
        ItemKind::Immunization => "Immunization",
        ItemKind::Result | ItemKind::VitalSign | ItemKind::OrganDonation => "Observation",
        ItemKind::AdvanceDirective => "Consent",
        ItemKind::Contact => "RelatedPerson",
    }
}

/// `{Type}/{id}`: the item's resource, relative to the FHIR base.
pub fn item_reference(item: &ProfileItem) -> String {
    format!("{}/{}", resource_type(item.meta.kind), item.meta.id)
}

fn coding(c: &ItemCoding) -> Coding {
    Coding { system: c.system.clone(), code: c.code.clone(), display: c.display.clone() }
}

fn concept(code: Option<&ItemCoding>, text: Option<&str>) -> Option<CodeableConcept> {
    // A coding with neither code nor display says nothing: R4 forbids empty elements.
    let code = code.filter(|c| c.code.is_some() || c.display.is_some());
    (code.is_some() || text.is_some())
        .then(|| CodeableConcept { coding: code.map(coding).into_iter().collect(), text: text.map(str::to_owned) })
}

/// What the item is: its code and text, IPS's "none known" when denied without a code, or
/// `data-absent-reason#unknown` where R4 requires a code.
fn what(item: &ProfileItem, required: bool) -> Option<CodeableConcept> {
    let c = &item.content;
    if let Some(cc) = concept(c.code.as_ref(), c.text.as_deref()) {
        return Some(cc);
    }
    if c.negated
        && let Some(code) = no_known_code(item.meta.kind)
    {
        return Some(CodeableConcept::of(Coding::new(sys::IPS_ABSENT_UNKNOWN, code, None)));
    }
    required.then(|| CodeableConcept::of(Coding::new(sys::DATA_ABSENT_REASON, "unknown", Some("Unknown"))))
}

/// Whether the denial is said by IPS's "none known" code rather than a status.
fn denied_by_code(item: &ProfileItem) -> bool {
    item.content.negated && item.content.code.is_none() && item.content.text.is_none() && no_known_code(item.meta.kind).is_some()
}

fn self_declared(item: &ProfileItem) -> bool {
    item.meta.origin == ItemOrigin::Patient
}

/// The author: a professional by IdNat_PS (with the name the source gave), anyone else by name.
fn author(item: &ProfileItem) -> Reference {
    let name = item.content.author_name.clone();
    match author_rpps(&item.meta.recorded_by) {
        Some(rpps) => Reference {
            identifier: Some(Identifier::new(systems::IDNAT_PS, &format!("8{}", rpps.as_str()))),
            display: name,
            ..Reference::default()
        },
        None => Reference { display: Some(name.unwrap_or_else(|| item.meta.recorded_by.clone())), ..Reference::default() },
    }
}

/// The patient, for `subject` / `patient`, and as the asserter of self-declared items.
fn patient(item: &ProfileItem, kind: InsKind) -> Reference {
    patient_reference(&item.meta.ins, kind)
}

fn source(item: &ProfileItem) -> Option<Reference> {
    item.meta.origin.source_document().map(|d| Reference::to(format!("DocumentReference/{d}")))
}

fn source_extension(item: &ProfileItem) -> Option<Extension> {
    source(item).map(|r| Extension { value_reference: Some(r), ..Extension::new(&sys::source_document_extension()) })
}

fn source_status_extension(word: &str) -> Extension {
    Extension { value_string: Some(word.to_owned()), ..Extension::new(&sys::source_status_extension()) }
}

fn negated_extension() -> Extension {
    Extension { value_boolean: Some(true), ..Extension::new(&sys::negated_extension()) }
}

/// A clinical status in a value set: coded when it is one of `codes`, else kept in the
/// `source-status` extension.
fn status_in(word: Option<&str>, codes: &[&'static str]) -> (Option<&'static str>, Option<Extension>) {
    match word {
        None => (None, None),
        Some(w) => match codes.iter().find(|c| **c == w) {
            Some(c) => (Some(*c), None),
            None => (None, Some(source_status_extension(w))),
        },
    }
}

const CONDITION_STATUSES: [&str; 6] = ["active", "recurrence", "relapse", "inactive", "remission", "resolved"];
const ALLERGY_STATUSES: [&str; 3] = ["active", "inactive", "resolved"];
const MEDICATION_STATUSES: [&str; 7] = ["active", "completed", "intended", "stopped", "on-hold", "unknown", "not-taken"];
const IMMUNIZATION_STATUSES: [&str; 2] = ["completed", "not-done"];
const OBSERVATION_STATUSES: [&str; 7] = ["registered", "preliminary", "final", "amended", "corrected", "cancelled", "unknown"];

fn meta_of(item: &ProfileItem) -> Option<Meta> {
    Some(Meta { last_updated: Some(datetime::instant(item.meta.recorded_at)), ..Meta::default() })
}

/// The clinical status an item shows in FHIR (`clinicalStatus` code or `status`), for rendering
/// and for the `clinical-status` / `status` searches, so the two cannot disagree.
pub(crate) fn shown_status(item: &ProfileItem) -> Option<&'static str> {
    let word = item.content.clinical_status.as_deref();
    let error = item.meta.status == ItemStatus::EnteredInError;
    match item.meta.kind {
        ItemKind::Condition => (!error).then(|| status_in(word, &CONDITION_STATUSES).0).flatten(),
        // R4 ait-1: an allergy not entered in error has a clinical status; Carnet says `active`
        // when the source gave none (`inactive` when denied with a code).
        ItemKind::Allergy => (!error).then(|| {
            status_in(word, &ALLERGY_STATUSES).0.unwrap_or(if item.content.negated && !denied_by_code(item) {
                "inactive"
            } else {
                "active"
            })
        }),
        ItemKind::Medication => Some(if error {
            "entered-in-error"
        } else if item.content.negated && !denied_by_code(item) {
            "not-taken"
        } else {
            status_in(word, &MEDICATION_STATUSES).0.unwrap_or(if word.is_some() { "unknown" } else { "active" })
        }),
        ItemKind::Immunization => Some(if error {
            "entered-in-error"
        } else if item.content.negated && !denied_by_code(item) {
            "not-done"
        } else {
            status_in(word, &IMMUNIZATION_STATUSES).0.unwrap_or("completed")
        }),
        ItemKind::Result | ItemKind::VitalSign | ItemKind::OrganDonation => Some(if error {
            "entered-in-error"
        } else {
            status_in(word, &OBSERVATION_STATUSES).0.unwrap_or(if word.is_some() { "unknown" } else { "final" })
        }),
        ItemKind::AdvanceDirective | ItemKind::Contact => None,
    }
}

/// The statuses of each kind that have a code: the other words travel in `source-status`.
fn status_extension(item: &ProfileItem) -> Option<Extension> {
    let codes: &[&str] = match item.meta.kind {
        ItemKind::Condition => &CONDITION_STATUSES,
        ItemKind::Allergy => &ALLERGY_STATUSES,
        ItemKind::Medication => &MEDICATION_STATUSES,
        ItemKind::Immunization => &IMMUNIZATION_STATUSES,
        ItemKind::Result | ItemKind::VitalSign | ItemKind::OrganDonation => &OBSERVATION_STATUSES,
        ItemKind::AdvanceDirective | ItemKind::Contact => &[],
    };
    status_in(item.content.clinical_status.as_deref(), codes).1
}

/// A decimal as FHIR JSON wants it (a number), when the source's text is one.
fn decimal(text: &str) -> Option<serde_json::Number> {
    let t = text.trim();
    let well_formed = !t.is_empty()
        && t.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'.' | b'e' | b'E' | b'+'))
        && t.bytes().next().is_some_and(|b| b.is_ascii_digit() || b == b'-');
    if !well_formed {
        return None;
    }
    let n: serde_json::Number = serde_json::from_str(t).ok()?;
    n.as_f64().is_some_and(f64::is_finite).then_some(n)
}

/// A quantity with its UCUM unit, or `None` when the value is not a decimal (then said as text).
fn quantity(q: &ItemQuantity) -> Option<Quantity> {
    Some(Quantity {
        value: Some(decimal(&q.value)?),
        unit: q.unit.clone(),
        system: q.unit.as_ref().map(|_| sys::UCUM.to_owned()),
        code: q.unit.clone(),
    })
}

fn quantity_text(q: &ItemQuantity) -> String {
    match &q.unit {
        Some(u) => format!("{} {u}", q.value),
        None => q.value.clone(),
    }
}

/// A Condition (IPS `Condition-uv-ips`).
fn condition(item: &ProfileItem, kind: InsKind) -> Condition {
    let c = &item.content;
    let error = item.meta.status == ItemStatus::EnteredInError;
    let clinical = shown_status(item);
    let verification = if error {
        Some("entered-in-error")
    } else if c.negated && !denied_by_code(item) {
        Some("refuted")
    } else {
        None
    };
    Condition {
        id: Some(item.meta.id.to_string()),
        meta: meta_of(item),
        extension: status_extension(item).into_iter().collect(),
        clinical_status: clinical.map(|s| CodeableConcept::of(Coding::new(sys::CONDITION_CLINICAL, s, None))),
        verification_status: verification.map(|v| CodeableConcept::of(Coding::new(sys::CONDITION_VERIFICATION, v, None))),
        // R4 con-3: a problem-list item has a clinical status; without one, no category.
        category: clinical
            .map(|_| CodeableConcept::of(Coding::new(sys::CONDITION_CATEGORY, "problem-list-item", Some("Problem List Item"))))
            .into_iter()
            .collect(),
        code: what(item, false),
        subject: patient(item, kind),
        onset_date_time: c.from.clone().or_else(|| c.at.clone()),
        abatement_date_time: c.to.clone(),
        recorded_date: Some(datetime::instant(item.meta.recorded_at)),
        recorder: Some(author(item)),
        asserter: Some(if self_declared(item) { patient(item, kind) } else { author(item) }),
        evidence: source(item).map(|r| ConditionEvidence { detail: vec![r] }).into_iter().collect(),
        ..Condition::default()
    }
}

/// An AllergyIntolerance (IPS `AllergyIntolerance-uv-ips`).
fn allergy(item: &ProfileItem, kind: InsKind) -> AllergyIntolerance {
    let c = &item.content;
    let error = item.meta.status == ItemStatus::EnteredInError;
    let verification = if error {
        Some("entered-in-error")
    } else if c.negated && !denied_by_code(item) {
        Some("refuted")
    } else if denied_by_code(item) {
        Some("confirmed")
    } else {
        None
    };
    AllergyIntolerance {
        id: Some(item.meta.id.to_string()),
        meta: meta_of(item),
        extension: source_extension(item).into_iter().chain(status_extension(item)).collect(),
        clinical_status: shown_status(item).map(|s| CodeableConcept::of(Coding::new(sys::ALLERGY_CLINICAL, s, None))),
        verification_status: verification.map(|v| CodeableConcept::of(Coding::new(sys::ALLERGY_VERIFICATION, v, None))),
        code: what(item, false),
        patient: patient(item, kind),
        onset_date_time: c.from.clone().or_else(|| c.at.clone()),
        recorded_date: Some(datetime::instant(item.meta.recorded_at)),
        recorder: Some(author(item)),
        asserter: Some(if self_declared(item) { patient(item, kind) } else { author(item) }),
        ..AllergyIntolerance::default()
    }
}

/// `effective[x]`: a period when the source gave one, else the moment.
fn effective(item: &ProfileItem) -> (Option<String>, Option<Period>) {
    let c = &item.content;
    if c.from.is_some() || c.to.is_some() {
        (None, Some(Period { start: c.from.clone(), end: c.to.clone() }))
    } else {
        (c.at.clone(), None)
    }
}

/// A MedicationStatement (IPS `MedicationStatement-uv-ips`).
fn medication(item: &ProfileItem, kind: InsKind) -> MedicationStatement {
    let (at, period) = effective(item);
    MedicationStatement {
        id: Some(item.meta.id.to_string()),
        meta: meta_of(item),
        extension: status_extension(item).into_iter().collect(),
        status: shown_status(item).unwrap_or("unknown").into(),
        medication_codeable_concept: what(item, true).unwrap_or_default(),
        subject: patient(item, kind),
        effective_date_time: at,
        effective_period: period,
        date_asserted: Some(datetime::instant(item.meta.recorded_at)),
        information_source: Some(if self_declared(item) { patient(item, kind) } else { author(item) }),
        derived_from: source(item).into_iter().collect(),
        ..MedicationStatement::default()
    }
}

/// An Immunization (IPS `Immunization-uv-ips`).
fn immunization(item: &ProfileItem, kind: InsKind) -> Immunization {
    let c = &item.content;
    let date = c.at.clone().or_else(|| c.from.clone());
    Immunization {
        id: Some(item.meta.id.to_string()),
        meta: meta_of(item),
        extension: source_extension(item).into_iter().chain(status_extension(item)).collect(),
        status: shown_status(item).unwrap_or("completed").into(),
        vaccine_code: what(item, true).unwrap_or_default(),
        patient: patient(item, kind),
        // R4 requires an occurrence: `unknown` as text when the source gave no date.
        occurrence_string: date.is_none().then(|| "unknown".to_owned()),
        occurrence_date_time: date,
        recorded: Some(datetime::instant(item.meta.recorded_at)),
        primary_source: Some(!self_declared(item)),
        report_origin: self_declared(item)
            .then(|| CodeableConcept::of(Coding::new(sys::IMMUNIZATION_ORIGIN, "recall", Some("Parent/Guardian/Patient Recall")))),
        lot_number: c.lot.clone(),
        performer: c
            .performer
            .as_ref()
            .map(|p| ImmunizationPerformer {
                function: Some(CodeableConcept::of(Coding::new(sys::PERFORMER_FUNCTION, "AP", Some("Administering Provider")))),
                actor: Reference { display: Some(p.clone()), ..Reference::default() },
            })
            .into_iter()
            .collect(),
        ..Immunization::default()
    }
}

fn observation_category(kind: ItemKind) -> CodeableConcept {
    let (code, display) = match kind {
        ItemKind::VitalSign => ("vital-signs", "Vital Signs"),
        ItemKind::OrganDonation => ("social-history", "Social History"),
        _ => ("laboratory", "Laboratory"),
    };
    CodeableConcept::of(Coding::new(sys::OBSERVATION_CATEGORY, code, Some(display)))
}

/// An Observation: a laboratory result, a vital sign, or the organ donation position.
fn observation(item: &ProfileItem, kind: InsKind) -> Observation {
    let c = &item.content;
    let (at, period) = effective(item);
    let code = match what(item, item.meta.kind != ItemKind::OrganDonation) {
        Some(code) => code,
        None => CodeableConcept::of(Coding::new(&sys::declaration_system(), "organ-donation", Some("Organ donation position"))),
    };
    let mut obs = Observation {
        id: Some(item.meta.id.to_string()),
        meta: meta_of(item),
        extension: status_extension(item).into_iter().collect(),
        status: shown_status(item).unwrap_or("final").into(),
        category: vec![observation_category(item.meta.kind)],
        code,
        subject: patient(item, kind),
        effective_date_time: at,
        effective_period: period,
        issued: Some(datetime::instant(item.meta.recorded_at)),
        performer: vec![if self_declared(item) { patient(item, kind) } else { author(item) }],
        interpretation: c.interpretation.as_ref().map(|i| CodeableConcept::of(coding(i))).into_iter().collect(),
        reference_range: c
            .reference_range
            .as_ref()
            .map(|r| {
                let (low, high) = (r.low.as_ref().and_then(quantity), r.high.as_ref().and_then(quantity));
                // A bound that is not a decimal is said in the text, with the source's text.
                let unsaid: Vec<String> = [(&r.low, &low, "≥"), (&r.high, &high, "≤")]
                    .into_iter()
                    .filter_map(|(given, shown, sign)| match (given, shown) {
                        (Some(q), None) => Some(format!("{sign} {}", quantity_text(q))),
                        _ => None,
                    })
                    .collect();
                let text = match (r.text.clone(), unsaid.is_empty()) {
                    (t, true) => t,
                    (Some(t), false) => Some(format!("{t} ({})", unsaid.join(", "))),
                    (None, false) => Some(unsaid.join(", ")),
                };
                ObservationReferenceRange { low, high, text }
            })
            .into_iter()
            .collect(),
        derived_from: source(item).into_iter().collect(),
        ..Observation::default()
    };
    match &c.value {
        Some(ItemValue::Quantity(q)) => match quantity(q) {
            Some(q) => obs.value_quantity = Some(q),
            None => obs.value_string = Some(quantity_text(q)),
        },
        Some(ItemValue::Coded(code)) => obs.value_codeable_concept = Some(CodeableConcept::of(coding(code))),
        Some(ItemValue::Text { text }) => obs.value_string = Some(text.clone()),
        // The organ donation position without a coded value: consents (true) or refuses (false).
        None if item.meta.kind == ItemKind::OrganDonation => obs.value_boolean = Some(!c.negated),
        None => {}
    }
    if c.negated && !(item.meta.kind == ItemKind::OrganDonation && c.value.is_none()) {
        obs.extension.push(negated_extension());
    }
    obs
}

/// Advance directives as a `Consent` of scope `adr` (IPS 1.0's advance directives section
/// entry): that they exist (`active`) or that the patient has none (`rejected`), and where they
/// are kept (`sourceAttachment.title`).
fn advance_directive(item: &ProfileItem, kind: InsKind) -> Consent {
    let c = &item.content;
    let status = match item.meta.status {
        ItemStatus::EnteredInError => "entered-in-error",
        ItemStatus::Superseded => "inactive",
        ItemStatus::Current if c.negated => "rejected",
        ItemStatus::Current => "active",
    };
    Consent {
        id: Some(item.meta.id.to_string()),
        meta: meta_of(item),
        extension: source_extension(item).into_iter().chain(status_extension(item)).collect(),
        status: status.into(),
        scope: CodeableConcept::of(Coding::new(sys::CONSENT_SCOPE, "adr", Some("Advanced Care Directive"))),
        category: std::iter::once(CodeableConcept::of(Coding::new(sys::CONSENT_CATEGORY, "acd", Some("Advance Directive"))))
            .chain(concept(c.code.as_ref(), c.text.as_deref()))
            .collect(),
        patient: Some(patient(item, kind)),
        date_time: c.at.clone(),
        performer: vec![if self_declared(item) { patient(item, kind) } else { author(item) }],
        source_attachment: c.details.as_ref().map(|d| Attachment { title: Some(d.clone()), ..Attachment::default() }),
        // R4 ppc-1 asks for a policy: the French law on advance directives.
        policy_rule: Some(CodeableConcept { coding: vec![], text: Some(ADVANCE_DIRECTIVE_POLICY.into()) }),
        ..Consent::default()
    }
}

pub(crate) const ADVANCE_DIRECTIVE_POLICY: &str = "Directives anticipées (code de la santé publique, article L1111-11)";

/// How to reach a contact, typed when it plainly is an e-mail address or a phone number.
fn telecom(details: &str) -> ContactPoint {
    let system = if details.contains('@') && !details.contains(' ') {
        "email"
    } else if details.chars().all(|ch| ch.is_ascii_digit() || " +.-()".contains(ch)) && details.chars().any(|ch| ch.is_ascii_digit()) {
        "phone"
    } else {
        "other"
    };
    ContactPoint { system: Some(system.into()), value: Some(details.to_owned()) }
}

/// A person to contact as a `RelatedPerson`: the relationship coded, the name as given.
fn contact(item: &ProfileItem, kind: InsKind) -> RelatedPerson {
    let c = &item.content;
    RelatedPerson {
        id: Some(item.meta.id.to_string()),
        meta: meta_of(item),
        extension: source_extension(item).into_iter().chain(status_extension(item)).chain(c.negated.then(negated_extension)).collect(),
        active: Some(item.meta.status == ItemStatus::Current),
        patient: patient(item, kind),
        relationship: c.code.as_ref().map(|code| CodeableConcept::of(coding(code))).into_iter().collect(),
        name: c.text.as_ref().map(|t| HumanName { text: Some(t.clone()), ..HumanName::default() }).into_iter().collect(),
        telecom: c.details.as_deref().map(telecom).into_iter().collect(),
        period: (c.from.is_some() || c.to.is_some()).then(|| Period { start: c.from.clone(), end: c.to.clone() }),
        ..RelatedPerson::default()
    }
}

/// An item as its resource; `ins_kind` is the record's (the item holds the INS alone).
pub fn item_resource(item: &ProfileItem, ins_kind: InsKind) -> Resource {
    match item.meta.kind {
        ItemKind::Condition => condition(item, ins_kind).into(),
        ItemKind::Allergy => allergy(item, ins_kind).into(),
        ItemKind::Medication => medication(item, ins_kind).into(),
        ItemKind::Immunization => immunization(item, ins_kind).into(),
        ItemKind::Result | ItemKind::VitalSign | ItemKind::OrganDonation => observation(item, ins_kind).into(),
        ItemKind::AdvanceDirective => advance_directive(item, ins_kind).into(),
        ItemKind::Contact => contact(item, ins_kind).into(),
    }
}

/// The `Provenance` of an item (id = the item's id): who recorded it and when, the patient as
/// informant when self-declared, and the source document (`entity.role` `source`).
pub fn provenance(item: &ProfileItem, ins_kind: InsKind) -> Provenance {
    let agent_type = |code: &str, display: &str| Some(CodeableConcept::of(Coding::new(sys::PROVENANCE_PARTICIPANT, code, Some(display))));
    let mut agent = vec![ProvenanceAgent { type_: agent_type("author", "Author"), who: author(item) }];
    if self_declared(item) {
        agent.push(ProvenanceAgent { type_: agent_type("informant", "Informant"), who: patient(item, ins_kind) });
    }
    Provenance {
        id: Some(item.meta.id.to_string()),
        target: vec![Reference::to(item_reference(item))],
        occurred_date_time: item.content.at.clone(),
        recorded: datetime::instant(item.meta.recorded_at),
        activity: Some(CodeableConcept::of(Coding::new(
            sys::DATA_OPERATION,
            if item.meta.replaces.is_some() { "UPDATE" } else { "CREATE" },
            None,
        ))),
        agent,
        entity: source(item).map(|what| ProvenanceEntity { role: "source".into(), what }).into_iter().collect(),
        ..Provenance::default()
    }
}

/// A one-line human description of an item, for the summary's narratives (not escaped here).
pub(crate) fn describe(item: &ProfileItem) -> String {
    let c = &item.content;
    let name =
        c.text.clone().or_else(|| c.code.as_ref().and_then(|code| code.display.clone().or_else(|| code.code.clone()))).unwrap_or_else(
            || match (item.meta.kind, c.negated) {
                (ItemKind::Allergy, true) => "No known allergy".into(),
                (ItemKind::Condition, true) => "No known problem".into(),
                (ItemKind::Medication, true) => "No known medication".into(),
                (ItemKind::Immunization, true) => "No known immunization".into(),
                (ItemKind::OrganDonation, _) => "Organ donation".into(),
                (ItemKind::AdvanceDirective, true) => "No advance directives".into(),
                (ItemKind::AdvanceDirective, false) => "Advance directives".into(),
                _ => "(no name given)".into(),
            },
        );
    let named = c.code.is_some() || c.text.is_some();
    let value = match &c.value {
        Some(ItemValue::Quantity(q)) => Some(quantity_text(q)),
        Some(ItemValue::Coded(code)) => code.display.clone().or_else(|| code.code.clone()),
        Some(ItemValue::Text { text }) => Some(text.clone()),
        None if item.meta.kind == ItemKind::OrganDonation => Some(if c.negated { "refuses".into() } else { "consents".into() }),
        None => None,
    };
    let head = if c.negated && named { format!("not: {name}") } else { name };
    let mut parts = vec![match value {
        Some(v) => format!("{head}: {v}"),
        None => head,
    }];
    if let Some(s) = &c.clinical_status {
        parts.push(format!("({s})"));
    }
    if let Some(d) = c.at.as_ref().or(c.from.as_ref()) {
        parts.push(format!("— {d}"));
    }
    if let Some(d) = &c.details {
        parts.push(format!("— {d}"));
    }
    if self_declared(item) {
        parts.push("[self-declared]".into());
    }
    parts.join(" ")
}
