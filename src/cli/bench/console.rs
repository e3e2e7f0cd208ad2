//! `switchboard bench --scenario console`: seeds an organization
//! `bench-console` with `SWITCHBOARD_BENCH_TICKETS` incidents (default
//! 100,000; the reports benchmark's bulk seed) in the configured database,
//! gives one agent a password, starts the daemon on a free loopback port,
//! signs in like a browser and times `SWITCHBOARD_BENCH_RUNS` (default 200)
//! requests of each queue view (50 tickets) and of a ticket page: p50, p95
//! and max, and each page's size gzipped. Seeding happens once. Target
//! (BENCHMARKS.md): the queue's p95 under 50 ms on Postgres with 100,000
//! tickets; pages under 100 KB gzipped.

use std::{io::Write, process::ExitCode, time::Instant};

use anyhow::{bail, Context};

use super::reports::{env_number, seed};
use crate::{app::Application, config::Config, desk::Desk, domain::Channel, store};

const ORG: &str = "bench-console";
const AGENT: &str = "agent00@bench.example";
const PASSWORD: &str = "bench-console-password";

/// The seeded agent's password, set the way people get one (an invitation
/// accepted with its token); once.
async fn give_password(desk: &Desk, admin: &crate::desk::Actor) -> anyhow::Result<()> {
    let (d, a) = (desk.clone(), admin.clone());
    let invited = desk
        .execute(move |w| {
            Box::pin(async move {
                d.invite(w, &a, AGENT, "Bench agent 00", &["agent".to_string()])
                    .await
            })
        })
        .await;
    let invitation = match invited {
        Ok(invitation) => invitation,
        // A second run: the agent has a password already.
        Err(crate::desk::DeskError::Conflict(_)) => return Ok(()),
        Err(e) => return Err(e).context("inviting the bench agent"),
    };
    let token = invitation
        .accept_url
        .split("token=")
        .nth(1)
        .context("the invitation link carries its token")?;
    desk.register(token.to_string(), PASSWORD.to_string())
        .await
        .context("registering the bench agent")?;
    Ok(())
}

fn gzipped(bytes: &[u8]) -> anyhow::Result<usize> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes)?;
    Ok(encoder.finish()?.len())
}

/// The `name=value` pairs a response sets, as one Cookie header.
fn cookies_of(response: &reqwest::Response) -> String {
    response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Signs in through the console's own form, as a browser would; the
/// session's Cookie header.
async fn sign_in(client: &reqwest::Client, base: &str) -> anyhow::Result<String> {
    let form = client.get(format!("{base}/console/sign-in")).send().await?;
    let form_cookie = cookies_of(&form);
    let page = form.text().await?;
    let marker = "name=\"csrf\" value=\"";
    let start = page.find(marker).context("the sign-in form's token")? + marker.len();
    let csrf = &page[start..start + page[start..].find('"').context("token end")?];
    let signed = client
        .post(format!("{base}/console/sign-in"))
        .header(reqwest::header::COOKIE, form_cookie)
        .form(&[
            ("csrf", csrf),
            ("email", AGENT),
            ("password", PASSWORD),
            ("organization", ORG),
        ])
        .send()
        .await?;
    if signed.status() != reqwest::StatusCode::SEE_OTHER {
        bail!("sign-in answered {}", signed.status());
    }
    Ok(cookies_of(&signed))
}

pub async fn run(mut config: Config) -> anyhow::Result<ExitCode> {
    let n = env_number("SWITCHBOARD_BENCH_TICKETS", 100_000)?;
    let runs = env_number("SWITCHBOARD_BENCH_RUNS", 200)?.max(1) as usize;
    config.server.listen = "127.0.0.1:0".into();
    let application = Application::build(config, false).await?;
    let desk = application.desk().clone();
    desk.ensure_org(ORG).await?;
    let token = desk.create_token(ORG, "admin", "bench").await?;
    let admin = desk.authenticate_token(&token, Channel::Api).await?;
    let mut tx = desk.db.read().await?;
    let existing = store::reports::count_tickets(&mut tx, admin.org_id).await?;
    drop(tx);
    if existing == 0 {
        seed(&desk, &admin, n).await?;
    } else {
        println!("{ORG} already holds {existing} tickets; measuring those");
    }
    give_password(&desk, &admin).await?;

    let base = format!("http://{}", application.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(application.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let session = sign_in(&client, &base).await?;
    let tickets = if existing == 0 { n } else { existing };
    println!(
        "backend={} tickets={tickets} runs={runs}",
        desk.db.backend()
    );
    let pages = [
        ("queue: all open", "/console/queue?view=open"),
        ("queue: mine", "/console/queue?view=mine"),
        ("queue: unassigned", "/console/queue?view=unassigned"),
        ("queue: my teams", "/console/queue?view=teams"),
        ("queue: SLA at risk", "/console/queue?view=at_risk"),
        ("queue: search", "/console/queue?view=all&q=bench%2099"),
        (
            "queue: rows only (live)",
            "/console/queue?view=open&fragment=rows",
        ),
        ("ticket page", "/console/tickets/INC0000010"),
    ];
    for (name, path) in pages {
        let url = format!("{base}{path}");
        // One request to warm caches and statements, not counted.
        let get = || client.get(&url).header(reqwest::header::COOKIE, &session);
        let first = get().send().await?;
        if !first.status().is_success() {
            bail!("{path} answered {}", first.status());
        }
        let body = first.bytes().await?;
        let mut times = Vec::with_capacity(runs);
        for _ in 0..runs {
            let began = Instant::now();
            let response = get().send().await?;
            let status = response.status();
            response.bytes().await?;
            times.push(began.elapsed().as_secs_f64() * 1000.0);
            if !status.is_success() {
                bail!("{path} answered {status}");
            }
        }
        times.sort_by(f64::total_cmp);
        let at = |p: usize| times[((p * times.len()).div_ceil(100)).max(1) - 1];
        println!(
            "{name:<26} p50={:>7.1} ms  p95={:>7.1} ms  max={:>7.1} ms  {:>6.1} KB, {:>5.1} KB gzipped",
            at(50),
            at(95),
            times[times.len() - 1],
            body.len() as f64 / 1024.0,
            gzipped(&body)? as f64 / 1024.0
        );
    }
    let _ = stop.send(());
    server.await.context("daemon task")?.context("daemon")?;
    Ok(ExitCode::SUCCESS)
}
