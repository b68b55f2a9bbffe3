//! Record lifecycle use cases.

use carnet_domain::record::{LifecycleError, RecordAction, RecordStatistics};
use carnet_domain::{
    AccessDecision, Action, Actor, ActorKind, Basis, CreationChannel, IdentityStatus, Ins, InsKind, Operation, Record, RecordStatus,
    ReferenceTraits, RetentionPolicy, authorize,
};
use carnet_store::{DocumentStore, EnumerationStore, ProfileStore, RecordStore, TraitsQuery};
use serde::Serialize;
use time::OffsetDateTime;

use crate::audit::Event;
use crate::sealing::Purpose;
use crate::{Carnet, Result, ServiceError};

/// A record creation request, already parsed at the edge.
#[derive(Debug, Clone)]
pub struct NewRecord {
    pub ins: Ins,
    pub ins_kind: InsKind,
    pub identity_status: IdentityStatus,
    pub traits: ReferenceTraits,
}

/// What an actor may see of a record. Those who may not see identities (`Action::SeeIdentity`:
/// insurer agents, operators, privacy officers) see existence and status only (rule 12): the
/// identity and reasons are left out for them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordView {
    pub ins: Ins,
    pub ins_kind: InsKind,
    pub status: RecordStatus,
    pub channel: CreationChannel,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity_status: Option<IdentityStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traits: Option<ReferenceTraits>,
    #[serde(skip_serializing_if = "Option::is_none", with = "time::serde::rfc3339::option")]
    pub closed_at: Option<OffsetDateTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub close_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", with = "time::serde::rfc3339::option")]
    pub destruction_due_at: Option<OffsetDateTime>,
}

impl RecordView {
    pub fn of(record: Record, actor: &Actor) -> RecordView {
        let full = authorize(actor, Action::SeeIdentity).is_ok();
        RecordView {
            ins: record.ins,
            ins_kind: record.ins_kind,
            status: record.status,
            channel: record.channel,
            created_at: record.created_at,
            identity_status: full.then_some(record.identity_status),
            traits: if full { record.traits } else { None },
            closed_at: record.closed_at,
            close_reason: if full { record.close_reason } else { None },
            destruction_due_at: record.destruction_due_at,
        }
    }
}

/// A demographics search (IHE ITI-78): by INS, by reference traits, or both.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PatientQuery {
    pub ins: Option<Ins>,
    pub traits: TraitsQuery,
}

impl PatientQuery {
    fn has_traits(&self) -> bool {
        self.traits != TraitsQuery::default()
    }
}

/// Whether a record's traits match the query: the same semantics as the store's search
/// (birth name and any first name by case-insensitive prefix; exact birth date and sex).
fn traits_match(query: &TraitsQuery, record: &Record) -> bool {
    if query == &TraitsQuery::default() {
        return true;
    }
    let Some(t) = &record.traits else { return false };
    let prefix = |value: &str, wanted: &str| value.to_lowercase().starts_with(&wanted.to_lowercase());
    query.family.as_deref().is_none_or(|f| prefix(&t.birth_name, f))
        && query.given.as_deref().is_none_or(|g| t.birth_given_names.split_whitespace().any(|n| prefix(n, g)))
        && query.birth_date.is_none_or(|d| d == t.birth_date)
        && query.sex.is_none_or(|s| s == t.sex)
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    pub archived: u64,
    pub destroyed: u64,
    /// Destroyed records whose content was crypto-shredded in this sweep.
    pub shredded: u64,
    /// Portal sessions expired or revoked, and abandoned sign-ins, deleted.
    pub sessions_purged: u64,
    /// Close reasons and review notes stored in clear before free text was sealed, sealed now
    /// (a destroyed record's, whose key is gone, dropped).
    pub sealed: u64,
    /// The enumeration guard's openings out of every window, deleted.
    pub guard_openings_purged: u64,
}

fn action_code(action: RecordAction) -> &'static str {
    match action {
        RecordAction::Create => "record.create",
        RecordAction::ReadStatus => "record.read_status",
        RecordAction::Close => "record.close",
        RecordAction::Reopen => "record.reopen",
        RecordAction::RequestDestruction => "record.request_destruction",
        RecordAction::Export => "record.export",
    }
}

/// The retention sweep's identity in the ledger.
pub(crate) fn sweeper() -> Actor {
    Actor {
        issuer: "urn:carnet".into(),
        subject: "retention-sweep".into(),
        name: Some("Carnet retention sweep".into()),
        kind: ActorKind::System { organisation: None },
        scopes: carnet_domain::Scopes::RoleOnly,
        client: None,
    }
}

impl Carnet {
    /// The record rule, with its decision in the ledger either way.
    pub(crate) async fn authorize_record(&self, actor: &Actor, action: RecordAction, ins: &Ins) -> Result<()> {
        match authorize(actor, Action::Record { action, ins }) {
            Ok(grant) => {
                self.record_event(actor, Event::permit(action_code(action), Some(ins), None, grant.code())).await?;
                Ok(())
            }
            Err(denied) => {
                self.record_event(actor, Event::deny(action_code(action), Some(ins), None, denied.code())).await?;
                Err(denied.into())
            }
        }
    }

    pub async fn create_record(&self, actor: &Actor, new: NewRecord) -> Result<RecordView> {
        self.scoped(actor, Operation::CreateRecord, Some(&new.ins)).await?;
        self.authorize_record(actor, RecordAction::Create, &new.ins).await?;
        let traits = new.traits.validated().map_err(|e| ServiceError::Invalid(e.to_string()))?;
        let rec = Record::open(actor, new.ins, new.ins_kind, new.identity_status, traits, self.now())?;
        self.db.create_record(&rec).await?;
        self.register_creating_representative(actor, &rec).await?;
        tracing::info!(channel = rec.channel.as_str(), by = %actor.reference(), "record created");
        Ok(RecordView::of(rec, actor))
    }

    pub async fn record_status(&self, actor: &Actor, ins: &Ins) -> Result<RecordView> {
        self.scoped(actor, Operation::ReadRecord, Some(ins)).await?;
        let code = action_code(RecordAction::ReadStatus);
        match authorize(actor, Action::Record { action: RecordAction::ReadStatus, ins }) {
            Ok(grant) => {
                // Counted whether a record exists or not: past the limit, a 429 for a record and
                // a 404 for none would still tell which INS have one.
                self.guard_lookup(actor, code, std::slice::from_ref(ins)).await?;
                self.record_event(actor, Event::permit(code, Some(ins), None, grant.code())).await?;
            }
            Err(denied) => {
                self.record_event(actor, Event::deny(code, Some(ins), None, denied.code())).await?;
                return Err(denied.into());
            }
        }
        let rec = self.live_record(ins).await?;
        self.record_view(rec, actor).await
    }

    pub async fn close_record(&self, actor: &Actor, ins: &Ins, reason: &str) -> Result<RecordView> {
        self.change_record(actor, RecordAction::Close, ins, |rec, now, retention| rec.close(reason, now, retention)).await
    }

    pub async fn reopen_record(&self, actor: &Actor, ins: &Ins) -> Result<RecordView> {
        self.change_record(actor, RecordAction::Reopen, ins, |rec, _, _| rec.reopen()).await
    }

    pub async fn request_destruction(&self, actor: &Actor, ins: &Ins, reason: &str) -> Result<RecordView> {
        self.change_record(actor, RecordAction::RequestDestruction, ins, |rec, now, retention| {
            rec.request_destruction(reason, now, retention)
        })
        .await
    }

    /// Authorize, load, apply one lifecycle transition, save (refused if the record changed
    /// since it was read).
    async fn change_record(
        &self,
        actor: &Actor,
        action: RecordAction,
        ins: &Ins,
        transition: impl FnOnce(&mut Record, OffsetDateTime, &RetentionPolicy) -> Result<(), LifecycleError>,
    ) -> Result<RecordView> {
        self.scoped(actor, Operation::UpdateRecord, Some(ins)).await?;
        self.authorize_record(actor, action, ins).await?;
        let mut rec = self.live_record(ins).await?;
        let read_as = rec.status;
        transition(&mut rec, self.now(), &self.config.retention)?;
        // A close reason is the patient's free text: stored sealed under their key (one stored
        // before sealing is sealed by the next change).
        if let Some(reason) = rec.close_reason.as_deref().filter(|r| !crate::sealing::is_sealed(r)) {
            rec.close_reason = Some(self.seal_for_record(ins, Purpose::CloseReason, reason).await?);
        }
        self.db.save_record(&rec, read_as).await?;
        self.record_view(rec, actor).await
    }

    pub async fn record_statistics(&self, actor: &Actor) -> Result<RecordStatistics> {
        self.scoped(actor, Operation::Statistics, None).await?;
        // Statistics are not about one record: authorize against no INS in particular.
        match authorize(actor, Action::ReadStatistics) {
            Ok(grant) => {
                self.record_event(actor, Event::permit("record.statistics", None, None, grant.code())).await?;
            }
            Err(denied) => {
                self.record_event(actor, Event::deny("record.statistics", None, None, denied.code())).await?;
                return Err(denied.into());
            }
        }
        Ok(self.db.record_statistics().await?)
    }

    /// Applies the time-driven transitions that are due (archive after closure, destruction).
    /// Idempotent; run periodically by `carnet serve` and on demand by `carnet admin sweep`.
    pub async fn sweep(&self) -> Result<SweepReport> {
        let now = self.now();
        let retention = self.config.retention;
        let mut report = SweepReport::default();
        loop {
            let due = self.db.find_records_due(now, now - retention.archive_after_closure, 500).await?;
            if due.is_empty() {
                break;
            }
            let batch = due.len();
            let mut progressed = 0;
            for mut rec in due {
                let Some(to) = rec.due_transition(now, &retention) else { continue };
                let read_as = rec.status;
                rec.apply(to, now);
                let action = if to == RecordStatus::Destroyed { "record.destroy" } else { "record.archive" };
                self.record_event(&sweeper(), Event::permit(action, Some(&rec.ins), None, "retention_due")).await?;
                match self.db.save_record(&rec, read_as).await {
                    Ok(()) => {
                        progressed += 1;
                        match to {
                            RecordStatus::Archived => report.archived += 1,
                            RecordStatus::Destroyed => report.destroyed += 1,
                            _ => {}
                        }
                    }
                    // Someone reopened it meanwhile: their change wins.
                    Err(carnet_store::StoreError::Stale(_)) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            if progressed == 0 || batch < 500 {
                break;
            }
        }
        // Destruction is crypto-shredding: also finishes any shredding a crash interrupted.
        loop {
            let due = self.db.find_shredding_due(100).await?;
            if due.is_empty() {
                break;
            }
            for ins in &due {
                self.shred(ins).await?;
                report.shredded += 1;
            }
        }
        report.sessions_purged = self.purge_sessions().await?;
        report.sealed = self.seal_clear_free_text().await?;
        report.guard_openings_purged = self.db.purge_openings(self.enumeration_rule().since(now)).await?;
        if report != SweepReport::default() {
            tracing::info!(
                archived = report.archived,
                destroyed = report.destroyed,
                shredded = report.shredded,
                sessions_purged = report.sessions_purged,
                sealed = report.sealed,
                guard_openings_purged = report.guard_openings_purged,
                "retention sweep"
            );
        }
        Ok(report)
    }

    /// Finds patients (IHE ITI-78 PDQm). Who finds whom follows `Action::Record(ReadStatus)`:
    /// a patient or representative finds only the records they speak for, a professional any;
    /// roles that do not see identities (insurer agents, operators, privacy officers) search by
    /// INS only — matching on traits they may not read would reveal them. A record the caller
    /// may not know of is simply not found. One ledger entry per search, with the count.
    pub async fn find_patients(&self, actor: &Actor, query: &PatientQuery, limit: u32) -> Result<Vec<RecordView>> {
        self.scoped(actor, Operation::FindPatients, query.ins.as_ref()).await?;
        self.patients_found(actor, query, limit).await
    }

    /// A patient by INS (FHIR read): found as `find_patients` finds it, under the read scope.
    pub async fn read_patient(&self, actor: &Actor, ins: &Ins) -> Result<Option<RecordView>> {
        self.scoped(actor, Operation::ReadRecord, Some(ins)).await?;
        let query = PatientQuery { ins: Some(ins.clone()), traits: carnet_domain::TraitsQuery::default() };
        Ok(self.patients_found(actor, &query, 1).await?.into_iter().next())
    }

    async fn patients_found(&self, actor: &Actor, query: &PatientQuery, limit: u32) -> Result<Vec<RecordView>> {
        if query.has_traits()
            && let Err(denied) = authorize(actor, Action::SeeIdentity)
        {
            self.record_event(actor, Event::deny("record.search", query.ins.as_ref(), None, denied.code())).await?;
            return Err(denied.into());
        }
        let found: Vec<Record> = match &query.ins {
            Some(ins) => {
                if let Err(denied) = authorize(actor, Action::Record { action: RecordAction::ReadStatus, ins }) {
                    self.record_event(actor, Event::deny("record.search", Some(ins), None, denied.code())).await?;
                    return Ok(vec![]);
                }
                // Counted found or not, as `record_status` counts.
                self.guard_lookup(actor, "record.search", std::slice::from_ref(ins)).await?;
                self.db.find_record_by_ins(ins).await?.into_iter().collect()
            }
            None => match actor.spoken_for() {
                Some(spoken_for) => {
                    let mut v = Vec::new();
                    for ins in spoken_for {
                        v.extend(self.db.find_record_by_ins(ins).await?);
                    }
                    v
                }
                None if !query.has_traits() => {
                    return Err(ServiceError::Invalid(
                        "give the INS identifier or at least one of family, given, birthdate, gender".into(),
                    ));
                }
                None => self.records_by_traits(&query.traits, limit).await?,
            },
        };
        let found: Vec<Record> = found.into_iter().filter(|r| traits_match(&query.traits, r)).take(limit as usize).collect();
        if query.ins.is_none() {
            // Each distinct record a search by traits returns counts; a search that would take
            // the actor over the limit returns none of them.
            let records: Vec<Ins> = found.iter().map(|r| r.ins.clone()).collect();
            self.guard_lookup(actor, "record.search", &records).await?;
        }
        let returned = Some(format!("returned:{}", found.len()));
        self.record_event(actor, Event::permit("record.search", query.ins.as_ref(), returned, "record_rule")).await?;
        let mut views = Vec::with_capacity(found.len());
        for r in found {
            views.push(self.record_view(r, actor).await?);
        }
        Ok(views)
    }

    /// What a patient summary (HL7 IPS) is built from: the record as the caller may see it and
    /// the documents the gate lets through. Only actors who may consult the record get one:
    /// the summary is clinical content (rule 12: never for insurer agents or operators).
    /// The record's view, the documents the actor may see, and on what basis they consult it.
    pub async fn patient_summary(&self, actor: &Actor, ins: &Ins) -> Result<(RecordView, Vec<crate::Visible>, Basis)> {
        let summary = self.summary(actor, ins, false).await?;
        Ok((summary.view, summary.documents, summary.basis))
    }

    /// [`Carnet::patient_summary`] with the profile's current items the actor may see (none for
    /// a token whose scopes do not reach the profile): the IPS document's sections.
    pub async fn patient_summary_with_profile(
        &self,
        actor: &Actor,
        ins: &Ins,
    ) -> Result<(RecordView, Vec<crate::Visible>, Basis, Vec<carnet_domain::profile::ProfileItem>)> {
        let summary = self.summary(actor, ins, true).await?;
        Ok((summary.view, summary.documents, summary.basis, summary.items))
    }

    /// One gate, one count in the enumeration guard, the documents and the items read together,
    /// and the request's ledger entries (`record.read_status`, `record.summary`,
    /// `document.search`, `profile.read`) appended in one commit: a summary waits for the
    /// ledger's fsync once, not once per entry.
    async fn summary(&self, actor: &Actor, ins: &Ins, with_profile: bool) -> Result<Summary> {
        let documents = self.scoped(actor, Operation::Summary, Some(ins)).await?;
        let read_status = action_code(RecordAction::ReadStatus);
        let grant = match authorize(actor, Action::Record { action: RecordAction::ReadStatus, ins }) {
            Ok(grant) => grant,
            Err(denied) => {
                self.record_event(actor, Event::deny(read_status, Some(ins), None, denied.code())).await?;
                return Err(denied.into());
            }
        };
        let mut events = vec![Event::permit(read_status, Some(ins), None, grant.code())];
        let Some((record, gate, generation)) = self.record_and_gate(actor, ins, documents).await? else {
            self.record_events(actor, events).await?;
            return Err(ServiceError::NotFound("record"));
        };
        let view = self.record_view(record, actor).await?;
        let standing = gate.record_decision();
        let AccessDecision::Permit(basis) = standing else {
            events.push(Event::decided("record.summary", Some(ins), None, standing));
            self.record_events(actor, events).await?;
            return Err(ServiceError::Forbidden("the patient summary is clinical content this actor may not read".into()));
        };
        events.push(Event::decided("record.summary", Some(ins), None, standing));
        self.guard_opening(&gate).await?;
        // A token whose scopes do not reach the profile gets a summary without it, and its
        // refusal is recorded as a read of the profile would record it.
        let profile = if with_profile {
            match carnet_domain::scope::permit(actor, Operation::ReadProfile) {
                Ok(scope) => Some(Ok(gate.with_documents(scope))),
                Err(_) => Some(Err(Event::deny(Operation::ReadProfile.as_str(), Some(ins), None, "insufficient_scope"))),
            }
        } else {
            None
        };
        let (found, stored) = tokio::join!(self.db.find_documents_at(ins, generation), async {
            match &profile {
                Some(Ok(_)) => self.db.find_items_at(ins, generation).await.map(Some),
                _ => Ok(None),
            }
        });
        let found = found?;
        let visible: Vec<crate::Visible> =
            found.iter().filter_map(|(meta, title)| gate.admit_with_title(meta.clone(), title.clone())).collect();
        events.push(Event::decided("document.search", Some(ins), Some(format!("returned:{}", visible.len())), standing));
        let items = match (profile, stored?) {
            (Some(Ok(profile_gate)), Some(stored)) => {
                let sources = found.into_iter().map(|(meta, _)| (meta.id, meta)).collect();
                let seen = crate::profile::VisibleItems::of(&profile_gate, &stored, &sources, &crate::ProfileQuery::default());
                let items = self.open_visible_items(ins, seen).await?;
                events.push(Event::decided("profile.read", Some(ins), Some(format!("returned:{}", items.len())), standing));
                items
            }
            (Some(Err(refused)), _) => {
                events.push(refused);
                vec![]
            }
            _ => vec![],
        };
        self.record_events(actor, events).await?;
        self.note_consultation(&gate).await?;
        Ok(Summary { view, documents: visible, basis, items })
    }

    /// The record as `actor` sees it, its close reason opened (when they see it): the neutral
    /// `UNREADABLE_CLOSE_REASON` if it no longer opens.
    pub(crate) async fn record_view(&self, mut record: Record, actor: &Actor) -> Result<RecordView> {
        if authorize(actor, Action::SeeIdentity).is_ok()
            && let Some(stored) = record.close_reason.take()
        {
            let opened = self.open_for_record(&record.ins, Purpose::CloseReason, &stored).await?;
            record.close_reason = Some(opened.unwrap_or_else(|| crate::sealing::UNREADABLE_CLOSE_REASON.to_owned()));
        }
        Ok(RecordView::of(record, actor))
    }

    pub(crate) async fn live_record(&self, ins: &Ins) -> Result<Record> {
        self.db.find_record_by_ins(ins).await?.ok_or(ServiceError::NotFound("record"))
    }
}

/// What [`Carnet::summary`] read.
struct Summary {
    view: RecordView,
    documents: Vec<crate::Visible>,
    basis: Basis,
    items: Vec<carnet_domain::profile::ProfileItem>,
}
