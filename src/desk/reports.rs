//! Report use cases (issue 17): dashboard, volume, SLA, agents, processes.
//!
//! Each report checks who asks (agents see their teams' tickets, managers
//! and admins everything, everyone else nothing), validates its parameters
//! with `domain::report`, reads through `store::reports` in one snapshot
//! transaction and writes nothing. Counting rules (what a reopened ticket
//! counts as, how buckets follow the organization's time zone) are in
//! `domain::report`, once. Apart from the dashboard — which is about now by
//! definition — no report reads the clock when `from` and `to` are given, so
//! a closed past period gives the same bytes whenever it is run.
//! `document.rs` turns each report into the export model.

pub mod document;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{Actor, Desk, DeskError};
use crate::{
    domain::{
        calendar::Calendar,
        report::{
            self, backlog_series, buckets, parse_param, percent, percentile, Interval, Period,
            SlaGroup, VolumeGroup,
        },
        sla::{Standing, Target},
        text::FieldError,
        Role,
    },
    store::{
        self,
        reports::{Filters, Who},
        Tx,
    },
};

/// Query parameters every report takes (all optional). Values are kept as
/// text here and validated by [`Desk::report_request`], so a bad value is
/// answered naming the parameter and what it accepts.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    /// Start of the period, RFC 3339 (default: 30 days before `to`).
    pub from: Option<String>,
    /// End of the period, RFC 3339, exclusive (default: now). At most 5 years after `from`.
    pub to: Option<String>,
    /// Volume: `day` (default), `week` or `month`.
    pub interval: Option<String>,
    /// Volume: `none` (default), `kind`, `team`, `priority`, `channel`, `category`.
    /// SLA: `policy` (default), `team`, `priority`, `category`.
    pub group_by: Option<String>,
    /// `json` (default) or `csv`; see the endpoint for the formats of this build.
    pub format: Option<String>,
    /// Team name.
    pub team: Option<String>,
    /// `incident`, `service_request`, `problem` or `change`.
    pub kind: Option<String>,
    pub priority: Option<String>,
    /// Category name.
    pub category: Option<String>,
    /// Channel of origin (`api`, `slack`, `email`, …).
    pub channel: Option<String>,
    /// Assignee: email address or person id.
    pub agent: Option<String>,
    /// IANA time zone for buckets; default the organization's.
    pub time_zone: Option<String>,
}

/// A validated report request.
#[derive(Debug, Clone)]
pub struct ReportRequest {
    pub org_id: Uuid,
    pub organization: String,
    pub tz: Tz,
    pub period: Period,
    pub interval: Interval,
    pub volume_group: VolumeGroup,
    pub sla_group: SlaGroup,
    pub filters: Filters,
    /// When the request was read; shown in exports, never in the numbers
    /// of a past period.
    pub generated_at: DateTime<Utc>,
}

/// A count of something named.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NamedCount {
    /// State, priority, kind, team or category; null: none (no team).
    pub name: Option<String>,
    pub count: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SinceCounts {
    /// Since the start of today in the organization's time zone.
    pub today: i64,
    pub last_7_days: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OldestOpen {
    pub number: String,
    pub title: String,
    pub created_at: DateTime<Utc>,
    pub age_seconds: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DashboardReport {
    pub organization: String,
    pub time_zone: String,
    pub generated_at: DateTime<Utc>,
    pub open: i64,
    pub unassigned: i64,
    pub open_by_state: Vec<NamedCount>,
    pub open_by_priority: Vec<NamedCount>,
    pub open_by_kind: Vec<NamedCount>,
    pub open_by_team: Vec<NamedCount>,
    pub created: SinceCounts,
    pub resolved: SinceCounts,
    /// Open tickets with an SLA clock past a warning threshold, not breached.
    pub sla_at_risk: i64,
    /// Open tickets with a breached SLA clock.
    pub sla_breached: i64,
    pub oldest_open: Option<OldestOpen>,
    /// Average rating (1–5) of tickets created in the last 30 days.
    pub average_satisfaction: Option<f64>,
    pub ratings: i64,
    /// Categories with most tickets created in the last 30 days.
    pub top_categories: Vec<NamedCount>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VolumeRow {
    /// Local date the bucket starts on.
    pub bucket: NaiveDate,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Group value (null without `group_by`, or for "none", e.g. no team).
    pub group: Option<String>,
    pub created: i64,
    pub resolved: i64,
    pub reopened: i64,
    /// Open at the end of the bucket.
    pub backlog: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VolumeTotals {
    pub created: i64,
    pub resolved: i64,
    pub reopened: i64,
    /// Open at the start of the period.
    pub opening_backlog: i64,
    /// Open at the end of the period.
    pub backlog: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VolumeReport {
    pub organization: String,
    pub time_zone: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub interval: String,
    pub group_by: String,
    pub totals: VolumeTotals,
    /// One row per bucket and group, every group in every bucket.
    pub rows: Vec<VolumeRow>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SlaRow {
    pub group: Option<String>,
    /// `first_response`, `resolution` or `next_response`.
    pub target: String,
    pub met: i64,
    pub breached: i64,
    /// Clocks running (or paused) at the end of the period.
    pub in_progress: i64,
    /// Met of met + breached; null with no outcome.
    pub percent_met: Option<f64>,
    /// Business seconds from clock start to the target met, over the
    /// outcomes met in the period.
    pub median_business_seconds: Option<i64>,
    pub p90_business_seconds: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SlaReport {
    pub organization: String,
    pub time_zone: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub group_by: String,
    pub rows: Vec<SlaRow>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AgentRow {
    /// Person id (agents) or team id (teams); null: unassigned / no team.
    pub id: Option<Uuid>,
    pub name: Option<String>,
    /// Tickets created in the period and assigned to them now.
    pub assigned: i64,
    pub resolved: i64,
    pub reopened: i64,
    pub median_first_response_seconds: Option<i64>,
    pub p90_first_response_seconds: Option<i64>,
    pub median_first_response_business_seconds: Option<i64>,
    pub p90_first_response_business_seconds: Option<i64>,
    pub median_resolution_seconds: Option<i64>,
    pub p90_resolution_seconds: Option<i64>,
    pub median_resolution_business_seconds: Option<i64>,
    pub p90_resolution_business_seconds: Option<i64>,
    pub sla_percent_met: Option<f64>,
    pub average_satisfaction: Option<f64>,
    /// Open at the end of the period (now, for a period ending now).
    pub open: i64,
    /// Minutes logged in the period (by when the work started): agents'
    /// rows by whoever logged them, teams' rows on the team's tickets.
    pub time_logged_minutes: i64,
    /// The billable part of `time_logged_minutes`.
    pub billable_minutes: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AgentsReport {
    pub organization: String,
    pub time_zone: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub agents: Vec<AgentRow>,
    pub teams: Vec<AgentRow>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MttrRow {
    pub priority: String,
    pub resolved: i64,
    /// Mean wall-clock seconds from creation to resolution.
    pub mean_seconds: i64,
    pub mean_business_seconds: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProcessesReport {
    pub organization: String,
    pub time_zone: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub mean_time_to_resolve: Vec<MttrRow>,
    /// Problems created in the period and incidents linked to them.
    pub problems: i64,
    pub linked_incidents: i64,
    pub incidents_per_problem: Option<f64>,
    /// Post-implementation reviews recorded in the period.
    pub changes_reviewed: i64,
    /// Reviewed `successful` or `successful_with_issues`.
    pub changes_successful: i64,
    /// Reviewed `failed` or `rolled_back`.
    pub changes_failed: i64,
    pub change_success_percent: Option<f64>,
    /// Changes created in the period.
    pub changes_created: i64,
    pub emergency_changes: i64,
    pub emergency_percent: Option<f64>,
}

/// Whatever report was asked for.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Report {
    Dashboard(DashboardReport),
    Volume(VolumeReport),
    Sla(SlaReport),
    Agents(AgentsReport),
    Processes(ProcessesReport),
}

fn invalid(e: FieldError) -> DeskError {
    DeskError::Invalid(vec![e])
}

fn text(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl Desk {
    /// Who may read reports, and over which tickets: `Some(person)` limits
    /// an agent to their teams' tickets and their own.
    fn report_scope(actor: &Actor) -> Result<Option<Uuid>, DeskError> {
        if actor.has(Role::Manager) || actor.has(Role::Admin) {
            return Ok(None);
        }
        if actor.has(Role::Agent) {
            return actor
                .person_id
                .map(Some)
                .ok_or_else(|| DeskError::Forbidden("reports need a person".into()));
        }
        Err(DeskError::Forbidden(
            "reports need the agent, manager or admin role".into(),
        ))
    }

    async fn read_request(
        &self,
        tx: &mut Tx,
        actor: &Actor,
        scope: Option<Uuid>,
        query: &ReportQuery,
    ) -> Result<ReportRequest, DeskError> {
        let generated_at = self.clock.now();
        let to = match text(&query.to) {
            Some(v) => report::parse_instant("to", v).map_err(invalid)?,
            None => generated_at,
        };
        let from = match text(&query.from) {
            Some(v) => report::parse_instant("from", v).map_err(invalid)?,
            None => to - Duration::days(30),
        };
        let period = Period::new(from, to).map_err(invalid)?;
        let interval = parse_param(
            "interval",
            text(&query.interval),
            Interval::Day,
            Interval::parse,
            &Interval::ALL.map(Interval::as_str),
        )
        .map_err(invalid)?;
        // `group_by` means different things per report; both are parsed
        // here and the report reads its own, so the error lists the
        // values of the report asked for (see `check_group`).
        let volume_group = text(&query.group_by)
            .map(VolumeGroup::parse)
            .and_then(Result::ok)
            .unwrap_or(VolumeGroup::None);
        let sla_group = text(&query.group_by)
            .map(SlaGroup::parse)
            .and_then(Result::ok)
            .unwrap_or(SlaGroup::Policy);
        let (organization, zone) = store::reports::org_report_facts(tx, actor.org_id).await?;
        let tz = match text(&query.time_zone) {
            Some(v) => report::parse_time_zone("time_zone", v).map_err(invalid)?,
            None => zone.parse::<Tz>().unwrap_or(chrono_tz::UTC),
        };
        let org = actor.org_id;
        let team = match text(&query.team) {
            Some(name) => Some(
                store::reports::find_team_id(tx, org, name)
                    .await?
                    .ok_or_else(|| invalid(FieldError::new("team", format!("no team `{name}`"))))?,
            ),
            None => None,
        };
        let category = match text(&query.category) {
            Some(name) => Some(
                store::reports::find_category_id(tx, org, name)
                    .await?
                    .ok_or_else(|| {
                        invalid(FieldError::new("category", format!("no category `{name}`")))
                    })?,
            ),
            None => None,
        };
        let agent = match text(&query.agent) {
            Some(who) => Some(
                store::reports::find_person_id(tx, org, who.parse().ok(), who)
                    .await?
                    .ok_or_else(|| {
                        invalid(FieldError::new(
                            "agent",
                            format!("no person `{who}`; accepts an email address or person id"),
                        ))
                    })?,
            ),
            None => None,
        };
        let kind = match text(&query.kind) {
            Some(v) => Some(
                crate::domain::Kind::parse(v)
                    .map_err(|e| invalid(FieldError::new("kind", e.to_string())))?
                    .as_str()
                    .to_string(),
            ),
            None => None,
        };
        Ok(ReportRequest {
            org_id: org,
            organization,
            tz,
            period,
            interval,
            volume_group,
            sla_group,
            filters: Filters {
                team,
                kind,
                priority: text(&query.priority).map(|p| p.to_ascii_lowercase()),
                category,
                channel: text(&query.channel).map(|c| c.to_ascii_lowercase()),
                agent,
                scope,
            },
            generated_at,
        })
    }

    /// Runs one report.
    #[tracing::instrument(skip_all, fields(org = %actor.org_id, report = %kind), err)]
    pub async fn report(
        &self,
        actor: &Actor,
        kind: report::ReportKind,
        query: &ReportQuery,
    ) -> Result<(ReportRequest, Report), DeskError> {
        let mut tx = self.db.snapshot().await?;
        let out = self.report_in(&mut tx, actor, kind, query).await?;
        // Read-only: the snapshot ends without a commit.
        drop(tx);
        Ok(out)
    }

    /// Checks a report's parameters as [`Desk::report`] would read them,
    /// without running it (a scheduled report is checked when saved).
    pub(super) async fn check_report_query(
        &self,
        tx: &mut Tx,
        actor: &Actor,
        kind: report::ReportKind,
        query: &ReportQuery,
    ) -> Result<(), DeskError> {
        check_group(kind, query)?;
        let scope = Self::report_scope(actor)?;
        self.read_request(tx, actor, scope, query).await.map(drop)
    }

    /// [`Desk::report`] inside a transaction the caller holds (a scheduled
    /// report runs in its timer's).
    pub(super) async fn report_in(
        &self,
        tx: &mut Tx,
        actor: &Actor,
        kind: report::ReportKind,
        query: &ReportQuery,
    ) -> Result<(ReportRequest, Report), DeskError> {
        check_group(kind, query)?;
        let scope = Self::report_scope(actor)?;
        let request = self.read_request(tx, actor, scope, query).await?;
        let report = match kind {
            report::ReportKind::Dashboard => Report::Dashboard(self.dashboard(tx, &request).await?),
            report::ReportKind::Volume => Report::Volume(volume(tx, &request).await?),
            report::ReportKind::Sla => Report::Sla(self.sla_report(tx, &request).await?),
            report::ReportKind::Agents => Report::Agents(self.agents(tx, &request).await?),
            report::ReportKind::Processes => Report::Processes(self.processes(tx, &request).await?),
        };
        Ok((request, report))
    }

    /// The organization a command-line report runs for, as the system.
    pub async fn report_actor(&self, org: &str) -> Result<Actor, DeskError> {
        let mut tx = self.db.read().await?;
        let org = store::orgs::find_org_by_slug(&mut tx, org)
            .await?
            .ok_or(DeskError::NotFound("organization"))?;
        Ok(Actor::system(org.id))
    }

    async fn dashboard(
        &self,
        tx: &mut Tx,
        r: &ReportRequest,
    ) -> Result<DashboardReport, DeskError> {
        let now = r.generated_at;
        let org = r.org_id;
        let f = &r.filters;
        let open_rows = store::reports::open_breakdown(tx, org, f).await?;
        let mut by_state = BTreeMap::<Option<String>, i64>::new();
        let mut by_priority = BTreeMap::<Option<String>, i64>::new();
        let mut by_kind = BTreeMap::<Option<String>, i64>::new();
        let mut by_team = BTreeMap::<Option<String>, i64>::new();
        let (mut open, mut unassigned) = (0, 0);
        for row in &open_rows {
            open += row.tickets;
            unassigned += row.unassigned;
            *by_state.entry(Some(row.state.clone())).or_default() += row.tickets;
            *by_priority.entry(Some(row.priority.clone())).or_default() += row.tickets;
            *by_kind.entry(Some(row.kind.clone())).or_default() += row.tickets;
            *by_team.entry(row.team.clone()).or_default() += row.tickets;
        }
        let today = report::start_of_local_day(r.tz, now.with_timezone(&r.tz).date_naive());
        let week = now - Duration::days(7);
        // A local day starts less than 7 days ago, so "today" is inside
        // the week and one read counts both.
        let (c_today, c_week) = store::reports::created_since(tx, org, f, today, week).await?;
        let (r_today, r_week) = store::reports::resolved_since(tx, org, f, today, week).await?;
        let (mut at_risk, mut breached) = (0, 0);
        for state in store::reports::open_sla_states(tx, org, f).await? {
            match state.0.standing() {
                Standing::Breached => breached += 1,
                Standing::Warned => at_risk += 1,
                Standing::Ok => {}
            }
        }
        let oldest = store::reports::oldest_open(tx, org, f)
            .await?
            .map(|o| OldestOpen {
                age_seconds: (now - o.created_at).num_seconds().max(0),
                number: o.number,
                title: o.title,
                created_at: o.created_at,
            });
        let month = now - Duration::days(30);
        let (average, ratings) = store::reports::satisfaction_since(tx, org, f, month).await?;
        let top = store::reports::top_categories(tx, org, f, month, 5).await?;
        Ok(DashboardReport {
            organization: r.organization.clone(),
            time_zone: r.tz.name().to_string(),
            generated_at: now,
            open,
            unassigned,
            open_by_state: named(by_state),
            open_by_priority: named(by_priority),
            open_by_kind: named(by_kind),
            open_by_team: named(by_team),
            created: SinceCounts {
                today: c_today,
                last_7_days: c_week,
            },
            resolved: SinceCounts {
                today: r_today,
                last_7_days: r_week,
            },
            sla_at_risk: at_risk,
            sla_breached: breached,
            oldest_open: oldest,
            average_satisfaction: average.map(|a| (a * 100.0).round() / 100.0),
            ratings,
            top_categories: top
                .into_iter()
                .map(|(name, count)| NamedCount {
                    name: Some(name),
                    count,
                })
                .collect(),
        })
    }

    async fn calendars_of(
        &self,
        tx: &mut Tx,
        org: Uuid,
        ids: impl IntoIterator<Item = Option<Uuid>>,
    ) -> Result<BTreeMap<Option<Uuid>, std::sync::Arc<Calendar>>, DeskError> {
        let mut out = BTreeMap::new();
        for id in ids.into_iter().collect::<BTreeSet<_>>() {
            out.insert(id, self.calendar(tx, org, id).await?);
        }
        Ok(out)
    }

    async fn sla_report(&self, tx: &mut Tx, r: &ReportRequest) -> Result<SlaReport, DeskError> {
        let p = r.period;
        let outcomes = store::reports::outcomes(tx, r.org_id, &r.filters, p.from, p.to).await?;
        let cals = self
            .calendars_of(tx, r.org_id, outcomes.iter().map(|o| o.calendar_id))
            .await?;
        #[derive(Default)]
        struct Acc {
            met: i64,
            breached: i64,
            in_progress: i64,
            business: Vec<i64>,
        }
        let mut groups = BTreeMap::<(Option<String>, String), Acc>::new();
        for o in &outcomes {
            let group = match r.sla_group {
                SlaGroup::Policy => Some(o.policy.clone()),
                SlaGroup::Team => o.team.clone(),
                SlaGroup::Priority => Some(o.priority.clone()),
                SlaGroup::Category => o.category.clone(),
            };
            let acc = groups.entry((group, o.target.clone())).or_default();
            if o.outcome == "met" {
                acc.met += 1;
                if let Some(cal) = cals.get(&o.calendar_id) {
                    acc.business.push(
                        cal.business_duration_between(o.started_at, o.decided_at)
                            .num_seconds(),
                    );
                }
            } else {
                acc.breached += 1;
            }
        }
        let states =
            store::reports::running_states(tx, r.org_id, &r.filters, r.sla_group, p.from, p.to)
                .await?;
        for row in states {
            for clock in &row.state.0.clocks {
                let decided = [clock.met_at, clock.breached_at]
                    .into_iter()
                    .flatten()
                    .any(|at| at < p.to);
                if clock.started_at < p.to && !decided {
                    groups
                        .entry((row.grp.clone(), clock.target.as_str().to_string()))
                        .or_default()
                        .in_progress += 1;
                }
            }
        }
        let rows = groups
            .into_iter()
            .map(|((group, target), mut acc)| {
                acc.business.sort_unstable();
                SlaRow {
                    group,
                    target,
                    met: acc.met,
                    breached: acc.breached,
                    in_progress: acc.in_progress,
                    percent_met: percent(acc.met, acc.met + acc.breached),
                    median_business_seconds: percentile(&acc.business, 50),
                    p90_business_seconds: percentile(&acc.business, 90),
                }
            })
            .collect();
        Ok(SlaReport {
            organization: r.organization.clone(),
            time_zone: r.tz.name().to_string(),
            from: p.from,
            to: p.to,
            group_by: r.sla_group.as_str().to_string(),
            rows,
        })
    }

    async fn agents(&self, tx: &mut Tx, r: &ReportRequest) -> Result<AgentsReport, DeskError> {
        let p = r.period;
        let org = r.org_id;
        let outcomes = store::reports::outcomes(tx, org, &r.filters, p.from, p.to).await?;
        let resolutions = store::reports::resolutions(tx, org, &r.filters, p.from, p.to).await?;
        let cals = self
            .calendars_of(
                tx,
                org,
                outcomes
                    .iter()
                    .map(|o| o.calendar_id)
                    .chain(resolutions.iter().map(|x| x.calendar_id)),
            )
            .await?;
        let mut out = Vec::new();
        for who in [Who::Assignee, Who::Team] {
            let work = store::reports::workload(tx, org, &r.filters, who, p.from, p.to).await?;
            let mut acc = BTreeMap::<Option<Uuid>, AgentAcc>::new();
            for w in work {
                let a = acc.entry(w.id).or_default();
                a.name = w.name;
                a.assigned = w.assigned;
                a.resolved = w.resolved;
                a.reopened = w.reopened;
                a.open = w.open_at_end;
                a.rated = w.rated;
                a.score = w.score;
            }
            let logged =
                store::reports::time_logged(tx, org, &r.filters, who, p.from, p.to).await?;
            for (id, name, minutes, billable) in logged {
                let a = acc.entry(id).or_default();
                if a.name.is_none() {
                    a.name = name;
                }
                a.time_logged = minutes;
                a.billable = billable;
            }
            for o in &outcomes {
                let (id, name) = match who {
                    Who::Assignee => (o.assignee_id, &o.assignee),
                    Who::Team => (o.ticket_team_id, &o.ticket_team),
                };
                let a = acc.entry(id).or_default();
                if a.name.is_none() {
                    a.name.clone_from(name);
                }
                a.outcomes += 1;
                if o.outcome == "met" {
                    a.met += 1;
                    if o.target == Target::FirstResponse.as_str() {
                        a.first_wall
                            .push((o.decided_at - o.started_at).num_seconds());
                        if let Some(cal) = cals.get(&o.calendar_id) {
                            a.first_business.push(
                                cal.business_duration_between(o.started_at, o.decided_at)
                                    .num_seconds(),
                            );
                        }
                    }
                }
            }
            for x in &resolutions {
                let id = match who {
                    Who::Assignee => x.assignee_id,
                    Who::Team => x.team_id,
                };
                let a = acc.entry(id).or_default();
                a.resolution_wall
                    .push((x.resolved_at - x.created_at).num_seconds());
                if let Some(cal) = cals.get(&x.calendar_id) {
                    a.resolution_business.push(
                        cal.business_duration_between(x.created_at, x.resolved_at)
                            .num_seconds(),
                    );
                }
            }
            out.push(acc.into_iter().map(|(id, a)| a.row(id)).collect::<Vec<_>>());
        }
        let teams = out.pop().unwrap_or_default();
        let agents = out.pop().unwrap_or_default();
        Ok(AgentsReport {
            organization: r.organization.clone(),
            time_zone: r.tz.name().to_string(),
            from: p.from,
            to: p.to,
            agents,
            teams,
        })
    }

    async fn processes(
        &self,
        tx: &mut Tx,
        r: &ReportRequest,
    ) -> Result<ProcessesReport, DeskError> {
        let p = r.period;
        let org = r.org_id;
        let f = &r.filters;
        let resolutions = store::reports::resolutions(tx, org, f, p.from, p.to).await?;
        let cals = self
            .calendars_of(tx, org, resolutions.iter().map(|x| x.calendar_id))
            .await?;
        let mut by_priority = BTreeMap::<String, (i64, i64, i64)>::new();
        for x in &resolutions {
            let e = by_priority.entry(x.priority.clone()).or_default();
            e.0 += 1;
            e.1 += (x.resolved_at - x.created_at).num_seconds();
            if let Some(cal) = cals.get(&x.calendar_id) {
                e.2 += cal
                    .business_duration_between(x.created_at, x.resolved_at)
                    .num_seconds();
            }
        }
        let (problems, linked) = store::reports::problem_links(tx, org, f, p.from, p.to).await?;
        let (mut ok, mut failed) = (0, 0);
        for (outcome, n) in store::reports::change_reviews(tx, org, f, p.from, p.to).await? {
            match outcome.as_deref() {
                Some("successful") | Some("successful_with_issues") => ok += n,
                Some("failed") | Some("rolled_back") => failed += n,
                _ => {}
            }
        }
        let types = store::reports::change_types(tx, org, f, p.from, p.to).await?;
        let created: i64 = types.iter().map(|(_, n)| n).sum();
        let emergency: i64 = types
            .iter()
            .filter(|(t, _)| t == "emergency")
            .map(|(_, n)| n)
            .sum();
        Ok(ProcessesReport {
            organization: r.organization.clone(),
            time_zone: r.tz.name().to_string(),
            from: p.from,
            to: p.to,
            mean_time_to_resolve: by_priority
                .into_iter()
                .map(|(priority, (n, wall, business))| MttrRow {
                    priority,
                    resolved: n,
                    mean_seconds: wall / n.max(1),
                    mean_business_seconds: business / n.max(1),
                })
                .collect(),
            problems,
            linked_incidents: linked,
            incidents_per_problem: (problems > 0)
                .then(|| (linked as f64 * 100.0 / problems as f64).round() / 100.0),
            changes_reviewed: ok + failed,
            changes_successful: ok,
            changes_failed: failed,
            change_success_percent: percent(ok, ok + failed),
            changes_created: created,
            emergency_changes: emergency,
            emergency_percent: percent(emergency, created),
        })
    }
}

/// Rejects a `group_by` the report does not know, listing what it accepts.
fn check_group(kind: report::ReportKind, query: &ReportQuery) -> Result<(), DeskError> {
    let value = text(&query.group_by);
    match kind {
        report::ReportKind::Volume => parse_param(
            "group_by",
            value,
            VolumeGroup::None,
            VolumeGroup::parse,
            &VolumeGroup::ALL.map(VolumeGroup::as_str),
        )
        .map(|_| ()),
        report::ReportKind::Sla => parse_param(
            "group_by",
            value,
            SlaGroup::Policy,
            SlaGroup::parse,
            &SlaGroup::ALL.map(SlaGroup::as_str),
        )
        .map(|_| ()),
        _ => match value {
            None => Ok(()),
            Some(v) => Err(FieldError::new(
                "group_by",
                format!("unknown value `{v}`; the {kind} report takes no group_by"),
            )),
        },
    }
    .map_err(invalid)
}

fn named(map: BTreeMap<Option<String>, i64>) -> Vec<NamedCount> {
    map.into_iter()
        .map(|(name, count)| NamedCount { name, count })
        .collect()
}

#[derive(Default)]
struct AgentAcc {
    name: Option<String>,
    assigned: i64,
    resolved: i64,
    reopened: i64,
    open: i64,
    rated: i64,
    score: i64,
    outcomes: i64,
    met: i64,
    first_wall: Vec<i64>,
    first_business: Vec<i64>,
    resolution_wall: Vec<i64>,
    resolution_business: Vec<i64>,
    time_logged: i64,
    billable: i64,
}

impl AgentAcc {
    fn row(mut self, id: Option<Uuid>) -> AgentRow {
        for v in [
            &mut self.first_wall,
            &mut self.first_business,
            &mut self.resolution_wall,
            &mut self.resolution_business,
        ] {
            v.sort_unstable();
        }
        AgentRow {
            id,
            name: self.name,
            assigned: self.assigned,
            resolved: self.resolved,
            reopened: self.reopened,
            median_first_response_seconds: percentile(&self.first_wall, 50),
            p90_first_response_seconds: percentile(&self.first_wall, 90),
            median_first_response_business_seconds: percentile(&self.first_business, 50),
            p90_first_response_business_seconds: percentile(&self.first_business, 90),
            median_resolution_seconds: percentile(&self.resolution_wall, 50),
            p90_resolution_seconds: percentile(&self.resolution_wall, 90),
            median_resolution_business_seconds: percentile(&self.resolution_business, 50),
            p90_resolution_business_seconds: percentile(&self.resolution_business, 90),
            sla_percent_met: percent(self.met, self.outcomes),
            average_satisfaction: (self.rated > 0)
                .then(|| (self.score as f64 * 100.0 / self.rated as f64).round() / 100.0),
            open: self.open,
            time_logged_minutes: self.time_logged,
            billable_minutes: self.billable,
        }
    }
}

/// The volume report: counts per bucket and group from SQL, the backlog
/// folded over them.
async fn volume(tx: &mut Tx, r: &ReportRequest) -> Result<VolumeReport, DeskError> {
    let cuts = buckets(r.period, r.interval, r.tz);
    let mut boundaries: Vec<DateTime<Utc>> = Vec::with_capacity(cuts.len() + 1);
    boundaries.push(r.period.from);
    boundaries.extend(cuts.iter().map(|b| b.end));
    let rows =
        store::reports::volume(tx, r.org_id, &r.filters, r.volume_group, &boundaries).await?;
    let n = cuts.len();
    // Per group: opening backlog and one (created, resolved, reopened) per bucket.
    let mut groups = BTreeMap::<Option<String>, (i64, Vec<[i64; 3]>)>::new();
    for row in rows {
        let entry = groups
            .entry(row.grp.clone())
            .or_insert_with(|| (0, vec![[0; 3]; n]));
        match usize::try_from(row.bucket) {
            Ok(0) => entry.0 += row.created - row.resolved + row.reopened,
            Ok(i) if i <= n => {
                let cell = &mut entry.1[i - 1];
                cell[0] += row.created;
                cell[1] += row.resolved;
                cell[2] += row.reopened;
            }
            // Past the last boundary cannot be selected (`< to`).
            _ => {}
        }
    }
    let mut by_bucket: Vec<Vec<VolumeRow>> = vec![Vec::new(); n];
    let mut totals = VolumeTotals {
        created: 0,
        resolved: 0,
        reopened: 0,
        opening_backlog: 0,
        backlog: 0,
    };
    for (group, (opening, cells)) in groups {
        let created: Vec<i64> = cells.iter().map(|c| c[0]).collect();
        let resolved: Vec<i64> = cells.iter().map(|c| c[1]).collect();
        let reopened: Vec<i64> = cells.iter().map(|c| c[2]).collect();
        let backlog = backlog_series(opening, &created, &resolved, &reopened);
        totals.opening_backlog += opening;
        totals.backlog += backlog.last().copied().unwrap_or(opening);
        for (i, b) in cuts.iter().enumerate() {
            totals.created += created[i];
            totals.resolved += resolved[i];
            totals.reopened += reopened[i];
            by_bucket[i].push(VolumeRow {
                bucket: b.label,
                start: b.start,
                end: b.end,
                group: group.clone(),
                created: created[i],
                resolved: resolved[i],
                reopened: reopened[i],
                backlog: backlog[i],
            });
        }
    }
    // Without a group there is one row per bucket even with no tickets.
    if r.volume_group == VolumeGroup::None {
        for (i, b) in cuts.iter().enumerate() {
            if by_bucket[i].is_empty() {
                by_bucket[i].push(VolumeRow {
                    bucket: b.label,
                    start: b.start,
                    end: b.end,
                    group: None,
                    created: 0,
                    resolved: 0,
                    reopened: 0,
                    backlog: 0,
                });
            }
        }
    }
    Ok(VolumeReport {
        organization: r.organization.clone(),
        time_zone: r.tz.name().to_string(),
        from: r.period.from,
        to: r.period.to,
        interval: r.interval.as_str().to_string(),
        group_by: r.volume_group.as_str().to_string(),
        totals,
        rows: by_bucket.into_iter().flatten().collect(),
    })
}
