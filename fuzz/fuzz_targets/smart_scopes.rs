#![no_main]
//! SMART scope claims on arbitrary input: never panic; every parsed scope prints to a string
//! that parses back to it.
use carnet_domain::SmartScope;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &str| {
    if let Ok(scopes) = SmartScope::parse_all(data) {
        for s in scopes {
            assert_eq!(SmartScope::parse(&s.to_string()).as_ref(), Ok(&s));
        }
    }
});
