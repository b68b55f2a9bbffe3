//! Synthetic demo people: French names, valid NIRs consistent with sex, birth date and
//! birthplace, professionals with valid RPPS and FINESS. Nobody here is real.

use carnet_domain::{Finess, IdentityStatus, Ins, Profession, Rpps, Sex};
use time::Date;
use time::macros::date;

pub struct DemoPatient {
    pub key: &'static str,
    pub ins: Ins,
    pub birth_name: &'static str,
    pub given_names: &'static str,
    pub birth_date: Date,
    pub sex: Sex,
    pub birthplace: &'static str,
    pub identity_status: IdentityStatus,
}

pub struct DemoProfessional {
    pub key: &'static str,
    pub rpps: Rpps,
    pub family_name: &'static str,
    pub given_name: &'static str,
    pub profession: Profession,
    pub specialty: Option<&'static str>,
    pub finess: Finess,
    pub regulator: bool,
}

/// Builds an INS from the traits, the way INSEE numbers people: sex, year, month, birthplace, order.
fn nir(sex: Sex, birth: Date, birthplace: &str, order: u16) -> Ins {
    let s = if sex == Sex::Female { 2 } else { 1 };
    let body = format!("{s}{:02}{:02}{birthplace}{order:03}", birth.year() % 100, u8::from(birth.month()));
    Ins::from_body(&body).unwrap_or_else(|e| panic!("demo INS body {body} is invalid: {e}"))
}

fn patient(
    key: &'static str,
    birth_name: &'static str,
    given_names: &'static str,
    birth_date: Date,
    sex: Sex,
    birthplace: &'static str,
    order: u16,
) -> DemoPatient {
    DemoPatient {
        key,
        ins: nir(sex, birth_date, birthplace, order),
        birth_name,
        given_names,
        birth_date,
        sex,
        birthplace,
        identity_status: IdentityStatus::Qualifiee,
    }
}

pub fn patients() -> Vec<DemoPatient> {
    vec![
        patient("camille", "LEFEBVRE", "Camille Anne", date!(1978 - 04 - 12), Sex::Female, "75056", 231),
        patient("lucas", "MOREAU", "Lucas Pierre", date!(1991 - 09 - 03), Sex::Male, "69123", 87),
        patient("chloe", "GIRARD", "Chloé", date!(2012 - 02 - 27), Sex::Female, "13055", 412),
        patient("antoine", "ROUSSEL", "Antoine Marcel", date!(1949 - 11 - 30), Sex::Male, "2A004", 19),
        patient("ines", "FONTAINE", "Inès Sophie", date!(1985 - 06 - 18), Sex::Female, "33063", 655),
        patient("hugo", "CHEVALIER", "Hugo", date!(2001 - 12 - 08), Sex::Male, "59350", 342),
    ]
}

fn rpps(n: u32) -> Rpps {
    Rpps::from_body(&format!("1{:09}", n)).unwrap_or_else(|e| panic!("demo RPPS {n}: {e}"))
}

fn finess(n: u32) -> Finess {
    Finess::from_body(&format!("{:08}", n)).unwrap_or_else(|e| panic!("demo FINESS {n}: {e}"))
}

pub fn professionals() -> Vec<DemoProfessional> {
    let pro = |key, n, family_name, given_name, profession, specialty, org, regulator| DemoProfessional {
        key,
        rpps: rpps(n),
        family_name,
        given_name,
        profession,
        specialty,
        finess: finess(org),
        regulator,
    };
    vec![
        pro("doctor", 1_000_101, "BERNARD", "Sophie", Profession::Medecin, Some("SM54"), 75_000_101, false),
        pro("pharmacist", 1_000_202, "PETIT", "Julien", Profession::Pharmacien, None, 69_000_202, false),
        pro("nurse", 1_000_303, "DUBOIS", "Nathalie", Profession::Infirmier, None, 13_000_303, false),
        pro("dentist", 1_000_404, "LAMBERT", "Marc", Profession::ChirurgienDentiste, None, 33_000_404, false),
        pro("midwife", 1_000_505, "MERCIER", "Claire", Profession::SageFemme, None, 75_000_505, false),
        pro("physio", 1_000_606, "BLANC", "Thomas", Profession::MasseurKinesitherapeute, None, 59_000_606, false),
        pro("samu", 1_000_707, "GARNIER", "Élodie", Profession::Medecin, Some("SM01"), 75_000_707, true),
    ]
}

/// A valid INS with no seeded record, for the "create a record" example.
pub fn extra_patient_ins() -> Ins {
    nir(Sex::Female, date!(1995 - 05 - 21), "44109", 76)
}

/// A synthetic document of the demo: who wrote it for whom, and what it says.
pub struct DemoDocument {
    pub unique_id: &'static str,
    pub patient: &'static str,
    pub author: &'static str,
    pub type_code: &'static str,
    pub title: &'static str,
    pub lines: &'static [&'static str],
    pub labels: &'static [carnet_domain::SecurityLabel],
    /// How long before the demo starts the act took place (the date documents are grouped by).
    pub days_ago: i64,
    /// The `unique_id` of the earlier demo document this one is a new version of.
    pub replaces: Option<&'static str>,
}

/// The demo's documents, in deposit order (a new version after the one it replaces). `author` is
/// a professional's key, or `insurer` for the reimbursement history.
pub fn documents() -> Vec<DemoDocument> {
    use carnet_domain::SecurityLabel::{InvisibleRepresentantsLegaux, MasquePs};
    vec![
        DemoDocument {
            unique_id: "1.2.250.1.213.1.1.9.1001",
            patient: "camille",
            author: "doctor",
            type_code: "11502-2",
            title: "Bilan biologique de contrôle",
            lines: &[
                "Compte rendu d'examens biologiques (document de démonstration, fictif)",
                "Hémoglobine : 13,2 g/dL",
                "Glycémie à jeun : 0,92 g/L",
            ],
            labels: &[],
            days_ago: 12,
            replaces: None,
        },
        DemoDocument {
            unique_id: "1.2.250.1.213.1.1.9.1002",
            patient: "camille",
            author: "doctor",
            type_code: "11488-4",
            title: "Consultation de suivi",
            lines: &["Compte rendu de consultation (document de démonstration, fictif)", "Patiente vue pour un suivi annuel."],
            labels: &[],
            days_ago: 40,
            replaces: None,
        },
        DemoDocument {
            unique_id: "1.2.250.1.213.1.1.9.1003",
            patient: "camille",
            author: "doctor",
            type_code: "11488-4",
            title: "Consultation masquée aux professionnels",
            lines: &["Compte rendu masqué à la demande de la patiente (fictif)"],
            labels: &[MasquePs],
            days_ago: 95,
            replaces: None,
        },
        DemoDocument {
            unique_id: "1.2.250.1.213.1.1.9.1004",
            patient: "lucas",
            author: "doctor",
            type_code: "57833-6",
            title: "Ordonnance",
            lines: &["Prescription (document de démonstration, fictif)", "Paracétamol 1 g, 3 fois par jour, 5 jours"],
            labels: &[],
            days_ago: 3,
            replaces: None,
        },
        DemoDocument {
            unique_id: "1.2.250.1.213.1.1.9.1005",
            patient: "camille",
            author: "doctor",
            type_code: "18748-4",
            title: "Échographie abdominale",
            lines: &["Compte rendu d'imagerie (document de démonstration, fictif)", "Foie, vésicule et reins sans particularité."],
            labels: &[],
            days_ago: 70,
            replaces: None,
        },
        DemoDocument {
            unique_id: "1.2.250.1.213.1.1.9.1006",
            patient: "camille",
            author: "doctor",
            type_code: "57833-6",
            title: "Ordonnance de kinésithérapie",
            lines: &["Prescription (document de démonstration, fictif)", "10 séances de rééducation du genou droit."],
            labels: &[],
            days_ago: 40,
            replaces: None,
        },
        DemoDocument {
            unique_id: "1.2.250.1.213.1.1.9.1007",
            patient: "camille",
            author: "doctor",
            type_code: "57833-6",
            title: "Ordonnance de kinésithérapie (corrigée)",
            lines: &["Prescription corrigée (document de démonstration, fictif)", "15 séances de rééducation du genou droit."],
            labels: &[],
            days_ago: 39,
            replaces: Some("1.2.250.1.213.1.1.9.1006"),
        },
        DemoDocument {
            unique_id: "1.2.250.1.213.1.1.9.1008",
            patient: "camille",
            author: "nurse",
            type_code: "87273-9",
            title: "Vaccination contre la grippe saisonnière",
            lines: &["Note de vaccination (document de démonstration, fictif)", "Vaccin antigrippal, injection intramusculaire."],
            labels: &[],
            days_ago: 60,
            replaces: None,
        },
        DemoDocument {
            unique_id: "1.2.250.1.213.1.1.9.1009",
            patient: "camille",
            author: "insurer",
            type_code: "REMB",
            title: "Historique des remboursements",
            lines: &[
                "Données de remboursement (document de démonstration, fictif)",
                "Consultations, biologie et pharmacie des 12 derniers mois.",
            ],
            labels: &[],
            days_ago: 1,
            replaces: None,
        },
        DemoDocument {
            unique_id: "1.2.250.1.213.1.1.9.1010",
            patient: "chloe",
            author: "doctor",
            type_code: "87273-9",
            title: "Rappel de vaccination DTP",
            lines: &["Note de vaccination (document de démonstration, fictif)", "Rappel diphtérie, tétanos, poliomyélite."],
            labels: &[],
            days_ago: 20,
            replaces: None,
        },
        DemoDocument {
            unique_id: "1.2.250.1.213.1.1.9.1011",
            patient: "chloe",
            author: "midwife",
            type_code: "11488-4",
            title: "Consultation confidentielle",
            lines: &["Consultation que la patiente mineure a demandé de garder secrète (fictif)"],
            labels: &[InvisibleRepresentantsLegaux],
            days_ago: 8,
            replaces: None,
        },
    ]
}

/// A small, valid PDF showing `lines` (Helvetica, one page): synthetic content that any
/// viewer opens.
/// The structured data the demo's practice software sends for a patient: what *Profil médical*
/// shows (a problem, an allergy, a treatment, a vaccination, and measures over a year so the
/// curves have something to draw). Fictitious, like every demo document.
pub fn profile(patient: &str) -> Vec<(carnet_domain::ItemKind, carnet_domain::ItemContent)> {
    use carnet_domain::ItemContent;
    use carnet_domain::ItemKind::{Allergy, Condition, Immunization, Medication, Result, VitalSign};
    use carnet_domain::profile::{Coding, ItemValue, Quantity};
    if patient != "camille" {
        return vec![];
    }
    let coded = |system: &str, code: &str, display: &str| {
        Some(Coding { system: Some(system.to_owned()), code: Some(code.to_owned()), display: Some(display.to_owned()) })
    };
    let item = |code, at: &str, status: &str| ItemContent {
        code,
        at: Some(at.to_owned()),
        clinical_status: Some(status.to_owned()),
        ..ItemContent::default()
    };
    let measure = |loinc: &str, name: &str, at: &str, value: &str, unit: &str| ItemContent {
        code: coded("http://loinc.org", loinc, name),
        at: Some(at.to_owned()),
        value: Some(ItemValue::Quantity(Quantity { value: value.to_owned(), unit: Some(unit.to_owned()) })),
        ..ItemContent::default()
    };
    const SNOMED: &str = "http://snomed.info/sct";
    let mut items = vec![
        (Condition, ItemContent { from: Some("2009-05".into()), ..item(coded(SNOMED, "195967001", "Asthme"), "2009-05", "active") }),
        (Allergy, item(coded(SNOMED, "91936005", "Allergie à la pénicilline"), "2015-03-02", "active")),
        (Medication, item(coded("http://www.whocc.no/atc", "R03AC02", "Salbutamol 100 µg, inhalation si besoin"), "2026-01-15", "active")),
        (
            Immunization,
            item(
                coded("urn:oid:1.2.250.1.213.2.3.1", "DTPCA", "Rappel diphtérie, tétanos, poliomyélite, coqueluche"),
                "2024-09-10",
                "completed",
            ),
        ),
    ];
    for (at, creatinine, weight) in [("2025-12-01", "0.82", "64.0"), ("2026-04-14", "0.95", "65.5"), ("2026-09-22", "1.08", "66.2")] {
        items.push((Result, measure("2160-0", "Créatinine", at, creatinine, "mg/dL")));
        items.push((VitalSign, measure("29463-7", "Poids", at, weight, "kg")));
    }
    items
}

pub fn pdf(lines: &[&str]) -> Vec<u8> {
    // PDF strings are Latin-1 with escaped parentheses and backslashes.
    let escape = |s: &str| -> Vec<u8> {
        s.chars()
            .map(|c| if (c as u32) < 256 { c as u32 as u8 } else { b'?' })
            .flat_map(|b| if matches!(b, b'(' | b')' | b'\\') { vec![b'\\', b] } else { vec![b] })
            .collect()
    };
    let mut stream = b"BT /F1 12 Tf 72 760 Td 16 TL\n".to_vec();
    for line in lines {
        stream.push(b'(');
        stream.extend(escape(line));
        stream.extend_from_slice(b") '\n");
    }
    stream.extend_from_slice(b"ET\n");
    let objects: Vec<Vec<u8>> = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>".to_vec(),
        [format!("<< /Length {} >>\nstream\n", stream.len()).into_bytes(), stream, b"endstream".to_vec()].concat(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".to_vec(),
    ];
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
    for o in offsets {
        out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(format!("trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1).as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_identifiers_are_valid_and_distinct() {
        let ps = patients();
        for p in &ps {
            assert_eq!(Ins::parse(p.ins.as_str()).as_ref(), Ok(&p.ins));
        }
        let mut ins: Vec<_> = ps.iter().map(|p| p.ins.clone()).collect();
        ins.dedup();
        assert_eq!(ins.len(), ps.len());
        assert_eq!(professionals().len(), 7);
    }
}
