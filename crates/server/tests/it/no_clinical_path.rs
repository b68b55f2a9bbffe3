//! Insurer agents and operators have no path to clinical content (rule 12): every route of the
//! API — taken from the OpenAPI document, so a new route is walked without anyone remembering
//! to — is called with their tokens, with every method it declares, and no answer carries a
//! document's bytes, title, metadata (id, type), extracted text or structured entries.

use crate::support;

use axum::body::Body;
use axum::http::{Method, Request};
use carnet_domain::{DocumentId, Profession, Role};
use serde_json::{Value, json};
use support::{TestApp, ins, lab_report, rpps};

const CONTENT_MARKER: &str = "CONTENT-MARKER-91f2";
const TITLE_MARKER: &str = "TITLE-MARKER-3c7e";
const TEXT_MARKER: &str = "DERIVED-MARKER-aa05";

/// Every (method, path template) the OpenAPI document lists, plus the operational routes.
fn routes(openapi: &Value) -> Vec<(Method, String)> {
    let mut out = vec![(Method::GET, "/health".to_owned()), (Method::GET, "/ready".to_owned()), (Method::GET, "/metrics".to_owned())];
    for (path, item) in openapi["paths"].as_object().into_iter().flatten() {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                out.push((Method::from_bytes(method.to_uppercase().as_bytes()).expect("method"), path.clone()));
            }
        }
    }
    out
}

async fn walk(app: TestApp) {
    let p = ins(1);
    app.open_record(&p).await;
    let author = app.professional(1, Profession::Medecin);
    let mut meta = lab_report(1);
    meta["title"] = json!(format!("Compte rendu {TITLE_MARKER}"));
    let created = app.upload(&p, &author, meta, format!("%PDF {CONTENT_MARKER}").as_bytes()).await;
    let id = created.body["id"].as_str().expect("id").to_owned();
    let visible = app
        .carnet
        .visible_document(&support_actor(), DocumentId::parse(&id).expect("id"), carnet_service::DocumentAction::ReadDerived)
        .await
        .expect("author sees it");
    app.carnet.save_derived(&visible, "text", TEXT_MARKER.as_bytes()).await.expect("derived");
    // Something in the review queue, so its routes answer with content too.
    app.post(
        &format!("/api/records/{p}/emergency-access"),
        &app.professional(2, Profession::Medecin),
        json!({"kind": "bris_de_glace", "justification": "urgence"}),
    )
    .await;

    let openapi = app.get("/api/openapi.json", &app.role(Role::Operator)).await.body;
    let routes = routes(&openapi);
    assert!(routes.len() > 30, "the OpenAPI document lists the API: {}", routes.len());
    let forbidden_strings = [CONTENT_MARKER, TITLE_MARKER, TEXT_MARKER, id.as_str(), "11502-2"];
    let mut calls = 0;
    for role in [Role::InsurerAgent, Role::Operator] {
        let token = app.role(role);
        for (method, template) in &routes {
            let path = template
                .replace("{ins}", p.as_str())
                .replace("{id}", &id)
                .replace("{rpps}", rpps(1).as_str())
                .replace("{size}", "1")
                .replace("{client_id}", "agenda");
            for body in [None, Some(json!({})), Some(json!({"labels": []}))] {
                let mut req = Request::builder().method(method.clone()).uri(&path).header("authorization", format!("Bearer {token}"));
                let body = match body {
                    Some(v) if method != Method::GET => {
                        req = req.header("content-type", "application/json");
                        Body::from(v.to_string())
                    }
                    _ => Body::empty(),
                };
                let reply = app.send(req.body(body).expect("request")).await;
                calls += 1;
                for needle in forbidden_strings {
                    assert!(
                        !reply.raw.contains(needle),
                        "{role:?} {method} {path} answered {} with {needle:?}: {}",
                        reply.status,
                        reply.raw
                    );
                }
            }
        }
        // The portal's pages, through a session of the same person.
        let person = carnet_domain::Actor {
            issuer: carnet_auth::DevIssuer::ISSUER.into(),
            subject: format!("{role:?}"),
            name: None,
            kind: if role == Role::InsurerAgent { carnet_domain::ActorKind::InsurerAgent } else { carnet_domain::ActorKind::Operator },
            scopes: carnet_domain::Scopes::RoleOnly,
            client: None,
        };
        let session = app.carnet.open_session(&person).await.expect("a session");
        let cookie = format!("{}={}", app.state.portal.cookies.name(), session.id);
        let handle = carnet_server::portal::patients::handle_in_session(&session.id, &p);
        for page in carnet_server::portal::PAGES {
            let path = page.replace("{id}", &id).replace("{handle}", &handle);
            let req =
                Request::builder().uri(&path).header("cookie", &cookie).header("accept", "text/html").body(Body::empty()).expect("request");
            let reply = app.send(req).await;
            calls += 1;
            let (ok, forbidden, missing) = (reply.status.is_success(), reply.status == 403, reply.status == 404);
            assert!(ok || forbidden || missing, "{role:?} {page}: {}", reply.status);
            if *page == "/" {
                assert!(reply.raw.contains("Mon espace"), "signed in, without a record of their own: {}", reply.raw);
            }
            for needle in forbidden_strings {
                assert!(!reply.raw.contains(needle), "{role:?} page {page} answered {} with {needle:?}: {}", reply.status, reply.raw);
            }
        }
        // Their deposits are refused unless it is the reimbursement history, and they never read it back.
        let remb = json!({"unique_id": format!("1.2.250.1.999.3.{}", role as u8), "type_code": "REMB", "title": TITLE_MARKER, "mime_type": "application/pdf"});
        let r = app.upload(&p, &token, remb, CONTENT_MARKER.as_bytes()).await;
        if let Some(rid) = r.body["id"].as_str() {
            let back = app.get_raw(&format!("/api/documents/{rid}/content"), &token, &[]).await;
            assert!(!String::from_utf8_lossy(&back.bytes).contains(CONTENT_MARKER), "{role:?} read back its deposit");
        }
    }
    assert!(calls > 100);
}

fn support_actor() -> carnet_domain::Actor {
    carnet_domain::Actor {
        issuer: carnet_auth::DevIssuer::ISSUER.into(),
        subject: "pro-1".into(),
        name: None,
        kind: carnet_domain::ActorKind::Professional(carnet_domain::ProfessionalIdentity {
            rpps: rpps(1),
            profession: Profession::Medecin,
            specialty: None,
            organisation: None,
        }),
        scopes: carnet_domain::Scopes::RoleOnly,
        client: None,
    }
}

async fn insurer_agents_and_operators_have_no_path_to_clinical_content(app: TestApp) {
    walk(app).await;
}

on_both_backends!(insurer_agents_and_operators_have_no_path_to_clinical_content);
