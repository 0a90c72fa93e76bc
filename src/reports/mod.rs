//! Reports for the desk's leads: `GET /api/reports?from=&to=&bucket=hour|day|week&tz=`
//! (staff; `&format=csv` for a spreadsheet). How many conversations started, how fast a human
//! first answered and how long resolutions took (median, 90th percentile), messages per side,
//! satisfaction ratings; per bucket, for the whole range, per agent and per label.
//!
//! The buckets are cut in the report's time zone here (`types`: chrono-tz, so a DST day is 23
//! or 25 hours and weeks start on local Monday); the figures are computed by the database, one
//! query per figure over those buckets (`service`). The console draws them at
//! `/console/reports`. Definitions: README, "Reports".

pub mod http;
pub mod service;
pub mod types;
