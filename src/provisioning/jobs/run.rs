//! One job run (spec/domain.md §3.6 rules 43–45, 51): read the source, then for every
//! enabled target connected to it write new or changed entities (Read) or everything
//! (Resync), and — on a full read whose source read succeeded — delete what vanished from
//! the source, within the deletion threshold and the "existed before" rule.
//!
//! Each entity goes through the same pipeline as a real-time delivery
//! ([`crate::delivery::pipeline::plan`] then [`crate::delivery::worker::perform_plan`]): the
//! source read transformation, the target write transformation, the SCIM calls with
//! create-conflict resolution. Progress (id mappings, content hashes) is committed in batches
//! through the writer.
//!
//! Invariants:
//! - Nothing is deleted after a failed or delta read, or above a deletion threshold.
//! - A job only deletes entities a job of the same source wrote (`job_entities`), and never
//!   an entity that existed in the target before unless `ips.delete.existedbefore.entities`.
//! - Writes into an Identity Authentication target carry [`JOB_HEADER`] with the source
//!   system id, so that directory records them with origin `job:<source id>`.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use jiff::Timestamp;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::properties;
use super::source::SourceReader;
use crate::delivery::pipeline::{self, Action, PlanInput};
use crate::delivery::worker::{MappingChange, Outbound, Performed, perform_plan};
use crate::delivery::{ClientSettings, ScimClient};
use crate::directory::{Directory, Kind, WriterHandle};
use crate::provisioning::transform::{EntityIdResolver, EntityType};
use crate::runtime::{SourceSystemConfig, SystemType, TargetSystemConfig};
use crate::store::{
    EventOperation, FailedEntity, IdMappingRow, JobEntityKey, JobType, MAX_FAILED_ENTITIES,
    ReadMode, RowWrite, StatisticsRole, Store, StoreError, SystemStatistics, entity_type_str,
};

/// The request header a job sends to an Identity Authentication target: the id of the source
/// system whose job writes (the loop-prevention marker, spec/domain.md §3.1 rules 4–5).
pub const JOB_HEADER: &str = crate::directory::scim_v2::context::PROVISIONING_JOB_HEADER;

/// Progress is committed after this many row writes.
const FLUSH_EVERY: usize = 50;

/// What to run.
pub struct RunInput {
    pub tenant: Arc<str>,
    pub source: Arc<SourceSystemConfig>,
    /// The enabled targets connected to the source, in id order.
    pub targets: Vec<Arc<TargetSystemConfig>>,
    pub job_type: JobType,
    pub mode: ReadMode,
    /// Delta reads: entities changed after this.
    pub changed_after: Option<Timestamp>,
    /// The tenant's own directory (sources without URL).
    pub directory: Option<Arc<Directory>>,
}

/// What a run did.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutcome {
    /// The source first, then each target.
    pub statistics: Vec<SystemStatistics>,
    /// At most [`MAX_FAILED_ENTITIES`].
    pub failed_entities: Vec<FailedEntity>,
    /// Every failure, also those not listed.
    pub failed_total: u64,
    pub read_succeeded: bool,
    /// A run-level error (the store could not record progress).
    pub message: Option<String>,
}

/// Failed entities: every one counted, the first [`MAX_FAILED_ENTITIES`] kept.
#[derive(Default)]
struct Failures {
    shown: Vec<FailedEntity>,
    total: u64,
}

impl Failures {
    fn add(&mut self, system: &str, kind: Kind, id: &str, operation: Option<&str>, reason: String) {
        self.total += 1;
        if self.shown.len() < MAX_FAILED_ENTITIES {
            self.shown.push(FailedEntity {
                system: system.to_string(),
                entity_type: entity_type_str(kind).to_string(),
                entity_id: id.to_string(),
                operation: operation.map(str::to_string),
                reason,
            });
        }
    }
}

/// Hash of a source entity as written (canonical JSON without `meta`): an unchanged hash
/// means a Read job has nothing to write.
pub fn content_hash(entity: &Value) -> String {
    fn canonical(value: &Value, out: &mut String, top: bool) {
        match value {
            Value::Object(map) => {
                let mut keys: Vec<&String> =
                    map.keys().filter(|k| !(top && *k == "meta")).collect();
                keys.sort();
                out.push('{');
                for (i, key) in keys.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String((*key).clone()).to_string());
                    out.push(':');
                    canonical(&map[*key], out, false);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    canonical(item, out, false);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut text = String::new();
    canonical(entity, &mut text, true);
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// Whether a skip reason means the entity now fails a condition (then a full read deletes
/// what a job wrote of it, rule 43), as opposed to a skipped operation.
fn fails_condition(reason: &str) -> bool {
    reason.starts_with("The condition:")
}

/// Id mappings of one target, by kind and source id.
type Mappings = HashMap<Kind, HashMap<String, IdMappingRow>>;

struct MapResolver<'a>(&'a Mappings);

impl EntityIdResolver for MapResolver<'_> {
    fn resolve(&self, entity: EntityType, source_id: &str) -> Option<String> {
        let kind = match entity {
            EntityType::User => Kind::User,
            EntityType::Group => Kind::Group,
        };
        self.0
            .get(&kind)
            .and_then(|m| m.get(source_id))
            .map(|m| m.target_id.clone())
    }
}

/// Runs the job; never fails as a whole: every problem is counted and described.
pub async fn execute(store: &Store, writer: &WriterHandle, input: &RunInput) -> RunOutcome {
    let source = &input.source;
    let mut source_stats =
        SystemStatistics::new(&source.id, &source.display_name, StatisticsRole::Source);
    let mut failures = Failures::default();
    let changed_after = match input.mode {
        ReadMode::Delta => input.changed_after,
        ReadMode::Full => None,
    };
    let mut read: Vec<(Kind, Option<Vec<Value>>)> = Vec::new();
    let reader = SourceReader::new(source, &input.tenant, input.directory.clone());
    for kind in [Kind::User, Kind::Group] {
        let filter = properties::read_filter(
            properties::source_filter(source, kind).as_deref(),
            changed_after,
        );
        let result = match &reader {
            Ok(reader) => reader.read(kind, filter.as_deref()).await,
            Err(error) => Err(error.clone()),
        };
        match result {
            Ok(entities) => {
                source_stats.read += entities.len() as u64;
                read.push((kind, Some(entities)));
            }
            Err(error) => {
                source_stats.failed += 1;
                failures.add(
                    &source.display_name,
                    kind,
                    "",
                    Some("READ"),
                    format!("reading the source failed: {error}"),
                );
                read.push((kind, None));
            }
        }
    }
    let read_succeeded = read.iter().all(|(_, r)| r.is_some());
    let mut statistics = vec![source_stats];
    let mut message = None;
    for target in &input.targets {
        let mut run = match TargetRun::open(store, writer, input, target).await {
            Ok(run) => run,
            Err(reason) => {
                let mut stats =
                    SystemStatistics::new(&target.id, &target.display_name, StatisticsRole::Target);
                let entities: u64 = read
                    .iter()
                    .map(|(_, r)| r.as_ref().map_or(0, Vec::len) as u64)
                    .sum();
                stats.failed = entities;
                failures.total += entities.saturating_sub(1);
                failures.add(&target.display_name, Kind::User, "", None, reason);
                statistics.push(stats);
                continue;
            }
        };
        let mut seen: HashMap<Kind, BTreeSet<String>> = HashMap::new();
        for (kind, entities) in &read {
            let Some(entities) = entities else { continue };
            let seen = seen.entry(*kind).or_default();
            for entity in entities {
                run.upsert(*kind, entity, seen, &mut failures).await;
                if let Err(error) = run.flush_if_full().await {
                    message.get_or_insert(error);
                }
            }
        }
        if input.mode == ReadMode::Full {
            for (kind, entities) in read.iter().rev() {
                if entities.is_some() {
                    let seen = seen.remove(kind).unwrap_or_default();
                    run.delete_vanished(*kind, &seen, &mut failures).await;
                }
            }
        }
        if let Err(error) = run.flush().await {
            message.get_or_insert(error);
        }
        statistics.push(run.stats);
    }
    RunOutcome {
        statistics,
        failed_entities: failures.shown,
        failed_total: failures.total,
        read_succeeded,
        message,
    }
}

/// The writing side of a run for one target.
struct TargetRun<'a> {
    input: &'a RunInput,
    target: &'a TargetSystemConfig,
    writer: &'a WriterHandle,
    client: ScimClient,
    mappings: Mappings,
    hashes: HashMap<Kind, HashMap<String, String>>,
    writes: Vec<RowWrite>,
    stats: SystemStatistics,
    now: Timestamp,
}

impl<'a> TargetRun<'a> {
    async fn open(
        store: &Store,
        writer: &'a WriterHandle,
        input: &'a RunInput,
        target: &'a TargetSystemConfig,
    ) -> Result<TargetRun<'a>, String> {
        let mut settings = ClientSettings::new(
            &target.system_type,
            &target.url,
            target.api_version,
            &target.auth,
            &target.properties,
        );
        if matches!(target.system_type, SystemType::IdentityAuthentication) {
            settings
                .headers
                .insert(JOB_HEADER.to_string(), input.source.id.clone());
        }
        let client = ScimClient::new(&settings).map_err(|e| e.to_string())?;
        let read_error = |e: StoreError| format!("could not read the job state: {e}");
        let mut mappings = HashMap::new();
        let mut hashes = HashMap::new();
        for kind in [Kind::User, Kind::Group] {
            mappings.insert(
                kind,
                store
                    .id_mappings_of(&input.tenant, &target.id, kind)
                    .await
                    .map_err(read_error)?,
            );
            hashes.insert(
                kind,
                store
                    .job_entities(&input.tenant, &input.source.id, &target.id, kind)
                    .await
                    .map_err(read_error)?,
            );
        }
        Ok(TargetRun {
            input,
            target,
            writer,
            client,
            mappings,
            hashes,
            writes: Vec::new(),
            stats: SystemStatistics::new(&target.id, &target.display_name, StatisticsRole::Target),
            now: Timestamp::now(),
        })
    }

    fn key(&self, kind: Kind, source_id: &str) -> JobEntityKey {
        JobEntityKey {
            tenant: self.input.tenant.clone(),
            source_system_id: Arc::from(self.input.source.id.as_str()),
            target_system_id: Arc::from(self.target.id.as_str()),
            entity_type: kind,
            source_id: Arc::from(source_id),
        }
    }

    fn fail(
        &mut self,
        failures: &mut Failures,
        kind: Kind,
        id: &str,
        op: Option<&str>,
        reason: String,
    ) {
        self.stats.failed += 1;
        failures.add(&self.target.display_name, kind, id, op, reason);
    }

    /// Creates or updates one source entity in the target (Read: only when new or changed).
    async fn upsert(
        &mut self,
        kind: Kind,
        entity: &Value,
        seen: &mut BTreeSet<String>,
        failures: &mut Failures,
    ) {
        let Some(id) = entity.get("id").and_then(Value::as_str) else {
            self.fail(
                failures,
                kind,
                "",
                None,
                "the source entity has no id".into(),
            );
            return;
        };
        let hash = content_hash(entity);
        let mapping = self.mappings.get(&kind).and_then(|m| m.get(id)).cloned();
        let unchanged = self
            .hashes
            .get(&kind)
            .and_then(|h| h.get(id))
            .is_some_and(|h| *h == hash);
        if self.input.job_type == JobType::Read && mapping.is_some() && unchanged {
            seen.insert(id.to_string());
            return;
        }
        let resolver = MapResolver(&self.mappings);
        let plan = pipeline::plan(&PlanInput {
            kind,
            operation: EventOperation::Upsert,
            payload: Some(entity),
            entity_id: id,
            target_id: mapping.as_ref().map(|m| m.target_id.as_str()),
            source: &self.input.source,
            target: self.target,
            resolver: &resolver,
            now: self.now,
        });
        let plan = match plan {
            Ok(plan) => plan,
            Err(error) => {
                seen.insert(id.to_string());
                self.fail(failures, kind, id, None, error.to_string());
                return;
            }
        };
        if let Action::Skip { reason, .. } = &plan.action {
            self.stats.skipped += 1;
            if !fails_condition(reason) {
                seen.insert(id.to_string());
            }
            return;
        }
        seen.insert(id.to_string());
        let outbound = Outbound {
            client: &self.client,
            target: self.target,
        };
        match perform_plan(&outbound, kind, plan).await {
            Performed::Ok { state, mapping, .. } => {
                if state == "Entity Created" {
                    self.stats.created += 1;
                } else {
                    self.stats.updated += 1;
                }
                if let MappingChange::Set {
                    target_id,
                    existed_before,
                } = mapping
                {
                    self.set_mapping(kind, id, target_id, existed_before);
                }
                self.hashes
                    .entry(kind)
                    .or_default()
                    .insert(id.to_string(), hash.clone());
                self.writes.push(RowWrite::JobEntity {
                    key: self.key(kind, id),
                    content_hash: Arc::from(hash.as_str()),
                });
            }
            Performed::Skipped { .. } => self.stats.skipped += 1,
            Performed::Transient {
                operation, message, ..
            }
            | Performed::Permanent {
                operation, message, ..
            } => self.fail(failures, kind, id, operation, message),
        }
    }

    fn set_mapping(
        &mut self,
        kind: Kind,
        source_id: &str,
        target_id: String,
        existed_before: bool,
    ) {
        self.writes.push(RowWrite::IdMapping {
            tenant: self.input.tenant.clone(),
            target_system_id: Arc::from(self.target.id.as_str()),
            entity_type: kind,
            source_id: Arc::from(source_id),
            target_id: Arc::from(target_id.as_str()),
            existed_before,
        });
        self.mappings.entry(kind).or_default().insert(
            source_id.to_string(),
            IdMappingRow {
                target_id,
                existed_before,
            },
        );
    }

    /// Deletes (or deactivates) what a job of this source wrote and the source no longer has.
    async fn delete_vanished(
        &mut self,
        kind: Kind,
        seen: &BTreeSet<String>,
        failures: &mut Failures,
    ) {
        let written: Vec<String> = self
            .hashes
            .get(&kind)
            .map(|h| h.keys().filter(|id| !seen.contains(*id)).cloned().collect())
            .unwrap_or_default();
        let delete_existed = properties::delete_existed_before(&self.target.properties);
        let mut candidates: Vec<(String, String)> = Vec::new();
        for id in written {
            match self.mappings.get(&kind).and_then(|m| m.get(&id)) {
                // Nothing of it in the target any more.
                None => self.forget(kind, &id),
                Some(m) if m.existed_before && !delete_existed => {}
                Some(m) => candidates.push((id.clone(), m.target_id.clone())),
            }
        }
        candidates.sort();
        if let Some(threshold) = properties::delete_threshold(&self.target.properties, kind)
            && candidates.len() > threshold
        {
            let name = match kind {
                Kind::User => "users",
                Kind::Group => "groups",
            };
            let reason = format!(
                "{} {name} to delete exceed the deletion threshold ips.delete.threshold.{name}={threshold}: nothing was deleted",
                candidates.len()
            );
            for (id, _) in &candidates {
                self.fail(failures, kind, id, Some("DELETE"), reason.clone());
            }
            return;
        }
        for (id, target_id) in candidates {
            let resolver = MapResolver(&self.mappings);
            let plan = pipeline::plan(&PlanInput {
                kind,
                operation: EventOperation::Delete,
                payload: None,
                entity_id: &id,
                target_id: Some(&target_id),
                source: &self.input.source,
                target: self.target,
                resolver: &resolver,
                now: self.now,
            });
            let plan = match plan {
                Ok(plan) => plan,
                Err(error) => {
                    self.fail(failures, kind, &id, Some("DELETE"), error.to_string());
                    continue;
                }
            };
            let outbound = Outbound {
                client: &self.client,
                target: self.target,
            };
            match perform_plan(&outbound, kind, plan).await {
                Performed::Ok { mapping, .. } => {
                    self.stats.deleted += 1;
                    if mapping == MappingChange::Remove {
                        self.writes.push(RowWrite::DeleteIdMapping {
                            tenant: self.input.tenant.clone(),
                            target_system_id: Arc::from(self.target.id.as_str()),
                            entity_type: kind,
                            source_id: Arc::from(id.as_str()),
                        });
                        if let Some(m) = self.mappings.get_mut(&kind) {
                            m.remove(&id);
                        }
                    }
                    self.forget(kind, &id);
                }
                Performed::Skipped { .. } => self.stats.skipped += 1,
                Performed::Transient {
                    operation, message, ..
                }
                | Performed::Permanent {
                    operation, message, ..
                } => self.fail(failures, kind, &id, operation, message),
            }
            if let Err(error) = self.flush_if_full().await {
                tracing::warn!(%error, "job progress not stored");
            }
        }
    }

    fn forget(&mut self, kind: Kind, id: &str) {
        if let Some(h) = self.hashes.get_mut(&kind) {
            h.remove(id);
        }
        self.writes
            .push(RowWrite::DeleteJobEntity(self.key(kind, id)));
    }

    async fn flush_if_full(&mut self) -> Result<(), String> {
        if self.writes.len() >= FLUSH_EVERY {
            self.flush().await
        } else {
            Ok(())
        }
    }

    async fn flush(&mut self) -> Result<(), String> {
        if self.writes.is_empty() {
            return Ok(());
        }
        let writes = std::mem::take(&mut self.writes);
        // The id mappings this job writes: the delivery engine's caches learn them once committed.
        let mappings: Vec<RowWrite> = writes
            .iter()
            .filter(|w| {
                matches!(
                    w,
                    RowWrite::IdMapping { .. } | RowWrite::DeleteIdMapping { .. }
                )
            })
            .cloned()
            .collect();
        self.writer
            .submit_rows(move |rows| {
                rows.extend(writes);
                Ok(())
            })
            .await
            .map_err(|e| format!("the job progress could not be stored: {e}"))?;
        crate::delivery::id_mappings_committed(&mappings);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn content_hash_ignores_key_order_and_meta() {
        let a = json!({"id": "1", "userName": "a", "name": {"givenName": "A", "familyName": "B"},
                       "meta": {"lastModified": "2024-01-01T00:00:00Z"}});
        let b = json!({"name": {"familyName": "B", "givenName": "A"}, "userName": "a", "id": "1",
                       "meta": {"lastModified": "2025-01-01T00:00:00Z"}});
        assert_eq!(content_hash(&a), content_hash(&b));
        let c = json!({"id": "1", "userName": "b"});
        assert_ne!(content_hash(&a), content_hash(&c));
        assert_eq!(content_hash(&c).len(), 32);
        // Arrays keep their order.
        assert_ne!(
            content_hash(&json!({"x": [1, 2]})),
            content_hash(&json!({"x": [2, 1]}))
        );
    }

    #[test]
    fn only_condition_skips_make_entities_vanish() {
        assert!(fails_condition(
            "The condition: $.active == true, is not fulfilled."
        ));
        assert!(!fails_condition(
            "Operation [update] is skipped in target transformation"
        ));
    }

    #[test]
    fn failures_keep_ten_and_count_all() {
        let mut f = Failures::default();
        for i in 0..12 {
            f.add("T", Kind::User, &i.to_string(), Some("CREATE"), "x".into());
        }
        assert_eq!(f.total, 12);
        assert_eq!(f.shown.len(), MAX_FAILED_ENTITIES);
        assert_eq!(f.shown[0].entity_type, "user");
    }
}
