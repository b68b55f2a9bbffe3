//! JWK sets → verification keys. Only what Carnet accepts survives: RSA keys of 2048 to 4096
//! bits for RS256 and P-256 keys for ES256, meant for signatures.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::DecodingKey;
use serde_json::Value;

/// The two algorithms Carnet accepts, each tied to one key type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Alg {
    Es256,
    Rs256,
}

impl Alg {
    pub(crate) fn parse(name: &str) -> Option<Alg> {
        match name {
            "ES256" => Some(Alg::Es256),
            "RS256" => Some(Alg::Rs256),
            _ => None,
        }
    }

    pub(crate) fn jsonwebtoken(self) -> jsonwebtoken::Algorithm {
        match self {
            Alg::Es256 => jsonwebtoken::Algorithm::ES256,
            Alg::Rs256 => jsonwebtoken::Algorithm::RS256,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Alg::Es256 => "ES256",
            Alg::Rs256 => "RS256",
        }
    }
}

pub(crate) struct VerifyKey {
    pub(crate) kid: Option<String>,
    /// The only algorithm this key verifies (its type decides: EC P-256 → ES256, RSA → RS256).
    pub(crate) alg: Alg,
    pub(crate) key: DecodingKey,
}

#[derive(Default)]
pub(crate) struct KeySet {
    keys: Vec<Arc<VerifyKey>>,
}

impl KeySet {
    /// The key for `alg` with this `kid`; without a kid, the issuer's only key for `alg`.
    pub(crate) fn select(&self, kid: Option<&str>, alg: Alg) -> Option<Arc<VerifyKey>> {
        let mut fitting = self.keys.iter().filter(|k| k.alg == alg);
        match kid {
            Some(kid) => fitting.find(|k| k.kid.as_deref() == Some(kid)).cloned(),
            None => match (fitting.next(), fitting.next()) {
                (Some(only), None) => Some(only.clone()),
                _ => None,
            },
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }
}

/// How to treat a key that is present but broken: configuration (a file, memory) must be right,
/// so it fails; a set fetched from an issuer keeps its good keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Strict,
    Lenient,
}

/// Parses a JWK set (`{"keys": [...]}`). Keys for other uses or algorithms are skipped; the set
/// must hold at least one usable key. Errors describe the set, never its key material.
pub(crate) fn parse_set(set: &Value, mode: Mode) -> Result<KeySet, String> {
    let keys = set.get("keys").and_then(Value::as_array).ok_or("not a JWK set: expected an object with a `keys` array")?;
    let mut usable = Vec::new();
    for (i, jwk) in keys.iter().enumerate() {
        match parse_key(jwk) {
            Ok(Some(key)) => usable.push(Arc::new(key)),
            Ok(None) => tracing::debug!(key = i, "JWK skipped: not an ES256/RS256 signature key"),
            Err(e) if mode == Mode::Strict => return Err(format!("key #{i}: {e}")),
            Err(e) => tracing::warn!(key = i, problem = %e, "JWK skipped"),
        }
    }
    if usable.is_empty() {
        return Err("no usable key: Carnet needs an EC P-256 (ES256) or RSA 2048-4096 bits (RS256) signature key".into());
    }
    Ok(KeySet { keys: usable })
}

const PRIVATE_MEMBERS: [&str; 6] = ["d", "p", "q", "dp", "dq", "qi"];

/// `Ok(None)`: a valid key Carnet does not use. `Err`: a key that claims to be usable but is not.
fn parse_key(jwk: &Value) -> Result<Option<VerifyKey>, String> {
    let Some(obj) = jwk.as_object() else { return Err("not a JSON object".into()) };
    let text = |member: &str| -> Result<Option<&str>, String> {
        match obj.get(member) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(format!("`{member}` must be a string")),
        }
    };
    if text("use")?.is_some_and(|u| u != "sig") {
        return Ok(None);
    }
    if let Some(ops) = obj.get("key_ops") {
        let ops = ops.as_array().ok_or("`key_ops` must be an array")?;
        if !ops.iter().any(|op| op.as_str() == Some("verify")) {
            return Ok(None);
        }
    }
    let alg = match text("kty")? {
        Some("EC") => Alg::Es256,
        Some("RSA") => Alg::Rs256,
        _ => return Ok(None),
    };
    if text("alg")?.is_some_and(|a| a != alg.name()) {
        return Ok(None); // e.g. an RSA key for PS256 or RSA-OAEP
    }
    if alg == Alg::Es256 && text("crv")? != Some("P-256") {
        return Ok(None); // P-384, P-521: not for ES256
    }
    // A published private key signs for anyone: never trust it, even from the issuer itself.
    if PRIVATE_MEMBERS.iter().any(|m| obj.contains_key(*m)) {
        return Err("holds private key material; a JWK set must publish public keys only".into());
    }
    let bytes = |member: &str| -> Result<Vec<u8>, String> {
        let value = text(member)?.ok_or_else(|| format!("`{member}` is missing"))?;
        URL_SAFE_NO_PAD.decode(value.trim_end_matches('=')).map_err(|_| format!("`{member}` is not base64url"))
    };
    let key = match alg {
        Alg::Es256 => {
            let (x, y) = (bytes("x")?, bytes("y")?);
            if x.len() != 32 || y.len() != 32 {
                return Err("P-256 coordinates `x` and `y` must be 32 bytes each".into());
            }
            let point = [&[0x04][..], &x, &y].concat();
            p256::PublicKey::from_sec1_bytes(&point).map_err(|_| "the point (`x`, `y`) is not on the P-256 curve")?;
            DecodingKey::from_ec_der(&point)
        }
        Alg::Rs256 => {
            let (n, e) = (bytes("n")?, bytes("e")?);
            let n = strip_leading_zeros(&n);
            let e = strip_leading_zeros(&e);
            let bits = (n.len() * 8).saturating_sub(n.first().map_or(0, |b| b.leading_zeros() as usize));
            if bits < 2048 {
                return Err(format!("an RSA modulus of {bits} bits is too short (2048 at least)"));
            }
            if bits > 4096 {
                // The verifier (the `rsa` crate) refuses them; say so now rather than fail every signature.
                return Err(format!("an RSA modulus of {bits} bits is longer than supported (4096 at most)"));
            }
            if e.is_empty() || e.len() > 4 || e.last().is_some_and(|b| b & 1 == 0) || e == [1] {
                return Err("`e` is not a usable RSA public exponent".into());
            }
            DecodingKey::from_rsa_raw_components(n, e)
        }
    };
    Ok(Some(VerifyKey { kid: text("kid")?.map(str::to_owned), alg, key }))
}

fn strip_leading_zeros(b: &[u8]) -> &[u8] {
    let first = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    &b[first..]
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn b64(b: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(b)
    }

    fn ec_jwk() -> Value {
        let secret = p256::SecretKey::from_slice(&[7u8; 32]).expect("scalar");
        let point = p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&secret.public_key(), false);
        json!({"kty": "EC", "crv": "P-256", "kid": "ec", "x": b64(point.x().expect("x")), "y": b64(point.y().expect("y"))})
    }

    fn rsa_jwk(bits: usize) -> Value {
        // Only the shape matters here (no signature is checked): an odd modulus of `bits` bits.
        let mut n = vec![0xffu8; bits / 8];
        n[0] = 0xc0;
        json!({"kty": "RSA", "kid": "rsa", "n": b64(&n), "e": "AQAB"})
    }

    fn patched(mut jwk: Value, patch: Value) -> Value {
        if let (Some(m), Value::Object(p)) = (jwk.as_object_mut(), patch) {
            m.extend(p);
        }
        jwk
    }

    #[test]
    fn usable_keys_are_kept_and_selected() {
        assert_eq!(parse_set(&json!({"keys": [rsa_jwk(4096)]}), Mode::Strict).map(|s| s.len()), Ok(1));
        let set = parse_set(&json!({"keys": [ec_jwk(), rsa_jwk(2048)]}), Mode::Strict).expect("valid");
        assert_eq!(set.len(), 2);
        assert_eq!(set.select(Some("ec"), Alg::Es256).map(|k| k.alg), Some(Alg::Es256));
        assert!(set.select(Some("ec"), Alg::Rs256).is_none(), "a kid names a key of another type");
        assert!(set.select(Some("nope"), Alg::Es256).is_none());
        assert!(set.select(None, Alg::Rs256).is_some(), "no kid: the only RSA key");
        let two_ec = parse_set(&json!({"keys": [ec_jwk(), patched(ec_jwk(), json!({"kid": "ec2"}))]}), Mode::Strict).expect("valid");
        assert!(two_ec.select(None, Alg::Es256).is_none(), "no kid and two candidates: ambiguous");
    }

    #[test]
    fn keys_for_other_uses_are_skipped() {
        let others = [
            patched(rsa_jwk(2048), json!({"use": "enc"})),
            patched(rsa_jwk(2048), json!({"alg": "RSA-OAEP"})),
            patched(rsa_jwk(2048), json!({"alg": "PS256"})),
            patched(rsa_jwk(2048), json!({"key_ops": ["encrypt"]})),
            patched(ec_jwk(), json!({"crv": "P-384"})),
            patched(ec_jwk(), json!({"alg": "ES384"})),
            json!({"kty": "OKP", "crv": "Ed25519", "x": "AAAA"}),
            json!({"kty": "oct", "k": "c2VjcmV0"}),
        ];
        for other in others {
            let set = parse_set(&json!({"keys": [other.clone(), ec_jwk()]}), Mode::Strict).expect("valid");
            assert_eq!(set.len(), 1, "{other}");
            assert!(parse_set(&json!({"keys": [other.clone()]}), Mode::Lenient).is_err(), "nothing usable: {other}");
        }
    }

    #[test]
    fn broken_keys_fail_strictly_and_are_skipped_leniently() {
        let broken = [
            json!("a string"),
            patched(ec_jwk(), json!({"x": "not base64!"})),
            patched(ec_jwk(), json!({"x": b64(&[1; 31])})),
            patched(ec_jwk(), json!({"y": b64(&[1; 32])})), // not on the curve
            patched(ec_jwk(), json!({"kid": 5})),
            patched(rsa_jwk(1024), json!({})),
            patched(rsa_jwk(8192), json!({})),
            patched(rsa_jwk(2048), json!({"e": "AQAA"})),
            patched(rsa_jwk(2048), json!({"e": "AQ"})),
            json!({"kty": "RSA", "e": "AQAB"}),
            patched(rsa_jwk(2048), json!({"d": "c2VjcmV0"})),
        ];
        for jwk in broken {
            let err = parse_set(&json!({"keys": [jwk.clone(), ec_jwk()]}), Mode::Strict).err().unwrap_or_else(|| panic!("accepted {jwk}"));
            assert!(err.starts_with("key #0: "), "{err}");
            assert!(!err.contains("c2VjcmV0"), "no key material in messages: {err}");
            assert_eq!(parse_set(&json!({"keys": [jwk, ec_jwk()]}), Mode::Lenient).expect("lenient").len(), 1);
        }
        for not_a_set in [json!([]), json!({"keys": {}}), json!({"keys": []}), json!(null)] {
            assert!(parse_set(&not_a_set, Mode::Lenient).is_err(), "{not_a_set}");
        }
    }
}
