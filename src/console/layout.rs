//! What every signed-in page shows around its content: who is signed in,
//! the navigation their roles open, the session's anti-forgery token for
//! the sign-out form (templates extend `base.html` and read `chrome`).

use super::session::SignedIn;

/// The sections of the navigation, to mark the current one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Queue,
    Mine,
    Catalog,
    Approvals,
    Dashboard,
    Problems,
    Changes,
    Cmdb,
    Admin,
    Account,
}

pub struct Chrome {
    pub title: String,
    pub name: String,
    pub csrf: String,
    pub agent: bool,
    pub admin: bool,
    pub section: Section,
}

impl Chrome {
    pub fn new(signed: &SignedIn, section: Section, title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            name: signed.actor.name.clone(),
            csrf: signed.csrf.clone(),
            agent: signed.actor.is_agent(),
            admin: signed.actor.require_admin().is_ok(),
            section,
        }
    }

    /// `aria-current="page"` on the link of the current section.
    pub fn current(&self, section: &str) -> &'static str {
        let this = match self.section {
            Section::Queue => "queue",
            Section::Mine => "mine",
            Section::Catalog => "catalog",
            Section::Approvals => "approvals",
            Section::Dashboard => "dashboard",
            Section::Problems => "problems",
            Section::Changes => "changes",
            Section::Cmdb => "cmdb",
            Section::Admin => "admin",
            Section::Account => "account",
        };
        if this == section {
            "page"
        } else {
            "false"
        }
    }
}
