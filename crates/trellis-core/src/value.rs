//! Typed field values: JSON from a client is coerced into a `Val` by the field's type and checked
//! against its constraints; a `Val` read from a column is turned back into JSON.

use chrono::{DateTime, Datelike, NaiveDate, SecondsFormat, Timelike, Utc};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::compile::CompiledField;
use crate::def::FieldType;
use crate::error::FieldError;

/// Largest magnitude of a fixed-point value in minor units: exact as a JSON (f64) number.
pub const MAX_MINOR: i64 = 9_007_199_254_740_991;
/// Largest magnitude in minor units of a fixed-point value with decimals: 15 significant digits,
/// the most a JSON (f64) number answers as exactly the decimal it stands for (beyond that,
/// 90071992547409.91 would be answered as 90071992547409.9).
pub const MAX_MINOR_SCALED: i64 = 999_999_999_999_999;

/// A value as stored in a column.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Null,
    Text(String),
    Int(i64),
    /// Fixed-point amount in minor units (value × 10^scale).
    Fixed(i64),
    Currency(i64, String),
    Bool(bool),
    Date(NaiveDate),
    DateTime(DateTime<Utc>),
    Json(Value),
}

impl Val {
    pub fn is_null(&self) -> bool {
        matches!(self, Val::Null)
    }

    /// The value as a client sees it.
    pub fn to_json(&self, field: &CompiledField) -> Value {
        match self {
            Val::Null => Value::Null,
            Val::Text(s) => Value::String(s.clone()),
            Val::Int(i) => json!(i),
            Val::Fixed(m) => fixed_to_json(*m, field.scale),
            Val::Currency(m, c) => json!({"amount": fixed_to_json(*m, field.scale), "currency": c}),
            Val::Bool(b) => Value::Bool(*b),
            Val::Date(d) => Value::String(d.format("%Y-%m-%d").to_string()),
            Val::DateTime(t) => Value::String(format_datetime(t)),
            Val::Json(v) => v.clone(),
        }
    }
}

/// RFC 3339 in UTC with microseconds, the one format of every time Trellis answers with.
pub fn format_datetime(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ`, as `%Y-%m-%dT%H:%M:%S%.6fZ` writes it, without parsing a
/// format string per value (lists write every date of every row). `None` for what that short
/// form cannot hold (a year outside 0–9999, a leap second): format those with chrono.
pub fn datetime_text(t: &DateTime<Utc>) -> Option<[u8; 27]> {
    let (year, nanos) = (t.year(), t.nanosecond());
    if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
        return None;
    }
    let mut b = *b"0000-00-00T00:00:00.000000Z";
    put_digits(&mut b[0..4], year as u32);
    put_digits(&mut b[5..7], t.month());
    put_digits(&mut b[8..10], t.day());
    put_digits(&mut b[11..13], t.hour());
    put_digits(&mut b[14..16], t.minute());
    put_digits(&mut b[17..19], t.second());
    put_digits(&mut b[20..26], nanos / 1000);
    Some(b)
}

/// `YYYY-MM-DD`, as `%Y-%m-%d` writes it (`None` for a year outside 0–9999).
pub fn date_text(d: &NaiveDate) -> Option<[u8; 10]> {
    let year = d.year();
    if !(0..=9999).contains(&year) {
        return None;
    }
    let mut b = *b"0000-00-00";
    put_digits(&mut b[0..4], year as u32);
    put_digits(&mut b[5..7], d.month());
    put_digits(&mut b[8..10], d.day());
    Some(b)
}

/// Writes `n` zero-padded into all of `out`.
fn put_digits(out: &mut [u8], mut n: u32) {
    for slot in out.iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

/// Now, truncated to the microseconds both databases keep.
pub fn now_micros() -> DateTime<Utc> {
    truncate_micros(Utc::now())
}

fn truncate_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    let nanos = t.nanosecond() / 1000 * 1000;
    t.with_nanosecond(nanos).unwrap_or(t)
}

/// Years a date or date-time may have: four digits, so SQLite's text columns sort and compare
/// them as PostgreSQL does.
const YEARS: std::ops::RangeInclusive<i32> = 1..=9999;

/// A leap second (`23:59:60`) as the next second, as PostgreSQL stores it.
fn without_leap_second(t: DateTime<Utc>) -> DateTime<Utc> {
    let n = t.nanosecond();
    if n < 1_000_000_000 {
        return t;
    }
    t.with_nanosecond(n - 1_000_000_000)
        .map(|x| x + chrono::Duration::seconds(1))
        .unwrap_or(t)
}

fn fixed_to_json(minor: i64, scale: u8) -> Value {
    if scale == 0 {
        return json!(minor);
    }
    // Both operands are exact doubles and division rounds correctly, so the result prints as the
    // decimal it stands for.
    let v = minor as f64 / 10f64.powi(scale as i32);
    serde_json::Number::from_f64(v)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

/// Largest magnitude in minor units a fixed-point field of `scale` holds (what a record of it
/// may store, a filter compare with, a rollup or formula write).
pub fn max_minor(scale: u8) -> i64 {
    if scale == 0 { MAX_MINOR } else { MAX_MINOR_SCALED }
}

/// Whether minor units at `scale` are within what a fixed-point field holds.
pub fn fits_fixed(minor: i64, scale: u8) -> bool {
    let limit = max_minor(scale);
    (-limit..=limit).contains(&minor)
}

/// Parses a decimal from a JSON number or string into minor units at `scale`, exactly: digits
/// past the scale are a `scale` error (never rounded away) and a value past [`max_minor`] is
/// `out_of_range`, however many digits or whatever exponent it is written with. Nothing is
/// multiplied before its size is known, so no input can overflow on the way.
pub fn parse_fixed(v: &Value, scale: u8) -> Result<i64, (&'static str, String)> {
    let text = match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_string(),
        _ => return Err(("type", "must be a number".into())),
    };
    let n = WrittenDecimal::parse(&text).ok_or(("type", "must be a number".to_string()))?;
    let limit = max_minor(scale);
    let out_of_range = || {
        let max = fixed_to_string(limit, scale);
        ("out_of_range", format!("must be between -{max} and {max}"))
    };
    // The value in minor units is digits × 10^shift.
    let shift = n.exponent.saturating_add(i64::from(scale));
    if n.digits.is_empty() {
        return Ok(0);
    }
    if shift < 0 {
        return Err((
            "scale",
            format!("must have at most {scale} digits after the decimal point"),
        ));
    }
    // At most 19 digits: an i128 holds them and their power of ten with room to spare.
    if n.digits.len() as i64 + shift > 19 {
        return Err(out_of_range());
    }
    let magnitude = n.digits.iter().fold(0i128, |acc, d| acc * 10 + i128::from(*d)) * 10i128.pow(shift as u32);
    let minor = if n.negative { -magnitude } else { magnitude };
    i64::try_from(minor)
        .ok()
        .filter(|m| fits_fixed(*m, scale))
        .ok_or_else(out_of_range)
}

/// A decimal as written: `[+-]digits[.digits][(e|E)[+-]digits]`, read as significant digits
/// (no leading or trailing zeros; none for zero) times a power of ten.
#[derive(Debug, PartialEq)]
struct WrittenDecimal {
    negative: bool,
    digits: Vec<u8>,
    exponent: i64,
}

impl WrittenDecimal {
    /// Exponents past this many digits all mean "far too large" or "far too small".
    const MAX_EXPONENT_DIGITS: usize = 9;

    fn parse(text: &str) -> Option<WrittenDecimal> {
        let (negative, rest) = match text.as_bytes().first()? {
            b'-' => (true, &text[1..]),
            b'+' => (false, &text[1..]),
            _ => (false, text),
        };
        let (mantissa, exponent) = match rest.find(['e', 'E']) {
            Some(at) => (&rest[..at], Self::exponent(&rest[at + 1..])?),
            None => (rest, 0),
        };
        let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.len() + fraction.len() == 0 || !all_digits(whole) || !all_digits(fraction) {
            return None;
        }
        let mut digits: Vec<u8> = whole.bytes().chain(fraction.bytes()).map(|b| b - b'0').collect();
        let mut exponent = exponent - fraction.len() as i64;
        let trailing = digits.iter().rev().take_while(|d| **d == 0).count();
        digits.truncate(digits.len() - trailing);
        exponent += trailing as i64;
        let leading = digits.iter().take_while(|d| **d == 0).count();
        digits.drain(..leading);
        Some(WrittenDecimal {
            negative,
            digits,
            exponent,
        })
    }

    /// `[+-]digits`, clamped to ±10^9 (any larger exponent decides the same way).
    fn exponent(text: &str) -> Option<i64> {
        let (negative, digits) = match text.as_bytes().first()? {
            b'-' => (true, &text[1..]),
            b'+' => (false, &text[1..]),
            _ => (false, text),
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let digits = digits.trim_start_matches('0');
        let magnitude = if digits.len() > Self::MAX_EXPONENT_DIGITS {
            10i64.pow(Self::MAX_EXPONENT_DIGITS as u32)
        } else {
            digits.parse::<i64>().unwrap_or(0)
        };
        Some(if negative { -magnitude } else { magnitude })
    }
}

/// An integer field's value from a JSON number: whole numbers of 64 bits (also written as
/// `5.0` or `1e3`); a whole number past 64 bits is `out_of_range`, anything else `type`.
fn parse_integer(v: &Value) -> Result<i64, (&'static str, String)> {
    let type_err = || ("type", "must be an integer".to_string());
    let Value::Number(n) = v else { return Err(type_err()) };
    if let Some(i) = n.as_i64() {
        return Ok(i);
    }
    let out_of_range = || ("out_of_range", format!("must be between {} and {}", i64::MIN, i64::MAX));
    if n.is_u64() {
        return Err(out_of_range());
    }
    let f = n
        .as_f64()
        .filter(|f| f.is_finite() && f.fract() == 0.0)
        .ok_or_else(type_err)?;
    // Whole doubles strictly between -2^63 and 2^63 convert exactly. -2^63 itself is left out:
    // as a double it may stand for -9223372036854775809, which serde read as one; i64::MIN
    // written as an integer was taken above.
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if f > -TWO_63 && f < TWO_63 {
        Ok(f as i64)
    } else {
        Err(out_of_range())
    }
}

/// Formats minor units as a plain decimal string (for messages and text conversion).
pub fn fixed_to_string(minor: i64, scale: u8) -> String {
    Decimal::new(minor, scale as u32).to_string()
}

fn is_valid_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && local.len() <= 64
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && s.len() <= 254
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn is_valid_url(s: &str) -> bool {
    let rest = s.strip_prefix("https://").or_else(|| s.strip_prefix("http://"));
    match rest {
        Some(r) => {
            let host = r.split(['/', '?', '#']).next().unwrap_or("");
            !host.is_empty() && s.len() <= 2048 && !s.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    }
}

fn is_valid_phone(s: &str) -> bool {
    let digits = s.chars().filter(|c| c.is_ascii_digit()).count();
    (5..=20).contains(&digits) && s.chars().all(|c| c.is_ascii_digit() || " +-()".contains(c)) && !s[1..].contains('+')
}

/// Whether a JSON value holds a NUL character in a string or key (PostgreSQL stores neither in
/// text nor in jsonb, so both databases refuse them alike).
fn has_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(a) => a.iter().any(has_nul),
        Value::Object(o) => o.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

fn no_nul(field: &CompiledField, s: &str) -> Result<(), FieldError> {
    if s.contains('\0') {
        Err(fail(field, "type", "must not contain NUL characters"))
    } else {
        Ok(())
    }
}

fn fail(field: &CompiledField, code: &str, message: impl Into<String>) -> FieldError {
    FieldError::new(field.name.clone(), code, message)
}

impl CompiledField {
    /// Coerces a client's JSON value into the column's value, checking every constraint but
    /// `required` and `unique` (the write path checks those, since they depend on the operation).
    pub fn coerce(&self, v: &Value) -> Result<Val, FieldError> {
        if v.is_null() {
            return Ok(Val::Null);
        }
        let type_err = |what: &str| fail(self, "type", format!("must be {what}"));
        let val = match self.kind {
            FieldType::Text | FieldType::LongText | FieldType::Email | FieldType::Phone | FieldType::Url => {
                let s = v.as_str().ok_or_else(|| type_err("a string"))?;
                no_nul(self, s)?;
                self.check_text(s)?;
                match self.kind {
                    FieldType::Email if !is_valid_email(s) => {
                        return Err(fail(self, "format", "must be an e-mail address"));
                    }
                    FieldType::Url if !is_valid_url(s) => {
                        return Err(fail(self, "format", "must be an http or https URL"));
                    }
                    FieldType::Phone if !is_valid_phone(s) => {
                        return Err(fail(self, "format", "must be a phone number (digits, spaces, + - ( ))"));
                    }
                    _ => {}
                }
                Val::Text(s.to_string())
            }
            FieldType::Integer => Val::Int(parse_integer(v).map_err(|(c, m)| fail(self, c, m))?),
            FieldType::Decimal | FieldType::Percent => {
                Val::Fixed(parse_fixed(v, self.scale).map_err(|(c, m)| fail(self, c, m))?)
            }
            FieldType::Currency => {
                let (amount, code) = match v {
                    Value::Object(o) => {
                        let amount = o.get("amount").ok_or_else(|| fail(self, "type", "needs an amount"))?;
                        if let Some(k) = o.keys().find(|k| *k != "amount" && *k != "currency") {
                            return Err(fail(
                                self,
                                "type",
                                format!("unknown key '{}'", crate::names::truncate(k, 40)),
                            ));
                        }
                        let code = match o.get("currency") {
                            None | Some(Value::Null) => None,
                            Some(Value::String(s)) => Some(s.clone()),
                            Some(_) => {
                                return Err(fail(self, "type", "currency must be an ISO 4217 code"));
                            }
                        };
                        (amount, code)
                    }
                    other => (other, None),
                };
                let code = code.or_else(|| self.default_currency.clone()).ok_or_else(|| {
                    fail(
                        self,
                        "currency_required",
                        "needs a currency (no default currency is set)",
                    )
                })?;
                if !is_currency_code(&code) {
                    return Err(fail(
                        self,
                        "currency",
                        "currency must be a three-letter ISO 4217 code like CNY",
                    ));
                }
                let minor = parse_fixed(amount, self.scale).map_err(|(c, m)| fail(self, c, m))?;
                Val::Currency(minor, code)
            }
            FieldType::Boolean => Val::Bool(v.as_bool().ok_or_else(|| type_err("true or false"))?),
            FieldType::Date => {
                let s = v.as_str().ok_or_else(|| type_err("a date (YYYY-MM-DD)"))?;
                let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| type_err("a date (YYYY-MM-DD)"))?;
                if !YEARS.contains(&d.year()) {
                    return Err(fail(self, "out_of_range", "must be between 0001-01-01 and 9999-12-31"));
                }
                Val::Date(d)
            }
            FieldType::Datetime => {
                let s = v.as_str().ok_or_else(|| type_err("an RFC 3339 date-time"))?;
                let t = DateTime::parse_from_rfc3339(s).map_err(|_| type_err("an RFC 3339 date-time"))?;
                let t = without_leap_second(truncate_micros(t.with_timezone(&Utc)));
                if !YEARS.contains(&t.year()) {
                    return Err(fail(
                        self,
                        "out_of_range",
                        "must be between 0001-01-01 and 9999-12-31 in UTC",
                    ));
                }
                Val::DateTime(t)
            }
            FieldType::SingleSelect => {
                let s = v.as_str().ok_or_else(|| type_err("one of the options"))?;
                if !self.options.iter().any(|o| o == s) {
                    return Err(self.option_error(s));
                }
                Val::Text(s.to_string())
            }
            FieldType::MultiSelect => {
                let items = v.as_array().ok_or_else(|| type_err("an array of options"))?;
                let mut out: Vec<Value> = Vec::with_capacity(items.len());
                for item in items {
                    let s = item.as_str().ok_or_else(|| type_err("an array of options"))?;
                    if !self.options.iter().any(|o| o == s) {
                        return Err(self.option_error(s));
                    }
                    if !out.iter().any(|o| o == s) {
                        out.push(Value::String(s.to_string()));
                    }
                }
                if let Some(n) = self.min_length.filter(|n| out.len() < *n as usize) {
                    return Err(fail(self, "min_items", format!("must have at least {n} choices")));
                }
                if let Some(n) = self.max_length.filter(|n| out.len() > *n as usize) {
                    return Err(fail(self, "max_items", format!("must have at most {n} choices")));
                }
                Val::Json(Value::Array(out))
            }
            FieldType::Relation | FieldType::User => {
                let s = v.as_str().ok_or_else(|| type_err("a record id (UUID)"))?;
                let id = uuid::Uuid::parse_str(s).map_err(|_| type_err("a record id (UUID)"))?;
                Val::Text(id.hyphenated().to_string())
            }
            FieldType::Json => {
                if has_nul(v) {
                    return Err(fail(self, "type", "must not contain NUL characters"));
                }
                Val::Json(v.clone())
            }
            FieldType::AutoNumber => {
                return Err(fail(self, "read_only", "is numbered automatically and cannot be set"));
            }
            FieldType::Attachment => self.coerce_attachment(v)?,
        };
        self.check_bounds(&val)?;
        Ok(val)
    }

    /// File ids (or objects with an `id`, as answered) into `[{"id"}, ...]`, without repeats;
    /// the write path looks the files up and stores their metadata. No files is empty (null),
    /// so `is_null` and `required` see it as such.
    fn coerce_attachment(&self, v: &Value) -> Result<Val, FieldError> {
        let type_err = || fail(self, "type", "must be an array of file ids (or objects with an id)");
        let items = v.as_array().ok_or_else(type_err)?;
        let mut out: Vec<Value> = Vec::with_capacity(items.len());
        for item in items {
            let id = match item {
                Value::String(s) => s.as_str(),
                Value::Object(o) => o.get("id").and_then(Value::as_str).ok_or_else(type_err)?,
                _ => return Err(type_err()),
            };
            let id = uuid::Uuid::parse_str(id)
                .map_err(|_| type_err())?
                .hyphenated()
                .to_string();
            if !out.iter().any(|o| o["id"] == id.as_str()) {
                out.push(json!({ "id": id }));
            }
        }
        if out.len() > self.max_files as usize {
            return Err(fail(
                self,
                "max_files",
                format!("holds at most {} file(s), got {}", self.max_files, out.len()),
            ));
        }
        Ok(if out.is_empty() {
            Val::Null
        } else {
            Val::Json(Value::Array(out))
        })
    }

    fn option_error(&self, s: &str) -> FieldError {
        fail(
            self,
            "option",
            format!(
                "'{}' is not one of: {}",
                crate::names::truncate(s, 40),
                self.options.join(", ")
            ),
        )
    }

    fn check_text(&self, s: &str) -> Result<(), FieldError> {
        let len = s.chars().count();
        if let Some(n) = self.min_length.filter(|n| len < *n as usize) {
            return Err(fail(self, "min_length", format!("must be at least {n} characters")));
        }
        if let Some(n) = self.max_length.filter(|n| len > *n as usize) {
            return Err(fail(self, "max_length", format!("must be at most {n} characters")));
        }
        if let Some(re) = &self.regex
            && !re.is_match(s)
        {
            return Err(fail(self, "pattern", "does not match the required pattern"));
        }
        Ok(())
    }

    fn check_bounds(&self, val: &Val) -> Result<(), FieldError> {
        let cmp = |bound: &Val| -> Option<std::cmp::Ordering> {
            match (val, bound) {
                (Val::Int(a), Val::Int(b)) => Some(a.cmp(b)),
                (Val::Fixed(a) | Val::Currency(a, _), Val::Fixed(b)) => Some(a.cmp(b)),
                (Val::Date(a), Val::Date(b)) => Some(a.cmp(b)),
                (Val::DateTime(a), Val::DateTime(b)) => Some(a.cmp(b)),
                _ => None,
            }
        };
        if let Some(min) = &self.min
            && cmp(min) == Some(std::cmp::Ordering::Less)
        {
            return Err(fail(self, "minimum", format!("must be >= {}", self.bound_text(min))));
        }
        if let Some(max) = &self.max
            && cmp(max) == Some(std::cmp::Ordering::Greater)
        {
            return Err(fail(self, "maximum", format!("must be <= {}", self.bound_text(max))));
        }
        Ok(())
    }

    fn bound_text(&self, v: &Val) -> String {
        match v {
            Val::Fixed(m) => fixed_to_string(*m, self.scale),
            other => other.to_json(self).to_string().trim_matches('"').to_string(),
        }
    }

    /// Coerces a value for comparison in a filter: like [`Self::coerce`] but without the
    /// constraints (a filter may ask for values no record could hold) and with currency amounts
    /// as plain numbers.
    pub fn coerce_operand(&self, v: &Value) -> Result<Val, FieldError> {
        let mut plain = self.clone();
        plain.min = None;
        plain.max = None;
        plain.regex = None;
        plain.min_length = None;
        plain.max_length = None;
        match self.kind {
            FieldType::Currency | FieldType::Decimal | FieldType::Percent => Ok(Val::Fixed(
                parse_fixed(v, self.scale).map_err(|(c, m)| fail(self, c, m))?,
            )),
            FieldType::AutoNumber | FieldType::Email | FieldType::Url | FieldType::Phone | FieldType::SingleSelect => {
                let s = v.as_str().ok_or_else(|| fail(self, "type", "must be a string"))?;
                no_nul(self, s)?;
                Ok(Val::Text(s.to_string()))
            }
            FieldType::MultiSelect => {
                let s = v.as_str().ok_or_else(|| fail(self, "type", "must be one option"))?;
                no_nul(self, s)?;
                Ok(Val::Text(s.to_string()))
            }
            _ => plain.coerce(v),
        }
    }
}

/// ISO 4217 shape: three uppercase ASCII letters.
pub fn is_currency_code(s: &str) -> bool {
    s.len() == 3 && s.bytes().all(|b| b.is_ascii_uppercase())
}

#[cfg(test)]
mod tests {

    #[test]
    fn dates_are_written_as_chrono_writes_them() {
        use chrono::TimeZone;
        let mut seconds: i64 = -62_135_596_800; // 0001-01-01
        let end: i64 = 253_402_300_799; // 9999-12-31T23:59:59
        let mut micros: u32 = 0;
        while seconds <= end {
            let t = Utc.timestamp_opt(seconds, micros * 1000).unwrap();
            let fast = datetime_text(&t).unwrap();
            assert_eq!(
                std::str::from_utf8(&fast).unwrap(),
                t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
            );
            let d = t.date_naive();
            assert_eq!(
                std::str::from_utf8(&date_text(&d).unwrap()).unwrap(),
                d.format("%Y-%m-%d").to_string()
            );
            seconds += 7_919_993 + i64::from(micros % 7);
            micros = (micros + 123_457) % 1_000_000;
        }
        let last = Utc.timestamp_opt(end, 999_999_000).unwrap();
        assert_eq!(&datetime_text(&last).unwrap(), b"9999-12-31T23:59:59.999999Z");
        let leap = NaiveDate::from_ymd_opt(2016, 12, 31)
            .unwrap()
            .and_hms_micro_opt(23, 59, 59, 1_500_000)
            .unwrap()
            .and_utc();
        assert_eq!(datetime_text(&leap), None, "a leap second is left to chrono");
    }

    use super::*;
    use crate::def::{FieldDef, Label};
    use crate::names::StorageId;

    fn field(kind: FieldType, tweak: impl FnOnce(&mut FieldDef)) -> CompiledField {
        let mut f = FieldDef::new("x", Label::new("x", "x"), kind);
        f.id = Some(StorageId::generate());
        tweak(&mut f);
        CompiledField::compile(&f)
    }

    #[test]
    fn decimals_are_exact_minor_units_and_answer_as_the_same_number() {
        let f = field(FieldType::Decimal, |_| {});
        assert_eq!(f.coerce(&json!(12.34)).unwrap(), Val::Fixed(1234));
        assert_eq!(f.coerce(&json!("0.1")).unwrap(), Val::Fixed(10));
        assert_eq!(Val::Fixed(1234).to_json(&f).to_string(), "12.34");
        assert_eq!(Val::Fixed(-5).to_json(&f).to_string(), "-0.05");
        let err = f.coerce(&json!(1.234)).unwrap_err();
        assert_eq!(err.code, "scale");
        assert_eq!(f.coerce(&json!("abc")).unwrap_err().code, "type");
        assert_eq!(f.coerce(&json!(1e300)).unwrap_err().code, "out_of_range");
    }

    #[test]
    fn currency_takes_an_amount_with_a_code_or_the_default_code() {
        let f = field(FieldType::Currency, |f| f.currency = Some("CNY".into()));
        assert_eq!(f.coerce(&json!(9.5)).unwrap(), Val::Currency(950, "CNY".into()));
        assert_eq!(
            f.coerce(&json!({"amount": "1.01", "currency": "USD"})).unwrap(),
            Val::Currency(101, "USD".into())
        );
        assert_eq!(
            f.coerce(&json!({"amount": 1, "currency": "usd"})).unwrap_err().code,
            "currency"
        );
        let no_default = field(FieldType::Currency, |_| {});
        assert_eq!(no_default.coerce(&json!(1)).unwrap_err().code, "currency_required");
    }

    #[test]
    fn text_constraints_are_checked_in_characters() {
        let f = field(FieldType::Text, |f| {
            f.max_length = Some(3);
            f.pattern = Some("[a-z客户]+".into());
        });
        assert!(f.coerce(&json!("客户a")).is_ok());
        assert_eq!(f.coerce(&json!("abcd")).unwrap_err().code, "max_length");
        assert_eq!(f.coerce(&json!("AB")).unwrap_err().code, "pattern");
        assert_eq!(f.coerce(&json!(5)).unwrap_err().code, "type");
    }

    #[test]
    fn bounds_apply_to_numbers_and_dates() {
        let f = field(FieldType::Integer, |f| {
            f.min = Some(json!(0));
            f.max = Some(json!(10));
        });
        assert_eq!(f.coerce(&json!(-1)).unwrap_err().code, "minimum");
        assert_eq!(f.coerce(&json!(11)).unwrap_err().code, "maximum");
        assert_eq!(f.coerce(&json!(5.0)).unwrap(), Val::Int(5));
        assert_eq!(f.coerce(&json!(5.5)).unwrap_err().code, "type");
        let d = field(FieldType::Date, |f| f.min = Some(json!("2024-01-01")));
        assert_eq!(d.coerce(&json!("2023-12-31")).unwrap_err().code, "minimum");
        assert_eq!(d.coerce(&json!("2024-02-30")).unwrap_err().code, "type");
    }

    #[test]
    fn formats_of_email_url_phone_and_ids_are_checked() {
        assert!(field(FieldType::Email, |_| {}).coerce(&json!("a@b.cn")).is_ok());
        assert_eq!(
            field(FieldType::Email, |_| {}).coerce(&json!("a@b")).unwrap_err().code,
            "format"
        );
        assert!(field(FieldType::Url, |_| {}).coerce(&json!("https://x.cn/a?b")).is_ok());
        assert_eq!(
            field(FieldType::Url, |_| {})
                .coerce(&json!("javascript:x"))
                .unwrap_err()
                .code,
            "format"
        );
        assert!(
            field(FieldType::Phone, |_| {})
                .coerce(&json!("+86 138-0000-0000"))
                .is_ok()
        );
        assert_eq!(
            field(FieldType::Phone, |_| {})
                .coerce(&json!("call me"))
                .unwrap_err()
                .code,
            "format"
        );
        assert_eq!(
            field(FieldType::Relation, |_| {})
                .coerce(&json!("nope"))
                .unwrap_err()
                .code,
            "type"
        );
    }

    #[test]
    fn nul_characters_are_refused_in_text_json_and_operands() {
        let t = field(FieldType::Text, |_| {});
        assert_eq!(t.coerce(&json!("a\u{0}b")).unwrap_err().code, "type");
        assert_eq!(t.coerce_operand(&json!("a\u{0}")).unwrap_err().code, "type");
        let j = field(FieldType::Json, |_| {});
        assert_eq!(j.coerce(&json!({"k": ["x\u{0}"]})).unwrap_err().code, "type");
        assert_eq!(j.coerce(&json!({"k\u{0}": 1})).unwrap_err().code, "type");
        assert!(j.coerce(&json!({"k": ["x", 1, null]})).is_ok());
        let e = field(FieldType::Email, |_| {});
        assert_eq!(e.coerce_operand(&json!("a\u{0}@b.cn")).unwrap_err().code, "type");
    }

    #[test]
    fn fixed_point_values_answer_as_exactly_the_decimal_stored() {
        for scale in 1..=6u8 {
            let f = field(FieldType::Decimal, |f| f.scale = Some(scale));
            for m in [
                MAX_MINOR_SCALED,
                -MAX_MINOR_SCALED,
                MAX_MINOR_SCALED - 1,
                123_456_789_012_345,
                100_000_000_000_001,
                1,
            ] {
                let answered = Val::Fixed(m).to_json(&f);
                assert_eq!(
                    f.coerce(&answered).unwrap(),
                    Val::Fixed(m),
                    "scale {scale}: {m} answered as {answered}"
                );
            }
            assert_eq!(f.coerce(&json!(MAX_MINOR_SCALED + 1)).unwrap_err().code, "out_of_range");
        }
        let cents = field(FieldType::Decimal, |_| {});
        assert_eq!(
            cents.coerce(&json!("90071992547409.91")).unwrap_err().code,
            "out_of_range"
        );
        assert_eq!(
            cents.coerce(&json!("9999999999999.99")).unwrap(),
            Val::Fixed(MAX_MINOR_SCALED)
        );
        let whole = field(FieldType::Decimal, |f| f.scale = Some(0));
        assert_eq!(whole.coerce(&json!(MAX_MINOR)).unwrap(), Val::Fixed(MAX_MINOR));
    }

    #[test]
    fn dates_keep_four_digit_years_and_leap_seconds_become_the_next_second() {
        let d = field(FieldType::Date, |_| {});
        assert_eq!(d.coerce(&json!("0001-01-01")).unwrap().to_json(&d), json!("0001-01-01"));
        for bad in ["0000-12-31", "-0001-01-01", "+10000-01-01"] {
            assert_eq!(d.coerce(&json!(bad)).unwrap_err().code, "out_of_range", "{bad}");
        }
        let t = field(FieldType::Datetime, |_| {});
        assert_eq!(
            t.coerce(&json!("0001-01-01T00:00:00+01:00")).unwrap_err().code,
            "out_of_range"
        );
        assert_eq!(
            t.coerce(&json!("9999-12-31T23:59:59.999999-01:00")).unwrap_err().code,
            "out_of_range"
        );
        let leap = t.coerce(&json!("2026-06-30T23:59:60.5Z")).unwrap();
        assert_eq!(leap.to_json(&t), json!("2026-07-01T00:00:00.500000Z"));
    }

    #[test]
    fn attachments_take_ids_or_answered_objects_without_repeats_up_to_max_files() {
        let f = field(FieldType::Attachment, |f| f.max_files = Some(2));
        let a = "0190c0de-0000-7000-8000-000000000001";
        let b = "0190C0DE-0000-7000-8000-000000000002";
        let v = f.coerce(&json!([a, {"id": b, "name": "x.pdf", "size": 3}, a])).unwrap();
        assert_eq!(
            v,
            Val::Json(json!([{"id": a}, {"id": b.to_ascii_lowercase()}])),
            "ids are normalised and repeats dropped"
        );
        assert_eq!(f.coerce(&json!([])).unwrap(), Val::Null, "no files is empty");
        assert_eq!(
            f.coerce(&json!([a, b, "0190c0de-0000-7000-8000-000000000003"]))
                .unwrap_err()
                .code,
            "max_files"
        );
        for bad in [json!(a), json!(["nope"]), json!([1]), json!([{"name": "x"}])] {
            assert_eq!(f.coerce(&bad).unwrap_err().code, "type", "{bad}");
        }
    }

    #[test]
    fn accept_takes_exact_types_and_wildcards() {
        let f = field(FieldType::Attachment, |f| {
            f.accept = Some(vec!["application/PDF".into(), "image/*".into()]);
        });
        assert!(f.accepts("application/pdf"));
        assert!(f.accepts("image/png"));
        assert!(f.accepts("Image/JPEG; q=1"));
        assert!(!f.accepts("application/zip"));
        assert!(!f.accepts("imagex/png"));
        assert!(field(FieldType::Attachment, |_| {}).accepts("application/octet-stream"));
    }

    #[test]
    fn datetimes_are_normalised_to_utc() {
        let f = field(FieldType::Datetime, |_| {});
        let v = f.coerce(&json!("2026-11-26T08:00:00+08:00")).unwrap();
        assert_eq!(v.to_json(&f), json!("2026-11-26T00:00:00.000000Z"));
    }
}

/// Property tests of the number paths with extreme values: parsing never panics, and what it
/// accepts is exactly the value written and comes back unchanged.
#[cfg(test)]
mod number_properties {
    use std::str::FromStr;

    use proptest::prelude::*;
    use rust_decimal::Decimal;
    use serde_json::{Value, json};

    use super::*;
    use crate::def::{FieldDef, Label, RollupFn};
    use crate::names::StorageId;

    fn field(kind: FieldType, scale: u8) -> CompiledField {
        let mut f = FieldDef::new("x", Label::new("x", "x"), kind);
        f.id = Some(StorageId::generate());
        if kind.is_fixed_point() {
            f.scale = Some(scale);
        }
        if kind == FieldType::Currency {
            f.currency = Some("CNY".into());
        }
        CompiledField::compile(&f)
    }

    fn config() -> ProptestConfig {
        ProptestConfig {
            cases: 2_000,
            failure_persistence: None,
            ..ProptestConfig::default()
        }
    }

    /// Minor units at the edges and anywhere in between.
    fn minor_units() -> impl Strategy<Value = i64> {
        prop_oneof![
            Just(i64::MIN),
            Just(i64::MAX),
            Just(MAX_MINOR),
            Just(-MAX_MINOR),
            Just(MAX_MINOR_SCALED),
            Just(-MAX_MINOR_SCALED),
            Just(0),
            -MAX_MINOR_SCALED..=MAX_MINOR_SCALED,
            any::<i64>(),
        ]
    }

    /// Decimals as a client may write them: signs, up to 40 whole and 40 fraction digits,
    /// leading and trailing zeros, exponents small and huge.
    fn written() -> impl Strategy<Value = String> {
        let digits = |max: usize| proptest::collection::vec(0u8..10, 0..=max);
        let exponent = prop_oneof![
            Just(String::new()),
            (-40i64..=40).prop_map(|e| format!("e{e}")),
            (0i64..=40).prop_map(|e| format!("E+{e}")),
            Just("e99999999999999999999".to_string()),
            Just("e-99999999999999999999".to_string()),
        ];
        (
            prop_oneof![Just(""), Just("-"), Just("+")],
            digits(40),
            any::<bool>(),
            digits(40),
            exponent,
        )
            .prop_map(|(sign, whole, point, fraction, exponent)| {
                let text = |d: &[u8]| d.iter().map(|d| char::from(b'0' + d)).collect::<String>();
                let mut s = format!("{sign}{}", text(&whole));
                if point || whole.is_empty() {
                    s.push('.');
                    s.push_str(&text(&fraction));
                }
                s.push_str(&exponent);
                s
            })
    }

    /// What `text` stands for, when rust_decimal can hold it exactly.
    fn exact(text: &str) -> Option<Decimal> {
        let d = if text.contains(['e', 'E']) {
            Decimal::from_scientific(&text.replace("E+", "e"))
        } else {
            Decimal::from_str(text)
        };
        // More than 28 digits are rounded by rust_decimal: no oracle for those.
        let significant = text
            .split(['e', 'E'])
            .next()
            .unwrap_or("")
            .trim_start_matches(['-', '+'])
            .replace('.', "");
        let significant = significant.trim_start_matches('0').trim_end_matches('0');
        d.ok().filter(|_| significant.len() <= 28)
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn fixed_point_values_round_trip_or_are_refused(minor in minor_units(), scale in 0u8..=6) {
            for kind in [FieldType::Decimal, FieldType::Percent, FieldType::Currency] {
                let f = field(kind, scale);
                let val = if kind == FieldType::Currency {
                    Val::Currency(minor, "CNY".into())
                } else {
                    Val::Fixed(minor)
                };
                let answered = val.to_json(&f);
                let text = Value::String(fixed_to_string(minor, scale));
                if fits_fixed(minor, scale) {
                    prop_assert_eq!(f.coerce(&answered).unwrap(), val.clone(), "{} at scale {}", answered, scale);
                    prop_assert_eq!(parse_fixed(&text, scale), Ok(minor));
                    prop_assert_eq!(f.coerce_operand(&text).unwrap(), Val::Fixed(minor));
                } else {
                    prop_assert_eq!(f.coerce(&text).unwrap_err().code, "out_of_range");
                    prop_assert_eq!(f.coerce_operand(&text).unwrap_err().code, "out_of_range");
                }
            }
        }

        #[test]
        fn written_decimals_parse_exactly_or_are_refused(text in written(), scale in 0u8..=6) {
            let got = parse_fixed(&Value::String(text.clone()), scale);
            if let Ok(m) = got {
                prop_assert!(fits_fixed(m, scale), "{} gave {}", text, m);
                prop_assert_eq!(parse_fixed(&Value::String(fixed_to_string(m, scale)), scale), Ok(m));
            }
            let well_formed = text.trim_start_matches(['-', '+']).split(['e', 'E']).next().is_some_and(|m| m != ".");
            if well_formed {
                prop_assert!(!matches!(got, Err(("type", _))), "{} is a number: {:?}", text, got);
            }
            if let Some(d) = exact(&text) {
                let d = d.normalize();
                let want = if d.scale() > u32::from(scale) {
                    Err("scale")
                } else {
                    match d.checked_mul(Decimal::from(10i64.pow(u32::from(scale)))).and_then(|x| i64::from_str(&x.normalize().to_string()).ok()) {
                        Some(m) if fits_fixed(m, scale) => Ok(m),
                        _ => Err("out_of_range"),
                    }
                };
                prop_assert_eq!(got.map_err(|(c, _)| c), want, "{}", text);
            }
            // As a JSON number (what serde reads it as), too: never a panic.
            if let Ok(n) = serde_json::from_str::<Value>(text.trim_start_matches('+')) {
                let _ = parse_fixed(&n, scale);
                let _ = field(FieldType::Currency, scale).coerce(&json!({"amount": n, "currency": "USD"}));
            }
        }

        #[test]
        fn integers_round_trip_and_whole_numbers_past_64_bits_are_out_of_range(
            i in prop_oneof![Just(i64::MIN), Just(i64::MAX), any::<i64>()],
            extra in 1u64..=u64::MAX,
        ) {
            let f = field(FieldType::Integer, 0);
            prop_assert_eq!(f.coerce(&Val::Int(i).to_json(&f)).unwrap(), Val::Int(i));
            prop_assert_eq!(f.coerce_operand(&json!(i)).unwrap(), Val::Int(i));
            // Past either end, written as an integer (serde reads a double or a u64).
            let above = i128::from(i64::MAX) + i128::from(extra);
            let below = i128::from(i64::MIN) - i128::from(extra);
            for text in [above.to_string(), below.to_string(), format!("{above}.0"), format!("{}e10", i)] {
                let v: Value = serde_json::from_str(&text).unwrap();
                match f.coerce(&v) {
                    Ok(Val::Int(got)) => prop_assert_eq!(i128::from(got), i128::from(i) * 10_000_000_000, "{}", text),
                    Ok(other) => prop_assert!(false, "{} gave {:?}", text, other),
                    Err(e) => prop_assert!(e.code == "out_of_range", "{}: {:?}", text, e),
                }
            }
        }

        #[test]
        fn conversions_and_rollups_never_leave_a_fields_range(
            minor in minor_units(),
            sum in prop_oneof![any::<i128>(), Just(i128::from(i64::MAX) * 2), Just(i128::from(i64::MIN) * 2)],
            count in prop_oneof![Just(0i64), Just(1), Just(i64::MAX), 0i64..1000],
            from_scale in 0u8..=6,
            to_scale in 0u8..=6,
        ) {
            let kinds = [FieldType::Integer, FieldType::Decimal, FieldType::Percent, FieldType::Currency, FieldType::Text, FieldType::Boolean];
            let in_range = |v: &Val, f: &CompiledField| match v {
                Val::Fixed(m) | Val::Currency(m, _) => fits_fixed(*m, f.scale),
                _ => true,
            };
            for from_kind in kinds.iter().take(4) {
                let from = field(*from_kind, from_scale);
                let val = match from_kind {
                    FieldType::Integer => Val::Int(minor),
                    FieldType::Currency => Val::Currency(minor, "CNY".into()),
                    _ => Val::Fixed(minor),
                };
                for to_kind in kinds {
                    let to = field(to_kind, to_scale);
                    if let Some(v) = crate::plan::convert_value(&from, &to, &val) {
                        prop_assert!(in_range(&v, &to), "{:?} → {:?}: {:?}", from_kind, to_kind, v);
                    }
                }
            }
            for func in [RollupFn::Count, RollupFn::Sum, RollupFn::Avg, RollupFn::Min, RollupFn::Max] {
                for target in [field(FieldType::Integer, 0), field(FieldType::Decimal, to_scale)] {
                    let v = crate::compile::rollup_value(func, &target, from_scale, count, Some(sum), Some(minor), Some(minor));
                    if let Some(v) = v {
                        prop_assert!(in_range(&v, &target), "{:?}: {:?}", func, v);
                    }
                }
            }
        }
    }

    #[test]
    fn negative_zero_and_edges_of_the_grammar() {
        for zero in [
            "-0",
            "-0.00",
            "+0",
            "0e999999999999",
            "-0.000000000000000000000000000000000e-5",
            "00.000",
        ] {
            assert_eq!(parse_fixed(&json!(zero), 2), Ok(0), "{zero}");
        }
        assert_eq!(parse_fixed(&json!(-0.0), 2), Ok(0));
        assert_eq!(parse_fixed(&json!("1.5e2"), 0), Ok(150));
        assert_eq!(parse_fixed(&json!(".5"), 1), Ok(5));
        assert_eq!(parse_fixed(&json!("5."), 1), Ok(50));
        assert_eq!(parse_fixed(&json!("1e-3"), 2).unwrap_err().0, "scale");
        assert_eq!(parse_fixed(&json!("1e-99999999999"), 2).unwrap_err().0, "scale");
        assert_eq!(parse_fixed(&json!("1e99999999999"), 2).unwrap_err().0, "out_of_range");
        assert_eq!(parse_fixed(&json!(i64::MIN), 0).unwrap_err().0, "out_of_range");
        for bad in [
            "", "-", ".", "e5", "1e", "1e+", "1.2.3", "1_000", "0x10", "NaN", "inf", "１", "1 2",
        ] {
            assert_eq!(parse_fixed(&json!(bad), 2).unwrap_err().0, "type", "{bad:?}");
        }
        let f = field(FieldType::Integer, 0);
        assert_eq!(f.coerce(&json!(i64::MIN)).unwrap(), Val::Int(i64::MIN));
        assert_eq!(f.coerce(&json!(u64::MAX)).unwrap_err().code, "out_of_range");
        assert_eq!(f.coerce(&json!(1e300)).unwrap_err().code, "out_of_range");
        assert_eq!(f.coerce(&json!(5.5)).unwrap_err().code, "type");
        assert_eq!(f.coerce(&json!("5")).unwrap_err().code, "type");
    }
}
