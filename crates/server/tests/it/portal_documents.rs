//! *Mes documents*, a document's page and *Ajouter un document*: what a patient (or their
//! representative) sees of their documents, the viewer's content route and its headers, hiding
//! a document from professionals, and their own deposits — in HTTP on both backends, and walked
//! in Chromium (hidden from Dr Bernard through `/fhir`, then shown again).

use crate::portal::{dr_bernard, marie, portal_offering, walk};
use crate::support;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use carnet_domain::{Actor, ActorKind, Ins, Profession, Scopes};
use carnet_server::HttpLimits;
use serde_json::{Value, json};
use support::{Backend, PortalVisit, Reply, TestApp, ins, rpps};

on_both_backends!(
    the_list_groups_by_month_folds_versions_and_filters,
    invalid_filter_dates_are_shown_next_to_their_field,
    a_document_page_shows_its_facts_viewer_and_versions,
    the_content_route_serves_the_bytes_confined_and_framed_by_carnet_only,
    another_patients_document_answers_like_an_unknown_one,
    a_form_without_its_token_changes_nothing,
    hiding_from_professionals_is_said_before_and_after,
    a_deposit_is_checked_field_by_field_and_nothing_refused_is_stored,
    a_representative_sees_what_is_visible_to_them_only,
    a_long_list_is_read_fifty_at_a_time,
);

async fn a_long_list_is_read_fifty_at_a_time(app: TestApp) {
    let p = ins(69);
    app.open_record(&p).await;
    let author = app.professional(1, Profession::Medecin);
    for n in 0..60u32 {
        let (kind, day) = if n % 2 == 0 { ("11502-2", 1 + n / 2) } else { ("11488-4", 1 + n / 2) };
        let authored = format!("2025-{:02}-{:02}T08:00:00Z", 1 + (n % 12), 1 + (day % 28));
        deposit(&app, &p, &author, meta(6900 + n, kind, &format!("Document n° {n}"), &authored), b"%PDF-1.7").await;
    }
    let visit = app.portal_session(&patient(&p)).await;
    let lines = |r: &Reply| r.raw.matches("class=\"doc-titre\"").count();
    let first = app.page("/documents", &visit).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(lines(&first), 50, "a page of fifty");
    assert!(first.raw.contains("Documents 1 à 50 sur 60") && first.raw.contains("href=\"/documents?page=2\""), "{}", first.raw);
    assert!(!first.raw.contains("Documents plus récents"));
    let second = app.page("/documents?page=2", &visit).await;
    assert_eq!(lines(&second), 10);
    assert!(second.raw.contains("Documents 51 à 60 sur 60") && second.raw.contains("href=\"/documents?page=1\""), "{}", second.raw);
    assert!(!second.raw.contains("Documents plus anciens"));
    // The two pages together: every document once.
    let ids = |r: &Reply| -> Vec<String> {
        r.raw.split("class=\"doc-titre\" href=\"/documents/").skip(1).filter_map(|t| t.split('"').next()).map(str::to_owned).collect()
    };
    let mut all: Vec<String> = ids(&first).into_iter().chain(ids(&second)).collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 60);
    // A filter is kept from page to page; past the end is the last page.
    let labs = app.page("/documents?type=11502-2", &visit).await;
    assert_eq!(lines(&labs), 30, "one page: {}", labs.raw);
    assert!(!labs.raw.contains("Documents plus anciens"));
    let beyond = app.page("/documents?page=9", &visit).await;
    assert_eq!(lines(&beyond), 10);
    let filtered = app.page("/documents?masques=&type=11488-4&page=1", &visit).await;
    assert_eq!(lines(&filtered), 30);
}

/// A patient acting for themselves in the portal (the same person as `app.patient(ins)`).
fn patient(ins: &Ins) -> Actor {
    Actor {
        issuer: carnet_auth::DevIssuer::ISSUER.into(),
        subject: format!("p-{ins}"),
        name: Some("Marie Dupont".into()),
        kind: ActorKind::Patient { ins: ins.clone() },
        scopes: Scopes::RoleOnly,
        client: None,
    }
}

/// The representative `app.representative(of)` is, in the portal.
fn representative(of: &Ins) -> Actor {
    Actor {
        issuer: carnet_auth::DevIssuer::ISSUER.into(),
        subject: format!("r-{of}"),
        name: None,
        kind: ActorKind::Representative { represents: vec![of.clone()] },
        scopes: Scopes::RoleOnly,
        client: None,
    }
}

fn meta(n: u32, type_code: &str, title: &str, authored: &str) -> Value {
    json!({"unique_id": format!("1.2.250.1.999.42.{n}"), "type_code": type_code, "title": title, "authored_at": authored,
        "mime_type": "application/pdf"})
}

async fn deposit(app: &TestApp, p: &Ins, token: &str, metadata: Value, bytes: &[u8]) -> String {
    let r = app.upload(p, token, metadata, bytes).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    r.body["id"].as_str().expect("id").to_owned()
}

/// The documents of the examples: a February blood test, a March consultation in two versions,
/// and a prescription the patient hid from professionals.
struct Fed {
    blood_test: String,
    first_version: String,
    consultation: String,
    letter: String,
}

async fn fed_record(app: &TestApp, p: &Ins, seed: u32) -> Fed {
    app.open_record(p).await;
    let n = seed * 10;
    let author = app.professional(1, Profession::Medecin);
    let blood_test =
        deposit(app, p, &author, meta(n + 1, "11502-2", "Bilan sanguin de février", "2026-02-10T08:00:00Z"), b"%PDF-1.7 bilan").await;
    let first_version =
        deposit(app, p, &author, meta(n + 2, "11488-4", "Consultation (première version)", "2026-03-01T09:00:00Z"), b"%PDF-1.7 v1").await;
    let mut corrected = meta(n + 3, "11488-4", "Consultation (corrigée)", "2026-03-01T09:00:00Z");
    corrected["replaces"] = json!(first_version);
    let consultation = deposit(app, p, &author, corrected, b"%PDF-1.7 v2").await;
    let mut letter = meta(n + 4, "57833-6", "Ordonnance de sortie", "2026-03-01T10:00:00Z");
    letter["labels"] = json!(["MASQUE_PS"]);
    let letter = deposit(app, p, &author, letter, b"%PDF-1.7 lettre").await;
    Fed { blood_test, first_version, consultation, letter }
}

fn assert_no_raw_code(reply: &Reply, p: &Ins) {
    for code in ["MASQUE_PS", "superseded", "rpps:", "ins:", p.as_str()] {
        assert!(!reply.raw.contains(code), "{code:?} on the page: {}", reply.raw);
    }
}

async fn the_list_groups_by_month_folds_versions_and_filters(app: TestApp) {
    let p = ins(60);
    let fed = fed_record(&app, &p, 1).await;
    let visit = app.portal_session(&patient(&p)).await;
    let all = app.page("/documents", &visit).await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.raw);
    assert!(all.raw.contains("3\u{a0}documents, dont 1\u{a0}masqué aux professionnels."), "{}", all.raw);
    // Newest month first, each document a link by its opaque id.
    let march = all.raw.find("Mars\u{a0}2026").expect("March");
    let february = all.raw.find("Février\u{a0}2026").expect("February");
    assert!(march < february, "newest first");
    for id in [&fed.blood_test, &fed.consultation, &fed.letter] {
        assert!(all.raw.contains(&format!("href=\"/documents/{id}\"")), "{id}");
    }
    // The replaced version is folded under the current one, not a line of its own.
    assert!(all.raw.contains("2 versions"), "{}", all.raw);
    assert!(!all.raw.contains("Consultation (première version)"), "no line of its own");
    assert!(all.raw.contains(&format!("href=\"/documents/{}\"", fed.first_version)));
    // Labels and types in words.
    assert!(all.raw.contains("Masqué aux professionnels") && all.raw.contains("CR d&#39;examens biologiques"), "{}", all.raw);
    assert!(all.raw.contains("Ajouter un document"));
    assert_no_raw_code(&all, &p);

    let hidden = app.page("/documents?masques=1", &visit).await;
    assert_eq!(hidden.status, StatusCode::OK);
    assert!(hidden.raw.contains("Ordonnance de sortie") && !hidden.raw.contains("Bilan sanguin"), "{}", hidden.raw);
    assert!(hidden.raw.contains("1\u{a0}document, dont 1\u{a0}masqué aux professionnels (sur 3 au total)."), "{}", hidden.raw);
    assert!(hidden.raw.contains("id=\"masques\" name=\"masques\" value=\"1\" checked"), "the box stays ticked");

    let by_type = app.page("/documents?type=11502-2", &visit).await;
    assert!(by_type.raw.contains("Bilan sanguin") && !by_type.raw.contains("Ordonnance de sortie"), "{}", by_type.raw);
    let by_class = app.page("/documents?classe=10&type=", &visit).await;
    assert!(by_class.raw.contains("Bilan sanguin") && !by_class.raw.contains("Ordonnance de sortie"), "class 10 only");
    let since_march = app.page("/documents?du=2026-03-01", &visit).await;
    assert!(!since_march.raw.contains("Bilan sanguin") && since_march.raw.contains("Consultation (corrigée)"), "{}", since_march.raw);
    let typed_by_hand = app.page("/documents?au=28/02/2026", &visit).await;
    assert!(typed_by_hand.raw.contains("Bilan sanguin") && !typed_by_hand.raw.contains("Consultation (corrigée)"));
    let nothing = app.page("/documents?au=2026-01-01", &visit).await;
    assert!(nothing.raw.contains("Aucun document ne correspond à ces critères."), "{}", nothing.raw);

    // An empty record says what to do.
    let other = ins(61);
    app.open_record(&other).await;
    let empty = app.page("/documents", &app.portal_session(&patient(&other)).await).await;
    assert!(empty.raw.contains("Votre dossier ne contient encore aucun document.") && empty.raw.contains("/documents/ajouter"));
}

async fn invalid_filter_dates_are_shown_next_to_their_field(app: TestApp) {
    let p = ins(62);
    fed_record(&app, &p, 1).await;
    let visit = app.portal_session(&patient(&p)).await;
    let r = app.page("/documents?du=2026-02-30", &visit).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.raw.contains("aria-describedby=\"du-erreur\"")
            && r.raw.contains("<span class=\"erreur-champ\" id=\"du-erreur\">Cette date n’existe pas.")
    );
    assert!(r.raw.contains("value=\"2026-02-30\""), "the value is kept");
    assert!(r.raw.contains("<a href=\"#du\">"), "the summary links to the field");
    assert!(r.raw.contains("Bilan sanguin"), "an invalid bound does not filter");
    let r = app.page("/documents?du=2026-03-01&au=2026-02-01", &visit).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.raw.contains("id=\"au-erreur\">Cette date est avant la date"), "{}", r.raw);
    assert!(!r.raw.contains("id=\"du-erreur\""));
}

async fn a_document_page_shows_its_facts_viewer_and_versions(app: TestApp) {
    let p = ins(63);
    let fed = fed_record(&app, &p, 1).await;
    let visit = app.portal_session(&patient(&p)).await;
    let r = app.page(&format!("/documents/{}", fed.consultation), &visit).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert_eq!(
        r.headers.get("content-security-policy").and_then(|v| v.to_str().ok()),
        Some(
            "default-src 'none'; style-src 'self'; img-src 'self'; frame-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        ),
        "this page only frames Carnet's own content"
    );
    assert_eq!(r.headers.get("x-frame-options").and_then(|v| v.to_str().ok()), Some("DENY"));
    // A PDF is framed without `sandbox` (browsers draw no PDF in a sandboxed frame): the
    // content route's own policy confines it.
    assert!(r.raw.contains(&format!("<iframe class=\"visionneuse\" src=\"/documents/{}/contenu\"", fed.consultation)), "{}", r.raw);
    assert!(r.raw.contains(&format!("href=\"/documents/{}/telecharger\"", fed.consultation)));
    for fact in [
        "CR ou fiche de consultation ou de visite",
        "Compte rendu",
        "1er\u{a0}mars\u{a0}2026",
        "PDF",
        "11\u{a0}octets",
        "Version en vigueur",
    ] {
        assert!(r.raw.contains(fact), "{fact:?}: {}", r.raw);
    }
    assert!(r.raw.contains("Versions de ce document") && r.raw.contains(&format!("href=\"/documents/{}\"", fed.first_version)));
    assert!(
        r.raw.contains("Masquer aux professionnels")
            && r.raw.contains("Votre médecin traitant et l’auteur du document le verront toujours.")
    );
    assert_no_raw_code(&r, &p);
    // The older version links back to the current one and says it was replaced.
    let old = app.page(&format!("/documents/{}", fed.first_version), &visit).await;
    assert!(
        old.raw.contains("Remplacé par une version plus récente") && old.raw.contains(&format!("href=\"/documents/{}\"", fed.consultation))
    );
    // The home page links each latest document to its page.
    let home = app.page("/", &visit).await;
    assert!(home.raw.contains(&format!("href=\"/documents/{}\"", fed.consultation)), "{}", home.raw);
}

async fn the_content_route_serves_the_bytes_confined_and_framed_by_carnet_only(app: TestApp) {
    let p = ins(64);
    let fed = fed_record(&app, &p, 1).await;
    let visit = app.portal_session(&patient(&p)).await;
    let header = |r: &Reply, name: &str| r.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let r = app.page(&format!("/documents/{}/contenu", fed.consultation), &visit).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.raw, "%PDF-1.7 v2");
    assert_eq!(header(&r, "content-type"), "application/pdf");
    assert_eq!(header(&r, "x-content-type-options"), "nosniff");
    // A PDF goes to the browser's own viewer: it loads nothing, and only Carnet frames it.
    let csp = header(&r, "content-security-policy");
    assert_eq!(csp, "default-src 'none'; object-src 'self'; frame-ancestors 'self'");
    assert_eq!(header(&r, "x-frame-options"), "SAMEORIGIN");
    assert_eq!(header(&r, "content-disposition"), "inline; filename=\"Consultation-corrigee.pdf\"");
    assert_eq!(header(&r, "cache-control"), "private, no-store");
    let d = app.page(&format!("/documents/{}/telecharger", fed.consultation), &visit).await;
    assert_eq!(d.status, StatusCode::OK);
    assert_eq!(header(&d, "content-disposition"), "attachment; filename=\"Consultation-corrigee.pdf\"");
    assert_eq!(d.raw, "%PDF-1.7 v2");
    // Each read is the patient's, in the ledger, like /api's.
    let history = app.get(&format!("/api/records/{p}/access-history"), &app.patient(&p)).await;
    let retrieved = history.body["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["action"] == "document.retrieve" && e["target"] == fed.consultation.as_str())
        .count();
    assert_eq!(retrieved, 2, "{}", history.raw);
}

async fn another_patients_document_answers_like_an_unknown_one(app: TestApp) {
    let p = ins(65);
    fed_record(&app, &p, 1).await;
    let other = ins(66);
    let theirs = fed_record(&app, &other, 2).await;
    let visit = app.portal_session(&patient(&p)).await;
    let unknown = app.page("/documents/00000000-0000-4000-8000-000000000000", &visit).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    for path in [
        format!("/documents/{}", theirs.consultation),
        format!("/documents/{}/contenu", theirs.consultation),
        format!("/documents/{}/telecharger", theirs.consultation),
        "/documents/pas-un-identifiant".to_owned(),
    ] {
        let r = app.page(&path, &visit).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(r.raw, unknown.raw, "{path}: the same page as an unknown id");
        assert!(!r.raw.contains("Consultation"), "{path}");
    }
    let r = app.submit(&format!("/documents/{}/visibilite", theirs.letter), &visit, &[("masquer", "non")]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let still = app.get(&format!("/api/documents/{}", theirs.letter), &app.patient(&other)).await;
    assert_eq!(still.body["labels"], json!(["MASQUE_PS"]), "nothing changed");
}

/// A file of the form: its name, its type as the browser says, its bytes.
type File<'a> = (&'a str, &'a str, &'a [u8]);

/// Fields, a file, and what the page says of them.
type Refused<'a> = (&'a [(&'a str, &'a str)], Option<File<'a>>, &'a str);

/// A `multipart/form-data` body as the *Ajouter un document* form sends it: the text fields in
/// order, then the file (`None`: no file chosen).
fn deposit_form(fields: &[(&str, &str)], file: Option<File>) -> (String, Vec<u8>) {
    let boundary = "----carnet-formulaire-7d1f0c";
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

async fn post_deposit(app: &TestApp, visit: &PortalVisit, fields: &[(&str, &str)], file: Option<File<'_>>) -> Reply {
    let (boundary, body) = deposit_form(fields, file);
    let req = Request::builder()
        .method(Method::POST)
        .uri("/documents/ajouter")
        .header("cookie", &visit.cookie)
        .header("accept", "text/html")
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .header("content-length", body.len())
        .header("sec-fetch-site", "same-origin")
        .body(Body::from(body))
        .expect("request");
    app.send(req).await
}

async fn titles(app: &TestApp, p: &Ins) -> Vec<String> {
    let list = app.get(&format!("/api/records/{p}/documents"), &app.patient(p)).await;
    list.body["documents"].as_array().into_iter().flatten().filter_map(|d| d["title"].as_str().map(str::to_owned)).collect()
}

async fn a_form_without_its_token_changes_nothing(app: TestApp) {
    let p = ins(67);
    let fed = fed_record(&app, &p, 1).await;
    let visit = app.portal_session(&patient(&p)).await;
    // The label form, without its token or with another.
    for token in [None, Some("pas-le-bon")] {
        let mut fields = vec![("masquer", "oui")];
        if let Some(t) = token {
            fields.push(("csrf", t));
        }
        let body = serde_urlencoded::to_string(&fields).expect("form");
        let req = Request::builder()
            .method(Method::POST)
            .uri(format!("/documents/{}/visibilite", fed.blood_test))
            .header("cookie", &visit.cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .expect("request");
        let r = app.send(req).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.raw);
        assert!(r.raw.contains("rien n’a été modifié"));
    }
    let doc = app.get(&format!("/api/documents/{}", fed.blood_test), &app.patient(&p)).await;
    assert_eq!(doc.body["labels"], json!([]), "not hidden");
    // The deposit form, without its token: refused before the file is looked at.
    let before = titles(&app, &p).await;
    let fields = [("titre", "Ordonnance"), ("type", "DOCPAT02")];
    let r = post_deposit(&app, &visit, &fields, Some(("ordonnance.pdf", "application/pdf", b"%PDF-1.7 ordonnance"))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.raw);
    assert_eq!(titles(&app, &p).await, before, "nothing stored");
}

async fn hiding_from_professionals_is_said_before_and_after(app: TestApp) {
    let p = ins(68);
    let fed = fed_record(&app, &p, 1).await;
    let visit = app.portal_session(&patient(&p)).await;
    let r = app.submit(&format!("/documents/{}/visibilite", fed.blood_test), &visit, &[("masquer", "oui")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let to = r.headers.get("location").and_then(|v| v.to_str().ok()).expect("location").to_owned();
    assert_eq!(to, format!("/documents/{}?fait=masque", fed.blood_test), "a fixed flag, no user data");
    let page = app.page(&to, &visit).await;
    assert!(page.raw.contains("<div role=\"status\" class=\"statut\"><p>Document masqué aux professionnels."), "{}", page.raw);
    assert!(page.raw.contains("Ne plus masquer") && page.raw.contains("Seuls votre médecin traitant et l’auteur du document le voient."));
    let doc = app.get(&format!("/api/documents/{}", fed.blood_test), &app.patient(&p)).await;
    assert_eq!(doc.body["labels"], json!(["MASQUE_PS"]));
    let r = app.submit(&format!("/documents/{}/visibilite", fed.blood_test), &visit, &[("masquer", "non")]).await;
    assert_eq!(
        r.headers.get("location").and_then(|v| v.to_str().ok()),
        Some(format!("/documents/{}?fait=visible", fed.blood_test).as_str())
    );
    let doc = app.get(&format!("/api/documents/{}", fed.blood_test), &app.patient(&p)).await;
    assert_eq!(doc.body["labels"], json!([]));
}

async fn a_deposit_is_checked_field_by_field_and_nothing_refused_is_stored(app: TestApp) {
    let p = ins(69);
    app.open_record(&p).await;
    let visit = app.portal_session(&patient(&p)).await;
    let form = app.page("/documents/ajouter", &visit).await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.raw.contains("enctype=\"multipart/form-data\"") && form.raw.contains("Autre document du patient"));
    assert!(!form.raw.contains("CR d&#39;examens biologiques<"), "only the types a patient deposits are offered");
    let csrf = visit.csrf.clone();
    let pdf: &[u8] = b"%PDF-1.7 ordonnance du 20 fevrier";
    let refused: [Refused; 6] = [
        (
            &[("csrf", &csrf), ("titre", " "), ("date", "2026-02-20"), ("type", "DOCPAT02")],
            Some(("o.pdf", "application/pdf", pdf)),
            "Donnez un titre",
        ),
        (
            &[("csrf", &csrf), ("titre", "Ordonnance"), ("date", "2026-03-03"), ("type", "DOCPAT02")],
            Some(("o.pdf", "application/pdf", pdf)),
            "dans le futur",
        ),
        (&[("csrf", &csrf), ("titre", "Ordonnance"), ("type", "11502-2")], Some(("o.pdf", "application/pdf", pdf)), "Choisissez un type"),
        (&[("csrf", &csrf), ("titre", "Ordonnance"), ("type", "DOCPAT02")], None, "Choisissez le fichier"),
        (
            &[("csrf", &csrf), ("titre", "Ordonnance"), ("type", "DOCPAT02")],
            Some(("ordonnance.pdf", "application/pdf", b"MZ\x90\x00 not a pdf")),
            "Ce fichier n’est pas un PDF",
        ),
        (
            &[("csrf", &csrf), ("titre", "Ordonnance"), ("type", "DOCPAT02")],
            Some(("o.docx", "application/msword", pdf)),
            "Ce format n’est pas accepté",
        ),
    ];
    for (fields, file, says) in refused {
        let r = post_deposit(&app, &visit, fields, file).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{says}: {}", r.raw);
        assert!(r.raw.contains(says), "{says}: {}", r.raw);
        assert!(r.raw.contains("Le document n’a pas été ajouté") && r.raw.contains("class=\"erreur-champ\""), "{}", r.raw);
        assert_eq!(titles(&app, &p).await, Vec::<String>::new(), "{says}: nothing stored");
    }
    // The entered values are kept.
    let r =
        post_deposit(&app, &visit, &[("csrf", &csrf), ("titre", "Ordonnance"), ("date", "2026-02-20"), ("type", "DOCPAT07")], None).await;
    assert!(
        r.raw.contains("value=\"Ordonnance\"") && r.raw.contains("value=\"2026-02-20\"") && r.raw.contains("value=\"DOCPAT07\" selected")
    );
    assert!(r.raw.contains("aria-describedby=\"fichier-aide fichier-erreur\""), "the message is tied to its field");

    let fields = [("csrf", csrf.as_str()), ("titre", "Ordonnance du Dr Martin"), ("date", "2026-02-20"), ("type", "DOCPAT02")];
    let r = post_deposit(&app, &visit, &fields, Some(("ordonnance.pdf", "application/pdf", pdf))).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.raw);
    let to = r.headers.get("location").and_then(|v| v.to_str().ok()).expect("location").to_owned();
    let id = to.strip_prefix("/documents/").and_then(|rest| rest.strip_suffix("?fait=ajoute")).expect("the new document's page").to_owned();
    let doc = app.get(&format!("/api/documents/{id}"), &app.patient(&p)).await;
    assert_eq!(doc.body["title"], "Ordonnance du Dr Martin");
    assert_eq!(doc.body["type_code"]["code"], "DOCPAT02");
    assert_eq!(doc.body["class_code"]["code"], "42", "the class follows the type");
    assert_eq!(doc.body["mime_type"], "application/pdf");
    assert_eq!(doc.body["authored_at"], "2026-02-20T12:00:00Z");
    assert_eq!(doc.body["author"], format!("ins:{p}"));
    let page = app.page(&to, &visit).await;
    assert!(page.raw.contains("Document ajouté.") && page.raw.contains("Ordonnance du Dr Martin"), "{}", page.raw);
    assert!(page.raw.contains("<dt>Auteur</dt><dd>Vous</dd>"), "{}", page.raw);

    // A text: served to the viewer as UTF-8.
    let text = "Tension artérielle : 12/8".as_bytes();
    let fields = [("csrf", csrf.as_str()), ("titre", "Mes mesures"), ("type", "EXPPAT_2")];
    let r = post_deposit(&app, &visit, &fields, Some(("mesures.txt", "text/plain", text))).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.raw);
    let to = r.headers.get("location").and_then(|v| v.to_str().ok()).expect("location").to_owned();
    let content = app.page(&format!("{}/contenu", to.trim_end_matches("?fait=ajoute")), &visit).await;
    assert_eq!(content.headers.get("content-type").and_then(|v| v.to_str().ok()), Some("text/plain; charset=utf-8"));
    assert_eq!(content.raw.as_bytes(), text);
    // Anything but a PDF runs sandboxed: no script, an opaque origin, framed by Carnet only.
    let csp = content.headers.get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(csp.starts_with("sandbox;") && csp.contains("frame-ancestors 'self'") && csp.contains("default-src 'none'"), "{csp}");
    assert!(!csp.contains("allow-scripts"), "{csp}");
    let page = app.page(to.trim_end_matches("?fait=ajoute"), &visit).await;
    assert!(page.raw.contains("<iframe class=\"visionneuse\" sandbox src="), "{}", page.raw);
    assert_eq!(titles(&app, &p).await.len(), 2);

    // A closed record takes no deposit: said in French, on the form.
    let closed = app.post(&format!("/api/records/{p}/close"), &app.patient(&p), json!({"reason": "je déménage"})).await;
    assert_eq!(closed.status, StatusCode::OK, "{}", closed.raw);
    let fields = [("csrf", csrf.as_str()), ("titre", "Après fermeture"), ("type", "EXPPAT_2")];
    let r = post_deposit(&app, &visit, &fields, Some(("note.txt", "text/plain", b"note"))).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.raw);
    assert!(r.raw.contains("Votre dossier n’accepte pas de nouveau document") && r.raw.contains("value=\"Après fermeture\""), "{}", r.raw);
    assert_eq!(titles(&app, &p).await.len(), 2);
}

#[tokio::test]
async fn a_body_over_the_limit_gets_a_french_page_and_nothing_is_stored() {
    let app = TestApp::with_limits(Backend::Sqlite, HttpLimits { document_body_bytes: 4096, ..HttpLimits::default() }).await;
    let p = ins(70);
    app.open_record(&p).await;
    let visit = app.portal_session(&patient(&p)).await;
    let form = app.page("/documents/ajouter", &visit).await;
    assert!(form.raw.contains("4\u{a0}ko au plus"), "the limit is said before: {}", form.raw);
    let mut big = b"%PDF-1.7 ".to_vec();
    big.resize(10_000, b'x');
    let fields = [("csrf", visit.csrf.as_str()), ("titre", "Scanner"), ("type", "DOCPAT04")];
    let r = post_deposit(&app, &visit, &fields, Some(("scanner.pdf", "application/pdf", &big))).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(r.raw.contains("Ce fichier est trop volumineux") && r.raw.contains("value=\"Scanner\""), "{}", r.raw);
    assert_eq!(r.headers.get("content-type").and_then(|v| v.to_str().ok()), Some("text/html; charset=utf-8"));
    assert_eq!(titles(&app, &p).await, Vec::<String>::new());
    // Without a declared length, the bytes are counted as they come.
    let (boundary, body) = deposit_form(&fields, Some(("scanner.pdf", "application/pdf", &big)));
    let stream =
        futures::stream::iter(body.chunks(1000).map(|c| Ok::<_, std::io::Error>(bytes::Bytes::copy_from_slice(c))).collect::<Vec<_>>());
    let req = Request::builder()
        .method(Method::POST)
        .uri("/documents/ajouter")
        .header("cookie", &visit.cookie)
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(Body::from_stream(stream))
        .expect("request");
    let r = app.send(req).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.raw);
    assert!(r.raw.contains("Ce fichier est trop volumineux"));
    assert_eq!(titles(&app, &p).await, Vec::<String>::new());
}

/// The portal's deposit is held to the pace of `/api`: a file trickling in (50 bytes/s against
/// a floor of 1,000 once half a second has passed) is ended with a French 408 page, nothing
/// stored; the same file at full speed is added.
#[tokio::test]
async fn a_deposit_slower_than_the_floor_gets_a_french_page_and_nothing_is_stored() {
    let limits =
        HttpLimits { min_upload_bytes_per_second: 1000, upload_grace: std::time::Duration::from_millis(500), ..HttpLimits::default() };
    let app = TestApp::with_limits(Backend::Sqlite, limits).await;
    let p = ins(72);
    app.open_record(&p).await;
    let visit = app.portal_session(&patient(&p)).await;
    let mut file = b"%PDF-1.7 ".to_vec();
    file.resize(4000, b'x');
    let fields = [("csrf", visit.csrf.as_str()), ("titre", "Radio lente"), ("type", "DOCPAT04")];
    let (boundary, body) = deposit_form(&fields, Some(("radio.pdf", "application/pdf", &file)));
    // Everything up to the file's first kilobyte at once, then 10 bytes every 200 ms.
    let start = body.windows(4).position(|w| w == b"%PDF").expect("the file") + 1024;
    let (head, rest) = body.split_at(start);
    let mut pieces: Vec<bytes::Bytes> = vec![bytes::Bytes::copy_from_slice(head)];
    pieces.extend(rest.chunks(10).map(bytes::Bytes::copy_from_slice));
    let slow = futures::StreamExt::then(futures::stream::iter(pieces), |piece| async move {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        Ok::<_, std::io::Error>(piece)
    });
    let req = Request::builder()
        .method(Method::POST)
        .uri("/documents/ajouter")
        .header("cookie", &visit.cookie)
        .header("accept", "text/html")
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .header("sec-fetch-site", "same-origin")
        .body(Body::from_stream(slow))
        .expect("request");
    let started = std::time::Instant::now();
    let r = app.send(req).await;
    assert_eq!(r.status, StatusCode::REQUEST_TIMEOUT, "{}", r.raw);
    assert!(r.raw.contains("Envoi trop lent") && r.raw.contains("rien n’a été ajouté"), "{}", r.raw);
    assert_eq!(r.headers.get("content-type").and_then(|v| v.to_str().ok()), Some("text/html; charset=utf-8"));
    // The whole body would take a minute; the page comes once the floor is crossed.
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "ended early: {:?}", started.elapsed());
    assert_eq!(titles(&app, &p).await, Vec::<String>::new(), "nothing stored");
    let blobs = app.data_dir().join("blobs/documents");
    for _ in 0..50 {
        if std::fs::read_dir(&blobs).map(|d| d.count()).unwrap_or(0) == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(std::fs::read_dir(&blobs).map(|d| d.count()).unwrap_or(0), 0, "no blob left");

    let r = post_deposit(&app, &visit, &fields, Some(("radio.pdf", "application/pdf", &file))).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.raw);
    assert_eq!(titles(&app, &p).await, vec!["Radio lente".to_owned()]);
}

async fn a_representative_sees_what_is_visible_to_them_only(app: TestApp) {
    let minor = ins(71);
    let parent = app.representative(&minor);
    let mut body = support::new_record(&minor);
    body["birth_date"] = json!("2014-05-02");
    assert_eq!(app.post("/api/records", &parent, body).await.status, StatusCode::CREATED);
    let author = app.professional(1, Profession::Medecin);
    let shown = deposit(&app, &minor, &author, meta(1, "11488-4", "Consultation de suivi", "2026-02-01T09:00:00Z"), b"%PDF-1.7 a").await;
    let mut secret = meta(2, "11488-4", "Consultation confidentielle", "2026-02-02T09:00:00Z");
    secret["labels"] = json!(["INVISIBLE_REPRESENTANTS_LEGAUX"]);
    let secret = deposit(&app, &minor, &author, secret, b"%PDF-1.7 b").await;
    let visit = app.portal_session(&representative(&minor)).await;
    let list = app.page("/documents", &visit).await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.raw.contains("Consultation de suivi") && !list.raw.contains("Consultation confidentielle"), "{}", list.raw);
    assert!(list.raw.contains("1\u{a0}document."), "counted as they see it: {}", list.raw);
    assert_eq!(app.page(&format!("/documents/{shown}"), &visit).await.status, StatusCode::OK);
    for path in [format!("/documents/{secret}"), format!("/documents/{secret}/contenu")] {
        assert_eq!(app.page(&path, &visit).await.status, StatusCode::NOT_FOUND, "{path}");
    }
}

/// A minimal PDF a browser opens.
const SMALL_PDF: &[u8] = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 300 144]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n";

#[tokio::test]
async fn marie_finds_hides_and_adds_documents_in_chromium() {
    let (app, origin) = portal_offering(vec![marie()]).await;
    let p = ins(77);
    app.open_record(&p).await;
    let author = app.professional(78, Profession::Medecin);
    let blood = deposit(&app, &p, &author, meta(1, "11502-2", "Bilan sanguin de février", "2026-02-10T08:00:00Z"), SMALL_PDF).await;
    let mut text = meta(2, "11488-4", "Compte rendu de consultation", "2026-03-01T09:00:00Z");
    text["mime_type"] = json!("text/plain");
    let first = deposit(&app, &p, &author, text.clone(), "Tension artérielle à surveiller.".as_bytes()).await;
    text["unique_id"] = json!("1.2.250.1.999.42.3");
    text["replaces"] = json!(first);
    let report = deposit(&app, &p, &author, text, "Tension artérielle normale, revoir dans six mois.".as_bytes()).await;
    // Marie authorizes Dr Bernard, who then sees her documents through /fhir.
    let patient_token = app.patient(&p);
    let r = app
        .post(&format!("/api/records/{p}/policy/changes"), &patient_token, json!({"change": "authorize", "rpps": rpps(77).to_string()}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    let doctor = app.token(dr_bernard());
    let doctor_sees = |id: String| {
        let (app, doctor, p) = (&app, doctor.clone(), p.clone());
        async move {
            let search = app.fhir_get(&format!("/fhir/DocumentReference?patient={p}"), &doctor).await;
            assert_eq!(search.status, StatusCode::OK, "{}", search.raw);
            let listed = search.raw.contains(&id);
            let read = app.fhir_get(&format!("/fhir/DocumentReference/{id}"), &doctor).await.status;
            assert_eq!(listed, read == StatusCode::OK, "the search and the read agree");
            listed
        }
    };
    assert!(doctor_sees(report.clone()).await);

    let sign_in = |steps: &mut Vec<(String, u16, &'static str)>| {
        steps.push((format!("{origin}/connexion"), 200, "Choisissez une personne de démonstration"));
        steps.push(("click:Marie Dupont (patiente)".to_owned(), 200, "Mon dossier médical"));
    };
    // She finds her documents, narrows them, opens the report and hides it.
    let mut steps = vec![];
    sign_in(&mut steps);
    steps.extend([
        ("link:Mes documents".to_owned(), 200, "2\u{a0}documents."),
        // What the filter form sends (it is folded away until used).
        (format!("{origin}/documents?classe=&type=11502-2&auteur=&du=&au="), 200, "Bilan sanguin de février"),
        ("select:Auteur=Un professionnel de santé".to_owned(), 0, ""),
        ("click:Rechercher".to_owned(), 200, "Bilan sanguin de février"),
        ("link:Afficher tous les documents".to_owned(), 200, "Compte rendu de consultation"),
        ("link:Compte rendu de consultation".to_owned(), 200, "Versions de ce document"),
        ("press:Masquer aux professionnels".to_owned(), 200, "Document masqué aux professionnels."),
        (format!("{origin}/documents/{blood}"), 200, "Bilan sanguin de février"),
    ]);
    let seen = walk("documents", &steps).await;
    let list = &seen[2].text;
    assert!(list.contains("Mars\u{a0}2026") && list.contains("Février\u{a0}2026"), "grouped by month: {list}");
    assert!(list.find("Mars").expect("March") < list.find("Février\u{a0}2026").expect("February"), "newest first");
    assert!(list.contains("CR d'examens biologiques") && list.contains("2 versions"), "{list}");
    for narrowed in [&seen[3], &seen[5]] {
        assert!(!narrowed.text.contains("Compte rendu de consultation"), "the filter narrows: {}", narrowed.text);
    }
    let page = &seen[7];
    assert!(page.url.ends_with(&format!("/documents/{report}")), "{}", page.url);
    let frame = page.frames.iter().find(|f| f.url.ends_with("/contenu")).expect("the viewer's frame");
    assert!(frame.text.contains("Tension artérielle normale, revoir dans six mois."), "the frame shows the text: {frame:?}");
    assert!(seen[8].text.contains("Ne plus masquer"), "{}", seen[8].text);
    assert!(!seen[9].frames.is_empty(), "a PDF is framed too");
    assert!(!doctor_sees(report.clone()).await, "hidden from Dr Bernard");

    // She shows it again, then adds a PDF of her own; a file that is not a PDF is refused.
    let dir = tempfile::tempdir().expect("temp dir");
    let good = dir.path().join("ordonnance.pdf");
    std::fs::write(&good, SMALL_PDF).expect("write");
    let bad = dir.path().join("photo.pdf");
    std::fs::write(&bad, b"GIF89a, pas un PDF").expect("write");
    let mut steps = vec![];
    sign_in(&mut steps);
    steps.extend([
        (format!("{origin}/documents/{report}"), 200, "Ne plus masquer"),
        ("press:Ne plus masquer".to_owned(), 200, "Le document n’est plus masqué"),
        (format!("{origin}/documents"), 200, "Ajouter un document"),
        ("link:Ajouter un document".to_owned(), 200, "Titre du document (obligatoire)"),
        ("fill:Titre du document (obligatoire)=Ordonnance du Dr Martin".to_owned(), 0, ""),
        ("fill:Date de l’acte (facultatif)=2026-02-20".to_owned(), 0, ""),
        ("select:Type de document=Traitement ou document de soins déposé par le patient".to_owned(), 0, ""),
        (format!("upload:Fichier={}", good.display()), 0, ""),
        ("click:Ajouter le document".to_owned(), 200, "Document ajouté."),
        (format!("{origin}/documents/ajouter"), 200, "Ajouter un document"),
        ("fill:Titre du document (obligatoire)=Photo".to_owned(), 0, ""),
        (format!("upload:Fichier={}", bad.display()), 0, ""),
        ("click:Ajouter le document".to_owned(), 400, "Ce fichier n’est pas un PDF"),
        (format!("{origin}/documents"), 200, "Ordonnance du Dr Martin"),
    ]);
    let seen = walk("documents-ajout", &steps).await;
    assert!(doctor_sees(report).await, "shown to Dr Bernard again");
    assert!(seen[10].text.contains("Ordonnance du Dr Martin") && seen[10].text.contains("20\u{a0}février\u{a0}2026"), "{}", seen[10].text);
    let mine = titles(&app, &p).await;
    assert!(mine.contains(&"Ordonnance du Dr Martin".to_owned()) && !mine.contains(&"Photo".to_owned()), "{mine:?}");
}
