#![no_main]
//! RPPS and FINESS parsers on arbitrary input: never panic; what they accept is the trimmed input,
//! all ASCII digits, of the right length, passing a Luhn check recomputed here independently.
use carnet_domain::{Finess, Rpps};
use libfuzzer_sys::fuzz_target;

fn luhn_ok(s: &str) -> bool {
    let sum: u32 = s
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 { [0, 2, 4, 6, 8, 1, 3, 5, 7, 9][d as usize] } else { d }
        })
        .sum();
    sum.is_multiple_of(10)
}

fn check(accepted: Option<&str>, data: &str, len: usize) {
    if let Some(s) = accepted {
        assert_eq!(s, data.trim());
        assert!(s.len() == len && s.bytes().all(|b| b.is_ascii_digit()));
        assert!(luhn_ok(s), "{s} fails Luhn");
    }
}

fuzz_target!(|data: &str| {
    let rpps = Rpps::parse(data);
    check(rpps.as_ref().ok().map(Rpps::as_str), data, Rpps::LEN);
    if let Ok(r) = &rpps {
        assert_eq!(Rpps::parse(r.as_str()).as_ref(), Ok(r));
    }
    let finess = Finess::parse(data);
    check(finess.as_ref().ok().map(Finess::as_str), data, Finess::LEN);
    if let Ok(f) = &finess {
        assert_eq!(Finess::parse(f.as_str()).as_ref(), Ok(f));
    }
    // from_body builds only valid identifiers, or refuses.
    if let Ok(r) = Rpps::from_body(data) {
        assert_eq!(&r.as_str()[..10], data);
    }
});
