//! Source -> target id mappings as the delivery engine reads them: a write-through cache in
//! front of the store's `id_mappings` table.
//!
//! Invariants: an entry is cached only after it was read from, or committed to, the store;
//! absent mappings are not cached (another writer, e.g. a job, may add them later); the
//! cache is updated only after the writer committed the mapping change. Other writers of
//! mappings (provisioning jobs) report their committed writes through
//! [`id_mappings_committed`], which every live cache of the process applies — so a mapping a
//! job deleted is not used by a later delivery.

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
    cache: Mutex<HashMap<Key, Arc<str>>>,
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
        if let Some(found) = self.cache.lock().get(&key) {
            return Ok(Some(found.to_string()));
        }
        let row = self
            .store
            .id_mapping(tenant, target, kind, source_id)
            .await?;
        Ok(row.map(|row| {
            self.cache
                .lock()
                .insert(key, Arc::from(row.target_id.as_str()));
            row.target_id
        }))
    }

    /// Applies committed `IdMapping` / `DeleteIdMapping` writes to the cache.
    pub fn apply(&self, writes: &[RowWrite]) {
        let mut cache = self.cache.lock();
        for write in writes {
            match write {
                RowWrite::IdMapping {
                    tenant,
                    target_system_id,
                    entity_type,
                    source_id,
                    target_id,
                    ..
                } => {
                    cache.insert(
                        (
                            tenant.clone(),
                            target_system_id.clone(),
                            *entity_type,
                            source_id.clone(),
                        ),
                        target_id.clone(),
                    );
                }
                RowWrite::DeleteIdMapping {
                    tenant,
                    target_system_id,
                    entity_type,
                    source_id,
                } => {
                    cache.remove(&(
                        tenant.clone(),
                        target_system_id.clone(),
                        *entity_type,
                        source_id.clone(),
                    ));
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_mapping_deleted_by_a_job_is_forgotten_by_every_cache() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        let mappings = IdMappings::new(store.clone());
        let (tenant, target): (Arc<str>, Arc<str>) = (Arc::from("t"), Arc::from("x"));
        let set = RowWrite::IdMapping {
            tenant: tenant.clone(),
            target_system_id: target.clone(),
            entity_type: Kind::User,
            source_id: Arc::from("u1"),
            target_id: Arc::from("T1"),
            existed_before: false,
        };
        let mut conn = store.write_connection().unwrap();
        conn.commit(std::slice::from_ref(&set), 1).unwrap();
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
}
