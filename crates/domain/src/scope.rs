//! SMART App Launch v2 scopes (`patient/DocumentReference.rs`, `user/*.cruds`, `system/Binary.r`),
//! with the v1 forms (`.read`, `.write`, `.*`) accepted and mapped to their v2 permissions.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::codes::Code;
use crate::document::XdsMetadata;
use crate::{Actor, Role, Scopes};

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
    #[error("scope {0:?}: FHIR R4 defines no such resource type")]
    UnknownResource(String),
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
            r if R4_RESOURCE_TYPES.contains(&r) => Some(r.to_owned()),
            r if !r.is_empty() && r.starts_with(|c: char| c.is_ascii_uppercase()) && r.chars().all(|c| c.is_ascii_alphanumeric()) => {
                return Err(ScopeError::UnknownResource(scope.to_owned()));
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

/// The concrete resource types of FHIR R4 (4.0.1): a scope naming anything else is refused.
pub const R4_RESOURCE_TYPES: &[&str] = &[
    "Account",
    "ActivityDefinition",
    "AdverseEvent",
    "AllergyIntolerance",
    "Appointment",
    "AppointmentResponse",
    "AuditEvent",
    "Basic",
    "Binary",
    "BiologicallyDerivedProduct",
    "BodyStructure",
    "Bundle",
    "CapabilityStatement",
    "CarePlan",
    "CareTeam",
    "CatalogEntry",
    "ChargeItem",
    "ChargeItemDefinition",
    "Claim",
    "ClaimResponse",
    "ClinicalImpression",
    "CodeSystem",
    "Communication",
    "CommunicationRequest",
    "CompartmentDefinition",
    "Composition",
    "ConceptMap",
    "Condition",
    "Consent",
    "Contract",
    "Coverage",
    "CoverageEligibilityRequest",
    "CoverageEligibilityResponse",
    "DetectedIssue",
    "Device",
    "DeviceDefinition",
    "DeviceMetric",
    "DeviceRequest",
    "DeviceUseStatement",
    "DiagnosticReport",
    "DocumentManifest",
    "DocumentReference",
    "EffectEvidenceSynthesis",
    "Encounter",
    "Endpoint",
    "EnrollmentRequest",
    "EnrollmentResponse",
    "EpisodeOfCare",
    "EventDefinition",
    "Evidence",
    "EvidenceVariable",
    "ExampleScenario",
    "ExplanationOfBenefit",
    "FamilyMemberHistory",
    "Flag",
    "Goal",
    "GraphDefinition",
    "Group",
    "GuidanceResponse",
    "HealthcareService",
    "ImagingStudy",
    "Immunization",
    "ImmunizationEvaluation",
    "ImmunizationRecommendation",
    "ImplementationGuide",
    "InsurancePlan",
    "Invoice",
    "Library",
    "Linkage",
    "List",
    "Location",
    "Measure",
    "MeasureReport",
    "Media",
    "Medication",
    "MedicationAdministration",
    "MedicationDispense",
    "MedicationKnowledge",
    "MedicationRequest",
    "MedicationStatement",
    "MedicinalProduct",
    "MedicinalProductAuthorization",
    "MedicinalProductContraindication",
    "MedicinalProductIndication",
    "MedicinalProductIngredient",
    "MedicinalProductInteraction",
    "MedicinalProductManufactured",
    "MedicinalProductPackaged",
    "MedicinalProductPharmaceutical",
    "MedicinalProductUndesirableEffect",
    "MessageDefinition",
    "MessageHeader",
    "MolecularSequence",
    "NamingSystem",
    "NutritionOrder",
    "Observation",
    "ObservationDefinition",
    "OperationDefinition",
    "OperationOutcome",
    "Organization",
    "OrganizationAffiliation",
    "Parameters",
    "Patient",
    "PaymentNotice",
    "PaymentReconciliation",
    "Person",
    "PlanDefinition",
    "Practitioner",
    "PractitionerRole",
    "Procedure",
    "Provenance",
    "Questionnaire",
    "QuestionnaireResponse",
    "RelatedPerson",
    "RequestGroup",
    "ResearchDefinition",
    "ResearchElementDefinition",
    "ResearchStudy",
    "ResearchSubject",
    "RiskAssessment",
    "RiskEvidenceSynthesis",
    "Schedule",
    "SearchParameter",
    "ServiceRequest",
    "Slot",
    "Specimen",
    "SpecimenDefinition",
    "StructureDefinition",
    "StructureMap",
    "Subscription",
    "Substance",
    "SubstanceNucleicAcid",
    "SubstancePolymer",
    "SubstanceProtein",
    "SubstanceReferenceInformation",
    "SubstanceSourceMaterial",
    "SubstanceSpecification",
    "SupplyDelivery",
    "SupplyRequest",
    "Task",
    "TerminologyCapabilities",
    "TestReport",
    "TestScript",
    "ValueSet",
    "VerificationResult",
    "VisionPrescription",
];

// ---------------------------------------------------------------------------------------------
// What a request needs from the token's scopes.

/// A SMART v2 interaction: one permission letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Interaction {
    Create,
    Read,
    Update,
    Delete,
    Search,
}

impl Interaction {
    pub const ALL: [Interaction; 5] =
        [Interaction::Create, Interaction::Read, Interaction::Update, Interaction::Delete, Interaction::Search];

    fn permissions(self) -> Permissions {
        let none = Permissions::default();
        match self {
            Interaction::Create => Permissions { create: true, ..none },
            Interaction::Read => Permissions { read: true, ..none },
            Interaction::Update => Permissions { update: true, ..none },
            Interaction::Delete => Permissions { delete: true, ..none },
            Interaction::Search => Permissions { search: true, ..none },
        }
    }
}

/// Every operation Carnet performs for a token, named as the scopes see it. The FHIR and `/api`
/// routes of one operation need the same scopes (`docs/smart-scopes.md` has the table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// ITI-67, the `/api` document list.
    SearchDocuments,
    /// A document's metadata.
    ReadDocument,
    /// A document's bytes (ITI-68, `/api/documents/{id}/content`) or text derived from them.
    ReadContent,
    /// One document deposited through `/api`.
    Deposit,
    /// An ITI-65 transaction: documents, their bytes and their submission set.
    DepositSet,
    /// Labels, withdrawal, archiving of a document.
    UpdateDocument,
    /// The patient deletes their reimbursement history.
    DeleteReimbursement,
    /// ITI-66 submission sets.
    SearchSubmissionSets,
    /// PDQm.
    FindPatients,
    /// A record's status, the FHIR Patient.
    ReadRecord,
    CreateRecord,
    /// Close, reopen, request destruction.
    UpdateRecord,
    /// `$summary`: the patient and what the summary is built from.
    Summary,
    /// The medical profile's items (read: the items of visible sources; write: direct entries).
    ReadProfile,
    WriteProfile,
    /// The patient's choices (policy, FHIR Consent).
    ReadPolicy,
    ChangePolicy,
    /// Bris de glace, SAMU access: an access grant the professional opens for themselves.
    OpenEmergency,
    ReadNotificationPreferences,
    SetNotificationPreferences,
    /// The access history (FHIR AuditEvent).
    AccessHistory,
    /// The privacy officer's review queue.
    ReviewItems,
    Review,
    ReadDirectory,
    WriteDirectory,
    /// The apps a patient connected: the patient's own decision, never an app's.
    ManageApps,
    /// Aggregated counts, for the insurer and the operator.
    Statistics,
    RotateKeys,
}

/// What an operation needs from the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Every (resource type, interaction) listed, each granted by some scope.
    Scopes(&'static [(&'static str, Interaction)]),
    /// A token without scopes (the role decides): no app token may do this.
    RoleOnly,
}

impl Operation {
    pub const ALL: [Operation; 28] = [
        Operation::SearchDocuments,
        Operation::ReadDocument,
        Operation::ReadContent,
        Operation::Deposit,
        Operation::DepositSet,
        Operation::UpdateDocument,
        Operation::DeleteReimbursement,
        Operation::SearchSubmissionSets,
        Operation::FindPatients,
        Operation::ReadRecord,
        Operation::CreateRecord,
        Operation::UpdateRecord,
        Operation::Summary,
        Operation::ReadProfile,
        Operation::WriteProfile,
        Operation::ReadPolicy,
        Operation::ChangePolicy,
        Operation::OpenEmergency,
        Operation::ReadNotificationPreferences,
        Operation::SetNotificationPreferences,
        Operation::AccessHistory,
        Operation::ReviewItems,
        Operation::Review,
        Operation::ReadDirectory,
        Operation::WriteDirectory,
        Operation::ManageApps,
        Operation::Statistics,
        Operation::RotateKeys,
    ];

    /// The operation's name, in the ledger entry of a refusal by scope.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::SearchDocuments => "search_documents",
            Operation::ReadDocument => "read_document",
            Operation::ReadContent => "read_content",
            Operation::Deposit => "deposit",
            Operation::DepositSet => "deposit_set",
            Operation::UpdateDocument => "update_document",
            Operation::DeleteReimbursement => "delete_reimbursement",
            Operation::SearchSubmissionSets => "search_submission_sets",
            Operation::FindPatients => "find_patients",
            Operation::ReadRecord => "read_record",
            Operation::CreateRecord => "create_record",
            Operation::UpdateRecord => "update_record",
            Operation::Summary => "summary",
            Operation::ReadProfile => "read_profile",
            Operation::WriteProfile => "write_profile",
            Operation::ReadPolicy => "read_policy",
            Operation::ChangePolicy => "change_policy",
            Operation::OpenEmergency => "open_emergency",
            Operation::ReadNotificationPreferences => "read_notification_preferences",
            Operation::SetNotificationPreferences => "set_notification_preferences",
            Operation::AccessHistory => "access_history",
            Operation::ReviewItems => "review_items",
            Operation::Review => "review",
            Operation::ReadDirectory => "read_directory",
            Operation::WriteDirectory => "write_directory",
            Operation::ManageApps => "manage_apps",
            Operation::Statistics => "statistics",
            Operation::RotateKeys => "rotate_keys",
        }
    }

    pub fn need(self) -> Need {
        use Interaction::{Create, Delete, Read, Search, Update};
        const DOC: &str = "DocumentReference";
        Need::Scopes(match self {
            Operation::SearchDocuments => &[(DOC, Search)],
            Operation::ReadDocument => &[(DOC, Read)],
            // The bytes are the document: reading them needs reading its metadata too.
            Operation::ReadContent => &[("Binary", Read), (DOC, Read)],
            Operation::Deposit => &[(DOC, Create), ("Binary", Create)],
            Operation::DepositSet => &[(DOC, Create), ("Binary", Create), ("List", Create)],
            Operation::UpdateDocument => &[(DOC, Update)],
            Operation::DeleteReimbursement => &[(DOC, Delete)],
            // A submission set lists documents: only those the token may search.
            Operation::SearchSubmissionSets => &[("List", Search), (DOC, Search)],
            Operation::FindPatients => &[("Patient", Search)],
            Operation::ReadRecord => &[("Patient", Read)],
            Operation::CreateRecord => &[("Patient", Create)],
            Operation::UpdateRecord => &[("Patient", Update)],
            Operation::Summary => &[("Patient", Read), (DOC, Read)],
            // Items read from documents are those documents' content.
            Operation::ReadProfile => &[("Patient", Read), (DOC, Read)],
            // A direct entry is a clinical statement with its provenance.
            Operation::WriteProfile => &[("Patient", Read), ("Provenance", Create)],
            Operation::ReadPolicy => &[("Consent", Read)],
            Operation::ChangePolicy => &[("Consent", Update)],
            Operation::OpenEmergency => &[("Consent", Create)],
            Operation::ReadNotificationPreferences => &[("Patient", Read)],
            Operation::SetNotificationPreferences => &[("Patient", Update)],
            Operation::AccessHistory | Operation::ReviewItems => &[("AuditEvent", Search)],
            Operation::Review => &[("AuditEvent", Update)],
            Operation::ReadDirectory => &[("Practitioner", Read)],
            Operation::WriteDirectory => &[("Practitioner", Create), ("Practitioner", Update)],
            Operation::ManageApps | Operation::Statistics | Operation::RotateKeys => return Need::RoleOnly,
        })
    }

    /// The interaction on DocumentReference whose granular scopes (`?category=`, `?type=`)
    /// narrow which documents the operation touches; `None` when it touches none.
    pub fn document_interaction(self) -> Option<Interaction> {
        match self {
            Operation::SearchDocuments | Operation::SearchSubmissionSets => Some(Interaction::Search),
            Operation::ReadDocument | Operation::ReadContent | Operation::Summary | Operation::ReadProfile => Some(Interaction::Read),
            Operation::Deposit | Operation::DepositSet => Some(Interaction::Create),
            Operation::UpdateDocument => Some(Interaction::Update),
            Operation::DeleteReimbursement => Some(Interaction::Delete),
            _ => None,
        }
    }
}

/// Refused by the token's scopes (403 `insufficient_scope`). Says which scope would grant it, and
/// nothing about the record or the document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeDenied {
    #[error("the token's scopes do not allow this; it needs {needed}")]
    Insufficient {
        /// A scope that would grant it, in the actor's context (`patient/DocumentReference.rs`).
        needed: String,
    },
    #[error("apps may not do this: it is for the person themselves, without an app's scopes")]
    AppsMayNot,
}

impl ScopeDenied {
    /// The `scope` attribute of the `WWW-Authenticate` challenge (RFC 6750 §3), if any.
    pub fn needed(&self) -> Option<&str> {
        match self {
            ScopeDenied::Insufficient { needed } => Some(needed),
            ScopeDenied::AppsMayNot => None,
        }
    }
}

/// Which documents an operation may touch under the token's granular scopes. Only
/// [`permit`] makes one, so a read path holding one has had its scopes checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentScope {
    /// `None`: every document the policy lets through. `Some`: only documents matching one of
    /// the queries (each a conjunction of `category`/`type` token tests).
    queries: Option<Vec<DocumentQuery>>,
}

/// One granular scope's query: each parameter with the values it accepts (any of them).
type DocumentQuery = Vec<(CodeParam, Vec<TokenTest>)>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CodeParam {
    Category,
    Type,
}

/// One FHIR token search value: `code`, `system|code`, `|code`, `system|`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TokenTest {
    system: Option<String>,
    code: Option<String>,
}

impl TokenTest {
    fn parse(v: &str) -> Option<TokenTest> {
        let t = match v.split_once('|') {
            None => TokenTest { system: None, code: Some(v.to_owned()) },
            Some((s, c)) => TokenTest { system: Some(s.to_owned()), code: (!c.is_empty()).then(|| c.to_owned()) },
        };
        // `|` alone, or an empty code without a system, tests nothing meaningful.
        (t.code.is_some() || t.system.as_deref().is_some_and(|s| !s.is_empty())).then_some(t)
    }

    fn matches(&self, code: &Code) -> bool {
        self.system.as_deref().is_none_or(|s| s == code.system) && self.code.as_deref().is_none_or(|c| c == code.code)
    }
}

/// `category=…&type=…` of a granular scope; `None` when a parameter is not one Carnet can
/// enforce: such a scope grants nothing rather than more than it says.
fn parse_document_query(q: &str) -> Option<DocumentQuery> {
    q.split('&')
        .map(|pair| {
            let (name, value) = pair.split_once('=')?;
            let param = match name {
                "category" => CodeParam::Category,
                "type" => CodeParam::Type,
                _ => return None,
            };
            let tests = value.split(',').map(|v| TokenTest::parse(&percent_decode(v)?)).collect::<Option<Vec<_>>>()?;
            Some((param, tests))
        })
        .collect()
}

/// `%XX` escapes of a scope's query (a `|` is often sent as `%7C`); `None` when malformed.
fn percent_decode(v: &str) -> Option<String> {
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

impl DocumentScope {
    /// Does the scope let the operation touch a document with these codes?
    pub fn admits(&self, xds: &XdsMetadata) -> bool {
        let Some(queries) = &self.queries else { return true };
        queries.iter().any(|query| {
            query.iter().all(|(param, tests)| {
                let code = match param {
                    CodeParam::Category => &xds.class_code,
                    CodeParam::Type => &xds.type_code,
                };
                tests.iter().any(|t| t.matches(code))
            })
        })
    }

    /// A deposit's document must be within the granular scopes that allow creating it; the
    /// refusal names the scope that would (`patient/DocumentReference.c?type=system|code`).
    pub fn check_deposit(&self, actor: &Actor, xds: &XdsMetadata) -> Result<(), ScopeDenied> {
        if self.admits(xds) {
            return Ok(());
        }
        let t = &xds.type_code;
        Err(ScopeDenied::Insufficient { needed: format!("{}/DocumentReference.c?type={}|{}", natural_context(actor), t.system, t.code) })
    }

    /// True when no granular scope narrows the documents.
    pub fn is_unrestricted(&self) -> bool {
        self.queries.is_none()
    }
}

/// Whether a scope of this context counts for this actor: `patient/` for a patient or their
/// representative (the policy keeps them to the records they speak for), `system/` for anyone
/// but them, `user/` for anyone but software acting as itself.
fn context_fits(context: ScopeContext, actor: &Actor) -> bool {
    match context {
        ScopeContext::Patient => actor.spoken_for().is_some(),
        ScopeContext::User => actor.role() != Role::System,
        ScopeContext::System => actor.spoken_for().is_none(),
    }
}

/// The context a refusal suggests for this actor.
fn natural_context(actor: &Actor) -> &'static str {
    if actor.spoken_for().is_some() {
        "patient"
    } else if actor.role() == Role::System {
        "system"
    } else {
        "user"
    }
}

/// The scope decision, made before anything about the record is looked up: may this token
/// perform `operation` at all, and on which documents? It only narrows: what it permits, the
/// access rules (`decide`, `authorize`) still decide.
pub fn permit(actor: &Actor, operation: Operation) -> Result<DocumentScope, ScopeDenied> {
    let granted = match &actor.scopes {
        Scopes::RoleOnly => return Ok(DocumentScope { queries: None }),
        Scopes::Granted(granted) => granted,
    };
    let needs = match operation.need() {
        Need::RoleOnly => return Err(ScopeDenied::AppsMayNot),
        Need::Scopes(needs) => needs,
    };
    let fitting = || {
        granted.iter().filter_map(|s| match s {
            SmartScope::Resource { context, resource, permissions, query } if context_fits(*context, actor) => {
                Some((resource.as_deref(), *permissions, query.as_deref()))
            }
            _ => None,
        })
    };
    let grants = |resource: &str, i: Interaction, query: Option<&str>, r: Option<&str>, p: Permissions| {
        r.is_none_or(|r| r == resource)
            && p.contains(i.permissions())
            && match query {
                None => true,
                // A query Carnet cannot enforce grants nothing; one it can, on documents only.
                Some(q) => resource == "DocumentReference" && parse_document_query(q).is_some(),
            }
    };
    for &(resource, interaction) in needs {
        if !fitting().any(|(r, p, q)| grants(resource, interaction, q, r, p)) {
            let letter = interaction.permissions().to_string();
            return Err(ScopeDenied::Insufficient { needed: format!("{}/{resource}.{letter}", natural_context(actor)) });
        }
    }
    let Some(interaction) = operation.document_interaction() else { return Ok(DocumentScope { queries: None }) };
    let mut queries = Vec::new();
    for (r, p, q) in fitting() {
        if !grants("DocumentReference", interaction, q, r, p) {
            continue;
        }
        match q.and_then(parse_document_query) {
            // One unrestricted scope admits every document.
            None => return Ok(DocumentScope { queries: None }),
            Some(query) => queries.push(query),
        }
    }
    Ok(DocumentScope { queries: Some(queries) })
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
