//! Auto-number formats such as `DL-{YYYY}-{00000}`: literal text, date parts, one zero-padded
//! counter. The counter restarts for each distinct period the date parts name.

use chrono::{DateTime, Datelike, Utc};

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Literal(String),
    Year4,
    Year2,
    Month,
    Day,
    Counter(usize),
}

/// A parsed auto-number format.
#[derive(Debug, Clone, PartialEq)]
pub struct AutoFormat {
    parts: Vec<Part>,
}

impl AutoFormat {
    pub fn parse(s: &str) -> Result<AutoFormat, String> {
        let mut parts = Vec::new();
        let mut rest = s;
        let mut counters = 0;
        while !rest.is_empty() {
            if let Some(start) = rest.find('{') {
                if start > 0 {
                    parts.push(Part::Literal(rest[..start].to_string()));
                }
                let end = rest[start..].find('}').ok_or("a '{' is not closed")? + start;
                let token = &rest[start + 1..end];
                let part = match token {
                    "YYYY" => Part::Year4,
                    "YY" => Part::Year2,
                    "MM" => Part::Month,
                    "DD" => Part::Day,
                    t if !t.is_empty() && t.len() <= 12 && t.bytes().all(|b| b == b'0') => {
                        counters += 1;
                        Part::Counter(t.len())
                    }
                    t => {
                        return Err(format!(
                            "unknown part '{{{t}}}': use {{YYYY}}, {{YY}}, {{MM}}, {{DD}} or a counter like {{00000}}"
                        ));
                    }
                };
                parts.push(part);
                rest = &rest[end + 1..];
            } else {
                if rest.contains('}') {
                    return Err("a '}' has no matching '{'".into());
                }
                parts.push(Part::Literal(rest.to_string()));
                rest = "";
            }
        }
        if counters != 1 {
            return Err("needs exactly one counter like {00000}".into());
        }
        Ok(AutoFormat { parts })
    }

    /// The period the counter belongs to (`""` when the format has no date part).
    pub fn period(&self, at: &DateTime<Utc>) -> String {
        let mut key = String::new();
        for p in &self.parts {
            match p {
                Part::Year4 | Part::Year2 => key.push_str(&format!("{:04}", at.year())),
                Part::Month => key.push_str(&format!("-{:02}", at.month())),
                Part::Day => key.push_str(&format!("-{:02}", at.day())),
                _ => {}
            }
        }
        key
    }

    /// Renders the number for a counter value at a time.
    pub fn render(&self, counter: i64, at: &DateTime<Utc>) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Literal(s) => out.push_str(s),
                Part::Year4 => out.push_str(&format!("{:04}", at.year())),
                Part::Year2 => out.push_str(&format!("{:02}", at.year() % 100)),
                Part::Month => out.push_str(&format!("{:02}", at.month())),
                Part::Day => out.push_str(&format!("{:02}", at.day())),
                Part::Counter(w) => out.push_str(&format!("{counter:0w$}")),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn formats_render_with_padded_counters_and_dates() {
        let f = AutoFormat::parse("DL-{YYYY}-{00000}").unwrap();
        let at = Utc.with_ymd_and_hms(2026, 3, 4, 0, 0, 0).unwrap();
        assert_eq!(f.render(42, &at), "DL-2026-00042");
        assert_eq!(f.period(&at), "2026");
        assert_eq!(AutoFormat::parse("{0000}").unwrap().period(&at), "");
        assert_eq!(
            AutoFormat::parse("O{YY}{MM}{DD}-{000}").unwrap().render(7, &at),
            "O260304-007"
        );
    }

    #[test]
    fn bad_formats_say_what_is_wrong() {
        assert!(AutoFormat::parse("DL-{YYYY}").unwrap_err().contains("counter"));
        assert!(AutoFormat::parse("{0}{00}").unwrap_err().contains("exactly one"));
        assert!(AutoFormat::parse("{WEEK}{00}").unwrap_err().contains("unknown part"));
        assert!(AutoFormat::parse("{00").is_err());
    }
}
