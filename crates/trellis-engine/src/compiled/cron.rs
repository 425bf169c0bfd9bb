//! Cron schedules of rules: when one fires next, and the check of every schedule and time zone
//! of an app's cron rules when its definition is compiled.

use chrono::{DateTime, Utc};
use trellis_core::automation::Trigger;
use trellis_core::error::FieldCode;
use trellis_core::{AppDef, FieldError};

/// The next time a schedule fires after `after`, in its time zone (UTC by default). Five fields
/// (minute precision) or six (with seconds).
pub fn next_fire(schedule: &str, timezone: Option<&str>, after: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let cron = croner::Cron::new(schedule)
        .with_seconds_optional()
        .parse()
        .map_err(|e| format!("'{schedule}' is not a cron schedule: {e}"))?;
    let tz: chrono_tz::Tz = match timezone {
        None => chrono_tz::UTC,
        Some(t) => t.parse().map_err(|_| format!("'{t}' is not a time zone"))?,
    };
    cron.find_next_occurrence(&after.with_timezone(&tz), false)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("'{schedule}' never fires: {e}"))
}

/// Checks the schedules and time zones of an app's cron rules.
pub fn check_schedules(def: &AppDef) -> Vec<FieldError> {
    let now = Utc::now();
    def.rules
        .iter()
        .enumerate()
        .filter_map(|(i, r)| match &r.trigger {
            Trigger::Cron { schedule, timezone } => next_fire(schedule, timezone.as_deref(), now)
                .err()
                .map(|m| FieldError::new(format!("rules[{i}].trigger.schedule"), FieldCode::InvalidSchedule, m)),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cron_schedules_fire_in_their_time_zone() {
        let after = DateTime::parse_from_rfc3339("2026-11-27T00:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        // Every Monday 09:00 in Shanghai is Monday 01:00 UTC; 2026-11-30 is a Monday.
        let next = next_fire("0 9 * * MON", Some("Asia/Shanghai"), after).unwrap();
        assert_eq!(next.to_rfc3339(), "2026-11-30T01:00:00+00:00");
        let next = next_fire("*/5 * * * * *", None, after).unwrap();
        assert_eq!(next.to_rfc3339(), "2026-11-27T00:30:05+00:00");
        assert!(next_fire("nope", None, after).is_err());
        assert!(next_fire("0 9 * * *", Some("Mars/Base"), after).is_err());
    }
}
