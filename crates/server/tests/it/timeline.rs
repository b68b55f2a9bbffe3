//! The timeline of a record (issue 19, part 4): `/api/records/{ins}/timeline` answers the
//! documents the caller may see by date of the act (the service's start, else the authored
//! date, else the deposit; the day in Paris), by month then class, newest first, replaced
//! versions folded under the current one; pages of months with a `next` link; a masked document
//! is absent for an authorized doctor, present for the médecin traitant, and counted nowhere; a
//! withdrawn one is absent; bad parameters are refused naming them — on SQLite and PostgreSQL.

use crate::policy_props::{patient, professional};
use crate::support;

use axum::http::StatusCode;
use carnet_domain::{PatientPolicy, Profession};
use carnet_store::PolicyStore;
use serde_json::{Value, json};
use support::{TestApp, ins, rpps};

/// Deposits a document with `extra` metadata; its id.
async fn deposit(app: &TestApp, p: &carnet_domain::Ins, token: &str, unique: &str, type_code: &str, extra: Value) -> String {
    let mut meta = json!({"unique_id": unique, "type_code": type_code, "mime_type": "text/plain", "title": unique});
    if let (Some(m), Some(e)) = (meta.as_object_mut(), extra.as_object()) {
        m.extend(e.clone());
    }
    let r = app.upload(p, token, meta, b"Compte rendu").await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    r.body["id"].as_str().expect("an id").to_owned()
}

/// An entry: the document's id and its previous versions' ids.
type Entry = (String, Vec<String>);
/// A month: its name and its classes, each with its entries.
type MonthShape = (String, Vec<(String, Vec<Entry>)>);

/// The timeline as `[(month, [(class code, [(document id, [previous ids])])])]`.
fn shape(body: &Value) -> Vec<MonthShape> {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    body["months"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            let classes = m["classes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| {
                    let entries = c["entries"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|e| {
                            let previous = e["previous_versions"].as_array().into_iter().flatten().map(|v| text(&v["id"])).collect();
                            (text(&e["document"]["id"]), previous)
                        })
                        .collect();
                    (text(&c["class"]["code"]), entries)
                })
                .collect();
            (text(&m["month"]), classes)
        })
        .collect()
}

fn ids_in(body: &Value) -> Vec<String> {
    shape(body).into_iter().flat_map(|(_, classes)| classes).flat_map(|(_, entries)| entries).map(|(id, _)| id).collect()
}

async fn documents_grouped_by_month_and_class_newest_first_versions_folded(app: TestApp) {
    let p = ins(9101);
    app.open_record(&p).await;
    let doctor = app.professional(1, Profession::Medecin);
    // The clock reads 2026-03-02 09:00 UTC.
    // The service's start wins over the authored date; 23:30 UTC on 28 February is 1 March in Paris.
    let a = deposit(
        &app,
        &p,
        &doctor,
        "1.2.250.1.999.91.1",
        "11502-2",
        json!({"service_start": "2026-02-28T23:30:00Z", "authored_at": "2026-02-10T10:00:00Z"}),
    )
    .await;
    let b = deposit(&app, &p, &doctor, "1.2.250.1.999.91.2", "34133-9", json!({"authored_at": "2026-02-20T10:00:00Z"})).await;
    let c = deposit(&app, &p, &doctor, "1.2.250.1.999.91.3", "11502-2", json!({"authored_at": "2026-02-15T10:00:00Z"})).await;
    let d1 = deposit(&app, &p, &doctor, "1.2.250.1.999.91.4", "11502-2", json!({"authored_at": "2025-12-01T10:00:00Z"})).await;
    let d2 =
        deposit(&app, &p, &doctor, "1.2.250.1.999.91.5", "11502-2", json!({"authored_at": "2025-12-03T10:00:00Z", "replaces": d1})).await;
    // No date at all: the deposit's, 2 March.
    let e = deposit(&app, &p, &doctor, "1.2.250.1.999.91.6", "11502-2", json!({})).await;

    let r = app.get(&format!("/api/records/{p}/timeline"), &doctor).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    let s = |v: &str| v.to_owned();
    assert_eq!(
        shape(&r.body),
        vec![
            (s("2026-03"), vec![(s("10"), vec![(e.clone(), vec![]), (a.clone(), vec![])])]),
            (s("2026-02"), vec![(s("11"), vec![(b.clone(), vec![])]), (s("10"), vec![(c.clone(), vec![])])]),
            (s("2025-12"), vec![(s("10"), vec![(d2.clone(), vec![d1.clone()])])]),
        ],
        "{}",
        r.raw
    );
    assert!(r.body.get("next").is_none(), "one page holds it all: {}", r.raw);
    let march = &r.body["months"][0]["classes"][0];
    assert_eq!(march["class"]["display"], "Compte rendu");
    assert_eq!(march["entries"][1]["act_date"], "2026-03-01", "Paris's day of the service's start");
    assert_eq!(march["entries"][0]["act_date"], "2026-03-02", "the deposit's day");
    assert_eq!(march["entries"][0]["document"]["title"], "1.2.250.1.999.91.6");
    let folded = &r.body["months"][2]["classes"][0]["entries"][0];
    assert_eq!(folded["document"]["status"], "current");
    assert_eq!(folded["previous_versions"][0]["status"], "superseded");
    assert_eq!(folded["previous_versions"][0]["act_date"], "2025-12-01");

    // A month a page, following `next`.
    let mut pages = Vec::new();
    let mut next = Some(format!("/api/records/{p}/timeline?months=1"));
    while let Some(url) = next.take() {
        let r = app.get(&url, &doctor).await;
        assert_eq!(r.status, StatusCode::OK, "{url}: {}", r.raw);
        pages.push(shape(&r.body).into_iter().map(|(m, _)| m).collect::<Vec<_>>());
        next = r.body["next"].as_str().map(str::to_owned);
        assert!(pages.len() < 5, "the pages end");
    }
    assert_eq!(pages, vec![vec![s("2026-03")], vec![s("2026-02")], vec![s("2025-12")]]);
    let r = app.get(&format!("/api/records/{p}/timeline?months=2&before=2026-03"), &doctor).await;
    assert_eq!(shape(&r.body).into_iter().map(|(m, _)| m).collect::<Vec<_>>(), vec![s("2026-02"), s("2025-12")]);

    // Filters: by type, by class (with the next link keeping them).
    let r = app.get(&format!("/api/records/{p}/timeline?type=34133-9"), &doctor).await;
    assert_eq!(ids_in(&r.body), vec![b.clone()]);
    let r = app.get(&format!("/api/records/{p}/timeline?class=10&months=1"), &doctor).await;
    assert_eq!(ids_in(&r.body), vec![e.clone(), a.clone()]);
    assert_eq!(r.body["next"], format!("/api/records/{p}/timeline?before=2026-03&months=1&class=10"));
    let r = app.get(r.body["next"].as_str().unwrap_or_default(), &doctor).await;
    assert_eq!(ids_in(&r.body), vec![c]);

    // The patient sees the same timeline; the portal's list groups by the same months.
    let mine = app.get(&format!("/api/records/{p}/timeline"), &app.patient(&p)).await;
    assert_eq!(shape(&mine.body), shape(&app.get(&format!("/api/records/{p}/timeline"), &doctor).await.body));
}

async fn a_masked_document_is_in_the_medecin_traitants_timeline_only_and_a_withdrawn_one_in_none(app: TestApp) {
    let p = ins(9102);
    app.open_record(&p).await;
    let author = app.token(professional(103, Profession::Medecin, false).claims);
    let open = deposit(&app, &p, &author, "1.2.250.1.999.92.1", "11502-2", json!({"authored_at": "2026-01-10T10:00:00Z"})).await;
    let masked = deposit(
        &app,
        &p,
        &author,
        "1.2.250.1.999.92.2",
        "34133-9",
        json!({"authored_at": "2026-02-10T10:00:00Z", "labels": ["MASQUE_PS"]}),
    )
    .await;
    let withdrawn = deposit(&app, &p, &author, "1.2.250.1.999.92.3", "11502-2", json!({"authored_at": "2026-02-11T10:00:00Z"})).await;
    let r = app.post(&format!("/api/documents/{withdrawn}/withdraw"), &author, json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    let now = carnet_domain::Clock::now(app.clock.as_ref());
    let grant =
        |k| carnet_domain::Authorization { rpps: rpps(k), granted_at: now, expires_at: None, granted_by: "patient".into(), declared: None };
    let policy =
        PatientPolicy { authorizations: vec![grant(101), grant(108)], medecin_traitant: Some(rpps(101)), ..PatientPolicy::default() };
    let version = app.db.find_policy(&p).await.map(|s| s.version).unwrap_or(0);
    app.db.save_policy(&p, &policy, version, now, &[]).await.expect("policy");

    let traitant = app.token(professional(101, Profession::Medecin, false).claims);
    let other = app.token(professional(108, Profession::Medecin, false).claims);
    let timeline = |token: String| {
        let (app, p) = (&app, p.clone());
        async move {
            let before = app.carnet.ledger().latest_tree_head().await.expect("head").head.tree_size;
            let r = app.get(&format!("/api/records/{p}/timeline"), &token).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
            let after = app.carnet.ledger().latest_tree_head().await.expect("head").head.tree_size;
            assert_eq!(after, before + 1, "one ledger entry per call");
            let entry = app.carnet.ledger().entry(before).await.expect("entry").entry;
            assert_eq!((entry.action.as_str(), entry.ins.as_ref()), ("document.search", Some(&p)));
            (r.body, entry.target)
        }
    };
    let (body, recorded) = timeline(traitant).await;
    assert_eq!(ids_in(&body), vec![masked.clone(), open.clone()], "the médecin traitant sees the masked document");
    assert_eq!(recorded.as_deref(), Some("returned:2"));
    let (body, recorded) = timeline(other).await;
    assert_eq!(ids_in(&body), vec![open.clone()], "another authorized doctor does not");
    assert_eq!(shape(&body).len(), 1, "not even an empty month of its own: {body}");
    assert_eq!(recorded.as_deref(), Some("returned:1"), "nor a count");
    let raw = body.to_string();
    for hidden in [&masked, &withdrawn] {
        assert!(!raw.contains(hidden.as_str()), "{hidden} in {raw}");
    }
    assert!(!raw.contains("34133-9") && !raw.contains("\"11\""), "nor its class or type: {raw}");
    let (body, _) = timeline(app.token(patient(&p).claims)).await;
    assert!(!ids_in(&body).contains(&withdrawn), "a withdrawn document is in no timeline: {body}");
    // A filter does not reveal the masked document either.
    let r =
        app.get(&format!("/api/records/{p}/timeline?type=34133-9"), &app.token(professional(108, Profession::Medecin, false).claims)).await;
    assert_eq!(r.body["months"], json!([]), "{}", r.raw);
}

async fn bad_parameters_are_refused_naming_them(app: TestApp) {
    let p = ins(9103);
    app.open_record(&p).await;
    let me = app.patient(&p);
    for (q, name) in [
        ("before=2026-13", "before:"),
        ("before=202603", "before:"),
        ("before=2026-3", "before:"),
        ("before=mars", "before:"),
        ("months=0", "months:"),
        ("months=121", "months:"),
        ("months=abc", "months:"),
        ("months=-1", "months:"),
        ("class=ZZ", "class:"),
        ("type=00000-0", "type:"),
        ("colour=red", "colour"),
    ] {
        let r = app.get(&format!("/api/records/{p}/timeline?{q}"), &me).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{q}: {}", r.raw);
        assert_eq!(r.headers.get("content-type").and_then(|v| v.to_str().ok()), Some("application/problem+json"), "{q}");
        assert!(r.body["detail"].as_str().is_some_and(|d| d.contains(name)), "{q}: {}", r.raw);
    }
    let r = app.get(&format!("/api/records/{p}/timeline?months=120&before=2026-03"), &me).await;
    assert_eq!((r.status, &r.body["months"]), (StatusCode::OK, &json!([])), "{}", r.raw);
    // Declared in the OpenAPI document.
    let openapi = app.get("/api/openapi.json", &me).await.body;
    let params: Vec<&str> = openapi["paths"]["/api/records/{ins}/timeline"]["get"]["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["name"].as_str())
        .collect();
    for name in ["ins", "before", "months", "class", "type"] {
        assert!(params.contains(&name), "{name} in {params:?}");
    }
}

on_both_backends!(
    documents_grouped_by_month_and_class_newest_first_versions_folded,
    a_masked_document_is_in_the_medecin_traitants_timeline_only_and_a_withdrawn_one_in_none,
    bad_parameters_are_refused_naming_them,
);
