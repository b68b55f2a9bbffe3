//! Search conformance found with third-party clients, on SQLite and PostgreSQL: ITI-67 `creation`
//! (MHD 4.x) and `Prefer: handling=lenient` on every FHIR search.

use crate::support;

use axum::http::{Method, StatusCode};
use carnet_domain::{Ins, Profession};
use serde_json::{Value, json};
use support::fhir::{Doc, Validated, assert_outcome, pdf, provide_bundle};
use support::{Reply, TestApp, ins};

fn ids_of(bundle: &Value) -> Vec<String> {
    let mut ids: Vec<String> = bundle["entry"]
        .as_array()
        .map(|e| {
            e.iter().filter(|x| x["search"]["mode"] == "match").filter_map(|x| x["resource"]["id"].as_str().map(str::to_owned)).collect()
        })
        .unwrap_or_default();
    ids.sort_unstable();
    ids
}

/// Deposits one document per `(n, creation)`; the ids, in that order.
async fn deposit_written(app: &TestApp, p: &Ins, token: &str, docs: &[(u32, Option<&str>)]) -> Vec<String> {
    let mut ids = vec![];
    for (n, creation) in docs {
        let mut bundle = provide_bundle(p, *n, &[Doc::lab(*n, pdf(300, *n as u8))]);
        if let Some(c) = creation {
            // Entry 0 is the SubmissionSet; entry 1 the DocumentReference.
            bundle["entry"][1]["resource"]["content"][0]["attachment"]["creation"] = json!(c);
        }
        let r = app.provide(token, &bundle).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
        let location = r.body["entry"][1]["response"]["location"].as_str().expect("a location");
        ids.push(location.rsplit('/').next().expect("an id").to_owned());
    }
    ids
}

async fn creation_finds_documents_by_when_their_author_wrote_them(app: TestApp) {
    let mut v = Validated::new();
    let p = ins(71);
    app.open_record(&p).await;
    let doctor = app.professional(1, Profession::Medecin);
    let ids =
        deposit_written(&app, &p, &doctor, &[(1, Some("2026-01-15T10:00:00+01:00")), (2, Some("2026-02-20T16:30:00Z")), (3, None)]).await;
    let (january, february) = (ids[0].clone(), ids[1].clone());
    let (app_ref, doctor_ref, p_ref) = (&app, &doctor, &p);
    let search =
        move |q: String| async move { app_ref.fhir_get(&format!("/fhir/DocumentReference?patient={p_ref}&{q}"), doctor_ref).await };
    let sorted = |mut v: Vec<String>| {
        v.sort_unstable();
        v
    };
    // The document carries what its author declared.
    let read = app.fhir_get(&format!("/fhir/DocumentReference/{january}"), &doctor).await;
    assert_eq!(read.body["content"][0]["attachment"]["creation"], "2026-01-15T09:00:00Z", "{}", read.raw);

    let r = v.keep("creation-month", &search("creation=2026-01".into()).await);
    assert_eq!(ids_of(&r), [january.as_str()]);
    assert_eq!(r["total"], 1);
    // A range: two prefixed values, both applied.
    let r = search("creation=ge2026-01-01&creation=lt2026-03-01".into()).await;
    assert_eq!(ids_of(&r.body), sorted(vec![january.clone(), february.clone()]));
    let r = search("creation=gt2026-01-15T09:00:00Z&creation=le2026-02-20".into()).await;
    assert_eq!(ids_of(&r.body), [february.as_str()]);
    assert_eq!(ids_of(&search("creation=sa2026-01-31".into()).await.body), [february.as_str()]);
    assert_eq!(ids_of(&search("creation=eb2026-01-31".into()).await.body), [january.as_str()]);
    // `ne`: the other dated one; the undated document matches no creation criterion.
    assert_eq!(ids_of(&search("creation=ne2026-01-15".into()).await.body), [february.as_str()]);
    // `date` is the deposit (the test clock's 2026-03-02), not the writing.
    assert_eq!(search("date=2026-03-02".into()).await.body["total"], 3);
    assert_eq!(search("creation=2026-03-02".into()).await.body["total"], 0);
    // With the other filters.
    let r = search("creation=2026-02&type=http://loinc.org|11502-2&status=current".into()).await;
    assert_eq!(ids_of(&r.body), [february.as_str()]);

    // Malformed: 400 naming the parameter, strict or lenient.
    for bad in ["tomorrow", "2026-13", "xx2026", "2026-02-30", "ge"] {
        let r = search(format!("creation={bad}")).await;
        assert_outcome(&r, StatusCode::BAD_REQUEST, Some("creation"));
        v.keep("creation-malformed", &r);
        let r = app
            .fhir(
                Method::GET,
                &format!("/fhir/DocumentReference?patient={p}&creation={bad}"),
                Some(&doctor),
                None,
                &[("prefer", "handling=lenient")],
            )
            .await;
        assert_outcome(&r, StatusCode::BAD_REQUEST, Some("creation"));
    }

    // Declared in the CapabilityStatement.
    let cs = app.fhir(Method::GET, "/fhir/metadata", None, None, &[]).await;
    let params = cs.body["rest"][0]["resource"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["type"] == "DocumentReference"))
        .map(|r| r["searchParam"].clone())
        .expect("DocumentReference");
    assert!(params.as_array().is_some_and(|ps| ps.iter().any(|x| x["name"] == "creation" && x["type"] == "date")), "{params}");
    v.check();
}

fn outcome_of(r: &Reply) -> Option<&Value> {
    r.body["entry"].as_array().and_then(|e| e.iter().find(|x| x["search"]["mode"] == "outcome")).map(|x| &x["resource"])
}

async fn lenient_handling_ignores_and_reports_what_no_search_supports(app: TestApp) {
    let mut v = Validated::new();
    let p = ins(72);
    app.open_record(&p).await;
    let doctor = app.professional(1, Profession::Medecin);
    deposit_written(&app, &p, &doctor, &[(1, Some("2026-01-15")), (2, None)]).await;
    let patient = app.patient(&p);
    // What fhirpy's `SearchSet.count()` sends, with a parameter and a modifier nobody supports.
    let unknown = "_totalMethod=count&x-foo=1";
    let searches = [
        (format!("/fhir/DocumentReference?patient={p}&type=11502-2"), &patient, "type:text=bilan"),
        (format!("/fhir/List?patient={p}"), &patient, "date:missing=true"),
        (format!("/fhir/Consent?patient={p}"), &patient, "status:not=active"),
        (format!("/fhir/AuditEvent?patient={p}"), &patient, "date:missing=true"),
        (format!("/fhir/Patient?identifier=urn:oid:1.2.250.1.213.1.4.8|{p}"), &doctor, "given:contains=x"),
    ];
    for (base, token, modifier) in &searches {
        let plain = app.fhir_get(base, token).await;
        assert_eq!(plain.status, StatusCode::OK, "{base}: {}", plain.raw);
        let with_unknown = format!("{base}&{unknown}&{modifier}");
        // Strict by default, and when asked, and when the preference cannot be read: 400 naming it.
        for prefer in [None, Some("handling=strict"), Some("handling=lenientx"), Some("handling"), Some("foo=\"handling=lenient\"")] {
            let headers: Vec<(&str, &str)> = prefer.map(|h| ("prefer", h)).into_iter().collect();
            let r = app.fhir(Method::GET, &with_unknown, Some(token), None, &headers).await;
            assert_outcome(&r, StatusCode::BAD_REQUEST, Some("_totalMethod"));
            assert!(!r.headers.contains_key("preference-applied"));
        }
        for prefer in ["handling=lenient", "return=minimal, handling=lenient"] {
            let r = app.fhir(Method::GET, &with_unknown, Some(token), None, &[("prefer", prefer)]).await;
            assert_eq!(r.status, StatusCode::OK, "{with_unknown}: {}", r.raw);
            assert_eq!(r.headers.get("preference-applied").and_then(|h| h.to_str().ok()), Some("handling=lenient"));
            // The same matches and total as without the ignored parameters.
            assert_eq!(r.body["total"], plain.body["total"], "{with_unknown}");
            // (The access history grows with every search of it: its entries are not compared.)
            if !base.starts_with("/fhir/AuditEvent") {
                assert_eq!(ids_of(&r.body), ids_of(&plain.body), "{with_unknown}");
            }
            // One outcome entry: a warning naming each ignored parameter.
            let outcome = outcome_of(&r).unwrap_or_else(|| panic!("an outcome entry: {}", r.raw));
            assert_eq!(outcome["resourceType"], "OperationOutcome");
            let issues = outcome["issue"].as_array().expect("issues");
            let modifier_name = modifier.split('=').next().unwrap_or_default();
            let named: Vec<&str> = issues.iter().filter_map(|i| i["expression"][0].as_str()).collect();
            assert_eq!(named, ["_totalMethod", "x-foo", modifier_name], "{}", r.raw);
            assert!(issues.iter().all(|i| i["severity"] == "warning" && i["code"] == "not-supported"), "{}", r.raw);
            // The self link repeats what was applied, not what was ignored.
            let links = r.body["link"].as_array().expect("links");
            let self_link = links.iter().find(|l| l["relation"] == "self").and_then(|l| l["url"].as_str()).expect("self");
            assert!(!self_link.contains("_totalMethod") && !self_link.contains("x-foo"), "{self_link}");
            v.keep("lenient", &r);
        }
        // Nothing ignored: no outcome entry, even when lenient.
        let r = app.fhir(Method::GET, base, Some(token), None, &[("prefer", "handling=lenient")]).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
        assert!(outcome_of(&r).is_none(), "{}", r.raw);
    }
    // What `count()` asks for: no page, the total.
    let r = app
        .fhir(
            Method::GET,
            &format!("/fhir/DocumentReference?patient={p}&_count=0&_totalMethod=count"),
            Some(&patient),
            None,
            &[("prefer", "handling=lenient")],
        )
        .await;
    assert_eq!(r.body["total"], 2, "{}", r.raw);
    assert_eq!(ids_of(&r.body), Vec::<String>::new());
    v.check();
}

on_both_backends!(creation_finds_documents_by_when_their_author_wrote_them, lenient_handling_ignores_and_reports_what_no_search_supports);
