#![no_main]
//! SMART scope claims on arbitrary input: never panic; a claim parses iff each of its scopes
//! does; every parsed scope prints to a string that parses back to it, and printing is canonical.
use carnet_domain::SmartScope;
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
});
