//! Receipts: what a patient keeps to prove, later and without Carnet's help, that accesses to
//! their record were written in the ledger — and, against a later head, that they are still there.
//!
//! A receipt file holds the ledger's public key, one signed tree head, and for each entry its
//! exact bytes and its inclusion path in that head's tree. Checking it needs nothing but the file
//! (and, for it to mean anything, the key pinned from somewhere else than the file: the operator's
//! announcement, a witness, `GET /api/ledger/public-key` on another day).

use serde::{Deserialize, Serialize};

use crate::merkle::{Hash, leaf_hash};
use crate::tree_head::{SignedTreeHead, verify_tree_head};
use crate::verify::{verify_consistency, verify_inclusion};

/// The `format` of a receipt file.
pub const RECEIPT_FORMAT: &str = "carnet-access-receipts-v1";

/// Entries of the ledger, each with its inclusion proof in one signed tree head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessReceipts {
    pub format: String,
    /// Hex Ed25519 key the head is signed with.
    #[serde(with = "crate::hex::array")]
    pub public_key: [u8; 32],
    pub tree_head: SignedTreeHead,
    pub entries: Vec<ReceiptEntry>,
}

/// One entry: its leaf index, its exact stored bytes (UTF-8 JSON) and its inclusion path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptEntry {
    pub index: u64,
    /// The bytes the leaf hash covers, as text: hash them as they are, never re-serialised.
    pub entry: String,
    /// Sibling hashes from the leaf up (RFC 9162 §2.1.3) in `tree_head`'s tree.
    #[serde(with = "crate::hex::hashes")]
    pub path: Vec<Hash>,
}

/// Why a receipt does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    #[error("not a Carnet receipt file (format {0:?}, expected {RECEIPT_FORMAT:?})")]
    Format(String),
    #[error("the receipt names another key than the one pinned: it was not signed by this ledger")]
    ForeignKey,
    #[error("the tree head of size {0} is not signed by the receipt's key")]
    Signature(u64),
    #[error("entry {0} is not in the signed tree (its bytes or its path were changed)")]
    NotIncluded(u64),
}

/// What a sound receipt proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptCheck {
    pub tree_size: u64,
    pub timestamp_ms: u64,
    pub entries: usize,
    /// False when no key was pinned: the file vouched for itself.
    pub key_pinned: bool,
}

impl AccessReceipts {
    /// Checks every entry against the head, and the head against `pinned` (or, without one, the
    /// key the file names — which proves only that the file is consistent with itself).
    pub fn check(&self, pinned: Option<&[u8; 32]>) -> Result<ReceiptCheck, ReceiptError> {
        if self.format != RECEIPT_FORMAT {
            return Err(ReceiptError::Format(self.format.clone()));
        }
        if pinned.is_some_and(|k| k != &self.public_key) {
            return Err(ReceiptError::ForeignKey);
        }
        let head = &self.tree_head.head;
        if !verify_tree_head(&self.tree_head, &self.public_key) {
            return Err(ReceiptError::Signature(head.tree_size));
        }
        for e in &self.entries {
            if !verify_inclusion(&leaf_hash(e.entry.as_bytes()), e.index, head.tree_size, &e.path, &head.root_hash) {
                return Err(ReceiptError::NotIncluded(e.index));
            }
        }
        Ok(ReceiptCheck {
            tree_size: head.tree_size,
            timestamp_ms: head.timestamp_ms,
            entries: self.entries.len(),
            key_pinned: pinned.is_some(),
        })
    }

    /// Whether `later` (signed by the receipt's key) still holds the receipt's tree: the same
    /// tree, or one that extends it by `proof` (a consistency proof from the receipt's size).
    /// False means the ledger was rewritten or rolled back since the receipt was issued.
    pub fn still_held_by(&self, later: &SignedTreeHead, proof: &[Hash]) -> bool {
        let (old, new) = (&self.tree_head.head, &later.head);
        verify_tree_head(later, &self.public_key)
            && new.tree_size >= old.tree_size
            && verify_consistency(old.tree_size, new.tree_size, &old.root_hash, &new.root_hash, proof)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::merkle::reference;
    use crate::tree_head::{Ed25519Signer, TreeHead, TreeHeadSigner};

    fn ledger_of(n: usize) -> (Vec<String>, Vec<Hash>) {
        let entries: Vec<String> = (0..n).map(|i| format!("{{\"at\":{i},\"action\":\"document.read\"}}")).collect();
        let leaves = entries.iter().map(|e| leaf_hash(e.as_bytes())).collect();
        (entries, leaves)
    }

    fn receipts(signer: &Ed25519Signer, n: usize, picked: &[usize]) -> AccessReceipts {
        let (entries, leaves) = ledger_of(n);
        let head = TreeHead { tree_size: n as u64, root_hash: reference::mth(&leaves), timestamp_ms: 1_000 }.sign(signer);
        AccessReceipts {
            format: RECEIPT_FORMAT.into(),
            public_key: signer.public_key(),
            tree_head: head,
            entries: picked
                .iter()
                .map(|&i| ReceiptEntry { index: i as u64, entry: entries[i].clone(), path: reference::path(i, &leaves) })
                .collect(),
        }
    }

    #[test]
    fn a_receipt_holds_with_its_key_and_not_with_another() {
        let signer = Ed25519Signer::from_seed([7; 32]);
        let r = receipts(&signer, 11, &[0, 4, 10]);
        let check = r.check(Some(&signer.public_key())).unwrap();
        assert_eq!((check.tree_size, check.entries, check.key_pinned), (11, 3, true));
        assert!(!r.check(None).unwrap().key_pinned, "without a pinned key the file only vouches for itself");
        let stranger = Ed25519Signer::from_seed([8; 32]);
        assert_eq!(r.check(Some(&stranger.public_key())), Err(ReceiptError::ForeignKey));
        // A file re-signed by someone else with their key inside: caught by the pinned key only.
        let mut forged = receipts(&stranger, 11, &[0, 4, 10]);
        forged.entries[1].entry = forged.entries[1].entry.replace("read", "list");
        assert!(forged.check(None).is_err(), "its paths no longer match its own head");
        let mut wrong_format = r.clone();
        wrong_format.format = "carnet-receipts-v0".into();
        assert!(matches!(wrong_format.check(None), Err(ReceiptError::Format(_))));
    }

    #[test]
    fn a_changed_entry_index_path_or_head_is_caught() {
        let signer = Ed25519Signer::from_seed([7; 32]);
        let key = signer.public_key();
        let r = receipts(&signer, 9, &[3, 8]);
        let mut changed = r.clone();
        changed.entries[0].entry.push(' ');
        assert_eq!(changed.check(Some(&key)), Err(ReceiptError::NotIncluded(3)));
        let mut moved = r.clone();
        moved.entries[1].index = 7;
        assert_eq!(moved.check(Some(&key)), Err(ReceiptError::NotIncluded(7)));
        let mut cut = r.clone();
        cut.entries[0].path.pop();
        assert_eq!(cut.check(Some(&key)), Err(ReceiptError::NotIncluded(3)));
        let mut resized = r.clone();
        resized.tree_head.head.tree_size = 10;
        assert_eq!(resized.check(Some(&key)), Err(ReceiptError::Signature(10)));
    }

    #[test]
    fn a_later_head_holds_the_receipt_only_if_it_extends_its_tree() {
        let signer = Ed25519Signer::from_seed([7; 32]);
        let r = receipts(&signer, 5, &[2]);
        let (_, mut leaves) = ledger_of(8);
        let later = TreeHead { tree_size: 8, root_hash: reference::mth(&leaves), timestamp_ms: 2_000 }.sign(&signer);
        assert!(r.still_held_by(&later, &reference::proof(5, &leaves)));
        assert!(r.still_held_by(&r.tree_head, &[]), "the same head holds itself");
        // Entry 2 rewritten, then the tree regrown and re-signed: no proof joins the two.
        leaves[2] = leaf_hash(b"{\"at\":2,\"action\":\"nothing\"}");
        let forked = TreeHead { tree_size: 8, root_hash: reference::mth(&leaves), timestamp_ms: 2_000 }.sign(&signer);
        assert!(!r.still_held_by(&forked, &reference::proof(5, &leaves)));
        let rolled_back = TreeHead { tree_size: 4, root_hash: reference::mth(&ledger_of(4).1), timestamp_ms: 3_000 }.sign(&signer);
        assert!(!r.still_held_by(&rolled_back, &[]));
    }

    proptest! {
        #[test]
        fn every_entry_of_any_tree_has_a_receipt_and_any_changed_byte_breaks_it(
            n in 1usize..80, pick in any::<prop::sample::Index>(), byte in any::<prop::sample::Index>(), flip in 1u8..=255,
        ) {
            let signer = Ed25519Signer::from_seed([9; 32]);
            let i = pick.index(n);
            let r = receipts(&signer, n, &[i]);
            prop_assert!(r.check(Some(&signer.public_key())).is_ok());
            let mut bytes = r.entries[0].entry.clone().into_bytes();
            let at = byte.index(bytes.len());
            bytes[at] ^= flip;
            if let Ok(text) = String::from_utf8(bytes) {
                let mut changed = r.clone();
                changed.entries[0].entry = text;
                prop_assert_eq!(changed.check(Some(&signer.public_key())), Err(ReceiptError::NotIncluded(i as u64)));
            }
        }
    }
}
