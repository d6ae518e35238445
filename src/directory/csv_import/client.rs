//! The upload side of the import, used by `idrelay import` and the benchmark: the whole file
//! is checked locally first (so a malformed file is refused before anything is sent), then
//! sent to `POST {base}/tenants/{t}/import/users` in chunks of rows, each chunk a slice of the
//! original text with the header line repeated and `firstRow` telling the server the row
//! numbers; the chunk reports merge into one.
//!
//! Invariants: chunk boundaries fall on record starts, so a chunk holds whole records; an
//! application-level file is sent whole (it is small); the secret goes only into the
//! Authorization header, never into an error.

use std::time::Duration;

use super::error::FileError;
use super::format::Format;
use super::report::ImportReport;
use super::run::{ImportOptions, Prepared, prepare};

/// Rows per upload by default.
pub const DEFAULT_CHUNK_ROWS: usize = 1000;
/// Bytes per upload at most (below the server's default 1 MiB body limit), unless one record
/// is larger.
pub const MAX_CHUNK_BYTES: usize = 768 * 1024;

/// One upload: a slice of the file's records behind the header line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// The row number of the chunk's first record.
    pub first_row: usize,
    /// How many records it holds.
    pub rows: usize,
    pub body: Vec<u8>,
}

/// Splits a checked file into chunks of at most `max_rows` records and about `max_bytes`
/// bytes. An application-level file is one chunk.
pub fn chunks(prepared: &Prepared<'_>, max_rows: usize, max_bytes: usize) -> Vec<Chunk> {
    let file = &prepared.file;
    let records = &file.records;
    if records.is_empty() {
        return Vec::new();
    }
    let text = file.text.as_bytes();
    let header = &text[..file.body_start.min(text.len())];
    let whole = prepared.format == Format::Application;
    let mut out = Vec::new();
    let mut i = 0;
    while i < records.len() {
        let mut j = i + 1;
        let limit_rows = if whole { usize::MAX } else { max_rows.max(1) };
        while j < records.len()
            && j - i < limit_rows
            && (whole || records[j].start - records[i].start + header.len() <= max_bytes)
        {
            j += 1;
        }
        let end = records.get(j).map_or(text.len(), |r| r.start);
        let mut body = Vec::with_capacity(header.len() + end - records[i].start);
        body.extend_from_slice(header);
        if !header.ends_with(b"\n") {
            body.push(b'\n');
        }
        body.extend_from_slice(&text[records[i].start..end]);
        out.push(Chunk {
            first_row: records[i].row,
            rows: j - i,
            body,
        });
        i = j;
    }
    out
}

/// Why an upload did not complete.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{0}; nothing was imported")]
    File(#[from] FileError),
    #[error("cannot reach {url}: {reason}")]
    Transport { url: String, reason: String },
    #[error("the server refused the upload of rows {first_row}..: HTTP {status}: {detail}")]
    Refused {
        first_row: usize,
        status: u16,
        detail: String,
    },
    #[error("the server's answer is not an import report: {0}")]
    Answer(String),
}

/// A client of one tenant's import endpoint.
#[derive(Debug, Clone)]
pub struct ImportClient {
    http: reqwest::Client,
    endpoint: String,
    client_id: String,
    secret: String,
}

impl ImportClient {
    /// `base_url` is the server (`https://127.0.0.1:8443`); `insecure` accepts any
    /// certificate (self-signed test servers).
    pub fn new(
        base_url: &str,
        tenant: &str,
        client_id: &str,
        secret: &str,
        insecure: bool,
    ) -> Result<ImportClient, ClientError> {
        // reqwest is built without a default crypto provider; another part of the process
        // may have installed one already, which is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let endpoint = format!(
            "{}/tenants/{tenant}/import/users",
            base_url.trim_end_matches('/')
        );
        let http = reqwest::Client::builder()
            .tls_danger_accept_invalid_certs(insecure)
            .no_proxy()
            .timeout(Duration::from_secs(600))
            .build()
            .map_err(|e| ClientError::Transport {
                url: endpoint.clone(),
                reason: e.to_string(),
            })?;
        Ok(ImportClient {
            http,
            endpoint,
            client_id: client_id.to_string(),
            secret: secret.to_string(),
        })
    }

    /// Uploads one chunk.
    pub async fn upload(&self, chunk: &Chunk, format: Format) -> Result<ImportReport, ClientError> {
        let transport = |e: reqwest::Error| ClientError::Transport {
            url: self.endpoint.clone(),
            reason: e.to_string(),
        };
        let response = self
            .http
            .post(&self.endpoint)
            .basic_auth(&self.client_id, Some(&self.secret))
            .query(&[
                ("format", format.as_str().to_string()),
                ("firstRow", chunk.first_row.to_string()),
            ])
            .header(reqwest::header::CONTENT_TYPE, "text/csv; charset=utf-8")
            .body(chunk.body.clone())
            .send()
            .await
            .map_err(transport)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(transport)?;
        if !status.is_success() {
            let detail = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| v.get("detail").and_then(|d| d.as_str()).map(str::to_string))
                .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
            return Err(ClientError::Refused {
                first_row: chunk.first_row,
                status: status.as_u16(),
                detail,
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Answer(e.to_string()))
    }

    /// Checks `bytes` locally, then uploads them chunk by chunk; `progress` is told how many
    /// rows each finished chunk held.
    pub async fn import_file(
        &self,
        bytes: &[u8],
        format: Option<Format>,
        chunk_rows: usize,
        mut progress: impl FnMut(usize),
    ) -> Result<ImportReport, ClientError> {
        let prepared = prepare(
            bytes,
            ImportOptions {
                format,
                ..ImportOptions::default()
            },
        )?;
        let mut reports = Vec::new();
        for chunk in chunks(&prepared, chunk_rows, MAX_CHUNK_BYTES) {
            reports.push(self.upload(&chunk, prepared.format).await?);
            progress(chunk.rows);
        }
        Ok(ImportReport::merge(reports))
    }
}

/// The number of data records of a checked file (for a progress bar).
pub fn record_count(bytes: &[u8], format: Option<Format>) -> Result<usize, FileError> {
    let prepared = prepare(
        bytes,
        ImportOptions {
            format,
            ..ImportOptions::default()
        },
    )?;
    Ok(prepared.file.records.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_repeat_the_header_and_keep_row_numbers() {
        let text = "userName,mail,lastName\na,a@x.org,A\n\"b\nb\",b@x.org,B\n,,\nc,c@x.org,C";
        let prepared = prepare(text.as_bytes(), ImportOptions::default()).unwrap();
        let parts = chunks(&prepared, 2, usize::MAX);
        assert_eq!(parts.len(), 2);
        assert_eq!(
            String::from_utf8(parts[0].body.clone()).unwrap(),
            "userName,mail,lastName\na,a@x.org,A\n\"b\nb\",b@x.org,B\n,,\n"
        );
        assert_eq!((parts[0].first_row, parts[0].rows), (2, 2));
        assert_eq!(
            String::from_utf8(parts[1].body.clone()).unwrap(),
            "userName,mail,lastName\nc,c@x.org,C"
        );
        // Row 4 is the blank record; c is row 5 in the file and in its chunk.
        assert_eq!(parts[1].first_row, 5);
        let again = prepare(
            &parts[1].body,
            ImportOptions {
                format: None,
                first_row: parts[1].first_row,
            },
        )
        .unwrap();
        assert_eq!(again.file.records[0].row, 5);
    }

    #[test]
    fn byte_limit_splits_and_application_files_stay_whole() {
        let mut text = String::from("userName,mail,lastName\n");
        for i in 0..10 {
            text.push_str(&format!("u{i},u{i}@x.org,L\n"));
        }
        let prepared = prepare(text.as_bytes(), ImportOptions::default()).unwrap();
        let parts = chunks(&prepared, 1000, 60);
        assert!(parts.len() > 1);
        assert_eq!(parts.iter().map(|c| c.rows).sum::<usize>(), 10);
        let app = "status,mail,lastName\nactive,a@x.org,A\nactive,b@x.org,B\n";
        let prepared = prepare(app.as_bytes(), ImportOptions::default()).unwrap();
        assert_eq!(chunks(&prepared, 1, 10).len(), 1);
    }
}
