//! Slack workspaces installed through OAuth (see the `slack_installs`
//! migration). The token is stored sealed; sealing is the caller's job.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{on, on_pool, Db, Tx};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SlackInstallRow {
    pub team_id: String,
    pub org_id: Uuid,
    pub team_name: String,
    pub bot_user_id: String,
    pub scopes: String,
    pub token_nonce: Vec<u8>,
    pub token_sealed: Vec<u8>,
    pub installed_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const INSTALL: &str = "SELECT team_id, org_id, team_name, bot_user_id, scopes, token_nonce, \
                       token_sealed, installed_at, updated_at FROM slack_installs";

/// Records an install; installing again (new scopes, a new token)
/// replaces the token and keeps the first install time.
pub async fn upsert_install(tx: &mut Tx, row: &SlackInstallRow) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO slack_installs (team_id, org_id, team_name, bot_user_id, scopes, token_nonce, \
               token_sealed, installed_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
               ON CONFLICT (team_id) DO UPDATE SET org_id = $2, team_name = $3, bot_user_id = $4, \
               scopes = $5, token_nonce = $6, token_sealed = $7, updated_at = $9";
    on!(tx, c => sqlx::query(sql)
        .bind(&row.team_id)
        .bind(row.org_id)
        .bind(&row.team_name)
        .bind(&row.bot_user_id)
        .bind(&row.scopes)
        .bind(&row.token_nonce)
        .bind(&row.token_sealed)
        .bind(row.installed_at)
        .bind(row.updated_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn find_by_team(db: &Db, team_id: &str) -> Result<Option<SlackInstallRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(INSTALL, " WHERE team_id = $1");
    on_pool!(db, p => sqlx::query_as(SQL).bind(team_id).fetch_optional(p).await)
}

/// The organization's most recently installed workspace.
pub async fn find_by_org(db: &Db, org_id: Uuid) -> Result<Option<SlackInstallRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(
        INSTALL,
        " WHERE org_id = $1 ORDER BY updated_at DESC LIMIT 1"
    );
    on_pool!(db, p => sqlx::query_as(SQL).bind(org_id).fetch_optional(p).await)
}
