//! Scheduled reports: a schedule's `report` action runs one report over
//! the closed period before its slot, writes its files and queues them for
//! mail and chat in the timer's own transaction, so a run is sent once or
//! not at all. The files travel in the outbox rows (base64), so a delivery
//! retried after a restart sends the same bytes.

use std::str::FromStr;

use base64::Engine;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::{
    new_id,
    people::normalize_email,
    reports::{
        document::{self, ExportedFile},
        Report, ReportQuery, ReportRequest,
    },
    Actor, Desk, DeskError, Work,
};
use crate::{
    domain::{
        report::{self, Format, ReportKind},
        FieldError,
    },
    store::{outbox::OutboxRow, schedules::ScheduleRow},
};

/// A report sent at each run: a summary with the files attached, by mail
/// and to chat channels.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ReportTemplate {
    /// `dashboard`, `volume`, `sla`, `agents` or `processes`.
    pub report: String,
    /// The closed period before each run, in the schedule's time zone:
    /// `previous_day` (default), `previous_week`, `previous_month`,
    /// `last_7_days` or `last_30_days`. The dashboard shows the moment of
    /// the run instead.
    #[serde(default)]
    pub period: Option<String>,
    /// The report's other parameters, named as in the API.
    #[serde(default)]
    pub filters: ReportFilters,
    /// Files attached: `pdf` (default), `xlsx`, `csv`.
    #[serde(default)]
    pub formats: Vec<String>,
    /// Email addresses.
    #[serde(default)]
    pub email: Vec<String>,
    /// Slack channel ids; the chart is posted as an image with the files.
    #[serde(default)]
    pub slack: Vec<String>,
    /// Discord channel ids; the chart is posted as an image with the files.
    #[serde(default)]
    pub discord: Vec<String>,
}

/// A scheduled report's parameters besides its period (see `GET /api/v1/reports/*`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ReportFilters {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
}

impl ReportTemplate {
    /// The API query this report runs as, over `period` when it has one.
    pub(super) fn query(&self, time_zone: &str, period: Option<report::Period>) -> ReportQuery {
        filters_query(&self.filters, Some(time_zone), period)
    }

    pub(super) fn relative_period(&self) -> Result<report::RelativePeriod, FieldError> {
        self.period.as_deref().map_or(
            Ok(report::RelativePeriod::PreviousDay),
            report::RelativePeriod::read,
        )
    }

    pub(super) fn file_formats(&self) -> Result<Vec<Format>, FieldError> {
        if self.formats.is_empty() {
            return Ok(vec![Format::Pdf]);
        }
        self.formats
            .iter()
            .map(|f| match Format::parse(f) {
                Ok(format @ (Format::Pdf | Format::Xlsx | Format::Csv)) => Ok(format),
                _ => Err(FieldError::new(
                    "report.formats",
                    format!("unknown format `{f}`; accepts pdf, xlsx, csv"),
                )),
            })
            .collect()
    }
}

/// The outbox event of a scheduled report's message.
pub const REPORT_EVENT: &str = "report";

/// Slots a late run looks through for the latest one it stands for.
const MAX_MISSED_SLOTS: usize = 100_000;

impl Desk {
    /// What is wrong with a report template, field by field.
    pub(super) async fn check_report_template(
        &self,
        work: &mut Work,
        actor: &Actor,
        template: &ReportTemplate,
        time_zone: &str,
    ) -> Result<Vec<FieldError>, DeskError> {
        let mut errors = Vec::new();
        let kind = ReportKind::parse(&template.report)
            .map_err(|e| errors.push(FieldError::new("report.report", e.to_string())))
            .ok();
        if let Err(e) = template.relative_period() {
            errors.push(FieldError::new("report.period", e.message));
        }
        if let Err(e) = template.file_formats() {
            errors.push(e);
        }
        for address in &template.email {
            if normalize_email(address).is_err() {
                errors.push(FieldError::new(
                    "report.email",
                    format!("`{address}` is not an email address"),
                ));
            }
        }
        for (field, ids) in [
            ("report.slack", &template.slack),
            ("report.discord", &template.discord),
        ] {
            if ids.iter().any(|id| !is_channel_id(id)) {
                errors.push(FieldError::new(
                    field,
                    "give channel ids such as C0123ABCD (Slack) or 1234567890 (Discord)",
                ));
            }
        }
        if template.email.is_empty() && template.slack.is_empty() && template.discord.is_empty() {
            errors.push(FieldError::new(
                "report",
                "give at least one recipient: email, slack or discord",
            ));
        }
        if let (Some(kind), Ok(_)) = (kind, time_zone.parse::<Tz>()) {
            let query = template.query(time_zone, None);
            match self
                .check_report_query(&mut work.tx, actor, kind, &query)
                .await
            {
                Ok(()) => {}
                Err(DeskError::Invalid(found)) => errors.extend(
                    found
                        .into_iter()
                        .map(|e| FieldError::new(format!("report.filters.{}", e.field), e.message)),
                ),
                Err(other) => return Err(other),
            }
        }
        Ok(errors)
    }

    /// Runs the report for `slot` and queues one message per recipient;
    /// what the audit entry records of the run.
    pub(super) async fn send_report(
        &self,
        work: &mut Work,
        row: &ScheduleRow,
        template: &ReportTemplate,
        slot: DateTime<Utc>,
    ) -> Result<Value, DeskError> {
        let kind = ReportKind::parse(&template.report).map_err(anyhow::Error::from)?;
        let tz: Tz = row
            .time_zone
            .parse()
            .map_err(|e| anyhow::anyhow!("schedule {}: {e}", row.name))?;
        let period = match kind {
            ReportKind::Dashboard => None,
            _ => Some(
                template
                    .relative_period()
                    .map_err(|e| anyhow::anyhow!("schedule {}: {}", row.name, e.message))?
                    .resolve(tz, slot),
            ),
        };
        let formats = template
            .file_formats()
            .map_err(|e| anyhow::anyhow!("schedule {}: {}", row.name, e.message))?;
        let actor = Actor::system(row.org_id);
        let query = template.query(&row.time_zone, period);
        let (request, report) = self.report_in(&mut work.tx, &actor, kind, &query).await?;
        let doc = document::document(&request, &report);
        let summary = document::summary_text(&doc);
        let subject = format!("{}: {}", row.name, doc.title);
        let chat = !template.slack.is_empty() || !template.discord.is_empty();
        let mut wanted = formats.clone();
        if chat {
            // Chat shows the chart inline, ahead of the files.
            wanted.insert(0, Format::Png);
        }
        let files = write_files(kind, &wanted, &request, &report).await?;
        let attachments = |with_chart: bool| {
            encode_files(files.iter().filter(|f| with_chart || f.content_type != PNG))
        };
        let data = json!({ "schedule": row.name, "report": kind.as_str(), "slot": slot });
        let message = |attachments| ReportMessage {
            subject: &subject,
            text: &summary,
            attachments,
            data: &data,
        };
        for address in &template.email {
            let address = normalize_email(address)?;
            queue_report(
                work,
                row.org_id,
                "email",
                &address,
                message(attachments(false)),
            );
        }
        for id in &template.slack {
            queue_report(
                work,
                row.org_id,
                "slack",
                id.trim(),
                message(attachments(true)),
            );
        }
        for id in &template.discord {
            queue_report(
                work,
                row.org_id,
                "discord",
                id.trim(),
                message(attachments(true)),
            );
        }
        Ok(json!({
            "report": kind.as_str(),
            "from": period.map(|p| p.from),
            "to": period.map(|p| p.to),
            "files": files.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(),
            "recipients": template.email.len() + template.slack.len() + template.discord.len(),
        }))
    }
}

/// A file carried in an outbox row's `attachments`, as a deliverer sends it.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxFile {
    pub name: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// The files of an outbox payload, decoded; an error names the broken one
/// (a row that cannot be read will never send, so its delivery fails for good).
pub fn outbox_files(payload: &Value) -> Result<Vec<OutboxFile>, String> {
    let Some(list) = payload.get("attachments").and_then(Value::as_array) else {
        return Ok(Vec::new());
    };
    list.iter()
        .enumerate()
        .map(|(i, file)| {
            let text = |key: &str| {
                file[key]
                    .as_str()
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .ok_or_else(|| format!("attachment {i} has no `{key}`"))
            };
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text("data")?)
                .map_err(|e| format!("attachment {i}: bad base64: {e}"))?;
            Ok(OutboxFile {
                name: text("name")?,
                content_type: text("content_type")?,
                bytes,
            })
        })
        .collect()
}

/// The API query of a report with these filters over `period` (the
/// default period without one) in `time_zone` (the organization's without).
pub(super) fn filters_query(
    filters: &ReportFilters,
    time_zone: Option<&str>,
    period: Option<report::Period>,
) -> ReportQuery {
    let f = filters.clone();
    ReportQuery {
        from: period.map(|p| p.from.to_rfc3339()),
        to: period.map(|p| p.to.to_rfc3339()),
        interval: f.interval,
        group_by: f.group_by,
        format: None,
        team: f.team,
        kind: f.kind,
        priority: f.priority,
        category: f.category,
        channel: f.channel,
        agent: f.agent,
        time_zone: time_zone.map(String::from),
    }
}

const PNG: &str = "image/png";

/// What a report message says and carries, whatever its channel.
pub(super) struct ReportMessage<'a> {
    pub subject: &'a str,
    pub text: &'a str,
    /// Files as [`encode_files`] writes them.
    pub attachments: Vec<Value>,
    pub data: &'a Value,
}

/// Queues a report message for `target` of `channel` in the use case's
/// transaction; the outbox row's id.
pub(super) fn queue_report(
    work: &mut Work,
    org_id: uuid::Uuid,
    channel: &str,
    target: &str,
    message: ReportMessage<'_>,
) -> uuid::Uuid {
    let id = new_id();
    let payload = json!({
        "to": target, "subject": message.subject, "text": message.text,
        "attachments": message.attachments, "data": message.data,
    });
    work.buffers.outbox.push(OutboxRow::pending(
        id,
        org_id,
        channel,
        target,
        REPORT_EVENT,
        payload,
    ));
    id
}

/// Files as an outbox row carries them (read back by [`outbox_files`]).
pub(super) fn encode_files<'a>(files: impl Iterator<Item = &'a ExportedFile>) -> Vec<Value> {
    files
        .map(|f| {
            json!({
                "name": f.name,
                "content_type": f.content_type,
                "data": base64::engine::general_purpose::STANDARD.encode(&f.bytes),
            })
        })
        .collect()
}

pub(super) async fn write_files(
    kind: ReportKind,
    formats: &[Format],
    request: &ReportRequest,
    report: &Report,
) -> Result<Vec<ExportedFile>, DeskError> {
    let mut files = Vec::with_capacity(formats.len());
    for format in formats {
        files.push(document::export_file(kind, *format, request, report).await?);
    }
    Ok(files)
}

/// The latest of the schedule's slots from `due` up to `now`: a run that
/// comes late after downtime reports the period of the slot it stands for,
/// once.
pub(super) fn latest_slot(
    row: &ScheduleRow,
    due: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, DeskError> {
    let cron = cron::Schedule::from_str(&row.cron).map_err(anyhow::Error::from)?;
    let tz: Tz = row
        .time_zone
        .parse()
        .map_err(|e| anyhow::anyhow!("schedule {}: {e}", row.name))?;
    let start = (due - chrono::Duration::seconds(1)).with_timezone(&tz);
    Ok(cron
        .after(&start)
        .map(|t| t.with_timezone(&Utc))
        .take_while(|t| *t <= now)
        .take(MAX_MISSED_SLOTS)
        .last()
        .unwrap_or(due))
}

/// A platform channel id: letters and digits only (Slack `C0123ABCD`,
/// Discord snowflakes).
fn is_channel_id(id: &str) -> bool {
    let id = id.trim();
    !id.is_empty() && id.len() <= 32 && id.chars().all(|c| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(cron: &str, zone: &str) -> ScheduleRow {
        ScheduleRow {
            id: uuid::Uuid::nil(),
            org_id: uuid::Uuid::nil(),
            name: "weekly".into(),
            cron: cron.into(),
            time_zone: zone.into(),
            action: "report".into(),
            template: sqlx::types::Json(Value::Null),
            enabled: true,
            next_run_at: None,
            last_run_at: None,
            generation: 1,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("instant")
            .with_timezone(&Utc)
    }

    #[test]
    fn a_late_run_stands_for_the_latest_missed_slot() {
        let row = schedule("0 0 9 * * Mon", "Europe/London");
        // Due Monday the 2nd; the daemon was down until Wednesday the 11th.
        let slot = latest_slot(&row, at("2026-11-02T09:00:00Z"), at("2026-11-11T12:00:00Z"))
            .expect("slot");
        assert_eq!(slot, at("2026-11-09T09:00:00Z"));
        // On time, the slot is the due instant itself.
        let due = at("2026-11-09T09:00:00Z");
        assert_eq!(latest_slot(&row, due, due).expect("slot"), due);
    }

    #[test]
    fn outbox_files_read_back_what_was_queued() {
        let payload = json!({"attachments": [
            {"name": "a.csv", "content_type": "text/csv", "data": "YSxiCg=="}
        ]});
        let files = outbox_files(&payload).expect("files");
        assert_eq!(files[0].name, "a.csv");
        assert_eq!(files[0].bytes, b"a,b\n");
        assert!(outbox_files(&json!({})).expect("none").is_empty());
        let broken = json!({"attachments": [{"name": "a", "content_type": "x", "data": "%%"}]});
        assert!(outbox_files(&broken)
            .expect_err("bad base64")
            .contains("base64"));
    }

    #[test]
    fn channel_ids_are_letters_and_digits() {
        assert!(is_channel_id("C0123ABCD"));
        assert!(is_channel_id("112233445566778899"));
        assert!(!is_channel_id("#general"));
        assert!(!is_channel_id(""));
    }
}
