#![no_main]
//! RPPS and FINESS parsers on arbitrary input: never panic; accepted values re-parse.
use carnet_domain::{Finess, Rpps};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &str| {
    if let Ok(r) = Rpps::parse(data) {
        assert_eq!(Rpps::parse(r.as_str()).as_ref(), Ok(&r));
    }
    if let Ok(f) = Finess::parse(data) {
        assert_eq!(Finess::parse(f.as_str()).as_ref(), Ok(&f));
    }
});
