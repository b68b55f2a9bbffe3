//! The periodic upload sweep (`Carnet::sweep_uploads`): interrupted uploads older than the
//! longest an upload may take go with their blobs, orphan blobs go, and nothing a document or
//! a running upload owns is ever touched — on SQLite and PostgreSQL, from two nodes at once.

use crate::support;

use std::path::PathBuf;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use carnet_domain::{DocumentId, Profession};
use carnet_server::HttpLimits;
use carnet_service::{Carnet, ServiceConfig, Storage, StorageLocation, UploadSweep};
use carnet_store::{BlobStore, DocumentStore};
use support::{TestApp, ins, lab_report, multipart};
use time::{Duration, OffsetDateTime};
use tower::ServiceExt;

fn blob_dir(app: &TestApp) -> PathBuf {
    app.data_dir().join("blobs/documents")
}

fn blob_names(app: &TestApp) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(blob_dir(app))
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned())).collect())
        .unwrap_or_default();
    names.sort();
    names
}

fn new_id() -> DocumentId {
    DocumentId::from_bytes(*uuid::Uuid::new_v4().as_bytes())
}

/// A complete-looking blob that no row names, last written at `at`.
fn stray_blob(app: &TestApp, id: DocumentId, at: OffsetDateTime) {
    let path = blob_dir(app).join(id.to_string());
    std::fs::write(&path, b"sealed bytes").expect("blob");
    let file = std::fs::File::options().write(true).open(&path).expect("open");
    file.set_modified(at.into()).expect("mtime");
}

/// The service's clock two hours past the wall clock: blobs written now are older than the
/// deadline (65 minutes by default) by the service's reckoning.
fn two_hours_on(app: &TestApp) -> OffsetDateTime {
    let now = OffsetDateTime::now_utc() + Duration::hours(2);
    app.clock.set(now);
    now
}

/// Another node on the same database and blobs: its own caches and its own sweep.
async fn another_node(app: &TestApp) -> Carnet {
    let sqlite = |file: &str| format!("sqlite://{}", app.data_dir().join(file).display());
    let (database_url, ledger_url) = match &app.postgres_url {
        Some(url) => (url.clone(), url.clone()),
        None => (sqlite("carnet.db"), sqlite("ledger.db")),
    };
    let storage = Storage::open(StorageLocation {
        database_url,
        ledger_url,
        keys_dir: app.data_dir().join("keys"),
        pkcs11: None,
        blobs: BlobStore::local(&app.data_dir().join("blobs")).expect("blobs"),
        ledger_clock: app.clock.clone(),
    })
    .await
    .expect("storage");
    Carnet::new(storage, app.clock.clone(), ServiceConfig::default())
}

async fn old_leftovers_are_swept_and_nothing_owned_is_touched(app: TestApp) {
    // First: tokens are minted at the service's time.
    let now = two_hours_on(&app);
    let p = ins(30);
    app.open_record(&p).await;
    let pro = app.professional(1, Profession::Medecin);
    let stored = app.upload(&p, &pro, lab_report(1), b"%PDF stored").await;
    assert_eq!(stored.status, StatusCode::CREATED, "{}", stored.raw);
    let stored = stored.body["id"].as_str().expect("id").to_owned();

    let wall = OffsetDateTime::now_utc();
    // An upload interrupted long ago: its note and its blob.
    let interrupted = new_id();
    app.db.begin_upload(interrupted, now - Duration::hours(2)).await.expect("note");
    stray_blob(&app, interrupted, wall);
    // An upload begun ten minutes ago, its blob written and its row not yet: running.
    let running = new_id();
    app.db.begin_upload(running, now - Duration::minutes(10)).await.expect("note");
    stray_blob(&app, running, wall);
    // A blob nobody claims, old; and one nobody claims yet, younger than the deadline.
    let (orphan, young) = (new_id(), new_id());
    stray_blob(&app, orphan, wall);
    stray_blob(&app, young, now - Duration::minutes(5));

    let round = app.carnet.sweep_uploads().await.expect("sweep");
    assert_eq!(round, UploadSweep { interrupted_uploads: 1, orphan_blobs: 1 });
    let mut kept = vec![stored.clone(), running.to_string(), young.to_string()];
    kept.sort();
    assert_eq!(blob_names(&app), kept, "the document's blob, the running upload's and the young one remain");
    let pending = app.db.pending_uploads(now + Duration::days(1), 10).await.expect("pending");
    assert_eq!(pending, vec![running], "only the running upload's note remains");
    let read = app.get_raw(&format!("/api/documents/{stored}/content"), &pro, &[]).await;
    assert_eq!((read.status, read.bytes.as_slice()), (StatusCode::OK, &b"%PDF stored"[..]));

    assert_eq!(app.carnet.sweep_uploads().await.expect("again"), UploadSweep::default(), "a second round finds nothing");
}

/// Two nodes sweeping at once over the same leftovers: both rounds succeed, each leftover goes
/// once, and what is owned stays.
async fn two_nodes_sweep_at_once(app: TestApp) {
    let now = two_hours_on(&app);
    let p = ins(31);
    app.open_record(&p).await;
    let pro = app.professional(1, Profession::Medecin);
    let stored = app.upload(&p, &pro, lab_report(1), b"%PDF stored").await.body["id"].as_str().expect("id").to_owned();
    let other = another_node(&app).await;
    let wall = OffsetDateTime::now_utc();
    for _ in 0..20 {
        let id = new_id();
        app.db.begin_upload(id, now - Duration::hours(3)).await.expect("note");
        stray_blob(&app, id, wall);
        stray_blob(&app, new_id(), wall);
    }
    let (a, b) = tokio::join!(app.carnet.sweep_uploads(), other.sweep_uploads());
    let (a, b) = (a.expect("this node"), b.expect("the other node"));
    assert!(a.interrupted_uploads + b.interrupted_uploads >= 20, "{a:?} {b:?}");
    assert!(a.orphan_blobs + b.orphan_blobs >= 20, "{a:?} {b:?}");
    assert_eq!(blob_names(&app), vec![stored], "every leftover gone, the document's blob kept");
    assert!(app.db.pending_uploads(now + Duration::days(1), 10).await.expect("pending").is_empty());
}

/// A deposit still arriving while the sweep runs (its note recent, whatever the age of its
/// bytes) is left alone and completes.
async fn an_upload_in_flight_survives_the_sweep(app: TestApp) {
    two_hours_on(&app);
    let p = ins(32);
    app.open_record(&p).await;
    let pro = app.professional(1, Profession::Medecin);
    let content: Vec<u8> = b"%PDF-1.7\n".iter().copied().chain((0..300_000u32).map(|i| (i % 251) as u8)).collect();
    let (boundary, body) = multipart(&lab_report(1), &content, "application/pdf");
    let (first, rest) = body.split_at(body.len() / 2);
    let (tx, rx) = futures::channel::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let mut tx = tx;
    futures::SinkExt::send(&mut tx, Ok(first.to_vec())).await.expect("first half");
    let req = Request::builder()
        .method(Method::POST)
        .uri(format!("/api/records/{p}/documents"))
        .header("authorization", format!("Bearer {pro}"))
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(Body::from_stream(rx))
        .expect("request");
    let upload = tokio::spawn(app.router.clone().oneshot(req));
    // The deposit has begun once its note is written.
    let later = OffsetDateTime::now_utc() + Duration::days(1);
    for _ in 0..500 {
        if !app.db.pending_uploads(later, 10).await.expect("pending").is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(app.db.pending_uploads(later, 10).await.expect("pending").len(), 1, "the upload is under way");

    assert_eq!(app.carnet.sweep_uploads().await.expect("sweep"), UploadSweep::default());
    futures::SinkExt::send(&mut tx, Ok(rest.to_vec())).await.expect("second half");
    drop(tx);
    let response = upload.await.expect("task").expect("infallible");
    assert_eq!(response.status(), StatusCode::CREATED);
    let list = app.get(&format!("/api/records/{p}/documents"), &app.patient(&p)).await;
    let id = list.body["documents"][0]["id"].as_str().expect("the document").to_owned();
    let read = app.get_raw(&format!("/api/documents/{id}/content"), &pro, &[]).await;
    assert!(read.status == StatusCode::OK && read.bytes == content, "the whole document, readable");
    assert_eq!(app.carnet.sweep_uploads().await.expect("sweep"), UploadSweep::default(), "nothing to sweep after it either");
}

/// A deposit cut off at any point (its client gone, the request dropped — also while its rows'
/// commit is in flight) leaves a readable document or, once the sweep has run, nothing: never a
/// row without its content, never a blob without its row.
async fn a_deposit_cut_at_any_point_leaves_a_document_or_nothing(app: TestApp) {
    let p = ins(33);
    app.open_record(&p).await;
    let pro = app.professional(1, Profession::Medecin);
    for step in 0..100u32 {
        let content = format!("%PDF cut at step {step}");
        let (boundary, body) = multipart(&lab_report(500 + step), content.as_bytes(), "application/pdf");
        let req = Request::builder()
            .method(Method::POST)
            .uri(format!("/api/records/{p}/documents"))
            .header("authorization", format!("Bearer {pro}"))
            .header("content-type", format!("multipart/form-data; boundary={boundary}"))
            .body(Body::from(body))
            .expect("request");
        let cut = std::time::Duration::from_micros(u64::from(step) * 600);
        let _ = tokio::time::timeout(cut, app.router.clone().oneshot(req)).await;
    }
    // What the cut requests left, the sweep takes once it is older than the deadline.
    two_hours_on(&app);
    app.carnet.sweep_uploads().await.expect("sweep");
    // A token of the service's new time.
    let pro = app.professional(1, Profession::Medecin);
    let rows: Vec<String> = app.db.find_documents_of(&p).await.expect("documents").iter().map(|(m, _)| m.id.to_string()).collect();
    assert!(!rows.is_empty(), "some deposits finished before their cut");
    for id in &rows {
        let read = app.get_raw(&format!("/api/documents/{id}/content"), &pro, &[]).await;
        assert_eq!(read.status, StatusCode::OK, "document {id} has its content");
        assert!(read.bytes.starts_with(b"%PDF cut at step"));
    }
    let mut rows = rows;
    rows.sort();
    assert_eq!(blob_names(&app), rows, "every blob is a document's");
    assert!(app.db.pending_uploads(OffsetDateTime::now_utc() + Duration::days(1), 10).await.expect("pending").is_empty());
}

on_both_backends!(
    old_leftovers_are_swept_and_nothing_owned_is_touched,
    two_nodes_sweep_at_once,
    an_upload_in_flight_survives_the_sweep,
    a_deposit_cut_at_any_point_leaves_a_document_or_nothing
);

/// What the sweep removed is counted on `/metrics`, failures too.
#[tokio::test]
async fn the_sweeps_counts_are_on_the_metrics_endpoint() {
    let app = TestApp::new(support::Backend::Sqlite).await;
    app.state.metrics.upload_sweep(&UploadSweep { interrupted_uploads: 2, orphan_blobs: 3 });
    app.state.metrics.upload_sweep(&UploadSweep { interrupted_uploads: 1, orphan_blobs: 0 });
    app.state.metrics.upload_sweep_failed();
    let r = app.send(Request::get("/metrics").body(Body::empty()).expect("request")).await;
    assert_eq!(r.status, StatusCode::OK);
    for line in ["carnet_swept_interrupted_uploads_total 3", "carnet_swept_orphan_blobs_total 3", "carnet_upload_sweep_failures_total 1"] {
        assert!(r.raw.lines().any(|l| l == line), "{line} in\n{}", r.raw);
    }
}

/// A deposit still arriving after `max_upload` is ended with 408, however fast it goes, and
/// nothing is stored: what lets the sweep call an older pending upload abandoned.
#[tokio::test]
async fn a_deposit_longer_than_the_longest_upload_is_ended() {
    let limits = HttpLimits { min_upload_bytes_per_second: 0, max_upload: std::time::Duration::from_millis(400), ..HttpLimits::default() };
    let app = TestApp::with_limits(support::Backend::Sqlite, limits).await;
    let p = ins(33);
    app.open_record(&p).await;
    let pro = app.professional(1, Profession::Medecin);
    let content: Vec<u8> = b"%PDF-1.7\n".iter().copied().chain(std::iter::repeat_n(7u8, 4000)).collect();
    let (boundary, body) = multipart(&lab_report(1), &content, "application/pdf");
    let pieces: Vec<bytes::Bytes> = body.chunks(400).map(bytes::Bytes::copy_from_slice).collect();
    let paced = futures::StreamExt::then(futures::stream::iter(pieces), |piece| async move {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        Ok::<_, std::io::Error>(piece)
    });
    let req = Request::post(format!("/api/records/{p}/documents"))
        .header("authorization", format!("Bearer {pro}"))
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(Body::from_stream(paced))
        .expect("request");
    let r = app.send(req).await;
    support::assert_problem(&r, StatusCode::REQUEST_TIMEOUT, "the longest an upload may take");
    assert_eq!(app.get(&format!("/api/records/{p}/documents"), &app.patient(&p)).await.body["total"], 0, "nothing stored");
}
