//! *Qui peut voir mon dossier*, *Notifications*, *Applications connectées*: the patient's choices
//! made in the browser take effect on every path a professional or an app uses (`/api`, `/fhir`),
//! forms change nothing without their token, and the directory's search by name is bounded and
//! tells nothing of records.

use crate::portal::{dr_bernard, marie, portal_offering, walk};
use crate::support::{self, PortalVisit, TestApp, ins, rpps};

use axum::http::{Method, StatusCode};
use carnet_auth::TokenClaims;
use carnet_domain::{Actor, ActorKind, Ins, Profession, Role, Scopes};
use carnet_service::Preferences;
use serde_json::json;

/// The title of the document the professionals look for: never on a page or in an answer they
/// may not have.
const TITLE: &str = "Compte rendu opératoire confidentiel";

/// Puts professionals in the directory, as an operator does.
async fn directory(app: &TestApp, people: &[(u32, &str, &str, Profession)]) {
    let operator = app.role(Role::Operator);
    for (n, family, given, profession) in people {
        let entry = json!({"rpps": rpps(*n).to_string(), "family_name": family, "given_name": given,
                           "profession": profession.code(), "specialty": null, "finess": support::finess(*n).to_string()});
        let r = app.call(Method::PUT, &format!("/api/professionals/{}", rpps(*n)), Some(&operator), Some(entry)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    }
}

/// Marie as her portal session knows her.
fn marie_actor(p: &Ins) -> Actor {
    Actor {
        issuer: carnet_auth::DevIssuer::ISSUER.into(),
        subject: "marie".into(),
        name: Some("Marie Dupont".into()),
        kind: ActorKind::Patient { ins: p.clone() },
        scopes: Scopes::RoleOnly,
        client: None,
    }
}

/// A record with a document another doctor wrote (so reading it takes an access, not authorship);
/// its id.
async fn record_with_a_document(app: &TestApp, p: &Ins) -> String {
    app.open_record(p).await;
    let mut meta = support::lab_report(9100);
    meta["title"] = json!(TITLE);
    let reply = app.upload(p, &app.professional(90, Profession::Medecin), meta, b"%PDF-1.7 confidentiel").await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.raw);
    reply.body["id"].as_str().expect("id").to_owned()
}

/// Whether the professional with `token` sees the document, asserting that every path agrees: the
/// `/api` list and read, the FHIR search and read. Denied looks exactly like nothing there.
async fn sees(app: &TestApp, p: &Ins, token: &str, id: &str) -> bool {
    let list = app.get(&format!("/api/records/{p}/documents"), token).await;
    let api_read = app.get(&format!("/api/documents/{id}"), token).await;
    let search = app.fhir_get(&format!("/fhir/DocumentReference?patient.identifier=urn:oid:1.2.250.1.213.1.4.8|{p}"), token).await;
    let fhir_read = app.fhir_get(&format!("/fhir/DocumentReference/{id}"), token).await;
    let listed = list.status == StatusCode::OK && list.raw.contains(TITLE);
    let found = search.status == StatusCode::OK && search.raw.contains(id);
    if listed {
        assert_eq!(api_read.status, StatusCode::OK, "{}", api_read.raw);
        assert!(found, "FHIR search agrees: {}", search.raw);
        assert_eq!(fhir_read.status, StatusCode::OK, "{}", fhir_read.raw);
    } else {
        assert!(list.status == StatusCode::OK || list.status == StatusCode::FORBIDDEN, "{}", list.raw);
        assert_eq!(list.body["total"].as_u64().unwrap_or(0), 0, "not even counted: {}", list.raw);
        assert_eq!(api_read.status, StatusCode::NOT_FOUND, "as if missing: {}", api_read.raw);
        assert!(!found && !search.raw.contains(TITLE), "FHIR search agrees: {}", search.raw);
        assert_eq!(fhir_read.status, StatusCode::NOT_FOUND, "as if missing: {}", fhir_read.raw);
        for r in [&list, &api_read, &search, &fhir_read] {
            assert!(!r.raw.contains(TITLE) && !r.raw.contains("confidentiel"), "{}", r.raw);
        }
    }
    listed
}

fn steps(origin: &str, list: &[(&str, u16, &str)]) -> Vec<(String, u16, &'static str)> {
    list.iter()
        .map(|(s, status, shows)| {
            let step = if s.starts_with('/') { format!("{origin}{s}") } else { (*s).to_owned() };
            // The texts are the test's own constants.
            (step, *status, Box::leak(shows.to_string().into_boxed_str()) as &'static str)
        })
        .collect()
}

fn sign_in(origin: &str) -> Vec<(String, u16, &'static str)> {
    steps(
        origin,
        &[
            ("/connexion", 200, "Choisissez une personne de démonstration"),
            ("click:Marie Dupont (patiente)", 200, "Mon dossier médical"),
            ("/acces", 200, "Qui peut voir mon dossier"),
        ],
    )
}

#[tokio::test]
async fn marie_blocks_unblocks_authorizes_revokes_and_opposes_in_the_browser() {
    let (app, origin) = portal_offering(vec![marie()]).await;
    let p = ins(77);
    let id = record_with_a_document(&app, &p).await;
    directory(
        &app,
        &[
            (77, "Bernard", "Paul", Profession::Medecin),
            (78, "Bernardin", "Luc", Profession::Infirmier),
            (79, "Lefèvre", "Anne", Profession::Medecin),
        ],
    )
    .await;
    let bernard = app.token(dr_bernard());
    let patient = app.patient(&p);
    let authorize = json!({"change": "authorize", "rpps": rpps(77).to_string()});
    assert_eq!(app.post(&format!("/api/records/{p}/policy/changes"), &patient, authorize).await.status, StatusCode::OK);
    assert!(sees(&app, &p, &bernard, &id).await, "authorized, he reads");

    // Blocked, found by name (any case, no accent needed).
    let mut walk_steps = sign_in(&origin);
    walk_steps.extend(steps(
        &origin,
        &[
            ("fill:Nom de famille ou numéro RPPS du professionnel à bloquer=B", 0, ""),
            ("click:Rechercher un professionnel à bloquer", 400, "Saisissez au moins 2 lettres du nom de famille"),
            ("fill:Nom de famille ou numéro RPPS du professionnel à bloquer=BERNARD", 0, ""),
            ("click:Rechercher un professionnel à bloquer", 200, "Professionnels trouvés pour « BERNARD »"),
            ("check:Paul Bernard", 0, ""),
            ("click:Bloquer ce professionnel", 200, "Professionnel bloqué : il ne voit plus rien de votre dossier."),
        ],
    ));
    let seen = walk("acces-bloquer", &walk_steps).await;
    let before = &seen[2].text;
    assert!(before.contains("Paul Bernard") && before.contains("Autorisé sans date de fin"), "{before}");
    assert!(seen[4].text.contains("Votre demande n’a pas abouti"), "a summary at the top: {}", seen[4].text);
    let results = &seen[6].text;
    assert!(results.contains("Luc Bernardin") && results.contains("Infirmier"), "a prefix of the name: {results}");
    let after = &seen[8].text;
    let blocked_section = after.split("Professionnels bloqués").last().unwrap_or_default();
    assert!(blocked_section.contains("Paul Bernard"), "{after}");
    assert!(after.contains("Vous n’avez autorisé aucun professionnel"), "blocking revoked the authorization: {after}");
    assert!(!sees(&app, &p, &bernard, &id).await, "blocked, he sees nothing, as if there were nothing");

    // Unblocked, then authorized again found by RPPS: he reads again.
    let by_rpps = format!("fill:Nom de famille ou numéro RPPS du professionnel à autoriser={}", rpps(77));
    let found = format!("Professionnels trouvés pour « {} »", rpps(77));
    let mut walk_steps = sign_in(&origin);
    walk_steps.extend(steps(
        &origin,
        &[
            ("click:Débloquer Paul Bernard", 200, "Professionnel débloqué."),
            (&by_rpps, 0, ""),
            ("click:Rechercher un professionnel à autoriser", 200, &found),
            ("check:Paul Bernard", 0, ""),
            ("select:Durée de l’autorisation=Un an", 0, ""),
            ("click:Autoriser ce professionnel", 200, "Le professionnel est autorisé à consulter votre dossier."),
        ],
    ));
    let seen = walk("acces-autoriser", &walk_steps).await;
    assert!(seen[8].text.contains("Autorisé jusqu’au 2\u{a0}mars\u{a0}2027"), "{}", seen[8].text);
    assert!(sees(&app, &p, &bernard, &id).await, "unblocked and authorized again, he reads");

    // Another doctor opens an emergency access while Marie does not oppose it.
    let lefevre = app.professional(79, Profession::Medecin);
    let emergency = json!({"kind": "bris_de_glace", "justification": "inconsciente aux urgences"});
    let opened = app.post(&format!("/api/records/{p}/emergency-access"), &lefevre, emergency.clone()).await;
    assert_eq!(opened.status, StatusCode::CREATED, "{}", opened.raw);
    assert!(sees(&app, &p, &lefevre, &id).await);

    // An app Marie connected reads her documents.
    let agenda = app.token(TokenClaims {
        sub: "marie".into(),
        role: Role::Patient,
        ins: Some(p.to_string()),
        scope: Some("patient/DocumentReference.rs".into()),
        client_id: Some("agenda-sante".into()),
        ..Default::default()
    });
    assert_eq!(app.get(&format!("/api/documents/{id}"), &agenda).await.status, StatusCode::OK);

    // Revoked; opposed to emergencies; the app revoked; notifications set, a wrong address first.
    let mut walk_steps = sign_in(&origin);
    walk_steps.extend(steps(
        &origin,
        &[
            ("click:Retirer l’autorisation de Paul Bernard", 200, "Autorisation retirée"),
            ("click:Je m’oppose à l’accès en urgence (bris de glace)", 200, "Votre opposition à l’accès en urgence est enregistrée."),
            ("link:Voir les applications connectées", 200, "Cette application peut :"),
            ("click:Révoquer agenda-sante", 200, "L’application est révoquée"),
            ("link:Notifications", 200, "De quoi vous prévenir"),
            ("fill:Adresse électronique (facultative)=marie.dupont@", 0, ""),
            ("check:Me prévenir par courriel", 0, ""),
            ("click:Enregistrer mes préférences", 400, "Cette adresse électronique n’est pas valide"),
            ("fill:Adresse électronique (facultative)=marie.dupont@example.org", 0, ""),
            ("click:Enregistrer mes préférences", 200, "Vos préférences de notification sont enregistrées."),
        ],
    ));
    let seen = walk("acces-retirer", &walk_steps).await;
    assert!(seen[4].text.contains("Vous vous opposez à l’accès en urgence."), "{}", seen[4].text);
    assert!(seen[5].text.contains("lire vos documents"), "scopes in words: {}", seen[5].text);
    assert!(seen[6].text.contains("Autoriser à nouveau"), "{}", seen[6].text);
    assert!(seen[7].text.contains("jamais le contenu de vos documents"), "{}", seen[7].text);
    assert_eq!(app.get(&format!("/api/documents/{id}"), &agenda).await.status, StatusCode::UNAUTHORIZED, "the app is revoked");
    assert!(!sees(&app, &p, &bernard, &id).await, "revoked, he sees nothing");
    assert!(!sees(&app, &p, &lefevre, &id).await, "an opposition ends an emergency access already open");
    let refused = app.post(&format!("/api/records/{p}/emergency-access"), &bernard, emergency).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.raw);
    let prefs = app.carnet.notification_preferences(&marie_actor(&p), &p).await.expect("preferences");
    assert_eq!(
        prefs,
        Preferences { email: Some("marie.dupont@example.org".into()), email_enabled: true, webhook_url: None, muted: vec![] },
        "every kind stays ticked by default"
    );
}

/// A patient's session and the record it is about.
async fn patient_visit(app: &TestApp, p: &Ins) -> PortalVisit {
    app.portal_session(&marie_actor(p)).await
}

/// A form posted without its token (or with another), from the portal's own origin.
async fn forged(app: &TestApp, path: &str, visit: &PortalVisit, fields: &[(&str, &str)]) -> support::Reply {
    app.post_form(path, visit, fields).await
}

async fn forms_without_their_token_change_nothing(app: TestApp) {
    let p = ins(41);
    app.open_record(&p).await;
    let visit = patient_visit(&app, &p).await;
    let r5 = rpps(5).to_string();
    let block = vec![("action", "bloquer"), ("rpps", r5.as_str())];
    for csrf in [None, Some("un-autre-jeton")] {
        let mut fields = block.clone();
        if let Some(t) = csrf {
            fields.push(("csrf", t));
        }
        assert_eq!(forged(&app, "/acces/modifier", &visit, &fields).await.status, StatusCode::FORBIDDEN);
        let oppose = forged(&app, "/acces/modifier", &visit, &[("action", "opposition-urgence")]).await;
        assert_eq!(oppose.status, StatusCode::FORBIDDEN);
        let prefs = forged(&app, "/notifications", &visit, &[("courriel", "pirate@example.org"), ("courriel_actif", "1")]).await;
        assert_eq!(prefs.status, StatusCode::FORBIDDEN);
        assert!(prefs.raw.contains("rien n’a été modifié"), "{}", prefs.raw);
    }
    let policy = app.carnet.policy(&marie_actor(&p), &p).await.expect("policy");
    assert!(policy.blocked.is_empty() && !policy.opposes_bris_de_glace, "nothing changed");
    assert_eq!(app.carnet.notification_preferences(&marie_actor(&p), &p).await.expect("prefs"), Preferences::default());
    // With its token, the same form does it.
    let done = app.submit("/acces/modifier", &visit, &block).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.raw);
    assert_eq!(done.headers.get("location").and_then(|v| v.to_str().ok()), Some("/acces?fait=bloque"), "a fixed flag, no data");
    assert_eq!(app.carnet.policy(&marie_actor(&p), &p).await.expect("policy").blocked, vec![rpps(5)]);
    let page = app.page("/acces?fait=bloque", &visit).await;
    assert!(page.raw.contains(&format!("professionnel n° RPPS {r5}")), "unknown to the directory, named by RPPS: {}", page.raw);
}

async fn the_directory_is_searched_by_name_bounded_and_tells_nothing_of_records(app: TestApp) {
    let p = ins(42);
    record_with_a_document(&app, &p).await;
    let many: Vec<(u32, String)> = (0..25).map(|i| (200 + i, format!("Bernârd{i:02}"))).collect();
    let people: Vec<(u32, &str, &str, Profession)> = many
        .iter()
        .map(|(n, f)| (*n, f.as_str(), "Jean", Profession::Medecin))
        .chain([(300, "Lefèvre", "Anne", Profession::Medecin)])
        .collect();
    directory(&app, &people).await;
    let patient = app.patient(&p);
    // Permitted to patients, as the look-up by RPPS is: accent- and case-insensitive.
    let found = app.get("/api/professionals?name=LEFEVRE", &patient).await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.raw);
    assert_eq!(found.body["professionals"][0]["family_name"], "Lefèvre");
    assert_eq!(found.body["more"], false);
    // Never more than 20, and it says there are more.
    let bounded = app.get("/api/professionals?name=bernard", &patient).await;
    assert_eq!(bounded.body["professionals"].as_array().map(Vec::len), Some(20), "{}", bounded.raw);
    assert_eq!(bounded.body["more"], true);
    support::assert_problem(&app.get("/api/professionals", &patient).await, StatusCode::BAD_REQUEST, "name");
    // Too short to be a look-up.
    assert_eq!(app.get("/api/professionals?name=b", &patient).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    // An app whose scopes do not include the directory is refused.
    let app_token = app.token(TokenClaims {
        sub: format!("p-{p}"),
        role: Role::Patient,
        ins: Some(p.to_string()),
        scope: Some("patient/DocumentReference.rs".into()),
        client_id: Some("agenda".into()),
        ..Default::default()
    });
    let refused = app.get("/api/professionals?name=lefevre", &app_token).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.raw);
    assert!(!refused.raw.contains("Lefèvre"));
    // Patients are not in the directory: a patient's name finds nobody, whoever asks.
    for token in [app.role(Role::InsurerAgent), app.role(Role::Operator), patient.clone()] {
        let r = app.get("/api/professionals?name=martin", &token).await;
        assert_eq!((r.status, &r.body["professionals"]), (StatusCode::OK, &json!([])), "{}", r.raw);
        assert!(!r.raw.contains(TITLE) && !r.raw.contains(&p.to_string()));
    }
    // On the page: the answers as choices, at most 20, and the way to see the others.
    let visit = patient_visit(&app, &p).await;
    let page = app.submit("/acces/rechercher", &visit, &[("pour", "bloquer"), ("recherche", "bernard")]).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.raw);
    assert_eq!(page.raw.matches("type=\"radio\"").count(), 20);
    assert!(page.raw.contains("précisez le nom"), "{}", page.raw);
    let short = app.submit("/acces/rechercher", &visit, &[("pour", "autoriser"), ("recherche", "b")]).await;
    assert_eq!(short.status, StatusCode::BAD_REQUEST);
    assert!(short.raw.contains("aria-describedby=\"aide-autoriser erreur-recherche-autoriser\""), "{}", short.raw);
    assert!(short.raw.contains("<a href=\"#recherche-autoriser\">Saisissez au moins 2 lettres"), "a summary linking to the field");
    // A choice posted with nobody chosen: the answers again, with the message next to them.
    let none = app.submit("/acces/modifier", &visit, &[("action", "autoriser"), ("recherche", "lefevre"), ("duree", "un-an")]).await;
    assert_eq!(none.status, StatusCode::BAD_REQUEST);
    assert!(none.raw.contains("Choisissez un professionnel dans la liste.") && none.raw.contains("Anne Lefèvre"), "{}", none.raw);
    // Insurer agents and operators have no record here: no page, no search.
    for role in [Role::InsurerAgent, Role::Operator] {
        let person = Actor {
            issuer: carnet_auth::DevIssuer::ISSUER.into(),
            subject: format!("{role:?}"),
            name: None,
            kind: match role {
                Role::InsurerAgent => ActorKind::InsurerAgent,
                _ => ActorKind::Operator,
            },
            scopes: Scopes::RoleOnly,
            client: None,
        };
        let visit = app.portal_session(&person).await;
        let r = app.submit("/acces/rechercher", &visit, &[("pour", "bloquer"), ("recherche", "lefevre")]).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{role:?}: {}", r.raw);
        assert!(!r.raw.contains("Lefèvre"));
    }
}

async fn notifications_errors_are_shown_next_to_their_field_and_save_nothing(app: TestApp) {
    let p = ins(43);
    app.open_record(&p).await;
    let visit = patient_visit(&app, &p).await;
    let page = app.page("/notifications", &visit).await;
    assert_eq!(page.status, StatusCode::OK);
    for words in ["Quand un nouveau document est ajouté", "pour la première fois", "en urgence", "Il ne contient jamais le contenu"] {
        assert!(page.raw.contains(words), "{words}: {}", page.raw);
    }
    let bad = app.submit("/notifications", &visit, &[("courriel", "marie@"), ("courriel_actif", "1"), ("webhook", "")]).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.raw.contains("aria-describedby=\"aide-courriel erreur-courriel\""), "{}", bad.raw);
    assert!(bad.raw.contains("value=\"marie@\""), "the value typed stays");
    let hook = app.submit("/notifications", &visit, &[("courriel", ""), ("webhook", "sms.example.org/hook")]).await;
    assert_eq!(hook.status, StatusCode::BAD_REQUEST);
    assert!(hook.raw.contains("aria-describedby=\"aide-webhook erreur-webhook\""), "{}", hook.raw);
    let off = app.submit("/notifications", &visit, &[("courriel", ""), ("courriel_actif", "1")]).await;
    assert_eq!(off.status, StatusCode::BAD_REQUEST, "e-mail on without an address");
    assert_eq!(app.carnet.notification_preferences(&marie_actor(&p), &p).await.expect("prefs"), Preferences::default(), "nothing saved");
    let good = app
        .submit(
            "/notifications",
            &visit,
            &[
                ("courriel", " marie@example.org "),
                ("courriel_actif", "1"),
                ("webhook", "https://sms.example.org/h"),
                ("voulu_new_document", "1"),
                ("voulu_policy_change", "1"),
            ],
        )
        .await;
    assert_eq!(good.status, StatusCode::SEE_OTHER, "{}", good.raw);
    let saved = app.carnet.notification_preferences(&marie_actor(&p), &p).await.expect("prefs");
    assert_eq!(
        saved,
        Preferences {
            email: Some("marie@example.org".into()),
            email_enabled: true,
            webhook_url: Some("https://sms.example.org/h".into()),
            muted: vec!["first_access".into()],
        },
        "an unticked kind is muted"
    );
    let shown = app.page("/notifications?fait=enregistre", &visit).await;
    assert!(shown.raw.contains("Vos préférences de notification sont enregistrées.") && shown.raw.contains("value=\"marie@example.org\""));
    assert!(shown.raw.contains("name=\"voulu_new_document\" value=\"1\" checked"), "{}", shown.raw);
    assert!(shown.raw.contains("name=\"voulu_first_access\" value=\"1\">"), "unticked as saved: {}", shown.raw);
    assert!(shown.raw.contains("sans possibilité de le désactiver"), "emergencies are always sent");
}

async fn connected_apps_are_listed_in_words_revoked_and_allowed(app: TestApp) {
    let p = ins(44);
    let id = record_with_a_document(&app, &p).await;
    let agenda = app.token(TokenClaims {
        sub: format!("p-{p}"),
        role: Role::Patient,
        ins: Some(p.to_string()),
        scope: Some("patient/DocumentReference.rs launch/patient".into()),
        client_id: Some("agenda-sante".into()),
        ..Default::default()
    });
    assert_eq!(app.get(&format!("/api/documents/{id}"), &agenda).await.status, StatusCode::OK);
    let visit = patient_visit(&app, &p).await;
    let page = app.page("/applications", &visit).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.raw.contains("agenda-sante") && page.raw.contains("lire vos documents"), "{}", page.raw);
    assert!(!page.raw.contains("DocumentReference"), "no raw scope on the page");
    let revoked = app.submit("/applications/revoquer", &visit, &[("application", "agenda-sante")]).await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER);
    assert_eq!(app.get(&format!("/api/documents/{id}"), &agenda).await.status, StatusCode::UNAUTHORIZED, "revoked");
    let page = app.page("/applications?fait=revoquee", &visit).await;
    assert!(page.raw.contains("Autoriser à nouveau") && page.raw.contains("Révoquée le"), "{}", page.raw);
    let allowed = app.submit("/applications/autoriser", &visit, &[("application", "agenda-sante")]).await;
    assert_eq!(allowed.status, StatusCode::SEE_OTHER);
    assert_eq!(app.get(&format!("/api/documents/{id}"), &agenda).await.status, StatusCode::OK, "allowed again");
    // Another patient's session cannot touch it: answered as a missing page.
    let other = ins(45);
    app.open_record(&other).await;
    let stranger = app.portal_session(&marie_actor(&other)).await;
    let r = app.submit("/applications/revoquer", &stranger, &[("application", "agenda-sante")]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.raw);
    assert_eq!(app.get(&format!("/api/documents/{id}"), &agenda).await.status, StatusCode::OK);
}

async fn a_representative_sees_themselves_and_may_end_only_their_own(app: TestApp) {
    let child = ins(46);
    app.open_record(&child).await;
    let parent = app.representative(&child);
    let add = |who: &str| json!({"change": "add_representative", "representative": who, "kind": "minor"});
    let me = format!("{}#r-{child}", carnet_auth::DevIssuer::ISSUER);
    for who in [me.as_str(), "https://idp.example#autre-parent"] {
        let r = app.post(&format!("/api/records/{child}/policy/changes"), &app.role(Role::InsurerAgent), add(who)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    }
    let person = Actor {
        issuer: carnet_auth::DevIssuer::ISSUER.into(),
        subject: format!("r-{child}"),
        name: Some("Paul Parent".into()),
        kind: ActorKind::Representative { represents: vec![child.clone()] },
        scopes: Scopes::RoleOnly,
        client: None,
    };
    let visit = app.portal_session(&person).await;
    let page = app.page("/acces", &visit).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.raw);
    assert!(page.raw.contains("Représentants légaux") && page.raw.contains("<strong>Vous</strong>"), "{}", page.raw);
    assert!(!page.raw.contains("autre-parent") && !page.raw.contains("idp.example"), "no identifiers on the page");
    assert_eq!(page.raw.matches("Mettre fin à cette représentation").count(), 1, "their own only");
    // Another's, posted anyway, is refused by the service: nothing changes.
    let r = app.submit("/acces/modifier", &visit, &[("action", "fin-representation"), ("representant", "1")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.raw);
    assert!(app.get(&format!("/api/records/{child}/policy"), &parent).await.raw.contains("autre-parent"));
}

async fn the_medecin_traitant_is_named_changed_and_removed(app: TestApp) {
    let p = ins(47);
    app.open_record(&p).await;
    directory(&app, &[(11, "Lefèvre", "Anne", Profession::Medecin), (12, "Moreau", "Jean", Profession::Medecin)]).await;
    let visit = patient_visit(&app, &p).await;
    let found = app.submit("/acces/rechercher", &visit, &[("pour", "medecin"), ("recherche", "lefevre")]).await;
    assert!(found.raw.contains("Désigner comme médecin traitant") && found.raw.contains(" checked>"), "one answer, already chosen");
    let r11 = rpps(11).to_string();
    let named = app.submit("/acces/modifier", &visit, &[("action", "medecin"), ("rpps", &r11)]).await;
    assert_eq!(named.status, StatusCode::SEE_OTHER);
    let page = app.page("/acces?fait=medecin", &visit).await;
    assert!(
        page.raw.contains("Votre médecin traitant est enregistré.") && page.raw.contains("Médecin traitant</a> : Anne Lefèvre"),
        "{}",
        page.raw
    );
    assert!(page.raw.contains("Changer de médecin traitant") && page.raw.contains("Ne plus déclarer de médecin traitant"));
    assert_eq!(app.carnet.policy(&marie_actor(&p), &p).await.expect("policy").medecin_traitant, Some(rpps(11)));
    // A blocked professional may be granted nothing: said, and nothing changes.
    let r12 = rpps(12).to_string();
    assert_eq!(app.submit("/acces/modifier", &visit, &[("action", "bloquer"), ("rpps", &r12)]).await.status, StatusCode::SEE_OTHER);
    let refused = app.submit("/acces/modifier", &visit, &[("action", "autoriser"), ("rpps", &r12), ("duree", "un-mois")]).await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(refused.raw.contains("Débloquez-le d’abord"), "{}", refused.raw);
    assert!(app.carnet.policy(&marie_actor(&p), &p).await.expect("policy").authorizations.is_empty());
    let removed = app.submit("/acces/modifier", &visit, &[("action", "sans-medecin")]).await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER);
    assert_eq!(app.carnet.policy(&marie_actor(&p), &p).await.expect("policy").medecin_traitant, None);
    // A tampered form changes nothing either.
    for fields in [vec![("action", "promouvoir")], vec![("action", "bloquer"), ("rpps", "123")]] {
        assert_eq!(app.submit("/acces/modifier", &visit, &fields).await.status, StatusCode::BAD_REQUEST);
    }
}

on_both_backends!(
    the_medecin_traitant_is_named_changed_and_removed,
    forms_without_their_token_change_nothing,
    the_directory_is_searched_by_name_bounded_and_tells_nothing_of_records,
    notifications_errors_are_shown_next_to_their_field_and_save_nothing,
    connected_apps_are_listed_in_words_revoked_and_allowed,
    a_representative_sees_themselves_and_may_end_only_their_own,
);
