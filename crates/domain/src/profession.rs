//! Professions of the TRE_G15 nomenclature ("ProfessionSante").

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! professions {
    ($($variant:ident = $code:literal, $label:literal;)*) => {
        /// A health profession, identified by its TRE_G15 code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub enum Profession { $($variant,)* }

        impl Profession {
            pub const ALL: &'static [Profession] = &[$(Profession::$variant,)*];

            pub fn code(self) -> &'static str {
                match self { $(Profession::$variant => $code,)* }
            }

            pub fn label_fr(self) -> &'static str {
                match self { $(Profession::$variant => $label,)* }
            }
        }
    };
}

professions! {
    Medecin = "10", "Médecin";
    Pharmacien = "21", "Pharmacien";
    Audioprothesiste = "26", "Audioprothésiste";
    OpticienLunetier = "28", "Opticien-lunetier";
    AssistantDentaire = "31", "Assistant dentaire";
    PhysicienMedical = "32", "Physicien médical";
    AideSoignant = "35", "Aide-soignant";
    Ambulancier = "36", "Ambulancier";
    AuxiliairePuericulture = "37", "Auxiliaire de puériculture";
    PreparateurPharmacieHospitaliere = "38", "Préparateur en pharmacie hospitalière";
    PreparateurPharmacie = "39", "Préparateur en pharmacie";
    ChirurgienDentiste = "40", "Chirurgien-dentiste";
    SageFemme = "50", "Sage-femme";
    Infirmier = "60", "Infirmier";
    InfirmierPsychiatrique = "69", "Infirmier psychiatrique";
    MasseurKinesitherapeute = "70", "Masseur-kinésithérapeute";
    PedicurePodologue = "80", "Pédicure-podologue";
    Orthoprothesiste = "81", "Orthoprothésiste";
    PodoOrthesiste = "82", "Podo-orthésiste";
    OrthopedisteOrthesiste = "83", "Orthopédiste-orthésiste";
    Oculariste = "84", "Oculariste";
    Epithesiste = "85", "Épithésiste";
    TechnicienLaboratoire = "86", "Technicien de laboratoire médical";
    Orthophoniste = "91", "Orthophoniste";
    Orthoptiste = "92", "Orthoptiste";
    Psychologue = "93", "Psychologue";
    Ergotherapeute = "94", "Ergothérapeute";
    Dieteticien = "95", "Diététicien";
    Psychomotricien = "96", "Psychomotricien";
    ManipulateurErm = "98", "Manipulateur ERM";
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown profession code {0:?} (TRE_G15, e.g. 10 médecin, 21 pharmacien, 60 infirmier)")]
pub struct UnknownProfession(pub String);

impl Profession {
    /// The FHIR code system of TRE_G15.
    pub const SYSTEM: &'static str = "https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante";

    pub fn from_code(code: &str) -> Result<Profession, UnknownProfession> {
        let code = code.trim();
        Profession::ALL.iter().copied().find(|p| p.code() == code).ok_or_else(|| UnknownProfession(code.to_owned()))
    }
}

impl fmt::Display for Profession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.label_fr(), self.code())
    }
}

impl TryFrom<String> for Profession {
    type Error = UnknownProfession;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Profession::from_code(&s)
    }
}

impl From<Profession> for String {
    fn from(p: Profession) -> String {
        p.code().to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_round_trip() {
        for p in Profession::ALL {
            assert_eq!(Profession::from_code(p.code()), Ok(*p));
        }
        let mut codes: Vec<_> = Profession::ALL.iter().map(|p| p.code()).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), Profession::ALL.len());
        assert_eq!(Profession::from_code("10"), Ok(Profession::Medecin));
        assert_eq!(Profession::from_code("21"), Ok(Profession::Pharmacien));
        assert!(Profession::from_code("11").is_err());
    }
}
