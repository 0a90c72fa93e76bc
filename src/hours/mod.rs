//! Business hours (optional, off by default): a weekly schedule in an IANA time zone, set by
//! admins (`GET/PUT /api/settings/business-hours`). Outside the schedule the desk is offline
//! for visitors (`availability {online: false, reason: "outside_hours", nextOpening}`, see
//! `desk::availability`), whoever is online.
//!
//! The schedule is read on the wall clock of its zone (chrono-tz), so it follows the zone's
//! daylight-saving changes: "09:00" is 09:00 local time in winter and in summer. An opening
//! that falls in a spring-forward gap opens at the first local time that exists after it; one
//! that falls in an autumn repeat opens at the earlier of the two instants.
//!
//! Each node keeps the schedule it read for [`CACHE_TTL`]; a change made on this node applies
//! at once, on the other nodes within that time.

pub mod http;
pub mod service;
pub mod types;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{
    DateTime, Datelike, Days, FixedOffset, LocalResult, NaiveDate, TimeZone, Timelike, Utc,
};
use chrono_tz::Tz;
use sea_orm::DatabaseConnection;

use crate::error::{AppError, AppResult};
pub use types::{BusinessHours, DAY_NAMES};

/// How long a node trusts the schedule it read (another node's change reaches it within this).
pub const CACHE_TTL: Duration = Duration::from_secs(5);

/// Minutes in a day: "24:00", the end of an interval that runs to midnight.
const DAY_MINUTES: u16 = 24 * 60;

/// A checked weekly schedule: for each day (Monday first), its opening intervals in minutes
/// after local midnight, sorted and not overlapping.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub tz: Tz,
    pub days: [Vec<(u16, u16)>; 7],
}

impl Schedule {
    /// Checks what an admin sent: a known IANA zone, day names `mon`..`sun`, each interval
    /// `["HH:MM", "HH:MM"]` with its start before its end (end may be `24:00`), no overlap.
    pub fn parse(hours: &BusinessHours) -> AppResult<Schedule> {
        let tz: Tz = hours.timezone.parse().map_err(|_| {
            AppError::InvalidPayload(format!(
                "timezone: {:?} is not an IANA time zone (e.g. Europe/Paris)",
                hours.timezone
            ))
        })?;
        let mut days: [Vec<(u16, u16)>; 7] = Default::default();
        for (name, intervals) in &hours.days {
            let Some(i) = DAY_NAMES.iter().position(|d| d == name) else {
                return Err(AppError::InvalidPayload(format!(
                    "days: {name:?} is not a day (mon, tue, wed, thu, fri, sat, sun)"
                )));
            };
            if intervals.len() > 12 {
                return Err(AppError::InvalidPayload(format!(
                    "days.{name}: at most 12 intervals a day"
                )));
            }
            let mut list = Vec::with_capacity(intervals.len());
            for (k, [from, to]) in intervals.iter().enumerate() {
                let at = |what: &str| format!("days.{name}[{k}]: {what}");
                let start = minutes(from).ok_or_else(|| {
                    AppError::InvalidPayload(at(&format!("{from:?} is not a time HH:MM")))
                })?;
                let end = minutes(to).ok_or_else(|| {
                    AppError::InvalidPayload(at(&format!("{to:?} is not a time HH:MM")))
                })?;
                if start >= DAY_MINUTES || start >= end {
                    return Err(AppError::InvalidPayload(at(&format!(
                        "the opening {from} must be before the closing {to}"
                    ))));
                }
                list.push((start, end));
            }
            list.sort_unstable();
            if list.windows(2).any(|w| w[0].1 > w[1].0) {
                return Err(AppError::InvalidPayload(format!(
                    "days.{name}: intervals overlap"
                )));
            }
            days[i] = list;
        }
        Ok(Schedule { tz, days })
    }

    /// Whether the desk is open at `now`.
    pub fn is_open(&self, now: DateTime<Utc>) -> bool {
        let local = now.with_timezone(&self.tz);
        let day = local.weekday().num_days_from_monday() as usize;
        let m = (local.hour() * 60 + local.minute()) as u16;
        self.days[day].iter().any(|&(s, e)| s <= m && m < e)
    }

    /// The first opening strictly after `now`, with the zone's offset at that instant; `None`
    /// when the schedule never opens.
    pub fn next_opening(&self, now: DateTime<Utc>) -> Option<DateTime<FixedOffset>> {
        let today = now.with_timezone(&self.tz).date_naive();
        // Today and two weeks after it: the same weekday comes back a week later (an opening
        // earlier today than now), and once more when its opening fell in a DST gap.
        for k in 0..=14u64 {
            let date = today.checked_add_days(Days::new(k))?;
            let day = date.weekday().num_days_from_monday() as usize;
            for &(start, end) in &self.days[day] {
                let Some(at) = self.instant(date, start, end) else {
                    continue;
                };
                if at > now {
                    return Some(at.with_timezone(&self.tz).fixed_offset());
                }
            }
        }
        None
    }

    /// The instant a local opening at `start` minutes on `date` happens: the earlier one when
    /// the wall clock repeats that time, the first existing minute after it when the clock
    /// skips it (but never at or after the interval's `end`: then it does not open that day).
    fn instant(&self, date: NaiveDate, start: u16, end: u16) -> Option<DateTime<Utc>> {
        for m in start..end.min(DAY_MINUTES) {
            let naive = date.and_hms_opt(u32::from(m / 60), u32::from(m % 60), 0)?;
            match self.tz.from_local_datetime(&naive) {
                LocalResult::Single(t) => return Some(t.with_timezone(&Utc)),
                LocalResult::Ambiguous(first, _) => return Some(first.with_timezone(&Utc)),
                LocalResult::None => continue, // in the spring-forward gap
            }
        }
        None
    }
}

/// `"HH:MM"` (00:00 to 24:00) as minutes after midnight.
fn minutes(s: &str) -> Option<u16> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    if m >= 60 || h > 24 || (h == 24 && m != 0) {
        return None;
    }
    Some(h * 60 + m)
}

/// `minutes` back to `"HH:MM"`.
pub fn hhmm(m: u16) -> String {
    format!("{:02}:{:02}", m / 60, m % 60)
}

/// This node's copy of the business hours: the enabled schedule, or none when they are off.
#[derive(Default)]
pub struct Hours {
    cached: Mutex<Option<(Instant, Option<Arc<Schedule>>)>>,
    /// Woken when an admin changed the hours on this node (the desk's availability watcher
    /// waits on it).
    pub changed: tokio::sync::Notify,
}

impl Hours {
    /// The schedule in force (`None`: business hours are off), read again after [`CACHE_TTL`].
    /// A database failure keeps the last schedule read (or none).
    pub async fn current(&self, db: &DatabaseConnection) -> Option<Arc<Schedule>> {
        let fresh = self.cached.lock().ok().and_then(|c| {
            c.as_ref()
                .filter(|(at, _)| at.elapsed() < CACHE_TTL)
                .map(|(_, s)| s.clone())
        });
        if let Some(s) = fresh {
            return s;
        }
        let read = match service::get(db).await {
            Ok(Some(h)) if h.enabled => match Schedule::parse(&h) {
                Ok(s) => Some(Arc::new(s)),
                Err(e) => {
                    tracing::warn!(error = %e, "stored business hours are not valid; ignored");
                    None
                }
            },
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(error = %e, "business hours not read; keeping the last ones");
                return self
                    .cached
                    .lock()
                    .ok()
                    .and_then(|c| c.as_ref().and_then(|(_, s)| s.clone()));
            }
        };
        self.set(read.clone());
        read
    }

    /// Replaces this node's copy (after an admin's change here).
    pub fn set(&self, schedule: Option<Arc<Schedule>>) {
        if let Ok(mut c) = self.cached.lock() {
            *c = Some((Instant::now(), schedule));
        }
    }

    /// An admin changed the hours here: this node uses them at once.
    pub fn replace(&self, schedule: Option<Arc<Schedule>>) {
        self.set(schedule);
        self.changed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn schedule(tz: &str, days: &[(&str, &[(&str, &str)])]) -> Schedule {
        let mut map = BTreeMap::new();
        for (d, list) in days {
            map.insert(
                d.to_string(),
                list.iter()
                    .map(|(a, b)| [a.to_string(), b.to_string()])
                    .collect(),
            );
        }
        Schedule::parse(&BusinessHours {
            enabled: true,
            timezone: tz.into(),
            days: map,
        })
        .expect("valid schedule")
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("instant")
            .with_timezone(&Utc)
    }

    fn next(s: &Schedule, now: &str) -> Option<String> {
        s.next_opening(at(now))
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, false))
    }

    const WEEKDAYS: [&str; 5] = ["mon", "tue", "wed", "thu", "fri"];

    fn office(tz: &str) -> Schedule {
        let days: Vec<(&str, &[(&str, &str)])> = WEEKDAYS
            .iter()
            .map(|d| (*d, &[("09:00", "17:00")][..]))
            .collect();
        schedule(tz, &days)
    }

    #[test]
    fn open_on_the_local_wall_clock_in_winter_and_in_summer() {
        let s = office("Europe/Paris");
        // Wednesday 2026-01-14 08:30 UTC is 09:30 in Paris (UTC+1): open.
        assert!(s.is_open(at("2026-01-14T08:30:00Z")));
        // 07:30 UTC is 08:30 in Paris: closed.
        assert!(!s.is_open(at("2026-01-14T07:30:00Z")));
        // Wednesday 2026-07-15 07:30 UTC is 09:30 in Paris (UTC+2): open in summer.
        assert!(s.is_open(at("2026-07-15T07:30:00Z")));
        // 15:30 UTC is 17:30 in Paris: closed (the end is exclusive).
        assert!(!s.is_open(at("2026-07-15T15:30:00Z")));
        assert!(!s.is_open(at("2026-07-15T15:00:00Z")));
        assert!(s.is_open(at("2026-07-15T14:59:00Z")));
    }

    #[test]
    fn next_opening_later_today_tomorrow_and_after_the_weekend() {
        let s = office("Europe/Paris");
        // Wednesday 07:00 local: today at 09:00.
        assert_eq!(
            next(&s, "2026-01-14T06:00:00Z").as_deref(),
            Some("2026-01-14T09:00:00+01:00")
        );
        // Wednesday 18:00 local: Thursday 09:00.
        assert_eq!(
            next(&s, "2026-01-14T17:00:00Z").as_deref(),
            Some("2026-01-15T09:00:00+01:00")
        );
        // Friday 18:00 local: Monday 09:00 (the week wraps past Saturday and Sunday).
        assert_eq!(
            next(&s, "2026-01-16T17:00:00Z").as_deref(),
            Some("2026-01-19T09:00:00+01:00")
        );
    }

    #[test]
    fn next_opening_wraps_to_the_same_weekday_a_week_later() {
        // Open Mondays only, 09:00-10:00 New York time.
        let s = schedule("America/New_York", &[("mon", &[("09:00", "10:00")])]);
        // Monday 2026-01-12 11:00 local (16:00 UTC): next Monday.
        assert_eq!(
            next(&s, "2026-01-12T16:00:00Z").as_deref(),
            Some("2026-01-19T09:00:00-05:00")
        );
    }

    #[test]
    fn next_opening_across_the_spring_and_autumn_changes() {
        let s = office("Europe/Paris");
        // Friday 2026-03-27 18:00 local (UTC+1); clocks go forward on Sunday 29 March:
        // Monday's 09:00 is in summer time, 07:00 UTC.
        assert_eq!(
            next(&s, "2026-03-27T17:00:00Z").as_deref(),
            Some("2026-03-30T09:00:00+02:00")
        );
        // Friday 2026-10-23 18:00 local (UTC+2); clocks go back on Sunday 25 October:
        // Monday's 09:00 is in winter time, 08:00 UTC.
        assert_eq!(
            next(&s, "2026-10-23T16:00:00Z").as_deref(),
            Some("2026-10-26T09:00:00+01:00")
        );
        // New York: Saturday 2026-03-07 (EST); DST starts Sunday 8 March.
        let ny = office("America/New_York");
        assert_eq!(
            next(&ny, "2026-03-07T15:00:00Z").as_deref(),
            Some("2026-03-09T09:00:00-04:00")
        );
    }

    #[test]
    fn an_opening_in_the_spring_forward_gap_opens_when_the_clock_gets_there() {
        // Sunday 2026-03-29 in Paris: 02:00 jumps to 03:00. An opening at 02:30 happens at
        // 03:00 local (01:00 UTC); an autumn opening at 02:30 (repeated) is the first one.
        let s = schedule("Europe/Paris", &[("sun", &[("02:30", "04:00")])]);
        assert_eq!(
            next(&s, "2026-03-28T12:00:00Z").as_deref(),
            Some("2026-03-29T03:00:00+02:00")
        );
        assert_eq!(
            next(&s, "2026-10-24T12:00:00Z").as_deref(),
            Some("2026-10-25T02:30:00+02:00")
        );
        // An interval entirely inside the gap never opens that day: the next week's does.
        let gap = schedule("Europe/Paris", &[("sun", &[("02:00", "02:30")])]);
        assert_eq!(
            next(&gap, "2026-03-28T12:00:00Z").as_deref(),
            Some("2026-04-05T02:00:00+02:00")
        );
    }

    #[test]
    fn a_schedule_closed_all_week_never_opens_and_an_open_one_always_is() {
        let closed = schedule("UTC", &[]);
        assert!(!closed.is_open(at("2026-01-14T12:00:00Z")));
        assert_eq!(next(&closed, "2026-01-14T12:00:00Z"), None);
        let days: Vec<(&str, &[(&str, &str)])> = DAY_NAMES
            .iter()
            .map(|d| (*d, &[("00:00", "24:00")][..]))
            .collect();
        let always = schedule("Asia/Tokyo", &days);
        for t in [
            "2026-01-14T00:00:00Z",
            "2026-06-30T23:59:00Z",
            "2026-03-29T01:30:00Z",
        ] {
            assert!(always.is_open(at(t)), "{t}");
        }
    }

    #[test]
    fn bad_schedules_are_refused_with_what_is_wrong() {
        let refused = |tz: &str, day: &str, from: &str, to: &str| {
            let mut days = BTreeMap::new();
            days.insert(day.to_string(), vec![[from.to_string(), to.to_string()]]);
            match Schedule::parse(&BusinessHours {
                enabled: true,
                timezone: tz.into(),
                days,
            }) {
                Err(AppError::InvalidPayload(m)) => m,
                other => panic!("expected a refusal, got {other:?}"),
            }
        };
        assert!(refused("Mars/Olympus", "mon", "09:00", "17:00").contains("timezone"));
        assert!(refused("UTC", "monday", "09:00", "17:00").contains("not a day"));
        assert!(refused("UTC", "mon", "9:00", "17:00").contains("HH:MM"));
        assert!(refused("UTC", "mon", "09:00", "24:30").contains("HH:MM"));
        assert!(refused("UTC", "mon", "17:00", "09:00").contains("before"));
        assert!(refused("UTC", "mon", "24:00", "24:00").contains("before"));
        let mut days = BTreeMap::new();
        days.insert(
            "tue".to_string(),
            vec![
                ["09:00".to_string(), "12:00".to_string()],
                ["11:00".to_string(), "13:00".to_string()],
            ],
        );
        let overlap = Schedule::parse(&BusinessHours {
            enabled: true,
            timezone: "UTC".into(),
            days,
        });
        assert!(matches!(overlap, Err(AppError::InvalidPayload(m)) if m.contains("overlap")));
    }
}
