//! The token claims contract → `Actor`. This table is the contract's definition.
//!
//! | `carnet_role` | required claims | optional claims |
//! | --- | --- | --- |
//! | `patient` | `ins` | |
//! | `representative` | `represents` (an INS or a list of INS; `ins` when `represents` is absent) | |
//! | `professional`, `regulator` | `rpps` (Luhn), `profession` (TRE_G15) | `specialty`, `finess` (Luhn) |
//! | `system` | | `finess` |
//! | `insurer_agent`, `privacy_officer`, `operator` | | |
//!
//! Every role: `iss` and `sub` (non-empty strings), optional `name` (string) and `scope` (SMART
//! scopes, space-separated). Claims a role does not use are ignored. Problems name the claim and
//! the check that failed, never the claim's value.

use carnet_domain::actor::ProfessionalIdentity;
use carnet_domain::{Actor, ActorKind, Finess, IdError, Ins, InsError, Profession, Role, Rpps, ScopeError, Scopes, SmartScope};
use serde_json::{Map, Value, json};

use crate::AuthError;

/// Carnet's own claims, for minting tokens (dev issuer, tests, the demo). Build with struct
/// update syntax from [`TokenClaims::new`] or `Default` (a patient `dev-user` with nothing else).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenClaims {
    pub sub: String,
    pub name: Option<String>,
    pub role: Role,
    pub ins: Option<String>,
    pub represents: Vec<String>,
    pub rpps: Option<String>,
    pub profession: Option<String>,
    pub specialty: Option<String>,
    pub finess: Option<String>,
    /// Space-separated SMART scopes.
    pub scope: Option<String>,
    /// The OAuth client the token is issued to (an app the patient connected).
    pub client_id: Option<String>,
}

impl Default for TokenClaims {
    fn default() -> Self {
        TokenClaims::new("dev-user", Role::Patient)
    }
}

impl TokenClaims {
    /// `sub` and `carnet_role`, nothing else.
    pub fn new(sub: impl Into<String>, role: Role) -> TokenClaims {
        TokenClaims {
            sub: sub.into(),
            name: None,
            role,
            ins: None,
            represents: vec![],
            rpps: None,
            profession: None,
            specialty: None,
            finess: None,
            scope: None,
            client_id: None,
        }
    }

    /// The contract's claims as JSON (without `iss`, `aud`, `exp`, `iat`).
    pub fn to_json(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("sub".into(), json!(self.sub));
        m.insert("carnet_role".into(), json!(self.role.as_str()));
        let optional = [
            ("name", &self.name),
            ("ins", &self.ins),
            ("rpps", &self.rpps),
            ("profession", &self.profession),
            ("specialty", &self.specialty),
            ("finess", &self.finess),
            ("scope", &self.scope),
            ("client_id", &self.client_id),
        ];
        for (k, v) in optional {
            if let Some(v) = v {
                m.insert(k.into(), json!(v));
            }
        }
        if !self.represents.is_empty() {
            m.insert("represents".into(), json!(self.represents));
        }
        m
    }
}

fn string<'a>(claims: &'a Value, claim: &'static str) -> Result<Option<&'a str>, AuthError> {
    match claims.get(claim) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(AuthError::claim(claim, "must be a string")),
    }
}

fn required<'a>(claims: &'a Value, claim: &'static str) -> Result<&'a str, AuthError> {
    match string(claims, claim)? {
        Some(s) if !s.trim().is_empty() => Ok(s),
        Some(_) => Err(AuthError::claim(claim, "must not be empty")),
        None => Err(AuthError::claim(claim, "is required")),
    }
}

/// `InsError` without the offending characters.
fn ins_problem(e: &InsError) -> String {
    match e {
        InsError::Length { found } => format!("an INS has 15 characters (13 + a 2-digit key), found {found}"),
        InsError::Character { position, .. } => {
            format!("invalid character at position {position}: only digits (and 2A/2B as department) are allowed")
        }
        InsError::Key { .. } => "the INS key does not match".to_owned(),
    }
}

fn ins(claim: &'static str, s: &str) -> Result<Ins, AuthError> {
    Ins::parse(s).map_err(|e| AuthError::claim(claim, ins_problem(&e)))
}

/// `IdError` without the offending characters.
fn id_problem(e: &IdError) -> String {
    match e {
        IdError::Length { expected, found, .. } => format!("must have {expected} digits, found {found} characters"),
        IdError::Character { .. } => "must contain only digits".to_owned(),
        IdError::CheckDigit { .. } => "check digit does not match".to_owned(),
    }
}

/// The scopes of a `scope` claim; a bad one is named by its position (never echoed: a claim's
/// value may be anything).
fn scopes(claim: &str) -> Result<Vec<SmartScope>, AuthError> {
    let count = claim.split_whitespace().count();
    claim
        .split_whitespace()
        .enumerate()
        .map(|(i, s)| {
            SmartScope::parse(s).map_err(|e| AuthError::claim("scope", format!("scope {} of {count}: {}", i + 1, scope_problem(&e))))
        })
        .collect()
}

fn scope_problem(e: &ScopeError) -> &'static str {
    match e {
        ScopeError::Context(_) => "unknown context (expected patient/, user/ or system/)",
        ScopeError::Resource(_) => "the resource type must be * or a FHIR resource name",
        ScopeError::UnknownResource(_) => "FHIR R4 defines no such resource type",
        ScopeError::Permissions(_) => "the permissions must be the letters c, r, u, d, s in that order, or read/write/*",
    }
}

fn professional(claims: &Value) -> Result<ProfessionalIdentity, AuthError> {
    Ok(ProfessionalIdentity {
        rpps: Rpps::parse(required(claims, "rpps")?).map_err(|e| AuthError::claim("rpps", id_problem(&e)))?,
        profession: Profession::from_code(required(claims, "profession")?).map_err(|_| {
            AuthError::claim("profession", "unknown TRE_G15 profession code (e.g. 10 medecin, 21 pharmacien, 60 infirmier)")
        })?,
        specialty: string(claims, "specialty")?.map(str::to_owned),
        organisation: finess(claims)?,
    })
}

fn finess(claims: &Value) -> Result<Option<Finess>, AuthError> {
    string(claims, "finess")?.map(|f| Finess::parse(f).map_err(|e| AuthError::claim("finess", id_problem(&e)))).transpose()
}

fn represents(claims: &Value) -> Result<Vec<Ins>, AuthError> {
    let mut list = match claims.get("represents") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .ok_or_else(|| AuthError::claim("represents", "must be an INS or a list of INS strings"))
                    .and_then(|s| ins("represents", s))
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(Value::String(s)) => vec![ins("represents", s)?],
        None | Some(Value::Null) => match string(claims, "ins")? {
            Some(s) => vec![ins("ins", s)?],
            None => vec![],
        },
        Some(_) => return Err(AuthError::claim("represents", "must be an INS or a list of INS strings")),
    };
    if list.is_empty() {
        return Err(AuthError::claim("represents", "is required for a representative (or `ins`)"));
    }
    list.sort();
    list.dedup();
    Ok(list)
}

/// Maps verified claims to the actor they describe. Pure: the signature, issuer, audience and
/// dates are checked before, by [`crate::TokenVerifier::verify`].
pub fn actor_from_claims(claims: &Value) -> Result<Actor, AuthError> {
    if !claims.is_object() {
        return Err(AuthError::Malformed);
    }
    let issuer = required(claims, "iss")?.to_owned();
    let subject = required(claims, "sub")?.to_owned();
    let role_name = required(claims, "carnet_role")?;
    let role = Role::parse(role_name).ok_or_else(|| {
        AuthError::claim("carnet_role", format!("unknown role; expected one of {}", Role::ALL.map(|r| r.as_str()).join(", ")))
    })?;
    let kind = match role {
        Role::Patient => ActorKind::Patient { ins: ins("ins", required(claims, "ins")?)? },
        Role::Representative => ActorKind::Representative { represents: represents(claims)? },
        Role::Professional => ActorKind::Professional(professional(claims)?),
        Role::Regulator => ActorKind::Regulator(professional(claims)?),
        Role::System => ActorKind::System { organisation: finess(claims)? },
        Role::InsurerAgent => ActorKind::InsurerAgent,
        Role::PrivacyOfficer => ActorKind::PrivacyOfficer,
        Role::Operator => ActorKind::Operator,
    };
    let scopes = match string(claims, "scope")? {
        Some(s) => Scopes::Granted(scopes(s)?),
        None => Scopes::RoleOnly,
    };
    // RFC 9068 names the client `client_id`; OpenID Connect tokens name it `azp`.
    let client = match string(claims, "client_id")? {
        Some(c) => Some(c),
        None => string(claims, "azp")?,
    }
    .filter(|c| !c.trim().is_empty())
    .map(str::to_owned);
    Ok(Actor { issuer, subject, name: string(claims, "name")?.map(str::to_owned), kind, scopes, client })
}

#[cfg(test)]
mod tests {
    use carnet_domain::actor::ProfessionalIdentity;

    use super::*;

    fn with(role: &str, extra: Value) -> Value {
        let mut v = json!({"iss": "https://idp.test", "sub": "u1", "carnet_role": role});
        if let (Some(m), Value::Object(e)) = (v.as_object_mut(), extra) {
            m.extend(e);
        }
        v
    }

    fn valid_ins() -> String {
        Ins::from_body("1841276451089").expect("valid").to_string()
    }

    fn other_ins() -> String {
        Ins::from_body("2690549588157").expect("valid").to_string()
    }

    fn valid_rpps() -> String {
        Rpps::from_body("1000000001").expect("valid").to_string()
    }

    fn valid_finess() -> String {
        Finess::from_body("75000001").expect("valid").to_string()
    }

    fn actor(claims: Value) -> Actor {
        actor_from_claims(&claims).unwrap_or_else(|e| panic!("{claims}: {e}"))
    }

    #[test]
    fn patient() {
        let a = actor(with("patient", json!({"ins": valid_ins(), "name": "Jeanne Martin"})));
        assert_eq!(a.kind, ActorKind::Patient { ins: Ins::parse(&valid_ins()).expect("valid") });
        assert_eq!((a.issuer.as_str(), a.subject.as_str(), a.name.as_deref()), ("https://idp.test", "u1", Some("Jeanne Martin")));
        assert_eq!(a.scopes, Scopes::RoleOnly);
    }

    #[test]
    fn representative_by_list_single_string_or_ins() {
        let both = actor(with("representative", json!({"represents": [valid_ins(), other_ins(), valid_ins()]})));
        let ActorKind::Representative { represents } = &both.kind else { panic!("{both:?}") };
        assert_eq!(represents.len(), 2, "duplicates are dropped");
        assert!(both.speaks_for(&Ins::parse(&other_ins()).expect("valid")));
        let single = actor(with("representative", json!({"represents": valid_ins()})));
        assert!(single.speaks_for(&Ins::parse(&valid_ins()).expect("valid")));
        let by_ins = actor(with("representative", json!({"ins": valid_ins()})));
        assert!(by_ins.speaks_for(&Ins::parse(&valid_ins()).expect("valid")));
        // `represents` wins over `ins` when both are present.
        let both_claims = actor(with("representative", json!({"represents": [other_ins()], "ins": valid_ins()})));
        assert!(!both_claims.speaks_for(&Ins::parse(&valid_ins()).expect("valid")));
    }

    #[test]
    fn professional_and_regulator() {
        let full = json!({"rpps": valid_rpps(), "profession": "10", "specialty": "SM54", "finess": valid_finess()});
        let expected = ProfessionalIdentity {
            rpps: Rpps::parse(&valid_rpps()).expect("valid"),
            profession: Profession::Medecin,
            specialty: Some("SM54".into()),
            organisation: Some(Finess::parse(&valid_finess()).expect("valid")),
        };
        assert_eq!(actor(with("professional", full.clone())).kind, ActorKind::Professional(expected.clone()));
        assert_eq!(actor(with("regulator", full)).kind, ActorKind::Regulator(expected));
        let minimal = actor(with("professional", json!({"rpps": valid_rpps(), "profession": "21"})));
        assert!(
            matches!(&minimal.kind, ActorKind::Professional(p) if p.profession == Profession::Pharmacien && p.organisation.is_none() && p.specialty.is_none())
        );
    }

    #[test]
    fn system_and_roles_without_identifiers() {
        assert_eq!(actor(with("system", json!({}))).kind, ActorKind::System { organisation: None });
        let lab = actor(with("system", json!({"finess": valid_finess()})));
        assert_eq!(lab.organisation().map(Finess::as_str), Some(valid_finess().as_str()));
        assert_eq!(actor(with("insurer_agent", json!({}))).kind, ActorKind::InsurerAgent);
        assert_eq!(actor(with("privacy_officer", json!({}))).kind, ActorKind::PrivacyOfficer);
        // Claims a role does not use are ignored.
        assert_eq!(actor(with("operator", json!({"ins": "garbage", "rpps": "x"}))).kind, ActorKind::Operator);
    }

    #[test]
    fn scopes_are_parsed() {
        let a = actor(with("operator", json!({"scope": "openid  user/*.rs launch/patient"})));
        assert_eq!(
            a.scopes.granted().unwrap_or_default().iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["openid", "user/*.rs", "launch/patient"]
        );
    }

    #[test]
    fn each_broken_claim_is_named_without_its_value() {
        let secret = "SECRETVALUE";
        let cases = [
            (json!({"sub": "s", "carnet_role": "operator"}), "iss"),
            (json!({"iss": "i", "carnet_role": "operator"}), "sub"),
            (json!({"iss": "i", "sub": "", "carnet_role": "operator"}), "sub"),
            (json!({"iss": "i", "sub": 7, "carnet_role": "operator"}), "sub"),
            (json!({"iss": "i", "sub": "s"}), "carnet_role"),
            (with(secret, json!({})), "carnet_role"),
            (with("patient", json!({})), "ins"),
            (with("patient", json!({"ins": secret})), "ins"),
            (with("patient", json!({"ins": ["184127645108946"]})), "ins"),
            (with("representative", json!({})), "represents"),
            (with("representative", json!({"represents": []})), "represents"),
            (with("representative", json!({"represents": [1]})), "represents"),
            (with("representative", json!({"represents": {"ins": "x"}})), "represents"),
            (with("representative", json!({"represents": [valid_ins(), secret]})), "represents"),
            (with("representative", json!({"ins": secret})), "ins"),
            (with("professional", json!({"profession": "10"})), "rpps"),
            (with("professional", json!({"rpps": "10000000010", "profession": "10"})), "rpps"),
            (with("professional", json!({"rpps": "1000000001X", "profession": "10"})), "rpps"),
            (with("professional", json!({"rpps": 10000000019u64, "profession": "10"})), "rpps"),
            (with("professional", json!({"rpps": valid_rpps()})), "profession"),
            (with("professional", json!({"rpps": valid_rpps(), "profession": secret})), "profession"),
            (with("professional", json!({"rpps": valid_rpps(), "profession": "10", "finess": "1"})), "finess"),
            (with("professional", json!({"rpps": valid_rpps(), "profession": "10", "specialty": 5})), "specialty"),
            (with("regulator", json!({"profession": "10"})), "rpps"),
            (with("regulator", json!({"rpps": valid_rpps()})), "profession"),
            (with("regulator", json!({"rpps": valid_rpps(), "profession": "10", "finess": "750000011"})), "finess"),
            (with("system", json!({"finess": secret})), "finess"),
            (with("operator", json!({"scope": format!("openid admin/{secret}.r")})), "scope"),
            (with("operator", json!({"scope": format!("patient/{secret}.rx")})), "scope"),
            (with("operator", json!({"scope": "patient/observation.r"})), "scope"),
            (with("operator", json!({"scope": ["openid"]})), "scope"),
            (with("operator", json!({"name": 3})), "name"),
        ];
        for (claims, claim) in cases {
            match actor_from_claims(&claims) {
                Err(e @ AuthError::Claim { claim: c, .. }) => {
                    assert_eq!(c, claim, "{claims}");
                    assert!(!e.to_string().contains(secret) && !e.to_string().contains("SECRET"), "{e}");
                    assert!(e.to_string().is_ascii(), "{e}");
                }
                other => panic!("{claims}: expected a `{claim}` error, got {other:?}"),
            }
        }
        assert!(matches!(actor_from_claims(&json!("a string")), Err(AuthError::Malformed)));
    }

    #[test]
    fn problems_say_which_check_failed() {
        let problem = |claims: Value| actor_from_claims(&claims).expect_err("invalid").to_string();
        assert_eq!(
            problem(with("professional", json!({"rpps": "10000000010", "profession": "10"}))),
            "claim `rpps`: check digit does not match"
        );
        assert_eq!(
            problem(with("patient", json!({"ins": "12345"}))),
            "claim `ins`: an INS has 15 characters (13 + a 2-digit key), found 5"
        );
        assert_eq!(problem(with("patient", json!({}))), "claim `ins`: is required");
    }

    #[test]
    fn minted_claims_round_trip() {
        let claims = TokenClaims {
            role: Role::Representative,
            represents: vec![valid_ins()],
            name: Some("Marc".into()),
            scope: Some("patient/*.rs".into()),
            ..TokenClaims::new("p", Role::Patient)
        };
        let mut json = Value::Object(claims.to_json());
        json["iss"] = json!("urn:test");
        let actor = actor_from_claims(&json).expect("valid");
        assert_eq!((actor.subject.as_str(), actor.name.as_deref()), ("p", Some("Marc")));
        assert!(actor.speaks_for(&Ins::parse(&valid_ins()).expect("valid")));
        assert_eq!(actor.scopes.granted().map(<[_]>::len), Some(1));
        assert_eq!(TokenClaims::default().to_json().len(), 2, "only sub and carnet_role");
    }
}
