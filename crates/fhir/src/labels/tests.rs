use carnet_domain::codes::{CLASS_SYSTEM, Code, CodeLists, FORMAT_SYSTEM_IHE};
use carnet_domain::document::XdsMetadata;
use carnet_domain::{DocumentId, DocumentMeta, DocumentStatus, Ins, InsKind};
use serde_json::json;
use time::OffsetDateTime;

use super::*;
use crate::render::{RenderContext, document_reference};

const ID: &str = "0f1e2d3c-4b5a-4978-8796-a5b4c3d2e1f0";
const OID: &str = "urn:oid:1.2.250.1.213.1.1.4.13";
const V3: &str = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality";

/// A document as `render` writes it for its reader, carrying `labels`.
fn stored(labels: &[SecurityLabel]) -> DocumentReference {
    let meta = DocumentMeta {
        id: DocumentId::parse(ID).expect("a document id"),
        ins: Ins::from_body("2690549588157").expect("an INS"),
        xds: XdsMetadata {
            unique_id: "1.2.250.1.999.1.2.1".into(),
            class_code: Code::new(CLASS_SYSTEM, "10"),
            type_code: Code::new("http://loinc.org", "11488-4"),
            format_code: Code::new(FORMAT_SYSTEM_IHE, "urn:ihe:iti:xds-sd:pdf:2008"),
            practice_setting: None,
            facility_type: None,
            service_start: None,
            service_end: None,
            mime_type: "application/pdf".into(),
            language: "fr-FR".into(),
            authored_at: None,
        },
        author: "https://idp.test#lab".into(),
        author_name: None,
        deposited_by: "https://idp.test#lab".into(),
        submitted_at: OffsetDateTime::UNIX_EPOCH,
        size: 600,
        sha256: [7; 32],
        labels: labels.to_vec(),
        status: DocumentStatus::Current,
        archived: false,
        replaces: None,
    };
    let codes = CodeLists::dmp_default();
    document_reference(&meta, Some("Compte rendu"), InsKind::Nir, &RenderContext { base_url: "https://carnet.test/fhir", codes: &codes })
}

fn stored_json(labels: &[SecurityLabel]) -> Value {
    serde_json::to_value(stored(labels)).expect("serializes")
}

fn remove(v: &mut Value, key: &str) {
    if let Some(o) = v.as_object_mut() {
        o.remove(key);
    }
}

fn label(system: &str, code: &str) -> Value {
    json!({"coding": [{"system": system, "code": code}]})
}

fn read(security_label: Value) -> Result<Vec<SecurityLabel>> {
    let resource = json!({ "securityLabel": security_label });
    read_labels(&Node::root(&resource, RESOURCE))
}

fn put(body: &Value, labels_now: &[SecurityLabel]) -> Result<LabelUpdate> {
    read_label_put(ID, &serde_json::to_vec(body).expect("serializes"))?.apply(&stored(labels_now))
}

fn patch(ops: Value, labels_now: &[SecurityLabel]) -> Result<LabelUpdate> {
    read_label_patch(&serde_json::to_vec(&ops).expect("serializes"))?.apply(&stored(labels_now))
}

fn assert_refused(result: Result<impl std::fmt::Debug>, path: &str, code: IssueType, words: &str) {
    match result {
        Ok(v) => panic!("{path}: accepted as {v:?}"),
        Err(e) => {
            assert_eq!((e.path.as_str(), e.code), (path, code), "{e}");
            assert!(e.message.contains(words), "{path}: {:?} should say {words:?}", e.message);
        }
    }
}

use SecurityLabel::{InvisiblePatient, InvisibleRepresentantsLegaux, MasquePs};

#[test]
fn every_spelling_of_tre_a07_reads_as_its_label() {
    for system in [systems::TRE_A07, OID, SecurityLabel::SYSTEM_OID] {
        for l in SecurityLabel::ALL {
            assert_eq!(read(json!([label(system, l.code())])), Ok(vec![l]), "{system}|{}", l.code());
        }
    }
}

#[test]
fn normal_is_accepted_and_ignored_in_v3_and_tre_a07() {
    for system in [V3, "urn:oid:2.16.840.1.113883.5.25", "2.16.840.1.113883.5.25", systems::TRE_A07, OID] {
        assert_eq!(read(json!([label(system, "N")])), Ok(vec![]), "{system}");
        // Beside a label, in the same concept or another, the label stays.
        let both = json!([{"coding": [{"system": system, "code": "N"}, {"system": OID, "code": "MASQUE_PS"}]}]);
        assert_eq!(read(both), Ok(vec![MasquePs]), "{system}");
    }
}

#[test]
fn labels_are_a_set_in_order_of_first_appearance() {
    let labels = json!([
        label(OID, "INVISIBLE_PATIENT"),
        {"coding": [{"system": systems::TRE_A07, "code": "MASQUE_PS"}, {"system": SecurityLabel::SYSTEM_OID, "code": "INVISIBLE_PATIENT"}]},
        label(OID, "MASQUE_PS"),
    ]);
    assert_eq!(read(labels), Ok(vec![InvisiblePatient, MasquePs]));
    assert_eq!(read(json!([])), Ok(vec![]));
    assert_eq!(read(Value::Null), Ok(vec![]));
}

#[test]
fn every_refused_coding_names_its_element() {
    let at = "DocumentReference.securityLabel";
    let cases: Vec<(Value, String, IssueType, &str)> = vec![
        (json!({"coding": []}), at.into(), IssueType::Structure, "array"),
        (json!([{"coding": []}]), format!("{at}[0]"), IssueType::Required, "a coding from TRE_A07"),
        (json!([{"text": "secret"}]), format!("{at}[0]"), IssueType::Required, "a coding from TRE_A07"),
        (json!([{"coding": {"system": OID}}]), format!("{at}[0].coding"), IssueType::Structure, "array"),
        (json!([{"coding": [{"code": "MASQUE_PS"}]}]), format!("{at}[0].coding[0].system"), IssueType::Required, "required"),
        (json!([{"coding": [{"system": OID}]}]), format!("{at}[0].coding[0].code"), IssueType::Required, "required"),
        (json!([{"coding": [{"system": 4, "code": "N"}]}]), format!("{at}[0].coding[0].system"), IssueType::Structure, "string"),
        (json!([{"coding": [{"system": OID, "code": " "}]}]), format!("{at}[0].coding[0].code"), IssueType::Value, "empty"),
        (json!([label(OID, "MASQUE_PS"), label(OID, "SECRET")]), format!("{at}[1].coding[0].code"), IssueType::CodeInvalid, "MASQUE_PS"),
        // Codes are case-sensitive.
        (json!([label(systems::TRE_A07, "masque_ps")]), format!("{at}[0].coding[0].code"), IssueType::CodeInvalid, "not a TRE_A07"),
        (json!([label(V3, "R")]), format!("{at}[0].coding[0]"), IssueType::CodeInvalid, "must not be silently dropped"),
        (json!([label("urn:oid:2.16.840.1.113883.5.25", "V")]), format!("{at}[0].coding[0]"), IssueType::CodeInvalid, "not a label Carnet"),
        (json!([label("http://example.org/labels", "N")]), format!("{at}[0].coding[0]"), IssueType::CodeInvalid, "not a label Carnet"),
        // A near miss of the OID is another system.
        (json!([label("urn:oid:1.2.250.1.213.1.1.4.130", "MASQUE_PS")]), format!("{at}[0].coding[0]"), IssueType::CodeInvalid, "TRE_A07"),
    ];
    for (labels, path, code, words) in cases {
        assert_refused(read(labels), &path, code, words);
    }
}

#[test]
fn a_put_of_the_stored_resource_changes_only_its_labels() {
    let mut body = stored_json(&[MasquePs]);
    assert_eq!(put(&body, &[MasquePs]), Ok(LabelUpdate { labels: vec![MasquePs], added: vec![], removed: vec![] }));
    body["securityLabel"] = json!([label(SecurityLabel::SYSTEM_OID, "INVISIBLE_PATIENT"), label(V3, "N")]);
    // What clients rewrite is not compared.
    body["meta"] = json!({"versionId": "7"});
    body["text"] = json!({"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"});
    assert_eq!(
        put(&body, &[MasquePs]),
        Ok(LabelUpdate { labels: vec![InvisiblePatient], added: vec![InvisiblePatient], removed: vec![MasquePs] })
    );
    // No securityLabel: no labels.
    remove(&mut body, "securityLabel");
    assert_eq!(put(&body, &[MasquePs]), Ok(LabelUpdate { labels: vec![], added: vec![], removed: vec![MasquePs] }));
}

#[test]
fn every_refused_put_names_its_element() {
    type Edit = fn(&mut Value);
    let cases: Vec<(Edit, &str, IssueType, &str)> = vec![
        (|v| *v = json!([]), "DocumentReference", IssueType::Structure, "object"),
        (|v| v["resourceType"] = json!("Patient"), "DocumentReference.resourceType", IssueType::Invalid, "Patient"),
        (|v| remove(v, "resourceType"), "DocumentReference.resourceType", IssueType::Invalid, "none"),
        (|v| v["id"] = json!("00000000-0000-4000-8000-000000000000"), "DocumentReference.id", IssueType::Invalid, "id in the URL"),
        (|v| v["id"] = json!(7), "DocumentReference.id", IssueType::Invalid, "id in the URL"),
        (
            |v| v["securityLabel"] = json!([label(V3, "R")]),
            "DocumentReference.securityLabel[0].coding[0]",
            IssueType::CodeInvalid,
            "dropped",
        ),
        (|v| v["status"] = json!("superseded"), "DocumentReference.status", IssueType::BusinessRule, "only securityLabel"),
        (|v| v["description"] = json!("new"), "DocumentReference.description", IssueType::BusinessRule, "only securityLabel"),
        (
            |v| v["content"][0]["attachment"]["size"] = json!(601),
            "DocumentReference.content[0].attachment.size",
            IssueType::BusinessRule,
            "fixed",
        ),
        (|v| v["category"] = json!([]), "DocumentReference.category", IssueType::BusinessRule, "fixed"),
        (|v| remove(v, "content"), "DocumentReference.content", IssueType::BusinessRule, "fixed"),
    ];
    for (edit, path, code, words) in cases {
        let mut body = stored_json(&[]);
        edit(&mut body);
        assert_refused(put(&body, &[]), path, code, words);
    }
    assert_refused(read_label_put(ID, b"{\"resourceType\": "), "DocumentReference", IssueType::Structure, "not FHIR JSON");
    assert_refused(read_label_put(ID, b""), "DocumentReference", IssueType::Structure, "not FHIR JSON");
}

#[test]
fn patches_add_remove_replace_and_test_whole_labels() {
    let masque = label(OID, "MASQUE_PS");
    let add = json!([{"op": "add", "path": "/securityLabel/-", "value": masque}]);
    assert_eq!(patch(add, &[]), Ok(LabelUpdate { labels: vec![MasquePs], added: vec![MasquePs], removed: vec![] }));
    let insert = json!([{"op": "add", "path": "/securityLabel/0", "value": label(systems::TRE_A07, "INVISIBLE_PATIENT")}]);
    assert_eq!(patch(insert, &[MasquePs]).map(|u| u.labels), Ok(vec![InvisiblePatient, MasquePs]));
    let test_then_remove = json!([
        {"op": "test", "path": "/securityLabel/0", "value": serde_json::to_value(crate::render::security_label(MasquePs)).expect("json")},
        {"op": "remove", "path": "/securityLabel/0"},
    ]);
    assert_eq!(
        patch(test_then_remove, &[MasquePs, InvisiblePatient]).map(|u| (u.labels, u.removed)),
        Ok((vec![InvisiblePatient], vec![MasquePs]))
    );
    let replace = json!([{"op": "replace", "path": "/securityLabel/1", "value": label(OID, "INVISIBLE_REPRESENTANTS_LEGAUX")}]);
    assert_eq!(patch(replace, &[MasquePs, InvisiblePatient]).map(|u| u.labels), Ok(vec![MasquePs, InvisibleRepresentantsLegaux]));
    let whole = json!([{"op": "replace", "path": "/securityLabel", "value": [label(V3, "N")]}]);
    assert_eq!(patch(whole, &[MasquePs]).map(|u| u.labels), Ok(vec![]));
    let clear = json!([{"op": "remove", "path": "/securityLabel"}]);
    assert_eq!(patch(clear, &[MasquePs, InvisiblePatient]).map(|u| u.removed), Ok(vec![MasquePs, InvisiblePatient]));
    assert_eq!(patch(json!([{"op": "test", "path": "/securityLabel", "value": []}]), &[]).map(|u| u.labels), Ok(vec![]));
    // Adding a label the document has: the same set.
    let again = json!([{"op": "add", "path": "/securityLabel/-", "value": masque}]);
    assert_eq!(patch(again, &[MasquePs]), Ok(LabelUpdate { labels: vec![MasquePs], added: vec![], removed: vec![] }));
    assert_eq!(patch(json!([]), &[MasquePs]).map(|u| u.labels), Ok(vec![MasquePs]));
}

#[test]
fn every_refused_patch_names_its_operation_or_label() {
    let masque = label(OID, "MASQUE_PS");
    let op0 = "Parameters.operation[0]";
    let cases: Vec<(Value, String, IssueType, &str)> = vec![
        (json!({"op": "add"}), "Parameters".into(), IssueType::Structure, "array of operations"),
        (json!(["add"]), op0.into(), IssueType::Processing, "an object"),
        (json!([{"path": "/securityLabel"}]), format!("{op0}.op"), IssueType::Processing, "needs op"),
        (
            json!([{"op": "move", "from": "/securityLabel/0", "path": "/securityLabel/1"}]),
            format!("{op0}.op"),
            IssueType::NotSupported,
            "move",
        ),
        (json!([{"op": "add", "value": masque}]), format!("{op0}.path"), IssueType::Processing, "needs path"),
        (
            json!([{"op": "replace", "path": "/status", "value": "superseded"}]),
            format!("{op0}.path"),
            IssueType::BusinessRule,
            "only /securityLabel",
        ),
        (
            json!([{"op": "add", "path": "/securityLabels/-", "value": masque}]),
            format!("{op0}.path"),
            IssueType::BusinessRule,
            "only /securityLabel",
        ),
        (json!([{"op": "remove", "path": ""}]), format!("{op0}.path"), IssueType::BusinessRule, "only /securityLabel"),
        (
            json!([{"op": "replace", "path": "/securityLabel/0/coding/0/code", "value": "MASQUE_PS"}]),
            format!("{op0}.path"),
            IssueType::NotSupported,
            "whole labels",
        ),
        (json!([{"op": "remove", "path": "/securityLabel/01"}]), format!("{op0}.path"), IssueType::Processing, "not an index"),
        (json!([{"op": "remove", "path": "/securityLabel/+0"}]), format!("{op0}.path"), IssueType::Processing, "not an index"),
        (json!([{"op": "remove", "path": "/securityLabel/"}]), format!("{op0}.path"), IssueType::Processing, "not an index"),
        (
            json!([{"op": "remove", "path": "/securityLabel/99999999999999999999999"}]),
            format!("{op0}.path"),
            IssueType::Processing,
            "not an index",
        ),
        (json!([{"op": "remove", "path": "/securityLabel/-"}]), format!("{op0}.path"), IssueType::Processing, "only add"),
        (json!([{"op": "add", "path": "/securityLabel/-"}]), format!("{op0}.value"), IssueType::Processing, "needs a value"),
        (json!([{"op": "test", "path": "/securityLabel"}]), format!("{op0}.value"), IssueType::Processing, "needs a value"),
        (json!([{"op": "remove", "path": "/securityLabel/1"}]), format!("{op0}.path"), IssueType::Processing, "no such label"),
        (
            json!([{"op": "add", "path": "/securityLabel/2", "value": masque}]),
            format!("{op0}.path"),
            IssueType::Processing,
            "beyond the end",
        ),
        (
            json!([{"op": "add", "path": "/securityLabel/-", "value": masque}, {"op": "test", "path": "/securityLabel", "value": []}]),
            "Parameters.operation[1]".into(),
            IssueType::Conflict,
            "test failed",
        ),
        (
            json!([{"op": "replace", "path": "/securityLabel", "value": {}}, {"op": "add", "path": "/securityLabel/-", "value": masque}]),
            "Parameters.operation[1].path".into(),
            IssueType::Processing,
            "not an array",
        ),
        // What the operations produce is read by the rule, at its place in the result.
        (
            json!([{"op": "add", "path": "/securityLabel/-", "value": label(OID, "SECRET")}]),
            "DocumentReference.securityLabel[1].coding[0].code".into(),
            IssueType::CodeInvalid,
            "not a TRE_A07",
        ),
        (
            json!([{"op": "add", "path": "/securityLabel/0", "value": null}]),
            "DocumentReference.securityLabel[0]".into(),
            IssueType::Required,
            "a coding",
        ),
        (
            json!([{"op": "replace", "path": "/securityLabel", "value": "MASQUE_PS"}]),
            "DocumentReference.securityLabel".into(),
            IssueType::Structure,
            "array",
        ),
    ];
    for (ops, path, code, words) in cases {
        assert_refused(patch(ops, &[InvisiblePatient]), &path, code, words);
    }
    assert_refused(read_label_patch(b"[{"), "Parameters", IssueType::Structure, "not JSON");
}
