//! Code lists: the DMP's class codes (JDV_J57) and type codes (JDV_J66, each with its class)
//! shipped as data in `data/`, and the format codes Carnet accepts. Parsed from TSV so the
//! lists can be replaced by configuration without touching code.

use serde::{Deserialize, Serialize};

/// A coded value: system URI and code.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Code {
    pub system: String,
    pub code: String,
}

impl Code {
    pub fn new(system: &str, code: &str) -> Code {
        Code { system: system.to_owned(), code: code.to_owned() }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassCode {
    pub code: Code,
    pub display: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypeCode {
    pub code: Code,
    pub display: String,
    /// The class this type belongs to (concept map ASS_X16).
    pub class: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormatCode {
    pub code: Code,
    pub display: String,
}

pub const CLASS_SYSTEM: &str = "https://mos.esante.gouv.fr/NOS/TRE_A03-ClasseDocument/FHIR/TRE-A03-ClasseDocument";
pub const FORMAT_SYSTEM_IHE: &str = "http://ihe.net/fhir/ihe.formatcode.fhir/CodeSystem/formatcode";

/// The types a patient (or their representative) deposits from their own space, in the order
/// a form offers them: the DMP's "déposé par le patient" types (TRE_A05 `DOCPATxx`) and the
/// patient's own expression (`EXPPAT_x`). Not `DOCPAT08`, the medical profile: it is written
/// from the profile's pages, not uploaded. The rights let a patient feed any type of their own
/// record (`rights::authorize`); this is the list their forms offer.
pub const PATIENT_DEPOSIT_TYPES: [&str; 11] =
    ["DOCPAT03", "DOCPAT05", "DOCPAT04", "DOCPAT02", "DOCPAT07", "DOCPAT06", "DOCPAT01", "DOCPAT09", "EXPPAT_3", "EXPPAT_1", "EXPPAT_2"];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeListError {
    #[error("code list line {line}: {problem}")]
    Line { line: usize, problem: String },
}

/// The code lists in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeLists {
    pub classes: Vec<ClassCode>,
    pub types: Vec<TypeCode>,
    pub formats: Vec<FormatCode>,
}

fn rows(tsv: &str, columns: usize) -> Result<Vec<Vec<&str>>, CodeListError> {
    tsv.lines()
        .enumerate()
        .skip(1) // header
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let cells: Vec<&str> = l.split('\t').map(str::trim).collect();
            if cells.len() != columns || cells.iter().any(|c| c.is_empty()) {
                return Err(CodeListError::Line { line: i + 1, problem: format!("expected {columns} non-empty tab-separated cells") });
            }
            Ok(cells)
        })
        .collect()
}

impl CodeLists {
    /// Parses class (`system code display_fr`) and type (`system code display_fr class_code`) TSV.
    pub fn parse(classes_tsv: &str, types_tsv: &str) -> Result<CodeLists, CodeListError> {
        let classes: Vec<ClassCode> =
            rows(classes_tsv, 3)?.into_iter().map(|c| ClassCode { code: Code::new(c[0], c[1]), display: c[2].to_owned() }).collect();
        let types = rows(types_tsv, 4)?
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                if !classes.iter().any(|k| k.code.code == c[3]) {
                    return Err(CodeListError::Line { line: i + 2, problem: format!("type {} names unknown class {}", c[1], c[3]) });
                }
                Ok(TypeCode { code: Code::new(c[0], c[1]), display: c[2].to_owned(), class: c[3].to_owned() })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(CodeLists { classes, types, formats: default_formats() })
    }

    /// The DMP's lists, as shipped.
    pub fn dmp_default() -> CodeLists {
        // The shipped data is checked by a unit test, so this cannot fail at run time.
        CodeLists::parse(include_str!("../data/dmp-class-codes.tsv"), include_str!("../data/dmp-type-codes.tsv"))
            .unwrap_or_else(|e| panic!("shipped code lists are invalid: {e}"))
    }

    pub fn find_type(&self, code: &Code) -> Option<&TypeCode> {
        self.types.iter().find(|t| &t.code == code)
    }

    /// A type by its code alone: codes are unique across LOINC and TRE_A05 in the DMP lists.
    pub fn find_type_by_code(&self, code: &str) -> Option<&TypeCode> {
        self.types.iter().find(|t| t.code.code == code)
    }

    /// The types of `PATIENT_DEPOSIT_TYPES` these lists hold, in that order.
    pub fn patient_deposit_types(&self) -> impl Iterator<Item = &TypeCode> {
        PATIENT_DEPOSIT_TYPES.iter().filter_map(|c| self.find_type_by_code(c))
    }

    pub fn find_class(&self, code: &Code) -> Option<&ClassCode> {
        self.classes.iter().find(|c| &c.code == code)
    }

    pub fn find_format(&self, code: &Code) -> Option<&FormatCode> {
        self.formats.iter().find(|f| &f.code == code)
    }
}

/// Formats Carnet accepts by default: the IHE format codes French software sends for CDA R2
/// level 1 (PDF or text body), "the MIME type says it all", and the ANS structured documents
/// are added by configuration as they are needed.
fn default_formats() -> Vec<FormatCode> {
    [
        ("urn:ihe:iti:xds-sd:pdf:2008", "CDA R2 niveau 1, corps PDF"),
        ("urn:ihe:iti:xds-sd:text:2008", "CDA R2 niveau 1, corps texte"),
        ("urn:ihe:iti:xds:2017:mimeTypeSufficient", "Format défini par le type MIME"),
        ("urn:ihe:pcc:xphr:2007", "Synthèse médicale structurée (XPHR)"),
        ("urn:ihe:lab:xd-lab:2008", "Compte rendu de biologie structuré (XD-LAB)"),
        ("urn:ihe:pcc:ic:2009", "Note de vaccination structurée (IHE PCC IC)"),
        ("urn:ihe:rad:PDF", "Compte rendu d'imagerie PDF"),
        ("urn:ihe:rad:TEXT", "Compte rendu d'imagerie texte"),
        ("urn:ihe:rad:1.2.840.10008.5.1.4.1.1.88.59", "DICOM KOS (manifeste d'imagerie)"),
    ]
    .into_iter()
    .map(|(code, display)| FormatCode { code: Code::new(FORMAT_SYSTEM_IHE, code), display: display.to_owned() })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_lists_parse_and_hold_the_design_examples() {
        let lists = CodeLists::dmp_default();
        assert_eq!(lists.classes.len(), 11);
        assert_eq!(lists.types.len(), 101);
        let loinc = |c: &str| Code::new("http://loinc.org", c);
        for (code, class) in
            [("11488-4", "10"), ("11502-2", "10"), ("18748-4", "31"), ("57833-6", "42"), ("60591-5", "11"), ("11369-6", "52")]
        {
            let t = lists.find_type(&loinc(code)).unwrap_or_else(|| panic!("type {code} shipped"));
            assert_eq!(t.class, class, "class of {code}");
        }
        assert!(lists.find_class(&Code::new(CLASS_SYSTEM, "43")).is_some());
        assert!(lists.find_type(&loinc("00000-0")).is_none());
        assert_eq!(lists.find_type_by_code("REMB").map(|t| t.class.as_str()), Some("60"));
        let mut codes: Vec<&str> = lists.types.iter().map(|t| t.code.code.as_str()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), lists.types.len(), "type codes are unique across systems");
    }

    #[test]
    fn a_patient_deposits_the_patients_types_of_the_shipped_lists() {
        let lists = CodeLists::dmp_default();
        let offered: Vec<&str> = lists.patient_deposit_types().map(|t| t.code.code.as_str()).collect();
        assert_eq!(offered, PATIENT_DEPOSIT_TYPES, "every one is shipped");
        assert!(!offered.contains(&"DOCPAT08"), "the profile is not uploaded");
        assert!(!offered.contains(&"REMB") && !offered.contains(&"11502-2"), "nor the insurer's or a professional's types");
    }

    #[test]
    fn bad_lists_are_refused_with_the_line() {
        let classes = "system\tcode\tdisplay_fr\nS\t10\tCompte rendu\n";
        assert!(CodeLists::parse(classes, "h\nS\tT1\tType\t10\n").is_ok());
        assert_eq!(
            CodeLists::parse(classes, "h\nS\tT1\tType\t99\n"),
            Err(CodeListError::Line { line: 2, problem: "type T1 names unknown class 99".into() })
        );
        assert!(matches!(CodeLists::parse("h\nS\t10\n", "h\n"), Err(CodeListError::Line { line: 2, .. })));
    }
}
