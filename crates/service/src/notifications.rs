//! Notifications: the patient's preferences (e-mail on/off, a webhook for SMS gateways), and the
//! delivery of the durable outbox through a `Courier`, with retries and exponential backoff.
//! Messages say who did what and when — never clinical content.

use carnet_crypto::DataKey;
use carnet_domain::{Action, ActionDenied, Actor, HolderContext, Ins, Rpps, authorize};
use carnet_store::{DirectoryStore, NotificationStore, OutboxMessage, PolicyStore, RecordStore, StoredPreferences};
use time::Duration;

use crate::audit::Event;
use crate::sealing::{Purpose, open_for, seal_for};
use crate::{Carnet, Result, ServiceError};

/// Delivers messages: SMTP and HTTP in production (`carnet-notify`), anything in tests.
pub trait Courier: Send + Sync {
    fn send_email(&self, to: &str, subject: &str, body: &str) -> impl std::future::Future<Output = std::result::Result<(), String>> + Send;
    fn post_webhook(
        &self,
        url: &str,
        payload: &serde_json::Value,
    ) -> impl std::future::Future<Output = std::result::Result<(), String>> + Send;
}

/// A patient's notification preferences, as they set and read them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Preferences {
    pub email: Option<String>,
    pub email_enabled: bool,
    pub webhook_url: Option<String>,
    /// The kinds of message the holder does not want (codes of [`MUTABLE_KINDS`]).
    pub muted: Vec<String>,
}

/// What one delivery round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    pub delivered: usize,
    pub failed: usize,
    /// Messages with no channel (no address, e-mail off, no webhook): marked delivered.
    pub skipped: usize,
}

const EMAIL_CONTEXT: &[u8] = b"carnet-notification-email-v1";
const WEBHOOK_CONTEXT: &[u8] = b"carnet-notification-webhook-v1";

/// Backoff after `attempts` failures: 30 s, 1 min, 2 min… capped at 6 h.
/// Messages claimed at a time: few, so that a claim's lease outlasts their delivery even when
/// each waits for the courier's timeout (20 s per channel, two channels).
const DELIVERY_CLAIM: u32 = 5;
/// How long a claim keeps other nodes off its messages; a node that died holding them leaves
/// them to be sent by another once it ends.
const DELIVERY_LEASE: Duration = Duration::minutes(10);
/// Messages taken in one round at most, so a long backlog yields to the other periodic work.
const DELIVERY_ROUND: usize = 100;

pub fn backoff(attempts: u32) -> Duration {
    let seconds = 30i64.saturating_mul(1i64 << attempts.min(20));
    Duration::seconds(seconds.min(6 * 3600))
}

fn plausible_url(u: &str) -> bool {
    (u.starts_with("https://") || u.starts_with("http://")) && u.len() <= 2000 && !u.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// The kinds of message the patient is sent (the outbox's `kind`s addressed to the patient):
/// a new document, a professional's first consultation, an emergency access, a change of their
/// choices of who may read.
pub const NOTIFICATION_KINDS: [&str; 4] = ["new_document", "first_access", "emergency_access", "policy_change"];

/// The kinds a holder may choose not to receive. An emergency access is always notified: that
/// the patient learns of it is what lets the emergency rules stand (and why it is reviewed).
pub const MUTABLE_KINDS: [&str; 3] = ["new_document", "first_access", "policy_change"];

/// Subject and body (French, the patients' language) of a message. Names of professionals and
/// codes only.
pub fn render(message: &OutboxMessage) -> (String, String) {
    let p: serde_json::Value = serde_json::from_str(&message.payload).unwrap_or_default();
    let s = |k: &str| p.get(k).and_then(|v| v.as_str()).unwrap_or("").to_owned();
    let who = {
        let name = s("actor");
        let name = if name.is_empty() { s("by") } else { name };
        if name.is_empty() { "Un professionnel".to_owned() } else { name }
    };
    match message.kind.as_str() {
        "new_document" => (
            "Un nouveau document dans votre dossier".into(),
            format!(
                "Un nouveau document a été ajouté à votre dossier médical partagé le {} par {}.\nConnectez-vous à Carnet pour le consulter.",
                s("at"),
                who
            ),
        ),
        "first_access" => (
            "Un professionnel a consulté votre dossier".into(),
            format!(
                "{} (profession {}, établissement {}) a consulté votre dossier médical partagé pour la première fois le {}.\nVous pouvez retirer une autorisation ou bloquer un professionnel à tout moment.",
                who,
                s("profession"),
                s("organisation"),
                s("at")
            ),
        ),
        "emergency_access" => (
            "Accès en urgence à votre dossier".into(),
            format!(
                "{} a ouvert votre dossier en urgence ({}) le {}, jusqu'au {}.\nCet accès est examiné par le délégué à la protection des données.",
                who,
                if s("kind") == "samu" { "régulation SAMU" } else { "bris de glace" },
                s("at"),
                s("until")
            ),
        ),
        "policy_change" => (
            "Vos choix d'accès ont changé".into(),
            format!("Modification de vos choix d'accès ({}) par {} le {}.", s("change"), who, s("at")),
        ),
        other => ("Carnet".into(), format!("Événement {other} sur votre dossier.")),
    }
}

/// The message with its sealed author name (`actor_sealed`) opened into `actor`, as `render`
/// reads it. A name that does not open is left out ("Un professionnel").
fn with_author_opened(key: &DataKey, message: &OutboxMessage) -> OutboxMessage {
    let Ok(serde_json::Value::Object(mut payload)) = serde_json::from_str(&message.payload) else { return message.clone() };
    let Some(serde_json::Value::String(sealed)) = payload.remove("actor_sealed") else { return message.clone() };
    if let Some(name) = open_for(key, &message.ins, Purpose::AuthorName, &sealed) {
        payload.insert("actor".into(), serde_json::Value::String(name));
    }
    OutboxMessage { payload: serde_json::Value::Object(payload).to_string(), ..message.clone() }
}

/// The stored list of kinds not wanted.
fn muted_kinds(stored: &str) -> Vec<String> {
    stored.split(',').filter(|k| !k.is_empty()).map(str::to_owned).collect()
}

impl Carnet {
    async fn holder_or_forbidden(&self, actor: &Actor, ins: &Ins, action: &'static str) -> Result<()> {
        let decision = match self.db.find_record_by_ins(ins).await? {
            Some(_) => {
                let policy = self.db.find_policy(ins).await?.policy;
                authorize(actor, Action::ManageNotifications(HolderContext { ins, policy: &policy, now: self.now() }))
            }
            None => Err(ActionDenied::NotHolder),
        };
        match decision {
            Ok(grant) => {
                self.record_event(actor, Event::permit(action, Some(ins), None, grant.code())).await?;
                Ok(())
            }
            Err(denied) => {
                // Answered as a missing record: whether there is one is not this caller's to learn.
                self.record_event(actor, Event::deny(action, Some(ins), None, denied.code())).await?;
                Err(ServiceError::NotFound("record"))
            }
        }
    }

    pub async fn notification_preferences(&self, actor: &Actor, ins: &Ins) -> Result<Preferences> {
        self.scoped(actor, carnet_domain::Operation::ReadNotificationPreferences, Some(ins)).await?;
        self.holder_or_forbidden(actor, ins, "notifications.read").await?;
        let Some(stored) = self.db.find_preferences(ins).await? else { return Ok(Preferences::default()) };
        let key = self.data_key_or_create(ins).await?;
        let open = |sealed: Option<Vec<u8>>, context: &[u8]| -> Result<Option<String>> {
            sealed
                .map(|s| {
                    let bytes = carnet_crypto::open(&key, context, &s)?;
                    String::from_utf8(bytes).map_err(|_| ServiceError::Crypto(carnet_crypto::CryptoError::Format("not UTF-8")))
                })
                .transpose()
        };
        Ok(Preferences {
            email: open(stored.email_sealed, EMAIL_CONTEXT)?,
            email_enabled: stored.email_enabled,
            webhook_url: open(stored.webhook_sealed, WEBHOOK_CONTEXT)?,
            muted: muted_kinds(&stored.muted_kinds),
        })
    }

    pub async fn set_notification_preferences(&self, actor: &Actor, ins: &Ins, prefs: Preferences) -> Result<Preferences> {
        self.scoped(actor, carnet_domain::Operation::SetNotificationPreferences, Some(ins)).await?;
        if let Some(e) = prefs.email.as_deref()
            && !carnet_domain::directory::plausible_email(e)
        {
            return Err(ServiceError::Invalid("email: an address such as name@example.org".into()));
        }
        if prefs.email_enabled && prefs.email.is_none() {
            return Err(ServiceError::Invalid("email: required to turn e-mail notifications on".into()));
        }
        if let Some(u) = prefs.webhook_url.as_deref()
            && !plausible_url(u)
        {
            return Err(ServiceError::Invalid("webhook_url: an http(s) URL of at most 2000 characters".into()));
        }
        if let Some(kind) = prefs.muted.iter().find(|k| !MUTABLE_KINDS.contains(&k.as_str())) {
            return Err(ServiceError::Invalid(if kind == "emergency_access" {
                "muted: emergency accesses are always notified".into()
            } else {
                format!("muted: one of {}", MUTABLE_KINDS.join(", "))
            }));
        }
        self.holder_or_forbidden(actor, ins, "notifications.set").await?;
        let key = self.data_key_or_create(ins).await?;
        let mut muted: Vec<String> =
            MUTABLE_KINDS.iter().filter(|k| prefs.muted.iter().any(|m| m == *k)).map(|k| (*k).to_owned()).collect();
        muted.dedup();
        let stored = StoredPreferences {
            email_sealed: prefs.email.as_deref().map(|e| carnet_crypto::seal(&key, EMAIL_CONTEXT, e.as_bytes())),
            email_enabled: prefs.email_enabled,
            webhook_sealed: prefs.webhook_url.as_deref().map(|u| carnet_crypto::seal(&key, WEBHOOK_CONTEXT, u.as_bytes())),
            muted_kinds: muted.join(","),
        };
        self.db.save_preferences(ins, &stored, self.now()).await?;
        Ok(Preferences { muted, ..prefs })
    }

    /// Delivers what is due, up to `DELIVERY_ROUND` messages; failures are retried later with
    /// backoff. Safe on any number of nodes at once: messages are claimed a few at a time under a
    /// lease in this node's name (`claim_due_messages`), so two nodes never send the same one, and
    /// one claimed by a node that died before marking it is sent again when its lease ends (at
    /// once if the node shut down: `release_leases`).
    pub async fn deliver_notifications<C: Courier>(&self, courier: &C) -> Result<DeliveryReport> {
        let mut report = DeliveryReport::default();
        let mut taken = 0;
        while taken < DELIVERY_ROUND {
            let now = self.now();
            let claimed = self.db.claim_due_messages(&self.node, now, now + DELIVERY_LEASE, DELIVERY_CLAIM).await?;
            if claimed.is_empty() {
                break;
            }
            taken += claimed.len();
            self.deliver_claimed(courier, claimed, &mut report).await?;
        }
        Ok(report)
    }

    async fn deliver_claimed<C: Courier>(&self, courier: &C, claimed: Vec<OutboxMessage>, report: &mut DeliveryReport) -> Result<()> {
        for message in claimed {
            let now = self.now();
            match self.deliver_one(courier, &message).await {
                Ok(true) => {
                    self.db.mark_delivered(&message.id, now).await?;
                    report.delivered += 1;
                }
                Ok(false) => {
                    self.db.mark_delivered(&message.id, now).await?;
                    report.skipped += 1;
                }
                Err(e) => {
                    tracing::warn!(message = %message.id, attempts = message.attempts + 1, error = %e, "notification not delivered; will retry");
                    self.db.mark_failed(&message.id, &e, now + backoff(message.attempts)).await?;
                    report.failed += 1;
                }
            }
        }
        Ok(())
    }

    /// Sends one message on every channel its recipient has; `Ok(false)` if it has none.
    async fn deliver_one<C: Courier>(&self, courier: &C, message: &OutboxMessage) -> std::result::Result<bool, String> {
        if let Some(rpps) = message.recipient.strip_prefix("rpps:") {
            let (subject, body) = render(message);
            let rpps: Rpps = rpps.parse().map_err(|e| format!("recipient: {e}"))?;
            let email = self.db.find_professional_by_rpps(&rpps).await.map_err(|e| e.to_string())?.and_then(|p| p.email);
            return match email {
                Some(to) => courier.send_email(&to, &subject, &body).await.map(|()| true),
                None => Ok(false),
            };
        }
        let prefs = self.db.find_preferences(&message.ins).await.map_err(|e| e.to_string())?;
        let Some(prefs) = prefs else { return Ok(false) };
        // Not wanted: done, without a channel (emergencies cannot be muted).
        if message.kind != "emergency_access" && muted_kinds(&prefs.muted_kinds).contains(&message.kind) {
            return Ok(false);
        }
        // The record may have been destroyed since (its key shredded): nothing to send then.
        let Ok(Some(key)) = self.data_key(&message.ins).await else { return Ok(false) };
        let (subject, body) = render(&with_author_opened(&key, message));
        let mut sent = false;
        if prefs.email_enabled
            && let Some(sealed) = &prefs.email_sealed
        {
            let to = carnet_crypto::open(&key, EMAIL_CONTEXT, sealed).map_err(|e| e.to_string())?;
            let to = String::from_utf8(to).map_err(|e| e.to_string())?;
            courier.send_email(&to, &subject, &body).await?;
            sent = true;
        }
        if let Some(sealed) = &prefs.webhook_sealed {
            let url = carnet_crypto::open(&key, WEBHOOK_CONTEXT, sealed).map_err(|e| e.to_string())?;
            let url = String::from_utf8(url).map_err(|e| e.to_string())?;
            let payload = serde_json::json!({"kind": message.kind, "subject": subject, "text": body, "id": message.id});
            courier.post_webhook(&url, &payload).await?;
            sent = true;
        }
        Ok(sent)
    }

    /// Queues the "new document" notification of a deposit (called inside the deposit's transaction).
    /// The author's name is the one the document declares (free text): sealed under the
    /// patient's `key` in the outbox, opened at delivery.
    pub(crate) fn new_document_message(&self, ins: &Ins, author_name: Option<String>, key: &DataKey) -> OutboxMessage {
        let at = self.now().format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
        let sealed = author_name.map(|name| seal_for(key, ins, Purpose::AuthorName, &name));
        self.outbox_message(ins, "new_document", "patient".into(), serde_json::json!({"actor_sealed": sealed, "at": at}))
    }
}
