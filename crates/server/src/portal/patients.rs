//! How a professional's pages name a patient: a *patient handle* in the URL
//! (`/patients/{handle}`), never the INS. A handle is the INS sealed (AES-256-GCM) under a key
//! derived from the session's id, which only the browser's `HttpOnly` cookie and the server
//! know: the URL, the browser's history and the server's logs show an opaque string, and a
//! handle means nothing in another session (it fails to open and the page answers 404).
//!
//! A handle grants nothing: every page it leads to asks the service, which applies the access
//! policy and records the access, exactly as `/api` does for the same INS.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use carnet_crypto::DataKey;
use carnet_domain::Ins;

use super::session::PortalSession;

const PURPOSE: &str = "carnet portal patient handle";
const CONTEXT: &[u8] = b"patient-handle";

fn key(session: &PortalSession) -> DataKey {
    DataKey::derive(PURPOSE, session.id.as_bytes())
}

/// The handle naming `ins` in this session's URLs (a new one each call: the nonce is random).
pub fn handle(session: &PortalSession, ins: &Ins) -> String {
    handle_in_session(&session.id, ins)
}

/// `handle` for the session whose cookie carries `session_id` (for tests that walk the pages
/// with sessions they opened themselves).
pub fn handle_in_session(session_id: &str, ins: &Ins) -> String {
    let key = DataKey::derive(PURPOSE, session_id.as_bytes());
    URL_SAFE_NO_PAD.encode(carnet_crypto::seal(&key, CONTEXT, ins.as_str().as_bytes()))
}

/// The INS a handle of this session names; `None` for anything else (another session's handle,
/// a truncated or altered one, garbage).
pub fn ins_of(session: &PortalSession, handle: &str) -> Option<Ins> {
    // An INS sealed is 12 + 15 + 16 bytes: anything much longer is not a handle.
    if handle.len() > 128 {
        return None;
    }
    let sealed = URL_SAFE_NO_PAD.decode(handle).ok()?;
    let plain = carnet_crypto::open(&key(session), CONTEXT, &sealed).ok()?;
    Ins::parse(std::str::from_utf8(&plain).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn session(id: &str) -> PortalSession {
        PortalSession {
            actor: carnet_domain::Actor {
                issuer: "urn:test".into(),
                subject: "dr".into(),
                name: None,
                kind: carnet_domain::ActorKind::InsurerAgent,
                scopes: carnet_domain::Scopes::RoleOnly,
                client: None,
            },
            csrf_token: "jeton".into(),
            id: id.into(),
            record_index: 0,
            signed_in_at: time::OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn a_handle_names_its_patient_in_its_session_only_and_shows_no_ins() {
        let ins = Ins::parse("1850375123456 41").expect("a valid INS");
        let (mine, other) = (session("session-a-0123456789abcdef0123456789abcdef"), session("session-b-0123456789abcdef0123456789abcdef"));
        let h = handle(&mine, &ins);
        assert_eq!(ins_of(&mine, &h), Some(ins.clone()));
        assert_eq!(ins_of(&other, &h), None, "another session's handle opens nothing");
        assert!(!h.contains("1850375123456"), "{h}");
        assert!(h.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "URL-safe: {h}");
        assert_ne!(handle(&mine, &ins), h, "a fresh nonce each time: two links to one patient do not match");
    }

    proptest! {
        #[test]
        fn anything_that_is_not_a_handle_opens_nothing(garbage in "\\PC{0,200}") {
            prop_assert_eq!(ins_of(&session("s"), &garbage), None);
        }

        #[test]
        fn an_altered_handle_opens_nothing(at in 0usize..58, with in b'A'..=b'Z') {
            let ins = Ins::parse("1850375123456 41").expect("a valid INS");
            let s = session("session-a");
            let mut h = handle(&s, &ins).into_bytes();
            let at = at % h.len();
            prop_assume!(h[at] != with);
            h[at] = with;
            let altered = String::from_utf8(h).expect("ascii");
            prop_assert_eq!(ins_of(&s, &altered), None);
        }
    }
}
