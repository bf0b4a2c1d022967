//! Delimiter-separated records (CSV, TSV, `;`-separated ...), RFC 4180 quoting.
//!
//! A field may be quoted; inside quotes the delimiter and line breaks are data and a doubled
//! quote stands for one. Field names come from the configured [`CsvOptions::columns`], or from
//! a header row ([`CsvParser::parse_line`] takes the first line it sees as the header), or
//! else are `column1`, `column2`, ... Fields borrow from the line unless they held doubled
//! quotes. A record with more or fewer fields than there are columns is *ragged*: an error
//! under strict parsing; [`CsvParser::parse_lenient`] keeps what it has (extra fields as
//! `columnN`) and reports it.
//!
//! The [`csv`](https://docs.rs/csv) crate reads whole files into owned records; a SIEM gets one
//! record per event and wants borrowed fields, so this is a small splitter of its own.

use std::borrow::Cow;

use memchr::memchr3;

use crate::fields::{Fields, Position};

/// CSV parser settings.
#[derive(Debug, Clone)]
pub struct CsvOptions {
    /// Field delimiter (one ASCII byte). `,` by default; `\t` for TSV.
    pub delimiter: u8,
    /// Quote character, `None` for formats without quoting.
    pub quote: Option<u8>,
    /// Column names. Empty: take them from the header row (when `header_row`), else
    /// `column1`, `column2`, ...
    pub columns: Vec<String>,
    /// The first record of a stream is a header row naming the columns.
    pub header_row: bool,
    /// Trim blanks around unquoted fields.
    pub trim: bool,
    /// At most this many fields per record. Default 4096.
    pub max_fields: usize,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            delimiter: b',',
            quote: Some(b'"'),
            columns: Vec::new(),
            header_row: false,
            trim: false,
            max_fields: 4096,
        }
    }
}

impl CsvOptions {
    /// Tab-separated values with no quoting.
    pub fn tsv() -> Self {
        CsvOptions {
            delimiter: b'\t',
            quote: None,
            ..CsvOptions::default()
        }
    }
}

/// What was wrong with a CSV record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CsvError {
    /// A quoted field without its closing quote.
    #[error("unterminated quoted field at {at}")]
    UnterminatedQuote {
        /// Where the quote opens.
        at: Position,
    },
    /// Text between a closing quote and the next delimiter.
    #[error("unexpected text after a closing quote at {at}")]
    TextAfterQuote {
        /// Where the text starts.
        at: Position,
    },
    /// A record whose field count differs from the column count.
    #[error("ragged record: {got} fields for {expected} columns")]
    Ragged {
        /// The number of columns.
        expected: usize,
        /// The number of fields in the record.
        got: usize,
    },
    /// More than [`CsvOptions::max_fields`] fields.
    #[error("more than {max} fields at {at}")]
    TooManyFields {
        /// The limit.
        max: usize,
        /// Where reading stopped.
        at: Position,
    },
}

/// Splits one record into its fields, unquoted. Trailing CR/LF are ignored.
pub fn split_record<'a>(line: &'a str, opts: &CsvOptions) -> Result<Vec<Cow<'a, str>>, CsvError> {
    let (v, e) = split_lenient(line, opts);
    match e {
        None => Ok(v),
        Some(e) => Err(e),
    }
}

fn split_lenient<'a>(line: &'a str, opts: &CsvOptions) -> (Vec<Cow<'a, str>>, Option<CsvError>) {
    let line = line.trim_end_matches(['\r', '\n']);
    let b = line.as_bytes();
    let d = opts.delimiter;
    let mut out = Vec::with_capacity(16);
    let mut err = None;
    let mut pos = 0;
    loop {
        if out.len() >= opts.max_fields {
            err = Some(CsvError::TooManyFields {
                max: opts.max_fields,
                at: Position::at(b, pos),
            });
            break;
        }
        let mut start = pos;
        if opts.trim {
            while start < b.len() && b[start] == b' ' && d != b' ' {
                start += 1;
            }
        }
        if let Some(q) = opts.quote.filter(|&q| b.get(start) == Some(&q)) {
            let (value, after, closed) = quoted(line, start, q);
            out.push(value);
            if !closed {
                err.get_or_insert(CsvError::UnterminatedQuote {
                    at: Position::at(b, start),
                });
                break;
            }
            // Expect a delimiter or the end.
            let mut i = after;
            if opts.trim {
                while i < b.len() && b[i] == b' ' && d != b' ' {
                    i += 1;
                }
            }
            match b.get(i) {
                None => break,
                Some(&c) if c == d => pos = i + 1,
                Some(_) => {
                    err.get_or_insert(CsvError::TextAfterQuote {
                        at: Position::at(b, i),
                    });
                    // Lenient: the stray text runs to the next delimiter and is dropped.
                    match memchr::memchr(d, &b[i..]) {
                        Some(j) => pos = i + j + 1,
                        None => break,
                    }
                }
            }
        } else {
            let end = memchr::memchr(d, &b[start..]).map_or(b.len(), |j| start + j);
            let v = &line[start..end];
            out.push(Cow::Borrowed(if opts.trim { v.trim_end() } else { v }));
            if end == b.len() {
                break;
            }
            pos = end + 1;
        }
    }
    (out, err)
}

/// A quoted field at `start`: (value, position after the closing quote, closed?).
fn quoted(line: &str, start: usize, q: u8) -> (Cow<'_, str>, usize, bool) {
    let b = line.as_bytes();
    let body = start + 1;
    let mut owned: Option<String> = None;
    let mut run = body;
    let mut i = body;
    while let Some(off) = memchr::memchr(q, &b[i..]) {
        let j = i + off;
        if b.get(j + 1) == Some(&q) {
            let s = owned.get_or_insert_with(String::new);
            s.push_str(&line[run..=j]);
            i = j + 2;
            run = i;
            continue;
        }
        let v = match owned {
            None => Cow::Borrowed(&line[body..j]),
            Some(mut s) => {
                s.push_str(&line[run..j]);
                Cow::Owned(s)
            }
        };
        return (v, j + 1, true);
    }
    let v = match owned {
        None => Cow::Borrowed(&line[body..]),
        Some(mut s) => {
            s.push_str(&line[run..]);
            Cow::Owned(s)
        }
    };
    (v, b.len(), false)
}

/// Reads CSV records into named fields. Holds the column names; one per source.
#[derive(Debug, Clone)]
pub struct CsvParser {
    opts: CsvOptions,
    columns: Vec<String>,
    header_seen: bool,
}

impl CsvParser {
    /// A parser with the configured columns (or waiting for a header row).
    pub fn new(opts: CsvOptions) -> Self {
        let columns = opts.columns.clone();
        let header_seen = !opts.header_row || !columns.is_empty();
        CsvParser {
            opts,
            columns,
            header_seen,
        }
    }

    /// The column names in use.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// Sets the column names from a header row.
    pub fn set_header(&mut self, header: &[u8]) -> Result<(), CsvError> {
        let text = String::from_utf8_lossy(header);
        self.columns = split_record(&text, &self.opts)?
            .into_iter()
            .map(|c| c.trim().to_string())
            .collect();
        self.header_seen = true;
        Ok(())
    }

    /// Feeds one line of a stream: the header row (when expected and not yet seen) sets the
    /// columns and gives `None`; any other line is parsed strictly.
    pub fn parse_line<'a>(&'a mut self, line: &'a [u8]) -> Result<Option<Fields<'a>>, CsvError> {
        if !self.header_seen {
            self.set_header(line)?;
            return Ok(None);
        }
        self.parse(line).map(Some)
    }

    /// Parses one record strictly: a ragged record or bad quoting is an error.
    pub fn parse<'a>(&'a self, record: &'a [u8]) -> Result<Fields<'a>, CsvError> {
        match self.parse_lenient(record) {
            (f, None) => Ok(f),
            (_, Some(e)) => Err(e),
        }
    }

    /// Parses one record, keeping every field (extra ones as `columnN`) and reporting the
    /// first problem.
    pub fn parse_lenient<'a>(&'a self, record: &'a [u8]) -> (Fields<'a>, Option<CsvError>) {
        // Column names borrow from `self`, so this cannot use the shared helper.
        match std::str::from_utf8(record) {
            Ok(s) => self.parse_str_lenient(s),
            Err(_) => {
                let s = String::from_utf8_lossy(record);
                let (f, e) = self.parse_str_lenient(&s);
                (f.into_owned(), e)
            }
        }
    }

    fn parse_str_lenient<'a>(&'a self, record: &'a str) -> (Fields<'a>, Option<CsvError>) {
        let (values, mut err) = split_lenient(record, &self.opts);
        let mut fields = Fields::with_capacity(values.len());
        if !self.columns.is_empty() && values.len() != self.columns.len() && err.is_none() {
            err = Some(CsvError::Ragged {
                expected: self.columns.len(),
                got: values.len(),
            });
        }
        for (i, v) in values.into_iter().enumerate() {
            match self.columns.get(i) {
                Some(name) => fields.push(name.as_str(), v),
                None => fields.push(format!("column{}", i + 1), v),
            }
        }
        (fields, err)
    }
}

/// Splits a whole document into records, honouring quoted line breaks: byte ranges of each
/// record (without its line break). Blank lines are skipped.
pub fn records(input: &[u8], quote: Option<u8>) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut in_quotes = false;
    let mut i = 0;
    let q = quote.unwrap_or(b'\n');
    while let Some(off) = memchr3(b'\n', q, b'\r', &input[i..]) {
        let j = i + off;
        i = j + 1;
        let c = input[j];
        if quote.is_some() && c == q {
            in_quotes = !in_quotes;
        } else if c == b'\n' && !in_quotes {
            let mut end = j;
            if end > start && input[end - 1] == b'\r' {
                end -= 1;
            }
            if end > start {
                out.push(start..end);
            }
            start = j + 1;
        }
    }
    if start < input.len() {
        out.push(start..input.len());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::FieldValue;

    #[test]
    fn csv_quoting_rfc4180() {
        let opts = CsvOptions::default();
        let v = split_record(r#"a,"b,c","say ""hi""",,"""#, &opts).unwrap();
        assert_eq!(v, vec!["a", "b,c", "say \"hi\"", "", ""]);
        assert!(matches!(v[1], Cow::Borrowed(_)));
        assert!(split_record(r#"a,"open"#, &opts).is_err());
        assert!(matches!(
            split_record(r#""x"y,z"#, &opts),
            Err(CsvError::TextAfterQuote { .. })
        ));
    }

    #[test]
    fn csv_header_row_names_columns() {
        let mut p = CsvParser::new(CsvOptions {
            header_row: true,
            ..CsvOptions::default()
        });
        assert!(p.parse_line(b"time, user ,ip").unwrap().is_none());
        let f = p.parse(b"1,bob,10.0.0.1\r\n").unwrap();
        assert_eq!(f.get_str("user"), Some("bob"));
        assert_eq!(f.get_str("ip"), Some("10.0.0.1"));
    }

    #[test]
    fn csv_configured_columns_and_ragged_rows() {
        let p = CsvParser::new(CsvOptions {
            columns: vec!["a".into(), "b".into()],
            ..CsvOptions::default()
        });
        assert!(matches!(
            p.parse(b"1,2,3"),
            Err(CsvError::Ragged {
                expected: 2,
                got: 3
            })
        ));
        let (f, e) = p.parse_lenient(b"1,2,3");
        assert_eq!(f.get_str("column3"), Some("3"));
        assert!(e.is_some());
        let (f, e) = p.parse_lenient(b"1");
        assert_eq!(f.len(), 1);
        assert!(matches!(e, Some(CsvError::Ragged { got: 1, .. })));
    }

    #[test]
    fn tsv_and_default_names() {
        let p = CsvParser::new(CsvOptions::tsv());
        let f = p.parse(b"x\t\"y\"\tz").unwrap();
        assert_eq!(f.get_str("column2"), Some("\"y\""));
        assert_eq!(f.get("column3"), Some(&FieldValue::from("z")));
    }

    #[test]
    fn csv_records_keep_quoted_newlines() {
        let doc = b"a,b\r\n1,\"x\ny\"\n\n2,3";
        let r: Vec<_> = records(doc, Some(b'"'))
            .into_iter()
            .map(|r| &doc[r])
            .collect();
        assert_eq!(r, vec![&b"a,b"[..], b"1,\"x\ny\"", b"2,3"]);
    }
}
