//! The file formats of an export, written page by page as [`Engine::export_page`] reads them:
//! CSV (UTF-8 with a byte order mark, so that Excel in Chinese opens it right) and XLSX
//! (rust_xlsxwriter in constant-memory mode: each row goes to a temporary file as it is
//! written, and the workbook is zipped into any writer at the end).
//!
//! [`Engine::export_page`]: crate::Engine::export_page

use std::collections::HashMap;
use std::io::Write;

use chrono::{NaiveDate, NaiveDateTime};
use rust_xlsxwriter::{Format, Workbook, XlsxError};
use trellis_core::Error;

use super::export::{Cell, Lang, cell_text};

/// Rows of an Excel worksheet, the header's included; the rows past it go on to a new sheet.
const SHEET_ROWS: u32 = 1_048_576;
/// Longest text of an Excel cell, in characters.
const MAX_CELL_CHARS: usize = 32_767;

/// The start of a CSV export: the byte order mark and the header line.
pub fn csv_head(headers: &[String]) -> Result<Vec<u8>, Error> {
    let mut out = b"\xEF\xBB\xBF".to_vec();
    let mut w = csv::Writer::from_writer(&mut out);
    w.write_record(headers).map_err(csv_error)?;
    w.flush().map_err(|e| Error::internal(format!("writing CSV: {e}")))?;
    drop(w);
    Ok(out)
}

/// The lines of a page of rows. A text that a spreadsheet would take for a formula (starting
/// with `=`, `+`, `-`, `@`, a tab or a carriage return) is written after a `'`, as OWASP advises
/// against CSV injection; numbers are written as they are.
pub fn csv_rows(rows: &[Vec<Cell>], lang: Lang) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(rows.len() * 64);
    let mut w = csv::Writer::from_writer(&mut out);
    let mut record: Vec<String> = Vec::new();
    for row in rows {
        record.clear();
        for c in row {
            let text = cell_text(c, lang);
            record.push(match c {
                Cell::Text(_) if text.starts_with(['=', '+', '-', '@', '\t', '\r']) => format!("'{text}"),
                _ => text,
            });
        }
        w.write_record(&record).map_err(csv_error)?;
    }
    w.flush().map_err(|e| Error::internal(format!("writing CSV: {e}")))?;
    drop(w);
    Ok(out)
}

fn csv_error(e: csv::Error) -> Error {
    Error::internal(format!("writing CSV: {e}"))
}

fn xlsx_error(e: XlsxError) -> Error {
    Error::internal(format!("writing XLSX: {e}"))
}

/// An XLSX workbook being written, one constant-memory worksheet at a time.
pub struct XlsxExport {
    book: Workbook,
    headers: Vec<String>,
    /// The current sheet (its index) and the next row in it.
    sheet: usize,
    row: u32,
    bold: Format,
    date: Format,
    datetime: Format,
    /// Number formats by (scale, currency).
    numbers: HashMap<(u8, Option<String>), Format>,
}

/// Days from Excel's day 0 (1899-12-30 in its 1900 date system) to a date.
fn excel_days(d: NaiveDate) -> f64 {
    let epoch = NaiveDate::from_ymd_opt(1899, 12, 30).expect("a valid date");
    (d - epoch).num_days() as f64
}

fn excel_datetime(t: NaiveDateTime) -> f64 {
    let secs = t.time().signed_duration_since(chrono::NaiveTime::MIN).num_seconds() as f64;
    excel_days(t.date()) + secs / 86_400.0
}

fn truncated(s: &str) -> &str {
    match s.char_indices().nth(MAX_CELL_CHARS) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

impl XlsxExport {
    /// A workbook with the header row; its worksheets' rows are kept in temporary files in
    /// `tempdir` (the system's temporary folder when `None`).
    pub fn new(headers: Vec<String>, tempdir: Option<&std::path::Path>) -> Result<XlsxExport, Error> {
        let mut book = Workbook::new();
        if let Some(dir) = tempdir {
            book.set_tempdir(dir).map_err(xlsx_error)?;
        }
        let mut x = XlsxExport {
            book,
            headers,
            sheet: 0,
            row: 0,
            bold: Format::new().set_bold(),
            date: Format::new().set_num_format("yyyy-mm-dd"),
            datetime: Format::new().set_num_format("yyyy-mm-dd hh:mm:ss"),
            numbers: HashMap::new(),
        };
        x.new_sheet()?;
        Ok(x)
    }

    fn new_sheet(&mut self) -> Result<(), Error> {
        let n = self.book.worksheets().len();
        let ws = self.book.add_worksheet_with_constant_memory().map_err(xlsx_error)?;
        self.sheet = n;
        for (i, h) in self.headers.iter().enumerate() {
            ws.write_string_with_format(0, i as u16, truncated(h), &self.bold)
                .map_err(xlsx_error)?;
        }
        self.row = 1;
        Ok(())
    }

    fn number_format(&mut self, scale: u8, currency: Option<&str>) -> Format {
        self.numbers
            .entry((scale, currency.map(str::to_string)))
            .or_insert_with(|| {
                let mut f = "#,##0".to_string();
                if scale > 0 {
                    f.push('.');
                    f.push_str(&"0".repeat(scale as usize));
                }
                if let Some(c) = currency {
                    f.push_str(&format!(" \"{c}\""));
                }
                Format::new().set_num_format(f)
            })
            .clone()
    }

    /// Writes a page of rows.
    pub fn rows(&mut self, rows: &[Vec<Cell>], lang: Lang) -> Result<(), Error> {
        for r in rows {
            if self.row >= SHEET_ROWS {
                self.new_sheet()?;
            }
            let row = self.row;
            for (i, c) in r.iter().enumerate() {
                let col = i as u16;
                let format = match c {
                    Cell::Number { scale, .. } => Some(self.number_format(*scale, None)),
                    Cell::Money { scale, currency, .. } => Some(self.number_format(*scale, Some(currency))),
                    _ => None,
                };
                let ws = self.book.worksheet_from_index(self.sheet).map_err(xlsx_error)?;
                let written = match c {
                    Cell::Empty => continue,
                    Cell::Text(s) => ws.write_string(row, col, truncated(s)),
                    Cell::Int(v) => ws.write_number(row, col, *v as f64),
                    Cell::Number { value, .. } | Cell::Money { value, .. } => {
                        ws.write_number_with_format(row, col, *value, format.as_ref().expect("a number format"))
                    }
                    Cell::Bool(_) => ws.write_string(row, col, cell_text(c, lang)),
                    Cell::Date(d) => ws.write_number_with_format(row, col, excel_days(*d), &self.date),
                    Cell::DateTime(t) => ws.write_number_with_format(row, col, excel_datetime(*t), &self.datetime),
                };
                written.map_err(xlsx_error)?;
            }
            self.row += 1;
        }
        Ok(())
    }

    /// Zips the workbook into `out` (which needs no seeking: the zip is written as a stream).
    pub fn finish<W: Write + Send>(mut self, out: W) -> Result<(), Error> {
        self.book.save_to_writer(out).map_err(xlsx_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_starts_with_a_bom_and_quotes_what_needs_it() {
        let head = csv_head(&["名称".into(), "a,b".into()]).unwrap();
        assert_eq!(head, "\u{feff}名称,\"a,b\"\n".as_bytes());
        let rows = csv_rows(
            &[vec![
                Cell::Text("=1+2".into()),
                Cell::Int(-5),
                Cell::Text("line\nbreak".into()),
                Cell::Empty,
            ]],
            Lang::En,
        )
        .unwrap();
        assert_eq!(String::from_utf8(rows).unwrap(), "'=1+2,-5,\"line\nbreak\",\n");
    }

    #[test]
    fn excel_serials_count_from_1899_12_30() {
        let d = NaiveDate::from_ymd_opt(2026, 3, 5).unwrap();
        assert_eq!(excel_days(d), 46086.0);
        assert_eq!(excel_datetime(d.and_hms_opt(12, 0, 0).unwrap()), 46086.5);
    }
}
