//! CDA R2 read for its structure: the header (patient, authors, type, confidentiality,
//! version chain) and, at level 3, the entries of the CI-SIS volets (VSM, CR-BIO, vaccination
//! note) with their codes, text, status, dates and values. Pure: bytes in, a
//! [`ClinicalDocument`] or a [`CdaError`] naming the element out. The XML is read by the
//! hardened reader of [`crate::xml`] (no DTD, no entity, bounded everywhere).
//!
//! An entry whose code system is unknown is kept with its code and text: nothing is dropped
//! because it is not understood.

use carnet_domain::codes::{Code, CodeLists};
use carnet_domain::rpps::Rpps;
use carnet_domain::{Ins, InsKind, SecurityLabel};

use crate::xml::{self, Element, XmlError, XmlRefusal};

/// Bounds on the documents read: those of the hardened XML reader.
pub type CdaLimits = xml::XmlLimits;

pub const LOINC: &str = "2.16.840.1.113883.6.1";
/// The national identifier of health professionals (RPPS, prefixed "8", or ADELI, "0").
pub const PS_ID_ROOT: &str = "1.2.250.1.71.4.2.1";

/// Why a CDA was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CdaRefusal {
    /// The XML itself: not well-formed, a DOCTYPE, an entity, a limit.
    Xml(XmlRefusal),
    /// The root is not `ClinicalDocument`.
    NotCda,
    /// A required element or attribute is missing.
    Missing,
    /// An element's value is not what it must be (a date, an INS, a number…).
    Invalid,
    /// A structured body of a document type that is not a volet read here.
    UnknownVolet,
    /// The header contradicts the deposit (another patient, author, type, version chain).
    Mismatch,
}

impl CdaRefusal {
    pub fn code(self) -> &'static str {
        match self {
            CdaRefusal::Xml(x) => x.code(),
            CdaRefusal::NotCda => "not_cda",
            CdaRefusal::Missing => "missing",
            CdaRefusal::Invalid => "invalid",
            CdaRefusal::UnknownVolet => "unknown_volet",
            CdaRefusal::Mismatch => "mismatch",
        }
    }
}

/// A refusal: its kind, the element (an XPath) and a short detail (never document content).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} at {path}: {detail}", kind.code())]
pub struct CdaError {
    pub kind: CdaRefusal,
    pub path: String,
    pub detail: String,
}

impl From<XmlError> for CdaError {
    fn from(e: XmlError) -> CdaError {
        CdaError { kind: CdaRefusal::Xml(e.kind), path: e.path, detail: e.detail }
    }
}

fn missing(path: &str) -> CdaError {
    CdaError { kind: CdaRefusal::Missing, path: path.to_owned(), detail: "required".into() }
}

fn invalid(path: &str, detail: impl Into<String>) -> CdaError {
    CdaError { kind: CdaRefusal::Invalid, path: path.to_owned(), detail: detail.into() }
}

/// An instance identifier (`II`): an OID root and an optional extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceId {
    pub root: String,
    pub extension: Option<String>,
}

impl InstanceId {
    fn of(e: &Element) -> Option<InstanceId> {
        let root = e.attr("root")?.trim();
        (!root.is_empty()).then(|| InstanceId { root: root.to_owned(), extension: e.attr("extension").map(|x| x.trim().to_owned()) })
    }
}

/// A coded value as written: the code system's OID, the code, its display and original text.
/// Any of them may be absent (a `nullFlavor`), an unknown system is kept as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coded {
    pub system: Option<String>,
    pub code: Option<String>,
    pub display: Option<String>,
}

impl Coded {
    fn of(e: &Element) -> Option<Coded> {
        let get = |n: &str| e.attr(n).map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
        let coded = Coded { system: get("codeSystem"), code: get("code"), display: get("displayName") };
        (coded.code.is_some() || coded.display.is_some()).then_some(coded)
    }

    /// The FHIR system URI of a code system this reader knows, else `urn:oid:<oid>`.
    pub fn system_uri(&self) -> Option<String> {
        let oid = self.system.as_deref()?;
        Some(match oid {
            LOINC => "http://loinc.org".into(),
            "2.16.840.1.113883.6.96" => "http://snomed.info/sct".into(),
            "2.16.840.1.113883.6.3" => "http://hl7.org/fhir/sid/icd-10".into(),
            "2.16.840.1.113883.6.73" => "http://www.whocc.no/atc".into(),
            "2.16.840.1.113883.6.8" => "http://unitsofmeasure.org".into(),
            "2.16.840.1.113883.5.83" => "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation".into(),
            "2.16.840.1.113883.5.25" => "http://terminology.hl7.org/CodeSystem/v3-Confidentiality".into(),
            other => format!("urn:oid:{other}"),
        })
    }

    pub fn is(&self, system: &str, code: &str) -> bool {
        self.system.as_deref() == Some(system) && self.code.as_deref() == Some(code)
    }
}

/// An HL7 timestamp (`TS`): `YYYY[MM[DD[HH[MM[SS[.s]]]]]][+-ZZZZ]`, kept as written.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(String);

impl Timestamp {
    pub fn parse(s: &str) -> Option<Timestamp> {
        let s = s.trim();
        let (main, zone) = match s.find(['+', '-']) {
            Some(i) => (&s[..i], Some(&s[i + 1..])),
            None => (s, None),
        };
        let (digits, fraction) = match main.split_once('.') {
            Some((d, f)) => (d, Some(f)),
            None => (main, None),
        };
        let all_digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        let ok = all_digits(digits)
            && matches!(digits.len(), 4 | 6 | 8 | 10 | 12 | 14)
            && fraction.is_none_or(|f| all_digits(f) && digits.len() == 14)
            && zone.is_none_or(|z| z.len() == 4 && all_digits(z) && digits.len() >= 8);
        let in_range =
            |at: usize, lo: u32, hi: u32| digits.get(at..at + 2).and_then(|d| d.parse::<u32>().ok()).is_none_or(|v| v >= lo && v <= hi);
        (ok && in_range(4, 1, 12) && in_range(6, 1, 31) && in_range(8, 0, 23) && in_range(10, 0, 59) && in_range(12, 0, 60))
            .then(|| Timestamp(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn timestamp(e: &Element, path: &str) -> Result<Option<Timestamp>, CdaError> {
    match e.attr("value") {
        None => Ok(None),
        Some(v) => Timestamp::parse(v).map(Some).ok_or_else(|| invalid(&format!("{path}/@value"), "not an HL7 timestamp")),
    }
}

/// The author of the document (`author/assignedAuthor`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    pub ids: Vec<InstanceId>,
    /// The RPPS number, from an id rooted at the national PS identifier and prefixed "8".
    pub rpps: Option<Rpps>,
    pub time: Option<Timestamp>,
}

/// `relatedDocument`: the document this one replaces (`RPLC`), appends to (`APND`) or
/// transforms (`XFRM`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParentDocument {
    pub type_code: String,
    pub id: Option<InstanceId>,
    pub set_id: Option<InstanceId>,
    pub version: Option<u32>,
}

/// The header of a CDA R2 document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub template_ids: Vec<String>,
    pub id: InstanceId,
    /// The document type (LOINC, mapped to JDV_J66 by the code lists).
    pub code: Coded,
    pub title: Option<String>,
    pub effective_time: Timestamp,
    /// `N`, `R` or `V` (HL7 Confidentiality), or a CI-SIS code.
    pub confidentiality: Coded,
    pub set_id: Option<InstanceId>,
    pub version: Option<u32>,
    /// Every `recordTarget/patientRole/id`.
    pub patient_ids: Vec<InstanceId>,
    /// The INS among them (NIR, NIA or test register), checked.
    pub ins: Option<(InsKind, Ins)>,
    pub authors: Vec<Author>,
    pub parent: Option<ParentDocument>,
}

/// The CI-SIS volets whose level 3 entries are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Volet {
    /// Synthèse médicale (VSM), LOINC 60591-5.
    Vsm,
    /// Compte rendu de biologie (CR-BIO), LOINC 11502-2.
    CrBio,
    /// Note de vaccination (87273-9) or vaccination history (11369-6).
    Vaccination,
}

impl Volet {
    fn of(code: &Coded) -> Option<Volet> {
        if code.system.as_deref() != Some(LOINC) {
            return None;
        }
        match code.code.as_deref()? {
            "60591-5" => Some(Volet::Vsm),
            "11502-2" => Some(Volet::CrBio),
            "87273-9" | "11369-6" => Some(Volet::Vaccination),
            _ => None,
        }
    }
}

/// What an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A problem or an antécédent (FHIR Condition).
    Condition,
    /// An allergy or intolerance (AllergyIntolerance).
    Allergy,
    /// A current treatment (MedicationStatement).
    Medication,
    /// A vaccination (Immunization).
    Immunization,
    /// A laboratory result (Observation, category laboratory).
    Result,
    /// A vital sign or measure (Observation, category vital-signs).
    VitalSign,
    /// An entry of a section this reader does not map: kept with its code and text.
    Other,
}

/// A physical quantity (`PQ`): its decimal value as written and its UCUM unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quantity {
    pub value: String,
    pub unit: Option<String>,
}

/// An observation's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Quantity(Quantity),
    Coded(Coded),
    Text(String),
}

/// An observation's reference range.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReferenceRange {
    pub low: Option<Quantity>,
    pub high: Option<Quantity>,
    pub text: Option<String>,
}

/// One clinical statement of a level 3 body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub kind: EntryKind,
    /// Where it is in the document (an XPath).
    pub path: String,
    /// The section's code.
    pub section: Option<Coded>,
    /// What it is: the problem, the allergen, the product, the test.
    pub code: Option<Coded>,
    /// Its text: the narrative it references, else its own text, else the code's display.
    pub text: Option<String>,
    /// `statusCode` (`active`, `completed`…).
    pub status: Option<String>,
    /// `negationInd="true"`: the statement is denied (no such allergy, vaccine not given).
    pub negated: bool,
    /// `effectiveTime/@value`, or its `low` and `high`.
    pub at: Option<Timestamp>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    pub value: Option<Value>,
    pub reference_range: Option<ReferenceRange>,
    pub interpretation: Option<Coded>,
    /// A vaccine's lot number.
    pub lot: Option<String>,
    /// Who performed it (a vaccination): a name, else an identifier.
    pub performer: Option<String>,
}

/// The body: level 1 (a non-XML body, stored as a document) or level 3 (entries read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    NonXml { media_type: Option<String>, representation: Option<String> },
    Structured { volet: Volet, entries: Vec<Entry> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClinicalDocument {
    pub header: Header,
    pub body: Body,
}

const ROOT: &str = "/ClinicalDocument";

/// Reads a CDA R2 document: its header and, at level 3, its entries.
pub fn read_cda(bytes: &[u8], limits: &CdaLimits) -> Result<ClinicalDocument, CdaError> {
    let root = xml::read(bytes, limits)?;
    if root.name != "ClinicalDocument" {
        return Err(CdaError {
            kind: CdaRefusal::NotCda,
            path: format!("/{}", root.name),
            detail: "the root is not ClinicalDocument".into(),
        });
    }
    let header = header(&root)?;
    let body = body(&root, &header)?;
    Ok(ClinicalDocument { header, body })
}

fn header(root: &Element) -> Result<Header, CdaError> {
    let required = |name: &str| root.child(name).ok_or_else(|| missing(&format!("{ROOT}/{name}")));
    let id = InstanceId::of(required("id")?).ok_or_else(|| missing(&format!("{ROOT}/id/@root")))?;
    let code = Coded::of(required("code")?).filter(|c| c.code.is_some()).ok_or_else(|| missing(&format!("{ROOT}/code/@code")))?;
    let effective_time = timestamp(required("effectiveTime")?, &format!("{ROOT}/effectiveTime"))?
        .ok_or_else(|| missing(&format!("{ROOT}/effectiveTime/@value")))?;
    let confidentiality = Coded::of(required("confidentialityCode")?)
        .filter(|c| c.code.is_some())
        .ok_or_else(|| missing(&format!("{ROOT}/confidentialityCode/@code")))?;
    let set_id = root.child("setId").and_then(InstanceId::of);
    let version = root.child("versionNumber").map(|v| version_of(v, &format!("{ROOT}/versionNumber"))).transpose()?;

    let mut targets = root.children_named("recordTarget");
    let (_, target) = targets.next().ok_or_else(|| missing(&format!("{ROOT}/recordTarget")))?;
    if let Some((step, _)) = targets.next() {
        return Err(invalid(&format!("{ROOT}/{step}"), "one patient per document"));
    }
    let role = target.child("patientRole").ok_or_else(|| missing(&format!("{ROOT}/recordTarget/patientRole")))?;
    let mut patient_ids = Vec::new();
    let mut ins = None;
    for (step, e) in role.children_named("id") {
        let Some(id) = InstanceId::of(e) else { continue };
        if let Some(kind) = InsKind::from_system(&id.root) {
            let path = format!("{ROOT}/recordTarget/patientRole/{step}");
            let value = id.extension.as_deref().ok_or_else(|| missing(&format!("{path}/@extension")))?;
            let parsed = Ins::parse(value).map_err(|e| invalid(&path, format!("not an INS: {e}")))?;
            if ins.as_ref().is_some_and(|(_, known): &(InsKind, Ins)| known != &parsed) {
                return Err(invalid(&path, "two different INS"));
            }
            ins = Some((kind, parsed));
        }
        patient_ids.push(id);
    }

    let mut authors = Vec::new();
    for (step, author) in root.children_named("author") {
        let path = format!("{ROOT}/{step}");
        let assigned = author.child("assignedAuthor").ok_or_else(|| missing(&format!("{path}/assignedAuthor")))?;
        let mut ids = Vec::new();
        let mut rpps = None;
        for (id_step, e) in assigned.children_named("id") {
            let Some(id) = InstanceId::of(e) else { continue };
            if id.root == PS_ID_ROOT
                && let Some(number) = id.extension.as_deref().and_then(|x| x.strip_prefix('8'))
            {
                let parsed =
                    Rpps::parse(number).map_err(|e| invalid(&format!("{path}/assignedAuthor/{id_step}"), format!("not an RPPS: {e}")))?;
                rpps = Some(parsed);
            }
            ids.push(id);
        }
        let time = author.child("time").map(|t| timestamp(t, &format!("{path}/time"))).transpose()?.flatten();
        authors.push(Author { ids, rpps, time });
    }
    if authors.is_empty() {
        return Err(missing(&format!("{ROOT}/author")));
    }

    let parent = match root.children_named("relatedDocument").next() {
        None => None,
        Some((step, related)) => {
            let path = format!("{ROOT}/{step}");
            let type_code = related.attr("typeCode").ok_or_else(|| missing(&format!("{path}/@typeCode")))?.to_owned();
            let doc = related.child("parentDocument").ok_or_else(|| missing(&format!("{path}/parentDocument")))?;
            let version = doc.child("versionNumber").map(|v| version_of(v, &format!("{path}/parentDocument/versionNumber"))).transpose()?;
            Some(ParentDocument {
                type_code,
                id: doc.child("id").and_then(InstanceId::of),
                set_id: doc.child("setId").and_then(InstanceId::of),
                version,
            })
        }
    };

    Ok(Header {
        template_ids: root.children_named("templateId").filter_map(|(_, t)| t.attr("root").map(str::to_owned)).collect(),
        id,
        code,
        title: root.child("title").map(Element::all_text).filter(|t| !t.is_empty()),
        effective_time,
        confidentiality,
        set_id,
        version,
        patient_ids,
        ins,
        authors,
        parent,
    })
}

fn version_of(e: &Element, path: &str) -> Result<u32, CdaError> {
    let value = e.attr("value").ok_or_else(|| missing(&format!("{path}/@value")))?;
    value.trim().parse::<u32>().map_err(|_| invalid(&format!("{path}/@value"), "not a version number"))
}

fn body(root: &Element, header: &Header) -> Result<Body, CdaError> {
    let component = root.child("component").ok_or_else(|| missing(&format!("{ROOT}/component")))?;
    if let Some(non_xml) = component.child("nonXMLBody") {
        let text = non_xml.child("text");
        return Ok(Body::NonXml {
            media_type: text.and_then(|t| t.attr("mediaType")).map(str::to_owned),
            representation: text.and_then(|t| t.attr("representation")).map(str::to_owned),
        });
    }
    let structured = component.child("structuredBody").ok_or_else(|| missing(&format!("{ROOT}/component/structuredBody")))?;
    let volet = Volet::of(&header.code).ok_or_else(|| CdaError {
        kind: CdaRefusal::UnknownVolet,
        path: format!("{ROOT}/code"),
        detail: "a structured body is read for the VSM, CR-BIO and vaccination volets only".into(),
    })?;
    let mut entries = Vec::new();
    let base = format!("{ROOT}/component/structuredBody");
    for (step, c) in structured.children_named("component") {
        if let Some(section) = c.child("section") {
            read_section(section, &format!("{base}/{step}/section"), volet, &mut entries)?;
        }
    }
    Ok(Body::Structured { volet, entries })
}

/// What a section's entries are, from its LOINC code (IHE PCC sections used by the CI-SIS).
fn section_kind(code: Option<&Coded>, volet: Volet) -> Option<EntryKind> {
    let loinc = code.filter(|c| c.system.as_deref() == Some(LOINC)).and_then(|c| c.code.as_deref());
    let kind = match loinc {
        // Active problems, history of past illness, surgical history.
        Some("11450-4" | "11348-0" | "47519-4") => EntryKind::Condition,
        Some("48765-2") => EntryKind::Allergy,
        // Medications, on admission, at discharge.
        Some("10160-0" | "42346-7" | "10183-2") => EntryKind::Medication,
        Some("11369-6") => EntryKind::Immunization,
        Some("8716-3") => EntryKind::VitalSign,
        Some("30954-2") => EntryKind::Result,
        _ => match volet {
            // A CR-BIO's sections are the laboratory specialities.
            Volet::CrBio => EntryKind::Result,
            Volet::Vaccination => EntryKind::Immunization,
            Volet::Vsm => return None,
        },
    };
    Some(kind)
}

/// Vital signs by their LOINC code: weight, height, systolic and diastolic pressure, heart
/// rate, BMI, temperature, blood pressure panel.
const VITAL_SIGNS: &[&str] = &["29463-7", "3141-9", "8302-2", "8480-6", "8462-4", "8867-4", "39156-5", "8310-5", "85354-9"];

fn read_section(section: &Element, path: &str, volet: Volet, entries: &mut Vec<Entry>) -> Result<(), CdaError> {
    let code = section.child("code").and_then(Coded::of);
    let kind = section_kind(code.as_ref(), volet);
    let narrative = section.child("text");
    for (step, entry) in section.children_named("entry") {
        for child in &entry.children {
            let ctx = Context { section: code.as_ref(), kind, volet, narrative };
            statements(child, &format!("{path}/{step}/{}", child.name), &ctx, entries)?;
        }
    }
    for (step, c) in section.children_named("component") {
        if let Some(sub) = c.child("section") {
            read_section(sub, &format!("{path}/{step}/section"), volet, entries)?;
        }
    }
    Ok(())
}

struct Context<'a> {
    section: Option<&'a Coded>,
    kind: Option<EntryKind>,
    volet: Volet,
    narrative: Option<&'a Element<'a>>,
}

const STATEMENTS: &[&str] = &["observation", "substanceAdministration", "act", "organizer", "procedure", "encounter", "supply"];

/// The leaf statements under an entry's statement: observations and substance administrations
/// are leaves (what they hold qualifies them); acts and organizers (a concern, a battery) are
/// gone through, and kept themselves when they hold no leaf.
fn statements(e: &Element, path: &str, ctx: &Context<'_>, out: &mut Vec<Entry>) -> Result<usize, CdaError> {
    if !STATEMENTS.contains(&e.name) {
        return Ok(0);
    }
    if e.name == "observation" || e.name == "substanceAdministration" {
        out.push(entry(e, path, ctx)?);
        return Ok(1);
    }
    let mut found = 0;
    for relation in ["entryRelationship", "component"] {
        for (step, r) in e.children_named(relation) {
            for child in &r.children {
                found += statements(child, &format!("{path}/{step}/{}", child.name), ctx, out)?;
            }
        }
    }
    if found == 0 {
        out.push(entry(e, path, ctx)?);
        return Ok(1);
    }
    Ok(found)
}

fn entry(e: &Element, path: &str, ctx: &Context<'_>) -> Result<Entry, CdaError> {
    let own_code = e.child("code").and_then(Coded::of);
    let value_el = e.child("value");
    let product = e.at(&["consumable", "manufacturedProduct", "manufacturedMaterial"]);
    let kind = match (e.name, ctx.kind) {
        ("substanceAdministration", Some(EntryKind::Immunization)) => EntryKind::Immunization,
        ("substanceAdministration", _) if ctx.volet == Volet::Vaccination => EntryKind::Immunization,
        ("substanceAdministration", _) => EntryKind::Medication,
        (_, Some(kind)) if kind != EntryKind::Medication && kind != EntryKind::Immunization => kind,
        ("observation", _)
            if own_code
                .as_ref()
                .is_some_and(|c| c.system.as_deref() == Some(LOINC) && c.code.as_deref().is_some_and(|c| VITAL_SIGNS.contains(&c))) =>
        {
            EntryKind::VitalSign
        }
        _ => EntryKind::Other,
    };
    let value_coded = value_el.and_then(Coded::of).filter(|c| c.code.is_some());
    let code = match kind {
        EntryKind::Medication | EntryKind::Immunization => product.and_then(|p| p.child("code")).and_then(Coded::of),
        // The problem is the value; the observation's code says what kind of problem it is.
        EntryKind::Condition => value_coded.clone().or(own_code.clone()),
        EntryKind::Allergy => e
            .at(&["participant", "participantRole", "playingEntity", "code"])
            .and_then(Coded::of)
            .or(value_coded.clone())
            .or(own_code.clone()),
        _ => own_code.clone(),
    };
    let code_el = match kind {
        EntryKind::Medication | EntryKind::Immunization => product.and_then(|p| p.child("code")),
        _ => e.child("code"),
    };
    let text = e
        .child("text")
        .and_then(|t| narrative_text(t, ctx.narrative))
        .or_else(|| code_el.and_then(|c| c.child("originalText")).and_then(|t| narrative_text(t, ctx.narrative)))
        .or_else(|| code.as_ref().and_then(|c| c.display.clone()));

    let (mut at, mut from, mut to) = (None, None, None);
    // A medication's effectiveTime may be repeated (period then frequency): the first is read.
    if let Some(time) = e.child("effectiveTime") {
        let tpath = format!("{path}/effectiveTime");
        at = timestamp(time, &tpath)?;
        if let Some(low) = time.child("low") {
            from = timestamp(low, &format!("{tpath}/low"))?;
        }
        if let Some(high) = time.child("high") {
            to = timestamp(high, &format!("{tpath}/high"))?;
        }
    }

    let value = match value_el {
        None => None,
        Some(v) => value_of(v, &format!("{path}/value"))?,
    };
    let reference_range = match e.at(&["referenceRange", "observationRange"]) {
        None => None,
        Some(range) => {
            let rpath = format!("{path}/referenceRange/observationRange/value");
            let bound = |name: &str| -> Result<Option<Quantity>, CdaError> {
                match range.child("value").and_then(|v| v.child(name)) {
                    Some(b) => quantity(b, &format!("{rpath}/{name}")),
                    None => Ok(None),
                }
            };
            Some(ReferenceRange {
                low: bound("low")?,
                high: bound("high")?,
                text: range.child("text").map(Element::all_text).filter(|t| !t.is_empty()),
            })
        }
    };
    let performer = e.at(&["performer", "assignedEntity"]).and_then(|a| {
        let name = a.at(&["assignedPerson", "name"]).map(Element::all_text).filter(|n| !n.is_empty());
        name.or_else(|| a.child("id").and_then(InstanceId::of).map(|id| id.extension.unwrap_or(id.root)))
    });
    Ok(Entry {
        kind,
        path: path.to_owned(),
        section: ctx.section.cloned(),
        code,
        text,
        status: e.child("statusCode").and_then(|s| s.attr("code")).map(str::to_owned),
        negated: e.attr("negationInd").is_some_and(|n| n.trim() == "true"),
        at,
        from,
        to,
        value,
        reference_range,
        interpretation: e.child("interpretationCode").and_then(Coded::of),
        lot: product.and_then(|p| p.child("lotNumberText")).map(Element::all_text).filter(|l| !l.is_empty()),
        performer,
    })
}

/// The text of a `text` or `originalText`: the narrative it references (`<reference
/// value="#id"/>`), else its own.
fn narrative_text(t: &Element, narrative: Option<&Element>) -> Option<String> {
    if let Some(target) = t.child("reference").and_then(|r| r.attr("value")).and_then(|v| v.trim().strip_prefix('#'))
        && let Some(found) = narrative.and_then(|n| find_id(n, target))
    {
        return Some(found.all_text()).filter(|s| !s.is_empty());
    }
    Some(t.all_text()).filter(|s| !s.is_empty())
}

fn find_id<'a, 'd>(e: &'a Element<'d>, id: &str) -> Option<&'a Element<'d>> {
    if e.attr("ID") == Some(id) {
        return Some(e);
    }
    e.children.iter().find_map(|c| find_id(c, id))
}

fn quantity(e: &Element, path: &str) -> Result<Option<Quantity>, CdaError> {
    let Some(value) = e.attr("value") else { return Ok(None) };
    let value = value.trim();
    if value.parse::<f64>().map_or(true, |v| !v.is_finite()) {
        return Err(invalid(&format!("{path}/@value"), "not a decimal number"));
    }
    Ok(Some(Quantity { value: value.to_owned(), unit: e.attr("unit").map(str::trim).filter(|u| !u.is_empty()).map(str::to_owned) }))
}

fn value_of(v: &Element, path: &str) -> Result<Option<Value>, CdaError> {
    let xsi_type = v.attr("type").map(|t| t.rsplit(':').next().unwrap_or(t));
    Ok(match xsi_type {
        Some("PQ" | "INT" | "REAL") => quantity(v, path)?.map(Value::Quantity),
        Some("ST" | "ED") => Some(v.all_text()).filter(|t| !t.is_empty()).map(Value::Text),
        _ => match Coded::of(v) {
            Some(c) => Some(Value::Coded(c)),
            None => Some(v.all_text()).filter(|t| !t.is_empty()).map(Value::Text),
        },
    })
}

/// What a deposit declares of a CDA document, to check its header against.
#[derive(Debug, Clone, Copy)]
pub struct DepositFacts<'a> {
    /// The record's INS.
    pub ins: &'a Ins,
    /// The author the deposit names by RPPS: the depositing professional, or the one feeding
    /// software declares. `None` (a patient, software naming nobody): not checked.
    pub author_rpps: Option<&'a str>,
    /// The deposit's security labels.
    pub labels: &'a [SecurityLabel],
    /// The deposit's type code (JDV_J66).
    pub type_code: &'a Code,
    /// The unique id of the document the deposit replaces, if it replaces one.
    pub replaces: Option<&'a str>,
}

fn mismatch(path: &str, detail: impl Into<String>) -> CdaError {
    CdaError { kind: CdaRefusal::Mismatch, path: path.to_owned(), detail: detail.into() }
}

/// Checks a CDA's header against its deposit. The rules:
///
/// - the INS in `recordTarget` is the record's;
/// - when the deposit names its author by RPPS, an `author` of the document has that RPPS;
/// - the `confidentialityCode` is a floor: `N` (normal) lets the deposit set any label; `R`
///   and `V` (restricted, very restricted) require the deposit to carry `MASQUE_PS`, so a
///   document its author restricted is never shown to every professional; any other code is
///   refused;
/// - the document's `code` is a JDV_J66 type and is the deposit's type code;
/// - a deposit that replaces a document carries a `relatedDocument` of type `RPLC` whose parent
///   is the replaced document (its id, as `root` or `root^extension`, is the replaced one's
///   unique id), keeps the parent's `setId` and raises its `versionNumber`; a deposit that
///   replaces nothing has no `RPLC` parent and no version above 1.
pub fn check_deposit(doc: &ClinicalDocument, deposit: &DepositFacts<'_>, codes: &CodeLists) -> Result<(), CdaError> {
    let h = &doc.header;
    let ins_path = format!("{ROOT}/recordTarget/patientRole/id");
    match &h.ins {
        None => return Err(missing(&ins_path)),
        Some((_, ins)) if ins != deposit.ins => return Err(mismatch(&ins_path, "the INS is not the record's")),
        Some(_) => {}
    }
    if let Some(rpps) = deposit.author_rpps
        && !h.authors.iter().any(|a| a.rpps.as_ref().is_some_and(|r| r.as_str() == rpps))
    {
        return Err(mismatch(&format!("{ROOT}/author/assignedAuthor/id"), "no author has the depositing author's RPPS"));
    }
    let confidentiality_path = format!("{ROOT}/confidentialityCode/@code");
    match h.confidentiality.code.as_deref() {
        Some("N") => {}
        Some("R" | "V") if deposit.labels.contains(&SecurityLabel::MasquePs) => {}
        Some("R" | "V") => return Err(mismatch(&confidentiality_path, "a restricted document is deposited with the label MASQUE_PS")),
        _ => return Err(invalid(&confidentiality_path, "N, R or V (HL7 Confidentiality)")),
    }
    let code_path = format!("{ROOT}/code/@code");
    let code = h.code.code.as_deref().unwrap_or_default();
    if codes.find_type_by_code(code).is_none() {
        return Err(invalid(&code_path, "not a document type of JDV_J66"));
    }
    if code != deposit.type_code.code {
        return Err(mismatch(&code_path, format!("the deposit's type code is {}", deposit.type_code.code)));
    }
    let replaced = h.parent.as_ref().filter(|p| p.type_code == "RPLC");
    let related = format!("{ROOT}/relatedDocument");
    match (deposit.replaces, replaced) {
        (None, Some(_)) => return Err(mismatch(&related, "the document replaces another, the deposit replaces none")),
        (None, None) => {
            if h.version.is_some_and(|v| v > 1) {
                return Err(mismatch(&format!("{ROOT}/versionNumber/@value"), "a version above 1 replaces a document"));
            }
        }
        (Some(_), None) => return Err(missing(&format!("{related}/parentDocument"))),
        (Some(unique_id), Some(parent)) => {
            let parent_path = format!("{related}/parentDocument");
            let names_replaced = parent
                .id
                .as_ref()
                .is_some_and(|id| unique_id == id.root || id.extension.as_ref().is_some_and(|x| unique_id == format!("{}^{x}", id.root)));
            if !names_replaced {
                return Err(mismatch(&format!("{parent_path}/id"), "the parent is not the replaced document"));
            }
            if h.set_id.is_none() || parent.set_id != h.set_id {
                return Err(mismatch(&format!("{ROOT}/setId"), "a replacement keeps its parent's setId"));
            }
            match (parent.version, h.version) {
                (Some(old), Some(new)) if new > old => {}
                _ => return Err(mismatch(&format!("{ROOT}/versionNumber/@value"), "a replacement raises its parent's versionNumber")),
            }
        }
    }
    Ok(())
}

/// Whether a deposit is a CDA R2 document whose header is checked: declared as
/// `application/hl7-cda+xml`, or as XML with a CDA format code (IHE XDS-SD, IHE PCC, IHE LAB, CI-SIS).
/// XML declared with `mimeTypeSufficient` is not read as CDA.
pub fn is_cda(mime_type: &str, format_code: &str) -> bool {
    let essence = mime_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let xml = matches!(essence.as_str(), "text/xml" | "application/xml" | "application/hl7-v3+xml");
    let cda_format = ["urn:ihe:iti:xds-sd:", "urn:ihe:pcc:", "urn:ihe:lab:", "urn:asip:ci-sis:", "1.2.250.1.213.1.1.1."]
        .iter()
        .any(|p| format_code.starts_with(p));
    essence == "application/hl7-cda+xml" || (xml && cda_format)
}
