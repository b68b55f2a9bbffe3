//! *Profil médical* in the portal: what CDA level 3 documents said, grouped the way people know
//! it (antécédents, allergies, traitements, vaccinations, mesures with their curve), what the
//! patient adds and declares, and the professional's reading — each item shown exactly as its
//! source document may be.

use axum::http::StatusCode;
use carnet_domain::{Actor, ActorKind, Ins, Profession};
use serde_json::json;

use crate::cda::{Header, cda_with_body, metadata, structured_body};
use crate::portal::{demo_person, dr_bernard, marie, marie_actor, portal_offering, walk};
use crate::portal_pro::professional;
use crate::profile::vsm_body;
use crate::support::{self, TestApp, ins, rpps};

const XSI: &str = "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"";

/// A CR-BIO body with one creatinine result (LOINC 2160-0) at `at` (HL7 timestamp).
pub(crate) fn creatinine(value: &str, at: &str, interpretation: &str) -> String {
    structured_body(&format!(
        "<section><code code=\"18719-5\" codeSystem=\"2.16.840.1.113883.6.1\"/><title>Biochimie</title>\
         <entry><observation classCode=\"OBS\" moodCode=\"EVN\"><code code=\"2160-0\" codeSystem=\"2.16.840.1.113883.6.1\" displayName=\"Créatinine\"/>\
         <statusCode code=\"completed\"/><effectiveTime value=\"{at}\"/>\
         <value {XSI} xsi:type=\"PQ\" value=\"{value}\" unit=\"mg/dL\"/>\
         <interpretationCode code=\"{interpretation}\" codeSystem=\"2.16.840.1.113883.5.83\"/>\
         <referenceRange><observationRange><value {XSI} xsi:type=\"IVL_PQ\"><low value=\"0.6\" unit=\"mg/dL\"/><high value=\"1.2\" unit=\"mg/dL\"/></value></observationRange></referenceRange>\
         </observation></entry></section>"
    ))
}

/// Dr Bernard (rpps 77) deposits a structured document he wrote; its id.
async fn deposit(app: &TestApp, p: &Ins, n: u32, code: &str, body: &str, labels: &[&str]) -> String {
    let confidentiality = if labels.contains(&"MASQUE_PS") { "R" } else { "N" };
    let header = Header { author: 77, code, confidentiality, ..Header::vsm(p) };
    let bytes = cda_with_body(&header, body);
    let r = app.upload(p, &app.token(dr_bernard()), metadata(7700 + n, code, labels, None), &bytes).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    r.body["id"].as_str().expect("an id").to_owned()
}

/// Marie's record fed with a VSM and three creatinine results.
async fn marie_with_a_profile(app: &TestApp) -> Ins {
    let p = ins(77);
    app.open_record(&p).await;
    let r = app
        .post(&format!("/api/records/{p}/policy/changes"), &app.patient(&p), json!({"change": "authorize", "rpps": rpps(77).to_string()}))
        .await;
    assert!(r.status.is_success(), "{}", r.raw);
    deposit(app, &p, 1, "60591-5", &vsm_body("Diabète de type 2"), &[]).await;
    for (n, (value, at, flag)) in [("0.9", "20250312", "N"), ("1.1", "20251102", "N"), ("1.4", "20260604", "H")].into_iter().enumerate() {
        deposit(app, &p, 10 + n as u32, "11502-2", &creatinine(value, at, flag), &[]).await;
    }
    p
}

#[tokio::test]
async fn marie_reads_completes_and_declares_in_her_profile_then_her_doctor_reads_it_in_chromium() {
    let people = vec![marie(), demo_person("Dr Paul Bernard, médecin", dr_bernard())];
    let (app, origin) = portal_offering(people).await;
    let p = marie_with_a_profile(&app).await;
    let at = |path: &str| format!("{origin}{path}");
    let steps = [
        (at("/connexion"), 200, "Choisissez une personne de démonstration"),
        ("click:Marie Dupont (patiente)".to_owned(), 200, "Mon dossier médical"),
        ("link:Profil médical".to_owned(), 200, "Mon profil médical"),
        // Nothing typed: the error names the field, nothing is stored.
        ("click:Ajouter à mon profil".to_owned(), 400, "Écrivez ce que vous ajoutez"),
        ("select:Ce que vous ajoutez (obligatoire)=Une allergie ou une intolérance".to_owned(), 0, ""),
        ("fill:Description (obligatoire)=Intolérance au lactose".to_owned(), 0, ""),
        ("click:Ajouter à mon profil".to_owned(), 200, "Information ajoutée à votre profil médical."),
        ("fill:Où se trouvent vos directives anticipées (obligatoire)=Confiées à mon médecin traitant".to_owned(), 0, ""),
        ("click:Enregistrer mes directives anticipées".to_owned(), 200, "Votre déclaration est enregistrée."),
        ("check:Je m’oppose au don".to_owned(), 0, ""),
        ("click:Enregistrer ma position".to_owned(), 200, "Votre déclaration est enregistrée."),
        ("check:Je ne m’oppose pas au don".to_owned(), 0, ""),
        ("click:Enregistrer ma position".to_owned(), 200, "Votre déclaration est enregistrée."),
        ("fill:Nom (obligatoire)=Anne Dupont".to_owned(), 0, ""),
        ("fill:Lien avec vous=fille".to_owned(), 0, ""),
        ("fill:Téléphone=06 12 34 56 78".to_owned(), 0, ""),
        ("click:Ajouter cette personne".to_owned(), 200, "Anne Dupont"),
    ];
    let seen = walk("profil-patient", &steps).await;
    let first = &seen[2].text;
    // What the documents said, in the sections people know, with where it comes from.
    for shown in [
        "Antécédents",
        "Diabète de type 2",
        "Allergies et intolérances",
        "Allergie à la pénicilline",
        "Mesures",
        "Créatinine",
        "Dernière valeur\u{a0}: 1,4\u{a0}mg/dL (élevé), le 4\u{a0}juin\u{a0}2026",
        "Poids",
        "D’après un document",
        "72,5\u{a0}kg",
        "Aucun traitement connu dans le dossier.",
        "Vous n’avez pas indiqué de directives anticipées.",
    ] {
        assert!(first.contains(shown), "the profile shows {shown:?}: {first}");
    }
    assert!(
        !first.contains("2160-0") && !first.contains("29463-7") && !first.contains("E11") && !first.contains("mg/dL\u{a0}H"),
        "no raw code: {first}"
    );
    assert!(seen[3].text.contains("Rien n’a été enregistré"), "{}", seen[3].text);
    let last = &seen[16].text;
    assert!(last.contains("Intolérance au lactose") && last.contains("Déclaré par vous"), "{last}");
    assert!(last.contains("Confiées à mon médecin traitant"), "{last}");
    assert!(last.contains("Je ne m’oppose pas au prélèvement"), "{last}");
    assert!(!last.contains("Je m’oppose au prélèvement"), "a new position replaces the previous one: {last}");
    assert!(last.contains("fille ; téléphone 06 12 34 56 78"), "{last}");

    // The doctor reads it from the record's page; what the patient said is marked as hers.
    let doctor = app.portal_session(&professional(77, Profession::Medecin)).await;
    let handle = carnet_server::portal::patients::handle_in_session(doctor.cookie.split('=').nth(1).expect("an id"), &p);
    let record = app.page(&format!("/patients/{handle}"), &doctor).await;
    assert!(record.raw.contains(&format!("href=\"/patients/{handle}/profil\"")), "the record page links the profile");
    let read = app.page(&format!("/patients/{handle}/profil"), &doctor).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.raw);
    assert!(read.raw.contains("Intolérance au lactose") && read.raw.contains("Déclaré par le patient"), "{}", read.raw);
    // Her second donation position replaced her first, not a document.
    assert!(
        read.raw.contains("à la place de sa déclaration précédente") && !read.raw.contains("pour corriger ce qu’indiquait un document"),
        "{}",
        read.raw
    );
    assert!(last.contains("à la place de votre déclaration précédente"), "{last}");
    assert!(read.raw.contains("<h1>Profil médical de Jeanne MARTIN</h1>"), "the heading names the patient: {}", read.raw);
    assert!(read.raw.contains("<svg class=\"courbe\"") && read.raw.contains("3\u{a0}mesures du 12\u{a0}mars\u{a0}2025"), "the curve");
    assert!(!read.raw.contains("/profil/ajouter"), "no patient form on a professional's reading");

    // The same pages in Chromium for the doctor: axe-core and screenshots.
    let pro = [
        (at("/connexion"), 200, "Professionnels de santé"),
        ("click:Dr Paul Bernard, médecin".to_owned(), 200, "Mon espace professionnel"),
        (format!("fill:INS du patient (15 chiffres)={}", p.as_str()), 0, ""),
        ("click:Rechercher par INS".to_owned(), 200, "1 patient correspond"),
        ("link:Jeanne MARTIN".to_owned(), 200, "Dossier de"),
        ("link:Profil médical".to_owned(), 200, "Profil médical de Jeanne MARTIN"),
    ];
    walk("profil-professionnel", &pro).await;
}

/// Marie corrects what a document says of her: the page shows what the document says and asks
/// what is right; an empty correction is refused, a typed one replaces the document's item in
/// her profile (her doctor reads it as hers), and withdrawing it brings the document's back.
#[tokio::test]
async fn marie_corrects_what_a_document_says_then_takes_her_correction_back_in_chromium() {
    let people = vec![marie(), demo_person("Dr Paul Bernard, médecin", dr_bernard())];
    let (app, origin) = portal_offering(people).await;
    let p = marie_with_a_profile(&app).await;
    let at = |path: &str| format!("{origin}{path}");
    let mine = "Pas d’allergie : amoxicilline bien tolérée en 2024";
    let steps = [
        (at("/connexion"), 200, "Choisissez une personne de démonstration"),
        ("click:Marie Dupont (patiente)".to_owned(), 200, "Mon dossier médical"),
        ("link:Profil médical".to_owned(), 200, "vous pouvez la corriger"),
        ("link:Corriger\u{a0}«\u{a0}Allergie à la pénicilline\u{a0}»".to_owned(), 200, "Ce qu’indique le document"),
        ("click:Enregistrer ma correction".to_owned(), 400, "Écrivez ce qui est juste selon vous."),
        (format!("fill:Votre correction (obligatoire)={mine}"), 0, ""),
        ("click:Enregistrer ma correction".to_owned(), 200, "Votre correction est enregistrée."),
        (format!("click:Retirer\u{a0}«\u{a0}{mine}\u{a0}»"), 200, "Information retirée de votre profil médical."),
    ];
    let seen = walk("profil-correction", &steps).await;
    let asked = &seen[3].text;
    assert!(asked.contains("Allergie à la pénicilline") && asked.contains("D’après un document"), "{asked}");
    let corrected = &seen[6].text;
    assert!(corrected.contains(mine) && corrected.contains("pour corriger ce qu’indiquait un document"), "{corrected}");
    assert!(!corrected.contains("Allergie à la pénicilline"), "replaced in her profile: {corrected}");
    let back = &seen[7].text;
    assert!(back.contains("Allergie à la pénicilline") && !back.contains(mine), "the document's item is back: {back}");

    // Corrected again, her doctor reads her statement as hers, and what the document said is
    // in the history of the profile, not in its current state.
    let patient = app.patient(&p);
    let allergy = app.get(&format!("/api/records/{p}/profile?kind=allergy"), &patient).await;
    let id = allergy.body["items"][0]["id"].as_str().expect("an allergy").to_owned();
    let r = app
        .call(
            axum::http::Method::PUT,
            &format!("/api/records/{p}/profile/{id}"),
            Some(&patient),
            Some(json!({"kind": "allergy", "content": {"text": mine}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    let doctor = app.portal_session(&professional(77, Profession::Medecin)).await;
    let handle = carnet_server::portal::patients::handle_in_session(doctor.cookie.split('=').nth(1).expect("an id"), &p);
    let read = app.page(&format!("/patients/{handle}/profil"), &doctor).await;
    assert!(read.raw.contains("Déclaré par le patient") && read.raw.contains("pour corriger ce qu’indiquait un document"), "{}", read.raw);
    assert!(!read.raw.contains("/corriger"), "no correction link on a professional's reading");

    // Another record's item, or a made-up id, answers as a missing page.
    let own = app.portal_session(&marie_actor()).await;
    assert_eq!(app.page(&format!("/profil/{}/corriger", "00".repeat(16)), &own).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.page("/profil/pas-un-id/corriger", &own).await.status, StatusCode::NOT_FOUND);
}

async fn a_masked_documents_items_are_not_on_an_authorized_doctors_page(app: TestApp) {
    let p = ins(78);
    app.open_record(&p).await;
    for change in [
        json!({"change": "authorize", "rpps": rpps(2).to_string()}),
        json!({"change": "set_medecin_traitant", "rpps": rpps(3).to_string()}),
    ] {
        let r = app.post(&format!("/api/records/{p}/policy/changes"), &app.patient(&p), change).await;
        assert!(r.status.is_success(), "{}", r.raw);
    }
    deposit(&app, &p, 1, "60591-5", &vsm_body("Asthme"), &[]).await;
    deposit(&app, &p, 2, "60591-5", &vsm_body("Dépression sévère"), &["MASQUE_PS"]).await;
    let page_at = |n: u32, page: &'static str| {
        let app = &app;
        let p = p.clone();
        async move {
            let s = app.portal_session(&professional(n, Profession::Medecin)).await;
            let handle = carnet_server::portal::patients::handle_in_session(s.cookie.split('=').nth(1).expect("an id"), &p);
            app.page(&format!("/patients/{handle}{page}"), &s).await
        }
    };
    let page_of = |n: u32| page_at(n, "/profil");
    // The record's page opens on the essentials of the profile, as each doctor may see them.
    let record = page_at(2, "").await;
    assert_eq!(record.status, StatusCode::OK, "{}", record.raw);
    let essentials = record.raw.split("id=\"titre-essentiel\"").nth(1).and_then(|s| s.split("</section>").next()).unwrap_or_default();
    assert!(essentials.contains("Allergie à la pénicilline") && essentials.contains("Asthme"), "{}", record.raw);
    assert!(!record.raw.contains("Dépression sévère"), "{}", record.raw);
    let record = page_at(3, "").await;
    assert!(record.raw.contains("Asthme") && record.raw.contains("Dépression sévère"), "the médecin traitant: {}", record.raw);
    let authorized = page_of(2).await;
    assert_eq!(authorized.status, StatusCode::OK, "{}", authorized.raw);
    assert!(authorized.raw.contains("Asthme") && !authorized.raw.contains("Dépression sévère"), "{}", authorized.raw);
    // Neither the masked weight: one value, so no curve of two.
    assert!(!authorized.raw.contains("Les 2 valeurs"), "{}", authorized.raw);
    let traitant = page_of(3).await;
    assert!(traitant.raw.contains("Asthme") && traitant.raw.contains("Dépression sévère"), "{}", traitant.raw);
    assert!(traitant.raw.contains("Les 2 valeurs"), "{}", traitant.raw);
    // A stranger gets the page of a missing record, with nothing of it.
    let stranger = page_of(4).await;
    assert_eq!(stranger.status, StatusCode::NOT_FOUND);
    assert!(!stranger.raw.contains("Asthme"));
}

async fn the_patient_withdraws_only_what_she_declared(app: TestApp) {
    let p = ins(79);
    app.open_record(&p).await;
    deposit(&app, &p, 1, "60591-5", &vsm_body("Asthme"), &[]).await;
    let own = app.portal_session(&marie_actor_for(&p)).await;
    let added = app.submit("/profil/declarer", &own, &[("sorte", "contact"), ("nom", "Anne Dupont"), ("lien", "fille")]).await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.raw);
    let items = app.get(&format!("/api/records/{p}/profile"), &app.patient(&p)).await;
    let id_of = |kind: &str| {
        items.body["items"].as_array().expect("items").iter().find(|i| i["kind"] == kind).expect("an item")["id"]
            .as_str()
            .expect("an id")
            .to_owned()
    };
    let (contact, from_document) = (id_of("contact"), id_of("condition"));
    let page = app.page("/profil", &own).await;
    assert!(page.raw.contains(&format!("/profil/{contact}/retirer")), "her declaration can be withdrawn");
    assert!(!page.raw.contains(&format!("/profil/{from_document}/retirer")), "what a document says is its author's to correct");
    // A document's item is refused, and stays.
    let refused = app.submit(&format!("/profil/{from_document}/retirer"), &own, &[]).await;
    assert!(refused.status.is_client_error(), "{}", refused.raw);
    let done = app.submit(&format!("/profil/{contact}/retirer"), &own, &[]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.raw);
    let after = app.page("/profil?fait=retire", &own).await;
    assert!(
        after.raw.contains("Information retirée") && !after.raw.contains("Anne Dupont") && after.raw.contains("Asthme"),
        "{}",
        after.raw
    );
    // Forms are refused without their token, like every form of the portal.
    let forged = app.post_form("/profil/declarer", &own, &[("sorte", "contact"), ("nom", "Intrus")]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
}

crate::on_both_backends!(a_masked_documents_items_are_not_on_an_authorized_doctors_page, the_patient_withdraws_only_what_she_declared);

#[tokio::test]
async fn the_profile_is_in_the_patients_navigation() {
    let app = TestApp::new(support::Backend::Sqlite).await;
    let p = ins(80);
    app.open_record(&p).await;
    let own = app.portal_session(&marie_actor_for(&p)).await;
    let home = app.page("/", &own).await;
    assert!(home.raw.contains("href=\"/profil\""), "{}", home.raw);
    let empty = app.page("/profil", &own).await;
    assert_eq!(empty.status, StatusCode::OK);
    assert!(
        empty.raw.contains("Aucun antécédent connu dans le dossier.") && empty.raw.contains("Aucun résultat d’analyse"),
        "{}",
        empty.raw
    );
}

#[tokio::test]
async fn a_form_refused_for_one_field_keeps_what_was_typed_and_marks_that_field() {
    let app = TestApp::new(support::Backend::Sqlite).await;
    let p = ins(81);
    app.open_record(&p).await;
    let own = app.portal_session(&marie_actor_for(&p)).await;
    // A date that is no date: the description and the kind stay, the date is the field marked.
    let r =
        app.submit("/profil/ajouter", &own, &[("sorte", "allergie"), ("libelle", "Intolérance au gluten"), ("date", "2026-02-31")]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.raw);
    assert!(r.raw.contains("value=\"Intolérance au gluten\"") && r.raw.contains("<option value=\"allergie\" selected>"), "{}", r.raw);
    assert!(
        r.raw.contains("id=\"date\" name=\"date\" value=\"2026-02-31\" aria-invalid=\"true\" aria-describedby=\"date-erreur\"")
            && r.raw.contains("<span class=\"erreur-champ\" id=\"date-erreur\">La date est à écrire sous la forme jj/mm/aaaa.</span>"),
        "{}",
        r.raw
    );
    assert!(!r.raw.contains("id=\"libelle-erreur\""), "only the wrong field is marked: {}", r.raw);
    // A person to contact without a name: the relation and the phone stay.
    let r = app
        .submit("/profil/declarer", &own, &[("sorte", "contact"), ("nom", " "), ("lien", "fille"), ("telephone", "06 12 34 56 78")])
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.raw);
    assert!(r.raw.contains("value=\"fille\"") && r.raw.contains("value=\"06 12 34 56 78\""), "{}", r.raw);
    assert!(r.raw.contains("aria-describedby=\"nom-erreur\"") && r.raw.contains("id=\"nom-erreur\">Indiquez le nom"), "{}", r.raw);
    // Nothing was stored by either.
    let items = app.get(&format!("/api/records/{p}/profile"), &app.patient(&p)).await;
    assert_eq!(items.body["items"].as_array().map(Vec::len), Some(0), "{}", items.raw);
    // A page without a mistake marks nothing.
    let clean = app.page("/profil", &own).await;
    assert!(!clean.raw.contains("aria-invalid") && !clean.raw.contains(" selected>"), "{}", clean.raw);
}

fn marie_actor_for(p: &Ins) -> Actor {
    Actor { kind: ActorKind::Patient { ins: p.clone() }, ..marie_actor() }
}
