//! The job-related system properties and the pure decisions taken from them (spec/domain.md
//! §3.6 rules 44, 47, 51; §4.3–4.4): read mode and delta state, source filters, schedule
//! interval, deletion threshold and "existed before" deletion.
//!
//! Invariant: every function here is pure; a property with an unusable value falls back to
//! its documented default, except the interval, whose refusal is reported to the caller.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;

use crate::directory::Kind;
use crate::runtime::{SourceSystemConfig, SystemType};
use crate::store::{JobSourceState, JobTrigger, JobType, ReadMode, format_timestamp};

/// Source property: minutes between scheduled Read jobs (≥ [`MIN_INTERVAL_MINUTES`]).
pub const INTERVAL_PROPERTY: &str = "ips.job.interval.minutes";
/// The shortest schedule interval (rule 47).
pub const MIN_INTERVAL_MINUTES: u64 = 30;
/// Source property: job log retention in days (7, 14 or 30; default 7, rule 49).
pub const LOG_RETENTION_PROPERTY: &str = "ips.job.log.retention.days";

fn get<'a>(properties: &'a BTreeMap<String, String>, name: &str) -> Option<&'a str> {
    properties
        .get(name)
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
}

fn is_true(properties: &BTreeMap<String, String>, name: &str) -> bool {
    get(properties, name).is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// The schedule interval of a source: `Ok(None)` without the property, an error text when
/// it is not a whole number of at least [`MIN_INTERVAL_MINUTES`].
pub fn interval(properties: &BTreeMap<String, String>) -> Result<Option<Duration>, String> {
    let Some(text) = get(properties, INTERVAL_PROPERTY) else {
        return Ok(None);
    };
    match text.parse::<u64>() {
        Ok(minutes) if minutes >= MIN_INTERVAL_MINUTES => {
            Ok(Some(Duration::from_secs(minutes.saturating_mul(60))))
        }
        _ => Err(format!(
            "{INTERVAL_PROPERTY} must be a whole number of minutes, at least \
             {MIN_INTERVAL_MINUTES}; got {text:?}: the source is not scheduled"
        )),
    }
}

/// Job log retention (days) of a source: 7, 14 or 30, default 7.
pub fn log_retention_days(properties: &BTreeMap<String, String>) -> i64 {
    get(properties, LOG_RETENTION_PROPERTY)
        .and_then(|v| v.parse::<i64>().ok())
        .filter(|d| [7, 14, 30].contains(d))
        .unwrap_or(7)
}

/// `ips.delta.read=enabled`.
pub fn delta_enabled(properties: &BTreeMap<String, String>) -> bool {
    get(properties, "ips.delta.read").is_some_and(|v| v.eq_ignore_ascii_case("enabled"))
}

/// `ips.full.read.force.count` (a positive number), if set.
pub fn full_read_force_count(properties: &BTreeMap<String, String>) -> Option<u32> {
    get(properties, "ips.full.read.force.count")
        .and_then(|v| v.parse::<u32>().ok())
        .filter(|n| *n > 0)
}

/// Full or delta read (rule 44): Resync and the first job are full; a Read is delta when
/// `ips.delta.read=enabled`, except for a scheduled run after `ips.full.read.force.count`
/// scheduled delta reads.
pub fn read_mode(
    job_type: JobType,
    trigger: JobTrigger,
    properties: &BTreeMap<String, String>,
    state: &JobSourceState,
) -> ReadMode {
    if job_type == JobType::Resync || !delta_enabled(properties) || state.watermark.is_none() {
        return ReadMode::Full;
    }
    if trigger == JobTrigger::Repeat
        && full_read_force_count(properties).is_some_and(|n| state.delta_reads_since_full >= n)
    {
        return ReadMode::Full;
    }
    ReadMode::Delta
}

/// The delta state after a run started at `started_at`: unchanged after a failed read; the
/// watermark moves to the start of a successful run; a full read resets the counter, a
/// scheduled delta read increments it (only scheduled runs count, rule 44).
pub fn next_source_state(
    previous: &JobSourceState,
    mode: ReadMode,
    trigger: JobTrigger,
    started_at: Timestamp,
    read_succeeded: bool,
) -> JobSourceState {
    if !read_succeeded {
        return *previous;
    }
    let delta_reads_since_full = match (mode, trigger) {
        (ReadMode::Full, _) => 0,
        (ReadMode::Delta, JobTrigger::Repeat) => previous.delta_reads_since_full.saturating_add(1),
        (ReadMode::Delta, JobTrigger::Immediate) => previous.delta_reads_since_full,
    };
    JobSourceState {
        watermark: Some(started_at),
        delta_reads_since_full,
    }
}

/// The source filter of `kind` for jobs: `ias.user.filter` / `ias.group.filter` for
/// Identity Authentication v2 sources, `scim.user.filter` / `scim.group.filter` otherwise,
/// each falling back to its twin.
pub fn source_filter(source: &SourceSystemConfig, kind: Kind) -> Option<String> {
    let entity = match kind {
        Kind::User => "user",
        Kind::Group => "group",
    };
    let ias = format!("ias.{entity}.filter");
    let scim = format!("scim.{entity}.filter");
    let ias_first =
        matches!(source.system_type, SystemType::IdentityAuthentication) && source.api_version >= 2;
    let (first, second) = if ias_first { (ias, scim) } else { (scim, ias) };
    get(&source.properties, &first)
        .or_else(|| get(&source.properties, &second))
        .map(str::to_string)
}

/// The filter of a read: the source filter, and for a delta read `meta.lastModified gt`
/// the watermark.
pub fn read_filter(base: Option<&str>, changed_after: Option<Timestamp>) -> Option<String> {
    let delta =
        changed_after.map(|ts| format!("meta.lastModified gt \"{}\"", format_timestamp(ts)));
    match (base, delta) {
        (Some(base), Some(delta)) => Some(format!("({base}) and {delta}")),
        (Some(base), None) => Some(base.to_string()),
        (None, delta) => delta,
    }
}

/// `ips.delete.threshold.users` / `.groups` of a target (a positive number), if set.
pub fn delete_threshold(properties: &BTreeMap<String, String>, kind: Kind) -> Option<usize> {
    let name = match kind {
        Kind::User => "ips.delete.threshold.users",
        Kind::Group => "ips.delete.threshold.groups",
    };
    get(properties, name)
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
}

/// `ips.delete.existedbefore.entities=true` on the target.
pub fn delete_existed_before(properties: &BTreeMap<String, String>) -> bool {
    is_true(properties, "ips.delete.existedbefore.entities")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn ts(ms: i64) -> Timestamp {
        Timestamp::from_millisecond(ms).unwrap()
    }

    #[test]
    fn interval_needs_at_least_thirty_minutes() {
        assert_eq!(interval(&props(&[])), Ok(None));
        assert_eq!(
            interval(&props(&[(INTERVAL_PROPERTY, "45")])),
            Ok(Some(Duration::from_secs(45 * 60)))
        );
        assert!(interval(&props(&[(INTERVAL_PROPERTY, "29")])).is_err());
        assert!(interval(&props(&[(INTERVAL_PROPERTY, "soon")])).is_err());
        assert_eq!(
            log_retention_days(&props(&[(LOG_RETENTION_PROPERTY, "14")])),
            14
        );
        assert_eq!(
            log_retention_days(&props(&[(LOG_RETENTION_PROPERTY, "9")])),
            7
        );
    }

    #[test]
    fn read_mode_follows_delta_rules() {
        let delta = props(&[
            ("ips.delta.read", "enabled"),
            ("ips.full.read.force.count", "2"),
        ]);
        let never = JobSourceState::default();
        let ran = JobSourceState {
            watermark: Some(ts(1)),
            delta_reads_since_full: 1,
        };
        let (read, repeat, now) = (JobType::Read, JobTrigger::Repeat, JobTrigger::Immediate);
        // The first job is always full; Resync and disabled delta too.
        assert_eq!(read_mode(read, repeat, &delta, &never), ReadMode::Full);
        assert_eq!(
            read_mode(JobType::Resync, repeat, &delta, &ran),
            ReadMode::Full
        );
        assert_eq!(read_mode(read, repeat, &props(&[]), &ran), ReadMode::Full);
        assert_eq!(read_mode(read, repeat, &delta, &ran), ReadMode::Delta);
        // After N scheduled delta reads the next scheduled run is full; manual runs stay delta.
        let counted = JobSourceState {
            delta_reads_since_full: 2,
            ..ran
        };
        assert_eq!(read_mode(read, repeat, &delta, &counted), ReadMode::Full);
        assert_eq!(read_mode(read, now, &delta, &counted), ReadMode::Delta);
    }

    #[test]
    fn source_state_moves_only_after_a_successful_read() {
        let before = JobSourceState {
            watermark: Some(ts(1)),
            delta_reads_since_full: 3,
        };
        let repeat = JobTrigger::Repeat;
        assert_eq!(
            next_source_state(&before, ReadMode::Delta, repeat, ts(9), false),
            before
        );
        assert_eq!(
            next_source_state(&before, ReadMode::Delta, repeat, ts(9), true),
            JobSourceState {
                watermark: Some(ts(9)),
                delta_reads_since_full: 4
            }
        );
        let manual =
            next_source_state(&before, ReadMode::Delta, JobTrigger::Immediate, ts(9), true);
        assert_eq!(manual.delta_reads_since_full, 3);
        let full = next_source_state(&before, ReadMode::Full, repeat, ts(9), true);
        assert_eq!(full.delta_reads_since_full, 0);
    }

    #[test]
    fn filters_combine_with_the_watermark() {
        assert_eq!(read_filter(None, None), None);
        assert_eq!(
            read_filter(Some("userName eq \"a\""), None).as_deref(),
            Some("userName eq \"a\"")
        );
        assert_eq!(
            read_filter(Some("a pr or b pr"), Some(ts(0))).as_deref(),
            Some("(a pr or b pr) and meta.lastModified gt \"1970-01-01T00:00:00.000Z\"")
        );
    }

    #[test]
    fn deletion_properties() {
        let p = props(&[
            ("ips.delete.threshold.users", "5"),
            ("ips.delete.threshold.groups", "0"),
            ("ips.delete.existedbefore.entities", "TRUE"),
        ]);
        assert_eq!(delete_threshold(&p, Kind::User), Some(5));
        assert_eq!(delete_threshold(&p, Kind::Group), None);
        assert!(delete_existed_before(&p));
        assert!(!delete_existed_before(&props(&[])));
    }
}
