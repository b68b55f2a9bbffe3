#![no_main]
//! `Ins::parse` on arbitrary input (any UTF-8, multi-byte included): never panics, and what it
//! accepts is exactly the input less its spaces and dots, upper-cased, with a key recomputed here
//! independently; every single-digit change of it is rejected.
use carnet_domain::Ins;
use libfuzzer_sys::fuzz_target;

/// The NIR key, written apart from the domain's: 2A/2B count as 19/18.
fn key(body: &str) -> u64 {
    let n: u64 = body.replacen("2A", "19", 1).replacen("2B", "18", 1).parse().expect("13 digits");
    97 - n % 97
}

fuzz_target!(|data: &str| {
    let Ok(ins) = Ins::parse(data) else { return };
    let s = ins.as_str();
    let expected: String = data.chars().filter(|c| !matches!(c, ' ' | '.')).collect::<String>().to_ascii_uppercase();
    assert_eq!(s, expected, "only spaces, dots and case are normalised");
    // 15 ASCII digits, but for 2A/2B at positions 5-6 (so the key is two digits, never "+7").
    let b = s.as_bytes();
    assert!(b.len() == 15, "{s}");
    for (i, c) in b.iter().enumerate() {
        assert!(c.is_ascii_digit() || (i == 6 && b[5] == b'2' && matches!(c, b'A' | b'B')), "{s}");
    }
    assert_eq!(s[13..].parse::<u64>().ok(), Some(key(&s[..13])));
    assert_eq!(Ins::parse(s).as_ref(), Ok(&ins));
    assert_eq!(Ins::from_body(&s[..13]).as_ref(), Ok(&ins));
    for (i, b) in s.bytes().enumerate().filter(|(_, b)| b.is_ascii_digit()) {
        for d in b'0'..=b'9' {
            if d != b {
                let mut changed = s.as_bytes().to_vec();
                changed[i] = d;
                let changed = String::from_utf8(changed).expect("ascii");
                assert!(Ins::parse(&changed).is_err(), "single-digit change {changed} accepted");
            }
        }
    }
});
