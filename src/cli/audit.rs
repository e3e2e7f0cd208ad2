//! `switchboard audit verify`: recompute every organization's hash chain.

use std::process::ExitCode;

use crate::{app, config::Config, store};

/// Prints one line per organization; fails when any chain is broken.
pub async fn verify(config: Config) -> anyhow::Result<ExitCode> {
    let db = app::open_database(&config).await?;
    let mut ok = true;
    for org in store::orgs::list_orgs(&db).await? {
        match crate::desk::audit_verify(&db, org.id).await {
            Ok(n) => println!("{}: {n} entries, chain intact", org.slug),
            Err(e) => {
                ok = false;
                println!("{}: TAMPERED: {e}", org.slug);
            }
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
