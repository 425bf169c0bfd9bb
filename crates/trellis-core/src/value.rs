//! Typed field values: JSON from a client is coerced into a `Val` by the field's type and checked
//! against its constraints; a `Val` read from a column is turned back into JSON.

use std::str::FromStr;

use chrono::{DateTime, Datelike, NaiveDate, SecondsFormat, Timelike, Utc};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
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

/// Parses a decimal from a JSON number or string into minor units at `scale`.
pub fn parse_fixed(v: &Value, scale: u8) -> Result<i64, (&'static str, String)> {
    let text = match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_string(),
        _ => return Err(("type", "must be a number".into())),
    };
    let d = Decimal::from_str(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .map_err(|_| match text.parse::<f64>() {
            Ok(f) if f.is_finite() => ("out_of_range", "is too large".to_string()),
            _ => ("type", "must be a number".to_string()),
        })?
        .normalize();
    if d.scale() > scale as u32 {
        return Err((
            "scale",
            format!("must have at most {scale} digits after the decimal point"),
        ));
    }
    let minor = (d * Decimal::from(10i64.pow(scale as u32)))
        .to_i64()
        .filter(|m| m.abs() <= if scale == 0 { MAX_MINOR } else { MAX_MINOR_SCALED })
        .ok_or(("out_of_range", "is too large".to_string()))?;
    Ok(minor)
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
            FieldType::Integer => {
                let i = match v {
                    Value::Number(n) => n.as_i64().or_else(|| {
                        n.as_f64()
                            .filter(|f| f.fract() == 0.0 && f.abs() < 9.2e18)
                            .map(|f| f as i64)
                    }),
                    _ => None,
                };
                Val::Int(i.ok_or_else(|| type_err("an integer"))?)
            }
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
