//! Patients' data keys (created at the first deposit, stored only wrapped) and master-key
//! rotation.

use carnet_crypto::{DataKey, KeyProvider, ServiceSecret};
use carnet_domain::{Action, Actor, Ins, authorize};
use carnet_ledger::Ed25519Signer;
use carnet_store::{Database, KeyStore};
use serde::Serialize;

use crate::audit::Event;
use crate::{Carnet, Result};

/// What a master-key rotation did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RotationReport {
    pub new_master_key: String,
    pub rewrapped: usize,
    pub retired: Vec<String>,
}

/// The name of the ledger's signing key seed among the service secrets.
const LEDGER_SIGNING: &str = "ledger-signing";

/// The ledger's Ed25519 signer: its seed is a service secret, created once and kept wrapped by
/// the master key in the metadata database (so every node of a cluster signs with one key).
pub async fn ledger_signer(db: &Database, keys: &dyn KeyProvider) -> Result<Ed25519Signer> {
    let fresh = ServiceSecret::generate();
    let wrapped = fresh.wrap(keys, LEDGER_SIGNING)?;
    let kept = db.save_service_key_if_absent(LEDGER_SIGNING, &wrapped, time::OffsetDateTime::now_utc()).await?;
    let seed = ServiceSecret::unwrap(keys, &kept, LEDGER_SIGNING)?;
    Ok(Ed25519Signer::from_seed(seed.expose()))
}

/// The ledger's public key, read only (nothing created): `None` if the database holds no
/// signing key yet. For checking a backup's ledger against the keys kept with it.
pub async fn ledger_public_key(db: &Database, keys: &dyn KeyProvider) -> Result<Option<[u8; 32]>> {
    let Some((_, wrapped)) = db.all_service_keys().await?.into_iter().find(|(name, _)| name == LEDGER_SIGNING) else {
        return Ok(None);
    };
    let seed = ServiceSecret::unwrap(keys, &wrapped, LEDGER_SIGNING)?;
    Ok(Some(carnet_ledger::TreeHeadSigner::public_key(&Ed25519Signer::from_seed(seed.expose()))))
}

/// A rotation waits this long between its last rewrap pass and retiring the old keys, so that a
/// wrap a running server made just before the switch is caught by the final pass.
const ROTATION_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// Unwrapped data keys, kept a short while so that a burst of reads of one record (a search
/// rendering fifty titles, a retrieval after a search) costs one database read and one unwrap.
///
/// Why it is safe: a cached key is used only after the gate admitted the request, and the gate
/// reads the record's status and the patient's policy afresh each time — a destroyed record is
/// refused before any key is touched, and its blobs are deleted right after its key. The cache
/// is bounded (`KEY_CACHE_CAPACITY`, cleared when full), entries expire after `KEY_CACHE_TTL`,
/// shredding evicts at once on this node, and keys are zeroed when dropped. A rotation changes
/// only the wrapping, never the key, so it invalidates nothing.
#[derive(Default)]
pub(crate) struct KeyCache(std::collections::HashMap<Ins, (DataKey, std::time::Instant)>);

const KEY_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(60);
const KEY_CACHE_CAPACITY: usize = 10_000;

impl Carnet {
    /// The patient's data key, if they have one (they do once a document was deposited).
    pub(crate) async fn data_key(&self, ins: &Ins) -> Result<Option<DataKey>> {
        if let Ok(cache) = self.key_cache.lock()
            && let Some((key, at)) = cache.0.get(ins)
            && at.elapsed() < KEY_CACHE_TTL
        {
            return Ok(Some(key.clone()));
        }
        let Some(wrapped) = self.db.find_patient_key(ins).await? else { return Ok(None) };
        let key = self.keys.unwrap(&wrapped, ins.as_str().as_bytes())?;
        if let Ok(mut cache) = self.key_cache.lock() {
            if cache.0.len() >= KEY_CACHE_CAPACITY {
                cache.0.clear();
            }
            cache.0.insert(ins.clone(), (key.clone(), std::time::Instant::now()));
        }
        Ok(Some(key))
    }

    /// Forgets a patient's key on this node (crypto-shredding).
    pub(crate) fn forget_key(&self, ins: &Ins) {
        if let Ok(mut cache) = self.key_cache.lock() {
            cache.0.remove(ins);
        }
    }

    /// The patient's data key, created (and stored wrapped) on first use. Two first deposits
    /// racing agree on one key: the store keeps the first wrap and both unwrap it.
    pub(crate) async fn data_key_or_create(&self, ins: &Ins) -> Result<DataKey> {
        if let Some(key) = self.data_key(ins).await? {
            return Ok(key);
        }
        let fresh = DataKey::generate();
        let wrapped = self.keys.wrap(&fresh, ins.as_str().as_bytes())?;
        let kept = self.db.save_patient_key_if_absent(ins, &wrapped, self.now()).await?;
        Ok(self.keys.unwrap(&kept, ins.as_str().as_bytes())?)
    }

    /// Rotates the master key: a new one becomes active, every data key is rewrapped under it
    /// (all or nothing per pass), then the old master keys are deleted. No blob is touched.
    pub async fn rotate_master_key(&self, actor: &Actor) -> Result<RotationReport> {
        self.scoped(actor, carnet_domain::Operation::RotateKeys, None).await?;
        match authorize(actor, Action::RotateKeys) {
            Ok(grant) => self.record_event(actor, Event::permit("keys.rotate", None, None, grant.code())).await?,
            Err(denied) => {
                self.record_event(actor, Event::deny("keys.rotate", None, None, denied.code())).await?;
                return Err(denied.into());
            }
        };
        let new = self.keys.rotate()?;
        let mut rewrapped = self.rewrap_all_under(&new).await?;
        tokio::time::sleep(ROTATION_GRACE).await;
        rewrapped += self.rewrap_all_under(&new).await?;
        let retired = self.keys.retire_inactive()?;
        tracing::info!(new_master_key = %new, rewrapped, retired = ?retired, "master key rotated");
        Ok(RotationReport { new_master_key: new, rewrapped, retired })
    }

    async fn rewrap_all_under(&self, master: &str) -> Result<usize> {
        let mut changes = Vec::new();
        for (ins, old) in self.db.all_patient_keys().await? {
            if old.master_key_id == master {
                continue;
            }
            let context = ins.as_str().as_bytes().to_vec();
            let key = self.keys.unwrap(&old, &context)?;
            let new = self.keys.wrap(&key, &context)?;
            changes.push((ins, old, new));
        }
        self.db.save_rewrapped_keys(&changes).await?;
        let mut services = Vec::new();
        for (name, old) in self.db.all_service_keys().await? {
            if old.master_key_id == master {
                continue;
            }
            let secret = ServiceSecret::unwrap(self.keys.as_ref(), &old, &name)?;
            let new = secret.wrap(self.keys.as_ref(), &name)?;
            services.push((name, old, new));
        }
        self.db.save_rewrapped_service_keys(&services).await?;
        Ok(changes.len())
    }
}
