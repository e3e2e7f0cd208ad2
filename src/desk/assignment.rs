//! Automatic assignment: when a ticket reaches a team (opened for it,
//! routed to it by a category or rule, reassigned, escalated, handed back
//! by an absent agent) the team's strategy picks the agent, inside the same
//! transaction, with the team locked so concurrent tickets are assigned one
//! after another. Also the skill rules (the team's settings are edited
//! with the team, in `teams`).
//! A leaf: it imports no other use-case module.

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{new_id, Actor, Desk, DeskError, Work};
use crate::{
    domain::{
        assignment::{normalize_label, pick, priority_weight, Candidate, Pick, Strategy},
        Role,
    },
    store::{self, tickets::TicketRow, Exec},
};

/// Who automatic assignment picked, and why.
#[derive(Debug, Clone)]
pub(crate) struct Picked {
    pub reason: String,
}

/// A skill rule: tickets of a category, with a CI of a class, or with a
/// tag need the skill.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SkillRuleView {
    pub id: Uuid,
    pub skill: String,
    pub category: Option<String>,
    pub ci_class: Option<String>,
    pub tag: Option<String>,
}

impl Desk {
    /// Assigns `row` by its team's strategy when it has a team and nobody
    /// assigned; changes `row` and records the reason in its activity (by
    /// the system), but leaves writing the row, recording the assignee
    /// change and announcing it to the caller. `strategy` is what the caller read of the
    /// team; the team is read again under its lock.
    pub(crate) async fn auto_assign(
        &self,
        work: &mut Work,
        row: &mut TicketRow,
        strategy: &str,
    ) -> Result<Option<Picked>, DeskError> {
        let (Some(team_id), None) = (row.team_id, row.assignee_id) else {
            return Ok(None);
        };
        if Strategy::parse(strategy).unwrap_or_default() == Strategy::None {
            return Ok(None);
        }
        let Some(settings) =
            store::assignment::lock_team(&mut work.tx, row.org_id, team_id).await?
        else {
            return Ok(None);
        };
        let strategy = Strategy::parse(&settings.assignment).unwrap_or_default();
        let now = self.clock.now();
        let members = store::assignment::members(&mut work.tx, row.org_id, team_id, now).await?;
        let mut work_by: HashMap<Uuid, (i64, i64)> = HashMap::new();
        for (person, priority, n) in
            store::assignment::open_work(&mut work.tx, row.org_id, team_id).await?
        {
            let entry = work_by.entry(person).or_default();
            entry.0 += n;
            entry.1 += n * priority_weight(&priority);
        }
        let mut skills: HashMap<Uuid, BTreeSet<String>> = HashMap::new();
        let mut required = BTreeSet::new();
        if strategy == Strategy::Skills {
            for (person, skill) in store::assignment::member_skills(&mut work.tx, team_id).await? {
                skills.entry(person).or_default().insert(skill);
            }
            required = self.required_skills(work, row).await?;
        }
        let mut candidates = Vec::with_capacity(members.len());
        for m in members {
            let works = m
                .roles
                .0
                .iter()
                .any(|r| Role::parse(r).is_ok_and(|r| r.can_work_tickets()));
            if !works {
                continue;
            }
            let off_shift = match m.work_calendar_id {
                Some(id) => !self
                    .calendar(&mut work.tx, row.org_id, Some(id))
                    .await?
                    .is_open(now),
                None => false,
            };
            let (open, load) = work_by.get(&m.person_id).copied().unwrap_or_default();
            candidates.push(Candidate {
                person_id: m.person_id,
                name: m.name,
                open,
                load,
                last_turn: m.last_turn,
                skills: skills.remove(&m.person_id).unwrap_or_default(),
                away: m.away,
                off_shift,
            });
        }
        let system = Actor::system(row.org_id);
        let cap = settings.max_open_per_agent.map(i64::from);
        match pick(strategy, &candidates, &required, cap) {
            Pick::Manual => Ok(None),
            Pick::Nobody { reason } => {
                work.record(
                    &system,
                    row.id,
                    "auto_assigned",
                    Some(("reason", None, Some(format!("left in the queue: {reason}")))),
                );
                Ok(None)
            }
            Pick::Assigned { person_id, reason } => {
                let person = store::people::find_person(&mut work.tx, row.org_id, person_id)
                    .await?
                    .ok_or(DeskError::NotFound("person"))?;
                store::assignment::take_turn(&mut work.tx, team_id, person_id).await?;
                row.assignee_id = Some(person_id);
                row.assignee_name = Some(person.name);
                row.assignee_email = person.email;
                work.record(
                    &system,
                    row.id,
                    "auto_assigned",
                    Some(("reason", None, Some(reason.clone()))),
                );
                Ok(Some(Picked { reason }))
            }
        }
    }

    /// The skills a ticket needs: the rules matching its category, the
    /// classes of the CIs it affects, and its tags.
    async fn required_skills(
        &self,
        work: &mut Work,
        row: &TicketRow,
    ) -> Result<BTreeSet<String>, DeskError> {
        let rules = store::assignment::list_skill_rules(Exec::Tx(&mut work.tx), row.org_id).await?;
        if rules.is_empty() {
            return Ok(BTreeSet::new());
        }
        let classes = store::assignment::ticket_ci_classes(&mut work.tx, row.id).await?;
        let tags = &row.extra.tags.0;
        Ok(rules
            .into_iter()
            .filter(|r| {
                (r.category_id.is_some() && r.category_id == row.category_id)
                    || r.ci_class.as_ref().is_some_and(|c| classes.contains(c))
                    || r.tag.as_ref().is_some_and(|t| tags.contains(t))
            })
            .map(|r| r.skill)
            .collect())
    }

    pub async fn list_skill_rules(&self, actor: &Actor) -> Result<Vec<SkillRuleView>, DeskError> {
        actor.require_agent()?;
        let rows = store::assignment::list_skill_rules(Exec::Db(&self.db), actor.org_id).await?;
        Ok(rows.into_iter().map(skill_rule_view).collect())
    }

    /// Adds a skill rule (admin): exactly one of category, CI class, tag.
    pub async fn create_skill_rule(
        &self,
        work: &mut Work,
        actor: &Actor,
        skill: &str,
        category: Option<&str>,
        ci_class: Option<&str>,
        tag: Option<&str>,
    ) -> Result<SkillRuleView, DeskError> {
        actor.require_admin()?;
        let skill = normalize_label("skill", skill).map_err(|e| DeskError::invalid("skill", e))?;
        let given = [category, ci_class, tag]
            .iter()
            .filter(|v| v.is_some())
            .count();
        if given != 1 {
            return Err(DeskError::invalid(
                "category",
                "name exactly one of `category`, `ci_class` or `tag`",
            ));
        }
        let category = match category {
            Some(name) => {
                let found = store::teams::list_categories(&mut work.tx, actor.org_id)
                    .await?
                    .into_iter()
                    .find(|c| c.name.eq_ignore_ascii_case(name.trim()))
                    .ok_or_else(|| {
                        DeskError::invalid(
                            "category",
                            format!("no category `{name}` in this organization"),
                        )
                    })?;
                Some((found.id, found.name))
            }
            None => None,
        };
        let ci_class = match ci_class {
            Some(name) => {
                let name = name.trim().to_string();
                let known = store::cmdb::find_class_by_name(&mut work.tx, actor.org_id, &name)
                    .await?
                    .is_some();
                if !known {
                    return Err(DeskError::invalid(
                        "ci_class",
                        format!("no CI class `{name}` in this organization"),
                    ));
                }
                Some(name)
            }
            None => None,
        };
        let tag = tag
            .map(|t| normalize_label("tag", t))
            .transpose()
            .map_err(|e| DeskError::invalid("tag", e))?;
        let row = store::assignment::SkillRuleRow {
            id: new_id(),
            org_id: actor.org_id,
            skill,
            category_id: category.as_ref().map(|c| c.0),
            category_name: category.map(|c| c.1),
            ci_class,
            tag,
            created_at: store::now(),
        };
        store::assignment::insert_skill_rule(&mut work.tx, &row).await?;
        let view = skill_rule_view(row);
        work.audit(
            actor,
            "skill_rule.created",
            &view.skill,
            serde_json::to_value(&view).map_err(anyhow::Error::from)?,
        );
        Ok(view)
    }

    pub async fn delete_skill_rule(
        &self,
        work: &mut Work,
        actor: &Actor,
        id: Uuid,
    ) -> Result<(), DeskError> {
        actor.require_admin()?;
        if !store::assignment::delete_skill_rule(&mut work.tx, actor.org_id, id).await? {
            return Err(DeskError::NotFound("skill rule"));
        }
        work.audit(
            actor,
            "skill_rule.deleted",
            &id.to_string(),
            json!({ "id": id }),
        );
        Ok(())
    }
}

fn skill_rule_view(r: store::assignment::SkillRuleRow) -> SkillRuleView {
    SkillRuleView {
        id: r.id,
        skill: r.skill,
        category: r.category_name,
        ci_class: r.ci_class,
        tag: r.tag,
    }
}
