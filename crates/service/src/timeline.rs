//! The timeline of a record: the documents the caller may see by **date of the act**, grouped
//! by month (Paris time), then by class, newest first, replaced versions folded under the
//! version in force; a few months at a time (docs/timeline.md).
//!
//! It reads through the same gate as the document listing (`documents_through`): a hidden
//! document contributes nothing, not an entry, a version or a count. One ledger entry per call,
//! `document.search` like a listing, with how many documents the page returned.

use std::collections::{HashMap, HashSet};

use carnet_domain::codes::Code;
use carnet_domain::{Actor, DocumentId, DocumentMeta, Ins, Operation};
use time::{Date, OffsetDateTime};

use crate::gate::Visible;
use crate::{Carnet, Result, ServiceError};

/// Months answered when the caller names none.
pub const TIMELINE_MONTHS: u32 = 12;
/// Most months answered at once.
pub const MAX_TIMELINE_MONTHS: u32 = 120;

/// When the act took place — the one rule of every page and of `/api`: the service's start,
/// else when the author wrote the document, else its deposit.
pub fn act_date(meta: &DocumentMeta) -> OffsetDateTime {
    meta.xds.service_start.or(meta.xds.authored_at).unwrap_or(meta.submitted_at)
}

/// The calendar day of the act in Paris: a French record's days and months are Paris's, so a
/// consultation at 00:30 on the 1st of March is March's, whatever the server's zone.
pub fn act_day(meta: &DocumentMeta) -> Date {
    day_in_paris(act_date(meta))
}

/// The day an instant falls on in Paris (UTC's if the zone cannot be read).
pub fn day_in_paris(at: OffsetDateTime) -> Date {
    let paris = || {
        let tz = jiff::tz::TimeZone::get("Europe/Paris").ok()?;
        let d = jiff::Timestamp::from_nanosecond(at.unix_timestamp_nanos()).ok()?.to_zoned(tz).date();
        let month = time::Month::try_from(u8::try_from(d.month()).ok()?).ok()?;
        Date::from_calendar_date(i32::from(d.year()), month, u8::try_from(d.day()).ok()?).ok()
    };
    paris().unwrap_or_else(|| at.date())
}

/// A calendar month, `YYYY-MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    pub year: i32,
    pub month: time::Month,
}

impl Month {
    pub fn of(day: Date) -> Month {
        Month { year: day.year(), month: day.month() }
    }

    /// `2026-03`: four digits, a dash, two digits, a month that exists.
    pub fn parse(raw: &str) -> Option<Month> {
        let (y, m) = raw.split_once('-')?;
        if y.len() != 4 || m.len() != 2 || !y.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
            return None;
        }
        let year: i32 = y.parse().ok()?;
        let month = time::Month::try_from(m.parse::<u8>().ok()?).ok()?;
        Some(Month { year, month })
    }
}

impl std::fmt::Display for Month {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, u8::from(self.month))
    }
}

/// Which part of the timeline to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineQuery {
    /// Only months strictly before this one (`None`: from the newest).
    pub before: Option<Month>,
    /// How many months holding documents, 1 to `MAX_TIMELINE_MONTHS`.
    pub months: u32,
    /// Only documents of this class code (JDV_J57).
    pub class: Option<String>,
    /// Only documents of this type code (JDV_J66).
    pub type_code: Option<String>,
}

impl Default for TimelineQuery {
    fn default() -> Self {
        TimelineQuery { before: None, months: TIMELINE_MONTHS, class: None, type_code: None }
    }
}

/// A document of the timeline: the version in force (or the newest the caller may see) and
/// the older versions the caller may see, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineEntry {
    pub current: Visible,
    pub previous: Vec<Visible>,
}

/// The documents of one class in one month, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassGroup {
    pub class: Code,
    pub entries: Vec<TimelineEntry>,
}

/// One month of the timeline; its classes ordered by their newest document.
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineMonth {
    pub month: Month,
    pub classes: Vec<ClassGroup>,
}

/// A page of the timeline.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Timeline {
    pub months: Vec<TimelineMonth>,
    /// The `before` of the next (older) page, when older documents remain.
    pub next: Option<Month>,
}

impl Timeline {
    /// Documents on the page, older versions included.
    pub fn documents(&self) -> usize {
        self.months.iter().flat_map(|m| &m.classes).flat_map(|c| &c.entries).map(|e| 1 + e.previous.len()).sum()
    }
}

/// The newest visible version of each chain of replacements, with its older visible versions
/// folded under it (newest first), in the order the heads came. A version whose successor the
/// caller may not see stands on its own: nothing tells of a version they cannot see.
pub fn fold_versions<T>(items: Vec<T>, meta: impl Fn(&T) -> &DocumentMeta) -> Vec<(T, Vec<T>)> {
    let by_id: HashMap<DocumentId, usize> = items.iter().enumerate().map(|(i, v)| (meta(v).id, i)).collect();
    let folded: HashSet<DocumentId> = items.iter().filter_map(|v| meta(v).replaces.filter(|r| by_id.contains_key(r))).collect();
    let heads: Vec<usize> = (0..items.len()).filter(|i| !folded.contains(&meta(&items[*i]).id)).collect();
    let mut slots: Vec<Option<T>> = items.into_iter().map(Some).collect();
    let mut out = Vec::with_capacity(heads.len());
    for i in heads {
        let Some(head) = slots[i].take() else { continue };
        let mut older = Vec::new();
        let mut next = meta(&head).replaces;
        // Each version is taken once, so even a chain that looped would end.
        while let Some(id) = next {
            match by_id.get(&id).and_then(|j| slots.get_mut(*j)).and_then(Option::take) {
                Some(v) => {
                    next = meta(&v).replaces;
                    older.push(v);
                }
                None => break,
            }
        }
        out.push((head, older));
    }
    out
}

/// The timeline of the visible documents `visible`, as `query` asks (pure: tested alone).
pub fn timeline_of(visible: Vec<Visible>, query: &TimelineQuery) -> Timeline {
    let mut chains = fold_versions(visible, Visible::meta);
    chains.retain(|(head, _)| {
        let m = head.meta();
        query.class.as_ref().is_none_or(|c| m.xds.class_code.code == *c)
            && query.type_code.as_ref().is_none_or(|t| m.xds.type_code.code == *t)
            && query.before.is_none_or(|b| Month::of(act_day(m)) < b)
    });
    // Newest act first; the same act by newest deposit, then by id, so pages never shuffle.
    chains.sort_by_key(|(head, _)| {
        let m = head.meta();
        std::cmp::Reverse((act_date(m), m.submitted_at, m.id))
    });
    let months = query.months.clamp(1, MAX_TIMELINE_MONTHS) as usize;
    let mut out: Vec<TimelineMonth> = Vec::new();
    let mut next = None;
    for (current, previous) in chains {
        let month = Month::of(act_day(current.meta()));
        if out.last().is_none_or(|m| m.month != month) {
            if out.len() == months {
                next = out.last().map(|m| m.month);
                break;
            }
            out.push(TimelineMonth { month, classes: Vec::new() });
        }
        let Some(this) = out.last_mut() else { break };
        let class = current.meta().xds.class_code.clone();
        let entry = TimelineEntry { current, previous };
        // Entries come newest first, so a class's first entry orders it among the month's.
        match this.classes.iter_mut().find(|g| g.class == class) {
            Some(group) => group.entries.push(entry),
            None => this.classes.push(ClassGroup { class, entries: vec![entry] }),
        }
    }
    Timeline { months: out, next }
}

impl Carnet {
    /// The timeline of the record `ins` as this actor may see it (see `timeline_of`). A record
    /// the actor may not know of answers like an empty one. One ledger entry.
    pub async fn timeline(&self, actor: &Actor, ins: &Ins, query: &TimelineQuery) -> Result<Timeline> {
        if !(1..=MAX_TIMELINE_MONTHS).contains(&query.months) {
            return Err(ServiceError::Invalid(format!("months: from 1 to {MAX_TIMELINE_MONTHS}")));
        }
        let documents = self.scoped(actor, Operation::SearchDocuments, Some(ins)).await?;
        self.documents_shaped(actor, ins, documents, |visible| {
            let timeline = timeline_of(visible, query);
            let returned = timeline.documents();
            (timeline, returned)
        })
        .await
    }
}
