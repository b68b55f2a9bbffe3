//! The CapabilityStatement (`GET /fhir/metadata`), built from what the server says it mounts.
//!
//! The edge lists the [`Transaction`]s it actually serves; each one knows the resources,
//! interactions, search parameters and operations it brings. So the statement cannot claim a
//! transaction the router does not have, nor forget one it has — as long as the edge builds the
//! list from the same place it builds its routes.

use std::collections::BTreeMap;

use time::OffsetDateTime;

use crate::datetime;
use crate::model::*;
use crate::profile::ProfileResource;
use crate::systems;

/// A FHIR transaction Carnet may serve; the CapabilityStatement is built from those mounted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transaction {
    /// ITI-78 PDQm: find a patient by INS and traits.
    PatientDemographicsQuery,
    /// ITI-65 MHD: a transaction Bundle of List + DocumentReference(s) + Binary(ies).
    ProvideDocumentBundle,
    /// ITI-67 MHD: search DocumentReferences.
    FindDocumentReferences,
    /// ITI-68 MHD: read a document's bytes.
    RetrieveDocument,
    /// ITI-66 MHD: search SubmissionSet Lists.
    FindLists,
    /// TD3.3: change a document's security labels.
    UpdateSecurityLabels,
    /// IHE PCF: the patient's choices as Consent resources.
    ReadConsents,
    /// IHE BALP: the access history as AuditEvents.
    ReadAuditEvents,
    /// HL7 IPS: `Patient/{id}/$summary`.
    PatientSummary,
    /// The medical profile: read and search Condition, AllergyIntolerance, MedicationStatement,
    /// Immunization and Observation (`crate::profile::search`). Off until the edge mounts it:
    /// it is declared only when listed.
    SearchProfile,
    /// The medical profile: a professional's create of those five resources (`X-Provenance`
    /// header for the author), read by `crate::profile::parse_item`. Off until mounted.
    CreateProfileItem,
}

/// How clients authenticate, as far as it is true of this server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerSecurity<'a> {
    /// Browser apps from configured origins may call (CORS preflight answered, allowed origin sent).
    pub cors: bool,
    /// The SMART authorization server, when one is configured; without it, the statement says
    /// only that bearer tokens of trusted issuers are taken (service `OAuth`), not `SMART-on-FHIR`.
    pub smart: Option<SmartEndpoints<'a>>,
}

/// Where SMART on FHIR clients get tokens (the configured authorization server's endpoints).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmartEndpoints<'a> {
    pub authorize: &'a str,
    pub token: &'a str,
    pub revoke: Option<&'a str>,
    pub introspect: Option<&'a str>,
}

/// What the server is and serves.
#[derive(Debug, Clone, Copy)]
pub struct ServerDescription<'a> {
    pub software_name: &'a str,
    pub software_version: &'a str,
    pub base_url: &'a str,
    /// When this description took effect (the server's start, or its build).
    pub date: OffsetDateTime,
    pub transactions: &'a [Transaction],
    /// `None`: the server takes no bearer tokens (no security section is written).
    pub security: Option<ServerSecurity<'a>>,
}

struct Adds {
    resource: &'static str,
    interactions: &'static [&'static str],
    params: &'static [(&'static str, &'static str)],
    operations: &'static [(&'static str, &'static str)],
}

impl Transaction {
    fn adds(self) -> Option<Adds> {
        let adds = |resource, interactions, params, operations| Some(Adds { resource, interactions, params, operations });
        match self {
            Transaction::PatientDemographicsQuery => adds(
                "Patient",
                &["read", "search-type"],
                &[
                    ("_id", "token"),
                    ("identifier", "token"),
                    ("family", "string"),
                    ("given", "string"),
                    ("birthdate", "date"),
                    ("gender", "token"),
                ],
                &[],
            ),
            // A system-level interaction: see `capability_statement`.
            Transaction::ProvideDocumentBundle => None,
            Transaction::FindDocumentReferences => adds(
                "DocumentReference",
                &["read", "search-type"],
                &[
                    ("patient", "reference"),
                    ("patient.identifier", "token"),
                    ("identifier", "token"),
                    ("status", "token"),
                    ("type", "token"),
                    ("category", "token"),
                    ("date", "date"),
                    ("creation", "date"),
                    ("period", "date"),
                    ("author.given", "string"),
                    ("author.family", "string"),
                    ("format", "token"),
                    ("security-label", "token"),
                    ("setting", "token"),
                    ("related", "reference"),
                    ("full-text", "string"),
                ],
                &[],
            ),
            Transaction::RetrieveDocument => adds("Binary", &["read"], &[], &[]),
            Transaction::FindLists => adds(
                "List",
                &["search-type"],
                &[
                    ("code", "token"),
                    ("patient", "reference"),
                    ("patient.identifier", "token"),
                    ("identifier", "token"),
                    ("status", "token"),
                    ("date", "date"),
                ],
                &[],
            ),
            Transaction::UpdateSecurityLabels => adds("DocumentReference", &["update", "patch"], &[], &[]),
            Transaction::ReadConsents => {
                adds("Consent", &["search-type"], &[("patient", "reference"), ("patient.identifier", "token"), ("status", "token")], &[])
            }
            Transaction::ReadAuditEvents => {
                adds("AuditEvent", &["search-type"], &[("patient", "reference"), ("patient.identifier", "token"), ("date", "date")], &[])
            }
            Transaction::PatientSummary => {
                adds("Patient", &[], &[], &[("summary", "http://hl7.org/fhir/uv/ips/OperationDefinition/summary")])
            }
            // Five resources each: see `profile_adds`.
            Transaction::SearchProfile | Transaction::CreateProfileItem => None,
        }
    }

    /// What the profile's transactions add, one entry per resource.
    fn profile_adds(self) -> Vec<Adds> {
        let interactions: &'static [&'static str] = match self {
            Transaction::SearchProfile => &["read", "search-type"],
            Transaction::CreateProfileItem => &["create"],
            _ => return vec![],
        };
        ProfileResource::ALL
            .into_iter()
            .map(|r| Adds {
                resource: r.name(),
                interactions,
                params: if self == Transaction::SearchProfile { r.parameters() } else { &[] },
                operations: &[],
            })
            .collect()
    }
}

/// The CapabilityStatement for `desc`: FHIR 4.0.1, JSON, one `server` rest entry whose
/// resources (sorted by type) merge what each transaction adds.
pub fn capability_statement(desc: &ServerDescription<'_>) -> CapabilityStatement {
    let mut resources: BTreeMap<&str, CapabilityResource> = BTreeMap::new();
    for adds in desc.transactions.iter().flat_map(|t| t.adds().into_iter().chain(t.profile_adds())) {
        let r = resources
            .entry(adds.resource)
            .or_insert_with(|| CapabilityResource { type_: adds.resource.into(), ..CapabilityResource::default() });
        for code in adds.interactions {
            if !r.interaction.iter().any(|i| i.code == *code) {
                r.interaction.push(CapabilityInteraction { code: (*code).into(), documentation: None });
            }
        }
        for (name, type_) in adds.params {
            if !r.search_param.iter().any(|p| p.name == *name) {
                r.search_param.push(CapabilitySearchParam {
                    name: (*name).into(),
                    type_: (*type_).into(),
                    ..CapabilitySearchParam::default()
                });
            }
        }
        for (name, definition) in adds.operations {
            if !r.operation.iter().any(|o| o.name == *name) {
                r.operation.push(CapabilityOperation { name: (*name).into(), definition: (*definition).into(), documentation: None });
            }
        }
    }
    let interaction = if desc.transactions.contains(&Transaction::ProvideDocumentBundle) {
        vec![CapabilityInteraction {
            code: "transaction".into(),
            documentation: Some("ITI-65 Provide Document Bundle (IHE MHD 4.x)".into()),
        }]
    } else {
        vec![]
    };
    let security = desc.security.map(|security| {
        let (extension, service, description) = match security.smart {
            Some(smart) => {
                let mut oauth = Extension::new(systems::SMART_OAUTH_URIS);
                let endpoints = [
                    ("authorize", Some(smart.authorize)),
                    ("token", Some(smart.token)),
                    ("revoke", smart.revoke),
                    ("introspect", smart.introspect),
                ];
                for (name, url) in endpoints {
                    if let Some(url) = url {
                        oauth.extension.push(Extension { value_uri: Some(url.to_owned()), ..Extension::new(name) });
                    }
                }
                let service = Coding::new(systems::RESTFUL_SECURITY_SERVICE, "SMART-on-FHIR", Some("SMART-on-FHIR"));
                let description = "SMART App Launch 2 (standalone launch, PKCE S256) with the authorization server of \
                                   /.well-known/smart-configuration; bearer tokens (ES256/RS256) from trusted OpenID Connect issuers, \
                                   SMART v2 scopes";
                (vec![oauth], service, description)
            }
            // Tokens are taken, but no SMART authorization server is published: claim no more.
            None => (
                vec![],
                Coding::new(systems::RESTFUL_SECURITY_SERVICE, "OAuth", Some("OAuth")),
                "Bearer tokens (ES256/RS256) from trusted OpenID Connect issuers, SMART v2 scopes",
            ),
        };
        CapabilitySecurity {
            extension,
            cors: Some(security.cors),
            service: vec![CodeableConcept::of(service)],
            description: Some(description.into()),
        }
    });
    CapabilityStatement {
        name: Some("Carnet".into()),
        title: Some("Carnet shared medical record".into()),
        status: "active".into(),
        date: datetime::instant(desc.date),
        publisher: Some("Carnet".into()),
        kind: "instance".into(),
        software: Some(CapabilitySoftware { name: desc.software_name.into(), version: Some(desc.software_version.into()) }),
        implementation: Some(CapabilityImplementation {
            description: "Carnet FHIR API".into(),
            url: Some(desc.base_url.trim_end_matches('/').to_owned()),
        }),
        fhir_version: "4.0.1".into(),
        format: vec!["json".into()],
        rest: vec![CapabilityRest {
            mode: "server".into(),
            security,
            resource: resources.into_values().collect(),
            interaction,
            ..CapabilityRest::default()
        }],
        ..CapabilityStatement::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statement(transactions: &[Transaction]) -> CapabilityStatement {
        capability_statement(&ServerDescription {
            software_name: "carnet",
            software_version: "0.1.0",
            base_url: "https://carnet.test/fhir/",
            date: time::macros::datetime!(2026-01-01 0:00 UTC),
            transactions,
            security: None,
        })
    }

    #[test]
    fn only_what_is_served_is_declared() {
        let cs = statement(&[Transaction::RetrieveDocument]);
        let rest = &cs.rest[0];
        assert_eq!(rest.resource.iter().map(|r| r.type_.as_str()).collect::<Vec<_>>(), ["Binary"]);
        assert!(rest.interaction.is_empty(), "no transaction without ITI-65");
        assert!(rest.security.is_none());
        assert_eq!(cs.implementation.and_then(|i| i.url).as_deref(), Some("https://carnet.test/fhir"));
    }

    fn secured(security: ServerSecurity<'_>) -> CapabilitySecurity {
        let cs = capability_statement(&ServerDescription {
            software_name: "carnet",
            software_version: "0.1.0",
            base_url: "https://carnet.test/fhir",
            date: time::macros::datetime!(2026-01-01 0:00 UTC),
            transactions: &[Transaction::FindDocumentReferences],
            security: Some(security),
        });
        cs.rest.into_iter().next().and_then(|r| r.security).expect("a security section")
    }

    #[test]
    fn smart_and_cors_are_claimed_only_when_configured() {
        let plain = secured(ServerSecurity { cors: false, smart: None });
        assert_eq!(plain.cors, Some(false));
        assert_eq!(plain.service[0].coding[0].code.as_deref(), Some("OAuth"));
        assert!(plain.extension.is_empty(), "no oauth-uris without an authorization server");

        let smart = SmartEndpoints { authorize: "https://idp.test/auth", token: "https://idp.test/token", revoke: None, introspect: None };
        let full = secured(ServerSecurity { cors: true, smart: Some(smart) });
        assert_eq!(full.cors, Some(true));
        assert_eq!(full.service[0].coding[0].code.as_deref(), Some("SMART-on-FHIR"));
        let uris: Vec<(&str, Option<&str>)> =
            full.extension[0].extension.iter().map(|e| (e.url.as_str(), e.value_uri.as_deref())).collect();
        assert_eq!(uris, [("authorize", Some("https://idp.test/auth")), ("token", Some("https://idp.test/token"))]);
    }

    #[test]
    fn the_profile_resources_are_declared_only_when_the_edge_serves_them() {
        let today = statement(&[Transaction::FindDocumentReferences, Transaction::PatientSummary]);
        let types: Vec<&str> = today.rest[0].resource.iter().map(|r| r.type_.as_str()).collect();
        assert_eq!(types, ["DocumentReference", "Patient"], "nothing of the profile without the flag");

        let served = statement(&[Transaction::SearchProfile, Transaction::CreateProfileItem]);
        let rest = &served.rest[0];
        let types: Vec<&str> = rest.resource.iter().map(|r| r.type_.as_str()).collect();
        assert_eq!(types, ["AllergyIntolerance", "Condition", "Immunization", "MedicationStatement", "Observation"]);
        let observation = rest.resource.iter().find(|r| r.type_ == "Observation").expect("declared");
        let params: Vec<&str> = observation.search_param.iter().map(|p| p.name.as_str()).collect();
        for wanted in ["patient", "code", "date", "category"] {
            assert!(params.contains(&wanted), "{wanted} in {params:?}");
        }
        let codes: Vec<&str> = observation.interaction.iter().map(|i| i.code.as_str()).collect();
        assert_eq!(codes, ["read", "search-type", "create"]);
        let condition = rest.resource.iter().find(|r| r.type_ == "Condition").expect("declared");
        assert!(condition.search_param.iter().any(|p| p.name == "clinical-status" && p.type_ == "token"));
    }

    #[test]
    fn transactions_on_one_resource_merge() {
        let cs = statement(&[Transaction::FindDocumentReferences, Transaction::UpdateSecurityLabels, Transaction::ProvideDocumentBundle]);
        let rest = &cs.rest[0];
        let docs = rest.resource.iter().find(|r| r.type_ == "DocumentReference").expect("declared");
        let codes: Vec<&str> = docs.interaction.iter().map(|i| i.code.as_str()).collect();
        assert_eq!(codes, ["read", "search-type", "update", "patch"]);
        assert_eq!(rest.interaction[0].code, "transaction");
    }
}
