#![no_main]
//! `Ins::parse` on arbitrary input: never panics; what it accepts re-parses to itself and has
//! a key that matches the INS rule.
use carnet_domain::Ins;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &str| {
    if let Ok(ins) = Ins::parse(data) {
        assert_eq!(ins.as_str().len(), 15);
        assert_eq!(Ins::parse(ins.as_str()).as_ref(), Ok(&ins));
        assert_eq!(Ins::from_body(&ins.as_str()[..13]).as_ref(), Ok(&ins));
    }
});
