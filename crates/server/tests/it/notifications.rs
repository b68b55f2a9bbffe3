//! Notifications reach the patient (and the médecin traitant) through a real SMTP server we did
//! not write (PyPI `aiosmtpd`, started here) and a webhook; the outbox keeps what could not be
//! delivered, across a restart, and retries with backoff.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use carnet_domain::{Profession, Professional};
use carnet_notify::{CourierSettings, SmtpCourier};
use carnet_store::NotificationStore;
use serde_json::json;
use support::{Backend, TestApp, ins, lab_report, rpps};

/// An `aiosmtpd` child writing every message it receives into a maildir; killed on drop.
struct SmtpServer {
    child: Child,
    port: u16,
    maildir: PathBuf,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("port")
}

fn start_smtp(dir: &Path, port: u16) -> SmtpServer {
    let python = std::env::var("CARNET_PYTHON")
        .expect("CARNET_PYTHON is not set: run the suite with scripts/test (it installs aiosmtpd in .venv-test)");
    let maildir = dir.join("maildir");
    let child = Command::new(python)
        .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "aiosmtpd.handlers.Mailbox"])
        .arg(&maildir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("aiosmtpd starts");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "aiosmtpd never listened (is it installed? pip install -r scripts/requirements-test.txt)");
        std::thread::sleep(Duration::from_millis(50));
    }
    SmtpServer { child, port, maildir }
}

/// Every message the SMTP server stored, as text.
fn mails(maildir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for sub in ["new", "cur"] {
        if let Ok(entries) = std::fs::read_dir(maildir.join(sub)) {
            for e in entries.flatten() {
                out.push(std::fs::read_to_string(e.path()).unwrap_or_default());
            }
        }
    }
    out
}

fn courier(port: u16) -> SmtpCourier {
    SmtpCourier::new(&CourierSettings {
        smtp_url: Some(format!("smtp://127.0.0.1:{port}")),
        from: "Carnet <noreply@carnet.test>".into(),
        timeout: Duration::from_secs(5),
    })
    .expect("courier")
}

/// Decodes quoted-printable soft line breaks and the accents our French messages carry, enough
/// to search the text.
fn readable(mail: &str) -> String {
    mail.replace("=\r\n", "").replace("=\n", "")
}

#[tokio::test]
async fn the_patient_and_the_medecin_traitant_are_told_by_email_and_webhook() {
    let app = TestApp::new(Backend::Sqlite).await;
    let tmp = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let smtp = start_smtp(tmp.path(), port);
    let courier = courier(smtp.port);

    let (hook_url, hooks) = webhook_receiver().await;

    let p = ins(1);
    app.open_record(&p).await;
    let patient = app.patient(&p);
    let prefs = json!({"email": "camille@example.org", "email_enabled": true, "webhook_url": hook_url});
    let r = app.call(axum::http::Method::PUT, &format!("/api/records/{p}/notification-preferences"), Some(&patient), Some(prefs)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert_eq!(app.get(&format!("/api/records/{p}/notification-preferences"), &patient).await.body["email"], "camille@example.org");
    let bad = json!({"email": "not an address", "email_enabled": true});
    assert_eq!(
        app.call(axum::http::Method::PUT, &format!("/api/records/{p}/notification-preferences"), Some(&patient), Some(bad)).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let other = app
        .call(axum::http::Method::PUT, &format!("/api/records/{p}/notification-preferences"), Some(&app.patient(&ins(2))), Some(json!({})))
        .await;
    assert_eq!(other.status, StatusCode::NOT_FOUND, "only the holder");

    // The médecin traitant is in the directory with an e-mail address.
    let operator = carnet_domain::Actor {
        issuer: "t".into(),
        subject: "op".into(),
        name: None,
        kind: carnet_domain::ActorKind::Operator,
        scopes: carnet_domain::Scopes::RoleOnly,
        client: None,
    };
    let mt = Professional {
        rpps: rpps(7),
        family_name: "BERNARD".into(),
        given_name: "Sophie".into(),
        profession: Profession::Medecin,
        specialty: None,
        organisation: None,
        email: Some("dr.bernard@example.org".into()),
    };
    app.carnet.save_professionals(&operator, vec![mt]).await.expect("directory");
    let r = app
        .post(&format!("/api/records/{p}/policy/changes"), &patient, json!({"change": "set_medecin_traitant", "rpps": rpps(7).to_string()}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);

    // Events: a new document, a first access by an authorized professional, an emergency access.
    let doctor = app.professional(1, Profession::Medecin);
    app.upload(&p, &doctor, lab_report(1), b"%PDF").await;
    app.post(&format!("/api/records/{p}/policy/changes"), &patient, json!({"change": "authorize", "rpps": rpps(3).to_string()})).await;
    let nurse = app.professional(3, Profession::Infirmier);
    app.get(&format!("/api/records/{p}/documents"), &nurse).await;
    app.get(&format!("/api/records/{p}/documents"), &nurse).await;
    let e = app
        .post(
            &format!("/api/records/{p}/emergency-access"),
            &app.professional(9, Profession::Medecin),
            json!({"kind": "bris_de_glace", "justification": "urgence vitale"}),
        )
        .await;
    assert_eq!(e.status, StatusCode::CREATED, "{}", e.raw);

    let report = app.carnet.deliver_notifications(&courier).await.expect("deliver");
    assert_eq!(report.failed, 0, "{report:?}");
    let mails: Vec<String> = mails(&smtp.maildir).iter().map(|m| readable(m)).collect();
    let to_patient: Vec<&String> = mails.iter().filter(|m| m.contains("camille@example.org")).collect();
    let to_mt: Vec<&String> = mails.iter().filter(|m| m.contains("dr.bernard@example.org")).collect();
    assert!(to_patient.iter().any(|m| m.contains("nouveau document")), "new document: {mails:#?}");
    assert_eq!(to_patient.iter().filter(|m| m.contains("pour la premi")).count(), 1, "one first-access notice, not two");
    assert!(to_patient.iter().any(|m| m.contains("bris de glace")), "emergency to the patient");
    assert!(to_mt.iter().any(|m| m.contains("bris de glace")), "emergency to the médecin traitant");
    assert!(mails.iter().all(|m| !m.contains("Bilan sanguin")), "no clinical content (the title) in any message");
    let hooks = hooks.lock().expect("lock").clone();
    assert!(hooks.iter().any(|h| h["kind"] == "emergency_access"), "{hooks:?}");
    // Nothing is sent twice.
    assert_eq!(app.carnet.deliver_notifications(&courier).await.expect("again").delivered, 0);
}

/// A webhook receiver (an SMS gateway, say) on loopback: its URL, and what it received.
async fn webhook_receiver() -> (String, std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>) {
    let hooks = std::sync::Arc::new(std::sync::Mutex::new(Vec::<serde_json::Value>::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let hook_url = format!("http://{}/sms", listener.local_addr().expect("addr"));
    let sink = hooks.clone();
    let receiver = axum::Router::new().route(
        "/sms",
        axum::routing::post(move |axum::Json(v): axum::Json<serde_json::Value>| {
            let sink = sink.clone();
            async move {
                sink.lock().expect("lock").push(v);
                StatusCode::NO_CONTENT
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, receiver).await });
    (hook_url, hooks)
}

#[tokio::test]
async fn the_kinds_a_patient_mutes_are_not_sent_but_an_emergency_always_is() {
    let app = TestApp::new(Backend::Sqlite).await;
    let (hook_url, hooks) = webhook_receiver().await;

    let p = ins(1);
    app.open_record(&p).await;
    let patient = app.patient(&p);
    let url = format!("/api/records/{p}/notification-preferences");
    // An emergency cannot be muted; an unknown kind is named.
    for refused in [json!(["emergency_access"]), json!(["new_document", "weather"])] {
        let body = json!({"webhook_url": hook_url, "muted_kinds": refused});
        let r = app.call(axum::http::Method::PUT, &url, Some(&patient), Some(body)).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.raw);
    }
    assert_eq!(app.get(&url, &patient).await.body["webhook_url"], serde_json::Value::Null, "nothing saved");
    let body = json!({"webhook_url": hook_url, "muted_kinds": ["first_access", "new_document", "new_document"]});
    let r = app.call(axum::http::Method::PUT, &url, Some(&patient), Some(body)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert_eq!(app.get(&url, &patient).await.body["muted_kinds"], json!(["new_document", "first_access"]));

    // A new document, a first access, an emergency access.
    app.upload(&p, &app.professional(1, Profession::Medecin), lab_report(1), b"%PDF").await;
    app.post(&format!("/api/records/{p}/policy/changes"), &patient, json!({"change": "authorize", "rpps": rpps(3).to_string()})).await;
    app.get(&format!("/api/records/{p}/documents"), &app.professional(3, Profession::Infirmier)).await;
    let e = app
        .post(
            &format!("/api/records/{p}/emergency-access"),
            &app.professional(9, Profession::Medecin),
            json!({"kind": "bris_de_glace", "justification": "urgence vitale"}),
        )
        .await;
    assert_eq!(e.status, StatusCode::CREATED, "{}", e.raw);
    let report = app.carnet.deliver_notifications(&courier(free_port())).await.expect("deliver");
    assert_eq!(report.failed, 0, "{report:?}");
    let kinds: Vec<String> = hooks.lock().expect("lock").iter().filter_map(|h| h["kind"].as_str().map(str::to_owned)).collect();
    assert!(kinds.contains(&"emergency_access".to_owned()), "{kinds:?}");
    assert!(!kinds.iter().any(|k| k == "new_document" || k == "first_access"), "muted: {kinds:?}");
    assert!(report.skipped >= 2, "the muted ones are done with, not retried: {report:?}");
}

#[tokio::test]
async fn the_outbox_keeps_what_could_not_be_sent_across_a_restart() {
    let app = TestApp::new(Backend::Sqlite).await;
    let tmp = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let p = ins(5);
    app.open_record(&p).await;
    let patient = app.patient(&p);
    app.call(
        axum::http::Method::PUT,
        &format!("/api/records/{p}/notification-preferences"),
        Some(&patient),
        Some(json!({"email": "p5@example.org", "email_enabled": true})),
    )
    .await;
    app.upload(&p, &app.professional(1, Profession::Medecin), lab_report(1), b"%PDF").await;

    // The relay is down: the attempt fails and is kept, with a backoff.
    let down = app.carnet.deliver_notifications(&courier(port)).await.expect("round");
    assert_eq!((down.delivered, down.failed), (0, 1));
    assert_eq!(app.db.outbox_counts().await.expect("counts"), (0, 1));
    assert_eq!(app.carnet.deliver_notifications(&courier(port)).await.expect("round").failed, 0, "not retried before its backoff");

    // A restart: a new service over the same database (what a process restart gives).
    let db_url = format!("sqlite://{}", app.data_dir().join("carnet.db").display());
    let db = carnet_store::Database::connect(&db_url).await.expect("reopen");
    assert_eq!(db.outbox_counts().await.expect("counts"), (0, 1), "nothing lost");

    // The relay comes back; after the backoff the message goes.
    let smtp = start_smtp(tmp.path(), port);
    app.clock.advance(time::Duration::minutes(2));
    let up = app.carnet.deliver_notifications(&courier(smtp.port)).await.expect("round");
    assert_eq!((up.delivered, up.failed), (1, 0));
    assert!(mails(&smtp.maildir).iter().any(|m| m.contains("p5@example.org")));
}

#[test]
fn backoff_grows_and_is_capped() {
    let b: Vec<i64> = (0..25).map(|a| carnet_service::backoff(a).whole_seconds()).collect();
    assert_eq!(&b[..4], &[30, 60, 120, 240]);
    assert!(b.windows(2).all(|w| w[0] <= w[1]));
    assert_eq!(b[24], 6 * 3600);
}

/// The name a "new document" notice gives its author is free text (declared by the feeding
/// software, or the depositor's): the outbox keeps it sealed under the patient's key, and the
/// delivery opens it.
#[tokio::test]
async fn the_authors_name_waits_sealed_in_the_outbox_and_is_delivered_open() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let app = TestApp::new(backend).await;
        let (hook_url, hooks) = webhook_receiver().await;
        let p = ins(6);
        app.open_record(&p).await;
        let url = format!("/api/records/{p}/notification-preferences");
        let r = app.call(axum::http::Method::PUT, &url, Some(&app.patient(&p)), Some(json!({"webhook_url": hook_url}))).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
        let author = app.token(carnet_auth::TokenClaims {
            name: Some("Dr Anne Lefebvre".into()),
            rpps: Some(rpps(4).to_string()),
            profession: Some("10".into()),
            ..carnet_auth::TokenClaims::new("pro-4", carnet_domain::Role::Professional)
        });
        assert_eq!(app.upload(&p, &author, lab_report(1), b"%PDF").await.status, StatusCode::CREATED);

        let waiting = app.db.due_messages(time::OffsetDateTime::now_utc() + Duration::from_secs(86_400), 10).await.expect("due");
        let notice = waiting.iter().find(|m| m.kind == "new_document").expect("the notice waits");
        assert!(!notice.payload.contains("Lefebvre"), "{backend:?}: the name in clear in the outbox: {}", notice.payload);
        assert!(notice.payload.contains("\"actor_sealed\":\"sealed:v1:"), "{backend:?}: {}", notice.payload);

        let report = app.carnet.deliver_notifications(&courier(free_port())).await.expect("deliver");
        assert_eq!((report.delivered, report.failed), (1, 0), "{backend:?}: {report:?}");
        let hooks = hooks.lock().expect("lock").clone();
        let text = hooks.iter().find(|h| h["kind"] == "new_document").and_then(|h| h["text"].as_str()).unwrap_or_default().to_owned();
        assert!(text.contains("par Dr Anne Lefebvre"), "{backend:?}: {hooks:?}");
    }
}
