//! *Déposer un document*: a professional's deposit into a patient's record through the portal
//! (`/patients/{handle}/deposer`). Every refusal is said in French and stores nothing (the
//! record's documents unchanged, no deposit in the ledger); a deposit is stored as `/api` stores
//! it and said on its confirmation; a new version folds the old one. In Chromium, the form, its
//! error state and the confirmation pass axe-core, and what was deposited is found by
//! `fhir-kit-client` through ITI-67 and retrieved byte-identical through ITI-68.

use crate::portal::{portal_offering, walk};
use crate::support;

use std::path::PathBuf;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use carnet_domain::{Actor, ActorKind, Ins, Profession, ProfessionalIdentity, Scopes};
use carnet_server::HttpLimits;
use carnet_server::portal::patients::handle_in_session;
use serde_json::{Value, json};
use support::{PortalVisit, Reply, TestApp, ins, rpps};

on_both_backends!(
    the_form_offers_the_professionals_types_labels_and_own_current_documents,
    each_refusal_is_said_and_nothing_is_stored,
    a_closed_record_and_a_depositor_without_the_right_store_nothing,
    a_deposit_is_stored_as_the_api_stores_it_and_a_new_version_folds_the_old,
);

/// A doctor in the portal (the same professional as `app.professional(n, Medecin)`'s tokens).
fn doctor(n: u32) -> Actor {
    Actor {
        issuer: carnet_auth::DevIssuer::ISSUER.into(),
        subject: format!("docteur-{n}"),
        name: Some("Dr Paul Bernard".into()),
        kind: ActorKind::Professional(ProfessionalIdentity {
            rpps: rpps(n),
            profession: Profession::Medecin,
            specialty: None,
            organisation: None,
        }),
        scopes: Scopes::RoleOnly,
        client: None,
    }
}

/// The handle naming `p` in `visit`'s URLs, as the professional's pages make it.
fn handle(visit: &PortalVisit, p: &Ins) -> String {
    let id = visit.cookie.split_once('=').map(|(_, id)| id).expect("a session cookie");
    handle_in_session(id, p)
}

/// A file of the form: its name, its type as the browser says, its bytes.
type File<'a> = (&'a str, &'a str, &'a [u8]);

/// A `multipart/form-data` body as the form sends it: the text fields in order, then the file
/// (`None`: no file chosen).
fn form_body(fields: &[(&str, &str)], file: Option<File>) -> (String, Vec<u8>) {
    let boundary = "----carnet-depot-3f9a1c";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes());
    }
    let (file_name, content_type, bytes) = file.unwrap_or(("", "application/octet-stream", b""));
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"fichier\"; filename=\"{file_name}\"\r\nContent-Type: {content_type}\r\n\r\n")
            .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (boundary.to_owned(), body)
}

async fn post(app: &TestApp, visit: &PortalVisit, path: &str, fields: &[(&str, &str)], file: Option<File<'_>>) -> Reply {
    let (boundary, body) = form_body(fields, file);
    let req = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header("cookie", &visit.cookie)
        .header("accept", "text/html")
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .header("content-length", body.len())
        .header("sec-fetch-site", "same-origin")
        .body(Body::from(body))
        .expect("request");
    app.send(req).await
}

fn location(reply: &Reply) -> String {
    reply.headers.get("location").and_then(|v| v.to_str().ok()).expect("a redirect").to_owned()
}

/// The record's documents as the patient sees them through `/api`: (id, title, status).
async fn documents(app: &TestApp, p: &Ins) -> Vec<(String, String, String)> {
    let list = app.get(&format!("/api/records/{p}/documents"), &app.patient(p)).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.raw);
    let mut docs: Vec<(String, String, String)> = list.body["documents"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            let s = |k: &str| d[k].as_str().unwrap_or_default().to_owned();
            (s("id"), s("title"), s("status"))
        })
        .collect();
    docs.sort();
    docs
}

/// The deposits the ledger holds for `p` (permitted `document.submit` / `document.replace`).
async fn deposits_in_ledger(app: &TestApp, p: &Ins) -> usize {
    // The privacy officer's view: the patient's hides what concerns documents hidden from them.
    let history = app.get(&format!("/api/records/{p}/access-history?limit=200"), &app.role(carnet_domain::Role::PrivacyOfficer)).await;
    assert_eq!(history.status, StatusCode::OK, "{}", history.raw);
    history.body["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| (e["action"] == "document.submit" || e["action"] == "document.replace") && e["reason"] == "may_feed")
        .count()
}

/// A deposit through `/api` by the professional `n`: its id.
async fn api_deposit(app: &TestApp, p: &Ins, n: u32, unique: u32, title: &str, replaces: Option<&str>) -> String {
    let mut meta = support::lab_report(unique);
    meta["title"] = json!(title);
    if let Some(r) = replaces {
        meta["replaces"] = json!(r);
    }
    let r = app.upload(p, &app.professional(n, Profession::Medecin), meta, b"%PDF-1.7 depot").await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    r.body["id"].as_str().expect("id").to_owned()
}

const PDF: &[u8] = b"%PDF-1.7 compte rendu de consultation";

async fn the_form_offers_the_professionals_types_labels_and_own_current_documents(app: TestApp) {
    let p = ins(81);
    app.open_record(&p).await;
    let first = api_deposit(&app, &p, 7, 8101, "Bilan de janvier", None).await;
    let _second = api_deposit(&app, &p, 7, 8102, "Bilan de janvier (corrigé)", Some(&first)).await;
    let _own = api_deposit(&app, &p, 7, 8103, "Bilan de février", None).await;
    let _other = api_deposit(&app, &p, 8, 8104, "Bilan d’un confrère", None).await;
    let visit = app.portal_session(&doctor(7)).await;
    let h = handle(&visit, &p);
    let form = app.page(&format!("/patients/{h}/deposer"), &visit).await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.raw);
    let raw = &form.raw;
    assert!(raw.contains("<title>Déposer un document – Dossier de Jeanne MARTIN – Carnet</title>"), "{raw}");
    assert!(raw.contains("dans le dossier de Jeanne MARTIN (née le 1er\u{a0}décembre\u{a0}1984)"), "whom the doctor deposits for: {raw}");
    assert!(raw.contains("enctype=\"multipart/form-data\"") && raw.contains(&format!("action=\"/patients/{h}/deposer\"")), "{raw}");
    assert!(!raw.contains(p.as_str()), "no INS on the page");
    // The types, grouped under their class; none of the patient's or the insurer's.
    assert!(raw.contains("<optgroup label=\"Compte rendu\">") && raw.contains(">CR d&#39;examens biologiques</option>"), "{raw}");
    assert!(raw.contains("<optgroup label=\"Prescription\">"), "{raw}");
    for not_offered in ["Autre document du patient", "Données de remboursement", "Profil médical Mon espace santé"] {
        assert!(!raw.contains(not_offered), "{not_offered} offered to a professional");
    }
    // The labels a professional may set, in words.
    for label in
        ["Masquer aux autres professionnels", "Ne pas montrer au patient pour l’instant", "Ne pas montrer aux représentants légaux"]
    {
        assert!(raw.contains(label), "{label}: {raw}");
    }
    // The date of the act is today's by default, and no later.
    assert!(raw.contains("value=\"2026-03-02\" max=\"2026-03-02\""), "{raw}");
    // The versions this doctor may replace: their own, in force; not a colleague's, not a replaced one.
    assert!(raw.contains("Bilan de janvier (corrigé) — CR d&#39;examens biologiques — 1er\u{a0}mars\u{a0}2026"), "{raw}");
    assert!(raw.contains("Bilan de février") && !raw.contains("Bilan d’un confrère"), "{raw}");
    assert!(!raw.contains(&format!("value=\"{first}\"")), "a replaced version is not offered");

    // A handle that is not this session's names nobody.
    let other = app.portal_session(&doctor(7)).await;
    assert_eq!(app.page(&format!("/patients/{h}/deposer"), &other).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.page("/patients/pas-un-identifiant/deposer", &visit).await.status, StatusCode::NOT_FOUND);
    let h_other = handle(&other, &ins(82));
    assert_eq!(app.page(&format!("/patients/{h_other}/deposer"), &other).await.status, StatusCode::NOT_FOUND, "no such record");
}

/// A valid deposit's fields, with `extra` set (or added).
fn with_fields<'a>(csrf: &'a str, extra: &[(&'static str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut fields = vec![("csrf", csrf), ("titre", "Consultation du jour"), ("type", "11488-4"), ("date", "2026-02-27")];
    for (k, v) in extra {
        match fields.iter_mut().find(|(name, _)| name == k) {
            Some(f) => f.1 = v,
            None => fields.push((k, v)),
        }
    }
    fields
}

/// Fields, a file, the status and what the page says of them.
type Refused<'a> = (Vec<(&'a str, &'a str)>, Option<File<'a>>, StatusCode, &'a str);

async fn each_refusal_is_said_and_nothing_is_stored(app: TestApp) {
    let p = ins(83);
    app.open_record(&p).await;
    let replaced = api_deposit(&app, &p, 7, 8301, "Bilan de janvier", None).await;
    let _current = api_deposit(&app, &p, 7, 8302, "Bilan de janvier (corrigé)", Some(&replaced)).await;
    let colleague = api_deposit(&app, &p, 8, 8303, "Bilan d’un confrère", None).await;
    let visit = app.portal_session(&doctor(7)).await;
    let path = format!("/patients/{}/deposer", handle(&visit, &p));
    let before = documents(&app, &p).await;
    let ledger_before = deposits_in_ledger(&app, &p).await;
    let csrf = visit.csrf.as_str();
    let pdf = Some(("cr.pdf", "application/pdf", PDF));
    let cases: Vec<Refused> = vec![
        (with_fields(csrf, &[]), None, StatusCode::BAD_REQUEST, "Choisissez le fichier à déposer."),
        (with_fields(csrf, &[("titre", "  ")]), pdf, StatusCode::BAD_REQUEST, "Donnez un titre au document"),
        (with_fields(csrf, &[("type", "99999-9")]), pdf, StatusCode::BAD_REQUEST, "Choisissez un type de document dans la liste."),
        (with_fields(csrf, &[("type", "DOCPAT02")]), pdf, StatusCode::BAD_REQUEST, "Choisissez un type de document dans la liste."),
        (with_fields(csrf, &[("type", "REMB")]), pdf, StatusCode::BAD_REQUEST, "Choisissez un type de document dans la liste."),
        (with_fields(csrf, &[("date", "2026-03-03")]), pdf, StatusCode::BAD_REQUEST, "Cette date est dans le futur"),
        (with_fields(csrf, &[("date", "31/02/2026")]), pdf, StatusCode::BAD_REQUEST, "Cette date n’existe pas."),
        (with_fields(csrf, &[("date", "")]), pdf, StatusCode::BAD_REQUEST, "Indiquez la date de l’acte"),
        (with_fields(csrf, &[("etiquette", "SECRET_DEFENSE")]), pdf, StatusCode::BAD_REQUEST, "Cette option de visibilité n’existe pas"),
        (with_fields(csrf, &[("remplace", colleague.as_str())]), pdf, StatusCode::BAD_REQUEST, "Ce document ne peut pas être remplacé"),
        (with_fields(csrf, &[("remplace", replaced.as_str())]), pdf, StatusCode::BAD_REQUEST, "Ce document ne peut pas être remplacé"),
        (with_fields(csrf, &[("remplace", "pas-un-document")]), pdf, StatusCode::BAD_REQUEST, "Ce document ne peut pas être remplacé"),
        (with_fields(csrf, &[]), Some(("cr.docx", "application/msword", PDF)), StatusCode::BAD_REQUEST, "Ce format n’est pas accepté"),
        (
            with_fields(csrf, &[]),
            Some(("cr.pdf", "application/pdf", b"GIF89a pas un PDF")),
            StatusCode::BAD_REQUEST,
            "Ce fichier n’est pas un PDF",
        ),
        (with_fields(csrf, &[]), Some(("cr.txt", "text/plain", b"")), StatusCode::BAD_REQUEST, "Ce fichier est vide"),
    ];
    for (fields, file, status, says) in &cases {
        let r = post(&app, &visit, &path, fields, *file).await;
        assert_eq!(r.status, *status, "{says}: {}", r.raw);
        assert!(r.raw.contains(says), "{says}: {}", r.raw);
        assert!(r.raw.contains("Le document n’a pas été déposé") && r.raw.contains("class=\"erreur-champ\""), "{says}: {}", r.raw);
        assert!(r.raw.contains("le navigateur ne le garde pas"), "the file must be chosen again, and the page says so");
        assert_eq!(documents(&app, &p).await, before, "{says}: nothing stored");
    }
    // The entered values are kept, each message tied to its field.
    let r = post(&app, &visit, &path, &with_fields(csrf, &[("etiquette", "MASQUE_PS"), ("date", "2026-03-09")]), pdf).await;
    assert!(r.raw.contains("value=\"Consultation du jour\"") && r.raw.contains("value=\"2026-03-09\""), "{}", r.raw);
    assert!(
        r.raw.contains("value=\"11488-4\" selected") && r.raw.contains("value=\"MASQUE_PS\" aria-describedby=\"masque-ps-aide\" checked")
    );
    assert!(r.raw.contains("aria-describedby=\"date-aide date-erreur\""), "{}", r.raw);

    // A file over the limit: the page says the limit; nothing stored.
    let limited = TestApp::with_limits(app.backend, HttpLimits { document_body_bytes: 4096, ..HttpLimits::default() }).await;
    limited.open_record(&p).await;
    let v = limited.portal_session(&doctor(7)).await;
    let limited_path = format!("/patients/{}/deposer", handle(&v, &p));
    let form = limited.page(&limited_path, &v).await;
    assert!(form.raw.contains("4\u{a0}ko au plus"), "the limit is said before: {}", form.raw);
    let mut big = b"%PDF-1.7 ".to_vec();
    big.resize(10_000, b'x');
    let fields = [("csrf", v.csrf.as_str()), ("titre", "Scanner"), ("type", "18748-4"), ("date", "2026-03-01")];
    let r = post(&limited, &v, &limited_path, &fields, Some(("scanner.pdf", "application/pdf", &big))).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.raw);
    assert!(r.raw.contains("Ce fichier est trop volumineux") && r.raw.contains("value=\"Scanner\""), "{}", r.raw);
    assert_eq!(documents(&limited, &p).await, vec![]);

    // Without its token, the form changes nothing.
    let mut forged = with_fields(csrf, &[]);
    forged.retain(|(k, _)| *k != "csrf");
    let r = post(&app, &visit, &path, &forged, pdf).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.raw);
    assert!(r.raw.contains("rien n’a été modifié"), "{}", r.raw);

    assert_eq!(documents(&app, &p).await, before, "nothing stored");
    assert_eq!(deposits_in_ledger(&app, &p).await, ledger_before, "no deposit in the ledger");
}

async fn a_closed_record_and_a_depositor_without_the_right_store_nothing(app: TestApp) {
    let p = ins(84);
    app.open_record(&p).await;
    let pdf = Some(("cr.pdf", "application/pdf", PDF));
    // A privacy officer reads no record and feeds none: the service refuses; the page says so.
    let officer = Actor {
        issuer: carnet_auth::DevIssuer::ISSUER.into(),
        subject: "dpo".into(),
        name: Some("Délégué à la protection des données".into()),
        kind: ActorKind::PrivacyOfficer,
        scopes: Scopes::RoleOnly,
        client: None,
    };
    let visit = app.portal_session(&officer).await;
    let path = format!("/patients/{}/deposer", handle(&visit, &p));
    assert_eq!(app.page(&path, &visit).await.status, StatusCode::NOT_FOUND, "no form for a role that sees no identity");
    let fields = [("csrf", visit.csrf.as_str()), ("titre", "Note"), ("type", "11488-4"), ("date", "2026-03-01")];
    let r = post(&app, &visit, &path, &fields, pdf).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.raw);
    assert!(r.raw.contains("Vous ne pouvez pas déposer de document dans ce dossier. Rien n’a été déposé."), "{}", r.raw);

    // The patient may hide a document from professionals, not from themselves: a label the
    // depositor may not set is refused before anything is stored.
    let patient = Actor {
        issuer: carnet_auth::DevIssuer::ISSUER.into(),
        subject: format!("p-{p}"),
        name: None,
        kind: ActorKind::Patient { ins: p.clone() },
        scopes: Scopes::RoleOnly,
        client: None,
    };
    let own = app.portal_session(&patient).await;
    let own_path = format!("/patients/{}/deposer", handle(&own, &p));
    let form = app.page(&own_path, &own).await;
    assert!(form.raw.contains("Masquer aux autres professionnels") && !form.raw.contains("Ne pas montrer au patient"), "{}", form.raw);
    let fields =
        [("csrf", own.csrf.as_str()), ("titre", "Note"), ("type", "11488-4"), ("date", "2026-03-01"), ("etiquette", "INVISIBLE_PATIENT")];
    let r = post(&app, &own, &own_path, &fields, pdf).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.raw);
    assert!(r.raw.contains("Vous ne pouvez pas restreindre la visibilité de ce document de cette façon"), "{}", r.raw);

    // A closed record takes no deposit: said before (no form), and refused if posted anyway.
    let doctor_visit = app.portal_session(&doctor(7)).await;
    let doctor_path = format!("/patients/{}/deposer", handle(&doctor_visit, &p));
    let closed = app.post(&format!("/api/records/{p}/close"), &app.patient(&p), json!({"reason": "je déménage"})).await;
    assert_eq!(closed.status, StatusCode::OK, "{}", closed.raw);
    let form = app.page(&doctor_path, &doctor_visit).await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.raw.contains("Ce dossier est fermé") && !form.raw.contains("<form class=\"formulaire\""), "{}", form.raw);
    let fields = [("csrf", doctor_visit.csrf.as_str()), ("titre", "Après fermeture"), ("type", "11488-4"), ("date", "2026-03-01")];
    let r = post(&app, &doctor_visit, &doctor_path, &fields, pdf).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.raw);
    assert!(r.raw.contains("Le document n’a pas été déposé") || r.raw.contains("Ce dossier est fermé"), "{}", r.raw);

    assert_eq!(documents(&app, &p).await, vec![], "nothing stored");
    assert_eq!(deposits_in_ledger(&app, &p).await, 0, "no deposit in the ledger");
}

async fn a_deposit_is_stored_as_the_api_stores_it_and_a_new_version_folds_the_old(app: TestApp) {
    let p = ins(85);
    app.open_record(&p).await;
    let visit = app.portal_session(&doctor(7)).await;
    let h = handle(&visit, &p);
    let path = format!("/patients/{h}/deposer");
    let fields = [
        ("csrf", visit.csrf.as_str()),
        ("titre", "Compte rendu de consultation"),
        ("type", "11488-4"),
        ("date", "2026-02-27"),
        ("etiquette", "INVISIBLE_PATIENT"),
        ("remplace", ""),
    ];
    let r = post(&app, &visit, &path, &fields, Some(("cr.pdf", "application/pdf", PDF))).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.raw);
    let to = location(&r);
    let id = to.strip_prefix(&format!("/patients/{h}/deposer/")).and_then(|t| t.strip_suffix("?fait=depose")).expect("the confirmation");
    assert!(!to.contains(p.as_str()), "no INS in a URL");

    // Stored as `/api` stores a deposit: the class follows the type, the author is the doctor.
    let doc = app.get(&format!("/api/documents/{id}"), &app.professional(7, Profession::Medecin)).await;
    assert_eq!(doc.status, StatusCode::OK, "{}", doc.raw);
    assert_eq!(doc.body["title"], "Compte rendu de consultation");
    assert_eq!(doc.body["type_code"]["code"], "11488-4");
    assert_eq!(doc.body["class_code"]["code"], "10");
    assert_eq!(doc.body["authored_at"], "2026-02-27T12:00:00Z");
    assert_eq!(doc.body["labels"], json!(["INVISIBLE_PATIENT"]));
    assert_eq!(doc.body["author"], format!("rpps:{}", rpps(7)));
    assert_eq!(doc.body["mime_type"], "application/pdf");
    assert_eq!(doc.body["format_code"]["code"], "urn:ihe:iti:xds:2017:mimeTypeSufficient");
    let bytes = app.get_raw(&format!("/api/documents/{id}/content"), &app.professional(7, Profession::Medecin), &[]).await;
    assert_eq!(bytes.bytes, PDF, "the bytes as sent");
    assert_eq!(deposits_in_ledger(&app, &p).await, 1, "one deposit in the ledger");
    // Hidden from the patient until the doctor lifts it.
    assert_eq!(documents(&app, &p).await, vec![]);

    // The confirmation says what was stored, in words, in a status region.
    let page = app.page(&to, &visit).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.raw);
    let raw = &page.raw;
    let status = raw.split("<div role=\"status\" class=\"statut\">").nth(1).and_then(|r| r.split("</div>\n<p class=\"actions\">").next());
    let status = status.expect("a status region");
    assert!(status.contains("<p>Document déposé dans le dossier de Jeanne MARTIN.</p>"), "{raw}");
    for fact in [
        "<dt>Titre</dt><dd>Compte rendu de consultation</dd>",
        "<dt>Type</dt><dd>CR ou fiche de consultation ou de visite</dd>",
        "<dt>Classe</dt><dd>Compte rendu</dd>",
        "<dt>Date de l’acte</dt><dd>27\u{a0}février\u{a0}2026</dd>",
        "<dt>Visibilité</dt><dd>Pas encore visible par le patient</dd>",
    ] {
        assert!(status.contains(fact), "{fact}, in the status region: {raw}");
    }
    assert!(!raw.contains("INVISIBLE_PATIENT") && !raw.contains(p.as_str()), "no raw code, no INS: {raw}");

    // A new version: the form offers the first, and the deposit replaces it.
    let form = app.page(&path, &visit).await;
    assert!(
        form.raw.contains(&format!("<option value=\"{id}\">Compte rendu de consultation — CR ou fiche de consultation")),
        "{}",
        form.raw
    );
    let fields = [
        ("csrf", visit.csrf.as_str()),
        ("titre", "Compte rendu de consultation (corrigé)"),
        ("type", "11488-4"),
        ("date", "2026-02-27"),
        ("remplace", id),
    ];
    let r = post(&app, &visit, &path, &fields, Some(("cr.txt", "text/plain", "Tension normale.".as_bytes()))).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.raw);
    let to = location(&r);
    let new_id = to.strip_prefix(&format!("/patients/{h}/deposer/")).and_then(|t| t.strip_suffix("?fait=remplace")).expect("confirmation");
    let page = app.page(&to, &visit).await;
    assert!(page.raw.contains("Nouvelle version déposée dans le dossier de Jeanne MARTIN"), "{}", page.raw);
    let doctor_token = app.professional(7, Profession::Medecin);
    let old = app.get(&format!("/api/documents/{id}"), &doctor_token).await;
    assert_eq!(old.body["status"], "superseded", "{}", old.raw);
    let new = app.get(&format!("/api/documents/{new_id}"), &doctor_token).await;
    assert_eq!((new.body["replaces"].as_str(), new.body["status"].as_str()), (Some(id), Some("current")), "{}", new.raw);
    assert_eq!(deposits_in_ledger(&app, &p).await, 2);
    // The patient's list folds the old version under the new one (the new one has no label).
    let patient = Actor {
        issuer: carnet_auth::DevIssuer::ISSUER.into(),
        subject: format!("p-{p}"),
        name: None,
        kind: ActorKind::Patient { ins: p.clone() },
        scopes: Scopes::RoleOnly,
        client: None,
    };
    let list = app.page("/documents", &app.portal_session(&patient).await).await;
    assert!(list.raw.contains("Compte rendu de consultation (corrigé)"), "{}", list.raw);
    // A version already replaced is not offered again.
    let form = app.page(&path, &visit).await;
    assert!(!form.raw.contains(&format!("value=\"{id}\"")) && form.raw.contains(&format!("value=\"{new_id}\"")), "{}", form.raw);
}

/// A minimal PDF a browser opens.
const SMALL_PDF: &[u8] = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 300 144]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n";

fn clients_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fhir-clients")
}

/// `fhir-kit-client` finds the document titled `title` through ITI-67 and retrieves it through
/// ITI-68; what it saw.
async fn found_by_fhir_kit_client(base: &str, token: &str, p: &Ins, title: &str, file: &std::path::Path) -> Value {
    assert!(clients_dir().join("node_modules/fhir-kit-client").exists(), "run `npm ci --prefix tests/fhir-clients`");
    let out = tokio::process::Command::new("node")
        .arg(clients_dir().join("find-fhir-kit-client.mjs"))
        .current_dir(clients_dir())
        .env("CARNET_FHIR_BASE", base)
        .env("CARNET_TOKEN", token)
        .env("CARNET_INS", p.to_string())
        .env("CARNET_TITLE", title)
        .env("CARNET_FILE", file)
        .kill_on_drop(true)
        .output()
        .await
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "find-fhir-kit-client.mjs failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("a JSON line")
}

#[tokio::test]
async fn dr_bernard_deposits_then_replaces_in_chromium_and_a_fhir_client_finds_the_bytes() {
    let (app, origin) = portal_offering(vec![]).await;
    let p = ins(77);
    app.open_record(&p).await;
    // The patient authorizes the doctor, who then finds the record's documents through /fhir.
    let r = app
        .post(&format!("/api/records/{p}/policy/changes"), &app.patient(&p), json!({"change": "authorize", "rpps": rpps(77).to_string()}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    let visit = app.portal_session(&doctor(77)).await;
    let (cookie_name, session_id) = visit.cookie.split_once('=').expect("a cookie");
    let form = format!("{origin}/patients/{}/deposer", handle_in_session(session_id, &p));

    let dir = tempfile::tempdir().expect("temp dir");
    let report = dir.path().join("compte-rendu.pdf");
    std::fs::write(&report, SMALL_PDF).expect("write");
    let corrected = dir.path().join("compte-rendu-corrige.txt");
    std::fs::write(&corrected, "Tension artérielle normale ; revoir dans six mois.\n").expect("write");
    let not_a_pdf = dir.path().join("photo.pdf");
    std::fs::write(&not_a_pdf, b"GIF89a, pas un PDF").expect("write");
    let first_option = "Compte rendu de consultation — CR ou fiche de consultation ou de visite — 27\u{a0}février\u{a0}2026";
    let steps = vec![
        (format!("cookie:{cookie_name}={session_id}@{origin}"), 0, ""),
        (form.clone(), 200, "Déposer un document"),
        ("fill:Titre (obligatoire)=Compte rendu de consultation".to_owned(), 0, ""),
        ("select:Type de document (obligatoire)=CR ou fiche de consultation ou de visite".to_owned(), 0, ""),
        ("fill:Date de l’acte (obligatoire)=2026-02-27".to_owned(), 0, ""),
        (format!("upload:Fichier (obligatoire)={}", report.display()), 0, ""),
        ("click:Déposer le document".to_owned(), 200, "Document déposé dans le dossier de Jeanne MARTIN."),
        // The error state: a file that is not what its name says.
        (form.clone(), 200, "Remplace le document"),
        ("fill:Titre (obligatoire)=Photo de la plaie".to_owned(), 0, ""),
        ("select:Type de document (obligatoire)=Document encapsulant une image d'illustration non DICOM".to_owned(), 0, ""),
        ("check:Masquer aux autres professionnels".to_owned(), 0, ""),
        (format!("upload:Fichier (obligatoire)={}", not_a_pdf.display()), 0, ""),
        ("click:Déposer le document".to_owned(), 400, "Ce fichier n’est pas un PDF"),
        // A new version of the first.
        (form.clone(), 200, "Remplace le document"),
        ("fill:Titre (obligatoire)=Compte rendu de consultation (corrigé)".to_owned(), 0, ""),
        ("select:Type de document (obligatoire)=CR ou fiche de consultation ou de visite".to_owned(), 0, ""),
        ("fill:Date de l’acte (obligatoire)=2026-02-27".to_owned(), 0, ""),
        (format!("select:Remplace le document (facultatif)={first_option}"), 0, ""),
        (format!("upload:Fichier (obligatoire)={}", corrected.display()), 0, ""),
        ("click:Déposer le document".to_owned(), 200, "Nouvelle version déposée dans le dossier de Jeanne MARTIN"),
    ];
    let seen = walk("pro-deposer", &steps).await;
    let done = &seen[6];
    for fact in ["Compte rendu de consultation", "CR ou fiche de consultation ou de visite", "Compte rendu", "27\u{a0}février\u{a0}2026"] {
        assert!(done.text.contains(fact), "{fact}: {}", done.text);
    }
    assert!(seen[12].text.contains("le navigateur ne le garde pas"), "{}", seen[12].text);

    // A third-party client finds the new version through ITI-67 and gets its bytes through
    // ITI-68; the first version is folded under it (superseded).
    let base = format!("{origin}/fhir");
    let doctor_token = app.token(crate::portal::dr_bernard());
    let seen = found_by_fhir_kit_client(&base, &doctor_token, &p, "Compte rendu de consultation (corrigé)", &corrected).await;
    assert_eq!(seen["identical"], true, "{seen}");
    assert_eq!(seen["type"], "11488-4", "{seen}");
    assert_eq!(seen["category"], "10", "{seen}");
    let replaced = seen["replaces"].as_str().expect("relatesTo replaces").to_owned();
    let old = app.fhir_get(&format!("/fhir/DocumentReference/{replaced}"), &doctor_token).await;
    assert_eq!(old.body["status"], "superseded", "{}", old.raw);
    let old_bytes = app.get_raw(&format!("/api/documents/{replaced}/content"), &doctor_token, &[]).await;
    assert_eq!(old_bytes.bytes, SMALL_PDF, "the first version's bytes, as uploaded by the browser");
    // Nothing was stored by the refused deposit.
    let list = app.get(&format!("/api/records/{p}/documents"), &doctor_token).await;
    assert_eq!(list.body["total"], 2, "{}", list.raw);
}
