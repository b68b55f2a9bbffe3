//! The privacy officer's pages: the review queue, acknowledging and annotating an emergency
//! access as `/api` does (the same ledger entries), the French refusal of an empty note with
//! nothing recorded, and no such page for anyone else.

use axum::http::StatusCode;
use carnet_auth::TokenClaims;
use carnet_domain::{Actor, ActorKind, Profession, Role, Scopes};
use carnet_service::HistoryQuery;
use serde_json::json;

use crate::portal::{demo_person, dr_bernard, marie_actor, portal_offering, walk};
use crate::support::{self, TestApp, ins};

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

/// Marie's record (`ins(77)`) opened in an emergency by Dr Bernard through `/api`; the id of
/// the queue's item.
async fn bris_de_glace(app: &TestApp) -> String {
    app.open_record(&ins(77)).await;
    let url = format!("/api/records/{}/emergency-access", ins(77));
    let opened = app.post(&url, &app.token(dr_bernard()), json!({"kind": "bris_de_glace", "justification": "Malaise au cabinet"})).await;
    assert_eq!(opened.status, StatusCode::CREATED, "{}", opened.raw);
    let items = app.carnet.review_items(&officer(), Some("open")).await.expect("the queue");
    assert_eq!(items.len(), 1);
    items[0].id.clone()
}

/// The review actions the ledger holds about Marie's record, as the officer reads its history.
async fn review_entries(app: &TestApp) -> Vec<(String, String)> {
    let history =
        app.carnet.access_history(&officer(), &ins(77), HistoryQuery { limit: 200, ..HistoryQuery::default() }).await.expect("history");
    history
        .entries
        .into_iter()
        .filter(|e| e.entry.action.starts_with("review."))
        .map(|e| (e.entry.action, e.entry.actor.reference))
        .collect()
}

async fn the_officer_reviews_a_bris_de_glace_from_the_queue(app: TestApp) {
    let id = bris_de_glace(&app).await;
    let visit = app.portal_session(&officer()).await;
    // The home of the privacy officer is the queue.
    let home = app.page("/", &visit).await;
    assert_eq!(home.status, StatusCode::SEE_OTHER);
    assert_eq!(home.headers.get("location").and_then(|v| v.to_str().ok()), Some("/revue"));
    let queue = app.page("/revue", &visit).await;
    assert_eq!(queue.status, StatusCode::OK, "{}", queue.raw);
    for shown in ["Accès en urgence (bris de glace)", "Dr Paul Bernard (Médecin", "Malaise au cabinet", "<strong>À examiner</strong>"] {
        assert!(queue.raw.contains(shown), "{shown}: {}", queue.raw);
    }
    assert!(!queue.raw.contains("MARTIN") && !queue.raw.contains("Jeanne"), "no identity traits for the officer");

    // An empty note is refused next to its field, and nothing is recorded.
    let empty = app.submit(&format!("/revue/{id}/note"), &visit, &[("note", "   "), ("vue", "")]).await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST, "{}", empty.raw);
    assert!(
        empty.raw.contains("Écrivez la note avant de l’ajouter.") && empty.raw.contains(&format!("id=\"note-{id}-erreur\"")),
        "{}",
        empty.raw
    );
    let too_long = "a".repeat(2001);
    let long = app.submit(&format!("/revue/{id}/examiner"), &visit, &[("note", too_long.as_str()), ("vue", "")]).await;
    assert_eq!(long.status, StatusCode::BAD_REQUEST, "{}", long.raw);
    assert!(long.raw.contains("La note est trop longue"), "{}", long.raw);
    assert!(review_entries(&app).await.is_empty(), "nothing recorded");
    let item = app.carnet.review_items(&officer(), Some("open")).await.expect("queue");
    assert_eq!((item.len(), item[0].notes.as_str()), (1, "[]"));

    // A note, then the acknowledgement: each a ledger entry, as through /api.
    let noted = app.submit(&format!("/revue/{id}/note"), &visit, &[("note", "Appel au cabinet prévu"), ("vue", "")]).await;
    assert_eq!(noted.status, StatusCode::SEE_OTHER, "{}", noted.raw);
    assert_eq!(noted.headers.get("location").and_then(|v| v.to_str().ok()), Some("/revue?fait=note"));
    let done = app.submit(&format!("/revue/{id}/examiner"), &visit, &[("note", ""), ("vue", "")]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.raw);
    assert_eq!(done.headers.get("location").and_then(|v| v.to_str().ok()), Some("/revue?fait=examine"));
    let officer_ref = officer().reference();
    assert_eq!(
        review_entries(&app).await,
        vec![("review.annotate".to_owned(), officer_ref.clone()), ("review.acknowledge".to_owned(), officer_ref)]
    );
    let open = app.page("/revue?fait=examine", &visit).await;
    assert!(open.raw.contains("marqué comme examiné") && open.raw.contains("Aucun accès à examiner"), "{}", open.raw);
    let reviewed = app.page("/revue?vue=examines", &visit).await;
    assert!(reviewed.raw.contains("Malaise au cabinet") && reviewed.raw.contains("Appel au cabinet prévu"), "{}", reviewed.raw);
    // Twice: said, nothing more recorded.
    let again = app.submit(&format!("/revue/{id}/examiner"), &visit, &[("note", ""), ("vue", "")]).await;
    assert_eq!(again.headers.get("location").and_then(|v| v.to_str().ok()), Some("/revue?fait=deja"));
    assert_eq!(review_entries(&app).await.len(), 2);
}

async fn nobody_else_finds_the_queue_or_its_forms(app: TestApp) {
    let id = bris_de_glace(&app).await;
    let doctor = Actor {
        subject: "pro-3".into(),
        name: None,
        kind: ActorKind::Professional(carnet_domain::ProfessionalIdentity {
            rpps: support::rpps(3),
            profession: Profession::Medecin,
            specialty: None,
            organisation: None,
        }),
        ..officer()
    };
    for person in [doctor, marie_actor()] {
        let visit = app.portal_session(&person).await;
        let queue = app.page("/revue", &visit).await;
        assert_eq!(queue.status, StatusCode::NOT_FOUND, "{:?}", person.kind);
        assert!(!queue.raw.contains("Malaise au cabinet"));
        for action in ["examiner", "note"] {
            let posted = app.submit(&format!("/revue/{id}/{action}"), &visit, &[("note", "vu"), ("vue", "")]).await;
            assert_eq!(posted.status, StatusCode::NOT_FOUND, "{:?} {action}", person.kind);
        }
    }
    assert!(review_entries(&app).await.is_empty(), "no review recorded");
    let item = app.carnet.review_items(&officer(), Some("open")).await.expect("queue");
    assert_eq!((item.len(), item[0].notes.as_str()), (1, "[]"), "still open, without a note");
    // The privacy officer gets it.
    let visit = app.portal_session(&officer()).await;
    assert_eq!(app.page("/revue", &visit).await.status, StatusCode::OK);
    assert_eq!(app.page("/revue?vue=examines", &visit).await.status, StatusCode::OK);
}

on_both_backends!(the_officer_reviews_a_bris_de_glace_from_the_queue, nobody_else_finds_the_queue_or_its_forms);

#[tokio::test]
async fn the_queue_is_reviewed_in_chromium() {
    let dpo = TokenClaims { name: Some("Claire Delorme".into()), ..TokenClaims::new("dpo", Role::PrivacyOfficer) };
    let (app, origin) = portal_offering(vec![demo_person("Claire Delorme (déléguée à la protection des données)", dpo)]).await;
    bris_de_glace(&app).await;
    let steps = [
        (format!("{origin}/connexion"), 200, "Choisissez une personne de démonstration"),
        ("click:Claire Delorme (déléguée à la protection des données)".to_owned(), 200, "Malaise au cabinet"),
        ("fill:Note=Appel au médecin : motif confirmé".to_owned(), 0, ""),
        ("click:Marquer comme examiné".to_owned(), 200, "L’élément est marqué comme examiné."),
        ("link:Examinés".to_owned(), 200, "Appel au médecin : motif confirmé"),
    ];
    let checked = walk("revue", &steps).await;
    assert!(checked[1].url.ends_with("/revue"), "the officer's home is the queue: {}", checked[1].url);
    assert!(checked[3].text.contains("Aucun accès à examiner"), "{}", checked[3].text);
    // The acknowledgement is in the ledger, under the officer's name.
    let history =
        app.carnet.access_history(&officer(), &ins(77), HistoryQuery { limit: 200, ..HistoryQuery::default() }).await.expect("history");
    let acknowledged: Vec<_> = history.entries.iter().filter(|e| e.entry.action == "review.acknowledge").collect();
    assert_eq!(acknowledged.len(), 1);
    assert_eq!(acknowledged[0].entry.actor.name.as_deref(), Some("Claire Delorme"));
}

#[tokio::test]
async fn an_enumeration_alert_says_who_and_what_without_a_record() {
    let config = carnet_service::ServiceConfig { enumeration_limit: 2, ..carnet_service::ServiceConfig::default() };
    let app = TestApp::with_config(support::Backend::Sqlite, carnet_server::HttpLimits::default(), config).await;
    let scanner = app.token(TokenClaims {
        name: Some("Dr Jean Curieux".into()),
        rpps: Some(support::rpps(60).to_string()),
        profession: Some("10".into()),
        ..TokenClaims::new("curieux", Role::Professional)
    });
    for n in 70..74 {
        app.open_record(&ins(n)).await;
        let authorize = json!({"change": "authorize", "rpps": support::rpps(60).to_string()});
        let allowed = app.post(&format!("/api/records/{}/policy/changes", ins(n)), &app.patient(&ins(n)), authorize).await;
        assert!(allowed.status.is_success(), "{}", allowed.raw);
        let _ = app.get(&format!("/api/records/{}/documents", ins(n)), &scanner).await;
    }
    let queue = app.page("/revue", &app.portal_session(&officer()).await).await;
    assert_eq!(queue.status, StatusCode::OK, "{}", queue.raw);
    assert!(queue.raw.contains("Alerte\u{a0}: nombreux dossiers ouverts"), "{}", queue.raw);
    assert!(queue.raw.contains("Dr Jean Curieux (Médecin, RPPS"), "{}", queue.raw);
    assert!(queue.raw.contains("a ouvert plus de 2 dossiers différents en moins d’une heure"), "{}", queue.raw);
    assert!(!queue.raw.contains("<dt>Dossier</dt>"), "an alert names no record: {}", queue.raw);
}
