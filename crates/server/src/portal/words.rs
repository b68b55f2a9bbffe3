//! What the pages say, in French: dates and times in Paris time, numbers, and the plain words for
//! Carnet's codes (labels, statuses, roles, what the ledger recorded and on what basis). Pages
//! show these, never a raw code.

use carnet_domain::{DocumentStatus, Role, SecurityLabel};
use time::OffsetDateTime;

const MONTHS: [&str; 12] =
    ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre"];

/// A no-break space, as French typography puts between a number and its unit or thousands.
const NBSP: char = '\u{a0}';

/// The instant as a Paris wall-clock (winter and summer time), via the bundled tz database.
fn paris(at: OffsetDateTime) -> Option<jiff::civil::DateTime> {
    let tz = jiff::tz::TimeZone::get("Europe/Paris").ok()?;
    let ts = jiff::Timestamp::from_nanosecond(at.unix_timestamp_nanos()).ok()?;
    Some(ts.to_zoned(tz).datetime())
}

/// `12 mars 2026` (Paris time); `1er` for the first of the month.
pub fn date(at: OffsetDateTime) -> String {
    match paris(at) {
        Some(d) => {
            let day = if d.day() == 1 { "1er".to_owned() } else { d.day().to_string() };
            let month = MONTHS.get(usize::try_from(d.month() - 1).unwrap_or(0)).copied().unwrap_or_default();
            format!("{day}{NBSP}{month}{NBSP}{}", d.year())
        }
        None => at.date().to_string(),
    }
}

/// `14 h 05` (Paris time).
pub fn time_of_day(at: OffsetDateTime) -> String {
    match paris(at) {
        Some(d) => format!("{}{NBSP}h{NBSP}{:02}", d.hour(), d.minute()),
        None => at.time().to_string(),
    }
}

/// `12 mars 2026 à 14 h 05` (Paris time).
pub fn date_time(at: OffsetDateTime) -> String {
    format!("{} à {}", date(at), time_of_day(at))
}

/// The first instant of the Paris calendar day `AAAA-MM-JJ` (what `<input type="date">` sends);
/// `None` for anything else.
pub fn paris_day_start(day: &str) -> Option<OffsetDateTime> {
    start_of(form_day(day)?)
}

/// A day as `<input type="date">` sends it: `AAAA-MM-JJ` exactly, a day of the calendar.
fn form_day(day: &str) -> Option<jiff::civil::Date> {
    let day = day.trim();
    if day.len() != 10 {
        return None;
    }
    day.parse().ok()
}

/// The first instant after the Paris calendar day `AAAA-MM-JJ` (an inclusive "to" day's end).
pub fn paris_day_end(day: &str) -> Option<OffsetDateTime> {
    start_of(form_day(day)?.tomorrow().ok()?)
}

fn start_of(date: jiff::civil::Date) -> Option<OffsetDateTime> {
    let tz = jiff::tz::TimeZone::get("Europe/Paris").ok()?;
    let start = date.to_zoned(tz).ok()?.start_of_day().ok()?;
    OffsetDateTime::from_unix_timestamp_nanos(start.timestamp().as_nanosecond()).ok()
}

/// `1 234` — thousands separated by a no-break space.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 * 2);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(NBSP);
        }
        out.push(c);
    }
    out
}

/// A number of things, agreed: `aucun document`, `1 document`, `12 documents`.
pub fn counted(n: u64, one: &str, many: &str, none: &str) -> String {
    match n {
        0 => none.to_owned(),
        1 => format!("1{NBSP}{one}"),
        _ => format!("{}{NBSP}{many}", count(n)),
    }
}

pub fn label(label: SecurityLabel) -> &'static str {
    match label {
        SecurityLabel::MasquePs => "Masqué aux professionnels",
        SecurityLabel::InvisiblePatient => "Pas encore visible par le patient",
        SecurityLabel::InvisibleRepresentantsLegaux => "Non visible par les représentants légaux",
    }
}

pub fn status(status: DocumentStatus) -> &'static str {
    match status {
        DocumentStatus::Current => "Version en vigueur",
        DocumentStatus::Superseded => "Remplacé par une version plus récente",
        DocumentStatus::EnteredInError => "Retiré par son auteur (erreur)",
    }
}

pub fn role(role: Role) -> &'static str {
    match role {
        Role::Patient => "Patient",
        Role::Representative => "Représentant légal",
        Role::Professional => "Professionnel de santé",
        Role::Regulator => "Médecin régulateur du SAMU (centre 15)",
        Role::System => "Logiciel d’un établissement",
        Role::InsurerAgent => "Agent de l’Assurance maladie",
        Role::PrivacyOfficer => "Délégué à la protection des données",
        Role::Operator => "Exploitant de Carnet",
    }
}

/// What an access-history entry says was done, as a verb phrase after the actor's name
/// (`Dr Martin a consulté un document`); `None` for a code the pages do not know (shown as such).
pub fn action(code: &str) -> Option<&'static str> {
    Some(match code {
        "document.read" => "a consulté un document",
        "document.retrieve" => "a ouvert le contenu d’un document",
        "document.read_derived" => "a lu le texte extrait d’un document",
        "document.search" => "a consulté la liste de vos documents",
        "document.submit" | "document.submit_set" => "a déposé un document",
        "document.replace" => "a déposé une nouvelle version d’un document",
        "document.resubmit" => "a déposé à nouveau un document déjà présent",
        "document.withdraw" => "a retiré un document déposé par erreur",
        "document.archive" => "a archivé un document",
        "document.unarchive" => "a désarchivé un document",
        "document.label" => "a changé la visibilité d’un document",
        "document.fulltext" => "a recherché des mots dans vos documents",
        "profile.read" => "a consulté votre profil médical",
        "profile.add" => "a ajouté une information à votre profil médical",
        "profile.correct" => "a corrigé une information de votre profil médical",
        "profile.entered_in_error" => "a retiré une information de votre profil médical",
        "profile.import" => "a importé des informations dans votre profil médical",
        "emergency.bris_de_glace" => "a ouvert un accès en urgence (bris de glace)",
        "emergency.samu" => "a ouvert un accès par le SAMU (centre 15)",
        "emergency.document" => "a consulté un document en urgence",
        "history.read" => "a consulté l’historique des accès",
        "policy.read" => "a consulté vos choix de confidentialité",
        "policy.authorize" => "a autorisé un professionnel",
        "policy.declare_authorization" => "a déclaré votre autorisation lors d’une consultation",
        "policy.revoke" => "a retiré une autorisation",
        "policy.block" => "a bloqué un professionnel",
        "policy.unblock" => "a débloqué un professionnel",
        "policy.set_medecin_traitant" => "a désigné le médecin traitant",
        "policy.set_bris_de_glace_opposition" => "a changé l’opposition à l’accès en urgence",
        "policy.set_samu_opposition" => "a changé l’opposition à l’accès par le SAMU",
        "policy.add_representative" => "a enregistré un représentant légal",
        "policy.end_representative" => "a mis fin à une représentation légale",
        "policy.grant_extended_rights" => "a accordé des droits étendus",
        "policy.revoke_extended_rights" => "a retiré des droits étendus",
        "policy.hide_reimbursement" => "a changé la visibilité des remboursements",
        "reimbursement.delete" => "a supprimé l’historique des remboursements",
        "notifications.read" => "a consulté les préférences de notification",
        "notifications.set" => "a changé les préférences de notification",
        "record.create" | "record.open" => "a créé le dossier",
        "record.read_status" => "a consulté l’état du dossier",
        "record.search" => "a recherché le dossier",
        "record.summary" => "a consulté la synthèse du dossier",
        "record.close" => "a fermé le dossier",
        "record.reopen" => "a rouvert le dossier",
        "record.request_destruction" => "a demandé la suppression du dossier",
        "record.export" => "a téléchargé une copie du dossier",
        "record.archive" => "a archivé le dossier (délai de conservation)",
        "record.destroy" | "record.shred" => "a supprimé le dossier (délai de conservation)",
        "apps.read" => "a consulté les applications connectées",
        "app.revoke" => "a retiré l’accès d’une application",
        "app.allow" => "a rétabli l’accès d’une application",
        "app.access" => "a tenté d’accéder au dossier par une application révoquée",
        _ => return None,
    })
}

/// On what basis an access was permitted (the ledger's reason code for a permit).
pub fn basis(code: &str) -> Option<&'static str> {
    Some(match code {
        "patient" | "holder" => "vous-même",
        "representative" => "en tant que représentant légal",
        "author" => "en tant qu’auteur du document",
        "medecin_traitant" => "en tant que médecin traitant",
        "extended_rights" => "avec des droits étendus que vous avez accordés",
        "authorization" => "avec votre autorisation",
        "bris_de_glace" | "emergency" => "en urgence (bris de glace)",
        "samu" => "par le SAMU (centre 15)",
        _ => return None,
    })
}

/// The day the instant falls on in Paris: what "the date of the act" means to a person.
pub fn day_in_paris(at: OffsetDateTime) -> time::Date {
    paris(at)
        .and_then(|d| {
            let month = time::Month::try_from(u8::try_from(d.month()).ok()?).ok()?;
            time::Date::from_calendar_date(i32::from(d.year()), month, u8::try_from(d.day()).ok()?).ok()
        })
        .unwrap_or_else(|| at.date())
}

/// `mars 2026` (Paris time): the heading of a month's documents.
pub fn month(at: OffsetDateTime) -> String {
    let day = day_in_paris(at);
    let month = MONTHS.get(usize::from(u8::from(day.month())) - 1).copied().unwrap_or_default();
    format!("{month}{NBSP}{}", day.year())
}

/// A FHIR date as precise as it was written: `2024` → `2024`, `2024-03` → `mars 2024`,
/// `2024-03-12` (with or without a time) → `12 mars 2024`. `None` for anything else.
pub fn partial_date(text: &str) -> Option<String> {
    let date = text.get(..10.min(text.len()))?;
    let mut parts = date.split('-');
    let year: u16 = parts.next().filter(|y| y.len() == 4)?.parse().ok()?;
    let Some(month) = parts.next() else { return Some(year.to_string()) };
    let month: usize = month.parse().ok().filter(|m| (1..=12).contains(m))?;
    let name = MONTHS[month - 1];
    let Some(day) = parts.next() else { return Some(format!("{name}{NBSP}{year}")) };
    let day: u8 = day.parse().ok().filter(|d| (1..=31).contains(d))?;
    let day = if day == 1 { "1er".to_owned() } else { day.to_string() };
    Some(format!("{day}{NBSP}{name}{NBSP}{year}"))
}

/// A document's size: `820 octets`, `35 ko`, `1,2 Mo`, `8 Go`.
pub fn size(bytes: u64) -> String {
    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * 1024;
    const GIB: u64 = 1024 * 1024 * 1024;
    let tenths = |unit: u64, name: &str| {
        let tenths = bytes.saturating_mul(10).div_ceil(unit);
        match tenths % 10 {
            0 => format!("{}{NBSP}{name}", count(tenths / 10)),
            t => format!("{},{t}{NBSP}{name}", count(tenths / 10)),
        }
    };
    match bytes {
        0..KIB => counted(bytes, "octet", "octets", "0 octet"),
        KIB..MIB => format!("{}{NBSP}ko", count(bytes.div_ceil(KIB))),
        MIB..GIB => tenths(MIB, "Mo"),
        _ => tenths(GIB, "Go"),
    }
}

/// What a document's MIME type is, in words.
pub fn format(mime: &str) -> &'static str {
    let essence = mime.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    match essence.as_str() {
        "application/pdf" => "PDF",
        "image/jpeg" => "Image JPEG",
        "image/png" => "Image PNG",
        "text/plain" => "Texte",
        "text/xml" | "application/xml" | "application/hl7-cda+xml" => "Document structuré (XML)",
        "application/dicom" => "Imagerie (DICOM)",
        _ => "Autre format",
    }
}

/// An archived document, in words (its status says whether it is the version in force).
pub const ARCHIVED: &str = "Archivé";

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn dates_and_times_are_french_and_in_paris_time() {
        // Winter: UTC+1.
        assert_eq!(date_time(datetime!(2026-03-12 13:05 UTC)), "12\u{a0}mars\u{a0}2026 à 14\u{a0}h\u{a0}05");
        // Summer: UTC+2, and the date follows Paris, not UTC.
        assert_eq!(date_time(datetime!(2026-07-31 22:30 UTC)), "1er\u{a0}août\u{a0}2026 à 0\u{a0}h\u{a0}30");
        // The switch to summer time (29 March 2026, 01:00 UTC).
        assert_eq!(time_of_day(datetime!(2026-03-29 00:59 UTC)), "1\u{a0}h\u{a0}59");
        assert_eq!(time_of_day(datetime!(2026-03-29 01:00 UTC)), "3\u{a0}h\u{a0}00");
        assert_eq!(date(datetime!(2026-12-31 23:30 UTC)), "1er\u{a0}janvier\u{a0}2027");
    }

    #[test]
    fn a_form_day_is_a_paris_day() {
        assert_eq!(paris_day_start("2026-03-12"), Some(datetime!(2026-03-11 23:00 UTC)));
        assert_eq!(paris_day_start("2026-07-01"), Some(datetime!(2026-06-30 22:00 UTC)));
        // The day summer time starts has 23 hours.
        assert_eq!(paris_day_end("2026-03-29"), Some(datetime!(2026-03-29 22:00 UTC)));
        assert_eq!(paris_day_end("2026-12-31"), Some(datetime!(2026-12-31 23:00 UTC)));
        for bad in ["", "12/03/2026", "2026-02-30", "2026-13-01", "demain", "2026-03-12T10:00"] {
            assert_eq!(paris_day_start(bad), None, "{bad}");
        }
    }

    #[test]
    fn counts_group_thousands_and_agree() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1_234), "1\u{a0}234");
        assert_eq!(count(12_345_678), "12\u{a0}345\u{a0}678");
        assert_eq!(counted(0, "document", "documents", "aucun document"), "aucun document");
        assert_eq!(counted(1, "document", "documents", "aucun document"), "1\u{a0}document");
        assert_eq!(counted(1_200, "document", "documents", "aucun document"), "1\u{a0}200\u{a0}documents");
    }

    #[test]
    fn partial_dates_keep_their_precision() {
        assert_eq!(partial_date("2024").as_deref(), Some("2024"));
        assert_eq!(partial_date("2024-03").as_deref(), Some("mars\u{a0}2024"));
        assert_eq!(partial_date("2024-03-01T10:00:00+01:00").as_deref(), Some("1er\u{a0}mars\u{a0}2024"));
        assert_eq!(partial_date("2024-13"), None);
        assert_eq!(partial_date("24-03-01"), None);
        assert_eq!(partial_date("é"), None);
    }

    #[test]
    fn months_sizes_and_formats_read_as_words() {
        assert_eq!(month(datetime!(2026-02-28 23:30 UTC)), "mars\u{a0}2026", "the month follows Paris");
        assert_eq!(day_in_paris(datetime!(2026-07-31 22:30 UTC)), time::macros::date!(2026 - 08 - 01));
        assert_eq!(size(1), "1\u{a0}octet");
        assert_eq!(size(820), "820\u{a0}octets");
        assert_eq!(size(35 * 1024), "35\u{a0}ko");
        assert_eq!(size(1_258_291), "1,2\u{a0}Mo");
        assert_eq!(size(8 << 30), "8\u{a0}Go");
        assert_eq!(format("application/pdf"), "PDF");
        assert_eq!(format("text/plain; charset=utf-8"), "Texte");
        assert_eq!(format("application/x-unknown"), "Autre format");
    }

    #[test]
    fn every_code_the_ledger_writes_has_words() {
        // The action codes the service records (kept in step by this list).
        for code in [
            "document.read",
            "document.retrieve",
            "document.search",
            "document.submit",
            "document.submit_set",
            "document.replace",
            "document.resubmit",
            "document.withdraw",
            "document.archive",
            "document.unarchive",
            "document.label",
            "emergency.bris_de_glace",
            "emergency.samu",
            "emergency.document",
            "history.read",
            "policy.read",
            "policy.authorize",
            "policy.revoke",
            "policy.block",
            "policy.unblock",
            "record.close",
            "record.reopen",
            "record.export",
            "app.revoke",
            "app.allow",
            "document.fulltext",
            "profile.read",
            "profile.add",
            "profile.correct",
            "profile.entered_in_error",
            "profile.import",
        ] {
            assert!(action(code).is_some(), "{code}");
        }
        for code in ["patient", "representative", "author", "medecin_traitant", "extended_rights", "authorization", "bris_de_glace", "samu"]
        {
            assert!(basis(code).is_some(), "{code}");
        }
        for l in SecurityLabel::ALL {
            assert!(!label(l).is_empty());
        }
        for r in Role::ALL {
            assert!(!role(r).is_empty());
        }
    }
}

/// What a notification of this kind (`carnet_service::NOTIFICATION_KINDS`) tells the patient.
pub fn notification_kind(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "new_document" => "quand un nouveau document est ajouté à votre dossier",
        "first_access" => "quand un professionnel consulte votre dossier pour la première fois",
        "emergency_access" => "quand quelqu’un ouvre votre dossier en urgence (bris de glace ou SAMU)",
        "policy_change" => "quand quelqu’un autorise, bloque ou débloque un professionnel, ou change votre médecin traitant",
        _ => return None,
    })
}

/// Why a legal representative represents the patient.
pub fn representation(kind: carnet_domain::policy::RepresentationKind) -> &'static str {
    match kind {
        carnet_domain::policy::RepresentationKind::Minor => "parent ou tuteur d’un mineur",
        carnet_domain::policy::RepresentationKind::ProtectedAdult => "tuteur d’un majeur protégé",
    }
}

/// What a SMART scope granted to an app lets it do, as a verb phrase (`lire vos documents`);
/// `None` for a scope that grants nothing to tell (sign-in, launch context) or one the pages do
/// not know.
pub fn scope(scope: &str) -> Option<&'static str> {
    if matches!(scope, "openid" | "fhirUser" | "profile" | "launch" | "launch/patient") {
        return None;
    }
    if scope == "offline_access" {
        return Some("rester connectée quand vous n’utilisez pas l’application");
    }
    let (_, rest) = scope.split_once('/')?;
    let (resource, permissions) = rest.split_once('.')?;
    // A granular scope (`?category=…`) narrows to some documents; said as "certains".
    let (permissions, narrowed) = match permissions.split_once('?') {
        Some((p, _)) => (p, true),
        None => (permissions, false),
    };
    // SMART v1 (`read`, `write`, `*`) or v2 (letters of `cruds`).
    let (reads, writes) = match permissions {
        "read" => (true, false),
        "write" => (false, true),
        "*" => (true, true),
        letters => (letters.contains(['r', 's']), letters.contains(['c', 'u', 'd'])),
    };
    Some(match (resource, reads, writes, narrowed) {
        ("*", true, true, _) => "lire tout votre dossier et y ajouter des documents",
        ("*", true, false, _) => "lire tout votre dossier",
        ("*", false, true, _) => "ajouter des documents à votre dossier",
        ("DocumentReference" | "Binary" | "List", true, true, _) => "lire vos documents et en ajouter",
        ("DocumentReference" | "Binary" | "List", true, false, true) => "lire certains de vos documents",
        ("DocumentReference" | "Binary" | "List", true, false, false) => "lire vos documents",
        ("DocumentReference" | "Binary" | "List", false, true, _) => "ajouter des documents à votre dossier",
        ("Patient", true, false, _) => "lire votre identité et l’état de votre dossier",
        ("Patient", _, true, _) => "modifier l’état de votre dossier",
        ("Consent", true, false, _) => "lire vos choix de qui peut voir votre dossier",
        ("Consent", _, true, _) => "modifier vos choix de qui peut voir votre dossier",
        ("AuditEvent", _, _, _) => "lire l’historique des accès à votre dossier",
        ("Practitioner", _, _, _) => "consulter l’annuaire des professionnels",
        _ => return None,
    })
}

#[cfg(test)]
mod access_words {
    use super::*;

    #[test]
    fn every_notification_kind_has_words() {
        for kind in carnet_service::NOTIFICATION_KINDS {
            assert!(notification_kind(kind).is_some(), "{kind}");
        }
    }

    #[test]
    fn scopes_read_as_what_the_app_may_do() {
        assert_eq!(scope("patient/DocumentReference.rs"), Some("lire vos documents"));
        assert_eq!(scope("patient/DocumentReference.read"), Some("lire vos documents"));
        assert_eq!(scope("patient/DocumentReference.rs?category=11"), Some("lire certains de vos documents"));
        assert_eq!(scope("patient/DocumentReference.c"), Some("ajouter des documents à votre dossier"));
        assert_eq!(scope("patient/*.rs"), Some("lire tout votre dossier"));
        assert_eq!(scope("patient/Patient.r"), Some("lire votre identité et l’état de votre dossier"));
        assert_eq!(scope("patient/AuditEvent.s"), Some("lire l’historique des accès à votre dossier"));
        assert_eq!(scope("launch/patient"), None, "a launch context grants nothing to tell");
        assert_eq!(scope("openid"), None);
        assert_eq!(scope("patient/Observation.rs"), None, "unknown to the pages: not shown as a code");
        assert_eq!(scope("n’importe quoi"), None);
    }
}

/// A medical specialty (TRE_R38) in words, for the few the pages name; `None` for the others
/// (not shown rather than shown as a code).
pub fn specialty(code: &str) -> Option<&'static str> {
    Some(match code {
        "SM54" => "médecine générale",
        "SM53" => "spécialiste en médecine générale",
        _ => return None,
    })
}

/// A record's status, as a professional reads it on the record page.
pub fn record_status(status: carnet_domain::RecordStatus) -> &'static str {
    match status {
        carnet_domain::RecordStatus::Active => "Ouvert",
        carnet_domain::RecordStatus::Closed => "Fermé par le patient",
        carnet_domain::RecordStatus::Archived => "Archivé",
        carnet_domain::RecordStatus::Destroyed => "Supprimé",
    }
}

/// How sure the identity is (the INS identity status).
pub fn identity_status(status: carnet_domain::IdentityStatus) -> &'static str {
    match status {
        carnet_domain::IdentityStatus::Provisoire => "Provisoire",
        carnet_domain::IdentityStatus::Recuperee => "Récupérée (non vérifiée sur pièce d’identité)",
        carnet_domain::IdentityStatus::Validee => "Validée (vérifiée sur pièce d’identité)",
        carnet_domain::IdentityStatus::Qualifiee => "Qualifiée (vérifiée et confirmée par le téléservice INSi)",
    }
}

/// What the actor of an entry did, told to them (*Mon activité*: `avez consulté un document`,
/// after *Vous*): the access history's phrase, with the patient in the third person where the
/// history says *vos* or *votre* to them.
pub fn own_action(code: &str) -> Option<String> {
    let phrase = match code {
        "document.search" => "a consulté la liste des documents",
        "document.fulltext" => "a recherché des mots dans les documents",
        "profile.read" => "a consulté le profil médical",
        "profile.add" => "a ajouté une information au profil médical",
        "profile.correct" => "a corrigé une information du profil médical",
        "profile.entered_in_error" => "a retiré une information du profil médical",
        "policy.read" => "a consulté les choix de confidentialité du patient",
        "policy.declare_authorization" => "a déclaré l’autorisation du patient lors d’une consultation",
        "policy.set_bris_de_glace_opposition" => "a changé l’opposition du patient à l’accès en urgence",
        "policy.set_samu_opposition" => "a changé l’opposition du patient à l’accès par le SAMU",
        "reimbursement.delete" => "a supprimé l’historique des remboursements",
        other => action(other)?,
    };
    Some(phrase.strip_prefix("a ").map_or_else(|| phrase.to_owned(), |rest| format!("avez {rest}")))
}

/// On what basis the actor of an entry was let in, told to them (the patient in the third person).
pub fn own_basis(code: &str) -> Option<&'static str> {
    Some(match code {
        "patient" | "holder" => "en tant que patient",
        "representative" => "en tant que représentant légal",
        "author" => "en tant qu’auteur du document",
        "medecin_traitant" => "en tant que médecin traitant",
        "extended_rights" => "avec des droits étendus accordés par le patient",
        "authorization" => "avec l’autorisation du patient",
        "bris_de_glace" | "emergency" => "en urgence (bris de glace)",
        "samu" => "par le SAMU (centre 15)",
        _ => return None,
    })
}

/// An emergency access's kind, as the pages name it.
pub fn emergency_kind(kind: carnet_domain::EmergencyKind) -> &'static str {
    match kind {
        carnet_domain::EmergencyKind::BrisDeGlace => "Accès en urgence (bris de glace)",
        carnet_domain::EmergencyKind::Samu => "Accès par le médecin régulateur du SAMU (centre 15)",
    }
}

#[cfg(test)]
mod own_words {
    use super::*;

    #[test]
    fn an_actor_reads_their_own_entries_addressed_to_them_without_a_raw_code() {
        assert_eq!(own_action("document.read").as_deref(), Some("avez consulté un document"));
        assert_eq!(own_action("document.search").as_deref(), Some("avez consulté la liste des documents"));
        assert_eq!(own_action("emergency.bris_de_glace").as_deref(), Some("avez ouvert un accès en urgence (bris de glace)"));
        assert_eq!(own_action("inconnu.code"), None);
        for code in ["patient", "representative", "author", "medecin_traitant", "extended_rights", "authorization", "bris_de_glace", "samu"]
        {
            let basis = own_basis(code).unwrap_or_default();
            assert!(!basis.is_empty() && !basis.contains("votre"), "{code}: {basis}");
        }
    }
}
