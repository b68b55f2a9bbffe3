//! Properties of the ITI-65 parser: no input makes it panic, every refusal names an element
//! of the bundle, and what `render` writes, `mhd` reads back unchanged. Properties of the
//! label-update readers (`labels`): no input makes them panic, a PUT or a patch means what it
//! says, and every label coding means the same to them and to ITI-65.

use crate::support;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use carnet_domain::codes::CodeLists;
use carnet_domain::document::{PersonName, XdsMetadata};
use carnet_domain::{DocumentMeta, InsKind, SecurityLabel};
use carnet_fhir::model::DocumentReference;
use carnet_fhir::render::{self, SubmissionSetView};
use carnet_fhir::{LabelUpdate, MhdError, SubmissionSetMeta, parse_provide_bundle, read_label_patch, read_label_put, systems};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use time::macros::datetime;

const FIXTURE: &str = include_str!("../fixtures/provide-bundle.json");

fn fixture() -> Value {
    serde_json::from_str(FIXTURE).expect("fixture is JSON")
}

/// Every JSON pointer in `v`, the root excluded.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                let p = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                out.push(p.clone());
                pointers(child, p, out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                let p = format!("{at}/{i}");
                out.push(p.clone());
                pointers(child, p, out);
            }
        }
        _ => {}
    }
}

fn any_json() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,24}".prop_map(Value::from),
        Just(json!([])),
        Just(json!({})),
        Just(json!([{}])),
        Just(json!("urn:uuid:5d0c7a1e-3b1f-4e0a-9c55-000000000003")),
        Just(json!("AAAA")),
    ]
}

#[derive(Debug, Clone)]
enum Edit {
    Replace(Index, Value),
    Remove(Index),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![(any::<Index>(), any_json()).prop_map(|(i, v)| Edit::Replace(i, v)), any::<Index>().prop_map(Edit::Remove)]
}

fn apply(v: &mut Value, e: &Edit) {
    let mut all = Vec::new();
    pointers(v, String::new(), &mut all);
    if all.is_empty() {
        return;
    }
    match e {
        Edit::Replace(i, new) => {
            if let Some(slot) = v.pointer_mut(i.get(&all).as_str()) {
                *slot = new.clone();
            }
        }
        Edit::Remove(i) => {
            let p = i.get(&all).as_str();
            let (parent, key) = p.rsplit_once('/').unwrap_or(("", p));
            match v.pointer_mut(parent) {
                Some(Value::Object(map)) => {
                    map.remove(&key.replace("~1", "/").replace("~0", "~"));
                }
                Some(Value::Array(items)) => {
                    if let Ok(n) = key.parse::<usize>()
                        && n < items.len()
                    {
                        items.remove(n);
                    }
                }
                _ => {}
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = parse_provide_bundle(&bytes, &CodeLists::dmp_default());
    }

    /// Up to four random edits of a valid bundle: never a panic; a refusal names a path inside
    /// the Bundle and says something.
    #[test]
    fn edited_bundles_never_panic_and_refusals_have_paths(edits in proptest::collection::vec(edit(), 1..5)) {
        let mut v = fixture();
        for e in &edits {
            apply(&mut v, e);
        }
        let bytes = serde_json::to_vec(&v).expect("serializes");
        if let Err(e) = parse_provide_bundle(&bytes, &CodeLists::dmp_default()) {
            prop_assert!(e.path == "Bundle" || e.path.starts_with("Bundle."), "{}", e);
            prop_assert!(!e.message.is_empty());
        }
    }
}

fn unique_id() -> impl Strategy<Value = String> {
    prop_oneof![
        "[1-9][0-9]{0,3}(\\.[0-9]{1,5}){1,6}",
        "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}".prop_map(|u| format!("urn:uuid:{u}")),
        ("[1-9](\\.[0-9]{1,4}){2,4}", "[A-Za-z0-9-]{1,12}").prop_map(|(root, ext)| format!("{root}^{ext}")),
    ]
}

fn name() -> impl Strategy<Value = Option<PersonName>> {
    proptest::option::of(
        ("[A-Z][a-zé]{1,10}", proptest::option::of("[A-Z][a-z]{1,10}"))
            .prop_map(|(family, given)| PersonName { family: Some(family), given }),
    )
}

/// Renders a document and its SubmissionSet, wraps them with the bytes in a transaction, and
/// parses it: the submission is the metadata that was rendered.
fn round_trip(meta: &DocumentMeta, title: Option<&str>, bytes: &[u8]) -> Result<(), TestCaseError> {
    let codes = CodeLists::dmp_default();
    let ctx = support::ctx(&codes);
    let doc = serde_json::to_value(render::document_reference(meta, title, InsKind::Nir, &ctx)).expect("serializes");
    let doc_url = format!("{}/DocumentReference/{}", support::BASE, meta.id);
    let binary_url = doc["content"][0]["attachment"]["url"].as_str().expect("url").to_owned();
    let set_meta = SubmissionSetMeta { author: None, ..support::submission_set_meta() };
    let mut list = serde_json::to_value(render::list_submission_set(&SubmissionSetView {
        id: "set",
        meta: &set_meta,
        ins: &meta.ins,
        ins_kind: InsKind::Nir,
        submitted_at: meta.submitted_at,
        documents: &[meta.id],
    }))
    .expect("serializes");
    list["entry"][0]["item"]["reference"] = json!(doc_url);
    let bundle = json!({
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"fullUrl": "urn:uuid:0c287d32-01e3-4d87-9953-9fcc9404eb21", "resource": list, "request": {"method": "POST", "url": "List"}},
            {"fullUrl": doc_url, "resource": doc, "request": {"method": "POST", "url": "DocumentReference"}},
            {"fullUrl": binary_url, "resource": {"resourceType": "Binary", "contentType": meta.xds.mime_type, "data": BASE64.encode(bytes)}, "request": {"method": "POST", "url": "Binary"}},
        ]
    });
    let parsed =
        parse_provide_bundle(&serde_json::to_vec(&bundle).expect("serializes"), &codes).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&parsed.submission_set, &set_meta);
    prop_assert_eq!((&parsed.ins, parsed.ins_kind), (&meta.ins, InsKind::Nir));
    let d = &parsed.documents[0];
    let s = &d.submission;
    prop_assert_eq!(&d.bytes[..], bytes);
    prop_assert_eq!(&s.xds, &meta.xds);
    prop_assert_eq!(s.title.as_deref(), title);
    prop_assert_eq!(&s.labels, &meta.labels);
    prop_assert_eq!((s.declared_size, s.declared_sha256, s.replaces), (Some(meta.size), Some(meta.sha256), meta.replaces));
    let author = s.declared_author.as_ref();
    prop_assert_eq!(
        author.and_then(|a| a.rpps.as_ref()).map(|r| format!("rpps:{r}")),
        meta.author.starts_with("rpps:").then(|| meta.author.clone())
    );
    prop_assert_eq!(author.and_then(|a| a.name.clone()), meta.author_name.clone());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn what_render_writes_mhd_reads_back(
        unique_id in unique_id(),
        labels in proptest::sample::subsequence(SecurityLabel::ALL.to_vec(), 0..=3),
        title in proptest::option::of("[^\\u{0}]{1,40}"),
        by_professional in any::<bool>(),
        author_name in name(),
        context in any::<bool>(),
        replaces in any::<bool>(),
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        prop_assume!(title.as_deref().is_none_or(|t| !t.trim().is_empty()));
        let base = if context { support::full_meta() } else { support::minimal_meta() };
        let meta = DocumentMeta {
            xds: XdsMetadata { unique_id, authored_at: Some(datetime!(2026-01-02 8:30:15.25 UTC)), ..base.xds.clone() },
            labels,
            author: if by_professional { format!("rpps:{}", support::rpps()) } else { "https://idp.test#lab".into() },
            author_name,
            replaces: replaces.then(|| support::doc_id(9)),
            size: bytes.len() as u64,
            sha256: Sha256::digest(&bytes).into(),
            ..base
        };
        round_trip(&meta, title.as_deref(), &bytes)?;
    }
}

/// The fuzz seeds (`fuzz/seeds/mhd_bundle`) are what their names say.
#[test]
fn fuzz_seeds_are_what_they_say() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/mhd_bundle");
    let codes = CodeLists::dmp_default();
    for (seed, valid) in [("valid", true), ("inline", true), ("empty-transaction", false)] {
        let bytes = std::fs::read(dir.join(seed)).unwrap_or_else(|e| panic!("{seed}: {e}"));
        assert_eq!(parse_provide_bundle(&bytes, &codes).is_ok(), valid, "{seed}");
    }
}

// Label updates (`carnet_fhir::labels`).

/// The document the label updates apply to, as `render` writes it for its reader.
fn stored(labels: &[SecurityLabel]) -> DocumentReference {
    let codes = CodeLists::dmp_default();
    let meta = DocumentMeta { labels: labels.to_vec(), ..support::full_meta() };
    render::document_reference(&meta, Some("Compte rendu"), InsKind::Nir, &support::ctx(&codes))
}

fn stored_id() -> String {
    support::full_meta().id.to_string()
}

const TRE_A07_SPELLINGS: [&str; 3] = [systems::TRE_A07, "urn:oid:1.2.250.1.213.1.1.4.13", "1.2.250.1.213.1.1.4.13"];
const V3_SPELLINGS: [&str; 3] = [systems::V3_CONFIDENTIALITY, "urn:oid:2.16.840.1.113883.5.25", "2.16.840.1.113883.5.25"];

/// A label, in any spelling of TRE_A07, maybe beside a "normal" coding.
fn spelled_label() -> impl Strategy<Value = (SecurityLabel, Value)> {
    (proptest::sample::select(SecurityLabel::ALL.to_vec()), proptest::sample::select(TRE_A07_SPELLINGS.to_vec()), any::<bool>()).prop_map(
        |(label, system, normal)| {
            let mut coding = vec![json!({"system": system, "code": label.code()})];
            if normal {
                coding.insert(0, json!({"system": systems::V3_CONFIDENTIALITY, "code": "N"}));
            }
            (label, json!({ "coding": coding }))
        },
    )
}

/// Any coding a client might send: the systems of the rule in every spelling and others, the
/// codes of the rule and others, members missing or of the wrong type.
fn any_coding() -> impl Strategy<Value = Value> {
    let system = prop_oneof![
        proptest::sample::select(TRE_A07_SPELLINGS.to_vec()).prop_map(Value::from),
        proptest::sample::select(V3_SPELLINGS.to_vec()).prop_map(Value::from),
        Just(json!("urn:oid:1.2.250.1.213.1.1.4.1")),
        Just(json!("http://terminology.hl7.org/CodeSystem/v3-ActCode")),
        ".{0,16}".prop_map(Value::from),
        Just(Value::Null),
        Just(json!(13)),
    ];
    let code = prop_oneof![
        proptest::sample::select(SecurityLabel::ALL.iter().map(|l| l.code()).collect::<Vec<_>>()).prop_map(Value::from),
        proptest::sample::select(vec!["N", "R", "V", "masque_ps", "", " "]).prop_map(Value::from),
        "[A-Z_]{0,12}".prop_map(Value::from),
        Just(Value::Null),
        Just(json!(["N"])),
    ];
    (system, code).prop_map(|(system, code)| {
        let mut coding = serde_json::Map::new();
        for (k, v) in [("system", system), ("code", code)] {
            if !v.is_null() {
                coding.insert(k.into(), v);
            }
        }
        Value::Object(coding)
    })
}

fn any_security_label() -> impl Strategy<Value = Value> {
    let concept = prop_oneof![
        6 => spelled_label().prop_map(|(_, v)| v),
        6 => proptest::collection::vec(any_coding(), 0..3).prop_map(|c| json!({ "coding": c })),
        1 => Just(json!({"text": "confidentiel"})),
        1 => any_json(),
    ];
    proptest::collection::vec(concept, 0..4).prop_map(Value::Array)
}

/// What a reader answered, with the refusal's path relative to the resource.
fn relative(
    result: Result<Vec<SecurityLabel>, MhdError>,
    resource: &str,
) -> Result<Result<Vec<SecurityLabel>, (String, String)>, TestCaseError> {
    match result {
        Ok(labels) => Ok(Ok(labels)),
        Err(e) => {
            let rest = e.path.strip_prefix(resource).ok_or_else(|| TestCaseError::fail(format!("{e} is not under {resource}")))?;
            Ok(Err((rest.to_owned(), format!("{:?}: {}", e.code, e.message))))
        }
    }
}

fn put(body: &Value, labels_now: &[SecurityLabel]) -> Result<LabelUpdate, MhdError> {
    read_label_put(&stored_id(), &serde_json::to_vec(body).expect("serializes"))?.apply(&stored(labels_now))
}

fn patch(ops: &Value, labels_now: &[SecurityLabel]) -> Result<LabelUpdate, MhdError> {
    read_label_patch(&serde_json::to_vec(ops).expect("serializes"))?.apply(&stored(labels_now))
}

fn stored_json(labels: &[SecurityLabel]) -> Value {
    serde_json::to_value(stored(labels)).expect("serializes")
}

/// An accepted update is a set, and says how it differs from the stored labels.
fn consistent(update: &LabelUpdate, now: &[SecurityLabel]) -> Result<(), TestCaseError> {
    let mut unique = update.labels.clone();
    unique.sort();
    unique.dedup();
    prop_assert_eq!(unique.len(), update.labels.len(), "{:?}", update);
    for l in SecurityLabel::ALL {
        prop_assert_eq!(update.added.contains(&l), update.labels.contains(&l) && !now.contains(&l), "{:?}", update);
        prop_assert_eq!(update.removed.contains(&l), now.contains(&l) && !update.labels.contains(&l), "{:?}", update);
    }
    Ok(())
}

fn patch_pointer() -> impl Strategy<Value = Value> {
    prop_oneof![
        proptest::sample::select(vec![
            "/securityLabel",
            "/securityLabel/-",
            "/securityLabel/0",
            "/securityLabel/1",
            "/securityLabel/3",
            "/status",
            "",
            "/securityLabel/01",
            "/securityLabel/0/coding"
        ])
        .prop_map(Value::from),
        ".{0,20}".prop_map(Value::from),
        any_json(),
    ]
}

fn patch_op() -> impl Strategy<Value = Value> {
    let kind = prop_oneof![
        4 => proptest::sample::select(vec!["add", "remove", "replace", "test", "move", "copy"]).prop_map(Value::from),
        1 => any_json(),
    ];
    let value = prop_oneof![
        3 => spelled_label().prop_map(|(_, v)| v),
        2 => any_security_label(),
        1 => any_coding(),
        1 => any_json(),
    ];
    (kind, patch_pointer(), proptest::option::of(value)).prop_map(|(op, path, value)| {
        let mut o = json!({"op": op, "path": path});
        if let Some(v) = value {
            o["value"] = v;
        }
        o
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn label_updates_never_panic_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
        let now = [SecurityLabel::MasquePs];
        if let Ok(put) = read_label_put(&stored_id(), &bytes) {
            let _ = put.apply(&stored(&now));
        }
        if let Ok(patch) = read_label_patch(&bytes) {
            let _ = patch.apply(&stored(&now));
        }
    }

    /// Random edits of the stored resource as a PUT body; random operations as a patch: never a
    /// panic; a refusal names the resource or the patch; an acceptance is consistent.
    #[test]
    fn label_updates_never_panic_on_arbitrary_json(
        edits in proptest::collection::vec(edit(), 0..4),
        labels in any_security_label(),
        ops in proptest::collection::vec(patch_op(), 0..5),
        now in proptest::sample::subsequence(SecurityLabel::ALL.to_vec(), 0..=3),
    ) {
        let mut body = stored_json(&now);
        body["securityLabel"] = labels;
        for e in &edits {
            apply(&mut body, e);
        }
        match put(&body, &now) {
            Ok(update) => {
                consistent(&update, &now)?;
                // Accepted: besides the labels (and meta, text), the body is the stored resource.
                let (mut sent, mut kept) = (body.clone(), stored_json(&now));
                for v in [&mut sent, &mut kept] {
                    if let Some(o) = v.as_object_mut() {
                        for k in ["securityLabel", "meta", "text"] {
                            o.remove(k);
                        }
                    }
                }
                prop_assert_eq!(sent, kept);
            }
            Err(e) => prop_assert!(e.path.starts_with("DocumentReference") && !e.message.is_empty(), "{}", e),
        }
        match patch(&Value::Array(ops), &now) {
            Ok(update) => consistent(&update, &now)?,
            Err(e) => prop_assert!(
                (e.path.starts_with("Parameters") || e.path.starts_with("DocumentReference.securityLabel")) && !e.message.is_empty(),
                "{}", e
            ),
        }
    }

    /// A PUT of the stored resource with labels L (any spelling, repeated, beside "normal")
    /// yields exactly L, whatever the document carried.
    #[test]
    fn a_put_of_the_stored_resource_yields_exactly_its_labels(
        wanted in proptest::collection::vec(spelled_label(), 0..6),
        now in proptest::sample::subsequence(SecurityLabel::ALL.to_vec(), 0..=3),
    ) {
        let mut body = stored_json(&now);
        body["securityLabel"] = Value::Array(wanted.iter().map(|(_, v)| v.clone()).collect());
        let update = put(&body, &now).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut expected: Vec<SecurityLabel> = Vec::new();
        for (l, _) in &wanted {
            if !expected.contains(l) {
                expected.push(*l);
            }
        }
        prop_assert_eq!(&update.labels, &expected);
        consistent(&update, &now)?;
        // The stored resource unchanged: nothing changes.
        let same = put(&stored_json(&now), &now).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(same, LabelUpdate { labels: now.clone(), added: vec![], removed: vec![] });
    }

    /// Adding a label, then removing it at the same place, is no change.
    #[test]
    fn a_patch_that_adds_then_removes_a_label_is_identity(
        now in proptest::sample::subsequence(SecurityLabel::ALL.to_vec(), 0..=3),
        (_, label) in spelled_label(),
        at in any::<Index>(),
        append in any::<bool>(),
    ) {
        let i = at.index(now.len() + 1);
        let (add, remove) = if append {
            ("/securityLabel/-".to_owned(), format!("/securityLabel/{}", now.len()))
        } else {
            (format!("/securityLabel/{i}"), format!("/securityLabel/{i}"))
        };
        let ops = json!([{"op": "add", "path": add, "value": label}, {"op": "remove", "path": remove}]);
        let update = patch(&ops, &now).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(update, LabelUpdate { labels: now.clone(), added: vec![], removed: vec![] });
    }

    /// The same `securityLabel` means the same to ITI-65, to a PUT and to a patch: the same
    /// labels, or the same refusal at the same place in the DocumentReference.
    #[test]
    fn iti65_and_the_label_updates_agree_on_every_label_coding(labels in any_security_label()) {
        let mut bundle = fixture();
        bundle["entry"][1]["resource"]["securityLabel"] = labels.clone();
        let by_iti65 = parse_provide_bundle(&serde_json::to_vec(&bundle).expect("serializes"), &CodeLists::dmp_default())
            .map(|b| b.documents[0].submission.labels.clone());
        let mut body = stored_json(&[]);
        body["securityLabel"] = labels.clone();
        let by_put = put(&body, &[]).map(|u| u.labels);
        let by_patch = patch(&json!([{"op": "replace", "path": "/securityLabel", "value": labels}]), &[]).map(|u| u.labels);
        let iti65 = relative(by_iti65, "Bundle.entry[1].resource")?;
        prop_assert_eq!(&relative(by_put, "DocumentReference")?, &iti65);
        prop_assert_eq!(&relative(by_patch, "DocumentReference")?, &iti65);
    }
}

/// The fuzz seeds of the label updates (`fuzz/seeds/label_update`) are what their names say; the
/// `put` seed is the stored document the target applies updates to, so it must read as one.
#[test]
fn label_update_fuzz_seeds_are_what_they_say() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/label_update");
    let read = |seed: &str| std::fs::read(dir.join(seed)).unwrap_or_else(|e| panic!("{seed}: {e}"));
    let stored: DocumentReference = serde_json::from_slice(&read("put")).expect("the put seed is a DocumentReference");
    let id = stored.id.clone().expect("an id");
    let now = [SecurityLabel::MasquePs];
    let unchanged = LabelUpdate { labels: now.to_vec(), added: vec![], removed: vec![] };
    assert_eq!(read_label_put(&id, &read("put")).and_then(|p| p.apply(&stored)), Ok(unchanged));
    let add = read_label_patch(&read("patch-add")).and_then(|p| p.apply(&stored)).expect("patch-add");
    assert_eq!(add.added, [SecurityLabel::InvisiblePatient]);
    let removed = read_label_patch(&read("patch-test-remove")).and_then(|p| p.apply(&stored)).expect("patch-test-remove");
    assert_eq!(removed.removed, now);
    let outside = read_label_patch(&read("patch-outside")).and_then(|p| p.apply(&stored)).expect_err("patch-outside");
    assert_eq!(outside.path, "Parameters.operation[0].path");
}
