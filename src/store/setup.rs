//! What opening a ticket reads about its organization before it takes a
//! number: webhook subscriptions, SLA policies, escalation policies and
//! enabled automation rules.
//!
//! Why one function: every ticket creation needs all four, and on Postgres
//! each statement costs more in executor start-up than in the reading. One
//! statement there (each list aggregated to JSON in its usual order), the
//! four usual reads on SQLite.

use sqlx::types::Json;
use uuid::Uuid;

use super::{
    rules::{self, RuleRow},
    sla::{self, EscalationPolicyRow, PolicyRow},
    webhooks::{self, WebhookRow},
    Exec, Tx,
};

/// An organization's setup as a new ticket sees it.
#[derive(Debug, Default)]
pub struct OpenSetup {
    pub webhooks: Vec<WebhookRow>,
    pub sla_policies: Vec<PolicyRow>,
    pub escalation_policies: Vec<EscalationPolicyRow>,
    pub rules: Vec<RuleRow>,
}

const PG: &str = const_format::concatcp!(
    "SELECT \
     (SELECT COALESCE(json_agg(w), '[]'::json) FROM (",
    webhooks::COLUMNS,
    " WHERE org_id = $1 AND active = TRUE) w), \
     (SELECT COALESCE(json_agg(p ORDER BY p.position, p.created_at), '[]'::json) FROM (",
    sla::POLICY,
    " WHERE org_id = $1) p), \
     (SELECT COALESCE(json_agg(e ORDER BY e.position, e.created_at), '[]'::json) FROM (",
    sla::ESCALATION_POLICY,
    " WHERE org_id = $1) e), \
     (SELECT COALESCE(json_agg(r ORDER BY r.position, r.name), '[]'::json) FROM (",
    rules::RULE,
    " WHERE org_id = $1 AND enabled) r)"
);

type Lists = (
    Json<Vec<WebhookRow>>,
    Json<Vec<PolicyRow>>,
    Json<Vec<EscalationPolicyRow>>,
    Json<Vec<RuleRow>>,
);

/// Reads the four lists of `org_id`, each in the order its own read gives.
pub async fn read_open_setup(tx: &mut Tx, org_id: Uuid) -> Result<OpenSetup, sqlx::Error> {
    if let Tx::Postgres(c) = tx {
        let (webhooks, sla_policies, escalation_policies, rules): Lists =
            sqlx::query_as(PG).bind(org_id).fetch_one(&mut **c).await?;
        return Ok(OpenSetup {
            webhooks: webhooks.0,
            sla_policies: sla_policies.0,
            escalation_policies: escalation_policies.0,
            rules: rules.0,
        });
    }
    Ok(OpenSetup {
        webhooks: webhooks::list_active_webhooks(tx, org_id).await?,
        sla_policies: sla::list_policies(Exec::Tx(tx), org_id).await?,
        escalation_policies: sla::list_escalation_policies(Exec::Tx(tx), org_id).await?,
        rules: rules::enabled_rules(tx, org_id).await?,
    })
}
