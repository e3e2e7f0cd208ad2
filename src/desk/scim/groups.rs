//! SCIM groups are teams. Creating a group whose displayName names an
//! existing team (exactly) takes that team over; otherwise a team is
//! created. Members are the team's members. DELETE lets the team go back
//! to being an ordinary team (its tickets, members and settings stay)
//! and ends the roles its membership granted.
//!
//! Roles: the organization's mapping (`PUT /api/v1/scim/group-roles`)
//! names, per group displayName, the role its members hold. A role some
//! group maps to follows membership (`domain::scim::roles_after`); roles
//! no group maps to are left as an admin set them.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use uuid::Uuid;

use super::{check_version, page, refusal, ListQuery, Page, Provisioner};
use crate::{
    desk::{people::person_row, Actor, Desk, DeskError, Work},
    domain::{
        assignment::Strategy,
        scim::{self as rules, name_key, GroupInput},
        scim_filter::Filter,
        scim_patch::{self, PatchOp},
        text::Name,
        Role,
    },
    store::{self, scim::ScimGroupRow, teams::TeamRow, Tx},
};

/// A group as SCIM shows it.
#[derive(Debug, Clone)]
pub struct GroupView {
    /// The team's id.
    pub id: Uuid,
    pub display_name: String,
    pub external_id: Option<String>,
    /// (person id, name), by name.
    pub members: Vec<(Uuid, String)>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl GroupView {
    /// The resource filters match against (no meta).
    pub fn resource(&self) -> Value {
        json!({
            "id": self.id.to_string(),
            "displayName": self.display_name,
            "externalId": self.external_id,
            "members": self.members.iter().map(|(id, name)| json!({ "value": id.to_string(), "display": name })).collect::<Vec<_>>(),
        })
    }
}

/// One entry of the group → role mapping.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct GroupRole {
    /// The group's displayName (matched without regard to case).
    pub group: String,
    /// `requester`, `agent`, `approver`, `manager` or `admin`.
    pub role: String,
}

impl Desk {
    /// `POST /Groups`.
    pub async fn scim_create_group(
        &self,
        work: &mut Work,
        by: &Provisioner,
        resource: Value,
    ) -> Result<GroupView, DeskError> {
        let input = rules::read_group(&resource).map_err(refusal)?;
        let org = by.org_id();
        let key = name_key(&input.display_name);
        if store::scim::find_group_by_key(&mut work.tx, org, &key)
            .await?
            .is_some()
        {
            return Err(DeskError::Conflict(format!(
                "a group named `{}` already exists",
                input.display_name
            )));
        }
        let name = Name::parse("displayName", &input.display_name)?.into_inner();
        let members = resolve_members(&mut work.tx, org, &input.members).await?;
        let (team, adopted) =
            match store::teams::find_team_by_name(&mut work.tx, org, &name).await? {
                Some(team) => (team, true),
                None => {
                    let team = TeamRow {
                        id: crate::desk::new_id(),
                        org_id: org,
                        name: name.clone(),
                        description: "Provisioned through SCIM".into(),
                        lead_id: None,
                        default_channel: None,
                        escalation_contact: None,
                        created_at: store::now(),
                        assignment: Strategy::None.as_str().into(),
                        max_open_per_agent: None,
                    };
                    store::teams::insert_team(&mut work.tx, &team).await?;
                    work.audit(
                        by.actor(),
                        "team.created",
                        &team.name,
                        json!({ "id": team.id, "by": "scim" }),
                    );
                    (team, false)
                }
            };
        let now = store::now();
        let row = ScimGroupRow {
            team_id: team.id,
            org_id: org,
            display_name: input.display_name.clone(),
            display_name_key: key,
            external_id: input.external_id.clone(),
            version: 1,
            created_at: now,
            updated_at: now,
        };
        store::scim::insert_group(&mut work.tx, &row).await?;
        for person in &members {
            store::teams::add_member(&mut work.tx, team.id, *person).await?;
        }
        // Everyone now in the group, the team's earlier members too.
        let everyone = store::teams::list_members(&mut work.tx, team.id).await?;
        sync_roles(work, by.actor(), &everyone).await?;
        work.audit(
            by.actor(),
            "scim.group_created",
            &team.id.to_string(),
            json!({ "displayName": row.display_name, "team": team.name, "adopted_team": adopted, "members": members }),
        );
        group_view(&mut work.tx, row).await
    }

    /// `GET /Groups/{id}`.
    pub async fn scim_get_group(&self, by: &Provisioner, id: Uuid) -> Result<GroupView, DeskError> {
        let mut tx = self.db.read().await?;
        let row = group_row(&mut tx, by.org_id(), id).await?;
        group_view(&mut tx, row).await
    }

    /// `GET /Groups`: `displayName eq` and `id eq` from an index, other
    /// filters matched over the organization's groups.
    pub async fn scim_list_groups(
        &self,
        by: &Provisioner,
        query: ListQuery,
    ) -> Result<Page<GroupView>, DeskError> {
        let org = by.org_id();
        let mut tx = self.db.read().await?;
        let rows = match query.filter.as_ref().and_then(Filter::equality) {
            Some((attr, v)) if attr.eq_ignore_ascii_case("displayName") => {
                store::scim::find_group_by_key(&mut tx, org, &name_key(v))
                    .await?
                    .into_iter()
                    .collect()
            }
            Some((attr, v)) if attr.eq_ignore_ascii_case("id") => match Uuid::parse_str(v) {
                Ok(id) => store::scim::find_group(&mut tx, org, id)
                    .await?
                    .into_iter()
                    .collect(),
                Err(_) => Vec::new(),
            },
            _ => store::scim::list_groups(&mut tx, org).await?,
        };
        // Without a filter only the page's groups need their members read;
        // a filter may look at members, so every group is read for it.
        let Some(filter) = query.filter.as_ref() else {
            let mut rows = rows;
            let rows = page(&mut rows, &query);
            let mut items = Vec::with_capacity(rows.items.len());
            for row in rows.items {
                items.push(group_view(&mut tx, row).await?);
            }
            return Ok(Page {
                total: rows.total,
                start_index: rows.start_index,
                items,
            });
        };
        let mut matching = Vec::new();
        for row in rows {
            let view = group_view(&mut tx, row).await?;
            if filter.matches(&view.resource()) {
                matching.push(view);
            }
        }
        Ok(page(&mut matching, &query))
    }

    /// `PUT /Groups/{id}`: name and members replaced.
    pub async fn scim_replace_group(
        &self,
        work: &mut Work,
        by: &Provisioner,
        id: Uuid,
        resource: Value,
        if_match: Option<i64>,
    ) -> Result<GroupView, DeskError> {
        let row = locked_group(&mut work.tx, by.org_id(), id).await?;
        check_version(row.version, if_match)?;
        let input = rules::read_group(&resource).map_err(refusal)?;
        store_group(work, by, row, input, "scim.group_replaced").await
    }

    /// `PATCH /Groups/{id}`: members added and removed (both providers'
    /// forms), displayName replaced.
    pub async fn scim_patch_group(
        &self,
        work: &mut Work,
        by: &Provisioner,
        id: Uuid,
        ops: Vec<PatchOp>,
        if_match: Option<i64>,
    ) -> Result<GroupView, DeskError> {
        let row = locked_group(&mut work.tx, by.org_id(), id).await?;
        check_version(row.version, if_match)?;
        let mut resource = group_view(&mut work.tx, row.clone()).await?.resource();
        scim_patch::apply(&mut resource, &ops, &["id", "meta", "schemas"]).map_err(refusal)?;
        let input = rules::read_group(&resource).map_err(refusal)?;
        store_group(work, by, row, input, "scim.group_patched").await
    }

    /// `DELETE /Groups/{id}`: the team stays, as an ordinary team; the
    /// roles the group granted end.
    pub async fn scim_delete_group(
        &self,
        work: &mut Work,
        by: &Provisioner,
        id: Uuid,
        if_match: Option<i64>,
    ) -> Result<(), DeskError> {
        let org = by.org_id();
        let row = locked_group(&mut work.tx, org, id).await?;
        check_version(row.version, if_match)?;
        store::scim::delete_group(&mut work.tx, org, id).await?;
        let members = store::teams::list_members(&mut work.tx, id).await?;
        sync_roles(work, by.actor(), &members).await?;
        work.audit(
            by.actor(),
            "scim.group_deleted",
            &id.to_string(),
            json!({ "displayName": row.display_name }),
        );
        Ok(())
    }

    /// The organization's group → role mapping (admins).
    pub async fn scim_group_roles(&self, actor: &Actor) -> Result<Vec<GroupRole>, DeskError> {
        actor.require_admin()?;
        let mut tx = self.db.read().await?;
        Ok(store::scim::list_group_roles(&mut tx, actor.org_id)
            .await?
            .into_iter()
            .map(|r| GroupRole {
                group: r.group_name,
                role: r.role,
            })
            .collect())
    }

    /// Replaces the mapping and brings every group member's roles in line.
    pub async fn set_scim_group_roles(
        &self,
        work: &mut Work,
        actor: &Actor,
        mappings: Vec<GroupRole>,
    ) -> Result<Vec<GroupRole>, DeskError> {
        actor.require_admin()?;
        let mut rows: Vec<store::scim::GroupRoleRow> = Vec::new();
        for (i, m) in mappings.iter().enumerate() {
            let group = Name::parse("group", &m.group)?.into_inner();
            let role = Role::parse(&m.role)
                .map_err(|e| DeskError::invalid("role", format!("mappings[{i}]: {e}")))?;
            let key = name_key(&group);
            if rows.iter().any(|r| r.group_key == key) {
                return Err(DeskError::invalid(
                    "group",
                    format!("mappings[{i}]: `{group}` is mapped twice; a group grants one role"),
                ));
            }
            rows.push(store::scim::GroupRoleRow {
                group_key: key,
                group_name: group,
                role: role.as_str().into(),
            });
        }
        store::scim::replace_group_roles(&mut work.tx, actor.org_id, &rows).await?;
        let members = store::scim::group_members(&mut work.tx, actor.org_id).await?;
        sync_roles(work, actor, &members).await?;
        work.audit(
            actor,
            "scim.group_roles_set",
            "scim",
            json!({ "mappings": rows.iter().map(|r| json!({ "group": r.group_name, "role": r.role })).collect::<Vec<_>>() }),
        );
        Ok(rows
            .into_iter()
            .map(|r| GroupRole {
                group: r.group_name,
                role: r.role,
            })
            .collect())
    }
}

/// Writes a changed group: a new name renames the team, the members are
/// set to the input's, and the roles of whoever joined or left follow.
async fn store_group(
    work: &mut Work,
    by: &Provisioner,
    mut row: ScimGroupRow,
    input: GroupInput,
    action: &str,
) -> Result<GroupView, DeskError> {
    let org = by.org_id();
    let key = name_key(&input.display_name);
    if input.display_name != row.display_name {
        if key != row.display_name_key
            && store::scim::find_group_by_key(&mut work.tx, org, &key)
                .await?
                .is_some()
        {
            return Err(DeskError::Conflict(format!(
                "a group named `{}` already exists",
                input.display_name
            )));
        }
        let mut team = store::teams::find_team(&mut work.tx, org, row.team_id)
            .await?
            .ok_or(DeskError::NotFound("group"))?;
        let name = Name::parse("displayName", &input.display_name)?.into_inner();
        if let Some(other) = store::teams::find_team_by_name(&mut work.tx, org, &name).await? {
            if other.id != team.id {
                return Err(DeskError::Conflict(format!(
                    "a team named `{name}` already exists"
                )));
            }
        }
        team.name = name;
        store::teams::update_team(&mut work.tx, &team).await?;
    }
    let wanted: BTreeSet<Uuid> = resolve_members(&mut work.tx, org, &input.members)
        .await?
        .into_iter()
        .collect();
    let current: BTreeSet<Uuid> = store::teams::list_members(&mut work.tx, row.team_id)
        .await?
        .into_iter()
        .collect();
    let added: Vec<Uuid> = wanted.difference(&current).copied().collect();
    let removed: Vec<Uuid> = current.difference(&wanted).copied().collect();
    for person in &added {
        store::teams::add_member(&mut work.tx, row.team_id, *person).await?;
    }
    for person in &removed {
        store::teams::remove_member(&mut work.tx, row.team_id, *person).await?;
    }
    let renamed = key != row.display_name_key;
    row.display_name = input.display_name;
    row.display_name_key = key;
    row.external_id = input.external_id;
    row.version += 1;
    row.updated_at = store::now();
    store::scim::update_group(&mut work.tx, &row).await?;
    // A new name may map to another role: then everyone's roles follow.
    let changed: Vec<Uuid> = if renamed {
        wanted.iter().chain(&removed).copied().collect()
    } else {
        added.iter().chain(&removed).copied().collect()
    };
    sync_roles(work, by.actor(), &changed).await?;
    work.audit(
        by.actor(),
        action,
        &row.team_id.to_string(),
        json!({ "displayName": row.display_name, "added": added, "removed": removed, "version": row.version }),
    );
    group_view(&mut work.tx, row).await
}

/// The people `ids` name, all of this organization; an unknown id is
/// refused (another organization's user is unknown here).
async fn resolve_members(tx: &mut Tx, org: Uuid, ids: &[String]) -> Result<Vec<Uuid>, DeskError> {
    let mut people = Vec::with_capacity(ids.len());
    for id in ids {
        let found = match Uuid::parse_str(id).ok() {
            Some(pid) => store::people::find_person(tx, org, pid).await?,
            None => None,
        };
        match found {
            Some(p) => people.push(p.id),
            None => {
                return Err(refusal(rules::ScimError::new(
                    rules::ScimErrorKind::InvalidValue,
                    format!("members: no user `{id}`"),
                )))
            }
        }
    }
    Ok(people)
}

/// Brings the roles of `people` in line with their groups and the
/// organization's mapping; each change is audited.
pub(super) async fn sync_roles(
    work: &mut Work,
    actor: &Actor,
    people: &[Uuid],
) -> Result<(), DeskError> {
    if people.is_empty() {
        return Ok(());
    }
    let org = actor.org_id;
    let mapping = store::scim::list_group_roles(&mut work.tx, org).await?;
    let role_of = |key: &str| {
        mapping
            .iter()
            .find(|m| m.group_key == key)
            .and_then(|m| Role::parse(&m.role).ok())
    };
    let mut managed: Vec<Role> = Vec::new();
    for role in mapping.iter().filter_map(|m| Role::parse(&m.role).ok()) {
        if !managed.contains(&role) {
            managed.push(role);
        }
    }
    for person in people {
        let mut row = person_row(&mut work.tx, org, *person).await?;
        let groups = store::scim::groups_of_person(&mut work.tx, org, *person).await?;
        let granted: Vec<Role> = groups
            .iter()
            .filter_map(|g| role_of(&g.display_name_key))
            .collect();
        let current: Vec<Role> = row
            .roles
            .0
            .iter()
            .filter_map(|r| Role::parse(r).ok())
            .collect();
        let after = rules::roles_after(&current, &managed, &granted);
        if after != current {
            let to: Vec<String> = after.iter().map(|r| r.as_str().to_string()).collect();
            work.audit(
                actor,
                "person.roles_changed",
                &person.to_string(),
                json!({ "from": row.roles.0, "to": to, "by": "scim" }),
            );
            row.roles = sqlx::types::Json(to);
            store::people::update_person(&mut work.tx, &row).await?;
        }
    }
    Ok(())
}

async fn group_row(tx: &mut Tx, org: Uuid, id: Uuid) -> Result<ScimGroupRow, DeskError> {
    store::scim::find_group(tx, org, id)
        .await?
        .ok_or(DeskError::NotFound("group"))
}

/// The group, locked for this transaction's change.
async fn locked_group(tx: &mut Tx, org: Uuid, id: Uuid) -> Result<ScimGroupRow, DeskError> {
    store::scim::lock_group(tx, org, id)
        .await?
        .ok_or(DeskError::NotFound("group"))
}

async fn group_view(tx: &mut Tx, row: ScimGroupRow) -> Result<GroupView, DeskError> {
    let members = store::scim::members_named(tx, row.team_id).await?;
    Ok(GroupView {
        id: row.team_id,
        display_name: row.display_name,
        external_id: row.external_id,
        members,
        version: row.version,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}
