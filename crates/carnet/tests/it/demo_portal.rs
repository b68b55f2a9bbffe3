//! The demo as a newcomer meets it: `carnet demo`, a browser on the address it prints first, a
//! demo person picked on the demo provider's page (the code flow), and seeded data on every page
//! — for a patient, and for the parent of a minor. Driven in Debian's Chromium by
//! `tests/portal/check.mjs` (axe-core on every page; screenshots in `target/tmp/portal/demo-*`).

use std::path::PathBuf;
use std::process::Command;

use super::cli::{free_port, start_demo};

#[derive(serde::Deserialize, Debug)]
struct Seen {
    step: String,
    #[serde(default)]
    status: u16,
    #[serde(default)]
    overflow: bool,
    #[serde(default)]
    text: String,
    #[serde(default)]
    violations: Vec<serde_json::Value>,
}

/// Walks `steps` and checks each page: its status is 200, it shows every text given, axe-core
/// finds nothing, nothing scrolls sideways at 360 px.
fn walk(name: &str, steps: &[(String, &[&str])]) -> Vec<Seen> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/portal");
    assert!(dir.join("node_modules/axe-core").exists(), "axe-core is not installed: run scripts/test (npm ci in tests/portal)");
    let output = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/tmp/portal").join(name);
    let _ = std::fs::remove_dir_all(&output);
    let out = Command::new("node")
        .arg("check.mjs")
        .arg(&output)
        .args(steps.iter().map(|(s, _)| s))
        .current_dir(&dir)
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "check.mjs failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let seen: Vec<Seen> = stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
    assert_eq!(seen.len(), steps.len(), "{stdout}");
    for (page, (step, shows)) in seen.iter().zip(steps) {
        assert_eq!(&page.step, step);
        if step.starts_with("fill:") {
            // Acts on the page without leading to another: nothing to check.
            continue;
        }
        assert_eq!(page.status, 200, "{step}: {}", page.text);
        for text in *shows {
            assert!(page.text.contains(text), "{step} should show {text:?}:\n{}", page.text);
        }
        assert!(page.violations.is_empty(), "axe-core on {step}: {:#?}", page.violations);
        assert!(!page.overflow, "{step} scrolls sideways at 360 px");
    }
    seen
}

#[test]
fn a_newcomer_signs_in_to_the_demo_and_finds_data_on_every_page() {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let demo = start_demo(dir.path(), port);
    let origin = format!("http://127.0.0.1:{port}");
    let portal_line = demo.printed.lines().find(|l| l.contains("Portal:")).expect("the portal's address is printed");
    assert!(demo.printed.find("Portal:") < demo.printed.find("Server:"), "printed first:\n{}", demo.printed);
    assert!(portal_line.contains(&format!("{origin}/")), "{portal_line}");

    let page = |path: &str, shows: &'static [&'static str]| (format!("{origin}{path}"), shows);
    let camille = [
        page("/", &["Se connecter"]),
        page("/connexion", &["Choisissez une personne de démonstration", "DÉMONSTRATION"]),
        ("click:Camille Anne LEFEBVRE, patiente".to_owned(), &["Mon dossier médical", "À voir", "Accès en urgence", "Élodie GARNIER"][..]),
        page(
            "/documents",
            &["Échographie abdominale", "Ordonnance de kinésithérapie (corrigée)", "2 versions", "Masqué aux professionnels"],
        ),
        page("/acces", &["Sophie BERNARD", "Autorisé jusqu’au", "Marc LAMBERT"]),
        page("/historique", &["Élodie GARNIER", "Motif donné", "Appel au 15", "Preuve vérifiée", "dont la signature est valide"]),
        page("/remboursements", &["Remboursements dans votre dossier", "Supprimer l’historique des remboursements"]),
        page("/notifications", &["Notifications"]),
        page("/dossier", &["Télécharger toutes mes données", "Fermer mon dossier"]),
        page("/applications", &["Applications connectées"]),
    ];
    walk("demo-camille", &camille);

    let parent = [
        page("/connexion", &["Choisissez une personne de démonstration"]),
        ("click:Marc GIRARD, parent de Chloé (mineure)".to_owned(), &["Vous consultez le dossier de", "Chloé"][..]),
        page("/documents", &["Rappel de vaccination DTP"]),
    ];
    let seen = walk("demo-parent", &parent);
    assert!(!seen[2].text.contains("Consultation confidentielle"), "hidden from her representatives: {}", seen[2].text);

    // The demo's doctor: her space, the search, the record of a patient whose médecin traitant she is.
    let doctor = [
        page("/connexion", &["Patients et proches", "Professionnels de santé", "Autres rôles"]),
        ("click:Dr Sophie BERNARD, médecin généraliste".to_owned(), &["Mon espace professionnel", "Médecin, médecine générale"][..]),
        ("fill:Nom de naissance=lefeb".to_owned(), &[][..]),
        ("click:Rechercher par traits".to_owned(), &["Camille Anne LEFEBVRE"][..]),
        ("link:Camille Anne LEFEBVRE".to_owned(), &["Dossier de Camille LEFEBVRE", "Échographie abdominale"][..]),
    ];
    let seen = walk("demo-medecin", &doctor);
    // Camille's médecin traitant: she sees the document Camille hid from the others (rule 5).
    assert!(seen[4].text.contains("Consultation masquée aux professionnels"), "{}", seen[4].text);
}
