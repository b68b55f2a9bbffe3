//! *Mon activité*: a professional's own entries of the ledger and emergency accesses, never
//! another's; the names shown are those of the records the entries name; reading the page is
//! one ledger entry, not one per line; a hundred entries a page.

use axum::http::StatusCode;
use carnet_domain::{Actor, ActorKind, Profession, ProfessionalIdentity, Role, Scopes};
use serde_json::json;

use crate::portal::{demo_person, dr_bernard, portal_offering, walk};
use crate::support::{self, TestApp, ins, rpps};

/// A record of `ins` whose patient is `given` `family`.
async fn record_of(app: &TestApp, n: u32, given: &str, family: &str) {
    let mut body = support::new_record(&ins(n));
    body["birth_given_names"] = json!(given);
    body["birth_name"] = json!(family);
    let reply = app.post("/api/records", &app.role(Role::InsurerAgent), body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.raw);
}

/// Dr Paul Bernard (`rpps(77)`) as his portal session carries him.
fn bernard_actor() -> Actor {
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

/// Dr Bernard deposits in Lucie ROBERT's record and opens Marc PETIT's in an emergency; another
/// doctor deposits in Anne BLANC's. Returns the id of Dr Bernard's document.
async fn two_doctors_at_work(app: &TestApp) -> String {
    record_of(app, 81, "Lucie", "Robert").await;
    record_of(app, 82, "Marc", "Petit").await;
    record_of(app, 83, "Anne", "Blanc").await;
    let bernard = app.token(dr_bernard());
    let reply = app.upload(&ins(81), &bernard, support::lab_report(8101), b"%PDF-1.7 demo").await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.raw);
    let id = reply.body["id"].as_str().expect("id").to_owned();
    assert_eq!(app.get(&format!("/api/documents/{id}"), &bernard).await.status, StatusCode::OK);
    let url = format!("/api/records/{}/emergency-access", ins(82));
    let opened = app.post(&url, &bernard, json!({"kind": "bris_de_glace", "justification": "Patient inconscient aux urgences"})).await;
    assert_eq!(opened.status, StatusCode::CREATED, "{}", opened.raw);
    let other = app.professional(5, Profession::Medecin);
    let reply = app.upload(&ins(83), &other, support::lab_report(8301), b"%PDF-1.7 demo").await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.raw);
    let url = format!("/api/records/{}/emergency-access", ins(81));
    let theirs = app.post(&url, &other, json!({"kind": "bris_de_glace", "justification": "Motif de l’autre médecin"})).await;
    assert_eq!(theirs.status, StatusCode::CREATED, "{}", theirs.raw);
    id
}

async fn a_professional_sees_their_own_activity_and_emergencies_never_anothers(app: TestApp) {
    two_doctors_at_work(&app).await;
    let visit = app.portal_session(&bernard_actor()).await;
    let before = app.carnet.latest_tree_head().await.expect("head").head.tree_size;
    let page = app.page("/activite", &visit).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.raw);
    let after = app.carnet.latest_tree_head().await.expect("head").head.tree_size;
    assert_eq!(after - before, 1, "reading one's activity is one ledger entry, not one per line");
    let text = &page.raw;
    // His own entries, in words, in the records they name.
    assert!(text.contains("Vous avez déposé un document dans"), "{text}");
    assert!(text.contains("Vous avez consulté un document dans"), "{text}");
    assert!(text.contains("Dossier de Lucie ROBERT") && text.contains("le dossier de Marc PETIT"), "{text}");
    assert!(text.contains("en tant qu’auteur du document"), "{text}");
    // His emergency access, current, with its motive and its end.
    assert!(text.contains("Accès en urgence (bris de glace)</strong> — <a href=\"/patients/"), "{text}");
    assert!(text.contains("Patient inconscient aux urgences"), "{text}");
    assert!(text.contains("<strong>En cours</strong> jusqu’au"), "{text}");
    // Never the other doctor's entries, emergency or patient.
    assert!(!text.contains("Anne BLANC") && !text.contains("Motif de l’autre médecin"), "{text}");
    // No INS anywhere, in a link or in the page.
    for n in [81, 82, 83] {
        let i = ins(n).to_string();
        assert!(!text.contains(&i) && !text.contains(i.split_whitespace().next().unwrap_or_default()), "INS {i} on the page");
    }
    // The links name the patients by handle, and lead to the records the entries name.
    let handle = text.split("href=\"/patients/").nth(1).and_then(|r| r.split('"').next()).expect("a link to a record");
    assert!(!handle.is_empty());

    // Four hours later, the emergency access has ended and says so.
    app.clock.advance(time::Duration::hours(5));
    let later = app.page("/activite", &app.portal_session(&bernard_actor()).await).await;
    assert!(later.raw.contains("Terminé le") && !later.raw.contains("En cours"), "{}", later.raw);

    // The other doctor sees theirs, not his.
    let other = Actor {
        subject: "pro-5".into(),
        name: None,
        kind: ActorKind::Professional(ProfessionalIdentity {
            rpps: rpps(5),
            profession: Profession::Medecin,
            specialty: None,
            organisation: None,
        }),
        ..bernard_actor()
    };
    let theirs = app.page("/activite", &app.portal_session(&other).await).await;
    assert_eq!(theirs.status, StatusCode::OK);
    assert!(theirs.raw.contains("Anne BLANC") && theirs.raw.contains("Motif de l’autre médecin"), "{}", theirs.raw);
    assert!(!theirs.raw.contains("Marc PETIT") && !theirs.raw.contains("Patient inconscient"), "{}", theirs.raw);
}

async fn the_activity_pages_back_a_hundred_at_a_time(app: TestApp) {
    let id = two_doctors_at_work(&app).await;
    let bernard = app.token(dr_bernard());
    for _ in 0..110 {
        assert_eq!(app.get(&format!("/api/documents/{id}"), &bernard).await.status, StatusCode::OK);
    }
    let visit = app.portal_session(&bernard_actor()).await;
    let first = app.page("/activite", &visit).await;
    let count = |raw: &str| raw.matches("<span class=\"quoi\">").count();
    assert_eq!(count(&first.raw), 100, "a hundred per page");
    let older = first.raw.split("href=\"/activite?avant=").nth(1).and_then(|r| r.split('"').next()).expect("a link to older entries");
    assert!(older.bytes().all(|b| b.is_ascii_digit()), "an opaque cursor only: {older}");
    let second = app.page(&format!("/activite?avant={older}"), &visit).await;
    assert_eq!(second.status, StatusCode::OK);
    // A deposit, 111 readings, the emergency opening and its record's search: what is left.
    assert!(count(&second.raw) > 0 && count(&second.raw) < 100, "{}", second.raw);
    assert!(second.raw.contains("Vous avez déposé un document"), "the oldest are on the last page");
    assert!(!second.raw.contains("Mes accès en urgence"), "the emergencies are on the latest page");
    assert!(!second.raw.contains("Voir mes actions plus anciennes"));
}

on_both_backends!(a_professional_sees_their_own_activity_and_emergencies_never_anothers, the_activity_pages_back_a_hundred_at_a_time);

#[tokio::test]
async fn mon_activite_passes_axe_core_in_chromium() {
    let (app, origin) = portal_offering(vec![demo_person("Dr Paul Bernard (médecin)", dr_bernard())]).await;
    two_doctors_at_work(&app).await;
    let steps = [
        (format!("{origin}/connexion"), 200, "Choisissez une personne de démonstration"),
        ("click:Dr Paul Bernard (médecin)".to_owned(), 200, "Connecté en tant que"),
        (format!("{origin}/activite"), 200, "Mes accès en urgence"),
    ];
    let checked = walk("pro-activite", &steps).await;
    assert!(checked[2].text.contains("Patient inconscient aux urgences"), "{}", checked[2].text);
}
