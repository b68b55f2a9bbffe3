//! The text of deposited documents (issue 19, part 1): extracted by the durable job after the
//! deposit, stored sealed, read back with `document_text`; hostile documents end "text
//! unavailable" with their reason while the server keeps serving them; a job survives a
//! restart; crypto-shredding takes the text with the record — on SQLite and PostgreSQL.
//! Uses poppler-utils (pdftotext, pdfinfo) like production (scripts/test installs them); the
//! PDFs with content are fpdf2's (`tests/pdf/make_pdfs.py`, through `CARNET_PYTHON`).

use crate::support;

use axum::http::StatusCode;
use carnet_domain::{Actor, ActorKind, DocumentId, Profession};
use carnet_service::{Carnet, DocumentAction, DocumentText, ExtractionSettings, ServiceConfig, Storage, StorageLocation};
use carnet_store::{DocumentStore, ExtractionState, ExtractionStore, KeyStore};
use serde_json::{Value, json};
use support::{TestApp, ins, lab_report};

fn pro_actor(n: u32) -> Actor {
    Actor {
        issuer: "test".into(),
        subject: format!("pro-{n}"),
        name: None,
        kind: ActorKind::Professional(carnet_domain::ProfessionalIdentity {
            rpps: support::rpps(n),
            profession: Profession::Medecin,
            specialty: None,
            organisation: None,
        }),
        scopes: carnet_domain::Scopes::RoleOnly,
        client: None,
    }
}

/// A document written by libraries we did not write (fpdf2, Pillow) through
/// `tests/pdf/make_pdfs.py`: `kind` and its arguments as the script takes them.
pub(crate) fn third_party(kind: &str, args: &[&str]) -> Vec<u8> {
    let python = std::env::var("CARNET_PYTHON")
        .expect("CARNET_PYTHON is not set: run the suite with scripts/test (it installs fpdf2 and Pillow in .venv-test)");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/pdf/make_pdfs.py");
    let dir = tempfile::tempdir().expect("a scratch directory");
    let out = dir.path().join(if kind == "scan" { "out.png" } else { "out.pdf" });
    let status = std::process::Command::new(python).arg(&script).arg(kind).arg(&out).args(args).status().expect("make_pdfs.py runs");
    assert!(status.success(), "make_pdfs.py {kind} {args:?}: {status}");
    std::fs::read(&out).expect("what make_pdfs.py wrote")
}

/// A one-page PDF with a text layer (Helvetica, WinAnsi: Latin-1 bytes), written by hand: only
/// for what must be broken on purpose (a truncation).
fn text_pdf(text: &str) -> Vec<u8> {
    let mut content = b"BT /F1 24 Tf 40 700 Td (".to_vec();
    content.extend(text.chars().map(|c| u8::try_from(u32::from(c)).expect("Latin-1")));
    content.extend_from_slice(b") Tj ET");
    let mut stream = format!("<< /Length {} >>\nstream\n", content.len()).into_bytes();
    stream.extend_from_slice(&content);
    stream.extend_from_slice(b"\nendstream");
    let objects: Vec<Vec<u8>> = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_vec(),
        stream,
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".to_vec(),
    ];
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = vec![];
    for (i, o) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(o);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
    for o in offsets {
        out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(format!("trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1).as_bytes());
    out
}

/// A PDF of `n` empty pages.
fn many_pages_pdf(n: usize) -> Vec<u8> {
    let mut objects: Vec<String> = vec![
        "<< /Type /Catalog /Pages 2 0 R >>".into(),
        format!("<< /Type /Pages /Kids [{}] /Count {n} >>", (0..n).map(|i| format!("{} 0 R", 3 + i)).collect::<Vec<_>>().join(" ")),
    ];
    objects.extend((0..n).map(|_| "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>".to_owned()));
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = vec![];
    for (i, o) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
    for o in offsets {
        out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(format!("trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1).as_bytes());
    out
}

fn report(n: u32, mime: &str) -> Value {
    let mut meta = lab_report(n);
    meta["mime_type"] = json!(mime);
    meta
}

async fn deposit(app: &TestApp, p: &carnet_domain::Ins, meta: Value, content: &[u8]) -> DocumentId {
    let reply = app.upload(p, &app.professional(1, Profession::Medecin), meta, content).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.raw);
    DocumentId::parse(reply.body["id"].as_str().expect("an id")).expect("id")
}

async fn text_of(carnet: &Carnet, id: DocumentId) -> DocumentText {
    let visible = carnet.visible_document(&pro_actor(1), id, DocumentAction::ReadDerived).await.expect("visible");
    carnet.document_text(&visible).await.expect("text")
}

fn settings() -> ExtractionSettings {
    ExtractionSettings { node: "test".into(), batch: 100, ..ExtractionSettings::default() }
}

async fn texts_are_extracted_sealed_and_hostile_documents_stay_served(app: TestApp) {
    let p = ins(40);
    app.open_record(&p).await;
    let marker = format!("MARQUEUR{}", uuid::Uuid::new_v4().simple());
    let plain = deposit(&app, &p, report(1, "text/plain"), format!("Créatinine élevée {marker}").as_bytes()).await;
    let html = deposit(&app, &p, report(2, "text/html"), b"<p>Allergie &agrave; la p&eacute;nicilline</p><script>x()</script>").await;
    let pdf =
        deposit(&app, &p, report(3, "application/pdf"), &third_party("letter", &["--text", "Compte rendu : hémoglobine normale"])).await;
    let binary: Vec<u8> = (0..=255u8).cycle().take(20_000).collect();
    let binary = deposit(&app, &p, report(4, "text/plain"), &binary).await;
    let whole = text_pdf("Compte rendu tronqué");
    let truncated = deposit(&app, &p, report(5, "application/pdf"), &whole[..whole.len() / 3]).await;
    let bomb = r#"<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><ClinicalDocument><title>&b;</title></ClinicalDocument>"#;
    // Declared as plain XML: a CDA format code would have it refused at deposit (cda.rs).
    let mut xml = report(6, "text/xml");
    xml["format_code"] = serde_json::json!("urn:ihe:iti:xds:2017:mimeTypeSufficient");
    let bomb = deposit(&app, &p, xml, bomb.as_bytes()).await;
    let pages = deposit(&app, &p, report(7, "application/pdf"), &many_pages_pdf(10_000)).await;
    // A 100,000 × 100,000 PNG: its header alone.
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    png.extend_from_slice(&100_000u32.to_be_bytes());
    png.extend_from_slice(&100_000u32.to_be_bytes());
    png.extend_from_slice(&[8, 0, 0, 0, 0, 0, 0, 0, 0]);
    let pixels = deposit(&app, &p, report(8, "image/png"), &png).await;
    assert_eq!(text_of(&app.carnet, plain).await, DocumentText::Pending, "nothing is extracted before the worker runs");

    // Three at a time: the hostile ones among them end alone, and every job is counted once.
    let done = app.carnet.extract_texts(&ExtractionSettings { workers: 3, ..settings() }).await.expect("round");
    assert_eq!(done.extracted, 3, "{done:?}");
    assert_eq!(done.unavailable.len(), 5, "{done:?}");
    assert_eq!(text_of(&app.carnet, plain).await, DocumentText::Text(format!("Créatinine élevée {marker}")));
    assert_eq!(text_of(&app.carnet, html).await, DocumentText::Text("Allergie à la pénicilline".into()));
    assert!(matches!(text_of(&app.carnet, pdf).await, DocumentText::Text(t) if t.contains("hémoglobine normale")));
    let hostile = [
        (binary, &["malformed"][..]),
        (truncated, &["malformed", "tool_failed"][..]),
        (bomb, &["malformed"][..]),
        (pages, &["too_many_pages"][..]),
        (pixels, &["too_many_pixels"][..]),
    ];
    for (id, reasons) in hostile {
        match text_of(&app.carnet, id).await {
            DocumentText::Unavailable { reason, detail } => assert!(reasons.contains(&reason.as_str()), "{reason}: {detail}"),
            other => panic!("expected text unavailable, got {other:?}"),
        }
        // The document is still stored, listed and served whole.
        let got = app.get_raw(&format!("/api/documents/{id}/content"), &app.professional(1, Profession::Medecin), &[]).await;
        assert_eq!(got.status, StatusCode::OK);
    }
    assert_eq!(app.call(axum::http::Method::GET, "/health", None, None).await.status, StatusCode::OK);
    // Sealed at rest: the stored artifact does not hold the text.
    let sealed = app.db.find_derived(plain, "text").await.expect("find").expect("stored");
    assert!(!sealed.windows(marker.len()).any(|w| w == marker.as_bytes()));
    // Nothing left to do.
    assert_eq!(app.carnet.extract_texts(&settings()).await.expect("round"), Default::default());
    let counts = app.carnet.extraction_counts().await.expect("counts");
    assert!(counts.iter().any(|c| c.state == "done" && c.jobs == 3), "{counts:?}");
}

async fn a_replaced_or_withdrawn_document_keeps_its_own_text(app: TestApp) {
    let p = ins(41);
    app.open_record(&p).await;
    let author = app.professional(1, Profession::Medecin);
    let v1 = deposit(&app, &p, report(1, "text/plain"), "Première version : glycémie".as_bytes()).await;
    let mut meta = report(2, "text/plain");
    meta["replaces"] = json!(v1.to_string());
    let v2 = deposit(&app, &p, meta, "Deuxième version : cholestérol".as_bytes()).await;
    app.carnet.extract_texts(&settings()).await.expect("round");
    let withdrawn = app.post(&format!("/api/documents/{v2}/withdraw"), &author, json!({})).await;
    assert_eq!(withdrawn.status, StatusCode::OK, "{}", withdrawn.raw);
    assert_eq!(text_of(&app.carnet, v1).await, DocumentText::Text("Première version : glycémie".into()));
    assert_eq!(app.db.find_extraction(v2).await.expect("find"), Some(ExtractionState::Done));
    let (v1_sealed, v2_sealed) = (app.db.find_derived(v1, "text").await.expect("v1"), app.db.find_derived(v2, "text").await.expect("v2"));
    assert!(v1_sealed.is_some() && v2_sealed.is_some() && v1_sealed != v2_sealed);
}

async fn crypto_shredding_makes_the_text_unreadable(app: TestApp) {
    let p = ins(42);
    app.open_record(&p).await;
    let id = deposit(&app, &p, report(1, "text/plain"), "Sérologie VIH négative".as_bytes()).await;
    app.carnet.extract_texts(&settings()).await.expect("round");
    assert!(matches!(text_of(&app.carnet, id).await, DocumentText::Text(_)));
    let r = app.post(&format!("/api/records/{p}/destruction-request"), &app.patient(&p), json!({"reason": "je quitte le service"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert_eq!(app.carnet.sweep().await.expect("sweep").shredded, 1);
    assert_eq!(app.db.find_patient_key(&p).await.expect("key"), None, "the key that sealed the text is gone");
    assert_eq!(app.db.find_derived(id, "text").await.expect("find"), None, "and the sealed text with it");
    assert_eq!(app.db.find_extraction(id).await.expect("find"), None);
    assert!(app.carnet.visible_document(&pro_actor(1), id, DocumentAction::ReadDerived).await.is_err());
}

async fn a_job_survives_a_restart(app: TestApp) {
    let p = ins(43);
    app.open_record(&p).await;
    let id = deposit(&app, &p, report(1, "text/plain"), "Radiographie thoracique normale".as_bytes()).await;
    // The process stops before any worker ran.
    app.carnet.close().await;
    let dir = app.data_dir();
    let (database_url, ledger_url) = match &app.postgres_url {
        Some(url) => (url.clone(), url.clone()),
        None => (format!("sqlite://{}", dir.join("carnet.db").display()), format!("sqlite://{}", dir.join("ledger.db").display())),
    };
    let storage = Storage::open(StorageLocation {
        database_url,
        ledger_url,
        keys_dir: dir.join("keys"),
        pkcs11: None,
        blobs: carnet_store::BlobStore::local(&dir.join("blobs")).expect("blobs"),
        ledger_clock: app.clock.clone(),
    })
    .await
    .expect("reopen");
    let restarted = Carnet::new(storage, app.clock.clone(), ServiceConfig::default());
    assert_eq!(restarted.extract_texts(&settings()).await.expect("round").extracted, 1);
    assert_eq!(text_of(&restarted, id).await, DocumentText::Text("Radiographie thoracique normale".into()));
    restarted.close().await;
}

async fn a_missing_tool_leaves_the_text_unavailable_and_the_document_served(app: TestApp) {
    let p = ins(44);
    app.open_record(&p).await;
    let id = deposit(&app, &p, report(1, "application/pdf"), &third_party("letter", &["--text", "Ordonnance"])).await;
    let mut without = settings();
    without.extractor.tools.pdftotext = "/nonexistent/pdftotext".into();
    let done = app.carnet.extract_texts(&without).await.expect("round");
    assert_eq!(done.unavailable, vec!["tool_missing"]);
    assert!(matches!(text_of(&app.carnet, id).await, DocumentText::Unavailable { reason, .. } if reason == "tool_missing"));
    let got = app.get_raw(&format!("/api/documents/{id}/content"), &app.professional(1, Profession::Medecin), &[]).await;
    assert_eq!(got.status, StatusCode::OK);
}

async fn unavailable_texts_are_put_back_in_the_queue_on_request(app: TestApp) {
    let p = ins(45);
    let q = ins(46);
    app.open_record(&p).await;
    app.open_record(&q).await;
    let letter = third_party("letter", &["--text", "Compte rendu de néphrologie"]);
    let first = deposit(&app, &p, report(1, "application/pdf"), &letter).await;
    let second = deposit(&app, &q, report(2, "application/pdf"), &letter).await;
    let binary: Vec<u8> = (0..=255u8).cycle().take(20_000).collect();
    let malformed = deposit(&app, &p, report(3, "text/plain"), &binary).await;
    let mut without = settings();
    without.extractor.tools.pdftotext = "/nonexistent/pdftotext".into();
    let done = app.carnet.extract_texts(&without).await.expect("round");
    assert_eq!(done.unavailable.len(), 3, "{done:?}");
    // Another reason, another record: nothing.
    assert_eq!(app.carnet.retry_unavailable_texts(Some("timeout"), None).await.expect("retry"), 0);
    assert_eq!(app.carnet.retry_unavailable_texts(Some("tool_missing"), Some(&ins(47))).await.expect("retry"), 0);
    // The tool is installed: the jobs of one record, then of every record, go back in the queue.
    assert_eq!(app.carnet.retry_unavailable_texts(Some("tool_missing"), Some(&p)).await.expect("retry"), 1);
    assert_eq!(app.db.find_extraction(first).await.expect("find"), Some(ExtractionState::Pending { attempts: 0, last_error: None }));
    assert!(matches!(app.db.find_extraction(second).await.expect("find"), Some(ExtractionState::Unavailable { .. })));
    assert_eq!(app.carnet.retry_unavailable_texts(Some("tool_missing"), None).await.expect("retry"), 1);
    let done = app.carnet.extract_texts(&settings()).await.expect("round");
    assert_eq!((done.extracted, done.unavailable.len()), (2, 0), "{done:?}");
    assert!(matches!(text_of(&app.carnet, first).await, DocumentText::Text(t) if t.contains("néphrologie")));
    // Without a reason, every unavailable one: here the malformed text, which fails again.
    assert_eq!(app.carnet.retry_unavailable_texts(None, None).await.expect("retry"), 1);
    assert_eq!(app.carnet.extract_texts(&settings()).await.expect("round").unavailable, vec!["malformed"]);
    assert!(matches!(text_of(&app.carnet, malformed).await, DocumentText::Unavailable { reason, .. } if reason == "malformed"));
}

on_both_backends!(
    texts_are_extracted_sealed_and_hostile_documents_stay_served,
    a_replaced_or_withdrawn_document_keeps_its_own_text,
    crypto_shredding_makes_the_text_unreadable,
    a_job_survives_a_restart,
    a_missing_tool_leaves_the_text_unavailable_and_the_document_served,
    unavailable_texts_are_put_back_in_the_queue_on_request,
);
