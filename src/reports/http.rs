//! `GET /api/reports` (staff): JSON, or CSV with `format=csv`.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use super::service;
use super::types::{
    AgentFigures, BucketFigures, Format, LabelFigures, Report, ReportQuery, ReportRange,
};
use crate::auth::http::QueryParams;
use crate::auth::Staff;
use crate::error::AppResult;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/reports", get(report))
}

/// The desk's figures over `[from, to)`, per bucket, in total, per agent and per label
/// (staff).
#[utoipa::path(get, path = "/api/reports", tag = "reports", params(
    ("from" = Option<String>, Query, description = "start (inclusive): RFC 3339 instant, or a date (local midnight in `tz`); default 7 local days before `to`"),
    ("to" = Option<String>, Query, description = "end (exclusive): RFC 3339 instant, or a date (local midnight in `tz`); default the end of today in `tz`"),
    ("bucket" = Option<String>, Query, description = "`hour`, `day` (default) or `week` (from local Monday 00:00); at most 1000 buckets"),
    ("tz" = Option<String>, Query, description = "IANA time zone (default `UTC`), e.g. `Europe/Paris`"),
    ("format" = Option<String>, Query, description = "`json` (default) or `csv` (a `text/csv` attachment)"),
), security(("bearer" = [])), responses((status = 200, description = "the report (or its CSV)", body = Report), (status = 400, description = "`invalid_payload`: bad or reversed dates, unknown time zone or bucket, too many buckets"), (status = 401, description = "no staff token"), (status = 403, description = "not staff")))]
pub(crate) async fn report(
    State(state): State<AppState>,
    Staff(_me): Staff,
    QueryParams(q): QueryParams<ReportQuery>,
) -> AppResult<Response> {
    let range = ReportRange::parse(&q, chrono::Utc::now())?;
    let report = build(&state, &range).await?;
    Ok(match range.format {
        Format::Json => Json(report).into_response(),
        Format::Csv => {
            let name = format!(
                "attachment; filename=\"chatdesk-report-{}-{}.csv\"",
                range.from.with_timezone(&range.tz).format("%Y%m%d"),
                range.size.as_str()
            );
            (
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                    (header::CONTENT_DISPOSITION, name),
                ],
                report.to_csv(),
            )
                .into_response()
        }
    })
}

/// Computes the figures and names their agents and labels.
async fn build(state: &AppState, range: &ReportRange) -> AppResult<Report> {
    let computed = service::compute(&state.db, &range.buckets).await?;
    let agent_ids: Vec<String> = computed.agents.keys().cloned().collect();
    let names = service::account_names(&state.db, &agent_ids).await?;
    let label_ids: Vec<String> = computed.labels.keys().cloned().collect();
    let labels = service::labels(&state.db, &label_ids).await?;

    let buckets = range
        .buckets
        .iter()
        .zip(computed.buckets)
        .map(|((start, end), figures)| BucketFigures {
            start: range.local(*start),
            end: range.local(*end),
            figures,
        })
        .collect();
    let mut agents: Vec<AgentFigures> = computed
        .agents
        .into_iter()
        .map(|(agent_id, figures)| AgentFigures {
            name: names.get(&agent_id).cloned(),
            agent_id,
            figures,
        })
        .collect();
    agents.sort_by(|a, b| {
        let key = |x: &AgentFigures| (x.name.as_deref().map(str::to_lowercase), x.agent_id.clone());
        key(a).cmp(&key(b))
    });
    // A label deleted meanwhile has no name to show; it is left out.
    let mut labels: Vec<LabelFigures> = computed
        .labels
        .into_iter()
        .filter_map(|(label_id, figures)| {
            let l = labels.get(&label_id)?;
            Some(LabelFigures {
                name: l.name.clone(),
                color: l.color.clone(),
                label_id,
                figures,
            })
        })
        .collect();
    labels.sort_by_key(|l| l.name.to_lowercase());
    Ok(Report {
        from: range.local(range.from),
        to: range.local(range.to),
        tz: range.tz.name().to_string(),
        bucket: range.size,
        buckets,
        total: computed.total,
        agents,
        labels,
    })
}
