//! Directory service tests: writes through the writer task, group commit, persistence of
//! rows and change records, listing and bulk.

use std::sync::Arc;

use serde_json::{Value, json};
use sqlx::Connection;

use super::*;
use crate::scim::filter::{CompareOp, Filter};
use crate::scim::patch::{PatchOpKind, PatchOperation, PatchRequest};
use crate::scim::path::AttrPath;
use crate::store::{Operation, Store};

async fn open(dir: &std::path::Path) -> (Store, Directory) {
    let store = Store::open(dir).await.unwrap();
    let writer = WriterHandle::start(&store).await.unwrap();
    let directory = Directory::open(&store, writer, "acme").await.unwrap();
    (store, directory)
}

fn user(name: &str) -> Value {
    json!({"schemas": [crate::scim::urn::USER], "userName": name})
}

fn index(start_index: usize, count: usize) -> ListQuery {
    ListQuery {
        filter: None,
        sort: None,
        paging: Paging::Index { start_index, count },
    }
}

fn cursor(cursor: Option<String>, count: usize) -> ListQuery {
    ListQuery {
        filter: None,
        sort: None,
        paging: Paging::Cursor { cursor, count },
    }
}

#[tokio::test]
async fn create_get_replace_delete() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, d) = open(dir.path()).await;
    let created = d
        .create(
            Kind::User,
            json!({"userName": "alice", "id": "mine", "meta": {"version": "x"}}),
            Origin::ScimV2,
        )
        .await
        .unwrap();
    assert_ne!(created.id, "mine");
    assert_eq!(created.etag(), "W/\"1\"");
    let json = created.to_json("https://h/tenants/acme/scim/");
    assert_eq!(json["id"], created.id.as_str());
    assert_eq!(json["userName"], "alice");
    assert_eq!(json["meta"]["resourceType"], "User");
    assert_eq!(json["meta"]["version"], "W/\"1\"");
    assert_eq!(
        json["meta"]["location"],
        format!("https://h/tenants/acme/scim/Users/{}", created.id)
    );
    let created_text = json["meta"]["created"].as_str().unwrap();
    assert_eq!(
        created_text.len(),
        "2024-01-01T00:00:00.000Z".len(),
        "{created_text}"
    );
    assert!(json.get("groups").is_none());

    let got = d.get(Kind::User, &created.id).unwrap();
    assert_eq!(got.to_json("x"), created.to_json("x"));
    assert!(d.get(Kind::Group, &created.id).is_none());

    let replaced = d
        .replace(
            Kind::User,
            &created.id,
            json!({"userName": "alice2", "active": true}),
            None,
            Origin::ScimV2,
        )
        .await
        .unwrap();
    assert_eq!(replaced.etag(), "W/\"2\"");
    assert_eq!(replaced.created(), created.created());
    assert!(replaced.last_modified() >= created.last_modified());
    assert_eq!(
        d.get(Kind::User, &created.id).unwrap().to_json("")["userName"],
        "alice2"
    );

    let missing = d
        .replace(Kind::User, "nope", user("x"), None, Origin::ScimV2)
        .await
        .unwrap_err();
    assert_eq!(missing.status, 404);

    d.delete(Kind::User, &created.id, None, Origin::ScimV2)
        .await
        .unwrap();
    assert!(d.get(Kind::User, &created.id).is_none());
    assert_eq!(d.count(Kind::User), 0);
    assert_eq!(
        d.delete(Kind::User, &created.id, None, Origin::ScimV2)
            .await
            .unwrap_err()
            .status,
        404
    );
}

#[tokio::test]
async fn uniqueness_and_if_match() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, d) = open(dir.path()).await;
    let a = d
        .create(Kind::User, user("Alice"), Origin::ScimV2)
        .await
        .unwrap();
    let b = d
        .create(Kind::User, user("bob"), Origin::ScimV2)
        .await
        .unwrap();
    let err = d
        .create(Kind::User, user("alice"), Origin::ScimV2)
        .await
        .unwrap_err();
    assert_eq!(
        (err.status, err.scim_type),
        (409, Some(crate::scim::ScimType::Uniqueness))
    );
    let err = d
        .replace(Kind::User, &b.id, user("ALICE"), None, Origin::ScimV2)
        .await
        .unwrap_err();
    assert_eq!(err.status, 409);
    // Renaming to its own name in another case is fine.
    d.replace(Kind::User, &a.id, user("ALICE"), None, Origin::ScimV2)
        .await
        .unwrap();
    d.create(
        Kind::Group,
        json!({"displayName": "Admins"}),
        Origin::ScimV2,
    )
    .await
    .unwrap();
    let err = d
        .create(
            Kind::Group,
            json!({"displayName": "admins"}),
            Origin::ScimV2,
        )
        .await
        .unwrap_err();
    assert_eq!(err.status, 409);
    assert!(err.detail.contains("already exists"), "{}", err.detail);

    let err = d
        .replace(
            Kind::User,
            &b.id,
            user("bobby"),
            Some("W/\"7\"".into()),
            Origin::ScimV2,
        )
        .await
        .unwrap_err();
    assert_eq!(err.status, 412);
    let ok = d
        .replace(
            Kind::User,
            &b.id,
            user("bobby"),
            Some(b.etag()),
            Origin::ScimV2,
        )
        .await
        .unwrap();
    assert_eq!(ok.version(), 2);
    let err = d
        .delete(Kind::User, &b.id, Some(b.etag()), Origin::ScimV2)
        .await
        .unwrap_err();
    assert_eq!(err.status, 412);
    d.delete(Kind::User, &b.id, Some("*".into()), Origin::ScimV2)
        .await
        .unwrap();
}

#[tokio::test]
async fn memberships_show_in_members_and_user_groups() {
    let dir = tempfile::tempdir().unwrap();
    let (store, d) = open(dir.path()).await;
    let u = d
        .create(
            Kind::User,
            json!({"userName": "u", "displayName": "U Ser"}),
            Origin::ScimV2,
        )
        .await
        .unwrap();
    let inner = d
        .create(Kind::Group, json!({"displayName": "Inner"}), Origin::ScimV2)
        .await
        .unwrap();
    let err = d
        .create(
            Kind::Group,
            json!({"displayName": "Bad", "members": [{"value": "no-such-id"}]}),
            Origin::ScimV2,
        )
        .await
        .unwrap_err();
    assert_eq!(
        (err.status, err.scim_type),
        (400, Some(crate::scim::ScimType::InvalidValue))
    );
    let g = d
        .create(
            Kind::Group,
            json!({"displayName": "Outer", "members": [{"value": u.id, "$ref": null}, {"value": inner.id}]}),
            Origin::ScimV2,
        )
        .await
        .unwrap();
    let gj = g.to_json("https://h/scim");
    let members = gj["members"].as_array().unwrap();
    assert_eq!(members.len(), 2);
    let um = members
        .iter()
        .find(|m| m["value"] == u.id.as_str())
        .unwrap();
    assert_eq!(um["type"], "User");
    // SAP's v2 API drops `members.display` (domain spec §2.4).
    assert!(um.get("display").is_none(), "{um}");
    assert_eq!(um["$ref"], format!("https://h/scim/Users/{}", u.id));
    let gm = members
        .iter()
        .find(|m| m["value"] == inner.id.as_str())
        .unwrap();
    assert_eq!(gm["type"], "Group");

    let uj = d.get(Kind::User, &u.id).unwrap().to_json("https://h/scim");
    assert_eq!(
        uj["groups"],
        json!([{"value": g.id, "display": "Outer",
        "$ref": format!("https://h/scim/Groups/{}", g.id), "type": "direct"}])
    );

    // Deleting the user removes its membership; deleting the group removes the rest.
    d.delete(Kind::User, &u.id, None, Origin::ScimV2)
        .await
        .unwrap();
    let gj = d.get(Kind::Group, &g.id).unwrap().to_json("");
    assert_eq!(gj["members"].as_array().unwrap().len(), 1);
    d.delete(Kind::Group, &g.id, None, Origin::ScimV2)
        .await
        .unwrap();
    assert!(
        store
            .load_tenant("acme")
            .await
            .unwrap()
            .memberships
            .is_empty()
    );
    assert!(
        d.get(Kind::Group, &inner.id)
            .unwrap()
            .to_json("")
            .get("groups")
            .is_none()
    );
}

#[tokio::test]
async fn change_records_carry_operation_and_origin() {
    let dir = tempfile::tempdir().unwrap();
    let (store, d) = open(dir.path()).await;
    let job = Origin::ProvisioningJob {
        system_id: "hr".into(),
    };
    let u = d.create(Kind::User, user("a"), job.clone()).await.unwrap();
    d.replace(Kind::User, &u.id, user("b"), None, Origin::Csv)
        .await
        .unwrap();
    // A replace that changes nothing writes nothing.
    let same = d
        .replace(Kind::User, &u.id, user("b"), None, Origin::Csv)
        .await
        .unwrap();
    assert_eq!(same.version(), 2);
    d.delete(Kind::User, &u.id, None, Origin::AdminApi)
        .await
        .unwrap();
    let changes = store.changes("acme", 0, 100).await.unwrap();
    let summary: Vec<_> = changes
        .iter()
        .map(|c| (c.operation, c.origin.clone(), c.entity_id.clone()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (Operation::Create, job, u.id.clone()),
            (Operation::Update, Origin::Csv, u.id.clone()),
            (Operation::Delete, Origin::AdminApi, u.id.clone()),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_share_commits() {
    let dir = tempfile::tempdir().unwrap();
    let (store, d) = open(dir.path()).await;
    let d = Arc::new(d);
    let before = store.stats();
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let d = d.clone();
            tokio::spawn(async move {
                d.create(Kind::User, user(&format!("user{i}")), Origin::ScimV2)
                    .await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let stats = store.stats();
    assert_eq!(stats.jobs - before.jobs, 200);
    let commits = stats.commits - before.commits;
    println!("200 concurrent creates: {commits} commits");
    assert!(commits < 100, "{commits} commits for 200 creates");
    assert_eq!(d.count(Kind::User), 200);
    assert_eq!(store.load_tenant("acme").await.unwrap().users.len(), 200);
}

#[tokio::test]
async fn failed_commit_answers_500_and_publishes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, d) = open(dir.path()).await;
    let path = dir.path().join(crate::store::DB_FILE);
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    sqlx::raw_sql(
        "CREATE TRIGGER fail BEFORE INSERT ON changes BEGIN SELECT RAISE(ABORT, 'boom'); END;",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let err = d
        .create(Kind::User, user("a"), Origin::ScimV2)
        .await
        .unwrap_err();
    assert_eq!(err.status, 500);
    assert_eq!(d.count(Kind::User), 0);
    sqlx::raw_sql("DROP TRIGGER fail")
        .execute(&mut conn)
        .await
        .unwrap();
    // The name is free again and writes work.
    d.create(Kind::User, user("a"), Origin::ScimV2)
        .await
        .unwrap();
    assert_eq!(d.count(Kind::User), 1);
}

#[tokio::test]
async fn index_and_cursor_paging_in_insertion_order() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, d) = open(dir.path()).await;
    for name in ["c", "a", "e", "b", "d"] {
        d.create(Kind::User, user(name), Origin::ScimV2)
            .await
            .unwrap();
    }
    let names = |page: &ListPage| -> Vec<String> {
        page.resources
            .iter()
            .map(|r| r.to_json("")["userName"].as_str().unwrap().to_string())
            .collect()
    };
    let page = d.list(Kind::User, &index(2, 2)).unwrap();
    assert_eq!((page.total_results, page.start_index), (5, Some(2)));
    assert_eq!(names(&page), vec!["a", "e"]);
    let page = d.list(Kind::User, &index(0, 0)).unwrap();
    assert_eq!((page.total_results, page.resources.len()), (5, 0));

    let mut seen = Vec::new();
    let mut next = None;
    loop {
        let page = d.list(Kind::User, &cursor(next.clone(), 2)).unwrap();
        assert_eq!(page.total_results, 5);
        assert!(page.start_index.is_none());
        seen.extend(names(&page));
        match page.next_cursor {
            Some(c) => next = Some(c),
            None => break,
        }
    }
    assert_eq!(seen, vec!["c", "a", "e", "b", "d"]);
    let err = d
        .list(Kind::User, &cursor(Some("@@not-a-cursor".into()), 2))
        .unwrap_err();
    assert_eq!(err.scim_type, Some(crate::scim::ScimType::InvalidCursor));
}

fn attr(name: &str) -> AttrPath {
    AttrPath {
        urn: None,
        attr: name.into(),
        sub: None,
    }
}

// Needs scim::filter::Filter::matches.
#[tokio::test]
async fn filter_uses_indexes_and_checks_the_whole_filter() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, d) = open(dir.path()).await;
    d.create(
        Kind::User,
        json!({"userName": "Alice", "externalId": "E1", "emails": [{"value": "a@x.org"}]}),
        Origin::ScimV2,
    )
    .await
    .unwrap();
    d.create(
        Kind::User,
        json!({"userName": "bob", "externalId": "E2"}),
        Origin::ScimV2,
    )
    .await
    .unwrap();
    let eq = |a: &str, v: &str| Filter::Compare {
        path: attr(a),
        op: CompareOp::Eq,
        value: json!(v),
    };
    let query = |f: Filter| ListQuery {
        filter: Some(f),
        sort: None,
        paging: Paging::Index {
            start_index: 1,
            count: 10,
        },
    };
    let page = d.list(Kind::User, &query(eq("userName", "alice"))).unwrap();
    assert_eq!(page.total_results, 1);
    let page = d.list(Kind::User, &query(eq("externalId", "E2"))).unwrap();
    assert_eq!(page.resources[0].to_json("")["userName"], "bob");
    let both = Filter::And(
        Box::new(eq("userName", "alice")),
        Box::new(eq("externalId", "E2")),
    );
    assert_eq!(d.list(Kind::User, &query(both)).unwrap().total_results, 0);
    let email = Filter::Compare {
        path: AttrPath {
            urn: None,
            attr: "emails".into(),
            sub: Some("value".into()),
        },
        op: CompareOp::Eq,
        value: json!("A@X.org"),
    };
    assert_eq!(d.list(Kind::User, &query(email)).unwrap().total_results, 1);
    let present = Filter::Present(attr("externalId"));
    assert_eq!(
        d.list(Kind::User, &query(present)).unwrap().total_results,
        2
    );
}

// Needs scim::patch::apply_patch.
#[tokio::test]
async fn patch_updates_body_and_members() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, d) = open(dir.path()).await;
    let u = d
        .create(Kind::User, user("a"), Origin::ScimV2)
        .await
        .unwrap();
    let g = d
        .create(Kind::Group, json!({"displayName": "G"}), Origin::ScimV2)
        .await
        .unwrap();
    let add = PatchRequest {
        operations: vec![PatchOperation {
            op: PatchOpKind::Add,
            path: Some("members".into()),
            value: Some(json!([{"value": u.id}])),
        }],
    };
    let g2 = d
        .patch(Kind::Group, &g.id, add, None, Origin::ScimV2)
        .await
        .unwrap();
    assert_eq!(g2.version(), 2);
    assert_eq!(g2.to_json("")["members"][0]["value"], u.id.as_str());
    let off = PatchRequest {
        operations: vec![PatchOperation {
            op: PatchOpKind::Replace,
            path: None,
            value: Some(json!({"active": false})),
        }],
    };
    let u2 = d
        .patch(Kind::User, &u.id, off, Some(u.etag()), Origin::ScimV2)
        .await
        .unwrap();
    assert_eq!(u2.to_json("")["active"], false);
    assert_eq!(u2.to_json("")["groups"][0]["value"], g.id.as_str());
    let stale = PatchRequest { operations: vec![] };
    assert_eq!(
        d.patch(Kind::User, &u.id, stale, Some(u.etag()), Origin::ScimV2)
            .await
            .unwrap_err()
            .status,
        412
    );
}

#[tokio::test]
async fn bulk_resolves_bulk_ids_and_stops_after_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (store, d) = open(dir.path()).await;
    let op = |method, kind, id: Option<&str>, bulk_id: Option<&str>, body: Option<Value>| BulkOp {
        method,
        kind,
        id: id.map(String::from),
        bulk_id: bulk_id.map(String::from),
        body,
        patch: None,
        if_match: None,
    };
    let commits = store.stats().commits;
    let results = d
        .bulk(
            vec![
                op(
                    BulkMethod::Post,
                    Kind::User,
                    None,
                    Some("u1"),
                    Some(user("alice")),
                ),
                op(
                    BulkMethod::Post,
                    Kind::Group,
                    None,
                    Some("g1"),
                    Some(json!({"displayName": "G", "members": [{"value": "bulkId:u1"}]})),
                ),
                op(
                    BulkMethod::Post,
                    Kind::User,
                    None,
                    Some("dup"),
                    Some(user("ALICE")),
                ),
                op(
                    BulkMethod::Put,
                    Kind::User,
                    Some("bulkId:u1"),
                    None,
                    Some(user("alice2")),
                ),
                op(
                    BulkMethod::Post,
                    Kind::Group,
                    None,
                    None,
                    Some(json!({"displayName": "H", "members": [{"value": "bulkId:dup"}]})),
                ),
                op(
                    BulkMethod::Post,
                    Kind::Group,
                    None,
                    Some("k1"),
                    Some(json!({"displayName": "K"})),
                ),
                op(
                    BulkMethod::Delete,
                    Kind::Group,
                    Some("bulkId:k1"),
                    None,
                    None,
                ),
            ],
            None,
            Origin::ScimV2,
        )
        .await
        .unwrap();
    assert_eq!(store.stats().commits, commits + 1);
    let statuses: Vec<_> = results
        .iter()
        .map(|r| r.result.as_ref().err().map(|e| e.status))
        .collect();
    assert_eq!(
        statuses,
        vec![None, None, Some(409), None, Some(400), None, None]
    );
    let alice = results[0].result.as_ref().unwrap().as_ref().unwrap();
    let group = results[1].result.as_ref().unwrap().as_ref().unwrap();
    assert_eq!(group.to_json("")["members"][0]["value"], alice.id.as_str());
    assert_eq!(results[1].bulk_id.as_deref(), Some("g1"));
    assert!(results[6].result.as_ref().unwrap().is_none());
    assert_eq!(
        d.get(Kind::User, &alice.id).unwrap().to_json("")["userName"],
        "alice2"
    );
    assert_eq!(d.count(Kind::Group), 1);
    assert_eq!(d.count(Kind::User), 1);

    let results = d
        .bulk(
            vec![
                op(BulkMethod::Delete, Kind::User, Some("x"), None, None),
                op(BulkMethod::Delete, Kind::User, Some("y"), None, None),
                op(
                    BulkMethod::Post,
                    Kind::User,
                    None,
                    None,
                    Some(user("never")),
                ),
            ],
            Some(2),
            Origin::ScimV2,
        )
        .await
        .unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(d.count(Kind::User), 1);
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Memory budget: 100,000 realistic users in one tenant state. Run with
/// `cargo test --lib directory::tests::memory_for_100k_users -- --ignored --nocapture`.
#[test]
#[ignore]
fn memory_for_100k_users() {
    use super::ops::{Batch, create};
    use super::state::TenantState;
    let before = rss_kib();
    let mut state = TenantState::new("acme");
    let mut batch = Batch::new(jiff::Timestamp::now());
    for i in 0..100_000 {
        let body = json!({
            "schemas": [crate::scim::urn::USER, crate::scim::urn::ENTERPRISE_USER],
            "userName": format!("user{i:06}@example.com"),
            "externalId": format!("ext-{i:06}"),
            "name": {"givenName": format!("Given{i}"), "familyName": format!("Family{i}"), "formatted": format!("Given{i} Family{i}")},
            "displayName": format!("Given{i} Family{i}"),
            "active": true,
            "emails": [{"value": format!("user{i:06}@example.com"), "type": "work", "primary": true}],
            "phoneNumbers": [{"value": "+49 6227 7-47474", "type": "work"}],
            crate::scim::urn::ENTERPRISE_USER: {"employeeNumber": format!("{i}"), "department": "Sales", "costCenter": "CC-100"},
        });
        create(&mut state, &mut batch, Kind::User, body, &Origin::ScimV2).unwrap();
        batch.writes.clear();
    }
    let after = rss_kib();
    let mib = (after.saturating_sub(before)) / 1024;
    println!("100k users: +{mib} MiB RSS (total {} MiB)", after / 1024);
    assert!(mib < 200, "{mib} MiB");
}

fn patch_op(op: PatchOpKind, path: Option<&str>, value: Option<Value>) -> PatchRequest {
    PatchRequest {
        operations: vec![PatchOperation {
            op,
            path: path.map(str::to_string),
            value,
        }],
    }
}

#[tokio::test]
async fn legacy_ids_are_assigned_kept_indexed_and_persisted() {
    use crate::scim::urn::{SAP_CUSTOM_GROUP, SAP_USER};
    let dir = tempfile::tempdir().unwrap();
    let (store, d) = open(dir.path()).await;
    let a = d
        .create(Kind::User, user("a"), Origin::ScimV2)
        .await
        .unwrap();
    // A userId sent by the client is readOnly: ignored.
    let mut b_body = user("b");
    b_body[SAP_USER] = json!({"userId": "P999999"});
    let b = d.create(Kind::User, b_body, Origin::ScimV2).await.unwrap();
    let aj = a.to_json("");
    assert_eq!(aj[SAP_USER]["userId"], "P000001");
    assert_eq!(aj[SAP_USER]["userUuid"], a.id.as_str());
    assert!(aj["schemas"].as_array().unwrap().contains(&json!(SAP_USER)));
    assert_eq!(b.to_json("")[SAP_USER]["userId"], "P000002");
    assert_eq!(d.id_for_user_id("P000001"), Some(a.id.clone()));
    assert_eq!(d.id_for_user_id("P999999"), None);

    // PUT and PATCH never change it; a PATCH that targets it is a mutability error.
    let replaced = d
        .replace(Kind::User, &a.id, user("a2"), None, Origin::ScimV2)
        .await
        .unwrap();
    assert_eq!(replaced.to_json("")[SAP_USER]["userId"], "P000001");
    let removed = d
        .patch(
            Kind::User,
            &a.id,
            patch_op(PatchOpKind::Remove, Some(SAP_USER), None),
            None,
            Origin::ScimV2,
        )
        .await
        .unwrap();
    assert_eq!(removed.to_json("")[SAP_USER]["userId"], "P000001");
    let err = d
        .patch(
            Kind::User,
            &a.id,
            patch_op(
                PatchOpKind::Replace,
                Some(&format!("{SAP_USER}:userId")),
                Some(json!("P000009")),
            ),
            None,
            Origin::ScimV2,
        )
        .await
        .unwrap_err();
    assert_eq!(err.status, 400);
    assert_eq!(d.id_for_user_id("P000001"), Some(a.id.clone()));

    // Groups: a 24-character legacy id, the custom name defaulting to displayName, unique.
    let g = d
        .create(
            Kind::Group,
            json!({"displayName": "Admins"}),
            Origin::ScimV2,
        )
        .await
        .unwrap();
    let gj = g.to_json("");
    let additional = gj[SAP_CUSTOM_GROUP]["additionalId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(additional.len(), 24);
    assert!(
        additional
            .bytes()
            .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase())
    );
    assert_eq!(gj[SAP_CUSTOM_GROUP]["name"], "Admins");
    assert_eq!(
        d.id_for_group_additional_id(&additional),
        Some(g.id.clone())
    );
    let err = d
        .create(
            Kind::Group,
            json!({"displayName": "Other", SAP_CUSTOM_GROUP: {"name": "ADMINS"}}),
            Origin::ScimV2,
        )
        .await
        .unwrap_err();
    assert_eq!(err.status, 409);
    let g2 = d
        .replace(
            Kind::Group,
            &g.id,
            json!({"displayName": "Admins 2"}),
            None,
            Origin::ScimV2,
        )
        .await
        .unwrap();
    assert_eq!(
        g2.to_json("")[SAP_CUSTOM_GROUP]["additionalId"],
        additional.as_str()
    );
    // Deleting frees the legacy id's index entry.
    d.delete(Kind::User, &b.id, None, Origin::ScimV2)
        .await
        .unwrap();
    assert_eq!(d.id_for_user_id("P000002"), None);

    // After a restart the indexes are rebuilt and the sequence goes on after the stored max.
    drop(d);
    drop(store);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let (_store, d) = open(dir.path()).await;
    assert_eq!(d.id_for_user_id("P000001"), Some(a.id.clone()));
    assert_eq!(
        d.id_for_group_additional_id(&additional),
        Some(g.id.clone())
    );
    let c = d
        .create(Kind::User, user("c"), Origin::ScimV2)
        .await
        .unwrap();
    assert_eq!(c.to_json("")[SAP_USER]["userId"], "P000002");
}

/// Every file of the data directory (database, WAL) as bytes, to search for a secret.
fn data_files_contain(dir: &std::path::Path, needle: &[u8]) -> bool {
    std::fs::read_dir(dir).unwrap().any(|entry| {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap_or_default();
        bytes.windows(needle.len()).any(|w| w == needle)
    })
}

#[tokio::test]
async fn passwords_and_send_mail_are_never_stored() {
    use crate::scim::urn;
    let dir = tempfile::tempdir().unwrap();
    let (store, d) = open(dir.path()).await;
    let sap = |extra: Value| {
        let mut ext = json!({"sendMail": true});
        if let (Value::Object(e), Value::Object(x)) = (&mut ext, extra) {
            e.extend(x);
        }
        ext
    };
    let created = d
        .create(
            Kind::User,
            json!({"schemas": [urn::USER, urn::SAP_USER], "userName": "alice",
                   "password": "s3cret-create", urn::SAP_USER: sap(json!({}))}),
            Origin::ScimV2,
        )
        .await
        .unwrap();
    let json = created.to_json("");
    assert_eq!(json[urn::SAP_USER]["passwordDetails"]["status"], "initial");
    assert!(json.get("password").is_none());
    // A status the client gives is kept.
    let bob = d
        .create(
            Kind::User,
            json!({"userName": "bob", "password": "s3cret-bob",
                   urn::SAP_USER: sap(json!({"passwordDetails": {"status": "enabled"}}))}),
            Origin::ScimV1,
        )
        .await
        .unwrap();
    assert_eq!(
        bob.to_json("")[urn::SAP_USER]["passwordDetails"]["status"],
        "enabled"
    );
    // No password, no status.
    let carol = d
        .create(Kind::User, user("carol"), Origin::Csv)
        .await
        .unwrap();
    assert!(
        carol.to_json("")[urn::SAP_USER]
            .get("passwordDetails")
            .is_none()
    );
    d.replace(
        Kind::User,
        &created.id,
        json!({"userName": "alice", "Password": "s3cret-replace", urn::SAP_USER: sap(json!({}))}),
        None,
        Origin::ScimV2,
    )
    .await
    .unwrap();
    let patch = PatchRequest {
        operations: vec![PatchOperation {
            op: PatchOpKind::Replace,
            path: Some("password".into()),
            value: Some(json!("s3cret-patch")),
        }],
    };
    d.patch(Kind::User, &created.id, patch, None, Origin::ScimV2)
        .await
        .unwrap();
    let bulk = d
        .bulk(
            vec![BulkOp {
                method: BulkMethod::Post,
                kind: Kind::User,
                id: None,
                bulk_id: Some("d".into()),
                body: Some(json!({"userName": "dave", "password": "s3cret-bulk",
                                  urn::SAP_USER: sap(json!({}))})),
                patch: None,
                if_match: None,
            }],
            None,
            Origin::ProvisioningJob {
                system_id: "s".into(),
            },
        )
        .await
        .unwrap();
    assert!(bulk.iter().all(|r| r.result.is_ok()), "{bulk:?}");

    let rows = store.load_tenant("acme").await.unwrap();
    assert_eq!(rows.users.len(), 4);
    for row in &rows.users {
        let body = row.body.to_ascii_lowercase();
        assert!(!body.contains("\"password\""), "{body}");
        assert!(!body.contains("s3cret"), "{body}");
        assert!(!body.contains("sendmail"), "{body}");
    }
    drop(d);
    drop(store);
    assert!(!data_files_contain(dir.path(), b"s3cret"));
}
