//! RFC 9162 §2.1 Merkle tree hashing and proof generation. Pure: no I/O.
//!
//! Proofs are generated from *perfect subtrees*: the node `(level, index)` is the hash of the
//! complete subtree over leaves `[index·2^level, (index+1)·2^level)`. Every such node is stored as
//! soon as its last leaf is appended, and never changes afterwards. Any subtree an RFC 9162 proof
//! needs is either one of them or (on the right edge of the tree) a short left-to-right run of
//! them, so a proof costs O(log n) node lookups, whatever the size of the log.

use sha2::{Digest, Sha256};

/// A SHA-256 output.
pub type Hash = [u8; 32];

/// `SHA-256(0x00 ‖ entry)`: the hash of a leaf (the entry's stored bytes).
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x00]);
    hasher.update(entry);
    hasher.finalize().into()
}

/// `SHA-256(0x01 ‖ left ‖ right)`: the hash of an interior node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x01]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// `SHA-256("")`: the root of the empty tree.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// A perfect subtree: leaves `[index·2^level, (index+1)·2^level)`. Level 0 is a leaf.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    pub level: u8,
    pub index: u64,
}

impl NodeId {
    pub fn new(level: u8, index: u64) -> NodeId {
        NodeId { level, index }
    }

    /// The first leaf this subtree covers.
    pub fn first_leaf(self) -> u64 {
        self.index.checked_shl(u32::from(self.level)).unwrap_or(u64::MAX)
    }
}

/// The largest power of two strictly smaller than `n` (RFC 9162's `k`), for `n ≥ 2`.
fn split_point(n: u64) -> u64 {
    1u64 << (63 - (n - 1).leading_zeros())
}

/// The perfect subtrees that make up leaves `[start, end)`, left to right. For the subtrees RFC
/// proofs use (`start` a multiple of a power of two ≥ `end − start`) they shrink left to right, so
/// folding them from the right gives `MTH(D[start:end])`.
fn subtree_nodes(start: u64, end: u64) -> Vec<NodeId> {
    let mut nodes = Vec::new();
    let mut at = start;
    while at < end {
        let remaining = end - at;
        let mut level = 63 - remaining.leading_zeros();
        // Never reached for RFC subtrees; keeps the decomposition valid for any range.
        while level > 0 && !at.is_multiple_of(1u64 << level) {
            level -= 1;
        }
        nodes.push(NodeId::new(level as u8, at >> level));
        at += 1u64 << level;
    }
    nodes
}

/// Folds perfect-subtree hashes (left to right) into the hash of the subtree they form.
fn fold_right(hashes: &[Hash]) -> Option<Hash> {
    let (last, rest) = hashes.split_last()?;
    Some(rest.iter().rev().fold(*last, |acc, left| node_hash(left, &acc)))
}

/// What a proof is made of: one subtree (a leaf range) per proof element, in proof order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProofPlan {
    elements: Vec<(u64, u64)>,
}

impl ProofPlan {
    /// Every stored node the proof needs, sorted and without duplicates.
    pub(crate) fn nodes(&self) -> Vec<NodeId> {
        let mut nodes: Vec<NodeId> = self.elements.iter().flat_map(|&(s, e)| subtree_nodes(s, e)).collect();
        nodes.sort_unstable();
        nodes.dedup();
        nodes
    }

    /// Builds the proof from node hashes; `Err(node)` names the first node `lookup` lacks.
    pub(crate) fn assemble(&self, lookup: impl Fn(NodeId) -> Option<Hash>) -> Result<Vec<Hash>, NodeId> {
        let mut proof = Vec::with_capacity(self.elements.len());
        for &(start, end) in &self.elements {
            let ids = subtree_nodes(start, end);
            let hashes = ids.iter().map(|&id| lookup(id).ok_or(id)).collect::<Result<Vec<Hash>, NodeId>>()?;
            // `ids` is never empty: every element covers at least one leaf.
            proof.push(fold_right(&hashes).ok_or(NodeId::new(0, start))?);
        }
        Ok(proof)
    }
}

/// RFC 9162 §2.1.3.1 `PATH(index, D[size])` as leaf ranges, leaf level first. `index < size`.
pub(crate) fn inclusion_plan(index: u64, size: u64) -> ProofPlan {
    let mut siblings = Vec::new();
    let (mut start, mut end) = (0u64, size);
    while end - start > 1 {
        let k = split_point(end - start);
        if index < start + k {
            siblings.push((start + k, end));
            end = start + k;
        } else {
            siblings.push((start, start + k));
            start += k;
        }
    }
    siblings.reverse();
    ProofPlan { elements: siblings }
}

/// RFC 9162 §2.1.4.1 `PROOF(old, D[new])` as leaf ranges. Empty unless `0 < old < new`.
pub(crate) fn consistency_plan(old: u64, new: u64) -> ProofPlan {
    if old == 0 || old >= new {
        return ProofPlan { elements: Vec::new() };
    }
    let mut siblings = Vec::new();
    let mut first = None;
    let (mut start, mut end, mut m, mut whole_old_tree) = (0u64, new, old, true);
    loop {
        let n = end - start;
        if m == n {
            // SUBPROOF(m, D[m], true) is empty: the verifier already has that root.
            if !whole_old_tree {
                first = Some((start, end));
            }
            break;
        }
        let k = split_point(n);
        if m <= k {
            siblings.push((start + k, end));
            end = start + k;
        } else {
            siblings.push((start, start + k));
            start += k;
            m -= k;
            whole_old_tree = false;
        }
    }
    ProofPlan { elements: first.into_iter().chain(siblings.into_iter().rev()).collect() }
}

/// The perfect subtrees of the tree `[0, size)` ("right border"), largest first, with their
/// hashes: all an appender needs to keep in memory.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct CompactRange {
    size: u64,
    border: Vec<Hash>,
}

impl CompactRange {
    pub(crate) fn new() -> CompactRange {
        CompactRange::default()
    }

    /// The nodes a range of `size` leaves is made of, largest (leftmost) first.
    pub(crate) fn border_nodes(size: u64) -> Vec<NodeId> {
        (0u8..64).rev().filter(|&level| (size >> level) & 1 == 1).map(|level| NodeId::new(level, (size >> level) - 1)).collect()
    }

    /// Rebuilds a range from the hashes of `border_nodes(size)`, in that order.
    pub(crate) fn from_border(size: u64, border: Vec<Hash>) -> Option<CompactRange> {
        (border.len() == size.count_ones() as usize).then_some(CompactRange { size, border })
    }

    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf; `completed` sees every node this completes: the leaf at level 0, then
    /// each perfect subtree it closes, bottom-up.
    pub(crate) fn append(&mut self, leaf: Hash, mut completed: impl FnMut(NodeId, Hash)) {
        let index = self.size;
        let mut hash = leaf;
        let mut level = 0u8;
        completed(NodeId::new(0, index), hash);
        while level < 63 && (index >> level) & 1 == 1 {
            let Some(left) = self.border.pop() else { break };
            hash = node_hash(&left, &hash);
            level += 1;
            completed(NodeId::new(level, index >> level), hash);
        }
        self.border.push(hash);
        self.size += 1;
    }

    /// `MTH(D[0:size])`.
    pub(crate) fn root(&self) -> Hash {
        fold_right(&self.border).unwrap_or_else(empty_root)
    }
}

/// The obviously-correct definitions of RFC 9162 §2.1, recursive over all leaves: the oracle the
/// fast code is tested against.
#[cfg(test)]
pub(crate) mod reference {
    use super::{Hash, empty_root, node_hash, split_point};

    pub fn mth(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = split_point(n as u64) as usize;
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    pub fn path(m: usize, leaves: &[Hash]) -> Vec<Hash> {
        let n = leaves.len();
        if n <= 1 {
            return Vec::new();
        }
        let k = split_point(n as u64) as usize;
        if m < k {
            let mut p = path(m, &leaves[..k]);
            p.push(mth(&leaves[k..]));
            p
        } else {
            let mut p = path(m - k, &leaves[k..]);
            p.push(mth(&leaves[..k]));
            p
        }
    }

    pub fn proof(m: usize, leaves: &[Hash]) -> Vec<Hash> {
        if m == 0 || m >= leaves.len() {
            return Vec::new();
        }
        subproof(m, leaves, true)
    }

    fn subproof(m: usize, leaves: &[Hash], b: bool) -> Vec<Hash> {
        let n = leaves.len();
        if m == n {
            return if b { Vec::new() } else { vec![mth(leaves)] };
        }
        let k = split_point(n as u64) as usize;
        if m <= k {
            let mut p = subproof(m, &leaves[..k], b);
            p.push(mth(&leaves[k..]));
            p
        } else {
            let mut p = subproof(m - k, &leaves[k..], false);
            p.push(mth(&leaves[..k]));
            p
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;
    use crate::verify::{verify_consistency, verify_inclusion};

    /// A log kept in memory the way the store keeps it: every completed node, by id.
    pub(crate) struct MemoryTree {
        pub nodes: HashMap<NodeId, Hash>,
        pub range: CompactRange,
        pub leaves: Vec<Hash>,
    }

    impl MemoryTree {
        pub fn with_leaves(n: usize) -> MemoryTree {
            let mut tree = MemoryTree { nodes: HashMap::new(), range: CompactRange::new(), leaves: Vec::new() };
            for i in 0..n {
                tree.push(leaf_hash(format!("entry {i}").as_bytes()));
            }
            tree
        }

        pub fn push(&mut self, leaf: Hash) {
            let nodes = &mut self.nodes;
            self.range.append(leaf, |id, h| {
                nodes.insert(id, h);
            });
            self.leaves.push(leaf);
        }

        pub fn inclusion(&self, index: u64, size: u64) -> Vec<Hash> {
            inclusion_plan(index, size).assemble(|id| self.nodes.get(&id).copied()).unwrap()
        }

        pub fn consistency(&self, old: u64, new: u64) -> Vec<Hash> {
            consistency_plan(old, new).assemble(|id| self.nodes.get(&id).copied()).unwrap()
        }
    }

    fn h(hex: &str) -> Hash {
        carnet_domain::hex::decode_array(hex).unwrap()
    }

    // Leaves and expected values from transparency-dev/merkle (Google),
    // proof/verify_test.go and rfc6962/rfc6962_test.go: the certificate-transparency vectors.
    const KAT_LEAVES: [&str; 8] = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"];
    const KAT_ROOTS: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    fn kat_tree() -> MemoryTree {
        let mut tree = MemoryTree { nodes: HashMap::new(), range: CompactRange::new(), leaves: Vec::new() };
        for leaf in KAT_LEAVES {
            tree.push(leaf_hash(&carnet_domain::hex::decode(leaf).unwrap()));
        }
        tree
    }

    #[test]
    fn rfc6962_hashes_match_the_published_answers() {
        assert_eq!(carnet_domain::hex::encode(&empty_root()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(carnet_domain::hex::encode(&leaf_hash(b"")), "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
        assert_eq!(carnet_domain::hex::encode(&leaf_hash(b"L123456")), "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56");
    }

    #[test]
    fn rfc6962_roots_for_sizes_1_to_8_match_the_published_answers() {
        let mut range = CompactRange::new();
        for (i, leaf) in KAT_LEAVES.iter().enumerate() {
            range.append(leaf_hash(&carnet_domain::hex::decode(leaf).unwrap()), |_, _| {});
            assert_eq!(range.root(), h(KAT_ROOTS[i]), "root of size {}", i + 1);
        }
    }

    #[test]
    fn rfc6962_inclusion_proofs_match_the_published_answers() {
        let tree = kat_tree();
        // (leaf index, tree size, proof)
        let cases: [(u64, u64, &[&str]); 5] = [
            (0, 1, &[]),
            (
                0,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                5,
                8,
                &[
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (2, 3, &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
            (
                1,
                5,
                &[
                    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        for (index, size, expected) in cases {
            let expected: Vec<Hash> = expected.iter().map(|x| h(x)).collect();
            assert_eq!(tree.inclusion(index, size), expected, "inclusion of {index} in {size}");
            let root = h(KAT_ROOTS[size as usize - 1]);
            assert!(verify_inclusion(&tree.leaves[index as usize], index, size, &expected, &root));
        }
    }

    #[test]
    fn rfc6962_consistency_proofs_match_the_published_answers() {
        let tree = kat_tree();
        let cases: [(u64, u64, &[&str]); 5] = [
            (1, 1, &[]),
            (
                1,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                6,
                8,
                &[
                    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                5,
                &[
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
            (
                6,
                7,
                &[
                    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
        ];
        for (old, new, expected) in cases {
            let expected: Vec<Hash> = expected.iter().map(|x| h(x)).collect();
            assert_eq!(tree.consistency(old, new), expected, "consistency {old} → {new}");
            let (r1, r2) = (h(KAT_ROOTS[old as usize - 1]), h(KAT_ROOTS[new as usize - 1]));
            assert!(verify_consistency(old, new, &r1, &r2, &expected));
        }
    }

    #[test]
    fn border_nodes_are_the_binary_decomposition_of_the_size() {
        assert_eq!(CompactRange::border_nodes(0), vec![]);
        assert_eq!(CompactRange::border_nodes(1), vec![NodeId::new(0, 0)]);
        assert_eq!(CompactRange::border_nodes(6), vec![NodeId::new(2, 0), NodeId::new(1, 2)]);
        assert_eq!(CompactRange::border_nodes(7), vec![NodeId::new(2, 0), NodeId::new(1, 2), NodeId::new(0, 6)]);
        let tree = MemoryTree::with_leaves(77);
        let border = CompactRange::border_nodes(77).iter().map(|id| tree.nodes[id]).collect();
        assert_eq!(CompactRange::from_border(77, border).unwrap(), tree.range);
    }

    #[test]
    fn every_completed_node_is_the_root_of_its_leaves() {
        let tree = MemoryTree::with_leaves(100);
        for (id, hash) in &tree.nodes {
            let first = id.first_leaf() as usize;
            let leaves = &tree.leaves[first..first + (1usize << id.level)];
            assert_eq!(*hash, reference::mth(leaves), "{id:?}");
        }
        // 100 leaves complete 100 + 50 + 25 + 12 + 6 + 3 + 1 nodes.
        assert_eq!(tree.nodes.len(), 197);
    }

    #[test]
    fn proofs_need_logarithmically_many_nodes() {
        let size = 10_000_000u64;
        for index in [0, 1, 4_999_999, size - 2, size - 1] {
            let plan = inclusion_plan(index, size);
            assert!(plan.nodes().len() <= 2 * 24, "inclusion {index}: {}", plan.nodes().len());
        }
        for old in [1, 2, 3, 1_000_000, 9_999_999] {
            assert!(consistency_plan(old, size).nodes().len() <= 2 * 24 * 2);
        }
    }

    fn flip(hash: &Hash, bit: usize) -> Hash {
        let mut h = *hash;
        h[(bit / 8) % 32] ^= 1 << (bit % 8);
        h
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn fast_inclusion_proofs_equal_the_reference_and_verify(
            size in 1usize..300, index_seed in any::<usize>(), bit in 0usize..256,
        ) {
            let tree = MemoryTree::with_leaves(size);
            let index = index_seed % size;
            let root = reference::mth(&tree.leaves);
            prop_assert_eq!(tree.range.root(), root);
            let proof = tree.inclusion(index as u64, size as u64);
            prop_assert_eq!(&proof, &reference::path(index, &tree.leaves));
            let leaf = tree.leaves[index];
            let (i, n) = (index as u64, size as u64);
            prop_assert!(verify_inclusion(&leaf, i, n, &proof, &root));

            // Anything altered fails.
            prop_assert!(!verify_inclusion(&flip(&leaf, bit), i, n, &proof, &root));
            prop_assert!(!verify_inclusion(&leaf, i, n, &proof, &flip(&root, bit)));
            for k in 0..proof.len() {
                let mut bad = proof.clone();
                bad[k] = flip(&bad[k], bit);
                prop_assert!(!verify_inclusion(&leaf, i, n, &bad, &root));
            }
            if !proof.is_empty() {
                prop_assert!(!verify_inclusion(&leaf, i, n, &proof[..proof.len() - 1], &root));
            }
            let mut longer = proof.clone();
            longer.push(root);
            prop_assert!(!verify_inclusion(&leaf, i, n, &longer, &root));
            let mut prefixed = vec![leaf];
            prefixed.extend_from_slice(&proof);
            prop_assert!(!verify_inclusion(&leaf, i, n, &prefixed, &root));
            // The probes of transparency-dev/merkle's verifier tests. (A proof does not pin the
            // size exactly: sizes that give the same path shape verify; the signed root does.)
            for wrong in [i.wrapping_sub(1), i + 1, i ^ 2] {
                prop_assert!(!verify_inclusion(&leaf, wrong, n, &proof, &root), "index {}", wrong);
            }
            for wrong in [n * 2, n / 2] {
                prop_assert!(!verify_inclusion(&leaf, i, wrong, &proof, &root), "size {}", wrong);
            }
        }

        #[test]
        fn fast_consistency_proofs_equal_the_reference_and_verify(
            new in 1usize..300, old_seed in any::<usize>(), bit in 0usize..256,
        ) {
            let tree = MemoryTree::with_leaves(new);
            let old = old_seed % (new + 1);
            let old_root = reference::mth(&tree.leaves[..old]);
            let new_root = reference::mth(&tree.leaves);
            let proof = tree.consistency(old as u64, new as u64);
            prop_assert_eq!(&proof, &reference::proof(old, &tree.leaves));
            let (m, n) = (old as u64, new as u64);
            prop_assert!(verify_consistency(m, n, &old_root, &new_root, &proof));

            if old > 0 && old < new {
                prop_assert!(!verify_consistency(m, n, &flip(&old_root, bit), &new_root, &proof));
                prop_assert!(!verify_consistency(m, n, &old_root, &flip(&new_root, bit), &proof));
                prop_assert!(!verify_consistency(m, n, &new_root, &old_root, &proof));
                for k in 0..proof.len() {
                    let mut bad = proof.clone();
                    bad[k] = flip(&bad[k], bit);
                    prop_assert!(!verify_consistency(m, n, &old_root, &new_root, &bad));
                }
                prop_assert!(!verify_consistency(m, n, &old_root, &new_root, &proof[..proof.len() - 1]));
                let mut longer = proof.clone();
                longer.push(new_root);
                prop_assert!(!verify_consistency(m, n, &old_root, &new_root, &longer));
                prop_assert!(!verify_consistency(m, n, &old_root, &new_root, &[]));
                for wrong in [m - 1, m + 1, m ^ 2] {
                    prop_assert!(!verify_consistency(wrong, n, &old_root, &new_root, &proof), "old {}", wrong);
                }
                for wrong in [n * 2, n / 2] {
                    prop_assert!(!verify_consistency(m, wrong, &old_root, &new_root, &proof), "new {}", wrong);
                }
            } else {
                // Trivial cases: the proof is empty and only equal sizes/roots pass.
                prop_assert!(proof.is_empty());
                prop_assert!(!verify_consistency(m, n, &old_root, &new_root, &[new_root]));
            }
        }
    }
}
