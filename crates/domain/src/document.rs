//! Documents: their XDS metadata, security labels and lifecycle (submit, replace, withdraw,
//! archive). Pure: storage and encryption of the bytes live elsewhere.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::Ins;
use crate::codes::{Code, CodeLists};

/// A document's id: 16 bytes (a UUID), written as lowercase hyphenated hex. It is bound into
/// the document's encryption, so a blob cannot be moved to another document.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DocumentId([u8; 16]);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a document id is a UUID in lower case (8-4-4-4-12 hexadecimal digits 0-9, a-f)")]
pub struct DocumentIdError;

impl DocumentId {
    pub fn from_bytes(bytes: [u8; 16]) -> DocumentId {
        DocumentId(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// Reads the one spelling [`DocumentId`]'s `Display` writes: lower-case hex digits grouped
    /// 8-4-4-4-12. Upper case, signs and other separators are refused, so an id has one text.
    pub fn parse(s: &str) -> Result<DocumentId, DocumentIdError> {
        let groups: Vec<&str> = s.split('-').collect();
        let [a, b, c, d, e] = groups[..] else { return Err(DocumentIdError) };
        let mut out = [0u8; 16];
        let mut rest = &mut out[..];
        // 8-4-4-4-12 digits are 4-2-2-2-6 bytes; decode_into checks each group's length.
        for (group, len) in [(a, 4), (b, 2), (c, 2), (d, 2), (e, 6)] {
            let (bytes, after) = rest.split_at_mut(len);
            crate::hex::decode_into(group, bytes).map_err(|_| DocumentIdError)?;
            rest = after;
        }
        Ok(DocumentId(out))
    }
}

impl DocumentId {
    /// Writes the hyphenated form into `buf` by table, not through `fmt`: a search page writes
    /// ids a hundred times.
    fn encode<'b>(&self, buf: &'b mut [u8; 36]) -> &'b str {
        let mut at = 0;
        for (i, b) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                buf[at] = b'-';
                at += 1;
            }
            buf[at..at + 2].copy_from_slice(&crate::hex::encode_byte(*b));
            at += 2;
        }
        // Only ASCII digits, letters and hyphens were written.
        std::str::from_utf8(buf).unwrap_or_default()
    }
}

impl fmt::Display for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.encode(&mut [0u8; 36]))
    }
}

impl fmt::Debug for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DocumentId({self})")
    }
}

impl TryFrom<String> for DocumentId {
    type Error = DocumentIdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        DocumentId::parse(&s)
    }
}

impl From<DocumentId> for String {
    fn from(id: DocumentId) -> String {
        id.to_string()
    }
}

/// The DMP's visibility labels (TRE_A07).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum SecurityLabel {
    /// Hidden from professionals (except the author, the médecin traitant and extended-rights holders).
    #[serde(rename = "MASQUE_PS")]
    MasquePs,
    /// Hidden from the patient and representatives until the author lifts it.
    #[serde(rename = "INVISIBLE_PATIENT")]
    InvisiblePatient,
    /// Hidden from legal representatives (a minor's secret).
    #[serde(rename = "INVISIBLE_REPRESENTANTS_LEGAUX")]
    InvisibleRepresentantsLegaux,
}

impl SecurityLabel {
    pub const ALL: [SecurityLabel; 3] =
        [SecurityLabel::MasquePs, SecurityLabel::InvisiblePatient, SecurityLabel::InvisibleRepresentantsLegaux];
    /// The TRE_A07 code system, as an OID.
    pub const SYSTEM_OID: &'static str = "1.2.250.1.213.1.1.4.13";

    pub fn code(self) -> &'static str {
        match self {
            SecurityLabel::MasquePs => "MASQUE_PS",
            SecurityLabel::InvisiblePatient => "INVISIBLE_PATIENT",
            SecurityLabel::InvisibleRepresentantsLegaux => "INVISIBLE_REPRESENTANTS_LEGAUX",
        }
    }

    pub fn parse(code: &str) -> Option<SecurityLabel> {
        SecurityLabel::ALL.into_iter().find(|l| l.code() == code)
    }
}

/// XDS availability: a replaced document is superseded, a withdrawn one entered-in-error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DocumentStatus {
    Current,
    Superseded,
    EnteredInError,
}

impl DocumentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentStatus::Current => "current",
            DocumentStatus::Superseded => "superseded",
            DocumentStatus::EnteredInError => "entered-in-error",
        }
    }

    pub fn parse(s: &str) -> Option<DocumentStatus> {
        [DocumentStatus::Current, DocumentStatus::Superseded, DocumentStatus::EnteredInError].into_iter().find(|st| st.as_str() == s)
    }
}

/// What a depositor declares about a document and Carnet keeps as declared: the XDS
/// DocumentEntry's unique id, codes, dates, MIME type and language. `check_metadata` checks
/// exactly this; a `DocumentSubmission` brings it in and the `DocumentMeta` keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct XdsMetadata {
    /// XDS uniqueId (FHIR `masterIdentifier`), chosen by the author's software.
    pub unique_id: String,
    pub class_code: Code,
    pub type_code: Code,
    pub format_code: Code,
    /// XDS practiceSettingCode (FHIR `context.practiceSetting`), e.g. a specialty.
    pub practice_setting: Option<Code>,
    /// XDS healthcareFacilityTypeCode (FHIR `context.facilityType`).
    pub facility_type: Option<Code>,
    /// XDS serviceStartTime / serviceStopTime (FHIR `context.period`).
    pub service_start: Option<OffsetDateTime>,
    pub service_end: Option<OffsetDateTime>,
    pub mime_type: String,
    pub language: String,
    /// When the document was written (by its author's clock), if given.
    pub authored_at: Option<OffsetDateTime>,
}

/// The metadata Carnet keeps queryable (codes, dates, ids, labels, hashes). The title and any
/// text are clinical content and are stored encrypted beside it, never here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentMeta {
    pub id: DocumentId,
    pub ins: Ins,
    /// What the depositor declared.
    #[serde(flatten)]
    pub xds: XdsMetadata,
    /// `Actor::reference()` of the author (`rpps:…` for a professional): authors keep reading
    /// what they wrote, so this is what the policy compares.
    pub author: String,
    /// The author's name as declared by the depositing software (searchable: ITI-67
    /// `author.family` / `author.given`). A professional's name is not clinical content.
    pub author_name: Option<PersonName>,
    /// `Actor::reference()` of whoever deposited it (the author, or the software feeding for them).
    pub deposited_by: String,
    pub submitted_at: OffsetDateTime,
    pub size: u64,
    /// SHA-256 of the plaintext.
    pub sha256: [u8; 32],
    /// Declared at deposit, changed since by whoever `authorize_label_change` allows.
    pub labels: Vec<SecurityLabel>,
    pub status: DocumentStatus,
    pub archived: bool,
    /// The document this one replaces (version chain).
    pub replaces: Option<DocumentId>,
}

/// A person's name as declared in metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonName {
    pub family: Option<String>,
    pub given: Option<String>,
}

/// What a depositor declares about a new document. The server adds the id, the author (from
/// the token, or declared by feeding software), the deposit time, and checks the declared size
/// and hash against the bytes it receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentSubmission {
    pub ins: Ins,
    pub xds: XdsMetadata,
    /// Clinical content: stored sealed under the patient's key, never in clear.
    pub title: Option<String>,
    /// The author declared by feeding software (a system actor); professionals author as themselves.
    pub declared_author: Option<DeclaredAuthor>,
    pub labels: Vec<SecurityLabel>,
    pub declared_size: Option<u64>,
    pub declared_sha256: Option<[u8; 32]>,
    /// The document this one replaces (version chain).
    pub replaces: Option<DocumentId>,
}

/// An author named in submitted metadata (FHIR `DocumentReference.author`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredAuthor {
    pub rpps: Option<crate::Rpps>,
    pub name: Option<PersonName>,
}

/// Why metadata is refused. Messages name the field and, for codes, what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    #[error("{field}: {problem}")]
    Field { field: &'static str, problem: String },
}

fn field(field: &'static str, problem: impl Into<String>) -> MetadataError {
    MetadataError::Field { field, problem: problem.into() }
}

pub const MAX_UNIQUE_ID: usize = 128;

/// Checks declared metadata against the code lists: a printable unique id, a known type code,
/// the class that type belongs to, a known format, a plausible MIME type and language.
pub fn check_metadata(meta: &XdsMetadata, codes: &CodeLists) -> Result<(), MetadataError> {
    let uid = meta.unique_id.as_str();
    if uid.is_empty() || uid.len() > MAX_UNIQUE_ID || !uid.chars().all(|c| c.is_ascii_graphic()) {
        return Err(field("unique_id", format!("1 to {MAX_UNIQUE_ID} printable ASCII characters (an OID or urn:uuid)")));
    }
    let Some(t) = codes.find_type(&meta.type_code) else {
        let examples: Vec<&str> = codes.types.iter().take(8).map(|t| t.code.code.as_str()).collect();
        return Err(field(
            "type_code",
            format!("{} is not a DMP type code (JDV_J66, {} codes, e.g. {}…)", meta.type_code.code, codes.types.len(), examples.join(", ")),
        ));
    };
    if codes.find_class(&meta.class_code).is_none() {
        let allowed: Vec<&str> = codes.classes.iter().map(|c| c.code.code.as_str()).collect();
        return Err(field("class_code", format!("{} is not a DMP class code; allowed: {}", meta.class_code.code, allowed.join(", "))));
    }
    if meta.class_code.code != t.class {
        return Err(field("class_code", format!("type {} belongs to class {}, not {}", t.code.code, t.class, meta.class_code.code)));
    }
    if codes.find_format(&meta.format_code).is_none() {
        let allowed: Vec<&str> = codes.formats.iter().map(|f| f.code.code.as_str()).collect();
        return Err(field("format_code", format!("{} is not accepted; allowed: {}", meta.format_code.code, allowed.join(", "))));
    }
    let mime_ok = meta.mime_type.split_once('/').is_some_and(|(a, b)| {
        !a.is_empty() && !b.is_empty() && meta.mime_type.len() <= 100 && meta.mime_type.chars().all(|c| c.is_ascii_graphic())
    });
    if !mime_ok {
        return Err(field("mime_type", "a MIME type such as application/pdf"));
    }
    let lang_ok = !meta.language.is_empty()
        && meta.language.len() <= 35
        && meta.language.split('-').all(|p| !p.is_empty() && p.len() <= 8 && p.chars().all(|c| c.is_ascii_alphanumeric()));
    if !lang_ok {
        return Err(field("language", "a BCP 47 tag such as fr-FR"));
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentLifecycleError {
    #[error("the document is {0}; only a current document can be {1}")]
    NotCurrent(&'static str, &'static str),
    #[error("the document is already {0}")]
    Already(&'static str),
}

impl DocumentMeta {
    fn require_current(&self, to: &'static str) -> Result<(), DocumentLifecycleError> {
        if self.status == DocumentStatus::Current { Ok(()) } else { Err(DocumentLifecycleError::NotCurrent(self.status.as_str(), to)) }
    }

    /// The old version of a replacement becomes superseded.
    pub fn supersede(&mut self) -> Result<(), DocumentLifecycleError> {
        self.require_current("replaced")?;
        self.status = DocumentStatus::Superseded;
        Ok(())
    }

    pub fn withdraw(&mut self) -> Result<(), DocumentLifecycleError> {
        self.require_current("withdrawn")?;
        self.status = DocumentStatus::EnteredInError;
        Ok(())
    }

    pub fn set_archived(&mut self, archived: bool) -> Result<(), DocumentLifecycleError> {
        self.require_current(if archived { "archived" } else { "unarchived" })?;
        if self.archived == archived {
            return Err(DocumentLifecycleError::Already(if archived { "archived" } else { "not archived" }));
        }
        self.archived = archived;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::{CLASS_SYSTEM, FORMAT_SYSTEM_IHE};

    fn xds() -> XdsMetadata {
        XdsMetadata {
            unique_id: "1.2.250.1.999.1.2.3".into(),
            class_code: Code::new(CLASS_SYSTEM, "10"),
            type_code: Code::new("http://loinc.org", "11502-2"),
            format_code: Code::new(FORMAT_SYSTEM_IHE, "urn:ihe:iti:xds-sd:pdf:2008"),
            practice_setting: None,
            facility_type: None,
            service_start: None,
            service_end: None,
            mime_type: "application/pdf".into(),
            language: "fr-FR".into(),
            authored_at: None,
        }
    }

    fn meta() -> DocumentMeta {
        DocumentMeta {
            id: DocumentId::from_bytes([7; 16]),
            ins: Ins::from_body("1841276451089").expect("valid"),
            xds: xds(),
            author: "rpps:10000000019".into(),
            author_name: None,
            deposited_by: "rpps:10000000019".into(),
            submitted_at: time::macros::datetime!(2026-01-01 0:00 UTC),
            size: 10,
            sha256: [0; 32],
            labels: vec![],
            status: DocumentStatus::Current,
            archived: false,
            replaces: None,
        }
    }

    #[test]
    fn document_ids_round_trip() {
        let id = DocumentId::parse("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0").expect("valid");
        assert_eq!(id.to_string(), "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
        for bad in ["", "0f1e2d3c4b5a69788796a5b4c3d2e1f0", "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1fg", "é".repeat(36).as_str()] {
            assert!(DocumentId::parse(bad).is_err(), "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_document_id_writes_as_a_uuid_and_reads_back(bytes in proptest::prelude::any::<[u8; 16]>()) {
            let id = DocumentId::from_bytes(bytes);
            let hex = crate::hex::encode(&bytes);
            let uuid = format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..]);
            proptest::prop_assert_eq!(id.to_string(), uuid);
            proptest::prop_assert_eq!(DocumentId::parse(&id.to_string()), Ok(id));
        }
    }

    #[test]
    fn metadata_is_checked_against_the_code_lists() {
        let codes = CodeLists::dmp_default();
        assert_eq!(check_metadata(&xds(), &codes), Ok(()));
        let cases: Vec<(XdsMetadata, &str)> = vec![
            (XdsMetadata { unique_id: String::new(), ..xds() }, "unique_id"),
            (XdsMetadata { type_code: Code::new("http://loinc.org", "0000-0"), ..xds() }, "type_code"),
            (XdsMetadata { class_code: Code::new(CLASS_SYSTEM, "99"), ..xds() }, "class_code"),
            (XdsMetadata { class_code: Code::new(CLASS_SYSTEM, "42"), ..xds() }, "class_code"),
            (XdsMetadata { format_code: Code::new(FORMAT_SYSTEM_IHE, "urn:x"), ..xds() }, "format_code"),
            (XdsMetadata { mime_type: "pdf".into(), ..xds() }, "mime_type"),
            (XdsMetadata { language: "fr_FR".into(), ..xds() }, "language"),
        ];
        for (m, f) in cases {
            match check_metadata(&m, &codes) {
                Err(MetadataError::Field { field, .. }) => assert_eq!(field, f),
                other => panic!("{f}: {other:?}"),
            }
        }
        let err = check_metadata(&XdsMetadata { class_code: Code::new(CLASS_SYSTEM, "42"), ..xds() }, &codes).expect_err("mismatch");
        assert!(err.to_string().contains("belongs to class 10"), "{err}");
    }

    #[test]
    fn lifecycle_transitions() {
        let mut m = meta();
        m.set_archived(true).expect("archive");
        assert!(m.set_archived(true).is_err());
        m.set_archived(false).expect("unarchive");
        m.supersede().expect("supersede");
        assert!(m.withdraw().is_err(), "a superseded version cannot be withdrawn");
        let mut w = meta();
        w.withdraw().expect("withdraw");
        assert_eq!(w.status, DocumentStatus::EnteredInError);
        assert!(w.set_archived(true).is_err());
    }

    #[test]
    fn labels_round_trip() {
        for l in SecurityLabel::ALL {
            assert_eq!(SecurityLabel::parse(l.code()), Some(l));
        }
        assert_eq!(SecurityLabel::parse("N"), None);
    }
}
