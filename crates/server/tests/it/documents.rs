//! Encrypted documents over `/api`: deposit, retrieval (with ranges), idempotence, bad input,
//! lifecycle, tampering, nothing readable at rest, crypto-shredding, key rotation and
//! interrupted uploads — on SQLite and PostgreSQL.

use crate::support;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use carnet_domain::{Actor, ActorKind, DocumentId, Profession, Role};
use carnet_server::HttpLimits;
use carnet_service::ServiceConfig;
use carnet_store::{DocumentStore, KeyStore};
use futures::StreamExt;
use serde_json::{Value, json};
use support::{TestApp, assert_problem, ins, lab_report, multipart, sha256_hex};

/// Bytes that look like a document: a PDF header and a pattern, `len` long.
fn pdf(len: usize, seed: u8) -> Vec<u8> {
    let mut v = b"%PDF-1.7\n".to_vec();
    v.extend((0..len.saturating_sub(9)).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)));
    v.truncate(len);
    v
}

fn id_of(reply: &support::Reply) -> String {
    reply.body["id"].as_str().expect("an id").to_owned()
}

fn blob_files(app: &TestApp) -> Vec<std::path::PathBuf> {
    let dir = app.data_dir().join("blobs/documents");
    let mut files: Vec<_> = std::fs::read_dir(&dir).map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect()).unwrap_or_default();
    files.sort();
    files
}

fn operator() -> Actor {
    Actor {
        issuer: "urn:test".into(),
        subject: "ops".into(),
        name: None,
        kind: ActorKind::Operator,
        scopes: carnet_domain::Scopes::RoleOnly,
        client: None,
    }
}

async fn a_professional_deposits_and_the_patient_reads_it_back(app: TestApp) {
    let p = ins(1);
    app.open_record(&p).await;
    let pro = app.professional(1, Profession::Medecin);
    let bytes = pdf(200_000, 3); // several 64 KiB chunks
    let mut meta = lab_report(1);
    meta["sha256"] = json!(sha256_hex(&bytes));
    meta["size"] = json!(bytes.len());
    let created = app.upload(&p, &pro, meta, &bytes).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.raw);
    let id = id_of(&created);
    assert_eq!(created.headers["location"], format!("/api/documents/{id}").as_str());
    assert_eq!(created.body["author"], format!("rpps:{}", support::rpps(1)).as_str());
    assert_eq!(created.body["class_code"]["code"], "10", "the type's class when none is given");
    assert_eq!(created.body["size"], 200_000);

    let patient = app.patient(&p);
    let list = app.get(&format!("/api/records/{p}/documents"), &patient).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.raw);
    assert_eq!(list.body["total"], 1);
    assert_eq!(list.body["documents"][0]["title"], "Bilan sanguin 1");

    let whole = app.get_raw(&format!("/api/documents/{id}/content"), &patient, &[]).await;
    assert_eq!(whole.status, StatusCode::OK);
    assert!(!whole.broken);
    assert_eq!(whole.bytes, bytes, "byte-identical");
    assert_eq!(whole.headers["content-type"], "application/pdf");
    assert_eq!(whole.headers["content-length"], "200000");
    assert_eq!(whole.headers["accept-ranges"], "bytes");
    assert_eq!(whole.headers["x-content-type-options"], "nosniff");
    assert_eq!(whole.headers["etag"], format!("\"{}\"", sha256_hex(&bytes)).as_str());

    // A range across a chunk boundary (65536) decrypts only what it needs.
    let part = app.get_raw(&format!("/api/documents/{id}/content"), &patient, &[("range", "bytes=65530-65545")]).await;
    assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.bytes, bytes[65530..=65545]);
    assert_eq!(part.headers["content-range"], "bytes 65530-65545/200000");
    let suffix = app.get_raw(&format!("/api/documents/{id}/content"), &patient, &[("range", "bytes=-10")]).await;
    assert_eq!(suffix.bytes, bytes[199_990..]);
    let open_ended = app.get_raw(&format!("/api/documents/{id}/content"), &patient, &[("range", "bytes=131072-")]).await;
    assert_eq!(open_ended.bytes, bytes[131_072..]);
    let beyond = app.get_raw(&format!("/api/documents/{id}/content"), &patient, &[("range", "bytes=300000-")]).await;
    assert_eq!(beyond.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(beyond.headers["content-range"], "bytes */200000");
    let garbage = app.get_raw(&format!("/api/documents/{id}/content"), &patient, &[("range", "lines=1-2")]).await;
    assert_eq!((garbage.status, garbage.bytes.len()), (StatusCode::OK, 200_000), "an unusable Range is ignored");

    // The author reads what they wrote; the record's status says it was fed.
    assert_eq!(app.get(&format!("/api/documents/{id}"), &pro).await.status, StatusCode::OK);
    let stats = app.get("/api/statistics/records", &app.role(Role::InsurerAgent)).await;
    assert_eq!(stats.body["fed"], 1);
}

async fn an_empty_document_round_trips(app: TestApp) {
    let p = ins(2);
    app.open_record(&p).await;
    let pro = app.professional(1, Profession::Medecin);
    let created = app.upload(&p, &pro, lab_report(2), b"").await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.raw);
    let got = app.get_raw(&format!("/api/documents/{}/content", id_of(&created)), &pro, &[]).await;
    assert_eq!((got.status, got.bytes.len(), got.broken), (StatusCode::OK, 0, false));
}

async fn resubmission_is_idempotent_and_other_bytes_conflict(app: TestApp) {
    let p = ins(3);
    app.open_record(&p).await;
    let pro = app.professional(1, Profession::Medecin);
    let first = app.upload(&p, &pro, lab_report(7), b"%PDF-1.7 same bytes").await;
    assert_eq!(first.status, StatusCode::CREATED);
    let again = app.upload(&p, &pro, lab_report(7), b"%PDF-1.7 same bytes").await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.raw);
    assert_eq!(id_of(&again), id_of(&first), "the same document");
    // The answer carries the stored title: the patient's history shows that read.
    let history = app.get(&format!("/api/records/{p}/access-history?limit=200"), &app.patient(&p)).await;
    let resubmits: Vec<&serde_json::Value> =
        history.body["entries"].as_array().expect("entries").iter().filter(|e| e["action"] == "document.resubmit").collect();
    assert_eq!(resubmits.len(), 1, "{}", history.raw);
    assert_eq!(resubmits[0]["target"], id_of(&first).as_str());
    let other = app.upload(&p, &pro, lab_report(7), b"%PDF-1.7 other bytes").await;
    assert_problem(&other, StatusCode::CONFLICT, "unique id");
    let list = app.get(&format!("/api/records/{p}/documents"), &app.patient(&p)).await;
    assert_eq!(list.body["total"], 1);
    assert_eq!(blob_files(&app).len(), 1, "one blob, nothing left by the refused deposits");
}

async fn declared_size_and_hash_are_checked_and_nothing_is_stored(app: TestApp) {
    let p = ins(4);
    app.open_record(&p).await;
    let pro = app.professional(1, Profession::Medecin);
    let bytes = pdf(100_000, 1);
    let mut wrong_size = lab_report(1);
    wrong_size["size"] = json!(99_999);
    assert_problem(
        &app.upload(&p, &pro, wrong_size, &bytes).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "size: 99999 bytes declared, 100000 received",
    );
    let mut wrong_hash = lab_report(1);
    wrong_hash["sha256"] = json!(sha256_hex(b"something else"));
    assert_problem(&app.upload(&p, &pro, wrong_hash, &bytes).await, StatusCode::UNPROCESSABLE_ENTITY, "hash");
    let mut bad_hex = lab_report(1);
    bad_hex["sha256"] = json!("zz");
    assert_problem(&app.upload(&p, &pro, bad_hex, &bytes).await, StatusCode::UNPROCESSABLE_ENTITY, "sha256: 64 hexadecimal digits");
    let mut signed_hex = lab_report(1);
    signed_hex["sha256"] = json!(format!("+{}", &sha256_hex(&bytes)[1..]));
    assert_problem(&app.upload(&p, &pro, signed_hex, &bytes).await, StatusCode::UNPROCESSABLE_ENTITY, "sha256: 64 hexadecimal digits");
    assert_eq!(app.get(&format!("/api/records/{p}/documents"), &app.patient(&p)).await.body["total"], 0);
    // The blob was removed (its deletion may finish just after the answer).
    for _ in 0..50 {
        if blob_files(&app).is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(blob_files(&app).is_empty(), "no blob left: {:?}", blob_files(&app));
    assert!(app.db.pending_uploads(time::OffsetDateTime::now_utc() + time::Duration::days(1), 10).await.expect("pending").is_empty());
    // The same unique id is still free.
    assert_eq!(app.upload(&p, &pro, lab_report(1), &bytes).await.status, StatusCode::CREATED);
}

/// A deposit trickling in (50 bytes/s against a floor of 1,000 once half a second has passed) is
/// ended with 408 and nothing stored, instead of holding its connection for as long as it likes.
#[tokio::test]
async fn a_deposit_slower_than_the_floor_is_ended() {
    let limits =
        HttpLimits { min_upload_bytes_per_second: 1000, upload_grace: std::time::Duration::from_millis(500), ..HttpLimits::default() };
    let app = TestApp::with_limits(support::Backend::Sqlite, limits).await;
    let p = ins(6);
    app.open_record(&p).await;
    let pro = app.professional(1, Profession::Medecin);
    let (boundary, body) = multipart(&lab_report(1), &pdf(4000, 3), "application/pdf");
    // Everything up to the content's first bytes at once, then 10 bytes every 200 ms.
    let start = body.windows(4).position(|w| w == b"%PDF").expect("the content") + 4;
    let (head, rest) = body.split_at(start);
    let mut pieces: Vec<bytes::Bytes> = vec![bytes::Bytes::copy_from_slice(head)];
    pieces.extend(rest.chunks(10).map(bytes::Bytes::copy_from_slice));
    let slow = futures::stream::iter(pieces).then(|piece| async move {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        Ok::<_, std::io::Error>(piece)
    });
    let req = Request::post(format!("/api/records/{p}/documents"))
        .header("authorization", format!("Bearer {pro}"))
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(Body::from_stream(slow))
        .expect("request");
    let started = std::time::Instant::now();
    let r = app.send(req).await;
    assert_problem(&r, StatusCode::REQUEST_TIMEOUT, "less than 1000 bytes/s");
    // The whole body would take 80 s; the refusal comes after the floor is crossed and what is
    // left has been drained for at most 10 s (the connection-keeping layer), then closes.
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "ended early, not after the whole body: {:?}", started.elapsed());
    assert_eq!(app.get(&format!("/api/records/{p}/documents"), &app.patient(&p)).await.body["total"], 0, "nothing stored");
    // The same document at full speed goes through.
    assert_eq!(app.upload(&p, &pro, lab_report(1), &pdf(4000, 3)).await.status, StatusCode::CREATED);
}

/// A deposit is one `metadata` part and one `content` part: a second `content` (or any part
/// after it) is refused with 422 and nothing is stored — not the first document silently kept.
async fn a_second_document_part_refuses_the_whole_deposit(app: TestApp) {
    let p = ins(5);
    app.open_record(&p).await;
    let pro = app.professional(1, Profession::Medecin);
    for extra in ["content", "metadata"] {
        let (boundary, mut body) = multipart(&lab_report(1), &pdf(50_000, 2), "application/pdf");
        // Reopen the closing delimiter into one more part.
        body.truncate(body.len() - format!("--{boundary}--\r\n").len());
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{extra}\"\r\nContent-Type: application/pdf\r\n\r\n%PDF-1.7 two\r\n--{boundary}--\r\n").as_bytes(),
        );
        let req = Request::post(format!("/api/records/{p}/documents"))
            .header("authorization", format!("Bearer {pro}"))
            .header("content-type", format!("multipart/form-data; boundary={boundary}"))
            .body(Body::from(body))
            .expect("request");
        let r = app.send(req).await;
        assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, &format!("found another part (`{extra}`) after `content`"));
    }
    assert_eq!(app.get(&format!("/api/records/{p}/documents"), &app.patient(&p)).await.body["total"], 0, "nothing stored");
    for _ in 0..50 {
        if blob_files(&app).is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(blob_files(&app).is_empty(), "no blob left: {:?}", blob_files(&app));
    // The well-formed deposit of the same document then goes through.
    assert_eq!(app.upload(&p, &pro, lab_report(1), &pdf(50_000, 2)).await.status, StatusCode::CREATED);
}

async fn bad_metadata_gets_a_precise_error(app: TestApp) {
    let p = ins(5);
    app.open_record(&p).await;
    let pro = app.professional(1, Profession::Medecin);
    let with = |k: &str, v: Value| {
        let mut m = lab_report(1);
        m[k] = v;
        m
    };
    let cases: Vec<(Value, &str)> = vec![
        (with("type_code", json!("0000-0")), "type_code: \"0000-0\" is not a DMP type code (JDV_J66"),
        (with("class_code", json!("42")), "class_code: type 11502-2 belongs to class 10, not 42"),
        (with("class_code", json!("99")), "class_code: 99 is not a DMP class code; allowed: 10, 11"),
        (with("format_code", json!("urn:nope")), "format_code: urn:nope is not accepted; allowed: urn:ihe:iti:xds-sd:pdf:2008"),
        (with("labels", json!(["SECRET"])), "labels: \"SECRET\" is not one of MASQUE_PS"),
        (with("authored_at", json!("yesterday")), "authored_at: \"yesterday\" is not an RFC 3339"),
        (with("unique_id", json!("")), "unique_id"),
        (with("replaces", json!("not-an-id")), "id: a document id is a UUID"),
        (with("language", json!("fr_FR")), "language"),
        (with("surprise", json!(1)), "unknown field `surprise`"),
    ];
    for (meta, needle) in cases {
        assert_problem(&app.upload(&p, &pro, meta, b"%PDF").await, StatusCode::UNPROCESSABLE_ENTITY, needle);
    }
    // Malformed multipart: metadata missing, wrong order.
    let (boundary, body) = multipart(&json!({}), b"x", "application/pdf");
    let swapped = String::from_utf8(body).expect("utf8").replace("name=\"metadata\"", "name=\"other\"");
    let req = Request::builder()
        .method(Method::POST)
        .uri(format!("/api/records/{p}/documents"))
        .header("authorization", format!("Bearer {pro}"))
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(Body::from(swapped))
        .expect("request");
    assert_problem(&app.send(req).await, StatusCode::BAD_REQUEST, "the first part must be `metadata`");
    assert_eq!(app.get(&format!("/api/records/{p}/documents"), &app.patient(&p)).await.body["total"], 0);
}

async fn only_active_qualified_records_are_fed(app: TestApp) {
    let pro = app.professional(1, Profession::Medecin);
    assert_problem(&app.upload(&ins(60), &pro, lab_report(1), b"%PDF").await, StatusCode::NOT_FOUND, "record not found");

    let closed = ins(61);
    app.open_record(&closed).await;
    let patient = app.patient(&closed);
    assert_eq!(app.post(&format!("/api/records/{closed}/close"), &patient, json!({"reason": "je ferme"})).await.status, StatusCode::OK);
    assert_problem(&app.upload(&closed, &pro, lab_report(1), b"%PDF").await, StatusCode::CONFLICT, "the record is closed");

    let recovered = ins(62);
    let mut body = support::new_record(&recovered);
    body["identity_status"] = json!("recuperee");
    assert_eq!(app.post("/api/records", &app.role(Role::InsurerAgent), body).await.status, StatusCode::CREATED);
    assert_problem(&app.upload(&recovered, &pro, lab_report(1), b"%PDF").await, StatusCode::CONFLICT, "only a qualified identity");

    // Roles: an operator never deposits; an insurer agent deposits reimbursements only; a
    // patient deposits in their own record only, and cannot hide a document from themselves.
    let p = ins(63);
    app.open_record(&p).await;
    assert_problem(&app.upload(&p, &app.role(Role::Operator), lab_report(1), b"%PDF").await, StatusCode::FORBIDDEN, "does not deposit");
    assert_problem(&app.upload(&p, &app.role(Role::InsurerAgent), lab_report(1), b"%PDF").await, StatusCode::FORBIDDEN, "REMB");
    let remb = json!({"unique_id": "1.2.250.1.999.9.1", "type_code": "REMB", "mime_type": "application/pdf"});
    assert_eq!(app.upload(&p, &app.role(Role::InsurerAgent), remb, b"%PDF remb").await.status, StatusCode::CREATED);
    assert_problem(&app.upload(&p, &app.patient(&ins(64)), lab_report(2), b"%PDF").await, StatusCode::FORBIDDEN, "own or represented");
    let mut own =
        json!({"unique_id": "urn:uuid:0c3c1f4e-2b7d-4d0e-9d43-0d8a5e1f6a01", "type_code": "DOCPAT05", "labels": ["INVISIBLE_PATIENT"]});
    assert_problem(&app.upload(&p, &app.patient(&p), own.clone(), b"%PDF").await, StatusCode::UNPROCESSABLE_ENTITY, "MASQUE_PS only");
    own["labels"] = json!(["MASQUE_PS"]);
    assert_eq!(app.upload(&p, &app.patient(&p), own, b"%PDF mine").await.status, StatusCode::CREATED);
}

async fn a_body_over_the_limit_is_refused_before_it_is_read(_unused: TestApp) {
    let backend = _unused.backend;
    drop(_unused);
    let limits = HttpLimits { document_body_bytes: 300 * 1024, ..HttpLimits::default() };
    let config = ServiceConfig { max_document_bytes: 200 * 1024, ..ServiceConfig::default() };
    let app = TestApp::with_config(backend, limits, config).await;
    let p = ins(7);
    app.open_record(&p).await;
    let pro = app.professional(1, Profession::Medecin);

    // Announced too large: 413 from the Content-Length alone.
    let (boundary, body) = multipart(&lab_report(1), &pdf(400 * 1024, 0), "application/pdf");
    let req = Request::builder()
        .method(Method::POST)
        .uri(format!("/api/records/{p}/documents"))
        .header("authorization", format!("Bearer {pro}"))
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .header("content-length", body.len())
        .body(Body::from(body))
        .expect("request");
    assert_eq!(app.send(req).await.status, StatusCode::PAYLOAD_TOO_LARGE);

    // Streamed without a length, the document itself over the document limit: 413 as soon as
    // the limit is crossed, and nothing stored.
    let (boundary, body) = multipart(&lab_report(2), &pdf(250 * 1024, 0), "application/pdf");
    let pieces: Vec<Result<Vec<u8>, std::io::Error>> = body.chunks(8192).map(|c| Ok(c.to_vec())).collect();
    let req = Request::builder()
        .method(Method::POST)
        .uri(format!("/api/records/{p}/documents"))
        .header("authorization", format!("Bearer {pro}"))
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(Body::from_stream(futures::stream::iter(pieces)))
        .expect("request");
    assert_problem(&app.send(req).await, StatusCode::PAYLOAD_TOO_LARGE, "larger than the limit");

    // A declared size over the limit is refused before any byte is stored.
    let mut declared = lab_report(3);
    declared["size"] = json!(10 * 1024 * 1024);
    assert_problem(&app.upload(&p, &pro, declared, b"%PDF").await, StatusCode::PAYLOAD_TOO_LARGE, "limit");
    assert_eq!(app.get(&format!("/api/records/{p}/documents"), &app.patient(&p)).await.body["total"], 0);
}

async fn replacement_supersedes_and_withdrawal_hides(app: TestApp) {
    let p = ins(8);
    app.open_record(&p).await;
    let author = app.professional(1, Profession::Medecin);
    let v1 = id_of(&app.upload(&p, &author, lab_report(1), b"%PDF v1").await);
    let mut meta = lab_report(2);
    meta["replaces"] = json!(v1);
    let other = app.professional(2, Profession::Medecin);
    assert_problem(&app.upload(&p, &other, meta.clone(), b"%PDF v2").await, StatusCode::NOT_FOUND, "not found");
    let v2 = app.upload(&p, &author, meta.clone(), b"%PDF v2").await;
    assert_eq!(v2.status, StatusCode::CREATED, "{}", v2.raw);
    assert_eq!(v2.body["replaces"], v1.as_str());
    let old = app.get(&format!("/api/documents/{v1}"), &author).await;
    assert_eq!(old.body["status"], "superseded");
    meta["unique_id"] = json!("1.2.250.1.999.1.1.3");
    assert_problem(&app.upload(&p, &author, meta, b"%PDF v3").await, StatusCode::CONFLICT, "superseded");

    let v2 = id_of(&v2);
    assert_problem(&app.post(&format!("/api/documents/{v2}/withdraw"), &app.patient(&p), json!({})).await, StatusCode::FORBIDDEN, "author");
    let withdrawn = app.post(&format!("/api/documents/{v2}/withdraw"), &author, json!({})).await;
    assert_eq!(withdrawn.body["status"], "entered-in-error", "{}", withdrawn.raw);
    assert_problem(&app.post(&format!("/api/documents/{v2}/withdraw"), &author, json!({})).await, StatusCode::CONFLICT, "entered-in-error");
    let list = app.get(&format!("/api/records/{p}/documents"), &app.patient(&p)).await;
    assert_eq!(list.body["total"], 1, "the patient sees the superseded v1, not the withdrawn v2: {}", list.raw);

    let v1_archived = app.post(&format!("/api/documents/{v1}/archive"), &author, json!({})).await;
    assert_problem(&v1_archived, StatusCode::CONFLICT, "superseded");
}

async fn archive_and_unarchive(app: TestApp) {
    let p = ins(9);
    app.open_record(&p).await;
    let author = app.professional(1, Profession::Medecin);
    let id = id_of(&app.upload(&p, &author, lab_report(1), b"%PDF").await);
    assert_eq!(app.post(&format!("/api/documents/{id}/archive"), &author, json!({})).await.body["archived"], true);
    assert_problem(&app.post(&format!("/api/documents/{id}/archive"), &author, json!({})).await, StatusCode::CONFLICT, "already archived");
    assert_eq!(app.post(&format!("/api/documents/{id}/unarchive"), &author, json!({})).await.body["archived"], false);
}

async fn a_hidden_document_answers_like_a_missing_one(app: TestApp) {
    let p = ins(10);
    app.open_record(&p).await;
    let author = app.professional(1, Profession::Medecin);
    let mut meta = lab_report(1);
    meta["labels"] = json!(["INVISIBLE_PATIENT"]);
    let hidden = id_of(&app.upload(&p, &author, meta, b"%PDF result not yet announced").await);
    let patient = app.patient(&p);
    let missing = DocumentId::from_bytes([0x42; 16]).to_string();
    for suffix in ["", "/content"] {
        let a = app.get(&format!("/api/documents/{hidden}{suffix}"), &patient).await;
        let b = app.get(&format!("/api/documents/{missing}{suffix}"), &patient).await;
        assert_eq!((a.status, &a.body), (b.status, &b.body), "hidden and missing answer alike");
        assert_eq!(a.status, StatusCode::NOT_FOUND);
    }
    assert_eq!(app.get(&format!("/api/records/{p}/documents"), &patient).await.body["total"], 0, "not counted");
    // Another patient, and a professional with no link to the record, see nothing either.
    assert_eq!(app.get(&format!("/api/documents/{hidden}"), &app.patient(&ins(11))).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get(&format!("/api/records/{p}/documents"), &app.professional(3, Profession::Infirmier)).await.body["total"], 0);
    // Insurer agents and operators never read documents.
    for role in [Role::InsurerAgent, Role::Operator, Role::PrivacyOfficer] {
        assert_eq!(app.get(&format!("/api/documents/{hidden}/content"), &app.role(role)).await.status, StatusCode::NOT_FOUND);
        assert_eq!(app.get(&format!("/api/records/{p}/documents"), &app.role(role)).await.body["total"], 0);
    }
}

/// Every file under `dir`, recursively, as bytes (skipping what cannot be read).
pub(crate) fn scan_for(dir: &std::path::Path, marker: &[u8]) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path)
                && memchr::memmem::find(&bytes, marker).is_some()
            {
                found.push(path);
            }
        }
    }
    found
}

async fn nothing_clinical_is_readable_at_rest(app: TestApp) {
    let marker = format!("MARKER-{}", uuid::Uuid::new_v4().simple());
    let p = ins(12);
    app.open_record(&p).await;
    let pro = app.professional(1, Profession::Medecin);
    let mut content = pdf(150_000, 9);
    content.extend_from_slice(marker.as_bytes());
    content.extend_from_slice(&pdf(70_000, 4));
    let mut meta = lab_report(1);
    meta["title"] = json!(format!("Compte rendu {marker}"));
    let id = id_of(&app.upload(&p, &pro, meta, &content).await);
    let visible = app
        .carnet
        .visible_document(&pro_actor(1), DocumentId::parse(&id).expect("id"), carnet_service::DocumentAction::ReadDerived)
        .await
        .expect("visible");
    app.carnet.save_derived(&visible, "text", format!("texte extrait {marker}").as_bytes()).await.expect("derived");
    // The marker is readable through the API…
    let got = app.get_raw(&format!("/api/documents/{id}/content"), &pro, &[]).await;
    assert!(got.bytes.windows(marker.len()).any(|w| w == marker.as_bytes()));
    assert_eq!(app.carnet.derived(&visible, "text").await.expect("derived"), Some(format!("texte extrait {marker}").into_bytes()));
    // The patient and her representative consult it with tokens that carry their names: the
    // ledger, which outlives crypto-shredding, keeps neither.
    for (sub, role, name) in [("marker-patient", Role::Patient, "Marie"), ("marker-parent", Role::Representative, "Marc")] {
        let claims = carnet_auth::TokenClaims {
            sub: sub.into(),
            role,
            name: Some(format!("{name} {marker}")),
            ins: (role == Role::Patient).then(|| p.to_string()),
            represents: if role == Role::Representative { vec![p.to_string()] } else { vec![] },
            ..Default::default()
        };
        let read = app.get(&format!("/api/records/{p}/documents"), &app.token(claims)).await;
        assert_eq!(read.status, StatusCode::OK, "{}", read.raw);
    }
    // Free text written about the record: an emergency justification (and one refused), the
    // privacy officer's note on it, a close reason (closed, reopened, closed again: PostgreSQL
    // keeps the old row versions in its files). The outbox's author names: notifications.rs.
    let written = write_free_text(&app, &p, &marker).await;
    // …all readable to those allowed…
    let history = app.get(&format!("/api/records/{p}/access-history?limit=200"), &app.patient(&p)).await;
    let justifications: Vec<&str> =
        history.body["entries"].as_array().into_iter().flatten().filter_map(|e| e["justification"].as_str()).collect();
    assert_eq!(justifications, [written.justification.as_str(), written.refused.as_str()], "{}", history.raw);
    let queue = app.get("/api/review-items", &app.role(Role::PrivacyOfficer)).await;
    assert!(queue.raw.contains(&written.note), "{}", queue.raw);
    assert_eq!(app.get(&format!("/api/records/{p}"), &app.patient(&p)).await.body["close_reason"], written.close_reason.as_str());
    // …nowhere in the tables, read as a dump would…
    for table in dump_tables(&app).await {
        assert!(!table.contains(&marker) && !table.contains(&hex(marker.as_bytes())), "plaintext in a table: {table}");
    }
    // …and nowhere at rest: databases, WAL, blobs, temporary files.
    app.db.close().await;
    let mut dirs = vec![app.data_dir().to_owned()];
    if let Some(url) = &app.postgres_url {
        dirs.extend(postgres_files_of(url).await);
    }
    for dir in dirs {
        assert_eq!(scan_for(&dir, marker.as_bytes()), Vec::<std::path::PathBuf>::new(), "plaintext found under {}", dir.display());
    }
}

/// What `write_free_text` wrote, each with the marker in it.
struct FreeText {
    justification: String,
    refused: String,
    note: String,
    close_reason: String,
}

/// Writes every kind of free text sealed at rest about `p` (an active record), through `/api`.
async fn write_free_text(app: &TestApp, p: &carnet_domain::Ins, marker: &str) -> FreeText {
    let written = FreeText {
        justification: format!("Inconscient aux urgences {marker}"),
        refused: format!("Tentative refusée {marker}"),
        note: format!("Appel du médecin prévu {marker}"),
        close_reason: format!("Départ à l’étranger {marker}"),
    };
    let emergency = format!("/api/records/{p}/emergency-access");
    let opened = app
        .post(
            &emergency,
            &app.professional(2, Profession::Medecin),
            json!({"kind": "bris_de_glace", "justification": written.justification}),
        )
        .await;
    assert_eq!(opened.status, StatusCode::CREATED, "{}", opened.raw);
    let refused =
        app.post(&emergency, &app.professional(3, Profession::Infirmier), json!({"kind": "samu", "justification": written.refused})).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.raw);
    let officer = app.role(Role::PrivacyOfficer);
    let queue = app.get("/api/review-items?status=open", &officer).await;
    let id =
        queue.body.as_array().and_then(|a| a.iter().find(|i| i["kind"] == "emergency")).and_then(|i| i["id"].as_str()).expect("the item");
    let noted = app.post(&format!("/api/review-items/{id}/notes"), &officer, json!({"note": written.note})).await;
    assert_eq!(noted.status, StatusCode::OK, "{}", noted.raw);
    let patient = app.patient(p);
    let record = format!("/api/records/{p}");
    let closed = app.post(&format!("{record}/close"), &patient, json!({"reason": format!("Premier motif {marker}")})).await;
    assert_eq!(closed.status, StatusCode::OK, "{}", closed.raw);
    assert_eq!(app.call(Method::POST, &format!("{record}/reopen"), Some(&patient), None).await.status, StatusCode::OK);
    let closed = app.post(&format!("{record}/close"), &patient, json!({"reason": written.close_reason})).await;
    assert_eq!(closed.status, StatusCode::OK, "{}", closed.raw);
    written
}

/// Lower-case hexadecimal, as PostgreSQL shows `bytea`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Every table of the metadata store and the ledger, one text per table, as a dump would read
/// them (a `pg_dump`-like read on PostgreSQL, where long values are compressed in the files;
/// on SQLite, each column of each table of each database, its bytes in hexadecimal, lowered).
pub(crate) async fn dump_tables(app: &TestApp) -> Vec<String> {
    use sqlx::{Connection, Row};
    let mut dumped = Vec::new();
    if let Some(url) = &app.postgres_url {
        let mut c = sqlx::PgConnection::connect(url).await.expect("connect");
        let tables: Vec<(String,)> = sqlx::query_as(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
        )
        .fetch_all(&mut c)
        .await
        .expect("tables");
        for (table,) in tables {
            let rows = sqlx::query(&format!("SELECT t::text FROM \"{table}\" t")).fetch_all(&mut c).await.expect("rows");
            let text: Vec<String> = rows.iter().map(|r| r.get::<String, _>(0)).collect();
            dumped.push(format!("{table}: {}", text.join("\n")));
        }
        return dumped;
    }
    for file in ["carnet.db", "ledger.db"] {
        let url = format!("sqlite://{}", app.data_dir().join(file).display());
        let mut c = sqlx::SqliteConnection::connect(&url).await.expect("connect");
        let tables: Vec<(String,)> =
            sqlx::query_as("SELECT name FROM sqlite_master WHERE type = 'table'").fetch_all(&mut c).await.expect("tables");
        for (table,) in tables {
            let columns: Vec<(String,)> =
                sqlx::query_as("SELECT name FROM pragma_table_info($1)").bind(&table).fetch_all(&mut c).await.expect("columns");
            for (column,) in columns {
                let values: Vec<(String,)> =
                    sqlx::query_as(&format!("SELECT lower(hex(\"{column}\")) FROM \"{table}\"")).fetch_all(&mut c).await.expect("values");
                dumped.push(format!("{file} {table}.{column}: {}", values.into_iter().map(|(v,)| v).collect::<Vec<_>>().join(" ")));
            }
        }
    }
    dumped
}

/// Where the scratch database's bytes lie in the throwaway cluster (its own directory and the
/// write-ahead log), after a checkpoint flushed everything to disk.
pub(crate) async fn postgres_files_of(url: &str) -> Vec<std::path::PathBuf> {
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(url).await.expect("connect");
    sqlx::query("CHECKPOINT").execute(&mut c).await.expect("checkpoint");
    let (dir,): (String,) = sqlx::query_as("SHOW data_directory").fetch_one(&mut c).await.expect("data_directory");
    let (oid,): (sqlx::postgres::types::Oid,) =
        sqlx::query_as("SELECT oid FROM pg_database WHERE datname = current_database()").fetch_one(&mut c).await.expect("oid");
    let dir = std::path::PathBuf::from(dir);
    vec![dir.join("base").join(oid.0.to_string()), dir.join("pg_wal")]
}

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

async fn tampered_blobs_are_never_served(app: TestApp) {
    let p = ins(13);
    app.open_record(&p).await;
    let pro = app.professional(1, Profession::Medecin);
    let a_bytes = pdf(200_000, 1);
    let a = id_of(&app.upload(&p, &pro, lab_report(1), &a_bytes).await);
    let b = id_of(&app.upload(&p, &pro, lab_report(2), &pdf(200_000, 2)).await);
    let path = |id: &str| app.data_dir().join("blobs/documents").join(id);
    let original = std::fs::read(path(&a)).expect("blob");
    let fetch = |id: String| {
        let pro = pro.clone();
        let app = &app;
        async move { app.get_raw(&format!("/api/documents/{id}/content"), &pro, &[]).await }
    };

    // A flipped bit in the first chunk: an error status, no bytes.
    let mut flipped = original.clone();
    flipped[100] ^= 1;
    std::fs::write(path(&a), &flipped).expect("write");
    let r = fetch(a.clone()).await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(!String::from_utf8_lossy(&r.bytes).contains("%PDF"), "no plaintext in the error");

    // A flipped bit in the third chunk: either nothing goes out (the chunks are read together)
    // or only the authenticated chunks before it; never a completed success.
    let mut late = original.clone();
    late[24 + 2 * (65_536 + 16) + 10] ^= 1;
    std::fs::write(path(&a), &late).expect("write");
    let r = fetch(a.clone()).await;
    if r.status == StatusCode::OK {
        assert!(r.broken, "never a complete success");
        assert!(r.bytes.len() <= 2 * 65_536 && r.bytes.len() % 65_536 == 0 && a_bytes.starts_with(&r.bytes), "only authenticated chunks");
    } else {
        assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!String::from_utf8_lossy(&r.bytes).contains("%PDF"), "no plaintext in the error");
    }

    // Far into a large document, after the status line went out: the transfer is cut after the
    // last authenticated chunk.
    let big_bytes = pdf(3 * 1024 * 1024, 7);
    let big = id_of(&app.upload(&p, &pro, lab_report(3), &big_bytes).await);
    let mut blob = std::fs::read(path(&big)).expect("blob");
    let bad_chunk = 40;
    blob[24 + bad_chunk * (65_536 + 16) + 100] ^= 1;
    std::fs::write(path(&big), &blob).expect("write");
    let r = fetch(big).await;
    assert_eq!(r.status, StatusCode::OK, "the first chunks were fine: the answer had begun");
    assert!(r.broken, "the transfer is cut, not completed");
    assert!(r.bytes.len() <= bad_chunk * 65_536 && r.bytes.len() % 65_536 == 0, "{} bytes", r.bytes.len());
    assert!(big_bytes.starts_with(&r.bytes), "only authenticated chunks were sent");

    // Truncated: the last chunk is gone.
    std::fs::write(path(&a), &original[..original.len() - 1000]).expect("write");
    let r = fetch(a.clone()).await;
    assert!(r.status != StatusCode::OK || r.broken);
    assert!(r.bytes.len() < a_bytes.len());

    // Swapped with another document's blob of the same patient: the id is bound in.
    std::fs::write(path(&a), std::fs::read(path(&b)).expect("blob b")).expect("write");
    assert_eq!(fetch(a.clone()).await.status, StatusCode::INTERNAL_SERVER_ERROR);

    // Put back: readable again.
    std::fs::write(path(&a), &original).expect("write");
    assert_eq!(fetch(a).await.bytes, a_bytes);
}

async fn a_blob_under_another_patients_key_is_refused(app: TestApp) {
    let (p, q) = (ins(14), ins(15));
    app.open_record(&p).await;
    app.open_record(&q).await;
    let pro = app.professional(1, Profession::Medecin);
    let a = id_of(&app.upload(&p, &pro, lab_report(1), &pdf(1000, 1)).await);
    let b = id_of(&app.upload(&q, &pro, lab_report(2), &pdf(1000, 2)).await);
    let dir = app.data_dir().join("blobs/documents");
    std::fs::copy(dir.join(&b), dir.join(&a)).expect("swap");
    let r = app.get_raw(&format!("/api/documents/{a}/content"), &pro, &[]).await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
}

async fn destruction_shreds_and_old_blobs_stay_noise(app: TestApp) {
    let marker = b"SHRED-MARKER-0c1d";
    let p = ins(16);
    app.open_record(&p).await;
    let pro = app.professional(1, Profession::Medecin);
    let mut content = pdf(80_000, 5);
    content.extend_from_slice(marker);
    let id = id_of(&app.upload(&p, &pro, lab_report(1), &content).await);
    let doc_id = DocumentId::parse(&id).expect("id");
    let (old_meta, _) = app.db.find_document(doc_id).await.expect("find").expect("row");
    let saved_blobs: Vec<(std::path::PathBuf, Vec<u8>)> =
        blob_files(&app).into_iter().map(|f| (f.clone(), std::fs::read(&f).expect("read"))).collect();
    assert_eq!(saved_blobs.len(), 1);

    let patient = app.patient(&p);
    let r = app.post(&format!("/api/records/{p}/destruction-request"), &patient, json!({"reason": "je quitte le service"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    let report = app.carnet.sweep().await.expect("sweep");
    assert_eq!((report.destroyed, report.shredded), (1, 1));
    assert_eq!(app.db.find_patient_key(&p).await.expect("key"), None, "the key is gone");
    assert!(blob_files(&app).is_empty(), "the blobs are gone");
    assert!(app.db.find_document(doc_id).await.expect("find").is_none(), "the rows are gone");
    assert_eq!(app.carnet.sweep().await.expect("sweep again").shredded, 0, "idempotent");

    // Someone kept copies of the blobs and puts them back, row and all; the patient comes back
    // and gets a new key. The old blob stays noise: it is never served, whoever asks.
    for (path, bytes) in &saved_blobs {
        std::fs::write(path, bytes).expect("restore");
        assert!(!bytes.windows(marker.len()).any(|w| w == marker), "a blob never held plaintext");
    }
    // (A row goes in only while its upload is noted, as a deposit does.)
    app.db.begin_upload(old_meta.id, old_meta.submitted_at).await.expect("note the row's upload");
    app.db.insert_document(&old_meta, None, None, &[]).await.expect("restore the row");
    app.open_record(&p).await;
    assert_eq!(app.upload(&p, &pro, lab_report(2), b"%PDF new life").await.status, StatusCode::CREATED);
    let r = app.get_raw(&format!("/api/documents/{id}/content"), &pro, &[]).await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "cannot be decrypted: {}", String::from_utf8_lossy(&r.bytes));
    assert!(!r.bytes.windows(marker.len()).any(|w| w == marker));
}

async fn key_rotation_rewraps_keys_and_leaves_blobs_untouched(app: TestApp) {
    let pro = app.professional(1, Profession::Medecin);
    let mut originals = Vec::new();
    for n in 20..23 {
        let p = ins(n);
        app.open_record(&p).await;
        let bytes = pdf(70_000, n as u8);
        let id = id_of(&app.upload(&p, &pro, lab_report(n), &bytes).await);
        originals.push((id, bytes));
    }
    let before: Vec<Vec<u8>> = blob_files(&app).iter().map(|f| std::fs::read(f).expect("read")).collect();
    let keys_dir = app.data_dir().join("keys");
    let old_key_files: Vec<_> = std::fs::read_dir(&keys_dir).expect("keys").flatten().map(|e| e.file_name()).collect();

    assert!(app.carnet.rotate_master_key(&pro_actor(1)).await.is_err(), "operators only");
    let report = app.carnet.rotate_master_key(&operator()).await.expect("rotate");
    assert_eq!(report.rewrapped, 3);
    assert_eq!(report.retired.len(), 1);
    let after: Vec<Vec<u8>> = blob_files(&app).iter().map(|f| std::fs::read(f).expect("read")).collect();
    assert_eq!(before, after, "no blob byte changed");
    for name in old_key_files.iter().filter(|n| n.to_string_lossy().ends_with(".key")) {
        assert!(!keys_dir.join(name).exists(), "the old master key file is deleted");
    }
    for (_, wrapped) in app.db.all_patient_keys().await.expect("keys") {
        assert_eq!(wrapped.master_key_id, report.new_master_key);
    }
    for (id, bytes) in originals {
        assert_eq!(app.get_raw(&format!("/api/documents/{id}/content"), &pro, &[]).await.bytes, bytes, "still readable");
    }
}

async fn an_interrupted_upload_leaves_nothing(app: TestApp) {
    let p = ins(24);
    app.open_record(&p).await;
    let pro = app.professional(1, Profession::Medecin);
    // The client goes away mid-body.
    let (boundary, body) = multipart(&lab_report(1), &pdf(300_000, 3), "application/pdf");
    let mut pieces: Vec<Result<Vec<u8>, std::io::Error>> = body[..200_000].chunks(16_384).map(|c| Ok(c.to_vec())).collect();
    pieces.push(Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "client gone")));
    let req = Request::builder()
        .method(Method::POST)
        .uri(format!("/api/records/{p}/documents"))
        .header("authorization", format!("Bearer {pro}"))
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(Body::from_stream(futures::stream::iter(pieces)))
        .expect("request");
    let r = app.send(req).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.raw);
    assert_eq!(app.get(&format!("/api/records/{p}/documents"), &app.patient(&p)).await.body["total"], 0);
    for _ in 0..50 {
        if blob_files(&app).is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(blob_files(&app).is_empty(), "{:?}", blob_files(&app));
    let later = time::OffsetDateTime::now_utc() + time::Duration::days(1);
    assert!(app.db.pending_uploads(later, 10).await.expect("pending").is_empty());
    // The unique id was not taken.
    assert_eq!(app.upload(&p, &pro, lab_report(1), b"%PDF").await.status, StatusCode::CREATED);
}

async fn a_killed_process_leaves_what_the_next_start_cleans(app: TestApp) {
    // What a process killed mid-upload leaves: a pending note, a complete-looking blob that no
    // row names, and a staging file.
    let id = DocumentId::from_bytes(*uuid::Uuid::new_v4().as_bytes());
    let started = time::OffsetDateTime::now_utc() - time::Duration::minutes(5);
    app.db.begin_upload(id, started).await.expect("pending");
    let dir = app.data_dir().join("blobs/documents");
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join(id.to_string()), b"sealed bytes").expect("blob");
    std::fs::write(dir.join(format!("{id}#7")), b"staged").expect("staging");
    let p = ins(25);
    app.open_record(&p).await;
    let kept = id_of(&app.upload(&p, &app.professional(1, Profession::Medecin), lab_report(1), b"%PDF kept").await);

    let cleaned = app.carnet.clean_interrupted_uploads(time::OffsetDateTime::now_utc()).await.expect("clean");
    assert_eq!(cleaned, 2);
    let names: Vec<String> = blob_files(&app).iter().filter_map(|f| f.file_name().map(|n| n.to_string_lossy().into_owned())).collect();
    assert_eq!(names, vec![kept], "only the complete deposit remains");
    assert!(app.db.pending_uploads(time::OffsetDateTime::now_utc(), 10).await.expect("pending").is_empty());
}

on_both_backends!(
    a_second_document_part_refuses_the_whole_deposit,
    a_professional_deposits_and_the_patient_reads_it_back,
    an_empty_document_round_trips,
    resubmission_is_idempotent_and_other_bytes_conflict,
    declared_size_and_hash_are_checked_and_nothing_is_stored,
    bad_metadata_gets_a_precise_error,
    only_active_qualified_records_are_fed,
    a_body_over_the_limit_is_refused_before_it_is_read,
    replacement_supersedes_and_withdrawal_hides,
    archive_and_unarchive,
    a_hidden_document_answers_like_a_missing_one,
    nothing_clinical_is_readable_at_rest,
    tampered_blobs_are_never_served,
    a_blob_under_another_patients_key_is_refused,
    destruction_shreds_and_old_blobs_stay_noise,
    key_rotation_rewraps_keys_and_leaves_blobs_untouched,
    an_interrupted_upload_leaves_nothing,
    a_killed_process_leaves_what_the_next_start_cleans,
);
