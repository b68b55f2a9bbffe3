//! Properties of the ITI-65 parser: no input makes it panic, every refusal names an element
//! of the bundle, and what `render` writes, `mhd` reads back unchanged.

mod support;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use carnet_domain::codes::CodeLists;
use carnet_domain::document::{PersonName, XdsMetadata};
use carnet_domain::{DocumentMeta, InsKind, SecurityLabel};
use carnet_fhir::render::{self, SubmissionSetView};
use carnet_fhir::{SubmissionSetMeta, parse_provide_bundle};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use time::macros::datetime;

const FIXTURE: &str = include_str!("fixtures/provide-bundle.json");

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
