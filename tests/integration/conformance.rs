//! The SCIM conformance suite `scim2-tester` (run through `scim2-cli`'s `scim2 … test`)
//! against a tenant's `/scim` base on a real idrelay process (HTTPS, self-signed).
//!
//! Invariant: the test passes only when the tool exits 0, every result line is `SUCCESS`
//! and at least [`MIN_SUCCESS_LINES`] checks ran (so an empty run cannot pass).
//!
//! The `scim2` command runs through `tests/integration/support/scim2_tester_fixes.py`, which fixes
//! defects of scim2-tester 0.5.2 that contradict RFC 7643/7644 (dateTime values it rejects
//! itself; server-assigned readOnly extension attributes; PATCH add on multi-valued and
//! already-assigned immutable attributes); see that file. Its self-test
//! `tests/integration/support/test_scim2_tester_fixes.py` (run below) shows that each fix still fails
//! a genuinely wrong value.

use crate::support;

use std::path::Path;
use std::process::Command;

use support::{ALL_DIRECTORY_PERMISSIONS, Idrelay, venv_tool};

/// scim2-tester 0.5.2 reports 135 SUCCESS lines against scim2-server 0.8.3; idrelay
/// serves more schemas (SAP extensions), so it runs at least as many checks.
const MIN_SUCCESS_LINES: usize = 100;

/// The outcome of one `scim2 test` run, split into result lines.
struct ConformanceRun {
    success: Vec<String>,
    /// Result lines whose status is not SUCCESS, each with its indented detail lines.
    failures: Vec<String>,
}

/// Strips ANSI colour sequences (click drops them when not on a terminal, but be safe).
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The result statuses of scim2-tester 0.5.2 (`scim2_tester.Status`).
const STATUSES: &[&str] = &[
    "SUCCESS",
    "COMPLIANT",
    "ACCEPTABLE",
    "DEVIATION",
    "ERROR",
    "CRITICAL",
    "SKIPPED",
];

/// The status word when `line` is a result line (`STATUS title` at column 0).
fn result_status(line: &str) -> Option<&'static str> {
    let word = line.split(' ').next().unwrap_or("");
    STATUSES.iter().copied().find(|s| *s == word)
}

/// Splits the output of `scim2 test`: a result line is `STATUS title` at column 0; its
/// reason (and, with `-v`, its data) follow, possibly over several lines. Anything else
/// before the first result (a traceback) counts as a failure.
fn parse_output(output: &str) -> ConformanceRun {
    let mut run = ConformanceRun {
        success: Vec::new(),
        failures: Vec::new(),
    };
    // Whether the lines that follow belong to a failing result (or to no result yet).
    let mut in_failure = true;
    for raw in output.lines() {
        let line = strip_ansi(raw);
        if line.trim().is_empty() || line.starts_with("Performing a SCIM compliance check") {
            continue;
        }
        match result_status(&line) {
            Some("SUCCESS") => {
                in_failure = false;
                run.success.push(line);
            }
            Some(_) => {
                in_failure = true;
                run.failures.push(line);
            }
            None if in_failure => match run.failures.last_mut() {
                Some(last) => {
                    last.push('\n');
                    last.push_str(&line);
                }
                None => run.failures.push(line),
            },
            None => {}
        }
    }
    run
}

/// `count × first line` of each distinct failing check, for a quick overview.
fn summary(failures: &[String]) -> String {
    let mut counts: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for failure in failures {
        *counts
            .entry(failure.lines().next().unwrap_or(""))
            .or_default() += 1;
    }
    counts
        .iter()
        .map(|(title, n)| format!("{n:>4} × {title}\n"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scim2_tester_reports_no_failure() {
    venv_tool("scim2");
    let python = venv_tool("python");
    let shim = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/integration/support/scim2_tester_fixes.py");
    let server = Idrelay::start(&["acme"], ALL_DIRECTORY_PERMISSIONS).await;
    let token = server.token("acme").await;
    let url = server.scim_url("acme");

    // The token goes through SCIM_CLI_HEADERS, not argv (which other users can read).
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(shim)
            .arg("--url")
            .arg(&url)
            .arg("--no-verify")
            .arg("test")
            .arg("--verbose")
            .env("SCIM_CLI_HEADERS", format!("Authorization: Bearer {token}"))
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let run = parse_output(&stdout);

    let ok = output.status.success()
        && run.failures.is_empty()
        && run.success.len() >= MIN_SUCCESS_LINES;
    assert!(
        ok,
        "scim2 test: exit {}, {} SUCCESS, {} failing result line(s):\n{}\n\n\
         --- failures by check ---\n{}\n--- scim2 stderr ---\n{stderr}\n--- idrelay log ---\n{}",
        output.status,
        run.success.len(),
        run.failures.len(),
        run.failures.join("\n"),
        summary(&run.failures),
        server.log()
    );
    eprintln!("scim2-tester: {} checks, all SUCCESS", run.success.len());
}

#[test]
fn tester_fixes_still_fail_wrong_values() {
    let python = venv_tool("python");
    let self_test = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/integration/support/test_scim2_tester_fixes.py");
    let output = Command::new(python)
        .arg(self_test)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "self-test of scim2_tester_fixes.py failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn parser_counts_success_and_collects_failures_with_details() {
    let run = parse_output(
        "Performing a SCIM compliance check on https://x ...\n\
         SUCCESS a\n  reason a\n\
         \u{1b}[31mERROR\u{1b}[0m b\n  reason b\nvalid_from\n  data b\n\
         SKIPPED c\n\
         SUCCESS d\n  reason d\nsecond reason line\n\
         DEVIATION e\n",
    );
    assert_eq!(run.success, vec!["SUCCESS a", "SUCCESS d"]);
    assert_eq!(
        run.failures,
        vec![
            "ERROR b\n  reason b\nvalid_from\n  data b",
            "SKIPPED c",
            "DEVIATION e"
        ]
    );
}
