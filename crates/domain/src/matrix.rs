//! The profession × document-type matrix (access rule 4): which document types each profession
//! sees. Data, not code: a default ships in `data/profession-matrix.tsv` (its reasoning is in
//! `docs/profession-matrix.md`) and an operator may replace it with their own file.

use std::collections::{BTreeMap, BTreeSet};

use crate::Profession;
use crate::codes::{Code, CodeLists};

/// What one profession sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visibility {
    /// Every type but these.
    AllExcept(BTreeSet<Code>),
    /// These types only.
    Only(BTreeSet<Code>),
}

impl Visibility {
    pub fn permits(&self, type_code: &Code) -> bool {
        match self {
            Visibility::AllExcept(excluded) => !excluded.contains(type_code),
            Visibility::Only(included) => included.contains(type_code),
        }
    }
}

/// The matrix in force. A profession without a row sees nothing (default deny).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfessionMatrix {
    rows: BTreeMap<Profession, Visibility>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatrixError {
    #[error("profession matrix line {line}: {problem}")]
    Line { line: usize, problem: String },
    #[error("profession matrix: no header line `profession<TAB>rule<TAB>types`")]
    NoHeader,
}

/// The shipped default, as text (the format `ProfessionMatrix::parse` reads).
pub const SHIPPED_MATRIX: &str = include_str!("../data/profession-matrix.tsv");

const HEADER: [&str; 3] = ["profession", "rule", "types"];

impl ProfessionMatrix {
    /// Parses the matrix format: `#` comments and blank lines anywhere; a header
    /// `profession<TAB>rule<TAB>types`; then one row per profession: its TRE_G15 code,
    /// `all_except` or `only`, and type codes from `codes` separated by spaces (or `-` for none).
    /// Every error names its line.
    pub fn parse(text: &str, codes: &CodeLists) -> Result<ProfessionMatrix, MatrixError> {
        let mut lines = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.trim_end_matches('\r')))
            .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
        let (header_line, header) = lines.next().ok_or(MatrixError::NoHeader)?;
        let cells: Vec<&str> = header.split('\t').map(str::trim).collect();
        if cells != HEADER {
            return Err(line_error(header_line, "expected the header `profession<TAB>rule<TAB>types`"));
        }
        let mut rows = BTreeMap::new();
        let mut seen_on = BTreeMap::new();
        for (line, text) in lines {
            let cells: Vec<&str> = text.split('\t').map(str::trim).collect();
            let [profession, rule, types] = cells[..] else {
                return Err(line_error(line, "expected 3 tab-separated cells: profession, rule, types"));
            };
            let profession = Profession::from_code(profession).map_err(|e| line_error(line, e.to_string()))?;
            if let Some(first) = seen_on.insert(profession, line) {
                return Err(line_error(line, format!("profession {} already has a row on line {first}", profession.code())));
            }
            let set = parse_types(types, codes).map_err(|problem| line_error(line, problem))?;
            let visibility = match rule {
                "all_except" => Visibility::AllExcept(set),
                "only" => Visibility::Only(set),
                other => return Err(line_error(line, format!("rule is `all_except` or `only`, found {other:?}"))),
            };
            rows.insert(profession, visibility);
        }
        Ok(ProfessionMatrix { rows })
    }

    /// The shipped default against the DMP code lists.
    pub fn dmp_default() -> ProfessionMatrix {
        // The shipped data is checked by a unit test, so this cannot fail at run time.
        ProfessionMatrix::parse(SHIPPED_MATRIX, &CodeLists::dmp_default())
            .unwrap_or_else(|e| panic!("shipped profession matrix is invalid: {e}"))
    }

    /// May this profession see documents of this type?
    pub fn permits(&self, profession: Profession, type_code: &Code) -> bool {
        self.rows.get(&profession).is_some_and(|v| v.permits(type_code))
    }

    pub fn row(&self, profession: Profession) -> Option<&Visibility> {
        self.rows.get(&profession)
    }
}

fn line_error(line: usize, problem: impl Into<String>) -> MatrixError {
    MatrixError::Line { line, problem: problem.into() }
}

fn parse_types(cell: &str, codes: &CodeLists) -> Result<BTreeSet<Code>, String> {
    let mut set = BTreeSet::new();
    if cell == "-" {
        return Ok(set);
    }
    if cell.is_empty() {
        return Err("types is empty: list type codes, or `-` for none".into());
    }
    for token in cell.split(' ').filter(|t| !t.is_empty()) {
        // Codes are unique across LOINC and TRE_A05 in the DMP lists; refuse if a custom list is not.
        let mut matching = codes.types.iter().filter(|t| t.code.code == token);
        let found = matching.next().ok_or_else(|| format!("unknown type code {token:?} (not in the type code list)"))?;
        if matching.next().is_some() {
            return Err(format!("type code {token:?} is ambiguous: it exists in several code systems"));
        }
        if !set.insert(found.code.clone()) {
            return Err(format!("type code {token} is listed twice"));
        }
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lists() -> CodeLists {
        CodeLists::dmp_default()
    }

    fn loinc(code: &str) -> Code {
        Code::new("http://loinc.org", code)
    }

    fn a05(code: &str) -> Code {
        Code::new("https://mos.esante.gouv.fr/NOS/TRE_A05-TypeDocComplementaire/FHIR/TRE-A05-TypeDocComplementaire", code)
    }

    #[test]
    fn the_shipped_matrix_covers_every_profession() {
        let m = ProfessionMatrix::dmp_default();
        for p in Profession::ALL {
            assert!(m.row(*p).is_some(), "no row for {p}");
        }
    }

    #[test]
    fn the_shipped_matrix_holds_the_confirmed_facts() {
        let m = ProfessionMatrix::dmp_default();
        let all_types: Vec<Code> = lists().types.into_iter().map(|t| t.code).collect();
        // Médecin: everything but the residence certificate.
        for t in &all_types {
            assert_eq!(m.permits(Profession::Medecin, t), t.code != "ATTEST-RESID", "médecin, {}", t.code);
        }
        for c in ["80788-3", "75496-0", "83981-1", "83901-9", "68599-0"] {
            assert!(!m.permits(Profession::ChirurgienDentiste, &loinc(c)), "dentiste, {c}");
        }
        for c in ["75496-0", "68599-0", "83901-9", "68817-6", "89601-9"] {
            assert!(!m.permits(Profession::Infirmier, &loinc(c)), "infirmier, {c}");
        }
        for c in ["83981-1", "47420-5", "11502-2", "15507-7", "56445-0"] {
            assert!(m.permits(Profession::Infirmier, &loinc(c)), "infirmier sees {c}");
        }
        for c in ["DOCPAT03", "DOCPAT05", "DOCPAT06", "PROT_ALD"] {
            assert!(m.permits(Profession::Infirmier, &a05(c)), "infirmier sees {c}");
        }
        // Pharmacien: biology, anaesthesia and hospital reports, all prescriptions, protocols, imaging.
        let prescriptions = lists().types.into_iter().filter(|t| t.class == "42").map(|t| t.code);
        for c in prescriptions.chain(["11502-2", "34749-2", "77436-4", "34112-3", "18748-4"].map(loinc)).chain([a05("PROT_ALD")]) {
            assert!(m.permits(Profession::Pharmacien, &c), "pharmacien sees {}", c.code);
        }
    }

    #[test]
    fn rows_permit_as_written_and_missing_rows_deny() {
        let text = "# a comment\nprofession\trule\ttypes\n\n10\tall_except\tATTEST-RESID 11488-4\n60\tonly\t11502-2\n21\tonly\t-\n";
        let m = ProfessionMatrix::parse(text, &lists()).expect("valid");
        assert!(m.permits(Profession::Medecin, &loinc("11502-2")));
        assert!(!m.permits(Profession::Medecin, &loinc("11488-4")));
        assert!(!m.permits(Profession::Medecin, &a05("ATTEST-RESID")));
        assert!(m.permits(Profession::Infirmier, &loinc("11502-2")));
        assert!(!m.permits(Profession::Infirmier, &loinc("11488-4")));
        assert!(!m.permits(Profession::Pharmacien, &loinc("11502-2")), "`only -` sees nothing");
        assert!(!m.permits(Profession::Psychologue, &loinc("11502-2")), "no row sees nothing");
        // A code of the right value but another system is another type.
        assert!(!m.permits(Profession::Infirmier, &Code::new("urn:other", "11502-2")));
    }

    #[test]
    fn bad_lines_are_named() {
        let h = "profession\trule\ttypes\n";
        let cases: [(String, usize, &str); 8] = [
            (format!("{h}10\tall_except\n"), 2, "3 tab-separated cells"),
            (format!("{h}11\tonly\t11502-2\n"), 2, "unknown profession code"),
            (format!("{h}10\tall\t11502-2\n"), 2, "`all_except` or `only`"),
            (format!("{h}# c\n10\tonly\t11502-2 00000-0\n"), 3, "unknown type code \"00000-0\""),
            (format!("{h}10\tonly\t11502-2 11502-2\n"), 2, "listed twice"),
            (format!("{h}10\tonly\t11502-2\n\n10\tonly\t-\n"), 4, "already has a row on line 2"),
            (format!("{h}10\tonly\t\n"), 2, "types is empty"),
            ("system\tcode\tdisplay_fr\tclass_code\n".to_owned(), 1, "header"),
        ];
        for (text, line, needle) in cases {
            match ProfessionMatrix::parse(&text, &lists()) {
                Err(e @ MatrixError::Line { line: l, .. }) => {
                    assert_eq!(l, line, "{text:?}: {e}");
                    assert!(e.to_string().contains(needle), "{text:?}: {e}");
                }
                other => panic!("{text:?}: {other:?}"),
            }
        }
        assert_eq!(ProfessionMatrix::parse("# only comments\n", &lists()), Err(MatrixError::NoHeader));
    }

    #[test]
    fn codes_are_checked_against_the_lists_in_force() {
        let small = CodeLists::parse("h\nS\t10\tCR\n", "h\nS\tT1\tType\t10\n").expect("valid lists");
        assert!(ProfessionMatrix::parse("profession\trule\ttypes\n10\tonly\tT1\n", &small).is_ok());
        let err = ProfessionMatrix::parse(SHIPPED_MATRIX, &small).expect_err("DMP codes unknown to the small lists");
        assert!(err.to_string().contains("unknown type code"), "{err}");
        let twice = CodeLists::parse("h\nS\t10\tCR\n", "h\nS\tT1\tType\t10\nR\tT1\tType\t10\n").expect("valid lists");
        let err = ProfessionMatrix::parse("profession\trule\ttypes\n10\tonly\tT1\n", &twice).expect_err("ambiguous");
        assert!(err.to_string().contains("ambiguous"), "{err}");
    }
}
