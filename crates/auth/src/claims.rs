//! The token claims contract (DESIGN.md "Token claims contract") → `Actor`.

use carnet_domain::actor::ProfessionalIdentity;
use carnet_domain::{Actor, ActorKind, Finess, Ins, Profession, Role, Rpps, SmartScope};
use serde_json::{Map, Value, json};

use crate::AuthError;

/// Carnet's own claims, for minting tokens (dev issuer, tests, the demo).
#[derive(Debug, Clone)]
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
    pub scope: Option<String>,
}

impl Default for TokenClaims {
    fn default() -> Self {
        TokenClaims {
            sub: "dev-user".into(),
            name: None,
            role: Role::Patient,
            ins: None,
            represents: vec![],
            rpps: None,
            profession: None,
            specialty: None,
            finess: None,
            scope: None,
        }
    }
}

impl TokenClaims {
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
    string(claims, claim)?.ok_or_else(|| AuthError::claim(claim, "is required for this role"))
}

fn ins(claim: &'static str, s: &str) -> Result<Ins, AuthError> {
    Ins::parse(s).map_err(|e| AuthError::claim(claim, e.to_string()))
}

fn professional(claims: &Value) -> Result<ProfessionalIdentity, AuthError> {
    Ok(ProfessionalIdentity {
        rpps: Rpps::parse(required(claims, "rpps")?).map_err(|e| AuthError::claim("rpps", e.to_string()))?,
        profession: Profession::from_code(required(claims, "profession")?)
            .map_err(|e| AuthError::claim("profession", e.to_string()))?,
        specialty: string(claims, "specialty")?.map(str::to_owned),
        organisation: finess(claims)?,
    })
}

fn finess(claims: &Value) -> Result<Option<Finess>, AuthError> {
    string(claims, "finess")?
        .map(|f| Finess::parse(f).map_err(|e| AuthError::claim("finess", e.to_string())))
        .transpose()
}

/// Maps verified claims to the actor they describe. Pure: the signature, issuer, audience and
/// dates were checked before.
pub fn actor_from_claims(claims: &Value) -> Result<Actor, AuthError> {
    let issuer = required(claims, "iss")?.to_owned();
    let subject = string(claims, "sub")?.ok_or_else(|| AuthError::claim("sub", "is required"))?.to_owned();
    let role_name = string(claims, "carnet_role")?.ok_or_else(|| AuthError::claim("carnet_role", "is required"))?;
    let role = Role::parse(role_name).ok_or_else(|| {
        AuthError::claim("carnet_role", format!("unknown role; expected one of {}", Role::ALL.map(|r| r.as_str()).join(", ")))
    })?;
    let kind = match role {
        Role::Patient => ActorKind::Patient { ins: ins("ins", required(claims, "ins")?)? },
        Role::Representative => {
            let represents = match claims.get("represents") {
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|v| v.as_str().ok_or_else(|| AuthError::claim("represents", "must list INS strings")).and_then(|s| ins("represents", s)))
                    .collect::<Result<Vec<_>, _>>()?,
                Some(Value::String(s)) => vec![ins("represents", s)?],
                None | Some(Value::Null) => match string(claims, "ins")? {
                    Some(s) => vec![ins("ins", s)?],
                    None => vec![],
                },
                Some(_) => return Err(AuthError::claim("represents", "must be an INS or a list of INS")),
            };
            if represents.is_empty() {
                return Err(AuthError::claim("represents", "is required for a representative"));
            }
            ActorKind::Representative { represents }
        }
        Role::Professional => ActorKind::Professional(professional(claims)?),
        Role::Regulator => ActorKind::Regulator(professional(claims)?),
        Role::System => ActorKind::System { organisation: finess(claims)? },
        Role::InsurerAgent => ActorKind::InsurerAgent,
        Role::PrivacyOfficer => ActorKind::PrivacyOfficer,
        Role::Operator => ActorKind::Operator,
    };
    let scopes = match string(claims, "scope")? {
        Some(s) => SmartScope::parse_all(s).map_err(|e| AuthError::claim("scope", e.to_string()))?,
        None => vec![],
    };
    Ok(Actor { issuer, subject, name: string(claims, "name")?.map(str::to_owned), kind, scopes })
}

#[cfg(test)]
mod tests {
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

    fn valid_rpps() -> String {
        Rpps::from_body("1000000001").expect("valid").to_string()
    }

    #[test]
    fn every_role_maps_to_its_actor() {
        let ins = valid_ins();
        let rpps = valid_rpps();
        let pro = json!({"rpps": rpps, "profession": "21", "finess": Finess::from_body("75000001").expect("valid").to_string()});
        let cases = [
            (with("patient", json!({"ins": ins})), Role::Patient),
            (with("representative", json!({"represents": [ins]})), Role::Representative),
            (with("representative", json!({"ins": ins})), Role::Representative),
            (with("professional", pro.clone()), Role::Professional),
            (with("regulator", pro), Role::Regulator),
            (with("system", json!({})), Role::System),
            (with("insurer_agent", json!({})), Role::InsurerAgent),
            (with("privacy_officer", json!({})), Role::PrivacyOfficer),
            (with("operator", json!({"scope": "openid user/*.rs"})), Role::Operator),
        ];
        for (claims, role) in cases {
            let actor = actor_from_claims(&claims).unwrap_or_else(|e| panic!("{role:?}: {e}"));
            assert_eq!(actor.role(), role);
        }
        let pharmacist = actor_from_claims(&with("professional", json!({"rpps": valid_rpps(), "profession": "21"}))).expect("valid");
        assert!(matches!(pharmacist.kind, ActorKind::Professional(ref p) if p.profession == Profession::Pharmacien));
    }

    #[test]
    fn each_broken_claim_is_named() {
        let cases = [
            (json!({"iss": "i", "sub": "s"}), "carnet_role"),
            (with("nurse", json!({})), "carnet_role"),
            (with("patient", json!({})), "ins"),
            (with("patient", json!({"ins": "123"})), "ins"),
            (with("representative", json!({})), "represents"),
            (with("representative", json!({"represents": [1]})), "represents"),
            (with("professional", json!({"profession": "10"})), "rpps"),
            (with("professional", json!({"rpps": "10000000010", "profession": "10"})), "rpps"),
            (with("professional", json!({"rpps": valid_rpps()})), "profession"),
            (with("professional", json!({"rpps": valid_rpps(), "profession": "99"})), "profession"),
            (with("professional", json!({"rpps": valid_rpps(), "profession": "10", "finess": "1"})), "finess"),
            (with("operator", json!({"scope": "admin/*.r"})), "scope"),
            (with("operator", json!({"name": 3})), "name"),
            (json!({"iss": "i", "carnet_role": "operator"}), "sub"),
        ];
        for (claims, claim) in cases {
            match actor_from_claims(&claims) {
                Err(AuthError::Claim { claim: c, .. }) => assert_eq!(c, claim, "{claims}"),
                other => panic!("{claims}: expected a `{claim}` error, got {other:?}"),
            }
        }
    }

    #[test]
    fn minted_claims_round_trip() {
        let claims = TokenClaims {
            sub: "p".into(),
            role: Role::Representative,
            represents: vec![valid_ins()],
            name: Some("Marc".into()),
            ..TokenClaims::default()
        };
        let mut json = Value::Object(claims.to_json());
        json["iss"] = json!("urn:test");
        let actor = actor_from_claims(&json).expect("valid");
        assert_eq!(actor.name.as_deref(), Some("Marc"));
        assert!(actor.speaks_for(&Ins::parse(&valid_ins()).expect("valid")));
    }
}
