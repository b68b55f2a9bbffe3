//! The standalone verifier: what a third party needs to check Carnet's ledger, and nothing else.
//! Pure functions over hashes and sizes; the formats are in the crate documentation.

use serde::{Deserialize, Serialize};

use crate::merkle::{Hash, empty_root, node_hash};

pub use crate::tree_head::verify_tree_head;

/// An inclusion proof (RFC 9162 §2.1.3): the entry at `leaf_index` is in the tree of `tree_size`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InclusionProof {
    pub leaf_index: u64,
    pub tree_size: u64,
    /// Sibling hashes, from the leaf's level up.
    #[serde(with = "crate::hex::hashes")]
    pub path: Vec<Hash>,
}

impl InclusionProof {
    pub fn verify(&self, leaf_hash: &Hash, root: &Hash) -> bool {
        verify_inclusion(leaf_hash, self.leaf_index, self.tree_size, &self.path, root)
    }
}

/// A consistency proof (RFC 9162 §2.1.4): the tree of `old_size` is a prefix of the tree of
/// `new_size`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsistencyProof {
    pub old_size: u64,
    pub new_size: u64,
    #[serde(with = "crate::hex::hashes")]
    pub path: Vec<Hash>,
}

impl ConsistencyProof {
    pub fn verify(&self, old_root: &Hash, new_root: &Hash) -> bool {
        verify_consistency(self.old_size, self.new_size, old_root, new_root, &self.path)
    }
}

/// RFC 9162 §2.1.3.2: does `proof` show that `leaf_hash` is leaf `index` of the tree of
/// `tree_size` whose root is `root`?
pub fn verify_inclusion(leaf_hash: &Hash, index: u64, tree_size: u64, proof: &[Hash], root: &Hash) -> bool {
    if index >= tree_size {
        return false;
    }
    let (mut fnode, mut snode) = (index, tree_size - 1);
    let mut r = *leaf_hash;
    for p in proof {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    snode == 0 && r == *root
}

/// RFC 9162 §2.1.4.2: does `proof` show that the tree of `old_size` with root `old_root` is a
/// prefix of the tree of `new_size` with root `new_root`?
///
/// Edge cases (the RFC states the algorithm for `0 < old < new`): equal sizes need an empty
/// proof and equal roots; `old_size = 0` needs an empty proof and `old_root = SHA-256("")`
/// (so does `new_size = 0`); `old_size > new_size` never verifies.
pub fn verify_consistency(old_size: u64, new_size: u64, old_root: &Hash, new_root: &Hash, proof: &[Hash]) -> bool {
    if old_size > new_size {
        return false;
    }
    if old_size == 0 {
        let empty_ok = *old_root == empty_root() && (new_size != 0 || *new_root == empty_root());
        return proof.is_empty() && empty_ok;
    }
    if old_size == new_size {
        return proof.is_empty() && old_root == new_root;
    }
    let Some((first, rest)) = proof.split_first() else {
        return false;
    };
    // If the old tree is a perfect subtree, the verifier already has its root: the proof omits it.
    let (seed, rest) = if old_size.is_power_of_two() { (old_root, proof) } else { (first, rest) };
    let (mut fnode, mut snode) = (old_size - 1, new_size - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let (mut fr, mut sr) = (*seed, *seed);
    for c in rest {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    snode == 0 && fr == *old_root && sr == *new_root
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::leaf_hash;

    #[test]
    fn degenerate_inputs_do_not_verify() {
        let (a, e) = (leaf_hash(b"a"), empty_root());
        assert!(!verify_inclusion(&a, 0, 0, &[], &a));
        assert!(!verify_inclusion(&a, 1, 1, &[], &a));
        assert!(!verify_inclusion(&a, u64::MAX, u64::MAX, &[a; 70], &a));
        assert!(verify_inclusion(&a, 0, 1, &[], &a));
        assert!(!verify_inclusion(&a, 0, 1, &[a], &a));

        assert!(verify_consistency(0, 0, &e, &e, &[]));
        assert!(verify_consistency(0, 5, &e, &a, &[]));
        assert!(!verify_consistency(0, 5, &a, &a, &[]));
        assert!(!verify_consistency(0, 0, &e, &e, &[e]));
        assert!(verify_consistency(3, 3, &a, &a, &[]));
        assert!(!verify_consistency(3, 3, &a, &e, &[]));
        assert!(!verify_consistency(3, 3, &a, &a, &[a]));
        assert!(!verify_consistency(4, 3, &a, &a, &[]));
        assert!(!verify_consistency(1, 2, &a, &e, &[]));
        assert!(!verify_consistency(u64::MAX - 1, u64::MAX, &a, &a, &[a; 70]));
    }

    #[test]
    fn proofs_serialise_as_lowercase_hex() {
        let proof = InclusionProof { leaf_index: 1, tree_size: 2, path: vec![[0xab; 32]] };
        let json = serde_json::to_string(&proof).unwrap_or_default();
        assert_eq!(json, format!(r#"{{"leaf_index":1,"tree_size":2,"path":["{}"]}}"#, "ab".repeat(32)));
        assert_eq!(serde_json::from_str::<InclusionProof>(&json).ok(), Some(proof));
        assert!(serde_json::from_str::<InclusionProof>(r#"{"leaf_index":1,"tree_size":2,"path":["abc"]}"#).is_err());
    }
}
