//! SCIM 2.0 resources as Switchboard reads them (RFC 7643): what a
//! provisioned User says about its person (name, email, active), what a
//! Group says about its team, the attributes kept as sent, and the rule
//! that turns group memberships into roles. Filters and PATCH live in
//! `scim_filter` and `scim_patch`.
//!
//! Values arrive in the shapes identity providers send, not only the
//! RFC's: Entra ID sends booleans as strings (`"active": "False"`), Okta
//! sends a `password` we never keep.

use std::fmt;

use serde_json::{Map, Value};

use super::scim_filter::get_ci;
use super::Role;

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_USER_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// SCIM's `scimType` error keywords (RFC 7644 §3.12) that we answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScimErrorKind {
    InvalidFilter,
    TooMany,
    Uniqueness,
    Mutability,
    InvalidSyntax,
    InvalidPath,
    NoTarget,
    InvalidValue,
    InvalidVers,
}

string_enum!(ScimErrorKind, "SCIM error type", {
    InvalidFilter => "invalidFilter",
    TooMany => "tooMany",
    Uniqueness => "uniqueness",
    Mutability => "mutability",
    InvalidSyntax => "invalidSyntax",
    InvalidPath => "invalidPath",
    NoTarget => "noTarget",
    InvalidValue => "invalidValue",
    InvalidVers => "invalidVers",
});

impl ScimErrorKind {
    /// The HTTP status RFC 7644 §3.12 gives it.
    pub const fn status(self) -> u16 {
        match self {
            ScimErrorKind::Uniqueness => 409,
            ScimErrorKind::InvalidVers => 412,
            _ => 400,
        }
    }
}

/// A refusal in SCIM's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimError {
    pub kind: ScimErrorKind,
    pub detail: String,
}

impl ScimError {
    pub fn new(kind: ScimErrorKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for ScimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.detail)
    }
}

impl std::error::Error for ScimError {}

/// A boolean as providers send it: `true`, or the strings `"True"` and
/// `"false"` in any case.
pub fn as_bool(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.trim().eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.trim().eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// Attributes never kept: computed by us (`id`, `meta`, `groups`) or
/// secret (`password`: people provisioned by SCIM sign in through their
/// identity provider).
const NOT_KEPT: &[&str] = &["id", "meta", "groups", "password", "schemas"];

/// Longest userName, externalId or displayName we keep.
const MAX_NAME: usize = 256;

/// What a User resource says about its person.
#[derive(Debug, Clone, PartialEq)]
pub struct UserInput {
    pub user_name: String,
    pub external_id: Option<String>,
    /// The person's display name.
    pub name: String,
    /// The address mail and chat resolve to the person by.
    pub email: Option<String>,
    pub active: bool,
    /// The attributes to keep and serve back, without the computed ones.
    pub attributes: Map<String, Value>,
}

/// Reads a User resource (a POST or PUT body, or the result of a PATCH).
pub fn read_user(resource: &Value) -> Result<UserInput, ScimError> {
    let invalid = |m: String| ScimError::new(ScimErrorKind::InvalidValue, m);
    let Value::Object(object) = resource else {
        return Err(ScimError::new(
            ScimErrorKind::InvalidSyntax,
            "a User is a JSON object",
        ));
    };
    let user_name =
        text(resource, "userName")?.ok_or_else(|| invalid("`userName` is required".into()))?;
    let external_id = text(resource, "externalId")?;
    let active = match get_ci(resource, "active") {
        None | Some(Value::Null) => true,
        Some(v) => {
            as_bool(v).ok_or_else(|| invalid(format!("`active` must be true or false, not {v}")))?
        }
    };
    let email = primary_email(resource)?.or_else(|| {
        // Entra's default mapping puts the UPN, an address, in userName.
        looks_like_email(&user_name).then(|| user_name.clone())
    });
    let name = display_name(resource).unwrap_or_else(|| user_name.clone());
    let mut attributes = Map::new();
    for (key, value) in object {
        if NOT_KEPT.iter().any(|k| k.eq_ignore_ascii_case(key)) {
            continue;
        }
        let key = canonical_key(key);
        let value = match value {
            _ if key == "active" => Value::Bool(active),
            // An extension's object may repeat its `schemas`; not kept.
            Value::Object(inner)
                if key.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:")) =>
            {
                let mut inner = inner.clone();
                inner.retain(|k, _| !k.eq_ignore_ascii_case("schemas"));
                Value::Object(inner)
            }
            other => other.clone(),
        };
        attributes.insert(key, value);
    }
    attributes.insert("userName".into(), Value::String(user_name.clone()));
    Ok(UserInput {
        user_name,
        external_id,
        name,
        email,
        active,
        attributes,
    })
}

/// A Group resource: its name and the ids of its members.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupInput {
    pub display_name: String,
    pub external_id: Option<String>,
    pub members: Vec<String>,
}

pub fn read_group(resource: &Value) -> Result<GroupInput, ScimError> {
    let invalid = |m: String| ScimError::new(ScimErrorKind::InvalidValue, m);
    if !resource.is_object() {
        return Err(ScimError::new(
            ScimErrorKind::InvalidSyntax,
            "a Group is a JSON object",
        ));
    }
    let display_name = text(resource, "displayName")?
        .ok_or_else(|| invalid("`displayName` is required".into()))?;
    let external_id = text(resource, "externalId")?;
    let members = match get_ci(resource, "members") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|m| match get_ci(m, "value") {
                Some(Value::String(id)) if !id.trim().is_empty() => Ok(id.trim().to_string()),
                _ => Err(invalid(
                    "each of `members` needs a `value`, the member's id".into(),
                )),
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => return Err(invalid("`members` must be a list".into())),
    };
    let mut unique = Vec::with_capacity(members.len());
    for m in members {
        if !unique.contains(&m) {
            unique.push(m);
        }
    }
    Ok(GroupInput {
        display_name,
        external_id,
        members: unique,
    })
}

/// A string attribute, trimmed; empty counts as absent.
fn text(resource: &Value, key: &str) -> Result<Option<String>, ScimError> {
    match get_ci(resource, key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            let s = s.trim();
            if s.len() > MAX_NAME || s.chars().any(char::is_control) {
                return Err(ScimError::new(
                    ScimErrorKind::InvalidValue,
                    format!(
                        "`{key}` must be at most {MAX_NAME} characters without control characters"
                    ),
                ));
            }
            Ok((!s.is_empty()).then(|| s.to_string()))
        }
        Some(other) => Err(ScimError::new(
            ScimErrorKind::InvalidValue,
            format!("`{key}` must be a string, not {other}"),
        )),
    }
}

fn looks_like_email(s: &str) -> bool {
    s.split_once('@')
        .is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !s.contains(char::is_whitespace))
}

/// The primary email, else the work one, else the first.
fn primary_email(resource: &Value) -> Result<Option<String>, ScimError> {
    let emails = match get_ci(resource, "emails") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(ScimError::new(
                ScimErrorKind::InvalidValue,
                "`emails` must be a list",
            ))
        }
    };
    let value = |e: &Value| {
        get_ci(e, "value")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let is = |e: &Value, key: &str, want: &str| {
        get_ci(e, key)
            .and_then(Value::as_str)
            .is_some_and(|t| t.eq_ignore_ascii_case(want))
    };
    let chosen = emails
        .iter()
        .find(|e| get_ci(e, "primary").and_then(as_bool) == Some(true) && value(e).is_some())
        .or_else(|| {
            emails
                .iter()
                .find(|e| is(e, "type", "work") && value(e).is_some())
        })
        .or_else(|| emails.iter().find(|e| value(e).is_some()));
    match chosen.and_then(value) {
        Some(v) if looks_like_email(&v) => Ok(Some(v)),
        Some(v) => Err(ScimError::new(
            ScimErrorKind::InvalidValue,
            format!("`{v}` is not an email address"),
        )),
        None => Ok(None),
    }
}

/// displayName, else name.formatted, else given and family names.
fn display_name(resource: &Value) -> Option<String> {
    let s = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    s(get_ci(resource, "displayName"))
        .or_else(|| {
            let name = get_ci(resource, "name")?;
            s(get_ci(name, "formatted")).or_else(|| {
                let parts: Vec<String> =
                    [s(get_ci(name, "givenName")), s(get_ci(name, "familyName"))]
                        .into_iter()
                        .flatten()
                        .collect();
                (!parts.is_empty()).then(|| parts.join(" "))
            })
        })
        .map(|n| n.chars().take(MAX_NAME).collect())
}

/// The RFC's spelling of a core attribute sent in another case.
fn canonical_key(key: &str) -> String {
    const CORE: &[&str] = &[
        "userName",
        "externalId",
        "name",
        "displayName",
        "nickName",
        "profileUrl",
        "title",
        "userType",
        "preferredLanguage",
        "locale",
        "timezone",
        "active",
        "emails",
        "phoneNumbers",
        "ims",
        "photos",
        "addresses",
        "entitlements",
        "roles",
        "x509Certificates",
    ];
    CORE.iter()
        .find(|k| k.eq_ignore_ascii_case(key))
        .map_or_else(|| key.to_string(), |k| (*k).to_string())
}

/// Lower-cased for uniqueness and `eq` (userName and group names are not
/// case-exact, RFC 7643 §4.1.1).
pub fn name_key(name: &str) -> String {
    name.trim().to_lowercase()
}

/// A person's roles after their group memberships changed: roles some
/// group maps to (`managed`) follow the groups (`granted`); the others,
/// given by hand, stay. Someone left with none is a requester.
pub fn roles_after(current: &[Role], managed: &[Role], granted: &[Role]) -> Vec<Role> {
    let mut roles: Vec<Role> = current
        .iter()
        .copied()
        .filter(|r| !managed.contains(r))
        .collect();
    for r in granted {
        if !roles.contains(r) {
            roles.push(*r);
        }
    }
    if roles.is_empty() {
        roles.push(Role::Requester);
    }
    roles.sort_by_key(|r| Role::ALL.iter().position(|x| x == r));
    roles
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn an_okta_user_is_read_without_its_password() {
        let user = read_user(&json!({
            "schemas": [USER_SCHEMA],
            "userName": "isaac.brock@example.com",
            "name": { "givenName": "Isaac", "familyName": "Brock" },
            "emails": [{ "primary": true, "value": "isaac.brock@example.com", "type": "work" }],
            "displayName": "Isaac Brock",
            "locale": "en-US",
            "externalId": "00ujl29u0le5T6Aj10h7",
            "groups": [],
            "password": "1mz050nq",
            "active": true
        }))
        .expect("user");
        assert_eq!(user.user_name, "isaac.brock@example.com");
        assert_eq!(user.name, "Isaac Brock");
        assert_eq!(user.email.as_deref(), Some("isaac.brock@example.com"));
        assert!(user.active);
        assert!(user.attributes.get("password").is_none());
        assert!(user.attributes.get("groups").is_none());
        assert_eq!(user.attributes["locale"], "en-US");
    }

    #[test]
    fn an_entra_user_with_string_booleans_and_names_only() {
        let user = read_user(&json!({
            "UserName": "Test_User_ab6490ee@contoso.com",
            "active": "False",
            "emails": [{ "primary": "True", "type": "work", "value": "Test_User_fd0ea19b@contoso.com" }],
            "name": { "familyName": "Doe", "givenName": "Jane" }
        }))
        .expect("user");
        assert!(!user.active);
        assert_eq!(user.attributes["active"], false);
        assert_eq!(user.name, "Jane Doe");
        assert_eq!(
            user.email.as_deref(),
            Some("Test_User_fd0ea19b@contoso.com")
        );
        assert_eq!(
            user.attributes["userName"],
            "Test_User_ab6490ee@contoso.com"
        );
        assert!(user.attributes.get("UserName").is_none());
    }

    #[test]
    fn the_user_name_stands_in_for_a_missing_email_and_name() {
        let user = read_user(&json!({ "userName": "a@b.co" })).expect("user");
        assert_eq!(user.email.as_deref(), Some("a@b.co"));
        assert_eq!(user.name, "a@b.co");
        let user = read_user(&json!({ "userName": "jdoe" })).expect("user");
        assert_eq!(user.email, None);
    }

    #[test]
    fn bad_users_are_refused_as_invalid_values() {
        for bad in [
            json!({}),
            json!({ "userName": "" }),
            json!({ "userName": 5 }),
            json!({ "userName": "a", "active": "maybe" }),
            json!({ "userName": "a", "emails": [{ "value": "not an address" }] }),
            json!({ "userName": "a", "emails": "a@b.co" }),
        ] {
            assert_eq!(
                read_user(&bad).expect_err("refused").kind,
                ScimErrorKind::InvalidValue,
                "{bad}"
            );
        }
        assert_eq!(
            read_user(&json!([])).expect_err("refused").kind,
            ScimErrorKind::InvalidSyntax
        );
    }

    #[test]
    fn groups_read_their_members_once() {
        let g = read_group(&json!({ "displayName": "Ops", "members": [{ "value": "1" }, { "value": "1", "display": "x" }] }))
            .expect("group");
        assert_eq!(g.members, ["1"]);
        assert!(read_group(&json!({ "members": [] })).is_err());
        assert!(
            read_group(&json!({ "displayName": "x", "members": [{ "display": "no id" }] }))
                .is_err()
        );
    }

    #[test]
    fn roles_follow_mapped_groups_and_keep_the_others() {
        use Role::*;
        assert_eq!(
            roles_after(&[Requester], &[Agent, Admin], &[Agent]),
            [Requester, Agent]
        );
        assert_eq!(roles_after(&[Agent, Approver], &[Agent], &[]), [Approver]);
        assert_eq!(roles_after(&[Agent], &[Agent], &[]), [Requester]);
        assert_eq!(roles_after(&[Admin], &[], &[]), [Admin]);
    }

    #[test]
    fn booleans_in_every_spelling() {
        assert_eq!(as_bool(&json!("False")), Some(false));
        assert_eq!(as_bool(&json!("TRUE")), Some(true));
        assert_eq!(as_bool(&json!(true)), Some(true));
        assert_eq!(as_bool(&json!("yes")), None);
    }
}
