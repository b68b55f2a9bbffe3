//! A professional's FHIR create of a profile item, read back into Carnet's values.
//!
//! The resource comes alone in the body of `POST /fhir/{Type}`, with its `Provenance`, if any,
//! in the `X-Provenance` header (FHIR R4 RESTful API, "Provenance on create"): the standard way
//! that needs no transaction. Who recorded the item and when come from the request (its token
//! and clock), so `recorder`, `asserter`, `informationSource`, Observation's and Consent's
//! `performer`, Immunization's `primarySource` and `reportOrigin`, `recordedDate`,
//! `dateAsserted`, `recorded`, `issued`, `id` and `meta` are read as the server's own and
//! replaced (and Consent's `policyRule`, which Carnet writes itself); a Provenance naming another author is the edge's to refuse
//! ([`ProvenanceClaim`]).
//!
//! Anything else Carnet cannot keep is refused with a [`ProfileError`] naming the element
//! (FHIRPath), never dropped: an unknown element, a second coding, a reaction, a
//! `modifierExtension`, a source document (a create is a direct entry; a source link is
//! Carnet's own, for items read from deposits), a status Carnet has no place for.

use carnet_domain::profile::{Coding as ItemCoding, ItemContent, ItemKind, ItemValue, Quantity as ItemQuantity, ReferenceRange};
use carnet_domain::{Ins, Rpps};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{no_known_code, systems as sys};
use crate::model::OperationOutcome;
use crate::render::{IssueSeverity, IssueType, operation_outcome};
use crate::search::DateParam;

/// A refused element: its FHIRPath and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ProfileError {
    pub path: String,
    pub message: String,
}

impl ProfileError {
    /// The error as FHIR answers it.
    pub fn outcome(&self) -> OperationOutcome {
        operation_outcome(IssueSeverity::Error, IssueType::Invalid, &self.to_string(), &[&self.path])
    }
}

fn refuse(path: impl Into<String>, message: impl Into<String>) -> ProfileError {
    ProfileError { path: path.into(), message: message.into() }
}

type Result<T> = std::result::Result<T, ProfileError>;

/// A created item: its kind, what it says, and the patient it names (the edge checks it is the
/// record's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedItem {
    pub kind: ItemKind,
    pub content: ItemContent,
    pub patient: Ins,
}

/// What an `X-Provenance` header says of the author.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProvenanceClaim {
    /// The author's RPPS, when named by IdNat_PS (`8` + RPPS).
    pub author_rpps: Option<Rpps>,
    pub author_name: Option<String>,
}

/// One JSON object being read: every key must be read or allowed, else it is refused.
struct Obj<'a> {
    map: &'a Map<String, Value>,
    path: String,
}

impl<'a> Obj<'a> {
    fn new(v: &'a Value, path: impl Into<String>) -> Result<Obj<'a>> {
        let path = path.into();
        match v.as_object() {
            Some(map) => Ok(Obj { map, path }),
            None => Err(refuse(path, "an object is expected")),
        }
    }

    fn at(&self, key: &str) -> String {
        format!("{}.{key}", self.path)
    }

    /// Refuses any key outside `allowed`, naming it.
    fn only(&self, allowed: &[&str]) -> Result<()> {
        for key in self.map.keys() {
            if !allowed.contains(&key.as_str()) {
                let why = match key.as_str() {
                    "modifierExtension" | "implicitRules" => "changes the meaning of the resource: Carnet cannot apply it",
                    "text" => "Carnet writes the narrative itself, from the data it keeps",
                    "contained" => "contained resources are not kept: name the author in the X-Provenance header",
                    _ => "Carnet cannot keep this element",
                };
                return Err(refuse(self.at(key), why));
            }
        }
        Ok(())
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key)
    }

    fn string(&self, key: &str) -> Result<Option<String>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.clone())),
            Some(_) => Err(refuse(self.at(key), "a non-empty string is expected")),
        }
    }

    fn boolean(&self, key: &str) -> Result<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(refuse(self.at(key), "true or false is expected")),
        }
    }

    fn date_time(&self, key: &str) -> Result<Option<String>> {
        let value = self.string(key)?;
        if let Some(v) = &value
            && !is_date_time(v)
        {
            return Err(refuse(
                self.at(key),
                format!("{v:?} is not a FHIR dateTime (YYYY, YYYY-MM, YYYY-MM-DD or a full date-time with its offset)"),
            ));
        }
        Ok(value)
    }

    fn object(&self, key: &str) -> Result<Option<Obj<'a>>> {
        self.get(key).map(|v| Obj::new(v, self.at(key))).transpose()
    }

    /// An array of at most one element (what Carnet keeps one of).
    fn single(&self, key: &str) -> Result<Option<Obj<'a>>> {
        let items = self.array(key)?;
        match items {
            [] => Ok(None),
            [one] => Obj::new(one, format!("{}[0]", self.at(key))).map(Some),
            _ => Err(refuse(format!("{}[1]", self.at(key)), "Carnet keeps one of these")),
        }
    }

    fn array(&self, key: &str) -> Result<&'a [Value]> {
        match self.get(key) {
            None => Ok(&[]),
            Some(Value::Array(a)) => Ok(a),
            Some(_) => Err(refuse(self.at(key), "an array is expected")),
        }
    }
}

/// A FHIR `dateTime`: a year, year-month, day, or a full date-time with seconds and offset.
pub(crate) fn is_date_time(s: &str) -> bool {
    if !s.bytes().next().is_some_and(|b| b.is_ascii_digit()) {
        return false;
    }
    if s.contains('T') { OffsetDateTime::parse(s, &Rfc3339).is_ok() } else { DateParam::parse("date", s).is_ok() }
}

fn coding(o: &Obj<'_>) -> Result<ItemCoding> {
    o.only(&["system", "code", "display"])?;
    let c = ItemCoding { system: o.string("system")?, code: o.string("code")?, display: o.string("display")? };
    if c.code.is_none() && c.display.is_none() {
        return Err(refuse(o.path.clone(), "a coding needs a code (or at least a display)"));
    }
    Ok(c)
}

/// A CodeableConcept: at most one coding, and its text.
fn concept(o: &Obj<'_>) -> Result<(Option<ItemCoding>, Option<String>)> {
    o.only(&["coding", "text"])?;
    let code = o.single("coding")?.map(|c| coding(&c)).transpose()?;
    let text = o.string("text")?;
    if code.is_none() && text.is_none() {
        return Err(refuse(o.path.clone(), "a coding or a text is expected"));
    }
    Ok((code, text))
}

fn is_code(code: &Option<ItemCoding>, system: &str, value: &str) -> bool {
    code.as_ref().is_some_and(|c| c.system.as_deref() == Some(system) && c.code.as_deref() == Some(value))
}

/// A status concept bound to `system`: its code, one of `codes`.
fn status_code(o: &Obj<'_>, system: &str, codes: &[&str]) -> Result<String> {
    let (code, _) = concept(o)?;
    match code {
        Some(c) if c.system.as_deref() == Some(system) && c.code.as_deref().is_some_and(|k| codes.contains(&k)) => {
            Ok(c.code.unwrap_or_default())
        }
        _ => Err(refuse(o.path.clone(), format!("a code of {system}: {}", codes.join(", ")))),
    }
}

/// The patient a resource names: `Patient/{INS}` or an INS identifier.
fn patient_of(o: &Obj<'_>) -> Result<Ins> {
    o.only(&["reference", "type", "identifier", "display"])?;
    if let Some(r) = o.string("reference")? {
        let id = r.rsplit_once("Patient/").map(|(_, id)| id).unwrap_or(&r);
        return Ins::parse(id).map_err(|e| refuse(o.at("reference"), format!("Patient/{{INS}} is expected: {e}")));
    }
    if let Some(identifier) = o.object("identifier")? {
        identifier.only(&["system", "value", "type", "use"])?;
        if let Some(v) = identifier.string("value")? {
            return Ins::parse(&v).map_err(|e| refuse(identifier.at("value"), e.to_string()));
        }
    }
    Err(refuse(o.path.clone(), "the patient's reference (Patient/{INS}) or INS identifier is expected"))
}

/// Carnet's extensions a create may carry: the source's status word and a denial.
struct Extensions {
    source_status: Option<String>,
    negated: bool,
}

fn extensions(o: &Obj<'_>) -> Result<Extensions> {
    let mut out = Extensions { source_status: None, negated: false };
    for (i, e) in o.array("extension")?.iter().enumerate() {
        let e = Obj::new(e, format!("{}[{i}]", o.at("extension")))?;
        let url = e.string("url")?.unwrap_or_default();
        if url == sys::source_status_extension() {
            e.only(&["url", "valueString"])?;
            out.source_status = e.string("valueString")?;
        } else if url == sys::negated_extension() {
            e.only(&["url", "valueBoolean"])?;
            out.negated = e.boolean("valueBoolean")?.unwrap_or(false);
        } else if url == sys::source_document_extension() {
            return Err(refuse(e.path, "a create is a direct entry: the source document is Carnet's link for items read from deposits"));
        } else {
            return Err(refuse(e.at("url"), format!("{url:?} is not an extension Carnet keeps")));
        }
    }
    Ok(out)
}

/// Elements every resource may carry: the type, the server's own (`id`, `meta`), extensions.
const COMMON: [&str; 4] = ["resourceType", "id", "meta", "extension"];

fn check_meta(o: &Obj<'_>) -> Result<()> {
    if let Some(meta) = o.object("meta")? {
        meta.only(&["versionId", "lastUpdated", "profile"])?;
    }
    Ok(())
}

fn allowed<'k>(extra: &[&'k str]) -> Vec<&'k str> {
    COMMON.iter().copied().chain(extra.iter().copied()).collect()
}

/// What a resource says the item is; IPS's "none known" code is a denial without a code.
fn what(o: &Obj<'_>, key: &str, kind: ItemKind, content: &mut ItemContent) -> Result<()> {
    let Some(cc) = o.object(key)? else { return Ok(()) };
    let (code, text) = concept(&cc)?;
    if let Some(none) = no_known_code(kind)
        && is_code(&code, sys::IPS_ABSENT_UNKNOWN, none)
    {
        content.negated = true;
    } else {
        // Carnet's placeholders for a code R4 requires (unknown, the organ donation position)
        // say that the source gave none.
        let placeholder = is_code(&code, sys::DATA_ABSENT_REASON, "unknown")
            || (kind == ItemKind::OrganDonation && is_code(&code, &sys::declaration_system(), "organ-donation"));
        if !placeholder {
            content.code = code;
        }
    }
    content.text = text;
    Ok(())
}

fn quantity(o: &Obj<'_>) -> Result<ItemQuantity> {
    o.only(&["value", "unit", "system", "code"])?;
    let value = match o.get("value") {
        Some(Value::Number(n)) => n.to_string(),
        Some(_) => return Err(refuse(o.at("value"), "a decimal number is expected")),
        None => return Err(refuse(o.at("value"), "Carnet keeps quantities with their value")),
    };
    if let Some(system) = o.string("system")?
        && system != sys::UCUM
    {
        return Err(refuse(o.at("system"), "units are UCUM (http://unitsofmeasure.org)"));
    }
    let (unit, code) = (o.string("unit")?, o.string("code")?);
    if let (Some(u), Some(c)) = (&unit, &code)
        && u != c
    {
        return Err(refuse(o.at("unit"), "Carnet keeps one unit: its UCUM code"));
    }
    Ok(ItemQuantity { value, unit: code.or(unit) })
}

/// Reads a created resource (`body`, the request's JSON) into an item.
pub fn parse_item(body: &Value) -> Result<ParsedItem> {
    if !body.is_object() {
        return Err(refuse("resourceType", "a resource (a JSON object with its resourceType) is expected"));
    }
    let type_ = body.get("resourceType").and_then(Value::as_str).unwrap_or_default().to_owned();
    let o = Obj::new(body, type_.clone())?;
    check_meta(&o)?;
    let ext = extensions(&o)?;
    let mut c = ItemContent { negated: ext.negated, clinical_status: ext.source_status, ..ItemContent::default() };
    let (kind, patient) = match type_.as_str() {
        "Condition" => {
            o.only(&allowed(&[
                "clinicalStatus",
                "verificationStatus",
                "category",
                "code",
                "subject",
                "onsetDateTime",
                "abatementDateTime",
                "recordedDate",
                "recorder",
                "asserter",
            ]))?;
            if let Some(s) = o.object("clinicalStatus")? {
                let codes = ["active", "recurrence", "relapse", "inactive", "remission", "resolved"];
                let code = status_code(&s, sys::CONDITION_CLINICAL, &codes)?;
                c.clinical_status = c.clinical_status.or(Some(code));
            }
            if let Some(v) = o.object("verificationStatus")?
                && status_code(&v, sys::CONDITION_VERIFICATION, &["confirmed", "refuted"])? == "refuted"
            {
                c.negated = true;
            }
            for (i, cat) in o.array("category")?.iter().enumerate() {
                status_code(&Obj::new(cat, format!("Condition.category[{i}]"))?, sys::CONDITION_CATEGORY, &["problem-list-item"])?;
            }
            what(&o, "code", ItemKind::Condition, &mut c)?;
            c.from = o.date_time("onsetDateTime")?;
            c.to = o.date_time("abatementDateTime")?;
            (ItemKind::Condition, required_patient(&o, "subject")?)
        }
        "AllergyIntolerance" => {
            o.only(&allowed(&[
                "clinicalStatus",
                "verificationStatus",
                "code",
                "patient",
                "onsetDateTime",
                "recordedDate",
                "recorder",
                "asserter",
            ]))?;
            if let Some(s) = o.object("clinicalStatus")? {
                let code = status_code(&s, sys::ALLERGY_CLINICAL, &["active", "inactive", "resolved"])?;
                // The source's own word, when Carnet wrote one, says more than the code R4 requires.
                c.clinical_status = c.clinical_status.or(Some(code));
            }
            if let Some(v) = o.object("verificationStatus")?
                && status_code(&v, sys::ALLERGY_VERIFICATION, &["confirmed", "refuted"])? == "refuted"
            {
                c.negated = true;
            }
            what(&o, "code", ItemKind::Allergy, &mut c)?;
            c.from = o.date_time("onsetDateTime")?;
            (ItemKind::Allergy, required_patient(&o, "patient")?)
        }
        "MedicationStatement" => {
            o.only(&allowed(&[
                "status",
                "medicationCodeableConcept",
                "subject",
                "effectiveDateTime",
                "effectivePeriod",
                "dateAsserted",
                "informationSource",
            ]))?;
            match o.string("status")?.as_deref() {
                Some("not-taken") => c.negated = true,
                Some("entered-in-error") => return Err(refuse(o.at("status"), "a create cannot be entered in error")),
                Some(s @ ("active" | "completed" | "intended" | "stopped" | "on-hold" | "unknown")) => {
                    c.clinical_status = c.clinical_status.or_else(|| Some(s.to_owned()));
                }
                Some(other) => return Err(refuse(o.at("status"), format!("{other:?} is not a MedicationStatement status"))),
                None => return Err(refuse(o.at("status"), "required")),
            }
            if o.get("medicationCodeableConcept").is_none() {
                return Err(refuse(o.at("medicationCodeableConcept"), "required (Carnet keeps no Medication resources)"));
            }
            what(&o, "medicationCodeableConcept", ItemKind::Medication, &mut c)?;
            effective(&o, &mut c)?;
            (ItemKind::Medication, required_patient(&o, "subject")?)
        }
        "Immunization" => {
            o.only(&allowed(&[
                "status",
                "vaccineCode",
                "patient",
                "occurrenceDateTime",
                "occurrenceString",
                "recorded",
                "primarySource",
                "reportOrigin",
                "lotNumber",
                "performer",
            ]))?;
            match o.string("status")?.as_deref() {
                Some("not-done") => c.negated = true,
                Some("completed") => c.clinical_status = c.clinical_status.or_else(|| Some("completed".into())),
                Some(other) => return Err(refuse(o.at("status"), format!("{other:?}: a create is completed or not-done"))),
                None => return Err(refuse(o.at("status"), "required")),
            }
            what(&o, "vaccineCode", ItemKind::Immunization, &mut c)?;
            c.at = o.date_time("occurrenceDateTime")?;
            match o.string("occurrenceString")?.as_deref() {
                None | Some("unknown") => {}
                Some(_) => return Err(refuse(o.at("occurrenceString"), "Carnet keeps a date (occurrenceDateTime), or none: \"unknown\"")),
            }
            if let Some(origin) = o.object("reportOrigin")? {
                concept(&origin)?;
            }
            c.lot = o.string("lotNumber")?;
            if let Some(p) = o.single("performer")? {
                p.only(&["function", "actor"])?;
                if let Some(f) = p.object("function")? {
                    status_code(&f, sys::PERFORMER_FUNCTION, &["AP"])?;
                }
                let actor = p.object("actor")?.ok_or_else(|| refuse(p.at("actor"), "required"))?;
                actor.only(&["display"])?;
                c.performer = actor.string("display")?;
            }
            (ItemKind::Immunization, required_patient(&o, "patient")?)
        }
        "Observation" => {
            o.only(&allowed(&[
                "status",
                "category",
                "code",
                "subject",
                "effectiveDateTime",
                "effectivePeriod",
                "issued",
                "performer",
                "valueQuantity",
                "valueCodeableConcept",
                "valueString",
                "valueBoolean",
                "interpretation",
                "referenceRange",
            ]))?;
            let category = o.single("category")?.ok_or_else(|| {
                refuse(o.at("category"), "laboratory, vital-signs or social-history (the organ donation position) is expected")
            })?;
            let kind = match status_code(&category, sys::OBSERVATION_CATEGORY, &["laboratory", "vital-signs", "social-history"])?.as_str() {
                "laboratory" => ItemKind::Result,
                "vital-signs" => ItemKind::VitalSign,
                _ => ItemKind::OrganDonation,
            };
            match o.string("status")?.as_deref() {
                Some("entered-in-error") => return Err(refuse(o.at("status"), "a create cannot be entered in error")),
                Some(s @ ("registered" | "preliminary" | "final" | "amended" | "corrected" | "cancelled" | "unknown")) => {
                    c.clinical_status = c.clinical_status.or_else(|| Some(s.to_owned()));
                }
                Some(other) => return Err(refuse(o.at("status"), format!("{other:?} is not an Observation status"))),
                None => return Err(refuse(o.at("status"), "required")),
            }
            what(&o, "code", kind, &mut c)?;
            effective(&o, &mut c)?;
            let values = ["valueQuantity", "valueCodeableConcept", "valueString", "valueBoolean"];
            if let [_, second, ..] = values.iter().filter(|k| o.get(k).is_some()).collect::<Vec<_>>().as_slice() {
                return Err(refuse(o.at(second), "one value[x] only"));
            }
            if let Some(q) = o.object("valueQuantity")? {
                c.value = Some(ItemValue::Quantity(quantity(&q)?));
            }
            if let Some(v) = o.object("valueCodeableConcept")? {
                match concept(&v)? {
                    (Some(code), None) => c.value = Some(ItemValue::Coded(code)),
                    (None, Some(text)) => c.value = Some(ItemValue::Text { text }),
                    _ => return Err(refuse(v.at("text"), "Carnet keeps a coded value or a text, not both")),
                }
            }
            if let Some(text) = o.string("valueString")? {
                c.value = Some(ItemValue::Text { text });
            }
            if let Some(b) = o.boolean("valueBoolean")? {
                if kind != ItemKind::OrganDonation || c.negated {
                    return Err(refuse(o.at("valueBoolean"), "a yes/no value is the organ donation position only"));
                }
                c.negated = !b;
            }
            if let Some(i) = o.single("interpretation")? {
                match concept(&i)? {
                    (Some(code), None) => c.interpretation = Some(code),
                    _ => return Err(refuse(i.path.clone(), "Carnet keeps one interpretation code, without text")),
                }
            }
            if let Some(r) = o.single("referenceRange")? {
                r.only(&["low", "high", "text"])?;
                c.reference_range = Some(ReferenceRange {
                    low: r.object("low")?.map(|q| quantity(&q)).transpose()?,
                    high: r.object("high")?.map(|q| quantity(&q)).transpose()?,
                    text: r.string("text")?,
                });
            }
            (kind, required_patient(&o, "subject")?)
        }
        "Consent" => {
            o.only(&allowed(&["status", "scope", "category", "patient", "dateTime", "performer", "sourceAttachment", "policyRule"]))?;
            match o.string("status")?.as_deref() {
                Some("active") => {}
                Some("rejected") => c.negated = true,
                _ => return Err(refuse(o.at("status"), "active (the directives exist) or rejected (the patient has none)")),
            }
            let scope = o.object("scope")?.ok_or_else(|| refuse(o.at("scope"), "required: adr"))?;
            status_code(&scope, sys::CONSENT_SCOPE, &["adr"])?;
            let mut acd = false;
            for (i, cat) in o.array("category")?.iter().enumerate() {
                let cat = Obj::new(cat, format!("Consent.category[{i}]"))?;
                let (code, text) = concept(&cat)?;
                if is_code(&code, sys::CONSENT_CATEGORY, "acd") && text.is_none() {
                    acd = true;
                } else if c.code.is_some() || c.text.is_some() {
                    return Err(refuse(cat.path, "Carnet keeps one category besides acd"));
                } else {
                    (c.code, c.text) = (code, text);
                }
            }
            if !acd {
                return Err(refuse(o.at("category"), "advance directives are category acd (consentcategorycodes)"));
            }
            c.at = o.date_time("dateTime")?;
            if let Some(a) = o.object("sourceAttachment")? {
                a.only(&["title"])?;
                c.details = a.string("title")?;
            }
            (ItemKind::AdvanceDirective, required_patient(&o, "patient")?)
        }
        "RelatedPerson" => {
            o.only(&allowed(&["active", "patient", "relationship", "name", "telecom", "period"]))?;
            if o.boolean("active")? == Some(false) {
                return Err(refuse(o.at("active"), "a contact is created active"));
            }
            if let Some(r) = o.single("relationship")? {
                match concept(&r)? {
                    (Some(code), None) => c.code = Some(code),
                    _ => return Err(refuse(r.path.clone(), "Carnet keeps the relationship as one code, without text")),
                }
            }
            if let Some(n) = o.single("name")? {
                n.only(&["text"])?;
                c.text = n.string("text")?;
            }
            if let Some(t) = o.single("telecom")? {
                t.only(&["system", "value"])?;
                c.details = t.string("value")?;
            }
            if let Some(p) = o.object("period")? {
                p.only(&["start", "end"])?;
                (c.from, c.to) = (p.date_time("start")?, p.date_time("end")?);
            }
            (ItemKind::Contact, required_patient(&o, "patient")?)
        }
        "" => return Err(refuse("resourceType", "required")),
        other => {
            return Err(refuse(
                "resourceType",
                format!(
                    "{other:?}: the profile takes Condition, AllergyIntolerance, MedicationStatement, Immunization, Observation, Consent (advance directives) or RelatedPerson"
                ),
            ));
        }
    };
    Ok(ParsedItem { kind, content: c, patient })
}

fn required_patient(o: &Obj<'_>, key: &str) -> Result<Ins> {
    let p = o.object(key)?.ok_or_else(|| refuse(o.at(key), "required: the patient (Patient/{INS})"))?;
    patient_of(&p)
}

fn effective(o: &Obj<'_>, c: &mut ItemContent) -> Result<()> {
    c.at = o.date_time("effectiveDateTime")?;
    if let Some(p) = o.object("effectivePeriod")? {
        if c.at.is_some() {
            return Err(refuse(p.path, "one effective[x] only"));
        }
        p.only(&["start", "end"])?;
        (c.from, c.to) = (p.date_time("start")?, p.date_time("end")?);
    }
    Ok(())
}

/// Reads the `X-Provenance` header of a create: the author it names. `target`, `recorded` and
/// `activity` are the server's to set; a source `entity` or a signature is refused.
pub fn parse_provenance(body: &Value) -> Result<ProvenanceClaim> {
    let o = Obj::new(body, "Provenance")?;
    if body.get("resourceType").and_then(Value::as_str) != Some("Provenance") {
        return Err(refuse("Provenance.resourceType", "Provenance is expected"));
    }
    check_meta(&o)?;
    o.only(&["resourceType", "id", "meta", "target", "recorded", "activity", "agent"])?;
    let mut claim = ProvenanceClaim::default();
    let agents = o.array("agent")?;
    if agents.is_empty() {
        return Err(refuse(o.at("agent"), "required: the author"));
    }
    for (i, a) in agents.iter().enumerate() {
        let a = Obj::new(a, format!("Provenance.agent[{i}]"))?;
        a.only(&["type", "who"])?;
        let who = a.object("who")?.ok_or_else(|| refuse(a.at("who"), "required"))?;
        who.only(&["reference", "type", "identifier", "display"])?;
        if let Some(id) = who.object("identifier")? {
            id.only(&["system", "value", "type", "use"])?;
            let value = id.string("value")?.unwrap_or_default();
            match (id.string("system")?.as_deref(), value.strip_prefix('8')) {
                (Some(crate::systems::IDNAT_PS), Some(rpps)) => {
                    claim.author_rpps = Some(Rpps::parse(rpps).map_err(|e| refuse(id.at("value"), e.to_string()))?);
                }
                _ => return Err(refuse(id.path, "a professional is named by IdNat_PS (urn:oid:1.2.250.1.71.4.2.1, 8 + RPPS)")),
            }
        }
        claim.author_name = claim.author_name.or(who.string("display")?);
    }
    Ok(claim)
}
