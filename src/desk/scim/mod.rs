//! SCIM 2.0 provisioning (issue 24 item 3): an identity provider (Entra
//! ID, Okta) creates, changes, deactivates and deletes the organization's
//! people (`users`, here) and teams (`groups.rs`), and group membership
//! grants roles through the organization's mapping (`groups.rs`).
//!
//! A provisioned user is an ordinary person plus a `scim_users` row: the
//! provider's userName, externalId and attributes as sent. Its primary
//! email is the person's email and a verified email identity, so mail and
//! chat (Slack's verified profile email) resolve to them. `active: false`
//! disables the person and ends every session (refresh token families;
//! access tokens die with them) — the "signed out everywhere" of
//! deactivation. DELETE does the same and forgets the SCIM record; the
//! person row stays because tickets name them.
//!
//! Who may call: a [`Provisioner`], which only the token check builds —
//! from a SCIM token (which no other use case accepts: it carries no
//! role) or from an admin. Each use case runs in one transaction with
//! audit entries, like every other.

mod groups;

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use uuid::Uuid;

pub use groups::{GroupRole, GroupView};

use super::{
    identity::{link, IdentityKey},
    people::{insert_person, normalize_email, person_row},
    Actor, Desk, DeskError, Work,
};
use crate::{
    domain::{
        scim::{self as rules, name_key, ScimError, ScimErrorKind, UserInput},
        scim_filter::Filter,
        scim_patch::{self, PatchOp},
        text::{FieldError, Name},
    },
    store::{self, people::PersonRow, scim::ScimUserRow},
};

/// Someone allowed to provision an organization: a SCIM token, or an
/// admin. Built only by [`Desk::authenticate_provisioner`] and
/// [`Provisioner::admin`]; the SCIM use cases take nothing else.
#[derive(Debug, Clone)]
pub struct Provisioner {
    actor: Actor,
}

impl Provisioner {
    /// An admin provisioning by hand (their API token or session).
    pub fn admin(actor: Actor) -> Result<Self, DeskError> {
        actor.require_admin()?;
        Ok(Self { actor })
    }

    /// The SCIM token's account; its actor holds no role.
    pub(crate) fn scim_token(actor: Actor) -> Self {
        Self { actor }
    }

    pub fn org_id(&self) -> Uuid {
        self.actor.org_id
    }

    /// A read-only admin token: refused on anything that writes.
    pub fn read_only(&self) -> bool {
        self.actor.read_only
    }

    fn actor(&self) -> &Actor {
        &self.actor
    }
}

/// A provisioned user as SCIM shows it.
#[derive(Debug, Clone)]
pub struct UserView {
    pub id: Uuid,
    /// The attributes as kept, with `id`, `userName`, `externalId` and
    /// `active` as they stand (what filters match against).
    pub resource: Map<String, Value>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The groups (teams) the user is in: (id, displayName).
    pub groups: Vec<(Uuid, String)>,
}

/// One page of a list.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// How many match the filter.
    pub total: usize,
    /// 1-based index of the first item.
    pub start_index: usize,
    pub items: Vec<T>,
}

/// A list request: an optional filter and the page wanted.
#[derive(Debug, Clone)]
pub struct ListQuery {
    pub filter: Option<Filter>,
    /// 1-based; below 1 counts as 1 (RFC 7644 §3.4.2.4).
    pub start_index: usize,
    pub count: usize,
}

/// Most resources one page holds (ServiceProviderConfig's maxResults).
pub const MAX_PAGE: usize = 200;

/// A SCIM refusal as a desk error: the SCIM error type rides as the field
/// name, so the HTTP layer answers it with its `scimType`.
pub fn refusal(error: ScimError) -> DeskError {
    match error.kind {
        ScimErrorKind::Uniqueness => DeskError::Conflict(error.detail),
        kind => DeskError::Invalid(vec![FieldError {
            field: kind.as_str().into(),
            message: error.detail,
        }]),
    }
}

/// The `If-Match` check: a stale version is refused (412).
fn check_version(row_version: i64, if_match: Option<i64>) -> Result<(), DeskError> {
    match if_match {
        Some(v) if v != row_version => Err(refusal(ScimError::new(
            ScimErrorKind::InvalidVers,
            format!("the resource is at version {row_version}, not {v}"),
        ))),
        _ => Ok(()),
    }
}

impl Desk {
    /// `POST /Users`. A person who already has the user's email (a
    /// requester created by their first mail, say) becomes the user.
    pub async fn scim_create_user(
        &self,
        work: &mut Work,
        by: &Provisioner,
        resource: Value,
    ) -> Result<UserView, DeskError> {
        let input = rules::read_user(&resource).map_err(refusal)?;
        let org = by.org_id();
        let key = name_key(&input.user_name);
        if store::scim::find_user_by_key(&mut work.tx, org, &key)
            .await?
            .is_some()
        {
            return Err(DeskError::Conflict(format!(
                "a user with userName `{}` already exists",
                input.user_name
            )));
        }
        let email = input.email.as_deref().map(normalize_email).transpose()?;
        let existing = match &email {
            Some(email) => person_with_email(&mut work.tx, org, email).await?,
            None => None,
        };
        let (mut person, adopted) = match existing {
            Some(person) => {
                if store::scim::find_user(&mut work.tx, org, person.id)
                    .await?
                    .is_some()
                {
                    return Err(DeskError::Conflict(format!(
                        "another user already has the email {}",
                        email.as_deref().unwrap_or_default()
                    )));
                }
                (person, true)
            }
            None => {
                let name = Name::parse("displayName", &input.name)?.into_inner();
                let view = insert_person(
                    work,
                    by.actor(),
                    &name,
                    email.as_deref(),
                    &["requester".to_string()],
                )
                .await?;
                (person_row(&mut work.tx, org, view.id).await?, false)
            }
        };
        self.apply_user(work, by, &mut person, &input).await?;
        let now = store::now();
        let row = ScimUserRow {
            person_id: person.id,
            org_id: org,
            user_name: input.user_name.clone(),
            user_name_key: key,
            external_id: input.external_id.clone(),
            attributes: sqlx::types::Json(Value::Object(input.attributes.clone())),
            version: 1,
            created_at: now,
            updated_at: now,
            disabled_at: person.disabled_at,
        };
        store::scim::insert_user(&mut work.tx, &row).await?;
        work.audit(
            by.actor(),
            "scim.user_created",
            &person.id.to_string(),
            json!({ "userName": row.user_name, "externalId": row.external_id, "active": input.active, "adopted": adopted }),
        );
        user_view(&mut work.tx, row).await
    }

    /// `GET /Users/{id}`.
    pub async fn scim_get_user(&self, by: &Provisioner, id: Uuid) -> Result<UserView, DeskError> {
        let mut tx = self.db.read().await?;
        let row = user_row(&mut tx, by.org_id(), id).await?;
        user_view(&mut tx, row).await
    }

    /// `GET /Users`: filtered (an index answers `userName eq`, `externalId
    /// eq` and `id eq`; anything else is matched over the organization's
    /// users) and paged, oldest first.
    pub async fn scim_list_users(
        &self,
        by: &Provisioner,
        query: ListQuery,
    ) -> Result<Page<UserView>, DeskError> {
        let org = by.org_id();
        let mut tx = self.db.read().await?;
        let rows = match query.filter.as_ref().and_then(Filter::equality) {
            Some((attr, v)) if attr.eq_ignore_ascii_case("userName") => {
                store::scim::find_user_by_key(&mut tx, org, &name_key(v))
                    .await?
                    .into_iter()
                    .collect()
            }
            Some((attr, v)) if attr.eq_ignore_ascii_case("externalId") => {
                store::scim::find_users_by_external_id(&mut tx, org, v).await?
            }
            Some((attr, v)) if attr.eq_ignore_ascii_case("id") => match Uuid::parse_str(v) {
                Ok(id) => store::scim::find_user(&mut tx, org, id)
                    .await?
                    .into_iter()
                    .collect(),
                Err(_) => Vec::new(),
            },
            _ => store::scim::list_users(&mut tx, org).await?,
        };
        // One read of every membership, grouped by person, rather than a
        // scan of all memberships per user.
        let mut memberships: std::collections::HashMap<Uuid, Vec<(Uuid, String)>> =
            std::collections::HashMap::new();
        for (person, team, name) in store::scim::group_memberships(&mut tx, org).await? {
            memberships.entry(person).or_default().push((team, name));
        }
        let mut matching: Vec<UserView> = rows
            .into_iter()
            .map(|row| {
                let groups = memberships.remove(&row.person_id).unwrap_or_default();
                view_of(row, groups)
            })
            .filter(|view| {
                query
                    .filter
                    .as_ref()
                    .is_none_or(|f| f.matches(&Value::Object(view.resource.clone())))
            })
            .collect();
        Ok(page(&mut matching, &query))
    }

    /// `PUT /Users/{id}`: the resource is replaced by the body.
    pub async fn scim_replace_user(
        &self,
        work: &mut Work,
        by: &Provisioner,
        id: Uuid,
        resource: Value,
        if_match: Option<i64>,
    ) -> Result<UserView, DeskError> {
        let row = locked_user(&mut work.tx, by.org_id(), id).await?;
        check_version(row.version, if_match)?;
        let input = rules::read_user(&resource).map_err(refusal)?;
        self.store_user(work, by, row, input, "scim.user_replaced")
            .await
    }

    /// `PATCH /Users/{id}`: the operations applied to the stored resource,
    /// then the result taken as a PUT would be.
    pub async fn scim_patch_user(
        &self,
        work: &mut Work,
        by: &Provisioner,
        id: Uuid,
        ops: Vec<PatchOp>,
        if_match: Option<i64>,
    ) -> Result<UserView, DeskError> {
        let row = locked_user(&mut work.tx, by.org_id(), id).await?;
        check_version(row.version, if_match)?;
        let mut resource = Value::Object(current_resource(&row));
        scim_patch::apply(&mut resource, &ops, &["id", "meta", "groups", "schemas"])
            .map_err(refusal)?;
        let input = rules::read_user(&resource).map_err(refusal)?;
        self.store_user(work, by, row, input, "scim.user_patched")
            .await
    }

    /// `DELETE /Users/{id}`: the person is disabled and signed out, leaves
    /// the provisioned groups, and the SCIM record goes.
    pub async fn scim_delete_user(
        &self,
        work: &mut Work,
        by: &Provisioner,
        id: Uuid,
        if_match: Option<i64>,
    ) -> Result<(), DeskError> {
        let org = by.org_id();
        let row = locked_user(&mut work.tx, org, id).await?;
        check_version(row.version, if_match)?;
        let mut person = person_row(&mut work.tx, org, id).await?;
        if person.disabled_at.is_none() {
            person.disabled_at = Some(store::now());
            store::people::update_person(&mut work.tx, &person).await?;
            work.audit(
                by.actor(),
                "person.disabled",
                &id.to_string(),
                json!({ "by": "scim" }),
            );
        }
        self.sign_out_everywhere(work, id).await?;
        let groups = store::scim::groups_of_person(&mut work.tx, org, id).await?;
        for group in &groups {
            store::teams::remove_member(&mut work.tx, group.team_id, id).await?;
        }
        groups::sync_roles(work, by.actor(), &[id]).await?;
        store::scim::delete_user(&mut work.tx, org, id).await?;
        work.audit(
            by.actor(),
            "scim.user_deleted",
            &id.to_string(),
            json!({ "userName": row.user_name, "groups": groups.iter().map(|g| g.team_id).collect::<Vec<_>>() }),
        );
        Ok(())
    }

    /// Writes a changed user: the person first (name, email, active), then
    /// the SCIM record with the next version.
    async fn store_user(
        &self,
        work: &mut Work,
        by: &Provisioner,
        mut row: ScimUserRow,
        input: UserInput,
        action: &str,
    ) -> Result<UserView, DeskError> {
        let org = by.org_id();
        let key = name_key(&input.user_name);
        if key != row.user_name_key {
            if let Some(other) = store::scim::find_user_by_key(&mut work.tx, org, &key).await? {
                if other.person_id != row.person_id {
                    return Err(DeskError::Conflict(format!(
                        "a user with userName `{}` already exists",
                        input.user_name
                    )));
                }
            }
        }
        let mut person = person_row(&mut work.tx, org, row.person_id).await?;
        self.apply_user(work, by, &mut person, &input).await?;
        row.user_name = input.user_name.clone();
        row.user_name_key = key;
        row.external_id = input.external_id.clone();
        row.attributes = sqlx::types::Json(Value::Object(input.attributes.clone()));
        row.version += 1;
        row.updated_at = store::now();
        row.disabled_at = person.disabled_at;
        store::scim::update_user(&mut work.tx, &row).await?;
        work.audit(
            by.actor(),
            action,
            &row.person_id.to_string(),
            json!({ "userName": row.user_name, "externalId": row.external_id, "active": input.active, "version": row.version }),
        );
        user_view(&mut work.tx, row).await
    }

    /// Brings the person in line with the user: name, email (and its
    /// identity), enabled or disabled (and then signed out everywhere).
    async fn apply_user(
        &self,
        work: &mut Work,
        by: &Provisioner,
        person: &mut PersonRow,
        input: &UserInput,
    ) -> Result<(), DeskError> {
        let org = by.org_id();
        person.name = Name::parse("displayName", &input.name)?.into_inner();
        if let Some(email) = input.email.as_deref().map(normalize_email).transpose()? {
            if person.email.as_deref() != Some(email.as_str()) {
                if let Some(other) = person_with_email(&mut work.tx, org, &email).await? {
                    if other.id != person.id {
                        return Err(DeskError::Conflict(format!(
                            "another person already has the email {email}"
                        )));
                    }
                }
                person.email = Some(email.clone());
            }
            link(work, by.actor(), person, &IdentityKey::Email(email), true).await?;
        }
        let disable = !input.active;
        if disable != person.disabled_at.is_some() {
            person.disabled_at = disable.then(store::now);
            let action = if disable {
                "person.disabled"
            } else {
                "person.enabled"
            };
            work.audit(
                by.actor(),
                action,
                &person.id.to_string(),
                json!({ "by": "scim" }),
            );
        }
        store::people::update_person(&mut work.tx, person).await?;
        if disable {
            self.sign_out_everywhere(work, person.id).await?;
        }
        Ok(())
    }

    /// Ends every session of `person`: refresh token families are revoked
    /// (their access tokens are refused with them) and this process's
    /// cached API tokens of theirs forgotten (the disabled person's tokens
    /// are refused on the next lookup).
    async fn sign_out_everywhere(&self, work: &mut Work, person: Uuid) -> Result<(), DeskError> {
        store::identity::revoke_person_sessions(&mut work.tx, person, store::now()).await?;
        self.forget_tokens_of(person);
        Ok(())
    }
}

/// The person an email address already belongs to: by identity, else by
/// their primary email.
async fn person_with_email(
    tx: &mut store::Tx,
    org: Uuid,
    email: &str,
) -> Result<Option<PersonRow>, DeskError> {
    if let Some(p) = store::people::find_person_by_identity(tx, org, "email", "", email).await? {
        return Ok(Some(p));
    }
    Ok(store::people::find_person_by_email(tx, org, email).await?)
}

async fn user_row(tx: &mut store::Tx, org: Uuid, id: Uuid) -> Result<ScimUserRow, DeskError> {
    store::scim::find_user(tx, org, id)
        .await?
        .ok_or(DeskError::NotFound("user"))
}

/// The user, locked for this transaction's change.
async fn locked_user(tx: &mut store::Tx, org: Uuid, id: Uuid) -> Result<ScimUserRow, DeskError> {
    store::scim::lock_user(tx, org, id)
        .await?
        .ok_or(DeskError::NotFound("user"))
}

async fn user_view(tx: &mut store::Tx, row: ScimUserRow) -> Result<UserView, DeskError> {
    let groups = store::scim::groups_of_person(tx, row.org_id, row.person_id)
        .await?
        .into_iter()
        .map(|g| (g.team_id, g.display_name))
        .collect();
    Ok(view_of(row, groups))
}

/// The stored attributes with the fields that stand beside them.
fn current_resource(row: &ScimUserRow) -> Map<String, Value> {
    let mut resource = row.attributes.0.as_object().cloned().unwrap_or_default();
    resource.insert("id".into(), Value::String(row.person_id.to_string()));
    resource.insert("userName".into(), Value::String(row.user_name.clone()));
    match &row.external_id {
        Some(e) => resource.insert("externalId".into(), Value::String(e.clone())),
        None => resource.remove("externalId"),
    };
    resource.insert("active".into(), Value::Bool(row.disabled_at.is_none()));
    resource
}

fn view_of(row: ScimUserRow, groups: Vec<(Uuid, String)>) -> UserView {
    UserView {
        id: row.person_id,
        resource: current_resource(&row),
        version: row.version,
        created_at: row.created_at,
        updated_at: row.updated_at,
        groups,
    }
}

/// The page `query` asks for out of `all`.
fn page<T>(all: &mut Vec<T>, query: &ListQuery) -> Page<T> {
    let start_index = query.start_index.max(1);
    let total = all.len();
    let items = all
        .drain(..)
        .skip(start_index - 1)
        .take(query.count.min(MAX_PAGE))
        .collect();
    Page {
        total,
        start_index,
        items,
    }
}
