//! An actor's own activity (a professional's *Mon activité*): what they did in records, read
//! from the ledger's index of actors — keyed by the caller's own reference, so nobody reads
//! another's entries — and the emergency accesses they opened, with when each expires.

use std::collections::HashMap;

use carnet_domain::{Action, Actor, EmergencyAccess, Ins, Operation, RecordAction, ReferenceTraits, authorize};
use carnet_ledger::{EntryQuery, RecordedEntry};
use carnet_store::{PolicyStore, RecordStore};
use time::OffsetDateTime;

use crate::audit::Event;
use crate::{Carnet, Result};

/// The most entries one page of an actor's activity holds.
pub const ACTIVITY_PAGE: u32 = 100;

/// The most emergency accesses an activity page lists (the latest opened).
pub const ACTIVITY_EMERGENCIES: u32 = 50;

/// Which page of one's activity: from the latest entry back, `before` a leaf index.
#[derive(Debug, Clone, Default)]
pub struct ActivityQuery {
    /// Entries older than this leaf index (the `next_before` of the previous page).
    pub before: Option<u64>,
    /// 1 to `ACTIVITY_PAGE` (0 means `ACTIVITY_PAGE`).
    pub limit: u32,
}

/// A page of the caller's own activity.
#[derive(Debug, Clone)]
pub struct Activity {
    /// The caller's entries about a record, newest first.
    pub entries: Vec<RecordedEntry>,
    /// Pass as `before` for the next page; `None` when this was the last.
    pub next_before: Option<u64>,
    /// The caller's emergency accesses, the latest opened first.
    pub emergencies: Vec<EmergencyAccess>,
    /// The identity of each record the entries and emergencies name, as `record_status` shows
    /// it to the caller (`None`: a destroyed record, or one whose identity is not theirs to see).
    pub identities: HashMap<Ins, Option<ReferenceTraits>>,
    /// When the page was read: an emergency access is current if it expires after this.
    pub now: OffsetDateTime,
}

impl Activity {
    /// The identity of a record the page names, if the caller may see it.
    pub fn identity(&self, ins: &Ins) -> Option<&ReferenceTraits> {
        self.identities.get(ins).and_then(Option::as_ref)
    }
}

impl Carnet {
    /// The caller's own activity: their ledger entries about records, newest first, a page at
    /// a time, and their emergency accesses. Reading it is one ledger entry (`activity.read`,
    /// naming no record, as the access history's reading is one entry): it reads no record, so
    /// it is no access to any, and no line of it is an entry of its own.
    pub async fn actor_activity(&self, actor: &Actor, query: ActivityQuery) -> Result<Activity> {
        // The caller's access events: an app reads them only if it may read access events.
        self.scoped(actor, Operation::AccessHistory, None).await?;
        let reference = actor.reference();
        self.record_event(actor, Event::permit("activity.read", None, None, "own_entries")).await?;
        let limit = if query.limit == 0 { ACTIVITY_PAGE } else { query.limit.min(ACTIVITY_PAGE) };
        let ledger_query = EntryQuery {
            actor_ref: Some(reference.clone()),
            about_a_record: true,
            before_index: query.before,
            newest_first: true,
            limit,
            ..EntryQuery::default()
        };
        let page = self.ledger.find_entries(&ledger_query).await?;
        let next_before = (page.len() as u32 == limit).then(|| page.last().map(|e| e.index)).flatten();
        // The query's key is the caller's reference; this keeps it so whatever the store returns.
        let mut entries: Vec<RecordedEntry> = page.into_iter().filter(|e| e.entry.actor.reference == reference).collect();
        self.open_justifications(&mut entries).await?;
        let mut emergencies = self.db.find_emergencies_by(&reference, ACTIVITY_EMERGENCIES).await?;
        for e in &mut emergencies {
            e.justification = self.emergency_justification(&e.ins, &e.justification).await?;
        }
        let mut identities: HashMap<Ins, Option<ReferenceTraits>> = HashMap::new();
        let named = entries.iter().filter_map(|e| e.entry.ins.as_ref()).chain(emergencies.iter().map(|e| &e.ins));
        for ins in named {
            if identities.contains_key(ins) {
                continue;
            }
            // What reading the record's status would show this caller, without reading it: a
            // role that does not see identities (or a record not theirs to read) gets no name.
            let shown = authorize(actor, Action::SeeIdentity).is_ok()
                && authorize(actor, Action::Record { action: RecordAction::ReadStatus, ins }).is_ok();
            let traits = if shown { self.db.find_record_by_ins(ins).await?.and_then(|r| r.traits) } else { None };
            identities.insert(ins.clone(), traits);
        }
        Ok(Activity { entries, next_before, emergencies, identities, now: self.now() })
    }
}
