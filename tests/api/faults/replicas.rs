//! Two replicas on one database; one is killed mid-load and stays down.
//! Its clients go on at the other replica with the same idempotency keys,
//! and the survivor delivers what the dead one had claimed.

use std::time::Duration;

use crate::{helpers::fresh_database, support::daemon::Daemon};

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_with_one_killed_lose_and_repeat_nothing() {
    let url = fresh_database().await;
    let token = admin_token(&url);
    let env = daemon_env(&url);
    let mut doomed = Daemon::start(&env);
    let mut survivor = Daemon::start(&env);
    let receiver = subscribed_receiver(&survivor.base, &token).await;

    let bases = [doomed.base.clone(), survivor.base.clone()];
    let load = ApiLoad::start(&bases, Via::Api(token), "replicas", 8);
    run_for(Duration::from_millis(2000)).await;
    doomed.kill9();
    run_for(Duration::from_millis(2000)).await;
    let load = load.finish().await;

    check_api_case(
        "two replicas, one killed",
        &url,
        "replicas",
        &load,
        &receiver,
        &mut survivor,
    )
    .await;
}
