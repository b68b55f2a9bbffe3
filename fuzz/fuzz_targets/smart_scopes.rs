#![no_main]
//! SMART scope claims on arbitrary input: never panic; a claim parses iff each of its scopes
//! does; every parsed scope prints to a string that parses back to it, and printing is canonical;
//! the scope decision (granular queries, percent escapes) never panics on them, for any operation.
use carnet_domain::codes::Code;
use carnet_domain::document::XdsMetadata;
use carnet_domain::scope::{Operation, permit};
use carnet_domain::{Actor, ActorKind, Ins, Scopes, SmartScope};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &str| {
    let all = SmartScope::parse_all(data);
    assert_eq!(all.is_ok(), data.split_whitespace().all(|s| SmartScope::parse(s).is_ok()));
    let Ok(scopes) = all else { return };
    for s in &scopes {
        let printed = s.to_string();
        let again = SmartScope::parse(&printed).expect("a printed scope parses");
        assert_eq!(&again, s);
        assert_eq!(again.to_string(), printed);
    }
    let claim = scopes.iter().map(ToString::to_string).collect::<Vec<_>>().join(" ");
    assert_eq!(SmartScope::parse_all(&claim).as_ref(), Ok(&scopes));
    let Ok(ins) = Ins::from_body("1841276451089") else { return };
    let actor = Actor {
        issuer: "urn:fuzz".into(),
        subject: "p".into(),
        name: None,
        kind: ActorKind::Patient { ins },
        scopes: Scopes::Granted(scopes),
        client: None,
    };
    let doc = XdsMetadata {
        unique_id: "1".into(),
        class_code: Code::new("urn:class", "10"),
        type_code: Code::new("http://loinc.org", "11502-2"),
        format_code: Code::new("urn:format", "pdf"),
        practice_setting: None,
        facility_type: None,
        service_start: None,
        service_end: None,
        mime_type: "application/pdf".into(),
        language: "fr".into(),
        authored_at: None,
    };
    for op in Operation::ALL {
        if let Ok(documents) = permit(&actor, op) {
            let _ = documents.admits(&doc);
            let _ = documents.check_deposit(&actor, &doc);
        }
    }
});
