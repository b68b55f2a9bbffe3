//! Signed tree heads: a signer's statement "the log had `tree_size` entries with root
//! `root_hash` at `timestamp_ms`".

use std::fmt;

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

use crate::merkle::Hash;

/// The domain-separation prefix of the signed message.
pub const TREE_HEAD_CONTEXT: &[u8; 13] = b"carnet-sth-v1";

/// Length of the signed message: prefix, two u64, a hash.
pub const TREE_HEAD_MESSAGE_LEN: usize = 13 + 8 + 8 + 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeHead {
    pub tree_size: u64,
    #[serde(with = "crate::hex::array")]
    pub root_hash: Hash,
    /// Unix time in milliseconds when the head was signed.
    pub timestamp_ms: u64,
}

impl TreeHead {
    /// `"carnet-sth-v1" ‖ tree_size (u64 BE) ‖ timestamp_ms (u64 BE) ‖ root_hash (32 bytes)`.
    pub fn message(&self) -> [u8; TREE_HEAD_MESSAGE_LEN] {
        let mut m = [0u8; TREE_HEAD_MESSAGE_LEN];
        m[..13].copy_from_slice(TREE_HEAD_CONTEXT);
        m[13..21].copy_from_slice(&self.tree_size.to_be_bytes());
        m[21..29].copy_from_slice(&self.timestamp_ms.to_be_bytes());
        m[29..].copy_from_slice(&self.root_hash);
        m
    }

    pub fn sign(self, signer: &dyn TreeHeadSigner) -> SignedTreeHead {
        SignedTreeHead { signature: signer.sign(&self.message()), head: self }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedTreeHead {
    #[serde(flatten)]
    pub head: TreeHead,
    /// Ed25519 (RFC 8032) signature of `head.message()`.
    #[serde(with = "crate::hex::array")]
    pub signature: [u8; 64],
}

/// Whoever signs tree heads. Carnet keeps the seed wrapped by its key provider; an HSM or KMS
/// can implement this as well.
pub trait TreeHeadSigner: Send + Sync {
    /// An Ed25519 signature of `message`.
    fn sign(&self, message: &[u8]) -> [u8; 64];
    /// The Ed25519 public key verifiers use.
    fn public_key(&self) -> [u8; 32];
}

/// An Ed25519 key held in memory (zeroed on drop).
pub struct Ed25519Signer {
    key: SigningKey,
}

impl Ed25519Signer {
    /// The key whose RFC 8032 secret seed is `seed`. The argument's copy is wiped.
    pub fn from_seed(mut seed: [u8; 32]) -> Ed25519Signer {
        let key = SigningKey::from_bytes(&seed);
        seed.zeroize();
        Ed25519Signer { key }
    }
}

impl fmt::Debug for Ed25519Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ed25519Signer").field("public_key", &carnet_domain::hex::encode(&self.public_key())).finish()
    }
}

impl TreeHeadSigner for Ed25519Signer {
    fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message).to_bytes()
    }

    fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }
}

/// Is `sth.signature` a valid Ed25519 signature of `sth.head.message()` under `public_key`?
/// Strict verification: non-canonical signatures and small-order keys are refused.
pub fn verify_tree_head(sth: &SignedTreeHead, public_key: &[u8; 32]) -> bool {
    let Ok(key) = VerifyingKey::from_bytes(public_key) else {
        return false;
    };
    key.verify_strict(&sth.head.message(), &Signature::from_bytes(&sth.signature)).is_ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use carnet_domain::hex;

    use super::*;

    // RFC 8032 §7.1, TEST 1: secret key and public key.
    const RFC8032_SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    const RFC8032_PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

    fn signer() -> Ed25519Signer {
        Ed25519Signer::from_seed(hex::decode_array(RFC8032_SEED).unwrap())
    }

    #[test]
    fn rfc8032_test_1_signs_the_empty_message_as_published() {
        let s = signer();
        assert_eq!(hex::encode(&s.public_key()), RFC8032_PUBLIC);
        assert_eq!(
            hex::encode(&s.sign(b"")),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        );
    }

    #[test]
    fn the_message_is_the_documented_61_bytes() {
        let head = TreeHead { tree_size: 0x0102, root_hash: [0xee; 32], timestamp_ms: 0x0a0b };
        let m = head.message();
        assert_eq!(&m[..13], b"carnet-sth-v1");
        assert_eq!(&m[13..21], &[0, 0, 0, 0, 0, 0, 1, 2]);
        assert_eq!(&m[21..29], &[0, 0, 0, 0, 0, 0, 0x0a, 0x0b]);
        assert_eq!(&m[29..], &[0xee; 32]);
    }

    #[test]
    fn a_signed_head_verifies_and_any_change_fails() {
        let s = signer();
        let sth = TreeHead { tree_size: 42, root_hash: [7; 32], timestamp_ms: 1_700_000_000_000 }.sign(&s);
        let key = s.public_key();
        assert!(verify_tree_head(&sth, &key));
        let mut bad = sth;
        bad.head.tree_size += 1;
        assert!(!verify_tree_head(&bad, &key));
        let mut bad = sth;
        bad.head.timestamp_ms -= 1;
        assert!(!verify_tree_head(&bad, &key));
        let mut bad = sth;
        bad.head.root_hash[31] ^= 1;
        assert!(!verify_tree_head(&bad, &key));
        let mut bad = sth;
        bad.signature[0] ^= 1;
        assert!(!verify_tree_head(&bad, &key));
        let other = Ed25519Signer::from_seed([9; 32]).public_key();
        assert!(!verify_tree_head(&sth, &other));
        assert!(!verify_tree_head(&sth, &[0; 32]));
    }

    #[test]
    fn signed_heads_serialise_flat_with_hex() {
        let sth = TreeHead { tree_size: 1, root_hash: [1; 32], timestamp_ms: 2 }.sign(&signer());
        let json = serde_json::to_value(sth).unwrap();
        assert_eq!(json["tree_size"], 1);
        assert_eq!(json["root_hash"], "01".repeat(32));
        assert_eq!(json["signature"].as_str().unwrap().len(), 128);
        assert_eq!(serde_json::from_value::<SignedTreeHead>(json).unwrap(), sth);
    }

    #[test]
    fn the_signer_never_prints_its_key() {
        let text = format!("{:?}", signer());
        assert!(!text.contains(RFC8032_SEED));
        assert!(text.contains(RFC8032_PUBLIC));
    }
}
