//! Source -> target id mappings as the delivery engine reads them: a write-through cache in
//! front of the store's `id_mappings` table.
//!
//! The cache knows a key either as mapped (`Some(target id)`) or as unmapped (`None`), and
//! answers both without reading the store; a key it does not know is read from the store.
//!
//! Invariants:
//! - Every committed mapping write is applied to every cache of the process, after its commit:
//!   the delivery engine's own ([`IdMappings::apply`]) and every other writer's, i.e. the
//!   provisioning jobs' ([`id_mappings_committed`]). A delete is applied as "unmapped". So a
//!   mapping a job added or deleted is what a later delivery sees.
//! - What was *read* from the store (a single lookup, or the mapping the dispatcher's load query
//!   joined to each pending row, [`IdMappings::seed`]) is only cached for a key the cache does
//!   not know yet. A read can be older than a commit, but that commit's application either
//!   came before (the key is known: the read is dropped) or comes after (it overwrites the
//!   read), so a stale read never hides a committed write.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Weak};

use parking_lot::Mutex;

use crate::directory::Kind;
use crate::store::{RowWrite, Store, StoreError};

type Key = (Arc<str>, Arc<str>, Kind, Arc<str>);

/// Every live cache of the process (one per delivery engine).
static CACHES: LazyLock<Mutex<Vec<Weak<IdMappings>>>> = LazyLock::new(|| Mutex::new(Vec::new()));

/// Id mapping writes (`IdMapping`, `DeleteIdMapping`; others are ignored) that a writer other
/// than the delivery engine — a provisioning job — has just committed: every delivery cache
/// of the process learns them. Call only after the commit succeeded.
pub fn id_mappings_committed(writes: &[RowWrite]) {
    let caches: Vec<Arc<IdMappings>> = {
        let mut caches = CACHES.lock();
        caches.retain(|c| c.strong_count() > 0);
        caches.iter().filter_map(Weak::upgrade).collect()
    };
    for cache in caches {
        cache.apply(writes);
    }
}

pub struct IdMappings {
    store: Store,
    /// `Some(target id)`: mapped; `None`: known to be unmapped.
    cache: Mutex<HashMap<Key, Option<Arc<str>>>>,
}

impl IdMappings {
    /// A cache in front of `store`, registered for [`id_mappings_committed`].
    pub fn new(store: Store) -> Arc<IdMappings> {
        let mappings = Arc::new(IdMappings {
            store,
            cache: Mutex::new(HashMap::new()),
        });
        let mut caches = CACHES.lock();
        caches.retain(|c| c.strong_count() > 0);
        caches.push(Arc::downgrade(&mappings));
        mappings
    }

    /// The target id of `source_id`, if mapped.
    pub async fn get(
        &self,
        tenant: &Arc<str>,
        target: &Arc<str>,
        kind: Kind,
        source_id: &str,
    ) -> Result<Option<String>, StoreError> {
        let key: Key = (tenant.clone(), target.clone(), kind, Arc::from(source_id));
        if let Some(known) = self.cache.lock().get(&key) {
            return Ok(known.as_deref().map(str::to_string));
        }
        let row = self
            .store
            .id_mapping(tenant, target, kind, source_id)
            .await?;
        let target_id = row.map(|row| row.target_id);
        self.remember_read(key, target_id.as_deref());
        Ok(target_id)
    }

    /// Caches what a store read found for a key (`None`: unmapped), unless the cache already
    /// knows the key (then what it knows is at least as new as the read).
    pub fn seed(
        &self,
        tenant: &str,
        target: &str,
        kind: Kind,
        source_id: &str,
        read: Option<&str>,
    ) {
        let key: Key = (
            Arc::from(tenant),
            Arc::from(target),
            kind,
            Arc::from(source_id),
        );
        self.remember_read(key, read);
    }

    /// Caches a store read for `key` only if the cache does not know the key yet.
    fn remember_read(&self, key: Key, read: Option<&str>) {
        self.cache
            .lock()
            .entry(key)
            .or_insert_with(|| read.map(Arc::from));
    }

    /// Applies committed `IdMapping` / `DeleteIdMapping` writes to the cache.
    pub fn apply(&self, writes: &[RowWrite]) {
        let mut cache = self.cache.lock();
        for write in writes {
            let (tenant, target, kind, source_id, known) = match write {
                RowWrite::IdMapping {
                    tenant,
                    target_system_id,
                    entity_type,
                    source_id,
                    target_id,
                    ..
                } => (
                    tenant,
                    target_system_id,
                    entity_type,
                    source_id,
                    Some(target_id.clone()),
                ),
                RowWrite::DeleteIdMapping {
                    tenant,
                    target_system_id,
                    entity_type,
                    source_id,
                } => (tenant, target_system_id, entity_type, source_id, None),
                _ => continue,
            };
            cache.insert(
                (tenant.clone(), target.clone(), *kind, source_id.clone()),
                known,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store in a temporary directory and a cache in front of it.
    async fn cache() -> (tempfile::TempDir, Store, Arc<IdMappings>) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        let mappings = IdMappings::new(store.clone());
        (dir, store, mappings)
    }

    /// Maps user `source` of target `x` in tenant `t` to `target_id`.
    fn set(source: &str, target_id: &str) -> RowWrite {
        RowWrite::IdMapping {
            tenant: Arc::from("t"),
            target_system_id: Arc::from("x"),
            entity_type: Kind::User,
            source_id: Arc::from(source),
            target_id: Arc::from(target_id),
            existed_before: false,
        }
    }

    #[tokio::test]
    async fn a_mapping_deleted_by_a_job_is_forgotten_by_every_cache() {
        let (_dir, store, mappings) = cache().await;
        let (tenant, target): (Arc<str>, Arc<str>) = (Arc::from("t"), Arc::from("x"));
        let mut conn = store.write_connection().unwrap();
        conn.commit(&[set("u1", "T1")], 1).unwrap();
        let got = mappings.get(&tenant, &target, Kind::User, "u1").await;
        assert_eq!(got.unwrap().as_deref(), Some("T1"));
        let delete = RowWrite::DeleteIdMapping {
            tenant: tenant.clone(),
            target_system_id: target.clone(),
            entity_type: Kind::User,
            source_id: Arc::from("u1"),
        };
        conn.commit(std::slice::from_ref(&delete), 1).unwrap();
        // Cached: the job's commit is not seen until it is reported.
        let got = mappings.get(&tenant, &target, Kind::User, "u1").await;
        assert_eq!(got.unwrap().as_deref(), Some("T1"));
        id_mappings_committed(&[delete]);
        let got = mappings.get(&tenant, &target, Kind::User, "u1").await;
        assert_eq!(got.unwrap(), None);
    }

    #[tokio::test]
    async fn an_unmapped_key_stays_unmapped_until_a_committed_write_is_applied() {
        let (_dir, store, mappings) = cache().await;
        let (tenant, target): (Arc<str>, Arc<str>) = (Arc::from("t"), Arc::from("x"));
        let got = mappings.get(&tenant, &target, Kind::User, "u2").await;
        assert_eq!(got.unwrap(), None);
        // A commit nobody reported is not seen: "unmapped" was cached, the store not read again.
        let mut conn = store.write_connection().unwrap();
        conn.commit(&[set("u2", "T2")], 1).unwrap();
        let got = mappings.get(&tenant, &target, Kind::User, "u2").await;
        assert_eq!(got.unwrap(), None);
        mappings.apply(&[set("u2", "T2")]);
        let got = mappings.get(&tenant, &target, Kind::User, "u2").await;
        assert_eq!(got.unwrap().as_deref(), Some("T2"));
    }

    #[tokio::test]
    async fn a_seeded_read_never_hides_an_applied_write() {
        let (_dir, _store, mappings) = cache().await;
        let (tenant, target): (Arc<str>, Arc<str>) = (Arc::from("t"), Arc::from("x"));
        // Applied first, then an older read arrives: the applied write stays.
        mappings.apply(&[set("u3", "T3")]);
        mappings.seed("t", "x", Kind::User, "u3", None);
        let got = mappings.get(&tenant, &target, Kind::User, "u3").await;
        assert_eq!(got.unwrap().as_deref(), Some("T3"));
        // Seeded first, applied later: the application overwrites the read.
        mappings.seed("t", "x", Kind::User, "u4", None);
        assert_eq!(
            mappings
                .get(&tenant, &target, Kind::User, "u4")
                .await
                .unwrap(),
            None
        );
        mappings.apply(&[set("u4", "T4")]);
        let got = mappings.get(&tenant, &target, Kind::User, "u4").await;
        assert_eq!(got.unwrap().as_deref(), Some("T4"));
        // A seed answers without reading the store (which has no row for u5).
        mappings.seed("t", "x", Kind::User, "u5", Some("T5"));
        let got = mappings.get(&tenant, &target, Kind::User, "u5").await;
        assert_eq!(got.unwrap().as_deref(), Some("T5"));
    }
}
