//! `resourceType` as a zero-sized field: each resource struct serializes its own name, and
//! deserializing one refuses any other name. So a `Patient` written alone, or inside a
//! `Bundle`, always carries `"resourceType": "Patient"`, and nobody can forget it.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// A resource type's name on the wire.
pub trait ResourceName {
    const NAME: &'static str;
}

/// The `resourceType` field of resource `R`.
pub struct ResourceType<R>(PhantomData<fn() -> R>);

impl<R> ResourceType<R> {
    pub const fn new() -> Self {
        ResourceType(PhantomData)
    }
}

impl<R> Default for ResourceType<R> {
    fn default() -> Self {
        ResourceType::new()
    }
}

impl<R> Clone for ResourceType<R> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<R> Copy for ResourceType<R> {}

impl<R> PartialEq for ResourceType<R> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl<R> Eq for ResourceType<R> {}

impl<R: ResourceName> fmt::Debug for ResourceType<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(R::NAME)
    }
}

impl<R: ResourceName> Serialize for ResourceType<R> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(R::NAME)
    }
}

impl<'de, R: ResourceName> Deserialize<'de> for ResourceType<R> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Name<R>(PhantomData<fn() -> R>);
        impl<R: ResourceName> Visitor<'_> for Name<R> {
            type Value = ResourceType<R>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "resourceType \"{}\"", R::NAME)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                if v == R::NAME { Ok(ResourceType::new()) } else { Err(E::invalid_value(de::Unexpected::Str(v), &self)) }
            }
        }
        d.deserialize_str(Name(PhantomData))
    }
}
