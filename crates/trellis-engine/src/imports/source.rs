//! The rows of an uploaded file, read as they stream: CSV in UTF-8, UTF-16 or GB18030 (the
//! byte order mark decides, else strict UTF-8, else GB18030, the superset of GBK that Chinese
//! Excel saves), XLSX cell by cell (calamine's reader, so a sheet is never held whole), and old
//! XLS workbooks. Every cell is read as text; a date cell of a workbook as `YYYY-MM-DD[ HH:MM:SS]`.
//! The functions here block: they run on a blocking thread.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};

use calamine::{Data, DataRef, Reader, Xls, Xlsx};
use serde::{Deserialize, Serialize};
use trellis_core::Error;
use trellis_core::error::FieldCode;

/// A file's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Csv,
    Xlsx,
    Xls,
}

/// The text encoding of a CSV file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum TextEncoding {
    #[serde(rename = "utf-8")]
    Utf8,
    /// GB18030, which reads GBK and GB2312 too.
    #[serde(rename = "gb18030")]
    Gb18030,
    #[serde(rename = "utf-16le")]
    Utf16Le,
    #[serde(rename = "utf-16be")]
    Utf16Be,
}

impl TextEncoding {
    fn encoding(self) -> &'static encoding_rs::Encoding {
        match self {
            TextEncoding::Utf8 => encoding_rs::UTF_8,
            TextEncoding::Gb18030 => encoding_rs::GB18030,
            TextEncoding::Utf16Le => encoding_rs::UTF_16LE,
            TextEncoding::Utf16Be => encoding_rs::UTF_16BE,
        }
    }
}

/// How a file is read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceSpec {
    pub format: Format,
    /// CSV only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<TextEncoding>,
    /// CSV only: the byte between cells.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<u8>,
    /// Workbooks: the sheet (default the first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sheet: Option<String>,
}

/// A header, then the file's rows, numbered as a spreadsheet shows them (the header is row 1).
pub enum Item {
    Header(Vec<String>),
    Row(u64, Vec<String>),
}

fn unreadable(what: impl std::fmt::Display) -> Error {
    Error::bad_field("file", FieldCode::Format, format!("the file cannot be read: {what}"))
}

fn io(e: std::io::Error) -> Error {
    Error::internal(format!("reading an import file: {e}"))
}

/// Whether the whole stream is UTF-8 (read in blocks; a character split between two blocks is
/// carried over).
fn is_utf8(r: &mut impl Read) -> Result<bool, Error> {
    let mut buf = vec![0u8; 256 * 1024];
    let mut carry = 0usize;
    loop {
        let n = r.read(&mut buf[carry..]).map_err(io)?;
        if n == 0 {
            return Ok(carry == 0);
        }
        let len = carry + n;
        match std::str::from_utf8(&buf[..len]) {
            Ok(_) => carry = 0,
            Err(e) if e.error_len().is_none() => {
                let valid = e.valid_up_to();
                buf.copy_within(valid..len, 0);
                carry = len - valid;
            }
            Err(_) => return Ok(false),
        }
    }
}

/// UTF-16 without a byte order mark: most of the first bytes' odd (LE) or even (BE) positions
/// are zero.
fn utf16_without_bom(head: &[u8]) -> Option<TextEncoding> {
    if head.len() < 8 {
        return None;
    }
    let pairs = head.len() / 2;
    let odd = head.chunks_exact(2).filter(|p| p[1] == 0 && p[0] != 0).count();
    let even = head.chunks_exact(2).filter(|p| p[0] == 0 && p[1] != 0).count();
    if odd * 10 >= pairs * 7 {
        Some(TextEncoding::Utf16Le)
    } else if even * 10 >= pairs * 7 {
        Some(TextEncoding::Utf16Be)
    } else {
        None
    }
}

/// The delimiter of a CSV's first line: the most frequent of `,` tab `;` `|` outside quotes.
fn delimiter_of(first_line: &str) -> u8 {
    let mut counts = [(b',', 0usize), (b'\t', 0), (b';', 0), (b'|', 0)];
    let mut quoted = false;
    for b in first_line.bytes() {
        if b == b'"' {
            quoted = !quoted;
        } else if !quoted && let Some(c) = counts.iter_mut().find(|c| c.0 == b) {
            c.1 += 1;
        }
    }
    counts
        .iter()
        .max_by_key(|c| c.1)
        .filter(|c| c.1 > 0)
        .map_or(b',', |c| c.0)
}

/// Decides how to read a file: its kind by its first bytes, and for a CSV its encoding (unless
/// given) and delimiter (unless given).
pub fn sniff(
    file: &mut File,
    encoding: Option<TextEncoding>,
    delimiter: Option<u8>,
    sheet: Option<String>,
) -> Result<SourceSpec, Error> {
    let mut head = vec![0u8; 64 * 1024];
    let mut n = 0;
    while n < head.len() {
        let k = file.read(&mut head[n..]).map_err(io)?;
        if k == 0 {
            break;
        }
        n += k;
    }
    head.truncate(n);
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    if head.is_empty() {
        return Err(unreadable("it is empty"));
    }
    if head.starts_with(b"PK\x03\x04") {
        return Ok(SourceSpec {
            format: Format::Xlsx,
            encoding: None,
            delimiter: None,
            sheet,
        });
    }
    if head.starts_with(&[0xD0, 0xCF, 0x11, 0xE0]) {
        return Ok(SourceSpec {
            format: Format::Xls,
            encoding: None,
            delimiter: None,
            sheet,
        });
    }
    let encoding = match encoding {
        Some(e) => e,
        None if head.starts_with(&[0xEF, 0xBB, 0xBF]) => TextEncoding::Utf8,
        None if head.starts_with(&[0xFF, 0xFE]) => TextEncoding::Utf16Le,
        None if head.starts_with(&[0xFE, 0xFF]) => TextEncoding::Utf16Be,
        None => match utf16_without_bom(&head[..head.len().min(4096)]) {
            Some(e) => e,
            None => {
                let utf8 = is_utf8(file)?;
                file.seek(SeekFrom::Start(0)).map_err(io)?;
                if utf8 {
                    TextEncoding::Utf8
                } else {
                    TextEncoding::Gb18030
                }
            }
        },
    };
    let delimiter = match delimiter {
        Some(d) => d,
        None => {
            let (text, _, _) = encoding.encoding().decode(&head);
            delimiter_of(text.lines().next().unwrap_or(""))
        }
    };
    Ok(SourceSpec {
        format: Format::Csv,
        encoding: Some(encoding),
        delimiter: Some(delimiter),
        sheet: None,
    })
}

/// A number as a person would type it: whole numbers without a fraction.
fn number_text(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{f:.0}")
    } else {
        f.to_string()
    }
}

/// A workbook's date or time cell as ISO text.
fn date_text(serial: f64) -> String {
    match trellis_core::coerce::excel_serial(serial) {
        Some(dt) if dt.time() == chrono::NaiveTime::MIN => dt.format("%Y-%m-%d").to_string(),
        Some(dt) => dt.format("%Y-%m-%d %H:%M:%S").to_string(),
        None => number_text(serial),
    }
}

fn cell_ref_text(v: &DataRef<'_>) -> String {
    match v {
        DataRef::Int(i) => i.to_string(),
        DataRef::Float(f) => number_text(*f),
        DataRef::String(s) => s.clone(),
        DataRef::SharedString(s) => s.to_string(),
        DataRef::Bool(b) => b.to_string(),
        DataRef::DateTime(d) if d.is_datetime() => date_text(d.as_f64()),
        DataRef::DateTime(d) => number_text(d.as_f64()),
        DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => s.clone(),
        DataRef::Error(e) => e.to_string(),
        DataRef::Empty => String::new(),
    }
}

fn cell_text(v: &Data) -> String {
    match v {
        Data::Int(i) => i.to_string(),
        Data::Float(f) => number_text(*f),
        Data::String(s) => s.clone(),
        Data::Bool(b) => b.to_string(),
        Data::DateTime(d) if d.is_datetime() => date_text(d.as_f64()),
        Data::DateTime(d) => number_text(d.as_f64()),
        Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Error(e) => e.to_string(),
        Data::Empty => String::new(),
    }
}

/// Reads a file: `f` takes the header, then each row; it answers false to stop.
pub fn read(file: File, spec: &SourceSpec, mut f: impl FnMut(Item) -> bool) -> Result<(), Error> {
    match spec.format {
        Format::Csv => {
            let encoding = spec.encoding.unwrap_or(TextEncoding::Utf8);
            let decoded = encoding_rs_io::DecodeReaderBytesBuilder::new()
                .encoding(Some(encoding.encoding()))
                .bom_override(true)
                .build(BufReader::with_capacity(256 * 1024, file));
            let mut csv = csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .delimiter(spec.delimiter.unwrap_or(b','))
                .from_reader(decoded);
            let mut record = csv::StringRecord::new();
            let mut line: u64 = 0;
            loop {
                match csv.read_record(&mut record) {
                    Ok(false) => return Ok(()),
                    Ok(true) => {}
                    Err(e) => return Err(unreadable(format!("row {}: {e}", line + 1))),
                }
                line += 1;
                let cells: Vec<String> = record.iter().map(str::to_string).collect();
                let item = if line == 1 {
                    Item::Header(cells)
                } else {
                    Item::Row(line, cells)
                };
                if !f(item) {
                    return Ok(());
                }
            }
        }
        Format::Xlsx => {
            let mut book: Xlsx<_> = Xlsx::new(BufReader::new(file)).map_err(unreadable)?;
            let sheet = sheet_name(book.sheet_names(), spec.sheet.as_deref())?;
            let mut cells = book.worksheet_cells_reader(&sheet).map_err(unreadable)?;
            let mut row: Vec<String> = Vec::new();
            let mut at: Option<u32> = None;
            let mut first: Option<u32> = None;
            let mut emit = |r: u32, cells: Vec<String>, first: u32| {
                let line = (r - first) as u64 + 1;
                f(if line == 1 {
                    Item::Header(cells)
                } else {
                    Item::Row(line, cells)
                })
            };
            while let Some(cell) = cells.next_cell().map_err(unreadable)? {
                let (r, c) = cell.get_position();
                let first_row = *first.get_or_insert(r);
                if at != Some(r) {
                    if let Some(prev) = at {
                        if !emit(prev, std::mem::take(&mut row), first_row) {
                            return Ok(());
                        }
                        // Rows with no cell at all between two rows are blank rows.
                        for blank in prev + 1..r {
                            if !emit(blank, Vec::new(), first_row) {
                                return Ok(());
                            }
                        }
                    }
                    at = Some(r);
                }
                let c = c as usize;
                if row.len() <= c {
                    row.resize(c + 1, String::new());
                }
                row[c] = cell_ref_text(cell.get_value());
            }
            if let (Some(r), Some(first)) = (at, first) {
                emit(r, row, first);
            }
            Ok(())
        }
        Format::Xls => {
            let mut book: Xls<_> = Xls::new(BufReader::new(file)).map_err(unreadable)?;
            let sheet = sheet_name(book.sheet_names(), spec.sheet.as_deref())?;
            let range = book.worksheet_range(&sheet).map_err(unreadable)?;
            for (i, r) in range.rows().enumerate() {
                let cells = r.iter().map(cell_text).collect();
                let line = i as u64 + 1;
                if !f(if line == 1 {
                    Item::Header(cells)
                } else {
                    Item::Row(line, cells)
                }) {
                    break;
                }
            }
            Ok(())
        }
    }
}

fn sheet_name(names: Vec<String>, asked: Option<&str>) -> Result<String, Error> {
    match asked {
        Some(a) => names.into_iter().find(|n| n == a).ok_or_else(|| {
            Error::bad_field(
                "sheet",
                FieldCode::UnknownKey,
                format!("the workbook has no sheet '{}'", trellis_core::names::truncate(a, 64)),
            )
        }),
        None => names
            .into_iter()
            .next()
            .ok_or_else(|| unreadable("the workbook has no sheet")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn spec_of(bytes: &[u8]) -> (SourceSpec, Vec<Vec<String>>) {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(bytes).unwrap();
        f.seek(SeekFrom::Start(0)).unwrap();
        let spec = sniff(&mut f, None, None, None).unwrap();
        let mut rows = Vec::new();
        read(f, &spec, |i| {
            rows.push(match i {
                Item::Header(c) | Item::Row(_, c) => c,
            });
            true
        })
        .unwrap();
        (spec, rows)
    }

    #[test]
    fn encodings_are_told_apart() {
        let text = "名称;金额\n华为;￥1,200.00\n";
        let (s, rows) = spec_of(text.as_bytes());
        assert_eq!((s.encoding, s.delimiter), (Some(TextEncoding::Utf8), Some(b';')));
        assert_eq!(rows[1], ["华为", "￥1,200.00"]);

        let (gbk, _, _) = encoding_rs::GBK.encode("名称,地区\n华为,华南\n");
        let (s, rows) = spec_of(&gbk);
        assert_eq!(s.encoding, Some(TextEncoding::Gb18030));
        assert_eq!(rows, [["名称", "地区"], ["华为", "华南"]]);

        let mut le = vec![0xFF, 0xFE];
        for u in "名称\t地区\r\n华为\t华南\r\n".encode_utf16() {
            le.extend(u.to_le_bytes());
        }
        let (s, rows) = spec_of(&le);
        assert_eq!((s.encoding, s.delimiter), (Some(TextEncoding::Utf16Le), Some(b'\t')));
        assert_eq!(rows[1], ["华为", "华南"]);

        let mut bom = vec![0xEF, 0xBB, 0xBF];
        bom.extend("a,b\n1,2\n".as_bytes());
        let (_, rows) = spec_of(&bom);
        assert_eq!(
            rows[0],
            ["a", "b"],
            "the byte order mark is not part of the first header"
        );
    }

    #[test]
    fn utf8_split_between_blocks_is_still_utf8() {
        let mut text = "x".repeat(256 * 1024 - 1);
        text.push('华');
        assert!(is_utf8(&mut text.as_bytes()).unwrap());
        let mut bad = text.into_bytes();
        bad.push(0xFF);
        assert!(!is_utf8(&mut bad.as_slice()).unwrap());
    }
}
