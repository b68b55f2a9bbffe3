//! The ITI-67 search page written straight from the metadata.
//!
//! `render::document_reference` builds the owned FHIR model — some forty strings per document —
//! which is then serialised and dropped. On a page of fifty documents that allocation, copying and
//! freeing was the largest share of a search's CPU (BENCHMARKS.md, third round). `DocumentSearchset`
//! writes the same bytes from borrowed metadata. The model stays the one definition of what Carnet
//! serves: a property test holds this writer to the model's output, byte for byte, on any metadata.

use std::fmt::Display;

use carnet_domain::document::{DocumentMeta, PersonName};
use carnet_domain::{DocumentStatus, Ins, InsKind, Rpps, SecurityLabel};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use crate::datetime;
use crate::model::{BundleLink, OperationOutcome};
use crate::render::{AUTHOR_ID, RenderContext, author_rpps, is_oid, security_label_display};
use crate::systems;

/// A searchset of DocumentReferences: what `render::bundle_searchset` makes of
/// `render::document_reference` entries (search mode `match`), written without the model.
pub struct DocumentSearchset<'a> {
    pub documents: Vec<DocumentReferenceJson<'a>>,
    /// Matches the caller may see (see `bundle_searchset`).
    pub total: u64,
    pub links: &'a [BundleLink],
    /// What a lenient search ignored (`render::ignored_parameters`), the last entry if any.
    pub outcome: Option<&'a OperationOutcome>,
}

/// One document as `render::document_reference` renders it.
pub struct DocumentReferenceJson<'a> {
    pub meta: &'a DocumentMeta,
    pub title: Option<&'a str>,
    pub ins_kind: InsKind,
    pub ctx: &'a RenderContext<'a>,
}

impl Serialize for DocumentSearchset<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("resourceType", "Bundle")?;
        map.serialize_entry("type", "searchset")?;
        map.serialize_entry("total", &self.total)?;
        if !self.links.is_empty() {
            map.serialize_entry("link", self.links)?;
        }
        if !self.documents.is_empty() || self.outcome.is_some() {
            map.serialize_entry("entry", &Entries(self))?;
        }
        map.end()
    }
}

struct Entries<'a>(&'a DocumentSearchset<'a>);

impl Serialize for Entries<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.documents.len() + usize::from(self.0.outcome.is_some())))?;
        for d in &self.0.documents {
            seq.serialize_element(&Entry(d))?;
        }
        if let Some(outcome) = self.0.outcome {
            seq.serialize_element(&OutcomeEntry(outcome))?;
        }
        seq.end()
    }
}

/// `with_outcome`'s entry: the OperationOutcome of the search, search mode `outcome`.
struct OutcomeEntry<'a>(&'a OperationOutcome);

impl Serialize for OutcomeEntry<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("resource", self.0)?;
        map.serialize_entry("search", &SearchOutcome)?;
        map.end()
    }
}

struct SearchOutcome;

impl Serialize for SearchOutcome {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("mode", "outcome")?;
        map.end()
    }
}

struct Entry<'a>(&'a DocumentReferenceJson<'a>);

impl Serialize for Entry<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let d = self.0;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("fullUrl", &Shown(format_args!("{}/DocumentReference/{}", d.ctx.base_url, d.meta.id)))?;
        map.serialize_entry("resource", d)?;
        map.serialize_entry("search", &SearchMatch)?;
        map.end()
    }
}

impl Serialize for DocumentReferenceJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (m, ctx) = (self.meta, self.ctx);
        let rpps = author_rpps(&m.author);
        let has_author = rpps.is_some() || m.author_name.is_some();
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("resourceType", "DocumentReference")?;
        map.serialize_entry("id", &Shown(m.id))?;
        if has_author {
            map.serialize_entry("contained", &[Author { rpps: rpps.as_ref(), name: m.author_name.as_ref() }])?;
        }
        map.serialize_entry("masterIdentifier", &MasterIdentifier(&m.xds.unique_id))?;
        map.serialize_entry("status", m.status.as_str())?;
        map.serialize_entry("docStatus", if m.status == DocumentStatus::EnteredInError { "entered-in-error" } else { "final" })?;
        let type_display = ctx.codes.find_type(&m.xds.type_code).map(|t| t.display.as_str());
        map.serialize_entry(
            "type",
            &Concept(Coding { system: &m.xds.type_code.system, code: &m.xds.type_code.code, display: type_display }),
        )?;
        let class_display = ctx.codes.find_class(&m.xds.class_code).map(|c| c.display.as_str());
        map.serialize_entry(
            "category",
            &[Concept(Coding { system: &m.xds.class_code.system, code: &m.xds.class_code.code, display: class_display })],
        )?;
        map.serialize_entry("subject", &PatientReference { ins: &m.ins, kind: self.ins_kind })?;
        map.serialize_entry("date", &datetime::instant(m.submitted_at))?;
        if has_author {
            map.serialize_entry("author", &[LiteralReference(Shown(format_args!("#{AUTHOR_ID}")))])?;
        }
        if let Some(old) = m.replaces {
            map.serialize_entry("relatesTo", &[RelatesTo(Shown(format_args!("DocumentReference/{old}")))])?;
        }
        if !m.labels.is_empty() {
            map.serialize_entry("securityLabel", &Seq(m.labels.iter().map(|l| Label(*l))))?;
        }
        map.serialize_entry("content", &[Content(self)])?;
        let has_context = m.xds.service_start.is_some()
            || m.xds.service_end.is_some()
            || m.xds.facility_type.is_some()
            || m.xds.practice_setting.is_some();
        if has_context {
            map.serialize_entry("context", &Context(m))?;
        }
        map.end()
    }
}

/// A `Display` value written as a JSON string without an intermediate `String`.
struct Shown<T>(T);

impl<T: Display> Serialize for Shown<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

/// An iterator written as a JSON array (serde wants the iterator by value: `Seq` clones it).
struct Seq<I>(I);

impl<I: Iterator<Item = T> + Clone, T: Serialize> Serialize for Seq<I> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.clone())
    }
}

/// `entry.search`: every entry of this searchset is a match.
struct SearchMatch;

impl Serialize for SearchMatch {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("mode", "match")?;
        map.end()
    }
}

struct Coding<'a> {
    system: &'a str,
    code: &'a str,
    display: Option<&'a str>,
}

impl Serialize for Coding<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("system", self.system)?;
        map.serialize_entry("code", self.code)?;
        if let Some(display) = self.display {
            map.serialize_entry("display", display)?;
        }
        map.end()
    }
}

/// A `CodeableConcept` of one coding.
struct Concept<'a>(Coding<'a>);

impl Serialize for Concept<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("coding", &[&self.0])?;
        map.end()
    }
}

/// `render::master_identifier`.
struct MasterIdentifier<'a>(&'a str);

impl Serialize for MasterIdentifier<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let unique_id = self.0;
        let mut map = s.serialize_map(None)?;
        match unique_id.split_once('^') {
            Some((root, extension)) if is_oid(root) => {
                map.serialize_entry("system", &Shown(format_args!("urn:oid:{root}")))?;
                map.serialize_entry("value", extension)?;
            }
            _ if is_oid(unique_id) => {
                map.serialize_entry("system", systems::URI)?;
                map.serialize_entry("value", &Shown(format_args!("urn:oid:{unique_id}")))?;
            }
            _ if unique_id.starts_with("urn:") => {
                map.serialize_entry("system", systems::URI)?;
                map.serialize_entry("value", unique_id)?;
            }
            _ => map.serialize_entry("value", unique_id)?,
        }
        map.end()
    }
}

/// `render::patient_reference`.
struct PatientReference<'a> {
    ins: &'a Ins,
    kind: InsKind,
}

impl Serialize for PatientReference<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("reference", &Shown(format_args!("Patient/{}", self.ins.as_str())))?;
        map.serialize_entry("type", "Patient")?;
        map.serialize_entry("identifier", &InsIdentifier { oid: self.kind.oid(), value: self.ins.as_str() })?;
        map.end()
    }
}

struct InsIdentifier<'a> {
    oid: &'a str,
    value: &'a str,
}

impl Serialize for InsIdentifier<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("system", &Shown(format_args!("urn:oid:{}", self.oid)))?;
        map.serialize_entry("value", self.value)?;
        map.end()
    }
}

/// `{"reference": …}`.
struct LiteralReference<T>(Shown<T>);

impl<T: Display> Serialize for LiteralReference<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("reference", &self.0)?;
        map.end()
    }
}

struct RelatesTo<T>(Shown<T>);

impl<T: Display> Serialize for RelatesTo<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("code", "replaces")?;
        map.serialize_entry("target", &LiteralReference(Shown(&self.0.0)))?;
        map.end()
    }
}

/// `render::security_label`.
#[derive(Clone, Copy)]
struct Label(SecurityLabel);

impl Serialize for Label {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("coding", &[LabelCoding(self.0)])?;
        map.end()
    }
}

struct LabelCoding(SecurityLabel);

impl Serialize for LabelCoding {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("system", &Shown(format_args!("urn:oid:{}", SecurityLabel::SYSTEM_OID)))?;
        map.serialize_entry("code", self.0.code())?;
        map.serialize_entry("display", security_label_display(self.0))?;
        map.end()
    }
}

/// `render::contained_author`: a `Practitioner` with the IdNat_PS and the declared name.
struct Author<'a> {
    rpps: Option<&'a Rpps>,
    name: Option<&'a PersonName>,
}

impl Serialize for Author<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("resourceType", "Practitioner")?;
        map.serialize_entry("id", AUTHOR_ID)?;
        if let Some(rpps) = self.rpps {
            map.serialize_entry("identifier", &[IdNatPs(rpps)])?;
        }
        if let Some(name) = self.name {
            map.serialize_entry("name", &[Name(name)])?;
        }
        map.end()
    }
}

struct IdNatPs<'a>(&'a Rpps);

impl Serialize for IdNatPs<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("type", &Concept(Coding { system: systems::FR_IDENTIFIER_TYPE, code: "IDNPS", display: None }))?;
        map.serialize_entry("system", systems::IDNAT_PS)?;
        map.serialize_entry("value", &Shown(format_args!("8{}", self.0.as_str())))?;
        map.end()
    }
}

struct Name<'a>(&'a PersonName);

impl Serialize for Name<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        if let Some(family) = &self.0.family {
            map.serialize_entry("family", family)?;
        }
        if let Some(given) = &self.0.given {
            map.serialize_entry("given", &[given])?;
        }
        map.end()
    }
}

/// `content[0]`: the attachment and the format.
struct Content<'a>(&'a DocumentReferenceJson<'a>);

impl Serialize for Content<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (m, ctx) = (self.0.meta, self.0.ctx);
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("attachment", &Attachment(self.0))?;
        let display = ctx.codes.find_format(&m.xds.format_code).map(|f| f.display.as_str());
        map.serialize_entry("format", &Coding { system: &m.xds.format_code.system, code: &m.xds.format_code.code, display })?;
        map.end()
    }
}

struct Attachment<'a>(&'a DocumentReferenceJson<'a>);

impl Serialize for Attachment<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (m, ctx) = (self.0.meta, self.0.ctx);
        // R4's `unsignedInt` stops at 2^31 − 1; larger sizes travel in an extension.
        let size = u32::try_from(m.size).ok().filter(|s| i32::try_from(*s).is_ok());
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("extension", &Extensions { sha256: &m.sha256, large_size: size.is_none().then_some(m.size) })?;
        map.serialize_entry("contentType", &m.xds.mime_type)?;
        map.serialize_entry("language", &m.xds.language)?;
        map.serialize_entry("url", &Shown(format_args!("{}/Binary/{}", ctx.base_url.trim_end_matches('/'), m.id)))?;
        if let Some(size) = size {
            map.serialize_entry("size", &size)?;
        }
        if let Some(title) = self.0.title {
            map.serialize_entry("title", title)?;
        }
        if let Some(at) = m.xds.authored_at {
            map.serialize_entry("creation", &datetime::instant(at))?;
        }
        map.end()
    }
}

/// `attachment.extension`: the SHA-256, and the exact size when `size` cannot hold it.
struct Extensions<'a> {
    sha256: &'a [u8; 32],
    large_size: Option<u64>,
}

impl Serialize for Extensions<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use base64::Engine as _;
        let sha256 = base64::engine::general_purpose::STANDARD.encode(self.sha256);
        let mut seq = s.serialize_seq(None)?;
        seq.serialize_element(&Sha256Extension(sha256))?;
        if let Some(size) = self.large_size {
            seq.serialize_element(&LargeSize(size))?;
        }
        seq.end()
    }
}

struct Sha256Extension(String);

impl Serialize for Sha256Extension {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("url", &systems::sha256_extension())?;
        map.serialize_entry("valueBase64Binary", &self.0)?;
        map.end()
    }
}

struct LargeSize(u64);

impl Serialize for LargeSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("url", &systems::large_size_extension())?;
        map.serialize_entry("valueDecimal", &self.0)?;
        map.end()
    }
}

/// `context`: the service period and the two setting codes.
struct Context<'a>(&'a DocumentMeta);

impl Serialize for Context<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let m = self.0;
        let mut map = s.serialize_map(None)?;
        if m.xds.service_start.is_some() || m.xds.service_end.is_some() {
            map.serialize_entry("period", &Period { start: m.xds.service_start, end: m.xds.service_end })?;
        }
        fn coded(c: &carnet_domain::codes::Code) -> Concept<'_> {
            Concept(Coding { system: &c.system, code: &c.code, display: None })
        }
        if let Some(c) = &m.xds.facility_type {
            map.serialize_entry("facilityType", &coded(c))?;
        }
        if let Some(c) = &m.xds.practice_setting {
            map.serialize_entry("practiceSetting", &coded(c))?;
        }
        map.end()
    }
}

struct Period {
    start: Option<time::OffsetDateTime>,
    end: Option<time::OffsetDateTime>,
}

impl Serialize for Period {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        if let Some(start) = self.start {
            map.serialize_entry("start", &datetime::instant(start))?;
        }
        if let Some(end) = self.end {
            map.serialize_entry("end", &datetime::instant(end))?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::{SearchEntry, SearchMode, bundle_searchset, document_reference, ignored_parameters, with_outcome};
    use crate::search::SearchError;
    use carnet_domain::codes::{Code, CodeLists};
    use carnet_domain::document::XdsMetadata;
    use carnet_domain::{DocumentId, InsKind};
    use proptest::prelude::*;
    use time::OffsetDateTime;

    fn instant() -> impl Strategy<Value = OffsetDateTime> {
        (-2_000_000_000i64..4_000_000_000, 0u32..1_000_000_000, 0u8..3).prop_map(|(secs, nanos, coarse)| {
            let nanos = match coarse {
                0 => 0,
                1 => nanos / 1_000_000 * 1_000_000,
                _ => nanos,
            };
            OffsetDateTime::from_unix_timestamp(secs).expect("in range").replace_nanosecond(nanos).expect("in range")
        })
    }

    /// Text with what JSON must escape (quotes, backslashes, controls) and non-ASCII.
    fn text() -> impl Strategy<Value = String> {
        "[a-zA-Zé\"\\\\\n\t\u{1}\u{2028}é ^.:/0-9-]{0,24}"
    }

    /// A code from the shipped lists (which have displays) or any code (which has none).
    fn code(pick: usize, listed: &[Code], any: (String, String)) -> Code {
        listed.get(pick).cloned().unwrap_or(Code { system: any.0, code: any.1 })
    }

    fn unique_id() -> impl Strategy<Value = String> {
        prop_oneof![
            text(),
            "[0-9]{1,4}(\\.[0-9]{1,4}){0,4}",
            "[0-9]{1,3}\\.[0-9]{1,3}\\^[A-Z0-9-]{1,8}",
            "urn:uuid:[0-9a-f-]{8,36}",
            "urn:oid:[0-9.]{1,12}"
        ]
    }

    prop_compose! {
        fn metadata()(
            id in any::<[u8; 16]>(),
            unique_id in unique_id(),
            picks in (0usize..12, 0usize..40, 0usize..6),
            anys in ((text(), text()), (text(), text()), (text(), text())),
            settings in (proptest::option::of((text(), text())), proptest::option::of((text(), text()))),
            service in (proptest::option::of(instant()), proptest::option::of(instant())),
            mime_type in text(),
            language in text(),
            author in prop_oneof![Just("rpps:10000000019".to_string()), Just("rpps:1000000001".to_string()), text()],
            author_name in proptest::option::of((proptest::option::of(text()), proptest::option::of(text()))),
            authored_at in proptest::option::of(instant()),
            submitted_at in instant(),
            size in prop_oneof![0u64..5_000_000, 2_147_483_640u64..2_147_483_660, any::<u64>()],
            sha256 in any::<[u8; 32]>(),
            labels in proptest::sample::subsequence(SecurityLabel::ALL.to_vec(), 0..=3),
            status in prop_oneof![Just(DocumentStatus::Current), Just(DocumentStatus::Superseded), Just(DocumentStatus::EnteredInError)],
            replaces in proptest::option::of(any::<[u8; 16]>()),
        ) -> DocumentMeta {
            let codes = CodeLists::dmp_default();
            let classes: Vec<Code> = codes.classes.iter().map(|c| c.code.clone()).collect();
            let types: Vec<Code> = codes.types.iter().map(|t| t.code.clone()).collect();
            let formats: Vec<Code> = codes.formats.iter().map(|f| f.code.clone()).collect();
            DocumentMeta {
                id: DocumentId::from_bytes(id),
                ins: Ins::from_body("2840375012345").expect("valid"),
                xds: XdsMetadata {
                    unique_id,
                    class_code: code(picks.0, &classes, anys.0),
                    type_code: code(picks.1, &types, anys.1),
                    format_code: code(picks.2, &formats, anys.2),
                    practice_setting: settings.0.map(|(system, code)| Code { system, code }),
                    facility_type: settings.1.map(|(system, code)| Code { system, code }),
                    service_start: service.0,
                    service_end: service.1,
                    mime_type,
                    language,
                    authored_at,
                },
                author,
                author_name: author_name.map(|(family, given)| PersonName { family, given }),
                deposited_by: "rpps:10000000019".into(),
                submitted_at,
                size,
                sha256,
                labels,
                status,
                archived: false,
                replaces: replaces.map(DocumentId::from_bytes),
            }
        }
    }

    proptest! {
        /// The writer says, byte for byte, what the model says: same members, same order, same
        /// escaping — for any metadata, title, register, base URL and paging.
        #[test]
        fn a_search_page_is_the_models_bundle_byte_for_byte(
            documents in proptest::collection::vec((metadata(), proptest::option::of(text())), 0..4),
            kind in prop_oneof![Just(InsKind::Nir), Just(InsKind::Nia), Just(InsKind::TestNir)],
            base in prop_oneof![Just("https://carnet.example/fhir"), Just("http://127.0.0.1:8080/fhir/"), Just("")],
            total in 0u64..100,
            links in proptest::collection::vec((text(), text()), 0..3),
            ignored in proptest::collection::vec((text(), text()), 0..3),
        ) {
            let ignored: Vec<SearchError> = ignored.into_iter().map(|(param, message)| SearchError { param, message }).collect();
            let outcome = ignored_parameters(&ignored);
            let codes = CodeLists::dmp_default();
            let ctx = RenderContext { base_url: base, codes: &codes };
            let links: Vec<BundleLink> = links.into_iter().map(|(relation, url)| BundleLink { relation, url }).collect();
            let entries = documents
                .iter()
                .map(|(meta, title)| SearchEntry {
                    full_url: format!("{base}/DocumentReference/{}", meta.id),
                    resource: document_reference(meta, title.as_deref(), kind, &ctx).into(),
                    mode: SearchMode::Match,
                })
                .collect();
            let model = serde_json::to_string(&with_outcome(bundle_searchset(entries, Some(total), links.clone()), outcome.clone()))
                .expect("the model serialises");
            let page = DocumentSearchset {
                documents: documents.iter().map(|(meta, title)| DocumentReferenceJson { meta, title: title.as_deref(), ins_kind: kind, ctx: &ctx }).collect(),
                total,
                links: &links,
                outcome: outcome.as_ref(),
            };
            let written = serde_json::to_string(&page).expect("the page serialises");
            prop_assert_eq!(written, model);
        }
    }
}
