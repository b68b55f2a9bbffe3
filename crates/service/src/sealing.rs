//! Free text sealed at rest: what a professional, a patient or the privacy officer writes in
//! their own words is stored only sealed, so that crypto-shredding a record (its key deleted)
//! makes it unreadable everywhere it was kept.
//!
//! - An emergency justification: its ledger entry carries a commitment
//!   ([`carnet_ledger::JustificationOpening`]), and the opening (nonce and text) is kept sealed
//!   under the patient's key by that commitment; the emergency access row names the commitment.
//! - A record's close reason and the declared author name of a "new document" notification:
//!   sealed under the patient's key in their own column (`sealed:v1:` and base64).
//! - The privacy officer's review notes: sealed under a service key (a data key derived from a
//!   service secret wrapped by the key provider, like the ledger's signing seed), since they are
//!   the officer's, not a record's.
//!
//! Values stored before sealing (no `sealed:` prefix) read as they are.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use carnet_crypto::{DataKey, ServiceSecret};
use carnet_domain::Ins;
use carnet_ledger::{JustificationOpening, RecordedEntry};
use carnet_store::{KeyStore, PolicyStore, RecordStore, ReviewStore, StoreError};
use rand::RngCore;

use crate::{Carnet, Result};

/// What the pages show of a justification whose record was crypto-shredded.
pub const UNREADABLE_JUSTIFICATION: &str = "justification illisible : dossier effacé";
/// What the pages show of a close reason whose record was crypto-shredded.
pub const UNREADABLE_CLOSE_REASON: &str = "motif illisible : dossier effacé";

/// The prefix of a value sealed in its own column.
const SEALED: &str = "sealed:v1:";
/// The prefix of an emergency access row's justification since it is sealed: the commitment
/// that names its opening.
const COMMITMENT: &str = "commitment:";
/// The service secret the review notes' key is derived from.
const REVIEW_NOTES: &str = "review-notes";

/// What a sealed value is for, bound into its sealing (a value copied into another column or
/// record does not open there).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Purpose {
    CloseReason,
    AuthorName,
}

impl Purpose {
    fn context(self, ins: &Ins) -> Vec<u8> {
        let purpose = match self {
            Purpose::CloseReason => "close-reason",
            Purpose::AuthorName => "author-name",
        };
        format!("carnet.{purpose}:{}", ins.as_str()).into_bytes()
    }
}

fn justification_context(ins: &Ins, commitment: &str) -> Vec<u8> {
    format!("carnet.justification:{}:{commitment}", ins.as_str()).into_bytes()
}

/// A value sealed under `key` for `context`, in its column's text form.
fn seal_text(key: &DataKey, context: &[u8], text: &str) -> String {
    format!("{SEALED}{}", STANDARD.encode(carnet_crypto::seal(key, context, text.as_bytes())))
}

/// Opens a value in its column's text form; `None` if it does not open.
fn open_text(key: &DataKey, context: &[u8], stored: &str) -> Option<String> {
    let sealed = STANDARD.decode(stored.strip_prefix(SEALED)?).ok()?;
    String::from_utf8(carnet_crypto::open(key, context, &sealed).ok()?).ok()
}

fn open_notes(key: &DataKey, stored: &str) -> Result<String> {
    open_text(key, REVIEW_NOTES.as_bytes(), stored)
        .ok_or_else(|| crate::ServiceError::Crypto(carnet_crypto::CryptoError::Integrity("review notes")))
}

/// Whether a stored value is sealed (values stored before sealing are not).
pub(crate) fn is_sealed(stored: &str) -> bool {
    stored.starts_with(SEALED)
}

/// A name sealed under the patient's `key` for a notification's payload.
pub(crate) fn seal_for(key: &DataKey, ins: &Ins, purpose: Purpose, text: &str) -> String {
    seal_text(key, &purpose.context(ins), text)
}

/// Opens what `seal_for` sealed; `None` if it does not open.
pub(crate) fn open_for(key: &DataKey, ins: &Ins, purpose: Purpose, stored: &str) -> Option<String> {
    open_text(key, &purpose.context(ins), stored)
}

/// The emergency access row's form of a justification committed to.
pub(crate) fn commitment_reference(commitment: &str) -> String {
    format!("{COMMITMENT}{commitment}")
}

impl Carnet {
    /// Seals `text` under the patient's key (created if they have none yet).
    pub(crate) async fn seal_for_record(&self, ins: &Ins, purpose: Purpose, text: &str) -> Result<String> {
        let key = self.data_key_or_create(ins).await?;
        Ok(seal_text(&key, &purpose.context(ins), text))
    }

    /// Opens what `seal_for_record` sealed: `None` once the record's key is gone (shredded) or if
    /// it does not open. A value stored before sealing is returned as it is.
    pub(crate) async fn open_for_record(&self, ins: &Ins, purpose: Purpose, stored: &str) -> Result<Option<String>> {
        if !is_sealed(stored) {
            return Ok(Some(stored.to_owned()));
        }
        let Some(key) = self.data_key(ins).await? else { return Ok(None) };
        let opened = open_text(&key, &purpose.context(ins), stored);
        if opened.is_none() {
            tracing::warn!(ins = %ins.as_str(), ?purpose, "a sealed value does not open under its record's key");
        }
        Ok(opened)
    }

    /// Commits to an emergency justification: the opening is kept sealed under the patient's key
    /// (before the entry that carries the commitment is appended, so that no entry names an
    /// opening that was never kept); returns the commitment for the ledger entry.
    pub(crate) async fn commit_justification(&self, ins: &Ins, text: &str) -> Result<String> {
        // Nothing is written for an entry that could not be appended.
        self.ledger_trusted()?;
        let mut nonce = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let opening = JustificationOpening::new(nonce, text);
        let commitment = opening.commitment();
        let key = self.data_key_or_create(ins).await?;
        let sealed = carnet_crypto::seal(&key, &justification_context(ins, &commitment), &opening.to_bytes());
        self.db.save_justification_opening(&commitment, ins, &sealed).await?;
        Ok(commitment)
    }

    /// The justification a commitment was made of, checked against it; the neutral phrase
    /// `UNREADABLE_JUSTIFICATION` once the record was crypto-shredded (or if the opening kept
    /// does not open the commitment).
    pub(crate) async fn open_justification(&self, ins: &Ins, commitment: &str) -> Result<String> {
        let Some((sealed_for, sealed)) = self.db.find_justification_opening(commitment).await? else {
            return Ok(UNREADABLE_JUSTIFICATION.to_owned());
        };
        let Some(key) = self.data_key(ins).await?.filter(|_| &sealed_for == ins) else {
            return Ok(UNREADABLE_JUSTIFICATION.to_owned());
        };
        let opening = carnet_crypto::open(&key, &justification_context(ins, commitment), &sealed)
            .ok()
            .and_then(|bytes| JustificationOpening::from_bytes(&bytes))
            .filter(|opening| opening.opens(commitment));
        match opening {
            Some(opening) => Ok(opening.text),
            None => {
                tracing::warn!(ins = %ins.as_str(), commitment, "a justification's opening does not open its commitment");
                Ok(UNREADABLE_JUSTIFICATION.to_owned())
            }
        }
    }

    /// Gives entries read for display their justification: the text their commitment was made
    /// of, opened (or the neutral phrase). Only `entry.justification` is filled in; `bytes` stay
    /// the hashed bytes, which carry the commitment only.
    pub(crate) async fn open_justifications(&self, entries: &mut [RecordedEntry]) -> Result<()> {
        for e in entries {
            if e.entry.justification.is_some() {
                continue;
            }
            if let (Some(ins), Some(commitment)) = (&e.entry.ins, &e.entry.justification_commitment) {
                e.entry.justification = Some(self.open_justification(ins, commitment).await?);
            }
        }
        Ok(())
    }

    /// An emergency access row's justification for display: opened from its commitment (rows
    /// written before sealing hold their text).
    pub(crate) async fn emergency_justification(&self, ins: &Ins, stored: &str) -> Result<String> {
        match stored.strip_prefix(COMMITMENT) {
            Some(commitment) => self.open_justification(ins, commitment).await,
            None => Ok(stored.to_owned()),
        }
    }

    /// Seals what was stored in clear before free text was sealed: live records' close reasons
    /// and review notes (a destroyed record's close reason, whose key is gone, is dropped). Run
    /// by the retention sweep; an item changed meanwhile is left to the next sweep. How many.
    pub(crate) async fn seal_clear_free_text(&self) -> Result<u64> {
        let mut sealed = 0;
        loop {
            let mut progressed = 0;
            let found = self.db.find_clear_close_reasons(SEALED, 100).await?;
            for mut record in found {
                let Some(reason) = record.close_reason.take() else { continue };
                record.close_reason = Some(self.seal_for_record(&record.ins, Purpose::CloseReason, &reason).await?);
                match self.db.save_record(&record, record.status).await {
                    Ok(()) => progressed += 1,
                    Err(StoreError::Stale(_)) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            sealed += progressed;
            if progressed == 0 {
                break;
            }
        }
        sealed += self.db.drop_clear_close_reasons_of_destroyed(SEALED).await?;
        let mut key = None;
        loop {
            let mut progressed = 0;
            for mut item in self.db.find_clear_review_notes(SEALED, 100).await? {
                let key = match &key {
                    Some(key) => key,
                    None => key.insert(self.review_notes_key().await?),
                };
                item.notes = seal_text(key, REVIEW_NOTES.as_bytes(), &item.notes);
                match self.db.save_review_item(&item).await {
                    Ok(()) => progressed += 1,
                    Err(StoreError::Stale(_)) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            sealed += progressed;
            if progressed == 0 {
                break;
            }
        }
        Ok(sealed)
    }

    /// The review notes' key: derived from a service secret created once and kept wrapped by
    /// the master key (rotation rewraps it with the other service secrets).
    async fn review_notes_key(&self) -> Result<DataKey> {
        if let Some((_, kept)) = self.db.all_service_keys().await?.into_iter().find(|(name, _)| name == REVIEW_NOTES) {
            let secret = ServiceSecret::unwrap(self.keys.as_ref(), &kept, REVIEW_NOTES)?;
            return Ok(DataKey::derive(REVIEW_NOTES, &secret.expose()));
        }
        let fresh = ServiceSecret::generate();
        let wrapped = fresh.wrap(self.keys.as_ref(), REVIEW_NOTES)?;
        let kept = self.db.save_service_key_if_absent(REVIEW_NOTES, &wrapped, self.now()).await?;
        let secret = ServiceSecret::unwrap(self.keys.as_ref(), &kept, REVIEW_NOTES)?;
        Ok(DataKey::derive(REVIEW_NOTES, &secret.expose()))
    }

    /// Seals a review item's notes (their JSON list) under the service key.
    pub(crate) async fn seal_review_notes(&self, notes: &str) -> Result<String> {
        Ok(seal_text(&self.review_notes_key().await?, REVIEW_NOTES.as_bytes(), notes))
    }

    /// Opens a review item's notes. Notes that do not open are an error, not an empty list: an
    /// empty list would be saved over them by the next note.
    pub(crate) async fn open_review_notes(&self, stored: &str) -> Result<String> {
        if !is_sealed(stored) {
            return Ok(stored.to_owned());
        }
        open_notes(&self.review_notes_key().await?, stored)
    }

    /// Opens the notes of `items` in place, with one unwrap of the service key for all.
    pub(crate) async fn open_all_review_notes(&self, items: &mut [carnet_store::ReviewItem]) -> Result<()> {
        if !items.iter().any(|i| is_sealed(&i.notes)) {
            return Ok(());
        }
        let key = self.review_notes_key().await?;
        for item in items.iter_mut().filter(|i| is_sealed(&i.notes)) {
            item.notes = open_notes(&key, &item.notes)?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_under_its_key_and_context() {
        let (key, other) = (DataKey::generate(), DataKey::generate());
        let stored = seal_text(&key, b"carnet.close-reason:1", "départ à l'étranger");
        assert!(is_sealed(&stored) && !stored.contains("étranger"));
        assert_eq!(open_text(&key, b"carnet.close-reason:1", &stored).as_deref(), Some("départ à l'étranger"));
        assert_eq!(open_text(&other, b"carnet.close-reason:1", &stored), None, "another record's key");
        assert_eq!(open_text(&key, b"carnet.close-reason:2", &stored), None, "another record");
        assert_eq!(open_text(&key, b"carnet.close-reason:1", "départ"), None, "not sealed");
    }
}
