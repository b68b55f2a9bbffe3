//! *Mon dossier* (close, reopen, destruction, the export), *Historique des remboursements* and
//! the representative's choice of record: in Chromium for what a person does, over HTTP for
//! what must hold whatever the browser (CSRF, forged indexes, what the export carries).

use std::io::Read;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use carnet_auth::{DevIssuer, TokenClaims};
use carnet_domain::{Actor, ActorKind, Ins, Profession, Role, Scopes};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::portal::{dr_bernard, marie, portal_offering, walk};
use crate::support::fhir::Validated;
use crate::support::{self, Backend, PortalVisit, TestApp, ins, rpps};

fn person(subject: &str, kind: ActorKind, name: &str) -> Actor {
    Actor {
        issuer: DevIssuer::ISSUER.into(),
        subject: subject.into(),
        name: Some(name.into()),
        kind,
        scopes: Scopes::RoleOnly,
        client: None,
    }
}

fn patient(ins: &Ins) -> Actor {
    person(&format!("p-{ins}"), ActorKind::Patient { ins: ins.clone() }, "Jeanne Martin")
}

fn doc(n: u32, type_code: &str, title: &str, labels: &[&str]) -> Value {
    json!({"unique_id": format!("1.2.250.1.999.8.{n}"), "type_code": type_code, "title": title, "labels": labels, "mime_type": "application/pdf"})
}

fn id_of(reply: &support::Reply) -> String {
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.raw);
    reply.body["id"].as_str().expect("id").to_owned()
}

async fn status_of(app: &TestApp, p: &Ins) -> String {
    let r = app.get(&format!("/api/records/{p}"), &app.patient(p)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    r.body["status"].as_str().unwrap_or_default().to_owned()
}

async fn titles(app: &TestApp, p: &Ins, token: &str) -> Vec<String> {
    let r = app.get(&format!("/api/records/{p}/documents"), token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    let mut t: Vec<String> = r.body["documents"]
        .as_array()
        .map(|a| a.iter().filter_map(|d| d["title"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    t.sort();
    t
}

/// A form posted as a browser would, with or without the session's CSRF token; the body as bytes.
async fn post_form(
    app: &TestApp,
    path: &str,
    visit: &PortalVisit,
    fields: &[(&str, &str)],
    with_token: bool,
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let mut all: Vec<(&str, &str)> = if with_token { vec![("csrf", visit.csrf.as_str())] } else { vec![] };
    all.extend_from_slice(fields);
    let req = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header("host", "carnet.test")
        .header("cookie", &visit.cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("sec-fetch-site", "same-origin")
        .body(Body::from(serde_urlencoded::to_string(&all).expect("a form")))
        .expect("request");
    let res = app.router.clone().oneshot(req).await.expect("infallible");
    let (status, headers) = (res.status(), res.headers().clone());
    let bytes = res.into_body().collect().await.expect("the whole body").to_bytes().to_vec();
    (status, headers, bytes)
}

#[tokio::test]
async fn marie_closes_her_record_with_a_reason_and_reopens_it_in_chromium() {
    let (app, origin) = portal_offering(vec![marie()]).await;
    let p = ins(77);
    app.open_record(&p).await;
    let doctor = app.token(dr_bernard());
    id_of(&app.upload(&p, &doctor, support::lab_report(7801), b"%PDF-1.7 bilan").await);
    let remb =
        json!({"unique_id": "1.2.250.1.999.9.77", "type_code": "REMB", "title": "Remboursements 2026", "mime_type": "application/pdf"});
    id_of(&app.upload(&p, &app.role(Role::InsurerAgent), remb, b"%PDF remboursements").await);
    let close = [
        (format!("{origin}/connexion"), 200, "Choisissez une personne de démonstration"),
        ("click:Marie Dupont (patiente)".to_owned(), 200, "Mon dossier médical"),
        (format!("{origin}/remboursements"), 200, "Remboursements 2026"),
        ("click:Masquer".to_owned(), 200, "L’historique des remboursements est maintenant masqué aux professionnels de santé."),
        ("click:Supprimer l’historique des remboursements".to_owned(), 400, "Cochez la case pour confirmer la suppression définitive."),
        (format!("{origin}/dossier"), 200, "Fermer mon dossier"),
        // No reason: the error next to the field, nothing changed.
        ("click:Fermer mon dossier".to_owned(), 400, "Indiquez le motif de la fermeture."),
        ("fill:Motif de la fermeture (obligatoire)=Je déménage à l’étranger".to_owned(), 0, ""),
        ("click:Fermer mon dossier".to_owned(), 200, "Votre dossier est fermé."),
    ];
    let seen = walk("dossier-fermer", &close).await;
    assert!(seen[4].text.contains("Remboursements 2026"), "nothing deleted without the confirmation: {}", seen[4].text);
    assert!(seen[6].text.contains("Votre dossier est ouvert"), "the refused close changed nothing: {}", seen[6].text);
    let closed = &seen[8];
    assert!(closed.url.ends_with("/dossier?fait=ferme"), "{}", closed.url);
    assert!(closed.text.contains("Votre dossier est fermé.") && closed.text.contains("Je déménage à l’étranger"), "{}", closed.text);
    assert!(closed.text.contains("Rouvrir mon dossier") && !closed.text.contains("Motif de la fermeture"), "{}", closed.text);
    assert_eq!(status_of(&app, &p).await, "closed");
    // A professional can no longer feed it.
    let refused = app.upload(&p, &doctor, support::lab_report(7802), b"%PDF-1.7 trop tard").await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.raw);

    let reopen = [
        (format!("{origin}/connexion"), 200, "Choisissez une personne de démonstration"),
        ("click:Marie Dupont (patiente)".to_owned(), 200, "Mon dossier médical"),
        (format!("{origin}/dossier"), 200, "Votre dossier est fermé"),
        ("click:Rouvrir mon dossier".to_owned(), 200, "Votre dossier est rouvert."),
    ];
    walk("dossier-rouvrir", &reopen).await;
    assert_eq!(status_of(&app, &p).await, "active");
    assert_eq!(app.upload(&p, &doctor, support::lab_report(7803), b"%PDF-1.7 de retour").await.status, StatusCode::CREATED);
}

#[tokio::test]
async fn a_representative_switches_between_two_minors_in_chromium() {
    let (app, origin) = portal_offering(vec![crate::portal::demo_person("Sophie Petit (mère de Léa et Hugo)", parent_claims())]).await;
    // Signed in through the dev provider, she is the dev issuer's `parent`: the reference her
    // records registered.
    let (lea, hugo) = children_of(&app, &parent()).await;
    let doctor = app.professional(1, Profession::Medecin);
    id_of(&app.upload(&lea, &doctor, doc(1, "11488-4", "Consultation de Léa", &[]), b"%PDF lea").await);
    id_of(&app.upload(&hugo, &doctor, doc(2, "11488-4", "Consultation de Hugo", &[]), b"%PDF hugo").await);
    let steps = [
        (format!("{origin}/connexion"), 200, "Choisissez une personne de démonstration"),
        ("click:Sophie Petit (mère de Léa et Hugo)".to_owned(), 200, "Vous consultez le dossier de Léa PETIT"),
        ("link:Changer de dossier".to_owned(), 200, "Choisir le dossier à consulter"),
        ("check:Hugo PETIT".to_owned(), 0, ""),
        ("click:Consulter ce dossier".to_owned(), 200, "Vous consultez le dossier de Hugo PETIT"),
        (format!("{origin}/dossier"), 200, "Télécharger toutes mes données"),
    ];
    let seen = walk("dossier-representant", &steps).await;
    assert!(seen[1].text.contains("Consultation de Léa") && !seen[1].text.contains("Consultation de Hugo"), "{}", seen[1].text);
    assert!(seen[4].text.contains("Consultation de Hugo") && !seen[4].text.contains("Consultation de Léa"), "{}", seen[4].text);
}

#[tokio::test]
async fn a_close_without_reason_or_without_its_token_changes_nothing() {
    let app = TestApp::new(Backend::Sqlite).await;
    let p = ins(81);
    app.open_record(&p).await;
    let visit = app.portal_session(&patient(&p)).await;
    let page = app.page("/dossier", &visit).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.raw.contains("Votre dossier est <strong>ouvert</strong>"), "{}", page.raw);
    assert!(page.raw.contains("60\u{a0}jours après la fermeture") && page.raw.contains("10\u{a0}ans après la fermeture"), "{}", page.raw);

    let blank = app.submit("/dossier/fermer", &visit, &[("motif", "   ")]).await;
    assert_eq!(blank.status, StatusCode::BAD_REQUEST);
    assert!(blank.raw.contains("aria-describedby=\"motif-fermeture-erreur\""), "{}", blank.raw);
    assert!(blank.raw.contains("href=\"#motif-fermeture\""), "the summary links to the field: {}", blank.raw);
    let too_long = "x".repeat(501);
    let long = app.submit("/dossier/fermer", &visit, &[("motif", &too_long)]).await;
    assert_eq!(long.status, StatusCode::BAD_REQUEST);
    assert!(long.raw.contains(&too_long), "the entered value is kept");
    let (forged, _, _) = post_form(&app, "/dossier/fermer", &visit, &[("motif", "un autre site")], false).await;
    assert_eq!(forged, StatusCode::FORBIDDEN);
    let (forged, _, _) = post_form(&app, "/dossier/supprimer", &visit, &[("motif", "un autre site")], false).await;
    assert_eq!(forged, StatusCode::FORBIDDEN);
    assert_eq!(status_of(&app, &p).await, "active", "nothing changed");

    // With its reason, it closes; a destruction request then schedules the end.
    let closed = app.submit("/dossier/fermer", &visit, &[("motif", "Je change de pays")]).await;
    assert_eq!(closed.status, StatusCode::SEE_OTHER);
    assert_eq!(closed.headers.get("location").and_then(|v| v.to_str().ok()), Some("/dossier?fait=ferme"));
    assert_eq!(status_of(&app, &p).await, "closed");
    let again = app.submit("/dossier/fermer", &visit, &[("motif", "deux fois")]).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "a second close is refused in words: {}", again.raw);
    let blank = app.submit("/dossier/supprimer", &visit, &[("motif", "")]).await;
    assert_eq!(blank.status, StatusCode::BAD_REQUEST);
    assert!(blank.raw.contains("Indiquez le motif de votre demande de suppression."), "{}", blank.raw);
    let asked = app.submit("/dossier/supprimer", &visit, &[("motif", "Je ne veux plus de dossier")]).await;
    assert_eq!(asked.status, StatusCode::SEE_OTHER);
    let page = app.page("/dossier?fait=suppression", &visit).await;
    assert!(page.raw.contains("Votre demande de suppression est enregistrée."), "{}", page.raw);
    assert!(page.raw.contains("Sa suppression définitive est prévue le"), "{}", page.raw);
    let reopened = app.submit("/dossier/rouvrir", &visit, &[]).await;
    assert_eq!(reopened.status, StatusCode::SEE_OTHER);
    assert_eq!(status_of(&app, &p).await, "active", "reopening cancels the destruction");
}

/// The entries of an export, by name, in the archive's order.
fn unzip(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a ZIP archive");
    (0..archive.len())
        .map(|i| {
            let mut file = archive.by_index(i).expect("an entry");
            let mut content = Vec::new();
            file.read_to_end(&mut content).expect("its bytes, CRC checked");
            (file.name().expect("a name").to_string(), content)
        })
        .collect()
}

async fn export_both(app: TestApp) {
    let p = ins(82);
    app.open_record(&p).await;
    let doctor = app.professional(1, Profession::Medecin);
    let first: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let second = b"%PDF-1.7 compte rendu".to_vec();
    let a = id_of(&app.upload(&p, &doctor, doc(11, "11502-2", "Bilan sanguin de mars", &[]), &first).await);
    app.clock.advance(time::Duration::minutes(1));
    let b = id_of(&app.upload(&p, &doctor, doc(12, "11488-4", "../../Compte rendu: été", &["MASQUE_PS"]), &second).await);
    let visit = app.portal_session(&patient(&p)).await;
    let (forged, _, _) = post_form(&app, "/dossier/export", &visit, &[], false).await;
    assert_eq!(forged, StatusCode::FORBIDDEN, "a form without its token exports nothing");
    let (status, headers, bytes) = post_form(&app, "/dossier/export", &visit, &[], true).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&bytes));
    assert_eq!(headers.get("content-type").and_then(|v| v.to_str().ok()), Some("application/zip"));
    assert!(
        headers.get("content-disposition").and_then(|v| v.to_str().ok()).is_some_and(|d| d.starts_with("attachment; filename=\"carnet-"))
    );
    let files = unzip(&bytes);
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "LISEZMOI.txt",
            "dossier.fhir.json",
            "preuves-des-acces.json",
            "documents/001-bilan-sanguin-de-mars.pdf",
            "documents/002-compte-rendu-ete.pdf"
        ],
        "deterministic order, safe names"
    );
    assert_eq!(files[3].1, first, "byte-identical");
    assert_eq!(files[4].1, second, "byte-identical");
    let readme = String::from_utf8(files[0].1.clone()).expect("UTF-8");
    assert!(readme.contains("dossier.fhir.json") && readme.contains("documents/") && readme.contains("preuves-des-acces.json"), "{readme}");

    let mut v = Validated::new();
    let bundle = v.keep_bytes("export-bundle", &files[1].1);
    v.check();
    assert_eq!(bundle["resourceType"], "Bundle");
    assert_eq!(bundle["type"], "collection");
    let entries = bundle["entry"].as_array().expect("entries");
    let references: Vec<&Value> = entries.iter().map(|e| &e["resource"]).filter(|r| r["resourceType"] == "DocumentReference").collect();
    assert_eq!(references.len(), 2);
    assert_eq!(references[0]["id"], a.as_str());
    assert_eq!(references[0]["content"][0]["attachment"]["url"], "documents/001-bilan-sanguin-de-mars.pdf");
    assert_eq!(references[1]["id"], b.as_str());
    assert_eq!(references[1]["content"][0]["attachment"]["url"], "documents/002-compte-rendu-ete.pdf");
    let events: Vec<&Value> = entries.iter().map(|e| &e["resource"]).filter(|r| r["resourceType"] == "AuditEvent").collect();
    assert!(events.len() >= 4, "the access history travels with it");
    // And each of its entries with the proof it is in the signed ledger, checked with the key
    // Carnet publishes.
    let receipts: carnet_ledger::AccessReceipts = serde_json::from_slice(&files[2].1).expect("a receipt file");
    let key = app.get("/api/ledger/public-key", &doctor).await;
    let key: [u8; 32] = carnet_domain::hex::decode_array(key.body["public_key"].as_str().expect("a key")).expect("hex");
    assert_eq!(receipts.check(Some(&key)).map(|c| c.entries), Ok(events.len()), "one receipt per history entry");

    // The export is in the ledger, and so is each document it read, as a retrieval.
    let history = app.get(&format!("/api/records/{p}/access-history?limit=200"), &app.patient(&p)).await;
    assert_eq!(history.status, StatusCode::OK, "{}", history.raw);
    let entries = history.body["entries"].as_array().cloned().unwrap_or_default();
    let by = |action: &str| entries.iter().filter(|e| e["action"] == action).count();
    assert_eq!(by("record.export"), 1, "{}", history.raw);
    let retrieved: Vec<&str> = entries.iter().filter(|e| e["action"] == "document.retrieve").filter_map(|e| e["target"].as_str()).collect();
    assert!(retrieved.contains(&a.as_str()) && retrieved.contains(&b.as_str()), "{}", history.raw);
}

async fn a_representatives_export_leaves_out_what_is_hidden_from_them(app: TestApp) {
    let (lea, _) = children(&app).await;
    let doctor = app.professional(1, Profession::Medecin);
    id_of(&app.upload(&lea, &doctor, doc(21, "11488-4", "Consultation", &[]), b"%PDF visible").await);
    id_of(
        &app.upload(&lea, &doctor, doc(22, "11488-4", "Consultation confidentielle", &["INVISIBLE_REPRESENTANTS_LEGAUX"]), b"%PDF secret")
            .await,
    );
    let visit = app.portal_session(&parent()).await;
    let (status, _, bytes) = post_form(&app, "/dossier/export", &visit, &[], true).await;
    assert_eq!(status, StatusCode::OK);
    let files = unzip(&bytes);
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["LISEZMOI.txt", "dossier.fhir.json", "preuves-des-acces.json", "documents/001-consultation.pdf"]);
    assert!(!files.iter().any(|(_, b)| b.windows(6).any(|w| w == b"secret")), "no byte of the hidden one");
    assert!(!String::from_utf8_lossy(&files[1].1).contains("confidentielle"), "nor its title");
    // The minor's own export has both.
    let own = app.portal_session(&person("lea", ActorKind::Patient { ins: lea.clone() }, "Léa Petit")).await;
    let (_, _, bytes) = post_form(&app, "/dossier/export", &own, &[], true).await;
    assert_eq!(unzip(&bytes).len(), 5);
}

fn parent_claims() -> TokenClaims {
    TokenClaims {
        sub: "parent".into(),
        name: Some("Sophie Petit".into()),
        role: Role::Representative,
        represents: vec![ins(91).to_string(), ins(92).to_string()],
        ..Default::default()
    }
}

fn parent() -> Actor {
    person("parent", ActorKind::Representative { represents: vec![ins(91), ins(92)] }, "Sophie Petit")
}

/// Léa and Hugo Petit, minors, whose records `parent` opened (registering as their
/// representative: the reference that signs in must be the one registered).
async fn children_of(app: &TestApp, parent: &Actor) -> (Ins, Ins) {
    for (n, given) in [(91, "Léa Anne"), (92, "Hugo")] {
        let new = carnet_service::NewRecord {
            ins: ins(n),
            ins_kind: carnet_domain::InsKind::Nir,
            identity_status: carnet_domain::IdentityStatus::Qualifiee,
            traits: carnet_domain::ReferenceTraits {
                birth_name: "Petit".into(),
                birth_given_names: given.into(),
                birth_date: time::macros::date!(2015 - 06 - 01),
                sex: carnet_domain::Sex::Female,
                birthplace: Some("75056".into()),
            },
        };
        app.carnet.create_record(parent, new).await.expect("the parent opens the record");
    }
    (ins(91), ins(92))
}

async fn children(app: &TestApp) -> (Ins, Ins) {
    children_of(app, &parent()).await
}

async fn a_parent_switches_records_and_a_forged_index_falls_back_to_the_first(app: TestApp) {
    let (lea, hugo) = children(&app).await;
    let doctor = app.professional(1, Profession::Medecin);
    id_of(&app.upload(&lea, &doctor, doc(31, "11488-4", "Consultation de Léa", &[]), b"%PDF").await);
    id_of(&app.upload(&hugo, &doctor, doc(32, "11488-4", "Consultation de Hugo", &[]), b"%PDF").await);
    id_of(&app.upload(&hugo, &doctor, doc(33, "11488-4", "Secret de Hugo", &["INVISIBLE_REPRESENTANTS_LEGAUX"]), b"%PDF").await);
    let visit = app.portal_session(&parent()).await;
    let home = app.page("/", &visit).await;
    assert!(home.raw.contains("Vous consultez le dossier de <strong>Léa PETIT</strong>"), "{}", home.raw);
    assert!(home.raw.contains("Consultation de Léa") && !home.raw.contains("de Hugo"), "{}", home.raw);
    let history = app.page("/historique", &visit).await;
    assert!(history.raw.contains("Vous consultez le dossier de <strong>Léa PETIT</strong>"), "on every page: {}", history.raw);

    let cookie_of = |reply: &support::Reply| -> String {
        let set = reply.headers.get("set-cookie").and_then(|v| v.to_str().ok()).expect("a record cookie");
        set.split(';').next().expect("name=value").to_owned()
    };
    let chose = app.submit("/dossier/choisir", &visit, &[("dossier", "1")]).await;
    assert_eq!(chose.status, StatusCode::SEE_OTHER);
    assert_eq!(chose.headers.get("location").and_then(|v| v.to_str().ok()), Some("/"));
    let on_hugo = PortalVisit { cookie: format!("{}; {}", visit.cookie, cookie_of(&chose)), csrf: visit.csrf.clone() };
    let home = app.page("/", &on_hugo).await;
    assert!(home.raw.contains("Vous consultez le dossier de <strong>Hugo PETIT</strong>"), "{}", home.raw);
    assert!(home.raw.contains("Consultation de Hugo") && !home.raw.contains("Léa"), "{}", home.raw);
    assert!(!home.raw.contains("Secret de Hugo"), "what is hidden from representatives stays absent");
    let page = app.page("/dossier", &on_hugo).await;
    assert!(page.raw.contains("Choisir le dossier à consulter") && page.raw.contains("value=\"1\" checked"), "{}", page.raw);

    // An index the identity does not carry: the first record, never another.
    let forged = app.submit("/dossier/choisir", &visit, &[("dossier", "7")]).await;
    assert_eq!(cookie_of(&forged), "__Host-carnet_dossier=0");
    let by_hand = PortalVisit { cookie: format!("{}; __Host-carnet_dossier=7", visit.cookie), csrf: visit.csrf.clone() };
    let home = app.page("/", &by_hand).await;
    assert!(home.raw.contains("Vous consultez le dossier de <strong>Léa PETIT</strong>"), "{}", home.raw);
    let (without_token, _, _) = post_form(&app, "/dossier/choisir", &visit, &[("dossier", "1")], false).await;
    assert_eq!(without_token, StatusCode::FORBIDDEN);
    // A patient acting for themselves sees no banner.
    let own = app.portal_session(&patient(&lea)).await;
    assert!(!app.page("/", &own).await.raw.contains("Vous consultez le dossier de"));
}

async fn reimbursements_hidden_then_deleted_only_with_the_confirmation(app: TestApp) {
    let p = ins(83);
    app.open_record(&p).await;
    let insurer = app.role(Role::InsurerAgent);
    let remb =
        json!({"unique_id": "1.2.250.1.999.9.83", "type_code": "REMB", "title": "Remboursements 2026", "mime_type": "application/pdf"});
    id_of(&app.upload(&p, &insurer, remb, b"%PDF remboursements").await);
    let doctor = app.professional(31, Profession::Medecin);
    id_of(&app.upload(&p, &doctor, doc(41, "11488-4", "Consultation", &[]), b"%PDF").await);
    let r = app
        .post(
            &format!("/api/records/{p}/policy/changes"),
            &app.patient(&p),
            json!({"change": "set_medecin_traitant", "rpps": rpps(31).to_string()}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert_eq!(titles(&app, &p, &doctor).await, ["Consultation", "Remboursements 2026"]);

    let visit = app.portal_session(&patient(&p)).await;
    let page = app.page("/remboursements", &visit).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.raw.contains("Il est <strong>visible</strong>") && page.raw.contains("Remboursements 2026"), "{}", page.raw);
    let (forged, _, _) = post_form(&app, "/remboursements/masquer", &visit, &[("masquer", "oui")], false).await;
    assert_eq!(forged, StatusCode::FORBIDDEN);
    assert_eq!(titles(&app, &p, &doctor).await.len(), 2, "a form without its token hides nothing");
    let hid = app.submit("/remboursements/masquer", &visit, &[("masquer", "oui")]).await;
    assert_eq!(hid.status, StatusCode::SEE_OTHER);
    assert_eq!(hid.headers.get("location").and_then(|v| v.to_str().ok()), Some("/remboursements?fait=masque"));
    assert_eq!(titles(&app, &p, &doctor).await, ["Consultation"], "hidden from the médecin traitant too");
    let page = app.page("/remboursements?fait=masque", &visit).await;
    assert!(page.raw.contains("role=\"status\">L’historique des remboursements est maintenant masqué"), "{}", page.raw);
    assert!(page.raw.contains("Ne plus masquer"), "{}", page.raw);
    let shown = app.submit("/remboursements/masquer", &visit, &[("masquer", "non")]).await;
    assert_eq!(shown.status, StatusCode::SEE_OTHER);
    assert_eq!(titles(&app, &p, &doctor).await.len(), 2);

    let unconfirmed = app.submit("/remboursements/supprimer", &visit, &[]).await;
    assert_eq!(unconfirmed.status, StatusCode::BAD_REQUEST);
    assert!(unconfirmed.raw.contains("aria-describedby=\"confirmation-erreur\""), "{}", unconfirmed.raw);
    assert!(unconfirmed.raw.contains("Cochez la case pour confirmer la suppression définitive."), "{}", unconfirmed.raw);
    let (forged, _, _) = post_form(&app, "/remboursements/supprimer", &visit, &[("confirmation", "oui")], false).await;
    assert_eq!(forged, StatusCode::FORBIDDEN);
    assert_eq!(titles(&app, &p, &app.patient(&p)).await, ["Consultation", "Remboursements 2026"], "nothing deleted");
    let deleted = app.submit("/remboursements/supprimer", &visit, &[("confirmation", "oui")]).await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER);
    assert_eq!(titles(&app, &p, &app.patient(&p)).await, ["Consultation"], "gone");
    let page = app.page("/remboursements?fait=supprime", &visit).await;
    assert!(page.raw.contains("Aucun remboursement dans votre dossier."), "{}", page.raw);
}

crate::on_both_backends!(
    export_both,
    a_representatives_export_leaves_out_what_is_hidden_from_them,
    a_parent_switches_records_and_a_forged_index_falls_back_to_the_first,
    reimbursements_hidden_then_deleted_only_with_the_confirmation,
);
