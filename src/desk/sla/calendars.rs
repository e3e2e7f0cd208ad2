//! Business calendars (admin): time zone, weekly hours and holidays,
//! validated by the domain's calendar rules and briefly cached parsed.

use std::{sync::Arc, time::Duration as StdDuration};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::desk::{new_id, Actor, Desk, DeskError, Work};
use crate::{
    domain::{
        calendar::{Calendar, CalendarSpec},
        FieldError,
    },
    store::{self, sla::CalendarRow, Exec, Tx},
};

impl Desk {
    pub async fn create_calendar(
        &self,
        work: &mut Work,
        actor: &Actor,
        input: CalendarInput,
    ) -> Result<CalendarView, DeskError> {
        actor.require_admin()?;
        let now = store::now();
        let row = calendar_row(actor.org_id, new_id(), input, now, now)?;
        store::sla::upsert_calendar(&mut work.tx, &row).await?;
        work.audit(
            actor,
            "sla.calendar_created",
            &row.name,
            json!({ "id": row.id }),
        );
        calendar_view(&row)
    }

    pub async fn update_calendar(
        &self,
        work: &mut Work,
        actor: &Actor,
        id: Uuid,
        input: CalendarInput,
    ) -> Result<CalendarView, DeskError> {
        actor.require_admin()?;
        let old = store::sla::find_calendar(Exec::Tx(&mut work.tx), actor.org_id, id)
            .await?
            .ok_or(DeskError::NotFound("calendar"))?;
        let row = calendar_row(actor.org_id, id, input, old.created_at, store::now())?;
        store::sla::upsert_calendar(&mut work.tx, &row).await?;
        self.calendars
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
        work.audit(
            actor,
            "sla.calendar_updated",
            &row.name,
            json!({ "id": id }),
        );
        calendar_view(&row)
    }

    pub async fn list_calendars(&self, actor: &Actor) -> Result<Vec<CalendarView>, DeskError> {
        actor.require_agent()?;
        store::sla::list_calendars(Exec::Db(&self.db), actor.org_id)
            .await?
            .iter()
            .map(calendar_view)
            .collect()
    }

    pub async fn get_calendar(&self, actor: &Actor, id: Uuid) -> Result<CalendarView, DeskError> {
        actor.require_agent()?;
        let row = store::sla::find_calendar(Exec::Db(&self.db), actor.org_id, id)
            .await?
            .ok_or(DeskError::NotFound("calendar"))?;
        calendar_view(&row)
    }

    pub async fn delete_calendar(
        &self,
        work: &mut Work,
        actor: &Actor,
        id: Uuid,
    ) -> Result<(), DeskError> {
        actor.require_admin()?;
        let row = store::sla::find_calendar(Exec::Tx(&mut work.tx), actor.org_id, id)
            .await?
            .ok_or(DeskError::NotFound("calendar"))?;
        if store::sla::calendar_in_use(&mut work.tx, id).await? {
            return Err(DeskError::Conflict(format!(
                "calendar {} is used by an SLA policy or an agent's working hours",
                row.name
            )));
        }
        store::sla::delete_calendar(&mut work.tx, actor.org_id, id).await?;
        work.audit(
            actor,
            "sla.calendar_deleted",
            &row.name,
            json!({ "id": id }),
        );
        Ok(())
    }

    /// The calendar of `id` (none: 24×7 UTC); parsed calendars are cached briefly.
    pub(crate) async fn calendar(
        &self,
        tx: &mut Tx,
        org_id: Uuid,
        id: Option<Uuid>,
    ) -> Result<Arc<Calendar>, DeskError> {
        let Some(id) = id else {
            return Ok(Arc::new(Calendar::always_open(chrono_tz::UTC)));
        };
        if let Some((at, cal)) = self
            .calendars
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
        {
            if at.elapsed() < CALENDAR_TTL {
                return Ok(cal.clone());
            }
        }
        let cal = match store::sla::find_calendar(Exec::Tx(tx), org_id, id).await? {
            Some(row) => Arc::new(parse_calendar(&row)?),
            // Deleted since: the clocks carry on around the clock.
            None => Arc::new(Calendar::always_open(chrono_tz::UTC)),
        };
        self.calendars
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, (std::time::Instant::now(), cal.clone()));
        Ok(cal)
    }
}

pub(super) const CALENDAR_TTL: StdDuration = StdDuration::from_secs(30);

/// A calendar as the API takes it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CalendarInput {
    pub name: String,
    /// IANA time zone, e.g. `Europe/Berlin`.
    pub time_zone: String,
    /// Open around the clock (24×7): no hours, no holidays.
    #[serde(default)]
    pub always_open: bool,
    /// Per day (`mon` … `sun`): intervals like `"09:00-12:30"`.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub hours: std::collections::BTreeMap<String, Vec<String>>,
    /// `{"date": "2026-12-25"}` closes a day; with `hours` it is a partial day.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub holidays: Vec<crate::domain::calendar::HolidaySpec>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CalendarView {
    pub id: Uuid,
    pub name: String,
    pub time_zone: String,
    pub always_open: bool,
    #[schema(value_type = Object)]
    pub hours: std::collections::BTreeMap<String, Vec<String>>,
    #[schema(value_type = Vec<Object>)]
    pub holidays: Vec<crate::domain::calendar::HolidaySpec>,
    pub updated_at: DateTime<Utc>,
}

pub(super) fn calendar_row(
    org_id: Uuid,
    id: Uuid,
    input: CalendarInput,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
) -> Result<CalendarRow, DeskError> {
    let spec = CalendarSpec {
        time_zone: input.time_zone,
        always_open: input.always_open,
        hours: input.hours,
        holidays: input.holidays,
    };
    let mut errors = Calendar::parse(&spec).err().unwrap_or_default();
    if input.name.trim().is_empty() {
        errors.push(FieldError::new("name", "must not be empty"));
    }
    if !errors.is_empty() {
        return Err(DeskError::Invalid(errors));
    }
    Ok(CalendarRow {
        id,
        org_id,
        name: input.name.trim().into(),
        spec: sqlx::types::Json(serde_json::to_value(&spec).map_err(anyhow::Error::from)?),
        created_at,
        updated_at,
    })
}

pub(super) fn parse_calendar(row: &CalendarRow) -> Result<Calendar, DeskError> {
    let spec: CalendarSpec =
        serde_json::from_value(row.spec.0.clone()).map_err(anyhow::Error::from)?;
    Calendar::parse(&spec).map_err(|errors| {
        DeskError::Internal(anyhow::anyhow!(
            "stored calendar {} is invalid: {}",
            row.name,
            errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; ")
        ))
    })
}

pub(super) fn calendar_view(row: &CalendarRow) -> Result<CalendarView, DeskError> {
    let spec: CalendarSpec =
        serde_json::from_value(row.spec.0.clone()).map_err(anyhow::Error::from)?;
    Ok(CalendarView {
        id: row.id,
        name: row.name.clone(),
        time_zone: spec.time_zone,
        always_open: spec.always_open,
        hours: spec.hours,
        holidays: spec.holidays,
        updated_at: row.updated_at,
    })
}
