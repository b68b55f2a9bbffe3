//! The professional's space: finding a patient (by INS, by traits, with a French message for each
//! kind of mistyped INS), the record page without access (nothing of the content, not even how
//! much there is), the point-of-care declaration, the emergency access (its mandatory motive, the
//! patient's history), the profession matrix as `decide` applies it, handles that open nothing in
//! another session — in HTTP on both backends, and walked in Chromium.

use crate::portal::{demo_person, dr_bernard, marie, portal_offering, walk};
use crate::support;

use axum::http::StatusCode;
use carnet_auth::TokenClaims;
use carnet_domain::{Actor, ActorKind, Ins, Profession, ProfessionalIdentity, Role, Scopes};
use carnet_service::HistoryQuery;
use serde_json::{Value, json};
use support::{PortalVisit, Reply, TestApp, ins, rpps};

on_both_backends!(
    a_patient_is_found_by_ins_or_by_traits,
    each_mistyped_ins_is_told_next_to_its_field,
    without_access_nothing_of_the_content_shows_not_even_how_much,
    a_declared_authorization_opens_the_record_and_is_in_the_patients_history,
    a_blocked_professional_is_refused_and_nothing_opens,
    an_emergency_needs_a_motive_and_is_in_the_patients_history,
    an_opposed_emergency_is_refused_in_one_sentence,
    a_regulator_opens_a_samu_access,
    a_dentist_and_a_nurse_see_what_the_matrix_lets_them,
    a_handle_opens_nothing_in_another_session,
    the_space_is_for_professionals_only,
);

pub(crate) fn professional(n: u32, profession: Profession) -> Actor {
    Actor {
        issuer: carnet_auth::DevIssuer::ISSUER.into(),
        subject: format!("pro-{n}"),
        name: Some(format!("{} n° {n}", profession.label_fr())),
        kind: ActorKind::Professional(ProfessionalIdentity { rpps: rpps(n), profession, specialty: None, organisation: None }),
        scopes: Scopes::RoleOnly,
        client: None,
    }
}

fn regulator(n: u32) -> Actor {
    Actor {
        kind: ActorKind::Regulator(ProfessionalIdentity {
            rpps: rpps(n),
            profession: Profession::Medecin,
            specialty: None,
            organisation: None,
        }),
        ..professional(n, Profession::Medecin)
    }
}

fn patient(p: &Ins) -> Actor {
    Actor {
        issuer: carnet_auth::DevIssuer::ISSUER.into(),
        subject: format!("p-{p}"),
        name: Some("Jeanne Martin".into()),
        kind: ActorKind::Patient { ins: p.clone() },
        scopes: Scopes::RoleOnly,
        client: None,
    }
}

fn meta(n: u32, type_code: &str, title: &str) -> Value {
    json!({"unique_id": format!("1.2.250.1.999.61.{n}"), "type_code": type_code, "title": title,
        "authored_at": "2026-02-10T08:00:00Z", "mime_type": "application/pdf"})
}

/// A record fed by professional n° 1 with the documents `(type, title)`; their ids.
async fn fed(app: &TestApp, p: &Ins, documents: &[(&str, &str)]) -> Vec<String> {
    app.open_record(p).await;
    let author = app.professional(1, Profession::Medecin);
    let mut ids = Vec::new();
    for (n, (kind, title)) in documents.iter().enumerate() {
        let seed = u32::try_from(n).expect("few") + 100 * (p.as_str().as_bytes()[12] as u32);
        let r = app.upload(p, &author, meta(seed, kind, title), b"%PDF-1.7 contenu").await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
        ids.push(r.body["id"].as_str().expect("id").to_owned());
    }
    ids
}

/// The first patient link of a search result page (its handle).
fn first_handle(page: &Reply) -> String {
    page.raw.split("href=\"/patients/").nth(1).and_then(|r| r.split('"').next()).expect("a patient link").to_owned()
}

/// The handle of `p` in `visit`'s session, as the search by INS gives it.
async fn handle_of(app: &TestApp, visit: &PortalVisit, p: &Ins) -> String {
    let found = app.submit("/patients/rechercher", visit, &[("par", "ins"), ("ins", p.as_str())]).await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.raw);
    first_handle(&found)
}

fn location(reply: &Reply) -> &str {
    reply.headers.get("location").and_then(|v| v.to_str().ok()).unwrap_or_default()
}

/// The record's history as its patient reads it: the actions recorded.
async fn recorded_actions(app: &TestApp, p: &Ins) -> Vec<String> {
    let query = HistoryQuery { limit: 500, ..HistoryQuery::default() };
    let page = app.carnet.access_history(&patient(p), p, query).await.expect("the patient reads their history");
    page.entries.into_iter().map(|e| e.entry.action).collect()
}

async fn a_patient_is_found_by_ins_or_by_traits(app: TestApp) {
    let p = ins(31);
    app.open_record(&p).await;
    let other = ins(32);
    let created = app
        .post(
            "/api/records",
            &app.role(Role::InsurerAgent),
            json!({"ins": other.to_string(), "identity_status": "qualifiee", "birth_name": "DURAND", "birth_given_names": "Paul Émile",
                "birth_date": "1950-05-05", "sex": "M", "birthplace": "69123"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.raw);
    let doctor = app.portal_session(&professional(77, Profession::Medecin)).await;

    let form = app.page("/patients", &doctor).await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.raw.contains("Rechercher par INS") && form.raw.contains("Rechercher par traits"), "{}", form.raw);

    // By INS, written with spaces as on a card.
    let spaced = format!("{} {} {}", &p.as_str()[..1], &p.as_str()[1..13], &p.as_str()[13..]);
    let found = app.submit("/patients/rechercher", &doctor, &[("par", "ins"), ("ins", &spaced)]).await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.raw);
    assert!(found.raw.contains("1 patient correspond"), "{}", found.raw);
    assert!(found.raw.contains("Jeanne MARTIN") && found.raw.contains("1er\u{a0}décembre\u{a0}1984") && found.raw.contains("Féminin"));
    assert!(!found.raw.contains("DURAND"));
    assert!(!found.raw.contains(&format!("/patients/{}", p.as_str())), "no INS in a link");
    let record = app.page(&format!("/patients/{}", first_handle(&found)), &doctor).await;
    assert_eq!(record.status, StatusCode::OK, "{}", record.raw);
    assert!(record.raw.contains("<h1>Dossier de Jeanne MARTIN</h1>"), "{}", record.raw);
    assert!(record.raw.contains(p.as_str()), "the INS in the identity block, to check the identity: {}", record.raw);
    assert!(!record.raw.contains(&format!("<title>{}", p.as_str())) && !record.raw.split("</title>").next().unwrap().contains(p.as_str()));

    // By traits: a prefix of the birth name or a given name, the birth date, the sex.
    for (fields, shows, hides) in [
        (vec![("nom", "mar")], "Jeanne MARTIN", "DURAND"),
        (vec![("prenom", "pau")], "Paul Émile DURAND", "MARTIN"),
        (vec![("naissance", "05/05/1950")], "Paul Émile DURAND", "MARTIN"),
        (vec![("naissance", "1984-12-01"), ("sexe", "F")], "Jeanne MARTIN", "DURAND"),
        (vec![("sexe", "M")], "Paul Émile DURAND", "MARTIN"),
    ] {
        let mut all = vec![("par", "traits")];
        all.extend(fields.iter().copied());
        let found = app.submit("/patients/rechercher", &doctor, &all).await;
        assert_eq!(found.status, StatusCode::OK, "{fields:?}: {}", found.raw);
        assert!(found.raw.contains(shows) && !found.raw.contains(hides), "{fields:?}: {}", found.raw);
    }
    let none = app.submit("/patients/rechercher", &doctor, &[("par", "traits"), ("nom", "ZZZ")]).await;
    assert!(none.raw.contains("Aucun patient ne correspond"), "{}", none.raw);
    // Nothing typed: said, nothing searched.
    let empty = app.submit("/patients/rechercher", &doctor, &[("par", "traits"), ("nom", " ")]).await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    assert!(empty.raw.contains("Remplissez au moins un des champs"), "{}", empty.raw);
    // The search is in the ledger, as PDQm's is.
    assert!(recorded_actions(&app, &p).await.iter().any(|a| a == "record.search"));
}

async fn each_mistyped_ins_is_told_next_to_its_field(app: TestApp) {
    let p = ins(33);
    app.open_record(&p).await;
    let doctor = app.portal_session(&professional(77, Profession::Medecin)).await;
    let s = p.as_str();
    let last = s.as_bytes()[14];
    let wrong_key = format!("{}{}", &s[..14], if last == b'9' { '0' } else { char::from(last + 1) });
    let letters = format!("{}X{}", &s[..3], &s[4..]);
    for (typed, message) in [
        (wrong_key.as_str(), "La clé (les 2 derniers chiffres) ne correspond pas aux 13 premiers"),
        (&s[..13], "Un INS compte 15 chiffres"),
        (letters.as_str(), "Un INS ne contient que des chiffres"),
        ("", "Saisissez l’INS du patient"),
    ] {
        let reply = app.submit("/patients/rechercher", &doctor, &[("par", "ins"), ("ins", typed)]).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{typed}: {}", reply.raw);
        let field = reply.raw.split("id=\"ins-erreur\">").nth(1).expect("the message next to the field");
        assert!(field.starts_with(message), "{typed}: {field}");
        assert!(reply.raw.contains("aria-describedby=\"ins-aide ins-erreur\""), "{}", reply.raw);
        assert!(reply.raw.contains(&format!("value=\"{typed}\"")), "the typed value is kept: {}", reply.raw);
        assert!(!reply.raw.contains("/patients/") || !reply.raw.contains("class=\"liste-patients\""), "nothing searched");
    }
    let date = app.submit("/patients/rechercher", &doctor, &[("par", "traits"), ("naissance", "31/02/1984")]).await;
    assert_eq!(date.status, StatusCode::BAD_REQUEST);
    assert!(date.raw.contains("id=\"naissance-erreur\""), "{}", date.raw);
}

async fn without_access_nothing_of_the_content_shows_not_even_how_much(app: TestApp) {
    let (empty, full) = (ins(41), ins(42));
    app.open_record(&empty).await;
    let ids =
        fed(&app, &full, &[("11502-2", "Bilan MARQUEUR-A"), ("11488-4", "Consultation MARQUEUR-B"), ("11502-2", "Bilan MARQUEUR-C")]).await;
    let doctor = app.portal_session(&professional(77, Profession::Medecin)).await;
    let (h_empty, h_full) = (handle_of(&app, &doctor, &empty).await, handle_of(&app, &doctor, &full).await);
    let page_empty = app.page(&format!("/patients/{h_empty}"), &doctor).await;
    let page_full = app.page(&format!("/patients/{h_full}"), &doctor).await;
    for page in [&page_empty, &page_full] {
        assert_eq!(page.status, StatusCode::OK, "{}", page.raw);
        assert!(page.raw.contains("Vous n’avez pas accès à ce dossier"), "{}", page.raw);
        assert!(page.raw.contains("Déclarer l’autorisation du patient") && page.raw.contains("Accès en urgence (bris de glace)"));
        assert!(page.raw.contains("notifié au patient et contrôlé par le délégué à la protection des données"), "{}", page.raw);
        assert!(
            !page.raw.contains("MARQUEUR")
                && !page.raw.contains("Documents par type")
                && !page.raw.contains("L’essentiel")
                && !page.raw.contains("/documents/"),
            "{}",
            page.raw
        );
    }
    // The same page whatever the record holds: only the handle and the INS differ.
    let neutral = |raw: &str, handle: &str, p: &Ins| raw.replace(handle, "HANDLE").replace(p.as_str(), "INS");
    assert_eq!(neutral(&page_empty.raw, &h_empty, &empty), neutral(&page_full.raw, &h_full, &full));
    // Nor do its document pages open.
    for path in [format!("/patients/{h_full}/documents/{}", ids[0]), format!("/patients/{h_full}/documents/{}/contenu", ids[0])] {
        let r = app.page(&path, &doctor).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        assert!(!r.raw.contains("MARQUEUR") && !r.raw.contains("%PDF"), "{}", r.raw);
    }
}

async fn a_declared_authorization_opens_the_record_and_is_in_the_patients_history(app: TestApp) {
    let p = ins(43);
    let ids = fed(&app, &p, &[("11502-2", "Bilan sanguin de février"), ("11488-4", "Consultation de suivi")]).await;
    let doctor = app.portal_session(&professional(77, Profession::Medecin)).await;
    let h = handle_of(&app, &doctor, &p).await;
    // Without its token, nothing is declared.
    let forged = app.post_form(&format!("/patients/{h}/autorisation"), &doctor, &[]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(!recorded_actions(&app, &p).await.iter().any(|a| a == "policy.declare_authorization"));

    let declared = app.submit(&format!("/patients/{h}/autorisation"), &doctor, &[]).await;
    assert_eq!(declared.status, StatusCode::SEE_OTHER, "{}", declared.raw);
    assert_eq!(location(&declared), format!("/patients/{h}?fait=autorisation"));
    let record = app.page(location(&declared), &doctor).await;
    assert_eq!(record.status, StatusCode::OK, "{}", record.raw);
    assert!(record.raw.contains("Autorisation du patient déclarée"), "{}", record.raw);
    assert!(record.raw.contains("Vous consultez ce dossier avec l’autorisation du patient."), "the basis: {}", record.raw);
    assert!(record.raw.contains("Bilan sanguin de février") && record.raw.contains("Consultation de suivi"), "{}", record.raw);
    assert!(
        record.raw.contains("<h2 id=\"titre-synthese\">Documents par type</h2>") && record.raw.contains("examens biologiques"),
        "{}",
        record.raw
    );
    assert!(record.raw.contains("Aucune allergie, aucun traitement en cours ni aucun antécédent connus"), "{}", record.raw);
    assert!(record.raw.contains("Un patient peut masquer des documents aux professionnels"), "{}", record.raw);
    assert!(record.raw.contains(&format!("href=\"/patients/{h}/deposer\"")), "the deposit form's link");
    assert!(!record.raw.contains("Vous n’avez pas accès"));

    // A document, and its content in the viewer.
    let page = app.page(&format!("/patients/{h}/documents/{}", ids[0]), &doctor).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.raw);
    assert!(page.raw.contains("<h1>Bilan sanguin de février</h1>"), "{}", page.raw);
    assert!(page.raw.contains(&format!("src=\"/patients/{h}/documents/{}/contenu\"", ids[0])));
    let csp = page.headers.get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(csp.contains("frame-src 'self'"), "{csp}");
    let content = app.page(&format!("/patients/{h}/documents/{}/contenu", ids[0]), &doctor).await;
    assert_eq!(content.status, StatusCode::OK);
    assert_eq!(content.raw, "%PDF-1.7 contenu");

    // The patient sees the declaration and the reading in their history.
    let history = app.page("/historique", &app.portal_session(&patient(&p)).await).await;
    assert!(history.raw.contains("a déclaré votre autorisation lors d’une consultation"), "{}", history.raw);
    assert!(history.raw.contains("a consulté la liste de vos documents"), "{}", history.raw);
}

async fn a_blocked_professional_is_refused_and_nothing_opens(app: TestApp) {
    let p = ins(46);
    fed(&app, &p, &[("11502-2", "Bilan MARQUEUR")]).await;
    let change = json!({"change": "block", "rpps": rpps(77).to_string()});
    assert_eq!(app.post(&format!("/api/records/{p}/policy/changes"), &app.patient(&p), change).await.status, StatusCode::OK);
    let doctor = app.portal_session(&professional(77, Profession::Medecin)).await;
    let h = handle_of(&app, &doctor, &p).await;
    let refused = app.submit(&format!("/patients/{h}/autorisation"), &doctor, &[]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.raw);
    assert!(refused.raw.contains("vous ne pouvez pas déclarer d’autorisation sur ce dossier"), "{}", refused.raw);
    assert!(!refused.raw.contains("MARQUEUR") && !refused.raw.contains("bloqu"), "{}", refused.raw);
    let record = app.page(&format!("/patients/{h}"), &doctor).await;
    assert!(record.raw.contains("Vous n’avez pas accès à ce dossier") && !record.raw.contains("MARQUEUR"), "{}", record.raw);
}

async fn an_emergency_needs_a_motive_and_is_in_the_patients_history(app: TestApp) {
    let p = ins(44);
    fed(&app, &p, &[("11502-2", "Bilan des urgences")]).await;
    let doctor = app.portal_session(&professional(77, Profession::Medecin)).await;
    let h = handle_of(&app, &doctor, &p).await;
    for blank in ["", "   "] {
        let refused = app.submit(&format!("/patients/{h}/urgence"), &doctor, &[("motif", blank)]).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.raw);
        let field = refused.raw.split("id=\"motif-erreur\">").nth(1).expect("the message next to the field");
        assert!(field.starts_with("Indiquez le motif de l’accès en urgence"), "{field}");
        assert!(refused.raw.contains("<a href=\"#motif\">"), "in the summary at the top too");
        assert!(!refused.raw.contains("Bilan des urgences"));
    }
    assert!(!recorded_actions(&app, &p).await.iter().any(|a| a.starts_with("emergency")), "nothing recorded");

    let opened = app.submit(&format!("/patients/{h}/urgence"), &doctor, &[("motif", "Patiente inconsciente aux urgences")]).await;
    assert_eq!(opened.status, StatusCode::SEE_OTHER, "{}", opened.raw);
    let record = app.page(location(&opened), &doctor).await;
    assert!(record.raw.contains("Accès en urgence ouvert pour 4\u{a0}heures"), "{}", record.raw);
    assert!(record.raw.contains("Bilan des urgences"), "{}", record.raw);
    let history = app.page("/historique", &app.portal_session(&patient(&p)).await).await;
    assert!(history.raw.contains("a ouvert un accès en urgence (bris de glace)"), "{}", history.raw);
    assert!(history.raw.contains("Patiente inconsciente aux urgences"), "{}", history.raw);
}

async fn an_opposed_emergency_is_refused_in_one_sentence(app: TestApp) {
    let p = ins(47);
    fed(&app, &p, &[("11502-2", "Bilan MARQUEUR")]).await;
    let change = json!({"change": "set_bris_de_glace_opposition", "opposed": true});
    assert_eq!(app.post(&format!("/api/records/{p}/policy/changes"), &app.patient(&p), change).await.status, StatusCode::OK);
    let doctor = app.portal_session(&professional(77, Profession::Medecin)).await;
    let h = handle_of(&app, &doctor, &p).await;
    let refused = app.submit(&format!("/patients/{h}/urgence"), &doctor, &[("motif", "Urgence vitale")]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.raw);
    assert!(refused.raw.contains("L’accès en urgence à ce dossier n’est pas possible. Rien n’a été ouvert."), "{}", refused.raw);
    assert!(!refused.raw.contains("oppos") && !refused.raw.contains("MARQUEUR"), "nothing of what the patient chose: {}", refused.raw);
}

async fn a_regulator_opens_a_samu_access(app: TestApp) {
    let p = ins(48);
    fed(&app, &p, &[("11502-2", "Bilan pour le SAMU")]).await;
    let samu = app.portal_session(&regulator(20)).await;
    let home = app.page("/", &samu).await;
    assert!(home.raw.contains("Mon espace professionnel") && home.raw.contains("Médecin régulateur du SAMU (centre 15)"), "{}", home.raw);
    let h = handle_of(&app, &samu, &p).await;
    let record = app.page(&format!("/patients/{h}"), &samu).await;
    assert!(record.raw.contains("Accès par le médecin régulateur du SAMU (centre 15)"), "{}", record.raw);
    assert!(!record.raw.contains("Déclarer l’autorisation") && !record.raw.contains("bris de glace"), "{}", record.raw);
    let opened = app.submit(&format!("/patients/{h}/urgence"), &samu, &[("motif", "Appel au 15 : malaise")]).await;
    assert_eq!(opened.status, StatusCode::SEE_OTHER, "{}", opened.raw);
    assert!(app.page(location(&opened), &samu).await.raw.contains("Bilan pour le SAMU"));
    assert!(recorded_actions(&app, &p).await.iter().any(|a| a == "emergency.samu"));
}

async fn a_dentist_and_a_nurse_see_what_the_matrix_lets_them(app: TestApp) {
    let p = ins(45);
    fed(&app, &p, &[("11502-2", "Bilan sanguin"), ("68599-0", "Synthèse psychiatrique de suivi")]).await;
    let mut seen = Vec::new();
    for (n, profession) in [(77, Profession::Medecin), (78, Profession::ChirurgienDentiste), (79, Profession::Infirmier)] {
        let visit = app.portal_session(&professional(n, profession)).await;
        let h = handle_of(&app, &visit, &p).await;
        assert_eq!(app.submit(&format!("/patients/{h}/autorisation"), &visit, &[]).await.status, StatusCode::SEE_OTHER);
        let record = app.page(&format!("/patients/{h}"), &visit).await;
        assert_eq!(record.status, StatusCode::OK);
        assert!(record.raw.contains("Bilan sanguin"), "{profession:?}: {}", record.raw);
        seen.push(record.raw.contains("Synthèse psychiatrique de suivi"));
    }
    assert_eq!(seen, [true, false, false], "the doctor, the dentist, the nurse");
}

async fn a_handle_opens_nothing_in_another_session(app: TestApp) {
    let p = ins(49);
    fed(&app, &p, &[("11502-2", "Bilan")]).await;
    let first = app.portal_session(&professional(77, Profession::Medecin)).await;
    let h = handle_of(&app, &first, &p).await;
    assert_eq!(app.page(&format!("/patients/{h}"), &first).await.status, StatusCode::OK);
    // The same doctor in another session, and another doctor.
    let again = app.portal_session(&professional(77, Profession::Medecin)).await;
    let other = app.portal_session(&professional(80, Profession::Medecin)).await;
    for visit in [&again, &other] {
        let r = app.page(&format!("/patients/{h}"), visit).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.raw);
        assert!(!r.raw.contains("MARTIN"));
        assert_eq!(app.submit(&format!("/patients/{h}/urgence"), visit, &[("motif", "urgence")]).await.status, StatusCode::NOT_FOUND);
    }
    assert_eq!(app.page(&format!("/patients/{}", p.as_str()), &first).await.status, StatusCode::NOT_FOUND, "an INS is no handle");
    assert_eq!(app.page("/patients/n-importe-quoi", &first).await.status, StatusCode::NOT_FOUND);
    assert!(!recorded_actions(&app, &p).await.iter().any(|a| a.starts_with("emergency")));
}

async fn the_space_is_for_professionals_only(app: TestApp) {
    let p = ins(50);
    app.open_record(&p).await;
    let own = app.portal_session(&patient(&p)).await;
    assert!(!app.page("/", &own).await.raw.contains("Rechercher un patient"), "a patient's nav is theirs");
    assert_eq!(app.page("/patients", &own).await.status, StatusCode::NOT_FOUND);
    let search = app.submit("/patients/rechercher", &own, &[("par", "ins"), ("ins", p.as_str())]).await;
    assert_eq!(search.status, StatusCode::NOT_FOUND);
    let handle = carnet_server::portal::patients::handle_in_session(own.cookie.split('=').nth(1).expect("an id"), &p);
    assert_eq!(app.page(&format!("/patients/{handle}"), &own).await.status, StatusCode::NOT_FOUND);
    // A professional's home and nav.
    let doctor = app.portal_session(&professional(77, Profession::Medecin)).await;
    let home = app.page("/", &doctor).await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.raw.contains("<h1>Mon espace professionnel</h1>") && home.raw.contains(&rpps(77).to_string()), "{}", home.raw);
    assert!(
        home.raw.contains("href=\"/patients\"") && home.raw.contains("href=\"/activite\"") && !home.raw.contains("href=\"/documents\"")
    );
}

#[tokio::test]
async fn the_professional_pages_pass_axe_core_in_chromium() {
    let samu = TokenClaims {
        name: Some("Dr Élodie Garnier".into()),
        rpps: Some(rpps(20).to_string()),
        profession: Some("10".into()),
        ..TokenClaims::new("samu-1", Role::Regulator)
    };
    let people = vec![marie(), demo_person("Dr Paul Bernard, médecin", dr_bernard()), demo_person("Dr Élodie Garnier, SAMU", samu)];
    let (app, origin) = portal_offering(people).await;
    let p = ins(77);
    fed(&app, &p, &[("11502-2", "Bilan sanguin de février"), ("11488-4", "Consultation de suivi")]).await;
    let s = p.as_str();
    let wrong_key = format!("{}{}", &s[..13], if &s[13..] == "00" { "01" } else { "00" });
    let at = |path: &str| format!("{origin}{path}");
    let steps = [
        (at("/connexion"), 200, "Professionnels de santé"),
        ("click:Dr Paul Bernard, médecin".to_owned(), 200, "Mon espace professionnel"),
        (format!("fill:INS du patient (15 chiffres)={wrong_key}"), 0, ""),
        ("click:Rechercher par INS".to_owned(), 400, "La clé (les 2 derniers chiffres) ne correspond pas"),
        (format!("fill:INS du patient (15 chiffres)={s}"), 0, ""),
        ("click:Rechercher par INS".to_owned(), 200, "1 patient correspond"),
        ("link:Jeanne MARTIN".to_owned(), 200, "Vous n’avez pas accès à ce dossier"),
        ("click:Ouvrir l’accès en urgence".to_owned(), 400, "Indiquez le motif"),
        ("click:Déclarer l’autorisation du patient".to_owned(), 200, "Autorisation du patient déclarée"),
        ("link:Bilan sanguin de février".to_owned(), 200, "Informations"),
        (at("/patients"), 200, "Par traits d’identité"),
        ("click:Se déconnecter".to_owned(), 200, "Se connecter"),
        (at("/connexion"), 200, "Choisissez une personne de démonstration"),
        ("click:Dr Élodie Garnier, SAMU".to_owned(), 200, "Médecin régulateur du SAMU"),
        ("fill:Nom de naissance=mart".to_owned(), 0, ""),
        ("click:Rechercher par traits".to_owned(), 200, "Jeanne MARTIN"),
        ("link:Jeanne MARTIN".to_owned(), 200, "Accès par le médecin régulateur du SAMU (centre 15)"),
        ("fill:Motif (obligatoire)=Appel au 15 : malaise".to_owned(), 0, ""),
        ("click:Ouvrir l’accès SAMU au dossier".to_owned(), 200, "Accès en urgence ouvert"),
    ];
    let checked = walk("professionnel", &steps).await;
    let record = &checked[8];
    assert!(record.text.contains("Consultation de suivi") && record.text.contains("Documents par type"), "{}", record.text);
    assert!(record.text.contains("Vous consultez ce dossier avec l’autorisation du patient."), "the basis: {}", record.text);
    let samu = checked.last().expect("the SAMU's record page");
    assert!(samu.text.contains("Vous consultez ce dossier par l’accès du SAMU (centre 15)"), "the basis: {}", samu.text);
    assert!(!record.url.contains(s), "no INS in a URL: {}", record.url);
}
