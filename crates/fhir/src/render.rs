//! Domain → FHIR: pure functions from Carnet's values to the resources it serves.
//!
//! Nothing here decides who may see what: callers pass only what the policy let through (a
//! document's `title` is clinical content, so it is an explicit argument, `None` to leave it
//! out). Nothing here fails either: every domain value has a FHIR form.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use carnet_domain::codes::{Code, CodeLists};
use carnet_domain::document::{DocumentMeta, PersonName};
use carnet_domain::{
    DocumentId, DocumentStatus, IdentityStatus, Ins, InsKind, Record, RecordStatus, ReferenceTraits, Rpps, SecurityLabel, Sex,
};
use time::OffsetDateTime;

use crate::datetime;
use crate::mhd::SubmissionSetMeta;
use crate::model::*;
use crate::search::SearchError;
use crate::systems;

/// What every rendering of a document needs besides the document.
#[derive(Debug, Clone, Copy)]
pub struct RenderContext<'a> {
    /// The FHIR base, e.g. `https://carnet.example.org/fhir` (no trailing slash needed).
    pub base_url: &'a str,
    /// The code lists in force, for displays.
    pub codes: &'a CodeLists,
}

impl RenderContext<'_> {
    fn base(&self) -> &str {
        self.base_url.trim_end_matches('/')
    }
}

/// The FR Core identifier type of an INS (only for a qualified identity: see [`patient`]).
pub fn ins_type_code(kind: InsKind) -> &'static str {
    match kind {
        InsKind::Nir => "INS-NIR",
        InsKind::Nia => "INS-NIA",
        InsKind::TestNir => "INS-NIR-TEST",
    }
}

fn identity_status_coding(status: IdentityStatus) -> Coding {
    let (code, display) = match status {
        IdentityStatus::Provisoire => ("PROV", "Identité provisoire"),
        IdentityStatus::Recuperee => ("RECUP", "Identité récupérée"),
        IdentityStatus::Validee => ("VALI", "Identité validée"),
        IdentityStatus::Qualifiee => ("QUAL", "Identité qualifiée"),
    };
    Coding::new(systems::FR_IDENTITY_STATUS, code, Some(display))
}

/// The INS as a FHIR identifier: `system` from the register (`urn:oid:1.2.250.1.213.1.4.8`
/// NIR, `…4.9` NIA, `…4.10` test NIR).
pub fn ins_identifier(ins: &Ins, kind: InsKind) -> Identifier {
    Identifier::new(&kind.system(), ins.as_str())
}

/// A reference to a record's patient: literal (`Patient/{INS}`, Carnet's Patient id is the INS)
/// and logical (the INS identifier), so it resolves on Carnet and is understood elsewhere.
pub fn patient_reference(ins: &Ins, kind: InsKind) -> Reference {
    Reference {
        reference: Some(format!("Patient/{}", ins.as_str())),
        type_: Some("Patient".into()),
        identifier: Some(ins_identifier(ins, kind)),
        display: None,
    }
}

/// A record's patient.
///
/// The identity status is FR Core's `fr-core-identity-reliability` extension with its
/// `identityStatus` sub-extension coded in `fr-core-cs-identity-status` (PROV, RECUP, VALI,
/// QUAL: the four RNIV statuses, FR Core 2.2.0). FR Core allows the INS matricule to be
/// conveyed as such (its `INS-NIR`/`INS-NIA`/`INS-NIR-TEST` typed slices) only for a qualified
/// identity: so the identifier always carries the INS (it is Carnet's record key, and the
/// caller searched by it), but is typed and `official` only when the identity is qualifiée.
pub fn patient(record: &Record) -> Patient {
    patient_view(&record.ins, record.ins_kind, Some(record.identity_status), record.traits.as_ref(), record.status == RecordStatus::Active)
}

/// A patient from what the caller may see of a record: roles that see existence and status
/// only (rule 12) have no identity status and no traits, and get the INS and `active` alone.
pub fn patient_view(
    ins: &Ins,
    ins_kind: InsKind,
    identity_status: Option<IdentityStatus>,
    traits: Option<&ReferenceTraits>,
    active: bool,
) -> Patient {
    let mut identifier = ins_identifier(ins, ins_kind);
    if identity_status == Some(IdentityStatus::Qualifiee) {
        identifier.use_ = Some("official".into());
        identifier.type_ = Some(CodeableConcept::of(Coding::new(systems::FR_IDENTIFIER_TYPE, ins_type_code(ins_kind), None)));
    }
    let mut extension = Vec::new();
    if let Some(status) = identity_status {
        let mut reliability = Extension::new(systems::FR_IDENTITY_RELIABILITY);
        reliability.extension.push(Extension { value_coding: Some(identity_status_coding(status)), ..Extension::new("identityStatus") });
        extension.push(reliability);
    }

    let mut patient =
        Patient { id: Some(ins.as_str().to_owned()), identifier: vec![identifier], active: Some(active), ..Patient::default() };
    if let Some(traits) = traits {
        let given: Vec<String> = traits.birth_given_names.split_whitespace().map(str::to_owned).collect();
        patient.name = vec![HumanName {
            extension: vec![Extension {
                value_string: Some(traits.birth_given_names.clone()),
                ..Extension::new(systems::FR_BIRTH_LIST_GIVEN_NAME)
            }],
            use_: Some("official".into()),
            family: Some(traits.birth_name.clone()),
            given,
            ..HumanName::default()
        }];
        patient.gender = Some(gender(traits.sex).into());
        patient.birth_date = Some(datetime::date(traits.birth_date));
        // A commune code (TRE_R13). Codes 99xxx name a foreign country, which TRE_R13 does not
        // hold: those are left out rather than coded in the wrong system.
        if let Some(place) = traits.birthplace.as_deref().filter(|p| !p.starts_with("99")) {
            let insee = Extension {
                value_coding: Some(Coding::new(systems::INSEE_COMMUNE, place, None)),
                ..Extension::new(systems::FR_ADDRESS_INSEE_CODE)
            };
            extension.push(Extension {
                value_address: Some(Address { extension: vec![insee], ..Address::default() }),
                ..Extension::new(systems::PATIENT_BIRTH_PLACE)
            });
        }
    }
    patient.extension = extension;
    patient
}

/// FHIR administrative gender: the INS sex "I" (indéterminé) is a known value that is neither
/// male nor female, which is `other`, not `unknown`.
fn gender(sex: Sex) -> &'static str {
    match sex {
        Sex::Male => "male",
        Sex::Female => "female",
        Sex::Indeterminate => "other",
    }
}

/// TRE_A07 displays.
pub fn security_label_display(label: SecurityLabel) -> &'static str {
    match label {
        SecurityLabel::MasquePs => "Document masqué aux professionnels de santé",
        SecurityLabel::InvisiblePatient => "Document non visible par le patient",
        SecurityLabel::InvisibleRepresentantsLegaux => "Document non visible par les représentants légaux du patient",
    }
}

pub fn security_label(label: SecurityLabel) -> CodeableConcept {
    CodeableConcept::of(Coding::new(&systems::security_label_system(), label.code(), Some(security_label_display(label))))
}

/// XDS `uniqueId` → `masterIdentifier` (IHE MHD): an OID becomes `urn:oid:…` and a `urn:…`
/// value stays as is, both in the `urn:ietf:rfc:3986` system; the DMP's `root^extension` form
/// becomes `system = urn:oid:root, value = extension`. [`crate::mhd`] reads these back.
pub fn master_identifier(unique_id: &str) -> Identifier {
    if let Some((root, extension)) = unique_id.split_once('^')
        && is_oid(root)
    {
        return Identifier::new(&format!("urn:oid:{root}"), extension);
    }
    if is_oid(unique_id) {
        Identifier::new(systems::URI, &format!("urn:oid:{unique_id}"))
    } else if unique_id.starts_with("urn:") {
        Identifier::new(systems::URI, unique_id)
    } else {
        Identifier { value: Some(unique_id.to_owned()), ..Identifier::default() }
    }
}

/// A dotted decimal OID: `1.2.250…` (no empty arc, digits only, at least two arcs).
pub fn is_oid(s: &str) -> bool {
    // Without collecting the arcs: every document of a search page asks this of its unique id.
    s.contains('.') && s.split('.').all(|a| !a.is_empty() && a.bytes().all(|b| b.is_ascii_digit()))
}

fn coded(code: &Code, display: Option<&str>) -> CodeableConcept {
    CodeableConcept::of(Coding::new(&code.system, &code.code, display))
}

/// The author as a contained `Practitioner` (id `author`): IdNat_PS identifier (`8` + RPPS in
/// `urn:oid:1.2.250.1.71.4.2.1`, typed IDNPS as in FR Core) and the declared name.
pub fn contained_author(rpps: Option<&Rpps>, name: Option<&PersonName>) -> Option<Practitioner> {
    if rpps.is_none() && name.is_none() {
        return None;
    }
    let identifier = rpps
        .map(|r| Identifier {
            type_: Some(CodeableConcept::of(Coding::new(systems::FR_IDENTIFIER_TYPE, "IDNPS", None))),
            ..Identifier::new(systems::IDNAT_PS, &format!("8{}", r.as_str()))
        })
        .into_iter()
        .collect();
    let name = name
        .map(|n| HumanName { family: n.family.clone(), given: n.given.iter().cloned().collect(), ..HumanName::default() })
        .into_iter()
        .collect();
    Some(Practitioner { id: Some(AUTHOR_ID.into()), identifier, name, ..Practitioner::default() })
}

pub(crate) const AUTHOR_ID: &str = "author";

/// `DocumentMeta::author` holds `Actor::reference()`: `rpps:<RPPS>` for a professional.
pub(crate) fn author_rpps(author: &str) -> Option<Rpps> {
    author.strip_prefix("rpps:").and_then(|r| Rpps::parse(r).ok())
}

/// A document's metadata as an IHE MHD `DocumentReference`.
///
/// `content[0].attachment.url` is `{base}/Binary/{id}` (ITI-68). `attachment.hash` is left out:
/// R4 defines it as SHA-1, which Carnet does not keep; the SHA-256 it does keep travels in the
/// `attachment-sha256` extension (see `systems::sha256_extension`). `ins_kind` is the
/// record's, since `DocumentMeta` holds the INS alone.
pub fn document_reference(meta: &DocumentMeta, title: Option<&str>, ins_kind: InsKind, ctx: &RenderContext<'_>) -> DocumentReference {
    let id = meta.id.to_string();
    let author = contained_author(author_rpps(&meta.author).as_ref(), meta.author_name.as_ref());
    let mut attachment = Attachment {
        content_type: Some(meta.xds.mime_type.clone()),
        language: Some(meta.xds.language.clone()),
        url: Some(format!("{}/Binary/{id}", ctx.base())),
        title: title.map(str::to_owned),
        creation: meta.xds.authored_at.map(datetime::instant),
        extension: vec![Extension {
            value_base64_binary: Some(BASE64.encode(meta.sha256)),
            ..Extension::new(&systems::sha256_extension())
        }],
        ..Attachment::default()
    };
    match u32::try_from(meta.size).ok().filter(|s| i32::try_from(*s).is_ok()) {
        Some(size) => attachment.size = Some(size),
        None => attachment
            .extension
            .push(Extension { value_decimal: Some(meta.size.into()), ..Extension::new(&systems::large_size_extension()) }),
    }
    let period = (meta.xds.service_start.is_some() || meta.xds.service_end.is_some())
        .then(|| Period { start: meta.xds.service_start.map(datetime::instant), end: meta.xds.service_end.map(datetime::instant) });
    let context = DocumentReferenceContext {
        period,
        facility_type: meta.xds.facility_type.as_ref().map(|c| coded(c, None)),
        practice_setting: meta.xds.practice_setting.as_ref().map(|c| coded(c, None)),
    };
    let has_context = context != DocumentReferenceContext::default();
    DocumentReference {
        id: Some(id),
        contained: author.map(Resource::from).into_iter().collect(),
        master_identifier: Some(master_identifier(&meta.xds.unique_id)),
        status: meta.status.as_str().to_owned(),
        doc_status: Some(if meta.status == DocumentStatus::EnteredInError { "entered-in-error" } else { "final" }.into()),
        type_: Some(coded(&meta.xds.type_code, ctx.codes.find_type(&meta.xds.type_code).map(|t| t.display.as_str()))),
        category: vec![coded(&meta.xds.class_code, ctx.codes.find_class(&meta.xds.class_code).map(|c| c.display.as_str()))],
        subject: Some(patient_reference(&meta.ins, ins_kind)),
        date: Some(datetime::instant(meta.submitted_at)),
        author: if meta.author_name.is_some() || author_rpps(&meta.author).is_some() {
            vec![Reference::to(format!("#{AUTHOR_ID}"))]
        } else {
            vec![]
        },
        relates_to: meta
            .replaces
            .iter()
            .map(|old| DocumentReferenceRelatesTo { code: "replaces".into(), target: Reference::to(format!("DocumentReference/{old}")) })
            .collect(),
        security_label: meta.labels.iter().copied().map(security_label).collect(),
        content: vec![DocumentReferenceContent {
            attachment,
            format: Some(Coding::new(
                &meta.xds.format_code.system,
                &meta.xds.format_code.code,
                ctx.codes.find_format(&meta.xds.format_code).map(|f| f.display.as_str()),
            )),
        }],
        context: has_context.then_some(context),
        ..DocumentReference::default()
    }
}

/// What a SubmissionSet `List` shows: the set as deposited, and the documents it brought.
#[derive(Debug, Clone, Copy)]
pub struct SubmissionSetView<'a> {
    /// The List's logical id.
    pub id: &'a str,
    pub meta: &'a SubmissionSetMeta,
    pub ins: &'a Ins,
    pub ins_kind: InsKind,
    pub submitted_at: OffsetDateTime,
    pub documents: &'a [DocumentId],
}

/// An IHE MHD SubmissionSet (ITI-66): `code` = `submissionset`, `sourceId` extension,
/// `uniqueId` as the `usual` identifier, the author contained as `source`.
pub fn list_submission_set(set: &SubmissionSetView<'_>) -> List {
    let author = set.meta.author.as_ref().and_then(|a| contained_author(a.rpps.as_ref(), a.name.as_ref()));
    let mut unique_id = master_identifier(&set.meta.unique_id);
    unique_id.use_ = Some("usual".into());
    List {
        id: Some(set.id.to_owned()),
        source: author.as_ref().map(|_| Reference::to(format!("#{AUTHOR_ID}"))),
        contained: author.map(Resource::from).into_iter().collect(),
        extension: vec![Extension {
            value_identifier: Some(Identifier { value: Some(uri_form(&set.meta.source_id)), ..Identifier::default() }),
            ..Extension::new(systems::MHD_SOURCE_ID)
        }],
        identifier: vec![unique_id],
        status: "current".into(),
        mode: "working".into(),
        title: set.meta.title.clone(),
        code: Some(CodeableConcept::of(Coding::new(systems::MHD_LIST_TYPES, "submissionset", None))),
        subject: Some(patient_reference(set.ins, set.ins_kind)),
        date: Some(datetime::instant(set.submitted_at)),
        entry: set.documents.iter().map(|d| ListEntry { item: Reference::to(format!("DocumentReference/{d}")) }).collect(),
        ..List::default()
    }
}

/// An OID as `urn:oid:…`, anything else as is.
fn uri_form(id: &str) -> String {
    if is_oid(id) { format!("urn:oid:{id}") } else { id.to_owned() }
}

/// `Bundle.entry.search.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchMode {
    Match,
    Include,
    Outcome,
}

impl SearchMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SearchMode::Match => "match",
            SearchMode::Include => "include",
            SearchMode::Outcome => "outcome",
        }
    }
}

/// One hit of a search.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchEntry {
    /// The resource's absolute URL, e.g. `{base}/DocumentReference/{id}`.
    pub full_url: String,
    pub resource: Resource,
    pub mode: SearchMode,
}

/// A searchset. `total` counts the matches the caller may see (rule 14: what the caller may
/// not see is absent from the total too); `links` are `self`/`next`/`previous`.
pub fn bundle_searchset(entries: Vec<SearchEntry>, total: Option<u64>, links: Vec<BundleLink>) -> Bundle {
    Bundle {
        type_: "searchset".into(),
        total,
        link: links,
        entry: entries
            .into_iter()
            .map(|e| BundleEntry {
                full_url: Some(e.full_url),
                resource: Some(e.resource),
                search: Some(BundleEntrySearch { mode: Some(e.mode.as_str().into()) }),
                ..BundleEntry::default()
            })
            .collect(),
        ..Bundle::default()
    }
}

/// What a lenient search (`Prefer: handling=lenient`) ignored, as FHIR R4's search page asks:
/// an OperationOutcome with one warning per parameter, naming it; none if nothing was ignored.
pub fn ignored_parameters(ignored: &[SearchError]) -> Option<OperationOutcome> {
    (!ignored.is_empty()).then(|| OperationOutcome {
        issue: ignored
            .iter()
            .map(|e| OperationOutcomeIssue {
                severity: IssueSeverity::Warning.as_str().into(),
                code: IssueType::NotSupported.as_str().into(),
                diagnostics: Some(format!("{e}; ignored (Prefer: handling=lenient)")),
                expression: vec![e.param.clone()],
                ..OperationOutcomeIssue::default()
            })
            .collect(),
        ..OperationOutcome::default()
    })
}

/// A searchset with its search's outcome, if any, as the last entry (search mode `outcome`).
pub fn with_outcome(mut bundle: Bundle, outcome: Option<OperationOutcome>) -> Bundle {
    if let Some(outcome) = outcome {
        bundle.entry.push(BundleEntry {
            resource: Some(outcome.into()),
            search: Some(BundleEntrySearch { mode: Some(SearchMode::Outcome.as_str().into()) }),
            ..BundleEntry::default()
        });
    }
    bundle
}

/// The answer to a transaction: one response per request entry, in the same order.
pub fn transaction_response(responses: Vec<BundleEntryResponse>) -> Bundle {
    Bundle {
        type_: "transaction-response".into(),
        entry: responses.into_iter().map(|r| BundleEntry { response: Some(r), ..BundleEntry::default() }).collect(),
        ..Bundle::default()
    }
}

/// `201 Created` at `location` (e.g. `DocumentReference/{id}/_history/1`).
pub fn created(location: String, last_modified: OffsetDateTime) -> BundleEntryResponse {
    BundleEntryResponse {
        status: "201 Created".into(),
        location: Some(location),
        last_modified: Some(datetime::instant(last_modified)),
        ..BundleEntryResponse::default()
    }
}

/// `OperationOutcome.issue.severity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueSeverity {
    Fatal,
    Error,
    Warning,
    Information,
}

impl IssueSeverity {
    pub fn as_str(self) -> &'static str {
        match self {
            IssueSeverity::Fatal => "fatal",
            IssueSeverity::Error => "error",
            IssueSeverity::Warning => "warning",
            IssueSeverity::Information => "information",
        }
    }
}

/// `OperationOutcome.issue.code` (the R4 `issue-type` codes Carnet answers with).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueType {
    Invalid,
    Structure,
    Required,
    Value,
    Invariant,
    Security,
    Login,
    Forbidden,
    Processing,
    NotSupported,
    Duplicate,
    NotFound,
    TooLong,
    CodeInvalid,
    Extension,
    TooCostly,
    BusinessRule,
    Conflict,
    Exception,
    Timeout,
    Throttled,
}

impl IssueType {
    pub fn as_str(self) -> &'static str {
        match self {
            IssueType::Invalid => "invalid",
            IssueType::Structure => "structure",
            IssueType::Required => "required",
            IssueType::Value => "value",
            IssueType::Invariant => "invariant",
            IssueType::Security => "security",
            IssueType::Login => "login",
            IssueType::Forbidden => "forbidden",
            IssueType::Processing => "processing",
            IssueType::NotSupported => "not-supported",
            IssueType::Duplicate => "duplicate",
            IssueType::NotFound => "not-found",
            IssueType::TooLong => "too-long",
            IssueType::CodeInvalid => "code-invalid",
            IssueType::Extension => "extension",
            IssueType::TooCostly => "too-costly",
            IssueType::BusinessRule => "business-rule",
            IssueType::Conflict => "conflict",
            IssueType::Exception => "exception",
            IssueType::Timeout => "timeout",
            IssueType::Throttled => "throttled",
        }
    }
}

/// An `OperationOutcome` with one issue. `expression` holds FHIRPath locations of the element
/// at fault, e.g. `Bundle.entry[2].resource.content[0].attachment.contentType`.
pub fn operation_outcome(severity: IssueSeverity, code: IssueType, diagnostics: &str, expression: &[&str]) -> OperationOutcome {
    OperationOutcome {
        issue: vec![OperationOutcomeIssue {
            severity: severity.as_str().into(),
            code: code.as_str().into(),
            diagnostics: Some(diagnostics.to_owned()),
            expression: expression.iter().map(|e| (*e).to_owned()).collect(),
            ..OperationOutcomeIssue::default()
        }],
        ..OperationOutcome::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_ids_map_to_master_identifiers_and_back() {
        let cases = [
            ("1.2.250.1.999.1", Some(systems::URI), "urn:oid:1.2.250.1.999.1"),
            ("urn:uuid:0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", Some(systems::URI), "urn:uuid:0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"),
            ("1.2.250.1.999^DOC-42", Some("urn:oid:1.2.250.1.999"), "DOC-42"),
            ("local-id", None, "local-id"),
        ];
        for (unique_id, system, value) in cases {
            let id = master_identifier(unique_id);
            assert_eq!((id.system.as_deref(), id.value.as_deref()), (system, Some(value)), "{unique_id}");
        }
        assert!(!is_oid("1.") && !is_oid("1") && !is_oid("1.a") && is_oid("1.2"));
    }

    proptest::proptest! {
        /// An OID: at least two arcs, each one or more digits.
        #[test]
        fn oids_are_two_or_more_dotted_digit_arcs(s in "[0-9.a]{0,12}") {
            let arcs: Vec<&str> = s.split('.').collect();
            let expected = arcs.len() >= 2 && arcs.iter().all(|a| !a.is_empty() && a.bytes().all(|b| b.is_ascii_digit()));
            proptest::prop_assert_eq!(is_oid(&s), expected);
        }
    }
}
