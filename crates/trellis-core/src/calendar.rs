//! Business calendars: working hours per weekday, holidays and make-up working days in one time
//! zone. SLA due times are counted in working time on such a calendar.

use crate::error::FieldCode;
use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::error::FieldError;

/// Seconds in a local day; `24:00` is this many seconds after midnight.
const DAY: u32 = 86_400;
/// How far `add` and `working_between` look ahead: enough for any SLA, and a bound on the work
/// when holidays swallow years.
const HORIZON: TimeDelta = TimeDelta::days(20 * 365 + 5);
/// Most holidays and make-up days together in one calendar.
const MAX_DATES: usize = 2000;
const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// A calendar as users write it (`schemas/calendar.schema.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CalendarDef {
    /// IANA time zone the hours and dates are in, e.g. `Asia/Shanghai`.
    #[schema(min_length = 1, max_length = 64)]
    pub timezone: String,
    /// Working intervals of each weekday.
    pub hours: WeekHours,
    /// Dates (`YYYY-MM-DD`) without working time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(schema_with = dates)]
    pub holidays: Vec<String>,
    /// Extra working dates (weekend make-up days), with the hours of the first weekday that has any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(schema_with = dates)]
    pub workdays: Vec<String>,
}

/// `[start, end]` pairs of local `HH:MM` times for each weekday; a missing day has no working time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WeekHours {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(schema_with = day)]
    pub mon: Vec<[String; 2]>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(schema_with = day)]
    pub tue: Vec<[String; 2]>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(schema_with = day)]
    pub wed: Vec<[String; 2]>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(schema_with = day)]
    pub thu: Vec<[String; 2]>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(schema_with = day)]
    pub fri: Vec<[String; 2]>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(schema_with = day)]
    pub sat: Vec<[String; 2]>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(schema_with = day)]
    pub sun: Vec<[String; 2]>,
}

/// Dates (`YYYY-MM-DD`) of a calendar.
fn dates() -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some("^[0-9]{4}-[0-9]{2}-[0-9]{2}$")),
        )
        .max_items(Some(MAX_DATES))
        .build()
}

/// The working intervals of a day: `[start, end]` of local `HH:MM` times (`24:00` ends a day).
fn day() -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    let time = ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some("^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$"));
    ArrayBuilder::new()
        .items(ArrayBuilder::new().items(time).min_items(Some(2)).max_items(Some(2)))
        .max_items(Some(48))
        .build()
}

impl WeekHours {
    /// The days in Monday-first order, as `chrono::Weekday::num_days_from_monday` counts.
    fn days(&self) -> [&[[String; 2]]; 7] {
        [
            &self.mon, &self.tue, &self.wed, &self.thu, &self.fri, &self.sat, &self.sun,
        ]
    }
}

/// Working interval of a local day, in seconds after midnight, end exclusive.
type Span = (u32, u32);
/// A working interval as instants.
type Period = (DateTime<Utc>, DateTime<Utc>);

/// A checked calendar that counts working time.
#[derive(Debug, Clone)]
pub struct Calendar {
    tz: Tz,
    week: [Vec<Span>; 7],
    /// Weekday whose hours make-up days borrow.
    make_up: usize,
    holidays: BTreeSet<NaiveDate>,
    workdays: BTreeSet<NaiveDate>,
    /// Every moment is working time, so counting is plain addition.
    round_the_clock: bool,
}

impl Calendar {
    /// Checks a definition; every problem is reported with its field path.
    pub fn compile(def: &CalendarDef) -> Result<Calendar, Vec<FieldError>> {
        let mut errors = Vec::new();
        let tz = def.timezone.parse::<Tz>().unwrap_or_else(|_| {
            errors.push(FieldError::new(
                "timezone",
                FieldCode::UnknownTimezone,
                format!("'{}' is not an IANA time zone such as Asia/Shanghai", def.timezone),
            ));
            Tz::UTC
        });

        let mut week: [Vec<Span>; 7] = Default::default();
        let mut hours_ok = true;
        for (d, intervals) in def.hours.days().into_iter().enumerate() {
            let mut prev_end = 0;
            for (i, [start, end]) in intervals.iter().enumerate() {
                let field = format!("hours.{}[{i}]", WEEKDAYS[d]);
                let (s, e) = match (parse_time(start), parse_time(end)) {
                    (Some(s), Some(e)) => (s, e),
                    (s, _) => {
                        let bad = if s.is_none() { start } else { end };
                        errors.push(FieldError::new(
                            field,
                            FieldCode::InvalidTime,
                            format!("'{bad}' is not a time HH:MM (00:00 to 24:00)"),
                        ));
                        hours_ok = false;
                        continue;
                    }
                };
                if e <= s {
                    errors.push(FieldError::new(
                        field,
                        FieldCode::InvalidInterval,
                        format!("ends at {end}, not after its start {start}"),
                    ));
                    hours_ok = false;
                } else if s < prev_end {
                    errors.push(FieldError::new(
                        field,
                        FieldCode::InvalidInterval,
                        format!("starts at {start}, before the previous interval ends: list intervals in order without overlap"),
                    ));
                    hours_ok = false;
                } else {
                    week[d].push((s, e));
                    prev_end = e;
                }
            }
        }
        let make_up = week.iter().position(|spans| !spans.is_empty());
        if hours_ok && make_up.is_none() {
            errors.push(FieldError::new(
                "hours",
                FieldCode::NoWorkingTime,
                "a week has no working time, so no due time could ever be reached",
            ));
        }

        let mut holidays = BTreeSet::new();
        let mut workdays = BTreeSet::new();
        let count = def.holidays.len() + def.workdays.len();
        if count > MAX_DATES {
            errors.push(FieldError::new(
                "holidays",
                FieldCode::TooManyDates,
                format!("holidays and workdays list {count} dates together; at most {MAX_DATES}"),
            ));
        } else {
            for (i, text) in def.holidays.iter().enumerate() {
                match parse_date(text) {
                    Some(date) => {
                        holidays.insert(date);
                    }
                    None => errors.push(invalid_date(format!("holidays[{i}]"), text)),
                }
            }
            for (i, text) in def.workdays.iter().enumerate() {
                match parse_date(text) {
                    Some(date) if holidays.contains(&date) => errors.push(FieldError::new(
                        format!("workdays[{i}]"),
                        FieldCode::Conflict,
                        format!("{text} is also a holiday"),
                    )),
                    Some(date) => {
                        workdays.insert(date);
                    }
                    None => errors.push(invalid_date(format!("workdays[{i}]"), text)),
                }
            }
        }

        if !errors.is_empty() {
            return Err(errors);
        }
        let round_the_clock = holidays.is_empty() && week.iter().all(|spans| spans[..] == [(0, DAY)]);
        Ok(Calendar {
            tz,
            week,
            make_up: make_up.unwrap_or(0),
            holidays,
            workdays,
            round_the_clock,
        })
    }

    /// Every moment of every day in UTC is working time.
    pub fn always() -> Calendar {
        Calendar {
            tz: Tz::UTC,
            week: std::array::from_fn(|_| vec![(0, DAY)]),
            make_up: 0,
            holidays: BTreeSet::new(),
            workdays: BTreeSet::new(),
            round_the_clock: true,
        }
    }

    /// The instant at which `dur` of working time has passed since `start`; saturates 20 years on.
    pub fn add(&self, start: DateTime<Utc>, dur: TimeDelta) -> DateTime<Utc> {
        if dur <= TimeDelta::zero() {
            return start;
        }
        let horizon = start.checked_add_signed(HORIZON).unwrap_or(DateTime::<Utc>::MAX_UTC);
        if self.round_the_clock {
            return start.checked_add_signed(dur).map_or(horizon, |end| end.min(horizon));
        }
        let mut left = dur;
        for (from, to) in self.spans(start, horizon) {
            let here = to - from;
            if here >= left {
                return from + left;
            }
            left -= here;
        }
        horizon
    }

    /// Working time between two instants (zero unless `b` is after `a`), counted at most 20 years.
    pub fn working_between(&self, a: DateTime<Utc>, b: DateTime<Utc>) -> TimeDelta {
        let b = b.min(a.checked_add_signed(HORIZON).unwrap_or(DateTime::<Utc>::MAX_UTC));
        if b <= a {
            return TimeDelta::zero();
        }
        if self.round_the_clock {
            return b - a;
        }
        self.spans(a, b).map(|(from, to)| to - from).sum()
    }

    /// The working intervals overlapping `[from, until)`, clipped to it, in order.
    fn spans(&self, from: DateTime<Utc>, until: DateTime<Utc>) -> impl Iterator<Item = Period> + '_ {
        // Where the clock is set back over midnight, an instant's local date can be a day behind
        // the hours that cover it, so the day before `from` is looked at too. Local dates of chrono's very first and last days
        // do not exist, so counting stays two days inside its range.
        let margin = TimeDelta::days(2);
        let (lo, hi) = (DateTime::<Utc>::MIN_UTC + margin, DateTime::<Utc>::MAX_UTC - margin);
        let (from, until) = (from.clamp(lo, hi), until.clamp(lo, hi));
        let first = self.local_date(from).pred_opt().unwrap_or(NaiveDate::MIN);
        let last = self.local_date(until);
        first
            .iter_days()
            .take_while(move |day| *day <= last)
            .flat_map(move |day| {
                self.day_spans(day)
                    .iter()
                    .filter_map(move |&(s, e)| Some((self.at(day, s)?, self.at(day, e)?)))
            })
            .map(move |(s, e)| (s.max(from), e.min(until)))
            .filter(|(s, e)| s < e)
    }

    fn day_spans(&self, day: NaiveDate) -> &[Span] {
        if self.holidays.contains(&day) {
            &[]
        } else if self.workdays.contains(&day) {
            &self.week[self.make_up]
        } else {
            &self.week[day.weekday().num_days_from_monday() as usize]
        }
    }

    fn local_date(&self, t: DateTime<Utc>) -> NaiveDate {
        t.with_timezone(&self.tz).date_naive()
    }

    /// The instant of a local time of day; `None` only at the ends of chrono's range.
    fn at(&self, day: NaiveDate, secs: u32) -> Option<DateTime<Utc>> {
        let local = if secs >= DAY {
            day.succ_opt()?.and_time(NaiveTime::MIN)
        } else {
            day.and_time(NaiveTime::from_num_seconds_from_midnight_opt(secs, 0)?)
        };
        resolve(&self.tz, local)
    }
}

/// The instant of a local time: the earlier one when the clock is set back, the change itself
/// when the clock jumps over it.
fn resolve(tz: &Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => Some(t.to_utc()),
        LocalResult::None => {
            // The clock jumped over `local`: find the first instant whose local time reaches it.
            // Offsets stay within ±26 h, so the range brackets it; as `local` never occurs, any
            // point where local time passes it is a jump over it.
            let naive = local.and_utc().timestamp();
            let reaches =
                |ts: i64| DateTime::from_timestamp(ts, 0).is_some_and(|t| t.with_timezone(tz).naive_local() >= local);
            let (mut lo, mut hi) = (naive - 26 * 3600, naive + 26 * 3600);
            if reaches(lo) || !reaches(hi) {
                return None;
            }
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                if reaches(mid) { hi = mid } else { lo = mid }
            }
            DateTime::from_timestamp(hi, 0)
        }
    }
}

/// Seconds after midnight of `HH:MM`, `24:00` included.
fn parse_time(s: &str) -> Option<u32> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 || !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    match (h, m) {
        (24, 0) => Some(DAY),
        (0..=23, 0..=59) => Some(h * 3600 + m * 60),
        _ => None,
    }
}

fn parse_date(s: &str) -> Option<NaiveDate> {
    if s.len() != 10 {
        return None;
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

fn invalid_date(field: String, text: &str) -> FieldError {
    FieldError::new(
        field,
        FieldCode::InvalidDate,
        format!("'{text}' is not a date YYYY-MM-DD"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{DefKind, check};
    use serde_json::{Value, json};

    fn def(v: Value) -> CalendarDef {
        serde_json::from_value(v).unwrap()
    }

    fn cal(v: Value) -> Calendar {
        Calendar::compile(&def(v)).unwrap()
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn hours(h: i64) -> TimeDelta {
        TimeDelta::hours(h)
    }

    /// Mon–Fri 09:00–18:00 in the given zone.
    fn office(tz: &str) -> Calendar {
        let day = json!([["09:00", "18:00"]]);
        cal(json!({"timezone": tz, "hours": {"mon": day, "tue": day, "wed": day, "thu": day, "fri": day}}))
    }

    /// Mon–Fri 09:00–12:00 and 13:00–18:00 in UTC.
    fn with_lunch() -> Calendar {
        let day = json!([["09:00", "12:00"], ["13:00", "18:00"]]);
        cal(json!({"timezone": "UTC", "hours": {"mon": day, "tue": day, "wed": day, "thu": day, "fri": day}}))
    }

    /// China's National Day: Thu 1 to Thu 8 October 2026 off, Sunday 27 September and Saturday
    /// 10 October worked instead.
    fn china() -> Calendar {
        let day = json!([["09:00", "12:00"], ["13:00", "18:00"]]);
        cal(json!({
            "timezone": "Asia/Shanghai",
            "hours": {"mon": day, "tue": day, "wed": day, "thu": day, "fri": day, "sat": [], "sun": []},
            "holidays": ["2026-10-01", "2026-10-02", "2026-10-03", "2026-10-04", "2026-10-05",
                         "2026-10-06", "2026-10-07", "2026-10-08"],
            "workdays": ["2026-09-27", "2026-10-10"]
        }))
    }

    #[test]
    fn friday_at_five_plus_two_working_hours_is_monday_at_ten() {
        let c = office("UTC");
        assert_eq!(c.add(at("2026-03-06T17:00:00Z"), hours(2)), at("2026-03-09T10:00:00Z"));
    }

    #[test]
    fn the_lunch_break_is_not_counted() {
        let c = with_lunch();
        assert_eq!(c.add(at("2026-03-02T11:00:00Z"), hours(2)), at("2026-03-02T14:00:00Z"));
        assert_eq!(c.add(at("2026-03-02T11:00:00Z"), hours(1)), at("2026-03-02T12:00:00Z"));
        assert_eq!(
            c.working_between(at("2026-03-02T11:00:00Z"), at("2026-03-02T14:00:00Z")),
            hours(2)
        );
    }

    #[test]
    fn a_start_before_opening_counts_from_opening() {
        let c = with_lunch();
        assert_eq!(c.add(at("2026-03-02T07:00:00Z"), hours(1)), at("2026-03-02T10:00:00Z"));
        assert_eq!(c.add(at("2026-03-02T12:30:00Z"), hours(1)), at("2026-03-02T14:00:00Z"));
    }

    #[test]
    fn a_start_after_closing_counts_from_the_next_opening() {
        let c = with_lunch();
        assert_eq!(c.add(at("2026-03-02T19:00:00Z"), hours(1)), at("2026-03-03T10:00:00Z"));
        assert_eq!(c.add(at("2026-03-06T18:00:00Z"), hours(1)), at("2026-03-09T10:00:00Z"));
    }

    #[test]
    fn a_zero_duration_is_the_start_inside_and_outside_working_time() {
        let c = with_lunch();
        for t in ["2026-03-02T10:00:00Z", "2026-03-02T12:30:00Z", "2026-03-07T10:00:00Z"] {
            assert_eq!(c.add(at(t), TimeDelta::zero()), at(t));
        }
    }

    #[test]
    fn seventy_two_working_hours_span_weekends() {
        let c = office("UTC");
        // Eight nine-hour days: Monday 2 March to Wednesday 11 March.
        assert_eq!(c.add(at("2026-03-02T09:00:00Z"), hours(72)), at("2026-03-11T18:00:00Z"));
        assert_eq!(
            c.working_between(at("2026-03-02T00:00:00Z"), at("2026-03-12T00:00:00Z")),
            hours(72)
        );
    }

    #[test]
    fn working_hours_are_in_the_calendars_time_zone() {
        let c = office("Asia/Shanghai");
        // 09:00 in Shanghai is 01:00 UTC.
        assert_eq!(c.add(at("2026-03-02T00:00:00Z"), hours(1)), at("2026-03-02T02:00:00Z"));
        assert_eq!(c.add(at("2026-03-02T09:00:00Z"), hours(2)), at("2026-03-03T02:00:00Z"));
        // Friday 17:00 local is still Friday; the due time is Monday 10:00 local.
        assert_eq!(
            c.add(at("2026-03-06T17:00:00+08:00"), hours(2)),
            at("2026-03-09T10:00:00+08:00")
        );
    }

    #[test]
    fn a_start_on_a_holiday_counts_from_the_next_working_day() {
        let c = china();
        // Friday 9 October is the first working day after the holidays.
        assert_eq!(
            c.add(at("2026-10-02T10:00:00+08:00"), hours(1)),
            at("2026-10-09T10:00:00+08:00")
        );
    }

    #[test]
    fn national_day_week_is_skipped_and_the_make_up_days_are_worked() {
        let c = china();
        // Friday 25 September 17:00 + 2 h: the make-up Sunday the 27th.
        assert_eq!(
            c.add(at("2026-09-25T17:00:00+08:00"), hours(2)),
            at("2026-09-27T10:00:00+08:00")
        );
        // Wednesday 30 September 17:00 + 2 h + 8 h: through Friday 9th onto the make-up Saturday 10th.
        assert_eq!(
            c.add(at("2026-09-30T17:00:00+08:00"), hours(2)),
            at("2026-10-09T10:00:00+08:00")
        );
        assert_eq!(
            c.add(at("2026-09-30T17:00:00+08:00"), hours(10)),
            at("2026-10-10T10:00:00+08:00")
        );
        assert_eq!(
            c.working_between(at("2026-09-26T00:00:00+08:00"), at("2026-10-12T00:00:00+08:00")),
            hours(8 * 6)
        );
    }

    #[test]
    fn opening_moves_by_an_hour_in_utc_over_the_berlin_summer_time_change() {
        let c = office("Europe/Berlin");
        // Summer time starts on Sunday 29 March 2026: Friday 17:00 CET is 16:00 UTC, Monday
        // 10:00 CEST is 08:00 UTC.
        assert_eq!(c.add(at("2026-03-27T16:00:00Z"), hours(2)), at("2026-03-30T08:00:00Z"));
        // And back on Sunday 25 October 2026.
        assert_eq!(c.add(at("2026-10-23T15:00:00Z"), hours(2)), at("2026-10-26T09:00:00Z"));
        assert_eq!(
            c.working_between(at("2026-03-23T00:00:00Z"), at("2026-04-04T00:00:00Z")),
            hours(90)
        );
    }

    #[test]
    fn a_local_time_the_clock_skips_means_the_moment_of_the_change() {
        // 02:30 does not exist in Berlin on 29 March 2026: the clock goes from 02:00 CET to 03:00 CEST
        // at 01:00 UTC, so Sunday's hours run from 01:00 to 03:00 UTC.
        let c = cal(json!({"timezone": "Europe/Berlin", "hours": {"sun": [["02:30", "05:00"]]}}));
        assert_eq!(
            c.working_between(at("2026-03-28T00:00:00Z"), at("2026-03-30T00:00:00Z")),
            hours(2)
        );
        assert_eq!(c.add(at("2026-03-28T00:00:00Z"), hours(1)), at("2026-03-29T02:00:00Z"));
        // A week earlier the same hours are 01:30 to 04:00 UTC.
        assert_eq!(c.add(at("2026-03-21T00:00:00Z"), hours(1)), at("2026-03-22T02:30:00Z"));
    }

    #[test]
    fn a_repeated_local_hour_is_worked_twice_in_new_york() {
        // Summer time ends on Sunday 1 November 2026: 00:00 EDT is 04:00 UTC, 03:00 EST is 08:00 UTC.
        let c = cal(json!({"timezone": "America/New_York", "hours": {"sun": [["00:00", "03:00"]]}}));
        assert_eq!(
            c.working_between(at("2026-10-31T00:00:00Z"), at("2026-11-02T00:00:00Z")),
            hours(4)
        );
        assert_eq!(c.add(at("2026-10-31T00:00:00Z"), hours(4)), at("2026-11-01T08:00:00Z"));
        // An ambiguous start of day 01:30 means the earlier one, 05:30 UTC.
        let c = cal(json!({"timezone": "America/New_York", "hours": {"sun": [["01:30", "03:00"]]}}));
        assert_eq!(c.add(at("2026-10-31T00:00:00Z"), hours(1)), at("2026-11-01T06:30:00Z"));
    }

    #[test]
    fn always_is_plain_addition() {
        let c = Calendar::always();
        let t = at("2026-03-07T13:14:15Z");
        for d in [TimeDelta::seconds(1), hours(5), TimeDelta::days(400)] {
            assert_eq!(c.add(t, d), t + d);
            assert_eq!(c.working_between(t, t + d), d);
        }
        // A 24×7 calendar in a zone with summer time is plain addition too.
        let day = json!([["00:00", "24:00"]]);
        let c = cal(json!({"timezone": "Europe/Berlin",
            "hours": {"mon": day, "tue": day, "wed": day, "thu": day, "fri": day, "sat": day, "sun": day}}));
        assert_eq!(c.add(t, TimeDelta::days(400)), t + TimeDelta::days(400));
    }

    #[test]
    fn working_between_agrees_with_add() {
        let berlin = {
            let day = json!([["08:30", "12:00"], ["12:45", "17:15"]]);
            cal(json!({"timezone": "Europe/Berlin",
                "hours": {"mon": day, "tue": day, "wed": day, "thu": day, "fri": [["08:00", "14:00"]], "sun": [["02:15", "02:45"]]},
                "holidays": ["2026-04-03", "2026-04-06", "2026-05-01", "2026-12-24", "2026-12-25"],
                "workdays": ["2026-05-02"]}))
        };
        let new_york = {
            let day = json!([["00:00", "01:30"], ["09:00", "17:00"], ["22:00", "24:00"]]);
            cal(json!({"timezone": "America/New_York",
                "hours": {"mon": day, "tue": day, "wed": day, "thu": day, "fri": day, "sun": [["01:00", "03:00"]]}}))
        };
        // A fixed-seed LCG keeps the check reproducible without a rand dependency.
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move |n: u64| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) % n
        };
        let base = at("2026-01-01T00:00:00Z");
        for c in [&berlin, &new_york, &china(), &with_lunch()] {
            for _ in 0..150 {
                let start = base + TimeDelta::seconds(next(365 * 86_400) as i64);
                let dur = TimeDelta::seconds(next(120 * 3600) as i64);
                let end = c.add(start, dur);
                assert!(end >= start);
                assert_eq!(c.working_between(start, end), dur, "{start} + {dur}");
                let b = start + TimeDelta::seconds(next(30 * 86_400) as i64);
                let worked = c.working_between(start, b);
                assert!(c.add(start, worked) <= b, "{start} .. {b}");
            }
        }
    }

    #[test]
    fn working_between_is_zero_when_the_end_is_not_after_the_start() {
        let c = office("UTC");
        let t = at("2026-03-02T10:00:00Z");
        assert_eq!(c.working_between(t, t), TimeDelta::zero());
        assert_eq!(c.working_between(t, t - hours(5)), TimeDelta::zero());
        assert_eq!(c.add(t, -hours(3)), t);
    }

    #[test]
    fn years_of_holidays_end_and_endless_durations_saturate() {
        let dates: Vec<String> = (0..2000)
            .map(|i| (NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + TimeDelta::days(i)).to_string())
            .collect();
        let c = Calendar::compile(&CalendarDef {
            holidays: dates,
            ..def(json!({"timezone": "UTC", "hours": {"mon": [["09:00", "18:00"]]}}))
        })
        .unwrap();
        // They end on Monday 23 June 2031; the next Monday is the 30th.
        assert_eq!(c.add(at("2026-01-01T00:00:00Z"), hours(1)), at("2031-06-30T10:00:00Z"));
        let t = at("2026-01-01T00:00:00Z");
        assert_eq!(c.add(t, TimeDelta::days(365 * 100)), t + HORIZON);
        assert_eq!(Calendar::always().add(t, TimeDelta::MAX), t + HORIZON);
    }

    #[test]
    fn the_ends_of_time_do_not_panic() {
        for c in [office("Europe/Berlin"), Calendar::always()] {
            let _ = c.add(DateTime::<Utc>::MAX_UTC - TimeDelta::days(1), hours(30));
            let _ = c.add(DateTime::<Utc>::MIN_UTC, hours(30));
            let _ = c.working_between(DateTime::<Utc>::MAX_UTC - TimeDelta::days(3), DateTime::<Utc>::MAX_UTC);
            let _ = c.working_between(DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MIN_UTC + TimeDelta::days(3));
        }
    }

    fn errors(v: Value) -> Vec<(String, String)> {
        Calendar::compile(&def(v))
            .unwrap_err()
            .into_iter()
            .map(|e| (e.field, e.code))
            .collect()
    }

    fn pair(field: &str, code: &str) -> (String, String) {
        (field.to_string(), code.to_string())
    }

    #[test]
    fn every_mistake_is_reported_with_its_path() {
        let errs = errors(json!({
            "timezone": "Mars/Olympus",
            "hours": {
                "mon": [["09:00", "12:00"], ["9:00", "13:00"], ["13:00", "24:01"]],
                "tue": [["10:00", "10:00"], ["18:00", "09:00"]],
                "wed": [["09:00", "12:00"], ["11:00", "14:00"], ["08:00", "09:00"]],
                "thu": [["09:00", "12:00"], ["12:00", "24:00"]]
            },
            "holidays": ["2026-10-01", "2026-10-02", "2026-02-30", "2026-10-1"],
            "workdays": ["2026-09-27", "2026-10-02", "soon"]
        }));
        assert_eq!(
            errs,
            vec![
                pair("timezone", "unknown_timezone"),
                pair("hours.mon[1]", "invalid_time"),
                pair("hours.mon[2]", "invalid_time"),
                pair("hours.tue[0]", "invalid_interval"),
                pair("hours.tue[1]", "invalid_interval"),
                pair("hours.wed[1]", "invalid_interval"),
                pair("hours.wed[2]", "invalid_interval"),
                pair("holidays[2]", "invalid_date"),
                pair("holidays[3]", "invalid_date"),
                pair("workdays[1]", "conflict"),
                pair("workdays[2]", "invalid_date"),
            ]
        );
    }

    #[test]
    fn a_week_without_working_time_is_refused() {
        assert_eq!(
            errors(json!({"timezone": "UTC", "hours": {"sat": []}, "workdays": ["2026-09-27"]})),
            vec![pair("hours", "no_working_time")]
        );
        assert_eq!(
            errors(json!({"timezone": "UTC", "hours": {}})),
            vec![pair("hours", "no_working_time")]
        );
    }

    #[test]
    fn more_than_two_thousand_dates_are_refused() {
        let dates: Vec<String> = (0..1001)
            .map(|i| (NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + TimeDelta::days(i)).to_string())
            .collect();
        let c = CalendarDef {
            holidays: dates.clone(),
            workdays: dates,
            ..def(json!({"timezone": "UTC", "hours": {"mon": [["09:00", "18:00"]]}}))
        };
        assert_eq!(
            Calendar::compile(&c)
                .unwrap_err()
                .into_iter()
                .map(|e| e.code)
                .collect::<Vec<_>>(),
            ["too_many_dates"]
        );
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(serde_json::from_value::<CalendarDef>(json!({"timezone": "UTC", "hours": {"monday": []}})).is_err());
        assert!(serde_json::from_value::<CalendarDef>(json!({"timezone": "UTC", "hours": {}, "tz": "x"})).is_err());
    }

    #[test]
    fn the_schema_accepts_a_good_calendar_and_names_what_is_wrong_with_a_bad_one() {
        let good = json!({
            "timezone": "Asia/Shanghai",
            "hours": {"mon": [["09:00", "12:00"], ["13:00", "18:00"]], "fri": [["09:00", "24:00"]], "sat": []},
            "holidays": ["2026-10-01", "2026-10-02"],
            "workdays": ["2026-09-27"]
        });
        check(DefKind::Calendar, &good).unwrap();
        Calendar::compile(&def(good)).unwrap();

        let bad = json!({
            "timezone": "Asia/Shanghai",
            "hours": {"mon": [["9:00", "12:00"]], "funday": []},
            "holidays": ["1 Oct"]
        });
        let errs = check(DefKind::Calendar, &bad).unwrap_err();
        assert!(errs.iter().any(|e| e.field == "hours.mon.0.0"), "{errs:?}");
        assert!(errs.iter().any(|e| e.field == "holidays.0"), "{errs:?}");
        assert!(errs.iter().any(|e| e.message.contains("funday")), "{errs:?}");
        assert!(check(DefKind::Calendar, &json!({"hours": {}})).is_err());
        assert!(
            check(
                DefKind::Calendar,
                &json!({"timezone": "UTC", "hours": {"mon": [["09:00"]]}})
            )
            .is_err()
        );
    }
}
