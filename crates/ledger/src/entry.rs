//! What one access decision records: who, which record, what, the outcome and why. Ids and codes
//! only — never clinical content (no titles, no text, no values).

use carnet_domain::Ins;
use serde::{Deserialize, Serialize};

use crate::LedgerError;
use crate::merkle::{Hash, leaf_hash};

/// The largest canonical entry the ledger accepts.
pub const MAX_ENTRY_BYTES: usize = 8 * 1024;

const MAX_CODE: usize = 64;
const MAX_REFERENCE: usize = 512;
const MAX_NAME: usize = 256;
const MAX_APP: usize = 256;
const MAX_TARGET: usize = 256;
const MAX_JUSTIFICATION: usize = 4000;

/// One event. Its canonical bytes are its JSON serialisation in this field order (absent
/// optional fields are omitted); those bytes are what is stored and hashed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// When the decision was taken, Unix milliseconds.
    pub at: i64,
    pub actor: EntryActor,
    /// The patient record concerned, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ins: Option<Ins>,
    /// What was attempted: `document.read`, `document.submit`, `record.close`, `policy.authorize`,
    /// `emergency.bris_de_glace`, `keys.rotate`, …
    pub action: String,
    /// What it was attempted on (e.g. a document id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    pub outcome: Outcome,
    /// Why, as a code (e.g. the policy rule that decided).
    pub reason: String,
    /// An emergency access's written justification, in clear: only in entries written before
    /// justifications were sealed (they must read back and hash as they were). New entries carry
    /// `justification_commitment` instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub justification: Option<String>,
    /// A commitment to an emergency access's written justification ([`JustificationOpening`]):
    /// the text itself is kept sealed under the patient's key, outside the ledger, so that
    /// crypto-shredding the record makes it unreadable while the entry still binds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub justification_commitment: Option<String>,
}

/// Separates justification commitments from every other SHA-256 Carnet computes.
const JUSTIFICATION_DOMAIN: &[u8] = b"carnet.ledger.justification.v1\0";

/// What opens a justification commitment: a random 32-byte nonce (so that a short or guessable
/// text cannot be found by trying candidates against the commitment) and the text.
#[derive(Clone, PartialEq, Eq)]
pub struct JustificationOpening {
    pub nonce: [u8; 32],
    pub text: String,
}

impl std::fmt::Debug for JustificationOpening {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JustificationOpening(..)")
    }
}

impl JustificationOpening {
    pub fn new(nonce: [u8; 32], text: impl Into<String>) -> JustificationOpening {
        JustificationOpening { nonce, text: text.into() }
    }

    /// `hex(SHA-256("carnet.ledger.justification.v1" ‖ 0x00 ‖ nonce ‖ UTF-8 text))`.
    pub fn commitment(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(JUSTIFICATION_DOMAIN);
        h.update(self.nonce);
        h.update(self.text.as_bytes());
        carnet_domain::hex::encode(&h.finalize())
    }

    /// Whether this opening is the one `commitment` was made of.
    pub fn opens(&self, commitment: &str) -> bool {
        self.commitment() == commitment
    }

    /// The stored form (nonce ‖ UTF-8 text), to be sealed.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(32 + self.text.len());
        bytes.extend_from_slice(&self.nonce);
        bytes.extend_from_slice(self.text.as_bytes());
        bytes
    }

    /// Parses the stored form; `None` if it is not one.
    pub fn from_bytes(bytes: &[u8]) -> Option<JustificationOpening> {
        let (nonce, text) = bytes.split_first_chunk::<32>()?;
        Some(JustificationOpening { nonce: *nonce, text: String::from_utf8(text.to_vec()).ok()? })
    }
}

/// Who acted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryActor {
    /// `rpps:10003456789`, or `iss#sub` for actors without a national identifier.
    pub reference: String,
    /// `patient`, `professional`, `regulator`, `system`, …
    pub role: String,
    /// Display name, for the patient's access history.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// TRE_G15 profession code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profession: Option<String>,
    /// FINESS of the organisation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organisation: Option<String>,
    /// The OAuth client id of the app the actor acted through (a token with granted SMART
    /// scopes). Absent otherwise, so entries written before it existed hash as they did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Permit,
    Deny,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Permit => "permit",
            Outcome::Deny => "deny",
        }
    }
}

impl LedgerEntry {
    /// Checks the entry and returns the bytes the ledger stores and hashes.
    pub fn canonical_bytes(&self) -> Result<Vec<u8>, LedgerError> {
        self.check()?;
        let bytes = serde_json::to_vec(self).map_err(|e| LedgerError::InvalidEntry { field: "entry", problem: e.to_string() })?;
        if bytes.len() > MAX_ENTRY_BYTES {
            return Err(LedgerError::EntryTooLarge { size: bytes.len(), max: MAX_ENTRY_BYTES });
        }
        Ok(bytes)
    }

    /// Parses stored bytes (as written by `canonical_bytes`).
    pub fn from_canonical_bytes(bytes: &[u8]) -> Result<LedgerEntry, LedgerError> {
        serde_json::from_slice(bytes).map_err(|e| LedgerError::Corrupt(format!("a stored entry does not parse: {e}")))
    }

    fn check(&self) -> Result<(), LedgerError> {
        if self.at < 0 {
            return Err(invalid("at", "must be Unix milliseconds, not negative".into()));
        }
        code("actor.role", &self.actor.role)?;
        text("actor.reference", &self.actor.reference, MAX_REFERENCE, false)?;
        if self.actor.reference.is_empty() {
            return Err(invalid("actor.reference", "is empty".into()));
        }
        if let Some(name) = &self.actor.name {
            text("actor.name", name, MAX_NAME, false)?;
        }
        if let Some(profession) = &self.actor.profession {
            code("actor.profession", profession)?;
        }
        if let Some(organisation) = &self.actor.organisation {
            code("actor.organisation", organisation)?;
        }
        if let Some(app) = &self.actor.app {
            text("actor.app", app, MAX_APP, false)?;
            if app.is_empty() {
                return Err(invalid("actor.app", "is empty".into()));
            }
        }
        code("action", &self.action)?;
        if let Some(target) = &self.target {
            text("target", target, MAX_TARGET, false)?;
        }
        code("reason", &self.reason)?;
        if let Some(justification) = &self.justification {
            text("justification", justification, MAX_JUSTIFICATION, true)?;
        }
        if let Some(commitment) = &self.justification_commitment
            && (commitment.len() != 64 || !commitment.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        {
            return Err(invalid("justification_commitment", "must be 64 lower-case hexadecimal digits".into()));
        }
        Ok(())
    }
}

fn invalid(field: &'static str, problem: String) -> LedgerError {
    LedgerError::InvalidEntry { field, problem }
}

/// A code: 1 to 64 of `A–Z a–z 0–9 . _ - :`.
fn code(field: &'static str, value: &str) -> Result<(), LedgerError> {
    if value.is_empty() || value.len() > MAX_CODE {
        return Err(invalid(field, format!("must be 1 to {MAX_CODE} characters, found {}", value.chars().count())));
    }
    if let Some(c) = value.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':'))) {
        return Err(invalid(field, format!("is a code: {c:?} is not allowed (letters, digits, '.', '_', '-', ':')")));
    }
    Ok(())
}

/// Free text of bounded length without control characters (line breaks allowed in `multiline`).
fn text(field: &'static str, value: &str, max: usize, multiline: bool) -> Result<(), LedgerError> {
    let count = value.chars().count();
    if count > max {
        return Err(invalid(field, format!("must be at most {max} characters, found {count}")));
    }
    if value.chars().any(|c| c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t'))) {
        return Err(invalid(field, "contains a control character".into()));
    }
    Ok(())
}

/// An entry as the ledger holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedEntry {
    /// Its leaf index, from 0.
    pub index: u64,
    pub entry: LedgerEntry,
    /// The stored canonical bytes: what the leaf hash covers.
    pub bytes: Vec<u8>,
}

impl RecordedEntry {
    pub fn leaf_hash(&self) -> Hash {
        leaf_hash(&self.bytes)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> LedgerEntry {
        LedgerEntry {
            at: 1_767_225_600_000,
            actor: EntryActor {
                reference: "rpps:10003456789".into(),
                role: "professional".into(),
                name: Some("Dr Claire Martin".into()),
                profession: Some("10".into()),
                organisation: Some("750712184".into()),
                app: None,
            },
            ins: Some(Ins::parse("184127645108946").unwrap()),
            action: "document.read".into(),
            target: Some("doc-1".into()),
            outcome: Outcome::Permit,
            reason: "authorized".into(),
            justification: None,
            justification_commitment: None,
        }
    }

    #[test]
    fn canonical_bytes_follow_the_struct_order_and_omit_absent_fields() {
        let bytes = sample().canonical_bytes().unwrap();
        assert_eq!(
            String::from_utf8(bytes.clone()).unwrap(),
            r#"{"at":1767225600000,"actor":{"reference":"rpps:10003456789","role":"professional","name":"Dr Claire Martin","profession":"10","organisation":"750712184"},"ins":"184127645108946","action":"document.read","target":"doc-1","outcome":"permit","reason":"authorized"}"#
        );
        assert_eq!(LedgerEntry::from_canonical_bytes(&bytes).unwrap(), sample());
    }

    #[test]
    fn the_app_is_written_only_when_there_is_one() {
        let mut e = sample();
        e.actor.app = Some("agenda-sante".into());
        let bytes = String::from_utf8(e.canonical_bytes().unwrap()).unwrap();
        assert!(bytes.contains(r#""organisation":"750712184","app":"agenda-sante"},"ins""#), "{bytes}");
        assert_eq!(LedgerEntry::from_canonical_bytes(bytes.as_bytes()).unwrap(), e);
        // An entry written before the field existed reads back and hashes the same.
        let before = sample().canonical_bytes().unwrap();
        assert!(!String::from_utf8_lossy(&before).contains("app"));
        assert_eq!(LedgerEntry::from_canonical_bytes(&before).unwrap().canonical_bytes().unwrap(), before);
    }

    #[test]
    fn bad_entries_are_refused_naming_the_field() {
        type Change = Box<dyn Fn(&mut LedgerEntry)>;
        let cases: Vec<(&str, Change)> = vec![
            ("at", Box::new(|e| e.at = -1)),
            ("action", Box::new(|e| e.action = "read the note".into())),
            ("action", Box::new(|e| e.action = String::new())),
            ("reason", Box::new(|e| e.reason = "x".repeat(65))),
            ("actor.role", Box::new(|e| e.actor.role = "doctor\n".into())),
            ("actor.reference", Box::new(|e| e.actor.reference = String::new())),
            ("actor.name", Box::new(|e| e.actor.name = Some("a\u{7}b".into()))),
            ("actor.app", Box::new(|e| e.actor.app = Some(String::new()))),
            ("actor.app", Box::new(|e| e.actor.app = Some("a".repeat(257)))),
            ("actor.app", Box::new(|e| e.actor.app = Some("app\nx".into()))),
            ("target", Box::new(|e| e.target = Some("t".repeat(300)))),
            ("justification", Box::new(|e| e.justification = Some("j".repeat(4001)))),
            ("justification_commitment", Box::new(|e| e.justification_commitment = Some("ab".into()))),
            ("justification_commitment", Box::new(|e| e.justification_commitment = Some("A".repeat(64)))),
        ];
        for (field, change) in cases {
            let mut e = sample();
            change(&mut e);
            match e.canonical_bytes() {
                Err(LedgerError::InvalidEntry { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
        let mut e = sample();
        e.justification = Some("Patient inconscient,\narrêt cardiaque.".into());
        assert!(e.canonical_bytes().is_ok());
    }

    #[test]
    fn oversized_entries_are_refused_with_their_size() {
        let mut e = sample();
        e.justification = Some("é".repeat(4000));
        e.actor.reference = "r".repeat(512);
        match e.canonical_bytes() {
            Err(LedgerError::EntryTooLarge { size, max }) => {
                assert!(size > max);
                assert_eq!(max, 8192);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn stored_bytes_that_do_not_parse_are_reported_as_corruption() {
        assert!(matches!(LedgerEntry::from_canonical_bytes(b"{\"at\":"), Err(LedgerError::Corrupt(_))));
        let bad_ins = String::from_utf8(sample().canonical_bytes().unwrap()).unwrap().replace("46\"", "45\"");
        assert!(matches!(LedgerEntry::from_canonical_bytes(bad_ins.as_bytes()), Err(LedgerError::Corrupt(_))));
    }

    #[test]
    fn an_entry_with_a_commitment_carries_no_text_and_old_entries_hash_as_before() {
        let opening = JustificationOpening::new([7; 32], "Patient inconscient aux urgences");
        let mut e = sample();
        e.justification_commitment = Some(opening.commitment());
        let bytes = String::from_utf8(e.canonical_bytes().unwrap()).unwrap();
        assert!(!bytes.contains("inconscient"), "{bytes}");
        assert!(bytes.ends_with(&format!(r#""reason":"authorized","justification_commitment":"{}"}}"#, opening.commitment())), "{bytes}");
        assert_eq!(LedgerEntry::from_canonical_bytes(bytes.as_bytes()).unwrap(), e);
        // An entry written with its justification in clear, before commitments existed.
        let old = r#"{"at":1767225600000,"actor":{"reference":"rpps:10003456789","role":"professional"},"ins":"184127645108946","action":"emergency.bris_de_glace","outcome":"permit","reason":"emergency","justification":"Malaise"}"#;
        let parsed = LedgerEntry::from_canonical_bytes(old.as_bytes()).unwrap();
        assert_eq!(parsed.justification.as_deref(), Some("Malaise"));
        assert_eq!(parsed.canonical_bytes().unwrap(), old.as_bytes());
    }

    #[test]
    fn an_opening_opens_its_commitment_only() {
        let opening = JustificationOpening::new([7; 32], "Patient inconscient aux urgences");
        let commitment = opening.commitment();
        assert_eq!(commitment.len(), 64);
        assert!(opening.opens(&commitment));
        assert!(!JustificationOpening::new([7; 32], "Patient conscient aux urgences").opens(&commitment), "a swapped text");
        assert!(!JustificationOpening::new([8; 32], "Patient inconscient aux urgences").opens(&commitment), "another nonce");
        assert_eq!(JustificationOpening::from_bytes(&opening.to_bytes()), Some(opening));
        assert_eq!(JustificationOpening::from_bytes(&[0; 31]), None);
    }

    proptest::proptest! {
        #[test]
        fn any_changed_text_or_nonce_is_caught(nonce: [u8; 32], text in "\\PC{0,200}", other in "\\PC{0,200}", flip in 0usize..32) {
            let opening = JustificationOpening::new(nonce, text.clone());
            let commitment = opening.commitment();
            proptest::prop_assert!(opening.opens(&commitment));
            proptest::prop_assert_eq!(JustificationOpening::from_bytes(&opening.to_bytes()).map(|o| o.opens(&commitment)), Some(true));
            proptest::prop_assert_eq!(JustificationOpening::new(nonce, other.clone()).opens(&commitment), other == text);
            let mut changed = nonce;
            changed[flip] ^= 1;
            proptest::prop_assert!(!JustificationOpening::new(changed, text).opens(&commitment));
        }
    }
}
