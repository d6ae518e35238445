//! The files driver's memory between passes: generations, first-seen times, statuses, and the
//! last good documents of each file. Pure (no I/O): documents and `now` in, configuration and
//! status entries out.
//!
//! Invariants:
//! - `metadata.generation` starts at 1 and increases by one whenever the `spec` of a known
//!   resource changes (a resource that disappears and comes back starts again at 1);
//! - `metadata.creationTimestamp` is the document's own value, else when this process first saw
//!   the resource; it decides precedence between conflicting resources;
//! - a pass over unchanged documents returns identical statuses.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use serde_json::json;

use crate::api::conditions::{Health, merge_conditions, reason};
use crate::api::{
    API_VERSION, SourceSystemStatus, TargetSystemStatus, TechnicalAdminStatus, TenantStatus,
};
use crate::reconcile::{ObjectKey, Observations, Resources, reconcile, whole_seconds};
use crate::runtime::RuntimeConfig;

use super::document::{
    Document, KIND_REAL_TIME_TARGET, KIND_SOURCE_SYSTEM, KIND_TARGET_SYSTEM, KIND_TECHNICAL_ADMIN,
    KIND_TENANT,
};

#[derive(Debug, Clone, PartialEq)]
struct Tracked {
    spec: serde_json::Value,
    generation: i64,
    created: jiff::Timestamp,
}

/// One resource as `GET /status` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusEntry {
    pub kind: &'static str,
    pub key: ObjectKey,
    pub generation: i64,
    pub created: jiff::Timestamp,
    /// The status object (`observedGeneration`, `conditions`, …).
    pub status: serde_json::Value,
}

impl StatusEntry {
    /// `{apiVersion, kind, metadata{namespace,name,generation,creationTimestamp}, status}`.
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "apiVersion": API_VERSION,
            "kind": self.kind,
            "metadata": {
                "namespace": self.key.namespace,
                "name": self.key.name,
                "generation": self.generation,
                "creationTimestamp": self.created.to_string(),
            },
            "status": self.status,
        })
    }
}

/// State carried from one pass to the next.
#[derive(Debug, Default)]
pub struct FilesState {
    tracked: BTreeMap<(&'static str, ObjectKey), Tracked>,
    tenant_statuses: BTreeMap<ObjectKey, TenantStatus>,
    admin_statuses: BTreeMap<ObjectKey, TechnicalAdminStatus>,
    source_statuses: BTreeMap<ObjectKey, SourceSystemStatus>,
    target_statuses: BTreeMap<ObjectKey, TargetSystemStatus>,
    realtime_statuses: BTreeMap<ObjectKey, crate::api::RealTimeTargetStatus>,
    /// What the driver observed about real-time targets (Test Connection, pushes).
    realtime_observed: crate::reconcile::real_time_target::RealTimeObservations,
}

/// What one pass produced.
#[derive(Debug, Clone, PartialEq)]
pub struct PassOutput {
    pub config: RuntimeConfig,
    /// Every resource, sorted by kind (Tenant, TechnicalAdmin, SourceSystem, TargetSystem) then
    /// namespace/name.
    pub entries: Vec<StatusEntry>,
    /// Problems worth logging (duplicate documents).
    pub problems: Vec<String>,
}

impl FilesState {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets what the next passes see of real-time targets (Test Connection, push health).
    pub fn set_realtime_observations(
        &mut self,
        observed: crate::reconcile::real_time_target::RealTimeObservations,
    ) {
        self.realtime_observed = observed;
    }

    /// Reconciles `documents` (all documents of the directory) at `now`, without observations.
    pub fn pass(&mut self, documents: Vec<Document>, now: jiff::Timestamp) -> PassOutput {
        self.pass_with(documents, Observations::none(), now)
    }

    /// Reconciles `documents` with what the driver observed (connection checks, delivery health).
    pub fn pass_with(
        &mut self,
        documents: Vec<Document>,
        observations: &Observations,
        now: jiff::Timestamp,
    ) -> PassOutput {
        let now = whole_seconds(now);
        let mut problems = Vec::new();
        let mut seen: BTreeMap<(&'static str, ObjectKey), ()> = BTreeMap::new();
        let mut tenants = Vec::new();
        let mut admins = Vec::new();
        let mut sources = Vec::new();
        let mut targets = Vec::new();
        let mut realtime = Vec::new();
        let mut secrets: Vec<Secret> = Vec::new();
        let mut invalid = Vec::new();
        let mut next_tracked = BTreeMap::new();
        for doc in documents {
            let id = doc.identity();
            if seen.insert(id.clone(), ()).is_some() {
                problems.push(format!(
                    "{} {} is defined more than once; the first definition is used",
                    id.0, id.1
                ));
                continue;
            }
            match doc {
                Document::Secret(s) => secrets.push(s),
                Document::Tenant(mut t) => {
                    let spec = serde_json::to_value(&t.spec).unwrap_or_default();
                    self.stamp(&mut next_tracked, &id, spec, &mut t.metadata, now);
                    t.status = self.tenant_statuses.get(&id.1).cloned();
                    tenants.push(t);
                }
                Document::TechnicalAdmin(mut a) => {
                    let spec = serde_json::to_value(&a.spec).unwrap_or_default();
                    self.stamp(&mut next_tracked, &id, spec, &mut a.metadata, now);
                    a.status = self.admin_statuses.get(&id.1).cloned();
                    admins.push(a);
                }
                Document::SourceSystem(mut x) => {
                    let spec = serde_json::to_value(&x.spec).unwrap_or_default();
                    self.stamp(&mut next_tracked, &id, spec, &mut x.metadata, now);
                    x.status = self.source_statuses.get(&id.1).cloned();
                    sources.push(x);
                }
                Document::TargetSystem(mut x) => {
                    let spec = serde_json::to_value(&x.spec).unwrap_or_default();
                    self.stamp(&mut next_tracked, &id, spec, &mut x.metadata, now);
                    x.status = self.target_statuses.get(&id.1).cloned();
                    targets.push(x);
                }
                Document::RealTimeTarget(mut x) => {
                    let spec = serde_json::to_value(&x.spec).unwrap_or_default();
                    self.stamp(&mut next_tracked, &id, spec, &mut x.metadata, now);
                    x.status = self.realtime_statuses.get(&id.1).cloned();
                    realtime.push(x);
                }
                Document::Invalid(bad) => {
                    let mut meta = ObjectMeta::default();
                    self.stamp(&mut next_tracked, &id, bad.spec.clone(), &mut meta, now);
                    invalid.push((bad, meta.generation));
                }
            }
        }
        self.tracked = next_tracked;

        let outcome = reconcile(
            Resources {
                tenants: &tenants,
                technical_admins: &admins,
                secrets: &secrets,
                source_systems: &sources,
                target_systems: &targets,
                observations,
            },
            now,
        );
        let mut tenant_statuses = outcome.tenants;
        let mut admin_statuses = outcome.technical_admins;
        let mut source_statuses = outcome.source_systems;
        let mut target_statuses = outcome.target_systems;
        let mut config = outcome.config;
        let realtime_outcome = crate::reconcile::real_time_target::reconcile_real_time_targets(
            &realtime,
            &config,
            &crate::reconcile::secrets::SecretIndex::new(&secrets),
            &self.realtime_observed,
            now,
        );
        config.realtime_targets = realtime_outcome.accepted;
        let mut realtime_statuses = realtime_outcome.statuses;
        for (bad, generation) in invalid {
            let health = Health::stalled(reason::INVALID_SPEC, bad.message);
            let desired = health.conditions(generation, now);
            let merged = |prev: Option<&Vec<_>>| {
                merge_conditions(prev.map(Vec::as_slice).unwrap_or_default(), desired)
            };
            match bad.kind {
                KIND_TENANT => {
                    let prev = self.tenant_statuses.get(&bad.key).map(|s| &s.conditions);
                    let status = TenantStatus {
                        observed_generation: generation,
                        conditions: merged(prev),
                        ..Default::default()
                    };
                    tenant_statuses.insert(bad.key, status);
                }
                KIND_TECHNICAL_ADMIN => {
                    let prev = self.admin_statuses.get(&bad.key).map(|s| &s.conditions);
                    let status = TechnicalAdminStatus {
                        observed_generation: generation,
                        conditions: merged(prev),
                        ..Default::default()
                    };
                    admin_statuses.insert(bad.key, status);
                }
                KIND_SOURCE_SYSTEM => {
                    let prev = self.source_statuses.get(&bad.key).map(|s| &s.conditions);
                    let status = SourceSystemStatus {
                        observed_generation: generation,
                        conditions: merged(prev),
                        ..Default::default()
                    };
                    source_statuses.insert(bad.key, status);
                }
                KIND_REAL_TIME_TARGET => {
                    let prev = self.realtime_statuses.get(&bad.key).map(|s| &s.conditions);
                    let status = crate::api::RealTimeTargetStatus {
                        observed_generation: generation,
                        conditions: merged(prev),
                        ..Default::default()
                    };
                    realtime_statuses.insert(bad.key, status);
                }
                _ => {
                    let prev = self.target_statuses.get(&bad.key).map(|s| &s.conditions);
                    let status = TargetSystemStatus {
                        observed_generation: generation,
                        conditions: merged(prev),
                        ..Default::default()
                    };
                    target_statuses.insert(bad.key, status);
                }
            }
        }
        self.tenant_statuses = tenant_statuses;
        self.admin_statuses = admin_statuses;
        self.source_statuses = source_statuses;
        self.target_statuses = target_statuses;
        self.realtime_statuses = realtime_statuses;
        PassOutput {
            config,
            entries: self.entries(),
            problems,
        }
    }

    /// Sets generation and creation time on `meta`, recording them for the next pass.
    fn stamp(
        &self,
        next: &mut BTreeMap<(&'static str, ObjectKey), Tracked>,
        id: &(&'static str, ObjectKey),
        spec: serde_json::Value,
        meta: &mut ObjectMeta,
        now: jiff::Timestamp,
    ) {
        let tracked = match self.tracked.get(id) {
            Some(prev) if prev.spec == spec => prev.clone(),
            Some(prev) => Tracked {
                spec,
                generation: prev.generation + 1,
                created: prev.created,
            },
            None => Tracked {
                spec,
                generation: 1,
                created: meta.creation_timestamp.as_ref().map(|t| t.0).unwrap_or(now),
            },
        };
        meta.generation = Some(tracked.generation);
        meta.creation_timestamp = Some(Time(tracked.created));
        next.insert(id.clone(), tracked);
    }

    /// The status entries of the last pass.
    pub fn entries(&self) -> Vec<StatusEntry> {
        let entry = |kind: &'static str, key: &ObjectKey, status: serde_json::Value| {
            let tracked = self.tracked.get(&(kind, key.clone()));
            StatusEntry {
                kind,
                key: key.clone(),
                generation: tracked.map(|t| t.generation).unwrap_or(1),
                created: tracked.map(|t| t.created).unwrap_or_default(),
                status,
            }
        };
        let tenants = self
            .tenant_statuses
            .iter()
            .map(|(k, s)| entry(KIND_TENANT, k, serde_json::to_value(s).unwrap_or_default()));
        let admins = self.admin_statuses.iter().map(|(k, s)| {
            entry(
                KIND_TECHNICAL_ADMIN,
                k,
                serde_json::to_value(s).unwrap_or_default(),
            )
        });
        let sources = self.source_statuses.iter().map(|(k, s)| {
            entry(
                KIND_SOURCE_SYSTEM,
                k,
                serde_json::to_value(s).unwrap_or_default(),
            )
        });
        let targets = self.target_statuses.iter().map(|(k, s)| {
            entry(
                KIND_TARGET_SYSTEM,
                k,
                serde_json::to_value(s).unwrap_or_default(),
            )
        });
        let realtime = self.realtime_statuses.iter().map(|(k, s)| {
            entry(
                KIND_REAL_TIME_TARGET,
                k,
                serde_json::to_value(s).unwrap_or_default(),
            )
        });
        tenants
            .chain(admins)
            .chain(sources)
            .chain(targets)
            .chain(realtime)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::document::parse_documents;

    fn docs(text: &str) -> Vec<Document> {
        parse_documents(text, "t.yaml").unwrap().documents
    }

    const BASE: &str = r#"
apiVersion: idrelay.dev/v1alpha1
kind: Tenant
metadata: {name: acme}
spec: {}
---
apiVersion: idrelay.dev/v1alpha1
kind: TechnicalAdmin
metadata: {name: admin}
spec:
  tenantRef: {name: acme}
  displayName: Admin
  permissions: [ManageUsers]
  secrets: [{secretRef: {name: s, key: k}}]
---
apiVersion: v1
kind: Secret
metadata: {name: s}
stringData: {k: hunter2}
"#;

    fn t(s: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(s).unwrap()
    }

    #[test]
    fn generations_and_stable_statuses() {
        let mut state = FilesState::new();
        let first = state.pass(docs(BASE), t(10));
        assert_eq!(first.config.tenants["acme"].admins.len(), 1);
        assert!(
            first
                .entries
                .iter()
                .all(|e| e.generation == 1 && e.created == t(10))
        );
        let second = state.pass(docs(BASE), t(20));
        assert_eq!(first, second);
        let changed = BASE.replace(
            "permissions: [ManageUsers]",
            "permissions: [ManageUsers, ReadUsers]",
        );
        let third = state.pass(docs(&changed), t(30));
        let admin = third
            .entries
            .iter()
            .find(|e| e.kind == KIND_TECHNICAL_ADMIN)
            .unwrap();
        assert_eq!(admin.generation, 2);
        assert_eq!(admin.status["observedGeneration"], 2);
        assert_eq!(
            admin.status["conditions"][0]["lastTransitionTime"],
            "1970-01-01T00:00:10Z"
        );
        let tenant = third
            .entries
            .iter()
            .find(|e| e.kind == KIND_TENANT)
            .unwrap();
        assert_eq!(tenant.generation, 1);
        let json = serde_json::to_string(
            &third
                .entries
                .iter()
                .map(StatusEntry::to_json)
                .collect::<Vec<_>>(),
        )
        .unwrap();
        assert!(!json.contains("hunter2"));
    }

    #[test]
    fn invalid_document_gets_stalled_status_and_others_still_work() {
        let bad = BASE.replace(
            "permissions: [ManageUsers]",
            "permissions: [ManageUsers, Fly]",
        );
        let mut state = FilesState::new();
        let out = state.pass(docs(&bad), t(10));
        assert!(out.config.tenants["acme"].admins.is_empty());
        let admin = out
            .entries
            .iter()
            .find(|e| e.kind == KIND_TECHNICAL_ADMIN)
            .unwrap()
            .to_json();
        assert_eq!(admin["metadata"]["name"], "admin");
        let conds = admin["status"]["conditions"].as_array().unwrap();
        assert_eq!(conds[0]["type"], "Ready");
        assert_eq!(conds[0]["status"], "False");
        assert_eq!(conds[0]["reason"], "InvalidSpec");
        assert!(
            conds[0]["message"]
                .as_str()
                .unwrap()
                .starts_with("spec.permissions[1]: unknown variant")
        );
        assert_eq!(conds[1]["type"], "Stalled");
        assert_eq!(conds[1]["status"], "True");
        // Fixing it bumps the generation and makes it Ready.
        let out = state.pass(docs(BASE), t(20));
        let admin = out
            .entries
            .iter()
            .find(|e| e.kind == KIND_TECHNICAL_ADMIN)
            .unwrap();
        assert_eq!(admin.generation, 2);
        assert_eq!(admin.status["conditions"][0]["status"], "True");
        assert_eq!(out.config.tenants["acme"].admins.len(), 1);
    }

    #[test]
    fn duplicates_are_reported_and_first_wins() {
        let text = format!(
            "{BASE}\n---\napiVersion: idrelay.dev/v1alpha1\nkind: Tenant\nmetadata: {{name: acme}}\nspec: {{hosts: [x.example]}}\n"
        );
        let out = FilesState::new().pass(docs(&text), t(1));
        assert_eq!(out.problems.len(), 1);
        assert!(out.config.tenants["acme"].hosts.is_empty());
    }
}
