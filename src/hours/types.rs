//! Wire types of business hours: `{enabled, timezone, days: {mon: [["09:00", "17:00"]], ...}}`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Day names, Monday first (as `days` keys).
pub const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// The business hours as admins set them (`PUT`) and read them (`GET`). A day left out is
/// closed all day; `"24:00"` closes at midnight.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BusinessHours {
    pub enabled: bool,
    /// An IANA time zone, e.g. `Europe/Paris`.
    pub timezone: String,
    /// Opening intervals per day (`mon`..`sun`), each `["HH:MM", "HH:MM"]`.
    #[serde(default)]
    pub days: BTreeMap<String, Vec<[String; 2]>>,
}

impl Default for BusinessHours {
    /// Off, in UTC, with no interval.
    fn default() -> Self {
        BusinessHours {
            enabled: false,
            timezone: "UTC".into(),
            days: BTreeMap::new(),
        }
    }
}

/// `GET /api/settings/business-hours`: the settings, and what they mean now.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BusinessHoursView {
    #[serde(flatten)]
    pub hours: BusinessHours,
    /// Whether the schedule is open now (true when business hours are off).
    pub open_now: bool,
    /// The next opening (RFC 3339 with the zone's offset) when closed now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_opening: Option<String>,
}
