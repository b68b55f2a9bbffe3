"""An independent verifier for Carnet's ledger, written from the crate documentation only
(crates/ledger/src/lib.rs): hashlib for the tree, the `cryptography` package for Ed25519.

Usage: verify_ledger.py EXPORT.json — exits non-zero on the first check that fails."""
import json
import sys
from hashlib import sha256

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def leaf(b):
    return sha256(b"\x00" + b).digest()


def node(l, r):
    return sha256(b"\x01" + l + r).digest()


def mth(leaves):
    if not leaves:
        return sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node(mth(leaves[:k]), mth(leaves[k:]))


def verify_inclusion(h, index, size, path, root):
    if index >= size:
        return False
    fn, sn, r = index, size - 1, h
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node(p, r)
            while fn & 1 == 0 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(m, n, old_root, new_root, path):
    empty = sha256(b"").digest()
    if m > n:
        return False
    if m == 0:
        return not path and old_root == empty and (n != 0 or new_root == empty)
    if m == n:
        return not path and old_root == new_root
    if not path:
        return False
    if m & (m - 1) == 0:
        path = [old_root] + path
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node(c, fr)
            sr = node(c, sr)
            while fn & 1 == 0 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root


def verify_head(sth, key):
    message = (b"carnet-sth-v1" + sth["tree_size"].to_bytes(8, "big")
               + sth["timestamp_ms"].to_bytes(8, "big") + bytes.fromhex(sth["root_hash"]))
    try:
        Ed25519PublicKey.from_public_bytes(key).verify(bytes.fromhex(sth["signature"]), message)
        return True
    except InvalidSignature:
        return False


def check(condition, what):
    if not condition:
        sys.exit(f"FAILED: {what}")


def main(path):
    export = json.load(open(path))
    key = bytes.fromhex(export["public_key"])
    entries = [bytes.fromhex(e["bytes"]) for e in export["entries"]]
    leaves = [leaf(b) for b in entries]
    for e, b in zip(export["entries"], entries):
        check(json.loads(b)["at"] >= 0, f"entry {e['index']} is JSON with 'at'")
    heads = {h["tree_size"]: h for h in export["heads"]}
    for size, sth in heads.items():
        check(verify_head(sth, key), f"signature of head {size}")
        check(bytes.fromhex(sth["root_hash"]) == mth(leaves[:size]), f"root of head {size} = MTH of the entries")
        forged = dict(sth, timestamp_ms=sth["timestamp_ms"] + 1)
        check(not verify_head(forged, key), f"a changed head {size} is refused")
    for p in export["inclusion"]:
        root = bytes.fromhex(heads[p["tree_size"]]["root_hash"])
        path_ = [bytes.fromhex(x) for x in p["path"]]
        i = p["leaf_index"]
        check(verify_inclusion(leaves[i], i, p["tree_size"], path_, root), f"inclusion {i} in {p['tree_size']}")
        # Even a change that leaves the JSON equivalent changes the leaf: bytes are hashed as stored.
        tampered = leaf(entries[i] + b" ")
        check(not verify_inclusion(tampered, i, p["tree_size"], path_, root), f"a changed entry {i} is refused")
    for p in export["consistency"]:
        old = bytes.fromhex(heads[p["old_size"]]["root_hash"])
        new = bytes.fromhex(heads[p["new_size"]]["root_hash"])
        path_ = [bytes.fromhex(x) for x in p["path"]]
        check(verify_consistency(p["old_size"], p["new_size"], old, new, path_),
              f"consistency {p['old_size']} -> {p['new_size']}")
        if 0 < p["old_size"] < p["new_size"]:
            check(not verify_consistency(p["old_size"], p["new_size"], new, old, path_), "swapped roots are refused")
    print(f"ok: {len(entries)} entries, {len(heads)} heads, {len(export['inclusion'])} inclusion and "
          f"{len(export['consistency'])} consistency proofs")


if __name__ == "__main__":
    main(sys.argv[1])
