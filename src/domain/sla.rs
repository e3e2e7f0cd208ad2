//! SLA policies and clocks, pure.
//!
//! A policy selects tickets (kind, priority, category, team; first match in
//! order wins) and sets targets in business time on a calendar. A ticket's
//! SLA is an [`SlaState`]: one [`Clock`] per target. Everything that moves a
//! clock is an [`SlaEvent`] with the instant it happened; the desk applies
//! each event to the live state *and* records it in the ticket's activity,
//! so the state can be recomputed from the activity alone by folding the
//! same events ([`replay`]). Warnings and breaches are not events: they are
//! derived from the arithmetic ([`SlaState::catch_up`]) and only *noticed*
//! by timers, so a late or early scheduler cannot change the outcome.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{calendar::Calendar, text::FieldError};

/// What a clock measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    FirstResponse,
    Resolution,
    NextResponse,
}

string_enum!(Target, "SLA target", {
    FirstResponse => "first_response",
    Resolution => "resolution",
    NextResponse => "next_response",
});

/// Which tickets a policy applies to; an empty list matches anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Selector {
    #[serde(default)]
    pub kinds: Vec<String>,
    #[serde(default)]
    pub priorities: Vec<String>,
    /// Category names.
    #[serde(default)]
    pub categories: Vec<String>,
    /// Team names.
    #[serde(default)]
    pub teams: Vec<String>,
}

/// What the selector looks at.
#[derive(Debug, Clone, Default)]
pub struct TicketFacts<'a> {
    pub kind: &'a str,
    pub priority: &'a str,
    pub category: Option<&'a str>,
    pub team: Option<&'a str>,
}

impl Selector {
    pub fn matches(&self, t: &TicketFacts<'_>) -> bool {
        let one = |list: &[String], value: Option<&str>| {
            list.is_empty() || value.is_some_and(|v| list.iter().any(|x| x.eq_ignore_ascii_case(v)))
        };
        one(&self.kinds, Some(t.kind))
            && one(&self.priorities, Some(t.priority))
            && one(&self.categories, t.category)
            && one(&self.teams, t.team)
    }
}

/// Targets in minutes of business time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Targets {
    #[serde(default)]
    pub first_response_minutes: Option<i64>,
    #[serde(default)]
    pub resolution_minutes: Option<i64>,
    #[serde(default)]
    pub next_response_minutes: Option<i64>,
}

impl Targets {
    pub fn get(&self, target: Target) -> Option<i64> {
        match target {
            Target::FirstResponse => self.first_response_minutes,
            Target::Resolution => self.resolution_minutes,
            Target::NextResponse => self.next_response_minutes,
        }
    }
}

/// What reopening a resolved ticket does to its resolution clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OnReopen {
    /// Start again from zero (warnings and breach of the first round stay in the outcomes).
    #[default]
    Restart,
    /// Carry on from the business time already used.
    Resume,
}

/// The terms a ticket's clocks run under; recorded with each attach so a
/// replay needs no policy table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Terms {
    pub policy_id: Uuid,
    #[serde(default)]
    pub policy_name: String,
    pub calendar_id: Option<Uuid>,
    pub targets: Targets,
    pub warn_at_percent: Vec<u8>,
    pub pause_states: Vec<String>,
    #[serde(default)]
    pub on_reopen: OnReopen,
}

/// Checks the parts of a policy that need no lookup; errors name the place.
pub fn validate_terms(targets: &Targets, warn_at_percent: &[u8], errors: &mut Vec<FieldError>) {
    let all = [
        (
            "targets.first_response_minutes",
            targets.first_response_minutes,
        ),
        ("targets.resolution_minutes", targets.resolution_minutes),
        (
            "targets.next_response_minutes",
            targets.next_response_minutes,
        ),
    ];
    if all.iter().all(|(_, v)| v.is_none()) {
        errors.push(FieldError::new(
            "targets",
            "a policy needs at least one target",
        ));
    }
    for (place, value) in all {
        if let Some(v) = value {
            if !(1..=525_600 * 5).contains(&v) {
                errors.push(FieldError::new(
                    place,
                    format!("{v} is not a duration in minutes between 1 and 5 years"),
                ));
            }
        }
    }
    for (i, pct) in warn_at_percent.iter().enumerate() {
        if !(1..=99).contains(pct) {
            errors.push(FieldError::new(
                format!("warn_at_percent[{i}]"),
                format!("{pct} is not a percentage between 1 and 99"),
            ));
        }
    }
}

/// A warning or breach, derived from a clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Alarm {
    Warning(Target, u8),
    Breach(Target),
}

/// One target's clock. `elapsed` is business seconds used before
/// `running_since`; a clock that is not running is paused or stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clock {
    pub target: Target,
    pub goal_secs: i64,
    pub elapsed_secs: i64,
    pub running_since: Option<DateTime<Utc>>,
    pub paused: bool,
    pub met_at: Option<DateTime<Utc>>,
    pub breached_at: Option<DateTime<Utc>>,
    /// Highest warning threshold passed, 0 for none.
    pub warned_pct: u8,
    pub started_at: DateTime<Utc>,
}

/// The state a person reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockStatus {
    Running,
    Paused,
    Warned,
    Breached,
    Met,
    Stopped,
}

string_enum!(ClockStatus, "SLA clock state", {
    Running => "running",
    Paused => "paused",
    Warned => "warned",
    Breached => "breached",
    Met => "met",
    Stopped => "stopped",
});

impl Clock {
    fn new(target: Target, goal_secs: i64, at: DateTime<Utc>, paused: bool) -> Self {
        Self {
            target,
            goal_secs,
            elapsed_secs: 0,
            running_since: (!paused).then_some(at),
            paused,
            met_at: None,
            breached_at: None,
            warned_pct: 0,
            started_at: at,
        }
    }

    /// Business seconds used up to `now`.
    pub fn elapsed_at(&self, cal: &Calendar, now: DateTime<Utc>) -> i64 {
        self.elapsed_secs
            + self
                .running_since
                .map_or(0, |s| cal.business_duration_between(s, now).num_seconds())
    }

    /// When the goal is (or was) reached while running; `None` when paused or stopped.
    pub fn due_at(&self, cal: &Calendar) -> Option<DateTime<Utc>> {
        self.instant_of(cal, self.goal_secs)
    }

    /// When the clock reaches `secs` of business time if it keeps running.
    fn instant_of(&self, cal: &Calendar, secs: i64) -> Option<DateTime<Utc>> {
        let since = self.running_since?;
        Some(cal.add_business_duration(since, Duration::seconds(secs - self.elapsed_secs)))
    }

    pub fn status(&self) -> ClockStatus {
        if self.met_at.is_some() {
            if self.breached_at.is_some() {
                ClockStatus::Breached
            } else {
                ClockStatus::Met
            }
        } else if self.breached_at.is_some() {
            ClockStatus::Breached
        } else if self.running_since.is_none() && !self.paused {
            ClockStatus::Stopped
        } else if self.warned_pct > 0 {
            ClockStatus::Warned
        } else if self.paused {
            ClockStatus::Paused
        } else {
            ClockStatus::Running
        }
    }

    /// The next alarm and its instant, for the one timer of this clock.
    pub fn next_alarm(&self, cal: &Calendar, thresholds: &[u8]) -> Option<(Alarm, DateTime<Utc>)> {
        if self.running_since.is_none() || self.breached_at.is_some() {
            return None;
        }
        let mut levels: Vec<u8> = thresholds
            .iter()
            .copied()
            .filter(|p| *p > self.warned_pct)
            .collect();
        levels.sort_unstable();
        if let Some(&pct) = levels.first() {
            let secs = self.goal_secs * i64::from(pct) / 100;
            if let Some(at) = self.instant_of(cal, secs) {
                return Some((Alarm::Warning(self.target, pct), at));
            }
        }
        self.due_at(cal).map(|at| (Alarm::Breach(self.target), at))
    }

    fn stop(&mut self, cal: &Calendar, at: DateTime<Utc>) {
        self.elapsed_secs = self.elapsed_at(cal, at);
        self.running_since = None;
    }
}

/// Something that moves a ticket's clocks, with when it happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum SlaEvent {
    /// A policy applies (on creation, or a new one after a field change):
    /// missing clocks start, existing ones take the new goal and keep the
    /// business time already used.
    Attach {
        terms: Terms,
        paused: bool,
    },
    Pause,
    Resume,
    /// A target's met event (first public agent response, resolution).
    Met {
        target: Target,
    },
    /// A requester spoke after a response: the next-response clock restarts.
    Awaiting,
    /// Reopened: the resolution clock restarts or resumes as the terms say.
    Reopen,
    /// Closed or cancelled: every clock stops.
    Stop,
}

/// A ticket's SLA: the terms in force and one clock per target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SlaState {
    pub terms: Option<Terms>,
    pub clocks: Vec<Clock>,
}

/// How a ticket's SLA stands as a whole: its worst clock. The console's
/// queue views "at risk" and "breached" filter on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    Ok,
    Warned,
    Breached,
}

string_enum!(Standing, "SLA standing", {
    Ok => "ok",
    Warned => "warned",
    Breached => "breached",
});

impl SlaState {
    /// Breached when any clock is, else warned when any is, else ok (the
    /// dashboard's "SLA at risk" and "breached" counts use the same rule).
    pub fn standing(&self) -> Standing {
        let statuses: Vec<ClockStatus> = self.clocks.iter().map(Clock::status).collect();
        if statuses.contains(&ClockStatus::Breached) {
            Standing::Breached
        } else if statuses.contains(&ClockStatus::Warned) {
            Standing::Warned
        } else {
            Standing::Ok
        }
    }

    fn thresholds(&self) -> &[u8] {
        self.terms.as_ref().map_or(&[], |t| &t.warn_at_percent)
    }

    pub fn clock(&self, target: Target) -> Option<&Clock> {
        self.clocks.iter().find(|c| c.target == target)
    }

    fn clock_mut(&mut self, target: Target) -> Option<&mut Clock> {
        self.clocks.iter_mut().find(|c| c.target == target)
    }

    /// Every alarm due by `now`, in time order, applied: the warning level
    /// rises, a breach is recorded at the instant the goal was reached.
    pub fn catch_up(&mut self, cal: &Calendar, now: DateTime<Utc>) -> Vec<(Alarm, DateTime<Utc>)> {
        let thresholds = self.thresholds().to_vec();
        let mut fired = Vec::new();
        for clock in &mut self.clocks {
            while let Some((alarm, at)) = clock.next_alarm(cal, &thresholds) {
                if at > now {
                    break;
                }
                match alarm {
                    Alarm::Warning(_, pct) => clock.warned_pct = pct,
                    Alarm::Breach(_) => clock.breached_at = Some(at),
                }
                fired.push((alarm, at));
            }
        }
        fired.sort_by_key(|(_, at)| *at);
        fired
    }

    /// The earliest pending alarm of any clock.
    pub fn next_alarm(&self, cal: &Calendar) -> Option<(Alarm, DateTime<Utc>)> {
        self.clocks
            .iter()
            .filter_map(|c| c.next_alarm(cal, self.thresholds()))
            .min_by_key(|(_, at)| *at)
    }

    /// Applies one event at `at` (after catching up to it); returns the
    /// alarms that became due on the way and the clocks that were met.
    pub fn apply(
        &mut self,
        cal: &Calendar,
        event: &SlaEvent,
        at: DateTime<Utc>,
    ) -> (Vec<(Alarm, DateTime<Utc>)>, Vec<Target>) {
        let fired = self.catch_up(cal, at);
        let mut met = Vec::new();
        match event {
            SlaEvent::Attach { terms, paused } => {
                for target in [Target::FirstResponse, Target::Resolution] {
                    let Some(minutes) = terms.targets.get(target) else {
                        continue;
                    };
                    match self.clock_mut(target) {
                        Some(clock) => clock.goal_secs = minutes * 60,
                        None => self
                            .clocks
                            .push(Clock::new(target, minutes * 60, at, *paused)),
                    }
                }
                if let (Some(minutes), Some(clock)) = (
                    terms.targets.get(Target::NextResponse),
                    self.clock_mut(Target::NextResponse),
                ) {
                    clock.goal_secs = minutes * 60;
                }
                self.terms = Some(terms.clone());
            }
            SlaEvent::Pause => {
                for clock in self.clocks.iter_mut().filter(|c| c.running_since.is_some()) {
                    clock.stop(cal, at);
                    clock.paused = true;
                }
            }
            SlaEvent::Resume => {
                for clock in self.clocks.iter_mut().filter(|c| c.paused) {
                    clock.paused = false;
                    clock.running_since = Some(at);
                }
            }
            SlaEvent::Met { target } => {
                let targets: &[Target] = match target {
                    // A resolution answers the requester too.
                    Target::Resolution => &[
                        Target::FirstResponse,
                        Target::NextResponse,
                        Target::Resolution,
                    ],
                    Target::FirstResponse => &[Target::FirstResponse, Target::NextResponse],
                    Target::NextResponse => &[Target::NextResponse],
                };
                for clock in self
                    .clocks
                    .iter_mut()
                    .filter(|c| targets.contains(&c.target))
                {
                    if clock.met_at.is_none() && (clock.running_since.is_some() || clock.paused) {
                        clock.stop(cal, at);
                        clock.paused = false;
                        clock.met_at = Some(at);
                        met.push(clock.target);
                    }
                }
            }
            SlaEvent::Awaiting => {
                let goal = self
                    .terms
                    .as_ref()
                    .and_then(|t| t.targets.get(Target::NextResponse));
                let first_met = self
                    .clock(Target::FirstResponse)
                    .is_some_and(|c| c.met_at.is_some());
                let waiting = self
                    .clock(Target::NextResponse)
                    .is_some_and(|c| c.met_at.is_none());
                if let (Some(minutes), true, false) = (goal, first_met, waiting) {
                    self.clocks.retain(|c| c.target != Target::NextResponse);
                    self.clocks
                        .push(Clock::new(Target::NextResponse, minutes * 60, at, false));
                }
            }
            SlaEvent::Reopen => {
                let restart = self
                    .terms
                    .as_ref()
                    .is_some_and(|t| t.on_reopen == OnReopen::Restart);
                if let Some(clock) = self.clock_mut(Target::Resolution) {
                    if restart {
                        *clock = Clock::new(Target::Resolution, clock.goal_secs, at, false);
                    } else {
                        clock.met_at = None;
                        clock.paused = false;
                        clock.running_since = Some(at);
                    }
                }
            }
            SlaEvent::Stop => {
                for clock in &mut self.clocks {
                    if clock.running_since.is_some() || clock.paused {
                        clock.stop(cal, at);
                        clock.paused = false;
                    }
                }
            }
        }
        (fired, met)
    }
}

/// Recomputes a ticket's SLA from its recorded events alone.
pub fn replay(
    events: &[(DateTime<Utc>, SlaEvent)],
    calendar: impl Fn(Option<Uuid>) -> Calendar,
    now: DateTime<Utc>,
) -> SlaState {
    let mut state = SlaState::default();
    let mut cal = calendar(None);
    for (at, event) in events {
        if let SlaEvent::Attach { terms, .. } = event {
            // Alarms up to the change run on the old calendar.
            state.catch_up(&cal, *at);
            cal = calendar(terms.calendar_id);
        }
        state.apply(&cal, event, *at);
    }
    state.catch_up(&cal, now);
    state
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::domain::calendar::CalendarSpec;

    fn office() -> Calendar {
        let day = vec!["09:00-17:00".to_string()];
        Calendar::parse(&CalendarSpec {
            time_zone: "Europe/Berlin".into(),
            hours: ["mon", "tue", "wed", "thu", "fri"]
                .iter()
                .map(|d| (d.to_string(), day.clone()))
                .collect(),
            ..CalendarSpec::default()
        })
        .expect("calendar")
    }

    fn terms(first: i64, resolution: i64, on_reopen: OnReopen) -> Terms {
        Terms {
            policy_id: Uuid::nil(),
            policy_name: "standard".into(),
            calendar_id: None,
            targets: Targets {
                first_response_minutes: Some(first),
                resolution_minutes: Some(resolution),
                next_response_minutes: Some(first),
            },
            warn_at_percent: vec![75, 90],
            pause_states: vec!["on_hold".into()],
            on_reopen,
        }
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("time")
            .with_timezone(&Utc)
    }

    #[test]
    fn a_clock_warns_then_breaches_in_business_time() {
        let cal = office();
        let mut sla = SlaState::default();
        // Monday 09:00 Berlin (08:00Z), 4 h resolution.
        let start = utc("2026-11-23T08:00:00Z");
        sla.apply(
            &cal,
            &SlaEvent::Attach {
                terms: terms(60, 240, OnReopen::Restart),
                paused: false,
            },
            start,
        );
        let (alarm, at) = sla.next_alarm(&cal).expect("alarm");
        assert_eq!(alarm, Alarm::Warning(Target::FirstResponse, 75));
        assert_eq!(at, utc("2026-11-23T08:45:00Z"));
        let fired = sla.catch_up(&cal, utc("2026-11-23T12:00:00Z"));
        assert_eq!(fired.len(), 6, "{fired:?}");
        let resolution = sla.clock(Target::Resolution).expect("clock");
        assert_eq!(resolution.breached_at, Some(utc("2026-11-23T12:00:00Z")));
        assert_eq!(resolution.status(), ClockStatus::Breached);
        assert!(
            sla.catch_up(&cal, utc("2026-11-30T00:00:00Z")).is_empty(),
            "each alarm once"
        );
    }

    #[test]
    fn pausing_moves_the_due_time_and_keeps_elapsed_time() {
        let cal = office();
        let mut sla = SlaState::default();
        let start = utc("2026-11-23T08:00:00Z");
        sla.apply(
            &cal,
            &SlaEvent::Attach {
                terms: terms(60, 240, OnReopen::Restart),
                paused: false,
            },
            start,
        );
        sla.apply(
            &cal,
            &SlaEvent::Met {
                target: Target::FirstResponse,
            },
            utc("2026-11-23T08:30:00Z"),
        );
        sla.apply(&cal, &SlaEvent::Pause, utc("2026-11-23T09:00:00Z"));
        let clock = sla.clock(Target::Resolution).expect("clock");
        assert_eq!(clock.elapsed_secs, 3600);
        assert_eq!(clock.status(), ClockStatus::Paused);
        assert_eq!(clock.due_at(&cal), None);
        sla.apply(&cal, &SlaEvent::Resume, utc("2026-11-24T08:00:00Z"));
        let clock = sla.clock(Target::Resolution).expect("clock");
        assert_eq!(clock.due_at(&cal), Some(utc("2026-11-24T11:00:00Z")));
        assert_eq!(
            sla.clock(Target::FirstResponse).expect("clock").status(),
            ClockStatus::Met
        );
    }

    #[test]
    fn a_new_policy_keeps_the_business_time_used() {
        let cal = office();
        let mut sla = SlaState::default();
        sla.apply(
            &cal,
            &SlaEvent::Attach {
                terms: terms(60, 480, OnReopen::Restart),
                paused: false,
            },
            utc("2026-11-23T08:00:00Z"),
        );
        sla.apply(
            &cal,
            &SlaEvent::Attach {
                terms: terms(30, 120, OnReopen::Restart),
                paused: false,
            },
            utc("2026-11-23T08:20:00Z"),
        );
        let clock = sla.clock(Target::Resolution).expect("clock");
        assert_eq!(clock.started_at, utc("2026-11-23T08:00:00Z"));
        assert_eq!(clock.due_at(&cal), Some(utc("2026-11-23T10:00:00Z")));
    }

    #[test]
    fn reopening_restarts_resolution_without_resurrecting_its_alarms() {
        let cal = office();
        let mut sla = SlaState::default();
        sla.apply(
            &cal,
            &SlaEvent::Attach {
                terms: terms(60, 60, OnReopen::Restart),
                paused: false,
            },
            utc("2026-11-23T08:00:00Z"),
        );
        sla.apply(
            &cal,
            &SlaEvent::Met {
                target: Target::Resolution,
            },
            utc("2026-11-23T10:00:00Z"),
        );
        assert!(sla
            .clock(Target::Resolution)
            .expect("clock")
            .breached_at
            .is_some());
        sla.apply(&cal, &SlaEvent::Reopen, utc("2026-11-24T08:00:00Z"));
        let clock = sla.clock(Target::Resolution).expect("clock");
        assert_eq!(clock.status(), ClockStatus::Running);
        assert_eq!(clock.due_at(&cal), Some(utc("2026-11-24T09:00:00Z")));
        assert_eq!(
            sla.clock(Target::FirstResponse).expect("clock").status(),
            ClockStatus::Breached
        );
    }

    #[derive(Debug, Clone)]
    enum Step {
        Event(SlaEvent),
        /// The scheduler noticing due alarms (at whatever time it runs).
        Tick,
    }

    fn any_step() -> impl Strategy<Value = Step> {
        prop_oneof![
            Just(Step::Event(SlaEvent::Pause)),
            Just(Step::Event(SlaEvent::Resume)),
            Just(Step::Event(SlaEvent::Met {
                target: Target::FirstResponse
            })),
            Just(Step::Event(SlaEvent::Met {
                target: Target::Resolution
            })),
            Just(Step::Event(SlaEvent::Awaiting)),
            Just(Step::Event(SlaEvent::Reopen)),
            Just(Step::Event(SlaEvent::Stop)),
            (1i64..600, 1i64..3000, any::<bool>(), any::<bool>()).prop_map(
                |(f, r, resume, paused)| {
                    let mut t = terms(
                        f,
                        r,
                        if resume {
                            OnReopen::Resume
                        } else {
                            OnReopen::Restart
                        },
                    );
                    t.calendar_id = resume.then(Uuid::max);
                    Step::Event(SlaEvent::Attach { terms: t, paused })
                }
            ),
            Just(Step::Tick),
            Just(Step::Tick),
        ]
    }

    fn calendar(id: Option<Uuid>) -> Calendar {
        match id {
            Some(_) => office(),
            None => Calendar::always_open(chrono_tz::America::New_York),
        }
    }

    proptest! {
        /// What the desk does live — apply each event as it happens, let
        /// timers notice alarms at arbitrary times — equals replaying the
        /// recorded events alone.
        #[test]
        fn replay_equals_live_state(
            steps in prop::collection::vec((any_step(), 0i64..200_000), 1..40),
            first in (1i64..600, 1i64..3000),
        ) {
            let mut at = utc("2026-03-27T22:00:00Z"); // across the March DST changes
            let mut live = SlaState::default();
            let mut cal = calendar(None);
            let mut log = Vec::new();
            let attach = SlaEvent::Attach { terms: terms(first.0, first.1, OnReopen::Restart), paused: false };
            live.apply(&cal, &attach, at);
            log.push((at, attach));
            for (step, gap) in steps {
                at += Duration::seconds(gap);
                match step {
                    Step::Tick => {
                        live.catch_up(&cal, at);
                    }
                    Step::Event(event) => {
                        if let SlaEvent::Attach { terms, .. } = &event {
                            live.catch_up(&cal, at);
                            cal = calendar(terms.calendar_id);
                        }
                        live.apply(&cal, &event, at);
                        log.push((at, event));
                    }
                }
            }
            let now = at + Duration::seconds(1);
            live.catch_up(&cal, now);
            let replayed = replay(&log, calendar, now);
            prop_assert_eq!(replayed, live);
        }
    }
}
