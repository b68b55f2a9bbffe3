//! `carnet-bench portal`: the patient's pages under load, as the demo serves them. `carnet demo`
//! runs as the server under test; its first patient's record is topped up to `--documents`
//! documents; a session is opened through the real sign-in (the code flow against the demo's
//! provider, PKCE and all, timed from the first request to the first page); then wrk loads each
//! page with that session's cookie, at full load and at half of it, against the hello-world
//! ceiling measured in the same run. Each page's weight (HTML and the stylesheet it loads) is
//! printed too. The same record's page as its médecin traitant opens it in the professional's
//! space (`/patients/{handle}`, found by INS in her own session) is loaded next. Then that
//! professional (the demo's doctor, signed in the same way) deposits a document into the record
//! through the portal's form (`POST /patients/{handle}/deposer`, multipart, CSRF token and all),
//! each request a real deposit: ledger, encryption, blob, row, notification.

use std::time::Instant;

use anyhow::{Context, bail};
use base64::Engine;

use crate::bench::ServerUnderTest;
use crate::bench_http::{Load, Wrk, half_load};

#[derive(clap::Args)]
pub struct PortalArgs {
    #[command(flatten)]
    pub load: crate::bench_http::WrkArgs,
    /// Documents in the patient's record (the demo's own count towards it).
    #[arg(long, default_value_t = 200)]
    pub documents: usize,
    /// The pages to load (paths of the portal).
    #[arg(long, value_delimiter = ',', default_value = "/,/documents,/historique")]
    pub pages: Vec<String>,
    /// A short run that only proves the harness works (CI).
    #[arg(long)]
    pub smoke: bool,
}

pub async fn portal(args: PortalArgs) -> anyhow::Result<()> {
    let (seconds, connections) = if args.smoke { (2, 4) } else { (args.load.seconds, args.load.connections) };
    let documents = if args.smoke { 20 } else { args.documents };
    println!(
        "carnet-bench portal: carnet demo (SQLite); wrk, {} thread(s), {connections} connections, {seconds} s per workload",
        args.load.threads
    );
    let tmp = tempfile::tempdir()?;
    let env: Vec<(&str, String)> = vec![("CARNET_POLICY__ENUMERATION_LIMIT_PER_HOUR", "100000000".into())];
    let server = ServerUnderTest::start_demo(tmp.path(), &env).await?;
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let tokens = std::fs::read_to_string(tmp.path().join("carnet-demo/tokens.env")).context("the demo's tokens.env")?;
    let token_of = |var: &str| {
        tokens
            .lines()
            .find_map(|l| l.strip_prefix(&format!("export {var}=")))
            .map(str::to_owned)
            .with_context(|| format!("{var} in tokens.env"))
    };
    let (patient, doctor) = (token_of("CARNET_TOKEN_CAMILLE")?, token_of("CARNET_TOKEN_DOCTOR")?);
    let ins = claim(&patient, "ins")?;

    let seeding = Instant::now();
    let listed = |client: &reqwest::Client| {
        let url = format!("{}/api/records/{ins}/documents", server.url);
        let patient = patient.clone();
        let client = client.clone();
        async move { anyhow::Ok(client.get(url).bearer_auth(patient).send().await?.json::<serde_json::Value>().await?["total"].as_u64()) }
    };
    let already = listed(&client).await?.context("the patient's document count")? as usize;
    for n in already..documents {
        let type_code = ["11502-2", "11488-4", "57833-6", "18748-4"][n % 4];
        let meta = serde_json::json!({
            "unique_id": format!("1.2.250.1.999.7.{n}"), "type_code": type_code,
            "title": format!("Document de charge n° {n}"), "mime_type": "application/pdf",
            "authored_at": format!("2026-{:02}-{:02}T10:00:00Z", 1 + n % 12, 1 + n % 28),
        });
        let form = reqwest::multipart::Form::new()
            .part("metadata", reqwest::multipart::Part::text(meta.to_string()).mime_str("application/json")?)
            .part("content", reqwest::multipart::Part::bytes(b"%PDF-1.7 bench".to_vec()).mime_str("application/pdf")?);
        let r = client.post(format!("{}/api/records/{ins}/documents", server.url)).bearer_auth(&doctor).multipart(form).send().await?;
        if !r.status().is_success() {
            bail!("seeding document {n}: {} {}", r.status(), r.text().await.unwrap_or_default());
        }
    }
    let total = listed(&client).await?.unwrap_or_default();
    println!(
        "the demo patient's record: {total} documents ({} added in {:.1} s)",
        total as usize - already,
        seeding.elapsed().as_secs_f64()
    );

    // Sign-in to first page, five times: the code flow through the demo's provider.
    let mut sign_ins = Vec::new();
    let mut cookie = String::new();
    for _ in 0..5 {
        let started = Instant::now();
        cookie = sign_in(&client, &server.url, "Camille").await?;
        let home = client.get(format!("{}/", server.url)).header("cookie", &cookie).send().await?;
        if !home.status().is_success() || !home.text().await?.contains("Mon dossier médical") {
            bail!("the first page after sign-in is not the patient's home");
        }
        sign_ins.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    sign_ins.sort_by(f64::total_cmp);

    let stylesheet = client.get(format!("{}/static/carnet.css", server.url)).send().await?.bytes().await?.len();
    let mut weights = Vec::new();
    for page in &args.pages {
        let r = client.get(format!("{}{page}", server.url)).header("cookie", &cookie).header("accept", "text/html").send().await?;
        if !r.status().is_success() {
            bail!("{page} answered {} to the signed-in patient", r.status());
        }
        weights.push((page.clone(), r.bytes().await?.len()));
    }

    // The médecin traitant's view of the same record: her session, the search by INS, the handle.
    let doctor_cookie = sign_in(&client, &server.url, "Sophie BERNARD").await?;
    let home = client.get(format!("{}/", server.url)).header("cookie", &doctor_cookie).send().await?.text().await?;
    let csrf = home.split("name=\"csrf\" value=\"").nth(1).and_then(|r| r.split('"').next()).context("the doctor's CSRF token")?;
    let found = client
        .post(format!("{}/patients/rechercher", server.url))
        .header("cookie", &doctor_cookie)
        .header("origin", &server.url)
        .form(&[("csrf", csrf), ("par", "ins"), ("ins", ins.as_str())])
        .send()
        .await?
        .text()
        .await?;
    let handle = found.split("href=\"/patients/").nth(1).and_then(|r| r.split('"').next()).context("the patient found by the doctor")?;
    let record_page = format!("/patients/{handle}");
    let r = client.get(format!("{}{record_page}", server.url)).header("cookie", &doctor_cookie).send().await?;
    if !r.status().is_success() {
        bail!("the record page answered {} to the médecin traitant", r.status());
    }
    weights.push(("/patients/{handle}".to_owned(), r.bytes().await?.len()));

    let wrk = Wrk { bin: &args.load.wrk, seconds, connections, threads: args.load.threads, scripts: tmp.path() };
    let patient_script = |delay_ms: Option<f64>| page_script(&cookie, delay_ms);
    let hello = wrk.run(&format!("{}/health", server.url), &patient_script(None), None)?;
    let mut rows: Vec<(String, Load, Load)> = Vec::new();
    for page in &args.pages {
        let url = format!("{}{page}", server.url);
        let full = wrk.run(&url, &patient_script(None), None)?;
        let half = half_load(&wrk, &url, &full, connections, &patient_script)?;
        rows.push((page.clone(), full, half));
    }
    let url = format!("{}{record_page}", server.url);
    let doctor_script = |delay_ms: Option<f64>| page_script(&doctor_cookie, delay_ms);
    let full = wrk.run(&url, &doctor_script(None), None)?;
    let half = half_load(&wrk, &url, &full, connections, &doctor_script)?;
    rows.push(("/patients/{handle} (médecin traitant)".to_owned(), full, half));

    // A deposit through the professional's form, as the demo's doctor.
    let doctor_cookie = sign_in(&client, &server.url, "Sophie BERNARD").await?;
    let session_id = doctor_cookie.split_once('=').map(|(_, id)| id).context("the doctor's session cookie")?;
    let patient_ins: carnet_domain::Ins = ins.parse().map_err(|e| anyhow::anyhow!("the demo patient's INS: {e}"))?;
    let form_url =
        format!("{}/patients/{}/deposer", server.url, carnet_server::portal::patients::handle_in_session(session_id, &patient_ins));
    let form = client.get(&form_url).header("cookie", &doctor_cookie).send().await?;
    if !form.status().is_success() {
        bail!("the deposit form answered {} to the demo's doctor", form.status());
    }
    let form = form.text().await?;
    let csrf = form.split("name=\"csrf\" value=\"").nth(1).and_then(|r| r.split('"').next()).context("the form's CSRF token")?;
    let (boundary, body) = deposit_form(csrf, DEPOSIT_BYTES);
    let probe = client
        .post(&form_url)
        .header("cookie", &doctor_cookie)
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(body.clone())
        .send()
        .await?;
    if probe.status() != reqwest::StatusCode::SEE_OTHER {
        bail!("a deposit through the form answered {}: {}", probe.status(), probe.text().await.unwrap_or_default());
    }
    let deposit = wrk.run(&form_url, &deposit_script(&doctor_cookie, &boundary, &body), None)?;
    let after = listed(&client).await?.unwrap_or_default();

    let ratio = |l: &Load| 100.0 * l.requests_per_second / hello.requests_per_second;
    println!("\n{:<40} {:>10} {:>9} {:>9} {:>8} {:>13}", "page (signed-in person)", "req/s", "p50 ms", "p99 ms", "vs hello", "p99 ms at ½");
    println!(
        "{:<40} {:>10.0} {:>9.2} {:>9.2} {:>7.0}%",
        "hello world (GET /health, same stack)", hello.requests_per_second, hello.p50_ms, hello.p99_ms, 100.0
    );
    for (page, full, half) in &rows {
        println!(
            "{:<40} {:>10.0} {:>9.2} {:>9.2} {:>7.0}% {:>13.2}",
            page,
            full.requests_per_second,
            full.p50_ms,
            full.p99_ms,
            ratio(full),
            half.p99_ms
        );
    }
    println!(
        "{:<40} {:>10.0} {:>9.2} {:>9.2} {:>7.0}%",
        format!("deposit through the form ({} KiB PDF)", DEPOSIT_BYTES / 1024),
        deposit.requests_per_second,
        deposit.p50_ms,
        deposit.p99_ms,
        ratio(&deposit)
    );
    println!("  the record went from {total} to {after} documents (wrk counted {} answers, all 303)", deposit.requests);
    println!("\npage weights (HTML + the stylesheet, {stylesheet} B, uncompressed):");
    for (page, bytes) in &weights {
        println!("  {page:<20} {:>7} B + {stylesheet} B = {:.1} KB", bytes, (bytes + stylesheet) as f64 / 1024.0);
    }
    println!(
        "sign-in to first page (code flow with PKCE through the demo's provider, 5 runs): median {:.0} ms, max {:.0} ms",
        sign_ins[sign_ins.len() / 2],
        sign_ins[sign_ins.len() - 1]
    );
    let worst_half = rows.iter().map(|(_, _, h)| h.p99_ms).fold(0.0, f64::max);
    let heaviest = weights.iter().map(|(_, b)| b + stylesheet).max().unwrap_or(0);
    println!(
        "\ntargets: p99 ≤ 50 ms at half load ({worst_half:.2} ms, worst page); pages ≤ 60 KB ({:.1} KB, heaviest); sign-in to first page < 1 s ({:.0} ms, max)",
        heaviest as f64 / 1024.0,
        sign_ins[sign_ins.len() - 1]
    );
    Ok(())
}

/// Lua: a browser's GET of a page with the session cookie, optionally paced (see
/// `bench_http::get_script`).
fn page_script(cookie: &str, delay_ms: Option<f64>) -> String {
    let delay = delay_ms
        .map(|d| format!("math.randomseed(os.time() + math.floor(os.clock() * 1e6))\nfunction delay() return -{d:.3} * math.log(1 - math.random()) end\n"))
        .unwrap_or_default();
    format!("wrk.method = \"GET\"\nwrk.headers[\"Cookie\"] = \"{cookie}\"\nwrk.headers[\"Accept\"] = \"text/html\"\n{delay}")
}

/// A claim of a JWT's payload (the demo's tokens are the bench's to read).
fn claim(jwt: &str, name: &str) -> anyhow::Result<String> {
    let payload = jwt.split('.').nth(1).context("a JWT")?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload)?;
    let json: serde_json::Value = serde_json::from_slice(&bytes)?;
    json[name].as_str().map(str::to_owned).with_context(|| format!("claim {name}"))
}

/// The `Location` of a redirect, made absolute.
fn location(base: &str, r: &reqwest::Response) -> anyhow::Result<String> {
    let to = r.headers().get("location").context("a redirect")?.to_str()?;
    Ok(if to.starts_with('/') { format!("{base}{to}") } else { to.to_owned() })
}

/// The size of the document each deposit of the benchmark sends.
const DEPOSIT_BYTES: usize = 16 * 1024;

/// The deposit form's body as a browser sends it: the token, the fields, then a PDF of `size`
/// bytes; its boundary and bytes.
fn deposit_form(csrf: &str, size: usize) -> (String, Vec<u8>) {
    let boundary = "----carnet-bench-depot-5e21";
    let mut body = Vec::new();
    for (name, value) in
        [("csrf", csrf), ("titre", "Compte rendu de consultation"), ("type", "11488-4"), ("date", "2024-01-15"), ("remplace", "")]
    {
        body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes());
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"fichier\"; filename=\"cr.pdf\"\r\nContent-Type: application/pdf\r\n\r\n"
        )
        .as_bytes(),
    );
    let mut pdf = b"%PDF-1.7\n% carnet-bench deposit\n".to_vec();
    pdf.resize(size, b'x');
    body.extend_from_slice(&pdf);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (boundary.to_owned(), body)
}

/// Lua: the form's POST with the session cookie, the same body every time (each is a new
/// document: the unique id is the server's).
fn deposit_script(cookie: &str, boundary: &str, body: &[u8]) -> String {
    let mut quoted = String::with_capacity(body.len() + 64);
    for b in body {
        match b {
            b'\\' => quoted.push_str("\\\\"),
            b'"' => quoted.push_str("\\\""),
            b'\r' => quoted.push_str("\\r"),
            b'\n' => quoted.push_str("\\n"),
            0x20..=0x7e => quoted.push(*b as char),
            other => quoted.push_str(&format!("\\{other:03}")),
        }
    }
    format!(
        "wrk.method = \"POST\"\nwrk.headers[\"Cookie\"] = \"{cookie}\"\nwrk.headers[\"Accept\"] = \"text/html\"\nwrk.headers[\"Content-Type\"] = \"multipart/form-data; boundary={boundary}\"\nwrk.body = \"{quoted}\"\n"
    )
}

/// Signs the demo person whose button names `who` in through `/connexion`, the demo provider's
/// page and the callback, as a browser would; returns the session's `Cookie` header.
async fn sign_in(client: &reqwest::Client, base: &str, who: &str) -> anyhow::Result<String> {
    let start = client.get(format!("{base}/connexion")).send().await?;
    let authorize = location(base, &start)?;
    let page = client.get(&authorize).send().await?.text().await?;
    // The form of the person's button, with the request's hidden fields.
    let form = page.split("<form").skip(1).find(|f| f.contains(who)).context("the provider's choice form")?;
    let person = form.split("name=\"person\" value=\"").nth(1).and_then(|r| r.split('"').next()).context("the person's index")?;
    let mut fields: Vec<(String, String)> = form
        .split("<input type=\"hidden\" ")
        .skip(1)
        .filter_map(|input| {
            let name = input.split("name=\"").nth(1)?.split('"').next()?;
            let value = input.split("value=\"").nth(1)?.split('"').next()?;
            Some((unescape(name), unescape(value)))
        })
        .collect();
    fields.push(("person".into(), person.to_owned()));
    let chosen = client.post(format!("{base}/dev-issuer/authorize")).form(&fields).send().await?;
    let callback = location(base, &chosen)?;
    let back = client.get(&callback).send().await?;
    let set = back.headers().get("set-cookie").context("a session cookie after the callback")?.to_str()?;
    Ok(set.split(';').next().unwrap_or_default().to_owned())
}

/// HTML attribute escapes back to text.
fn unescape(s: &str) -> String {
    s.replace("&#38;", "&")
        .replace("&amp;", "&")
        .replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#60;", "<")
        .replace("&#62;", ">")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deposit_body_is_quoted_for_lua_byte_for_byte() {
        let script = deposit_script("c=1", "b", b"a\r\n\"\\\x01z");
        assert!(script.contains(r#"wrk.body = "a\r\n\"\\\001z""#), "{script}");
    }

    #[test]
    fn attribute_escapes_are_undone() {
        assert_eq!(unescape("a&#38;b&#34;c&#39;d&lt;"), "a&b\"c'd<");
    }
}
