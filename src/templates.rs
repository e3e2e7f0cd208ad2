//! Message templates (handlebars), one per event and channel kind:
//! `templates/<event>.<channel>.hbs` where channel is `text` (email text and
//! chat), `email_html` (the HTML part of emails; values are HTML-escaped)
//! or `sms`. The built-in ones are compiled in; a `notifications.templates_dir`
//! may override any of them by file name. Strict mode: a template naming a
//! field the context lacks fails when loaded — at start and in
//! `config check` — by rendering every template against a sample context,
//! never at send time.

use std::{collections::BTreeMap, path::Path};

use handlebars::Handlebars;
use serde_json::{json, Value};

/// (name, built-in source).
const BUILT_IN: &[(&str, &str)] = &[
    (
        "ticket_created.text",
        include_str!("../templates/ticket_created.text.hbs"),
    ),
    (
        "ticket_created.email_html",
        include_str!("../templates/ticket_created.email_html.hbs"),
    ),
    (
        "ticket_created.sms",
        include_str!("../templates/ticket_created.sms.hbs"),
    ),
    (
        "ticket_assigned.text",
        include_str!("../templates/ticket_assigned.text.hbs"),
    ),
    (
        "ticket_assigned.email_html",
        include_str!("../templates/ticket_assigned.email_html.hbs"),
    ),
    (
        "ticket_assigned.sms",
        include_str!("../templates/ticket_assigned.sms.hbs"),
    ),
    (
        "ticket_commented.text",
        include_str!("../templates/ticket_commented.text.hbs"),
    ),
    (
        "ticket_commented.email_html",
        include_str!("../templates/ticket_commented.email_html.hbs"),
    ),
    (
        "ticket_commented.sms",
        include_str!("../templates/ticket_commented.sms.hbs"),
    ),
    (
        "ticket_state_changed.text",
        include_str!("../templates/ticket_state_changed.text.hbs"),
    ),
    (
        "ticket_state_changed.email_html",
        include_str!("../templates/ticket_state_changed.email_html.hbs"),
    ),
    (
        "ticket_state_changed.sms",
        include_str!("../templates/ticket_state_changed.sms.hbs"),
    ),
    (
        "approval_requested.text",
        include_str!("../templates/approval_requested.text.hbs"),
    ),
    (
        "approval_requested.email_html",
        include_str!("../templates/approval_requested.email_html.hbs"),
    ),
    (
        "approval_requested.sms",
        include_str!("../templates/approval_requested.sms.hbs"),
    ),
    (
        "approval_decided.text",
        include_str!("../templates/approval_decided.text.hbs"),
    ),
    (
        "approval_decided.email_html",
        include_str!("../templates/approval_decided.email_html.hbs"),
    ),
    (
        "approval_decided.sms",
        include_str!("../templates/approval_decided.sms.hbs"),
    ),
    (
        "approval_reminder.text",
        include_str!("../templates/approval_reminder.text.hbs"),
    ),
    (
        "approval_reminder.email_html",
        include_str!("../templates/approval_reminder.email_html.hbs"),
    ),
    (
        "approval_reminder.sms",
        include_str!("../templates/approval_reminder.sms.hbs"),
    ),
    (
        "sla_warning.text",
        include_str!("../templates/sla_warning.text.hbs"),
    ),
    (
        "sla_warning.email_html",
        include_str!("../templates/sla_warning.email_html.hbs"),
    ),
    (
        "sla_warning.sms",
        include_str!("../templates/sla_warning.sms.hbs"),
    ),
    (
        "sla_breached.text",
        include_str!("../templates/sla_breached.text.hbs"),
    ),
    (
        "sla_breached.email_html",
        include_str!("../templates/sla_breached.email_html.hbs"),
    ),
    (
        "sla_breached.sms",
        include_str!("../templates/sla_breached.sms.hbs"),
    ),
    (
        "escalation.text",
        include_str!("../templates/escalation.text.hbs"),
    ),
    (
        "escalation.email_html",
        include_str!("../templates/escalation.email_html.hbs"),
    ),
    (
        "escalation.sms",
        include_str!("../templates/escalation.sms.hbs"),
    ),
    (
        "mention.text",
        include_str!("../templates/mention.text.hbs"),
    ),
    (
        "mention.email_html",
        include_str!("../templates/mention.email_html.hbs"),
    ),
    ("mention.sms", include_str!("../templates/mention.sms.hbs")),
    (
        "ticket_merged.text",
        include_str!("../templates/ticket_merged.text.hbs"),
    ),
    (
        "ticket_merged.email_html",
        include_str!("../templates/ticket_merged.email_html.hbs"),
    ),
    (
        "ticket_merged.sms",
        include_str!("../templates/ticket_merged.sms.hbs"),
    ),
];

#[derive(Debug, Clone)]
pub struct Templates {
    /// Text templates: no escaping (plain text, chat, SMS).
    hb: Handlebars<'static>,
    /// `*.email_html` templates: values HTML-escaped.
    html: Handlebars<'static>,
}

impl Default for Templates {
    fn default() -> Self {
        // The built-in templates are checked by a unit test.
        Self::load(None).unwrap_or_else(|_| Self {
            hb: Handlebars::new(),
            html: Handlebars::new(),
        })
    }
}

impl Templates {
    /// The built-in templates, overridden by `<name>.hbs` files in `dir`.
    /// Errors name the file and the problem.
    pub fn load(dir: Option<&Path>) -> Result<Self, String> {
        let mut sources: BTreeMap<&str, (String, String)> = BUILT_IN
            .iter()
            .map(|(name, src)| (*name, (format!("templates/{name}.hbs"), src.to_string())))
            .collect();
        if let Some(dir) = dir {
            let entries = std::fs::read_dir(dir)
                .map_err(|e| format!("templates directory {}: {e}", dir.display()))?;
            for entry in entries {
                let path = entry.map_err(|e| format!("{}: {e}", dir.display()))?.path();
                let Some(file) = path.file_name().and_then(|f| f.to_str()) else {
                    continue;
                };
                let Some(name) = file.strip_suffix(".hbs") else {
                    continue;
                };
                let Some((known, _)) = BUILT_IN.iter().find(|(n, _)| *n == name) else {
                    return Err(format!(
                        "{}: no such template; expected one of: {}",
                        path.display(),
                        BUILT_IN
                            .iter()
                            .map(|(n, _)| format!("{n}.hbs"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                };
                let source = std::fs::read_to_string(&path)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                sources.insert(known, (path.display().to_string(), source));
            }
        }
        let mut hb = Handlebars::new();
        hb.set_strict_mode(true);
        hb.register_escape_fn(handlebars::no_escape);
        let mut html = Handlebars::new();
        html.set_strict_mode(true);
        for (name, (place, source)) in &sources {
            let registry = if is_html(name) { &mut html } else { &mut hb };
            registry
                .register_template_string(name, source)
                .map_err(|e| format!("{place}: {e}"))?;
        }
        let templates = Self { hb, html };
        let sample = sample_context();
        for (name, (place, _)) in &sources {
            templates
                .registry(name)
                .render(name, &sample)
                .map_err(|e| format!("{place}: {e}"))?;
        }
        Ok(templates)
    }

    /// Renders `name` (e.g. `sla_breached.text`); a failure (only possible
    /// with a context missing what the sample had) falls back to `fallback`.
    pub fn render(&self, name: &str, context: &Value, fallback: String) -> String {
        self.registry(name).render(name, context).unwrap_or_else(|e| {
            tracing::warn!(template = name, error = %e, "template failed; sending the plain text");
            fallback
        })
    }
}

fn is_html(name: &str) -> bool {
    name.ends_with(".email_html")
}

impl Templates {
    fn registry(&self, name: &str) -> &Handlebars<'static> {
        if is_html(name) {
            &self.html
        } else {
            &self.hb
        }
    }
}

/// Everything a template may use: the ticket, the person addressed, the
/// SLA alarm, the escalation step and the organization.
pub fn sample_context() -> Value {
    json!({
        "ticket": { "number": "INC0000042", "title": "Mail is down", "description": "Since 9:00 nobody gets mail.",
                    "priority": "p2", "state": "in_progress", "kind": "incident", "team": "Service desk",
                    "assignee": "Alan Agent", "requester": "Rita", "channel": "api" },
        "person": { "name": "Alan Agent", "email": "alan@example.com" },
        "sla": { "target": "resolution", "percent": 75, "due_at": "2026-11-23T12:00:00Z" },
        "escalation": { "step": 1, "policy": "network incidents" },
        "approval": { "policy": "Purchases", "stage": "Manager", "status": "pending", "reason": "",
                      "approve_url": "http://127.0.0.1:8080/approvals/email/TOKEN", "reject_url": "http://127.0.0.1:8080/approvals/email/TOKEN" },
        "comment": { "body": "Restarted the relay; please check.", "author": "Alan Agent" },
        "change": { "from": "new", "to": "in_progress" },
        "merge": { "from": "INC0000043", "from_title": "No mail since nine", "into": "INC0000042", "into_title": "Mail is down" },
        "actor": { "name": "Alan Agent" },
        "organization": { "id": "0193a6f2-0000-7000-8000-000000000000", "name": "default", "public_url": "http://127.0.0.1:8080" },
        "subject": "[INC0000042] Mail is down: now in progress",
        "text": "INC0000042 \"Mail is down\": now in progress.",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_templates_load_and_an_unknown_field_is_refused_naming_the_file() {
        let templates = Templates::load(None).expect("built-in templates");
        let text = templates.render("sla_breached.text", &sample_context(), String::new());
        assert!(text.contains("INC0000042"), "{text}");
        let mut context = sample_context();
        context["ticket"]["title"] = json!("<script>x</script>");
        let html = templates.render("ticket_created.email_html", &context, String::new());
        assert!(html.contains("&lt;script&gt;"), "HTML-escaped: {html}");
        let text = templates.render("ticket_created.text", &context, String::new());
        assert!(text.contains("<script>"), "text is not escaped: {text}");
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(dir.path().join("escalation.sms.hbs"), "{{ticket.nonsense}}")
            .expect("write");
        let error = Templates::load(Some(dir.path())).expect_err("unknown field");
        assert!(error.contains("escalation.sms.hbs"), "{error}");
        std::fs::remove_file(dir.path().join("escalation.sms.hbs")).expect("rm");
        std::fs::write(dir.path().join("welcome.text.hbs"), "hi").expect("write");
        let error = Templates::load(Some(dir.path())).expect_err("unknown template");
        assert!(error.contains("no such template"), "{error}");
    }
}
