//! SMART App Launch v2 scopes (`patient/DocumentReference.rs`, `user/*.cruds`, `system/Binary.r`),
//! with the v1 forms (`.read`, `.write`, `.*`) accepted and mapped to their v2 permissions.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScopeContext {
    Patient,
    User,
    System,
}

/// The v2 permission letters, in their mandatory order c, r, u, d, s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Permissions {
    pub create: bool,
    pub read: bool,
    pub update: bool,
    pub delete: bool,
    pub search: bool,
}

impl Permissions {
    pub const ALL: Permissions = Permissions { create: true, read: true, update: true, delete: true, search: true };

    pub fn contains(self, other: Permissions) -> bool {
        (!other.create || self.create)
            && (!other.read || self.read)
            && (!other.update || self.update)
            && (!other.delete || self.delete)
            && (!other.search || self.search)
    }
}

impl fmt::Display for Permissions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (on, c) in [(self.create, 'c'), (self.read, 'r'), (self.update, 'u'), (self.delete, 'd'), (self.search, 's')] {
            if on {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

/// One scope of a token's `scope` claim.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SmartScope {
    /// `context/Resource.perms[?query]`; `resource` is `None` for `*`.
    Resource { context: ScopeContext, resource: Option<String>, permissions: Permissions, query: Option<String> },
    /// Any other scope (`openid`, `fhirUser`, `launch/patient`, `offline_access`, …), kept verbatim.
    Other(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    #[error("scope {0:?}: unknown context (expected patient/, user/ or system/)")]
    Context(String),
    #[error("scope {0:?}: the resource type must be * or a FHIR resource name")]
    Resource(String),
    #[error("scope {0:?}: permissions must be the letters c, r, u, d, s in that order, or read/write/*")]
    Permissions(String),
}

impl SmartScope {
    /// Parses one scope. Resource scopes must be well formed; anything without a `/` or with a
    /// known launch prefix is kept as `Other`.
    pub fn parse(scope: &str) -> Result<SmartScope, ScopeError> {
        let Some((prefix, rest)) = scope.split_once('/') else {
            return Ok(SmartScope::Other(scope.to_owned()));
        };
        let context = match prefix {
            "patient" => ScopeContext::Patient,
            "user" => ScopeContext::User,
            "system" => ScopeContext::System,
            "launch" => return Ok(SmartScope::Other(scope.to_owned())),
            _ => return Err(ScopeError::Context(scope.to_owned())),
        };
        let (body, query) = match rest.split_once('?') {
            Some((b, q)) => (b, Some(q.to_owned())),
            None => (rest, None),
        };
        let Some((resource, perms)) = body.split_once('.') else {
            return Err(ScopeError::Permissions(scope.to_owned()));
        };
        let resource = match resource {
            "*" => None,
            r if !r.is_empty() && r.starts_with(|c: char| c.is_ascii_uppercase()) && r.chars().all(|c| c.is_ascii_alphanumeric()) => {
                Some(r.to_owned())
            }
            _ => return Err(ScopeError::Resource(scope.to_owned())),
        };
        let permissions = parse_permissions(perms).ok_or_else(|| ScopeError::Permissions(scope.to_owned()))?;
        Ok(SmartScope::Resource { context, resource, permissions, query })
    }

    /// Parses a space-separated `scope` claim.
    pub fn parse_all(claim: &str) -> Result<Vec<SmartScope>, ScopeError> {
        claim.split_whitespace().map(SmartScope::parse).collect()
    }

    /// Does this scope grant `wanted` on `resource` (in any context)?
    pub fn grants(&self, resource: &str, wanted: Permissions) -> bool {
        match self {
            SmartScope::Resource { resource: r, permissions, .. } => {
                r.as_deref().is_none_or(|r| r == resource) && permissions.contains(wanted)
            }
            SmartScope::Other(_) => false,
        }
    }
}

fn parse_permissions(p: &str) -> Option<Permissions> {
    match p {
        "read" => return Some(Permissions { read: true, search: true, ..Permissions::default() }),
        "write" => return Some(Permissions { create: true, update: true, delete: true, ..Permissions::default() }),
        "*" => return Some(Permissions::ALL),
        "" => return None,
        _ => {}
    }
    let mut perms = Permissions::default();
    let mut last = 0;
    for c in p.chars() {
        let (rank, slot) = match c {
            'c' => (1, &mut perms.create),
            'r' => (2, &mut perms.read),
            'u' => (3, &mut perms.update),
            'd' => (4, &mut perms.delete),
            's' => (5, &mut perms.search),
            _ => return None,
        };
        if rank <= last {
            return None;
        }
        last = rank;
        *slot = true;
    }
    Some(perms)
}

impl fmt::Display for SmartScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SmartScope::Other(s) => f.write_str(s),
            SmartScope::Resource { context, resource, permissions, query } => {
                let ctx = match context {
                    ScopeContext::Patient => "patient",
                    ScopeContext::User => "user",
                    ScopeContext::System => "system",
                };
                write!(f, "{ctx}/{}.{permissions}", resource.as_deref().unwrap_or("*"))?;
                if let Some(q) = query {
                    write!(f, "?{q}")?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_scopes() {
        let s = SmartScope::parse("patient/DocumentReference.rs").expect("valid");
        assert!(s.grants("DocumentReference", Permissions { read: true, ..Default::default() }));
        assert!(!s.grants("DocumentReference", Permissions { create: true, ..Default::default() }));
        assert!(!s.grants("Binary", Permissions { read: true, ..Default::default() }));
        let all = SmartScope::parse("system/*.cruds").expect("valid");
        assert!(all.grants("Binary", Permissions::ALL));
        let q = SmartScope::parse("user/Observation.rs?category=laboratory").expect("valid");
        assert_eq!(q.to_string(), "user/Observation.rs?category=laboratory");
    }

    #[test]
    fn v1_scopes_map_to_v2() {
        assert_eq!(SmartScope::parse("user/*.read").expect("valid").to_string(), "user/*.rs");
        assert_eq!(SmartScope::parse("user/*.write").expect("valid").to_string(), "user/*.cud");
    }

    #[test]
    fn bad_scopes_are_named() {
        assert!(matches!(SmartScope::parse("patient/Observation.sr"), Err(ScopeError::Permissions(_))));
        assert!(matches!(SmartScope::parse("patient/Observation.x"), Err(ScopeError::Permissions(_))));
        assert!(matches!(SmartScope::parse("admin/Observation.r"), Err(ScopeError::Context(_))));
        assert!(matches!(SmartScope::parse("patient/observation.r"), Err(ScopeError::Resource(_))));
        assert_eq!(SmartScope::parse("openid"), Ok(SmartScope::Other("openid".into())));
        assert_eq!(SmartScope::parse("launch/patient"), Ok(SmartScope::Other("launch/patient".into())));
    }
}
