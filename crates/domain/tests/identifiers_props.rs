//! Property tests of the parsers of outside input: INS, RPPS, FINESS, SMART scopes, identity
//! traits. Valid values round-trip; every single-digit error is caught; nothing panics.

use carnet_domain::identity::ReferenceTraits;
use carnet_domain::{Finess, Ins, Rpps, Sex, SmartScope};
use proptest::prelude::*;

/// 13-character INS bodies: digits, with Corsica's 2A/2B as department sometimes.
fn ins_body() -> impl Strategy<Value = String> {
    (prop::collection::vec(0u8..10, 13), prop::option::of(prop::bool::ANY)).prop_map(|(digits, corsica)| {
        let mut s: String = digits.iter().map(|d| char::from(b'0' + d)).collect();
        if let Some(b) = corsica {
            s.replace_range(5..7, if b { "2A" } else { "2B" });
        }
        s
    })
}

proptest! {
    #[test]
    fn ins_round_trips(body in ins_body()) {
        let ins = Ins::from_body(&body).expect("a valid body");
        prop_assert_eq!(&ins.as_str()[..13], body.as_str());
        prop_assert_eq!(Ins::parse(ins.as_str()), Ok(ins.clone()));
        let spaced = format!("{} {} {}", &ins.as_str()[..5], &ins.as_str()[5..10], &ins.as_str()[10..]);
        prop_assert_eq!(Ins::parse(&spaced), Ok(ins));
    }

    #[test]
    fn ins_catches_every_single_digit_error(body in ins_body(), at in 0usize..15, delta in 1u8..10) {
        let ins = Ins::from_body(&body).expect("a valid body");
        let mut bytes = ins.as_str().as_bytes().to_vec();
        prop_assume!(bytes[at].is_ascii_digit());
        bytes[at] = b'0' + (bytes[at] - b'0' + delta) % 10;
        let changed = String::from_utf8(bytes).expect("ascii");
        // 97 is prime and > 10: changing one digit of the number or of the key always shows.
        prop_assert!(Ins::parse(&changed).is_err(), "{} accepted", changed);
    }

    #[test]
    fn ins_parse_never_panics(s in ".{0,40}") {
        if let Ok(ins) = Ins::parse(&s) {
            prop_assert_eq!(Ins::parse(ins.as_str()), Ok(ins));
        }
    }

    #[test]
    fn luhn_ids_round_trip_and_catch_single_digit_errors(rpps in "[0-9]{10}", finess in "[0-9]{8}", at in 0usize..9, delta in 1u8..10) {
        let r = Rpps::from_body(&rpps).expect("digits");
        prop_assert_eq!(Rpps::parse(r.as_str()), Ok(r.clone()));
        let f = Finess::from_body(&finess).expect("digits");
        prop_assert_eq!(Finess::parse(f.as_str()), Ok(f.clone()));
        for id in [r.as_str(), f.as_str()] {
            let mut bytes = id.as_bytes().to_vec();
            bytes[at] = b'0' + (bytes[at] - b'0' + delta) % 10;
            let changed = String::from_utf8(bytes).expect("ascii");
            prop_assert!(Rpps::parse(&changed).is_err() && Finess::parse(&changed).is_err());
        }
    }

    #[test]
    fn luhn_id_parsers_never_panic(s in ".{0,20}") {
        let _ = Rpps::parse(&s);
        let _ = Finess::parse(&s);
    }

    #[test]
    fn scopes_never_panic_and_round_trip(s in "[a-zA-Z/*.?=&_ -]{0,60}") {
        if let Ok(scopes) = SmartScope::parse_all(&s) {
            for scope in scopes {
                prop_assert_eq!(SmartScope::parse(&scope.to_string()), Ok(scope.clone()));
            }
        }
    }

    #[test]
    fn traits_validation_never_panics(name in ".{0,120}", given in ".{0,120}", place in prop::option::of(".{0,8}")) {
        let traits = ReferenceTraits {
            birth_name: name,
            birth_given_names: given,
            birth_date: time::macros::date!(2000 - 01 - 01),
            sex: Sex::Indeterminate,
            birthplace: place,
        };
        if let Ok(t) = traits.validated() {
            prop_assert!(!t.birth_name.is_empty() && t.birth_name.chars().count() <= ReferenceTraits::MAX_NAME);
        }
    }
}
