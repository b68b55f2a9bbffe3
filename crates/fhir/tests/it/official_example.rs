//! HL7's official R4 example `Bundle-xds.json` (npm `hl7.fhir.r4.examples`, CC0) against
//! Carnet's ITI-65 parser.
//!
//! It is not accepted as published, and must not be: it predates IHE MHD 4 and was not made for
//! the French DMP. This test applies, one at a time, the smallest changes that make it
//! acceptable, and asserts after each one the next refusal and its FHIRPath. The list of steps
//! *is* the written record of why:
//!
//! 1. its Patient entry (an MRN, no INS) — Carnet creates no patients through ITI-65: remove it
//!    and name the patient by INS in `subject` (the INS substitution);
//! 2. its Practitioner entries — Carnet creates no practitioners: contain the authors instead;
//! 3. no SubmissionSet `List` — MHD 4.x requires one: add it;
//! 4. two authors — Carnet records one per document: keep the first;
//! 5. `type` "History and Physical" (an IHE connectathon code) is not a DMP type (JDV_J66);
//! 6. `category` LOINC 47039-3 is not a DMP class (TRE_A03; the example swaps class and type);
//! 7. `format` `urn:ihe:pcc:handp:2008` is not a format Carnet accepts.
//!
//! Everything else is accepted as is: its `masterIdentifier` (`urn:oid:`), its Binary reached
//! through an `http://localhost…` fullUrl, its `en-US` language, its date-only `creation`, its
//! `v3-Confidentiality#N` label (normal: nothing to enforce), its format system spelled as the
//! IHE OID, its connectathon practice setting (not a checked list).

use carnet_domain::InsKind;
use carnet_domain::codes::{CLASS_SYSTEM, CodeLists, FORMAT_SYSTEM_IHE};
use carnet_fhir::{IssueType, parse_provide_bundle};
use serde_json::{Value, json};
use time::macros::datetime;

const EXAMPLE: &str = include_str!("../fixtures/hl7-r4-Bundle-xds.json");

/// A valid test-register INS (`urn:oid:1.2.250.1.213.1.4.10`) for John Doe.
const TEST_INS: &str = "269054958815780";
const TEST_NIR: &str = "urn:oid:1.2.250.1.213.1.4.10";

fn refusal(bundle: &Value) -> (String, IssueType, String) {
    let bytes = serde_json::to_vec(bundle).expect("serializes");
    match parse_provide_bundle(&bytes, &CodeLists::dmp_default()) {
        Err(e) => (e.path, e.code, e.message),
        Ok(_) => panic!("accepted too early"),
    }
}

fn entries(bundle: &mut Value) -> &mut Vec<Value> {
    bundle["entry"].as_array_mut().expect("entries")
}

#[test]
fn what_the_official_xds_example_needs_to_be_accepted() {
    let mut bundle: Value = serde_json::from_str(EXAMPLE).expect("JSON");
    let doc_url = bundle["entry"][0]["fullUrl"].as_str().expect("fullUrl").to_owned();

    // As published: the Patient entry is the first thing refused.
    let (path, code, message) = refusal(&bundle);
    assert_eq!((path.as_str(), code), ("Bundle.entry[1].resource.resourceType", IssueType::NotSupported), "{message}");
    assert!(message.contains("does not create patients"), "{message}");

    // 1. INS substitution: no Patient entry, the subject named by INS.
    entries(&mut bundle).remove(1);
    bundle["entry"][0]["resource"]["subject"] = json!({"identifier": {"system": TEST_NIR, "value": TEST_INS}});
    let (path, code, message) = refusal(&bundle);
    assert_eq!((path.as_str(), code), ("Bundle.entry[1].resource.resourceType", IssueType::NotSupported), "{message}");
    assert!(message.contains("contained"), "{message}");

    // 2. The authors contained in the DocumentReference.
    let practitioners: Vec<Value> = entries(&mut bundle).drain(1..3).map(|e| e["resource"].clone()).collect();
    assert!(practitioners.iter().all(|p| p["resourceType"] == "Practitioner"));
    let doc = &mut bundle["entry"][0]["resource"];
    doc["contained"] = Value::Array(practitioners);
    doc["author"] = json!([{"reference": "#a3"}, {"reference": "#a4"}]);
    let (path, code, message) = refusal(&bundle);
    assert_eq!((path.as_str(), code), ("Bundle.entry", IssueType::Required), "{message}");
    assert!(message.contains("no SubmissionSet"), "{message}");

    // 3. A SubmissionSet.
    entries(&mut bundle).insert(
        0,
        json!({
            "fullUrl": "urn:uuid:0c287d32-01e3-4d87-9953-9fcc9404eb21",
            "resource": {
                "resourceType": "List",
                "extension": [{"url": "https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-sourceId", "valueIdentifier": {"value": "urn:oid:129.6.58.92"}}],
                "identifier": [{"use": "usual", "system": "urn:ietf:rfc:3986", "value": "urn:oid:129.6.58.92.88337"}],
                "status": "current",
                "mode": "working",
                "code": {"coding": [{"system": "https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes", "code": "submissionset"}]},
                "subject": {"identifier": {"system": TEST_NIR, "value": TEST_INS}},
                "entry": [{"item": {"reference": doc_url}}]
            },
            "request": {"method": "POST", "url": "List"}
        }),
    );
    let (path, code, message) = refusal(&bundle);
    assert_eq!((path.as_str(), code), ("Bundle.entry[1].resource.author[1]", IssueType::NotSupported), "{message}");

    // 4. One author.
    bundle["entry"][1]["resource"]["author"] = json!([{"reference": "#a3"}]);
    let (path, code, message) = refusal(&bundle);
    assert_eq!((path.as_str(), code), ("Bundle.entry[1].resource.type", IssueType::CodeInvalid), "{message}");
    assert!(message.contains("History and Physical is not a DMP type code"), "{message}");

    // 5. A DMP type: consultation report.
    bundle["entry"][1]["resource"]["type"] = json!({"coding": [{"system": "http://loinc.org", "code": "11488-4"}]});
    let (path, code, message) = refusal(&bundle);
    assert_eq!((path.as_str(), code), ("Bundle.entry[1].resource.category[0]", IssueType::CodeInvalid), "{message}");
    assert!(message.contains("47039-3 is not a DMP class code"), "{message}");

    // 6. Its DMP class.
    bundle["entry"][1]["resource"]["category"] = json!([{"coding": [{"system": CLASS_SYSTEM, "code": "10"}]}]);
    let (path, code, message) = refusal(&bundle);
    assert_eq!((path.as_str(), code), ("Bundle.entry[1].resource.content[0].format", IssueType::CodeInvalid), "{message}");
    assert!(message.contains("urn:ihe:pcc:handp:2008 is not accepted"), "{message}");

    // 7. An accepted format. Now accepted, and read as follows.
    bundle["entry"][1]["resource"]["content"][0]["format"]["code"] = json!("urn:ihe:iti:xds:2017:mimeTypeSufficient");
    let bytes = serde_json::to_vec(&bundle).expect("serializes");
    let parsed = parse_provide_bundle(&bytes, &CodeLists::dmp_default()).unwrap_or_else(|e| panic!("still refused: {e}"));
    assert_eq!((parsed.ins.as_str(), parsed.ins_kind), (TEST_INS, InsKind::TestNir));
    assert_eq!(parsed.submission_set.unique_id, "129.6.58.92.88337");
    assert_eq!(parsed.submission_set.source_id, "129.6.58.92");
    let [d] = parsed.documents.as_slice() else { panic!("one document") };
    assert_eq!(d.bytes, b"asdasdasdasdasd");
    let s = &d.submission;
    assert_eq!(s.xds.unique_id, "129.6.58.92.88336");
    assert_eq!(s.xds.format_code.system, FORMAT_SYSTEM_IHE, "the OID spelling is read as the IHE system");
    assert_eq!((s.xds.mime_type.as_str(), s.xds.language.as_str()), ("text/plain", "en-US"));
    assert_eq!(s.title.as_deref(), Some("Physical"));
    assert_eq!(s.xds.authored_at, Some(datetime!(2005-12-24 0:00 UTC)), "a date-only creation is that day, 00:00 UTC");
    assert_eq!(s.xds.service_start, Some(datetime!(2004-12-23 8:00 +10:00)));
    assert!(s.labels.is_empty(), "v3-Confidentiality N restricts nothing");
    assert_eq!(s.xds.practice_setting.as_ref().map(|c| c.code.as_str()), Some("General Medicine"));
    let author = s.declared_author.as_ref().expect("author");
    assert_eq!(author.rpps, None, "the example's practitioners have no RPPS");
    assert_eq!(author.name.as_ref().and_then(|n| n.family.as_deref()), Some("Smitty"));
    assert_eq!((s.declared_size, s.declared_sha256), (None, None));
}
