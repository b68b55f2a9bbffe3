//! What the patient's side of Carnet looks like in FHIR: their choices as `Consent`s (IHE PCF),
//! their access history as `AuditEvent`s (IHE BALP), a document's bytes as a JSON `Binary`, and
//! the HL7 IPS patient summary. Pure renderings of values the edge loaded through the service.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use carnet_domain::document::DocumentMeta;
use carnet_domain::policy::PatientPolicy;
use carnet_domain::profile::{ItemKind, ItemStatus, ProfileItem};
use carnet_domain::{Ins, InsKind, Rpps};
use time::OffsetDateTime;

use crate::datetime;
use crate::model::*;
use crate::profile::render as profile_render;
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

/// The IHE/HL7 IPS patient summary of a record with no profile items: see [`ips_summary`].
pub fn patient_summary(
    patient: Patient,
    ins: &Ins,
    documents: &[&DocumentMeta],
    ins_kind: InsKind,
    ctx: &RenderContext<'_>,
    id: &str,
    now: OffsetDateTime,
) -> Bundle {
    ips_summary(patient, ins, documents, &[], ins_kind, ctx, id, now)
}

/// One IPS section: its title, LOINC code, the kinds of item it lists, and whether IPS
/// requires it (then it is written empty, with `emptyReason`, rather than left out).
struct IpsSection {
    title: &'static str,
    code: &'static str,
    display: &'static str,
    kinds: &'static [ItemKind],
    required: bool,
    what: &'static str,
}

const IPS_SECTIONS: [IpsSection; 7] = [
    IpsSection {
        title: "Problems",
        code: "11450-4",
        display: "Problem list - Reported",
        kinds: &[ItemKind::Condition],
        required: true,
        what: "problem",
    },
    IpsSection {
        title: "Allergies and intolerances",
        code: "48765-2",
        display: "Allergies and adverse reactions Document",
        kinds: &[ItemKind::Allergy],
        required: true,
        what: "allergy or intolerance",
    },
    IpsSection {
        title: "Medication summary",
        code: "10160-0",
        display: "History of Medication use Narrative",
        kinds: &[ItemKind::Medication],
        required: true,
        what: "medication",
    },
    IpsSection {
        title: "Immunizations",
        code: "11369-6",
        display: "History of Immunization Narrative",
        kinds: &[ItemKind::Immunization],
        required: false,
        what: "immunization",
    },
    IpsSection {
        title: "Results",
        code: "30954-2",
        display: "Relevant diagnostic tests/laboratory data Narrative",
        kinds: &[ItemKind::Result],
        required: false,
        what: "result",
    },
    IpsSection {
        title: "Vital signs",
        code: "8716-3",
        display: "Vital signs",
        kinds: &[ItemKind::VitalSign],
        required: false,
        what: "vital sign",
    },
    IpsSection {
        title: "Advance directives",
        code: "42348-3",
        display: "Advance healthcare directives",
        kinds: &[ItemKind::AdvanceDirective],
        required: false,
        what: "advance directive",
    },
];

/// The IHE/HL7 IPS patient summary of a record, as a `document` Bundle: the Composition, the
/// Patient, the profile items the caller may see (`items`, already through the gate) and the
/// documents the caller may see.
///
/// The IPS sections (problems, allergies, medications, immunizations, results, vital signs,
/// advance directives) reference the items' resources, included in the Bundle; the three IPS
/// requires are written even when empty, with `emptyReason` `unavailable` (Carnet knows only
/// what was deposited or declared, never that there is nothing). Only current items are
/// summarised (not superseded nor entered in error). The organ donation position and the people
/// to contact, which IPS has no section for, are in a Carnet section of the patient's
/// declarations. A last section lists the documents — their type and date, never their content.
/// Every narrative is escaped text.
#[allow(clippy::too_many_arguments)] // the values of one summary, each from a different source
pub fn ips_summary(
    patient: Patient,
    ins: &Ins,
    documents: &[&DocumentMeta],
    items: &[&ProfileItem],
    ins_kind: InsKind,
    ctx: &RenderContext<'_>,
    id: &str,
    now: OffsetDateTime,
) -> Bundle {
    let base = ctx.base_url.trim_end_matches('/');
    let loinc = |code: &str, display: &str| CodeableConcept::of(Coding::new("http://loinc.org", code, Some(display)));
    let unavailable =
        CodeableConcept::of(Coding::new("http://terminology.hl7.org/CodeSystem/list-empty-reason", "unavailable", Some("Unavailable")));
    let current: Vec<&ProfileItem> = items.iter().copied().filter(|i| i.meta.status == ItemStatus::Current).collect();
    let of_kinds = |kinds: &[ItemKind]| -> Vec<&ProfileItem> { current.iter().copied().filter(|i| kinds.contains(&i.meta.kind)).collect() };
    let listed = |title: &str, code: CodeableConcept, listed: &[&ProfileItem]| CompositionSection {
        title: title.into(),
        code,
        text: Some(narrative(&listed.iter().map(|i| profile_render::describe(i)).collect::<Vec<_>>())),
        entry: listed.iter().map(|i| Reference::to(profile_render::item_reference(i))).collect(),
        empty_reason: None,
    };
    let mut sections = Vec::new();
    let mut included: Vec<&ProfileItem> = Vec::new();
    for s in &IPS_SECTIONS {
        let these = of_kinds(s.kinds);
        if these.is_empty() {
            if s.required {
                sections.push(CompositionSection {
                    title: s.title.into(),
                    code: loinc(s.code, s.display),
                    text: Some(narrative(&[format!("No {} is recorded in structured form that you may see.", s.what)])),
                    empty_reason: Some(unavailable.clone()),
                    ..CompositionSection::default()
                });
            }
            continue;
        }
        sections.push(listed(s.title, loinc(s.code, s.display), &these));
        included.extend(these);
    }
    let declarations = of_kinds(&[ItemKind::OrganDonation, ItemKind::Contact]);
    if !declarations.is_empty() {
        let code =
            CodeableConcept::of(Coding::new(&carnet_code_system("summary-section"), "declarations", Some("The patient's declarations")));
        sections.push(listed("Organ donation and people to contact", code, &declarations));
        included.extend(declarations);
    }
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
    for item in included {
        entry.push(BundleEntry {
            full_url: Some(format!("{base}/{}", profile_render::item_reference(item))),
            resource: Some(profile_render::item_resource(item, ins_kind)),
            ..BundleEntry::default()
        });
    }
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
