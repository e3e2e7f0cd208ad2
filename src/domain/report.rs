//! Report rules: which parameters a report accepts, how a period is cut into
//! local buckets, how a ticket's moves count, and percentiles.
//!
//! # How a ticket counts (defined here once; README "Reports" repeats it)
//!
//! - **created**: once, in the bucket holding its `created_at`.
//! - **resolved**: every move from an *open* state (anything but `resolved`,
//!   `closed`, `cancelled`, `rejected`) to one of those four states — the
//!   ticket left the backlog. `resolved → closed` is not a second resolution.
//! - **reopened**: every move from one of those four states back to an open
//!   state. A ticket resolved, reopened and resolved again counts resolved
//!   twice and reopened once, each in the bucket where the move happened.
//! - **backlog** at the end of a bucket: tickets open at that instant, so
//!   `backlog = previous backlog + created − resolved + reopened`.
//!
//! Every count is of an event that happened at a recorded instant, so a
//! report of a closed past period reads the same rows whenever it is run: a
//! later reopening adds to the bucket it happens in and changes no earlier
//! one. (Grouping uses the ticket's current team, priority, category: a
//! ticket moved to another team afterwards is counted under the new one.)
//!
//! Buckets are local calendar days, ISO weeks (from Monday) or months of the
//! organization's time zone, so a day of a DST change is 23 or 25 hours long
//! and holds exactly the tickets of that local day. The first and last
//! bucket are clipped to the period, so the buckets partition it exactly.

use chrono::{DateTime, Datelike, Duration, Months, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

use super::text::FieldError;

/// The longest period a report covers.
pub const MAX_YEARS: u32 = 5;

/// States in which a ticket is out of the backlog.
pub const DONE_STATES: [&str; 4] = ["resolved", "closed", "cancelled", "rejected"];

/// Whether a ticket in `state` counts in the backlog.
pub fn is_open_state(state: &str) -> bool {
    !DONE_STATES.contains(&state)
}

/// What a state change counts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Move {
    Resolution,
    Reopening,
    /// Open to open, or done to done.
    Neither,
}

pub fn classify_move(from: &str, to: &str) -> Move {
    match (is_open_state(from), is_open_state(to)) {
        (true, false) => Move::Resolution,
        (false, true) => Move::Reopening,
        _ => Move::Neither,
    }
}

/// The five reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportKind {
    Dashboard,
    Volume,
    Sla,
    Agents,
    Processes,
}

string_enum!(ReportKind, "report", {
    Dashboard => "dashboard",
    Volume => "volume",
    Sla => "sla",
    Agents => "agents",
    Processes => "processes",
});

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Interval {
    Day,
    Week,
    Month,
}

string_enum!(Interval, "interval", {
    Day => "day",
    Week => "week",
    Month => "month",
});

/// What the volume report groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VolumeGroup {
    None,
    Kind,
    Team,
    Priority,
    Channel,
    Category,
}

string_enum!(VolumeGroup, "group_by", {
    None => "none",
    Kind => "kind",
    Team => "team",
    Priority => "priority",
    Channel => "channel",
    Category => "category",
});

/// What the SLA report groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlaGroup {
    Policy,
    Team,
    Priority,
    Category,
}

string_enum!(SlaGroup, "group_by", {
    Policy => "policy",
    Team => "team",
    Priority => "priority",
    Category => "category",
});

/// The formats a report can be asked for. Which of them a build can write
/// is the edge's business (`http::reports`); this is the whole vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Json,
    Csv,
    Xlsx,
    Pdf,
    Png,
    Svg,
}

string_enum!(Format, "format", {
    Json => "json",
    Csv => "csv",
    Xlsx => "xlsx",
    Pdf => "pdf",
    Png => "png",
    Svg => "svg",
});

/// Parses an optional enumerated parameter; the error names the parameter
/// and what it accepts.
pub fn parse_param<T>(
    name: &'static str,
    value: Option<&str>,
    default: T,
    parse: impl Fn(&str) -> Result<T, super::ParseEnumError>,
    accepted: &[&str],
) -> Result<T, FieldError> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(default),
        Some(v) => parse(v).map_err(|_| {
            FieldError::new(
                name,
                format!("unknown value `{v}`; accepts {}", accepted.join(", ")),
            )
        }),
    }
}

/// A validated period `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl Period {
    pub fn new(from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Self, FieldError> {
        if from >= to {
            return Err(FieldError::new(
                "from",
                format!("`from` ({from}) must be before `to` ({to}); `to` is exclusive"),
            ));
        }
        let limit = from
            .checked_add_months(Months::new(12 * MAX_YEARS))
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        if to > limit {
            return Err(FieldError::new(
                "to",
                format!("a period covers at most {MAX_YEARS} years; `to` may be at most {limit}"),
            ));
        }
        Ok(Self { from, to })
    }
}

/// Parses an RFC 3339 instant parameter.
pub fn parse_instant(name: &'static str, value: &str) -> Result<DateTime<Utc>, FieldError> {
    DateTime::parse_from_rfc3339(value.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            FieldError::new(
                name,
                format!("`{value}` is not an RFC 3339 instant such as 2026-11-01T00:00:00Z"),
            )
        })
}

/// Parses an IANA time zone name.
pub fn parse_time_zone(name: &'static str, value: &str) -> Result<Tz, FieldError> {
    value.trim().parse::<Tz>().map_err(|_| {
        FieldError::new(
            name,
            format!("unknown time zone `{value}`; accepts an IANA name such as Europe/London"),
        )
    })
}

/// A period named relative to an instant, as scheduled reports and chat
/// commands give it ("last week"): whole local days, ISO weeks or months of
/// the report's time zone that end where the instant's day, week or month
/// begins. The instant's own day never counts, so a schedule that runs late
/// still reports the same closed period, and the same bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RelativePeriod {
    PreviousDay,
    PreviousWeek,
    PreviousMonth,
    Last7Days,
    Last30Days,
}

string_enum!(RelativePeriod, "period", {
    PreviousDay => "previous_day",
    PreviousWeek => "previous_week",
    PreviousMonth => "previous_month",
    Last7Days => "last_7_days",
    Last30Days => "last_30_days",
});

impl RelativePeriod {
    /// Reads a name as people type it in chat too: `last-week`,
    /// `yesterday`, `previous_month`.
    pub fn read(value: &str) -> Result<Self, FieldError> {
        let wanted = value.trim().to_ascii_lowercase().replace('-', "_");
        let alias = match wanted.as_str() {
            "yesterday" | "last_day" => Some(Self::PreviousDay),
            "last_week" => Some(Self::PreviousWeek),
            "last_month" => Some(Self::PreviousMonth),
            _ => None,
        };
        alias.map_or_else(
            || {
                Self::parse(&wanted).map_err(|_| {
                    FieldError::new(
                        "period",
                        format!(
                            "unknown period `{value}`; accepts {} (or yesterday, last-week, last-month)",
                            Self::ALL.map(Self::as_str).join(", ")
                        ),
                    )
                })
            },
            Ok,
        )
    }

    /// The period this name covers for a run at `at`, in `tz`.
    pub fn resolve(self, tz: Tz, at: DateTime<Utc>) -> Period {
        let today = at.with_timezone(&tz).date_naive();
        let (first, end) = match self {
            Self::PreviousDay => (today - Duration::days(1), today),
            Self::Last7Days => (today - Duration::days(7), today),
            Self::Last30Days => (today - Duration::days(30), today),
            Self::PreviousWeek => {
                let monday = bucket_start_date(Interval::Week, today);
                (monday - Duration::days(7), monday)
            }
            Self::PreviousMonth => {
                let first = bucket_start_date(Interval::Month, today);
                let before = first
                    .checked_sub_months(Months::new(1))
                    .unwrap_or(NaiveDate::MIN);
                (before, first)
            }
        };
        Period {
            from: start_of_local_day(tz, first),
            to: start_of_local_day(tz, end),
        }
    }
}

/// One bucket: `[start, end)` in UTC, labelled by the local date it starts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    pub label: NaiveDate,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// The first instant of local day `date` in `tz`. Where midnight does not
/// exist (a DST jump at 00:00, as in some South American zones) the day
/// starts at the first local time that does; where it exists twice, at the
/// earlier.
pub fn start_of_local_day(tz: Tz, date: NaiveDate) -> DateTime<Utc> {
    let midnight = date.and_time(chrono::NaiveTime::MIN);
    // Gaps are at most a few hours; stepping by 15 minutes finds every
    // zone's first valid time (offsets are multiples of 15 minutes).
    for step in 0..=4 * 24 {
        let local = midnight + Duration::minutes(15 * step);
        if let Some(t) = tz.from_local_datetime(&local).earliest() {
            return t.with_timezone(&Utc);
        }
    }
    // Unreachable for real zones; a day without a valid local time would
    // fall back to UTC midnight rather than fail a report.
    Utc.from_utc_datetime(&midnight)
}

fn bucket_start_date(interval: Interval, date: NaiveDate) -> NaiveDate {
    match interval {
        Interval::Day => date,
        Interval::Week => date - Duration::days(i64::from(date.weekday().num_days_from_monday())),
        Interval::Month => date.with_day(1).unwrap_or(date),
    }
}

fn next_start_date(interval: Interval, date: NaiveDate) -> NaiveDate {
    match interval {
        Interval::Day => date + Duration::days(1),
        Interval::Week => date + Duration::days(7),
        Interval::Month => date
            .checked_add_months(Months::new(1))
            .unwrap_or(NaiveDate::MAX),
    }
}

/// The buckets of `period`, in order, partitioning it exactly.
pub fn buckets(period: Period, interval: Interval, tz: Tz) -> Vec<Bucket> {
    let first_local = period.from.with_timezone(&tz).date_naive();
    let mut label = bucket_start_date(interval, first_local);
    let mut out = Vec::new();
    let mut start = period.from;
    while start < period.to {
        let next_label = next_start_date(interval, label);
        let end = start_of_local_day(tz, next_label).min(period.to);
        // A zone whose next local day starts no later than `start` cannot
        // occur, but guard the loop against it all the same.
        let end = if end <= start { period.to } else { end };
        out.push(Bucket { label, start, end });
        start = end;
        label = next_label;
    }
    out
}

/// The bucket holding `t`, by the same rule the SQL applies.
pub fn bucket_of(buckets: &[Bucket], t: DateTime<Utc>) -> Option<usize> {
    let i = buckets.partition_point(|b| b.end <= t);
    (i < buckets.len() && buckets[i].start <= t).then_some(i)
}

/// Backlog at the end of each bucket from the backlog at the start of the
/// period and each bucket's counts.
pub fn backlog_series(
    opening: i64,
    created: &[i64],
    resolved: &[i64],
    reopened: &[i64],
) -> Vec<i64> {
    let mut backlog = opening;
    created
        .iter()
        .zip(resolved)
        .zip(reopened)
        .map(|((c, r), o)| {
            backlog += c - r + o;
            backlog
        })
        .collect()
}

/// The nearest-rank percentile (`p` in 0–100) of sorted values: the
/// smallest value with at least `p`% of the values at or below it. It is
/// always one of the observed values (no interpolation), so a median of
/// durations is a duration some ticket actually took. `None` when empty.
pub fn percentile(sorted: &[i64], p: u8) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len();
    let rank = (usize::from(p.min(100)) * n).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

/// `part` of `whole` in percent, one decimal; `None` when `whole` is zero
/// (no outcomes: nothing met and nothing missed).
pub fn percent(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| (part as f64 * 1000.0 / whole as f64).round() / 10.0)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use proptest::prelude::*;

    use super::*;

    fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0)
            .single()
            .expect("valid instant")
    }

    #[test]
    fn previous_day_after_the_london_october_change_is_25_hours() {
        let tz: Tz = "Europe/London".parse().expect("zone");
        // Monday 2026-10-26 08:00 GMT: the previous day is Sunday the 25th.
        let p = RelativePeriod::PreviousDay.resolve(tz, utc(2026, 10, 26, 8, 0));
        assert_eq!(p.from, utc(2026, 10, 24, 23, 0));
        assert_eq!(p.to, utc(2026, 10, 26, 0, 0));
        assert_eq!(p.to - p.from, Duration::hours(25));
    }

    #[test]
    fn previous_week_spans_the_new_york_march_change_and_ignores_lateness() {
        let tz: Tz = "America/New_York".parse().expect("zone");
        // DST starts 2026-03-08. A Monday 09:00 EDT run on the 9th, and the
        // same run two days late, both report Mon 2nd – Mon 9th.
        let on_time = RelativePeriod::PreviousWeek.resolve(tz, utc(2026, 3, 9, 13, 0));
        let late = RelativePeriod::PreviousWeek.resolve(tz, utc(2026, 3, 11, 20, 0));
        assert_eq!(on_time, late);
        assert_eq!(on_time.from, utc(2026, 3, 2, 5, 0));
        assert_eq!(on_time.to, utc(2026, 3, 9, 4, 0));
        assert_eq!(on_time.to - on_time.from, Duration::hours(7 * 24 - 1));
    }

    #[test]
    fn previous_month_and_last_days_are_whole_local_days() {
        let tz: Tz = "Europe/London".parse().expect("zone");
        let jan = RelativePeriod::PreviousMonth.resolve(tz, utc(2026, 1, 1, 0, 30));
        assert_eq!(
            (jan.from, jan.to),
            (utc(2025, 12, 1, 0, 0), utc(2026, 1, 1, 0, 0))
        );
        let week = RelativePeriod::Last7Days.resolve(tz, utc(2026, 7, 15, 12, 0));
        assert_eq!(
            (week.from, week.to),
            (utc(2026, 7, 7, 23, 0), utc(2026, 7, 14, 23, 0))
        );
        assert_eq!(
            RelativePeriod::Last30Days
                .resolve(tz, utc(2026, 7, 15, 12, 0))
                .to,
            week.to
        );
    }

    #[test]
    fn relative_periods_read_as_people_type_them() {
        assert_eq!(
            RelativePeriod::read("last-week"),
            Ok(RelativePeriod::PreviousWeek)
        );
        assert_eq!(
            RelativePeriod::read("Yesterday"),
            Ok(RelativePeriod::PreviousDay)
        );
        assert_eq!(
            RelativePeriod::read("last_30_days"),
            Ok(RelativePeriod::Last30Days)
        );
        let refused = RelativePeriod::read("fortnight").expect_err("unknown");
        assert_eq!(refused.field, "period");
        assert!(
            refused.message.contains("previous_week"),
            "{}",
            refused.message
        );
    }

    #[test]
    fn london_day_of_the_october_change_is_25_hours() {
        let tz: Tz = "Europe/London".parse().expect("zone");
        // BST ends 2026-10-25 at 02:00 local (01:00 UTC).
        let period =
            Period::new(utc(2026, 10, 23, 23, 0), utc(2026, 10, 27, 0, 0)).expect("period");
        let b = buckets(period, Interval::Day, tz);
        let labels: Vec<String> = b.iter().map(|b| b.label.to_string()).collect();
        assert_eq!(labels, ["2026-10-24", "2026-10-25", "2026-10-26"]);
        assert_eq!(b[0].end - b[0].start, Duration::hours(24));
        assert_eq!(b[1].start, utc(2026, 10, 24, 23, 0));
        assert_eq!(b[1].end, utc(2026, 10, 26, 0, 0));
        assert_eq!(b[1].end - b[1].start, Duration::hours(25));
        // A ticket at 23:30 UTC on the 25th is on the local 25th (GMT).
        assert_eq!(bucket_of(&b, utc(2026, 10, 25, 23, 30)), Some(1));
        // 23:30 UTC on the 24th is 00:30 BST on the 25th.
        assert_eq!(bucket_of(&b, utc(2026, 10, 24, 23, 30)), Some(1));
        assert_eq!(bucket_of(&b, utc(2026, 10, 24, 22, 59)), Some(0));
    }

    #[test]
    fn new_york_day_of_the_march_change_is_23_hours() {
        let tz: Tz = "America/New_York".parse().expect("zone");
        // DST starts 2026-03-08 at 02:00 local.
        let period = Period::new(utc(2026, 3, 7, 5, 0), utc(2026, 3, 10, 4, 0)).expect("period");
        let b = buckets(period, Interval::Day, tz);
        assert_eq!(b.len(), 3);
        assert_eq!(b[1].label.to_string(), "2026-03-08");
        assert_eq!(b[1].start, utc(2026, 3, 8, 5, 0));
        assert_eq!(b[1].end, utc(2026, 3, 9, 4, 0));
        assert_eq!(b[1].end - b[1].start, Duration::hours(23));
        assert_eq!(b[2].end, utc(2026, 3, 10, 4, 0));
    }

    #[test]
    fn weeks_start_on_monday_and_months_on_the_first_local_day() {
        let tz: Tz = "Europe/London".parse().expect("zone");
        let period = Period::new(utc(2026, 10, 1, 0, 0), utc(2026, 12, 1, 0, 0)).expect("period");
        let months = buckets(period, Interval::Month, tz);
        assert_eq!(months.len(), 2);
        // October starts at local midnight BST = 23:00 UTC the day before,
        // so the clipped first bucket starts at `from`.
        assert_eq!(months[0].start, utc(2026, 10, 1, 0, 0));
        assert_eq!(months[0].end, utc(2026, 11, 1, 0, 0));
        let weeks = buckets(period, Interval::Week, tz);
        assert_eq!(weeks[0].label.to_string(), "2026-09-28");
        assert!(weeks[1..]
            .iter()
            .all(|w| w.label.weekday() == chrono::Weekday::Mon));
    }

    #[test]
    fn a_missing_midnight_starts_the_day_at_the_first_valid_time() {
        // Santiago moved clocks from 00:00 to 01:00 on 2022-09-11.
        let tz: Tz = "America/Santiago".parse().expect("zone");
        let date = NaiveDate::from_ymd_opt(2022, 9, 11).expect("date");
        let start = start_of_local_day(tz, date);
        assert_eq!(start, utc(2022, 9, 11, 4, 0));
    }

    #[test]
    fn periods_are_validated() {
        let a = utc(2026, 1, 1, 0, 0);
        assert_eq!(
            Period::new(a, a).err().map(|e| e.field),
            Some("from".into())
        );
        assert!(Period::new(a, utc(2031, 1, 1, 0, 0)).is_ok());
        assert_eq!(
            Period::new(a, utc(2031, 1, 1, 0, 1)).err().map(|e| e.field),
            Some("to".into())
        );
    }

    #[test]
    fn unknown_parameters_name_what_they_accept() {
        let accepted = VolumeGroup::ALL.map(VolumeGroup::as_str);
        let err = parse_param(
            "group_by",
            Some("colour"),
            VolumeGroup::None,
            VolumeGroup::parse,
            &accepted,
        )
        .expect_err("unknown");
        assert_eq!(err.field, "group_by");
        assert!(err
            .message
            .contains("none, kind, team, priority, channel, category"));
        assert_eq!(
            parse_param("interval", None, Interval::Day, Interval::parse, &[]),
            Ok(Interval::Day)
        );
    }

    #[test]
    fn moves_count_once_each_way() {
        assert_eq!(classify_move("in_progress", "resolved"), Move::Resolution);
        assert_eq!(classify_move("new", "cancelled"), Move::Resolution);
        assert_eq!(classify_move("resolved", "closed"), Move::Neither);
        assert_eq!(classify_move("resolved", "in_progress"), Move::Reopening);
        assert_eq!(classify_move("new", "in_progress"), Move::Neither);
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let v = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100];
        assert_eq!(percentile(&v, 50), Some(50));
        assert_eq!(percentile(&v, 90), Some(90));
        assert_eq!(percentile(&v, 100), Some(100));
        assert_eq!(percentile(&v, 0), Some(10));
        assert_eq!(percentile(&[7], 90), Some(7));
        assert_eq!(percentile(&[], 50), None);
        assert_eq!(percent(1, 3), Some(33.3));
        assert_eq!(percent(0, 0), None);
    }

    fn zone() -> impl Strategy<Value = Tz> {
        prop::sample::select(vec![
            "Europe/London",
            "America/New_York",
            "Asia/Kolkata",
            "Australia/Lord_Howe",
            "UTC",
            "America/Santiago",
        ])
        .prop_map(|z| z.parse::<Tz>().expect("zone"))
    }

    proptest! {
        #[test]
        fn buckets_partition_the_period_and_hold_every_instant_once(
            tz in zone(),
            start in 1_700_000_000i64..1_800_000_000,
            len in 3_600i64..(400 * 86_400),
            interval in prop::sample::select(Interval::ALL.to_vec()),
            offsets in prop::collection::vec(0f64..1.0, 0..50),
        ) {
            let from = DateTime::from_timestamp(start, 0).expect("instant");
            let period = Period::new(from, from + Duration::seconds(len)).expect("period");
            let b = buckets(period, interval, tz);
            prop_assert_eq!(b[0].start, period.from);
            prop_assert_eq!(b[b.len() - 1].end, period.to);
            for w in b.windows(2) {
                prop_assert_eq!(w[0].end, w[1].start);
                prop_assert!(w[0].label < w[1].label);
            }
            // Every bucket after the first starts at a local midnight (or
            // the first valid time of its day).
            for x in &b[1..] {
                prop_assert_eq!(x.start, start_of_local_day(tz, x.label));
            }
            // Each instant falls in exactly one bucket, and the bucket's
            // local date range holds it: bucket sums equal the count.
            let mut counts = vec![0i64; b.len()];
            for o in &offsets {
                let t = period.from + Duration::seconds((len as f64 * o) as i64);
                let i = bucket_of(&b, t).expect("inside the period");
                counts[i] += 1;
                let local = t.with_timezone(&tz).date_naive();
                prop_assert!(local >= b[i].label);
            }
            prop_assert_eq!(counts.iter().sum::<i64>(), offsets.len() as i64);
        }

        #[test]
        fn backlog_moves_by_created_minus_resolved_plus_reopened(
            opening in 0i64..1000,
            rows in prop::collection::vec((0i64..50, 0i64..50, 0i64..10), 1..60),
        ) {
            let created: Vec<i64> = rows.iter().map(|r| r.0).collect();
            let resolved: Vec<i64> = rows.iter().map(|r| r.1).collect();
            let reopened: Vec<i64> = rows.iter().map(|r| r.2).collect();
            let series = backlog_series(opening, &created, &resolved, &reopened);
            let mut previous = opening;
            for (i, b) in series.iter().enumerate() {
                prop_assert_eq!(*b, previous + created[i] - resolved[i] + reopened[i]);
                previous = *b;
            }
        }

        #[test]
        fn a_percentile_is_an_observed_value_with_enough_below_it(
            mut values in prop::collection::vec(0i64..10_000, 1..200),
            p in 1u8..=100,
        ) {
            values.sort_unstable();
            let v = percentile(&values, p).expect("non-empty");
            let at_or_below = values.iter().filter(|x| **x <= v).count();
            let below = values.iter().filter(|x| **x < v).count();
            prop_assert!(at_or_below * 100 >= usize::from(p) * values.len());
            prop_assert!(below * 100 < usize::from(p) * values.len());
        }
    }
}
