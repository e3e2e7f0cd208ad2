//! People of an organization: name, primary email, roles, profile and
//! account state (the secrets of local accounts are read in `identity`).

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use super::{on, Tx};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PersonRow {
    pub id: Uuid,
    pub org_id: Uuid,
    pub name: String,
    pub email: Option<String>,
    pub roles: Json<Vec<String>>,
    pub time_zone: String,
    pub locale: String,
    pub notification_prefs: Json<Value>,
    /// E.164 number for SMS notifications.
    pub phone: Option<String>,
    pub disabled_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl PersonRow {
    /// A new person with default profile settings.
    pub fn new(
        id: Uuid,
        org_id: Uuid,
        name: String,
        email: Option<String>,
        roles: Vec<String>,
        created_at: DateTime<Utc>,
    ) -> Self {
        Self {
            id,
            org_id,
            name,
            email,
            roles: Json(roles),
            time_zone: "UTC".into(),
            locale: "en".into(),
            notification_prefs: Json(Value::Object(Default::default())),
            phone: None,
            disabled_at: None,
            created_at,
        }
    }
}

const COLUMNS: &str = "SELECT id, org_id, name, email, roles, time_zone, locale, notification_prefs, phone, disabled_at, created_at FROM people";

pub async fn insert_person(tx: &mut Tx, row: &PersonRow) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO people (id, org_id, name, email, roles, time_zone, locale, notification_prefs, disabled_at, created_at, phone) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";
    on!(tx, c => sqlx::query(sql)
        .bind(row.id)
        .bind(row.org_id)
        .bind(&row.name)
        .bind(&row.email)
        .bind(&row.roles)
        .bind(&row.time_zone)
        .bind(&row.locale)
        .bind(&row.notification_prefs)
        .bind(row.disabled_at)
        .bind(row.created_at)
        .bind(&row.phone)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// The person an identity (kind, namespace, external id) belongs to, in one
/// statement.
pub async fn find_person_by_identity(
    tx: &mut Tx,
    org_id: Uuid,
    kind: &str,
    namespace: &str,
    external_id: &str,
) -> Result<Option<PersonRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(
        COLUMNS,
        " WHERE org_id = $1 AND id = (SELECT person_id FROM identities \
         WHERE org_id = $1 AND kind = $2 AND namespace = $3 AND external_id = $4)"
    );
    on!(tx, c => sqlx::query_as(SQL).bind(org_id).bind(kind).bind(namespace).bind(external_id).fetch_optional(c).await)
}

pub async fn find_person(
    tx: &mut Tx,
    org_id: Uuid,
    id: Uuid,
) -> Result<Option<PersonRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(COLUMNS, " WHERE org_id = $1 AND id = $2");
    on!(tx, c => sqlx::query_as(SQL).bind(org_id).bind(id).fetch_optional(c).await)
}

pub async fn find_person_by_email(
    tx: &mut Tx,
    org_id: Uuid,
    email: &str,
) -> Result<Option<PersonRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(COLUMNS, " WHERE org_id = $1 AND email = $2");
    on!(tx, c => sqlx::query_as(SQL).bind(org_id).bind(email).fetch_optional(c).await)
}

pub async fn list_people(tx: &mut Tx, org_id: Uuid) -> Result<Vec<PersonRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(COLUMNS, " WHERE org_id = $1 ORDER BY name, id");
    on!(tx, c => sqlx::query_as(SQL).bind(org_id).fetch_all(c).await)
}

/// Writes the editable columns back.
pub async fn update_person(tx: &mut Tx, row: &PersonRow) -> Result<(), sqlx::Error> {
    let sql = "UPDATE people SET name = $3, email = $4, roles = $5, time_zone = $6, locale = $7, \
               notification_prefs = $8, disabled_at = $9, phone = $10 WHERE org_id = $1 AND id = $2";
    on!(tx, c => sqlx::query(sql)
        .bind(row.org_id)
        .bind(row.id)
        .bind(&row.name)
        .bind(&row.email)
        .bind(&row.roles)
        .bind(&row.time_zone)
        .bind(&row.locale)
        .bind(&row.notification_prefs)
        .bind(row.disabled_at)
        .bind(&row.phone)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}
