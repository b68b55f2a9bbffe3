//! The scope decision (`carnet_domain::scope::permit`): a table of rows a reviewer reads, then
//! properties over random scope sets, actors of every role and every operation — a token is let
//! through exactly when each (resource, interaction) the operation needs is granted by a scope
//! fitting the actor (an oracle written here, apart from the domain's), more scopes never refuse
//! more, and granular `DocumentReference` scopes admit exactly the documents they name.

use crate::support;

use carnet_domain::codes::Code;
use carnet_domain::document::XdsMetadata;
use carnet_domain::scope::{Need, Operation, ScopeDenied, permit};
use carnet_domain::{Actor, Role, Scopes, SmartScope};
use proptest::prelude::*;
use proptest::sample::select;
use support::Who;

const LOINC: &str = "http://loinc.org";
const CLASS: &str = "https://mos.esante.gouv.fr/NOS/TRE_A03-ClasseDocument/FHIR/TRE-A03-ClasseDocument";

fn with_scopes(who: Who, claim: Option<&str>) -> Actor {
    let scopes = match claim {
        None => Scopes::RoleOnly,
        Some(c) => Scopes::Granted(SmartScope::parse_all(c).expect("valid scopes")),
    };
    Actor { scopes, client: Some("app".into()), ..who.actor() }
}

fn doc(class: &str, type_code: &str) -> XdsMetadata {
    XdsMetadata {
        unique_id: "1.2.3".into(),
        class_code: Code::new(CLASS, class),
        type_code: Code::new(LOINC, type_code),
        format_code: Code::new("urn:ihe", "pdf"),
        practice_setting: None,
        facility_type: None,
        service_start: None,
        service_end: None,
        mime_type: "application/pdf".into(),
        language: "fr-FR".into(),
        authored_at: None,
    }
}

fn lab() -> XdsMetadata {
    doc("10", "11502-2")
}

fn imaging() -> XdsMetadata {
    doc("31", "18748-4")
}

enum Expect {
    /// Let through, on these documents (lab, imaging).
    Through(bool, bool),
    Needs(&'static str),
    AppsMayNot,
}

#[test]
fn the_scope_table() {
    use Expect::*;
    use Operation::*;
    let rows: &[(&str, Who, Option<&str>, Operation, Expect)] = &[
        ("no scope claim: the role decides", Who::Patient, None, SearchDocuments, Through(true, true)),
        ("no scope claim: even what apps may not", Who::Patient, None, ManageApps, Through(true, true)),
        (
            "the issue's case: Consent only reads no document",
            Who::Patient,
            Some("patient/Consent.rs"),
            SearchDocuments,
            Needs("patient/DocumentReference.s"),
        ),
        ("… nor one by id", Who::Patient, Some("patient/Consent.rs"), ReadDocument, Needs("patient/DocumentReference.r")),
        ("… nor its bytes", Who::Patient, Some("patient/Consent.rs"), ReadContent, Needs("patient/Binary.r")),
        ("… but its consents", Who::Patient, Some("patient/Consent.rs"), ReadPolicy, Through(true, true)),
        ("read and search", Who::Patient, Some("patient/DocumentReference.rs"), SearchDocuments, Through(true, true)),
        ("read without search", Who::Patient, Some("patient/DocumentReference.r"), SearchDocuments, Needs("patient/DocumentReference.s")),
        ("v1 read is r and s", Who::Patient, Some("patient/DocumentReference.read"), SearchDocuments, Through(true, true)),
        ("bytes need the document's read too", Who::Patient, Some("patient/Binary.r"), ReadContent, Needs("patient/DocumentReference.r")),
        ("bytes with both", Who::Patient, Some("patient/Binary.r patient/DocumentReference.r"), ReadContent, Through(true, true)),
        ("granular by category", Who::Patient, Some("patient/DocumentReference.rs?category=10"), SearchDocuments, Through(true, false)),
        (
            "granular by type, system|code",
            Who::Patient,
            Some("patient/DocumentReference.rs?type=http://loinc.org|18748-4"),
            SearchDocuments,
            Through(false, true),
        ),
        (
            "granular, %7C for |",
            Who::Patient,
            Some("patient/DocumentReference.rs?type=http://loinc.org%7C18748-4"),
            ReadDocument,
            Through(false, true),
        ),
        (
            "granular, two values",
            Who::Patient,
            Some("patient/DocumentReference.rs?type=11502-2,18748-4"),
            SearchDocuments,
            Through(true, true),
        ),
        (
            "granular and plain: the plain one wins",
            Who::Patient,
            Some("patient/DocumentReference.rs?category=10 patient/DocumentReference.s"),
            SearchDocuments,
            Through(true, true),
        ),
        (
            "a query Carnet cannot enforce grants nothing",
            Who::Patient,
            Some("patient/DocumentReference.rs?code=x"),
            SearchDocuments,
            Needs("patient/DocumentReference.s"),
        ),
        (
            "a query on another type grants nothing",
            Who::Patient,
            Some("patient/Patient.rs?category=10"),
            ReadRecord,
            Needs("patient/Patient.r"),
        ),
        ("wildcard", Who::Patient, Some("patient/*.cruds"), DepositSet, Through(true, true)),
        (
            "an ITI-65 set also creates a List",
            Who::Patient,
            Some("patient/DocumentReference.c patient/Binary.c"),
            DepositSet,
            Needs("patient/List.c"),
        ),
        ("an /api deposit does not", Who::Patient, Some("patient/DocumentReference.c patient/Binary.c"), Deposit, Through(true, true)),
        ("system/ does not fit a patient", Who::Patient, Some("system/*.cruds"), SearchDocuments, Needs("patient/DocumentReference.s")),
        ("user/ fits a patient", Who::Patient, Some("user/DocumentReference.s"), SearchDocuments, Through(true, true)),
        ("patient/ fits a representative", Who::Parent, Some("patient/AuditEvent.s"), AccessHistory, Through(true, true)),
        ("patient/ does not fit a doctor", Who::Doctor, Some("patient/*.cruds"), SearchDocuments, Needs("user/DocumentReference.s")),
        ("user/ fits a doctor", Who::Doctor, Some("user/DocumentReference.rs"), ReadDocument, Through(true, true)),
        ("system/ fits software", Who::System, Some("system/DocumentReference.c system/Binary.c"), Deposit, Through(true, true)),
        ("user/ does not fit software", Who::System, Some("user/*.cruds"), Deposit, Needs("system/DocumentReference.c")),
        ("apps may not manage apps", Who::Patient, Some("patient/*.cruds"), ManageApps, AppsMayNot),
        ("nor rotate keys", Who::Operator, Some("system/*.cruds"), RotateKeys, AppsMayNot),
        ("an empty claim grants nothing", Who::Patient, Some(""), ReadRecord, Needs("patient/Patient.r")),
        ("openid alone grants nothing", Who::Patient, Some("openid fhirUser launch/patient"), ReadRecord, Needs("patient/Patient.r")),
        ("labels need update", Who::Patient, Some("patient/DocumentReference.rs"), UpdateDocument, Needs("patient/DocumentReference.u")),
        ("the emergency is a Consent created", Who::Doctor, Some("user/Consent.c"), OpenEmergency, Through(true, true)),
    ];
    for (what, who, claim, op, expect) in rows {
        let actor = with_scopes(*who, *claim);
        let got = permit(&actor, *op);
        match (expect, &got) {
            (Through(l, i), Ok(docs)) => {
                assert_eq!((docs.admits(&lab()), docs.admits(&imaging())), (*l, *i), "{what}");
            }
            (Needs(needed), Err(ScopeDenied::Insufficient { needed: got })) => assert_eq!(got, needed, "{what}"),
            (AppsMayNot, Err(ScopeDenied::AppsMayNot)) => {}
            _ => panic!("{what}: got {got:?}"),
        }
    }
}

#[test]
fn a_deposit_outside_a_granular_create_scope_names_the_scope_it_needs() {
    let actor = with_scopes(Who::Patient, Some("patient/DocumentReference.c?type=11502-2 patient/Binary.c"));
    let docs = permit(&actor, Operation::Deposit).expect("may create");
    assert!(docs.check_deposit(&actor, &lab()).is_ok());
    let refused = docs.check_deposit(&actor, &imaging()).expect_err("another type");
    assert_eq!(refused.needed(), Some("patient/DocumentReference.c?type=http://loinc.org|18748-4"));
}

// ---------------------------------------------------------------------------------------------
// Properties.

/// Scopes mixing contexts, resources (the ones operations need, `*`, others), letters and a few
/// granular queries.
fn scope_text() -> impl Strategy<Value = String> {
    (
        select(vec!["patient", "user", "system"]),
        select(vec!["*", "DocumentReference", "Binary", "List", "Patient", "Consent", "AuditEvent", "Practitioner", "Observation"]),
        select(vec!["c", "r", "s", "rs", "u", "cu", "d", "cruds", "read", "write"]),
        prop_oneof![
            4 => Just(None),
            1 => select(vec!["category=10", "category=31", "type=http://loinc.org|11502-2", "type=18748-4", "code=x", "category=10&type=11502-2"]).prop_map(Some),
        ],
    )
        .prop_map(|(c, r, p, q)| format!("{c}/{r}.{p}{}", q.map(|q| format!("?{q}")).unwrap_or_default()))
}

fn who() -> impl Strategy<Value = Who> {
    select(vec![Who::Patient, Who::Parent, Who::Doctor, Who::Nurse, Who::System, Who::Insurer, Who::Operator, Who::PrivacyOfficer])
}

/// The oracle: does `scope` grant `resource`/`letter` to `actor`?
fn grants(actor: &Actor, scope: &str, resource: &str, letter: char) -> bool {
    let Some((context, rest)) = scope.split_once('/') else { return false };
    let (body, query) = rest.split_once('?').map_or((rest, None), |(b, q)| (b, Some(q)));
    let Some((r, p)) = body.split_once('.') else { return false };
    let letters = match p {
        "read" => "rs",
        "write" => "cud",
        p => p,
    };
    let speaks = matches!(actor.role(), Role::Patient | Role::Representative);
    let fits = match context {
        "patient" => speaks,
        "user" => actor.role() != Role::System,
        _ => !speaks,
    };
    let enforceable = query
        .is_none_or(|q| resource == "DocumentReference" && q.split('&').all(|kv| kv.starts_with("category=") || kv.starts_with("type=")));
    fits && (r == "*" || r == resource) && letters.contains(letter) && enforceable
}

/// The oracle's filter: is `doc` admitted by the scopes granting `DocumentReference.letter`?
fn admitted(actor: &Actor, scopes: &[String], letter: char, doc: &XdsMetadata) -> bool {
    scopes.iter().filter(|s| grants(actor, s, "DocumentReference", letter)).any(|s| match s.split_once('?') {
        None => true,
        Some((_, q)) => q.split('&').all(|kv| match kv.split_once('=') {
            Some(("category", v)) => v == doc.class_code.code,
            Some(("type", v)) => v == doc.type_code.code || v == format!("{}|{}", doc.type_code.system, doc.type_code.code),
            _ => false,
        }),
    })
}

proptest! {
    #[test]
    fn permit_lets_through_exactly_what_the_scopes_grant(
        who in who(),
        scopes in prop::collection::vec(scope_text(), 0..5),
        op in select(Operation::ALL.to_vec()),
    ) {
        let actor = with_scopes(who, Some(&scopes.join(" ")));
        let got = permit(&actor, op);
        match op.need() {
            Need::RoleOnly => prop_assert_eq!(got.clone().err(), Some(ScopeDenied::AppsMayNot)),
            Need::Scopes(needs) => {
                let expected = needs.iter().all(|(r, i)| {
                    let letter = format!("{i:?}").to_lowercase().chars().next().expect("letter");
                    scopes.iter().any(|s| grants(&actor, s, r, letter))
                });
                prop_assert_eq!(got.is_ok(), expected, "{:?} {:?} {:?}: {:?}", who, scopes, op, got);
            }
        }
        if let (Ok(docs), Some(i)) = (&got, op.document_interaction()) {
            let letter = format!("{i:?}").to_lowercase().chars().next().expect("letter");
            for d in [lab(), imaging(), doc("11", "60591-5")] {
                prop_assert_eq!(docs.admits(&d), admitted(&actor, &scopes, letter, &d), "{:?} {:?} {:?}", scopes, op, d.type_code);
            }
        }
        // Without scopes the role decides, whatever the operation.
        let role_only = permit(&with_scopes(who, None), op).expect("role only");
        prop_assert!(role_only.is_unrestricted());
    }

    #[test]
    fn one_more_scope_never_refuses_more(
        who in who(),
        scopes in prop::collection::vec(scope_text(), 0..4),
        extra in scope_text(),
        op in select(Operation::ALL.to_vec()),
    ) {
        let fewer = permit(&with_scopes(who, Some(&scopes.join(" "))), op);
        let more = permit(&with_scopes(who, Some(&format!("{} {extra}", scopes.join(" ")))), op);
        if let Ok(fewer) = fewer {
            let more = more.expect("still let through");
            for d in [lab(), imaging()] {
                prop_assert!(!fewer.admits(&d) || more.admits(&d));
            }
        }
    }
}
