//! `switchboard token create`: scripts rely on it printing the new token
//! alone on standard output (DESIGN.md §5).

use std::process::ExitCode;

use crate::{app, config::Config, desk::orgs::DEFAULT_ORG};

/// Creates an API token acting as `org`'s service account for `role` and
/// prints it. The default organization is created first if missing (as the
/// first start does); any other must exist.
pub async fn create(config: Config, org: &str, role: &str, name: &str) -> anyhow::Result<ExitCode> {
    let db = app::open_database(&config).await?;
    let desk = app::build_desk(&config, db)?;
    desk.ensure_org(DEFAULT_ORG).await?;
    let token = desk.create_token(org, role, name).await?;
    println!("{token}");
    Ok(ExitCode::SUCCESS)
}
