//! The patient's choices (authorizations, blocks, médecin traitant, representatives,
//! oppositions), emergency access, document labels and the reimbursement history. Who may do
//! what is the domain's (`authorize_change`, `open_emergency`, `authorize_label_change`, and
//! `authorize` for reading the policy and deleting the reimbursement history); this module loads,
//! asks, records the decision in the ledger, saves, and queues the notifications.

use carnet_domain::policy::RepresentationKind;
use carnet_domain::{
    Action, Actor, DocumentId, EmergencyAccess, EmergencyDenied, EmergencyKind, EmergencyRequest, Grant, HolderContext, Ins, Operation,
    PatientPolicy, PolicyChange, PolicyError, Record, SecurityLabel, authorize, authorize_change, authorize_label_change, open_emergency,
};
use carnet_store::{DirectoryStore, DocumentStore, OutboxMessage, PolicyStore, RecordStore, ReviewItem, StoreError};
use serde_json::json;
use time::format_description::well_known::Rfc3339;

use crate::audit::{Event, entry_actor};
use crate::documents::{DocumentAction, DocumentView};
use crate::{Carnet, Result, ServiceError};

const REIMBURSEMENT_TYPE: &str = "REMB";

/// The ledger action of a policy change.
fn change_action(change: &PolicyChange) -> &'static str {
    match change {
        PolicyChange::Authorize { .. } => "policy.authorize",
        PolicyChange::DeclareAuthorization { .. } => "policy.declare_authorization",
        PolicyChange::Revoke { .. } => "policy.revoke",
        PolicyChange::Block { .. } => "policy.block",
        PolicyChange::Unblock { .. } => "policy.unblock",
        PolicyChange::SetMedecinTraitant { .. } => "policy.set_medecin_traitant",
        PolicyChange::GrantExtendedRights { .. } => "policy.grant_extended_rights",
        PolicyChange::RevokeExtendedRights { .. } => "policy.revoke_extended_rights",
        PolicyChange::AddRepresentative { .. } => "policy.add_representative",
        PolicyChange::EndRepresentative { .. } => "policy.end_representative",
        PolicyChange::SetBrisDeGlaceOpposition { .. } => "policy.set_bris_de_glace_opposition",
        PolicyChange::SetSamuOpposition { .. } => "policy.set_samu_opposition",
        PolicyChange::HideReimbursement { .. } => "policy.hide_reimbursement",
    }
}

/// Whom a change concerns, for the ledger's `target`.
fn change_target(change: &PolicyChange) -> Option<String> {
    match change {
        PolicyChange::Authorize { rpps, .. }
        | PolicyChange::DeclareAuthorization { rpps, .. }
        | PolicyChange::Revoke { rpps }
        | PolicyChange::Block { rpps }
        | PolicyChange::Unblock { rpps }
        | PolicyChange::GrantExtendedRights { rpps }
        | PolicyChange::RevokeExtendedRights { rpps } => Some(format!("rpps:{rpps}")),
        PolicyChange::SetMedecinTraitant { rpps } => rpps.as_ref().map(|r| format!("rpps:{r}")),
        PolicyChange::AddRepresentative { representative, .. } | PolicyChange::EndRepresentative { representative } => {
            Some(representative.chars().take(256).collect())
        }
        _ => None,
    }
}

/// Changes the patient hears about: who may read, who may not.
fn notifies(change: &PolicyChange) -> bool {
    matches!(
        change,
        PolicyChange::Authorize { .. }
            | PolicyChange::DeclareAuthorization { .. }
            | PolicyChange::Revoke { .. }
            | PolicyChange::Block { .. }
            | PolicyChange::Unblock { .. }
            | PolicyChange::SetMedecinTraitant { .. }
            | PolicyChange::GrantExtendedRights { .. }
            | PolicyChange::AddRepresentative { .. }
    )
}

impl Carnet {
    pub(crate) fn outbox_message(&self, ins: &Ins, kind: &str, recipient: String, payload: serde_json::Value) -> OutboxMessage {
        OutboxMessage {
            id: uuid::Uuid::new_v4().to_string(),
            ins: ins.clone(),
            kind: kind.into(),
            recipient,
            payload: payload.to_string(),
            created_at: self.now(),
            attempts: 0,
        }
    }

    async fn live_record_or_404(&self, ins: &Ins) -> Result<Record> {
        self.db.find_record_by_ins(ins).await?.ok_or(ServiceError::NotFound("record"))
    }

    /// The patient's current choices: for the holder (patient or current representative) and
    /// the privacy officer.
    pub async fn policy(&self, actor: &Actor, ins: &Ins) -> Result<PatientPolicy> {
        Ok(self.policy_and_ins_kind(actor, ins).await?.0)
    }

    /// `policy`, with the record's INS register (what FHIR `Consent.patient` needs).
    pub async fn policy_and_ins_kind(&self, actor: &Actor, ins: &Ins) -> Result<(PatientPolicy, carnet_domain::InsKind)> {
        self.scoped(actor, Operation::ReadPolicy, Some(ins)).await?;
        let Some(record) = self.db.find_record_by_ins(ins).await? else {
            self.record_event(actor, Event::deny("policy.read", Some(ins), None, "not_found")).await?;
            return Err(ServiceError::NotFound("record"));
        };
        let stored = self.db.find_policy(ins).await?;
        if let Err(denied) = authorize(actor, Action::ReadPolicy(HolderContext { ins, policy: &stored.policy, now: self.now() })) {
            self.record_event(actor, Event::deny("policy.read", Some(ins), None, denied.code())).await?;
            return Err(denied.into());
        }
        // `holder` for the privacy officer too: the code this entry has always carried.
        self.record_event(actor, Event::permit("policy.read", Some(ins), None, Grant::Holder.code())).await?;
        Ok((stored.policy, record.ins_kind))
    }

    /// Applies one change to the patient's policy, if this actor may make it.
    pub async fn change_policy(&self, actor: &Actor, ins: &Ins, mut change: PolicyChange) -> Result<PatientPolicy> {
        self.scoped(actor, Operation::ChangePolicy, Some(ins)).await?;
        let action = change_action(&change);
        let target = change_target(&change);
        let Some(_record) = self.db.find_record_by_ins(ins).await? else {
            self.record_event(actor, Event::deny(action, Some(ins), target, "not_found")).await?;
            return Err(ServiceError::NotFound("record"));
        };
        // The default window depends on the profession, which the directory knows (not the caller).
        if let PolicyChange::Authorize { rpps, profession, .. } = &mut change {
            *profession = self.db.find_professional_by_rpps(rpps).await?.map(|p| p.profession);
        }
        let now = self.now();
        let stored = self.db.find_policy(ins).await?;
        let approved = match authorize_change(actor, ins, &stored.policy, &change, now) {
            Ok(a) => a,
            Err(denied) => {
                self.record_event(actor, Event::deny(action, Some(ins), target, denied.code())).await?;
                return Err(ServiceError::Forbidden(denied.to_string()));
            }
        };
        let mut policy = stored.policy.clone();
        if let Err(e) = policy.apply(approved, now, &self.config.windows) {
            self.record_event(actor, Event::deny(action, Some(ins), target, e.code())).await?;
            return Err(match e {
                PolicyError::Blocked => ServiceError::Conflict(e.to_string()),
                other => ServiceError::Invalid(other.to_string()),
            });
        }
        self.record_event(actor, Event::permit(action, Some(ins), target.clone(), "allowed")).await?;
        let notify = if notifies(&change) {
            let who = entry_actor(actor);
            vec![self.outbox_message(
                ins,
                "policy_change",
                "patient".into(),
                json!({"change": change.code(), "target": target, "by": who.name, "by_role": who.role, "at": now.format(&Rfc3339).unwrap_or_default()}),
            )]
        } else {
            vec![]
        };
        self.db.save_policy(ins, &policy, stored.version, now, &notify).await?;
        Ok(policy)
    }

    /// Registers the representative who creates a minor's record for them, until the minor's
    /// eighteenth birthday. Their token already says they represent this INS (the identity
    /// provider's word); registering them is what lets them act (both keys are required).
    pub(crate) async fn register_creating_representative(&self, actor: &Actor, record: &Record) -> Result<()> {
        let Ok(grant) = authorize(actor, Action::RegisterAsCreator(&record.ins)) else { return Ok(()) };
        let now = self.now();
        let until = record
            .traits
            .as_ref()
            .and_then(|t| t.birth_date.replace_year(t.birth_date.year() + 18).ok())
            .map(|d| d.midnight().assume_utc());
        let kind = match until {
            Some(u) if u > now => RepresentationKind::Minor,
            _ => RepresentationKind::ProtectedAdult,
        };
        let until = until.filter(|u| *u > now);
        let stored = self.db.find_policy(&record.ins).await?;
        let mut policy = stored.policy;
        policy.representatives.retain(|r| r.representative != actor.reference());
        policy.representatives.push(carnet_domain::Representation {
            representative: actor.reference(),
            kind,
            since: now,
            until,
            registered_by: actor.reference(),
            registered_at: now,
        });
        self.record_event(actor, Event::permit("policy.add_representative", Some(&record.ins), Some(actor.reference()), grant.code()))
            .await?;
        Ok(self.db.save_policy(&record.ins, &policy, stored.version, now, &[]).await?)
    }

    /// Opens an emergency access (bris de glace, SAMU regulation). The decision and its written
    /// justification go to the ledger; the access to the privacy officer's queue; the patient
    /// and their médecin traitant are notified.
    pub async fn open_emergency(&self, actor: &Actor, ins: &Ins, kind: EmergencyKind, justification: &str) -> Result<EmergencyAccess> {
        self.scoped(actor, Operation::OpenEmergency, Some(ins)).await?;
        let action = match kind {
            EmergencyKind::BrisDeGlace => "emergency.bris_de_glace",
            EmergencyKind::Samu => "emergency.samu",
        };
        let now = self.now();
        let record = self.db.find_record_by_ins(ins).await?;
        let stored = self.db.find_policy(ins).await?;
        let status = record.as_ref().map(|r| r.status).unwrap_or(carnet_domain::RecordStatus::Destroyed);
        let request = EmergencyRequest { kind, justification, duration: self.config.emergency_duration };
        let access = match open_emergency(actor, ins, status, &stored.policy, &request, now) {
            Ok(access) => access,
            Err(denied) => {
                // A missing record is refused like an opposed one: nothing to learn from trying.
                let code = if record.is_none() { "not_found" } else { denied.code() };
                // What was written is kept (committed to, sealed) only for a record that exists
                // and within the length a justification may have.
                let j = justification.trim();
                let mut event = Event::deny(action, Some(ins), None, code);
                if record.is_some() && !j.is_empty() && j.chars().count() <= carnet_domain::emergency::MAX_JUSTIFICATION {
                    event = event.with_justification_commitment(self.commit_justification(ins, j).await?);
                }
                self.record_event(actor, event).await?;
                return Err(match denied {
                    EmergencyDenied::Justification => ServiceError::Invalid(denied.to_string()),
                    EmergencyDenied::Role(_) => ServiceError::Forbidden(denied.to_string()),
                    _ => ServiceError::Forbidden("emergency access to this record is not possible".into()),
                });
            }
        };
        let commitment = self.commit_justification(ins, &access.justification).await?;
        let index = self
            .record_event(actor, Event::permit(action, Some(ins), None, "emergency").with_justification_commitment(commitment.clone()))
            .await?;
        let who = entry_actor(actor);
        let payload = json!({
            "kind": kind.code(), "actor": who.name, "profession": who.profession, "organisation": who.organisation,
            "at": now.format(&Rfc3339).unwrap_or_default(), "until": access.expires_at.format(&Rfc3339).unwrap_or_default(),
        });
        let mut notify = vec![self.outbox_message(ins, "emergency_access", "patient".into(), payload.clone())];
        if let Some(mt) = &stored.policy.medecin_traitant {
            notify.push(self.outbox_message(ins, "emergency_access", format!("rpps:{mt}"), payload));
        }
        let review = ReviewItem {
            id: uuid::Uuid::new_v4().to_string(),
            kind: "emergency".into(),
            ins: Some(ins.clone()),
            actor_ref: actor.reference(),
            summary: format!("{} until {}", kind.code(), access.expires_at.format(&Rfc3339).unwrap_or_default()),
            ledger_index: Some(index),
            opened_at: now,
            status: "open".into(),
            notes: "[]".into(),
            version: 0,
        };
        // The row names the sealed opening; the caller gets the text it wrote.
        let stored = EmergencyAccess { justification: crate::sealing::commitment_reference(&commitment), ..access.clone() };
        self.db.save_emergency(&uuid::Uuid::new_v4().to_string(), &stored, &review, &notify).await?;
        tracing::warn!(actor = %actor.reference(), kind = kind.code(), "emergency access opened");
        Ok(access)
    }

    /// Sets a document's labels to exactly `labels`: each added or lifted label must be the
    /// actor's to change (MASQUE_PS the holder's; INVISIBLE_* the author's).
    pub async fn set_labels(&self, actor: &Actor, id: DocumentId, labels: Vec<SecurityLabel>) -> Result<DocumentView> {
        let (visible, documents) = self.visible_document_scoped(actor, id, DocumentAction::Label).await?;
        let meta = visible.meta().clone();
        let record = self.live_record_or_404(&meta.ins).await?;
        let gate = self.gate(actor, &record, documents).await?;
        let mut wanted = labels;
        wanted.sort();
        wanted.dedup();
        let changed: Vec<SecurityLabel> =
            SecurityLabel::ALL.into_iter().filter(|l| wanted.contains(l) != meta.labels.contains(l)).collect();
        for label in &changed {
            if let Err(denied) = authorize_label_change(actor, &gate.label_context(), gate.policy(), &meta, *label) {
                self.record_event(actor, Event::deny("document.label", Some(&meta.ins), Some(id.to_string()), denied.code())).await?;
                return Err(match denied {
                    carnet_domain::LabelDenied::NotVisible => ServiceError::NotFound("document"),
                    other => ServiceError::Forbidden(other.to_string()),
                });
            }
        }
        if changed.is_empty() {
            return self.view(&visible).await;
        }
        let codes: Vec<&str> = changed.iter().map(|l| l.code()).collect();
        self.record_event(actor, Event::permit("document.label", Some(&meta.ins), Some(id.to_string()), &codes.join(":"))).await?;
        let mut new = meta.clone();
        new.labels = wanted;
        self.db.save_document_state(&new, meta.status).await?;
        match gate.admit(new.clone()) {
            Some(v) => self.view(&v).await,
            None => Ok(DocumentView { meta: new, title: None }),
        }
    }

    /// Deletes the reimbursement history (rule 13): every REMB document of the record, bytes
    /// and rows. The holder only.
    pub async fn delete_reimbursement_history(&self, actor: &Actor, ins: &Ins) -> Result<usize> {
        let scope = self.scoped(actor, Operation::DeleteReimbursement, Some(ins)).await?;
        let Some(_record) = self.db.find_record_by_ins(ins).await? else {
            self.record_event(actor, Event::deny("reimbursement.delete", Some(ins), None, "not_found")).await?;
            return Err(ServiceError::NotFound("record"));
        };
        let stored = self.db.find_policy(ins).await?;
        let context = HolderContext { ins, policy: &stored.policy, now: self.now() };
        let grant = match authorize(actor, Action::DeleteReimbursementHistory(context)) {
            Ok(grant) => grant,
            Err(denied) => {
                self.record_event(actor, Event::deny("reimbursement.delete", Some(ins), None, denied.code())).await?;
                return Err(denied.into());
            }
        };
        let remb: Vec<_> = self
            .db
            .find_documents_of(ins)
            .await?
            .into_iter()
            .map(|(d, _)| d)
            .filter(|d| d.xds.type_code.code == REIMBURSEMENT_TYPE && scope.admits(&d.xds))
            .collect();
        self.record_event(actor, Event::permit("reimbursement.delete", Some(ins), Some(format!("deleted:{}", remb.len())), grant.code()))
            .await?;
        for d in &remb {
            self.blobs.delete(d.id).await?;
            match self.db.delete_document(d.id).await {
                Ok(()) | Err(StoreError::Stale(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(remb.len())
    }
}
