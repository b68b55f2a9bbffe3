//! FHIR search parameters Carnet understands, parsed into values and matched against metadata.
//!
//! Pure: the edge hands over the query's `(name, value)` pairs; a parameter Carnet does not
//! know, a modifier it does not support, or a value it cannot read is a [`SearchError`] naming
//! the parameter (FHIR servers may ignore unknown parameters; Carnet refuses them, so a client
//! never believes a filter was applied when it was not). A client that asks for it with
//! `Prefer: handling=lenient` ([`Handling::Lenient`]) gets unknown parameters and unsupported
//! modifiers ignored instead, and told which (the edge reports them in the searchset); a value
//! Carnet cannot read is refused either way. Matching decides nothing about visibility: the
//! edge matches only documents the gate already let through.

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

pub(crate) fn refuse(param: &str, message: impl Into<String>) -> SearchError {
    SearchError { param: param.to_owned(), message: message.into() }
}

/// How a search treats a parameter Carnet does not support (FHIR R4 search, `Prefer: handling=`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Handling {
    /// Refused with a [`SearchError`]: the default, so a filter is never silently dropped.
    #[default]
    Strict,
    /// Ignored, and returned with the query so the client is told.
    Lenient,
}

impl Handling {
    /// The `handling` preference of a request's `Prefer` header values (RFC 7240): the first
    /// `handling` preference counts; a malformed header, an unknown value or none is strict.
    pub fn from_prefer<'a>(headers: impl IntoIterator<Item = &'a str>) -> Handling {
        let mut preferences = headers.into_iter().flat_map(split_unquoted);
        let handling = preferences.find_map(|preference| {
            // `token [= word] *(; parameter)`: the parameters do not matter here.
            let head = split_unquoted_on(preference, ';').next().unwrap_or_default();
            let (name, value) = head.split_once('=').map_or((head, None), |(n, v)| (n, Some(v)));
            name.trim().eq_ignore_ascii_case("handling").then_some(value)
        });
        let value = handling.flatten().map(|v| {
            let v = v.trim();
            v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(v)
        });
        match value {
            Some(v) if v.eq_ignore_ascii_case("lenient") => Handling::Lenient,
            _ => Handling::Strict,
        }
    }
}

/// Splits a header value on commas outside quoted strings.
fn split_unquoted(value: &str) -> impl Iterator<Item = &str> {
    split_unquoted_on(value, ',')
}

fn split_unquoted_on(value: &str, separator: char) -> impl Iterator<Item = &str> {
    let mut quoted = false;
    let mut escaped = false;
    value
        .split(move |c: char| {
            if escaped {
                escaped = false;
            } else if quoted && c == '\\' {
                escaped = true;
            } else if c == '"' {
                quoted = !quoted;
            } else if c == separator && !quoted {
                return true;
            }
            false
        })
        .filter(|p| !p.trim().is_empty())
}

/// Parameters a search does not support: refused (strict) or noted and skipped (lenient).
pub(crate) struct Unsupported {
    handling: Handling,
    pub(crate) ignored: Vec<SearchError>,
}

impl Unsupported {
    pub(crate) fn new(handling: Handling) -> Unsupported {
        Unsupported { handling, ignored: vec![] }
    }

    pub(crate) fn skip(&mut self, e: SearchError) -> Result<(), SearchError> {
        match self.handling {
            Handling::Strict => Err(e),
            Handling::Lenient => {
                self.ignored.push(e);
                Ok(())
            }
        }
    }
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
pub(crate) fn tokens(param: &str, raw: &str) -> Result<Vec<Token>, SearchError> {
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
pub(crate) fn patient(param: &str, raw: &str) -> Result<Ins, SearchError> {
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
pub(crate) fn name_of<'a>(key: &'a str, allowed: &[&str]) -> Result<&'a str, SearchError> {
    match key.split_once(':') {
        None => Ok(key),
        Some((name, m)) if allowed.contains(&m) => Ok(name),
        Some(_) => Err(refuse(key, "modifiers are not supported on this parameter")),
    }
}

/// Reads the common result parameters; returns `true` if `key` was one.
pub(crate) fn common(key: &str, value: &str, page: &mut Page, sort: &mut Option<bool>) -> Result<bool, SearchError> {
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
    /// `creation` (MHD 4.x): when the author wrote the document (`content.attachment.creation`).
    pub creation: Vec<DateParam>,
    pub period: Vec<DateParam>,
    pub author_given: Vec<Vec<String>>,
    pub author_family: Vec<Vec<String>>,
    pub related: Vec<Vec<DocumentId>>,
    /// `full-text` (IHE MHD Full-Text Search option): the words the documents' text must hold;
    /// the hits then come by relevance. Checked (length, words) by the search itself.
    pub full_text: Option<String>,
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
    /// Strict parsing: every parameter must be one Carnet applies.
    pub fn parse(params: &[(String, String)]) -> Result<DocumentQuery, SearchError> {
        DocumentQuery::parse_with(params, Handling::Strict).map(|(q, _)| q)
    }

    /// Parsing under `handling`; with the parameters ignored (none when strict).
    pub fn parse_with(params: &[(String, String)], handling: Handling) -> Result<(DocumentQuery, Vec<SearchError>), SearchError> {
        let mut unsupported = Unsupported::new(handling);
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
            creation: vec![],
            period: vec![],
            author_given: vec![],
            author_family: vec![],
            related: vec![],
            full_text: None,
            page: Page::default(),
            ascending: false,
        };
        let mut sort = None;
        for (key, value) in params {
            if common(key, value, &mut q.page, &mut sort)? {
                continue;
            }
            let name = match name_of(key, &["exact"]) {
                Ok(name) => name,
                Err(e) => {
                    unsupported.skip(e)?;
                    continue;
                }
            };
            let exact_ok = matches!(name, "author.given" | "author.family");
            if name != key && !exact_ok {
                unsupported.skip(refuse(key, "modifiers are not supported on this parameter"))?;
                continue;
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
                "creation" => q.creation.push(DateParam::parse(key, value)?),
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
                "full-text" => {
                    if q.full_text.is_some() {
                        return Err(refuse(key, "given twice: one full-text per search (its words are all searched for)"));
                    }
                    q.full_text = Some(value.clone());
                }
                other => unsupported.skip(refuse(other, "not a search parameter of DocumentReference that Carnet supports"))?,
            }
        }
        if let Some((_, ins)) = patient_seen {
            q.patient = ins;
        }
        q.ascending = sort.unwrap_or(false);
        Ok((q, unsupported.ignored))
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
            // A document declared without a creation time matches no `creation` criterion.
            && self.creation.iter().all(|d| m.xds.authored_at.is_some_and(|t| d.matches_instant(t)))
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
    /// Strict parsing: every parameter must be one Carnet applies.
    pub fn parse(params: &[(String, String)]) -> Result<PatientSearch, SearchError> {
        PatientSearch::parse_with(params, Handling::Strict).map(|(q, _)| q)
    }

    /// Parsing under `handling`; with the parameters ignored (none when strict).
    pub fn parse_with(params: &[(String, String)], handling: Handling) -> Result<(PatientSearch, Vec<SearchError>), SearchError> {
        let mut unsupported = Unsupported::new(handling);
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
            let name = match name_of(key, &["exact"]) {
                Ok(name) => name,
                Err(e) => {
                    unsupported.skip(e)?;
                    continue;
                }
            };
            if name != key && !matches!(name, "family" | "given") {
                unsupported.skip(refuse(key, "modifiers are not supported on this parameter"))?;
                continue;
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
                other => unsupported.skip(refuse(other, "not a search parameter of Patient that Carnet supports (ITI-78)"))?,
            }
        }
        Ok((q, unsupported.ignored))
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
        PatientScopedQuery::parse_with(resource, params, extra, dated, Handling::Strict).map(|(q, _)| q)
    }

    /// Parsing under `handling`; with the parameters ignored (none when strict).
    pub fn parse_with(
        resource: &str,
        params: &[(String, String)],
        extra: &[(&str, &[&str])],
        dated: bool,
        handling: Handling,
    ) -> Result<(PatientScopedQuery, Vec<SearchError>), SearchError> {
        let mut unsupported = Unsupported::new(handling);
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
            let name = match name_of(key, &[]) {
                Ok(name) => name,
                Err(e) => {
                    unsupported.skip(e)?;
                    continue;
                }
            };
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
                    None => unsupported.skip(refuse(other, format!("not a search parameter of {resource} that Carnet supports")))?,
                },
            }
        }
        if let Some(ins) = patient_seen {
            q.patient = ins;
        }
        Ok((q, unsupported.ignored))
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

    fn document(authored_at: Option<OffsetDateTime>) -> DocumentMeta {
        use carnet_domain::codes::Code;
        use carnet_domain::document::XdsMetadata;
        let code = |c: &str| Code { system: "urn:test".into(), code: c.into() };
        DocumentMeta {
            id: DocumentId::from_bytes([7; 16]),
            ins: Ins::from_body("2690549588157").expect("valid"),
            xds: XdsMetadata {
                unique_id: "1.2.3".into(),
                class_code: code("10"),
                type_code: code("11488-4"),
                format_code: code("urn:ihe:iti:xds:2017:mimeTypeSufficient"),
                practice_setting: None,
                facility_type: None,
                service_start: None,
                service_end: None,
                mime_type: "application/pdf".into(),
                language: "fr-FR".into(),
                authored_at,
            },
            author: "rpps:10000000019".into(),
            author_name: None,
            deposited_by: "rpps:10000000019".into(),
            submitted_at: datetime!(2026-05-10 12:00 UTC),
            size: 1,
            sha256: [0; 32],
            labels: vec![],
            status: DocumentStatus::Current,
            archived: false,
            replaces: None,
        }
    }

    fn document_query(extra: &[(&str, &str)]) -> Result<DocumentQuery, SearchError> {
        let mut q = pairs(&[("patient", "269054958815780")]);
        q.extend(pairs(extra));
        DocumentQuery::parse(&q)
    }

    #[test]
    fn creation_matches_when_the_author_wrote_the_document_not_when_it_was_deposited() {
        let written = document(Some(datetime!(2026-03-02 10:30 UTC)));
        let matches = |extra: &[(&str, &str)]| document_query(extra).expect("valid").matches(&written);
        assert!(matches(&[("creation", "2026-03-02")]));
        assert!(matches(&[("creation", "ge2026-03"), ("creation", "lt2026-04")]), "a range: two prefixed values");
        assert!(matches(&[("creation", "ne2026-03-03")]));
        assert!(matches(&[("creation", "sa2026-03-01"), ("creation", "eb2026-03-03")]));
        assert!(matches(&[("creation", "le2026-03-02T10:30:00Z")]));
        // Deposited in May: `date` is the deposit, `creation` the writing.
        assert!(!matches(&[("creation", "2026-05-10")]));
        assert!(matches(&[("date", "2026-05-10")]));
        assert!(!matches(&[("creation", "gt2026-03-02")]));
        assert!(!matches(&[("creation", "ge2026-03"), ("creation", "lt2026-03-02")]), "every value must match");
        // A document declared without a creation time matches no creation criterion, not even `ne`.
        let undated = document(None);
        for c in ["2026-03-02", "ne2026-03-02", "lt2030", "ge1900"] {
            assert!(!document_query(&[("creation", c)]).expect("valid").matches(&undated), "{c}");
        }
    }

    #[test]
    fn a_malformed_creation_is_refused_naming_the_parameter_even_when_lenient() {
        for bad in ["tomorrow", "2026-13", "xx2026", "ap2026-03", "2026-03-02T25:00:00Z", ""] {
            let mut q = pairs(&[("patient", "269054958815780")]);
            q.push(("creation".into(), bad.into()));
            for handling in [Handling::Strict, Handling::Lenient] {
                let err = DocumentQuery::parse_with(&q, handling).expect_err(bad);
                assert_eq!(err.param, "creation", "{bad}: {err}");
            }
        }
    }

    #[test]
    fn the_prefer_header_chooses_lenient_only_when_it_says_so() {
        let lenient = [
            "handling=lenient",
            "HANDLING=Lenient",
            "handling = lenient",
            "handling=\"lenient\"",
            "return=minimal, handling=lenient",
            "handling=lenient; foo=bar",
            "respond-async, wait=10, handling=lenient",
            "handling=lenient, handling=strict",
            "handling=lenient;",
        ];
        for h in lenient {
            assert_eq!(Handling::from_prefer([h]), Handling::Lenient, "{h}");
        }
        let strict = [
            "",
            "handling=strict",
            "handling=strict, handling=lenient",
            "handling",
            "handling=",
            "handling=lenientx",
            "handling=\"lenient",
            "x-handling=lenient",
            "foo=\"a,handling=lenient\"",
            "return=representation",
        ];
        for h in strict {
            assert_eq!(Handling::from_prefer([h]), Handling::Strict, "{h}");
        }
        assert_eq!(Handling::from_prefer(["return=minimal", "handling=lenient"]), Handling::Lenient, "several headers");
        assert_eq!(Handling::from_prefer([]), Handling::Strict, "no header");
    }

    #[test]
    fn lenient_handling_ignores_unknown_parameters_and_modifiers_and_names_each() {
        let base = pairs(&[("patient", "269054958815780"), ("type", "11488-4")]);
        let mut q = base.clone();
        q.extend(pairs(&[("_totalMethod", "count"), ("type:text", "x"), ("foo", "1"), ("_elements", "id")]));
        // Strict: the first unknown parameter is refused, as before.
        assert_eq!(DocumentQuery::parse(&q).expect_err("strict").param, "_totalMethod");
        let (lenient, ignored) = DocumentQuery::parse_with(&q, Handling::Lenient).expect("lenient");
        assert_eq!(lenient, DocumentQuery::parse(&base).expect("valid"), "the known parameters still apply");
        let names: Vec<&str> = ignored.iter().map(|e| e.param.as_str()).collect();
        assert_eq!(names, ["_totalMethod", "type:text", "foo", "_elements"]);
        // Nothing ignored when nothing is unknown.
        assert!(DocumentQuery::parse_with(&base, Handling::Lenient).expect("valid").1.is_empty());

        let (p, ignored) = PatientSearch::parse_with(
            &pairs(&[("family", "Martin"), ("_totalMethod", "count"), ("name:contains", "x")]),
            Handling::Lenient,
        )
        .expect("lenient");
        assert_eq!(p.family.as_deref(), Some("Martin"));
        assert_eq!(ignored.iter().map(|e| e.param.as_str()).collect::<Vec<_>>(), ["_totalMethod", "name:contains"]);
        assert!(PatientSearch::parse(&pairs(&[("family", "Martin"), ("_totalMethod", "count")])).is_err());

        let scoped = pairs(&[("patient", "269054958815780"), ("_totalMethod", "count"), ("date:missing", "true")]);
        let (l, ignored) = PatientScopedQuery::parse_with("List", &scoped, &[], true, Handling::Lenient).expect("lenient");
        assert_eq!(l.patient, Ins::from_body("2690549588157").expect("valid"));
        assert_eq!(ignored.len(), 2);
        assert!(PatientScopedQuery::parse("List", &scoped, &[], true).is_err());
        // Still required, and still one patient, when lenient.
        assert_eq!(DocumentQuery::parse_with(&pairs(&[("foo", "1")]), Handling::Lenient).expect_err("no patient").param, "patient");
    }

    proptest::proptest! {
        /// Lenient handling only ever drops what strict handling refuses as unsupported: adding
        /// unknown parameters to a valid search changes nothing but the list of ignored ones.
        #[test]
        fn lenient_handling_applies_exactly_the_known_parameters(
            known in proptest::sample::subsequence(
                vec![("type", "11488-4"), ("status", "current"), ("date", "ge2026"), ("creation", "lt2026-03"), ("_count", "0"), ("author.family:exact", "Martin")],
                0..=6,
            ),
            unknown in proptest::collection::vec(("_?[a-z]{1,8}(:[a-z]{1,6})?", "[a-z0-9]{0,6}"), 0..4),
        ) {
            let mut base = pairs(&[("patient", "269054958815780")]);
            base.extend(pairs(&known));
            let strict = DocumentQuery::parse(&base).expect("known parameters");
            let unknown: Vec<(String, String)> = unknown
                .into_iter()
                .filter(|(k, _)| {
                    let mut q = pairs(&[("patient", "269054958815780")]);
                    q.push((k.clone(), "x".into()));
                    DocumentQuery::parse(&q).is_err_and(|e| e.param == *k || e.param == k.split(':').next().unwrap_or_default())
                        && DocumentQuery::parse_with(&q, Handling::Lenient).is_ok()
                })
                .collect();
            let mut all = base.clone();
            all.extend(unknown.iter().cloned());
            let (lenient, ignored) = DocumentQuery::parse_with(&all, Handling::Lenient).expect("lenient");
            proptest::prop_assert_eq!(lenient, strict);
            proptest::prop_assert_eq!(ignored.len(), unknown.len());
        }
    }
}
