//! What a person is allowed to do in Switchboard.

use serde::{Deserialize, Serialize};

/// A person's role. Roles are not a hierarchy: an approver, for instance,
/// approves requests and changes but does not work tickets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Opens tickets and follows their own.
    Requester,
    /// Works tickets.
    Agent,
    /// Approves service requests and changes.
    Approver,
    /// Works tickets and oversees a team.
    Manager,
    /// Configures the organization.
    Admin,
}

string_enum!(Role, "role", {
    Requester => "requester",
    Agent => "agent",
    Approver => "approver",
    Manager => "manager",
    Admin => "admin",
});

impl Role {
    /// Whether this role may assign, update and transition other people's tickets.
    pub const fn can_work_tickets(self) -> bool {
        matches!(self, Role::Agent | Role::Manager | Role::Admin)
    }

    /// Whether this role may change organization-wide settings.
    pub const fn can_administer(self) -> bool {
        matches!(self, Role::Admin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_roundtrip_and_match_serde() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Ok(role));
            assert_eq!(role.to_string(), role.as_str());
            assert_eq!(
                serde_json::to_value(role).ok(),
                Some(serde_json::Value::from(role.as_str()))
            );
        }
    }

    #[test]
    fn permissions() {
        let workers: Vec<Role> = Role::ALL
            .into_iter()
            .filter(|r| r.can_work_tickets())
            .collect();
        assert_eq!(workers, [Role::Agent, Role::Manager, Role::Admin]);
        let admins: Vec<Role> = Role::ALL
            .into_iter()
            .filter(|r| r.can_administer())
            .collect();
        assert_eq!(admins, [Role::Admin]);
    }

    #[test]
    fn unknown_role_is_rejected() {
        assert!(Role::parse("root").is_err());
    }
}
