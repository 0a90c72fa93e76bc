//! Reports on the wire: the query (`from`, `to`, `bucket`, `tz`, `format`), the buckets it
//! names (computed here, in the desk's time zone, with chrono-tz), the figures, and their CSV.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::error::{AppError, AppResult};

/// The most buckets one report may hold (31 days of hours is 744; two years of days, 731).
pub const MAX_BUCKETS: usize = 1000;

/// `GET /api/reports` query parameters (all optional; see [`ReportRange::parse`]).
#[derive(Debug, Default, Deserialize)]
pub struct ReportQuery {
    pub from: Option<String>,
    pub to: Option<String>,
    pub bucket: Option<String>,
    pub tz: Option<String>,
    pub format: Option<String>,
}

/// A bucket's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum BucketSize {
    Hour,
    Day,
    Week,
}

impl BucketSize {
    pub fn parse(raw: &str) -> AppResult<Self> {
        match raw {
            "hour" => Ok(BucketSize::Hour),
            "day" => Ok(BucketSize::Day),
            "week" => Ok(BucketSize::Week),
            _ => Err(AppError::InvalidPayload(
                "bucket must be hour, day or week".into(),
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            BucketSize::Hour => "hour",
            BucketSize::Day => "day",
            BucketSize::Week => "week",
        }
    }
}

/// What a report answers in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv,
}

/// A checked report request: the instants `[from, to)`, the time zone and the buckets, each
/// `[start, end)`, contiguous, the first starting at `from` and the last ending at `to`.
#[derive(Debug, Clone)]
pub struct ReportRange {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub tz: Tz,
    pub size: BucketSize,
    pub buckets: Vec<(DateTime<Utc>, DateTime<Utc>)>,
    pub format: Format,
}

impl ReportRange {
    /// Checks the query. `tz`: an IANA name (default `UTC`). `from`/`to`: RFC 3339 instants
    /// or plain dates (`2026-03-29`: that day's local midnight in `tz`); default the last 7
    /// local days, today included. `bucket`: `hour`, `day` (default) or `week` (local
    /// Monday 00:00). `to` is exclusive.
    pub fn parse(q: &ReportQuery, now: DateTime<Utc>) -> AppResult<Self> {
        let tz: Tz = match q.tz.as_deref().map(str::trim) {
            None | Some("") => Tz::UTC,
            Some(name) => name.parse().map_err(|_| {
                AppError::InvalidPayload(format!(
                    "tz {name:?} is not a known IANA time zone (e.g. Europe/Paris)"
                ))
            })?,
        };
        let size = BucketSize::parse(q.bucket.as_deref().unwrap_or("day"))?;
        let format = match q.format.as_deref().unwrap_or("json") {
            "json" => Format::Json,
            "csv" => Format::Csv,
            _ => {
                return Err(AppError::InvalidPayload(
                    "format must be json or csv".into(),
                ))
            }
        };
        let today = now.with_timezone(&tz).date_naive();
        let to = match q.to.as_deref() {
            Some(raw) => instant(raw, tz, "to")?,
            None => local_midnight(today + Duration::days(1), tz),
        };
        let from = match q.from.as_deref() {
            Some(raw) => instant(raw, tz, "from")?,
            None => local_midnight(to.with_timezone(&tz).date_naive() - Duration::days(7), tz),
        };
        if from >= to {
            return Err(AppError::InvalidPayload("from must be before to".into()));
        }
        let buckets = buckets(from, to, tz, size)?;
        Ok(ReportRange {
            from,
            to,
            tz,
            size,
            buckets,
            format,
        })
    }

    /// An instant as the report shows it: RFC 3339 with the time zone's offset at that
    /// instant (`2026-03-29T00:00:00+01:00`).
    pub fn local(&self, t: DateTime<Utc>) -> String {
        t.with_timezone(&self.tz)
            .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false)
    }
}

/// `raw` as an instant: RFC 3339, or a plain date's local midnight in `tz`.
fn instant(raw: &str, tz: Tz, name: &str) -> AppResult<DateTime<Utc>> {
    let raw = raw.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        return Ok(local_midnight(d, tz));
    }
    Err(AppError::InvalidPayload(format!(
        "{name} must be an RFC 3339 instant (2026-03-29T08:00:00Z) or a date (2026-03-29)"
    )))
}

/// The first instant of local day `d` in `tz`: its midnight, or, where midnight does not
/// exist (a DST gap at midnight), the first local time after the gap. When midnight happens
/// twice, the first.
pub fn local_midnight(d: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let midnight = d.and_hms_opt(0, 0, 0).unwrap_or(NaiveDateTime::MIN);
    // Gaps last at most a few hours; look in 15-minute steps (every offset is a multiple).
    for step in 0..=16 {
        let local = midnight + Duration::minutes(15 * step);
        if let Some(t) = tz.from_local_datetime(&local).earliest() {
            return t.with_timezone(&Utc);
        }
    }
    // No zone has a gap that long: read midnight at the zone's standard offset from UTC.
    Utc.from_utc_datetime(&midnight)
}

/// The next bucket edge strictly after `t`.
fn next_edge(t: DateTime<Utc>, tz: Tz, size: BucketSize) -> DateTime<Utc> {
    match size {
        BucketSize::Hour => {
            // The next instant whose local time is on the hour. Offsets are multiples of 15
            // minutes, so it is one of the next UTC quarter-hours (an hour's worth of them,
            // plus as many as an offset change can skip).
            let quarter = t
                .with_second(0)
                .and_then(|x| x.with_nanosecond(0))
                .and_then(|x| x.with_minute(x.minute() / 15 * 15))
                .unwrap_or(t);
            let mut c = quarter + Duration::minutes(15);
            for _ in 0..16 {
                if c.with_timezone(&tz).minute() == 0 {
                    return c;
                }
                c += Duration::minutes(15);
            }
            t + Duration::hours(1)
        }
        BucketSize::Day => {
            let d = t.with_timezone(&tz).date_naive();
            local_midnight(d + Duration::days(1), tz)
        }
        BucketSize::Week => {
            let d = t.with_timezone(&tz).date_naive();
            let to_monday = 7 - i64::from(d.weekday().num_days_from_monday());
            local_midnight(d + Duration::days(to_monday), tz)
        }
    }
}

/// The buckets of `[from, to)`: cut at every local hour, midnight or Monday midnight in
/// between. At most [`MAX_BUCKETS`].
pub fn buckets(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    tz: Tz,
    size: BucketSize,
) -> AppResult<Vec<(DateTime<Utc>, DateTime<Utc>)>> {
    let mut out = Vec::new();
    let mut start = from;
    while start < to {
        if out.len() == MAX_BUCKETS {
            return Err(AppError::InvalidPayload(format!(
                "the range holds more than {MAX_BUCKETS} {}s: shorten it or use a larger bucket",
                size.as_str()
            )));
        }
        let edge = next_edge(start, tz, size);
        // An edge never goes backwards; guard anyway, so that the loop always ends.
        let end = if edge > start { edge.min(to) } else { to };
        out.push((start, end));
        start = end;
    }
    Ok(out)
}

/// A median, a 90th percentile and an average, in seconds, over `count` durations (`null`
/// when there are none).
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Durations {
    pub count: i64,
    pub median: Option<f64>,
    pub p90: Option<f64>,
    pub average: Option<f64>,
}

/// Messages by who wrote them. `notes` are private notes (staff only), counted apart from
/// `agent`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageCounts {
    pub visitor: i64,
    pub agent: i64,
    pub assistant: i64,
    pub notes: i64,
}

/// Satisfaction ratings (1-5): how many, and their average.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Csat {
    pub count: i64,
    pub average: Option<f64>,
}

/// Every figure of one bucket, of the whole range, of one agent or one label.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Figures {
    /// Sessions started (created).
    pub conversations: i64,
    /// From the visitor's first message to the first human reply after it.
    pub first_response: Durations,
    /// From a session's start to its resolution (sessions resolved now).
    pub resolution: Durations,
    pub messages: MessageCounts,
    pub csat: Csat,
}

/// One bucket: `[start, end)` in the report's time zone.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BucketFigures {
    pub start: String,
    pub end: String,
    #[serde(flatten)]
    pub figures: Figures,
}

/// One agent's figures over the range.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentFigures {
    pub agent_id: String,
    /// The account's name (`null` for a deleted account).
    pub name: Option<String>,
    #[serde(flatten)]
    pub figures: Figures,
}

/// One label's figures over the range.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LabelFigures {
    pub label_id: String,
    pub name: String,
    pub color: String,
    #[serde(flatten)]
    pub figures: Figures,
}

/// `GET /api/reports`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// `[from, to)` in the report's time zone.
    pub from: String,
    pub to: String,
    pub tz: String,
    pub bucket: BucketSize,
    pub buckets: Vec<BucketFigures>,
    pub total: Figures,
    /// Agents with any figure in the range, by name.
    pub agents: Vec<AgentFigures>,
    /// Labels with any figure in the range, by name.
    pub labels: Vec<LabelFigures>,
}

/// The CSV columns, after `section,key,name,start,end`.
const CSV_FIGURES: &str = "conversations,first_response_count,first_response_median_s,\
first_response_p90_s,first_response_avg_s,resolved,resolution_median_s,resolution_p90_s,\
resolution_avg_s,messages_visitor,messages_agent,messages_assistant,notes,csat_count,csat_avg";

impl Report {
    /// The report as CSV (RFC 4180, `\r\n`): one row per bucket (`section` `bucket`), then
    /// the whole range (`total`), each agent (`agent`, `key` the account id) and each label
    /// (`label`, `key` the label id). Durations in seconds; empty when there is none.
    pub fn to_csv(&self) -> String {
        let mut out = format!("section,key,name,start,end,{CSV_FIGURES}\r\n");
        for b in &self.buckets {
            row(&mut out, "bucket", "", "", &b.start, &b.end, &b.figures);
        }
        row(&mut out, "total", "", "", &self.from, &self.to, &self.total);
        for a in &self.agents {
            let name = a.name.as_deref().unwrap_or("");
            row(
                &mut out,
                "agent",
                &a.agent_id,
                name,
                &self.from,
                &self.to,
                &a.figures,
            );
        }
        for l in &self.labels {
            row(
                &mut out,
                "label",
                &l.label_id,
                &l.name,
                &self.from,
                &self.to,
                &l.figures,
            );
        }
        out
    }
}

fn row(
    out: &mut String,
    section: &str,
    key: &str,
    name: &str,
    start: &str,
    end: &str,
    f: &Figures,
) {
    let num = |v: Option<f64>| {
        v.map(|x| format!("{}", (x * 1000.0).round() / 1000.0))
            .unwrap_or_default()
    };
    let cells = [
        section.to_string(),
        csv_cell(key),
        csv_cell(name),
        start.to_string(),
        end.to_string(),
        f.conversations.to_string(),
        f.first_response.count.to_string(),
        num(f.first_response.median),
        num(f.first_response.p90),
        num(f.first_response.average),
        f.resolution.count.to_string(),
        num(f.resolution.median),
        num(f.resolution.p90),
        num(f.resolution.average),
        f.messages.visitor.to_string(),
        f.messages.agent.to_string(),
        f.messages.assistant.to_string(),
        f.messages.notes.to_string(),
        f.csat.count.to_string(),
        num(f.csat.average),
    ];
    out.push_str(&cells.join(","));
    out.push_str("\r\n");
}

/// A text cell: quoted when it holds a comma, quote or line break; a leading `=`, `+`, `-`,
/// `@`, tab or carriage return (a spreadsheet would run it as a formula) gets a `'` first.
pub fn csv_cell(raw: &str) -> String {
    let mut s = String::with_capacity(raw.len() + 2);
    if raw.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        s.push('\'');
    }
    s.push_str(raw);
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(from: &str, to: &str, bucket: &str, tz: &str) -> ReportQuery {
        ReportQuery {
            from: Some(from.into()),
            to: Some(to.into()),
            bucket: Some(bucket.into()),
            tz: Some(tz.into()),
            format: None,
        }
    }

    fn range(from: &str, to: &str, bucket: &str, tz: &str) -> AppResult<ReportRange> {
        ReportRange::parse(&q(from, to, bucket, tz), Utc::now())
    }

    fn edges(r: &ReportRange) -> Vec<String> {
        r.buckets.iter().map(|(s, _)| r.local(*s)).collect()
    }

    #[test]
    fn a_dst_spring_day_in_paris_lasts_23_hours() {
        let r = range("2026-03-28", "2026-03-31", "day", "Europe/Paris").expect("range");
        assert_eq!(
            edges(&r),
            [
                "2026-03-28T00:00:00+01:00",
                "2026-03-29T00:00:00+01:00",
                "2026-03-30T00:00:00+02:00"
            ]
        );
        let (s, e) = r.buckets[1];
        assert_eq!((e - s).num_hours(), 23);
        let (s, e) = r.buckets[0];
        assert_eq!((e - s).num_hours(), 24);
    }

    #[test]
    fn an_autumn_day_lasts_25_hours_and_its_hours_are_25_buckets() {
        let r = range("2026-10-25", "2026-10-26", "hour", "Europe/Paris").expect("range");
        assert_eq!(r.buckets.len(), 25);
        let r = range("2026-10-25", "2026-10-26", "day", "Europe/Paris").expect("range");
        let (s, e) = r.buckets[0];
        assert_eq!((e - s).num_hours(), 25);
    }

    #[test]
    fn hours_in_kolkata_start_at_half_past_utc() {
        let r = range(
            "2026-01-01T00:00:00Z",
            "2026-01-01T03:00:00Z",
            "hour",
            "Asia/Kolkata",
        )
        .expect("range");
        let utc: Vec<String> = r.buckets.iter().map(|(s, _)| s.to_rfc3339()).collect();
        assert_eq!(
            utc,
            [
                "2026-01-01T00:00:00+00:00",
                "2026-01-01T00:30:00+00:00",
                "2026-01-01T01:30:00+00:00",
                "2026-01-01T02:30:00+00:00"
            ]
        );
    }

    #[test]
    fn weeks_start_on_local_monday() {
        // 2026-03-04 is a Wednesday.
        let r = range("2026-03-04", "2026-03-20", "week", "America/New_York").expect("range");
        assert_eq!(
            edges(&r),
            [
                "2026-03-04T00:00:00-05:00",
                "2026-03-09T00:00:00-04:00",
                "2026-03-16T00:00:00-04:00"
            ]
        );
    }

    #[test]
    fn bad_parameters_are_refused() {
        assert!(range("2026-03-02", "2026-03-01", "day", "UTC").is_err());
        assert!(range("2026-03-01", "2026-03-01", "day", "UTC").is_err());
        assert!(range("2026-03-01", "2026-03-02", "month", "UTC").is_err());
        assert!(range("2026-03-01", "2026-03-02", "day", "Mars/Olympus").is_err());
        assert!(range("yesterday", "2026-03-02", "day", "UTC").is_err());
        assert!(range("2020-01-01", "2026-01-01", "hour", "UTC").is_err());
        assert!(range("2026-01-01", "2026-02-11", "hour", "UTC").is_ok());
    }

    #[test]
    fn csv_cells_are_quoted_and_defused() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("=SUM(A1)"), "'=SUM(A1)");
    }
}
