//! The apps a patient connected: SMART on FHIR clients whose tokens act for a patient or a
//! representative with granted scopes. Each use on a record the token speaks for is noted in
//! the registry (at most about once a minute per app and record); the holder lists the apps,
//! revokes one and allows it again. A revoked app is refused on that record on every path, on
//! every node: `admit_app` reads the registry on each of the app's requests, with no cache to
//! go stale.

use carnet_domain::{Action, ActionDenied, Actor, ActorKind, HolderContext, Ins, authorize};
use carnet_store::{AppStore, AppUse, ConnectedApp, PolicyStore, RecordStore, Revocation};

use crate::audit::Event;
use crate::{Carnet, Result, ServiceError};

/// A use refreshes the registry's last use when the one noted is older than this: a busy app
/// does not write on every request.
const LAST_USE_PRECISION: time::Duration = time::Duration::minutes(1);

/// The longest client id Carnet keeps (the ledger's bound on the app it names).
const MAX_CLIENT_ID: usize = 256;

/// What `admit_app` makes of a request.
// Built once per request and unpacked at once: boxing the actor would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// The request goes on as this actor: unchanged, or for a representative without the
    /// records whose holder revoked the app.
    Admitted(Actor),
    /// The holder revoked the app on the record (every record) the token speaks for.
    Revoked,
    /// The token's client id cannot name an app (empty, too long, control characters): the
    /// ledger could not record what it does.
    UnusableClientId,
}

fn usable_client_id(client_id: &str) -> bool {
    !client_id.is_empty() && client_id.chars().count() <= MAX_CLIENT_ID && !client_id.chars().any(char::is_control)
}

/// The client id of the app an actor acts through: a token naming a client with granted SMART
/// scopes. A token without scopes (the portal's own session, practice software) is no app.
pub(crate) fn app_of(actor: &Actor) -> Option<&str> {
    actor.scopes.granted().and(actor.client.as_deref())
}

impl Carnet {
    /// The catalogue's name for an app, else its client id.
    pub fn app_name<'a>(&'a self, client_id: &'a str) -> &'a str {
        self.config.apps.get(client_id).map_or(client_id, String::as_str)
    }

    /// Called once per request, right after the token is verified, so that no path forgets it:
    /// an app acting for a patient or a representative is noted as used on each record the
    /// token speaks for, unless the holder revoked it there. Every other actor is admitted as is.
    pub async fn admit_app(&self, actor: Actor) -> Result<Admission> {
        if app_of(&actor).is_some_and(|client| !usable_client_id(client)) {
            return Ok(Admission::UnusableClientId);
        }
        let (Some(client), Some(granted), Some(records)) = (app_of(&actor), actor.scopes.granted(), actor.spoken_for()) else {
            return Ok(Admission::Admitted(actor));
        };
        let found = self.db.find_app_on(client, records).await?;
        let now = self.now();
        let scopes = granted.iter().map(ToString::to_string).collect::<Vec<_>>().join(" ");
        let name = self.app_name(client);
        let mut revoked = Vec::new();
        for ins in records {
            match found.iter().find(|a| a.ins == *ins) {
                Some(app) if app.revoked.is_some() => revoked.push(ins.clone()),
                Some(app) if app.scopes == scopes && app.name == name && now - app.last_used_at < LAST_USE_PRECISION => {}
                _ => self.db.note_app_use(&AppUse { ins, client_id: client, name, scopes: &scopes, at: now }).await?,
            }
        }
        if revoked.is_empty() {
            return Ok(Admission::Admitted(actor));
        }
        let remaining: Vec<Ins> = records.iter().filter(|i| !revoked.contains(i)).cloned().collect();
        if remaining.is_empty() {
            for ins in &revoked {
                self.record_event(&actor, Event::deny("app.access", Some(ins), Some(client.to_owned()), "app_revoked")).await?;
            }
            return Ok(Admission::Revoked);
        }
        // A representative keeps the records where the app still may act; on the others the
        // token no longer speaks for the patient, and each use case refuses as for anyone else.
        let mut narrowed = actor;
        narrowed.kind = ActorKind::Representative { represents: remaining };
        Ok(Admission::Admitted(narrowed))
    }

    /// The apps connected to a record, for its holder.
    pub async fn connected_apps(&self, actor: &Actor, ins: &Ins) -> Result<Vec<ConnectedApp>> {
        self.holder_of_apps(actor, ins, "apps.read", None).await?;
        Ok(self.db.find_apps_of(ins).await?)
    }

    /// The holder refuses an app their record: its tokens are refused there from the next
    /// request on, until `allow_app`.
    pub async fn revoke_app(&self, actor: &Actor, ins: &Ins, client_id: &str) -> Result<ConnectedApp> {
        let revocation = Revocation { at: self.now(), by: actor.reference() };
        self.change_app(actor, ins, client_id, "app.revoke", Some(revocation)).await
    }

    /// The holder lets a revoked app act on their record again.
    pub async fn allow_app(&self, actor: &Actor, ins: &Ins, client_id: &str) -> Result<ConnectedApp> {
        self.change_app(actor, ins, client_id, "app.allow", None).await
    }

    async fn change_app(
        &self,
        actor: &Actor,
        ins: &Ins,
        client_id: &str,
        action: &'static str,
        revocation: Option<Revocation>,
    ) -> Result<ConnectedApp> {
        if !usable_client_id(client_id) {
            return Err(ServiceError::Invalid(format!("client_id: 1 to {MAX_CLIENT_ID} characters, without control characters")));
        }
        // Decided before the registry is read: a refusal says nothing of the apps the record uses.
        self.holder_of_apps(actor, ins, action, Some(client_id)).await?;
        if !self.db.set_app_revocation(ins, client_id, revocation.as_ref()).await? {
            return Err(ServiceError::NotFound("app"));
        }
        let found = self.db.find_app_on(client_id, std::slice::from_ref(ins)).await?;
        found.into_iter().next().ok_or(ServiceError::NotFound("app"))
    }

    /// The holder's right to manage the record's apps, in the ledger either way. Like the other
    /// holder pages, a refusal answers as a missing record (an app's token included: told
    /// otherwise, it would learn whether the record exists).
    async fn holder_of_apps(&self, actor: &Actor, ins: &Ins, action: &'static str, client_id: Option<&str>) -> Result<()> {
        // An app's token is refused by its scopes first (no scope grants this), before the record is looked up.
        self.scoped(actor, carnet_domain::Operation::ManageApps, Some(ins)).await?;
        let decision = match self.db.find_record_by_ins(ins).await? {
            Some(_) => {
                let policy = self.db.find_policy(ins).await?.policy;
                authorize(actor, Action::ManageApps(HolderContext { ins, policy: &policy, now: self.now() }))
            }
            None => Err(ActionDenied::NotHolderForApps),
        };
        let target = client_id.map(str::to_owned);
        match decision {
            Ok(grant) => {
                self.record_event(actor, Event::permit(action, Some(ins), target, grant.code())).await?;
                Ok(())
            }
            Err(denied) => {
                self.record_event(actor, Event::deny(action, Some(ins), target, denied.code())).await?;
                Err(ServiceError::NotFound("record"))
            }
        }
    }
}
