//! `carnet ledger witness`: a head kept outside the operator's reach. Run by a third party (a
//! patients' association, an auditor) against a Carnet's published tree heads, it keeps the last
//! head it saw, checks each new one against it with a consistency proof, and raises an alarm on a
//! rollback or a fork — what no check inside the installation can see when entries, nodes, heads
//! and the metadata store's checkpoint are rolled back together.
//!
//! Its directory holds `witness.json` (the pinned public key and the last head kept) and
//! `heads.jsonl` (every head it kept, one JSON object a line): the witness's own receipts.

use std::path::{Path, PathBuf};

use anyhow::Context;
use carnet_ledger::{SignedTreeHead, verify_consistency, verify_tree_head};
use serde::{Deserialize, Serialize};

/// What the witness keeps between runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WitnessState {
    /// Hex Ed25519 key every head must be signed with (pinned at the first run).
    pub public_key: String,
    pub latest: Option<SignedTreeHead>,
}

/// What a new head means against the one kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The first head: kept.
    First,
    /// The head kept already.
    Unchanged,
    /// A larger tree of which the kept one is a prefix (the consistency proof checked): kept.
    Extended,
    /// The server no longer holds what it published: never kept.
    Alarm(String),
}

/// Judges `new` (claimed by the server) against `kept`. `proof` is the server's consistency
/// proof from `kept`'s size to `new`'s, asked only when the tree grew.
pub fn judge(kept: Option<&SignedTreeHead>, new: &SignedTreeHead, key: &[u8; 32], proof: Option<&[[u8; 32]]>) -> Verdict {
    if !verify_tree_head(new, key) {
        return Verdict::Alarm(format!("the tree head of size {} is not signed by the pinned key", new.head.tree_size));
    }
    let Some(kept) = kept else { return Verdict::First };
    let (old, size) = (kept.head.tree_size, new.head.tree_size);
    if size < old {
        return Verdict::Alarm(format!("rollback: the server's ledger holds {size} entries, the witness saw {old}"));
    }
    if size == old {
        return if new.head.root_hash == kept.head.root_hash {
            Verdict::Unchanged
        } else {
            Verdict::Alarm(format!("fork: another tree of {size} entries than the one the witness saw"))
        };
    }
    match proof {
        Some(path) if verify_consistency(old, size, &kept.head.root_hash, &new.head.root_hash, path) => Verdict::Extended,
        _ => Verdict::Alarm(format!("fork: the tree of {size} entries does not extend the one of {old} the witness saw")),
    }
}

#[derive(Deserialize)]
struct Proof {
    path: Vec<String>,
}

fn state_file(dir: &Path) -> PathBuf {
    dir.join("witness.json")
}

fn load(dir: &Path) -> anyhow::Result<Option<WitnessState>> {
    match std::fs::read(state_file(dir)) {
        Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes).context("witness.json is not a witness's state")?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).context("reading witness.json"),
    }
}

/// Writes the state whole or not at all (a temporary file renamed over the old one).
fn save(dir: &Path, state: &WitnessState) -> anyhow::Result<()> {
    let tmp = dir.join("witness.json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(state)?).context("writing the witness's state")?;
    std::fs::File::open(&tmp).and_then(|f| f.sync_all()).context("syncing the witness's state")?;
    std::fs::rename(&tmp, state_file(dir)).context("keeping the witness's state")?;
    Ok(())
}

fn append_receipt(dir: &Path, head: &SignedTreeHead) -> anyhow::Result<()> {
    use std::io::Write;
    let mut log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("heads.jsonl")).context("opening heads.jsonl")?;
    writeln!(log, "{}", serde_json::to_string(head)?).context("writing heads.jsonl")?;
    log.sync_all().context("syncing heads.jsonl")
}

/// A Carnet's published ledger, as an outsider reads it.
pub struct PublishedLedger<'a> {
    client: reqwest::Client,
    url: &'a str,
    token: Option<&'a str>,
}

impl<'a> PublishedLedger<'a> {
    pub fn new(url: &'a str, token: Option<&'a str>) -> anyhow::Result<PublishedLedger<'a>> {
        let client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(30)).build()?;
        Ok(PublishedLedger { client, url: url.trim_end_matches('/'), token })
    }

    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        let request = self.client.get(format!("{}{path}", self.url));
        match self.token {
            Some(t) => request.bearer_auth(t),
            None => request,
        }
    }

    /// The latest signed tree head, and the public key the server names beside it.
    pub async fn latest_head(&self) -> anyhow::Result<(SignedTreeHead, Option<String>)> {
        let response = self.get("/api/ledger/tree-head").send().await.context("asking for the latest tree head")?;
        let published: serde_json::Value = response.error_for_status().context("the latest tree head")?.json().await?;
        let head = serde_json::from_value(published.clone()).context("the latest tree head is not a signed tree head")?;
        Ok((head, published["public_key"].as_str().map(str::to_owned)))
    }

    /// The consistency proof from `old` to `new` entries; `None` when the server cannot give one
    /// (which those who ask judge as a missing proof).
    pub async fn consistency(&self, old: u64, new: u64) -> anyhow::Result<Option<Vec<[u8; 32]>>> {
        let answer = self
            .get(&format!("/api/ledger/consistency-proof?old={old}&new={new}"))
            .send()
            .await
            .context("asking for a consistency proof")?;
        Ok(match answer.error_for_status() {
            Ok(a) => Some(
                a.json::<Proof>()
                    .await?
                    .path
                    .iter()
                    .map(|h| carnet_domain::hex::decode_array::<32>(h))
                    .collect::<Result<Vec<_>, _>>()
                    .unwrap_or_default(),
            ),
            Err(_) => None,
        })
    }
}

/// One observation of the server at `url`: fetch its latest head, judge it, keep it if sound.
/// `public_key` pins the key at the first run (otherwise the first head's published key is
/// trusted, and said so).
pub async fn observe(url: &str, token: Option<&str>, dir: &Path, public_key: Option<&str>) -> anyhow::Result<Verdict> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let published = PublishedLedger::new(url, token)?;
    let (head, named_key) = published.latest_head().await?;
    let mut state = match load(dir)? {
        Some(state) => state,
        None => {
            let key = match public_key {
                Some(k) => k.to_ascii_lowercase(),
                None => {
                    let k = named_key.context("the tree head names no public key")?;
                    eprintln!("pinning the public key the server publishes ({k}): compare it with the one its operator announced");
                    k
                }
            };
            WitnessState { public_key: key, latest: None }
        }
    };
    let key: [u8; 32] = carnet_domain::hex::decode_array(&state.public_key).context("the pinned public key: 64 hexadecimal digits")?;
    let proof = match &state.latest {
        Some(kept) if head.head.tree_size > kept.head.tree_size => published.consistency(kept.head.tree_size, head.head.tree_size).await?,
        _ => None,
    };
    let verdict = judge(state.latest.as_ref(), &head, &key, proof.as_deref());
    if matches!(verdict, Verdict::First | Verdict::Extended) {
        append_receipt(dir, &head)?;
        state.latest = Some(head);
        save(dir, &state)?;
    }
    Ok(verdict)
}

/// What `carnet ledger check-receipt` found.
#[derive(Debug, PartialEq, Eq)]
pub enum ReceiptVerdict {
    /// Every entry is in the signed head (and, asked of the server, its current head extends it).
    Sound(String),
    /// The file does not hold, or the server no longer holds what the file proves.
    Broken(String),
}

/// Checks a receipt file (`carnet-access-receipts-v1`, from the history page, the export or
/// `/api/records/{ins}/access-history/receipts`) offline, then, given `url`, against the
/// server's current head.
pub async fn check_receipt(
    file: &Path,
    public_key: Option<&str>,
    url: Option<&str>,
    token: Option<&str>,
) -> anyhow::Result<ReceiptVerdict> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let receipts: carnet_ledger::AccessReceipts = match serde_json::from_slice(&bytes) {
        Ok(r) => r,
        Err(e) => return Ok(ReceiptVerdict::Broken(format!("{} is not a receipt file: {e}", file.display()))),
    };
    let pinned = public_key
        .map(|k| carnet_domain::hex::decode_array::<32>(&k.to_ascii_lowercase()).context("--public-key: 64 hexadecimal digits"))
        .transpose()?;
    let check = match receipts.check(pinned.as_ref()) {
        Ok(check) => check,
        Err(e) => return Ok(ReceiptVerdict::Broken(e.to_string())),
    };
    let signed_at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(check.timestamp_ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| format!("{} ms", check.timestamp_ms));
    let mut said =
        format!("{} entries included in the ledger's signed tree of {} entries, signed {signed_at}", check.entries, check.tree_size);
    if !check.key_pinned {
        said.push_str("; no --public-key given: the file vouched for its own key — compare it with the one the operator published");
    }
    let Some(url) = url else { return Ok(ReceiptVerdict::Sound(said)) };
    let published = PublishedLedger::new(url, token)?;
    let (now, _) = published.latest_head().await?;
    let proof =
        if now.head.tree_size > check.tree_size { published.consistency(check.tree_size, now.head.tree_size).await? } else { Some(vec![]) };
    match proof {
        Some(proof) if receipts.still_held_by(&now, &proof) => {
            said.push_str(&format!("; still held: the server's ledger of {} entries extends that tree", now.head.tree_size));
            Ok(ReceiptVerdict::Sound(said))
        }
        _ => Ok(ReceiptVerdict::Broken(format!(
            "the server's ledger of {} entries does not extend the tree of {} the receipt proves: entries were rewritten, removed or rolled back",
            now.head.tree_size, check.tree_size
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use carnet_ledger::{Ed25519Signer, TreeHead, TreeHeadSigner, leaf_hash, node_hash};

    fn signed(signer: &Ed25519Signer, size: u64, root: [u8; 32]) -> SignedTreeHead {
        TreeHead { tree_size: size, root_hash: root, timestamp_ms: size * 1000 }.sign(signer)
    }

    #[test]
    fn a_witness_keeps_extensions_and_alarms_on_rollbacks_forks_and_strangers() {
        let signer = Ed25519Signer::from_seed([3; 32]);
        let key = signer.public_key();
        let (a, b, c) = (leaf_hash(b"a"), leaf_hash(b"b"), leaf_hash(b"c"));
        let one = signed(&signer, 1, a);
        let two = signed(&signer, 2, node_hash(&a, &b));
        assert_eq!(judge(None, &one, &key, None), Verdict::First);
        assert_eq!(judge(Some(&one), &one, &key, None), Verdict::Unchanged);
        assert_eq!(judge(Some(&one), &two, &key, Some(&[b])), Verdict::Extended, "the proof from 1 to 2 is the second leaf");
        assert!(matches!(judge(Some(&one), &two, &key, None), Verdict::Alarm(_)), "no proof, no extension");
        let forked = signed(&signer, 2, node_hash(&c, &b));
        assert!(matches!(judge(Some(&one), &forked, &key, Some(&[b])), Verdict::Alarm(m) if m.starts_with("fork")));
        assert!(matches!(judge(Some(&two), &one, &key, None), Verdict::Alarm(m) if m.starts_with("rollback")));
        let other_same_size = signed(&signer, 2, node_hash(&b, &a));
        assert!(matches!(judge(Some(&two), &other_same_size, &key, None), Verdict::Alarm(m) if m.starts_with("fork")));
        let stranger = signed(&Ed25519Signer::from_seed([4; 32]), 2, node_hash(&a, &b));
        assert!(matches!(judge(Some(&one), &stranger, &key, Some(&[b])), Verdict::Alarm(m) if m.contains("not signed")));
    }
}
