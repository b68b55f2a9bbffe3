//! Property tests of the parsers of outside input: INS, RPPS, FINESS, SMART scopes, identity
//! traits, document ids. Valid values round-trip; the errors a check digit can catch are caught (computed here,
//! not assumed); nothing panics, whatever the input, multi-byte characters included. Where it is
//! short, the expected verdict is recomputed here independently of the domain code.

use carnet_domain::identity::{ReferenceTraits, TraitsError};
use carnet_domain::scope::{Permissions, R4_RESOURCE_TYPES, ScopeContext};
use carnet_domain::{DocumentId, Finess, IdError, Ins, InsError, Rpps, ScopeError, Sex, SmartScope};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------
// INS (NIR / NIA): 13 characters + key = 97 − (number mod 97), 2A/2B counting as 19/18.

/// 13-character INS bodies: digits, with Corsica's 2A/2B as department sometimes.
fn ins_body() -> impl Strategy<Value = String> {
    (prop::collection::vec(0u8..10, 13), prop::option::of(any::<bool>())).prop_map(|(digits, corsica)| {
        let mut s: String = digits.iter().map(|d| char::from(b'0' + d)).collect();
        if let Some(a) = corsica {
            s.replace_range(5..7, if a { "2A" } else { "2B" });
        }
        s
    })
}

fn valid_ins() -> impl Strategy<Value = Ins> {
    ins_body().prop_map(|b| Ins::from_body(&b).expect("a valid body"))
}

/// The key, computed apart from the domain's code.
fn nir_key(body: &str) -> u8 {
    let digits = match &body[5..7] {
        "2A" => format!("{}19{}", &body[..5], &body[7..]),
        "2B" => format!("{}18{}", &body[..5], &body[7..]),
        _ => body.to_owned(),
    };
    let n: u128 = digits.parse().expect("13 digits");
    (97 - n % 97) as u8
}

/// Characters that stress the parser: separators, Corsica letters, look-alike and multi-byte
/// digits, combining marks, emoji, and anything at all.
fn tricky_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => prop::sample::select(vec![
            '0', '2', '9', 'A', 'B', 'a', 'b', 'C', ' ', '.', '-', '+', '\t', '\n',
            'é', '\u{a0}', '\u{202f}', '\u{ff12}', '\u{0662}', '\u{301}', '\u{1f600}', '\u{10ffff}',
        ]),
        1 => any::<char>(),
    ]
}

#[derive(Debug, Clone)]
enum Edit {
    Insert(usize, char),
    Replace(usize, char),
    Delete(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (0usize..20, tricky_char()).prop_map(|(i, c)| Edit::Insert(i, c)),
        (0usize..20, tricky_char()).prop_map(|(i, c)| Edit::Replace(i, c)),
        (0usize..20).prop_map(Edit::Delete),
    ]
}

/// Applies edits by character position (never splitting a multi-byte character).
fn apply(s: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    for e in edits {
        match *e {
            Edit::Insert(i, c) => chars.insert(i.min(chars.len()), c),
            Edit::Replace(i, c) if i < chars.len() => chars[i] = c,
            Edit::Delete(i) if i < chars.len() => {
                chars.remove(i);
            }
            _ => {}
        }
    }
    chars.into_iter().collect()
}

/// 15 ASCII digits, but for 2A/2B at positions 5–6.
fn is_ins_shaped(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 15 && b.iter().enumerate().all(|(i, c)| c.is_ascii_digit() || (i == 6 && b[5] == b'2' && matches!(c, b'A' | b'B')))
}

/// What `Ins::parse` must do with any input: accept exactly the input less spaces and dots,
/// ASCII-upper-cased, when that is 15 characters with a matching key; never panic.
fn check_ins_parse(input: &str) -> Result<(), TestCaseError> {
    let compact: String = input.chars().filter(|c| !matches!(c, ' ' | '.')).collect::<String>().to_ascii_uppercase();
    match Ins::parse(input) {
        Ok(ins) => {
            let s = ins.as_str();
            prop_assert_eq!(s, compact.as_str());
            prop_assert!(is_ins_shaped(s), "{:?} accepted as {:?}", input, s);
            prop_assert_eq!(s[13..].parse::<u8>().ok(), Some(nir_key(&s[..13])));
            prop_assert_eq!(Ins::parse(s), Ok(ins.clone()));
            prop_assert_eq!(Ins::from_body(&s[..13]), Ok(ins));
        }
        Err(InsError::Length { found }) => prop_assert_eq!(found, compact.chars().count()),
        Err(InsError::Character { position, found }) => {
            prop_assert_eq!(compact.chars().nth(position), Some(found));
        }
        Err(InsError::Key { expected, found }) => {
            prop_assert_eq!(expected, nir_key(&compact[..13]));
            prop_assert_ne!(expected, found);
        }
    }
    Ok(())
}

/// A key is two digits, not a number: `+7` must not pass for `07` (`"+7".parse::<u8>()` is 7).
#[test]
fn ins_key_is_two_digits() {
    let bodies = (1_000_000_000_000u64..).map(|n| n.to_string());
    for body in bodies.filter(|b| nir_key(b) < 10).take(20) {
        let key = nir_key(&body);
        assert!(Ins::parse(&format!("{body}0{key}")).is_ok());
        for bad in [format!("{body}+{key}"), format!("{body}{key}"), format!("{body}0{key}\u{301}")] {
            assert!(Ins::parse(&bad).is_err(), "{bad} accepted");
        }
    }
}

/// Why mod 97 catches every single-digit change and every adjacent transposition, checked
/// exhaustively rather than assumed (the property tests below then check the parser does it).
#[test]
fn mod97_arithmetic_catches_single_digit_changes_and_transpositions() {
    // Changing digit k (from the right) of the 13-digit number by d shifts it by d·10^k.
    // Swapping digits a ≠ b at weights 10^(k+1), 10^k shifts it by 9·(a−b)·10^k.
    for k in 0..13u32 {
        for d in 1..=9u128 {
            assert_ne!(d * 10u128.pow(k) % 97, 0, "a change of {d} at 10^{k} goes unseen");
            assert_ne!(9 * d * 10u128.pow(k) % 97, 0, "a swap of digits {d} apart at 10^{k} goes unseen");
        }
    }
    // Across the body/key boundary: the body's last digit a and the key's tens digit b swap.
    // For every residue r of the number (key 97 − r), the new key must differ from the new
    // expected key.
    for r in 0..97u32 {
        let key = 97 - r;
        let (b, units) = (key / 10, key % 10);
        for a in (0..10u32).filter(|&a| a != b) {
            let new_residue = (r + 97 + b - a) % 97;
            let new_expected = 97 - new_residue;
            let new_key = a * 10 + units;
            assert_ne!(new_key, new_expected, "swap across the key boundary unseen (r={r}, a={a})");
        }
    }
}

proptest! {
    #[test]
    fn ins_round_trips(
        body in ins_body(),
        lower in any::<bool>(),
        seps in prop::collection::vec((0usize..16, prop::sample::select(vec![' ', '.'])), 0..6),
    ) {
        let ins = Ins::from_body(&body).expect("a valid body");
        prop_assert_eq!(&ins.as_str()[..13], body.as_str());
        prop_assert_eq!(ins.as_str()[13..].parse::<u8>().ok(), Some(nir_key(&body)));
        prop_assert_eq!(Ins::parse(ins.as_str()), Ok(ins.clone()));
        prop_assert_eq!(ins.as_str().parse::<Ins>(), Ok(ins.clone()));
        // As people write it: separators anywhere, any case.
        let mut written = if lower { ins.as_str().to_lowercase() } else { ins.to_string() };
        for (at, sep) in seps {
            written.insert(at.min(written.len()), sep);
        }
        prop_assert_eq!(Ins::parse(&written), Ok(ins.clone()));
        // Serde goes through the same parser.
        let json = serde_json::to_string(&ins).expect("serialises");
        prop_assert_eq!(serde_json::from_str::<Ins>(&json).ok(), Some(ins));
    }

    #[test]
    fn ins_catches_every_single_digit_change(ins in valid_ins()) {
        let s = ins.as_str();
        let corsica = matches!(&s[5..7], "2A" | "2B");
        for (at, old) in s.bytes().enumerate().filter(|(_, b)| b.is_ascii_digit()) {
            for new in (b'0'..=b'9').filter(|&d| d != old) {
                let mut bytes = s.as_bytes().to_vec();
                bytes[at] = new;
                let changed = String::from_utf8(bytes).expect("ascii");
                match Ins::parse(&changed) {
                    Err(InsError::Key { .. }) => {}
                    // 2A → xA: the letter is only allowed after a 2.
                    Err(InsError::Character { position: 6, .. }) if corsica && at == 5 => {}
                    other => prop_assert!(false, "{} → {}: {:?}", s, changed, other),
                }
            }
        }
        if corsica {
            // 2A ↔ 2B is a change of the number by 1·10^6: caught too.
            let flipped = format!("{}{}{}", &s[..6], if &s[6..7] == "A" { "B" } else { "A" }, &s[7..]);
            prop_assert!(matches!(Ins::parse(&flipped), Err(InsError::Key { .. })), "{} accepted", flipped);
        }
    }

    #[test]
    fn ins_catches_every_adjacent_transposition(ins in valid_ins()) {
        let s = ins.as_str().as_bytes();
        for at in (0..14).filter(|&i| s[i] != s[i + 1]) {
            let mut bytes = s.to_vec();
            bytes.swap(at, at + 1);
            let swapped = String::from_utf8(bytes).expect("ascii");
            prop_assert!(Ins::parse(&swapped).is_err(), "{} → {} accepted", ins, swapped);
        }
    }

    #[test]
    fn ins_parse_never_panics_on_any_string(s in any::<String>()) {
        check_ins_parse(&s)?;
    }

    #[test]
    fn ins_parse_never_panics_near_valid_inputs(ins in valid_ins(), edits in prop::collection::vec(edit(), 1..4)) {
        // Edits of a valid INS reach the deep checks (length 15, key) with multi-byte characters.
        check_ins_parse(&apply(ins.as_str(), &edits))?;
    }

    #[test]
    fn ins_parse_never_panics_on_tricky_15_char_strings(chars in prop::collection::vec(tricky_char(), 13..18)) {
        check_ins_parse(&chars.into_iter().collect::<String>())?;
    }

    #[test]
    fn ins_from_body_never_panics(body in prop_oneof![any::<String>(), prop::collection::vec(tricky_char(), 13).prop_map(|c| c.into_iter().collect())]) {
        if let Ok(ins) = Ins::from_body(&body) {
            prop_assert_eq!(ins.as_str()[..13].to_owned(), body.to_ascii_uppercase());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// RPPS (11 digits) and FINESS (9 digits): Luhn check digit.

/// Luhn, written apart from the domain's.
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

fn luhn_id_input() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        prop::collection::vec(tricky_char(), 7..13).prop_map(|c| c.into_iter().collect()),
        "[0-9]{9}|[0-9]{11}",
        "[ \t]?[0-9]{11}[ \t\n]?",
    ]
}

fn check_luhn_parse<T: std::fmt::Debug + PartialEq>(
    input: &str,
    len: usize,
    parsed: Result<T, IdError>,
    as_str: impl Fn(&T) -> &str,
    reparse: impl Fn(&str) -> Result<T, IdError>,
) -> Result<(), TestCaseError> {
    let s = input.trim();
    let expected_ok = s.len() == len && s.bytes().all(|b| b.is_ascii_digit()) && luhn_ok(s);
    prop_assert_eq!(parsed.is_ok(), expected_ok, "{:?}: {:?}", input, parsed);
    if let Ok(id) = parsed {
        prop_assert_eq!(as_str(&id), s);
        prop_assert_eq!(reparse(s), Ok(id));
    }
    Ok(())
}

proptest! {
    #[test]
    fn luhn_ids_round_trip(rpps in "[0-9]{10}", finess in "[0-9]{8}") {
        let r = Rpps::from_body(&rpps).expect("digits");
        prop_assert_eq!(&r.as_str()[..10], rpps.as_str());
        prop_assert!(luhn_ok(r.as_str()));
        prop_assert_eq!(Rpps::parse(r.as_str()), Ok(r.clone()));
        prop_assert_eq!(Rpps::parse(&format!(" {r}\n")), Ok(r));
        let f = Finess::from_body(&finess).expect("digits");
        prop_assert_eq!(&f.as_str()[..8], finess.as_str());
        prop_assert!(luhn_ok(f.as_str()));
        prop_assert_eq!(Finess::parse(f.as_str()), Ok(f));
    }

    #[test]
    fn luhn_ids_catch_every_single_digit_change(rpps in "[0-9]{10}", finess in "[0-9]{8}") {
        let r = Rpps::from_body(&rpps).expect("digits").to_string();
        let f = Finess::from_body(&finess).expect("digits").to_string();
        for (id, parse) in [(&r, (|s: &str| Rpps::parse(s).is_ok()) as fn(&str) -> bool), (&f, |s| Finess::parse(s).is_ok())] {
            for at in 0..id.len() {
                for new in (b'0'..=b'9').filter(|&d| d != id.as_bytes()[at]) {
                    let mut bytes = id.as_bytes().to_vec();
                    bytes[at] = new;
                    let changed = String::from_utf8(bytes).expect("ascii");
                    prop_assert!(!parse(&changed), "{} → {} accepted", id, changed);
                }
            }
        }
    }

    #[test]
    fn luhn_ids_catch_transpositions_but_09(rpps in "[0-9]{10}", finess in "[0-9]{8}") {
        // Luhn's one known blind spot among adjacent transpositions is 09 ↔ 90: verify it is the
        // only one, and that the parsers really are Luhn there too.
        let r = Rpps::from_body(&rpps).expect("digits").to_string();
        let f = Finess::from_body(&finess).expect("digits").to_string();
        for (id, parse) in [(&r, (|s: &str| Rpps::parse(s).is_ok()) as fn(&str) -> bool), (&f, |s| Finess::parse(s).is_ok())] {
            let b = id.as_bytes();
            for at in (0..id.len() - 1).filter(|&i| b[i] != b[i + 1]) {
                let mut bytes = b.to_vec();
                bytes.swap(at, at + 1);
                let swapped = String::from_utf8(bytes).expect("ascii");
                let blind_spot = matches!((b[at], b[at + 1]), (b'0', b'9') | (b'9', b'0'));
                prop_assert_eq!(parse(&swapped), blind_spot, "{} → {}", id, swapped);
            }
        }
    }

    #[test]
    fn luhn_id_parsers_never_panic(s in luhn_id_input()) {
        check_luhn_parse(&s, Rpps::LEN, Rpps::parse(&s), Rpps::as_str, Rpps::parse)?;
        check_luhn_parse(&s, Finess::LEN, Finess::parse(&s), Finess::as_str, Finess::parse)?;
        if let Ok(r) = Rpps::from_body(&s) {
            prop_assert_eq!(&r.as_str()[..10], s.as_str());
        }
        if let Ok(f) = Finess::from_body(&s) {
            prop_assert_eq!(&f.as_str()[..8], s.as_str());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// SMART scopes.

/// A scope's parts (context, resource, permissions, query), mostly well formed, sometimes not.
fn scope_parts() -> impl Strategy<Value = (String, String, String, Option<String>)> {
    (
        prop_oneof![
            3 => prop::sample::select(vec!["patient", "user", "system"]),
            1 => prop::sample::select(vec!["launch", "admin", "Patient", ""]),
        ],
        prop_oneof![
            3 => prop::sample::select(vec!["*", "Observation", "DocumentReference", "Binary", "Obs1"]).prop_map(str::to_owned),
            1 => prop::sample::select(vec!["observation", "", "Ré", "1Obs", "**"]).prop_map(str::to_owned),
            1 => "[A-Za-z0-9_*-]{0,8}",
        ],
        permission_text(),
        prop::option::of("\\S{0,12}"),
    )
        .prop_map(|(ctx, res, perms, query)| (ctx.to_owned(), res, perms, query))
}

/// Permission strings: v1 words, v2 letters in order, out of order or repeated, anything short.
fn permission_text() -> BoxedStrategy<String> {
    prop_oneof!["read", "write", "\\*", "c?r?u?d?s?", "[cruds]{1,6}", "[a-z*]{0,4}"].boxed()
}

/// The permissions a permission string stands for, from SMART v2 (letters c, r, u, d, s in that
/// order) and v1 (read, write, *).
fn expected_permissions(p: &str) -> Option<Permissions> {
    let none = Permissions::default();
    match p {
        "read" => return Some(Permissions { read: true, search: true, ..none }),
        "write" => return Some(Permissions { create: true, update: true, delete: true, ..none }),
        "*" => return Some(Permissions::ALL),
        _ => {}
    }
    let ranks: Option<Vec<usize>> = p.chars().map(|c| "cruds".find(c)).collect();
    let ranks = ranks.filter(|r| !r.is_empty() && r.windows(2).all(|w| w[0] < w[1]))?;
    let has = |i| ranks.contains(&i);
    Some(Permissions { create: has(0), read: has(1), update: has(2), delete: has(3), search: has(4) })
}

fn expected_scope(ctx: &str, res: &str, perms: &str, query: Option<&str>) -> Result<SmartScope, ScopeError> {
    let text = format!("{ctx}/{res}.{perms}{}", query.map(|q| format!("?{q}")).unwrap_or_default());
    let context = match ctx {
        "patient" => ScopeContext::Patient,
        "user" => ScopeContext::User,
        "system" => ScopeContext::System,
        "launch" => return Ok(SmartScope::Other(text)),
        _ => return Err(ScopeError::Context(text)),
    };
    let resource = match res {
        "*" => None,
        r if r.starts_with(|c: char| c.is_ascii_uppercase()) && r.chars().all(|c| c.is_ascii_alphanumeric()) => {
            // Shaped like a resource name: it must also be one FHIR R4 defines.
            if !R4_RESOURCE_TYPES.contains(&r) {
                return Err(ScopeError::UnknownResource(text));
            }
            Some(r.to_owned())
        }
        _ => return Err(ScopeError::Resource(text)),
    };
    let permissions = expected_permissions(perms).ok_or(ScopeError::Permissions(text))?;
    Ok(SmartScope::Resource { context, resource, permissions, query: query.map(str::to_owned) })
}

fn check_scope_round_trip(scope: &SmartScope) -> Result<(), TestCaseError> {
    let printed = scope.to_string();
    let again = SmartScope::parse(&printed);
    prop_assert_eq!(again.as_ref(), Ok(scope), "{:?} printed as {:?}", scope, printed);
    // Printing is canonical: v1 forms print as their v2 letters, and stay so.
    prop_assert_eq!(again.expect("parsed").to_string(), printed);
    Ok(())
}

proptest! {
    #[test]
    fn scopes_follow_the_smart_grammar((ctx, res, perms, query) in scope_parts()) {
        // Resources with '.', '?' or '/' would make the text ambiguous: the generator avoids them.
        let text = format!("{ctx}/{res}.{perms}{}", query.as_deref().map(|q| format!("?{q}")).unwrap_or_default());
        let parsed = SmartScope::parse(&text);
        prop_assert_eq!(&parsed, &expected_scope(&ctx, &res, &perms, query.as_deref()), "{}", text);
        if let Ok(scope) = parsed {
            check_scope_round_trip(&scope)?;
        }
    }

    #[test]
    fn scope_permissions_are_cruds_in_order_or_v1_words(perms in permission_text()) {
        let parsed = SmartScope::parse(&format!("user/Observation.{perms}"));
        let expected = expected_permissions(&perms);
        match (&parsed, expected) {
            (Ok(SmartScope::Resource { permissions, .. }), Some(e)) => prop_assert_eq!(*permissions, e),
            (Err(ScopeError::Permissions(_)), None) => {}
            _ => prop_assert!(false, "{:?}: {:?}, expected {:?}", perms, parsed, expected),
        }
    }

    #[test]
    fn scope_claims_parse_scope_by_scope(
        parts in prop::collection::vec(scope_parts(), 0..5),
        seps in prop::collection::vec(prop::sample::select(vec![" ", "  ", "\t", "\n", " \u{3000}"]), 5),
    ) {
        let scopes: Vec<String> = parts
            .iter()
            .map(|(c, r, p, q)| format!("{c}/{r}.{p}{}", q.as_deref().map(|q| format!("?{q}")).unwrap_or_default()))
            .collect();
        let claim = scopes.iter().zip(&seps).map(|(s, sep)| format!("{s}{sep}")).collect::<String>();
        let each: Result<Vec<SmartScope>, ScopeError> = scopes.iter().map(|s| SmartScope::parse(s)).collect();
        prop_assert_eq!(SmartScope::parse_all(&claim), each);
    }

    #[test]
    fn scope_parsers_never_panic(s in prop_oneof![any::<String>(), "[a-zA-Z/*.?=&_ \u{e9}\u{3000}-]{0,60}"]) {
        let _ = SmartScope::parse(&s);
        if let Ok(scopes) = SmartScope::parse_all(&s) {
            for scope in &scopes {
                check_scope_round_trip(scope)?;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// INS reference traits.

/// The verdict `validated` must give, written apart from it.
fn expected_traits(t: &ReferenceTraits) -> Result<ReferenceTraits, TraitsError> {
    let name = t.birth_name.trim().to_owned();
    let given = t.birth_given_names.split_whitespace().collect::<Vec<_>>().join(" ");
    for (field, value) in [("birth_name", &name), ("birth_given_names", &given)] {
        if value.is_empty() {
            return Err(TraitsError::Empty { field });
        }
        if value.chars().count() > ReferenceTraits::MAX_NAME {
            return Err(TraitsError::TooLong { field, max: ReferenceTraits::MAX_NAME });
        }
        let mut chars = value.chars().enumerate();
        if let Some((position, _)) = chars.find(|(_, c)| c.is_control()) {
            return Err(TraitsError::Control { field, position });
        }
    }
    if let Some(place) = &t.birthplace {
        let c: Vec<char> = place.chars().collect();
        let ok =
            c.len() == 5 && c.iter().enumerate().all(|(i, &ch)| ch.is_ascii_digit() || (i == 1 && c[0] == '2' && matches!(ch, 'A' | 'B')));
        if !ok {
            return Err(TraitsError::Birthplace(place.clone()));
        }
    }
    Ok(ReferenceTraits { birth_name: name, birth_given_names: given, ..t.clone() })
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[ \t]{0,2}[A-Za-zÀ-ÿ' -]{0,110}[ \n]{0,2}", "\\PC{95,105}", "[A-Z]{1,5}[\x00-\x1f\x7f][A-Z]{1,5}"]
}

proptest! {
    #[test]
    fn traits_validation_follows_its_rules_and_never_panics(
        birth_name in name(),
        birth_given_names in name(),
        birthplace in prop::option::of(prop_oneof!["[0-9]{5}", "[0-9][0-9AB][0-9]{3}", "[0-9AB2é ]{4,6}", any::<String>()]),
    ) {
        let traits = ReferenceTraits {
            birth_name,
            birth_given_names,
            birth_date: time::macros::date!(2000 - 01 - 01),
            sex: Sex::Indeterminate,
            birthplace,
        };
        prop_assert_eq!(traits.clone().validated(), expected_traits(&traits));
    }
}

// ---------------------------------------------------------------------------------------------
// Document ids: a UUID in the one spelling Carnet writes (lower case, 8-4-4-4-12). Any other
// spelling of the same bytes would be a second URL, cache key and ledger target for one document.

const AN_ID: &str = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";

#[test]
fn document_ids_have_one_spelling() {
    assert_eq!(DocumentId::parse(AN_ID).map(|id| id.to_string()), Ok(AN_ID.to_owned()));
    let second_spellings = [
        // `u8::from_str_radix` read `+f` as `0f`.
        "+f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
        "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1+0",
        "0f1e2d3c-+b5a-6978-8796-a5b4c3d2e1f0",
        // Upper case, whole or in part.
        "0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0",
        "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1F0",
        // Other layouts of the same 32 digits.
        "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
        "0f1e2d3c-4b5a6978-8796-a5b4-c3d2e1f0",
        "0f1e2d3c4b5a-6978-8796-a5b4-c3d2e1f0",
        "{0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0}",
        "urn:uuid:0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
        " 0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
        "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0\n",
        "0f1e2d3c-4b5a-6978-8796--a5b4c3d2e1f0",
        "-0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
    ];
    for bad in second_spellings {
        assert!(DocumentId::parse(bad).is_err(), "{bad:?} was read as a document id");
    }
}

proptest! {
    /// Whatever `DocumentId::parse` accepts is exactly what the id writes: one text per id.
    #[test]
    fn document_id_parse_accepts_only_the_canonical_spelling(text in prop_oneof![
        any::<String>(),
        "[0-9a-fA-F+-]{8}-[0-9a-fA-F+-]{4}-[0-9a-fA-F+-]{4}-[0-9a-fA-F+-]{4}-[0-9a-fA-F+-]{12}",
        "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        any::<[u8; 16]>().prop_map(|b| DocumentId::from_bytes(b).to_string()),
    ]) {
        if let Ok(id) = DocumentId::parse(&text) {
            prop_assert_eq!(id.to_string(), text);
        }
    }

    /// A canonical id with one character changed is refused, or is another id's canonical text.
    #[test]
    fn document_id_edits_never_make_a_second_spelling(bytes in any::<[u8; 16]>(), at in 0usize..36, c in prop_oneof![Just('+'), Just('-'), Just('A'), Just('F'), Just(' '), Just('g'), any::<char>()]) {
        let text = DocumentId::from_bytes(bytes).to_string();
        let edited: String = text.chars().enumerate().map(|(i, ch)| if i == at { c } else { ch }).collect();
        match DocumentId::parse(&edited) {
            Ok(id) => prop_assert_eq!(id.to_string(), edited),
            Err(_) => prop_assert_ne!(edited, text),
        }
    }
}
