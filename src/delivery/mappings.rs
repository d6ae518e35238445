//! Source -> target id mappings as the delivery engine reads them: a write-through cache in
//! front of the store's `id_mappings` table.
//!
//! Invariants: an entry is cached only after it was read from, or committed to, the store;
//! absent mappings are not cached (another writer, e.g. a job, may add them later); the
//! cache is updated only after the writer committed the mapping change.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::directory::Kind;
use crate::store::{RowWrite, Store, StoreError};

type Key = (Arc<str>, Arc<str>, Kind, Arc<str>);

pub struct IdMappings {
    store: Store,
    cache: Mutex<HashMap<Key, Arc<str>>>,
}

impl IdMappings {
    pub fn new(store: Store) -> IdMappings {
        IdMappings {
            store,
            cache: Mutex::new(HashMap::new()),
        }
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
