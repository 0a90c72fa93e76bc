//! Satisfaction ratings (CSAT): when a session is resolved the visitor is asked
//! (`rating_request {sessionId}`) for a rating of 1 to 5 and an optional comment
//! (`rate_session`), stored once per resolution in `session_ratings` (the table's unique
//! `(session_pk, resolved_at)` keeps it once even when two nodes store at the same moment).
//! A session reopened and resolved again may be rated again.
//!
//! Here: the ratings' storage (`service`), their wire types (`types`) and the staff listing
//! `GET /api/ratings` (`http`). The desk asks and announces (`desk::csat`); every protocol
//! rates through the conversation core (`conversation::rate`).

pub mod http;
pub mod service;
pub mod types;
