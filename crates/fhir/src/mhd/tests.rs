use carnet_domain::SecurityLabel;
use serde_json::{Value, json};
use time::macros::datetime;

use super::*;

/// A valid ITI-65 bundle: List (entry 0), DocumentReference (entry 1), Binary (entry 2).
/// Its hashes were computed by Python's hashlib, independently of this crate.
const FIXTURE: &str = include_str!("../../tests/fixtures/provide-bundle.json");
const NIR: &str = "urn:oid:1.2.250.1.213.1.4.8";

fn fixture() -> Value {
    serde_json::from_str(FIXTURE).expect("fixture is JSON")
}

fn parse(v: &Value) -> std::result::Result<ProvideBundle, MhdError> {
    let bytes = serde_json::to_vec(v).expect("serializes");
    parse_provide_bundle(&bytes, &CodeLists::dmp_default())
}

fn push(array: &mut Value, item: Value) {
    if let Some(a) = array.as_array_mut() {
        a.push(item);
    }
}

fn remove(object: &mut Value, key: &str) {
    if let Some(o) = object.as_object_mut() {
        o.remove(key);
    }
}

fn doc(v: &mut Value) -> &mut Value {
    &mut v["entry"][1]["resource"]
}

fn attachment(v: &mut Value) -> &mut Value {
    &mut v["entry"][1]["resource"]["content"][0]["attachment"]
}

#[test]
fn the_fixture_is_read_whole() {
    let parsed = parse(&fixture()).expect("valid");
    assert_eq!(parsed.ins.as_str(), "269054958815780");
    assert_eq!(parsed.ins_kind, InsKind::Nir);
    assert_eq!(
        parsed.submission_set,
        SubmissionSetMeta {
            unique_id: "1.2.250.1.999.1.1.20260102.1".into(),
            source_id: "1.2.250.1.999.1.1".into(),
            author: None,
            title: None
        }
    );
    assert_eq!(parsed.entries, [EntryRole::SubmissionSet, EntryRole::DocumentReference(0), EntryRole::Binary(0)]);
    let [d] = parsed.documents.as_slice() else { panic!("one document") };
    assert!(d.bytes.starts_with(b"%PDF-1.4"));
    assert_eq!(d.full_url, "urn:uuid:5d0c7a1e-3b1f-4e0a-9c55-000000000002");
    let s = &d.submission;
    assert_eq!(s.xds.unique_id, "1.2.250.1.999.1.2.20260102.1");
    assert_eq!(s.xds.type_code, Code::new("http://loinc.org", "11488-4"));
    assert_eq!(s.xds.class_code.code, "10");
    assert_eq!(s.xds.format_code, Code::new(FORMAT_SYSTEM_IHE, "urn:ihe:iti:xds-sd:pdf:2008"));
    assert_eq!(s.xds.facility_type.as_ref().map(|c| c.code.as_str()), Some("SA05"));
    assert_eq!(s.xds.practice_setting.as_ref().map(|c| c.code.as_str()), Some("ETABLISSEMENT"));
    assert_eq!(s.xds.service_start, Some(datetime!(2026-01-02 8:00 UTC)));
    assert_eq!(s.xds.service_end, Some(datetime!(2026-01-02 8:30 UTC)));
    assert_eq!(s.xds.authored_at, Some(datetime!(2026-01-02 8:30 UTC)));
    assert_eq!((s.xds.mime_type.as_str(), s.xds.language.as_str()), ("application/pdf", "fr-FR"));
    assert_eq!(s.title.as_deref(), Some("Consultation du 2 janvier 2026"));
    assert_eq!(s.labels, [SecurityLabel::InvisiblePatient]);
    assert_eq!(s.declared_size, Some(d.bytes.len() as u64));
    assert_eq!(s.declared_sha256, Some(d.sha256));
    assert_eq!(s.replaces, None);
    let author = s.declared_author.as_ref().expect("author");
    assert_eq!(author.rpps.as_ref().map(Rpps::as_str), Some("10000012343"));
    assert_eq!(author.name, Some(PersonName { family: Some("MARTIN".into()), given: Some("Claire".into()) }));
}

#[test]
fn accepted_variants() {
    type Edit = fn(&mut Value);
    let cases: Vec<(&str, Edit)> = vec![
        ("inline data instead of a Binary", |v| {
            let data = v["entry"][2]["resource"]["data"].clone();
            remove(attachment(v), "url");
            attachment(v)["data"] = data;
            if let Some(e) = v["entry"].as_array_mut() {
                e.pop();
            }
        }),
        ("a conditional patient reference, '|' percent-encoded", |v| {
            let ins = doc(v)["subject"]["identifier"]["value"].clone();
            doc(v)["subject"] = json!({"reference": format!("Patient?identifier={NIR}%7C{}", ins.as_str().unwrap_or_default())});
        }),
        ("the SHA-1 written as IHE MHD's examples do (hex digits, then base64)", |v| {
            // base64("<40 hex digits of the SHA-1>") for the fixture's document.
            attachment(v)["hash"] = json!("ZTU2Y2QwMGQyOGU1N2M5MjExNjg4ZWY2ZmUwN2UyZjBiZTVkMmMyNg==");
        }),
        ("v3 confidentiality N (normal) beside TRE_A07", |v| {
            push(
                &mut doc(v)["securityLabel"],
                json!({"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "N"}]}),
            );
        }),
        ("the format's OID spelling", |v| doc(v)["content"][0]["format"]["system"] = json!("urn:oid:1.3.6.1.4.1.19376.1.2.3")),
        ("no size, hash or author", |v| {
            let a = attachment(v).as_object_mut().expect("object");
            a.remove("size");
            a.remove("hash");
            a.remove("extension");
            remove(doc(v), "author");
        }),
        ("an author given by RPPS identifier only", |v| {
            doc(v)["author"] = json!([{"identifier": {"system": "https://rpps.esante.gouv.fr", "value": "10000012343"}}])
        }),
        ("a replacement", |v| {
            doc(v)["relatesTo"] =
                json!([{"code": "replaces", "target": {"reference": "DocumentReference/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"}}]);
        }),
        ("unknown elements and an empty modifierExtension", |v| {
            doc(v)["text"] = json!({"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"});
            doc(v)["someFutureElement"] = json!({"x": 1});
            doc(v)["modifierExtension"] = json!([]);
        }),
    ];
    for (what, edit) in cases {
        let mut v = fixture();
        edit(&mut v);
        if let Err(e) = parse(&v) {
            panic!("{what}: refused: {e}");
        }
    }
    let mut v = fixture();
    doc(&mut v)["relatesTo"] = json!([{"code": "replaces", "target": {"reference": "https://carnet.test/fhir/DocumentReference/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"}}]);
    let parsed = parse(&v).expect("absolute reference");
    assert_eq!(parsed.documents[0].submission.replaces.map(|d| d.to_string()).as_deref(), Some("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"));
}

/// Every refusal: the element's path, its issue type, and a word of the message.
#[test]
fn refusals_name_the_failing_element() {
    type Edit = fn(&mut Value);
    let d = "Bundle.entry[1].resource";
    let cases: Vec<(Edit, String, IssueType, &str)> = vec![
        (|v| v["resourceType"] = json!("Patient"), "Bundle.resourceType".into(), IssueType::Invalid, "takes a Bundle"),
        (|v| v["type"] = json!("batch"), "Bundle.type".into(), IssueType::Invalid, "transaction"),
        (|v| v["entry"] = json!([]), "Bundle.entry".into(), IssueType::Required, "entries"),
        (|v| v["entry"] = json!({}), "Bundle.entry".into(), IssueType::Structure, "array"),
        (
            |v| {
                if let Some(e) = v["entry"].as_array_mut() {
                    e.remove(0);
                }
            },
            "Bundle.entry".into(),
            IssueType::Required,
            "no SubmissionSet",
        ),
        (
            |v| v["entry"][0]["resource"]["code"]["coding"][0]["code"] = json!("folder"),
            "Bundle.entry[0].resource".into(),
            IssueType::NotSupported,
            "folders",
        ),
        (
            |v| {
                let again = v["entry"][0].clone();
                push(&mut v["entry"], again);
                v["entry"][3]["fullUrl"] = json!("urn:uuid:other");
            },
            "Bundle.entry[3].resource".into(),
            IssueType::Invalid,
            "second SubmissionSet",
        ),
        (
            |v| v["entry"][0]["resource"]["extension"] = json!([]),
            "Bundle.entry[0].resource.extension".into(),
            IssueType::Required,
            "sourceId",
        ),
        (
            |v| v["entry"][0]["resource"]["identifier"] = json!([]),
            "Bundle.entry[0].resource.identifier".into(),
            IssueType::Required,
            "uniqueId",
        ),
        (|v| v["entry"][0]["resource"]["status"] = json!("retired"), "Bundle.entry[0].resource.status".into(), IssueType::Value, "current"),
        (
            |v| v["entry"][0]["resource"]["entry"][0]["item"]["reference"] = json!("urn:uuid:nowhere"),
            "Bundle.entry[0].resource.entry[0].item.reference".into(),
            IssueType::NotFound,
            "fullUrl of no entry",
        ),
        (
            |v| v["entry"][0]["resource"]["entry"][0]["item"]["reference"] = json!("urn:uuid:5d0c7a1e-3b1f-4e0a-9c55-000000000003"),
            "Bundle.entry[0].resource.entry[0].item.reference".into(),
            IssueType::Invalid,
            "not a DocumentReference",
        ),
        (
            |v| v["entry"][0]["resource"]["subject"]["identifier"]["value"] = json!("184127645108946"),
            "Bundle.entry[1].resource.subject".into(),
            IssueType::Invariant,
            "another patient",
        ),
        (
            |v| {
                let extra = v["entry"][0]["resource"]["entry"][0].clone();
                let mut second = v["entry"][1].clone();
                second["fullUrl"] = json!("urn:uuid:second");
                push(&mut v["entry"], second);
                let _ = extra;
            },
            "Bundle.entry[3].resource.content[0].attachment.url".into(),
            IssueType::Invalid,
            "already holds",
        ),
        (
            |v| {
                let mut second = v["entry"][1].clone();
                second["fullUrl"] = json!("urn:uuid:second");
                second["resource"]["content"][0]["attachment"]["data"] = v["entry"][2]["resource"]["data"].clone();
                remove(&mut second["resource"]["content"][0]["attachment"], "url");
                second["resource"]["masterIdentifier"]["value"] = json!("urn:oid:1.2.250.1.999.9");
                push(&mut v["entry"], second);
            },
            "Bundle.entry[3].fullUrl".into(),
            IssueType::Invalid,
            "not listed",
        ),
        (
            |v| v["entry"][2]["fullUrl"] = json!("urn:uuid:5d0c7a1e-3b1f-4e0a-9c55-000000000001"),
            "Bundle.entry[2].fullUrl".into(),
            IssueType::Duplicate,
            "entry[0]",
        ),
        (
            |v| {
                let mut second = v["entry"][1].clone();
                second["fullUrl"] = json!("urn:uuid:second");
                second["resource"]["content"][0]["attachment"]["data"] = v["entry"][2]["resource"]["data"].clone();
                remove(&mut second["resource"]["content"][0]["attachment"], "url");
                push(&mut v["entry"], second);
                push(&mut v["entry"][0]["resource"]["entry"], json!({"item": {"reference": "urn:uuid:second"}}));
            },
            "Bundle.entry[3].resource.masterIdentifier".into(),
            IssueType::Duplicate,
            "same uniqueId as Bundle.entry[1]",
        ),
        (
            |v| {
                push(
                    &mut v["entry"],
                    json!({"fullUrl": "urn:uuid:p", "resource": {"resourceType": "Patient"}, "request": {"method": "POST", "url": "Patient"}}),
                );
            },
            "Bundle.entry[3].resource.resourceType".into(),
            IssueType::NotSupported,
            "does not create patients",
        ),
        (
            |v| {
                push(
                    &mut v["entry"],
                    json!({"fullUrl": "urn:uuid:b", "resource": {"resourceType": "Binary", "contentType": "text/plain", "data": "eA=="}, "request": {"method": "POST", "url": "Binary"}}),
                );
            },
            "Bundle.entry[3].resource".into(),
            IssueType::Invalid,
            "referenced by no DocumentReference",
        ),
        (|v| v["entry"][1]["request"]["method"] = json!("PUT"), "Bundle.entry[1].request.method".into(), IssueType::NotSupported, "POST"),
        (
            |v| v["entry"][1]["request"]["url"] = json!("Binary"),
            "Bundle.entry[1].request.url".into(),
            IssueType::Invalid,
            "DocumentReference",
        ),
        (
            |v| {
                remove(&mut v["entry"][1], "request");
            },
            "Bundle.entry[1].request".into(),
            IssueType::Required,
            "required",
        ),
        (
            |v| {
                remove(doc(v), "masterIdentifier");
            },
            format!("{d}.masterIdentifier"),
            IssueType::Required,
            "required",
        ),
        (
            |v| doc(v)["masterIdentifier"]["value"] = json!("urn:oid:1.2.x"),
            format!("{d}.masterIdentifier.value"),
            IssueType::Value,
            "not an OID",
        ),
        (
            |v| doc(v)["masterIdentifier"]["system"] = json!("http://example.org/ids"),
            format!("{d}.masterIdentifier.system"),
            IssueType::Value,
            "uniqueId",
        ),
        (|v| doc(v)["status"] = json!("superseded"), format!("{d}.status"), IssueType::Value, "current"),
        (
            |v| doc(v)["subject"]["identifier"]["system"] = json!("http://acme.org/mrn"),
            format!("{d}.subject.identifier.system"),
            IssueType::CodeInvalid,
            "not an INS system",
        ),
        (
            |v| doc(v)["subject"]["identifier"]["value"] = json!("269054958815781"),
            format!("{d}.subject.identifier.value"),
            IssueType::Value,
            "key does not match",
        ),
        (|v| doc(v)["subject"] = json!({"reference": "Patient/a2"}), format!("{d}.subject.reference"), IssueType::NotSupported, "INS"),
        (|v| doc(v)["type"]["coding"][0]["code"] = json!("0000-0"), format!("{d}.type"), IssueType::CodeInvalid, "not a DMP type code"),
        (
            |v| doc(v)["category"][0]["coding"][0]["code"] = json!("42"),
            format!("{d}.category[0]"),
            IssueType::CodeInvalid,
            "belongs to class 10",
        ),
        (
            |v| doc(v)["content"][0]["format"]["code"] = json!("urn:ihe:pcc:handp:2008"),
            format!("{d}.content[0].format"),
            IssueType::CodeInvalid,
            "not accepted",
        ),
        (
            |v| {
                remove(&mut doc(v)["content"][0], "format");
            },
            format!("{d}.content[0].format"),
            IssueType::Required,
            "required",
        ),
        (
            |v| {
                let again = doc(v)["content"][0].clone();
                push(&mut doc(v)["content"], again);
            },
            format!("{d}.content[1]"),
            IssueType::NotSupported,
            "one content",
        ),
        (
            |v| {
                remove(attachment(v), "language");
            },
            format!("{d}.content[0].attachment.language"),
            IssueType::Required,
            "required",
        ),
        (|v| attachment(v)["language"] = json!("fr_FR"), format!("{d}.content[0].attachment.language"), IssueType::Value, "BCP 47"),
        (
            |v| attachment(v)["contentType"] = json!("text/plain"),
            format!("{d}.content[0].attachment.contentType"),
            IssueType::Invariant,
            "its Binary",
        ),
        (
            |v| attachment(v)["url"] = json!("urn:uuid:absent"),
            format!("{d}.content[0].attachment.url"),
            IssueType::NotFound,
            "fullUrl of no entry",
        ),
        (
            |v| attachment(v)["url"] = json!("urn:uuid:5d0c7a1e-3b1f-4e0a-9c55-000000000001"),
            format!("{d}.content[0].attachment.url"),
            IssueType::Invalid,
            "not a Binary",
        ),
        (|v| attachment(v)["data"] = json!("eA=="), format!("{d}.content[0].attachment.url"), IssueType::Invalid, "not both"),
        (
            |v| attachment(v)["size"] = json!(70),
            format!("{d}.content[0].attachment.size"),
            IssueType::Invariant,
            "declares 70 bytes but the document has 69",
        ),
        (|v| attachment(v)["size"] = json!(-1), format!("{d}.content[0].attachment.size"), IssueType::Structure, "non-negative"),
        (
            |v| attachment(v)["hash"] = json!("2jmj7l5rSw0yVb/vlWAYkK/YBwk="),
            format!("{d}.content[0].attachment.hash"),
            IssueType::Invariant,
            "SHA-1 does not match",
        ),
        (|v| attachment(v)["hash"] = json!("AAAA"), format!("{d}.content[0].attachment.hash"), IssueType::Value, "20 bytes"),
        (
            |v| attachment(v)["extension"][0]["valueBase64Binary"] = json!("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="),
            format!("{d}.content[0].attachment.extension[0].valueBase64Binary"),
            IssueType::Invariant,
            "SHA-256 does not match",
        ),
        (|v| attachment(v)["creation"] = json!("2026"), format!("{d}.content[0].attachment.creation"), IssueType::Value, "give a day"),
        (
            |v| v["entry"][2]["resource"]["data"] = json!("not base64!"),
            "Bundle.entry[2].resource.data".into(),
            IssueType::Value,
            "not base64",
        ),
        (
            |v| {
                remove(&mut v["entry"][2]["resource"], "data");
            },
            "Bundle.entry[2].resource.data".into(),
            IssueType::Required,
            "required",
        ),
        (
            |v| doc(v)["securityLabel"][0]["coding"][0]["code"] = json!("SECRET"),
            format!("{d}.securityLabel[0].coding[0].code"),
            IssueType::CodeInvalid,
            "MASQUE_PS",
        ),
        (
            |v| {
                doc(v)["securityLabel"] =
                    json!([{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}]}])
            },
            format!("{d}.securityLabel[0].coding[0]"),
            IssueType::CodeInvalid,
            "not be silently dropped",
        ),
        (
            |v| doc(v)["author"] = json!([{"reference": "#author"}, {"reference": "#author"}]),
            format!("{d}.author[1]"),
            IssueType::NotSupported,
            "one author",
        ),
        (
            |v| doc(v)["author"] = json!([{"reference": "Practitioner/a3"}]),
            format!("{d}.author[0].reference"),
            IssueType::NotSupported,
            "contained",
        ),
        (|v| doc(v)["author"] = json!([{"reference": "#nobody"}]), format!("{d}.author[0].reference"), IssueType::NotFound, "no contained"),
        (
            |v| doc(v)["contained"][0]["identifier"][0]["value"] = json!("810000012344"),
            format!("{d}.contained[0].identifier[0].value"),
            IssueType::Value,
            "not an RPPS",
        ),
        (
            |v| {
                doc(v)["relatesTo"] =
                    json!([{"code": "transforms", "target": {"reference": "DocumentReference/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"}}])
            },
            format!("{d}.relatesTo[0].code"),
            IssueType::NotSupported,
            "replaces",
        ),
        (
            |v| doc(v)["relatesTo"] = json!([{"code": "replaces", "target": {"reference": "DocumentReference/42"}}]),
            format!("{d}.relatesTo[0].target.reference"),
            IssueType::Value,
            "Carnet document id",
        ),
        (
            |v| doc(v)["context"]["period"]["end"] = json!("2026-01-01"),
            format!("{d}.context.period"),
            IssueType::Value,
            "ends before it starts",
        ),
        (
            |v| doc(v)["content"][0]["attachment"]["modifierExtension"] = json!([{"url": "http://example.org/x", "valueBoolean": true}]),
            format!("{d}.content[0].attachment.modifierExtension"),
            IssueType::NotSupported,
            "http://example.org/x",
        ),
        (
            |v| doc(v)["implicitRules"] = json!("http://example.org/rules"),
            format!("{d}.implicitRules"),
            IssueType::NotSupported,
            "implicit rules",
        ),
        (|v| doc(v)["status"] = json!(3), format!("{d}.status"), IssueType::Structure, "string"),
    ];
    for (edit, path, code, words) in cases {
        let mut v = fixture();
        edit(&mut v);
        match parse(&v) {
            Err(e) => {
                assert_eq!((e.path.as_str(), e.code), (path.as_str(), code), "{e}");
                assert!(e.message.contains(words), "{path}: {:?} lacks {words:?}", e.message);
            }
            Ok(_) => panic!("{path}: accepted"),
        }
    }
}

#[test]
fn syntax_errors_and_other_json_are_refused_at_the_root() {
    let codes = CodeLists::dmp_default();
    for (body, code) in [
        (&b"{"[..], IssueType::Structure),
        (b"[]", IssueType::Structure),
        (b"\"Bundle\"", IssueType::Structure),
        (b"", IssueType::Structure),
    ] {
        let e = parse_provide_bundle(body, &codes).expect_err("refused");
        assert_eq!((e.path.as_str(), e.code), ("Bundle", code), "{e}");
    }
    let e = parse_provide_bundle(b"{}", &codes).expect_err("refused");
    assert_eq!(e.path, "Bundle.resourceType");
}

#[test]
fn a_refusal_is_an_operation_outcome_with_its_path() {
    let mut v = fixture();
    attachment(&mut v)["size"] = json!(1);
    let e = parse(&v).expect_err("refused");
    let oo = serde_json::to_value(e.operation_outcome()).expect("serializes");
    assert_eq!(oo["resourceType"], "OperationOutcome");
    assert_eq!(oo["issue"][0]["severity"], "error");
    assert_eq!(oo["issue"][0]["code"], "invariant");
    assert_eq!(oo["issue"][0]["expression"][0], "Bundle.entry[1].resource.content[0].attachment.size");
}

/// Two documents whose Binaries come in the other order, one more inline: each entry's role
/// points at its document, and documents keep the order of their DocumentReferences.
#[test]
fn several_documents_keep_their_order_and_roles() {
    let mut v = fixture();
    let mut second = v["entry"][1].clone();
    second["fullUrl"] = json!("urn:uuid:second");
    second["resource"]["masterIdentifier"]["value"] = json!("urn:oid:1.2.250.1.999.1.2.20260102.2");
    second["resource"]["content"][0]["attachment"]["url"] = json!("urn:uuid:second-binary");
    let mut third = v["entry"][1].clone();
    third["fullUrl"] = json!("urn:uuid:third");
    third["resource"]["masterIdentifier"]["value"] = json!("urn:uuid:0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
    remove(&mut third["resource"]["content"][0]["attachment"], "url");
    third["resource"]["content"][0]["attachment"]["data"] = v["entry"][2]["resource"]["data"].clone();
    let mut second_binary = v["entry"][2].clone();
    second_binary["fullUrl"] = json!("urn:uuid:second-binary");
    // Order: List, Binary(second), DocRef(first), DocRef(second), Binary(first), DocRef(third).
    let entries = v["entry"].as_array().cloned().unwrap_or_default();
    v["entry"] = json!([entries[0], second_binary, entries[1], second, entries[2], third]);
    push(&mut v["entry"][0]["resource"]["entry"], json!({"item": {"reference": "urn:uuid:second"}}));
    push(&mut v["entry"][0]["resource"]["entry"], json!({"item": {"reference": "urn:uuid:third"}}));
    let parsed = parse(&v).expect("valid");
    assert_eq!(
        parsed.entries,
        [
            EntryRole::SubmissionSet,
            EntryRole::Binary(1),
            EntryRole::DocumentReference(0),
            EntryRole::DocumentReference(1),
            EntryRole::Binary(0),
            EntryRole::DocumentReference(2)
        ]
    );
    let urls: Vec<&str> = parsed.documents.iter().map(|d| d.full_url.as_str()).collect();
    assert_eq!(urls, ["urn:uuid:5d0c7a1e-3b1f-4e0a-9c55-000000000002", "urn:uuid:second", "urn:uuid:third"]);
    assert_eq!(parsed.documents[1].submission.xds.unique_id, "1.2.250.1.999.1.2.20260102.2");
}

#[test]
fn a_hex_sha1_is_read_in_either_case_and_in_no_other_spelling() {
    let raw = [0x0a; 20];
    let hex = "0a".repeat(20);
    assert_eq!(sha1_bytes(&raw), Some(raw));
    assert_eq!(sha1_bytes(hex.as_bytes()), Some(raw));
    assert_eq!(sha1_bytes(hex.to_ascii_uppercase().as_bytes()), Some(raw), "hexBinary admits upper case");
    // `u8::from_str_radix` read `+a` as `0a`.
    assert_eq!(sha1_bytes(format!("+a{}", &hex[2..]).as_bytes()), None);
    assert_eq!(sha1_bytes(format!(" a{}", &hex[2..]).as_bytes()), None);
}

#[test]
fn base64_wrapped_in_lines_reads_like_base64_in_one_piece() {
    let plain = parse(&fixture()).expect("valid");
    let mut v = fixture();
    let data = v["entry"][2]["resource"]["data"].as_str().expect("data").to_owned();
    let wrapped: String = data.as_bytes().chunks(16).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join("\r\n ");
    v["entry"][2]["resource"]["data"] = json!(wrapped);
    let parsed = parse(&v).expect("wrapped base64 is accepted");
    assert_eq!(parsed.documents[0].bytes, plain.documents[0].bytes);
    v["entry"][2]["resource"]["data"] = json!(format!("{data}*"));
    assert!(parse(&v).is_err(), "a character outside base64 is refused");
}
