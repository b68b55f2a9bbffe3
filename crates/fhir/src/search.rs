//! FHIR search parameters Carnet understands, parsed into values and matched against metadata.
//!
//! Pure: the edge hands over the query's `(name, value)` pairs; a parameter Carnet does not
//! know, a modifier it does not support, or a value it cannot read is a [`SearchError`] naming
//! the parameter (FHIR servers may ignore unknown parameters; Carnet refuses them, so a client
//! never believes a filter was applied when it was not). Matching decides nothing about
//! visibility: the edge matches only documents the gate already let through.

use carnet_domain::document::DocumentMeta;
use carnet_domain::{DocumentId, DocumentStatus, Ins, InsKind, Sex};
use time::{Date, Duration, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

use crate::render::master_identifier;

/// A refused parameter: its name (with any modifier) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("search parameter {param}: {message}")]
pub struct SearchError {
    pub param: String,
    pub message: String,
}

fn refuse(param: &str, message: impl Into<String>) -> SearchError {
    SearchError { param: param.to_owned(), message: message.into() }
}

/// Largest page.
pub const MAX_COUNT: usize = 200;
/// Page size when `_count` is absent.
pub const DEFAULT_COUNT: usize = 50;

/// Paging and result parameters every search accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub count: usize,
    /// Carnet's paging cursor (`_offset`), written into `next`/`previous` links.
    pub offset: usize,
}

impl Default for Page {
    fn default() -> Self {
        Page { count: DEFAULT_COUNT, offset: 0 }
    }
}

/// A token: `system|code`, `code` (any system) or `|code` (no system).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// `None`: any system; `Some("")`: no system.
    pub system: Option<String>,
    pub code: String,
}

impl Token {
    fn parse(param: &str, raw: &str) -> Result<Token, SearchError> {
        let (system, code) = match raw.split_once('|') {
            Some((s, c)) => (Some(s.to_owned()), c),
            None => (None, raw),
        };
        if code.is_empty() {
            return Err(refuse(param, format!("{raw:?} has no code (system|code or code)")));
        }
        Ok(Token { system, code: code.to_owned() })
    }

    pub fn matches(&self, system: &str, code: &str) -> bool {
        self.code == code && self.system.as_deref().is_none_or(|s| s == system)
    }
}

/// Comma-separated alternatives of one parameter (OR).
fn tokens(param: &str, raw: &str) -> Result<Vec<Token>, SearchError> {
    raw.split(',').map(|v| Token::parse(param, v)).collect()
}

/// A `date` search prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefix {
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    Sa,
    Eb,
}

/// A date criterion: a prefix and the interval `[start, end)` the value's precision covers
/// (`2026` is the whole year, `2026-03-02` the day, a date-time its second).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateParam {
    pub prefix: Prefix,
    pub start: OffsetDateTime,
    pub end: OffsetDateTime,
}

impl DateParam {
    pub fn parse(param: &str, raw: &str) -> Result<DateParam, SearchError> {
        let (prefix, value) = match raw.get(..2) {
            Some("eq") => (Prefix::Eq, &raw[2..]),
            Some("ne") => (Prefix::Ne, &raw[2..]),
            Some("gt") => (Prefix::Gt, &raw[2..]),
            Some("lt") => (Prefix::Lt, &raw[2..]),
            Some("ge") => (Prefix::Ge, &raw[2..]),
            Some("le") => (Prefix::Le, &raw[2..]),
            Some("sa") => (Prefix::Sa, &raw[2..]),
            Some("eb") => (Prefix::Eb, &raw[2..]),
            Some(p) if p.chars().all(|c| c.is_ascii_alphabetic()) => {
                return Err(refuse(param, format!("unknown prefix {p:?} (eq, ne, gt, lt, ge, le, sa, eb)")));
            }
            _ => (Prefix::Eq, raw),
        };
        let (start, end) = interval(value).ok_or_else(|| {
            refuse(param, format!("{value:?} is not a FHIR date or dateTime (YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss+zz:zz)"))
        })?;
        Ok(DateParam { prefix, start, end })
    }

    /// Does an instant match?
    pub fn matches_instant(&self, t: OffsetDateTime) -> bool {
        self.matches_range(Some(t), Some(t))
    }

    /// Does a range (open ends allowed) match, with FHIR's range semantics?
    pub fn matches_range(&self, from: Option<OffsetDateTime>, to: Option<OffsetDateTime>) -> bool {
        let within = from.is_some_and(|f| f >= self.start) && to.is_some_and(|t| t < self.end);
        match self.prefix {
            Prefix::Eq => within,
            Prefix::Ne => !within,
            Prefix::Gt => to.is_none_or(|t| t >= self.end),
            Prefix::Ge => to.is_none_or(|t| t >= self.start),
            Prefix::Lt => from.is_none_or(|f| f < self.start),
            Prefix::Le => from.is_none_or(|f| f < self.end),
            Prefix::Sa => from.is_some_and(|f| f >= self.end),
            Prefix::Eb => to.is_some_and(|t| t < self.start),
        }
    }
}

fn interval(value: &str) -> Option<(OffsetDateTime, OffsetDateTime)> {
    let day = |y: i32, m: u8, d: u8| Date::from_calendar_date(y, Month::try_from(m).ok()?, d).ok();
    let at = |d: Date| PrimitiveDateTime::new(d, Time::MIDNIGHT).assume_utc();
    let num = |s: &str, len: usize| (s.len() == len && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse::<i32>().ok()).flatten();
    if value.contains('T') {
        let t = OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339).ok().or_else(|| {
            // hh:mm without seconds.
            let (d, rest) = value.split_once('T')?;
            let (hm, zone) = rest.split_at(5.min(rest.len()));
            OffsetDateTime::parse(&format!("{d}T{hm}:00{zone}"), &time::format_description::well_known::Rfc3339).ok()
        })?;
        let t = t.to_offset(UtcOffset::UTC);
        let start = t.replace_nanosecond(0).ok()?;
        return Some((start, start + Duration::seconds(1)));
    }
    let parts: Vec<&str> = value.split('-').collect();
    match parts.as_slice() {
        [y] => {
            let y = num(y, 4)?;
            Some((at(day(y, 1, 1)?), at(day(y + 1, 1, 1)?)))
        }
        [y, m] => {
            let (y, m) = (num(y, 4)?, u8::try_from(num(m, 2)?).ok()?);
            let next = if m == 12 { day(y + 1, 1, 1)? } else { day(y, m + 1, 1)? };
            Some((at(day(y, m, 1)?), at(next)))
        }
        [y, m, d] => {
            let start = at(day(num(y, 4)?, u8::try_from(num(m, 2)?).ok()?, u8::try_from(num(d, 2)?).ok()?)?);
            Some((start, start + Duration::days(1)))
        }
        _ => None,
    }
}

/// The patient of a search: `patient=Patient/{INS}` (or the INS, or an absolute URL ending so)
/// or `patient.identifier=system|value` with an INS system.
fn patient(param: &str, raw: &str) -> Result<Ins, SearchError> {
    match param {
        "patient.identifier" => {
            let (system, value) = raw.split_once('|').unwrap_or(("", raw));
            if !system.is_empty() && ![InsKind::Nir, InsKind::Nia, InsKind::TestNir].iter().any(|k| k.system() == system) {
                return Err(refuse(
                    param,
                    format!("the system {system:?} is not an INS register (urn:oid:1.2.250.1.213.1.4.8, .9 or .10)"),
                ));
            }
            Ins::parse(value).map_err(|e| refuse(param, e.to_string()))
        }
        _ => {
            let id = raw.rsplit_once("Patient/").map(|(_, id)| id).unwrap_or(raw);
            Ins::parse(id).map_err(|e| refuse(param, format!("a Patient reference or id (the INS): {e}")))
        }
    }
}

/// Splits `name:modifier`, refusing modifiers; `allowed` names the modifiers accepted.
fn name_of<'a>(key: &'a str, allowed: &[&str]) -> Result<&'a str, SearchError> {
    match key.split_once(':') {
        None => Ok(key),
        Some((name, m)) if allowed.contains(&m) => Ok(name),
        Some(_) => Err(refuse(key, "modifiers are not supported on this parameter")),
    }
}

/// Reads the common result parameters; returns `true` if `key` was one.
fn common(key: &str, value: &str, page: &mut Page, sort: &mut Option<bool>) -> Result<bool, SearchError> {
    match key {
        "_count" => {
            let n: usize = value.parse().map_err(|_| refuse(key, format!("{value:?} is not a non-negative integer")))?;
            page.count = n.min(MAX_COUNT);
        }
        "_offset" => page.offset = value.parse().map_err(|_| refuse(key, format!("{value:?} is not a non-negative integer")))?,
        "_format" => {
            if !matches!(value, "json" | "application/json" | "application/fhir+json" | "fhir+json") {
                return Err(refuse(key, "Carnet answers JSON only (json, application/fhir+json)"));
            }
        }
        "_sort" => match value {
            "-date" => *sort = Some(false),
            "date" => *sort = Some(true),
            other => return Err(refuse(key, format!("{other:?}: Carnet sorts by date (date or -date)"))),
        },
        _ => return Ok(false),
    }
    Ok(true)
}

/// ITI-67 FindDocumentReferences.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentQuery {
    pub patient: Ins,
    pub identifier: Vec<Token>,
    pub status: Vec<DocumentStatus>,
    pub type_: Vec<Vec<Token>>,
    pub category: Vec<Vec<Token>>,
    pub format: Vec<Vec<Token>>,
    pub setting: Vec<Vec<Token>>,
    pub security_label: Vec<Vec<Token>>,
    pub date: Vec<DateParam>,
    pub period: Vec<DateParam>,
    pub author_given: Vec<Vec<String>>,
    pub author_family: Vec<Vec<String>>,
    pub related: Vec<Vec<DocumentId>>,
    pub page: Page,
    /// Oldest first (`_sort=date`); newest first by default and with `_sort=-date`.
    pub ascending: bool,
}

fn prefix_ci(value: Option<&String>, wanted: &[String]) -> bool {
    value.is_some_and(|v| {
        let v = v.to_lowercase();
        wanted.iter().any(|w| v.starts_with(&w.to_lowercase()))
    })
}

impl DocumentQuery {
    pub fn parse(params: &[(String, String)]) -> Result<DocumentQuery, SearchError> {
        let mut patient_seen: Option<(String, Ins)> = None;
        let first_patient = params
            .iter()
            .find(|(k, _)| matches!(k.as_str(), "patient" | "patient.identifier" | "subject" | "subject.identifier"))
            .ok_or_else(|| refuse("patient", "required: patient or patient.identifier (ITI-67)"))?;
        let canonical = if first_patient.0.ends_with(".identifier") { "patient.identifier" } else { "patient" };
        let mut q = DocumentQuery {
            patient: patient(canonical, &first_patient.1)?,
            identifier: vec![],
            status: vec![],
            type_: vec![],
            category: vec![],
            format: vec![],
            setting: vec![],
            security_label: vec![],
            date: vec![],
            period: vec![],
            author_given: vec![],
            author_family: vec![],
            related: vec![],
            page: Page::default(),
            ascending: false,
        };
        let mut sort = None;
        for (key, value) in params {
            if common(key, value, &mut q.page, &mut sort)? {
                continue;
            }
            let name = name_of(key, &["exact"])?;
            let exact_ok = matches!(name, "author.given" | "author.family");
            if name != key && !exact_ok {
                return Err(refuse(key, "modifiers are not supported on this parameter"));
            }
            match name {
                "patient" | "patient.identifier" | "subject" | "subject.identifier" => {
                    let canonical = if name.ends_with(".identifier") { "patient.identifier" } else { "patient" };
                    let ins = patient(canonical, value)?;
                    if let Some((first, other)) = &patient_seen
                        && other != &ins
                    {
                        return Err(refuse(key, format!("names another patient than {first}: one patient per search")));
                    }
                    patient_seen = Some((key.clone(), ins));
                }
                "identifier" => q.identifier.extend(tokens(key, value)?),
                "status" => {
                    for v in value.split(',') {
                        q.status.push(DocumentStatus::parse(v).ok_or_else(|| {
                            refuse(key, format!("{v:?} is not a DocumentReference status (current, superseded, entered-in-error)"))
                        })?);
                    }
                }
                "type" => q.type_.push(tokens(key, value)?),
                "category" => q.category.push(tokens(key, value)?),
                "format" => q.format.push(tokens(key, value)?),
                "setting" => q.setting.push(tokens(key, value)?),
                "security-label" => q.security_label.push(tokens(key, value)?),
                "date" => q.date.push(DateParam::parse(key, value)?),
                "period" => q.period.push(DateParam::parse(key, value)?),
                "author.given" => q.author_given.push(value.split(',').map(str::to_owned).collect()),
                "author.family" => q.author_family.push(value.split(',').map(str::to_owned).collect()),
                "related" => q.related.push(
                    value
                        .split(',')
                        .map(|v| {
                            let id = v.rsplit_once("DocumentReference/").map(|(_, id)| id).unwrap_or(v);
                            DocumentId::parse(id).map_err(|e| refuse(key, format!("a DocumentReference reference or id: {e}")))
                        })
                        .collect::<Result<_, _>>()?,
                ),
                other => return Err(refuse(other, "not a search parameter of DocumentReference that Carnet supports")),
            }
        }
        if let Some((_, ins)) = patient_seen {
            q.patient = ins;
        }
        q.ascending = sort.unwrap_or(false);
        Ok(q)
    }

    /// Whether a document (already let through by the gate) matches every criterion.
    pub fn matches(&self, m: &DocumentMeta) -> bool {
        let any = |alternatives: &[Token], system: &str, code: &str| alternatives.iter().any(|t| t.matches(system, code));
        let master = master_identifier(&m.xds.unique_id);
        let master_system = master.system.as_deref().unwrap_or("");
        let master_value = master.value.as_deref().unwrap_or("");
        m.ins == self.patient
            && (self.identifier.is_empty()
                || self.identifier.iter().any(|t| t.matches(master_system, master_value) || t.code == m.xds.unique_id))
            && (self.status.is_empty() || self.status.contains(&m.status))
            && self.type_.iter().all(|alt| any(alt, &m.xds.type_code.system, &m.xds.type_code.code))
            && self.category.iter().all(|alt| any(alt, &m.xds.class_code.system, &m.xds.class_code.code))
            && self.format.iter().all(|alt| any(alt, &m.xds.format_code.system, &m.xds.format_code.code))
            && self.setting.iter().all(|alt| m.xds.practice_setting.as_ref().is_some_and(|c| any(alt, &c.system, &c.code)))
            && self.security_label.iter().all(|alt| {
                let system = crate::systems::security_label_system();
                m.labels.iter().any(|l| any(alt, &system, l.code()))
            })
            && self.date.iter().all(|d| d.matches_instant(m.submitted_at))
            && self.period.iter().all(|d| {
                (m.xds.service_start.is_some() || m.xds.service_end.is_some()) && d.matches_range(m.xds.service_start, m.xds.service_end)
            })
            && self.author_given.iter().all(|g| prefix_ci(m.author_name.as_ref().and_then(|n| n.given.as_ref()), g))
            && self.author_family.iter().all(|f| prefix_ci(m.author_name.as_ref().and_then(|n| n.family.as_ref()), f))
            && self.related.iter().all(|ids| m.replaces.is_some_and(|r| ids.contains(&r)))
    }
}

/// ITI-78 PDQm Patient search.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PatientSearch {
    pub ins: Option<Ins>,
    pub family: Option<String>,
    pub given: Option<String>,
    pub birth_date: Option<Date>,
    pub sex: Option<Sex>,
    pub page: Page,
}

impl PatientSearch {
    pub fn parse(params: &[(String, String)]) -> Result<PatientSearch, SearchError> {
        let mut q = PatientSearch::default();
        let mut sort = None;
        let set_ins = |key: &str, ins: Ins, q: &mut PatientSearch| -> Result<(), SearchError> {
            if q.ins.as_ref().is_some_and(|i| i != &ins) {
                return Err(refuse(key, "names another patient than another parameter"));
            }
            q.ins = Some(ins);
            Ok(())
        };
        for (key, value) in params {
            if common(key, value, &mut q.page, &mut sort)? {
                if sort.is_some() {
                    return Err(refuse("_sort", "Patient results are not sorted by date"));
                }
                continue;
            }
            let name = name_of(key, &["exact"])?;
            if name != key && !matches!(name, "family" | "given") {
                return Err(refuse(key, "modifiers are not supported on this parameter"));
            }
            let nonempty = |v: &str| if v.trim().is_empty() { Err(refuse(key, "empty value")) } else { Ok(v.trim().to_owned()) };
            match name {
                "identifier" => {
                    let ins = patient("patient.identifier", value).map_err(|e| refuse(key, e.message))?;
                    set_ins(key, ins, &mut q)?;
                }
                "_id" => {
                    let ins = Ins::parse(value).map_err(|e| refuse(key, format!("a Patient id is an INS: {e}")))?;
                    set_ins(key, ins, &mut q)?;
                }
                "family" => q.family = Some(nonempty(value)?),
                "given" => q.given = Some(nonempty(value)?),
                "birthdate" => {
                    let parts: Vec<&str> = value.split('-').collect();
                    let date = match parts.as_slice() {
                        [y, m, d] if y.len() == 4 && m.len() == 2 && d.len() == 2 => {
                            let n = |s: &str| s.parse::<i32>().ok();
                            n(y).zip(n(m).and_then(|m| u8::try_from(m).ok()).and_then(|m| Month::try_from(m).ok()))
                                .zip(n(d).and_then(|d| u8::try_from(d).ok()))
                                .and_then(|((y, m), d)| Date::from_calendar_date(y, m, d).ok())
                        }
                        _ => None,
                    };
                    q.birth_date =
                        Some(date.ok_or_else(|| refuse(key, format!("{value:?}: a full date YYYY-MM-DD (the INS birth date)")))?);
                }
                "gender" => {
                    q.sex = Some(match value.as_str() {
                        "male" => Sex::Male,
                        "female" => Sex::Female,
                        "other" => Sex::Indeterminate,
                        v => return Err(refuse(key, format!("{v:?}: male, female or other (INS sex I)"))),
                    })
                }
                other => return Err(refuse(other, "not a search parameter of Patient that Carnet supports (ITI-78)")),
            }
        }
        Ok(q)
    }
}

/// ITI-66 FindSubmissionSets (List), and the simple searches by patient (Consent, AuditEvent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientScopedQuery {
    pub patient: Ins,
    pub identifier: Vec<Token>,
    pub date: Vec<DateParam>,
    pub page: Page,
}

impl PatientScopedQuery {
    /// `resource` names the resource in messages; `extra` lists the fixed-value parameters
    /// accepted with the one value each may take (e.g. `("code", "submissionset")`).
    pub fn parse(
        resource: &str,
        params: &[(String, String)],
        extra: &[(&str, &[&str])],
        dated: bool,
    ) -> Result<PatientScopedQuery, SearchError> {
        let mut patient_seen: Option<Ins> = None;
        let (first_key, first_value) = params
            .iter()
            .find(|(k, _)| matches!(k.as_str(), "patient" | "patient.identifier"))
            .ok_or_else(|| refuse("patient", "required: patient or patient.identifier"))?;
        let mut q =
            PatientScopedQuery { patient: patient(first_key, first_value)?, identifier: vec![], date: vec![], page: Page::default() };
        let mut sort = None;
        for (key, value) in params {
            if common(key, value, &mut q.page, &mut sort)? {
                continue;
            }
            let name = name_of(key, &[])?;
            match name {
                "patient" | "patient.identifier" => {
                    let ins = patient(name, value)?;
                    if patient_seen.as_ref().is_some_and(|p| p != &ins) {
                        return Err(refuse(key, "one patient per search"));
                    }
                    patient_seen = Some(ins);
                }
                "identifier" if !extra.iter().any(|(n, _)| *n == "identifier") && resource == "List" => {
                    q.identifier.extend(tokens(key, value)?)
                }
                "date" if dated => q.date.push(DateParam::parse(key, value)?),
                other => match extra.iter().find(|(n, _)| *n == other) {
                    Some((_, allowed)) => {
                        for v in value.split(',') {
                            let code = v.rsplit_once('|').map(|(_, c)| c).unwrap_or(v);
                            if !allowed.contains(&code) {
                                return Err(refuse(key, format!("{v:?}: Carnet serves {}", allowed.join(", "))));
                            }
                        }
                    }
                    None => return Err(refuse(other, format!("not a search parameter of {resource} that Carnet supports"))),
                },
            }
        }
        if let Some(ins) = patient_seen {
            q.patient = ins;
        }
        Ok(q)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn pairs(q: &[(&str, &str)]) -> Vec<(String, String)> {
        q.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn dates_cover_their_precision() {
        let day = DateParam::parse("date", "2026-03-02").expect("day");
        assert!(day.matches_instant(datetime!(2026-03-02 23:59 UTC)));
        assert!(!day.matches_instant(datetime!(2026-03-03 0:00 UTC)));
        let ge = DateParam::parse("date", "ge2026-03").expect("month");
        assert!(ge.matches_instant(datetime!(2026-03-01 0:00 UTC)) && !ge.matches_instant(datetime!(2026-02-28 23:59 UTC)));
        let lt = DateParam::parse("date", "lt2026-03-02T10:00:00+01:00").expect("instant");
        assert!(lt.matches_instant(datetime!(2026-03-02 8:59:59 UTC)) && !lt.matches_instant(datetime!(2026-03-02 9:00 UTC)));
        assert!(DateParam::parse("date", "xx2026").is_err());
        assert!(DateParam::parse("date", "2026-13").is_err());
        assert!(DateParam::parse("date", "yesterday").is_err());
    }

    #[test]
    fn unknown_or_malformed_parameters_name_themselves() {
        let ins = Ins::from_body("2690549588157").expect("valid");
        let identifier = format!("urn:oid:1.2.250.1.213.1.4.8|{ins}");
        let base = [("patient.identifier", identifier.as_str())];
        assert_eq!(DocumentQuery::parse(&pairs(&base)).expect("valid").patient, ins);
        for (k, v, named) in [
            ("foo", "1", "foo"),
            ("status", "final", "status"),
            ("date", "tomorrow", "date"),
            ("type:text", "x", "type:text"),
            ("_count", "-1", "_count"),
            ("_sort", "title", "_sort"),
            ("related", "nope", "related"),
        ] {
            let mut q = pairs(&base);
            q.push((k.into(), v.into()));
            let err = DocumentQuery::parse(&q).expect_err(k);
            assert_eq!(err.param, named, "{err}");
        }
        assert_eq!(DocumentQuery::parse(&pairs(&[("status", "current")])).expect_err("no patient").param, "patient");
    }
}
