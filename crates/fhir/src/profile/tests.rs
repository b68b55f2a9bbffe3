//! The profile's renderings, searches and create parser: behaviour a client depends on.

use carnet_domain::profile::*;
use carnet_domain::{DocumentId, InsKind};
use proptest::prelude::*;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::datetime;

use super::*;
use crate::search::Handling;

fn ins() -> carnet_domain::Ins {
    carnet_domain::Ins::from_body("2690549588157").expect("valid body")
}

fn item(n: u8, kind: ItemKind, origin: ItemOrigin, effective: Option<OffsetDateTime>, content: ItemContent) -> ProfileItem {
    ProfileItem {
        meta: ItemMeta {
            id: ItemId::from_bytes([n; 16]),
            ins: ins(),
            kind,
            origin,
            recorded_by: "rpps:10000012343".into(),
            recorded_at: datetime!(2026-01-02 10:00 UTC),
            effective,
            status: ItemStatus::Current,
            replaces: None,
        },
        content,
    }
}

fn loinc(code: &str) -> Option<Coding> {
    Some(Coding { system: Some("http://loinc.org".into()), code: Some(code.into()), display: None })
}

fn json_of(item: &ProfileItem) -> Value {
    serde_json::to_value(item_resource(item, InsKind::Nir)).expect("serializes")
}

fn pairs(q: &[(&str, &str)]) -> Vec<(String, String)> {
    q.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

// ---------------------------------------------------------------- renderings

#[test]
fn each_kind_renders_as_its_resource_naming_the_patient() {
    for kind in ItemKind::ALL {
        let j = json_of(&item(1, kind, ItemOrigin::Professional, None, ItemContent::default()));
        assert_eq!(j["resourceType"], resource_type(kind), "{kind:?}");
        let patient = if j.get("subject").is_some() { &j["subject"] } else { &j["patient"] };
        assert_eq!(patient["reference"], format!("Patient/{}", ins()), "{kind:?}");
        assert_eq!(j["id"], ItemId::from_bytes([1; 16]).to_string());
    }
}

#[test]
fn denials_use_the_standard_way_of_each_resource() {
    let denied = |kind, code: Option<Coding>| {
        json_of(&item(1, kind, ItemOrigin::Professional, None, ItemContent { code, negated: true, ..ItemContent::default() }))
    };
    let snomed = Some(Coding { system: Some("http://snomed.info/sct".into()), code: Some("1".into()), display: None });
    assert_eq!(denied(ItemKind::Condition, snomed.clone())["verificationStatus"]["coding"][0]["code"], "refuted");
    assert_eq!(denied(ItemKind::Allergy, snomed.clone())["verificationStatus"]["coding"][0]["code"], "refuted");
    assert_eq!(denied(ItemKind::Medication, snomed.clone())["status"], "not-taken");
    assert_eq!(denied(ItemKind::Immunization, snomed.clone())["status"], "not-done");
    // Denied without saying what: IPS's "none known".
    let none = denied(ItemKind::Allergy, None);
    assert_eq!(none["code"]["coding"][0]["code"], "no-known-allergies");
    assert_eq!(none["clinicalStatus"]["coding"][0]["code"], "active");
    assert_eq!(denied(ItemKind::Condition, None)["code"]["coding"][0]["code"], "no-known-problems");
    assert_eq!(denied(ItemKind::OrganDonation, None)["valueBoolean"], false, "a refusal to donate");
    assert_eq!(denied(ItemKind::AdvanceDirective, None)["status"], "rejected");
}

#[test]
fn not_denied_is_not_refuted() {
    let j =
        json_of(&item(1, ItemKind::Condition, ItemOrigin::Professional, None, ItemContent { code: loinc("1"), ..ItemContent::default() }));
    assert!(j.get("verificationStatus").is_none(), "{j}");
    let o = json_of(&item(1, ItemKind::OrganDonation, ItemOrigin::Patient, None, ItemContent::default()));
    assert_eq!(o["valueBoolean"], true);
}

#[test]
fn provenance_names_the_author_the_source_and_the_self_declared() {
    let source = DocumentId::from_bytes([9; 16]);
    let from_cda = item(
        1,
        ItemKind::Result,
        ItemOrigin::Document { document: source, path: "/x".into() },
        None,
        ItemContent { author_name: Some("Dr MARTIN".into()), ..ItemContent::default() },
    );
    let j = json_of(&from_cda);
    assert_eq!(j["derivedFrom"][0]["reference"], format!("DocumentReference/{source}"));
    assert_eq!(j["performer"][0]["identifier"]["value"], "810000012343");
    assert_eq!(j["performer"][0]["display"], "Dr MARTIN");
    for kind in [ItemKind::Allergy, ItemKind::Immunization, ItemKind::AdvanceDirective, ItemKind::Contact] {
        let mut i = from_cda.clone();
        i.meta.kind = kind;
        let j = json_of(&i);
        assert_eq!(j["extension"][0]["valueReference"]["reference"], format!("DocumentReference/{source}"), "{kind:?}");
    }
    let mut condition = from_cda.clone();
    condition.meta.kind = ItemKind::Condition;
    assert_eq!(json_of(&condition)["evidence"][0]["detail"][0]["reference"], format!("DocumentReference/{source}"));
    let p = serde_json::to_value(provenance(&from_cda, InsKind::Nir)).expect("serializes");
    assert_eq!(p["entity"][0]["role"], "source");
    assert_eq!(p["entity"][0]["what"]["reference"], format!("DocumentReference/{source}"));
    assert_eq!(p["target"][0]["reference"], item_reference(&from_cda));

    let mut mine =
        item(2, ItemKind::Condition, ItemOrigin::Patient, None, ItemContent { text: Some("Migraines".into()), ..ItemContent::default() });
    mine.meta.recorded_by = "https://idp.test#patient-7".into();
    let j = json_of(&mine);
    assert_eq!(j["asserter"]["reference"], format!("Patient/{}", ins()), "self-declared: asserted by the patient");
    assert!(j.get("evidence").is_none());
    let mut vaccine = mine.clone();
    vaccine.meta.kind = ItemKind::Immunization;
    let v = json_of(&vaccine);
    assert_eq!((v["primarySource"].clone(), v["reportOrigin"]["coding"][0]["code"].clone()), (json!(false), json!("recall")));
    let p = serde_json::to_value(provenance(&mine, InsKind::Nir)).expect("serializes");
    assert_eq!(p["agent"][1]["who"]["reference"], format!("Patient/{}", ins()));
    assert!(p.get("entity").is_none());
}

#[test]
fn results_carry_ucum_quantities_ranges_and_interpretation_or_say_the_value_as_text() {
    let content = ItemContent {
        code: loinc("2339-0"),
        value: Some(ItemValue::Quantity(Quantity { value: "5.4".into(), unit: Some("mmol/L".into()) })),
        reference_range: Some(ReferenceRange {
            low: Some(Quantity { value: "3.9".into(), unit: Some("mmol/L".into()) }),
            high: Some(Quantity { value: "n/a".into(), unit: None }),
            text: None,
        }),
        interpretation: Some(Coding {
            system: Some("http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation".into()),
            code: Some("N".into()),
            display: None,
        }),
        at: Some("2026-01-02".into()),
        ..ItemContent::default()
    };
    let j = json_of(&item(1, ItemKind::Result, ItemOrigin::Professional, None, content.clone()));
    assert_eq!(j["category"][0]["coding"][0]["code"], "laboratory");
    assert_eq!(j["valueQuantity"], json!({"value": 5.4, "unit": "mmol/L", "system": "http://unitsofmeasure.org", "code": "mmol/L"}));
    assert_eq!(j["referenceRange"][0]["low"]["value"], 3.9);
    assert_eq!(j["referenceRange"][0]["text"], "≤ n/a", "a bound that is not a number is kept as text");
    assert_eq!(j["interpretation"][0]["coding"][0]["code"], "N");
    assert_eq!(j["effectiveDateTime"], "2026-01-02");
    let odd = ItemContent { value: Some(ItemValue::Quantity(Quantity { value: "<0,5".into(), unit: Some("g/L".into()) })), ..content };
    let j = json_of(&item(1, ItemKind::VitalSign, ItemOrigin::Professional, None, odd));
    assert_eq!(j["valueString"], "<0,5 g/L");
    assert_eq!(j["category"][0]["coding"][0]["code"], "vital-signs");
}

#[test]
fn a_status_without_a_code_is_kept_in_words() {
    let j = json_of(&item(
        1,
        ItemKind::Condition,
        ItemOrigin::Professional,
        None,
        ItemContent { clinical_status: Some("chronique".into()), ..ItemContent::default() },
    ));
    assert!(j.get("clinicalStatus").is_none());
    assert_eq!(j["extension"][0]["valueString"], "chronique");
    let mut wrong = item(
        1,
        ItemKind::Condition,
        ItemOrigin::Professional,
        None,
        ItemContent { clinical_status: Some("active".into()), ..ItemContent::default() },
    );
    wrong.meta.status = ItemStatus::EnteredInError;
    let j = json_of(&wrong);
    assert!(j.get("clinicalStatus").is_none(), "R4 con-5");
    assert_eq!(j["verificationStatus"]["coding"][0]["code"], "entered-in-error");
}

// ---------------------------------------------------------------- summary

fn summary(items: &[&ProfileItem]) -> Value {
    let codes = carnet_domain::codes::CodeLists::dmp_default();
    let ctx = crate::render::RenderContext { base_url: "https://carnet.test/fhir", codes: &codes };
    let patient = crate::model::Patient { id: Some(ins().to_string()), ..crate::model::Patient::default() };
    let b = crate::patient_views::ips_summary(patient, &ins(), &[], items, InsKind::Nir, &ctx, "s", datetime!(2026-01-03 0:00 UTC));
    serde_json::to_value(b).expect("serializes")
}

fn section<'a>(b: &'a Value, code: &str) -> Option<&'a Value> {
    b["entry"][0]["resource"]["section"].as_array().and_then(|s| s.iter().find(|s| s["code"]["coding"][0]["code"] == code))
}

#[test]
fn the_summary_sections_reference_the_items_it_includes() {
    let allergy = item(
        1,
        ItemKind::Allergy,
        ItemOrigin::Professional,
        None,
        ItemContent { text: Some("Pénicilline".into()), ..ItemContent::default() },
    );
    let result = item(2, ItemKind::Result, ItemOrigin::Professional, None, ItemContent { code: loinc("2339-0"), ..ItemContent::default() });
    let directive = item(3, ItemKind::AdvanceDirective, ItemOrigin::Patient, None, ItemContent::default());
    let b = summary(&[&allergy, &result, &directive]);
    let urls: Vec<&str> = b["entry"].as_array().expect("entries").iter().filter_map(|e| e["fullUrl"].as_str()).collect();
    for (code, it) in [("48765-2", &allergy), ("30954-2", &result), ("42348-3", &directive)] {
        let s = section(&b, code).expect("section");
        let reference = s["entry"][0]["reference"].as_str().expect("a reference");
        assert_eq!(reference, item_reference(it));
        assert!(urls.contains(&format!("https://carnet.test/fhir/{reference}").as_str()), "{reference} is in the Bundle");
        assert!(s.get("emptyReason").is_none());
    }
    // The IPS-required sections are there, empty with a reason; the optional ones are not.
    for code in ["11450-4", "10160-0"] {
        assert_eq!(section(&b, code).expect("required")["emptyReason"]["coding"][0]["code"], "unavailable");
    }
    assert!(section(&b, "11369-6").is_none() && section(&b, "8716-3").is_none());
}

#[test]
fn the_summary_leaves_out_what_it_was_not_given_and_what_is_withdrawn() {
    let mut wrong = item(
        1,
        ItemKind::Condition,
        ItemOrigin::Professional,
        None,
        ItemContent { text: Some("MARKER-WRONG".into()), ..ItemContent::default() },
    );
    wrong.meta.status = ItemStatus::EnteredInError;
    let mut old = item(
        2,
        ItemKind::Condition,
        ItemOrigin::Professional,
        None,
        ItemContent { text: Some("MARKER-OLD".into()), ..ItemContent::default() },
    );
    old.meta.status = ItemStatus::Superseded;
    let shown = item(
        3,
        ItemKind::Condition,
        ItemOrigin::Professional,
        None,
        ItemContent { text: Some("MARKER-SHOWN".into()), ..ItemContent::default() },
    );
    let text = summary(&[&wrong, &old, &shown]).to_string();
    assert!(text.contains("MARKER-SHOWN"));
    assert!(!text.contains("MARKER-WRONG") && !text.contains("MARKER-OLD"), "{text}");
    assert!(!summary(&[]).to_string().contains("MARKER"), "nothing but what the caller may see");
}

#[test]
fn the_summary_narrative_escapes_what_items_say() {
    let hostile = item(
        1,
        ItemKind::Condition,
        ItemOrigin::Patient,
        None,
        ItemContent {
            text: Some("<script>alert(1)</script> & <b>".into()),
            details: Some("<img src=x onerror=y>".into()),
            ..ItemContent::default()
        },
    );
    let b = summary(&[&hostile]);
    let div = section(&b, "11450-4").expect("problems")["text"]["div"].as_str().expect("a div").to_owned();
    assert!(div.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;"), "{div}");
    assert!(!div.contains("<script") && !div.contains("<img") && !div.contains("<b>"), "{div}");
}

// ---------------------------------------------------------------- searches

fn search(resource: ProfileResource, extra: &[(&str, &str)]) -> Result<ProfileQuery, crate::search::SearchError> {
    let mut q = pairs(&[("patient", "269054958815780")]);
    q.extend(pairs(extra));
    ProfileQuery::parse(resource, &q)
}

#[test]
fn searches_refuse_unknown_parameters_naming_them_unless_lenient() {
    for (resource, k, v) in [
        (ProfileResource::Condition, "foo", "1"),
        (ProfileResource::Condition, "category", "problem-list-item"),
        (ProfileResource::Observation, "clinical-status", "active"),
        (ProfileResource::Observation, "code:text", "glucose"),
        (ProfileResource::Immunization, "code", "x"),
        (ProfileResource::Observation, "date", "yesterday"),
        (ProfileResource::Observation, "_sort", "value"),
        (ProfileResource::Condition, "onset-date", "xx2026"),
    ] {
        let err = search(resource, &[(k, v)]).expect_err(k);
        assert_eq!(err.param, k, "{resource:?} {k}: {err}");
    }
    assert_eq!(ProfileQuery::parse(ProfileResource::Condition, &pairs(&[("code", "1")])).expect_err("no patient").param, "patient");
    let other = search(ProfileResource::Condition, &[("subject", "Patient/279035121518989")]).expect_err("two patients");
    assert_eq!(other.param, "subject");
    let (q, ignored) = ProfileQuery::parse_with(
        ProfileResource::Observation,
        &pairs(&[("patient", "269054958815780"), ("foo", "1"), ("code", "2339-0")]),
        Handling::Lenient,
    )
    .expect("lenient");
    assert_eq!(ignored.iter().map(|e| e.param.as_str()).collect::<Vec<_>>(), ["foo"]);
    assert_eq!(q.code.len(), 1);
}

#[test]
fn a_trend_is_one_loinc_code_sorted_by_date() {
    let glucose = |n: u8, day: u8| {
        item(
            n,
            ItemKind::Result,
            ItemOrigin::Professional,
            Some(OffsetDateTime::from_unix_timestamp(1_700_000_000 + i64::from(day) * 86_400).expect("valid")),
            ItemContent { code: loinc("2339-0"), ..ItemContent::default() },
        )
    };
    let other = item(
        9,
        ItemKind::Result,
        ItemOrigin::Professional,
        Some(datetime!(2026-01-01 0:00 UTC)),
        ItemContent { code: loinc("1988-5"), ..ItemContent::default() },
    );
    let weight = item(
        8,
        ItemKind::VitalSign,
        ItemOrigin::Professional,
        Some(datetime!(2020-01-01 0:00 UTC)),
        ItemContent { code: loinc("2339-0"), ..ItemContent::default() },
    );
    let allergy = item(
        7,
        ItemKind::Allergy,
        ItemOrigin::Professional,
        Some(datetime!(2026-01-01 0:00 UTC)),
        ItemContent { code: loinc("2339-0"), ..ItemContent::default() },
    );
    let items = [glucose(1, 5), glucose(2, 1), glucose(3, 3), other, weight, allergy];
    let q = search(ProfileResource::Observation, &[("code", "http://loinc.org|2339-0"), ("category", "laboratory"), ("_sort", "date")])
        .expect("valid");
    let ids: Vec<ItemId> = q.select(&items).iter().map(|i| i.meta.id).collect();
    assert_eq!(ids, [2, 3, 1].map(|n| ItemId::from_bytes([n; 16])), "oldest first");
    let newest = search(ProfileResource::Observation, &[("code", "2339-0"), ("_sort", "-date")]).expect("valid");
    let ids: Vec<ItemId> = newest.select(&items).iter().map(|i| i.meta.id).collect();
    assert_eq!(ids[0], ItemId::from_bytes([1; 16]));
    assert_eq!(ids.len(), 4, "the vital sign with that code too, never the allergy");
    assert!(search(ProfileResource::Observation, &[("code", "http://snomed.info/sct|2339-0")]).expect("valid").select(&items).is_empty());
    let bundle = profile_searchset(
        &q,
        &q.select(&items),
        &pairs(&[("patient", "269054958815780"), ("code", "2339-0")]),
        InsKind::Nir,
        "https://c.test/fhir/",
    );
    assert_eq!(bundle.total, Some(3));
    assert_eq!(bundle.link[0].url, "https://c.test/fhir/Observation?patient=269054958815780&code=2339-0");
}

#[test]
fn clinical_status_and_status_match_what_the_resource_shows() {
    let with = |status: Option<&str>, negated| {
        item(
            1,
            ItemKind::Allergy,
            ItemOrigin::Professional,
            None,
            ItemContent { clinical_status: status.map(str::to_owned), negated, code: loinc("1"), ..ItemContent::default() },
        )
    };
    let active = search(ProfileResource::AllergyIntolerance, &[("clinical-status", "active")]).expect("valid");
    assert!(active.matches(&with(Some("active"), false)));
    assert!(active.matches(&with(None, false)), "rendered active when the source gave none");
    assert!(!active.matches(&with(Some("resolved"), false)));
    let coded = search(
        ProfileResource::AllergyIntolerance,
        &[("clinical-status", "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical|resolved")],
    )
    .expect("valid");
    assert!(coded.matches(&with(Some("resolved"), false)));
    let mut med = with(None, true);
    med.meta.kind = ItemKind::Medication;
    assert!(search(ProfileResource::MedicationStatement, &[("status", "not-taken")]).expect("valid").matches(&med));
    assert!(!search(ProfileResource::MedicationStatement, &[("status", "active")]).expect("valid").matches(&med));
}

#[test]
fn superseded_items_are_never_found_and_those_in_error_only_when_asked_for() {
    let mut old =
        item(1, ItemKind::Result, ItemOrigin::Professional, None, ItemContent { code: loinc("2339-0"), ..ItemContent::default() });
    old.meta.status = ItemStatus::Superseded;
    let mut wrong = old.clone();
    wrong.meta.status = ItemStatus::EnteredInError;
    let current =
        item(2, ItemKind::Result, ItemOrigin::Professional, None, ItemContent { code: loinc("2339-0"), ..ItemContent::default() });
    let trend = search(ProfileResource::Observation, &[("code", "2339-0")]).expect("valid");
    assert_eq!(trend.select([&old, &wrong, &current]), [&current]);
    let in_error = search(ProfileResource::Observation, &[("status", "entered-in-error")]).expect("valid");
    assert_eq!(in_error.select([&old, &wrong, &current]), [&wrong]);
}

fn arb_instant() -> impl Strategy<Value = Option<OffsetDateTime>> {
    proptest::option::weighted(0.8, (0i64..2_000_000_000).prop_map(|s| OffsetDateTime::from_unix_timestamp(s).ok()))
        .prop_map(Option::flatten)
}

fn arb_date() -> impl Strategy<Value = String> {
    prop_oneof![
        (1990u32..2030).prop_map(|y| y.to_string()),
        (1990u32..2030, 1u32..13).prop_map(|(y, m)| format!("{y}-{m:02}")),
        (1990u32..2030, 1u32..13, 1u32..29).prop_map(|(y, m, d)| format!("{y}-{m:02}-{d:02}")),
        (1990u32..2030, 1u32..13, 1u32..29, 0u32..24).prop_map(|(y, m, d, h)| format!("{y}-{m:02}-{d:02}T{h:02}:00:00+01:00")),
    ]
}

proptest! {
    /// `ge X` and `lt X` split the dated items in two, whatever X's precision; undated items
    /// match neither.
    #[test]
    fn ge_and_lt_partition_the_dated_items(effectives in proptest::collection::vec(arb_instant(), 0..20), x in arb_date()) {
        let items: Vec<ProfileItem> = effectives
            .iter()
            .enumerate()
            .map(|(n, e)| item(u8::try_from(n).unwrap_or(0), ItemKind::Condition, ItemOrigin::Professional, *e, ItemContent::default()))
            .collect();
        let ge = search(ProfileResource::Condition, &[("onset-date", &format!("ge{x}"))]).expect("valid");
        let lt = search(ProfileResource::Condition, &[("onset-date", &format!("lt{x}"))]).expect("valid");
        for i in &items {
            match i.meta.effective {
                Some(_) => prop_assert!(ge.matches(i) != lt.matches(i)),
                None => prop_assert!(!ge.matches(i) && !lt.matches(i)),
            }
        }
    }

    /// The parser never panics, and what it refuses it names: a known parameter, or one Carnet
    /// does not support (then lenient handling ignores exactly it).
    #[test]
    fn search_parsing_never_panics_and_names_what_it_refuses(params in proptest::collection::vec(("[a-z_:.-]{1,14}", "[a-z0-9|:/.,-]{0,12}"), 0..6)) {
        for resource in ProfileResource::ALL {
            let mut q = pairs(&[("patient", "269054958815780")]);
            q.extend(params.iter().cloned());
            if let Err(e) = ProfileQuery::parse(resource, &q) {
                prop_assert!(q.iter().any(|(k, _)| *k == e.param || k.split(':').next() == Some(e.param.as_str())), "{e}");
            }
        }
    }

    /// Every item of another patient, or of a kind the resource does not render, never matches.
    #[test]
    fn a_search_finds_only_its_patient_and_its_kinds(kind in proptest::sample::select(ItemKind::ALL.to_vec()), r in proptest::sample::select(ProfileResource::ALL.to_vec())) {
        let mine = item(1, kind, ItemOrigin::Professional, None, ItemContent::default());
        let mut theirs = mine.clone();
        theirs.meta.ins = carnet_domain::Ins::from_body("2790351215189").expect("valid body");
        let q = search(r, &[]).expect("valid");
        prop_assert_eq!(q.matches(&mine), r.kinds().contains(&kind));
        prop_assert!(!q.matches(&theirs));
    }
}

// ---------------------------------------------------------------- create

fn refused(body: Value) -> ProfileError {
    parse_item(&body).expect_err("refused")
}

fn condition(extra: Value) -> Value {
    let mut base = json!({
        "resourceType": "Condition",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "38341003"}], "text": "HTA"},
        "subject": {"reference": "Patient/269054958815780"}
    });
    if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    base
}

#[test]
fn a_created_condition_is_read_into_an_item() {
    let parsed = parse_item(&condition(json!({
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
        "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "refuted"}]},
        "onsetDateTime": "2024-03",
        "recorder": {"display": "whoever the token says"}
    })))
    .expect("valid");
    assert_eq!(parsed.kind, ItemKind::Condition);
    assert_eq!(parsed.patient, ins());
    assert_eq!(parsed.content.code.as_ref().and_then(|c| c.code.as_deref()), Some("38341003"));
    assert_eq!(parsed.content.text.as_deref(), Some("HTA"));
    assert_eq!(parsed.content.clinical_status.as_deref(), Some("active"));
    assert!(parsed.content.negated);
    assert_eq!(parsed.content.from.as_deref(), Some("2024-03"));
}

#[test]
fn what_carnet_cannot_keep_is_refused_naming_the_element() {
    let cases = [
        (condition(json!({"severity": {"text": "sévère"}})), "Condition.severity"),
        (condition(json!({"modifierExtension": [{"url": "x", "valueBoolean": true}]})), "Condition.modifierExtension"),
        (condition(json!({"text": {"status": "generated", "div": "<div/>"}})), "Condition.text"),
        (condition(json!({"onsetDateTime": "15/03/2024"})), "Condition.onsetDateTime"),
        (condition(json!({"onsetDateTime": "2024-03-15T10:00"})), "Condition.onsetDateTime"),
        (condition(json!({"evidence": [{"detail": [{"reference": "DocumentReference/x"}]}]})), "Condition.evidence"),
        (
            condition(json!({"code": {"coding": [{"system": "http://snomed.info/sct", "code": "1"}, {"system": "urn:x", "code": "2"}]}})),
            "Condition.code.coding[1]",
        ),
        (
            condition(json!({"code": {"coding": [{"system": "http://snomed.info/sct", "code": "1", "version": "2024"}]}})),
            "Condition.code.coding[0].version",
        ),
        (
            condition(
                json!({"verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "provisional"}]}}),
            ),
            "Condition.verificationStatus",
        ),
        (
            condition(
                json!({"extension": [{"url": "urn:carnet:fhir:StructureDefinition:source-document", "valueReference": {"reference": "DocumentReference/x"}}]}),
            ),
            "Condition.extension[0]",
        ),
        (condition(json!({"extension": [{"url": "http://example.org/x", "valueString": "y"}]})), "Condition.extension[0].url"),
        (condition(json!({"subject": {"reference": "Patient/123"}})), "Condition.subject.reference"),
        (json!({"resourceType": "Condition", "code": {"text": "x"}}), "Condition.subject"),
        (
            json!({"resourceType": "AllergyIntolerance", "patient": {"reference": "Patient/269054958815780"}, "reaction": [{"manifestation": [{"text": "urticaire"}]}]}),
            "AllergyIntolerance.reaction",
        ),
        (
            json!({"resourceType": "MedicationStatement", "status": "active", "medicationReference": {"reference": "Medication/1"}, "subject": {"reference": "Patient/269054958815780"}}),
            "MedicationStatement.medicationReference",
        ),
        (
            json!({"resourceType": "Immunization", "status": "entered-in-error", "vaccineCode": {"text": "x"}, "patient": {"reference": "Patient/269054958815780"}, "occurrenceString": "unknown"}),
            "Immunization.status",
        ),
        (
            json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"}, "subject": {"reference": "Patient/269054958815780"}}),
            "Observation.category",
        ),
        (
            json!({"resourceType": "Observation", "status": "final", "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}], "code": {"text": "x"}, "subject": {"reference": "Patient/269054958815780"}, "valueQuantity": {"value": 1, "system": "urn:iso:std:iso:4217", "code": "EUR"}}),
            "Observation.valueQuantity.system",
        ),
        (
            json!({"resourceType": "Observation", "status": "final", "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}], "code": {"text": "x"}, "subject": {"reference": "Patient/269054958815780"}, "valueString": "a", "valueBoolean": true}),
            "Observation.valueBoolean",
        ),
        (json!({"resourceType": "Encounter"}), "resourceType"),
        (json!([1, 2]), "resourceType"),
    ];
    for (body, path) in cases {
        let err = refused(body.clone());
        assert_eq!(err.path, path, "{body}: {err}");
        let outcome = serde_json::to_value(err.outcome()).expect("serializes");
        assert_eq!(outcome["issue"][0]["expression"][0], path);
    }
}

#[test]
fn the_x_provenance_header_names_the_author() {
    let claim = parse_provenance(&json!({
        "resourceType": "Provenance",
        "recorded": "2026-01-02T10:00:00Z",
        "agent": [{"who": {"identifier": {"system": "urn:oid:1.2.250.1.71.4.2.1", "value": "810000012343"}, "display": "Dr MARTIN"}}]
    }))
    .expect("valid");
    assert_eq!(claim.author_rpps.map(|r| r.to_string()).as_deref(), Some("10000012343"));
    assert_eq!(claim.author_name.as_deref(), Some("Dr MARTIN"));
    let with_source = json!({"resourceType": "Provenance", "agent": [{"who": {"display": "x"}}], "entity": [{"role": "source", "what": {"reference": "DocumentReference/1"}}]});
    assert_eq!(parse_provenance(&with_source).expect_err("refused").path, "Provenance.entity");
    assert_eq!(parse_provenance(&json!({"resourceType": "Provenance", "agent": []})).expect_err("refused").path, "Provenance.agent");
}

fn arb_text() -> impl Strategy<Value = String> {
    "[A-Za-zé<>&0-9][A-Za-zé<>& 0-9]{0,8}"
}

fn arb_coding() -> impl Strategy<Value = Coding> {
    (
        proptest::option::of(prop_oneof![
            Just("http://loinc.org".to_owned()),
            Just("http://snomed.info/sct".to_owned()),
            Just("urn:oid:1.2.3".to_owned())
        ]),
        "[A-Z0-9-]{1,8}",
        proptest::option::of(arb_text()),
    )
        .prop_map(|(system, code, display)| Coding { system, code: Some(code), display })
}

fn arb_quantity() -> impl Strategy<Value = Quantity> {
    (
        prop_oneof!["-?[0-9]{1,4}(\\.[0-9]{1,3})?", "[<>]?[0-9],[0-9]"],
        proptest::option::of(prop_oneof![Just("g/L".to_owned()), Just("mmol/L".to_owned()), Just("kg".to_owned())]),
    )
        .prop_map(|(value, unit)| Quantity { value, unit })
}

fn arb_value() -> impl Strategy<Value = ItemValue> {
    prop_oneof![
        arb_quantity().prop_map(ItemValue::Quantity),
        arb_coding().prop_map(ItemValue::Coded),
        arb_text().prop_map(|text| ItemValue::Text { text }),
    ]
}

prop_compose! {
    fn arb_content()(
        code in proptest::option::of(arb_coding()),
        text in proptest::option::of(arb_text()),
        clinical_status in proptest::option::of(prop_oneof![Just("active".to_owned()), Just("resolved".to_owned()), Just("completed".to_owned()), Just("final".to_owned()), arb_text()]),
        negated in any::<bool>(),
        dates in (proptest::option::of(arb_date()), proptest::option::of(arb_date()), proptest::option::of(arb_date())),
        value in proptest::option::of(arb_value()),
        range in proptest::option::of((proptest::option::of(arb_quantity()), proptest::option::of(arb_quantity()), proptest::option::of(arb_text()))),
        interpretation in proptest::option::of(arb_coding()),
        words in (proptest::option::of(arb_text()), proptest::option::of(arb_text()), proptest::option::of(arb_text()), proptest::option::of(arb_text())),
    ) -> ItemContent {
        let (at, from, to) = dates;
        let (lot, performer, author_name, details) = words;
        ItemContent {
            code, text, clinical_status, negated, at, from, to, value,
            reference_range: range.map(|(low, high, text)| ReferenceRange { low, high, text }),
            interpretation, lot, performer, author_name, details,
        }
    }
}

proptest! {
    /// A direct item rendered, read back as a create, and rendered again says the same: what
    /// Carnet writes, it can read, and nothing it writes is lost on the way (but the author,
    /// which a create takes from the request, not the body).
    #[test]
    fn render_parse_render_is_stable(
        kind in proptest::sample::select(ItemKind::ALL.to_vec()),
        self_declared in any::<bool>(),
        content in arb_content(),
    ) {
        let origin = if self_declared { ItemOrigin::Patient } else { ItemOrigin::Professional };
        let first = item(1, kind, origin, None, content);
        let rendered = json_of(&first);
        let parsed = parse_item(&rendered).map_err(|e| TestCaseError::fail(format!("{e}\n{rendered}")))?;
        prop_assert_eq!(parsed.kind, kind);
        prop_assert_eq!(&parsed.patient, &ins());
        // The author's name is the request's (token or X-Provenance header), never the body's.
        let content = ItemContent { author_name: first.content.author_name.clone(), ..parsed.content };
        let again = json_of(&ProfileItem { meta: first.meta.clone(), content });
        prop_assert_eq!(again, rendered);
    }

    /// Reading never panics, whatever the JSON.
    #[test]
    fn parsing_any_json_never_panics(body in arb_json(), type_ in proptest::sample::select(vec!["Condition", "AllergyIntolerance", "MedicationStatement", "Immunization", "Observation", "Consent", "RelatedPerson", "Provenance"])) {
        let mut body = body;
        if let Some(o) = body.as_object_mut() {
            o.insert("resourceType".into(), json!(type_));
        }
        let _ = parse_item(&body);
        let _ = parse_provenance(&body);
    }
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(|n| json!(n)),
        "[a-zA-Z0-9|/:.-]{0,10}".prop_map(Value::String)
    ];
    leaf.prop_recursive(4, 40, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("code".to_owned()),
                    Just("coding".to_owned()),
                    Just("subject".to_owned()),
                    Just("patient".to_owned()),
                    Just("status".to_owned()),
                    Just("category".to_owned()),
                    Just("valueQuantity".to_owned()),
                    Just("extension".to_owned()),
                    Just("reference".to_owned()),
                    Just("system".to_owned()),
                    Just("agent".to_owned()),
                    Just("who".to_owned()),
                    "[a-z]{1,6}"
                ],
                inner,
                0..5
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}
