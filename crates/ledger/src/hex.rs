//! Serde forms of hashes, keys and signatures: lower-case hexadecimal (`carnet_domain::hex`).

use carnet_domain::hex::{decode_array, encode};

/// `#[serde(with = "crate::hex::array")]` for `[u8; N]`.
pub mod array {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer, const N: usize>(value: &[u8; N], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::encode(value))
    }

    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(deserializer: D) -> Result<[u8; N], D::Error> {
        let text = String::deserialize(deserializer)?;
        super::decode_array(&text).map_err(|e| D::Error::custom(format!("expected {} lower-case hexadecimal digits: {e}", 2 * N)))
    }
}

/// `#[serde(with = "crate::hex::hashes")]` for `Vec<[u8; 32]>`.
pub mod hashes {
    use serde::{Deserialize, Deserializer, Serializer, de::Error, ser::SerializeSeq};

    use crate::merkle::Hash;

    pub fn serialize<S: Serializer>(value: &[Hash], serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(value.len()))?;
        for hash in value {
            seq.serialize_element(&super::encode(hash))?;
        }
        seq.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Hash>, D::Error> {
        let texts = Vec::<String>::deserialize(deserializer)?;
        texts
            .iter()
            .map(|t| super::decode_array(t).map_err(|e| D::Error::custom(format!("expected 64 lower-case hexadecimal digits: {e}"))))
            .collect()
    }
}
