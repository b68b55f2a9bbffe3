//! The medical profile (docs/profile.md): items read from CDA level 3 deposits and entered
//! directly, each sealed under the patient's key and shown only through the gate.
//!
//! Visibility is the source's (`carnet_domain::profile::decide_item`): an item read from a
//! document is visible exactly when the document is; a direct item on the record's standing.
//! Every read and write is a ledger entry (`profile.read`, `profile.add`, `profile.correct`,
//! `profile.entered_in_error`) with no clinical content: the item's id and a reason code.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use carnet_crypto::{DataKey, PreparedKey};
use carnet_domain::profile::{
    Coding, ItemContent, ItemId, ItemKind, ItemMeta, ItemOrigin, ItemStatus, ItemValue, ProfileItem, Quantity, ReferenceRange, decide_item,
};
use carnet_domain::{AccessDecision, Actor, Basis, DocumentId, DocumentMeta, Ins, Operation, RecordStatus};
use carnet_extract::cda::{Coded, Entry, EntryKind, Timestamp, Value};
use carnet_store::{DocumentStore, ProfileStore, StoredItem};
use time::OffsetDateTime;

use crate::audit::Event;
use crate::gate::Gate;
use crate::{Carnet, Result, ServiceError};

/// What a direct entry says: its kind and content (the content's dates are FHIR `dateTime` text).
#[derive(Debug, Clone)]
pub struct NewItem {
    pub kind: ItemKind,
    pub content: ItemContent,
}

/// Which items a profile read returns.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProfileQuery {
    pub kind: Option<ItemKind>,
    /// Superseded and entered-in-error items too (each still only if visible).
    pub history: bool,
}

/// What is sealed: the content and, for an item read from a document, its place there.
#[derive(serde::Serialize, serde::Deserialize)]
struct SealedItem {
    path: Option<String>,
    content: ItemContent,
}

/// Bound into each item's sealing: a blob copied to another row does not open there.
fn item_context(id: ItemId) -> Vec<u8> {
    format!("carnet.profile-item:{id}").into_bytes()
}

/// `SealedItem` as written: borrowed, so that sealing copies nothing (a deposit seals ~50).
#[derive(serde::Serialize)]
struct SealedItemRef<'a> {
    path: Option<&'a str>,
    content: &'a ItemContent,
}

/// What an item's JSON says again and again (keys, the path to a CDA entry, code systems, empty
/// fields), as LZ4's dictionary: an item compresses to about a third, and a deposit of fifty
/// writes that much less. Never change it: items sealed with it decompress only with it (a new
/// dictionary takes a new leading byte, see `COMPRESSED`).
const ITEM_DICTIONARY: &[u8] = br#"{"system":"http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation","code":"N","display":"Normal"}{"system":"urn:oid:1.2.250.1.213.2.3.1","code":""}{"system":"http://www.whocc.no/atc","code":""}{"system":"http://unitsofmeasure.org","code":""}{"system":"http://hl7.org/fhir/sid/icd-10","code":""}{"system":"http://snomed.info/sct","code":""},"reference_range":{"low":{"value":"","unit":""},"high":{"value":"","unit":""},"text":null},"interpretation":null,"value":{"type":"text","text":""},"value":{"type":"coded","system":"http://loinc.org","code":"","display":""},"clinical_status":"active","clinical_status":"completed","negated":true,"lot":"","performer":"","/entryRelationship/substanceAdministration/consumable/manufacturedProduct/organizer/component/procedure","text":null,"clinical_status":null,"negated":false,"at":null,"from":null,"to":null,"value":{"type":"quantity","value":"","unit":""},"reference_range":null,"interpretation":null,"lot":null,"performer":null,"author_name":null,"details":null}}{"path":"/ClinicalDocument/component/structuredBody/component[1]/section/entry[1]/act/entryRelationship/observation","content":{"code":{"system":"http://loinc.org","code":"","display":""},"text":""#;

/// The first byte of an item's sealed plaintext when it is compressed (LZ4 block with
/// `ITEM_DICTIONARY`, its size first); items sealed before compression start with `{`.
const COMPRESSED: u8 = 1;

/// Larger than any item a deposit or a person makes (a CDA entry's text is bounded by the
/// reader, a typed one by `TEXT_LIMITS`): a plaintext that says otherwise does not open.
const MAX_ITEM_PLAINTEXT: usize = 4 * 1024 * 1024;

fn seal_item(key: &PreparedKey, meta: ItemMeta, content: &ItemContent) -> Result<StoredItem> {
    let path = match &meta.origin {
        ItemOrigin::Document { path, .. } => Some(path.as_str()),
        _ => None,
    };
    let json = serde_json::to_vec(&SealedItemRef { path, content }).map_err(|e| ServiceError::Invalid(format!("profile item: {e}")))?;
    let mut plain = Vec::with_capacity(1 + 4 + lz4_flex::block::get_maximum_output_size(json.len()));
    plain.push(COMPRESSED);
    plain.extend_from_slice(&lz4_flex::block::compress_prepend_size_with_dict(&json, ITEM_DICTIONARY));
    let sealed = key.seal(&item_context(meta.id), &plain);
    Ok(StoredItem { meta, sealed })
}

/// An item's JSON from its sealed plaintext: compressed, or as written before compression.
fn item_json(plain: &[u8]) -> Option<std::borrow::Cow<'_, [u8]>> {
    match plain.split_first()? {
        (b'{', _) => Some(std::borrow::Cow::Borrowed(plain)),
        (&COMPRESSED, rest) => {
            let size = usize::try_from(u32::from_le_bytes(rest.get(..4)?.try_into().ok()?)).ok()?;
            if size > MAX_ITEM_PLAINTEXT {
                return None;
            }
            let mut json = vec![0; size];
            let written = lz4_flex::block::decompress_into_with_dict(&rest[4..], &mut json, ITEM_DICTIONARY).ok()?;
            (written == size).then_some(std::borrow::Cow::Owned(json))
        }
        _ => None,
    }
}

fn open_item(key: &PreparedKey, stored: &StoredItem) -> Result<ProfileItem> {
    let integrity = || ServiceError::Crypto(carnet_crypto::CryptoError::Integrity("profile item"));
    let plain = key.open(&item_context(stored.meta.id), &stored.sealed).map_err(|_| integrity())?;
    let json = item_json(&plain).ok_or_else(integrity)?;
    let sealed: SealedItem = serde_json::from_slice(&json).map_err(|_| integrity())?;
    let mut meta = stored.meta.clone();
    if let (ItemOrigin::Document { path, .. }, Some(sealed_path)) = (&mut meta.origin, sealed.path) {
        *path = sealed_path;
    }
    Ok(ProfileItem { meta, content: sealed.content })
}

/// Time-ordered (UUIDv7): a deposit's items take neighbouring ids, after every earlier item's,
/// so their primary-key entries land on one or two index pages. Random ids dirtied one page
/// each, ~50 pages per structured deposit written to SQLite's log and checkpointed back.
fn new_item_id() -> ItemId {
    ItemId::from_bytes(*uuid::Uuid::now_v7().as_bytes())
}

/// The profile kind of a CDA entry; `Other` (a section this reader does not map) is no item.
fn item_kind(kind: EntryKind) -> Option<ItemKind> {
    Some(match kind {
        EntryKind::Condition => ItemKind::Condition,
        EntryKind::Allergy => ItemKind::Allergy,
        EntryKind::Medication => ItemKind::Medication,
        EntryKind::Immunization => ItemKind::Immunization,
        EntryKind::Result => ItemKind::Result,
        EntryKind::VitalSign => ItemKind::VitalSign,
        EntryKind::Other => return None,
    })
}

fn coding(c: &Coded) -> Coding {
    Coding { system: c.system_uri(), code: c.code.clone(), display: c.display.clone() }
}

fn quantity(q: &carnet_extract::cda::Quantity) -> Quantity {
    Quantity { value: q.value.clone(), unit: q.unit.clone() }
}

/// An HL7 timestamp as FHIR `dateTime` text, as precise as written. FHIR wants a time with its
/// offset: a time written without a zone keeps its date only (the time's meaning is unknown).
pub(crate) fn fhir_date_time(ts: &Timestamp) -> String {
    let s = ts.as_str();
    let (main, zone) = match s.find(['+', '-']) {
        Some(i) => (&s[..i], Some(&s[i..])),
        None => (s, None),
    };
    let (digits, fraction) = main.split_once('.').map_or((main, None), |(d, f)| (d, Some(f)));
    let part = |from: usize| digits.get(from..from + 2);
    let year = digits.get(..4).unwrap_or(digits);
    let date = match (part(4), part(6)) {
        (Some(m), Some(d)) => format!("{year}-{m}-{d}"),
        (Some(m), None) => return format!("{year}-{m}"),
        _ => return year.to_owned(),
    };
    let (Some(zone), Some(hour)) = (zone, part(8)) else { return date };
    let minute = part(10).unwrap_or("00");
    let second = part(12).unwrap_or("00");
    let fraction = fraction.map(|f| format!(".{f}")).unwrap_or_default();
    let offset = if zone.len() == 5 { format!("{}:{}", &zone[..3], &zone[3..]) } else { zone.to_owned() };
    format!("{date}T{hour}:{minute}:{second}{fraction}{offset}")
}

/// The instant a FHIR `dateTime` text starts at (a date at midnight UTC), for ordering and searches.
pub(crate) fn instant_of(text: &str) -> Option<OffsetDateTime> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Some(t);
    }
    let mut parts = text.splitn(3, '-');
    let year: i32 = parts.next().filter(|y| y.len() == 4)?.parse().ok()?;
    let month: u8 = parts.next().map(str::parse).transpose().ok()?.unwrap_or(1);
    let day: u8 = parts.next().map(str::parse).transpose().ok()?.unwrap_or(1);
    let date = time::Date::from_calendar_date(year, time::Month::try_from(month).ok()?, day).ok()?;
    Some(date.midnight().assume_utc())
}

/// One item's content from a CDA entry.
fn entry_content(entry: &Entry, author_name: Option<String>) -> ItemContent {
    ItemContent {
        code: entry.code.as_ref().map(coding),
        text: entry.text.clone(),
        clinical_status: entry.status.clone(),
        negated: entry.negated,
        at: entry.at.as_ref().map(fhir_date_time),
        from: entry.from.as_ref().map(fhir_date_time),
        to: entry.to.as_ref().map(fhir_date_time),
        value: entry.value.as_ref().map(|v| match v {
            Value::Quantity(q) => ItemValue::Quantity(quantity(q)),
            Value::Coded(c) => ItemValue::Coded(coding(c)),
            Value::Text(t) => ItemValue::Text { text: t.clone() },
        }),
        reference_range: entry.reference_range.as_ref().map(|r| ReferenceRange {
            low: r.low.as_ref().map(quantity),
            high: r.high.as_ref().map(quantity),
            text: r.text.clone(),
        }),
        interpretation: entry.interpretation.as_ref().map(coding),
        lot: entry.lot.clone(),
        performer: entry.performer.clone(),
        author_name,
        details: None,
    }
}

/// The items of a deposited document's entries, sealed: one per mapped entry.
pub(crate) fn items_of_entries(key: &DataKey, document: &DocumentMeta, entries: &[Entry], now: OffsetDateTime) -> Result<Vec<StoredItem>> {
    let author_name = document
        .author_name
        .as_ref()
        .map(|n| [n.given.as_deref(), n.family.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(" "))
        .filter(|n| !n.is_empty());
    // Numbered as one set (stored as one row); a document of more items than a set numbers
    // (65,536) has its items stored one row each.
    let key = key.prepared();
    let set = ItemId::in_set(new_item_id(), 0);
    let mut places = (0..=u16::MAX).map(|place| ItemId::in_set(set, place));
    let mut items = Vec::new();
    for entry in entries {
        let Some(kind) = item_kind(entry.kind) else { continue };
        let content = entry_content(entry, author_name.clone());
        let effective = content.at.as_deref().or(content.from.as_deref()).and_then(instant_of);
        let meta = ItemMeta {
            id: places.next().unwrap_or_else(new_item_id),
            ins: document.ins.clone(),
            kind,
            origin: ItemOrigin::Document { document: document.id, path: entry.path.clone() },
            recorded_by: document.author.clone(),
            recorded_at: now,
            effective,
            status: ItemStatus::Current,
            replaces: None,
        };
        items.push(seal_item(&key, meta, &content)?);
    }
    Ok(items)
}

/// Whether the actor holds the record (the patient or a current representative).
fn is_holder(decision: AccessDecision) -> bool {
    matches!(decision, AccessDecision::Permit(Basis::Patient | Basis::Representative))
}

impl Carnet {
    /// The record's profile as the actor may see it: current items (or every status with
    /// `history`), of one kind or all. A record the actor may not consult answers as a missing one.
    pub async fn profile(&self, actor: &Actor, ins: &Ins, query: ProfileQuery) -> Result<Vec<ProfileItem>> {
        let documents = self.scoped(actor, Operation::ReadProfile, Some(ins)).await?;
        let Some((_, gate, generation)) = self.record_and_gate(actor, ins, documents).await? else {
            self.record_event(actor, Event::deny("profile.read", Some(ins), None, "not_found")).await?;
            return Err(ServiceError::NotFound("record"));
        };
        let standing = gate.record_decision();
        if standing.is_permit() {
            self.guard_opening(&gate).await?;
        }
        let stored = self.db.find_items_at(ins, generation).await?;
        let sources: HashMap<DocumentId, Arc<DocumentMeta>> = if stored.iter().any(|i| i.meta.origin.source_document().is_some()) {
            self.db.find_documents_at(ins, generation).await?.into_iter().map(|(meta, _)| (meta.id, meta)).collect()
        } else {
            HashMap::new()
        };
        let visible = VisibleItems::of(&gate, &stored, &sources, &query);
        if !standing.is_permit() && visible.items.is_empty() {
            // Nothing to show and no standing: the answer of a missing record.
            self.record_event(actor, Event::decided("profile.read", Some(ins), None, standing)).await?;
            return Err(ServiceError::NotFound("record"));
        }
        let items = self.open_visible_items(ins, visible).await?;
        self.record_event(actor, Event::decided("profile.read", Some(ins), Some(format!("returned:{}", items.len())), standing)).await?;
        if standing.is_permit() {
            self.note_consultation(&gate).await?;
        }
        Ok(items)
    }

    /// The profile as [`Carnet::profile`] reads it, with the register of the record's INS that
    /// renderings name the patient by.
    pub async fn profile_and_ins_kind(
        &self,
        actor: &Actor,
        ins: &Ins,
        query: ProfileQuery,
    ) -> Result<(Vec<ProfileItem>, carnet_domain::InsKind)> {
        let items = self.profile(actor, ins, query).await?;
        Ok((items, self.live_record(ins).await?.ins_kind))
    }

    /// One item by its id, through the same read as the whole profile: an item the actor may
    /// not see answers exactly as a missing one.
    pub async fn profile_item(&self, actor: &Actor, id: ItemId) -> Result<(ProfileItem, carnet_domain::InsKind)> {
        let Some(stored) = self.db.find_item(id).await? else { return Err(ServiceError::NotFound("profile item")) };
        let query = ProfileQuery { kind: Some(stored.meta.kind), history: true };
        let (items, kind) = match self.profile_and_ins_kind(actor, &stored.meta.ins, query).await {
            Err(ServiceError::NotFound(_)) => return Err(ServiceError::NotFound("profile item")),
            other => other?,
        };
        let item = items.into_iter().find(|i| i.meta.id == id).ok_or(ServiceError::NotFound("profile item"))?;
        Ok((item, kind))
    }

    /// Structured data from feeding software (the Synthea import): items recorded by the system
    /// actor as professional entries, visible on the record's standing. Only a system actor
    /// imports, into an active record; a record that already holds this actor's items is left
    /// as it is, so an import run twice adds nothing. Returns how many items were added.
    pub async fn import_profile_items(&self, actor: &Actor, ins: &Ins, items: Vec<(ItemKind, ItemContent)>) -> Result<usize> {
        if !matches!(actor.kind, carnet_domain::ActorKind::System { .. }) {
            return Err(ServiceError::Forbidden("only feeding software imports profile items".into()));
        }
        let record = self.live_record(ins).await?;
        if record.status != RecordStatus::Active {
            return Err(ServiceError::Conflict(format!("the record is {}: nothing is added to it", record.status.as_str())));
        }
        let me = actor.reference();
        if items.is_empty() || self.db.find_items_of(ins, None).await?.iter().any(|i| i.meta.recorded_by == me) {
            return Ok(0);
        }
        let key = self.data_key_or_create(ins).await?.prepared();
        let now = self.now();
        let mut sealed = Vec::with_capacity(items.len());
        for (kind, content) in items {
            if kind.is_declaration() || check_content(&content).is_err() {
                continue;
            }
            let meta = ItemMeta {
                id: new_item_id(),
                ins: ins.clone(),
                kind,
                origin: ItemOrigin::Professional,
                recorded_by: me.clone(),
                recorded_at: now,
                effective: effective_of(&content),
                status: ItemStatus::Current,
                replaces: None,
            };
            let content = ItemContent { author_name: actor.name.clone(), ..content };
            sealed.push(seal_item(&key, meta, &content)?);
        }
        self.record_event(actor, Event::permit("profile.import", Some(ins), Some(format!("added:{}", sealed.len())), "system_feed"))
            .await?;
        // One transaction: a crash mid-import leaves no partial profile, which a rerun would take
        // for a complete one (it adds nothing to a record holding this actor's items).
        self.db.insert_items(&sealed).await?;
        Ok(sealed.len())
    }

    /// Opens the items `VisibleItems::of` let through.
    pub(crate) async fn open_visible_items(&self, ins: &Ins, visible: VisibleItems<'_>) -> Result<Vec<ProfileItem>> {
        let VisibleItems { items, seen } = visible;
        let mut items = self.open_items(ins, items).await?;
        for item in &mut items {
            // A patient's correction of an item read from a document the reader may not see
            // (masked from professionals) does not point at it: the id would say it exists.
            if item.meta.replaces.is_some_and(|r| !seen.contains(&r)) {
                item.meta.replaces = None;
            }
        }
        Ok(items)
    }

    async fn open_items(&self, ins: &Ins, stored: Vec<&StoredItem>) -> Result<Vec<ProfileItem>> {
        if stored.is_empty() {
            return Ok(vec![]);
        }
        let key = self.data_key(ins).await?.ok_or(ServiceError::NotFound("record"))?;
        let key = key.prepared();
        stored.into_iter().map(|s| open_item(&key, s)).collect()
    }

    /// A direct entry: the patient (or a representative) adds self-declared items and the
    /// declarations; a professional with standing adds clinical items.
    pub async fn add_profile_item(&self, actor: &Actor, ins: &Ins, item: NewItem) -> Result<ProfileItem> {
        let documents = self.scoped(actor, Operation::WriteProfile, Some(ins)).await?;
        let gate = self.writable_gate(actor, ins, documents, "profile.add").await?;
        let standing = gate.record_decision();
        let origin = if is_holder(standing) { ItemOrigin::Patient } else { ItemOrigin::Professional };
        if origin == ItemOrigin::Professional && item.kind.is_declaration() {
            self.record_event(actor, Event::deny("profile.add", Some(ins), None, "declaration_is_the_patients")).await?;
            return Err(ServiceError::Forbidden(format!(
                "kind {}: advance directives, organ donation and people to contact are the patient's own declarations",
                item.kind.as_str()
            )));
        }
        let now = self.now();
        let meta = ItemMeta {
            id: new_item_id(),
            ins: ins.clone(),
            kind: item.kind,
            origin,
            recorded_by: actor.reference(),
            recorded_at: now,
            effective: effective_of(&item.content),
            status: ItemStatus::Current,
            replaces: None,
        };
        let content = ItemContent { author_name: actor.name.clone(), ..item.content };
        check_content(&content)?;
        self.record_event(actor, Event::decided("profile.add", Some(ins), Some(meta.id.to_string()), standing)).await?;
        let key = self.data_key_or_create(ins).await?;
        let stored = seal_item(&key.prepared(), meta.clone(), &content)?;
        self.db.insert_items(std::slice::from_ref(&stored)).await?;
        Ok(ProfileItem { meta, content })
    }

    /// A correction by the item's author or the patient: a new version that replaces it. The
    /// patient may also correct an item read from a document: her statement, self-declared,
    /// replaces it in the current profile, and the document's stays in the history.
    pub async fn correct_profile_item(&self, actor: &Actor, ins: &Ins, id: ItemId, item: NewItem) -> Result<ProfileItem> {
        let documents = self.scoped(actor, Operation::WriteProfile, Some(ins)).await?;
        let gate = self.writable_gate(actor, ins, documents, "profile.correct").await?;
        let old = self.changeable(&gate, id, "profile.correct", true).await?;
        if item.kind != old.kind {
            return Err(ServiceError::Invalid(format!("kind: a correction keeps the item's kind ({})", old.kind.as_str())));
        }
        let standing = gate.record_decision();
        let now = self.now();
        let meta = ItemMeta {
            id: new_item_id(),
            ins: ins.clone(),
            kind: old.kind,
            origin: if is_holder(standing) { ItemOrigin::Patient } else { ItemOrigin::Professional },
            recorded_by: actor.reference(),
            recorded_at: now,
            effective: effective_of(&item.content),
            status: ItemStatus::Current,
            replaces: Some(old.id),
        };
        let content = ItemContent { author_name: actor.name.clone(), ..item.content };
        check_content(&content)?;
        self.record_event(actor, Event::decided("profile.correct", Some(ins), Some(old.id.to_string()), standing)).await?;
        let key = self.data_key_or_create(ins).await?;
        let stored = seal_item(&key.prepared(), meta.clone(), &content)?;
        self.db.correct_item(old.id, &stored).await.map_err(stale_item)?;
        Ok(ProfileItem { meta, content })
    }

    /// Marks a direct item entered in error (its author or the patient): from then on only its
    /// recorder sees it.
    pub async fn mark_profile_item_entered_in_error(&self, actor: &Actor, ins: &Ins, id: ItemId) -> Result<()> {
        let documents = self.scoped(actor, Operation::WriteProfile, Some(ins)).await?;
        let gate = self.writable_gate(actor, ins, documents, "profile.entered_in_error").await?;
        let old = self.changeable(&gate, id, "profile.entered_in_error", false).await?;
        self.record_event(actor, Event::decided("profile.entered_in_error", Some(ins), Some(old.id.to_string()), gate.record_decision()))
            .await?;
        self.db.mark_item_entered_in_error(old.id).await.map_err(stale_item)
    }

    /// The gate of a record the actor writes to: it must consult it (else: missing) and it must
    /// be active.
    async fn writable_gate<'a>(
        &'a self,
        actor: &'a Actor,
        ins: &Ins,
        documents: carnet_domain::DocumentScope,
        action: &'static str,
    ) -> Result<Gate<'a>> {
        let Some((_, gate, _)) = self.record_and_gate(actor, ins, documents).await? else {
            self.record_event(actor, Event::deny(action, Some(ins), None, "not_found")).await?;
            return Err(ServiceError::NotFound("record"));
        };
        let standing = gate.record_decision();
        if !standing.is_permit() {
            self.record_event(actor, Event::decided(action, Some(ins), None, standing)).await?;
            return Err(ServiceError::NotFound("record"));
        }
        if gate.record_status != RecordStatus::Active {
            self.record_event(actor, Event::deny(action, Some(ins), None, "record_not_active")).await?;
            return Err(ServiceError::Conflict(format!("the record is {}: its profile is not changed", gate.record_status.as_str())));
        }
        Ok(gate)
    }

    /// A current item of the gate's record that the actor may change: its author or the patient
    /// (someone else's: `Forbidden`; hidden or missing: `NotFound`). An item read from a document
    /// is its author's to correct by replacing the document (`Conflict`); the patient corrects it
    /// with her own statement when `patient_on_documents` (a correction), but does not withdraw
    /// it (masking the document is how she hides what a professional wrote).
    async fn changeable(&self, gate: &Gate<'_>, id: ItemId, action: &'static str, patient_on_documents: bool) -> Result<ItemMeta> {
        let ins = &gate.ins;
        let stored = self.db.find_item(id).await?.filter(|i| i.meta.ins == *ins);
        let source = match stored.as_ref().and_then(|i| i.meta.origin.source_document()) {
            Some(d) => self.db.find_document(d).await?.map(|(meta, _)| meta),
            None => None,
        };
        let Some(item) =
            stored.filter(|i| decide_item(gate.actor, &gate.label_context(), gate.policy(), &i.meta, source.as_ref()).is_permit())
        else {
            self.record_event(gate.actor, Event::deny(action, Some(ins), Some(id.to_string()), "not_found")).await?;
            return Err(ServiceError::NotFound("profile item"));
        };
        let meta = item.meta;
        let holder = is_holder(gate.record_decision());
        if !(gate.actor.has_reference(&meta.recorded_by) || holder) {
            self.record_event(gate.actor, Event::deny(action, Some(ins), Some(id.to_string()), "not_author")).await?;
            return Err(ServiceError::Forbidden("only the item's author or the patient changes it".into()));
        }
        if meta.origin.source_document().is_some() && !(holder && patient_on_documents) {
            self.record_event(gate.actor, Event::deny(action, Some(ins), Some(id.to_string()), "from_a_document")).await?;
            let how = if holder {
                "an item read from a document is corrected, not withdrawn: correct it, or mask the document"
            } else {
                "an item read from a document is corrected by replacing the document"
            };
            return Err(ServiceError::Conflict(how.into()));
        }
        if meta.status != ItemStatus::Current {
            return Err(ServiceError::Conflict(format!("the item is {}: only a current item is changed", meta.status.as_str())));
        }
        Ok(meta)
    }
}

fn stale_item(e: carnet_store::StoreError) -> ServiceError {
    match e {
        carnet_store::StoreError::Stale(_) => ServiceError::Conflict("the item was changed meanwhile: read it again".into()),
        other => other.into(),
    }
}

/// The stored items a reader may see, before they are opened: those the query asks for, and
/// the ids of every item the gate lets through (the query aside), which says which corrections
/// may name what they replace.
pub(crate) struct VisibleItems<'s> {
    items: Vec<&'s StoredItem>,
    seen: HashSet<ItemId>,
}

impl<'s> VisibleItems<'s> {
    pub(crate) fn of(
        gate: &Gate<'_>,
        stored: &'s [StoredItem],
        sources: &HashMap<DocumentId, Arc<DocumentMeta>>,
        query: &ProfileQuery,
    ) -> VisibleItems<'s> {
        let seen: HashSet<ItemId> = stored.iter().filter(|i| item_visible(gate, &i.meta, sources)).map(|i| i.meta.id).collect();
        let items = stored
            .iter()
            .filter(|i| query.kind.is_none_or(|k| i.meta.kind == k))
            .filter(|i| query.history || i.meta.status == ItemStatus::Current)
            .filter(|i| seen.contains(&i.meta.id))
            .collect();
        VisibleItems { items, seen }
    }
}

fn item_visible(gate: &Gate<'_>, item: &ItemMeta, sources: &HashMap<DocumentId, Arc<DocumentMeta>>) -> bool {
    let source = item.origin.source_document().and_then(|d| sources.get(&d)).map(|m| &**m);
    // The token's granular document scopes reach an item through its source.
    if source.is_some_and(|s| !gate.in_scope(s)) {
        return false;
    }
    decide_item(gate.actor, &gate.label_context(), gate.policy(), item, source).is_permit()
}

fn effective_of(content: &ItemContent) -> Option<OffsetDateTime> {
    content.at.as_deref().or(content.from.as_deref()).and_then(instant_of)
}

/// Limits on what a person types (the item is sealed, but still stored and shown).
const MAX_TEXT: usize = 4_000;

fn check_content(content: &ItemContent) -> Result<()> {
    for (name, date) in [("at", &content.at), ("from", &content.from), ("to", &content.to)] {
        if let Some(d) = date
            && instant_of(d).is_none()
        {
            return Err(ServiceError::Invalid(format!("{name}: a FHIR dateTime (2024, 2024-01, 2024-01-15 or with a time and offset)")));
        }
    }
    let texts = [&content.text, &content.details, &content.clinical_status, &content.lot, &content.performer];
    if texts.iter().any(|t| t.as_ref().is_some_and(|t| t.chars().count() > MAX_TEXT)) {
        return Err(ServiceError::Invalid(format!("text: at most {MAX_TEXT} characters")));
    }
    if content.code.is_none() && content.text.as_deref().is_none_or(|t| t.trim().is_empty()) && content.details.is_none() {
        return Err(ServiceError::Invalid("an item says something: a code, a text or details".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        Timestamp::parse(s).expect("an HL7 timestamp")
    }

    #[test]
    fn hl7_timestamps_become_fhir_date_times_as_precise_as_written() {
        assert_eq!(fhir_date_time(&ts("2024")), "2024");
        assert_eq!(fhir_date_time(&ts("202401")), "2024-01");
        assert_eq!(fhir_date_time(&ts("20240115")), "2024-01-15");
        assert_eq!(fhir_date_time(&ts("202401151030+0100")), "2024-01-15T10:30:00+01:00");
        assert_eq!(fhir_date_time(&ts("20240115103005.25-0500")), "2024-01-15T10:30:05.25-05:00");
        // A time without its zone cannot be a FHIR dateTime: the date is kept.
        assert_eq!(fhir_date_time(&ts("202401151030")), "2024-01-15");
    }

    fn vsm_items(key: &DataKey) -> (Vec<Entry>, Vec<StoredItem>) {
        let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../extract/tests/cda/vsm.xml")).expect("the VSM test file");
        let doc = carnet_extract::cda::read_cda(&bytes, &Default::default()).expect("a VSM");
        let carnet_extract::cda::Body::Structured { entries, .. } = doc.body else { panic!("a level 3 VSM") };
        let (key, set) = (key.prepared(), ItemId::in_set(new_item_id(), 0));
        let document = DocumentId::from_bytes([7; 16]);
        let items = (0u16..)
            .zip(&entries)
            .map(|(place, entry)| {
                let meta = ItemMeta {
                    id: ItemId::in_set(set, place),
                    ins: Ins::from_body("1841276451089").expect("an INS"),
                    kind: item_kind(entry.kind).unwrap_or(ItemKind::Condition),
                    origin: ItemOrigin::Document { document, path: entry.path.clone() },
                    recorded_by: "rpps:10000000019".into(),
                    recorded_at: OffsetDateTime::now_utc(),
                    effective: None,
                    status: ItemStatus::Current,
                    replaces: None,
                };
                seal_item(&key, meta, &entry_content(entry, Some("Jean Dupont".into()))).expect("sealed")
            })
            .collect();
        (entries, items)
    }

    #[test]
    fn items_are_compressed_before_sealing_and_open_as_written() {
        let key = DataKey::generate();
        let (entries, items) = vsm_items(&key);
        assert_eq!(items.len(), entries.len());
        let prepared = key.prepared();
        let mut json_bytes = 0;
        for (entry, stored) in entries.iter().zip(&items) {
            let opened = open_item(&prepared, stored).expect("opens");
            assert_eq!(opened.content, entry_content(entry, opened.content.author_name.clone()));
            assert!(matches!(&opened.meta.origin, ItemOrigin::Document { path, .. } if *path == entry.path));
            json_bytes += serde_json::to_vec(&SealedItemRef { path: Some(&entry.path), content: &opened.content }).expect("JSON").len();
        }
        // What a deposit writes: a VSM's items take less than half their JSON once sealed.
        let sealed_bytes: usize = items.iter().map(|i| i.sealed.len()).sum();
        assert!(sealed_bytes * 2 < json_bytes, "{sealed_bytes} sealed bytes for {json_bytes} of JSON");
        // Bound to its id: another item's place does not open it.
        let mut moved = items[1].clone();
        moved.meta.id = items[0].meta.id;
        assert!(open_item(&prepared, &moved).is_err());
    }

    #[test]
    fn items_sealed_before_compression_still_open() {
        let key = DataKey::generate();
        let (_, items) = vsm_items(&key);
        let prepared = key.prepared();
        let opened = open_item(&prepared, &items[0]).expect("opens");
        let path = match &opened.meta.origin {
            ItemOrigin::Document { path, .. } => path.clone(),
            _ => unreachable!("a document's item"),
        };
        let json = serde_json::to_vec(&SealedItemRef { path: Some(&path), content: &opened.content }).expect("JSON");
        let old = StoredItem { meta: items[0].meta.clone(), sealed: prepared.seal(&item_context(items[0].meta.id), &json) };
        assert_eq!(open_item(&prepared, &old).expect("an item sealed as JSON opens"), opened);
    }

    proptest::proptest! {
        /// What is opened is authenticated, yet reading it back never trusts it: any bytes give
        /// the JSON they compress, or nothing, never a panic or an allocation past the bound.
        #[test]
        fn item_plaintexts_read_back_or_refuse(json in proptest::collection::vec(proptest::num::u8::ANY, 0..2048), noise in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let mut plain = vec![COMPRESSED];
            plain.extend_from_slice(&lz4_flex::block::compress_prepend_size_with_dict(&json, ITEM_DICTIONARY));
            let read = item_json(&plain);
            proptest::prop_assert_eq!(read.as_deref(), Some(json.as_slice()));
            let mut cut = plain.clone();
            cut.truncate(plain.len().saturating_sub(1 + noise.len() % 8));
            if let Some(read) = item_json(&cut) {
                proptest::prop_assert_ne!(read.as_ref(), json.as_slice());
            }
            let mut noisy = vec![COMPRESSED];
            noisy.extend_from_slice(&noise);
            if let Some(read) = item_json(&noisy) {
                proptest::prop_assert!(read.len() <= MAX_ITEM_PLAINTEXT);
            }
        }
    }

    #[test]
    fn item_plaintexts_of_another_kind_or_size_do_not_read() {
        assert_eq!(item_json(b""), None);
        assert_eq!(item_json(b"\x02abc"), None);
        let mut huge = vec![COMPRESSED];
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        huge.push(0);
        assert_eq!(item_json(&huge), None);
        assert_eq!(item_json(b"{\"content\":{}}").as_deref(), Some(&b"{\"content\":{}}"[..]));
    }

    #[test]
    fn fhir_date_times_start_at_an_instant() {
        use time::macros::datetime;
        assert_eq!(instant_of("2024"), Some(datetime!(2024-01-01 0:00 UTC)));
        assert_eq!(instant_of("2024-03"), Some(datetime!(2024-03-01 0:00 UTC)));
        assert_eq!(instant_of("2024-03-15"), Some(datetime!(2024-03-15 0:00 UTC)));
        assert_eq!(instant_of("2024-03-15T10:30:00+01:00"), Some(datetime!(2024-03-15 9:30 UTC)));
        for bad in ["", "24", "2024-13", "2024-02-30", "yesterday", "2024-01-15T10:30"] {
            assert_eq!(instant_of(bad), None, "{bad}");
        }
    }
}
