//! Profile items of every kind, with full and minimal content, denied, self-declared and read
//! from a document: what the validators and snapshots look at for the medical profile.

use carnet_domain::InsKind;
use carnet_domain::profile::*;
use carnet_fhir::profile::{self, ProfileQuery, ProfileResource};
use time::OffsetDateTime;
use time::macros::datetime;

use super::{BASE, doc_id, ins, rpps};

pub fn item_id(n: u8) -> ItemId {
    ItemId::from_bytes([0x20, n, 0, 0, 0, 0, 0x40, 0, 0x80, 0, 0, 0, 0, 0, 0, n])
}

pub fn coding(system: &str, code: &str, display: &str) -> Option<Coding> {
    Some(Coding { system: Some(system.into()), code: Some(code.into()), display: Some(display.into()) })
}

pub fn quantity(value: &str, unit: &str) -> Quantity {
    Quantity { value: value.into(), unit: Some(unit.into()) }
}

/// An item of `kind` by `origin`; content filled by the caller.
pub fn item(n: u8, kind: ItemKind, origin: ItemOrigin, effective: Option<OffsetDateTime>, content: ItemContent) -> ProfileItem {
    let recorded_by = match origin {
        ItemOrigin::Patient => "https://idp.test#patient-7".to_owned(),
        _ => format!("rpps:{}", rpps()),
    };
    ProfileItem {
        meta: ItemMeta {
            id: item_id(n),
            ins: ins(),
            kind,
            origin,
            recorded_by,
            recorded_at: datetime!(2026-01-02 10:00 UTC),
            effective,
            status: ItemStatus::Current,
            replaces: None,
        },
        content,
    }
}

pub fn from_document(path: &str) -> ItemOrigin {
    ItemOrigin::Document { document: doc_id(2), path: path.into() }
}

const SNOMED: &str = "http://snomed.info/sct";
const LOINC: &str = "http://loinc.org";

/// Every representative item, by sample name.
pub fn items() -> Vec<(&'static str, ProfileItem)> {
    let author = || Some("Dr Claire MARTIN".to_owned());
    let day = Some(datetime!(2024-03-15 0:00 UTC));
    let mut in_error = item(
        5,
        ItemKind::Condition,
        ItemOrigin::Professional,
        None,
        ItemContent { text: Some("Diabète".into()), clinical_status: Some("chronique".into()), ..ItemContent::default() },
    );
    in_error.meta.status = ItemStatus::EnteredInError;
    vec![
        (
            "condition-full",
            item(
                1,
                ItemKind::Condition,
                from_document("/ClinicalDocument/component/structuredBody/component[1]/section/entry[1]"),
                day,
                ItemContent {
                    code: coding(SNOMED, "38341003", "Hypertension artérielle"),
                    text: Some("HTA essentielle".into()),
                    clinical_status: Some("active".into()),
                    from: Some("2024-03-15".into()),
                    author_name: author(),
                    ..ItemContent::default()
                },
            ),
        ),
        (
            "condition-resolved",
            item(
                2,
                ItemKind::Condition,
                ItemOrigin::Professional,
                Some(datetime!(2019-01-01 0:00 UTC)),
                ItemContent {
                    code: coding(SNOMED, "74400008", "Appendicite"),
                    clinical_status: Some("resolved".into()),
                    from: Some("2019".into()),
                    to: Some("2019-02".into()),
                    ..ItemContent::default()
                },
            ),
        ),
        (
            "condition-minimal-self-declared",
            item(
                3,
                ItemKind::Condition,
                ItemOrigin::Patient,
                None,
                ItemContent { text: Some("Migraines".into()), ..ItemContent::default() },
            ),
        ),
        (
            "condition-refuted",
            item(
                4,
                ItemKind::Condition,
                ItemOrigin::Professional,
                None,
                ItemContent { code: coding(SNOMED, "73211009", "Diabète sucré"), negated: true, ..ItemContent::default() },
            ),
        ),
        ("condition-entered-in-error-odd-status", in_error),
        (
            "condition-none-known",
            item(6, ItemKind::Condition, ItemOrigin::Professional, None, ItemContent { negated: true, ..ItemContent::default() }),
        ),
        (
            "allergy-full",
            item(
                10,
                ItemKind::Allergy,
                from_document("/ClinicalDocument/component/structuredBody/component[2]/section/entry[1]"),
                Some(datetime!(2010-01-01 0:00 UTC)),
                ItemContent {
                    code: coding(SNOMED, "91936005", "Allergie à la pénicilline"),
                    clinical_status: Some("active".into()),
                    from: Some("2010".into()),
                    author_name: author(),
                    ..ItemContent::default()
                },
            ),
        ),
        (
            "allergy-minimal-self-declared",
            item(11, ItemKind::Allergy, ItemOrigin::Patient, None, ItemContent { text: Some("Chats".into()), ..ItemContent::default() }),
        ),
        (
            "allergy-none-known",
            item(12, ItemKind::Allergy, ItemOrigin::Professional, None, ItemContent { negated: true, ..ItemContent::default() }),
        ),
        (
            "allergy-refuted",
            item(
                13,
                ItemKind::Allergy,
                ItemOrigin::Professional,
                None,
                ItemContent { code: coding(SNOMED, "300916003", "Allergie au latex"), negated: true, ..ItemContent::default() },
            ),
        ),
        (
            "medication-full",
            item(
                20,
                ItemKind::Medication,
                from_document("/ClinicalDocument/component/structuredBody/component[3]/section/entry[1]"),
                Some(datetime!(2024-01-10 0:00 UTC)),
                ItemContent {
                    code: coding("http://www.whocc.no/atc", "C09AA05", "ramipril"),
                    text: Some("Ramipril 5 mg, 1 cp le matin".into()),
                    clinical_status: Some("active".into()),
                    from: Some("2024-01-10".into()),
                    author_name: author(),
                    ..ItemContent::default()
                },
            ),
        ),
        ("medication-minimal", item(21, ItemKind::Medication, ItemOrigin::Professional, None, ItemContent::default())),
        (
            "medication-not-taken",
            item(
                22,
                ItemKind::Medication,
                ItemOrigin::Patient,
                None,
                ItemContent { text: Some("Aspirine".into()), negated: true, ..ItemContent::default() },
            ),
        ),
        (
            "immunization-full",
            item(
                30,
                ItemKind::Immunization,
                from_document("/ClinicalDocument/component/structuredBody/component[1]/section/entry[1]"),
                Some(datetime!(2023-10-20 0:00 UTC)),
                ItemContent {
                    code: coding("urn:oid:1.2.250.1.213.2.3.1", "3400930043257", "Vaxigrip Tetra"),
                    at: Some("2023-10-20".into()),
                    lot: Some("X12345".into()),
                    performer: Some("Pharmacie du Centre".into()),
                    author_name: author(),
                    ..ItemContent::default()
                },
            ),
        ),
        ("immunization-minimal-self-declared", item(31, ItemKind::Immunization, ItemOrigin::Patient, None, ItemContent::default())),
        (
            "immunization-not-done",
            item(
                32,
                ItemKind::Immunization,
                ItemOrigin::Professional,
                Some(datetime!(2025-11-02 9:30 UTC)),
                ItemContent {
                    text: Some("Grippe".into()),
                    negated: true,
                    at: Some("2025-11-02T10:30:00+01:00".into()),
                    ..ItemContent::default()
                },
            ),
        ),
        (
            "result-full",
            item(
                40,
                ItemKind::Result,
                from_document("/ClinicalDocument/component/structuredBody/component[1]/section/entry[1]/organizer/component[1]"),
                Some(datetime!(2026-01-02 7:30 UTC)),
                ItemContent {
                    code: coding(LOINC, "2339-0", "Glucose [Mass/volume] in Blood"),
                    clinical_status: Some("final".into()),
                    at: Some("2026-01-02T08:30:00+01:00".into()),
                    value: Some(ItemValue::Quantity(quantity("1.26", "g/L"))),
                    reference_range: Some(ReferenceRange {
                        low: Some(quantity("0.70", "g/L")),
                        high: Some(quantity("1.10", "g/L")),
                        text: None,
                    }),
                    interpretation: coding("http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "H", "High"),
                    author_name: author(),
                    ..ItemContent::default()
                },
            ),
        ),
        (
            "result-text-value",
            item(
                41,
                ItemKind::Result,
                ItemOrigin::Professional,
                None,
                ItemContent {
                    code: coding(LOINC, "1988-5", "C reactive protein"),
                    value: Some(ItemValue::Quantity(quantity("<5", "mg/L"))),
                    reference_range: Some(ReferenceRange { low: None, high: Some(quantity("<5", "mg/L")), text: Some("normal".into()) }),
                    clinical_status: Some("validé".into()),
                    negated: true,
                    ..ItemContent::default()
                },
            ),
        ),
        (
            "result-coded-value",
            item(
                42,
                ItemKind::Result,
                ItemOrigin::Professional,
                None,
                ItemContent {
                    code: coding(LOINC, "882-1", "ABO and Rh group"),
                    value: Some(ItemValue::Coded(Coding { system: Some(SNOMED.into()), code: Some("278149003".into()), display: None })),
                    ..ItemContent::default()
                },
            ),
        ),
        ("result-minimal", item(43, ItemKind::Result, ItemOrigin::Professional, None, ItemContent::default())),
        (
            "vital-sign-self-declared",
            item(
                50,
                ItemKind::VitalSign,
                ItemOrigin::Patient,
                Some(datetime!(2026-01-01 0:00 UTC)),
                ItemContent {
                    code: coding(LOINC, "29463-7", "Body weight"),
                    at: Some("2026-01-01".into()),
                    value: Some(ItemValue::Quantity(quantity("72.5", "kg"))),
                    ..ItemContent::default()
                },
            ),
        ),
        (
            "advance-directive",
            item(
                60,
                ItemKind::AdvanceDirective,
                ItemOrigin::Patient,
                None,
                ItemContent {
                    text: Some("Directives anticipées".into()),
                    at: Some("2025-06-01".into()),
                    details: Some("Chez Maître Durand, notaire à Angers".into()),
                    ..ItemContent::default()
                },
            ),
        ),
        (
            "advance-directive-none",
            item(61, ItemKind::AdvanceDirective, ItemOrigin::Patient, None, ItemContent { negated: true, ..ItemContent::default() }),
        ),
        (
            "organ-donation-refusal",
            item(62, ItemKind::OrganDonation, ItemOrigin::Patient, None, ItemContent { negated: true, ..ItemContent::default() }),
        ),
        (
            "organ-donation-coded",
            item(
                63,
                ItemKind::OrganDonation,
                ItemOrigin::Patient,
                None,
                ItemContent { value: Some(ItemValue::Text { text: "Oui, sauf les cornées".into() }), ..ItemContent::default() },
            ),
        ),
        (
            "contact",
            item(
                64,
                ItemKind::Contact,
                ItemOrigin::Patient,
                None,
                ItemContent {
                    code: coding("http://terminology.hl7.org/CodeSystem/v3-RoleCode", "DAU", "natural daughter"),
                    text: Some("Jeanne DUPONT".into()),
                    details: Some("+33 6 12 34 56 78".into()),
                    ..ItemContent::default()
                },
            ),
        ),
        ("contact-minimal", item(65, ItemKind::Contact, ItemOrigin::Patient, None, ItemContent::default())),
    ]
}

/// The items' renderings, their Provenances, a searchset and the profile's CapabilityStatement.
pub fn samples() -> Vec<(String, serde_json::Value)> {
    let all = items();
    let mut out: Vec<(String, serde_json::Value)> =
        all.iter().map(|(name, i)| (format!("profile-{name}.json"), super::json(&profile::item_resource(i, InsKind::Nir)))).collect();
    for (name, i) in all.iter().filter(|(n, _)| ["condition-full", "allergy-minimal-self-declared"].contains(n)) {
        out.push((format!("provenance-{name}.json"), super::json(&profile::provenance(i, InsKind::Nir))));
    }
    let params = vec![
        ("patient".to_owned(), ins().to_string()),
        ("code".to_owned(), "http://loinc.org|2339-0".to_owned()),
        ("_sort".to_owned(), "date".to_owned()),
        ("_count".to_owned(), "1".to_owned()),
    ];
    let query = ProfileQuery::parse(ProfileResource::Observation, &params).expect("a trend query");
    let results: Vec<ProfileItem> = all.iter().filter(|(n, _)| n.starts_with("result")).map(|(_, i)| i.clone()).collect();
    let hits = query.select(&results);
    out.push(("profile-searchset-trend.json".into(), super::json(&profile::profile_searchset(&query, &hits, &params, InsKind::Nir, BASE))));
    out
}
