//! What automatic assignment reads and writes: a team's strategy under its
//! lock, its members with their open work, absences and skills; skill
//! rules; agents' working hours and absences.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{on, on_exec, Exec, Tx};

/// A team's assignment settings, read with the team locked.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TeamAssignment {
    pub assignment: String,
    pub max_open_per_agent: Option<i32>,
}

/// Locks a team for an automatic assignment, so two tickets reaching it at
/// once are assigned one after the other and the second sees the first's
/// assignee (a "least loaded" agent is not picked twice by a race). `NO
/// KEY` so tickets pointing at the team (a key share lock) are not held up.
pub async fn lock_team(
    tx: &mut Tx,
    org_id: Uuid,
    team_id: Uuid,
) -> Result<Option<TeamAssignment>, sqlx::Error> {
    const PG: &str = "SELECT assignment, max_open_per_agent FROM teams \
                      WHERE org_id = $1 AND id = $2 FOR NO KEY UPDATE";
    const SQLITE: &str =
        "SELECT assignment, max_open_per_agent FROM teams WHERE org_id = $1 AND id = $2";
    match tx {
        Tx::Postgres(c) => {
            sqlx::query_as(PG)
                .bind(org_id)
                .bind(team_id)
                .fetch_optional(&mut **c)
                .await
        }
        Tx::Sqlite(c) => {
            sqlx::query_as(SQLITE)
                .bind(org_id)
                .bind(team_id)
                .fetch_optional(&mut **c)
                .await
        }
    }
}

/// A team member who may be assigned tickets, as the pick needs them.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MemberRow {
    pub person_id: Uuid,
    pub name: String,
    pub roles: sqlx::types::Json<Vec<String>>,
    pub work_calendar_id: Option<Uuid>,
    pub last_turn: i64,
    pub away: bool,
}

/// The enabled members of a team, whether an absence covers `now`.
pub async fn members(
    tx: &mut Tx,
    org_id: Uuid,
    team_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Vec<MemberRow>, sqlx::Error> {
    let sql = "SELECT p.id AS person_id, p.name, p.roles, p.work_calendar_id, m.last_turn, \
               EXISTS (SELECT 1 FROM absences a WHERE a.person_id = p.id \
                       AND a.starts_at <= $3 AND a.ends_at > $3) AS away \
               FROM team_members m JOIN people p ON p.id = m.person_id \
               WHERE m.team_id = $2 AND p.org_id = $1 AND p.disabled_at IS NULL";
    on!(tx, c => sqlx::query_as(sql).bind(org_id).bind(team_id).bind(now).fetch_all(c).await)
}

/// Open tickets assigned to the members of a team, by person and priority.
pub async fn open_work(
    tx: &mut Tx,
    org_id: Uuid,
    team_id: Uuid,
) -> Result<Vec<(Uuid, String, i64)>, sqlx::Error> {
    let sql = "SELECT t.assignee_id, t.priority, COUNT(*) FROM tickets t \
               JOIN team_members m ON m.person_id = t.assignee_id AND m.team_id = $2 \
               WHERE t.org_id = $1 AND t.state NOT IN ('resolved', 'closed', 'cancelled', 'rejected') \
               GROUP BY t.assignee_id, t.priority";
    on!(tx, c => sqlx::query_as(sql).bind(org_id).bind(team_id).fetch_all(c).await)
}

/// The skills of a team's members.
pub async fn member_skills(tx: &mut Tx, team_id: Uuid) -> Result<Vec<(Uuid, String)>, sqlx::Error> {
    let sql = "SELECT s.person_id, s.skill FROM agent_skills s \
               JOIN team_members m ON m.person_id = s.person_id AND m.team_id = $1";
    on!(tx, c => sqlx::query_as(sql).bind(team_id).fetch_all(c).await)
}

/// Takes the team's next rotation turn for `person_id`.
pub async fn take_turn(tx: &mut Tx, team_id: Uuid, person_id: Uuid) -> Result<(), sqlx::Error> {
    let sql = "UPDATE teams SET assignment_turn = assignment_turn + 1 WHERE id = $1 RETURNING assignment_turn";
    let (turn,): (i64,) = on!(tx, c => sqlx::query_as(sql).bind(team_id).fetch_one(c).await)?;
    let sql = "UPDATE team_members SET last_turn = $3 WHERE team_id = $1 AND person_id = $2";
    on!(tx, c => sqlx::query(sql)
        .bind(team_id)
        .bind(person_id)
        .bind(turn)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

// ---- skills ----

pub async fn person_skills(e: Exec<'_>, person_id: Uuid) -> Result<Vec<String>, sqlx::Error> {
    let sql = "SELECT skill FROM agent_skills WHERE person_id = $1 ORDER BY skill";
    let rows: Vec<(String,)> =
        on_exec!(e, c => sqlx::query_as(sql).bind(person_id).fetch_all(c).await)?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

pub async fn set_person_skills(
    tx: &mut Tx,
    org_id: Uuid,
    person_id: Uuid,
    skills: &[String],
) -> Result<(), sqlx::Error> {
    let sql = "DELETE FROM agent_skills WHERE person_id = $1";
    on!(tx, c => sqlx::query(sql).bind(person_id).execute(c).await.map(|r| r.rows_affected()))?;
    for skill in skills {
        let sql = "INSERT INTO agent_skills (person_id, org_id, skill) VALUES ($1, $2, $3)";
        on!(tx, c => sqlx::query(sql)
            .bind(person_id)
            .bind(org_id)
            .bind(skill)
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
    }
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SkillRuleRow {
    pub id: Uuid,
    pub org_id: Uuid,
    pub skill: String,
    pub category_id: Option<Uuid>,
    pub category_name: Option<String>,
    pub ci_class: Option<String>,
    pub tag: Option<String>,
    pub created_at: DateTime<Utc>,
}

pub async fn insert_skill_rule(tx: &mut Tx, row: &SkillRuleRow) -> Result<(), sqlx::Error> {
    let sql =
        "INSERT INTO skill_rules (id, org_id, skill, category_id, ci_class, tag, created_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $7)";
    on!(tx, c => sqlx::query(sql)
        .bind(row.id)
        .bind(row.org_id)
        .bind(&row.skill)
        .bind(row.category_id)
        .bind(&row.ci_class)
        .bind(&row.tag)
        .bind(row.created_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn list_skill_rules(e: Exec<'_>, org_id: Uuid) -> Result<Vec<SkillRuleRow>, sqlx::Error> {
    let sql = "SELECT r.id, r.org_id, r.skill, r.category_id, c.name AS category_name, r.ci_class, r.tag, r.created_at \
               FROM skill_rules r LEFT JOIN categories c ON c.id = r.category_id \
               WHERE r.org_id = $1 ORDER BY r.skill, r.created_at";
    on_exec!(e, c => sqlx::query_as(sql).bind(org_id).fetch_all(c).await)
}

pub async fn delete_skill_rule(tx: &mut Tx, org_id: Uuid, id: Uuid) -> Result<bool, sqlx::Error> {
    let sql = "DELETE FROM skill_rules WHERE org_id = $1 AND id = $2";
    let n = on!(tx, c => sqlx::query(sql).bind(org_id).bind(id).execute(c).await.map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

/// The class names of the CIs a ticket affects.
pub async fn ticket_ci_classes(tx: &mut Tx, ticket_id: Uuid) -> Result<Vec<String>, sqlx::Error> {
    let sql = "SELECT DISTINCT k.name FROM ticket_cis tc \
               JOIN configuration_items ci ON ci.id = tc.ci_id \
               JOIN ci_classes k ON k.id = ci.class_id WHERE tc.ticket_id = $1";
    let rows: Vec<(String,)> =
        on!(tx, c => sqlx::query_as(sql).bind(ticket_id).fetch_all(c).await)?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

// ---- working hours ----

pub async fn work_calendar(
    e: Exec<'_>,
    org_id: Uuid,
    person_id: Uuid,
) -> Result<Option<Uuid>, sqlx::Error> {
    let sql = "SELECT work_calendar_id FROM people WHERE org_id = $1 AND id = $2";
    let row: Option<(Option<Uuid>,)> =
        on_exec!(e, c => sqlx::query_as(sql).bind(org_id).bind(person_id).fetch_optional(c).await)?;
    Ok(row.and_then(|r| r.0))
}

pub async fn set_work_calendar(
    tx: &mut Tx,
    org_id: Uuid,
    person_id: Uuid,
    calendar_id: Option<Uuid>,
) -> Result<(), sqlx::Error> {
    let sql = "UPDATE people SET work_calendar_id = $3 WHERE org_id = $1 AND id = $2";
    on!(tx, c => sqlx::query(sql)
        .bind(org_id)
        .bind(person_id)
        .bind(calendar_id)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

// ---- absences ----

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AbsenceRow {
    pub id: Uuid,
    pub org_id: Uuid,
    pub person_id: Uuid,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub note: String,
    pub handover: String,
    pub delegate_id: Option<Uuid>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

const ABSENCE: &str = "SELECT id, org_id, person_id, starts_at, ends_at, note, handover, delegate_id, created_by, created_at FROM absences";

pub async fn insert_absence(tx: &mut Tx, row: &AbsenceRow) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO absences (id, org_id, person_id, starts_at, ends_at, note, handover, delegate_id, created_by, created_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
    on!(tx, c => sqlx::query(sql)
        .bind(row.id)
        .bind(row.org_id)
        .bind(row.person_id)
        .bind(row.starts_at)
        .bind(row.ends_at)
        .bind(&row.note)
        .bind(&row.handover)
        .bind(row.delegate_id)
        .bind(row.created_by)
        .bind(row.created_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// A person's absences that have not ended by `now`, soonest first.
pub async fn current_absences(
    e: Exec<'_>,
    org_id: Uuid,
    person_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Vec<AbsenceRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(
        ABSENCE,
        " WHERE org_id = $1 AND person_id = $2 AND ends_at > $3 ORDER BY starts_at"
    );
    on_exec!(e, c => sqlx::query_as(SQL).bind(org_id).bind(person_id).bind(now).fetch_all(c).await)
}

pub async fn find_absence(
    tx: &mut Tx,
    org_id: Uuid,
    id: Uuid,
) -> Result<Option<AbsenceRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(ABSENCE, " WHERE org_id = $1 AND id = $2");
    on!(tx, c => sqlx::query_as(SQL).bind(org_id).bind(id).fetch_optional(c).await)
}

/// Ends an absence at `at` (its end moves earlier; never later).
pub async fn end_absence(
    tx: &mut Tx,
    org_id: Uuid,
    id: Uuid,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let sql = "UPDATE absences SET ends_at = $3 WHERE org_id = $1 AND id = $2 AND ends_at > $3";
    on!(tx, c => sqlx::query(sql).bind(org_id).bind(id).bind(at).execute(c).await.map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn delete_absence(tx: &mut Tx, org_id: Uuid, id: Uuid) -> Result<(), sqlx::Error> {
    let sql = "DELETE FROM absences WHERE org_id = $1 AND id = $2";
    on!(tx, c => sqlx::query(sql).bind(org_id).bind(id).execute(c).await.map(|r| r.rows_affected()))?;
    Ok(())
}

/// The numbers of a person's open tickets, oldest first.
pub async fn open_tickets_of(
    tx: &mut Tx,
    org_id: Uuid,
    person_id: Uuid,
) -> Result<Vec<String>, sqlx::Error> {
    let sql = "SELECT number FROM tickets WHERE org_id = $1 AND assignee_id = $2 \
               AND state NOT IN ('resolved', 'closed', 'cancelled', 'rejected') ORDER BY created_at, id";
    let rows: Vec<(String,)> =
        on!(tx, c => sqlx::query_as(sql).bind(org_id).bind(person_id).fetch_all(c).await)?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}
