//! Reading an import file into a header and records: the UTF-8 check, strict quoting (RFC 4180
//! quotes, checked before parsing because the CSV reader itself is lenient), the field count of
//! every record, and the row number of every record.
//!
//! Invariants: a file that fails any check yields a [`FileError`] and no records; cells and
//! column names are trimmed; a leading UTF-8 byte-order mark is ignored; records whose cells
//! are all empty are skipped (spreadsheet exports end with such lines) but still counted, so
//! row numbers stay those of the file (the header is row 1).

use super::error::FileError;

/// The row number of the first data record of a file (the header is row 1).
pub const FIRST_DATA_ROW: usize = 2;

/// One data record of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The row number in the file (header = 1), shifted by the chunk's first row.
    pub row: usize,
    /// Byte offset of the record in the text (after the byte-order mark).
    pub start: usize,
    pub cells: Vec<String>,
}

/// A parsed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvFile<'t> {
    /// The text without the byte-order mark.
    pub text: &'t str,
    pub header: Vec<String>,
    /// Byte offset where the records start (the header line ends there).
    pub body_start: usize,
    pub records: Vec<Record>,
}

/// The text of a file: UTF-8 without the byte-order mark.
pub fn utf8_text(bytes: &[u8]) -> Result<&str, FileError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    std::str::from_utf8(bytes).map_err(|e| {
        let valid = &bytes[..e.valid_up_to()];
        FileError::NotUtf8 {
            line: 1 + valid.iter().filter(|b| **b == b'\n').count(),
        }
    })
}

/// Checks RFC 4180 quoting: a quoted field starts with a quote, doubles inner quotes and ends
/// with a quote followed by a separator, a line end or the end of the text.
pub fn check_quotes(text: &str) -> Result<(), FileError> {
    let b = text.as_bytes();
    let mut i = 0;
    let mut line = 1;
    let mut field_start = true;
    while i < b.len() {
        match b[i] {
            b'"' if field_start => {
                let opened = line;
                i += 1;
                loop {
                    match b.get(i) {
                        None => return Err(FileError::UnclosedQuote { line: opened }),
                        Some(b'"') if b.get(i + 1) == Some(&b'"') => i += 2,
                        Some(b'"') => {
                            i += 1;
                            break;
                        }
                        Some(b'\n') => {
                            line += 1;
                            i += 1;
                        }
                        Some(_) => i += 1,
                    }
                }
                match b.get(i) {
                    None | Some(b',' | b'\r' | b'\n') => {}
                    Some(_) => return Err(FileError::TextAfterQuote { line }),
                }
                field_start = false;
                continue;
            }
            b'"' => return Err(FileError::StrayQuote { line }),
            b',' | b'\r' => field_start = true,
            b'\n' => {
                line += 1;
                field_start = true;
            }
            _ => field_start = false,
        }
        i += 1;
    }
    Ok(())
}

/// Parses `bytes`; the first data record gets row number `first_row`.
pub fn parse(bytes: &[u8], first_row: usize) -> Result<CsvFile<'_>, FileError> {
    let text = utf8_text(bytes)?;
    check_quotes(text)?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut records = reader.records();
    let header: Vec<String> = match records.next() {
        None => return Err(FileError::Empty),
        Some(Err(e)) => return Err(csv_error(&e)),
        Some(Ok(h)) => h.iter().map(|c| c.trim().to_string()).collect(),
    };
    if header.iter().all(String::is_empty) {
        return Err(FileError::Empty);
    }
    let mut body_start = text.len();
    let mut out = Vec::new();
    for (index, record) in records.enumerate() {
        let record = record.map_err(|e| csv_error(&e))?;
        let row = first_row + index;
        let start = record
            .position()
            .and_then(|p| usize::try_from(p.byte()).ok())
            .unwrap_or(text.len());
        // After a CRLF the reader reports the record at the LF; the record starts after it.
        let start = if start > 0 && text.as_bytes().get(start - 1) == Some(&b'\r') {
            start + usize::from(text.as_bytes().get(start) == Some(&b'\n'))
        } else {
            start
        };
        if index == 0 {
            body_start = start;
        }
        if record.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        if record.len() != header.len() {
            return Err(FileError::FieldCount {
                row,
                found: record.len(),
                expected: header.len(),
            });
        }
        out.push(Record {
            row,
            start,
            cells: record.iter().map(|c| c.trim().to_string()).collect(),
        });
    }
    Ok(CsvFile {
        text,
        header,
        body_start,
        records: out,
    })
}

fn csv_error(error: &csv::Error) -> FileError {
    let line = error
        .position()
        .map(|p| usize::try_from(p.line()).unwrap_or(0))
        .unwrap_or(0);
    match error.kind() {
        csv::ErrorKind::Utf8 { .. } => FileError::NotUtf8 { line },
        _ => FileError::Request(format!("the CSV cannot be read near line {line}: {error}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_header_records_and_row_numbers() {
        let f = parse(
            b"\xEF\xBB\xBFa, b\r\n1,\"x, y\"\n\n,\n2,\"say \"\"hi\"\"\"\n",
            2,
        )
        .unwrap();
        assert_eq!(f.header, vec!["a", "b"]);
        assert_eq!(f.records.len(), 2);
        assert_eq!(f.records[0].cells, vec!["1", "x, y"]);
        assert_eq!(f.records[0].row, 2);
        // The blank record `,` is skipped but counted.
        assert_eq!(f.records[1].row, 4);
        assert_eq!(f.records[1].cells, vec!["2", "say \"hi\""]);
        assert_eq!(&f.text[f.body_start..f.body_start + 1], "1");
        assert_eq!(&f.text[f.records[1].start..f.records[1].start + 1], "2");
    }

    #[test]
    fn multi_line_cells_keep_record_numbers() {
        let f = parse(b"a,b\n\"line1\nline2\",x\ny,z\n", 2).unwrap();
        assert_eq!(f.records[0].cells[0], "line1\nline2");
        assert_eq!(f.records[1].row, 3);
    }

    #[test]
    fn malformed_files_are_refused() {
        assert_eq!(parse(b"", 2).unwrap_err(), FileError::Empty);
        assert_eq!(
            parse(b"a,b\n1,2\n\xE9t\xE9,3\n", 2).unwrap_err(),
            FileError::NotUtf8 { line: 3 }
        );
        assert_eq!(
            parse(b"a,b\n1,\"open\n2,3\n", 2).unwrap_err(),
            FileError::UnclosedQuote { line: 2 }
        );
        assert_eq!(
            parse(b"a,b\n1,ab\"c\n", 2).unwrap_err(),
            FileError::StrayQuote { line: 2 }
        );
        assert_eq!(
            parse(b"a,b\n1,\"ab\"c\n", 2).unwrap_err(),
            FileError::TextAfterQuote { line: 2 }
        );
        assert_eq!(
            parse(b"a,b\n1,2,3\n", 2).unwrap_err(),
            FileError::FieldCount {
                row: 2,
                found: 3,
                expected: 2
            }
        );
    }
}
