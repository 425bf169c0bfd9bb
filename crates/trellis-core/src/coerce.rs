//! Reading the text of a spreadsheet cell as a field's value, the way people type it in China
//! and elsewhere: `2026年3月5日`, `2026/3/5`, `05/03/2026` (day or month first, as the caller
//! says), Excel serial dates, `￥1,200.00`, `12%`, `(300)`, `是`/`否`, full-width digits, option
//! labels in Chinese or English. The answer is the JSON a client would send for the field, so
//! the write path checks it like any other write.

use std::collections::HashMap;
use std::sync::LazyLock;

use chrono::{Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone};
use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::def::FieldType;
use crate::error::FieldCode;
use crate::zone::Zone;

/// The order of day, month and year in dates written with the year last (`05/03/2026`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DateOrder {
    /// Day first: `05/03/2026` is 5 March (Europe, most of Asia).
    Dmy,
    /// Month first: `05/03/2026` is 3 May (United States).
    Mdy,
}

/// How a date text reads, for deciding the order of a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateShape {
    /// Not a date with the year last: its reading does not depend on the order.
    Fixed,
    /// Year last and both first parts ≤ 12 and different: it reads two ways.
    Either,
    /// Year last with a first part over 12: day first.
    DayFirst,
    /// Year last with a second part over 12: month first.
    MonthFirst,
}

/// Why a cell is not a value of its field: a stable code and an English message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellError {
    pub code: FieldCode,
    pub message: String,
}

impl CellError {
    fn new(code: FieldCode, message: impl Into<String>) -> CellError {
        CellError {
            code,
            message: message.into(),
        }
    }
}

/// What the cells of one column need beyond their field's type.
#[derive(Debug, Clone, Default)]
pub struct ColumnReading {
    /// The order of year-last dates in this column, when known.
    pub date_order: Option<DateOrder>,
    /// Option names by their lowercased name, zh label and en label.
    pub options: HashMap<String, String>,
    /// Whether a percent sign divides by 100 (decimal fields; a percent field keeps the number).
    pub percent_divides: bool,
}

/// The value of a cell: the JSON the field takes, or a text to be matched against records
/// (relations) or users.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Value(Value),
    /// A relation or user named by text: matched by the engine.
    Lookup(String),
}

static YMD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:[T\s]+(.*))?$").expect("regex")
});
static YEAR_LAST: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(\d{1,2})\s*([-/.])\s*(\d{1,2})\s*[-/.]\s*(\d{4})(?:[T\s]+(.*))?$").expect("regex"));
static COMPACT: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^(\d{4})(\d{2})(\d{2})$").expect("regex"));
static TIME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(\d{1,2})\s*[:时點点]\s*(\d{1,2})\s*(?:[:分]\s*(\d{1,2})(?:\.(\d{1,6}))?\s*秒?)?\s*(?i:(am|pm|上午|下午))?$",
    )
    .expect("regex")
});

/// Full-width digits, signs and separators as their ASCII forms; other text unchanged.
pub fn narrow(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '０'..='９' => char::from(b'0' + (c as u32 - '０' as u32) as u8),
            '．' => '.',
            '，' => ',',
            '－' => '-',
            '＋' => '+',
            '／' => '/',
            '：' => ':',
            '％' => '%',
            '（' => '(',
            '）' => ')',
            '\u{3000}' | '\u{a0}' | '\u{202f}' | '\u{2009}' => ' ',
            c => c,
        })
        .collect()
}

/// How a date text reads (see [`DateShape`]); `None` when it is no date at all.
pub fn date_shape(text: &str) -> Option<DateShape> {
    let t = narrow(text.trim());
    if let Some(c) = YEAR_LAST.captures(&t) {
        let a: u32 = c[1].parse().ok()?;
        let b: u32 = c[3].parse().ok()?;
        return Some(match (a > 12, b > 12) {
            (true, false) => DateShape::DayFirst,
            (false, true) => DateShape::MonthFirst,
            (false, false) if a == b => DateShape::Fixed,
            (false, false) => DateShape::Either,
            (true, true) => return None,
        });
    }
    parse_date_time(&t, None).ok().map(|_| DateShape::Fixed)
}

/// What a column's date shapes say about its order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnOrder {
    /// No date of the column depends on the order.
    Any,
    /// The cells decide it.
    Decided(DateOrder),
    /// They cannot: every year-last date reads two ways, or both orders are seen.
    Unsure,
}

/// The order a column's counts of [`DateShape`]s imply.
pub fn column_order(day_first: u64, month_first: u64, either: u64) -> ColumnOrder {
    match (day_first > 0, month_first > 0) {
        (true, false) => ColumnOrder::Decided(DateOrder::Dmy),
        (false, true) => ColumnOrder::Decided(DateOrder::Mdy),
        (true, true) => ColumnOrder::Unsure,
        (false, false) if either > 0 => ColumnOrder::Unsure,
        (false, false) => ColumnOrder::Any,
    }
}

fn ymd(y: &str, m: &str, d: &str) -> Result<NaiveDate, CellError> {
    let (y, m, d) = (
        y.parse::<i32>().unwrap_or(0),
        m.parse::<u32>().unwrap_or(0),
        d.parse::<u32>().unwrap_or(0),
    );
    NaiveDate::from_ymd_opt(y, m, d).ok_or_else(|| CellError::new(FieldCode::Type, "is not a date of the calendar"))
}

fn time_of(text: Option<&str>) -> Result<Option<NaiveTime>, CellError> {
    let Some(t) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let t = t.trim_end_matches('Z');
    let c = TIME
        .captures(t)
        .ok_or_else(|| CellError::new(FieldCode::Type, "has a time that is not HH:MM[:SS]"))?;
    let mut h: u32 = c[1].parse().unwrap_or(99);
    let m: u32 = c[2].parse().unwrap_or(99);
    let s: u32 = c.get(3).map_or(0, |s| s.as_str().parse().unwrap_or(99));
    let micros: u32 = c.get(4).map_or(0, |f| {
        let digits = f.as_str();
        digits.parse::<u32>().unwrap_or(0) * 10u32.pow(6 - digits.len() as u32)
    });
    match c.get(5).map(|p| p.as_str().to_lowercase()) {
        Some(p) if (p == "pm" || p == "下午") && h < 12 => h += 12,
        Some(p) if (p == "am" || p == "上午") && h == 12 => h = 0,
        _ => {}
    }
    NaiveTime::from_hms_micro_opt(h, m, s, micros)
        .map(Some)
        .ok_or_else(|| CellError::new(FieldCode::Type, "has a time that is not HH:MM[:SS]"))
}

/// An Excel serial day number (1900 date system, as Excel counts it) as a date and time.
pub fn excel_serial(n: f64) -> Option<NaiveDateTime> {
    if !(1.0..2_958_466.0).contains(&n) {
        return None;
    }
    let base = NaiveDate::from_ymd_opt(1899, 12, 30)?.and_hms_opt(0, 0, 0)?;
    let micros = (n * 86_400_000_000.0).round() as i64;
    Some(base + Duration::microseconds(micros))
}

/// A date and maybe a time from a text; year-last dates need `order` unless they read one way.
pub fn parse_date_time(text: &str, order: Option<DateOrder>) -> Result<(NaiveDate, Option<NaiveTime>), CellError> {
    let t = narrow(text.trim());
    if let Ok(dt) = chrono::DateTime::parse_from_rfc3339(&t) {
        let n = dt.naive_utc();
        return Ok((n.date(), Some(n.time())));
    }
    if let Some(c) = YMD.captures(&t) {
        return Ok((ymd(&c[1], &c[2], &c[3])?, time_of(c.get(4).map(|m| m.as_str()))?));
    }
    if let Some(c) = YEAR_LAST.captures(&t) {
        let (a, b): (u32, u32) = (c[1].parse().unwrap_or(0), c[3].parse().unwrap_or(0));
        let order = match (a > 12, b > 12, order) {
            (true, false, _) => DateOrder::Dmy,
            (false, true, _) => DateOrder::Mdy,
            _ if a == b => DateOrder::Dmy,
            (_, _, Some(o)) => o,
            (_, _, None) => {
                return Err(CellError::new(
                    FieldCode::AmbiguousDate,
                    "reads as two dates: name the column's date order (dmy or mdy)",
                ));
            }
        };
        let (d, m) = match order {
            DateOrder::Dmy => (&c[1], &c[3]),
            DateOrder::Mdy => (&c[3], &c[1]),
        };
        return Ok((ymd(&c[4], m, d)?, time_of(c.get(5).map(|m| m.as_str()))?));
    }
    if let Some(c) = COMPACT.captures(&t) {
        return Ok((ymd(&c[1], &c[2], &c[3])?, None));
    }
    for f in ["%d %b %Y", "%b %d, %Y", "%B %d, %Y", "%d %B %Y"] {
        if let Ok(d) = NaiveDate::parse_from_str(&t, f) {
            return Ok((d, None));
        }
    }
    if let Ok(n) = t.parse::<f64>()
        && let Some(dt) = excel_serial(n)
    {
        let time = dt.time();
        return Ok((dt.date(), (time != NaiveTime::MIN).then_some(time)));
    }
    Err(CellError::new(
        FieldCode::Type,
        "is not a date (like 2026-03-05 or 2026年3月5日)",
    ))
}

/// Money and numbers as people write them: the number's text (plain ASCII decimal), and the
/// currency its symbol or code names.
fn clean_number(text: &str, percent_divides: bool) -> Result<(String, Option<&'static str>), CellError> {
    let mut t = narrow(text.trim());
    let mut currency = None;
    for (sym, code) in [
        ("HK$", "HKD"),
        ("US$", "USD"),
        ("RMB", "CNY"),
        ("CNY", "CNY"),
        ("USD", "USD"),
        ("EUR", "EUR"),
        ("HKD", "HKD"),
        ("JPY", "JPY"),
        ("GBP", "GBP"),
        ("￥", "CNY"),
        ("¥", "CNY"),
        ("元", "CNY"),
        ("$", "USD"),
        ("€", "EUR"),
        ("£", "GBP"),
    ] {
        if let Some(i) = t.find(sym) {
            currency = Some(code);
            t.replace_range(i..i + sym.len(), "");
            break;
        }
    }
    let mut t: String = t.chars().filter(|c| !matches!(c, ',' | ' ' | '_' | '\'')).collect();
    let mut negative = false;
    if t.starts_with('(') && t.ends_with(')') && t.len() > 2 {
        negative = true;
        t = t[1..t.len() - 1].to_string();
    }
    let percent = t.ends_with('%');
    if percent {
        t.pop();
    }
    let ok = !t.is_empty()
        && t.chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E'))
        && t.chars().any(|c| c.is_ascii_digit());
    if !ok {
        return Err(CellError::new(FieldCode::Type, "must be a number"));
    }
    if negative {
        t = format!("-{t}");
    }
    if percent && percent_divides {
        let d: rust_decimal::Decimal = t
            .parse()
            .or_else(|_| rust_decimal::Decimal::from_scientific(&t))
            .map_err(|_| CellError::new(FieldCode::Type, "must be a number"))?;
        t = (d / rust_decimal::Decimal::from(100)).normalize().to_string();
    }
    Ok((t, currency))
}

fn boolean(text: &str) -> Option<bool> {
    match narrow(text.trim()).to_lowercase().as_str() {
        "是" | "对" | "真" | "有" | "√" | "✓" | "✔" | "yes" | "y" | "true" | "t" | "1" | "on" | "x" => {
            Some(true)
        }
        "否" | "错" | "假" | "无" | "×" | "✗" | "✘" | "no" | "n" | "false" | "f" | "0" | "off" => Some(false),
        _ => None,
    }
}

fn option(c: &ColumnReading, text: &str) -> Result<String, CellError> {
    c.options
        .get(&text.trim().to_lowercase())
        .cloned()
        .ok_or_else(|| CellError::new(FieldCode::Option, "is none of the field's options (by name or label)"))
}

/// The value of one cell for a field of `kind`, or why not; blank cells are null.
pub fn read_cell(kind: FieldType, c: &ColumnReading, zone: Zone, text: &str) -> Result<Cell, CellError> {
    let t = text.trim();
    // A `'` that an export put before `=`, `+`, `-`, `@` (so no cell runs as a formula) is not
    // part of the value.
    let t = match t.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@', '\t', '\r']) => rest,
        _ => t,
    };
    if t.is_empty() {
        return Ok(Cell::Value(Value::Null));
    }
    let v = match kind {
        FieldType::Text
        | FieldType::LongText
        | FieldType::Email
        | FieldType::Phone
        | FieldType::Url
        | FieldType::AutoNumber => Value::String(t.to_string()),
        FieldType::Integer => {
            let (n, _) = clean_number(t, false)?;
            match n.parse::<i64>() {
                Ok(i) => json!(i),
                Err(_) => match n.parse::<f64>() {
                    Ok(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => json!(f as i64),
                    _ => return Err(CellError::new(FieldCode::Type, "must be a whole number")),
                },
            }
        }
        FieldType::Decimal | FieldType::Percent => {
            Value::String(clean_number(t, c.percent_divides && kind == FieldType::Decimal)?.0)
        }
        FieldType::Currency => {
            let (amount, currency) = clean_number(t, false)?;
            match currency {
                Some(code) => json!({"amount": amount, "currency": code}),
                None => json!({"amount": amount}),
            }
        }
        FieldType::Boolean => Value::Bool(
            boolean(t).ok_or_else(|| CellError::new(FieldCode::Type, "must be yes or no (是/否, true/false, 1/0)"))?,
        ),
        FieldType::Date => {
            let (d, time) = parse_date_time(t, c.date_order)?;
            if time.is_some_and(|t| t != NaiveTime::MIN) {
                return Err(CellError::new(
                    FieldCode::Type,
                    "is a date and time; the field takes a date",
                ));
            }
            Value::String(d.format("%Y-%m-%d").to_string())
        }
        FieldType::Datetime => {
            if let Ok(dt) = chrono::DateTime::parse_from_rfc3339(&narrow(t)) {
                return Ok(Cell::Value(Value::String(dt.to_rfc3339())));
            }
            let (d, time) = parse_date_time(t, c.date_order)?;
            let local = d.and_time(time.unwrap_or(NaiveTime::MIN));
            let at = zone
                .tz()
                .from_local_datetime(&local)
                .earliest()
                .ok_or_else(|| CellError::new(FieldCode::Type, "is a time skipped by a clock change"))?;
            Value::String(at.with_timezone(&chrono::Utc).to_rfc3339())
        }
        FieldType::SingleSelect => Value::String(option(c, t)?),
        FieldType::MultiSelect => {
            let mut out = Vec::new();
            for part in t.split([',', '，', ';', '；', '、', '|', '\n']) {
                if !part.trim().is_empty() {
                    out.push(Value::String(option(c, part)?));
                }
            }
            Value::Array(out)
        }
        FieldType::Relation | FieldType::User => return Ok(Cell::Lookup(t.to_string())),
        FieldType::Json => serde_json::from_str(t).map_err(|_| CellError::new(FieldCode::Type, "must be JSON"))?,
        FieldType::Attachment => {
            return Err(CellError::new(
                FieldCode::ReadOnly,
                "files cannot be imported from a sheet",
            ));
        }
    };
    Ok(Cell::Value(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc() -> Zone {
        Zone::parse("time_zone", "UTC").unwrap()
    }

    fn val(kind: FieldType, text: &str) -> Value {
        match read_cell(kind, &ColumnReading::default(), utc(), text).unwrap() {
            Cell::Value(v) => v,
            Cell::Lookup(s) => panic!("lookup {s}"),
        }
    }

    fn date(text: &str, order: Option<DateOrder>) -> Result<String, &'static str> {
        parse_date_time(text, order)
            .map(|(d, _)| d.format("%Y-%m-%d").to_string())
            .map_err(|e| e.code.as_str())
    }

    #[test]
    fn dates_as_people_write_them() {
        assert_eq!(date("2026年3月5日", None).unwrap(), "2026-03-05");
        assert_eq!(date("２０２６年３月５日", None).unwrap(), "2026-03-05");
        assert_eq!(date("2026/3/5", None).unwrap(), "2026-03-05");
        assert_eq!(date("2026-03-05", None).unwrap(), "2026-03-05");
        assert_eq!(date("2026.03.05", None).unwrap(), "2026-03-05");
        assert_eq!(date("20260305", None).unwrap(), "2026-03-05");
        assert_eq!(date("25/03/2026", None).unwrap(), "2026-03-25");
        assert_eq!(date("03/25/2026", None).unwrap(), "2026-03-25");
        assert_eq!(date("05/05/2026", None).unwrap(), "2026-05-05");
        assert_eq!(date("05/03/2026", None), Err("ambiguous_date"));
        assert_eq!(date("05/03/2026", Some(DateOrder::Dmy)).unwrap(), "2026-03-05");
        assert_eq!(date("05/03/2026", Some(DateOrder::Mdy)).unwrap(), "2026-05-03");
        assert_eq!(date("46086", None).unwrap(), "2026-03-05");
        assert_eq!(date("5 Mar 2026", None).unwrap(), "2026-03-05");
        assert_eq!(date("2026年2月30日", None), Err("type"));
        assert_eq!(date("soon", None), Err("type"));
    }

    #[test]
    fn shapes_decide_a_column_order() {
        assert_eq!(date_shape("25/03/2026"), Some(DateShape::DayFirst));
        assert_eq!(date_shape("03/25/2026"), Some(DateShape::MonthFirst));
        assert_eq!(date_shape("05/03/2026"), Some(DateShape::Either));
        assert_eq!(date_shape("05/05/2026"), Some(DateShape::Fixed));
        assert_eq!(date_shape("2026年3月5日"), Some(DateShape::Fixed));
        assert_eq!(date_shape("x"), None);
        assert_eq!(column_order(3, 0, 10), ColumnOrder::Decided(DateOrder::Dmy));
        assert_eq!(column_order(0, 1, 10), ColumnOrder::Decided(DateOrder::Mdy));
        assert_eq!(column_order(0, 0, 10), ColumnOrder::Unsure);
        assert_eq!(column_order(1, 1, 0), ColumnOrder::Unsure);
        assert_eq!(column_order(0, 0, 0), ColumnOrder::Any);
    }

    #[test]
    fn datetimes_are_local_to_the_zone() {
        let sh = Zone::parse("time_zone", "Asia/Shanghai").unwrap();
        let c = ColumnReading::default();
        let v = read_cell(FieldType::Datetime, &c, sh, "2026年3月5日 14:30").unwrap();
        assert_eq!(v, Cell::Value(json!("2026-03-05T06:30:00+00:00")));
        let v = read_cell(FieldType::Datetime, &c, sh, "2026-03-05 02:30:15 PM").unwrap();
        assert_eq!(v, Cell::Value(json!("2026-03-05T06:30:15+00:00")));
        let v = read_cell(FieldType::Datetime, &c, sh, "2026-03-05T14:30:00+08:00").unwrap();
        assert_eq!(v, Cell::Value(json!("2026-03-05T14:30:00+08:00")));
        assert_eq!(
            read_cell(FieldType::Date, &c, sh, "2026-03-05 14:30").unwrap_err().code,
            FieldCode::Type
        );
    }

    #[test]
    fn numbers_money_and_percent() {
        assert_eq!(
            val(FieldType::Currency, "￥1,200.00"),
            json!({"amount": "1200.00", "currency": "CNY"})
        );
        assert_eq!(
            val(FieldType::Currency, "¥ 1,200"),
            json!({"amount": "1200", "currency": "CNY"})
        );
        assert_eq!(
            val(FieldType::Currency, "1200.50 USD"),
            json!({"amount": "1200.50", "currency": "USD"})
        );
        assert_eq!(val(FieldType::Currency, "（３００）"), json!({"amount": "-300"}));
        assert_eq!(val(FieldType::Integer, "1,234"), json!(1234));
        assert_eq!(val(FieldType::Integer, "12.0"), json!(12));
        assert_eq!(val(FieldType::Percent, "12.5%"), json!("12.5"));
        let divides = ColumnReading {
            percent_divides: true,
            ..Default::default()
        };
        assert_eq!(
            read_cell(FieldType::Decimal, &divides, utc(), "12.5%").unwrap(),
            Cell::Value(json!("0.125"))
        );
        for bad in ["12a", "--", "abc", "1,2,x"] {
            assert_eq!(
                read_cell(FieldType::Decimal, &ColumnReading::default(), utc(), bad)
                    .unwrap_err()
                    .code,
                FieldCode::Type,
                "{bad}"
            );
        }
        assert_eq!(
            read_cell(FieldType::Integer, &ColumnReading::default(), utc(), "1.5")
                .unwrap_err()
                .code,
            FieldCode::Type
        );
    }

    #[test]
    fn yes_no_options_and_lookups() {
        assert_eq!(val(FieldType::Boolean, "是"), json!(true));
        assert_eq!(val(FieldType::Boolean, "否"), json!(false));
        assert_eq!(val(FieldType::Boolean, "TRUE"), json!(true));
        assert_eq!(val(FieldType::Boolean, "  "), Value::Null);
        // What an export escaped reads back as it was; another apostrophe stays.
        assert_eq!(val(FieldType::Phone, "'+86 138 0000 0000"), json!("+86 138 0000 0000"));
        assert_eq!(val(FieldType::Text, "'=cmd()"), json!("=cmd()"));
        assert_eq!(val(FieldType::Text, "'tis"), json!("'tis"));
        assert_eq!(val(FieldType::Integer, "'-5"), json!(-5));
        let c = ColumnReading {
            options: HashMap::from([
                ("north".into(), "north".into()),
                ("华北".into(), "north".into()),
                ("south".into(), "south".into()),
                ("华南".into(), "south".into()),
            ]),
            ..Default::default()
        };
        assert_eq!(
            read_cell(FieldType::SingleSelect, &c, utc(), "华北").unwrap(),
            Cell::Value(json!("north"))
        );
        assert_eq!(
            read_cell(FieldType::MultiSelect, &c, utc(), "华北、South").unwrap(),
            Cell::Value(json!(["north", "south"]))
        );
        assert_eq!(
            read_cell(FieldType::SingleSelect, &c, utc(), "西北").unwrap_err().code,
            FieldCode::Option
        );
        assert_eq!(
            read_cell(FieldType::Relation, &c, utc(), " 华为 ").unwrap(),
            Cell::Lookup("华为".into())
        );
    }
}
