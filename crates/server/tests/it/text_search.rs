//! Search inside a record through the gate (issue 19, part 3): for random records and callers,
//! the hits, their order, scores and snippets are those of an index built over exactly the
//! documents the domain's `decide` permits; a masked document is found by the médecin traitant
//! and by no other doctor; crypto-shredding removes the hits; each search is one ledger entry
//! with the count and without the query or any document's text — on SQLite and PostgreSQL.

use crate::fhir_clients::{node_package, serve};
use crate::policy_props::{Asker, PROS, patient, professional, representative, role};
use crate::support;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU32, Ordering};

use axum::http::StatusCode;
use carnet_domain::policy::RepresentationKind;
use carnet_domain::{AccessContext, DocumentId, DocumentMeta, Ins, PatientPolicy, Profession, ProfessionMatrix, Role, decide};
use carnet_search::{RecordIndex, Text};
use carnet_service::{ExtractionSettings, Paging, ServiceError, TextSearch};
use carnet_store::{DocumentStore, PolicyStore, RecordStore};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use serde_json::json;
use support::fhir::{Validated, assert_outcome};
use support::{TestApp, ins, rpps};

/// A small French vocabulary, so that random texts share words and queries match several.
const WORDS: [&str; 14] = [
    "créatinine",
    "allergie",
    "pénicilline",
    "hémoglobine",
    "glycémie",
    "normale",
    "élevée",
    "radiographie",
    "thoracique",
    "le",
    "de",
    "compte",
    "rendu",
    "allergique",
];
const TYPES: [&str; 4] = ["11502-2", "11488-4", "68599-0", "REMB"];
const LABELS: [&str; 3] = ["MASQUE_PS", "INVISIBLE_PATIENT", "INVISIBLE_REPRESENTANTS_LEGAUX"];

#[derive(Debug, Clone)]
struct Doc {
    words: Vec<usize>,
    type_index: usize,
    labels: Vec<usize>,
    author: usize,
    withdrawn: bool,
}

#[derive(Debug, Clone)]
struct Scenario {
    docs: Vec<Doc>,
    /// Per professional: 0 nothing, 1 authorized, 2 blocked.
    standing: Vec<u8>,
    medecin_traitant: Option<usize>,
    representative_registered: bool,
    reimbursement_hidden: bool,
    queries: Vec<Vec<usize>>,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    let doc = (
        prop::collection::vec(0..WORDS.len(), 1..12),
        0..TYPES.len(),
        prop::collection::vec(0..LABELS.len(), 0..2),
        0..PROS.len(),
        prop::bool::weighted(0.15),
    )
        .prop_map(|(words, type_index, labels, author, withdrawn)| Doc { words, type_index, labels, author, withdrawn });
    (
        prop::collection::vec(doc, 1..7),
        prop::collection::vec(0u8..3, PROS.len()),
        prop::option::of(0..PROS.len()),
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec(prop::collection::vec(0..WORDS.len(), 1..3), 1..4),
    )
        .prop_map(|(docs, standing, medecin_traitant, representative_registered, reimbursement_hidden, queries)| Scenario {
            docs,
            standing,
            medecin_traitant,
            representative_registered,
            reimbursement_hidden,
            queries,
        })
}

static NEXT: AtomicU32 = AtomicU32::new(7000);
/// Hits compared over the run: the property must not hold only because nothing matched.
static COMPARED: AtomicU32 = AtomicU32::new(0);

fn settings() -> ExtractionSettings {
    ExtractionSettings { node: "test".into(), batch: 100, ..ExtractionSettings::default() }
}

fn everything(_: &DocumentMeta) -> bool {
    true
}

/// One document of `text` by `author`, its text extracted.
async fn deposit_text(app: &TestApp, p: &Ins, author: &str, unique: &str, type_code: &str, labels: &[&str], text: &str) -> DocumentId {
    let meta = json!({"unique_id": unique, "type_code": type_code, "labels": labels, "mime_type": "text/plain"});
    let r = app.upload(p, author, meta, text.as_bytes()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    DocumentId::parse(r.body["id"].as_str().expect("an id")).expect("id")
}

async fn check(app: &TestApp, s: Scenario) {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let p = ins(n);
    app.open_record(&p).await;
    let pros: Vec<Asker> = PROS.iter().map(|(k, prof)| professional(*k, *prof, false)).collect();
    let mut texts = Vec::new();
    for (i, d) in s.docs.iter().enumerate() {
        let labels: Vec<&str> = d.labels.iter().map(|l| LABELS[*l]).collect::<BTreeSet<_>>().into_iter().collect();
        let text = d.words.iter().map(|w| WORDS[*w]).collect::<Vec<_>>().join(" ");
        let author = app.token(pros[d.author].claims.clone());
        let id = deposit_text(app, &p, &author, &format!("1.2.250.1.999.78.{n}.{i}"), TYPES[d.type_index], &labels, &text).await;
        if d.withdrawn {
            assert_eq!(app.post(&format!("/api/documents/{id}/withdraw"), &author, json!({})).await.status, StatusCode::OK);
        }
        texts.push((id, text));
    }
    app.carnet.extract_texts(&settings()).await.expect("extraction");

    let now = carnet_domain::Clock::now(app.clock.as_ref());
    let parent = representative(&p, &format!("parent-{n}"));
    let mut policy = PatientPolicy { reimbursement_hidden: s.reimbursement_hidden, ..PatientPolicy::default() };
    for (i, st) in s.standing.iter().enumerate() {
        let r = rpps(PROS[i].0);
        match st {
            1 => policy.authorizations.push(carnet_domain::Authorization {
                rpps: r,
                granted_at: now,
                expires_at: None,
                granted_by: "patient".into(),
                declared: None,
            }),
            2 => policy.blocked.push(r),
            _ => {}
        }
    }
    policy.medecin_traitant = s.medecin_traitant.map(|i| rpps(PROS[i].0)).filter(|r| !policy.blocked.contains(r));
    if s.representative_registered {
        policy.representatives.push(carnet_domain::Representation {
            representative: parent.actor.reference(),
            kind: RepresentationKind::Minor,
            since: now - time::Duration::days(1),
            until: None,
            registered_by: "desk".into(),
            registered_at: now,
        });
    }
    let db = &app.db;
    let version = db.find_policy(&p).await.map(|s| s.version).unwrap_or(0);
    db.save_policy(&p, &policy, version, now, &[]).await.expect("policy");

    let record = db.find_record_by_ins(&p).await.expect("record").expect("record");
    let mut metas = Vec::new();
    for (id, text) in &texts {
        metas.push((db.find_document(*id).await.expect("find").expect("document").0, text.clone()));
    }
    let matrix = ProfessionMatrix::dmp_default();
    let mut askers = pros.clone();
    askers.extend([patient(&p), parent, patient(&ins(n + 500_000)), role(Role::InsurerAgent), role(Role::Operator)]);
    for asker in &askers {
        let ctx = AccessContext { ins: &p, record_status: record.status, now, emergency: None, matrix: &matrix };
        let mut admitted: Vec<(String, &str)> = metas
            .iter()
            .filter(|(m, _)| decide(&asker.actor, &ctx, &policy, m).is_permit())
            .map(|(m, t)| (m.id.to_string(), t.as_str()))
            .collect();
        admitted.sort();
        let oracle = RecordIndex::build(admitted.iter().map(|(id, text)| Text { id, text })).expect("oracle");
        for q in &s.queries {
            let query = q.iter().map(|w| WORDS[*w]).collect::<Vec<_>>().join(" ");
            let expected = oracle.search(&query, 100).expect("oracle search");
            match app.carnet.search_text(&asker.actor, &p, &query, &everything, Paging { offset: 0, limit: 100 }).await {
                Ok(found) => {
                    let got: Vec<_> = found.hits.iter().map(|h| (h.visible.meta().id.to_string(), h.score, h.snippet.clone())).collect();
                    let want: Vec<_> = expected.iter().map(|h| (h.id.clone(), h.score, h.snippet.clone())).collect();
                    assert_eq!(got, want, "{query:?} by {:?} in {s:?}", asker.actor.kind);
                    assert_eq!(found.total, expected.len());
                    COMPARED.fetch_add(u32::try_from(expected.len()).unwrap_or(0), Ordering::Relaxed);
                }
                Err(ServiceError::Invalid(_)) => assert!(carnet_search::terms(&query).is_empty(), "{query:?} refused"),
                Err(e) => {
                    // Refused outright (no role to search, the record unknown to them): nothing to find.
                    assert!(expected.is_empty() || admitted.is_empty(), "{query:?} by {:?}: {e}", asker.actor.kind);
                }
            }
        }
    }
}

async fn hits_are_those_of_an_index_over_exactly_what_decide_permits(app: TestApp) {
    let cases = std::env::var("CARNET_PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(12);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig { cases, ..ProptestConfig::default() });
    for _ in 0..cases {
        let s = scenario().new_tree(&mut runner).expect("a scenario").current();
        check(&app, s).await;
    }
    assert!(COMPARED.load(Ordering::Relaxed) > 0, "some searches found something");
}

fn ids(found: &TextSearch) -> Vec<DocumentId> {
    found.hits.iter().map(|h| h.visible.meta().id).collect()
}

/// A record whose médecin traitant is 101, with another authorized doctor (108), and two
/// documents by 103: one open, one masked from professionals (MASQUE_PS).
async fn masked_record(app: &TestApp, n: u32) -> (Ins, DocumentId, DocumentId) {
    let p = ins(n);
    app.open_record(&p).await;
    let author = app.token(professional(103, Profession::Medecin, false).claims);
    let open = deposit_text(app, &p, &author, &format!("1.2.250.1.999.79.{n}.1"), "11502-2", &[], "Créatinine normale").await;
    let masked =
        deposit_text(app, &p, &author, &format!("1.2.250.1.999.79.{n}.2"), "11502-2", &["MASQUE_PS"], "Créatinine élevée, sérologie").await;
    app.carnet.extract_texts(&settings()).await.expect("extraction");
    let now = carnet_domain::Clock::now(app.clock.as_ref());
    let grant =
        |k| carnet_domain::Authorization { rpps: rpps(k), granted_at: now, expires_at: None, granted_by: "patient".into(), declared: None };
    let policy =
        PatientPolicy { authorizations: vec![grant(101), grant(108)], medecin_traitant: Some(rpps(101)), ..PatientPolicy::default() };
    let version = app.db.find_policy(&p).await.map(|s| s.version).unwrap_or(0);
    app.db.save_policy(&p, &policy, version, now, &[]).await.expect("policy");
    (p, open, masked)
}

async fn a_masked_document_is_found_by_the_medecin_traitant_only(app: TestApp) {
    let (p, open, masked) = masked_record(&app, 7901).await;
    let traitant = professional(101, Profession::Medecin, false).actor;
    let other = professional(108, Profession::Medecin, false).actor;
    let found = app.carnet.search_text(&traitant, &p, "creatinine", &everything, Paging::default()).await.expect("search");
    assert_eq!(found.total, 2);
    assert!(ids(&found).contains(&masked) && ids(&found).contains(&open));
    let found = app.carnet.search_text(&other, &p, "créatinine", &everything, Paging::default()).await.expect("search");
    assert_eq!(ids(&found), vec![open], "the masked document gives the other doctor no hit");
    assert_eq!(found.total, 1);
    let found = app.carnet.search_text(&other, &p, "sérologie", &everything, Paging::default()).await.expect("search");
    assert_eq!(found, TextSearch::default(), "nor a count");
    // The other doctor's score is that of a record holding only the open document.
    let alone = RecordIndex::build([Text { id: &open.to_string(), text: "Créatinine normale" }]).expect("index");
    let found = app.carnet.search_text(&other, &p, "créatinine", &everything, Paging::default()).await.expect("search");
    assert_eq!(found.hits[0].score, alone.search("créatinine", 1).expect("search")[0].score);
    assert_eq!(found.hits[0].relevance, 1.0);
}

async fn a_text_extracted_after_the_last_deposit_is_found(app: TestApp) {
    let p = ins(7902);
    app.open_record(&p).await;
    let pro = professional(103, Profession::Medecin, false);
    let author = app.token(pro.claims.clone());
    let first = deposit_text(&app, &p, &author, "1.2.250.1.999.79.7902.1", "11502-2", &[], "Radiographie thoracique").await;
    let second = deposit_text(&app, &p, &author, "1.2.250.1.999.79.7902.2", "11502-2", &[], "Radiographie du genou").await;
    let found = app.carnet.search_text(&pro.actor, &p, "radiographie", &everything, Paging::default()).await.expect("search");
    assert_eq!(found.total, 0, "nothing is extracted yet");
    app.carnet.extract_texts(&settings()).await.expect("extraction");
    let found = app.carnet.search_text(&pro.actor, &p, "radiographie", &everything, Paging::default()).await.expect("search");
    assert_eq!(found.total, 2, "the cached index named the texts that were extracted");
    let mut got = ids(&found);
    got.sort();
    let mut want = vec![first, second];
    want.sort();
    assert_eq!(got, want);
    // Filters and paging: what `keep` refuses is not counted; a page holds what is asked.
    let only_first = |m: &DocumentMeta| m.id == first;
    let found = app.carnet.search_text(&pro.actor, &p, "radiographie", &only_first, Paging::default()).await.expect("search");
    assert_eq!((found.total, ids(&found)), (1, vec![first]));
    let page = app.carnet.search_text(&pro.actor, &p, "radiographie", &everything, Paging { offset: 1, limit: 5 }).await.expect("page");
    assert_eq!(page.total, 2);
    assert_eq!(page.hits.len(), 1);
}

async fn crypto_shredding_removes_the_hits(app: TestApp) {
    let p = ins(7903);
    app.open_record(&p).await;
    let author = app.professional(1, Profession::Medecin);
    deposit_text(&app, &p, &author, "1.2.250.1.999.79.7903.1", "11502-2", &[], "Sérologie VIH négative").await;
    app.carnet.extract_texts(&settings()).await.expect("extraction");
    let me = patient(&p).actor;
    assert_eq!(app.carnet.search_text(&me, &p, "sérologie", &everything, Paging::default()).await.expect("search").total, 1);
    assert_eq!(app.carnet.search_cache_usage().0, 1, "the index is kept");
    let r = app.post(&format!("/api/records/{p}/destruction-request"), &app.patient(&p), json!({"reason": "je quitte le service"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert_eq!(app.carnet.sweep().await.expect("sweep").shredded, 1);
    assert_eq!(app.carnet.search_cache_usage(), (0, 0), "shredding evicted the record's index");
    let after = app.carnet.search_text(&me, &p, "sérologie", &everything, Paging::default()).await;
    assert!(after.is_ok_and(|f| f.total == 0 && f.hits.is_empty()), "no hit after shredding");
}

async fn each_search_is_one_ledger_entry_with_the_count_and_no_text(app: TestApp) {
    let p = ins(7904);
    app.open_record(&p).await;
    let author = app.professional(1, Profession::Medecin);
    let marker = format!("zorglub{}", uuid::Uuid::new_v4().simple());
    deposit_text(&app, &p, &author, "1.2.250.1.999.79.7904.1", "11502-2", &[], &format!("Allergie pénicilline {marker}")).await;
    deposit_text(&app, &p, &author, "1.2.250.1.999.79.7904.2", "11502-2", &[], "Allergie aux acariens").await;
    app.carnet.extract_texts(&settings()).await.expect("extraction");
    let me = patient(&p).actor;
    let before = app.carnet.ledger().latest_tree_head().await.expect("head").head.tree_size;
    let found = app.carnet.search_text(&me, &p, "allergique", &everything, Paging::default()).await.expect("search");
    assert_eq!(found.total, 2, "allergique finds allergie");
    let after = app.carnet.ledger().latest_tree_head().await.expect("head").head.tree_size;
    assert_eq!(after, before + 1, "one entry for the search");
    let recorded = app.carnet.ledger().entry(before).await.expect("entry");
    assert_eq!(recorded.entry.action, "document.fulltext");
    assert_eq!(recorded.entry.ins.as_ref(), Some(&p));
    assert_eq!(recorded.entry.target.as_deref(), Some("returned:2"));
    let bytes = String::from_utf8_lossy(&recorded.bytes).to_lowercase();
    for word in ["allergi", "penicilline", "pénicilline", "acariens", &marker] {
        assert!(!bytes.contains(word), "{word} in the ledger entry: {bytes}");
    }
    // A query that names the marker: still neither the query nor the text.
    let before = after;
    let found = app.carnet.search_text(&me, &p, &marker, &everything, Paging::default()).await.expect("search");
    assert_eq!(found.total, 1);
    let recorded = app.carnet.ledger().entry(before).await.expect("entry");
    assert!(!String::from_utf8_lossy(&recorded.bytes).contains(&marker));
    assert_eq!(recorded.entry.target.as_deref(), Some("returned:1"));
}

async fn a_query_without_words_is_refused_before_anything_is_recorded(app: TestApp) {
    let p = ins(7905);
    app.open_record(&p).await;
    let me = patient(&p).actor;
    let before = app.carnet.ledger().latest_tree_head().await.expect("head").head.tree_size;
    for bad in ["", "   ", "le de la", "!!! ???", &"a".repeat(201)] {
        let r = app.carnet.search_text(&me, &p, bad, &everything, Paging::default()).await;
        assert!(matches!(r, Err(ServiceError::Invalid(_))), "{bad:?}: {r:?}");
    }
    assert_eq!(app.carnet.ledger().latest_tree_head().await.expect("head").head.tree_size, before);
    assert!(
        app.carnet.search_text(&me, &p, &"créatinine ".repeat(18), &everything, Paging::default()).await.is_ok(),
        "200 characters, not bytes"
    );
}

/// Documents written by libraries we did not write: a 100 KB report by fpdf2, a scanned-like
/// PNG drawn by Pillow (OCR'd), and that image in a PDF without a text layer (rendered, OCR'd).
async fn third_party_pdfs_and_scans_are_found_by_their_words(app: TestApp) {
    let p = ins(7906);
    app.open_record(&p).await;
    let author = app.professional(1, Profession::Medecin);
    let deposit = |unique: &'static str, mime: &'static str, bytes: Vec<u8>| {
        let (app, p, author) = (&app, p.clone(), author.clone());
        async move {
            let meta = json!({"unique_id": unique, "type_code": "11502-2", "mime_type": mime});
            let r = app.upload(&p, &author, meta, &bytes).await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
            DocumentId::parse(r.body["id"].as_str().expect("an id")).expect("id")
        }
    };
    let report = crate::extraction::third_party("report", &["--kib", "100", "--marker", "néphrologie"]);
    assert!(report.len() >= 100 * 1024 && report.starts_with(b"%PDF-"), "{} bytes", report.len());
    let report = deposit("1.2.250.1.999.79.7906.1", "application/pdf", report).await;
    let photo = crate::extraction::third_party("scan", &["--text", "Certificat médical : intolérance au gluten, régime strict."]);
    let photo = deposit("1.2.250.1.999.79.7906.2", "image/png", photo).await;
    let scan = crate::extraction::third_party("scan-pdf", &["--text", "Radiographie thoracique : opacité basale droite."]);
    let scan = deposit("1.2.250.1.999.79.7906.3", "application/pdf", scan).await;
    let done = app.carnet.extract_texts(&settings()).await.expect("extraction");
    assert_eq!((done.extracted, done.unavailable.len()), (3, 0), "{done:?}");
    let me = patient(&p).actor;
    for (query, want) in
        [("créatinine", report), ("créatinine élevée", report), ("gluten", photo), ("intolérance régime", photo), ("opacité basale", scan)]
    {
        let found = app.carnet.search_text(&me, &p, query, &everything, Paging::default()).await.expect("search");
        assert_eq!(ids(&found), vec![want], "{query}");
    }
}

/// Three documents by one doctor: the word "allergie" twice in the first, once in the second,
/// not at all in the third (another type).
async fn allergy_record(app: &TestApp, n: u32) -> (Ins, String, Vec<DocumentId>) {
    let p = ins(n);
    app.open_record(&p).await;
    let doctor = app.professional(1, Profession::Medecin);
    let mut ids = Vec::new();
    for (i, (type_code, text)) in [
        ("11502-2", "Allergie à la pénicilline : allergie confirmée par le test cutané."),
        ("11502-2", "Bilan : créatinine normale, allergie ancienne aux acariens."),
        ("11488-4", "Radiographie thoracique normale."),
    ]
    .into_iter()
    .enumerate()
    {
        ids.push(deposit_text(app, &p, &doctor, &format!("1.2.250.1.999.80.{n}.{i}"), type_code, &[], text).await);
    }
    app.carnet.extract_texts(&settings()).await.expect("extraction");
    (p, doctor, ids)
}

fn entry_ids(bundle: &serde_json::Value) -> Vec<String> {
    bundle["entry"].as_array().into_iter().flatten().filter_map(|e| e["resource"]["id"].as_str().map(str::to_owned)).collect()
}

async fn iti67_full_text_ranks_scores_and_quotes_the_passage(app: TestApp) {
    let mut v = Validated::new();
    let (p, doctor, ids) = allergy_record(&app, 8001).await;
    let r = app.fhir_get(&format!("/fhir/DocumentReference?patient={p}&full-text=allergique"), &doctor).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    let bundle = v.keep("full-text", &r);
    assert_eq!(entry_ids(&bundle), [ids[0].to_string(), ids[1].to_string()], "the one that says it most often first");
    assert_eq!(bundle["total"], 2);
    let first = &bundle["entry"][0]["search"];
    assert_eq!((first["mode"].as_str(), first["score"].as_f64()), (Some("match"), Some(1.0)), "{first}");
    let second = bundle["entry"][1]["search"]["score"].as_f64().expect("a score");
    assert!(second > 0.0 && second < 1.0, "{second}");
    let snippet = first["extension"][0]["valueString"].as_str().expect("a snippet");
    assert_eq!(first["extension"][0]["url"], "https://carnet.example/fhir/StructureDefinition/search-snippet");
    assert!(snippet.contains("Allergie à la pénicilline"), "{snippet}");
    // Combined with the other ITI-67 parameters: they filter, the total counts what is left.
    let r = app.fhir_get(&format!("/fhir/DocumentReference?patient={p}&full-text=normale&type=11488-4&status=current"), &doctor).await;
    let bundle = v.keep("full-text-type", &r);
    assert_eq!(entry_ids(&bundle), [ids[2].to_string()]);
    assert_eq!(bundle["total"], 1);
    // Paging: one per page, the next link keeps the words.
    let r = app.fhir_get(&format!("/fhir/DocumentReference?patient={p}&full-text=allergie&_count=1"), &doctor).await;
    let bundle = v.keep("full-text-page", &r);
    assert_eq!((entry_ids(&bundle).len(), bundle["total"].as_u64()), (1, Some(2)));
    let next = bundle["link"].as_array().into_iter().flatten().find(|l| l["relation"] == "next").expect("a next link");
    assert!(next["url"].as_str().is_some_and(|u| u.contains("full-text=allergie")), "{next}");
    // Nothing found: an empty searchset.
    let r = app.fhir_get(&format!("/fhir/DocumentReference?patient={p}&full-text=glycemie"), &doctor).await;
    assert_eq!(v.keep("full-text-none", &r)["total"], 0);
    // The CapabilityStatement declares it.
    let r = app.fhir_get("/fhir/metadata", &doctor).await;
    let capability = v.keep("metadata", &r);
    let declared = capability["rest"][0]["resource"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["type"] == "DocumentReference")
        .map(|r| r["searchParam"].as_array().into_iter().flatten().any(|p| p["name"] == "full-text"));
    assert_eq!(declared, Some(true));
    // Bad input names the parameter.
    for bad in ["", "le%20de%20la", &"a%20".repeat(120)] {
        let r = app.fhir_get(&format!("/fhir/DocumentReference?patient={p}&full-text={bad}"), &doctor).await;
        assert_outcome(&r, StatusCode::UNPROCESSABLE_ENTITY, Some("full-text"));
        v.keep("full-text-bad", &r);
    }
    let r = app.fhir_get(&format!("/fhir/DocumentReference?patient={p}&full-text=a&full-text=b"), &doctor).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.raw);
    v.check();
}

async fn fhir_kit_client_runs_a_full_text_search(app: TestApp) {
    node_package("fhir-kit-client");
    let (p, doctor, ids) = allergy_record(&app, 8002).await;
    let base = serve(&app).await;
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fhir-clients");
    let out = tokio::process::Command::new("node")
        .arg(dir.join("fulltext-fhir-kit-client.mjs"))
        .current_dir(&dir)
        .env("CARNET_FHIR_BASE", &base)
        .env("CARNET_TOKEN", &doctor)
        .env("CARNET_INS", p.to_string())
        .env("CARNET_QUERY", "allergie")
        .kill_on_drop(true)
        .output()
        .await
        .expect("node runs the script");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let seen: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("a JSON line");
    assert_eq!(seen["total"], 2, "{seen}");
    assert_eq!(seen["documents"], json!([ids[0].to_string(), ids[1].to_string()]), "{seen}");
}

async fn the_api_search_answers_hits_with_highlighted_passages_filters_and_pages(app: TestApp) {
    let (p, doctor, ids) = allergy_record(&app, 8003).await;
    let search = |q: String| {
        let (app, doctor, p) = (&app, doctor.clone(), p.clone());
        async move { app.get(&format!("/api/records/{p}/search?{q}"), &doctor).await }
    };
    let r = search("q=allergique".into()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert_eq!(r.body["total"], 2);
    let hits = r.body["hits"].as_array().expect("hits");
    assert_eq!(hits[0]["document"]["id"], ids[0].to_string(), "{}", r.raw);
    assert_eq!(hits[0]["score"], 1.0);
    let text = hits[0]["snippet"]["text"].as_str().expect("text");
    let marked: Vec<&str> = hits[0]["snippet"]["highlights"]
        .as_array()
        .expect("highlights")
        .iter()
        .map(|h| &text[h[0].as_u64().expect("start") as usize..h[1].as_u64().expect("end") as usize])
        .collect();
    assert_eq!(marked, ["Allergie", "allergie"], "{text}");
    // Filters: type, author, date of the act; paging.
    let r = search("q=normale&type=11502-2".into()).await;
    assert_eq!((r.body["total"].as_u64(), r.body["hits"][0]["document"]["id"].as_str()), (Some(1), Some(ids[1].to_string().as_str())));
    let r = search(format!("q=normale&author={}", support::rpps(1))).await;
    assert_eq!(r.body["total"], 2, "{}", r.raw);
    assert_eq!(search("q=normale&author=10000000000".into()).await.body["total"], 0);
    assert_eq!(search("q=normale&from=2000-01-01&to=2100-12-31".into()).await.body["total"], 2);
    assert_eq!(search("q=normale&to=2000-01-01".into()).await.body["total"], 0);
    let r = search("q=allergie&offset=1&limit=1".into()).await;
    assert_eq!((r.body["total"].as_u64(), r.body["hits"].as_array().map(Vec::len)), (Some(2), Some(1)));
    assert_eq!(r.body["hits"][0]["document"]["id"], ids[1].to_string());
    // Bad input: problem details naming the parameter.
    for (q, status, name) in [
        ("", StatusCode::UNPROCESSABLE_ENTITY, "q:"),
        ("q=", StatusCode::UNPROCESSABLE_ENTITY, "q:"),
        ("q=le%20la%20de", StatusCode::UNPROCESSABLE_ENTITY, "q:"),
        (&format!("q={}", "x".repeat(201)), StatusCode::UNPROCESSABLE_ENTITY, "q:"),
        ("q=allergie&from=2026-13-01", StatusCode::UNPROCESSABLE_ENTITY, "from:"),
        ("q=allergie&limit=0", StatusCode::UNPROCESSABLE_ENTITY, "limit:"),
        ("q=allergie&limit=abc", StatusCode::BAD_REQUEST, "limit"),
        ("q=allergie&colour=red", StatusCode::BAD_REQUEST, "colour"),
    ] {
        let r = search(q.into()).await;
        assert_eq!(r.status, status, "{q}: {}", r.raw);
        assert_eq!(r.headers.get("content-type").and_then(|v| v.to_str().ok()), Some("application/problem+json"), "{q}");
        assert!(r.body["detail"].as_str().is_some_and(|d| d.contains(name)), "{q}: {}", r.raw);
    }
    // Declared in the OpenAPI document.
    let openapi = app.get("/api/openapi.json", &doctor).await.body;
    let params: Vec<&str> = openapi["paths"]["/api/records/{ins}/search"]["get"]["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["name"].as_str())
        .collect();
    for name in ["q", "class", "type", "from", "to", "author", "offset", "limit"] {
        assert!(params.contains(&name), "{name} in {params:?}");
    }
}

/// Marie's record, fed by Dr Bernard with two documents whose text is extracted, one of them
/// holding text that looks like HTML.
async fn portal_record(app: &TestApp) -> Vec<DocumentId> {
    let p = ins(77);
    app.open_record(&p).await;
    let doctor = app.token(crate::portal::dr_bernard());
    let mut ids = Vec::new();
    for (i, (title, text)) in [
        ("Consultation d’allergologie", "Allergie <b>grave</b> à la pénicilline confirmée. Éviter les bêta-lactamines."),
        ("Bilan sanguin", "Créatinine normale. Pas d’allergie connue aux produits de contraste."),
    ]
    .into_iter()
    .enumerate()
    {
        let meta = json!({"unique_id": format!("1.2.250.1.999.81.{i}"), "type_code": "11502-2", "mime_type": "text/plain", "title": title});
        let r = app.upload(&p, &doctor, meta, text.as_bytes()).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
        ids.push(DocumentId::parse(r.body["id"].as_str().expect("id")).expect("id"));
    }
    app.carnet.extract_texts(&settings()).await.expect("extraction");
    ids
}

#[tokio::test]
async fn the_portal_search_pages_mark_the_words_and_escape_the_text() {
    let app = TestApp::new(support::Backend::Sqlite).await;
    let ids = portal_record(&app).await;
    let marie = app.portal_session(&crate::portal::marie_actor()).await;
    let list = app.page("/documents", &marie).await;
    assert!(list.raw.contains("action=\"/documents/recherche\""), "the search box on Mes documents");
    let r = app.page("/documents/recherche?texte=allergique", &marie).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert!(r.raw.contains("2 documents contiennent « allergique »"), "{}", r.raw);
    assert!(r.raw.contains("<mark>Allergie</mark> &#60;b&#62;grave&#60;/b&#62; à la pénicilline"), "the text is escaped: {}", r.raw);
    assert!(!r.raw.contains("<b>grave"), "{}", r.raw);
    assert!(r.raw.contains(&format!("href=\"/documents/{}\"", ids[0])), "a link to the viewer");
    assert!(
        r.raw.contains("Consultation d’allergologie")
            || r.raw.contains("Consultation d&#39;allergologie")
            || r.raw.contains("Consultation d&#x27;allergologie")
    );
    let none = app.page("/documents/recherche?texte=glyc%C3%A9mie", &marie).await;
    assert!(none.raw.contains("Aucun document ne contient « glycémie »."), "{}", none.raw);
    let bad = app.page("/documents/recherche?texte=le+la", &marie).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.raw.contains("aria-invalid=\"true\"") && bad.raw.contains("ne sont pas recherchés"), "{}", bad.raw);
    let hostile = app.page("/documents/recherche?texte=%3Cb%3Eallergie%3C%2Fb%3E", &marie).await;
    assert!(!hostile.raw.contains("<b>allergie"), "the words typed are escaped too");
}

#[tokio::test]
async fn the_search_pages_pass_axe_core_in_chromium() {
    use crate::portal::{demo_person, dr_bernard, marie, portal_offering, walk};
    let people = vec![marie(), demo_person("Dr Paul Bernard, médecin", dr_bernard())];
    let (app, origin) = portal_offering(people).await;
    portal_record(&app).await;
    let p = ins(77);
    let at = |path: &str| format!("{origin}{path}");
    let steps = [
        (at("/connexion"), 200, "Choisissez une personne de démonstration"),
        ("click:Marie Dupont (patiente)".to_owned(), 200, "Mon dossier médical"),
        (at("/documents"), 200, "Rechercher dans le texte de mes documents"),
        ("fill:Rechercher dans le texte de mes documents=allergique".to_owned(), 0, ""),
        ("click:Rechercher le texte".to_owned(), 200, "2 documents contiennent « allergique »"),
        ("fill:Mots recherchés=glycémie".to_owned(), 0, ""),
        ("click:Rechercher le texte".to_owned(), 200, "Aucun document ne contient « glycémie »."),
        ("fill:Mots recherchés=le".to_owned(), 0, ""),
        ("click:Rechercher le texte".to_owned(), 400, "ne sont pas recherchés"),
        ("click:Se déconnecter".to_owned(), 200, "Se connecter"),
        (at("/connexion"), 200, "Choisissez une personne de démonstration"),
        ("click:Dr Paul Bernard, médecin".to_owned(), 200, "Mon espace professionnel"),
        (format!("fill:INS du patient (15 chiffres)={}", p.as_str()), 0, ""),
        ("click:Rechercher par INS".to_owned(), 200, "1 patient correspond"),
        ("link:Jeanne MARTIN".to_owned(), 200, "Vous n’avez pas accès à ce dossier"),
        ("click:Déclarer l’autorisation du patient".to_owned(), 200, "Rechercher dans le texte des documents"),
        ("fill:Rechercher dans le texte des documents=pénicilline allergie".to_owned(), 0, ""),
        ("click:Rechercher le texte".to_owned(), 200, "1 document contient « pénicilline allergie »"),
    ];
    let checked = walk("recherche-texte", &steps).await;
    let found = &checked[17];
    assert!(found.text.contains("Consultation d’allergologie"), "{}", found.text);
    assert!(!found.url.contains(p.as_str()), "no INS in a URL: {}", found.url);
}

on_both_backends!(
    the_api_search_answers_hits_with_highlighted_passages_filters_and_pages,
    iti67_full_text_ranks_scores_and_quotes_the_passage,
    fhir_kit_client_runs_a_full_text_search,
    hits_are_those_of_an_index_over_exactly_what_decide_permits,
    a_masked_document_is_found_by_the_medecin_traitant_only,
    a_text_extracted_after_the_last_deposit_is_found,
    crypto_shredding_removes_the_hits,
    each_search_is_one_ledger_entry_with_the_count_and_no_text,
    a_query_without_words_is_refused_before_anything_is_recorded,
    third_party_pdfs_and_scans_are_found_by_their_words,
);
