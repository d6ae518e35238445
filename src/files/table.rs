//! The `idrelay get KIND` table: `GET /status` entries rendered like `kubectl get`
//! (NAMESPACE, NAME, READY, REASON, AGE, MESSAGE). Pure: entries and `now` in, text out.

use super::document::{
    KIND_REAL_TIME_TARGET, KIND_SOURCE_SYSTEM, KIND_TARGET_SYSTEM, KIND_TECHNICAL_ADMIN,
    KIND_TENANT,
};

/// Which kinds to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KindFilter {
    Tenants,
    TechnicalAdmins,
    SourceSystems,
    TargetSystems,
    RealTimeTargets,
    All,
}

impl KindFilter {
    /// Parses a kind as `kubectl get` would: plural, singular, kind name or short name, any case.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "tenants" | "tenant" | "idt" => Some(KindFilter::Tenants),
            "technicaladmins" | "technicaladmin" | "idta" => Some(KindFilter::TechnicalAdmins),
            "sourcesystems" | "sourcesystem" | "idss" => Some(KindFilter::SourceSystems),
            "targetsystems" | "targetsystem" | "idts" => Some(KindFilter::TargetSystems),
            "realtimetargets" | "realtimetarget" | "idrt" => Some(KindFilter::RealTimeTargets),
            "all" | "idrelay" => Some(KindFilter::All),
            _ => None,
        }
    }

    fn includes(self, kind: &str) -> bool {
        match self {
            KindFilter::Tenants => kind == KIND_TENANT,
            KindFilter::TechnicalAdmins => kind == KIND_TECHNICAL_ADMIN,
            KindFilter::SourceSystems => kind == KIND_SOURCE_SYSTEM,
            KindFilter::TargetSystems => kind == KIND_TARGET_SYSTEM,
            KindFilter::RealTimeTargets => kind == KIND_REAL_TIME_TARGET,
            KindFilter::All => [
                KIND_TENANT,
                KIND_TECHNICAL_ADMIN,
                KIND_SOURCE_SYSTEM,
                KIND_TARGET_SYSTEM,
                KIND_REAL_TIME_TARGET,
            ]
            .contains(&kind),
        }
    }
}

/// Renders the entries of a `GET /status` document (a JSON array) as a table.
pub fn render(status: &serde_json::Value, filter: KindFilter, now: jiff::Timestamp) -> String {
    let mut rows = vec![
        ["NAMESPACE", "NAME", "READY", "REASON", "AGE", "MESSAGE"]
            .map(String::from)
            .to_vec(),
    ];
    for entry in status.as_array().map(Vec::as_slice).unwrap_or_default() {
        let kind = entry["kind"].as_str().unwrap_or_default();
        if !filter.includes(kind) {
            continue;
        }
        let meta = &entry["metadata"];
        let name = meta["name"].as_str().unwrap_or_default();
        let name = if filter == KindFilter::All {
            format!("{}/{name}", kind.to_ascii_lowercase())
        } else {
            name.to_owned()
        };
        let ready = entry["status"]["conditions"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
            .cloned()
            .unwrap_or_default();
        let age = meta["creationTimestamp"]
            .as_str()
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
            .map(|t| age(now.duration_since(t).as_secs()))
            .unwrap_or_else(|| "<unknown>".to_owned());
        rows.push(vec![
            meta["namespace"].as_str().unwrap_or_default().to_owned(),
            name,
            ready["status"].as_str().unwrap_or("Unknown").to_owned(),
            ready["reason"].as_str().unwrap_or_default().to_owned(),
            age,
            ready["message"].as_str().unwrap_or_default().to_owned(),
        ]);
    }
    if rows.len() == 1 {
        return "No resources found.\n".to_owned();
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let last = row.len() - 1;
        for (i, cell) in row.iter().enumerate() {
            if i == last {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}   ", w = widths[i]));
            }
        }
        let trimmed = out.trim_end().len();
        out.truncate(trimmed);
        out.push('\n');
    }
    out
}

/// kubectl-like age: `45s`, `12m`, `5h`, `3d`.
pub fn age(secs: i64) -> String {
    match secs.max(0) {
        s if s < 120 => format!("{s}s"),
        s if s < 2 * 3600 => format!("{}m", s / 60),
        s if s < 2 * 86400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_filtered_rows() {
        let status = json!([
            {"kind": "Tenant", "metadata": {"namespace": "default", "name": "acme", "creationTimestamp": "2025-01-01T00:00:00Z"},
             "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "Ready", "message": "ok"}]}},
            {"kind": "TechnicalAdmin", "metadata": {"namespace": "default", "name": "admin", "creationTimestamp": "2025-01-01T00:00:00Z"},
             "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "InvalidSpec", "message": "spec.clientId: bad"}]}}
        ]);
        let now: jiff::Timestamp = "2025-01-01T00:05:00Z".parse().unwrap();
        let t = render(&status, KindFilter::Tenants, now);
        assert_eq!(t.lines().count(), 2);
        assert!(
            t.lines()
                .nth(1)
                .unwrap()
                .starts_with("default     acme   True    Ready    5m    ok"),
            "{t}"
        );
        let all = render(&status, KindFilter::All, now);
        assert!(all.contains("technicaladmin/admin"));
        assert!(all.contains("spec.clientId: bad"));
        assert_eq!(
            render(&json!([]), KindFilter::All, now),
            "No resources found.\n"
        );
    }

    #[test]
    fn kinds_and_ages() {
        assert_eq!(KindFilter::parse("IDTA"), Some(KindFilter::TechnicalAdmins));
        assert_eq!(KindFilter::parse("tenant"), Some(KindFilter::Tenants));
        assert_eq!(KindFilter::parse("pods"), None);
        assert_eq!(KindFilter::parse("idss"), Some(KindFilter::SourceSystems));
        assert_eq!(
            KindFilter::parse("TargetSystems"),
            Some(KindFilter::TargetSystems)
        );
        assert!(KindFilter::All.includes(KIND_TARGET_SYSTEM));
        assert!(!KindFilter::SourceSystems.includes(KIND_TARGET_SYSTEM));
        assert_eq!(age(59), "59s");
        assert_eq!(age(3600), "60m");
        assert_eq!(age(3 * 86400), "3d");
    }
}
