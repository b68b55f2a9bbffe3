//! IHE MHD 4.x ITI-65 "Provide Document Bundle" → Carnet's document submissions.
//!
//! [`parse_provide_bundle`] takes the request body (already bounded by the edge's body limit)
//! and either returns every document with its decoded bytes, or the first refusal as an
//! [`MhdError`] naming the FHIRPath of the failing element. It decides nothing about rights
//! and stores nothing: the service checks that the caller may feed this record, that the
//! record exists and is active, that the replaced document exists, and stores.
//!
//! What is checked here, beyond the shape: the bundle is a `transaction` of `POST`s carrying
//! exactly one SubmissionSet `List`, `DocumentReference`s and `Binary`s; each document's
//! patient is an INS identifier, the same for all documents and the List; every document is
//! listed in the SubmissionSet and every listed item is a document of the bundle; each
//! `attachment.url` resolves to a `Binary` entry of this bundle (or the data is inline); the
//! declared size, SHA-1 (`attachment.hash`) and SHA-256 (Carnet extension) match the bytes;
//! labels follow [`crate::labels`]' rule (the label updates' too); and the codes pass
//! `carnet_domain::document::check_metadata` against the given code lists (type known, class
//! matching the type, format accepted, MIME type and language plausible, uniqueId printable) —
//! the same function the service applies, run here so the error can carry the FHIR path.
//!
//! Unknown elements are ignored (profiles add many: `meta`, `text`, `identifier`,
//! `context.sourcePatientInfo`…), except those that would change the meaning of what Carnet
//! keeps: `modifierExtension` and `implicitRules` anywhere, security labels Carnet cannot
//! enforce, `relatesTo` other than `replaces`, several `content`s or authors, folders.

pub(crate) mod reader;

use std::collections::{HashMap, HashSet};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use carnet_domain::codes::{Code, CodeLists, FORMAT_SYSTEM_IHE};
use carnet_domain::document::{DeclaredAuthor, DocumentSubmission, MetadataError, PersonName, XdsMetadata, check_metadata};
use carnet_domain::{DocumentId, DocumentStatus, Ins, InsKind, Rpps};
use serde_json::Value;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::datetime::parse_date_time;
use crate::model::OperationOutcome;
use crate::render::{IssueSeverity, IssueType, is_oid, operation_outcome};
use crate::systems;
use reader::{Node, refuse_modifiers, shown};

/// Why a bundle is refused: the FHIRPath of the failing element, an `issue-type`, and a
/// message for the depositing software's developer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct MhdError {
    /// e.g. `Bundle.entry[2].resource.content[0].attachment.contentType`.
    pub path: String,
    pub code: IssueType,
    pub message: String,
}

impl MhdError {
    /// The refusal as FHIR answers it (HTTP 400 or 422 is the edge's choice).
    pub fn operation_outcome(&self) -> OperationOutcome {
        operation_outcome(IssueSeverity::Error, self.code, &self.to_string(), &[&self.path])
    }
}

/// The SubmissionSet's own metadata (XDS `SubmissionSet`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmissionSetMeta {
    /// XDS uniqueId, in Carnet's form (bare OID, `urn:uuid:…`, or `root^extension`).
    pub unique_id: String,
    /// XDS sourceId: the depositing system's OID (bare), or its URI.
    pub source_id: String,
    pub author: Option<DeclaredAuthor>,
    /// Like a document title, clinical content.
    pub title: Option<String>,
}

/// One document of the bundle, ready for the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvidedDocument {
    /// The `DocumentReference` entry's `fullUrl` (the transaction-response answers for it).
    pub full_url: String,
    pub submission: DocumentSubmission,
    pub bytes: Vec<u8>,
    /// SHA-256 of `bytes`, computed here (and equal to the declared one, if any).
    pub sha256: [u8; 32],
}

/// What each request entry was, in the bundle's order: a transaction-response has one
/// response per request entry, in the same order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryRole {
    SubmissionSet,
    /// The `DocumentReference` of `documents[i]`.
    DocumentReference(usize),
    /// The `Binary` holding `documents[i]`'s bytes.
    Binary(usize),
}

/// A parsed ITI-65 bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvideBundle {
    pub submission_set: SubmissionSetMeta,
    /// The patient of every document.
    pub ins: Ins,
    pub ins_kind: InsKind,
    pub documents: Vec<ProvidedDocument>,
    pub entries: Vec<EntryRole>,
}

type Result<T> = std::result::Result<T, MhdError>;

/// A request body as JSON, or the refusal that names the Bundle (ITI-65 and Synthea files alike).
pub(crate) fn bundle_json(body: &[u8]) -> Result<Value> {
    serde_json::from_slice(body).map_err(|e| MhdError {
        path: "Bundle".into(),
        code: IssueType::Structure,
        message: format!("not FHIR JSON: {e}"),
    })
}

/// Parses and checks an ITI-65 Provide Document Bundle (JSON). Never panics.
pub fn parse_provide_bundle(body: &[u8], codes: &CodeLists) -> Result<ProvideBundle> {
    let value = bundle_json(body)?;
    let bundle = Node::root(&value, "Bundle");
    bundle.object()?;
    let resource_type = bundle.req("resourceType")?;
    if resource_type.str()? != "Bundle" {
        return Err(resource_type.error(IssueType::Invalid, format!("ITI-65 takes a Bundle, found {}", shown(resource_type.str()?))));
    }
    refuse_modifiers(&bundle)?;
    let type_ = bundle.req("type")?;
    if type_.str()? != "transaction" {
        return Err(type_.error(IssueType::Invalid, format!("ITI-65 takes a transaction Bundle, found {}", shown(type_.str()?))));
    }
    let entries = bundle.items("entry")?;
    if entries.is_empty() {
        return Err(MhdError {
            path: "Bundle.entry".into(),
            code: IssueType::Required,
            message: "a Provide Document Bundle has entries".into(),
        });
    }
    let entries = entries.iter().map(Entry::read).collect::<Result<Vec<_>>>()?;
    // fullUrl → entry index. Lookups stay linear in the bundle's size, however many entries.
    let mut by_url: HashMap<&str, usize> = HashMap::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        if let Some(j) = by_url.insert(e.full_url, i) {
            return Err(e.node.req("fullUrl")?.error(IssueType::Duplicate, format!("the same fullUrl as Bundle.entry[{j}]")));
        }
    }

    // The SubmissionSet.
    let mut set_index = None;
    for (i, e) in entries.iter().enumerate().filter(|(_, e)| e.kind == Kind::List) {
        if !is_submission_set(&e.resource)? {
            return Err(e
                .resource
                .error(IssueType::NotSupported, "only SubmissionSet Lists (code submissionset) are accepted; folders are not supported"));
        }
        if let Some(first) = set_index {
            return Err(e.resource.error(IssueType::Invalid, format!("a second SubmissionSet (the first is Bundle.entry[{first}])")));
        }
        set_index = Some(i);
    }
    let Some(set_index) = set_index else {
        return Err(MhdError {
            path: "Bundle.entry".into(),
            code: IssueType::Required,
            message: "no SubmissionSet: ITI-65 (MHD 4.x) needs a List with code submissionset listing the DocumentReferences".into(),
        });
    };
    let set = &entries[set_index];
    let SubmissionSetRead { meta: submission_set, listed, patient: set_patient } = read_submission_set(&set.resource)?;

    // Documents, in order; the Binaries they use.
    let mut documents = Vec::new();
    let mut doc_index_of_entry = vec![None; entries.len()];
    let mut binary_used_by: Vec<Option<usize>> = vec![None; entries.len()];
    let mut unique_ids: HashMap<String, usize> = HashMap::new();
    let mut patient: Option<(Ins, InsKind, String)> = set_patient.map(|(ins, kind)| (ins, kind, format!("{}.subject", set.resource.path)));
    for (i, e) in entries.iter().enumerate().filter(|(_, e)| e.kind == Kind::DocumentReference) {
        let doc = read_document_reference(e, &entries, &by_url, codes)?;
        match &patient {
            Some((ins, kind, at)) if (ins, kind) != (&doc.ins, &doc.ins_kind) => {
                return Err(e.resource.req("subject")?.error(
                    IssueType::Invariant,
                    format!("names another patient than {at}: one Provide Document Bundle feeds one record"),
                ));
            }
            Some(_) => {}
            None => patient = Some((doc.ins.clone(), doc.ins_kind, format!("{}.subject", e.resource.path))),
        }
        if let Some(b) = doc.binary_entry {
            if let Some(other) = binary_used_by[b] {
                return Err(MhdError {
                    path: doc.url_path.clone(),
                    code: IssueType::Invalid,
                    message: format!("this Binary already holds the document of Bundle.entry[{other}]"),
                });
            }
            binary_used_by[b] = Some(i);
        }
        if let Some(j) = unique_ids.insert(doc.provided.submission.xds.unique_id.clone(), i) {
            return Err(e.resource.req("masterIdentifier")?.error(IssueType::Duplicate, format!("the same uniqueId as Bundle.entry[{j}]")));
        }
        doc_index_of_entry[i] = Some(documents.len());
        documents.push((i, doc));
    }
    if documents.is_empty() {
        return Err(MhdError {
            path: "Bundle.entry".into(),
            code: IssueType::Required,
            message: "no DocumentReference: nothing to provide".into(),
        });
    }
    for (i, e) in entries.iter().enumerate().filter(|(_, e)| e.kind == Kind::Binary) {
        if binary_used_by[i].is_none() {
            return Err(e.resource.error(IssueType::Invalid, "this Binary is referenced by no DocumentReference.content.attachment.url"));
        }
    }

    // The SubmissionSet lists exactly the bundle's documents.
    for (item_path, reference) in &listed {
        let target = by_url.get(reference.as_str()).copied();
        match target.map(|t| (t, entries[t].kind)) {
            Some((_, Kind::DocumentReference)) => {}
            Some((t, _)) => {
                return Err(MhdError {
                    path: item_path.clone(),
                    code: IssueType::Invalid,
                    message: format!("refers to Bundle.entry[{t}], which is not a DocumentReference"),
                });
            }
            None => {
                return Err(MhdError {
                    path: item_path.clone(),
                    code: IssueType::NotFound,
                    message: format!("{} is the fullUrl of no entry of this Bundle", shown(reference)),
                });
            }
        }
    }
    let listed_urls: HashSet<&str> = listed.iter().map(|(_, r)| r.as_str()).collect();
    for (i, _) in &documents {
        let e = &entries[*i];
        if !listed_urls.contains(e.full_url) {
            return Err(e.node.req("fullUrl")?.error(
                IssueType::Invalid,
                format!("this DocumentReference is not listed in the SubmissionSet ({}.entry)", set.resource.path),
            ));
        }
    }

    let Some((ins, ins_kind, _)) = patient else {
        return Err(MhdError { path: "Bundle.entry".into(), code: IssueType::Required, message: "no patient".into() });
    };
    let roles = entries
        .iter()
        .enumerate()
        .map(|(i, e)| match e.kind {
            Kind::List => EntryRole::SubmissionSet,
            Kind::DocumentReference => EntryRole::DocumentReference(doc_index_of_entry[i].unwrap_or_default()),
            Kind::Binary => {
                let by = binary_used_by[i].and_then(|d| doc_index_of_entry[d]).unwrap_or_default();
                EntryRole::Binary(by)
            }
        })
        .collect();
    let documents = documents.into_iter().map(|(_, d)| d.provided).collect();
    Ok(ProvideBundle { submission_set, ins, ins_kind, documents, entries: roles })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    List,
    DocumentReference,
    Binary,
}

struct Entry<'a> {
    node: Node<'a>,
    full_url: &'a str,
    resource: Node<'a>,
    kind: Kind,
}

impl<'a> Entry<'a> {
    fn read(node: &Node<'a>) -> Result<Entry<'a>> {
        node.object()?;
        let full_url = node.req_text("fullUrl")?;
        let resource = node.req("resource")?;
        resource.object()?;
        let type_node = resource.req("resourceType")?;
        let type_name = type_node.str()?;
        let kind = match type_name {
            "List" => Kind::List,
            "DocumentReference" => Kind::DocumentReference,
            "Binary" => Kind::Binary,
            "Patient" => {
                return Err(type_node.error(
                    IssueType::NotSupported,
                    "Carnet does not create patients through ITI-65: the record must exist, and DocumentReference.subject names it by INS identifier",
                ));
            }
            "Practitioner" | "PractitionerRole" => {
                return Err(type_node.error(
                    IssueType::NotSupported,
                    "put the author in DocumentReference.contained (or give its RPPS in author.identifier): Carnet does not create practitioners",
                ));
            }
            other => {
                return Err(type_node
                    .error(IssueType::NotSupported, format!("ITI-65 carries List, DocumentReference and Binary, not {}", shown(other))));
            }
        };
        let request = node.req("request")?;
        request.object()?;
        let method = request.req("method")?;
        if method.str()? != "POST" {
            return Err(method.error(IssueType::NotSupported, format!("Carnet accepts POST entries only, found {}", shown(method.str()?))));
        }
        let url = request.req("url")?;
        if url.str()? != type_name {
            return Err(
                url.error(IssueType::Invalid, format!("a POST of a {type_name} goes to {type_name:?}, found {}", shown(url.str()?)))
            );
        }
        Ok(Entry { node: node.clone(), full_url, resource, kind })
    }
}

fn is_submission_set(list: &Node<'_>) -> Result<bool> {
    let Some(code) = list.get("code") else { return Ok(false) };
    for coding in code.items("coding")? {
        let system = coding.get("system").map(|s| s.str()).transpose()?;
        let value = coding.get("code").map(|s| s.str()).transpose()?;
        if matches!(system, Some(systems::MHD_LIST_TYPES | systems::MHD_LIST_TYPES_HTTP)) && value == Some("submissionset") {
            return Ok(true);
        }
    }
    Ok(false)
}

/// A SubmissionSet as read: its metadata, its items (path, reference), its patient if named.
struct SubmissionSetRead {
    meta: SubmissionSetMeta,
    listed: Vec<(String, String)>,
    patient: Option<(Ins, InsKind)>,
}

fn read_submission_set(list: &Node<'_>) -> Result<SubmissionSetRead> {
    let status = list.req("status")?;
    if status.str()? != "current" {
        return Err(status.error(IssueType::Value, format!("a SubmissionSet is current, found {}", shown(status.str()?))));
    }
    let mode = list.req("mode")?;
    if mode.str()? != "working" {
        return Err(mode.error(IssueType::Value, format!("a SubmissionSet's mode is working, found {}", shown(mode.str()?))));
    }
    let identifiers = list.items("identifier")?;
    let unique = identifiers
        .iter()
        .find(|i| i.get("use").and_then(|u| u.str().ok()) == Some("usual"))
        .or(if identifiers.len() == 1 { identifiers.first() } else { None })
        .ok_or_else(|| MhdError {
            path: list.child_path("identifier"),
            code: IssueType::Required,
            message: "the SubmissionSet's uniqueId is required (an identifier with use = usual)".into(),
        })?;
    let unique_id = read_unique_id(unique)?;

    let mut source_id = None;
    for ext in list.items("extension")? {
        let url = ext.req("url")?;
        if matches!(url.str()?, systems::MHD_SOURCE_ID | systems::MHD_SOURCE_ID_HTTP) {
            let value = ext.req("valueIdentifier")?.req_text("value")?;
            source_id = Some(value.strip_prefix("urn:oid:").filter(|oid| is_oid(oid)).unwrap_or(value).to_owned());
        }
    }
    let source_id = source_id.ok_or_else(|| MhdError {
        path: list.child_path("extension"),
        code: IssueType::Required,
        message: format!("the SubmissionSet's sourceId is required (extension {})", systems::MHD_SOURCE_ID),
    })?;

    let author = match list.get("source") {
        Some(source) => read_author(&source, list)?,
        None => None,
    };
    let title = list.opt_text("title")?.map(str::to_owned);
    let subject = list.get("subject").map(|s| read_patient(&s)).transpose()?;
    let mut listed = Vec::new();
    for entry in list.items("entry")? {
        let item = entry.req("item")?;
        let reference = item.req("reference")?;
        listed.push((reference.path.clone(), reference.text()?.to_owned()));
    }
    if listed.is_empty() {
        return Err(MhdError {
            path: list.child_path("entry"),
            code: IssueType::Required,
            message: "the SubmissionSet lists its DocumentReferences".into(),
        });
    }
    Ok(SubmissionSetRead { meta: SubmissionSetMeta { unique_id, source_id, author, title }, listed, patient: subject })
}

/// XDS uniqueId from an identifier: the inverse of `render::master_identifier`.
pub(crate) fn read_unique_id(identifier: &Node<'_>) -> Result<String> {
    let value_node = identifier.req("value")?;
    let value = value_node.text()?;
    let system = identifier.get("system").map(|s| s.text()).transpose()?;
    match system {
        None | Some(systems::URI) => {
            if let Some(oid) = value.strip_prefix("urn:oid:") {
                if is_oid(oid) {
                    return Ok(oid.to_owned());
                }
                return Err(value_node.error(IssueType::Value, format!("{} is not an OID", shown(oid))));
            }
            if let Some(uuid) = value.strip_prefix("urn:uuid:") {
                return Ok(format!("urn:uuid:{}", uuid.to_ascii_lowercase()));
            }
            Ok(value.to_owned())
        }
        Some(system) => match system.strip_prefix("urn:oid:").filter(|oid| is_oid(oid)) {
            Some(root) => Ok(format!("{root}^{value}")),
            None => Err(identifier.req("system")?.error(
                IssueType::Value,
                format!(
                    "a uniqueId is an urn:oid: or urn:uuid: value in system {} (or an extension in an urn:oid: system), found system {}",
                    systems::URI,
                    shown(system)
                ),
            )),
        },
    }
}

/// A patient reference to an INS: `identifier` {system, value}, or a conditional reference
/// `Patient?identifier=system|value`.
fn read_patient(subject: &Node<'_>) -> Result<(Ins, InsKind)> {
    subject.object()?;
    if let Some(identifier) = subject.get("identifier") {
        let system = identifier.req("system")?;
        let value = identifier.req("value")?;
        return ins_from(&system, system.text()?, &value, value.text()?);
    }
    let reference = subject.get("reference").ok_or_else(|| MhdError {
        path: subject.path.clone(),
        code: IssueType::Required,
        message: "name the patient by INS: identifier {system, value} or reference Patient?identifier=system|value".into(),
    })?;
    let text = reference.text()?;
    let query = text.strip_prefix("Patient?identifier=").ok_or_else(|| {
        reference.error(
            IssueType::NotSupported,
            format!(
                "{} does not carry an INS: use identifier {{system, value}} or Patient?identifier=urn:oid:1.2.250.1.213.1.4.8|<INS>",
                shown(text)
            ),
        )
    })?;
    let query = query.replace("%7C", "|").replace("%7c", "|").replace("%3A", ":").replace("%3a", ":");
    let (system, value) =
        query.split_once('|').ok_or_else(|| reference.error(IssueType::Value, "the identifier search needs system|value"))?;
    ins_from(&reference, system, &reference, value)
}

fn ins_from(system_node: &Node<'_>, system: &str, value_node: &Node<'_>, value: &str) -> Result<(Ins, InsKind)> {
    let kind = InsKind::from_system(system).ok_or_else(|| {
        system_node.error(
            IssueType::CodeInvalid,
            format!(
                "{} is not an INS system: use {} (NIR), {} (NIA) or {} (test NIR)",
                shown(system),
                InsKind::Nir.system(),
                InsKind::Nia.system(),
                InsKind::TestNir.system()
            ),
        )
    })?;
    let ins = Ins::parse(value).map_err(|e| value_node.error(IssueType::Value, format!("not an INS: {e}")))?;
    Ok((ins, kind))
}

/// An author reference: `#id` to a contained Practitioner (or PractitionerRole pointing at a
/// contained Practitioner), or an `identifier` holding an RPPS.
fn read_author(reference: &Node<'_>, resource: &Node<'_>) -> Result<Option<DeclaredAuthor>> {
    reference.object()?;
    if let Some(identifier) = reference.get("identifier") {
        return Ok(rpps_of(&identifier)?.map(|rpps| DeclaredAuthor { rpps: Some(rpps), name: None }));
    }
    let target = reference.req("reference")?;
    let text = target.text()?;
    let Some(id) = text.strip_prefix('#') else {
        return Err(target.error(
            IssueType::NotSupported,
            format!("{} is not a contained resource: put the author in contained and refer to it as #id", shown(text)),
        ));
    };
    let contained = find_contained(resource, id)?
        .ok_or_else(|| target.error(IssueType::NotFound, format!("no contained resource has id {}", shown(id))))?;
    let practitioner = match contained.req("resourceType")?.str()? {
        "Practitioner" => contained,
        "PractitionerRole" => {
            let inner = contained.req("practitioner")?;
            let inner_ref = inner.req("reference")?;
            let inner_id = inner_ref
                .text()?
                .strip_prefix('#')
                .ok_or_else(|| inner_ref.error(IssueType::NotSupported, "the role's practitioner must be contained too (#id)"))?;
            find_contained(resource, inner_id)?
                .ok_or_else(|| inner_ref.error(IssueType::NotFound, format!("no contained resource has id {}", shown(inner_id))))?
        }
        other => {
            return Err(
                contained.error(IssueType::NotSupported, format!("an author is a Practitioner or PractitionerRole, not {}", shown(other)))
            );
        }
    };
    let mut rpps = None;
    for identifier in practitioner.items("identifier")? {
        if let Some(r) = rpps_of(&identifier)? {
            rpps = Some(r);
            break;
        }
    }
    let name = match practitioner.items("name")?.first() {
        Some(name) => {
            let family = name.opt_text("family")?.map(str::to_owned);
            let given: Vec<&str> = name.items("given")?.iter().map(|g| g.text()).collect::<Result<_>>()?;
            let given = (!given.is_empty()).then(|| given.join(" "));
            (family.is_some() || given.is_some()).then_some(PersonName { family, given })
        }
        None => None,
    };
    Ok((rpps.is_some() || name.is_some()).then_some(DeclaredAuthor { rpps, name }))
}

fn find_contained<'a>(resource: &Node<'a>, id: &str) -> Result<Option<Node<'a>>> {
    for c in resource.items("contained")? {
        if c.get("id").and_then(|i| i.str().ok()) == Some(id) {
            return Ok(Some(c));
        }
    }
    Ok(None)
}

/// An RPPS from an identifier: IdNat_PS (`8` + RPPS; a `0` + ADELI one is no RPPS) or FR
/// Core's RPPS system. Other systems: `None`. A malformed RPPS is refused.
fn rpps_of(identifier: &Node<'_>) -> Result<Option<Rpps>> {
    let Some(system) = identifier.get("system") else { return Ok(None) };
    let value_node = identifier.req("value")?;
    let value = value_node.text()?;
    let rpps = match system.str()? {
        systems::IDNAT_PS => match value.strip_prefix('8') {
            Some(rpps) if value.len() == 12 => rpps,
            _ if value.len() == Rpps::LEN => value,
            _ => return Ok(None),
        },
        systems::RPPS_FR_CORE | "http://rpps.esante.gouv.fr" | "http://rpps.fr" => value,
        _ => return Ok(None),
    };
    Rpps::parse(rpps).map(Some).map_err(|e| value_node.error(IssueType::Value, format!("not an RPPS: {e}")))
}

/// The first coding of a CodeableConcept that `known` accepts, or else its first complete one.
pub(crate) fn pick_code(concept: &Node<'_>, known: impl Fn(&Code) -> bool) -> Result<Code> {
    let mut first = None;
    for coding in concept.items("coding")? {
        let (Some(system), Some(code)) = (coding.get("system"), coding.get("code")) else { continue };
        let code = Code::new(system.text()?, code.text()?);
        if known(&code) {
            return Ok(code);
        }
        first.get_or_insert(code);
    }
    first.ok_or_else(|| concept.error(IssueType::Required, "needs a coding with system and code"))
}

fn coding_code(coding: &Node<'_>) -> Result<Code> {
    Ok(Code::new(coding.req_text("system")?, coding.req_text("code")?))
}

pub(crate) fn normalise_format(code: Code) -> Code {
    if systems::FORMAT_SYSTEM_ALIASES.contains(&code.system.as_str()) { Code::new(FORMAT_SYSTEM_IHE, &code.code) } else { code }
}

pub(crate) fn decode_base64(node: &Node<'_>) -> Result<Vec<u8>> {
    let text = node.str()?.as_bytes();
    // Senders may wrap base64 in lines; most do not. Decoding first and looking for line breaks
    // only when that fails spares the common case a scan of the whole text (copying 100 KB char
    // by char, then scanning it, were a fifth, then 6%, of an ITI-65 deposit's CPU: BENCHMARKS.md).
    let decoded = BASE64.decode(text).or_else(|e| {
        if text.iter().any(u8::is_ascii_whitespace) {
            BASE64.decode(text.iter().copied().filter(|b| !b.is_ascii_whitespace()).collect::<Vec<u8>>())
        } else {
            Err(e)
        }
    });
    decoded.map_err(|e| node.error(IssueType::Value, format!("not base64: {e}")))
}

struct ReadDocument {
    provided: ProvidedDocument,
    ins: Ins,
    ins_kind: InsKind,
    binary_entry: Option<usize>,
    /// Where the bytes were named (`attachment.url` or `attachment.data`).
    url_path: String,
}

fn read_document_reference(
    entry: &Entry<'_>,
    entries: &[Entry<'_>],
    by_url: &HashMap<&str, usize>,
    codes: &CodeLists,
) -> Result<ReadDocument> {
    let doc = &entry.resource;
    let status = doc.req("status")?;
    if status.str()? != DocumentStatus::Current.as_str() {
        return Err(status.error(IssueType::Value, format!("a provided document is current, found {}", shown(status.str()?))));
    }
    let unique_id = read_unique_id(&doc.req("masterIdentifier")?)?;
    let (ins, ins_kind) = read_patient(&doc.req("subject")?)?;

    let type_node = doc.req("type")?;
    let type_code = pick_code(&type_node, |c| codes.find_type(c).is_some())?;
    let categories = doc.items("category")?;
    let category = categories.first().ok_or_else(|| MhdError {
        path: doc.child_path("category"),
        code: IssueType::Required,
        message: "the XDS classCode is required".into(),
    })?;
    let class_code = pick_code(category, |c| codes.find_class(c).is_some())?;

    let contents = doc.items("content")?;
    let content = match contents.as_slice() {
        [] => return Err(MhdError { path: doc.child_path("content"), code: IssueType::Required, message: "is required".into() }),
        [one] => one,
        [_, second, ..] => {
            return Err(
                second.error(IssueType::NotSupported, "Carnet keeps one content per DocumentReference: provide each as its own document")
            );
        }
    };
    let format_code = normalise_format(coding_code(&content.req("format")?)?);
    let attachment = content.req("attachment")?;
    attachment.object()?;
    let content_type_node = attachment.req("contentType")?;
    let mime_type = content_type_node.text()?.to_owned();
    let language = attachment.req_text("language")?.to_owned();
    let title = attachment.opt_text("title")?.map(str::to_owned);
    let authored_at = date_time(attachment.get("creation"))?;

    // The bytes: inline, or a Binary entry of this bundle.
    let (bytes, binary_entry, url_node) = match (attachment.get("data"), attachment.get("url")) {
        (Some(_), Some(url)) => {
            return Err(url.error(IssueType::Invalid, "give the document either inline (data) or as a Binary (url), not both"));
        }
        (Some(data), None) => (decode_base64(&data)?, None, data),
        (None, Some(url)) => {
            let target = url.text()?;
            let index = by_url.get(target).copied().ok_or_else(|| {
                url.error(
                    IssueType::NotFound,
                    format!("{} is the fullUrl of no entry of this Bundle: the document travels in the Bundle", shown(target)),
                )
            })?;
            let binary = &entries[index];
            if binary.kind != Kind::Binary {
                return Err(url.error(IssueType::Invalid, format!("refers to Bundle.entry[{index}], which is not a Binary")));
            }
            let binary_type = binary.resource.req("contentType")?;
            if !same_mime(binary_type.text()?, &mime_type) {
                return Err(content_type_node.error(
                    IssueType::Invariant,
                    format!("says {} but its Binary ({}) says {}", shown(&mime_type), binary_type.path, shown(binary_type.str()?)),
                ));
            }
            let data = binary.resource.req("data")?;
            (decode_base64(&data)?, Some(index), url)
        }
        (None, None) => return Err(attachment.error(IssueType::Required, "needs url (a Binary of this Bundle) or data")),
    };

    let sha256: [u8; 32] = Sha256::digest(&bytes).into();
    let declared_size = match attachment.get("size") {
        Some(size) => {
            let declared = size.u64()?;
            if declared != bytes.len() as u64 {
                return Err(size.error(IssueType::Invariant, format!("declares {declared} bytes but the document has {}", bytes.len())));
            }
            Some(declared)
        }
        None => None,
    };
    if let Some(hash) = attachment.get("hash") {
        let declared = decode_base64(&hash)?;
        let declared = sha1_bytes(&declared).ok_or_else(|| {
            hash.error(IssueType::Value, format!("R4's hash is the base64 of a SHA-1 (20 bytes), found {} bytes", declared.len()))
        })?;
        let actual: [u8; 20] = Sha1::digest(&bytes).into();
        if declared != actual {
            return Err(hash.error(IssueType::Invariant, "the SHA-1 does not match the document's bytes"));
        }
    }
    let mut declared_sha256 = None;
    for ext in attachment.items("extension")? {
        if ext.req("url")?.str()? == systems::sha256_extension() {
            let value = ext.req("valueBase64Binary")?;
            let declared: [u8; 32] = decode_base64(&value)?
                .try_into()
                .map_err(|v: Vec<u8>| value.error(IssueType::Value, format!("a SHA-256 has 32 bytes, found {}", v.len())))?;
            if declared != sha256 {
                return Err(value.error(IssueType::Invariant, "the SHA-256 does not match the document's bytes"));
            }
            declared_sha256 = Some(declared);
        }
    }

    let declared_author = match doc.items("author")?.as_slice() {
        [] => None,
        [one] => read_author(one, doc)?,
        [_, second, ..] => return Err(second.error(IssueType::NotSupported, "Carnet records one author per document")),
    };
    let labels = crate::labels::read_labels(doc)?;
    let replaces = read_replaces(doc)?;

    let (mut practice_setting, mut facility_type, mut service_start, mut service_end) = (None, None, None, None);
    if let Some(context) = doc.get("context") {
        context.object()?;
        if let Some(period) = context.get("period") {
            service_start = date_time(period.get("start"))?;
            service_end = date_time(period.get("end"))?;
            if let (Some(s), Some(e)) = (service_start, service_end)
                && s > e
            {
                return Err(period.error(IssueType::Value, "the service ends before it starts"));
            }
        }
        facility_type = context.get("facilityType").map(|c| pick_code(&c, |_| true)).transpose()?;
        practice_setting = context.get("practiceSetting").map(|c| pick_code(&c, |_| true)).transpose()?;
    }

    let xds = XdsMetadata {
        unique_id,
        class_code,
        type_code,
        format_code,
        practice_setting,
        facility_type,
        service_start,
        service_end,
        mime_type,
        language,
        authored_at,
    };
    check_codes(&xds, codes, doc)?;
    let submission = DocumentSubmission { ins: ins.clone(), xds, title, declared_author, labels, declared_size, declared_sha256, replaces };
    let provided = ProvidedDocument { full_url: entry.full_url.to_owned(), submission, bytes, sha256 };
    Ok(ReadDocument { provided, ins, ins_kind, binary_entry, url_path: url_node.path })
}

pub(crate) fn date_time(node: Option<Node<'_>>) -> Result<Option<OffsetDateTime>> {
    node.map(|n| parse_date_time(n.str()?).map_err(|e| n.error(IssueType::Value, e))).transpose()
}

/// `application/pdf` and `application/PDF; charset=…` are the same type.
fn same_mime(a: &str, b: &str) -> bool {
    let essence = |m: &str| m.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence(a) == essence(b)
}

/// A SHA-1 as R4 defines it (20 bytes), or as IHE MHD's own examples write it (the 40 hex
/// digits, base64-encoded: see the ihe-mhd-implementors thread "Correct calculation of
/// document hashes in MHD", June 2025). Both are read.
pub(crate) fn sha1_bytes(declared: &[u8]) -> Option<[u8; 20]> {
    if let Ok(raw) = <[u8; 20]>::try_from(declared) {
        return Some(raw);
    }
    if declared.len() != 40 {
        return None;
    }
    // Folded: a hash is compared, never used as a name, and hexBinary admits upper case.
    let hex = std::str::from_utf8(declared).ok()?.to_ascii_lowercase();
    carnet_domain::hex::decode_array(&hex).ok()
}

fn read_replaces(doc: &Node<'_>) -> Result<Option<DocumentId>> {
    let mut replaces = None;
    for relation in doc.items("relatesTo")? {
        let code = relation.req("code")?;
        if code.str()? != "replaces" {
            return Err(
                code.error(IssueType::NotSupported, format!("Carnet keeps replacement chains only (replaces), not {}", shown(code.str()?)))
            );
        }
        if replaces.is_some() {
            return Err(relation.error(IssueType::NotSupported, "a document replaces one document"));
        }
        let target = relation.req("target")?.req("reference")?;
        let text = target.text()?;
        let id = text
            .rsplit_once("DocumentReference/")
            .map(|(_, id)| id)
            .and_then(|id| DocumentId::parse(id).ok())
            .ok_or_else(|| target.error(IssueType::Value, format!("{} is not DocumentReference/<Carnet document id>", shown(text))))?;
        replaces = Some(id);
    }
    Ok(replaces)
}

/// `check_metadata`, the service's own check, with its field names mapped to FHIR paths.
pub(crate) fn check_codes(xds: &XdsMetadata, codes: &CodeLists, doc: &Node<'_>) -> Result<()> {
    check_metadata(xds, codes).map_err(|MetadataError::Field { field, problem }| {
        let (path, code) = match field {
            "unique_id" => ("masterIdentifier.value", IssueType::Value),
            "type_code" => ("type", IssueType::CodeInvalid),
            "class_code" => ("category[0]", IssueType::CodeInvalid),
            "format_code" => ("content[0].format", IssueType::CodeInvalid),
            "mime_type" => ("content[0].attachment.contentType", IssueType::Value),
            "language" => ("content[0].attachment.language", IssueType::Value),
            _ => ("", IssueType::Invalid),
        };
        MhdError { path: if path.is_empty() { doc.path.clone() } else { doc.child_path(path) }, code, message: problem }
    })
}

#[cfg(test)]
mod tests;
