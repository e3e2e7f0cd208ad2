//! `/report` in chat, the same on Slack and Discord: the command's words
//! are read here once, the report runs with the asker's permissions (as
//! over the API), and its summary and chart go to the channel through the
//! outbox like a scheduled report. The asker's answer offers the Excel and
//! PDF files; a click queues that file for the same channel, computed over
//! the same closed period, so it shows the numbers of the chart.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::{
    reports::document,
    scheduled_reports::{encode_files, filters_query, queue_report, ReportFilters, ReportMessage},
    Actor, Desk, DeskError, Work, REPORT_EVENT,
};
use crate::{
    domain::report::{Format, Period, RelativePeriod, ReportKind},
    store,
};

/// What `/report …` asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportCommand {
    pub kind: ReportKind,
    /// None: the 30 days up to now (the API's default).
    pub period: Option<RelativePeriod>,
    pub filters: ReportFilters,
}

/// How to use `/report`, for an empty or unreadable command.
pub const REPORT_HELP: &str = "Try `/report sla last-week team:Network`. \
Reports: dashboard, volume, sla, agents, processes. \
Periods: yesterday, last-week, last-month, last-7-days, last-30-days (default: the last 30 days). \
Filters: team:, kind:, priority:, category:, channel:, agent:, interval:, group-by: \
(quote names with spaces: team:\"Service desk\").";

/// Reads `/report` words: a report, optionally a period and `key:value`
/// filters in any order. The error is the answer to show.
pub fn read_report_command(text: &str) -> Result<ReportCommand, String> {
    let words = split_words(text);
    let Some((first, rest)) = words.split_first() else {
        return Err(REPORT_HELP.to_string());
    };
    if first.eq_ignore_ascii_case("help") {
        return Err(REPORT_HELP.to_string());
    }
    let kind = ReportKind::parse(&first.to_ascii_lowercase())
        .map_err(|_| format!("I don't know the report `{first}`. {REPORT_HELP}"))?;
    let mut command = ReportCommand {
        kind,
        period: None,
        filters: ReportFilters::default(),
    };
    for word in rest {
        let Some((key, value)) = word.split_once([':', '=']) else {
            let period = RelativePeriod::read(word).map_err(|e| e.message)?;
            command.period = Some(period);
            continue;
        };
        let value = Some(value.trim().to_string()).filter(|v| !v.is_empty());
        let f = &mut command.filters;
        let slot = match key.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "team" => &mut f.team,
            "kind" => &mut f.kind,
            "priority" => &mut f.priority,
            "category" => &mut f.category,
            "channel" => &mut f.channel,
            "agent" => &mut f.agent,
            "interval" => &mut f.interval,
            "group_by" | "group" | "by" => &mut f.group_by,
            _ => return Err(format!("I don't know the filter `{key}`. {REPORT_HELP}")),
        };
        *slot = value;
    }
    Ok(command)
}

/// Words split at spaces, with quoted parts kept together and the quotes
/// dropped (`team:"Service desk"`; chat apps may send curly quotes).
fn split_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '"' | '“' | '”' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// The id of a file button: `report-file:<reference>:<format>`.
pub const REPORT_FILE: &str = "report-file:";

/// The formats a file button offers, with their labels.
pub const REPORT_FILE_FORMATS: [(Format, &str); 2] =
    [(Format::Xlsx, "Excel"), (Format::Pdf, "PDF")];

pub fn report_file_action(reference: Uuid, format: Format) -> String {
    format!("{REPORT_FILE}{reference}:{}", format.as_str())
}

/// The report and format a file button names.
pub fn read_report_file_action(id: &str) -> Option<(Uuid, Format)> {
    let (reference, format) = id.strip_prefix(REPORT_FILE)?.split_once(':')?;
    let format = Format::parse(format).ok()?;
    REPORT_FILE_FORMATS
        .iter()
        .any(|(f, _)| *f == format)
        .then_some((reference.parse().ok()?, format))
}

/// A report queued for a channel: what the asker is told.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatReportQueued {
    /// The queued message; file buttons name it.
    pub reference: Uuid,
    pub title: String,
}

impl Desk {
    /// `/report` from chat: runs the report as `actor` and queues its
    /// summary and chart for `channel` of `platform`.
    pub async fn report_to_chat(
        &self,
        work: &mut Work,
        actor: &Actor,
        platform: &str,
        channel: &str,
        command: &ReportCommand,
    ) -> Result<ChatReportQueued, DeskError> {
        let (_, zone) = store::reports::org_report_facts(&mut work.tx, actor.org_id).await?;
        let tz: Tz = zone.parse().unwrap_or(chrono_tz::UTC);
        let now = self.clock.now();
        // Resolved to instants now, so the files asked for later cover
        // exactly the period of the chart.
        let period = match command.kind {
            ReportKind::Dashboard => None,
            _ => Some(match command.period {
                Some(relative) => relative.resolve(tz, now),
                None => Period::new(now - Duration::days(30), now)
                    .map_err(|e| DeskError::Invalid(vec![e]))?,
            }),
        };
        let query = filters_query(&command.filters, Some(tz.name()), period);
        let (request, report) = self
            .report_in(&mut work.tx, actor, command.kind, &query)
            .await?;
        let doc = document::document(&request, &report);
        let chart = document::export_file(command.kind, Format::Png, &request, &report).await?;
        let data = json!({
            "report": command.kind.as_str(),
            "from": period.map(|p| p.from),
            "to": period.map(|p| p.to),
            "time_zone": tz.name(),
            "filters": command.filters,
            "asked_by": actor.person_id,
        });
        let reference = queue_report(
            work,
            actor.org_id,
            platform,
            channel,
            ReportMessage {
                subject: &doc.title,
                text: &document::summary_text(&doc),
                attachments: encode_files(std::iter::once(&chart)),
                data: &data,
            },
        );
        Ok(ChatReportQueued {
            reference,
            title: doc.title,
        })
    }

    /// A file button under a `/report` answer: the report of `reference`
    /// as `format`, run again as `actor` (who may not be the asker) over
    /// the same period, queued for the same channel. The file's name.
    pub async fn report_file_to_chat(
        &self,
        work: &mut Work,
        actor: &Actor,
        reference: Uuid,
        format: Format,
    ) -> Result<String, DeskError> {
        let (channel, target, payload) =
            store::outbox::find_outbox_payload(&mut work.tx, actor.org_id, reference, REPORT_EVENT)
                .await?
                .ok_or(DeskError::NotFound("report"))?;
        let data = &payload.0["data"];
        let kind = data["report"]
            .as_str()
            .and_then(|k| ReportKind::parse(k).ok())
            .ok_or(DeskError::NotFound("report"))?;
        let instant = |key: &str| serde_json::from_value::<DateTime<Utc>>(data[key].clone()).ok();
        let period = match (kind, instant("from"), instant("to")) {
            (ReportKind::Dashboard, _, _) => None,
            (_, Some(from), Some(to)) => {
                Some(Period::new(from, to).map_err(|e| DeskError::Invalid(vec![e]))?)
            }
            // Not a `/report` answer (a scheduled report's message).
            _ => return Err(DeskError::NotFound("report")),
        };
        let filters: ReportFilters =
            serde_json::from_value(data["filters"].clone()).unwrap_or_default();
        let query = filters_query(&filters, data["time_zone"].as_str(), period);
        let (request, report) = self.report_in(&mut work.tx, actor, kind, &query).await?;
        let file = document::export_file(kind, format, &request, &report).await?;
        let title = document::document(&request, &report).title;
        let subject = format!("{title} ({})", format.as_str().to_ascii_uppercase());
        queue_report(
            work,
            actor.org_id,
            &channel,
            &target,
            ReportMessage {
                subject: &subject,
                text: "",
                attachments: encode_files(std::iter::once(&file)),
                data: &json!({ "report": kind.as_str(), "file_of": reference }),
            },
        );
        Ok(file.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_reads_its_report_period_and_filters_in_any_order() {
        let command = read_report_command(r#"sla team:"Service desk" last-week group-by:team"#)
            .expect("a command");
        assert_eq!(command.kind, ReportKind::Sla);
        assert_eq!(command.period, Some(RelativePeriod::PreviousWeek));
        assert_eq!(command.filters.team.as_deref(), Some("Service desk"));
        assert_eq!(command.filters.group_by.as_deref(), Some("team"));

        let plain = read_report_command("Volume").expect("a command");
        assert_eq!((plain.kind, plain.period), (ReportKind::Volume, None));
    }

    #[test]
    fn an_unreadable_command_answers_with_what_it_accepts() {
        assert_eq!(read_report_command("  "), Err(REPORT_HELP.to_string()));
        let unknown = read_report_command("weather").expect_err("unknown report");
        assert!(
            unknown.starts_with("I don't know the report `weather`"),
            "{unknown}"
        );
        let period = read_report_command("sla fortnight").expect_err("unknown period");
        assert!(period.contains("last-week"), "{period}");
        let filter = read_report_command("sla colour:blue").expect_err("unknown filter");
        assert!(filter.contains("`colour`"), "{filter}");
    }

    #[test]
    fn file_buttons_name_their_report_and_an_offered_format() {
        let reference = Uuid::from_u128(7);
        let id = report_file_action(reference, Format::Pdf);
        assert_eq!(read_report_file_action(&id), Some((reference, Format::Pdf)));
        assert!(id.len() <= 100, "fits Discord's custom_id");
        let png = format!("{REPORT_FILE}{reference}:png");
        assert_eq!(read_report_file_action(&png), None);
        assert_eq!(read_report_file_action("report-file:nope:pdf"), None);
    }
}
