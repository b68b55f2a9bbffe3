//! Representative resources rendered from synthetic domain values: what the validators and
//! the snapshots look at. Every value is fixed, so every rendering is reproducible.

#![allow(dead_code)] // each test binary uses part of it

pub mod profile;

use carnet_domain::codes::{CLASS_SYSTEM, Code, CodeLists, FORMAT_SYSTEM_IHE};
use carnet_domain::document::{DeclaredAuthor, DocumentMeta, PersonName, XdsMetadata};
use carnet_domain::{
    CreationChannel, DocumentId, DocumentStatus, IdentityStatus, Ins, InsKind, Record, RecordStatus, ReferenceTraits, Rpps, SecurityLabel,
    Sex,
};
use carnet_fhir::model::*;
use carnet_fhir::render::{self, RenderContext, SearchEntry, SearchMode, SubmissionSetView, created};
use carnet_fhir::{ServerDescription, ServerSecurity, SmartEndpoints, SubmissionSetMeta, Transaction};
use time::macros::{date, datetime};

pub const BASE: &str = "https://carnet.test/fhir";

pub fn ins() -> Ins {
    Ins::from_body("2690549588157").expect("valid body")
}

pub fn rpps() -> Rpps {
    Rpps::from_body("1000001234").expect("valid body")
}

pub fn record(status: IdentityStatus, kind: InsKind) -> Record {
    Record {
        ins: ins(),
        ins_kind: kind,
        identity_status: status,
        traits: Some(ReferenceTraits {
            birth_name: "DUPONT".into(),
            birth_given_names: "Marie Claire".into(),
            birth_date: date!(1969 - 05 - 12),
            sex: Sex::Female,
            birthplace: Some("49007".into()),
        }),
        status: RecordStatus::Active,
        channel: CreationChannel::Professional,
        created_by: format!("rpps:{}", rpps()),
        creator_organisation: None,
        created_at: datetime!(2025-06-01 9:00 UTC),
        closed_at: None,
        close_reason: None,
        destruction_due_at: None,
        destroyed_at: None,
        first_fed_at: None,
    }
}

pub fn doc_id(n: u8) -> DocumentId {
    DocumentId::from_bytes([0x10, n, 0, 0, 0, 0, 0x40, 0, 0x80, 0, 0, 0, 0, 0, 0, n])
}

/// A document with the least metadata: no labels, no context, a system depositor as author.
pub fn minimal_meta() -> DocumentMeta {
    DocumentMeta {
        id: doc_id(1),
        ins: ins(),
        xds: XdsMetadata {
            unique_id: "urn:uuid:5d0c7a1e-3b1f-4e0a-9c55-0000000000aa".into(),
            class_code: Code::new(CLASS_SYSTEM, "10"),
            type_code: Code::new("http://loinc.org", "11502-2"),
            format_code: Code::new(FORMAT_SYSTEM_IHE, "urn:ihe:iti:xds:2017:mimeTypeSufficient"),
            practice_setting: None,
            facility_type: None,
            service_start: None,
            service_end: None,
            mime_type: "application/pdf".into(),
            language: "fr-FR".into(),
            authored_at: None,
        },
        author: "https://idp.test#lab-software".into(),
        author_name: None,
        deposited_by: "https://idp.test#lab-software".into(),
        submitted_at: datetime!(2026-01-02 10:00 UTC),
        size: 69,
        sha256: [0xab; 32],
        labels: vec![],
        status: DocumentStatus::Current,
        archived: false,
        replaces: None,
    }
}

/// A second version, with every label, a contained author, a context and a title.
pub fn full_meta() -> DocumentMeta {
    let minimal = minimal_meta();
    DocumentMeta {
        id: doc_id(2),
        xds: XdsMetadata {
            unique_id: "1.2.250.1.999.1.2.20260102.2".into(),
            type_code: Code::new("http://loinc.org", "11488-4"),
            format_code: Code::new(FORMAT_SYSTEM_IHE, "urn:ihe:iti:xds-sd:pdf:2008"),
            practice_setting: Some(Code::new(
                "https://mos.esante.gouv.fr/NOS/TRE_A01-CadreExercice/FHIR/TRE-A01-CadreExercice",
                "ETABLISSEMENT",
            )),
            facility_type: Some(Code::new("https://mos.esante.gouv.fr/NOS/TRE_R02-SecteurActivite/FHIR/TRE-R02-SecteurActivite", "SA05")),
            service_start: Some(datetime!(2026-01-02 8:00 UTC)),
            service_end: Some(datetime!(2026-01-02 8:30 UTC)),
            authored_at: Some(datetime!(2026-01-02 8:30 UTC)),
            ..minimal.xds
        },
        author: format!("rpps:{}", rpps()),
        author_name: Some(PersonName { family: Some("MARTIN".into()), given: Some("Claire".into()) }),
        deposited_by: format!("rpps:{}", rpps()),
        labels: SecurityLabel::ALL.to_vec(),
        replaces: Some(doc_id(1)),
        ..minimal
    }
}

/// A withdrawn imaging manifest larger than R4's `unsignedInt`.
pub fn withdrawn_large_meta() -> DocumentMeta {
    let minimal = minimal_meta();
    DocumentMeta {
        id: doc_id(3),
        xds: XdsMetadata {
            unique_id: "1.2.250.1.999.1.2^IMG-3".into(),
            class_code: Code::new(CLASS_SYSTEM, "31"),
            type_code: Code::new("http://loinc.org", "18748-4"),
            format_code: Code::new(FORMAT_SYSTEM_IHE, "urn:ihe:rad:1.2.840.10008.5.1.4.1.1.88.59"),
            mime_type: "application/dicom".into(),
            ..minimal.xds
        },
        size: 3_000_000_000,
        status: DocumentStatus::EnteredInError,
        ..minimal
    }
}

pub fn ctx(codes: &CodeLists) -> RenderContext<'_> {
    RenderContext { base_url: BASE, codes }
}

pub fn submission_set_meta() -> SubmissionSetMeta {
    SubmissionSetMeta {
        unique_id: "1.2.250.1.999.1.1.20260102.1".into(),
        source_id: "1.2.250.1.999.1.1".into(),
        author: Some(DeclaredAuthor {
            rpps: Some(rpps()),
            name: Some(PersonName { family: Some("MARTIN".into()), given: Some("Claire".into()) }),
        }),
        title: None,
    }
}

pub fn server(transactions: &[Transaction]) -> ServerDescription<'_> {
    ServerDescription {
        software_name: "carnet",
        software_version: "0.1.0",
        base_url: BASE,
        date: datetime!(2026-01-01 0:00 UTC),
        transactions,
        security: Some(ServerSecurity {
            cors: true,
            smart: Some(SmartEndpoints {
                authorize: "https://idp.test/authorize",
                token: "https://idp.test/token",
                revoke: Some("https://idp.test/token/revocation"),
                introspect: None,
            }),
        }),
    }
}

/// What the server mounts today (the profile's transactions come after the edge wiring).
pub const ALL_TRANSACTIONS: [Transaction; 9] = [
    Transaction::PatientDemographicsQuery,
    Transaction::ProvideDocumentBundle,
    Transaction::FindDocumentReferences,
    Transaction::RetrieveDocument,
    Transaction::FindLists,
    Transaction::UpdateSecurityLabels,
    Transaction::ReadConsents,
    Transaction::ReadAuditEvents,
    Transaction::PatientSummary,
];

/// A patient's authorization of a professional (IHE PCF style), built from the models.
pub fn consent() -> Consent {
    Consent {
        id: Some("authorization-1".into()),
        status: "active".into(),
        scope: CodeableConcept::of(Coding::new("http://terminology.hl7.org/CodeSystem/consentscope", "patient-privacy", None)),
        category: vec![CodeableConcept::of(Coding::new("http://loinc.org", "59284-0", Some("Patient Consent")))],
        patient: Some(render::patient_reference(&ins(), InsKind::Nir)),
        date_time: Some("2026-01-02T10:00:00Z".into()),
        policy_rule: Some(CodeableConcept::of(Coding::new("http://terminology.hl7.org/CodeSystem/v3-ActCode", "OPTIN", None))),
        provision: Some(ConsentProvision {
            type_: Some("permit".into()),
            period: Some(Period { start: Some("2026-01-02T10:00:00Z".into()), end: Some("2026-01-05T10:00:00Z".into()) }),
            actor: vec![ConsentActor {
                role: CodeableConcept::of(Coding::new("http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "PRCP", None)),
                reference: Reference {
                    identifier: Some(Identifier::new("urn:oid:1.2.250.1.71.4.2.1", &format!("8{}", rpps()))),
                    ..Reference::default()
                },
            }],
            ..ConsentProvision::default()
        }),
        ..Consent::default()
    }
}

/// A document read, as the patient sees it in the access history (IHE BALP style).
pub fn audit_event() -> AuditEvent {
    AuditEvent {
        id: Some("ledger-42".into()),
        type_: Coding::new("http://terminology.hl7.org/CodeSystem/audit-event-type", "rest", Some("Restful Operation")),
        subtype: vec![Coding::new("http://hl7.org/fhir/restful-interaction", "read", None)],
        action: Some("R".into()),
        recorded: "2026-01-02T10:05:00Z".into(),
        outcome: Some("0".into()),
        agent: vec![AuditEventAgent {
            who: Some(Reference {
                identifier: Some(Identifier::new("urn:oid:1.2.250.1.71.4.2.1", &format!("8{}", rpps()))),
                ..Reference::default()
            }),
            name: Some("Dr Claire MARTIN".into()),
            requestor: true,
            ..AuditEventAgent::default()
        }],
        source: AuditEventSource {
            observer: Reference { display: Some("Carnet".into()), ..Reference::default() },
            ..AuditEventSource::default()
        },
        entity: vec![
            AuditEventEntity {
                what: Some(render::patient_reference(&ins(), InsKind::Nir)),
                type_: Some(Coding::new("http://terminology.hl7.org/CodeSystem/audit-entity-type", "1", Some("Person"))),
                role: Some(Coding::new("http://terminology.hl7.org/CodeSystem/object-role", "1", Some("Patient"))),
            },
            AuditEventEntity { what: Some(Reference::to(format!("DocumentReference/{}", doc_id(2)))), ..AuditEventEntity::default() },
        ],
        ..AuditEvent::default()
    }
}

/// A search by the patient through an app they connected: BALP's OAuth client agent beside them.
pub fn audit_event_by_app() -> AuditEvent {
    use carnet_fhir::patient_views::{AuditApp, AuditRecord, audit_event};
    audit_event(&AuditRecord {
        index: 43,
        at: datetime!(2026-01-02 10:06 UTC),
        actor_reference: "https://idp.example#patient-7",
        actor_role: "patient",
        actor_name: Some("Jeanne MARTIN"),
        ins: Some(&ins()),
        ins_kind: InsKind::Nir,
        action: "document.search",
        target: None,
        permitted: true,
        reason: "patient",
        justification: None,
        app: Some(AuditApp { client_id: "agenda-sante", name: "Agenda santé" }),
    })
}

/// The representative set, by file name: [`base_samples`] and the medical profile's.
pub fn samples() -> Vec<(String, serde_json::Value)> {
    let mut all: Vec<(String, serde_json::Value)> = base_samples().into_iter().map(|(n, v)| (n.to_owned(), v)).collect();
    all.extend(profile::samples());
    all.extend(summary_samples());
    all
}

/// The IPS summary with every kind of item, and the profile's CapabilityStatement.
pub fn summary_samples() -> Vec<(String, serde_json::Value)> {
    let codes = CodeLists::dmp_default();
    let ctx = ctx(&codes);
    let items = profile::items();
    let refs: Vec<&carnet_domain::profile::ProfileItem> = items.iter().map(|(_, i)| i).collect();
    let (minimal, full) = (minimal_meta(), full_meta());
    let patient = render::patient(&record(IdentityStatus::Qualifiee, InsKind::Nir));
    let summary = carnet_fhir::patient_views::ips_summary(
        patient.clone(),
        &ins(),
        &[&minimal, &full],
        &refs,
        InsKind::Nir,
        &ctx,
        "5d0c7a1e-3b1f-4e0a-9c55-0000000000ff",
        datetime!(2026-01-03 12:00 UTC),
    );
    let empty = carnet_fhir::patient_views::patient_summary(
        patient,
        &ins(),
        &[],
        InsKind::Nir,
        &ctx,
        "5d0c7a1e-3b1f-4e0a-9c55-0000000000fe",
        datetime!(2026-01-03 12:00 UTC),
    );
    let mut with_profile = ALL_TRANSACTIONS.to_vec();
    with_profile.extend([Transaction::SearchProfile, Transaction::CreateProfileItem]);
    vec![
        ("bundle-ips-summary.json".into(), json(&summary)),
        ("bundle-ips-summary-empty.json".into(), json(&empty)),
        ("capability-statement-with-profile.json".into(), json(&carnet_fhir::capability_statement(&server(&with_profile)))),
    ]
}

/// The resources of documents, patients, searches and the patient's views.
pub fn base_samples() -> Vec<(&'static str, serde_json::Value)> {
    let codes = CodeLists::dmp_default();
    let ctx = ctx(&codes);
    let qualified = render::patient(&record(IdentityStatus::Qualifiee, InsKind::Nir));
    let mut destroyed = record(IdentityStatus::Provisoire, InsKind::TestNir);
    destroyed.traits = None;
    destroyed.status = RecordStatus::Destroyed;
    let mut nia = record(IdentityStatus::Recuperee, InsKind::Nia);
    if let Some(t) = nia.traits.as_mut() {
        t.sex = Sex::Indeterminate;
        t.birthplace = Some("99134".into());
    }
    let minimal = render::document_reference(&minimal_meta(), None, InsKind::Nir, &ctx);
    let full = render::document_reference(&full_meta(), Some("Consultation du 2 janvier 2026"), InsKind::Nir, &ctx);
    let withdrawn = render::document_reference(&withdrawn_large_meta(), None, InsKind::Nir, &ctx);
    let documents = [doc_id(1), doc_id(2)];
    let list = render::list_submission_set(&SubmissionSetView {
        id: "5d0c7a1e-3b1f-4e0a-9c55-000000000001",
        meta: &submission_set_meta(),
        ins: &ins(),
        ins_kind: InsKind::Nir,
        submitted_at: datetime!(2026-01-02 10:00 UTC),
        documents: &documents,
    });
    let searchset = render::bundle_searchset(
        vec![
            SearchEntry {
                full_url: format!("{BASE}/DocumentReference/{}", doc_id(1)),
                resource: minimal.clone().into(),
                mode: SearchMode::Match,
            },
            SearchEntry {
                full_url: format!("{BASE}/DocumentReference/{}", doc_id(2)),
                resource: full.clone().into(),
                mode: SearchMode::Match,
            },
            SearchEntry { full_url: format!("{BASE}/Patient/{}", ins()), resource: qualified.clone().into(), mode: SearchMode::Include },
        ],
        Some(2),
        vec![
            BundleLink {
                relation: "self".into(),
                url: format!("{BASE}/DocumentReference?patient.identifier=urn:oid:1.2.250.1.213.1.4.8%7C{}", ins()),
            },
            BundleLink {
                relation: "next".into(),
                url: format!("{BASE}/DocumentReference?patient.identifier=urn:oid:1.2.250.1.213.1.4.8%7C{}&_cursor=2", ins()),
            },
        ],
    );
    let empty_searchset = render::bundle_searchset(vec![], Some(0), vec![]);
    // `Prefer: handling=lenient` with two parameters Carnet does not apply: no match, the outcome.
    let ignored = [
        carnet_fhir::search::SearchError {
            param: "_totalMethod".into(),
            message: "not a search parameter of DocumentReference that Carnet supports".into(),
        },
        carnet_fhir::search::SearchError { param: "type:text".into(), message: "modifiers are not supported on this parameter".into() },
    ];
    let lenient_searchset = render::with_outcome(render::bundle_searchset(vec![], Some(0), vec![]), render::ignored_parameters(&ignored));
    let at = datetime!(2026-01-02 10:00 UTC);
    let response = render::transaction_response(vec![
        created(format!("List/{}/_history/1", "5d0c7a1e-3b1f-4e0a-9c55-000000000001"), at),
        created(format!("DocumentReference/{}/_history/1", doc_id(2)), at),
        created(format!("Binary/{}/_history/1", doc_id(2)), at),
    ]);
    let outcome = carnet_fhir::operation_outcome(
        carnet_fhir::IssueSeverity::Error,
        carnet_fhir::IssueType::Invariant,
        "Bundle.entry[1].resource.content[0].attachment.size: declares 70 bytes but the document has 69",
        &["Bundle.entry[1].resource.content[0].attachment.size"],
    );
    let capability = carnet_fhir::capability_statement(&server(&ALL_TRANSACTIONS));
    // The demo's statement: tokens taken, no SMART authorization server, no CORS origin.
    let plain_capability = carnet_fhir::capability_statement(&ServerDescription {
        security: Some(ServerSecurity { cors: false, smart: None }),
        ..server(&ALL_TRANSACTIONS)
    });
    let fixture: serde_json::Value = serde_json::from_str(include_str!("../../fixtures/provide-bundle.json")).expect("fixture is JSON");
    vec![
        ("patient-qualified-nir.json", json(&qualified)),
        ("patient-destroyed-test-nir.json", json(&render::patient(&destroyed))),
        ("patient-recuperee-nia-abroad.json", json(&render::patient(&nia))),
        ("document-reference-minimal.json", json(&minimal)),
        ("document-reference-full.json", json(&full)),
        ("document-reference-withdrawn-large.json", json(&withdrawn)),
        ("list-submission-set.json", json(&list)),
        ("bundle-searchset.json", json(&searchset)),
        ("bundle-searchset-empty.json", json(&empty_searchset)),
        ("bundle-searchset-lenient.json", json(&lenient_searchset)),
        ("bundle-transaction-response.json", json(&response)),
        ("operation-outcome.json", json(&outcome)),
        ("capability-statement.json", json(&capability)),
        ("capability-statement-without-smart.json", json(&plain_capability)),
        ("consent.json", json(&consent())),
        ("audit-event.json", json(&audit_event())),
        ("audit-event-by-app.json", json(&audit_event_by_app())),
        ("provide-bundle-fixture.json", fixture),
    ]
}

pub fn json<T: serde::Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or_else(|e| panic!("a model always serializes: {e}"))
}
