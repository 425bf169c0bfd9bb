//! Time zones of reports: an IANA name checked once, and the spans of constant UTC offset a
//! zone had between 1900 and 2100, so a database without a time zone table (SQLite) can take a
//! stored UTC instant to the zone's wall clock by comparing it with a few boundaries.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use chrono::{DateTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;

use crate::Error;
use crate::error::FieldCode;

/// A checked IANA time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Zone(Tz);

/// The zone of a tenant that names none.
pub const DEFAULT_ZONE: &str = "UTC";

/// One span of a zone's history: from `start` (Unix seconds; the first span starts at the
/// beginning of time) the wall clock is `offset` seconds ahead of UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start: i64,
    pub offset: i32,
}

/// The first and last instants whose offsets are searched (1900 to 2100).
const FROM: i64 = -2_208_988_800;
const UNTIL: i64 = 4_102_444_800;
/// The probe step: no zone changes its offset twice within a week.
const STEP: i64 = 7 * 86_400;

impl Zone {
    /// The zone of an IANA name (`Asia/Shanghai`, `UTC`); `at` names the field of a refusal.
    pub fn parse(at: &str, name: &str) -> Result<Zone, Error> {
        name.parse::<Tz>().map(Zone).map_err(|_| {
            Error::bad_field(
                at,
                FieldCode::Format,
                format!(
                    "'{}' is not an IANA time zone such as Asia/Shanghai",
                    crate::names::truncate(name, 64)
                ),
            )
        })
    }

    /// The zone's IANA name; made of letters, digits, `/`, `_`, `+` and `-` only, so it may be
    /// written into SQL as a literal.
    pub fn name(&self) -> &'static str {
        self.0.name()
    }

    pub fn tz(&self) -> Tz {
        self.0
    }

    fn offset_at(&self, t: i64) -> i32 {
        let at = DateTime::<Utc>::from_timestamp(t, 0).unwrap_or_default().naive_utc();
        self.0.offset_from_utc_datetime(&at).fix().local_minus_utc()
    }

    /// The zone's spans of constant offset from 1900 to 2100, oldest first (computed once per
    /// zone and kept).
    pub fn spans(&self) -> Arc<Vec<Span>> {
        static CACHE: OnceLock<Mutex<HashMap<Tz, Arc<Vec<Span>>>>> = OnceLock::new();
        let cache = CACHE.get_or_init(Default::default);
        if let Some(s) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&self.0) {
            return s.clone();
        }
        let spans = Arc::new(self.search());
        cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(self.0, spans.clone());
        spans
    }

    fn search(&self) -> Vec<Span> {
        let mut spans = vec![Span {
            start: i64::MIN,
            offset: self.offset_at(FROM),
        }];
        let mut t = FROM;
        while t < UNTIL {
            let next = (t + STEP).min(UNTIL);
            let before = spans.last().map(|s| s.offset).unwrap_or(0);
            let after = self.offset_at(next);
            if after != before {
                // The first second of the new offset, between t (old) and next (new).
                let (mut lo, mut hi) = (t, next);
                while hi - lo > 1 {
                    let mid = lo + (hi - lo) / 2;
                    if self.offset_at(mid) == before {
                        lo = mid;
                    } else {
                        hi = mid;
                    }
                }
                spans.push(Span {
                    start: hi,
                    offset: self.offset_at(hi),
                });
                // A change and its undoing within one step are not seen; none is known.
            }
            t = next;
        }
        spans
    }
}

impl Default for Zone {
    fn default() -> Self {
        Zone(Tz::UTC)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_and_shanghai_since_1992_have_one_offset() {
        let utc = Zone::parse("tz", "UTC").unwrap();
        assert_eq!(
            *utc.spans(),
            vec![Span {
                start: i64::MIN,
                offset: 0
            }]
        );
        let sh = Zone::parse("tz", "Asia/Shanghai").unwrap();
        let spans = sh.spans();
        let last = spans.last().unwrap();
        assert_eq!(last.offset, 8 * 3600);
        // China's last summer time ended on 1991-09-15 at 02:00 local (1991-09-14 17:00 UTC).
        assert_eq!(last.start, 684_867_600);
    }

    #[test]
    fn new_york_changes_twice_a_year_at_the_right_second() {
        let ny = Zone::parse("tz", "America/New_York").unwrap();
        let spans = ny.spans();
        // 2026-03-08 07:00 UTC (02:00 EST) begins EDT; 2026-11-01 06:00 UTC (02:00 EDT) ends it.
        let start = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().timestamp();
        assert!(spans.contains(&Span {
            start: start("2026-03-08T07:00:00Z"),
            offset: -4 * 3600
        }));
        assert!(spans.contains(&Span {
            start: start("2026-11-01T06:00:00Z"),
            offset: -5 * 3600
        }));
        assert!(
            spans
                .windows(2)
                .all(|w| w[0].start < w[1].start && w[0].offset != w[1].offset)
        );
    }

    #[test]
    fn an_unknown_zone_is_refused_at_its_field() {
        let e = Zone::parse("time_zone", "Mars/Olympus").unwrap_err();
        assert!(format!("{e:?}").contains("time_zone"), "{e:?}");
        assert!(
            Zone::parse("tz", "Asia/Shanghai")
                .unwrap()
                .name()
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "/_+-".contains(c))
        );
    }
}
