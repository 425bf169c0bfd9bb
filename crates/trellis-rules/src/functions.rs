//! The host functions and types scripts can use besides Rhai's basic packages: `Date` and
//! `DateTime`, date arithmetic, text, numbers. Every function is listed with an example in
//! `FUNCTIONS.md`; each one does a bounded amount of work, since host work is not counted in the
//! engine's operation limit.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, SecondsFormat, TimeDelta, Timelike, Utc};
use parking_lot::Mutex;
use regex::{Regex, RegexBuilder};
use rhai::{Array, Dynamic, Engine, EvalAltResult, INT, ImmutableString, Map, Position};
use rust_decimal::{Decimal, RoundingStrategy};

type Res<T> = Result<T, Box<EvalAltResult>>;

/// Longest regular expression `matches` accepts, in characters.
pub const MAX_PATTERN_LEN: usize = 200;
/// Memory a compiled regular expression (and its lazy DFA) may use.
pub const REGEX_SIZE_LIMIT: usize = 64 * 1024;
/// Compiled patterns kept; the cache is emptied when it is full.
const REGEX_CACHE_SIZE: usize = 128;

fn error<T>(message: impl Into<String>) -> Res<T> {
    Err(Box::new(EvalAltResult::ErrorRuntime(
        message.into().into(),
        Position::NONE,
    )))
}

fn mismatch<T>(expected: &str, got: &Dynamic) -> Res<T> {
    Err(Box::new(EvalAltResult::ErrorMismatchDataType(
        expected.to_string(),
        friendly_type(got).to_string(),
        Position::NONE,
    )))
}

/// A value's type as the messages name it.
pub(crate) fn friendly_type(v: &Dynamic) -> &'static str {
    if v.is_unit() {
        "empty value ()"
    } else if v.is_bool() {
        "boolean"
    } else if v.is_int() {
        "integer"
    } else if v.is::<Decimal>() {
        "decimal"
    } else if v.is_string() {
        "text"
    } else if v.is_array() {
        "array"
    } else if v.is_map() {
        "map"
    } else if v.is::<NaiveDate>() {
        "Date"
    } else if v.is::<DateTime<Utc>>() {
        "DateTime"
    } else {
        "other value"
    }
}

fn midnight(d: NaiveDate) -> DateTime<Utc> {
    d.and_time(NaiveTime::MIN).and_utc()
}

/// A Date (taken as midnight UTC) or DateTime argument as an instant.
fn instant(v: &Dynamic) -> Res<DateTime<Utc>> {
    if let Some(t) = v.read_lock::<DateTime<Utc>>() {
        return Ok(*t);
    }
    if let Some(d) = v.read_lock::<NaiveDate>() {
        return Ok(midnight(*d));
    }
    mismatch("Date or DateTime", v)
}

fn out_of_range<T>() -> Res<T> {
    error("the date is out of range")
}

fn add_to_datetime(t: DateTime<Utc>, delta: Option<TimeDelta>) -> Res<DateTime<Utc>> {
    match delta.and_then(|d| t.checked_add_signed(d)) {
        Some(t) => Ok(t),
        None => out_of_range(),
    }
}

fn add_days(v: Dynamic, n: INT) -> Res<Dynamic> {
    let delta = TimeDelta::try_days(n);
    if let Some(t) = v.read_lock::<DateTime<Utc>>() {
        return add_to_datetime(*t, delta).map(Dynamic::from);
    }
    if let Some(d) = v.read_lock::<NaiveDate>() {
        return match delta.and_then(|x| d.checked_add_signed(x)) {
            Some(d) => Ok(Dynamic::from(d)),
            None => out_of_range(),
        };
    }
    mismatch("Date or DateTime", &v)
}

/// Days since Monday 0001-01-01.
fn day_number(d: NaiveDate) -> i128 {
    d.num_days_from_ce() as i128 - 1
}

fn from_day_number(n: i128) -> Res<NaiveDate> {
    i32::try_from(n + 1)
        .ok()
        .and_then(NaiveDate::from_num_days_from_ce_opt)
        .map_or_else(out_of_range, Ok)
}

/// Monday-to-Friday days before day number `n` (counted from Monday 0001-01-01).
fn weekdays_before(n: i128) -> i128 {
    n.div_euclid(7) * 5 + n.rem_euclid(7).min(5)
}

/// Business days after `a` up to and including `b`; negative when `b` is before `a`.
pub fn business_days_between(a: NaiveDate, b: NaiveDate) -> INT {
    (weekdays_before(day_number(b) + 1) - weekdays_before(day_number(a) + 1)) as INT
}

/// The date `n` business days after `d` (before it when `n` is negative); `d` itself when `n` is 0.
pub fn add_business_days(d: NaiveDate, n: INT) -> Res<NaiveDate> {
    let n = n as i128;
    // Index (from 0) of the target among all weekdays since the epoch.
    let index = match n {
        0 => return Ok(d),
        1.. => weekdays_before(day_number(d) + 1) + n - 1,
        _ => weekdays_before(day_number(d)) + n,
    };
    from_day_number(index.div_euclid(5) * 7 + index.rem_euclid(5))
}

fn parse_date(s: &str) -> Res<NaiveDate> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .or_else(|_| error(format!("'{}' is not a date like 2026-01-31", shorten(s))))
}

fn parse_datetime(s: &str) -> Res<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s.trim())
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| error(format!("'{}' is not a date-time like 2026-01-31T08:00:00Z", shorten(s))))
}

fn shorten(s: &str) -> String {
    match s.char_indices().nth(40) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

fn round(x: Decimal, digits: INT) -> Res<Decimal> {
    match u32::try_from(digits) {
        Ok(d) if d <= 28 => Ok(x.round_dp_with_strategy(d, RoundingStrategy::MidpointAwayFromZero)),
        _ => error(format!("round: digits must be between 0 and 28, not {digits}")),
    }
}

/// Bounded cache of compiled, size-limited regular expressions.
#[derive(Default)]
pub(crate) struct RegexCache(Mutex<HashMap<String, Regex>>);

impl RegexCache {
    fn get(&self, pattern: &str) -> Res<Regex> {
        if let Some(re) = self.0.lock().get(pattern) {
            return Ok(re.clone());
        }
        if pattern.chars().count() > MAX_PATTERN_LEN {
            return error(format!(
                "matches: the pattern is longer than {MAX_PATTERN_LEN} characters"
            ));
        }
        let re = RegexBuilder::new(pattern)
            .size_limit(REGEX_SIZE_LIMIT)
            .dfa_size_limit(REGEX_SIZE_LIMIT)
            .build()
            .or_else(|e| match e {
                regex::Error::CompiledTooBig(_) => error("matches: the pattern is too complex"),
                e => error(format!("matches: invalid pattern: {}", e.to_string().trim())),
            })?;
        let mut cache = self.0.lock();
        if cache.len() >= REGEX_CACHE_SIZE {
            cache.clear();
        }
        cache.insert(pattern.to_string(), re.clone());
        Ok(re)
    }
}

macro_rules! comparisons {
    ($engine:expr, $t:ty) => {
        $engine
            .register_fn("==", |a: $t, b: $t| a == b)
            .register_fn("!=", |a: $t, b: $t| a != b)
            .register_fn("<", |a: $t, b: $t| a < b)
            .register_fn("<=", |a: $t, b: $t| a <= b)
            .register_fn(">", |a: $t, b: $t| a > b)
            .register_fn(">=", |a: $t, b: $t| a >= b)
            .register_fn("min", |a: $t, b: $t| a.min(b))
            .register_fn("max", |a: $t, b: $t| a.max(b))
    };
}

/// A type error whose message is given whole (see `engine::runtime_error`).
pub(crate) fn type_error(message: String) -> Box<EvalAltResult> {
    Box::new(EvalAltResult::ErrorMismatchDataType(
        message,
        String::new(),
        Position::NONE,
    ))
}

/// Makes `ops` on an `A` and a `B` a type error instead of Rhai's silent `false`.
macro_rules! refuse {
    ($engine:expr, $ops:expr, $a:ty, $b:ty, $an:expr, $bn:expr) => {
        for op in $ops {
            let message = format!("'{op}' cannot compare a {} with a {}", $an, $bn);
            $engine.register_fn(op, move |_: $a, _: $b| -> Res<bool> {
                Err(type_error(message.clone()))
            });
        }
    };
}

const ORDERING: [&str; 4] = ["<", "<=", ">", ">="];

/// Ordering comparisons between values of different kinds (a number and a text, a date and a
/// number...) fail instead of being `false`; so do `==`/`!=` between a `Date` and a `DateTime`.
/// Comparisons with `()` (an empty field) stay `false`.
macro_rules! refuse_mixed {
    ($e:expr; $(($t:ty, $n:expr, $c:expr)),*) => {
        refuse_mixed!(@outer $e; [$(($t, $n, $c)),*]; $(($t, $n, $c)),*)
    };
    (@outer $e:expr; $all:tt; $(($t:ty, $n:expr, $c:expr)),*) => {
        $( refuse_mixed!(@inner $e; ($t, $n, $c); $all); )*
    };
    (@inner $e:expr; ($t1:ty, $n1:expr, $c1:expr); [$(($t2:ty, $n2:expr, $c2:expr)),*]) => {
        $( if $c1 != $c2 { refuse!($e, ORDERING, $t1, $t2, $n1, $n2); } )*
    };
}

/// Registers the `Date` and `DateTime` types and every host function.
pub(crate) fn register(engine: &mut Engine, regexes: Arc<RegexCache>) {
    register_dates(engine);
    refuse_mixed!(engine;
        (INT, "number", 0), (Decimal, "number", 0), (ImmutableString, "text", 1), (bool, "boolean", 2),
        (NaiveDate, "Date", 3), (DateTime<Utc>, "DateTime", 4));
    let hint = ["==", "!="];
    let date = "Date (use date(x) for the date of a DateTime)";
    refuse!(engine, hint, NaiveDate, DateTime<Utc>, date, "DateTime");
    refuse!(engine, hint, DateTime<Utc>, NaiveDate, "DateTime", date);
    register_text(engine, regexes);
    register_numbers(engine);

    // `"vip" in record.tags`: Rhai's generic `contains` calls `==` per item through a fresh
    // call context (a copy of the global state each time); this one compares texts directly.
    // Same answers: only a text (or a one-character `char` equal to it) is equal to a text.
    engine.register_fn("contains", |items: &mut Array, text: ImmutableString| {
        items.iter().any(|item| text_equals(item, &text))
    });

    engine
        .register_fn("is_empty", |_: ()| true)
        .register_fn("is_empty", |s: &str| s.is_empty())
        .register_fn("is_empty", |a: &mut Array| a.is_empty())
        .register_fn("is_empty", |m: &mut Map| m.is_empty())
        .register_fn("is_empty", |_: Dynamic| false);
}

/// `item == text` as Rhai answers it: a text by its content, a `char` when the text is that one
/// character, anything else `false`.
fn text_equals(item: &Dynamic, text: &str) -> bool {
    if let Some(s) = item.read_lock::<ImmutableString>() {
        return s.as_str() == text;
    }
    if let Some(c) = item.read_lock::<char>() {
        let mut chars = text.chars();
        return chars.next() == Some(*c) && chars.next().is_none();
    }
    false
}

fn register_dates(engine: &mut Engine) {
    type Dt = DateTime<Utc>;
    engine
        .register_type_with_name::<NaiveDate>("Date")
        .register_type_with_name::<Dt>("DateTime");
    comparisons!(engine, NaiveDate);
    comparisons!(engine, Dt);

    let date_text = |d: &mut NaiveDate| d.format("%Y-%m-%d").to_string();
    let datetime_text = |t: &mut Dt| t.to_rfc3339_opts(SecondsFormat::AutoSi, true);
    for name in ["to_string", "to_debug", "print", "debug"] {
        engine.register_fn(name, date_text).register_fn(name, datetime_text);
    }

    engine
        .register_get("year", |d: &mut NaiveDate| d.year() as INT)
        .register_get("month", |d: &mut NaiveDate| d.month() as INT)
        .register_get("day", |d: &mut NaiveDate| d.day() as INT)
        .register_get("weekday", |d: &mut NaiveDate| d.weekday().number_from_monday() as INT)
        .register_get("year", |t: &mut Dt| t.year() as INT)
        .register_get("month", |t: &mut Dt| t.month() as INT)
        .register_get("day", |t: &mut Dt| t.day() as INT)
        .register_get("weekday", |t: &mut Dt| t.weekday().number_from_monday() as INT)
        .register_get("hour", |t: &mut Dt| t.hour() as INT)
        .register_get("minute", |t: &mut Dt| t.minute() as INT)
        .register_get("second", |t: &mut Dt| t.second() as INT);

    engine
        .register_fn("date", |s: &str| parse_date(s))
        .register_fn("date", |t: Dt| t.date_naive())
        .register_fn("date", |d: NaiveDate| d)
        .register_fn("datetime", |s: &str| parse_datetime(s))
        .register_fn("datetime", |d: NaiveDate| midnight(d))
        .register_fn("datetime", |t: Dt| t);

    engine
        .register_fn("add_minutes", |v: Dynamic, n: INT| {
            add_to_datetime(instant(&v)?, TimeDelta::try_minutes(n))
        })
        .register_fn("add_hours", |v: Dynamic, n: INT| {
            add_to_datetime(instant(&v)?, TimeDelta::try_hours(n))
        })
        .register_fn("add_days", add_days)
        .register_fn("minutes_between", |a: Dynamic, b: Dynamic| {
            Ok::<_, Box<EvalAltResult>>((instant(&b)? - instant(&a)?).num_minutes())
        })
        .register_fn("hours_between", |a: Dynamic, b: Dynamic| {
            Ok::<_, Box<EvalAltResult>>((instant(&b)? - instant(&a)?).num_hours())
        })
        .register_fn("days_between", |a: Dynamic, b: Dynamic| {
            Ok::<_, Box<EvalAltResult>>((instant(&b)? - instant(&a)?).num_days())
        })
        .register_fn("business_days_between", business_days_between)
        .register_fn("add_business_days", add_business_days);
}

fn register_text(engine: &mut Engine, regexes: Arc<RegexCache>) {
    engine
        .register_fn("trim", |s: &str| s.trim().to_string())
        .register_fn("contains", |s: &str, sub: &str| s.contains(sub))
        .register_fn("starts_with", |s: &str, p: &str| s.starts_with(p))
        .register_fn("ends_with", |s: &str, p: &str| s.ends_with(p))
        .register_fn("lower", |s: &str| s.to_lowercase())
        .register_fn("upper", |s: &str| s.to_uppercase())
        .register_fn("len", |s: &str| s.chars().count() as INT)
        .register_fn("matches", move |s: &str, pattern: &str| {
            regexes.get(pattern).map(|re| re.is_match(s))
        });
}

fn register_numbers(engine: &mut Engine) {
    engine
        .register_fn("round", round)
        .register_fn("round", |x: Decimal| round(x, 0))
        .register_fn("round", |x: INT, _digits: INT| x)
        .register_fn("round", |x: INT| x)
        .register_fn("abs", |x: Decimal| x.abs())
        .register_fn("abs", |x: INT| match x.checked_abs() {
            Some(x) => Ok(x),
            None => error("abs: the number is too large"),
        })
        .register_fn("min", |a: INT, b: INT| a.min(b))
        .register_fn("max", |a: INT, b: INT| a.max(b))
        .register_fn("min", |a: Decimal, b: Decimal| a.min(b))
        .register_fn("max", |a: Decimal, b: Decimal| a.max(b))
        .register_fn("min", |a: INT, b: Decimal| Decimal::from(a).min(b))
        .register_fn("max", |a: INT, b: Decimal| Decimal::from(a).max(b))
        .register_fn("min", |a: Decimal, b: INT| a.min(Decimal::from(b)))
        .register_fn("max", |a: Decimal, b: INT| a.max(Decimal::from(b)));
}
