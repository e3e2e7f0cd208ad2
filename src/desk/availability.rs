//! Agents' availability: skills, working hours (a business calendar) and
//! out-of-office periods, which automatic assignment reads; and what an
//! absence does to its agent's open tickets when it starts (a timer, or at
//! once): nothing, back to their team, or to a delegate.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{new_id, tickets::Assignment, Actor, Desk, DeskError, Work};
use crate::{
    domain::{
        assignment::normalize_labels,
        availability::{read_away, AwayCommand, Handover, MAX_ABSENCE_DAYS},
        Role,
    },
    store::{self, assignment::AbsenceRow, people::PersonRow, timers::TimerRow, Exec, Tx},
};

/// The timer that runs an absence's handover when it starts.
pub(crate) const ABSENCE_START: &str = "absence_start";

/// An out-of-office period.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AbsenceView {
    pub id: Uuid,
    pub person: Uuid,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub note: String,
    /// `keep`, `queue` or `delegate`: what happens to their open tickets
    /// when it starts.
    pub handover: String,
    pub delegate: Option<Uuid>,
}

/// What automatic assignment knows of an agent.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AvailabilityView {
    pub person: Uuid,
    pub skills: Vec<String>,
    /// The business calendar of their working hours (none: always on).
    pub work_calendar: Option<Uuid>,
    /// Whether an absence covers this instant.
    pub away: bool,
    /// Whether they are inside their working hours now.
    pub on_shift: bool,
    /// Absences that have not ended, soonest first.
    pub absences: Vec<AbsenceView>,
}

/// A new absence.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct NewAbsence {
    /// Default: now.
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: DateTime<Utc>,
    #[serde(default)]
    pub note: String,
    /// `keep` (default), `queue` or `delegate`.
    #[serde(default)]
    pub handover: Option<String>,
    /// Who gets the tickets with `delegate`: a person's id or email.
    #[serde(default)]
    pub delegate: Option<String>,
}

/// What `/away` did, for the chat answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum AwayOutcome {
    /// The absence, and the time zone it was read in.
    Away(AbsenceView, String),
    Back {
        ended: usize,
    },
}

impl Desk {
    pub async fn availability(
        &self,
        actor: &Actor,
        person: &str,
    ) -> Result<AvailabilityView, DeskError> {
        actor.require_agent()?;
        let mut tx = self.db.read().await?;
        let person = find_agent(&mut tx, actor, person).await?;
        let now = self.clock.now();
        let skills = store::assignment::person_skills(Exec::Tx(&mut tx), person.id).await?;
        let work_calendar =
            store::assignment::work_calendar(Exec::Tx(&mut tx), actor.org_id, person.id).await?;
        let on_shift = match work_calendar {
            Some(id) => self
                .calendar(&mut tx, actor.org_id, Some(id))
                .await?
                .is_open(now),
            None => true,
        };
        let absences =
            store::assignment::current_absences(Exec::Tx(&mut tx), actor.org_id, person.id, now)
                .await?;
        Ok(AvailabilityView {
            person: person.id,
            skills,
            work_calendar,
            away: absences.iter().any(|a| a.starts_at <= now),
            on_shift,
            absences: absences.iter().map(absence_view).collect(),
        })
    }

    /// Replaces an agent's skills (managers and admins).
    pub async fn set_skills(
        &self,
        work: &mut Work,
        actor: &Actor,
        person: &str,
        skills: &[String],
    ) -> Result<Vec<String>, DeskError> {
        require_manager(actor)?;
        let person = find_agent(&mut work.tx, actor, person).await?;
        let skills =
            normalize_labels("skill", skills).map_err(|e| DeskError::invalid("skills", e))?;
        store::assignment::set_person_skills(&mut work.tx, actor.org_id, person.id, &skills)
            .await?;
        work.audit(
            actor,
            "person.skills_changed",
            &person.name,
            json!({ "person": person.id, "skills": skills }),
        );
        Ok(skills)
    }

    /// Sets (or clears) an agent's working hours: a business calendar by
    /// id or name. The agent themselves, managers and admins.
    pub async fn set_work_calendar(
        &self,
        work: &mut Work,
        actor: &Actor,
        person: &str,
        calendar: Option<&str>,
    ) -> Result<Option<Uuid>, DeskError> {
        let person = find_agent(&mut work.tx, actor, person).await?;
        require_self_or_manager(actor, &person)?;
        let calendar_id = match calendar {
            Some(reference) => {
                let reference = reference.trim();
                let found = store::sla::list_calendars(Exec::Tx(&mut work.tx), actor.org_id)
                    .await?
                    .into_iter()
                    .find(|c| c.id.to_string() == reference || c.name == reference)
                    .ok_or_else(|| {
                        DeskError::invalid(
                            "calendar",
                            format!("no calendar `{reference}` in this organization"),
                        )
                    })?;
                Some(found.id)
            }
            None => None,
        };
        store::assignment::set_work_calendar(&mut work.tx, actor.org_id, person.id, calendar_id)
            .await?;
        work.audit(
            actor,
            "person.working_hours_changed",
            &person.name,
            json!({ "person": person.id, "calendar": calendar_id }),
        );
        Ok(calendar_id)
    }

    /// Records an absence (the agent themselves, managers and admins). One
    /// that has started hands over at once; a later one has a timer.
    pub async fn add_absence(
        &self,
        work: &mut Work,
        actor: &Actor,
        person: &str,
        input: NewAbsence,
    ) -> Result<AbsenceView, DeskError> {
        let person = find_agent(&mut work.tx, actor, person).await?;
        require_self_or_manager(actor, &person)?;
        let now = self.clock.now();
        let starts_at = input.starts_at.unwrap_or(now);
        if input.ends_at <= starts_at {
            return Err(DeskError::invalid("ends_at", "must be after starts_at"));
        }
        if input.ends_at <= now {
            return Err(DeskError::invalid("ends_at", "must be in the future"));
        }
        if input.ends_at - starts_at > Duration::days(MAX_ABSENCE_DAYS) {
            return Err(DeskError::invalid(
                "ends_at",
                format!("an absence lasts at most {MAX_ABSENCE_DAYS} days"),
            ));
        }
        let handover = match &input.handover {
            Some(h) => {
                Handover::parse(h).map_err(|e| DeskError::invalid("handover", e.to_string()))?
            }
            None => Handover::Keep,
        };
        let delegate = match (&input.delegate, handover) {
            (Some(who), Handover::Delegate) => {
                let delegate = find_agent(&mut work.tx, actor, who).await.map_err(|_| {
                    DeskError::invalid("delegate", format!("no agent `{who}` in this organization"))
                })?;
                if delegate.id == person.id {
                    return Err(DeskError::invalid("delegate", "must be someone else"));
                }
                Some(delegate.id)
            }
            (None, Handover::Delegate) => {
                return Err(DeskError::invalid(
                    "delegate",
                    "name who gets the tickets with handover `delegate`",
                ))
            }
            (Some(_), _) => {
                return Err(DeskError::invalid(
                    "delegate",
                    "a delegate goes with handover `delegate` only",
                ))
            }
            (None, _) => None,
        };
        let note = input.note.trim().chars().take(500).collect::<String>();
        let row = AbsenceRow {
            id: new_id(),
            org_id: actor.org_id,
            person_id: person.id,
            starts_at,
            ends_at: input.ends_at,
            note,
            handover: handover.as_str().into(),
            delegate_id: delegate,
            created_by: actor.person_id,
            created_at: store::now(),
        };
        store::assignment::insert_absence(&mut work.tx, &row).await?;
        let view = absence_view(&row);
        work.audit(
            actor,
            "person.absence_added",
            &person.name,
            serde_json::to_value(&view).map_err(anyhow::Error::from)?,
        );
        if handover != Handover::Keep {
            if starts_at <= now {
                self.hand_over(work, &row).await?;
            } else {
                store::timers::insert_timer(
                    &mut work.tx,
                    &TimerRow {
                        id: new_id(),
                        org_id: row.org_id,
                        kind: ABSENCE_START.into(),
                        ticket_id: None,
                        payload: sqlx::types::Json(json!({ "absence": row.id })),
                        due_at: starts_at,
                        created_at: store::now(),
                    },
                )
                .await?;
            }
        }
        Ok(view)
    }

    /// Ends an absence now (or drops one that has not started).
    pub async fn end_absence(
        &self,
        work: &mut Work,
        actor: &Actor,
        person: &str,
        absence: Uuid,
    ) -> Result<(), DeskError> {
        let person = find_agent(&mut work.tx, actor, person).await?;
        require_self_or_manager(actor, &person)?;
        let row = store::assignment::find_absence(&mut work.tx, actor.org_id, absence)
            .await?
            .filter(|a| a.person_id == person.id)
            .ok_or(DeskError::NotFound("absence"))?;
        let now = self.clock.now();
        if row.starts_at > now {
            store::assignment::delete_absence(&mut work.tx, actor.org_id, row.id).await?;
        } else {
            store::assignment::end_absence(&mut work.tx, actor.org_id, row.id, now).await?;
        }
        work.audit(
            actor,
            "person.absence_ended",
            &person.name,
            json!({ "absence": row.id, "person": person.id }),
        );
        Ok(())
    }

    /// `/away …` from chat: an absence of the one who typed it, read in
    /// their time zone; `/away back` ends the current one.
    pub async fn away_from_chat(
        &self,
        work: &mut Work,
        actor: &Actor,
        text: &str,
    ) -> Result<AwayOutcome, DeskError> {
        actor.require_agent()?;
        let me = actor
            .person_id
            .ok_or_else(|| DeskError::Forbidden("only a person can be away".into()))?;
        let person = store::people::find_person(&mut work.tx, actor.org_id, me)
            .await?
            .ok_or(DeskError::NotFound("person"))?;
        let tz: chrono_tz::Tz = person.time_zone.parse().unwrap_or(chrono_tz::UTC);
        let now = self.clock.now();
        match read_away(text, now, tz).map_err(|e| DeskError::invalid("text", e))? {
            AwayCommand::Away(away) => {
                let input = NewAbsence {
                    starts_at: None,
                    ends_at: away.ends_at,
                    note: away.note,
                    handover: None,
                    delegate: None,
                };
                let view = self
                    .add_absence(work, actor, &me.to_string(), input)
                    .await?;
                Ok(AwayOutcome::Away(view, tz.name().to_string()))
            }
            AwayCommand::Back => {
                let current = store::assignment::current_absences(
                    Exec::Tx(&mut work.tx),
                    actor.org_id,
                    me,
                    now,
                )
                .await?;
                let started: Vec<&AbsenceRow> =
                    current.iter().filter(|a| a.starts_at <= now).collect();
                for absence in &started {
                    store::assignment::end_absence(&mut work.tx, actor.org_id, absence.id, now)
                        .await?;
                    work.audit(
                        actor,
                        "person.absence_ended",
                        &person.name,
                        json!({ "absence": absence.id, "person": me }),
                    );
                }
                Ok(AwayOutcome::Back {
                    ended: started.len(),
                })
            }
        }
    }

    /// The `absence_start` timer: hands over if the absence still stands.
    pub(crate) async fn absence_timer(
        &self,
        work: &mut Work,
        timer: &TimerRow,
    ) -> Result<(), DeskError> {
        let Some(id) = timer.payload.0["absence"]
            .as_str()
            .and_then(|s| Uuid::parse_str(s).ok())
        else {
            return Ok(());
        };
        let now = self.clock.now();
        match store::assignment::find_absence(&mut work.tx, timer.org_id, id).await? {
            Some(absence) if absence.starts_at <= now && now < absence.ends_at => {
                self.hand_over(work, &absence).await
            }
            _ => Ok(()),
        }
    }

    /// Moves the absent agent's open tickets: back to their teams (which
    /// assign them again) or to the delegate — back to the team when the
    /// delegate may not take one (not in its team).
    async fn hand_over(&self, work: &mut Work, absence: &AbsenceRow) -> Result<(), DeskError> {
        let system = Actor::system(absence.org_id);
        let numbers =
            store::assignment::open_tickets_of(&mut work.tx, absence.org_id, absence.person_id)
                .await?;
        let handover = Handover::parse(&absence.handover).unwrap_or_default();
        for number in &numbers {
            match (handover, absence.delegate_id) {
                (Handover::Keep, _) => return Ok(()),
                (Handover::Delegate, Some(delegate)) => {
                    let change = Assignment {
                        team: None,
                        assignee: Some(Some(delegate.to_string())),
                    };
                    match self.assign(work, &system, number, change).await {
                        Ok(_) => {}
                        Err(DeskError::Invalid(_)) => {
                            self.requeue(work, &system, number).await?;
                        }
                        Err(e) => return Err(e),
                    }
                }
                _ => {
                    self.requeue(work, &system, number).await?;
                }
            }
        }
        Ok(())
    }
}

fn absence_view(a: &AbsenceRow) -> AbsenceView {
    AbsenceView {
        id: a.id,
        person: a.person_id,
        starts_at: a.starts_at,
        ends_at: a.ends_at,
        note: a.note.clone(),
        handover: a.handover.clone(),
        delegate: a.delegate_id,
    }
}

/// A person of the actor's organization who works tickets, by id, email or
/// `me`.
async fn find_agent(tx: &mut Tx, actor: &Actor, who: &str) -> Result<PersonRow, DeskError> {
    let who = who.trim();
    let found = if who.eq_ignore_ascii_case("me") {
        match actor.person_id {
            Some(id) => store::people::find_person(tx, actor.org_id, id).await?,
            None => None,
        }
    } else {
        match Uuid::parse_str(who) {
            Ok(id) => store::people::find_person(tx, actor.org_id, id).await?,
            Err(_) => {
                store::people::find_person_by_email(tx, actor.org_id, &who.to_lowercase()).await?
            }
        }
    };
    let person = found.ok_or(DeskError::NotFound("person"))?;
    let works = person
        .roles
        .0
        .iter()
        .any(|r| Role::parse(r).is_ok_and(|r| r.can_work_tickets()));
    if !works {
        return Err(DeskError::invalid(
            "person",
            format!("{} is not an agent", person.name),
        ));
    }
    Ok(person)
}

fn require_manager(actor: &Actor) -> Result<(), DeskError> {
    if actor.has(Role::Manager) || actor.has(Role::Admin) {
        Ok(())
    } else {
        Err(DeskError::Forbidden(
            "only managers and admins may change this".into(),
        ))
    }
}

fn require_self_or_manager(actor: &Actor, person: &PersonRow) -> Result<(), DeskError> {
    if actor.person_id == Some(person.id) {
        actor.require_agent()
    } else {
        require_manager(actor)
    }
}
