//! The files driver and the operator driver produce the same statuses and the same runtime
//! configuration for the same resources (examples/quickstart and examples/provisioning), on the
//! first pass and on the next one (which must change nothing).

use std::path::Path;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use serde::de::DeserializeOwned;

use idrelay::files::load::DirLoader;
use idrelay::files::{Document, FilesState};
use idrelay::operator::kinds::Kind;
use idrelay::operator::pass::{SharedPass, Snapshot, compute};
use idrelay::reconcile::Observations;
use idrelay::reconcile::real_time_target::RealTimeObservations;

fn stamp(meta: &mut ObjectMeta, now: jiff::Timestamp) {
    // What the API server would set (the files driver stamps the same on first sight).
    meta.namespace.get_or_insert_with(|| "default".to_owned());
    meta.generation = Some(1);
    meta.creation_timestamp
        .get_or_insert_with(|| Time(idrelay::reconcile::whole_seconds(now)));
}

/// The documents as the operator's reflector stores would hold them.
fn snapshot(documents: &[Document], now: jiff::Timestamp) -> Snapshot {
    let mut s = Snapshot::default();
    for d in documents.iter().cloned() {
        match d {
            Document::Secret(mut x) => {
                x.metadata
                    .namespace
                    .get_or_insert_with(|| "default".to_owned());
                s.secrets.push(x)
            }
            Document::Tenant(mut x) => {
                stamp(&mut x.metadata, now);
                s.tenants.push(x)
            }
            Document::TechnicalAdmin(mut x) => {
                stamp(&mut x.metadata, now);
                s.technical_admins.push(x)
            }
            Document::SourceSystem(mut x) => {
                stamp(&mut x.metadata, now);
                s.source_systems.push(x)
            }
            Document::TargetSystem(mut x) => {
                stamp(&mut x.metadata, now);
                s.target_systems.push(x)
            }
            Document::RealTimeTarget(mut x) => {
                stamp(&mut x.metadata, now);
                s.real_time_targets.push(x)
            }
            Document::Invalid(bad) => panic!("invalid example document: {bad:?}"),
        }
    }
    s
}

fn status_of<S: DeserializeOwned>(pass: &SharedPass, kind: Kind, meta: &ObjectMeta) -> Option<S> {
    let key = idrelay::reconcile::ObjectKey::of(meta);
    Some(serde_json::from_value(pass.status(kind, &key)?.clone()).unwrap())
}

/// Writes the statuses of `pass` back into the objects (what the status apply does).
fn write_back(s: &mut Snapshot, pass: &SharedPass) {
    for x in &mut s.tenants {
        x.status = status_of(pass, Kind::Tenant, &x.metadata);
    }
    for x in &mut s.technical_admins {
        x.status = status_of(pass, Kind::TechnicalAdmin, &x.metadata);
    }
    for x in &mut s.source_systems {
        x.status = status_of(pass, Kind::SourceSystem, &x.metadata);
    }
    for x in &mut s.target_systems {
        x.status = status_of(pass, Kind::TargetSystem, &x.metadata);
    }
    for x in &mut s.real_time_targets {
        x.status = status_of(pass, Kind::RealTimeTarget, &x.metadata);
    }
}

fn assert_agree(dir: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let loaded = DirLoader::new().load(&dir).unwrap();
    assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
    let t0: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
    let t1: jiff::Timestamp = "2026-01-01T00:05:00Z".parse().unwrap();

    let mut files = FilesState::new();
    let files_first = files.pass(loaded.documents.clone(), t0);
    let mut objects = snapshot(&loaded.documents, t0);
    let none = Observations::default();
    let rt = RealTimeObservations::default();
    let op_first = compute(&objects, &none, &rt, t0);

    let compare = |files: &idrelay::files::PassOutput, op: &SharedPass| {
        assert_eq!(files.entries.len(), op.statuses.len(), "{}", dir.display());
        for e in &files.entries {
            let kind = Kind::parse(e.kind).unwrap();
            assert_eq!(
                op.status(kind, &e.key),
                Some(&e.status),
                "{} {}",
                e.kind,
                e.key
            );
        }
        assert_eq!(files.entries, op.entries);
        assert_eq!(files.config, op.config);
    };
    compare(&files_first, &op_first);
    assert!(!files_first.entries.is_empty());

    // The next pass sees the written statuses: nothing changes in either driver.
    write_back(&mut objects, &op_first);
    let files_second = files.pass(loaded.documents.clone(), t1);
    let op_second = compute(&objects, &none, &rt, t1);
    compare(&files_second, &op_second);
    assert_eq!(op_first.statuses, op_second.statuses);
}

#[test]
fn quickstart_statuses_agree() {
    assert_agree("examples/quickstart");
}

#[test]
fn provisioning_statuses_agree() {
    assert_agree("examples/provisioning");
}
