//! Structural sharing of parsed transformations in a pass's configuration: every source and
//! target system whose transformation equals one already held (in this configuration or in the
//! last applied one) points at that one `Arc` instead of its own parse.
//!
//! Why: reconcile parses each system's transformation on every pass, and SAP's default read
//! transformation is large (a few hundred KiB parsed); 200 source systems with the default held
//! 200 copies. Sharing keeps one per distinct transformation (issue 6: < 100 MiB for 1,000
//! resources). The configuration is unchanged in value (`==` holds before and after).

use std::sync::Arc;

use crate::runtime::{RuntimeConfig, Transformation};

/// The distinct transformations seen so far.
#[derive(Debug, Default)]
struct Pool(Vec<Arc<Transformation>>);

impl Pool {
    /// The pooled `Arc` equal to `t`, pooling `t` when it is new.
    fn share(&mut self, t: &Arc<Transformation>) -> Option<Arc<Transformation>> {
        if let Some(p) = self.0.iter().find(|p| Arc::ptr_eq(p, t) || ***p == **t) {
            return (!Arc::ptr_eq(p, t)).then(|| Arc::clone(p));
        }
        self.0.push(Arc::clone(t));
        None
    }

    fn add(&mut self, t: &Arc<Transformation>) {
        if !self.0.iter().any(|p| Arc::ptr_eq(p, t)) {
            self.0.push(Arc::clone(t));
        }
    }
}

/// Points equal transformations of `config` at one `Arc`, preferring those of `previous`.
pub fn share_transformations(config: &mut RuntimeConfig, previous: Option<&RuntimeConfig>) {
    let mut pool = Pool::default();
    if let Some(prev) = previous {
        for tenant in prev.tenants.values() {
            tenant
                .source_systems
                .values()
                .for_each(|s| pool.add(&s.transformation));
            tenant
                .target_systems
                .values()
                .for_each(|t| pool.add(&t.transformation));
        }
    }
    for tenant in config.tenants.values_mut() {
        for system in tenant.source_systems.values_mut() {
            if let Some(shared) = pool.share(&system.transformation) {
                Arc::make_mut(system).transformation = shared;
            }
        }
        for system in tenant.target_systems.values_mut() {
            if let Some(shared) = pool.share(&system.transformation) {
                Arc::make_mut(system).transformation = shared;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::FilesState;
    use crate::files::document::parse_documents;

    fn config(sources: usize) -> RuntimeConfig {
        let mut yaml = String::from(
            "apiVersion: idrelay.dev/v1alpha1\nkind: Tenant\nmetadata: {name: acme}\nspec: {}\n",
        );
        for i in 0..sources {
            yaml += &format!(
                "---\napiVersion: idrelay.dev/v1alpha1\nkind: SourceSystem\nmetadata: {{name: s{i}}}\nspec: {{tenantRef: {{name: acme}}, displayName: S{i}, type: IdentityAuthentication, systemId: 3f6c8e2a-5b7d-4c9e-8f1a-00000000000{i}, properties: {{ias.api.version: \"2\"}}, transformation: '{{\"user\": {{\"mappings\": [{{\"sourcePath\": \"$.userName\", \"targetPath\": \"$.userName\"}}]}}}}'}}\n"
            );
        }
        let docs = parse_documents(&yaml, "t.yaml").unwrap().documents;
        FilesState::new()
            .pass(docs, jiff::Timestamp::UNIX_EPOCH)
            .config
    }

    fn transformations(c: &RuntimeConfig) -> Vec<Arc<Transformation>> {
        c.tenants["acme"]
            .source_systems
            .values()
            .map(|s| Arc::clone(&s.transformation))
            .collect()
    }

    #[test]
    fn equal_transformations_share_one_arc_and_the_value_is_unchanged() {
        let original = config(3);
        let mut shared = original.clone();
        // Reconcile parsed each spec's own transformation on its own (defaults are shared anyway).
        let before = transformations(&shared);
        assert_eq!(before.len(), 3);
        assert!(!Arc::ptr_eq(&before[0], &before[1]));
        share_transformations(&mut shared, None);
        assert_eq!(shared, original);
        let after = transformations(&shared);
        assert!(after.iter().all(|t| Arc::ptr_eq(t, &after[0])));
    }

    #[test]
    fn the_previous_configuration_is_preferred() {
        let mut previous = config(2);
        share_transformations(&mut previous, None);
        let mut next = config(3);
        share_transformations(&mut next, Some(&previous));
        let old = transformations(&previous);
        assert!(
            transformations(&next)
                .iter()
                .all(|t| Arc::ptr_eq(t, &old[0]))
        );
    }
}
