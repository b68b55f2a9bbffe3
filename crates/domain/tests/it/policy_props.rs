//! Property tests of the access decision: random actors of every role, policies, documents
//! (every DMP type, any labels and status), record statuses and emergency accesses, drawn from
//! small pools so that actors, authors, grants and emergencies collide often. Whatever the draw,
//! the invariants of the access rules (`docs/access-rules.md`) hold.

use crate::support;

use carnet_domain::codes::Code;
use carnet_domain::{
    AccessDecision, Actor, ActorKind, Basis, DocumentMeta, DocumentStatus, EmergencyAccess, EmergencyKind, Ins, PatientPolicy, Profession,
    RecordStatus, Representation, RepresentationKind, SecurityLabel, decide, decide_record,
};
use proptest::prelude::*;
use proptest::sample::select;
use support::*;
use time::Duration;

const RPPS_POOL: u8 = 4;
const REP_POOL: [&str; 3] = ["r1", "r2", "r3"];

fn ins_pool() -> [Ins; 2] {
    [ins(), other_ins()]
}

fn any_ins() -> impl Strategy<Value = Ins> {
    prop_oneof![3 => Just(ins()), 1 => Just(other_ins())]
}

fn any_rpps_n() -> impl Strategy<Value = u8> {
    1..=RPPS_POOL
}

/// Mostly the professions that read most, sometimes any.
fn any_profession() -> impl Strategy<Value = Profession> {
    use Profession::*;
    prop_oneof![3 => select(vec![Medecin, Infirmier, Pharmacien, ChirurgienDentiste, SageFemme]), 1 => select(Profession::ALL.to_vec())]
}

fn any_actor() -> impl Strategy<Value = Actor> {
    let represents = prop_oneof![3 => Just(vec![ins()]), 1 => prop::sample::subsequence(ins_pool().to_vec(), 0..=2)];
    prop_oneof![
        2 => any_ins().prop_map(patient_of),
        2 => (select(REP_POOL.to_vec()), represents)
            .prop_map(|(sub, represents)| representative(sub, represents)),
        6 => (any_rpps_n(), any_profession()).prop_map(|(n, p)| professional(n, p)),
        2 => (any_rpps_n(), prop_oneof![3 => Just(Profession::Medecin), 1 => any_profession()]).prop_map(|(n, p)| {
            let mut a = regulator(n);
            if let ActorKind::Regulator(id) = &mut a.kind {
                id.profession = p;
            }
            a
        }),
        1 => Just(system()),
        1 => Just(insurer()),
        1 => Just(operator()),
        1 => Just(privacy_officer()),
    ]
}

/// Expiry: none, passed, or to come.
fn any_expiry() -> impl Strategy<Value = Option<time::OffsetDateTime>> {
    select(vec![None, Some(NOW - Duration::days(1)), Some(NOW + Duration::days(1))])
}

/// Usually nobody, sometimes one or two of the pool.
fn few_rpps() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![2 => Just(vec![]), 1 => prop::sample::subsequence((1..=RPPS_POOL).collect::<Vec<_>>(), 1..=2)]
}

fn any_policy() -> impl Strategy<Value = PatientPolicy> {
    let authorizations = prop::collection::vec((any_rpps_n(), any_expiry()), 0..=4)
        .prop_map(|v| v.into_iter().map(|(n, e)| authorization(rpps(n), e)).collect::<Vec<_>>());
    let representatives = prop::collection::vec(
        (select(REP_POOL.to_vec()), select(vec![NOW - Duration::days(10), NOW + Duration::days(1)]), any_expiry()),
        0..=3,
    )
    .prop_map(|v| {
        v.into_iter()
            .map(|(sub, since, until)| Representation {
                representative: representative(sub, vec![]).reference(),
                kind: RepresentationKind::Minor,
                since,
                until,
                registered_by: insurer().reference(),
                registered_at: since,
            })
            .collect::<Vec<_>>()
    });
    (
        authorizations,
        few_rpps(),
        prop::option::of(any_rpps_n()),
        few_rpps(),
        representatives,
        [prop::bool::weighted(0.25), prop::bool::weighted(0.25), prop::bool::weighted(0.25)],
    )
        .prop_map(|(authorizations, blocked, mt, extended, representatives, [bdg, samu, remb])| PatientPolicy {
            authorizations,
            blocked: blocked.into_iter().map(rpps).collect(),
            medecin_traitant: mt.map(rpps),
            extended_rights: extended.into_iter().map(rpps).collect(),
            representatives,
            opposes_bris_de_glace: bdg,
            opposes_samu: samu,
            reimbursement_hidden: remb,
        })
}

/// Authors drawn from everyone who might write: professionals of the pool, patients,
/// representatives, software, the insurer.
fn any_author() -> impl Strategy<Value = String> {
    let mut refs: Vec<String> = (1..=RPPS_POOL).map(|n| professional(n, Profession::Medecin).reference()).collect();
    refs.extend(ins_pool().into_iter().map(|i| patient_of(i).reference()));
    refs.extend(REP_POOL.iter().map(|s| representative(s, vec![]).reference()));
    refs.extend([system().reference(), insurer().reference()]);
    select(refs)
}

/// Any DMP type, the reimbursement history more often than its share.
fn any_type() -> impl Strategy<Value = Code> {
    prop_oneof![8 => select(lists().types.into_iter().map(|t| t.code).collect::<Vec<_>>()), 1 => Just(type_code("REMB"))]
}

fn any_doc() -> impl Strategy<Value = DocumentMeta> {
    let labels = prop_oneof![2 => Just(vec![]), 1 => prop::sample::subsequence(SecurityLabel::ALL.to_vec(), 1..=3)];
    let status = select(vec![DocumentStatus::Current, DocumentStatus::Current, DocumentStatus::Superseded, DocumentStatus::EnteredInError]);
    (any_type(), any_author(), labels, status, prop_oneof![9 => Just(ins()), 1 => Just(other_ins())]).prop_map(
        |(type_code, author, labels, status, ins)| {
            let mut base = base_doc();
            base.xds.type_code = type_code;
            DocumentMeta { author, labels, status, ins, ..base }
        },
    )
}

fn any_emergency() -> impl Strategy<Value = Option<EmergencyAccess>> {
    let actor_ref = prop_oneof![
        4 => any_rpps_n().prop_map(|n| professional(n, Profession::Medecin).reference()),
        1 => Just(patient_of(ins()).reference()),
    ];
    let window = prop_oneof![
        3 => Just((NOW - Duration::minutes(10), NOW + Duration::minutes(50))),
        1 => Just((NOW - Duration::hours(3), NOW - Duration::hours(1))),
    ];
    prop::option::weighted(
        0.7,
        (select(vec![EmergencyKind::BrisDeGlace, EmergencyKind::Samu]), actor_ref, any_ins(), window).prop_map(
            |(kind, actor, ins, (opened_at, expires_at))| EmergencyAccess {
                kind,
                ins,
                actor,
                justification: "urgence".into(),
                opened_at,
                expires_at,
            },
        ),
    )
}

fn any_scene() -> impl Strategy<Value = Scene> {
    let status = prop_oneof![6 => Just(RecordStatus::Active), 2 => Just(RecordStatus::Closed), 1 => Just(RecordStatus::Archived), 1 => Just(RecordStatus::Destroyed)];
    (status, any_emergency()).prop_map(|(status, emergency)| Scene { status, emergency, ..Scene::new() })
}

fn rpps_of(actor: &Actor) -> Option<&carnet_domain::Rpps> {
    match &actor.kind {
        ActorKind::Professional(p) | ActorKind::Regulator(p) => Some(&p.rpps),
        _ => None,
    }
}

fn is_pro(actor: &Actor) -> bool {
    rpps_of(actor).is_some()
}

/// A draw where, half the time, the emergency access (if any) is the actor's own.
fn any_case() -> impl Strategy<Value = (Actor, PatientPolicy, DocumentMeta, Scene)> {
    (any_actor(), any_policy(), any_doc(), any_scene(), any::<bool>()).prop_map(|(actor, policy, doc, mut scene, own)| {
        if let (true, Some(e)) = (own, scene.emergency.as_mut()) {
            e.actor = actor.reference();
        }
        (actor, policy, doc, scene)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn the_invariants_hold((actor, policy, doc, scene) in any_case()) {
        let ctx = scene.ctx();
        let decision = decide(&actor, &ctx, &policy, &doc);
        let record = decide_record(&actor, &ctx, &policy);
        let permitted = match decision { AccessDecision::Permit(b) => Some(b), AccessDecision::Deny(_) => None };
        let is_author = doc.author == actor.reference();

        // Deterministic: the same inputs, the same answer, whatever was computed before.
        prop_assert_eq!(decide(&actor.clone(), &scene.clone().ctx(), &policy.clone(), &doc.clone()), decision);
        prop_assert_eq!(decide_record(&actor, &ctx, &policy), record);

        // Rule 12: these roles never read.
        if matches!(actor.kind, ActorKind::InsurerAgent | ActorKind::Operator | ActorKind::PrivacyOfficer | ActorKind::System { .. }) {
            prop_assert!(permitted.is_none() && !record.is_permit());
        }
        // A document of another record is never read under this one.
        if doc.ins != *ctx.ins {
            prop_assert!(permitted.is_none());
        }
        // Rule 1: closed, the holder only; archived or destroyed, nobody.
        match ctx.record_status {
            RecordStatus::Active => {}
            RecordStatus::Closed => {
                prop_assert!(matches!(permitted, None | Some(Basis::Patient | Basis::Representative)), "{:?}", permitted);
                prop_assert!(matches!(record, AccessDecision::Deny(_) | AccessDecision::Permit(Basis::Patient | Basis::Representative)));
            }
            RecordStatus::Archived | RecordStatus::Destroyed => prop_assert!(permitted.is_none() && !record.is_permit()),
        }
        // Rule 3: a blocked professional reads only what they wrote.
        if rpps_of(&actor).is_some_and(|r| policy.is_blocked(r)) {
            prop_assert!(matches!(permitted, None | Some(Basis::Author)), "{:?}", permitted);
            prop_assert!(permitted.is_none() || is_author);
            prop_assert!(!record.is_permit());
        }
        if let Some(basis) = permitted {
            // `decide` permits ⇒ `decide_record` permits, except an author without standing.
            prop_assert!(record.is_permit() || basis == Basis::Author, "{:?} but {:?}", basis, record);
            if basis == Basis::Author {
                prop_assert!(is_author && is_pro(&actor) && ctx.record_status == RecordStatus::Active);
            }
            // Rule 6: MASQUE_PS only to its author, the médecin traitant and extended rights.
            if is_pro(&actor) && doc.labels.contains(&SecurityLabel::MasquePs) {
                prop_assert!(matches!(basis, Basis::Author | Basis::MedecinTraitant | Basis::ExtendedRights), "{:?}", basis);
                let r = rpps_of(&actor);
                prop_assert!(is_author || r.is_some_and(|r| policy.is_medecin_traitant(r) || policy.has_extended_rights(r)));
            }
            // Rules 7 and 8.
            if doc.labels.contains(&SecurityLabel::InvisiblePatient) {
                prop_assert!(!matches!(actor.kind, ActorKind::Patient { .. } | ActorKind::Representative { .. }), "rule 7: {:?}", basis);
            }
            if doc.labels.contains(&SecurityLabel::InvisibleRepresentantsLegaux) {
                prop_assert!(!matches!(actor.kind, ActorKind::Representative { .. }), "rule 8: {:?}", basis);
            }
            // A representative acts only registered, within dates, and for an INS their token names.
            if matches!(actor.kind, ActorKind::Representative { .. }) {
                prop_assert!(actor.speaks_for(ctx.ins));
                prop_assert!(policy.representatives.iter().any(|r| r.representative == actor.reference() && r.is_current(ctx.now)));
            }
            if let ActorKind::Patient { ins } = &actor.kind {
                prop_assert_eq!(ins, ctx.ins);
            }
            // Withdrawn documents: their author only.
            if doc.status == DocumentStatus::EnteredInError {
                prop_assert!(is_author);
            }
            // Rule 13: hidden reimbursement history reaches no professional but its author.
            if policy.reimbursement_hidden && doc.xds.type_code.code == "REMB" && is_pro(&actor) {
                prop_assert_eq!(basis, Basis::Author);
            }
            // Rule 4: who reads through an authorization or an emergency reads through the matrix.
            if let (Basis::Authorization | Basis::BrisDeGlace | Basis::Samu, ActorKind::Professional(p) | ActorKind::Regulator(p)) = (basis, &actor.kind) {
                prop_assert!(ctx.matrix.permits(p.profession, &doc.xds.type_code));
            }
            // Rules 10 and 11: the right role, the patient's switches, a current access of one's own.
            if matches!(basis, Basis::BrisDeGlace | Basis::Samu) {
                let e = ctx.emergency.expect("an emergency basis needs an emergency");
                prop_assert!(e.is_current(ctx.now) && e.actor == actor.reference() && e.ins == *ctx.ins);
            }
            if basis == Basis::BrisDeGlace {
                prop_assert!(!policy.opposes_bris_de_glace && matches!(actor.kind, ActorKind::Professional(_)));
            }
            if basis == Basis::Samu {
                prop_assert!(!policy.opposes_samu && matches!(actor.kind, ActorKind::Regulator(_)));
            }
        }
    }

    /// The same invariant from the other side: a professional with no standing at all (no
    /// authorization, not médecin traitant, no extended rights, no emergency) reads only what
    /// they wrote.
    #[test]
    fn without_standing_a_professional_reads_only_their_own(n in any_rpps_n(), profession in select(Profession::ALL.to_vec()), doc in any_doc(), status in select(RecordStatus::ALL.to_vec())) {
        let actor = professional(n, profession);
        let policy = PatientPolicy::default();
        let scene = Scene { status, ..Scene::new() };
        let decision = decide(&actor, &scene.ctx(), &policy, &doc);
        prop_assert_eq!(decision.is_permit(), doc.author == actor.reference() && doc.ins == ins() && status == RecordStatus::Active);
    }
}
