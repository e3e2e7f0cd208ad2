//! The Discord gateway loses nothing: a dropped connection RESUMEs the
//! session at its `resume_gateway_url` and Discord's replay of the missed
//! messages opens their tickets exactly once; an event whose use case
//! failed (the database gone) is not counted as read and is replayed after
//! the RESUME; a new leader resumes the session the old one stored; a
//! RESUME the gateway does not know ends in a fresh IDENTIFY; a close code
//! that forbids reconnecting stops the gateway instead of looping.

use std::time::Duration;

use serde_json::{json, Value};
use switchboard::{
    channels::discord::gateway::{Gateway, LOCK},
    store,
};
use tokio::{sync::watch, task::JoinHandle};

use crate::{
    helpers::{eventually, fresh_database, spawn_on, TestApp},
    support::{
        discord::{self, spawn_discord_app, FakeDiscord},
        gateway::FakeGateway,
        tcp_proxy::TcpProxy,
    },
};

const WITHIN: Duration = Duration::from_secs(20);

/// A direct message from someone new, as `MESSAGE_CREATE` carries it.
fn dm(n: u64, text: &str) -> Value {
    let author = format!("30000000000000005{n:02}");
    json!({
        "id": format!("18000000000000005{n:02}"), "channel_id": format!("13000000000000005{n:02}"),
        "type": 0, "content": text, "tts": false,
        "author": { "id": author, "username": format!("user{n}"), "global_name": format!("User {n}"),
                    "discriminator": "0", "avatar": null },
        "timestamp": "2026-12-07T08:00:00.000000+00:00", "edited_timestamp": null, "flags": 0,
        "mentions": [], "mention_roles": [], "mention_everyone": false, "attachments": [],
        "embeds": [], "pinned": false, "components": [],
    })
}

/// One replica's gateway, running until `stop` sends.
fn run_gateway(app: &TestApp) -> (watch::Sender<bool>, JoinHandle<()>) {
    let (stop, shutdown) = watch::channel(false);
    let gateway = Gateway::new(app.desk.clone(), &app.config.discord).expect("gateway");
    (stop, tokio::spawn(gateway.run(shutdown)))
}

async fn stop_gateway(stop: watch::Sender<bool>, task: JoinHandle<()>) {
    stop.send(true).expect("stop");
    tokio::time::timeout(WITHIN, task)
        .await
        .expect("the gateway stops on shutdown")
        .expect("joined");
}

/// The tickets titled `title` (all of them: a duplicate would show).
async fn titled(app: &TestApp, title: &str) -> usize {
    app.tickets()
        .await
        .iter()
        .filter(|t| t["title"] == title)
        .count()
}

async fn until_ticket(app: &TestApp, title: &str) -> bool {
    eventually(WITHIN, || async { titled(app, title).await >= 1 }).await
}

/// The daemon stored the fake's current session.
async fn until_session_stored(app: &TestApp, gateway: &FakeGateway) -> bool {
    eventually(WITHIN, || async {
        let stored = store::gateway::load(&app.desk.db, LOCK)
            .await
            .ok()
            .flatten();
        stored.is_some_and(|s| s.session_id == gateway.session()) && gateway.is_live()
    })
    .await
}

async fn stored_sequence(app: &TestApp) -> i64 {
    store::gateway::load(&app.desk.db, LOCK)
        .await
        .expect("read")
        .expect("a stored session")
        .sequence
}

#[tokio::test]
async fn a_dropped_connection_resumes_and_the_missed_messages_open_their_tickets_exactly_once() {
    let (app, fake) = spawn_discord_app().await;
    let gateway = fake.start_gateway().await;
    let (stop, task) = run_gateway(&app);
    assert!(until_session_stored(&app, &gateway).await, "READY stored");

    gateway.dispatch("MESSAGE_CREATE", dm(1, "Printer one jams"));
    let second = gateway.dispatch("MESSAGE_CREATE", dm(2, "Printer two jams"));
    assert!(until_ticket(&app, "Printer two jams").await);
    assert!(
        eventually(WITHIN, || async {
            stored_sequence(&app).await == second as i64
        })
        .await,
        "the handled event is committed"
    );

    // Discord drops the connection (resumable 4000); what is written
    // meanwhile waits in the session.
    gateway.drop_connection(4000);
    gateway.dispatch("MESSAGE_CREATE", dm(3, "Printer three jams"));
    gateway.dispatch("MESSAGE_CREATE", dm(4, "Printer four jams"));
    assert!(until_ticket(&app, "Printer four jams").await, "replayed");
    assert!(until_ticket(&app, "Printer three jams").await, "replayed");

    for n in ["one", "two", "three", "four"] {
        assert_eq!(titled(&app, &format!("Printer {n} jams")).await, 1, "{n}");
    }
    let resumes = gateway.resumes();
    assert_eq!(resumes.len(), 1, "{resumes:?}");
    assert!(resumes[0].accepted, "{resumes:?}");
    assert_eq!(resumes[0].session_id, gateway.session().expect("session"));
    assert_eq!(
        resumes[0].seq, second,
        "resumed from the last committed event"
    );
    let connections = gateway.connections();
    assert_eq!(connections.len(), 2, "{connections:?}");
    assert!(!connections[0].to_resume_url && connections[1].to_resume_url);
    assert!(connections.iter().all(|c| c.zlib_stream), "zlib-stream");
    assert_eq!(gateway.identifies(), 1, "no fresh IDENTIFY");
    stop_gateway(stop, task).await;
}

#[tokio::test]
async fn a_new_leader_resumes_the_session_the_old_one_stored() {
    let (app, fake) = spawn_discord_app().await;
    let gateway = fake.start_gateway().await;
    let (stop, task) = run_gateway(&app);
    assert!(until_session_stored(&app, &gateway).await);
    let first = gateway.dispatch("MESSAGE_CREATE", dm(11, "Badge reader broken"));
    assert!(until_ticket(&app, "Badge reader broken").await);
    assert!(
        eventually(WITHIN, || async {
            stored_sequence(&app).await == first as i64
        })
        .await
    );
    // The old leader goes away (a deploy, a crash of its pod).
    stop_gateway(stop, task).await;
    gateway.dispatch("MESSAGE_CREATE", dm(12, "Door camera offline"));

    // A new leader: a fresh gateway with nothing but the database in common.
    let (stop, task) = run_gateway(&app);
    assert!(until_ticket(&app, "Door camera offline").await, "replayed");
    assert_eq!(titled(&app, "Badge reader broken").await, 1);
    assert_eq!(titled(&app, "Door camera offline").await, 1);
    let resumes = gateway.resumes();
    assert_eq!(resumes.len(), 1, "{resumes:?}");
    assert!(resumes[0].accepted);
    assert_eq!(resumes[0].seq, first);
    assert_eq!(
        gateway.identifies(),
        1,
        "the session was resumed, not replaced"
    );
    stop_gateway(stop, task).await;
}

#[tokio::test]
async fn a_resume_the_gateway_does_not_know_ends_in_invalid_session_and_a_fresh_identify() {
    let (app, fake) = spawn_discord_app().await;
    let gateway = fake.start_gateway().await;
    // A session stored long ago, which Discord no longer has.
    store::gateway::start(
        &app.desk.db,
        LOCK,
        "expired-session",
        &gateway.resume_url,
        40,
        chrono::Utc::now(),
    )
    .await
    .expect("store");
    let (stop, task) = run_gateway(&app);
    assert!(
        until_session_stored(&app, &gateway).await,
        "identified afresh"
    );
    let resumes = gateway.resumes();
    assert_eq!(resumes.len(), 1, "{resumes:?}");
    assert_eq!(resumes[0].session_id, "expired-session");
    assert!(!resumes[0].accepted);
    assert_eq!(gateway.identifies(), 1);
    gateway.dispatch("MESSAGE_CREATE", dm(21, "Wifi drops on floor 3"));
    assert!(until_ticket(&app, "Wifi drops on floor 3").await);
    stop_gateway(stop, task).await;
}

#[tokio::test]
async fn a_refused_token_stops_the_gateway_instead_of_reconnecting() {
    let (app, fake) = spawn_discord_app().await;
    let gateway = fake.start_gateway().await;
    gateway.refuse_identify(4004);
    let (_stop, task) = run_gateway(&app);
    tokio::time::timeout(WITHIN, task)
        .await
        .expect("the gateway stops by itself on 4004")
        .expect("joined");
    assert_eq!(gateway.connections().len(), 1, "no reconnect loop");
}

/// The daemon with Discord on, reaching PostgreSQL through a proxy the test cuts.
async fn discord_app_through_proxy() -> (TestApp, FakeDiscord, TcpProxy) {
    let fake = FakeDiscord::default();
    let base = fake.start().await;
    let real = fresh_database().await;
    let parsed = url::Url::parse(&real).expect("database url");
    let upstream = tokio::net::lookup_host(format!(
        "{}:{}",
        parsed.host_str().expect("host"),
        parsed.port().unwrap_or(5432)
    ))
    .await
    .expect("resolve")
    .next()
    .expect("an address");
    let proxy = TcpProxy::start(upstream).await;
    let mut through = parsed.clone();
    through.set_host(Some("127.0.0.1")).expect("host");
    through.set_port(Some(proxy.addr.port())).expect("port");
    let app = spawn_on(through.as_str(), false, move |c| {
        c.database.acquire_timeout_secs = 1;
        c.discord.application_id = discord::APP_ID.into();
        c.discord.public_key = discord::public_key();
        c.discord.bot_token = switchboard::config::Secret::new("bot-test-token");
        c.discord.api_base_url = base;
    })
    .await;
    (app, fake, proxy)
}

#[tokio::test]
async fn an_event_whose_use_case_failed_is_replayed_after_the_resume_and_opens_one_ticket() {
    let (app, fake, proxy) = discord_app_through_proxy().await;
    let gateway = fake.start_gateway().await;
    let (stop, task) = run_gateway(&app);
    assert!(until_session_stored(&app, &gateway).await);
    let first = gateway.dispatch("MESSAGE_CREATE", dm(31, "VPN refuses my token"));
    assert!(until_ticket(&app, "VPN refuses my token").await);
    assert!(
        eventually(WITHIN, || async {
            stored_sequence(&app).await == first as i64
        })
        .await
    );

    // The database goes away; the next message cannot be taken.
    proxy.cut();
    let failed = gateway.dispatch("MESSAGE_CREATE", dm(32, "Shared drive is read-only"));
    assert!(
        eventually(WITHIN, || async { !gateway.is_live() }).await,
        "the daemon let go of the connection instead of counting the event as read"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    proxy.restore().await;

    assert!(
        until_ticket(&app, "Shared drive is read-only").await,
        "replayed after the RESUME"
    );
    assert_eq!(titled(&app, "Shared drive is read-only").await, 1);
    assert_eq!(titled(&app, "VPN refuses my token").await, 1);
    let resumes = gateway.resumes();
    assert!(
        resumes.iter().any(|r| r.accepted && r.seq == first),
        "resumed before the failed event ({failed}), not after: {resumes:?}"
    );
    assert_eq!(gateway.identifies(), 1);
    assert!(
        eventually(WITHIN, || async {
            stored_sequence(&app).await >= failed as i64
        })
        .await,
        "committed once handled"
    );
    stop_gateway(stop, task).await;
}
