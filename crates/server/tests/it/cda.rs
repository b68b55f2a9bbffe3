//! CDA R2 deposits: the header is read and checked against the deposit through `/api` and
//! ITI-65; a refusal is a 422 naming the element, and nothing is stored.

use axum::http::StatusCode;
use carnet_domain::{Ins, Profession};
use serde_json::{Value, json};

use crate::support;
use support::fhir::{Doc, assert_outcome, b64, provide_bundle};
use support::{TestApp, assert_problem, ins, rpps};

/// What a test CDA's header says.
pub(crate) struct Header<'a> {
    pub ins: &'a Ins,
    pub author: u32,
    pub code: &'a str,
    pub confidentiality: &'a str,
    pub version: u32,
    /// The replaced document's id (its unique id as root) and version.
    pub parent: Option<(&'a str, u32)>,
}

impl<'a> Header<'a> {
    pub(crate) fn vsm(ins: &'a Ins) -> Header<'a> {
        Header { ins, author: 1, code: "60591-5", confidentiality: "N", version: 1, parent: None }
    }
}

/// A small VSM (level 3) or, with `pdf`, a level 1 document, after the CI-SIS structure.
pub(crate) fn cda(h: &Header<'_>, pdf: bool) -> Vec<u8> {
    let body = if pdf {
        format!("<nonXMLBody><text mediaType=\"application/pdf\" representation=\"B64\">{}</text></nonXMLBody>", b64(b"%PDF-1.4\n%%EOF\n"))
    } else {
        structured_body(
            "<section><code code=\"11450-4\" codeSystem=\"2.16.840.1.113883.6.1\"/><title>Problèmes</title>\
             <text>Asthme</text><entry><observation classCode=\"OBS\" moodCode=\"EVN\"><code code=\"55607006\" codeSystem=\"2.16.840.1.113883.6.96\"/>\
             <statusCode code=\"completed\"/><value xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"CD\" code=\"J45\" \
             codeSystem=\"2.16.840.1.113883.6.3\" displayName=\"Asthme\"/></observation></entry></section>",
        )
    };
    cda_with_body(h, &body)
}

/// A level 3 body of these sections.
pub(crate) fn structured_body(sections: &str) -> String {
    format!("<structuredBody><component>{sections}</component></structuredBody>")
}

/// A CDA with this header and body (`<structuredBody>…` or `<nonXMLBody>…`).
pub(crate) fn cda_with_body(h: &Header<'_>, body: &str) -> Vec<u8> {
    let parent = h.parent.map_or(String::new(), |(id, v)| {
        format!(
            "<relatedDocument typeCode=\"RPLC\"><parentDocument><id root=\"{id}\"/><setId root=\"1.2.250.1.999.5\" extension=\"SET-1\"/>\
             <versionNumber value=\"{v}\"/></parentDocument></relatedDocument>"
        )
    });
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ClinicalDocument xmlns=\"urn:hl7-org:v3\">\
         <id root=\"1.2.250.1.999.6\" extension=\"D{version}\"/><code code=\"{code}\" codeSystem=\"2.16.840.1.113883.6.1\"/>\
         <title>Synthèse</title><effectiveTime value=\"20261130101500+0100\"/>\
         <confidentialityCode code=\"{conf}\" codeSystem=\"2.16.840.1.113883.5.25\"/>\
         <setId root=\"1.2.250.1.999.5\" extension=\"SET-1\"/><versionNumber value=\"{version}\"/>{parent}\
         <recordTarget><patientRole><id root=\"1.2.250.1.213.1.4.8\" extension=\"{ins}\"/></patientRole></recordTarget>\
         <author><time value=\"20261130\"/><assignedAuthor><id root=\"1.2.250.1.71.4.2.1\" extension=\"8{rpps}\"/></assignedAuthor></author>\
         <component>{body}</component></ClinicalDocument>",
        version = h.version,
        code = h.code,
        conf = h.confidentiality,
        ins = h.ins,
        rpps = rpps(h.author),
    )
    .into_bytes()
}

pub(crate) fn metadata(n: u32, type_code: &str, labels: &[&str], replaces: Option<&str>) -> Value {
    let mut m = json!({
        "unique_id": format!("1.2.250.1.999.7.{n}"),
        "type_code": type_code,
        "format_code": "urn:ihe:pcc:xphr:2007",
        "mime_type": "text/xml",
        "title": format!("Synthèse {n}"),
        "labels": labels,
    });
    if let Some(old) = replaces {
        m["replaces"] = json!(old);
    }
    m
}

async fn stored(app: &TestApp, p: &Ins) -> u64 {
    app.get(&format!("/api/records/{p}/documents"), &app.patient(p)).await.body["total"].as_u64().unwrap()
}

async fn api_deposits_check_the_header_and_store_nothing_on_refusal(app: TestApp) {
    let p = ins(60);
    let other = ins(61);
    app.open_record(&p).await;
    let doctor = app.professional(1, Profession::Medecin);
    let refusals: Vec<(Vec<u8>, Value, &str)> = vec![
        (cda(&Header::vsm(&other), false), metadata(1, "60591-5", &[], None), "/ClinicalDocument/recordTarget/patientRole/id"),
        (cda(&Header { author: 2, ..Header::vsm(&p) }, false), metadata(1, "60591-5", &[], None), "/ClinicalDocument/author/assignedAuthor/id"),
        (
            cda(&Header { confidentiality: "R", ..Header::vsm(&p) }, false),
            metadata(1, "60591-5", &[], None),
            "/ClinicalDocument/confidentialityCode/@code",
        ),
        (cda(&Header::vsm(&p), false), metadata(1, "11502-2", &[], None), "/ClinicalDocument/code/@code"),
        (cda(&Header { code: "34133-9", ..Header::vsm(&p) }, false), metadata(1, "34133-9", &[], None), "/ClinicalDocument/code"),
        (cda(&Header { version: 2, ..Header::vsm(&p) }, false), metadata(1, "60591-5", &[], None), "/ClinicalDocument/versionNumber/@value"),
        (
            b"<?xml version=\"1.0\"?><!DOCTYPE d [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><ClinicalDocument><title>&x;</title></ClinicalDocument>"
                .to_vec(),
            metadata(1, "60591-5", &[], None),
            "doctype",
        ),
    ];
    for (doc, meta, named) in refusals {
        let r = app.upload(&p, &doctor, meta, &doc).await;
        assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, named);
        assert!(!r.raw.contains("root:x:0:0"), "{}", r.raw);
    }
    assert_eq!(stored(&app, &p).await, 0, "nothing is stored on refusal");

    // Consistent headers are stored as documents, level 3 and level 1 alike; a restricted one
    // with the masking label.
    let r = app.upload(&p, &doctor, metadata(1, "60591-5", &[], None), &cda(&Header::vsm(&p), false)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    let level1 = Header { code: "11488-4", ..Header::vsm(&p) };
    let mut meta = metadata(2, "11488-4", &[], None);
    meta["format_code"] = json!("urn:ihe:iti:xds-sd:pdf:2008");
    let r = app.upload(&p, &doctor, meta, &cda(&level1, true)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    let restricted = Header { confidentiality: "R", ..Header::vsm(&p) };
    let r = app.upload(&p, &doctor, metadata(3, "60591-5", &["MASQUE_PS"], None), &cda(&restricted, false)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    // XML declared as such, not as CDA, is stored as before.
    let mut plain_xml = metadata(4, "60591-5", &[], None);
    plain_xml["format_code"] = json!("urn:ihe:iti:xds:2017:mimeTypeSufficient");
    let r = app.upload(&p, &doctor, plain_xml, b"<note>pas un CDA</note>").await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    assert_eq!(stored(&app, &p).await, 4);
}

async fn a_replacement_keeps_the_set_id_and_raises_the_version(app: TestApp) {
    let p = ins(62);
    app.open_record(&p).await;
    let doctor = app.professional(1, Profession::Medecin);
    let r = app.upload(&p, &doctor, metadata(10, "60591-5", &[], None), &cda(&Header::vsm(&p), false)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    let first = r.body["id"].as_str().unwrap().to_owned();
    let same_version = Header { version: 1, parent: Some(("1.2.250.1.999.7.10", 1)), ..Header::vsm(&p) };
    let r = app.upload(&p, &doctor, metadata(11, "60591-5", &[], Some(&first)), &cda(&same_version, false)).await;
    assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "/ClinicalDocument/versionNumber/@value");
    let not_said = Header { version: 2, ..Header::vsm(&p) };
    let r = app.upload(&p, &doctor, metadata(11, "60591-5", &[], Some(&first)), &cda(&not_said, false)).await;
    assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "/ClinicalDocument/relatedDocument/parentDocument");
    assert_eq!(stored(&app, &p).await, 1);
    let next = Header { version: 2, parent: Some(("1.2.250.1.999.7.10", 1)), ..Header::vsm(&p) };
    let r = app.upload(&p, &doctor, metadata(11, "60591-5", &[], Some(&first)), &cda(&next, false)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
}

/// An ITI-65 bundle whose one document is this CDA (level 1, `text/xml`).
fn cda_bundle(p: &Ins, set: u32, bytes: Vec<u8>) -> Value {
    let mut bundle = provide_bundle(p, set, &[Doc::consultation(set, bytes)]);
    bundle["entry"][1]["resource"]["content"][0]["attachment"]["contentType"] = json!("text/xml");
    bundle["entry"][2]["resource"]["contentType"] = json!("text/xml");
    bundle
}

async fn iti65_checks_the_header_and_names_the_element(app: TestApp) {
    let p = ins(63);
    app.open_record(&p).await;
    let doctor = app.professional(1, Profession::Medecin);
    let other = ins(64);
    let wrong = cda(&Header { code: "11488-4", ..Header::vsm(&other) }, true);
    let r = app.provide(&doctor, &cda_bundle(&p, 70, wrong)).await;
    assert_outcome(&r, StatusCode::UNPROCESSABLE_ENTITY, Some("Bundle.entry[1].resource.content[0].attachment"));
    assert!(r.raw.contains("/ClinicalDocument/recordTarget/patientRole/id"), "{}", r.raw);
    assert_eq!(stored(&app, &p).await, 0, "nothing is stored on refusal");
    let right = cda(&Header { code: "11488-4", ..Header::vsm(&p) }, true);
    let r = app.provide(&doctor, &cda_bundle(&p, 71, right)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert_eq!(stored(&app, &p).await, 1);
}

on_both_backends!(
    api_deposits_check_the_header_and_store_nothing_on_refusal,
    a_replacement_keeps_the_set_id_and_raises_the_version,
    iti65_checks_the_header_and_names_the_element,
);
