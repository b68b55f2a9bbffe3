//! The medical profile: the structured items of a record (allergies, problems, treatments,
//! vaccinations, results and measures, the patient's own declarations), each with where it came
//! from. Pure values: the store keeps an item's [`ItemMeta`] queryable and its [`ItemContent`]
//! sealed under the patient's key; the FHIR layer renders both as R4 resources.
//!
//! What an item says (its code, text, value) is clinical content and lives only in
//! [`ItemContent`]. The metadata holds what reading paths need without opening it: the record,
//! the kind, the source document (whose visibility the item inherits), who recorded it, when, and
//! its status.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::access::{AccessContext, AccessDecision, DenyReason, decide, decide_record};
use crate::document::DocumentId;
use crate::policy::PatientPolicy;
use crate::{Actor, DocumentMeta, Ins};

/// A profile item's id: 16 bytes, written like a document id (lower-case 8-4-4-4-12 hex).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ItemId(DocumentId);

impl ItemId {
    pub fn from_bytes(bytes: [u8; 16]) -> ItemId {
        ItemId(DocumentId::from_bytes(bytes))
    }

    pub fn as_bytes(&self) -> &[u8; 16] {
        self.0.as_bytes()
    }

    /// The same one spelling as a document id.
    pub fn parse(s: &str) -> Result<ItemId, crate::document::DocumentIdError> {
        DocumentId::parse(s).map(ItemId)
    }

    /// The `place`th item of the set `set` (the items read from one document): the set's id with
    /// the place in its last two bytes. Numbered so, a document's items are stored as one row and
    /// an item's id still finds it (through [`ItemId::set_and_place`]).
    pub fn in_set(set: ItemId, place: u16) -> ItemId {
        let mut bytes = *set.as_bytes();
        bytes[14..].copy_from_slice(&place.to_be_bytes());
        ItemId::from_bytes(bytes)
    }

    /// The set an item id would belong to and its place there: the inverse of [`ItemId::in_set`].
    pub fn set_and_place(&self) -> (ItemId, u16) {
        let mut bytes = *self.as_bytes();
        let place = u16::from_be_bytes([bytes[14], bytes[15]]);
        bytes[14..].fill(0);
        (ItemId::from_bytes(bytes), place)
    }
}

impl std::fmt::Display for ItemId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::fmt::Debug for ItemId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ItemId({})", self.0)
    }
}

impl TryFrom<String> for ItemId {
    type Error = crate::document::DocumentIdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        ItemId::parse(&s)
    }
}

impl From<ItemId> for String {
    fn from(id: ItemId) -> String {
        id.to_string()
    }
}

/// What an item is, and so which FHIR resource renders it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ItemKind {
    /// A problem or an antécédent: `Condition`.
    Condition,
    /// An allergy or intolerance: `AllergyIntolerance`.
    Allergy,
    /// A treatment taken: `MedicationStatement`.
    Medication,
    /// A vaccination: `Immunization`.
    Immunization,
    /// A laboratory result: `Observation` of category `laboratory`.
    Result,
    /// A vital sign or measure (weight, height, blood pressure…): `Observation` of category `vital-signs`.
    VitalSign,
    /// The patient's advance directives: whether they exist and where they are (`Consent`).
    AdvanceDirective,
    /// The patient's position on organ donation.
    OrganDonation,
    /// A person to contact (`RelatedPerson`).
    Contact,
}

impl ItemKind {
    pub const ALL: [ItemKind; 9] = [
        ItemKind::Condition,
        ItemKind::Allergy,
        ItemKind::Medication,
        ItemKind::Immunization,
        ItemKind::Result,
        ItemKind::VitalSign,
        ItemKind::AdvanceDirective,
        ItemKind::OrganDonation,
        ItemKind::Contact,
    ];

    /// The spelling stored and used in `/api`.
    pub fn as_str(self) -> &'static str {
        match self {
            ItemKind::Condition => "condition",
            ItemKind::Allergy => "allergy",
            ItemKind::Medication => "medication",
            ItemKind::Immunization => "immunization",
            ItemKind::Result => "result",
            ItemKind::VitalSign => "vital-sign",
            ItemKind::AdvanceDirective => "advance-directive",
            ItemKind::OrganDonation => "organ-donation",
            ItemKind::Contact => "contact",
        }
    }

    pub fn parse(s: &str) -> Option<ItemKind> {
        ItemKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The patient's own declarations, which only the patient (or a representative) records.
    pub fn is_declaration(self) -> bool {
        matches!(self, ItemKind::AdvanceDirective | ItemKind::OrganDonation | ItemKind::Contact)
    }
}

/// Where an item came from (its provenance).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ItemOrigin {
    /// Read from a structured (CDA level 3) document: the item inherits the document's visibility
    /// and follows it when it is replaced or withdrawn. `path` is the entry's place in the document.
    Document { document: DocumentId, path: String },
    /// Entered directly by the patient or a representative: self-declared, shown as such.
    Patient,
    /// Entered directly by a professional (FHIR create with a Provenance, or `/api`).
    Professional,
}

impl ItemOrigin {
    pub fn source_document(&self) -> Option<DocumentId> {
        match self {
            ItemOrigin::Document { document, .. } => Some(*document),
            ItemOrigin::Patient | ItemOrigin::Professional => None,
        }
    }
}

/// An item's lifecycle. A CDA-derived item is `Superseded` when its source is replaced (the
/// replacing document brings its own items) and follows its source's withdrawal through the
/// source's status; a direct item is corrected by a new version or marked entered-in-error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ItemStatus {
    Current,
    Superseded,
    EnteredInError,
}

impl ItemStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ItemStatus::Current => "current",
            ItemStatus::Superseded => "superseded",
            ItemStatus::EnteredInError => "entered-in-error",
        }
    }

    pub fn parse(s: &str) -> Option<ItemStatus> {
        [ItemStatus::Current, ItemStatus::Superseded, ItemStatus::EnteredInError].into_iter().find(|st| st.as_str() == s)
    }
}

/// What Carnet keeps queryable about an item. No clinical content: the code, text and value are
/// in the sealed [`ItemContent`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemMeta {
    pub id: ItemId,
    pub ins: Ins,
    pub kind: ItemKind,
    pub origin: ItemOrigin,
    /// `Actor::reference()` of whoever recorded it: the source document's author for a
    /// CDA-derived item, else the person who entered it.
    pub recorded_by: String,
    pub recorded_at: OffsetDateTime,
    /// When it happened or was observed (for date searches and ordering), when known.
    pub effective: Option<OffsetDateTime>,
    pub status: ItemStatus,
    /// The item this one corrects (a direct item's version chain).
    pub replaces: Option<ItemId>,
}

/// A coded concept: a FHIR `Coding` (system as a URI where one is known, else `urn:oid:…`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Coding {
    pub system: Option<String>,
    pub code: Option<String>,
    pub display: Option<String>,
}

/// A quantity as written (decimal text) and its UCUM unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quantity {
    pub value: String,
    pub unit: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ItemValue {
    Quantity(Quantity),
    Coded(Coding),
    Text { text: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ReferenceRange {
    pub low: Option<Quantity>,
    pub high: Option<Quantity>,
    pub text: Option<String>,
}

/// What an item says: sealed under the patient's key at rest. Dates are FHIR `dateTime` text
/// (`2024`, `2024-01`, `2024-01-15`, or with a time and offset) as precise as the source wrote.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
// Absent fields are empty: a direct entry gives only what it says.
#[serde(default)]
pub struct ItemContent {
    /// What it is: the problem, the allergen, the product, the test, the vaccine.
    pub code: Option<Coding>,
    /// Its text as the source wrote it (a narrative, the patient's words).
    pub text: Option<String>,
    /// Clinical status as the source gave it (`active`, `completed`, `resolved`…).
    pub clinical_status: Option<String>,
    /// The statement is denied: no such allergy, vaccine not given.
    pub negated: bool,
    pub at: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub value: Option<ItemValue>,
    pub reference_range: Option<ReferenceRange>,
    pub interpretation: Option<Coding>,
    /// A vaccine's lot number.
    pub lot: Option<String>,
    /// Who performed it (a vaccination), as the source named them.
    pub performer: Option<String>,
    /// The author's name as the source document or the entering person gave it.
    pub author_name: Option<String>,
    /// For a contact: how to reach them; for advance directives: where they are kept.
    pub details: Option<String>,
}

/// An item as the reading paths hand it out: its metadata and its opened content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileItem {
    pub meta: ItemMeta,
    pub content: ItemContent,
}

/// May this actor see this item? An item read from a document is visible exactly when its
/// source is (`decide` on `source`: masked, invisible to the patient, withdrawn, the matrix…
/// all apply as to the document itself); a missing or mismatched source hides it. A direct item
/// is decided on the actor's standing on the record (`decide_record`). Entered in error, an
/// item is seen only by whoever recorded it (they may need to know what they withdrew).
///
/// Whether a visible item is in the *current* profile is its status's business (superseded and
/// entered-in-error items are history), not this rule's.
pub fn decide_item(
    actor: &Actor,
    ctx: &AccessContext<'_>,
    policy: &PatientPolicy,
    item: &ItemMeta,
    source: Option<&DocumentMeta>,
) -> AccessDecision {
    if item.ins != *ctx.ins {
        return AccessDecision::Deny(DenyReason::OtherRecord);
    }
    let decision = match (&item.origin, source) {
        (ItemOrigin::Document { document, .. }, Some(source)) if source.id == *document && source.ins == item.ins => {
            decide(actor, ctx, policy, source)
        }
        // Fail closed: an item whose source cannot be decided on is not shown.
        (ItemOrigin::Document { .. }, _) => AccessDecision::Deny(DenyReason::OtherRecord),
        (ItemOrigin::Patient | ItemOrigin::Professional, _) => decide_record(actor, ctx, policy),
    };
    if decision.is_permit() && item.status == ItemStatus::EnteredInError && !actor.has_reference(&item.recorded_by) {
        return AccessDecision::Deny(DenyReason::EnteredInError);
    }
    decision
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_spelling_and_serde() {
        for k in ItemKind::ALL {
            assert_eq!(ItemKind::parse(k.as_str()), Some(k));
            assert_eq!(serde_json::to_value(k).expect("serialises"), k.as_str());
        }
        assert_eq!(ItemKind::parse("Condition"), None);
    }

    #[test]
    fn item_ids_have_one_spelling() {
        let id = ItemId::from_bytes([0xab; 16]);
        assert_eq!(ItemId::parse(&id.to_string()), Ok(id));
        assert!(ItemId::parse(&id.to_string().to_uppercase()).is_err());
    }

    proptest::proptest! {
        #[test]
        fn an_items_place_in_its_set_is_found_from_its_id(bytes in proptest::prelude::any::<[u8; 16]>(), place in 0u16..=u16::MAX) {
            let set = ItemId::in_set(ItemId::from_bytes(bytes), 0);
            let id = ItemId::in_set(set, place);
            proptest::prop_assert_eq!(id.set_and_place(), (set, place));
            // The set's first item and the set share an id; distinct places, distinct ids.
            proptest::prop_assert_eq!(ItemId::in_set(set, 0), set);
            if place != 0 {
                proptest::prop_assert_ne!(id, set);
            }
        }
    }
}
