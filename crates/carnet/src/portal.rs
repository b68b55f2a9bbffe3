//! The portal's sign-in, assembled from `[portal]`: the session cookie, the OpenID Connect
//! client, and — with `issuer = "dev"` and the dev issuer on — the dev provider with the demo's
//! people.

use std::sync::Arc;

use anyhow::Context;
use carnet_auth::{DemoPerson, DevClient, DevIssuer, DevProvider, TokenClaims};
use carnet_domain::{Profession, Role};
use carnet_server::portal::session::SessionCookies;
use carnet_server::portal::signin::{Portal, PortalClient};

use crate::config::{PortalSettings, Settings};
use crate::demo_data;

/// The people of the demo data one may sign in as: each patient, the parent of the minor, each
/// professional (the SAMU regulator among them) and the privacy officer.
pub fn demo_people() -> Vec<DemoPerson> {
    let patients = demo_data::patients();
    let mut people: Vec<DemoPerson> = patients
        .iter()
        .map(|p| {
            let name = format!("{} {}", p.given_names, p.birth_name);
            let role = if p.sex == carnet_domain::Sex::Female { "patiente" } else { "patient" };
            DemoPerson {
                label: format!("{name}, {role}"),
                claims: TokenClaims { name: Some(name), ins: Some(p.ins.to_string()), ..TokenClaims::new(p.key, Role::Patient) },
            }
        })
        .collect();
    if let Some(child) = patients.iter().find(|p| p.key == "chloe") {
        people.push(DemoPerson {
            label: format!("Marc GIRARD, parent de {} (mineure)", child.given_names),
            claims: TokenClaims {
                name: Some("Marc GIRARD".into()),
                represents: vec![child.ins.to_string()],
                ..TokenClaims::new("parent-of-chloe", Role::Representative)
            },
        });
    }
    for pro in demo_data::professionals() {
        let name = format!("{} {}", pro.given_name, pro.family_name);
        let what = match pro.key {
            "doctor" => "médecin généraliste",
            "pharmacist" => "pharmacien",
            "nurse" => "infirmière",
            "dentist" => "chirurgien-dentiste",
            "midwife" => "sage-femme",
            "physio" => "masseur-kinésithérapeute",
            "samu" => "médecin régulatrice du SAMU (centre 15)",
            _ => pro.profession.label_fr(),
        };
        let title = if matches!(pro.profession, Profession::Medecin | Profession::ChirurgienDentiste) { "Dr " } else { "" };
        people.push(DemoPerson {
            label: format!("{title}{name}, {what}"),
            // The claims `carnet demo` mints for them (`carnet token` takes the same).
            claims: TokenClaims {
                name: Some(name),
                rpps: Some(pro.rpps.to_string()),
                profession: Some(pro.profession.code().into()),
                specialty: pro.specialty.map(str::to_owned),
                finess: Some(pro.finess.to_string()),
                ..TokenClaims::new(pro.key, if pro.regulator { Role::Regulator } else { Role::Professional })
            },
        });
    }
    people.push(DemoPerson {
        label: "Hélène ROUX, déléguée à la protection des données".into(),
        claims: TokenClaims { name: Some("Hélène ROUX".into()), ..TokenClaims::new("privacy", Role::PrivacyOfficer) },
    });
    people
}

/// The portal's sign-in as configured; without `[portal]`, sign-in is off.
pub fn portal(settings: &Settings) -> anyhow::Result<Portal> {
    let Some(portal) = &settings.portal else { return Ok(Portal::default()) };
    let (origin, secure) = settings.portal_origin()?;
    let cookies = SessionCookies { secure, origin: Some(origin.clone()) };
    let redirect_url = portal.redirect_url.clone().unwrap_or_else(|| format!("{origin}/connexion/retour"));
    let (issuer, dev_provider) = if portal.issuer == PortalSettings::DEV {
        anyhow::ensure!(settings.auth.dev_issuer, "portal.issuer = \"dev\" needs auth.dev_issuer = true (demo and development only)");
        let dev = Arc::new(DevIssuer::load_or_create(&settings.data_dir).context("loading the dev issuer's key")?);
        let issuer = format!("{origin}/dev-issuer");
        let client = DevClient { client_id: portal.client_id.clone(), redirect_uri: redirect_url.clone() };
        (issuer.clone(), Some(Arc::new(DevProvider::new(dev, issuer, demo_people(), vec![client]))))
    } else {
        (portal.issuer.clone(), None)
    };
    let client = PortalClient {
        issuer,
        client_id: portal.client_id.clone(),
        client_secret: portal.client_secret.clone(),
        redirect_url,
        extra_scopes: portal.extra_scopes.clone(),
    };
    Ok(Portal::new(cookies, Some(client), dev_provider))
}
