//! Free text sealed at rest, as people see it: each page that showed an emergency justification,
//! a note or a close reason still shows it to those allowed and to no one else; once the record
//! is crypto-shredded, the justification is unreadable everywhere and the pages say so. (What
//! is at rest: `documents::nothing_clinical_is_readable_at_rest`.)

use axum::http::{Method, StatusCode};
use carnet_domain::{Actor, ActorKind, Profession, ProfessionalIdentity, Role, Scopes};
use carnet_service::{HistoryQuery, UNREADABLE_JUSTIFICATION};
use carnet_store::{KeyStore, RecordStore, ReviewStore};
use serde_json::json;

use crate::portal::{dr_bernard, marie_actor};
use crate::support::{self, TestApp, ins, rpps};

const JUSTIFICATION: &str = "Malaise au cabinet, patiente inconsciente";
const NOTE: &str = "Appel du Dr Bernard prévu lundi";

fn officer() -> Actor {
    Actor {
        issuer: carnet_auth::DevIssuer::ISSUER.into(),
        subject: "dpo".into(),
        name: Some("Claire Delorme".into()),
        kind: ActorKind::PrivacyOfficer,
        scopes: Scopes::RoleOnly,
        client: None,
    }
}

fn bernard() -> Actor {
    Actor {
        issuer: carnet_auth::DevIssuer::ISSUER.into(),
        subject: "dr-bernard".into(),
        name: Some("Dr Paul Bernard".into()),
        kind: ActorKind::Professional(ProfessionalIdentity {
            rpps: rpps(77),
            profession: Profession::Medecin,
            specialty: None,
            organisation: None,
        }),
        scopes: Scopes::RoleOnly,
        client: None,
    }
}

/// Another doctor, with nothing to do with Marie's record.
fn other_doctor() -> Actor {
    Actor {
        subject: "pro-5".into(),
        name: Some("Dr Luc Girard".into()),
        kind: ActorKind::Professional(ProfessionalIdentity {
            rpps: rpps(5),
            profession: Profession::Medecin,
            specialty: None,
            organisation: None,
        }),
        ..bernard()
    }
}

/// Marie's record (`ins(77)`) opened in an emergency by Dr Bernard, and the privacy officer's
/// note on it.
async fn bris_de_glace_reviewed(app: &TestApp) {
    app.open_record(&ins(77)).await;
    let url = format!("/api/records/{}/emergency-access", ins(77));
    let opened = app.post(&url, &app.token(dr_bernard()), json!({"kind": "bris_de_glace", "justification": JUSTIFICATION})).await;
    assert_eq!(opened.status, StatusCode::CREATED, "{}", opened.raw);
    let items = app.carnet.review_items(&officer(), Some("open")).await.expect("the queue");
    app.carnet.review(&officer(), &items[0].id, false, Some(NOTE)).await.expect("a note");
}

async fn the_access_history_shows_the_justification_to_the_patient_and_to_no_one_else(app: TestApp) {
    bris_de_glace_reviewed(&app).await;
    let p = ins(77);
    // /api and FHIR: the patient reads it; another doctor learns nothing.
    let history = app.get(&format!("/api/records/{p}/access-history?limit=200"), &app.patient(&p)).await;
    assert_eq!(history.status, StatusCode::OK, "{}", history.raw);
    assert!(history.body["entries"].as_array().into_iter().flatten().any(|e| e["justification"] == JUSTIFICATION), "{}", history.raw);
    let other = app.token(other_doctor_claims());
    let refused = app.get(&format!("/api/records/{p}/access-history?limit=200"), &other).await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND, "{}", refused.raw);
    assert!(!refused.raw.contains(JUSTIFICATION));
    let audit = app.fhir_get(&format!("/fhir/AuditEvent?patient={p}"), &app.patient(&p)).await;
    assert_eq!(audit.status, StatusCode::OK, "{}", audit.raw);
    assert!(audit.raw.contains(JUSTIFICATION), "{}", audit.raw);
    let audit = app.fhir_get(&format!("/fhir/AuditEvent?patient={p}"), &other).await;
    assert!(audit.status.is_client_error() && !audit.raw.contains(JUSTIFICATION), "{}", audit.raw);
    // The portal: her history and her home; another doctor's pages never show it.
    let marie = app.portal_session(&marie_actor()).await;
    for page in ["/historique", "/"] {
        let shown = app.page(page, &marie).await;
        assert_eq!(shown.status, StatusCode::OK, "{page}: {}", shown.raw);
        assert!(shown.raw.contains(JUSTIFICATION), "{page}: {}", shown.raw);
    }
    let girard = app.portal_session(&other_doctor()).await;
    for page in ["/historique", "/", "/activite"] {
        let shown = app.page(page, &girard).await;
        assert!(!shown.raw.contains(JUSTIFICATION), "{page}: {}", shown.raw);
    }
    // Her export carries it; nobody else gets one.
    let export = app.carnet.export_record(&marie_actor(), &p).await.expect("her export");
    assert!(export.history.iter().any(|e| e.entry.justification.as_deref() == Some(JUSTIFICATION)));
    assert!(app.carnet.export_record(&other_doctor(), &p).await.is_err());
}

async fn the_review_queue_shows_the_justification_and_notes_to_the_officer_only(app: TestApp) {
    bris_de_glace_reviewed(&app).await;
    let queue = app.page("/revue", &app.portal_session(&officer()).await).await;
    assert_eq!(queue.status, StatusCode::OK, "{}", queue.raw);
    assert!(queue.raw.contains(JUSTIFICATION) && queue.raw.contains(NOTE), "{}", queue.raw);
    let api = app.get("/api/review-items", &app.role(Role::PrivacyOfficer)).await;
    assert!(api.raw.contains(NOTE), "{}", api.raw);
    // A doctor (even the one who opened it) has no queue.
    let page = app.page("/revue", &app.portal_session(&bernard()).await).await;
    assert_ne!(page.status, StatusCode::OK);
    assert!(!page.raw.contains(NOTE));
    let api = app.get("/api/review-items", &app.token(dr_bernard())).await;
    assert_eq!(api.status, StatusCode::FORBIDDEN, "{}", api.raw);
    assert!(!api.raw.contains(NOTE));
    // The notes' service key follows a master-key rotation like the patients' keys.
    let operator = Actor { subject: "ops".into(), name: None, kind: ActorKind::Operator, ..officer() };
    let report = app.carnet.rotate_master_key(&operator).await.expect("rotate");
    assert_eq!(report.retired.len(), 1);
    let items = app.carnet.review_items(&officer(), None).await.expect("the queue");
    assert!(items[0].notes.contains(NOTE), "{items:?}");
}

async fn the_close_reason_is_shown_to_those_who_see_the_record_s_identity(app: TestApp) {
    let p = ins(77);
    app.open_record(&p).await;
    let closed = app.post(&format!("/api/records/{p}/close"), &app.patient(&p), json!({"reason": "Je déménage à Montréal"})).await;
    assert_eq!(closed.status, StatusCode::OK, "{}", closed.raw);
    assert_eq!(closed.body["close_reason"], "Je déménage à Montréal");
    assert_eq!(app.get(&format!("/api/records/{p}"), &app.patient(&p)).await.body["close_reason"], "Je déménage à Montréal");
    let page = app.page("/dossier", &app.portal_session(&marie_actor()).await).await;
    assert!(page.raw.contains("Je déménage à Montréal"), "{}", page.raw);
    // An insurer agent reads the status, never the reason.
    let insurer = app.get(&format!("/api/records/{p}"), &app.role(Role::InsurerAgent)).await;
    assert_eq!(insurer.status, StatusCode::OK, "{}", insurer.raw);
    assert!(insurer.body.get("close_reason").is_none() && !insurer.raw.contains("Montréal"), "{}", insurer.raw);
    // Reopened, there is none.
    let reopened = app.call(Method::POST, &format!("/api/records/{p}/reopen"), Some(&app.patient(&p)), None).await;
    assert!(reopened.body.get("close_reason").is_none(), "{}", reopened.raw);
}

async fn once_the_record_is_shredded_the_justification_is_unreadable_and_the_pages_say_so(app: TestApp) {
    bris_de_glace_reviewed(&app).await;
    let p = ins(77);
    let destroy =
        app.post(&format!("/api/records/{p}/destruction-request"), &app.patient(&p), json!({"reason": "je quitte le service"})).await;
    assert_eq!(destroy.status, StatusCode::OK, "{}", destroy.raw);
    assert_eq!(app.carnet.sweep().await.expect("sweep").destroyed, 1);
    assert_eq!(app.db.find_patient_key(&p).await.expect("key"), None, "shredded");

    // The officer's queue and the doctor's activity still list the access, without its motive.
    let queue = app.page("/revue", &app.portal_session(&officer()).await).await;
    assert_eq!(queue.status, StatusCode::OK, "{}", queue.raw);
    assert!(queue.raw.contains(UNREADABLE_JUSTIFICATION) && !queue.raw.contains(JUSTIFICATION), "{}", queue.raw);
    // The officer's notes are theirs, under a service key: not shredded with the record.
    assert!(queue.raw.contains(NOTE), "{}", queue.raw);
    let activity = app.page("/activite", &app.portal_session(&bernard()).await).await;
    assert_eq!(activity.status, StatusCode::OK, "{}", activity.raw);
    assert!(activity.raw.contains(UNREADABLE_JUSTIFICATION) && !activity.raw.contains(JUSTIFICATION), "{}", activity.raw);

    // Marie comes back: a new record, a new key, under which the old opening does not open.
    app.open_record(&p).await;
    let activity = app.page("/activite", &app.portal_session(&bernard()).await).await;
    assert!(activity.raw.contains(UNREADABLE_JUSTIFICATION) && !activity.raw.contains(JUSTIFICATION), "{}", activity.raw);
    let history =
        app.carnet.access_history(&marie_actor(), &p, HistoryQuery { limit: 200, ..HistoryQuery::default() }).await.expect("history");
    let old = history.entries.iter().find(|e| e.entry.action == "emergency.bris_de_glace").expect("the old access");
    assert_eq!(old.entry.justification.as_deref(), Some(UNREADABLE_JUSTIFICATION));
    // The ledger entry itself never held the text: only its commitment.
    let bytes = String::from_utf8_lossy(&old.bytes);
    assert!(bytes.contains("\"justification_commitment\":\"") && !bytes.contains("Malaise"), "{bytes}");
}

async fn what_an_older_carnet_left_in_clear_is_sealed_by_the_sweep(app: TestApp) {
    bris_de_glace_reviewed(&app).await;
    let p = ins(77);
    let closed = app.post(&format!("/api/records/{p}/close"), &app.patient(&p), json!({"reason": "Je déménage"})).await;
    assert_eq!(closed.status, StatusCode::OK, "{}", closed.raw);
    // As a Carnet from before sealing wrote them.
    let mut record = app.db.find_record_by_ins(&p).await.expect("find").expect("live");
    record.close_reason = Some("Motif d’avant".into());
    app.db.save_record(&record, record.status).await.expect("clear close reason");
    let items = app.db.find_review_items(None, 10).await.expect("items");
    let mut item = items.into_iter().next().expect("the item");
    item.notes = json!([{"by": "dpo", "at": "2026-03-02T09:00:00Z", "text": "Note d’avant"}]).to_string();
    app.db.save_review_item(&item).await.expect("clear notes");

    assert_eq!(app.carnet.sweep().await.expect("sweep").sealed, 2);
    let stored = app.db.find_record_by_ins(&p).await.expect("find").expect("live").close_reason.unwrap_or_default();
    assert!(stored.starts_with("sealed:v1:") && !stored.contains("avant"), "{stored}");
    let stored = app.db.find_review_item(&item.id).await.expect("find").expect("the item").notes;
    assert!(stored.starts_with("sealed:v1:") && !stored.contains("avant"), "{stored}");
    assert_eq!(app.carnet.sweep().await.expect("sweep again").sealed, 0);
    // Read as before.
    assert_eq!(app.get(&format!("/api/records/{p}"), &app.patient(&p)).await.body["close_reason"], "Motif d’avant");
    assert!(app.get("/api/review-items", &app.role(Role::PrivacyOfficer)).await.raw.contains("Note d’avant"));
}

/// `other_doctor`'s token.
fn other_doctor_claims() -> carnet_auth::TokenClaims {
    carnet_auth::TokenClaims {
        name: Some("Dr Luc Girard".into()),
        rpps: Some(rpps(5).to_string()),
        profession: Some("10".into()),
        ..carnet_auth::TokenClaims::new("pro-5", Role::Professional)
    }
}

on_both_backends!(
    the_access_history_shows_the_justification_to_the_patient_and_to_no_one_else,
    the_review_queue_shows_the_justification_and_notes_to_the_officer_only,
    the_close_reason_is_shown_to_those_who_see_the_record_s_identity,
    once_the_record_is_shredded_the_justification_is_unreadable_and_the_pages_say_so,
    what_an_older_carnet_left_in_clear_is_sealed_by_the_sweep,
);
