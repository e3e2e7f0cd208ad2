//! `/api/v1/reports/{dashboard,volume,sla,agents,processes}`: the reports
//! as JSON (default), CSV streamed, or with `format=xlsx|pdf` the workbook
//! or the PDF and with `format=png|svg` the report's chart (written by
//! `crate::export` on a blocking thread), each with a file name. Bad
//! parameters are 400 problem+json naming the parameter and what it
//! accepts.

use axum::{
    body::{Body, Bytes},
    extract::{Query, State},
    http::{header, HeaderValue},
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};

use super::{
    error::{ApiError, Problem},
    extract::Auth,
    AppState,
};
use crate::{
    desk::{
        reports::{
            document::{self, parse_format},
            AgentsReport, DashboardReport, ProcessesReport, Report, ReportQuery, ReportRequest,
            SlaReport, VolumeReport,
        },
        Actor, DeskError,
    },
    domain::report::{Format, ReportKind},
    export::model::Table,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/reports/dashboard", get(dashboard))
        .route("/reports/volume", get(volume))
        .route("/reports/sla", get(sla))
        .route("/reports/agents", get(agents))
        .route("/reports/processes", get(processes))
}

/// Report parameters are query text: a value that does not fit is the
/// client's mistake, so it is a 400 that names the parameter.
fn bad_parameters(error: DeskError) -> ApiError {
    match error {
        DeskError::Invalid(fields) => ApiError::BadRequest(
            fields
                .iter()
                .map(|f| format!("`{}`: {}", f.field, f.message))
                .collect::<Vec<_>>()
                .join("; "),
        ),
        other => ApiError::Desk(other),
    }
}

async fn run(
    state: &AppState,
    actor: &Actor,
    kind: ReportKind,
    query: Result<Query<ReportQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let format = parse_format(query.format.as_deref()).map_err(ApiError::BadRequest)?;
    let (request, report) = state
        .desk
        .report(actor, kind, &query)
        .await
        .map_err(bad_parameters)?;
    respond_with(kind, format, &request, report).await
}

/// The report in the format asked for.
pub async fn respond_with(
    kind: ReportKind,
    format: Format,
    request: &ReportRequest,
    report: Report,
) -> Result<Response, ApiError> {
    match format {
        Format::Json => Ok(Json(report).into_response()),
        Format::Csv => {
            let doc = document::document(request, &report);
            let table = document::main_table(&doc)
                .cloned()
                .ok_or_else(|| DeskError::Internal(anyhow::anyhow!("{kind} has no table")))?;
            let mut response = Response::new(Body::from_stream(csv_stream(table)));
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            );
            if let Ok(value) = HeaderValue::from_str(&format!(
                "attachment; filename=\"{}\"",
                document::file_name(kind, request, "csv")
            )) {
                headers.insert(header::CONTENT_DISPOSITION, value);
            }
            Ok(response)
        }
        Format::Xlsx | Format::Pdf | Format::Png | Format::Svg => {
            let file = document::export_file(kind, format, request, &report).await?;
            let mut response = Response::new(Body::from(file.bytes));
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(file.content_type),
            );
            if let Ok(value) =
                HeaderValue::from_str(&format!("attachment; filename=\"{}\"", file.name))
            {
                headers.insert(header::CONTENT_DISPOSITION, value);
            }
            Ok(response)
        }
    }
}

/// The CSV of a table as a body stream, each chunk encoded only when the
/// body asks for it.
fn csv_stream(table: Table) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> {
    futures::stream::iter(
        document::csv_chunks(table).map(|c| c.map(Bytes::from).map_err(std::io::Error::other)),
    )
}

#[utoipa::path(get, path = "/api/v1/reports/dashboard", tag = "reports", params(ReportQuery),
    responses((status = 200, body = DashboardReport, description = "JSON; text/csv, XLSX or PDF with format=csv|xlsx|pdf; the chart with format=png|svg"),
        (status = 400, body = Problem, description = "A parameter out of range, named"),
        (status = 403, body = Problem)),
    security(("bearer" = [])))]
pub async fn dashboard(
    State(state): State<AppState>,
    Auth(actor): Auth,
    query: Result<Query<ReportQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    run(&state, &actor, ReportKind::Dashboard, query).await
}

#[utoipa::path(get, path = "/api/v1/reports/volume", tag = "reports", params(ReportQuery),
    responses((status = 200, body = VolumeReport, description = "JSON; text/csv, XLSX or PDF with format=csv|xlsx|pdf; the chart with format=png|svg"),
        (status = 400, body = Problem, description = "A parameter out of range, named"),
        (status = 403, body = Problem)),
    security(("bearer" = [])))]
pub async fn volume(
    State(state): State<AppState>,
    Auth(actor): Auth,
    query: Result<Query<ReportQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    run(&state, &actor, ReportKind::Volume, query).await
}

#[utoipa::path(get, path = "/api/v1/reports/sla", tag = "reports", params(ReportQuery),
    responses((status = 200, body = SlaReport, description = "JSON; text/csv, XLSX or PDF with format=csv|xlsx|pdf; the chart with format=png|svg"),
        (status = 400, body = Problem, description = "A parameter out of range, named"),
        (status = 403, body = Problem)),
    security(("bearer" = [])))]
pub async fn sla(
    State(state): State<AppState>,
    Auth(actor): Auth,
    query: Result<Query<ReportQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    run(&state, &actor, ReportKind::Sla, query).await
}

#[utoipa::path(get, path = "/api/v1/reports/agents", tag = "reports", params(ReportQuery),
    responses((status = 200, body = AgentsReport, description = "JSON; text/csv, XLSX or PDF with format=csv|xlsx|pdf; the chart with format=png|svg"),
        (status = 400, body = Problem, description = "A parameter out of range, named"),
        (status = 403, body = Problem)),
    security(("bearer" = [])))]
pub async fn agents(
    State(state): State<AppState>,
    Auth(actor): Auth,
    query: Result<Query<ReportQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    run(&state, &actor, ReportKind::Agents, query).await
}

#[utoipa::path(get, path = "/api/v1/reports/processes", tag = "reports", params(ReportQuery),
    responses((status = 200, body = ProcessesReport, description = "JSON; text/csv, XLSX or PDF with format=csv|xlsx|pdf; the chart with format=png|svg"),
        (status = 400, body = Problem, description = "A parameter out of range, named"),
        (status = 403, body = Problem)),
    security(("bearer" = [])))]
pub async fn processes(
    State(state): State<AppState>,
    Auth(actor): Auth,
    query: Result<Query<ReportQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    run(&state, &actor, ReportKind::Processes, query).await
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;
    use crate::export::model::{Cell, Column, ColumnKind};

    #[tokio::test]
    async fn csv_streams_a_header_and_every_row_in_chunks() {
        let table = Table {
            title: "t".into(),
            columns: vec![
                Column {
                    name: "bucket".into(),
                    label: "Bucket".into(),
                    kind: ColumnKind::Text,
                },
                Column {
                    name: "created".into(),
                    label: "Created".into(),
                    kind: ColumnKind::Count,
                },
            ],
            rows: (0..2_500)
                .map(|i| vec![Cell::Text(format!("b,{i}")), Cell::Count(i)])
                .collect(),
        };
        let chunks: Vec<Bytes> = csv_stream(table).map(|c| c.expect("chunk")).collect().await;
        assert_eq!(chunks.len(), 3);
        let body: Vec<u8> = chunks.concat();
        let mut reader = csv::Reader::from_reader(body.as_slice());
        let headers = reader.headers().expect("headers").clone();
        assert_eq!(headers.iter().collect::<Vec<_>>(), ["bucket", "created"]);
        let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
        assert_eq!(rows.len(), 2_500);
        assert_eq!(&rows[7][0], "b,7");
        assert_eq!(&rows[2_499][1], "2499");
    }
}
