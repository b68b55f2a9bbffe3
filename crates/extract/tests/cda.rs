//! The structured CDA R2 reader on documents written after the CI-SIS volets' structure, and on
//! hostile ones: each refusal names the element, and nothing hostile is read past its limits.

#![allow(clippy::unwrap_used)]

use carnet_extract::cda::{Body, CdaError, CdaLimits, CdaRefusal, ClinicalDocument, Entry, EntryKind, Value, Volet, read_cda};
use carnet_extract::xml::XmlRefusal;
use proptest::prelude::*;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/cda/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn read(name: &str) -> ClinicalDocument {
    read_cda(&fixture(name), &CdaLimits::default()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn entries(doc: &ClinicalDocument) -> &[Entry] {
    match &doc.body {
        Body::Structured { entries, .. } => entries,
        Body::NonXml { .. } => panic!("level 1"),
    }
}

fn refused(bytes: &[u8], limits: &CdaLimits) -> CdaError {
    read_cda(bytes, limits).unwrap_err()
}

fn code_of(e: &Entry) -> (&str, &str) {
    let c = e.code.as_ref().unwrap();
    (c.system.as_deref().unwrap(), c.code.as_deref().unwrap())
}

#[test]
fn the_header_gives_patient_author_type_confidentiality_and_version() {
    let doc = read("vsm.xml");
    let h = &doc.header;
    let (kind, ins) = h.ins.as_ref().unwrap();
    assert_eq!((kind.oid(), ins.as_str()), ("1.2.250.1.213.1.4.8", "184057512345625"));
    assert_eq!(h.patient_ids.len(), 2, "the local IPP is kept beside the INS");
    assert_eq!(h.authors.len(), 1);
    assert_eq!(h.authors[0].rpps.as_ref().unwrap().as_str(), "10001234565", "the extension is 8 + RPPS");
    assert_eq!(h.code.code.as_deref(), Some("60591-5"));
    assert_eq!(h.confidentiality.code.as_deref(), Some("N"));
    assert_eq!(h.effective_time.as_str(), "20261130101500+0100");
    assert_eq!(h.set_id.as_ref().unwrap().extension.as_deref(), Some("SET-60591-5-0001"));
    assert_eq!(h.version, Some(1));
    assert_eq!(h.title.as_deref(), Some("Synthèse médicale"));
    assert!(h.parent.is_none());
}

#[test]
fn a_vsm_gives_its_problems_allergies_treatments_vaccinations_and_vital_signs() {
    let doc = read("vsm.xml");
    assert!(matches!(doc.body, Body::Structured { volet: Volet::Vsm, .. }));
    let entries = entries(&doc);
    let kinds: Vec<EntryKind> = entries.iter().map(|e| e.kind).collect();
    use EntryKind::*;
    assert_eq!(
        kinds,
        [
            Condition,
            Condition,
            Condition,
            Allergy,
            Allergy,
            Medication,
            Medication,
            Immunization,
            VitalSign,
            VitalSign,
            VitalSign,
            VitalSign
        ]
    );
    // A problem's code is the observation's value; its text the narrative it references.
    let diabetes = &entries[0];
    assert_eq!(code_of(diabetes), ("2.16.840.1.113883.6.3", "E11"));
    assert_eq!(diabetes.text.as_deref(), Some("Diabète de type 2"));
    assert_eq!(diabetes.from.as_ref().unwrap().as_str(), "20150301");
    assert_eq!(diabetes.path, "/ClinicalDocument/component/structuredBody/component[1]/section/entry[1]/act/entryRelationship/observation");
    assert_eq!(entries[2].to.as_ref().unwrap().as_str(), "1998");
    // An allergy's code is the allergen.
    assert_eq!(code_of(&entries[3]), ("2.16.840.1.113883.6.73", "J01CE01"));
    assert_eq!(entries[3].text.as_deref(), Some("Allergie à la pénicilline (urticaire)"));
    // An unknown code system is kept, code and text.
    let lactose = &entries[4];
    assert_eq!(code_of(lactose), ("1.2.250.1.999.77", "LACT-01"));
    assert_eq!(lactose.code.as_ref().unwrap().system_uri().as_deref(), Some("urn:oid:1.2.250.1.999.77"));
    assert_eq!(lactose.text.as_deref(), Some("Intolérance au lactose"));
    let metformin = &entries[5];
    assert_eq!(code_of(metformin), ("2.16.840.1.113883.6.73", "A10BA02"));
    assert_eq!(metformin.status.as_deref(), Some("active"));
    assert_eq!(metformin.text.as_deref(), Some("Metformine 1000 mg, 1 comprimé matin et soir"));
    let dtp = &entries[7];
    assert_eq!((dtp.lot.as_deref(), dtp.at.as_ref().map(|t| t.as_str())), (Some("LOT-DTP-2021"), Some("20210412")));
    assert!(!dtp.negated);
    let weight = &entries[8];
    assert_eq!(code_of(weight), ("2.16.840.1.113883.6.1", "29463-7"));
    match &weight.value {
        Some(Value::Quantity(q)) => assert_eq!((q.value.as_str(), q.unit.as_deref()), ("82", Some("kg"))),
        other => panic!("{other:?}"),
    }
    let diastolic = &entries[11];
    assert_eq!(code_of(diastolic).1, "8462-4");
    assert!(entries.iter().all(|e| e.section.is_some() && e.path.starts_with("/ClinicalDocument/component/structuredBody/component[")));
}

#[test]
fn a_cr_bio_gives_results_with_units_ranges_and_interpretations() {
    let doc = read("crbio.xml");
    assert!(matches!(doc.body, Body::Structured { volet: Volet::CrBio, .. }));
    let entries = entries(&doc);
    assert_eq!(entries.len(), 5);
    assert!(entries.iter().all(|e| e.kind == EntryKind::Result));
    let codes: Vec<&str> = entries.iter().map(|e| code_of(e).1).collect();
    assert_eq!(codes, ["14682-9", "14749-6", "718-7", "777-3", "4548-4"]);
    let glucose = &entries[1];
    assert_eq!(glucose.text.as_deref(), Some("Glycémie à jeun 7,8 mmol/L"));
    match &glucose.value {
        Some(Value::Quantity(q)) => assert_eq!((q.value.as_str(), q.unit.as_deref()), ("7.8", Some("mmol/L"))),
        other => panic!("{other:?}"),
    }
    let range = glucose.reference_range.as_ref().unwrap();
    assert_eq!((range.low.as_ref().unwrap().value.as_str(), range.high.as_ref().unwrap().value.as_str()), ("4.1", "6.1"));
    assert_eq!(glucose.interpretation.as_ref().unwrap().code.as_deref(), Some("H"));
    assert_eq!(glucose.at.as_ref().unwrap().as_str(), "20261128073000+0100");
    assert_eq!(entries[3].reference_range, None);
    assert_eq!(entries[4].path, "/ClinicalDocument/component/structuredBody/component[2]/section/entry[2]/observation");
}

#[test]
fn a_vaccination_note_gives_vaccine_date_lot_and_performer() {
    let doc = read("vaccination.xml");
    let entries = entries(&doc);
    assert_eq!(entries.len(), 1);
    let flu = &entries[0];
    assert_eq!(flu.kind, EntryKind::Immunization);
    assert_eq!(code_of(flu), ("2.16.840.1.113883.6.73", "J07BB02"));
    assert_eq!(flu.at.as_ref().unwrap().as_str(), "20261015");
    assert_eq!(flu.lot.as_deref(), Some("GRP-26-1234"));
    assert_eq!(flu.performer.as_deref(), Some("Mme Claire Infirmière"));
    assert_eq!(flu.text.as_deref(), Some("Vaccin antigrippal, injection intramusculaire, deltoïde gauche."));
}

#[test]
fn a_level_1_cda_gives_its_header_and_body_type() {
    let doc = read("level1-pdf.xml");
    assert_eq!(doc.header.code.code.as_deref(), Some("11488-4"));
    assert_eq!(doc.body, Body::NonXml { media_type: Some("application/pdf".into()), representation: Some("B64".into()) });
}

#[test]
fn xml_bombs_and_external_entities_are_refused() {
    let limits = CdaLimits::default();
    for name in ["billion-laughs.xml", "xxe.xml"] {
        let e = refused(&fixture(name), &limits);
        assert_eq!(e.kind, CdaRefusal::Xml(XmlRefusal::Doctype), "{name}: {e}");
    }
    let e = refused(&fixture("xxe-undeclared.xml"), &limits);
    assert_eq!((e.kind, e.path.as_str()), (CdaRefusal::Xml(XmlRefusal::Entity), "/ClinicalDocument/title"));
    assert!(!e.to_string().contains("root:"), "nothing of /etc/passwd: {e}");
}

#[test]
fn deep_nesting_is_refused_at_the_depth_limit() {
    let deep = format!("<ClinicalDocument>{}{}</ClinicalDocument>", "<a>".repeat(10_000), "</a>".repeat(10_000));
    let e = refused(deep.as_bytes(), &CdaLimits::default());
    assert_eq!(e.kind, CdaRefusal::Xml(XmlRefusal::TooDeep));
    assert!(e.path.starts_with("/ClinicalDocument/a/a/"), "{}", e.path);
}

#[test]
fn a_200_mb_attribute_is_refused_by_size_and_a_long_one_by_its_limit() {
    let mut doc = b"<ClinicalDocument><id root=\"".to_vec();
    doc.resize(doc.len() + 200 * 1024 * 1024, b'1');
    doc.extend_from_slice(b"\"/></ClinicalDocument>");
    let started = std::time::Instant::now();
    let e = refused(&doc, &CdaLimits::default());
    assert_eq!((e.kind, e.path.as_str()), (CdaRefusal::Xml(XmlRefusal::TooLarge), "/"));
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
    drop(doc);
    let long = format!("<ClinicalDocument><id root=\"{}\"/></ClinicalDocument>", "1".repeat(100_000));
    let e = refused(long.as_bytes(), &CdaLimits::default());
    assert_eq!((e.kind, e.path.as_str()), (CdaRefusal::Xml(XmlRefusal::AttributeTooLong), "/ClinicalDocument/id/@root"));
}

#[test]
fn too_many_attributes_and_elements_are_refused() {
    let attrs: String = (0..40).map(|i| format!(" a{i}=\"x\"")).collect();
    let e = refused(format!("<ClinicalDocument><code{attrs}/></ClinicalDocument>").as_bytes(), &CdaLimits::default());
    assert_eq!((e.kind, e.path.as_str()), (CdaRefusal::Xml(XmlRefusal::TooManyAttributes), "/ClinicalDocument/code"));
    let limits = CdaLimits { max_elements: 100, ..CdaLimits::default() };
    let e = refused(format!("<ClinicalDocument>{}</ClinicalDocument>", "<x/>".repeat(200)).as_bytes(), &limits);
    assert_eq!(e.kind, CdaRefusal::Xml(XmlRefusal::TooManyElements));
}

fn edit(name: &str, from: &str, to: &str) -> Vec<u8> {
    let text = String::from_utf8(fixture(name)).unwrap();
    assert!(text.contains(from), "{from}");
    text.replacen(from, to, 1).into_bytes()
}

#[test]
fn header_refusals_name_the_element() {
    let limits = CdaLimits::default();
    let cases: Vec<(Vec<u8>, CdaRefusal, &str)> = vec![
        (edit("vsm.xml", "184057512345625", "184057512345626"), CdaRefusal::Invalid, "/ClinicalDocument/recordTarget/patientRole/id[1]"),
        (edit("vsm.xml", "810001234565", "810001234566"), CdaRefusal::Invalid, "/ClinicalDocument/author/assignedAuthor/id"),
        (edit("vsm.xml", "<recordTarget>", "<recordTarget/><recordTarget>"), CdaRefusal::Invalid, "/ClinicalDocument/recordTarget[2]"),
        (
            edit("vsm.xml", "20261130101500+0100\"/>\n  <confidentialityCode", "2026-11-30\"/>\n  <confidentialityCode"),
            CdaRefusal::Invalid,
            "/ClinicalDocument/effectiveTime/@value",
        ),
        (
            edit("vsm.xml", "<confidentialityCode code=\"N\"", "<confidentialityCode nullFlavor=\"UNK\""),
            CdaRefusal::Missing,
            "/ClinicalDocument/confidentialityCode/@code",
        ),
        (
            edit("vsm.xml", "<versionNumber value=\"1\"/>", "<versionNumber value=\"un\"/>"),
            CdaRefusal::Invalid,
            "/ClinicalDocument/versionNumber/@value",
        ),
        (edit("vsm.xml", "code=\"60591-5\"", "code=\"34133-9\""), CdaRefusal::UnknownVolet, "/ClinicalDocument/code"),
        (
            edit("crbio.xml", "value=\"7.8\"", "value=\"7,8\""),
            CdaRefusal::Invalid,
            "/ClinicalDocument/component/structuredBody/component[1]/section/entry/organizer/component[2]/observation/value/@value",
        ),
        (b"<Patient xmlns=\"urn:hl7-org:v3\"/>".to_vec(), CdaRefusal::NotCda, "/Patient"),
        (
            edit("vsm.xml", "<recordTarget>", "<!-- <recordTarget>").into_iter().collect::<Vec<u8>>(),
            CdaRefusal::Xml(XmlRefusal::NotWellFormed),
            "/ClinicalDocument",
        ),
    ];
    for (doc, kind, path) in cases {
        let e = refused(&doc, &limits);
        assert_eq!((e.kind, e.path.as_str()), (kind, path), "{e}");
    }
    // A level 1 document of any type is read: only a structured body must be a known volet.
    read_cda(&edit("level1-pdf.xml", "code=\"11488-4\"", "code=\"34133-9\""), &limits).unwrap();
}

#[test]
fn a_replacement_names_its_parent() {
    let doc = edit(
        "vsm.xml",
        "<recordTarget>",
        "<relatedDocument typeCode=\"RPLC\"><parentDocument><id root=\"1.2.250.1.999.1.1\" extension=\"DOC-0\"/>\
         <setId root=\"1.2.250.1.999.1.2\" extension=\"SET-60591-5-0001\"/><versionNumber value=\"1\"/></parentDocument></relatedDocument><recordTarget>",
    );
    let parent = read_cda(&doc, &CdaLimits::default()).unwrap().header.parent.unwrap();
    assert_eq!((parent.type_code.as_str(), parent.version), ("RPLC", Some(1)));
    assert_eq!(parent.set_id.unwrap().extension.as_deref(), Some("SET-60591-5-0001"));
}

fn small_limits() -> CdaLimits {
    CdaLimits { max_input: 64 * 1024, max_depth: 32, max_elements: 2_000, max_attributes: 16, max_attribute_len: 512, max_text_len: 4096 }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let _ = read_cda(&bytes, &small_limits());
    }

    #[test]
    fn mutated_documents_never_panic_and_refusals_name_an_element(
        which in 0usize..4,
        cuts in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0usize..3), 1..8),
    ) {
        let name = ["vsm.xml", "crbio.xml", "vaccination.xml", "level1-pdf.xml"][which];
        let mut doc = fixture(name);
        for (at, byte, op) in cuts {
            let i = at.index(doc.len());
            match op {
                0 => doc[i] = byte,
                1 => { doc.remove(i); }
                _ => doc.insert(i, byte),
            }
        }
        match read_cda(&doc, &CdaLimits::default()) {
            Ok(read) => {
                if let Body::Structured { entries, .. } = &read.body {
                    prop_assert!(entries.iter().all(|e| e.path.starts_with("/ClinicalDocument/")));
                }
            }
            Err(e) => prop_assert!(e.path.starts_with('/') && !e.detail.is_empty() && e.detail.len() <= 300),
        }
    }
}

mod deposit_check {
    use super::*;
    use carnet_domain::codes::{Code, CodeLists};
    use carnet_domain::{Ins, SecurityLabel};
    use carnet_extract::cda::{DepositFacts, check_deposit, is_cda};

    fn facts<'a>(ins: &'a Ins, type_code: &'a Code) -> DepositFacts<'a> {
        DepositFacts { ins, author_rpps: Some("10001234565"), labels: &[], type_code, replaces: None }
    }

    fn check(doc: &[u8], facts: &DepositFacts<'_>) -> Result<(), CdaError> {
        let doc = read_cda(doc, &CdaLimits::default()).unwrap();
        check_deposit(&doc, facts, &CodeLists::dmp_default())
    }

    fn path_of(r: Result<(), CdaError>) -> String {
        let e = r.unwrap_err();
        assert!(matches!(e.kind, CdaRefusal::Mismatch | CdaRefusal::Invalid | CdaRefusal::Missing), "{e}");
        e.path
    }

    #[test]
    fn a_consistent_header_is_accepted_and_each_contradiction_is_named() {
        let ins = Ins::parse("184057512345625").unwrap();
        let other = Ins::from_body("2840575123456").unwrap();
        let vsm = Code::new("http://loinc.org", "60591-5");
        let crbio = Code::new("http://loinc.org", "11502-2");
        let doc = fixture("vsm.xml");
        check(&doc, &facts(&ins, &vsm)).unwrap();
        check(&doc, &DepositFacts { author_rpps: None, ..facts(&ins, &vsm) }).unwrap();
        assert_eq!(path_of(check(&doc, &facts(&other, &vsm))), "/ClinicalDocument/recordTarget/patientRole/id");
        assert_eq!(
            path_of(check(&doc, &DepositFacts { author_rpps: Some("10006543218"), ..facts(&ins, &vsm) })),
            "/ClinicalDocument/author/assignedAuthor/id"
        );
        assert_eq!(path_of(check(&doc, &facts(&ins, &crbio))), "/ClinicalDocument/code/@code");
        let unlisted = edit("level1-pdf.xml", "code=\"11488-4\"", "code=\"99999-9\"");
        assert_eq!(path_of(check(&unlisted, &facts(&ins, &vsm))), "/ClinicalDocument/code/@code");
    }

    #[test]
    fn a_restricted_document_needs_the_masking_label() {
        let ins = Ins::parse("184057512345625").unwrap();
        let vsm = Code::new("http://loinc.org", "60591-5");
        let restricted = edit("vsm.xml", "<confidentialityCode code=\"N\"", "<confidentialityCode code=\"R\"");
        assert_eq!(path_of(check(&restricted, &facts(&ins, &vsm))), "/ClinicalDocument/confidentialityCode/@code");
        check(&restricted, &DepositFacts { labels: &[SecurityLabel::MasquePs], ..facts(&ins, &vsm) }).unwrap();
        // A normal document may be masked by its depositor.
        check(&fixture("vsm.xml"), &DepositFacts { labels: &[SecurityLabel::MasquePs], ..facts(&ins, &vsm) }).unwrap();
        let odd = edit("vsm.xml", "<confidentialityCode code=\"N\"", "<confidentialityCode code=\"X\"");
        assert_eq!(path_of(check(&odd, &facts(&ins, &vsm))), "/ClinicalDocument/confidentialityCode/@code");
    }

    fn replacing(set: &str, parent_version: u32, version: u32) -> Vec<u8> {
        let text = String::from_utf8(fixture("vsm.xml")).unwrap();
        text.replacen("<versionNumber value=\"1\"/>", &format!("<versionNumber value=\"{version}\"/>"), 1)
            .replacen(
                "<recordTarget>",
                &format!(
                    "<relatedDocument typeCode=\"RPLC\"><parentDocument><id root=\"1.2.250.1.999.1.1\" extension=\"DOC-0\"/>\
                     <setId root=\"1.2.250.1.999.1.2\" extension=\"{set}\"/><versionNumber value=\"{parent_version}\"/></parentDocument>\
                     </relatedDocument><recordTarget>"
                ),
                1,
            )
            .into_bytes()
    }

    #[test]
    fn a_replacement_keeps_the_set_id_and_raises_the_version() {
        let ins = Ins::parse("184057512345625").unwrap();
        let vsm = Code::new("http://loinc.org", "60591-5");
        let replaces = DepositFacts { replaces: Some("1.2.250.1.999.1.1^DOC-0"), ..facts(&ins, &vsm) };
        check(&replacing("SET-60591-5-0001", 1, 2), &replaces).unwrap();
        check(&replacing("SET-60591-5-0001", 1, 2), &DepositFacts { replaces: Some("1.2.250.1.999.1.1"), ..replaces }).unwrap();
        assert_eq!(path_of(check(&replacing("SET-AUTRE", 1, 2), &replaces)), "/ClinicalDocument/setId");
        assert_eq!(path_of(check(&replacing("SET-60591-5-0001", 2, 2), &replaces)), "/ClinicalDocument/versionNumber/@value");
        assert_eq!(
            path_of(check(&replacing("SET-60591-5-0001", 1, 2), &DepositFacts { replaces: Some("1.2.250.1.999.1.1^DOC-9"), ..replaces })),
            "/ClinicalDocument/relatedDocument/parentDocument/id"
        );
        assert_eq!(path_of(check(&fixture("vsm.xml"), &replaces)), "/ClinicalDocument/relatedDocument/parentDocument");
        assert_eq!(path_of(check(&replacing("SET-60591-5-0001", 1, 2), &facts(&ins, &vsm))), "/ClinicalDocument/relatedDocument");
        let v2 = edit("vsm.xml", "<versionNumber value=\"1\"/>", "<versionNumber value=\"2\"/>");
        assert_eq!(path_of(check(&v2, &facts(&ins, &vsm))), "/ClinicalDocument/versionNumber/@value");
    }

    #[test]
    fn cda_is_recognised_by_its_mime_type_or_format_code() {
        assert!(is_cda("application/hl7-cda+xml", "urn:ihe:iti:xds:2017:mimeTypeSufficient"));
        assert!(is_cda("text/xml; charset=UTF-8", "urn:ihe:iti:xds-sd:pdf:2008"));
        assert!(is_cda("text/xml", "urn:ihe:pcc:xphr:2007"));
        assert!(!is_cda("text/xml", "urn:ihe:iti:xds:2017:mimeTypeSufficient"));
        assert!(!is_cda("application/pdf", "urn:ihe:iti:xds-sd:pdf:2008"));
    }
}

#[test]
fn timestamps_are_hl7_ts() {
    use carnet_extract::cda::Timestamp;
    for ok in ["2026", "202611", "20261130", "20261130+0100", "202611301015", "20261130101500.123-0500"] {
        assert!(Timestamp::parse(ok).is_some(), "{ok}");
    }
    for bad in ["", "26", "2026-11-30", "20261330", "20261132", "2026+0100", "20261130101500.", "2026113010150x", "20261130+01"] {
        assert!(Timestamp::parse(bad).is_none(), "{bad}");
    }
}
