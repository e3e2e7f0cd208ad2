//! `switchboard org create`: the one command that makes a tenant (a token
//! or an import naming a missing organization fails instead).

use std::process::ExitCode;

use crate::{app, config::Config};

/// Creates organization `slug` unless it exists; says which on standard
/// error, so running it twice is harmless.
pub async fn create(config: Config, slug: &str) -> anyhow::Result<ExitCode> {
    let slug = slug.trim();
    let valid = !slug.is_empty()
        && slug.len() <= 63
        && slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid {
        eprintln!(
            "org create: `{slug}` is not a slug: 1 to 63 lowercase letters, digits and hyphens"
        );
        return Ok(ExitCode::from(2));
    }
    let db = app::open_database(&config).await?;
    let desk = app::build_desk(&config, db)?;
    let (_, created) = desk.ensure_org(slug).await?;
    if created {
        eprintln!("created organization {slug}");
    } else {
        eprintln!("organization {slug} exists already");
    }
    Ok(ExitCode::SUCCESS)
}
