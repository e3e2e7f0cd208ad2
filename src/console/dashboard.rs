//! The manager's dashboard and report exports, over the same desk reports
//! as `/api/v1/reports/…`: today's figures, the volume chart, and each
//! report as a workbook, a PDF or a chart.

use askama::Template;
use axum::{
    extract::{Path, Query, State},
    http::{header, HeaderValue},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};

use super::{
    filters,
    layout::{Chrome, Section},
    render,
    session::Signed,
    Console, PageError,
};
use crate::{
    desk::{
        reports::{
            document::{export_file, parse_format},
            DashboardReport, NamedCount, Report, ReportQuery,
        },
        DeskError,
    },
    domain::report::{Format, ReportKind},
};

pub fn router() -> Router<Console> {
    Router::new()
        .route("/console/dashboard", get(dashboard))
        .route("/console/reports/{kind}", get(export))
}

/// A bar of a breakdown: its share of the largest, as a `<meter>`.
pub struct Bar {
    pub name: String,
    pub count: i64,
    pub max: i64,
}

fn bars(counts: &[NamedCount], none: &str) -> Vec<Bar> {
    let max = counts.iter().map(|c| c.count).max().unwrap_or(0).max(1);
    counts
        .iter()
        .map(|c| Bar {
            name: c
                .name
                .as_deref()
                .map_or_else(|| none.to_string(), filters::words),
            count: c.count,
            max,
        })
        .collect()
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    chrome: Chrome,
    d: DashboardReport,
    breakdowns: Vec<(&'static str, Vec<Bar>)>,
    exports: Vec<(&'static str, &'static str)>,
}

impl DashboardPage {
    fn satisfaction(&self) -> String {
        self.d
            .average_satisfaction
            .map_or_else(|| "no ratings".into(), |a| format!("{a:.1} of 5"))
    }
}

async fn dashboard(
    State(console): State<Console>,
    Signed(signed): Signed,
) -> Result<Response, PageError> {
    let (_, report) = console
        .desk
        .report(
            &signed.actor,
            ReportKind::Dashboard,
            &ReportQuery::default(),
        )
        .await?;
    let Report::Dashboard(d) = report else {
        return Err(DeskError::Internal(anyhow::anyhow!(
            "the dashboard report came back as another"
        ))
        .into());
    };
    render(&DashboardPage {
        chrome: Chrome::new(&signed, Section::Dashboard, "Dashboard"),
        breakdowns: vec![
            ("Open by state", bars(&d.open_by_state, "none")),
            ("Open by priority", bars(&d.open_by_priority, "none")),
            ("Open by team", bars(&d.open_by_team, "no team")),
        ],
        d,
        exports: vec![
            ("dashboard", "Dashboard"),
            ("volume", "Ticket volume"),
            ("sla", "SLA compliance"),
            ("agents", "Agent performance"),
            ("processes", "Problems and changes"),
        ],
    })
}

/// A report as a file: `?format=xlsx|pdf|png|svg` and the report's own
/// parameters, checked by the desk as for the API.
async fn export(
    State(console): State<Console>,
    Signed(signed): Signed,
    Path(kind): Path<String>,
    query: Result<Query<ReportQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, PageError> {
    let Query(query) = query.map_err(|e| PageError::BadRequest(e.body_text()))?;
    let kind = ReportKind::parse(&kind).map_err(|_| DeskError::NotFound("report"))?;
    let format = parse_format(query.format.as_deref()).map_err(PageError::BadRequest)?;
    if matches!(format, Format::Json | Format::Csv) {
        return Err(PageError::BadRequest(
            "the console exports xlsx, pdf, png and svg; JSON and CSV come from /api/v1/reports"
                .into(),
        ));
    }
    let (request, report) = console.desk.report(&signed.actor, kind, &query).await?;
    let file = export_file(kind, format, &request, &report).await?;
    let mut response = file.bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(file.content_type),
    );
    // Charts show in the page; documents download.
    let disposition = if matches!(format, Format::Png | Format::Svg) {
        "inline"
    } else {
        "attachment"
    };
    if let Ok(v) = HeaderValue::from_str(&format!("{disposition}; filename=\"{}\"", file.name)) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}
