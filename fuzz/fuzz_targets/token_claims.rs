#![no_main]
//! The identity values a token carries (INS list, profession code, RPPS, FINESS, scope) parsed
//! together from one arbitrary string split on NUL: never panic.
use carnet_domain::{Finess, Ins, Profession, Rpps, SmartScope};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &str| {
    let mut parts = data.split('\0');
    let _ = parts.next().map(Ins::parse);
    let _ = parts.next().map(Profession::from_code);
    let _ = parts.next().map(Rpps::parse);
    let _ = parts.next().map(Finess::parse);
    let _ = parts.next().map(SmartScope::parse_all);
});
