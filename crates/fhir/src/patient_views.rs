//! What the patient's side of Carnet looks like in FHIR: their choices as `Consent`s (IHE PCF),
//! their access history as `AuditEvent`s (IHE BALP), a document's bytes as a JSON `Binary`, and
//! the HL7 IPS patient summary. Pure renderings of values the edge loaded through the service.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use carnet_domain::document::DocumentMeta;
use carnet_domain::policy::PatientPolicy;
use carnet_domain::{Ins, InsKind, Rpps};
use time::OffsetDateTime;

use crate::datetime;
use crate::model::*;
use crate::render::{RenderContext, document_reference, patient_reference};
use crate::systems;

const CONSENT_SCOPE: &str = "http://terminology.hl7.org/CodeSystem/consentscope";
const V3_ACT_CODE: &str = "http://terminology.hl7.org/CodeSystem/v3-ActCode";
const V3_PARTICIPATION: &str = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType";
const V3_ACT_REASON: &str = "http://terminology.hl7.org/CodeSystem/v3-ActReason";
const REMB_SYSTEM: &str = "https://mos.esante.gouv.fr/NOS/TRE_A05-TypeDocComplementaire/FHIR/TRE-A05-TypeDocComplementaire";

/// Carnet's own code system for what the standard ones do not name (a URN, like its extensions).
pub fn carnet_code_system(name: &str) -> String {
    format!("urn:carnet:fhir:CodeSystem:{name}")
}

fn professional(rpps: &Rpps) -> Reference {
    Reference { identifier: Some(Identifier::new(systems::IDNAT_PS, &format!("8{}", rpps.as_str()))), ..Reference::default() }
}

struct ConsentSpec<'a> {
    id: String,
    permit: bool,
    active: bool,
    date: Option<OffsetDateTime>,
    period: Option<(OffsetDateTime, Option<OffsetDateTime>)>,
    actor: Option<&'a Rpps>,
    /// Carnet's name for the choice (`authorization`, `block`, `medecin-traitant`, …).
    choice: &'static str,
    purpose: Option<&'static str>,
    code: Option<Coding>,
}

fn consent(spec: ConsentSpec<'_>, ins: &Ins, kind: InsKind) -> Consent {
    let (rule, type_) = if spec.permit { ("OPTIN", "permit") } else { ("OPTOUT", "deny") };
    Consent {
        id: Some(spec.id),
        status: if spec.active { "active" } else { "inactive" }.into(),
        scope: CodeableConcept::of(Coding::new(CONSENT_SCOPE, "patient-privacy", Some("Privacy Consent"))),
        category: vec![
            CodeableConcept::of(Coding::new("http://loinc.org", "59284-0", Some("Patient Consent"))),
            CodeableConcept::of(Coding::new(&carnet_code_system("patient-choice"), spec.choice, None)),
        ],
        patient: Some(patient_reference(ins, kind)),
        date_time: spec.date.map(datetime::instant),
        policy_rule: Some(CodeableConcept::of(Coding::new(V3_ACT_CODE, rule, None))),
        provision: Some(ConsentProvision {
            type_: Some(type_.into()),
            period: spec.period.map(|(start, end)| Period { start: Some(datetime::instant(start)), end: end.map(datetime::instant) }),
            actor: spec
                .actor
                .map(|r| ConsentActor {
                    role: CodeableConcept::of(Coding::new(V3_PARTICIPATION, "PRCP", Some("primary information recipient"))),
                    reference: professional(r),
                })
                .into_iter()
                .collect(),
            purpose: spec.purpose.map(|p| Coding::new(V3_ACT_REASON, p, None)).into_iter().collect(),
            code: spec.code.map(CodeableConcept::of).into_iter().collect(),
            ..ConsentProvision::default()
        }),
        ..Consent::default()
    }
}

/// The patient's choices as Consent resources: each authorization (with its period; an expired
/// one is `inactive`), each block, the médecin traitant and extended rights, the oppositions to
/// emergency access (bris de glace, SAMU) and the hidden reimbursement history. Representatives
/// are not rendered: they are identified by their issuer's subject, not a national identifier.
pub fn consents(policy: &PatientPolicy, ins: &Ins, kind: InsKind, now: OffsetDateTime) -> Vec<Consent> {
    let mut out = Vec::new();
    for a in &policy.authorizations {
        out.push(consent(
            ConsentSpec {
                id: format!("authorization-{}", a.rpps),
                permit: true,
                active: a.is_current(now),
                date: Some(a.granted_at),
                period: Some((a.granted_at, a.expires_at)),
                actor: Some(&a.rpps),
                choice: if a.declared.is_some() { "declared-authorization" } else { "authorization" },
                purpose: None,
                code: None,
            },
            ins,
            kind,
        ));
    }
    for rpps in &policy.blocked {
        let spec = ConsentSpec {
            id: format!("block-{rpps}"),
            permit: false,
            active: true,
            date: None,
            period: None,
            actor: Some(rpps),
            choice: "block",
            purpose: None,
            code: None,
        };
        out.push(consent(spec, ins, kind));
    }
    if let Some(rpps) = &policy.medecin_traitant {
        let spec = ConsentSpec {
            id: "medecin-traitant".into(),
            permit: true,
            active: true,
            date: None,
            period: None,
            actor: Some(rpps),
            choice: "medecin-traitant",
            purpose: None,
            code: None,
        };
        out.push(consent(spec, ins, kind));
    }
    for rpps in &policy.extended_rights {
        let spec = ConsentSpec {
            id: format!("extended-rights-{rpps}"),
            permit: true,
            active: true,
            date: None,
            period: None,
            actor: Some(rpps),
            choice: "extended-rights",
            purpose: None,
            code: None,
        };
        out.push(consent(spec, ins, kind));
    }
    for (on, id, choice) in [
        (policy.opposes_bris_de_glace, "opposition-bris-de-glace", "opposition-bris-de-glace"),
        (policy.opposes_samu, "opposition-samu", "opposition-samu"),
    ] {
        if on {
            let spec = ConsentSpec {
                id: id.into(),
                permit: false,
                active: true,
                date: None,
                period: None,
                actor: None,
                choice,
                purpose: Some("ETREAT"),
                code: None,
            };
            out.push(consent(spec, ins, kind));
        }
    }
    if policy.reimbursement_hidden {
        let spec = ConsentSpec {
            id: "reimbursement-hidden".into(),
            permit: false,
            active: true,
            date: None,
            period: None,
            actor: None,
            choice: "reimbursement-hidden",
            purpose: None,
            code: Some(Coding::new(REMB_SYSTEM, "REMB", Some("Données de remboursement"))),
        };
        out.push(consent(spec, ins, kind));
    }
    out
}

/// One ledger entry, as the edge hands it over.
#[derive(Debug, Clone)]
pub struct AuditRecord<'a> {
    pub index: u64,
    pub at: OffsetDateTime,
    pub actor_reference: &'a str,
    pub actor_role: &'a str,
    pub actor_name: Option<&'a str>,
    pub ins: Option<&'a Ins>,
    pub ins_kind: InsKind,
    pub action: &'a str,
    pub target: Option<&'a str>,
    pub permitted: bool,
    pub reason: &'a str,
    pub justification: Option<&'a str>,
    /// The app the actor acted through, if any.
    pub app: Option<AuditApp<'a>>,
}

/// An app (a SMART on FHIR client) as an audit record names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditApp<'a> {
    pub client_id: &'a str,
    /// The catalogue's name for it, else its client id.
    pub name: &'a str,
}

/// BALP's OAuth client agent (`agent:oClient`): typed DICOM "Application" (DCM 110150), the
/// client id as `who.identifier.value`.
fn app_agent(app: &AuditApp<'_>) -> AuditEventAgent {
    AuditEventAgent {
        type_: Some(CodeableConcept { coding: vec![Coding::new(DICOM_DCM, "110150", Some("Application"))], text: None }),
        who: Some(Reference {
            identifier: Some(Identifier { value: Some(app.client_id.to_owned()), ..Identifier::default() }),
            display: Some(app.name.to_owned()),
            ..Reference::default()
        }),
        name: Some(app.name.to_owned()),
        requestor: false,
    }
}

const DICOM_DCM: &str = "http://dicom.nema.org/resources/ontology/DCM";

/// The RESTful interaction closest to a ledger action, and its CRUDE code.
fn interaction(action: &str) -> (&'static str, &'static str) {
    match action {
        a if a.ends_with(".search") => ("search-type", "E"),
        a if a.ends_with(".submit") || a.ends_with(".submit_set") || a.ends_with(".create") || a.starts_with("emergency.") => {
            ("create", "C")
        }
        a if a.ends_with(".read")
            || a.ends_with(".retrieve")
            || a.ends_with(".read_derived")
            || a.ends_with(".read_status")
            || a.ends_with(".summary") =>
        {
            ("read", "R")
        }
        a if a.ends_with(".delete") || a.ends_with(".shred") || a.ends_with(".destroy") => ("delete", "D"),
        _ => ("update", "U"),
    }
}

/// A ledger entry as an IHE BALP-style `AuditEvent` (id `ledger-{index}`).
pub fn audit_event(r: &AuditRecord<'_>) -> AuditEvent {
    let (interaction_code, crude) = interaction(r.action);
    let who = match r.actor_reference.strip_prefix("rpps:").and_then(|x| Rpps::parse(x).ok()) {
        Some(rpps) => professional(&rpps),
        None => Reference { display: Some(r.actor_reference.to_owned()), ..Reference::default() },
    };
    let mut entity = Vec::new();
    if let Some(ins) = r.ins {
        entity.push(AuditEventEntity {
            what: Some(patient_reference(ins, r.ins_kind)),
            type_: Some(Coding::new("http://terminology.hl7.org/CodeSystem/audit-entity-type", "1", Some("Person"))),
            role: Some(Coding::new("http://terminology.hl7.org/CodeSystem/object-role", "1", Some("Patient"))),
        });
    }
    if let Some(target) = r.target {
        let what = if r.action.starts_with("document.") && carnet_domain::DocumentId::parse(target).is_ok() {
            Reference::to(format!("DocumentReference/{target}"))
        } else {
            Reference { identifier: Some(Identifier { value: Some(target.to_owned()), ..Identifier::default() }), ..Reference::default() }
        };
        entity.push(AuditEventEntity {
            what: Some(what),
            type_: Some(Coding::new("http://terminology.hl7.org/CodeSystem/audit-entity-type", "2", Some("System Object"))),
            ..AuditEventEntity::default()
        });
    }
    AuditEvent {
        id: Some(format!("ledger-{}", r.index)),
        type_: Coding::new("http://terminology.hl7.org/CodeSystem/audit-event-type", "rest", Some("Restful Operation")),
        subtype: vec![
            Coding::new("http://hl7.org/fhir/restful-interaction", interaction_code, None),
            Coding::new(&carnet_code_system("ledger-action"), r.action, None),
        ],
        action: Some(crude.into()),
        recorded: datetime::instant(r.at),
        outcome: Some(if r.permitted { "0" } else { "4" }.into()),
        outcome_desc: Some(r.reason.to_owned()),
        purpose_of_event: r
            .justification
            .map(|j| CodeableConcept {
                coding: vec![Coding::new(V3_ACT_REASON, "ETREAT", Some("Emergency Treatment"))],
                text: Some(j.to_owned()),
            })
            .into_iter()
            .collect(),
        agent: vec![AuditEventAgent {
            type_: Some(CodeableConcept { coding: vec![], text: Some(r.actor_role.to_owned()) }),
            who: Some(who),
            name: r.actor_name.map(str::to_owned),
            requestor: true,
        }]
        .into_iter()
        .chain(r.app.as_ref().map(app_agent))
        .collect(),
        source: AuditEventSource {
            site: Some("Carnet".into()),
            observer: Reference { display: Some("Carnet".into()), ..Reference::default() },
            type_: vec![Coding::new("http://terminology.hl7.org/CodeSystem/security-source-type", "4", Some("Application Server"))],
        },
        entity,
        ..AuditEvent::default()
    }
}

/// A document's bytes as a JSON `Binary` (ITI-68 with `Accept: application/fhir+json`).
pub fn binary(id: &str, content_type: &str, bytes: &[u8]) -> Binary {
    Binary {
        id: Some(id.to_owned()),
        content_type: content_type.to_owned(),
        security_context: Some(Reference::to(format!("DocumentReference/{id}"))),
        data: Some(BASE64.encode(bytes)),
        ..Binary::default()
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn narrative(paragraphs: &[String]) -> Narrative {
    let body: String = paragraphs.iter().map(|p| format!("<p>{}</p>", escape(p))).collect();
    Narrative { status: "generated".into(), div: format!("<div xmlns=\"http://www.w3.org/1999/xhtml\">{body}</div>") }
}

/// The IHE/HL7 IPS patient summary of a record, as a `document` Bundle: the Composition, the
/// Patient, and the documents the caller may see.
///
/// Carnet does not extract structured entries from documents yet, so the three sections IPS
/// requires (problems, allergies, medications) say so: `emptyReason` `unavailable` and a
/// narrative. A fourth section lists the documents of the record the caller may see — their
/// type and date, never their content.
pub fn patient_summary(
    patient: Patient,
    ins: &Ins,
    documents: &[&DocumentMeta],
    ins_kind: InsKind,
    ctx: &RenderContext<'_>,
    id: &str,
    now: OffsetDateTime,
) -> Bundle {
    let base = ctx.base_url.trim_end_matches('/');
    let loinc = |code: &str, display: &str| CodeableConcept::of(Coding::new("http://loinc.org", code, Some(display)));
    let unavailable =
        CodeableConcept::of(Coding::new("http://terminology.hl7.org/CodeSystem/list-empty-reason", "unavailable", Some("Unavailable")));
    let empty = |title: &str, code: &str, display: &str, what: &str| CompositionSection {
        title: title.into(),
        code: loinc(code, display),
        text: Some(narrative(&[format!("Carnet does not extract {what} from documents yet: none is available in structured form.")])),
        empty_reason: Some(unavailable.clone()),
        ..CompositionSection::default()
    };
    let mut sections = vec![
        empty("Problems", "11450-4", "Problem list - Reported", "problems"),
        empty("Allergies and intolerances", "48765-2", "Allergies and adverse reactions Document", "allergies"),
        empty("Medication summary", "10160-0", "History of Medication use Narrative", "medications"),
    ];
    let lines: Vec<String> = if documents.is_empty() {
        vec!["No document of this record is visible to you.".into()]
    } else {
        documents
            .iter()
            .map(|m| {
                let what = ctx.codes.find_type(&m.xds.type_code).map(|t| t.display.clone()).unwrap_or_else(|| m.xds.type_code.code.clone());
                format!("{} — {}", datetime::date(m.submitted_at.date()), what)
            })
            .collect()
    };
    sections.push(CompositionSection {
        title: "Documents in the record".into(),
        code: CodeableConcept::of(Coding::new(&carnet_code_system("summary-section"), "documents", Some("Documents in the record"))),
        text: Some(narrative(&lines)),
        entry: documents.iter().map(|m| Reference::to(format!("DocumentReference/{}", m.id))).collect(),
        empty_reason: documents.is_empty().then(|| {
            CodeableConcept::of(Coding::new("http://terminology.hl7.org/CodeSystem/list-empty-reason", "nilknown", Some("Nil Known")))
        }),
    });
    let composition = Composition {
        id: Some(id.to_owned()),
        identifier: Some(Identifier::new(systems::URI, &format!("urn:uuid:{id}"))),
        status: "final".into(),
        type_: loinc("60591-5", "Patient summary Document"),
        subject: Some(Reference::to(format!("Patient/{}", ins.as_str()))),
        date: datetime::instant(now),
        author: vec![Reference { display: Some("Carnet".into()), ..Reference::default() }],
        title: "Patient summary".into(),
        confidentiality: Some("N".into()),
        section: sections,
        ..Composition::default()
    };
    let mut entry = vec![
        BundleEntry { full_url: Some(format!("urn:uuid:{id}")), resource: Some(composition.into()), ..BundleEntry::default() },
        BundleEntry {
            full_url: Some(format!("{base}/Patient/{}", ins.as_str())),
            resource: Some(patient.into()),
            ..BundleEntry::default()
        },
    ];
    for m in documents {
        entry.push(BundleEntry {
            full_url: Some(format!("{base}/DocumentReference/{}", m.id)),
            resource: Some(document_reference(m, None, ins_kind, ctx).into()),
            ..BundleEntry::default()
        });
    }
    Bundle {
        identifier: Some(Identifier::new(systems::URI, &format!("urn:uuid:{id}"))),
        type_: "document".into(),
        timestamp: Some(datetime::instant(now)),
        entry,
        ..Bundle::default()
    }
}
