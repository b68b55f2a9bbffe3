//! The ledger's periodic full verification while serving: a ledger rewritten behind Carnet's back
//! stops every clinical read and write (503) and reaches the privacy officer's queue, once.

use axum::http::StatusCode;
use carnet_store::ReviewStore;

use crate::portal::dr_bernard;
use crate::support::{self, Backend, TestApp, ins};

/// An insider rewrites the first ledger entry in place (the append-only trigger dropped first).
pub(crate) async fn rewrite_the_first_entry(app: &TestApp) {
    match app.backend {
        Backend::Sqlite => {
            let ledger =
                sqlx::SqlitePool::connect(&format!("sqlite://{}", app.data_dir().join("ledger.db").display())).await.expect("ledger.db");
            sqlx::query("DROP TRIGGER IF EXISTS entries_no_update").execute(&ledger).await.expect("drop the trigger");
            sqlx::query("UPDATE entries SET entry = CAST(replace(CAST(entry AS TEXT), '\"at\":', '\"at\": ') AS BLOB) WHERE idx = 0")
                .execute(&ledger)
                .await
                .expect("tamper");
        }
        Backend::Postgres => {
            let url = app.postgres_url.as_deref().expect("PostgreSQL URL");
            let pool = sqlx::PgPool::connect(url).await.expect("connect");
            sqlx::query("DROP TRIGGER IF EXISTS entries_append_only ON ledger.entries").execute(&pool).await.expect("drop the trigger");
            sqlx::query(
                "UPDATE ledger.entries SET entry = convert_to(replace(convert_from(entry, 'UTF8'), '\"at\":', '\"at\": '), 'UTF8') WHERE idx = 0",
            )
            .execute(&pool)
            .await
            .expect("tamper");
        }
    }
}

/// Puts back the first entry `rewrite_the_first_entry` changed (what restoring a backup does).
pub(crate) async fn undo_the_rewrite_of_the_first_entry(app: &TestApp) {
    match app.backend {
        Backend::Sqlite => {
            let ledger =
                sqlx::SqlitePool::connect(&format!("sqlite://{}", app.data_dir().join("ledger.db").display())).await.expect("ledger.db");
            sqlx::query("UPDATE entries SET entry = CAST(replace(CAST(entry AS TEXT), '\"at\": ', '\"at\":') AS BLOB) WHERE idx = 0")
                .execute(&ledger)
                .await
                .expect("restore");
        }
        Backend::Postgres => {
            let url = app.postgres_url.as_deref().expect("PostgreSQL URL");
            let pool = sqlx::PgPool::connect(url).await.expect("connect");
            sqlx::query(
                "UPDATE ledger.entries SET entry = convert_to(replace(convert_from(entry, 'UTF8'), '\"at\": ', '\"at\":'), 'UTF8') WHERE idx = 0",
            )
            .execute(&pool)
            .await
            .expect("restore");
        }
    }
}

async fn a_rewritten_ledger_found_by_the_periodic_verification_stops_clinical_work(app: TestApp) {
    let patient = ins(61);
    app.open_record(&patient).await;
    let doctor = app.token(dr_bernard());
    let reply = app.upload(&patient, &doctor, support::lab_report(6101), b"%PDF-1.7 bilan").await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.raw);
    let id = reply.body["id"].as_str().expect("id").to_owned();
    let pause = std::time::Duration::ZERO;
    assert_eq!(app.carnet.verify_ledger_now(pause).await.expect("verify"), None, "an untouched ledger passes");
    assert_eq!(app.get(&format!("/api/documents/{id}/content"), &doctor).await.status, StatusCode::OK);
    assert!(app.db.find_review_items(Some("open"), 100).await.expect("queue").iter().all(|i| i.kind != "ledger"));

    rewrite_the_first_entry(&app).await;
    let problem = app.carnet.verify_ledger_now(pause).await.expect("verify").expect("the rewrite is found");
    assert!(problem.contains("entry 0"), "{problem}");
    assert_eq!(app.carnet.ledger_problem().as_deref(), Some(problem.as_str()));
    assert_eq!(app.get(&format!("/api/documents/{id}/content"), &doctor).await.status, StatusCode::SERVICE_UNAVAILABLE);
    let reply = app.upload(&patient, &doctor, support::lab_report(6102), b"%PDF-1.7 autre").await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "nothing is written on top: {}", reply.raw);
    let ready = app.get("/ready", &doctor).await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready.body["status"], "ledger untrusted");

    // The privacy officer's queue holds one item, however often the verification runs again.
    assert!(app.carnet.verify_ledger_now(pause).await.expect("verify").is_some());
    let items: Vec<_> =
        app.db.find_review_items(Some("open"), 100).await.expect("queue").into_iter().filter(|i| i.kind == "ledger").collect();
    assert_eq!(items.len(), 1, "{items:?}");
    assert!(items[0].summary.contains("entry 0"), "{}", items[0].summary);
    let officer = carnet_domain::Actor {
        issuer: "urn:test".into(),
        subject: "dpo".into(),
        name: Some("Hélène ROUX".into()),
        kind: carnet_domain::ActorKind::PrivacyOfficer,
        scopes: carnet_domain::Scopes::RoleOnly,
        client: None,
    };
    let queue = app.page("/revue", &app.portal_session(&officer).await).await;
    assert_eq!(queue.status, StatusCode::OK, "{}", queue.raw);
    assert!(queue.raw.contains("registre des accès altéré"), "the officer reads it in French: {}", queue.raw);
}

on_both_backends!(a_rewritten_ledger_found_by_the_periodic_verification_stops_clinical_work);
