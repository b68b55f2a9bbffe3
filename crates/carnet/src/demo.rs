//! `carnet demo`: the embedded default with synthetic data, ready to try.

use std::fmt::Write as _;

use anyhow::Context;
use carnet_auth::{DevIssuer, TokenClaims};
use carnet_domain::actor::ProfessionalIdentity;
use carnet_domain::{Actor, ActorKind, InsKind, Professional, ReferenceTraits, Role};
use carnet_service::{NewRecord, ServiceError};

use crate::config::Settings;
use crate::demo_data::{self, DemoPatient, DemoProfessional};
use crate::{App, local_operator};

const TOKEN_LIFETIME_HOURS: i64 = 12;

pub async fn run(settings: &Settings) -> anyhow::Result<()> {
    let app = App::open(settings).await?;
    let dev = app.dev_issuer.as_ref().context("the demo needs the dev issuer")?;
    // Seeded once: every deposit and choice is a ledger entry, and a restart re-applying them
    // would fill the demo patients' access history with the demo's own replays.
    let seeded = settings.data_dir.join("seeded-documents.txt");
    let documents = match std::fs::read_to_string(&seeded) {
        Ok(ids) => ids.lines().filter_map(|l| carnet_domain::DocumentId::parse(l.trim()).ok()).collect(),
        Err(_) => {
            seed(&app).await?;
            let documents = seed_documents(&app).await?;
            seed_policies(&app).await?;
            seed_profiles(&app).await?;
            let ids: String = documents.iter().map(|id| format!("{id}\n")).collect();
            std::fs::write(&seeded, ids).with_context(|| format!("writing {}", seeded.display()))?;
            documents
        }
    };
    let sample = settings.data_dir.join("sample.pdf");
    std::fs::write(&sample, demo_data::pdf(&["Document d'exemple a deposer (fictif)"]))
        .with_context(|| format!("writing {}", sample.display()))?;
    let tokens = mint_tokens(dev, &settings.auth.audience)?;
    let env_file = settings.data_dir.join("tokens.env");
    let exports: String = tokens.iter().map(|(var, _, tok)| format!("export {var}={tok}\n")).collect();
    std::fs::write(&env_file, &exports).with_context(|| format!("writing {}", env_file.display()))?;
    print_welcome(settings, &tokens, &env_file, &documents);
    app.serve(settings, None).await
}

fn actor_of(pro: &DemoProfessional) -> Actor {
    let identity = ProfessionalIdentity {
        rpps: pro.rpps.clone(),
        profession: pro.profession,
        specialty: pro.specialty.map(str::to_owned),
        organisation: Some(pro.finess.clone()),
    };
    Actor {
        issuer: DevIssuer::ISSUER.into(),
        subject: pro.key.into(),
        name: Some(format!("{} {}", pro.given_name, pro.family_name)),
        kind: if pro.regulator { ActorKind::Regulator(identity) } else { ActorKind::Professional(identity) },
        scopes: carnet_domain::Scopes::RoleOnly,
        client: None,
    }
}

/// Creates the directory entries and records; safe to run again on an existing data directory.
async fn seed(app: &App) -> anyhow::Result<()> {
    let pros = demo_data::professionals();
    let entries: Vec<Professional> = pros
        .iter()
        .map(|p| Professional {
            email: Some(format!("{}@demo.carnet.invalid", p.key)),
            rpps: p.rpps.clone(),
            family_name: p.family_name.into(),
            given_name: p.given_name.into(),
            profession: p.profession,
            specialty: p.specialty.map(str::to_owned),
            organisation: Some(p.finess.clone()),
        })
        .collect();
    app.carnet.save_professionals(&local_operator(), entries).await?;

    let by_key = |key: &str| pros.iter().find(|p| p.key == key).map(actor_of);
    let insurer = insurer();
    for (i, patient) in demo_data::patients().iter().enumerate() {
        // Records come through every channel, as they would in life.
        let creator = match i % 4 {
            0 => patient_actor(patient),
            1 => by_key("pharmacist").context("pharmacist")?,
            2 => by_key("doctor").context("doctor")?,
            _ => insurer.clone(),
        };
        let new = NewRecord {
            ins: patient.ins.clone(),
            ins_kind: InsKind::Nir,
            identity_status: patient.identity_status,
            traits: ReferenceTraits {
                birth_name: patient.birth_name.into(),
                birth_given_names: patient.given_names.into(),
                birth_date: patient.birth_date,
                sex: patient.sex,
                birthplace: Some(patient.birthplace.into()),
            },
        };
        match app.carnet.create_record(&creator, new).await {
            Ok(_) | Err(ServiceError::Conflict(_)) => {}
            Err(e) => return Err(e).context(format!("creating the record of {}", patient.key)),
        }
    }
    Ok(())
}

/// Deposits the demo documents (idempotent: the same unique ids and bytes answer `Unchanged`).
/// Returns each document's id, in the order of `demo_data::documents()`.
async fn seed_documents(app: &App) -> anyhow::Result<Vec<carnet_domain::DocumentId>> {
    let pros = demo_data::professionals();
    let patients = demo_data::patients();
    let codes = carnet_domain::codes::CodeLists::dmp_default();
    let now = time::OffsetDateTime::now_utc();
    let mut ids: Vec<carnet_domain::DocumentId> = Vec::new();
    let mut by_unique_id = std::collections::HashMap::new();
    for doc in demo_data::documents() {
        let author = if doc.author == "insurer" {
            insurer()
        } else {
            pros.iter().find(|p| p.key == doc.author).map(actor_of).context("demo author")?
        };
        let replaces = match doc.replaces {
            Some(earlier) => Some(*by_unique_id.get(earlier).context("a demo document replaces one deposited before it")?),
            None => None,
        };
        let patient = patients.iter().find(|p| p.key == doc.patient).context("demo patient")?;
        let type_code = codes.find_type_by_code(doc.type_code).context("demo type code")?;
        let submission = carnet_domain::document::DocumentSubmission {
            ins: patient.ins.clone(),
            xds: carnet_domain::document::XdsMetadata {
                unique_id: doc.unique_id.into(),
                class_code: carnet_domain::codes::Code::new(carnet_domain::codes::CLASS_SYSTEM, &type_code.class),
                type_code: type_code.code.clone(),
                format_code: carnet_domain::codes::Code::new(carnet_domain::codes::FORMAT_SYSTEM_IHE, "urn:ihe:iti:xds-sd:pdf:2008"),
                practice_setting: None,
                facility_type: None,
                service_start: None,
                service_end: None,
                mime_type: "application/pdf".into(),
                language: "fr-FR".into(),
                authored_at: Some(now - time::Duration::days(doc.days_ago)),
            },
            title: Some(doc.title.into()),
            declared_author: None,
            labels: doc.labels.to_vec(),
            declared_size: None,
            declared_sha256: None,
            replaces,
        };
        let bytes = bytes::Bytes::from(demo_data::pdf(doc.lines));
        let content = futures::stream::iter([Ok::<_, carnet_service::ContentError>(bytes)]);
        let view = match app.carnet.submit_document(&author, submission, content).await {
            Ok(carnet_service::Submitted::Created(v) | carnet_service::Submitted::Unchanged(v)) => v,
            Err(e) => return Err(e).context(format!("depositing the demo document {}", doc.unique_id)),
        };
        by_unique_id.insert(doc.unique_id, view.meta.id);
        ids.push(view.meta.id);
    }
    Ok(ids)
}

/// The practice software's structured data for each demo patient (idempotent: a record that
/// already holds its items is left as it is).
async fn seed_profiles(app: &App) -> anyhow::Result<()> {
    let software = Actor {
        issuer: DevIssuer::ISSUER.into(),
        subject: "logiciel-cabinet".into(),
        name: Some("le logiciel du cabinet du Dr Bernard".into()),
        kind: ActorKind::System { organisation: None },
        scopes: carnet_domain::Scopes::RoleOnly,
        client: None,
    };
    for patient in demo_data::patients() {
        let items = demo_data::profile(patient.key);
        app.carnet.import_profile_items(&software, &patient.ins, items).await.context(format!("the profile of {}", patient.key))?;
    }
    Ok(())
}

/// The insurer's agent of the demo (records opened at the desk, the reimbursement history).
fn insurer() -> Actor {
    Actor {
        issuer: DevIssuer::ISSUER.into(),
        subject: "insurer".into(),
        name: Some("Agent CPAM".into()),
        kind: ActorKind::InsurerAgent,
        scopes: carnet_domain::Scopes::RoleOnly,
        client: None,
    }
}

/// The patients' choices: Camille's médecin traitant is Dr Bernard, she authorized her nurse
/// for a month and blocked her former dentist; Lucas authorized his pharmacist (for the
/// pharmacy's three days); Chloé's father is registered as her legal representative at the
/// insurer's desk. Then what others did: the SAMU regulator opened Camille's record after a call
/// to the 15 and read her latest lab report.
async fn seed_policies(app: &App) -> anyhow::Result<()> {
    use carnet_domain::PolicyChange;
    use carnet_domain::policy::RepresentationKind;
    let pros = demo_data::professionals();
    let patients = demo_data::patients();
    let rpps = |key: &str| pros.iter().find(|p| p.key == key).map(|p| p.rpps.clone()).context("demo professional");
    let patient = |key: &str| patients.iter().find(|p| p.key == key).context("demo patient");
    let camille = patient("camille")?;
    let lucas = patient("lucas")?;
    let chloe = patient("chloe")?;
    let changes = [
        (patient_actor(camille), camille.ins.clone(), PolicyChange::SetMedecinTraitant { rpps: Some(rpps("doctor")?) }),
        (
            patient_actor(camille),
            camille.ins.clone(),
            PolicyChange::Authorize {
                rpps: rpps("nurse")?,
                profession: None,
                expires_at: Some(time::OffsetDateTime::now_utc() + time::Duration::days(30)),
            },
        ),
        (patient_actor(camille), camille.ins.clone(), PolicyChange::Block { rpps: rpps("dentist")? }),
        (
            patient_actor(lucas),
            lucas.ins.clone(),
            PolicyChange::Authorize { rpps: rpps("pharmacist")?, profession: None, expires_at: None },
        ),
        (
            insurer(),
            chloe.ins.clone(),
            PolicyChange::AddRepresentative {
                representative: format!("{}#parent-of-chloe", DevIssuer::ISSUER),
                kind: RepresentationKind::Minor,
                since: None,
                until: Some(time::macros::datetime!(2030-02-27 0:00 UTC)),
            },
        ),
    ];
    for (actor, ins, change) in changes {
        app.carnet.change_policy(&actor, &ins, change).await.with_context(|| format!("seeding the policy of {ins}"))?;
    }
    let samu = pros.iter().find(|p| p.key == "samu").map(actor_of).context("demo regulator")?;
    app.carnet
        .open_emergency(&samu, &camille.ins, carnet_domain::EmergencyKind::Samu, "Appel au 15 : malaise à domicile (démonstration)")
        .await
        .context("seeding an emergency access")?;
    if let Some(latest) = app.carnet.visible_documents(&samu, &camille.ins).await.context("the regulator's list")?.first() {
        app.carnet.document(&samu, latest.meta().id).await.context("the regulator's reading")?;
    }
    Ok(())
}

fn patient_actor(p: &DemoPatient) -> Actor {
    Actor {
        issuer: DevIssuer::ISSUER.into(),
        subject: p.key.into(),
        name: Some(format!("{} {}", p.given_names, p.birth_name)),
        kind: ActorKind::Patient { ins: p.ins.clone() },
        scopes: carnet_domain::Scopes::RoleOnly,
        client: None,
    }
}

/// (variable, who, token) for every demo user.
fn mint_tokens(dev: &DevIssuer, audience: &str) -> anyhow::Result<Vec<(String, String, String)>> {
    let now = time::OffsetDateTime::now_utc();
    let lifetime = time::Duration::hours(TOKEN_LIFETIME_HOURS);
    let mut out = Vec::new();
    let mut push = |key: &str, who: String, claims: TokenClaims| -> anyhow::Result<()> {
        let token = dev.mint(&claims, audience, lifetime, now)?;
        out.push((format!("CARNET_TOKEN_{}", key.to_uppercase()), who, token));
        Ok(())
    };
    let patients = demo_data::patients();
    for p in &patients {
        let who = format!("patient {} {} (INS {})", p.given_names, p.birth_name, p.ins);
        let claims = TokenClaims {
            sub: p.key.into(),
            name: Some(format!("{} {}", p.given_names, p.birth_name)),
            role: Role::Patient,
            ins: Some(p.ins.to_string()),
            ..TokenClaims::default()
        };
        push(p.key, who, claims)?;
    }
    if let Some(child) = patients.iter().find(|p| p.key == "chloe") {
        let claims = TokenClaims {
            sub: "parent-of-chloe".into(),
            name: Some("Marc GIRARD".into()),
            role: Role::Representative,
            represents: vec![child.ins.to_string()],
            ..TokenClaims::default()
        };
        push("parent", format!("legal representative of {} (a minor)", child.given_names), claims)?;
    }
    for pro in demo_data::professionals() {
        let who = format!(
            "{} {} {}, {} (RPPS {})",
            if pro.regulator { "SAMU regulator" } else { "professional" },
            pro.given_name,
            pro.family_name,
            pro.profession.label_fr(),
            pro.rpps
        );
        let claims = TokenClaims {
            sub: pro.key.into(),
            name: Some(format!("{} {}", pro.given_name, pro.family_name)),
            role: if pro.regulator { Role::Regulator } else { Role::Professional },
            rpps: Some(pro.rpps.to_string()),
            profession: Some(pro.profession.code().into()),
            specialty: pro.specialty.map(str::to_owned),
            finess: Some(pro.finess.to_string()),
            ..TokenClaims::default()
        };
        push(pro.key, who, claims)?;
    }
    for (key, role, who) in [
        ("insurer", Role::InsurerAgent, "insurer agent (Assurance Maladie desk)"),
        ("privacy", Role::PrivacyOfficer, "privacy officer"),
        ("operator", Role::Operator, "operator"),
    ] {
        let claims = TokenClaims { sub: key.into(), name: Some(who.into()), role, ..TokenClaims::default() };
        push(key, who.into(), claims)?;
    }
    Ok(out)
}

fn print_welcome(
    settings: &Settings,
    tokens: &[(String, String, String)],
    env_file: &std::path::Path,
    documents: &[carnet_domain::DocumentId],
) {
    let url = format!("http://{}", settings.bind);
    let patients = demo_data::patients();
    let (camille, lucas) = (&patients[0], &patients[1]);
    let doctor = &demo_data::professionals()[0];
    let mut s = String::new();
    let _ = writeln!(s, "\nCarnet demo — synthetic data only, in {}\n", settings.data_dir.display());
    if settings.portal.is_some() {
        let _ = writeln!(
            s,
            "  Portal:        {url}/   (open it in a browser: « Se connecter », then pick {} or another demo person)",
            camille.given_names
        );
        let _ = writeln!(
            s,
            "                 as Dr Sophie BERNARD, find {} {} by INS {} (synthetic) in « Rechercher un patient »",
            camille.given_names, camille.birth_name, camille.ins
        );
    }
    let _ = writeln!(s, "  Server:        {url}");
    let _ = writeln!(s, "  API document:  {url}/api/openapi.json");
    let _ = writeln!(s, "  Health:        {url}/health   Metrics: {url}/metrics\n");
    let _ = writeln!(s, "Demo users and their tokens (valid {TOKEN_LIFETIME_HOURS} h; also in {}):", env_file.display());
    for (var, who, token) in tokens {
        let _ = writeln!(s, "\n  # {who}\n  export {var}={token}");
    }
    let _ = writeln!(s, "\nTry, in another terminal (after `source {}`):\n", env_file.display());
    let _ = writeln!(s, "  # Camille reads her own record");
    let _ = writeln!(s, "  curl -s -H \"Authorization: Bearer $CARNET_TOKEN_CAMILLE\" {url}/api/records/{}\n", camille.ins);
    let _ = writeln!(s, "  # Dr Bernard checks Lucas's record status by INS");
    let _ = writeln!(s, "  curl -s -H \"Authorization: Bearer $CARNET_TOKEN_DOCTOR\" {url}/api/records/{}\n", lucas.ins);
    let _ = writeln!(s, "  # Camille cannot read Lucas's record (403)");
    let _ = writeln!(s, "  curl -s -H \"Authorization: Bearer $CARNET_TOKEN_CAMILLE\" {url}/api/records/{}\n", lucas.ins);
    let _ = writeln!(s, "  # The insurer reads statistics by channel and organisation");
    let _ = writeln!(s, "  curl -s -H \"Authorization: Bearer $CARNET_TOKEN_INSURER\" {url}/api/statistics/records\n");
    let _ = writeln!(s, "  # Look up a professional in the directory");
    let _ = writeln!(s, "  curl -s -H \"Authorization: Bearer $CARNET_TOKEN_NURSE\" {url}/api/professionals/{}\n", doctor.rpps);
    let _ = writeln!(s, "  # The pharmacist opens a record for a new patient (a second call answers 409)");
    let _ = writeln!(
        s,
        "  curl -s -X POST -H \"Authorization: Bearer $CARNET_TOKEN_PHARMACIST\" -H 'Content-Type: application/json' \\\n    -d '{{\"ins\":\"{}\",\"identity_status\":\"qualifiee\",\"birth_name\":\"NICOLAS\",\"birth_given_names\":\"Léa\",\"birth_date\":\"1995-05-21\",\"sex\":\"F\",\"birthplace\":\"44109\"}}' \\\n    {url}/api/records\n",
        demo_data::extra_patient_ins()
    );
    let _ = writeln!(s, "  # Camille lists her documents (stored encrypted under her own key)");
    let _ = writeln!(s, "  curl -s -H \"Authorization: Bearer $CARNET_TOKEN_CAMILLE\" {url}/api/records/{}/documents\n", camille.ins);
    if let Some(first) = documents.first() {
        let _ = writeln!(s, "  # … and downloads her lab report (a PDF; add -H 'Range: bytes=0-99' for a part)");
        let _ = writeln!(
            s,
            "  curl -s -H \"Authorization: Bearer $CARNET_TOKEN_CAMILLE\" -o lab-report.pdf {url}/api/documents/{first}/content\n"
        );
    }
    let _ = writeln!(s, "  # Dr Bernard deposits a consultation report for Lucas (streamed: any size)");
    let _ = writeln!(
        s,
        "  curl -s -H \"Authorization: Bearer $CARNET_TOKEN_DOCTOR\" \\\n    -F 'metadata={{\"unique_id\":\"1.2.250.1.213.1.1.9.2001\",\"type_code\":\"11488-4\",\"title\":\"Consultation\"}};type=application/json' \\\n    -F 'content=@{};type=application/pdf' {url}/api/records/{}/documents\n",
        settings.data_dir.join("sample.pdf").display(),
        lucas.ins
    );
    let _ = writeln!(s, "  # Nathalie Dubois, the nurse Camille authorized, lists her documents: not the one Camille hid");
    let _ = writeln!(s, "  curl -s -H \"Authorization: Bearer $CARNET_TOKEN_NURSE\" {url}/api/records/{}/documents\n", camille.ins);
    let _ = writeln!(s, "  # Camille reads her access history (who, when, what, why; each entry with its ledger index)");
    let _ = writeln!(
        s,
        "  curl -s -H \"Authorization: Bearer $CARNET_TOKEN_CAMILLE\" '{url}/api/records/{}/access-history?limit=20'\n",
        camille.ins
    );
    let _ = writeln!(s, "  # The SAMU regulator opens Lucas's record in an emergency (reviewed by the privacy officer)");
    let _ = writeln!(
        s,
        "  curl -s -X POST -H \"Authorization: Bearer $CARNET_TOKEN_SAMU\" -H 'Content-Type: application/json' \\\n    -d '{{\"kind\":\"samu\",\"justification\":\"Appel au 15, patient inconscient\"}}' {url}/api/records/{}/emergency-access\n",
        lucas.ins
    );
    let _ = writeln!(s, "  # The privacy officer's review queue");
    let _ = writeln!(s, "  curl -s -H \"Authorization: Bearer $CARNET_TOKEN_PRIVACY\" {url}/api/review-items\n");
    let _ = writeln!(s, "  # Anyone can check the ledger's signed tree head (verify it offline: carnet ledger verify)");
    let _ = writeln!(s, "  curl -s -H \"Authorization: Bearer $CARNET_TOKEN_OPERATOR\" {url}/api/ledger/tree-head\n");
    let _ = writeln!(s, "  # Camille closes her record, then reopens it");
    let _ = writeln!(
        s,
        "  curl -s -X POST -H \"Authorization: Bearer $CARNET_TOKEN_CAMILLE\" -H 'Content-Type: application/json' -d '{{\"reason\":\"trying the demo\"}}' {url}/api/records/{}/close",
        camille.ins
    );
    let _ = writeln!(s, "  curl -s -X POST -H \"Authorization: Bearer $CARNET_TOKEN_CAMILLE\" {url}/api/records/{}/reopen\n", camille.ins);
    let _ = writeln!(
        s,
        "  # Mint any other token: carnet token --data-dir {} --role professional --rpps … --profession 60\n",
        settings.data_dir.display()
    );
    let _ = writeln!(s, "Press Ctrl-C to stop. Run again to reuse the same data.");
    // A closed stdout (the reader went away) must not stop the server.
    let mut out = std::io::stdout().lock();
    let _ = std::io::Write::write_all(&mut out, s.as_bytes()).and_then(|()| std::io::Write::flush(&mut out));
}
