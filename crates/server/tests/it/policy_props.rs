//! The property of the gate: for random records, policies, documents, labels, emergencies and
//! actors of every role, what each read path returns — the listed items, `total`, a read by id —
//! is exactly the domain's `decide` applied to every document of the record. Nothing more,
//! nothing less.

use crate::support;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU32, Ordering};

use axum::http::StatusCode;
use carnet_auth::{DevIssuer, TokenClaims};
use carnet_domain::policy::RepresentationKind;
use carnet_domain::{
    AccessContext, Actor, ActorKind, DocumentId, Ins, PatientPolicy, Profession, ProfessionMatrix, ProfessionalIdentity, Role, decide,
};
use carnet_server::HttpLimits;
use carnet_service::ServiceConfig;
use carnet_store::{DocumentStore, PolicyStore, RecordStore};
use proptest::prelude::*;
use serde_json::json;
use support::{Backend, TestApp, ins, rpps};

/// Someone who may ask: their token and the `Actor` the server will build from it.
#[derive(Debug, Clone)]
pub(crate) struct Asker {
    pub(crate) claims: TokenClaims,
    pub(crate) actor: Actor,
}

pub(crate) fn professional(n: u32, profession: Profession, regulator: bool) -> Asker {
    let claims = TokenClaims {
        sub: format!("pro-{n}"),
        role: if regulator { Role::Regulator } else { Role::Professional },
        rpps: Some(rpps(n).to_string()),
        profession: Some(profession.code().into()),
        ..Default::default()
    };
    let identity = ProfessionalIdentity { rpps: rpps(n), profession, specialty: None, organisation: None };
    let kind = if regulator { ActorKind::Regulator(identity) } else { ActorKind::Professional(identity) };
    Asker {
        actor: Actor {
            issuer: DevIssuer::ISSUER.into(),
            subject: format!("pro-{n}"),
            name: None,
            kind,
            scopes: carnet_domain::Scopes::RoleOnly,
            client: None,
        },
        claims,
    }
}

pub(crate) fn patient(p: &Ins) -> Asker {
    let claims = TokenClaims { sub: format!("p-{p}"), role: Role::Patient, ins: Some(p.to_string()), ..Default::default() };
    let actor = Actor {
        issuer: DevIssuer::ISSUER.into(),
        subject: format!("p-{p}"),
        name: None,
        kind: ActorKind::Patient { ins: p.clone() },
        scopes: carnet_domain::Scopes::RoleOnly,
        client: None,
    };
    Asker { claims, actor }
}

pub(crate) fn representative(p: &Ins, sub: &str) -> Asker {
    let claims = TokenClaims { sub: sub.into(), role: Role::Representative, represents: vec![p.to_string()], ..Default::default() };
    let actor = Actor {
        issuer: DevIssuer::ISSUER.into(),
        subject: sub.into(),
        name: None,
        kind: ActorKind::Representative { represents: vec![p.clone()] },
        scopes: carnet_domain::Scopes::RoleOnly,
        client: None,
    };
    Asker { claims, actor }
}

pub(crate) fn role(r: Role) -> Asker {
    let kind = match r {
        Role::InsurerAgent => ActorKind::InsurerAgent,
        Role::Operator => ActorKind::Operator,
        Role::PrivacyOfficer => ActorKind::PrivacyOfficer,
        _ => ActorKind::System { organisation: None },
    };
    let sub = format!("{r:?}");
    Asker {
        claims: TokenClaims { sub: sub.clone(), role: r, ..Default::default() },
        actor: Actor {
            issuer: DevIssuer::ISSUER.into(),
            subject: sub,
            name: None,
            kind,
            scopes: carnet_domain::Scopes::RoleOnly,
            client: None,
        },
    }
}

/// The professionals of the universe: (number, profession).
pub(crate) const PROS: [(u32, Profession); 6] = [
    (101, Profession::Medecin),
    (102, Profession::Infirmier),
    (103, Profession::ChirurgienDentiste),
    (104, Profession::Pharmacien),
    (105, Profession::MasseurKinesitherapeute),
    (106, Profession::Psychologue),
];

const TYPES: [&str; 8] = ["11502-2", "11488-4", "68599-0", "83901-9", "REMB", "57833-6", "ATTEST-RESID", "DOCPAT05"];
pub(crate) const LABELS: [&str; 3] = ["MASQUE_PS", "INVISIBLE_PATIENT", "INVISIBLE_REPRESENTANTS_LEGAUX"];

#[derive(Debug, Clone)]
pub(crate) struct Doc {
    pub(crate) type_index: usize,
    pub(crate) labels: Vec<usize>,
    pub(crate) author: usize,
    pub(crate) withdrawn: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Scenario {
    pub(crate) docs: Vec<Doc>,
    /// Per professional: 0 nothing, 1 authorized, 2 authorized but expired later, 3 blocked, 4 extended rights.
    pub(crate) standing: Vec<u8>,
    pub(crate) medecin_traitant: Option<usize>,
    pub(crate) representative_registered: bool,
    pub(crate) opposes_bris_de_glace: bool,
    pub(crate) opposes_samu: bool,
    pub(crate) reimbursement_hidden: bool,
    /// A professional who opens bris de glace.
    pub(crate) emergency_by: Option<usize>,
    pub(crate) closed: bool,
}

pub(crate) fn scenario() -> impl Strategy<Value = Scenario> {
    let doc = (0..TYPES.len(), prop::collection::vec(0..LABELS.len(), 0..3), 0..PROS.len(), prop::bool::weighted(0.15))
        .prop_map(|(type_index, labels, author, withdrawn)| Doc { type_index, labels, author, withdrawn });
    (
        prop::collection::vec(doc, 1..6),
        prop::collection::vec(0u8..5, PROS.len()),
        prop::option::of(0..PROS.len()),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        prop::option::of(0..PROS.len()),
        prop::bool::weighted(0.15),
    )
        .prop_map(
            |(
                docs,
                standing,
                medecin_traitant,
                representative_registered,
                opposes_bris_de_glace,
                opposes_samu,
                reimbursement_hidden,
                emergency_by,
                closed,
            )| {
                Scenario {
                    docs,
                    standing,
                    medecin_traitant,
                    representative_registered,
                    opposes_bris_de_glace,
                    opposes_samu,
                    reimbursement_hidden,
                    emergency_by,
                    closed,
                }
            },
        )
}

static NEXT: AtomicU32 = AtomicU32::new(1000);

async fn check(app: &TestApp, s: Scenario) -> Result<(), TestCaseError> {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let p = ins(n);
    app.open_record(&p).await;
    let pros: Vec<Asker> = PROS.iter().map(|(k, prof)| professional(*k, *prof, false)).collect();

    // Documents, deposited by their authors.
    let mut ids = Vec::new();
    for (i, d) in s.docs.iter().enumerate() {
        let labels: BTreeSet<&str> = d.labels.iter().map(|l| LABELS[*l]).collect();
        let meta = json!({"unique_id": format!("1.2.250.1.999.77.{n}.{i}"), "type_code": TYPES[d.type_index], "labels": labels, "mime_type": "application/pdf"});
        let author = app.token(pros[d.author].claims.clone());
        let r = app.upload(&p, &author, meta, format!("%PDF {n} {i}").as_bytes()).await;
        prop_assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
        let id = r.body["id"].as_str().unwrap_or_default().to_owned();
        if d.withdrawn {
            prop_assert_eq!(app.post(&format!("/api/documents/{id}/withdraw"), &author, json!({})).await.status, StatusCode::OK);
        }
        ids.push(id);
    }

    let (policy, parent, now) = set_the_scene(app, &p, n, &s).await?;

    // Everyone asks; each answer must be exactly what `decide` says.
    let db = &app.db;
    let record = db.find_record_by_ins(&p).await.ok().flatten().ok_or_else(|| TestCaseError::fail("record"))?;
    let metas: Vec<_> = {
        let mut v = Vec::new();
        for id in &ids {
            let meta = db.find_document(DocumentId::parse(id).map_err(|e| TestCaseError::fail(e.to_string()))?).await.ok().flatten();
            v.push(meta.ok_or_else(|| TestCaseError::fail("document"))?.0);
        }
        v
    };
    let matrix = ProfessionMatrix::dmp_default();
    for asker in &askers(&pros, &p, n, parent) {
        let emergency = db.find_latest_emergency(&asker.actor.reference(), &p).await.ok().flatten();
        let ctx = AccessContext { ins: &p, record_status: record.status, now, emergency: emergency.as_ref(), matrix: &matrix };
        let expected: BTreeSet<String> =
            metas.iter().filter(|m| decide(&asker.actor, &ctx, &policy, m).is_permit()).map(|m| m.id.to_string()).collect();
        let token = app.token(asker.claims.clone());
        let list = app.get(&format!("/api/records/{p}/documents"), &token).await;
        prop_assert_eq!(list.status, StatusCode::OK, "{}", list.raw);
        let listed: BTreeSet<String> = list.body["documents"]
            .as_array()
            .map(|a| a.iter().filter_map(|d| d["id"].as_str().map(str::to_owned)).collect())
            .unwrap_or_default();
        prop_assert_eq!(&listed, &expected, "list for {:?}", asker.actor.kind);
        prop_assert_eq!(list.body["total"].as_u64(), Some(expected.len() as u64), "total for {:?}", asker.actor.kind);
        for id in &ids {
            let read = app.get(&format!("/api/documents/{id}"), &token).await;
            let want = if expected.contains(id) { StatusCode::OK } else { StatusCode::NOT_FOUND };
            prop_assert_eq!(read.status, want, "read {} by {:?}", id, asker.actor.kind);
        }
    }
    Ok(())
}

/// Everyone who may ask about `p`: the professionals, a regulator, the patient, the parent,
/// another patient and the roles that never read.
pub(crate) fn askers(pros: &[Asker], p: &Ins, n: u32, parent: Asker) -> Vec<Asker> {
    let mut askers = pros.to_vec();
    askers.push(professional(107, Profession::Medecin, true));
    askers.extend([
        patient(p),
        parent,
        patient(&ins(n + 500_000)),
        role(Role::InsurerAgent),
        role(Role::Operator),
        role(Role::PrivacyOfficer),
        role(Role::System),
    ]);
    askers
}

/// The scenario's policy, written as the patient's choices would leave it, its emergency and
/// its closing, after the deposits: the policy, the parent and the instant it was written.
pub(crate) async fn set_the_scene(
    app: &TestApp,
    p: &Ins,
    n: u32,
    s: &Scenario,
) -> Result<(PatientPolicy, Asker, time::OffsetDateTime), TestCaseError> {
    let pros: Vec<Asker> = PROS.iter().map(|(k, prof)| professional(*k, *prof, false)).collect();
    let now = carnet_domain::Clock::now(app.clock.as_ref());
    let parent = representative(p, &format!("parent-{n}"));
    let mut policy = PatientPolicy {
        opposes_bris_de_glace: s.opposes_bris_de_glace,
        opposes_samu: s.opposes_samu,
        reimbursement_hidden: s.reimbursement_hidden,
        ..PatientPolicy::default()
    };
    for (i, st) in s.standing.iter().enumerate() {
        let r = rpps(PROS[i].0);
        let grant = |expires_at| carnet_domain::Authorization {
            rpps: r.clone(),
            granted_at: now,
            expires_at,
            granted_by: "patient".into(),
            declared: None,
        };
        match st {
            1 => policy.authorizations.push(grant(None)),
            2 => policy.authorizations.push(grant(Some(now - time::Duration::hours(1)))),
            3 => policy.blocked.push(r),
            4 => policy.extended_rights.push(r),
            _ => {}
        }
    }
    policy.medecin_traitant = s.medecin_traitant.map(|i| rpps(PROS[i].0)).filter(|r| !policy.blocked.contains(r));
    if s.representative_registered {
        policy.representatives.push(carnet_domain::Representation {
            representative: parent.actor.reference(),
            kind: RepresentationKind::Minor,
            since: now - time::Duration::days(1),
            until: None,
            registered_by: "desk".into(),
            registered_at: now,
        });
    }
    let db = &app.db;
    let version = db.find_policy(p).await.map(|s| s.version).unwrap_or(0);
    prop_assert!(db.save_policy(p, &policy, version, now, &[]).await.is_ok());

    if let Some(i) = s.emergency_by {
        let t = app.token(pros[i].claims.clone());
        app.post(&format!("/api/records/{p}/emergency-access"), &t, json!({"kind": "bris_de_glace", "justification": "urgence"})).await;
    }
    if s.closed {
        let t = app.token(patient(p).claims);
        prop_assert_eq!(app.post(&format!("/api/records/{p}/close"), &t, json!({"reason": "test"})).await.status, StatusCode::OK);
    }
    Ok((policy, parent, now))
}

#[test]
fn every_read_path_returns_exactly_what_decide_permits() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let config = ServiceConfig { enumeration_limit: 1_000_000, ..ServiceConfig::default() };
    let app = rt.block_on(TestApp::with_config(Backend::Sqlite, HttpLimits::default(), config));
    let cases = std::env::var("CARNET_PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(24);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig { cases, ..ProptestConfig::default() });
    runner.run(&scenario(), |s| rt.block_on(check(&app, s))).unwrap_or_else(|e| panic!("{e}"));
}
