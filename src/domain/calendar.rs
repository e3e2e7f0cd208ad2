//! Business calendars: an IANA time zone, weekly working hours (several
//! intervals a day), holidays (closed days, or days with their own hours) or
//! around the clock (24×7). The arithmetic — [`Calendar::add_business_duration`]
//! and [`Calendar::business_duration_between`] — is exact to the second and
//! works one *day* at a time, never one minute at a time.
//!
//! Local times become instants through one monotone mapping (see
//! [`Calendar::instant`]): an ambiguous local time (clocks going back) is its
//! earlier instant, a local time that does not exist (clocks going forward)
//! is the instant of the change. Working time is then the real time between
//! those instants, so a shift spanning a DST change lasts what a person at a
//! desk would experience, and the intervals of consecutive days abut exactly
//! (24×7 equals wall time).
//!
//! Resolution is one second: sub-second parts of instants are dropped.

use std::collections::BTreeMap;

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, Offset,
    TimeZone, Utc,
};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::text::FieldError;

const DAY: i64 = 86_400;

/// Day names as written in a calendar specification, Monday first.
pub const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// A calendar as written by an administrator (API body, stored JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CalendarSpec {
    /// IANA time zone, e.g. `Europe/Berlin`.
    pub time_zone: String,
    /// Open around the clock every day; `hours` and `holidays` must be empty.
    #[serde(default)]
    pub always_open: bool,
    /// Working hours per day name (`mon` … `sun`), e.g. `["09:00-12:30", "13:30-17:00"]`.
    #[serde(default)]
    pub hours: BTreeMap<String, Vec<String>>,
    /// Dates with other hours than their weekday: closed, or open only `hours`.
    #[serde(default)]
    pub holidays: Vec<HolidaySpec>,
}

/// One holiday: closed all day (`hours` empty) or open only during `hours`
/// (a partial day such as Christmas Eve until noon).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HolidaySpec {
    /// `YYYY-MM-DD`.
    pub date: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub hours: Vec<String>,
}

/// A validated calendar. Intervals are seconds since local midnight,
/// half-open `[start, end)`, sorted and disjoint; `end` may be 86 400 (24:00).
#[derive(Debug, Clone, PartialEq)]
pub struct Calendar {
    tz: Tz,
    always_open: bool,
    week: [Vec<(i64, i64)>; 7],
    holidays: BTreeMap<NaiveDate, Vec<(i64, i64)>>,
}

impl Calendar {
    /// Around the clock in `tz`.
    pub fn always_open(tz: Tz) -> Self {
        Self {
            tz,
            always_open: true,
            week: Default::default(),
            holidays: BTreeMap::new(),
        }
    }

    /// Validates a specification; every problem is reported with its place
    /// (`time_zone`, `hours.mon[1]`, `holidays[0].date`, …).
    pub fn parse(spec: &CalendarSpec) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let tz = match spec.time_zone.trim().parse::<Tz>() {
            Ok(tz) => Some(tz),
            Err(_) => {
                errors.push(FieldError::new(
                    "time_zone",
                    format!(
                        "unknown time zone `{}`; expected an IANA name such as Europe/Berlin",
                        spec.time_zone
                    ),
                ));
                None
            }
        };
        let mut week: [Vec<(i64, i64)>; 7] = Default::default();
        for (day, hours) in &spec.hours {
            let Some(index) = DAY_NAMES.iter().position(|d| d.eq_ignore_ascii_case(day)) else {
                errors.push(FieldError::new(
                    format!("hours.{day}"),
                    format!(
                        "unknown day `{day}`; expected one of: {}",
                        DAY_NAMES.join(", ")
                    ),
                ));
                continue;
            };
            if let Some(intervals) = parse_intervals(&format!("hours.{day}"), hours, &mut errors) {
                week[index] = intervals;
            }
        }
        let mut holidays = BTreeMap::new();
        for (i, holiday) in spec.holidays.iter().enumerate() {
            let place = format!("holidays[{i}]");
            let date = match NaiveDate::parse_from_str(holiday.date.trim(), "%Y-%m-%d") {
                Ok(date) => date,
                Err(_) => {
                    errors.push(FieldError::new(
                        format!("{place}.date"),
                        format!("`{}` is not a date (YYYY-MM-DD)", holiday.date),
                    ));
                    continue;
                }
            };
            let Some(intervals) =
                parse_intervals(&format!("{place}.hours"), &holiday.hours, &mut errors)
            else {
                continue;
            };
            if holidays.insert(date, intervals).is_some() {
                errors.push(FieldError::new(
                    format!("{place}.date"),
                    format!("{date} is listed twice"),
                ));
            }
        }
        if spec.always_open && (!spec.hours.is_empty() || !spec.holidays.is_empty()) {
            errors.push(FieldError::new(
                "always_open",
                "a 24×7 calendar has no hours or holidays",
            ));
        }
        if !spec.always_open && errors.is_empty() && week.iter().all(Vec::is_empty) {
            errors.push(FieldError::new(
                "hours",
                "no working hours in the week; give hours or set always_open",
            ));
        }
        match tz {
            Some(tz) if errors.is_empty() => Ok(Self {
                tz,
                always_open: spec.always_open,
                week,
                holidays,
            }),
            _ => Err(errors),
        }
    }

    pub fn time_zone(&self) -> Tz {
        self.tz
    }

    /// The instant `duration` of business time after `start` (whole
    /// seconds). A zero or negative duration gives `start`.
    pub fn add_business_duration(&self, start: DateTime<Utc>, duration: Duration) -> DateTime<Utc> {
        let start = start.timestamp();
        let mut left = duration.num_seconds();
        if left <= 0 {
            return to_utc(start);
        }
        if self.always_open {
            return to_utc(start + left);
        }
        let mut date = self.local_date(start);
        // Every week has working time (checked by `parse`), so each loop of
        // seven days consumes some and this ends.
        loop {
            for (from, to) in self.day_instants(date) {
                if to <= start {
                    continue;
                }
                let from = from.max(start);
                let length = to - from;
                if left <= length {
                    return to_utc(from + left);
                }
                left -= length;
            }
            date = date.succ_opt().unwrap_or(date);
            if date == NaiveDate::MAX {
                return DateTime::<Utc>::MAX_UTC;
            }
        }
    }

    /// Business time between `a` and `b` (whole seconds); zero when `b` is
    /// not after `a`.
    pub fn business_duration_between(&self, a: DateTime<Utc>, b: DateTime<Utc>) -> Duration {
        let (a, b) = (a.timestamp(), b.timestamp());
        if b <= a {
            return Duration::zero();
        }
        if self.always_open {
            return Duration::seconds(b - a);
        }
        let mut total = 0;
        let mut date = self.local_date(a);
        // One day more: with a clock change at midnight, the last instants
        // of a local date can belong to the next date's hours.
        let last = self.local_date(b).succ_opt().unwrap_or(NaiveDate::MAX);
        while date <= last {
            for (from, to) in self.day_instants(date) {
                let (from, to) = (from.max(a), to.min(b));
                if to > from {
                    total += to - from;
                }
            }
            match date.succ_opt() {
                Some(next) => date = next,
                None => break,
            }
        }
        Duration::seconds(total)
    }

    /// True when `at` falls in working time.
    pub fn is_open(&self, at: DateTime<Utc>) -> bool {
        let t = at.timestamp();
        self.always_open
            || self
                .day_instants(self.local_date(t))
                .iter()
                .any(|(from, to)| (*from..*to).contains(&t))
    }

    fn local_date(&self, t: i64) -> NaiveDate {
        to_utc(t).with_timezone(&self.tz).date_naive()
    }

    /// The working intervals of a local date as Unix-second instants.
    fn day_instants(&self, date: NaiveDate) -> Vec<(i64, i64)> {
        let intervals = match self.holidays.get(&date) {
            Some(hours) => hours,
            None => &self.week[date.weekday().num_days_from_monday() as usize],
        };
        if intervals.is_empty() {
            return Vec::new();
        }
        let midnight = self.instant(date, 0);
        let next_midnight = self.instant(date.succ_opt().unwrap_or(date), 0);
        let fixed = next_midnight - midnight == DAY;
        intervals
            .iter()
            .map(|&(from, to)| {
                if fixed {
                    // No clock change this day: one offset serves every boundary.
                    (midnight + from, midnight + to)
                } else {
                    (self.instant_at(date, from), self.instant_at(date, to))
                }
            })
            .collect()
    }

    fn instant_at(&self, date: NaiveDate, seconds: i64) -> i64 {
        if seconds >= DAY {
            self.instant(date.succ_opt().unwrap_or(date), seconds - DAY)
        } else {
            self.instant(date, seconds)
        }
    }

    /// The one local → instant mapping (monotone): ambiguous local times take
    /// the earlier instant, missing ones the instant the clocks changed.
    fn instant(&self, date: NaiveDate, seconds: i64) -> i64 {
        let secs = u32::try_from(seconds.clamp(0, DAY - 1)).unwrap_or(0);
        let time = NaiveTime::from_num_seconds_from_midnight_opt(secs, 0).unwrap_or(NaiveTime::MIN);
        let local = NaiveDateTime::new(date, time);
        match self.tz.from_local_datetime(&local) {
            LocalResult::Single(t) => t.timestamp(),
            LocalResult::Ambiguous(a, b) => a.timestamp().min(b.timestamp()),
            LocalResult::None => self.gap_instant(local),
        }
    }

    /// The instant of the clock change that skipped `local`: the first
    /// instant whose local time is at or after it.
    fn gap_instant(&self, local: NaiveDateTime) -> i64 {
        let naive = local.and_utc().timestamp();
        let offset = |t: i64| {
            i64::from(
                self.tz
                    .offset_from_utc_datetime(&to_utc(t).naive_utc())
                    .fix()
                    .local_minus_utc(),
            )
        };
        // Search the day around it for the change: before it, local < `local`.
        let (mut lo, mut hi) = (naive - DAY, naive + DAY);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if mid + offset(mid) >= naive {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        hi
    }
}

fn to_utc(t: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(t, 0).unwrap_or(if t < 0 {
        DateTime::<Utc>::MIN_UTC
    } else {
        DateTime::<Utc>::MAX_UTC
    })
}

/// Parses `HH:MM-HH:MM` intervals (`24:00` allowed as an end), sorted;
/// inverted, empty and overlapping intervals are errors at `place[i]`.
fn parse_intervals(
    place: &str,
    values: &[String],
    errors: &mut Vec<FieldError>,
) -> Option<Vec<(i64, i64)>> {
    let before = errors.len();
    let mut intervals: Vec<(i64, i64, usize)> = Vec::new();
    for (i, value) in values.iter().enumerate() {
        let parsed = value
            .split_once('-')
            .and_then(|(a, b)| Some((parse_clock(a)?, parse_clock(b)?)));
        match parsed {
            None => errors.push(FieldError::new(
                format!("{place}[{i}]"),
                format!("`{value}` is not an interval like 09:00-17:30"),
            )),
            Some((from, to)) if from >= to || from >= DAY => errors.push(FieldError::new(
                format!("{place}[{i}]"),
                format!("`{value}` ends before it starts"),
            )),
            Some((from, to)) => intervals.push((from, to, i)),
        }
    }
    intervals.sort_unstable();
    for pair in intervals.windows(2) {
        let ((_, end, i), (start, _, j)) = (pair[0], pair[1]);
        if start < end {
            errors.push(FieldError::new(
                format!("{place}[{j}]"),
                format!("`{}` overlaps `{}`", values[j], values[i]),
            ));
        }
    }
    (errors.len() == before).then(|| intervals.into_iter().map(|(a, b, _)| (a, b)).collect())
}

fn parse_clock(value: &str) -> Option<i64> {
    let (h, m) = value.trim().split_once(':')?;
    let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
    if h == 24 && m == 0 {
        return Some(DAY);
    }
    ((0..24).contains(&h) && (0..60).contains(&m)).then_some(h * 3600 + m * 60)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn spec(tz: &str, hours: &[(&str, &[&str])]) -> CalendarSpec {
        CalendarSpec {
            time_zone: tz.into(),
            hours: hours
                .iter()
                .map(|(d, h)| (d.to_string(), h.iter().map(|s| s.to_string()).collect()))
                .collect(),
            ..CalendarSpec::default()
        }
    }

    fn office(tz: &str) -> Calendar {
        let day: &[&str] = &["09:00-12:00", "13:00-17:00"];
        let mut spec = spec(
            tz,
            &[
                ("mon", day),
                ("tue", day),
                ("wed", day),
                ("thu", day),
                ("fri", day),
            ],
        );
        spec.holidays = vec![
            HolidaySpec {
                date: "2026-12-25".into(),
                name: Some("Christmas".into()),
                hours: vec![],
            },
            HolidaySpec {
                date: "2026-12-24".into(),
                name: None,
                hours: vec!["09:00-12:00".into()],
            },
        ];
        Calendar::parse(&spec).expect("valid calendar")
    }

    fn at(tz: &str, local: &str) -> DateTime<Utc> {
        let tz: Tz = tz.parse().expect("zone");
        let naive = NaiveDateTime::parse_from_str(local, "%Y-%m-%d %H:%M").expect("local time");
        tz.from_local_datetime(&naive)
            .earliest()
            .expect("exists")
            .with_timezone(&Utc)
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("rfc3339")
            .with_timezone(&Utc)
    }

    #[test]
    fn business_hours_skip_lunch_nights_and_weekends() {
        let cal = office("Europe/Berlin");
        // Friday 16:00 + 3 h → 1 h on Friday, 2 h on Monday from 09:00.
        let start = at("Europe/Berlin", "2026-11-20 16:00");
        let due = cal.add_business_duration(start, Duration::hours(3));
        assert_eq!(due, at("Europe/Berlin", "2026-11-23 11:00"));
        // Monday 11:00 + 2 h → lunch skipped.
        let due =
            cal.add_business_duration(at("Europe/Berlin", "2026-11-23 11:00"), Duration::hours(2));
        assert_eq!(due, at("Europe/Berlin", "2026-11-23 14:00"));
        assert_eq!(
            cal.business_duration_between(start, due),
            Duration::hours(5)
        );
    }

    #[test]
    fn holidays_close_days_and_partial_days_shorten_them() {
        let cal = office("Europe/Berlin");
        // Thu 24 Dec is open 09-12 only, Fri 25 closed: Wed 16:00 + 5 h →
        // 1 h Wed, 3 h Thu morning, then Monday 28 Dec 10:00.
        let due =
            cal.add_business_duration(at("Europe/Berlin", "2026-12-23 16:00"), Duration::hours(5));
        assert_eq!(due, at("Europe/Berlin", "2026-12-28 10:00"));
    }

    #[test]
    fn europe_spring_forward_shift_is_an_hour_shorter() {
        // 29 March 2026, Berlin: 02:00 → 03:00.
        let cal =
            Calendar::parse(&spec("Europe/Berlin", &[("sun", &["00:00-24:00"])])).expect("cal");
        let from = at("Europe/Berlin", "2026-03-29 00:00");
        let to = at("Europe/Berlin", "2026-03-30 00:00");
        assert_eq!(cal.business_duration_between(from, to), Duration::hours(23));
        // 01:30 + 1 h of work lands at 03:30 local (02:30 never happened).
        let due =
            cal.add_business_duration(at("Europe/Berlin", "2026-03-29 01:30"), Duration::hours(1));
        assert_eq!(due, utc("2026-03-29T01:30:00Z"));
        assert_eq!(
            due.with_timezone(&cal.time_zone())
                .format("%H:%M")
                .to_string(),
            "03:30"
        );
    }

    #[test]
    fn europe_fall_back_shift_is_an_hour_longer() {
        // 25 October 2026, Berlin: 03:00 → 02:00.
        let cal =
            Calendar::parse(&spec("Europe/Berlin", &[("sun", &["01:00-05:00"])])).expect("cal");
        let sunday = utc("2026-10-24T22:00:00Z");
        let monday = utc("2026-10-26T00:00:00Z");
        assert_eq!(
            cal.business_duration_between(sunday, monday),
            Duration::hours(5)
        );
        // 01:00 CEST = 23:00Z; 5 h of work ends at 05:00 CET = 04:00Z.
        let due = cal.add_business_duration(utc("2026-10-24T23:00:00Z"), Duration::hours(5));
        assert_eq!(due, utc("2026-10-25T04:00:00Z"));
    }

    #[test]
    fn america_transitions_in_both_directions() {
        let day: &[&str] = &["00:00-04:00"];
        let cal = Calendar::parse(&spec("America/New_York", &[("sun", day)])).expect("cal");
        // 8 March 2026: 02:00 → 03:00, so 00:00-04:00 lasts 3 h.
        let spring = at("America/New_York", "2026-03-08 00:00");
        assert_eq!(
            cal.business_duration_between(spring, spring + Duration::days(1)),
            Duration::hours(3)
        );
        assert_eq!(
            cal.add_business_duration(spring, Duration::hours(3)),
            utc("2026-03-08T08:00:00Z")
        );
        // 1 November 2026: 02:00 → 01:00, so 00:00-04:00 lasts 5 h.
        let fall = at("America/New_York", "2026-11-01 00:00");
        assert_eq!(
            cal.business_duration_between(fall, fall + Duration::days(1)),
            Duration::hours(5)
        );
        assert_eq!(
            cal.add_business_duration(fall, Duration::hours(5)),
            utc("2026-11-01T09:00:00Z")
        );
    }

    #[test]
    fn shifts_past_midnight_use_the_next_days_offset() {
        let cal = Calendar::parse(&spec("America/Los_Angeles", &[("sat", &["20:00-24:00"])]))
            .expect("cal");
        // Saturday 7 March 2026 20:00 PST; DST starts Sunday 02:00, after the shift.
        let start = at("America/Los_Angeles", "2026-03-07 20:00");
        assert_eq!(
            cal.add_business_duration(start, Duration::hours(4)),
            utc("2026-03-08T08:00:00Z")
        );
    }

    #[test]
    fn bad_calendars_are_refused_naming_the_place() {
        let mut bad = spec(
            "Mars/Olympus",
            &[
                ("mon", &["09:00-12:00", "11:00-13:00"]),
                ("tue", &["17:00-09:00"]),
                ("funday", &[]),
            ],
        );
        bad.holidays = vec![HolidaySpec {
            date: "2026-13-01".into(),
            name: None,
            hours: vec![],
        }];
        let errors = Calendar::parse(&bad).expect_err("invalid");
        let places: Vec<&str> = errors.iter().map(|e| e.field.as_ref()).collect();
        assert!(places.contains(&"time_zone"), "{places:?}");
        assert!(places.contains(&"hours.mon[1]"), "{places:?}");
        assert!(places.contains(&"hours.tue[0]"), "{places:?}");
        assert!(places.contains(&"hours.funday"), "{places:?}");
        assert!(places.contains(&"holidays[0].date"), "{places:?}");
        let empty = Calendar::parse(&spec("UTC", &[])).expect_err("no hours");
        assert_eq!(empty[0].field, "hours");
    }

    fn any_calendar() -> impl Strategy<Value = Calendar> {
        let zones = prop::sample::select(vec![
            "Europe/Berlin",
            "America/New_York",
            "America/Sao_Paulo",
            "Australia/Lord_Howe",
            "Asia/Kolkata",
            "UTC",
        ]);
        (
            zones,
            prop::collection::vec((0u32..48, 1u32..20), 7),
            any::<bool>(),
        )
            .prop_map(|(tz, days, always)| {
                if always {
                    return Calendar::always_open(tz.parse().expect("zone"));
                }
                let hours = days
                    .iter()
                    .zip(DAY_NAMES)
                    .map(|(&(start, len), day)| {
                        let (from, to) = (start * 30, (start * 30 + len * 30).min(24 * 60));
                        let f = |m: u32| format!("{:02}:{:02}", m / 60, m % 60);
                        (day.to_string(), vec![format!("{}-{}", f(from), f(to))])
                    })
                    .collect();
                let spec = CalendarSpec {
                    time_zone: tz.into(),
                    hours,
                    holidays: vec![HolidaySpec {
                        date: "2026-10-25".into(),
                        name: None,
                        hours: vec!["02:30-03:30".into()],
                    }],
                    ..CalendarSpec::default()
                };
                Calendar::parse(&spec).expect("generated calendar is valid")
            })
    }

    fn any_instant() -> impl Strategy<Value = DateTime<Utc>> {
        // 2026 and 2027, both DST changes of every zone above included.
        (1_767_225_600i64..1_830_297_600).prop_map(to_utc)
    }

    proptest! {
        #[test]
        fn between_undoes_add(cal in any_calendar(), a in any_instant(), d in 0i64..3_000_000) {
            let due = cal.add_business_duration(a, Duration::seconds(d));
            prop_assert_eq!(cal.business_duration_between(a, due), Duration::seconds(d));
        }

        #[test]
        fn add_and_between_are_monotone(cal in any_calendar(), a in any_instant(), d1 in 0i64..2_000_000, d2 in 0i64..2_000_000) {
            let (small, large) = (d1.min(d2), d1.max(d2));
            prop_assert!(cal.add_business_duration(a, Duration::seconds(small)) <= cal.add_business_duration(a, Duration::seconds(large)));
            let (b, c) = (a + Duration::seconds(small), a + Duration::seconds(large));
            prop_assert!(cal.business_duration_between(a, b) <= cal.business_duration_between(a, c));
            prop_assert!(cal.business_duration_between(a, c) <= Duration::seconds(large));
        }

        #[test]
        fn between_is_additive(cal in any_calendar(), a in any_instant(), d1 in 0i64..2_000_000, d2 in 0i64..2_000_000) {
            let b = a + Duration::seconds(d1);
            let c = b + Duration::seconds(d2);
            prop_assert_eq!(
                cal.business_duration_between(a, b) + cal.business_duration_between(b, c),
                cal.business_duration_between(a, c)
            );
        }

        #[test]
        fn a_24x7_calendar_is_wall_time(a in any_instant(), d in 0i64..10_000_000) {
            let spec = CalendarSpec { time_zone: "Europe/Berlin".into(), hours: DAY_NAMES.iter().map(|d| (d.to_string(), vec!["00:00-24:00".to_string()])).collect(), ..CalendarSpec::default() };
            let every_day = Calendar::parse(&spec).expect("cal");
            let always = Calendar::always_open(chrono_tz::America::New_York);
            for cal in [every_day, always] {
                prop_assert_eq!(cal.add_business_duration(a, Duration::seconds(d)), a + Duration::seconds(d));
                prop_assert_eq!(cal.business_duration_between(a, a + Duration::seconds(d)), Duration::seconds(d));
            }
        }
    }
}
