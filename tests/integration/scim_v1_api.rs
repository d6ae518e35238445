//! Integration tests of the legacy SCIM API v1 (`/tenants/acme/service/scim`, and by host
//! routing `/service/scim`) over loopback HTTP against a spawned `idrelay serve`: every
//! documented behaviour of spec/domain.md §2.3 (201 + Location, 204, 404, the user rules, the
//! merging PUT, the group PUT, 409, the group limits, `X-message-code`, the search filter
//! subset, id and index paging, permissions) and the "one store, two views" moves of §2.4
//! between the v1 and the SCIM 2.0 API.

use crate::support;

use reqwest::Method;
use serde_json::{Value, json};
use support::{ALL_DIRECTORY_PERMISSIONS, Idrelay, Reply, Scim, TestConfig, with_query};

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const SAP_USER: &str = "urn:ietf:params:scim:schemas:extension:sap:2.0:User";
const CUSTOM_USER: &str = "urn:sap:cloud:scim:schemas:extension:custom:2.0:User";
const CUSTOM_GROUP: &str = "urn:sap:cloud:scim:schemas:extension:custom:2.0:Group";
const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";

/// A server with one tenant `acme` and clients for both APIs.
struct Apis {
    /// Keeps the server running for the test's duration.
    _server: Idrelay,
    /// SCIM v1 with Basic client id : secret (as IAS documents).
    v1: Scim,
    /// SCIM 2.0 with a bearer token.
    v2: Scim,
}

async fn start_with_permissions(permissions: &[&str]) -> Apis {
    let server = Idrelay::start(&["acme"], permissions).await;
    let v1 = Scim::new(
        format!("{}/tenants/acme/service/scim", server.base_url()),
        server.admin("acme").basic_auth(),
    );
    let v2 = server.scim_basic("acme");
    Apis {
        _server: server,
        v1,
        v2,
    }
}

async fn start() -> Apis {
    start_with_permissions(ALL_DIRECTORY_PERMISSIONS).await
}

#[track_caller]
fn message_code(reply: &Reply) -> String {
    reply
        .headers
        .get("x-message-code")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no X-message-code: {}", reply.describe()))
        .to_string()
}

#[track_caller]
fn expect_error(reply: &Reply, status: u16, code: &str) {
    reply.expect(status);
    assert_eq!(message_code(reply), code, "{}", reply.describe());
}

fn v1_user(user_name: &str, family_name: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": user_name,
        "name": {"givenName": "Given", "familyName": family_name},
        "emails": [{"value": format!("{user_name}@example.com"), "primary": true}],
    })
}

fn full_v1_user(user_name: &str) -> Value {
    json!({
        "userName": user_name,
        "name": {"givenName": "John", "familyName": "Doe"},
        "displayName": "John Doe",
        "emails": [{"value": format!("{user_name}@example.com"), "primary": true}],
        "phoneNumbers": [{"value": "+49 6227 1", "type": "work"}],
        "addresses": [{"type": "work", "locality": "Walldorf", "country": "DE"}],
        "locale": "de_DE",
        "timeZone": "Europe/Berlin",
        "active": true,
        "userType": "employee",
        "passwordStatus": "enabled",
        "sendMail": "false",
        "mailVerified": "true",
        "telephoneVerified": "true",
        "sourceSystem": "39",
        "sourceSystemId": "corp-1",
        "company": "ACME",
        "department": "Sales",
        "industryCrm": "Retail",
        "contactPreferenceEmail": "yes",
        "contactPreferenceTelephone": "no",
        "corporateGroups": [{"value": "cg1"}],
        "applicationId": "app-1",
        "targetUrl": "https://app.example.com",
        "emailTemplateSetId": "ets-1",
        ENTERPRISE: {"costCenter": "CC1", "employeeNumber": "E1"},
        CUSTOM_USER: {"attributes": [{"name": "customAttribute1", "value": "one"}]}
    })
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36 && s.chars().filter(|c| *c == '-').count() == 4
}

fn is_legacy_user_id(s: &str) -> bool {
    s.len() >= 7 && s.starts_with('P') && s[1..].bytes().all(|b| b.is_ascii_digit())
}

/// Creates `n` users `prefix<i>` through SCIM 2.0 Bulk (one request per 1,000); returns their
/// UUIDs in order.
async fn bulk_users(v2: &Scim, prefix: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::with_capacity(n);
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        let ops: Vec<Value> = chunk
            .iter()
            .map(|i| {
                json!({"method": "POST", "path": "/Users", "bulkId": format!("u{i}"),
                    "data": {"userName": format!("{prefix}{i}"), "name": {"familyName": "Bulk"}}})
            })
            .collect();
        let reply = v2
            .post(
                "/Bulk",
                &json!({"schemas": [BULK_REQUEST], "Operations": ops}),
            )
            .await;
        reply.expect(200);
        for op in reply.body["Operations"].as_array().unwrap() {
            assert_eq!(op["status"], "201", "{op}");
            let location = op["location"].as_str().unwrap();
            ids.push(location.rsplit('/').next().unwrap().to_string());
        }
    }
    ids
}

/// Creates `n` groups `prefix<i>` through SCIM 2.0 Bulk, each with `members` (UUIDs).
async fn bulk_groups(v2: &Scim, prefix: &str, n: usize, members: &[String]) {
    let members: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        let ops: Vec<Value> = chunk
            .iter()
            .map(|i| {
                json!({"method": "POST", "path": "/Groups", "bulkId": format!("g{i}"),
                    "data": {"displayName": format!("{prefix}{i}"), "members": members}})
            })
            .collect();
        let reply = v2
            .post(
                "/Bulk",
                &json!({"schemas": [BULK_REQUEST], "Operations": ops}),
            )
            .await;
        reply.expect(200);
        for op in reply.body["Operations"].as_array().unwrap() {
            assert_eq!(op["status"], "201", "{op}");
        }
    }
}

#[tokio::test]
async fn user_create_read_delete_and_not_found() {
    let apis = start().await;
    let v1 = &apis.v1;
    let created = v1.post("/Users", &v1_user("alice", "Smith")).await;
    created.expect(201);
    let id = created.id();
    assert!(is_legacy_user_id(&id), "{id}");
    let uuid = created.body["userUuid"].as_str().unwrap().to_string();
    assert!(is_uuid(&uuid), "{uuid}");
    let location = created.headers["location"].to_str().unwrap();
    assert_eq!(
        location,
        format!("{}/Users/{id}", v1.base),
        "Location is the new URI"
    );
    assert_eq!(created.body["meta"]["location"], location);
    assert_eq!(
        created.body["mailVerified"], "false",
        "default mailVerified"
    );
    assert!(
        created.body.get("sendMail").is_none(),
        "sendMail is write-only: used at create, never stored or returned"
    );
    assert_eq!(
        created.body["schemas"][0],
        "urn:ietf:params:scim:schemas:core:2.0:User"
    );

    let read = v1.get(&format!("/Users/{id}")).await;
    read.expect(200);
    assert_eq!(read.body["userName"], "alice");
    assert_eq!(read.body["userUuid"], uuid.as_str());
    // The UUID names the same user.
    v1.get(&format!("/Users/{uuid}")).await.expect(200);

    expect_error(&v1.get("/Users/P999999").await, 404, "USER_NOT_FOUND");
    v1.delete(&format!("/Users/{id}")).await.expect(204);
    expect_error(
        &v1.get(&format!("/Users/{id}")).await,
        404,
        "USER_NOT_FOUND",
    );
    expect_error(
        &v1.delete(&format!("/Users/{id}")).await,
        404,
        "USER_NOT_FOUND",
    );
    expect_error(
        &v1.send(Method::PATCH, &format!("/Users/{id}"), Some(&json!({})))
            .await,
        405,
        "METHOD_NOT_ALLOWED",
    );
}

#[tokio::test]
async fn user_rules_family_name_forbidden_characters_and_status_new() {
    let apis = start().await;
    let v1 = &apis.v1;
    let no_family = json!({"userName": "a", "name": {"givenName": "A"}});
    expect_error(
        &v1.post("/Users", &no_family).await,
        400,
        "FAMILY_NAME_REQUIRED",
    );
    for (attr, body) in [
        ("displayName", json!({"displayName": "a<b"})),
        ("familyName", json!({"name": {"familyName": "a>b"}})),
        (
            "givenName",
            json!({"name": {"familyName": "F", "givenName": "a:b"}}),
        ),
        (
            "middleName",
            json!({"name": {"familyName": "F", "middleName": "<x>"}}),
        ),
    ] {
        let mut user = v1_user("bad", "F");
        for (k, v) in body.as_object().unwrap() {
            if k == "name" {
                for (sk, sv) in v.as_object().unwrap() {
                    user["name"][sk] = sv.clone();
                }
            } else {
                user[k] = v.clone();
            }
        }
        let reply = v1.post("/Users", &user).await;
        expect_error(&reply, 400, "INVALID_CHARACTERS");
        assert!(
            reply.body["detail"].as_str().unwrap().contains(attr),
            "{attr}: {}",
            reply.describe()
        );
    }
    expect_error(
        &v1.post(
            "/Users",
            &json!({"userName": "t", "name": {"familyName": "F"}, "userType": "alumni"}),
        )
        .await,
        400,
        "INVALID_USER_TYPE",
    );
    // Nothing was created by the refused requests.
    let all = v1.get("/Users").await;
    all.expect(200);
    assert_eq!(all.body["totalResults"], 0);

    // `active` absent → status new; true/false → active/inactive (visible in v2).
    let mut statuses = Vec::new();
    for (name, active) in [("n", None), ("t", Some(true)), ("f", Some(false))] {
        let mut user = v1_user(name, "F");
        if let Some(a) = active {
            user["active"] = json!(a);
        }
        let created = v1.post("/Users", &user).await;
        created.expect(201);
        let uuid = created.body["userUuid"].as_str().unwrap().to_string();
        let v2 = apis.v2.get(&format!("/Users/{uuid}")).await;
        v2.expect(200);
        statuses.push(v2.body[SAP_USER]["status"].clone());
    }
    assert_eq!(
        statuses,
        vec![json!("new"), json!("active"), json!("inactive")]
    );
}

#[tokio::test]
async fn user_put_merges_with_corporate_group_and_custom_attribute_rules() {
    let apis = start().await;
    let v1 = &apis.v1;
    let created = v1.post("/Users", &full_v1_user("merge")).await;
    created.expect(201);
    let id = created.id();
    let path = format!("/Users/{id}");

    // Only the given attributes change.
    let put = v1
        .put(
            &path,
            &json!({"id": id, "name": {"givenName": "Jack"}, "locale": "en_US"}),
        )
        .await;
    put.expect(200);
    let user = &put.body;
    assert_eq!(user["name"]["givenName"], "Jack");
    assert_eq!(user["name"]["familyName"], "Doe");
    assert_eq!(user["locale"], "en_US");
    assert_eq!(user["timeZone"], "Europe/Berlin");
    assert_eq!(user["company"], "ACME");
    assert_eq!(user["emails"][0]["value"], "merge@example.com");
    assert_eq!(user["mailVerified"], "true");
    assert_eq!(
        user["corporateGroups"],
        json!([{"value": "cg1"}]),
        "omitted → kept"
    );
    assert_eq!(
        user[CUSTOM_USER]["attributes"],
        json!([{"name": "customAttribute1", "value": "one"}])
    );
    assert_eq!(user[ENTERPRISE]["costCenter"], "CC1");
    assert_eq!(user["id"], id.as_str());

    // corporateGroups with values → overwrite.
    let put = v1
        .put(
            &path,
            &json!({"corporateGroups": [{"value": "cg2"}, {"value": "cg3"}]}),
        )
        .await;
    put.expect(200);
    assert_eq!(
        put.body["corporateGroups"],
        json!([{"value": "cg2"}, {"value": "cg3"}])
    );
    // present but empty → deleted.
    let put = v1.put(&path, &json!({"corporateGroups": []})).await;
    put.expect(200);
    assert!(put.body.get("corporateGroups").is_none(), "{}", put.text);
    // Custom attributes merge by name; an empty list deletes them all.
    let put = v1
        .put(
            &path,
            &json!({CUSTOM_USER: {"attributes": [{"name": "customAttribute2", "value": "two"}]}}),
        )
        .await;
    put.expect(200);
    assert_eq!(
        put.body[CUSTOM_USER]["attributes"],
        json!([{"name": "customAttribute1", "value": "one"}, {"name": "customAttribute2", "value": "two"}])
    );
    let put = v1
        .put(&path, &json!({CUSTOM_USER: {"attributes": []}}))
        .await;
    put.expect(200);
    assert!(put.body.get(CUSTOM_USER).is_none(), "{}", put.text);
    // The rules apply to a PUT too; a refused PUT changes nothing.
    expect_error(
        &v1.put(&path, &json!({"name": {"familyName": "a:b"}})).await,
        400,
        "INVALID_CHARACTERS",
    );
    expect_error(
        &v1.put(&path, &json!({"name": {"familyName": ""}})).await,
        400,
        "FAMILY_NAME_REQUIRED",
    );
    let read = v1.get(&path).await;
    assert_eq!(read.body["name"]["familyName"], "Doe");
    assert_eq!(read.body["locale"], "en_US");
    expect_error(
        &v1.put("/Users/P999999", &json!({"locale": "x"})).await,
        404,
        "USER_NOT_FOUND",
    );
    // The manager is named by v1 id; an unknown one is refused.
    expect_error(
        &v1.put(
            &path,
            &json!({ENTERPRISE: {"manager": {"value": "P999999"}}}),
        )
        .await,
        400,
        "MANAGER_NOT_FOUND",
    );
}

#[tokio::test]
async fn concurrent_puts_on_one_user_lose_no_attribute() {
    let apis = start().await;
    let created = apis.v1.post("/Users", &v1_user("race", "R")).await;
    created.expect(201);
    let path = format!("/Users/{}", created.id());
    let attrs = [
        ("locale", "de_DE"),
        ("timeZone", "Europe/Berlin"),
        ("displayName", "Race Condition"),
        ("company", "ACME"),
        ("department", "Sales"),
        ("industryCrm", "Retail"),
        ("sourceSystemId", "s-1"),
        ("applicationId", "a-1"),
    ];
    let puts = attrs.iter().map(|(k, v)| {
        let v1 = apis.v1.clone();
        let path = path.clone();
        let body = json!({ *k: v });
        async move { v1.put(&path, &body).await }
    });
    for reply in futures_join(puts).await {
        reply.expect(200);
    }
    let read = apis.v1.get(&path).await;
    for (k, v) in attrs {
        assert_eq!(read.body[k], v, "{k}: {}", read.text);
    }
}

/// Runs the futures concurrently and collects their outputs in order.
async fn futures_join<F: std::future::Future<Output = Reply> + Send + 'static>(
    futures: impl Iterator<Item = F>,
) -> Vec<Reply> {
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test]
async fn group_create_put_delete_conflict_and_mismatched_id() {
    let apis = start().await;
    let v1 = &apis.v1;
    let u1 = v1.post("/Users", &v1_user("m1", "M")).await;
    u1.expect(201);
    let u2 = v1.post("/Users", &v1_user("m2", "M")).await;
    u2.expect(201);
    let (u1, u2) = (u1.id(), u2.id());

    let created = v1
        .post(
            "/Groups",
            &json!({
                "displayName": "Sales",
                CUSTOM_GROUP: {"description": "the sales team"},
                "members": [{"value": u1}, {"value": u2}]
            }),
        )
        .await;
    created.expect(201);
    let gid = created.id();
    assert_eq!(gid.len(), 24, "{gid}");
    let location = created.headers["location"].to_str().unwrap();
    assert_eq!(location, format!("{}/Groups/{gid}", v1.base));
    let group_uuid = created.body[CUSTOM_GROUP]["groupId"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(is_uuid(&group_uuid));
    assert_eq!(
        created.body[CUSTOM_GROUP]["name"], "Sales",
        "name defaults to displayName"
    );
    assert_eq!(
        created.body["schemas"],
        json!(["urn:ietf:params:scim:schemas:core:2.0:Group", CUSTOM_GROUP])
    );
    let mut members: Vec<&str> = created.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap())
        .collect();
    members.sort_unstable();
    assert_eq!(members, vec![u1.as_str(), u2.as_str()]);
    for member in created.body["members"].as_array().unwrap() {
        let value = member["value"].as_str().unwrap();
        assert_eq!(member["$ref"], format!("{}/Users/{value}", v1.base));
    }
    // The user's groups show the legacy group id (read-only on the user).
    let user = v1.get(&format!("/Users/{u1}")).await;
    assert_eq!(user.body["groups"][0]["value"], gid.as_str());

    // 409 when the name exists.
    expect_error(
        &v1.post("/Groups", &json!({"displayName": "Sales"})).await,
        409,
        "ALREADY_EXISTS",
    );
    expect_error(
        &v1.post(
            "/Groups",
            &json!({"displayName": "Other", CUSTOM_GROUP: {"name": "sales"}}),
        )
        .await,
        409,
        "ALREADY_EXISTS",
    );
    expect_error(
        &v1.post(
            "/Groups",
            &json!({"displayName": "G", "members": [{"value": "P999999"}]}),
        )
        .await,
        400,
        "MEMBER_NOT_FOUND",
    );

    let path = format!("/Groups/{gid}");
    // The body id must equal the URI id.
    let reply = v1
        .put(
            &path,
            &json!({"id": "000000000000000000000000", "displayName": "Sales"}),
        )
        .await;
    expect_error(&reply, 400, "Mismatched group id");
    expect_error(
        &v1.put(&path, &json!({"displayName": "Sales"})).await,
        400,
        "GROUP_ID_REQUIRED",
    );
    // Updating description requires name.
    expect_error(
        &v1.put(
            &path,
            &json!({"id": gid, "displayName": "Sales", CUSTOM_GROUP: {"description": "x"}}),
        )
        .await,
        400,
        "GROUP_NAME_REQUIRED",
    );
    // PUT replaces the membership: only the listed members stay.
    let put = v1
        .put(
            &path,
            &json!({"id": gid, "displayName": "Sales", "members": [{"value": u2}],
                CUSTOM_GROUP: {"name": "sales-team", "description": "new"}}),
        )
        .await;
    put.expect(200);
    assert_eq!(put.body["members"].as_array().unwrap().len(), 1);
    assert_eq!(put.body["members"][0]["value"], u2.as_str());
    assert_eq!(
        put.body["members"][0]["$ref"],
        format!("{}/Users/{u2}", v1.base)
    );
    assert_eq!(
        put.body["members"][0]["display"], "m2",
        "display is the userName"
    );
    assert_eq!(put.body[CUSTOM_GROUP]["name"], "sales-team");
    assert_eq!(put.body[CUSTOM_GROUP]["description"], "new");
    assert_eq!(put.body["id"], gid.as_str(), "the legacy id survives a PUT");
    // Missing members → all unassigned.
    let put = v1
        .put(&path, &json!({"id": gid, "displayName": "Sales"}))
        .await;
    put.expect(200);
    assert!(put.body.get("members").is_none(), "{}", put.text);
    assert_eq!(put.body[CUSTOM_GROUP]["description"], "new");
    let user = v1.get(&format!("/Users/{u2}")).await;
    assert!(user.body.get("groups").is_none());

    expect_error(
        &v1.get("/Groups/zzzzzzzzzzzzzzzzzzzzzzzz").await,
        404,
        "GROUP_NOT_FOUND",
    );
    v1.delete(&path).await.expect(204);
    expect_error(&v1.get(&path).await, 404, "GROUP_NOT_FOUND");
    expect_error(&v1.delete(&path).await, 404, "GROUP_NOT_FOUND");
}

#[tokio::test]
async fn group_limits_members_at_creation_groups_per_user_and_listed_members() {
    let apis = start().await;
    let v1 = &apis.v1;
    // 20,001 members at creation → 400 (checked before the members are looked up).
    let members: Vec<Value> = (0..20_001)
        .map(|i| json!({"value": format!("P{i:06}")}))
        .collect();
    expect_error(
        &v1.post(
            "/Groups",
            &json!({"displayName": "Huge", "members": members}),
        )
        .await,
        400,
        "MEMBERS_AT_CREATION_LIMIT",
    );

    // 150 members: a response lists 100.
    let users = bulk_users(&apis.v2, "member", 150).await;
    let v2_members: Vec<Value> = users.iter().map(|u| json!({"value": u})).collect();
    let group = apis
        .v2
        .post(
            "/Groups",
            &json!({"displayName": "Big", "members": v2_members}),
        )
        .await;
    group.expect(201);
    let legacy = group.body[CUSTOM_GROUP]["additionalId"]
        .as_str()
        .unwrap()
        .to_string();
    let read = v1.get(&format!("/Groups/{legacy}")).await;
    read.expect(200);
    assert_eq!(read.body["members"].as_array().unwrap().len(), 100);

    // A user in 500 groups cannot join another one.
    let busy = vec![users[0].clone()];
    bulk_groups(&apis.v2, "many", 499, &busy).await;
    let busy_v1 = v1.get(&format!("/Users/{}", users[0])).await;
    let busy_v1_id = busy_v1.id();
    assert_eq!(busy_v1.body["groups"].as_array().unwrap().len(), 500);
    expect_error(
        &v1.post(
            "/Groups",
            &json!({"displayName": "One more", "members": [{"value": busy_v1_id}]}),
        )
        .await,
        400,
        "GROUPS_PER_USER_LIMIT",
    );
    let other = v1.post("/Groups", &json!({"displayName": "Other"})).await;
    other.expect(201);
    let other_id = other.id();
    expect_error(
        &v1.put(
            &format!("/Groups/{other_id}"),
            &json!({"id": other_id, "displayName": "Other", "members": [{"value": busy_v1_id}]}),
        )
        .await,
        400,
        "GROUPS_PER_USER_LIMIT",
    );
}

#[tokio::test]
async fn group_limit_ten_thousand_groups_per_tenant() {
    let apis = start().await;
    bulk_groups(&apis.v2, "g", 10_000, &[]).await;
    expect_error(
        &apis
            .v1
            .post("/Groups", &json!({"displayName": "one too many"}))
            .await,
        400,
        "GROUPS_PER_TENANT_LIMIT",
    );
    // Group search pages hold at most 100 groups.
    let page = apis.v1.get("/Groups?count=1000").await;
    page.expect(200);
    assert_eq!(page.body["totalResults"], 10_000);
    assert_eq!(page.body["itemsPerPage"], 100);
}

#[tokio::test]
async fn search_filter_subset_id_paging_and_index_paging() {
    let apis = start().await;
    let v1 = &apis.v1;
    let mut ids = Vec::new();
    for (i, country) in ["DE", "FR", "DE", "US", "DE"].iter().enumerate() {
        let mut user = v1_user(&format!("s{i}"), if i % 2 == 0 { "Even" } else { "Odd" });
        user["addresses"] = json!([{"type": "work", "country": country}]);
        let created = v1.post("/Users", &user).await;
        created.expect(201);
        ids.push(created.id());
    }
    let group = v1
        .post(
            "/Groups",
            &json!({"displayName": "Searchers", "members": [{"value": ids[1]}]}),
        )
        .await;
    group.expect(201);
    let gid = group.id();

    let found = |reply: &Reply| -> Vec<String> {
        reply.expect(200);
        reply.body["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect()
    };
    let search = |filter: &str| with_query("/Users", &[("filter", filter)]);
    assert_eq!(
        found(&v1.get(&search("userName eq \"s3\"")).await),
        vec![ids[3].clone()]
    );
    assert_eq!(
        found(&v1.get(&search(&format!("id eq \"{}\"", ids[2]))).await),
        vec![ids[2].clone()]
    );
    assert_eq!(
        found(&v1.get(&search("emails eq \"s4@example.com\"")).await),
        vec![ids[4].clone()]
    );
    assert_eq!(
        found(
            &v1.get(&search(
                "name.familyName eq \"Even\" and addresses.country eq \"DE\""
            ))
            .await
        ),
        vec![ids[0].clone(), ids[2].clone(), ids[4].clone()]
    );
    assert_eq!(
        found(&v1.get(&search(&format!("groups eq \"{gid}\""))).await),
        vec![ids[1].clone()]
    );
    let uuid = v1.get(&format!("/Users/{}", ids[3])).await.body["userUuid"].clone();
    assert_eq!(
        found(&v1.get(&search(&format!("userUuid eq {uuid}"))).await),
        vec![ids[3].clone()]
    );
    let none = v1.get(&search("userName eq \"nobody\"")).await;
    none.expect(200);
    assert_eq!(none.body["totalResults"], 0);
    for bad in [
        "userName co \"s\"",
        "userName eq \"s1\" or userName eq \"s2\"",
        "displayName eq \"x\"",
        "(userName eq \"s1\")",
    ] {
        let reply = v1.get(&search(bad)).await;
        expect_error(&reply, 400, "UNSUPPORTED_FILTER");
        assert!(!reply.body["detail"].as_str().unwrap().is_empty());
    }

    // Id paging: startId=initial, then nextId until <end>.
    let mut seen = Vec::new();
    let mut start = "initial".to_string();
    loop {
        let page = v1
            .get(&with_query(
                "/Users",
                &[("startId", &start), ("count", "2")],
            ))
            .await;
        page.expect(200);
        assert_eq!(page.body["totalResults"], 5);
        assert_eq!(page.body["startId"], start.as_str());
        seen.extend(found(&page));
        let next = page.body["nextId"].as_str().unwrap().to_string();
        if next == "<end>" {
            break;
        }
        assert!(is_legacy_user_id(&next));
        start = next;
    }
    assert_eq!(seen, ids);
    expect_error(
        &v1.get("/Users?startId=P999999").await,
        400,
        "INVALID_PAGING",
    );
    // Id paging with a filter.
    let page = v1
        .get(&with_query(
            "/Users",
            &[
                ("filter", "name.familyName eq \"Even\""),
                ("startId", &ids[2]),
                ("count", "5"),
            ],
        ))
        .await;
    assert_eq!(found(&page), vec![ids[2].clone(), ids[4].clone()]);
    assert_eq!(page.body["nextId"], "<end>");

    // Index paging.
    let page = v1.get("/Users/?startIndex=2&count=2").await;
    assert_eq!(found(&page), vec![ids[1].clone(), ids[2].clone()]);
    assert_eq!(page.body["startIndex"], 2);
    assert_eq!(page.body["itemsPerPage"], 2);
    let page = v1.get("/Users?startIndex=-5&count=1").await;
    assert_eq!(found(&page), vec![ids[0].clone()]);
    assert_eq!(page.body["startIndex"], 1);
    for count in ["0", "-3"] {
        let page = v1.get(&format!("/Users?count={count}")).await;
        page.expect(200);
        assert_eq!(
            page.body,
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "totalResults": 5}),
            "count={count}"
        );
    }
    expect_error(&v1.get("/Users?count=many").await, 400, "INVALID_PAGING");
    // count defaults to 100 and is at most 100.
    bulk_users(&apis.v2, "more", 150).await;
    let page = v1.get("/Users").await;
    assert_eq!(page.body["totalResults"], 155);
    assert_eq!(page.body["itemsPerPage"], 100);
    let page = v1.get("/Users?count=150").await;
    assert_eq!(page.body["itemsPerPage"], 100);

    // Group search.
    let page = v1
        .get(&with_query(
            "/Groups",
            &[("filter", "displayName eq \"Searchers\"")],
        ))
        .await;
    assert_eq!(found(&page), vec![gid.clone()]);
    let page = v1
        .get(&with_query(
            "/Groups",
            &[("filter", &format!("id eq \"{gid}\""))],
        ))
        .await;
    assert_eq!(found(&page), vec![gid]);
}

#[tokio::test]
async fn one_store_two_views_users() {
    let apis = start().await;
    // Created in v1, read in v2: the moved attributes are under their v2 names.
    let created = apis.v1.post("/Users", &full_v1_user("viewer")).await;
    created.expect(201);
    let v1_id = created.id();
    let uuid = created.body["userUuid"].as_str().unwrap().to_string();
    let v2 = apis.v2.get(&format!("/Users/{uuid}")).await;
    v2.expect(200);
    let u = &v2.body;
    let sap = &u[SAP_USER];
    assert_eq!(sap["userId"], v1_id.as_str());
    assert_eq!(u["timezone"], "Europe/Berlin");
    assert!(u.get("timeZone").is_none());
    assert_eq!(sap["passwordDetails"]["status"], "enabled");
    assert_eq!(sap["mailVerified"], true);
    assert_eq!(
        sap["emails"],
        json!([{"value": "viewer@example.com", "verified": true}])
    );
    assert_eq!(
        sap["phoneNumbers"],
        json!([{"value": "+49 6227 1", "verified": true}])
    );
    assert_eq!(sap["sourceSystem"], 39);
    assert_eq!(sap["sourceSystemId"], "corp-1");
    assert_eq!(sap["industry"], "Retail");
    assert_eq!(
        sap["contactPreferences"],
        json!({"email": "yes", "telephone": "no"})
    );
    assert_eq!(sap["corporateGroups"], json!([{"value": "cg1"}]));
    assert_eq!(sap["applicationId"], "app-1");
    assert_eq!(sap["targetUrl"], "https://app.example.com");
    assert_eq!(sap["emailTemplateSetId"], "ets-1");
    assert_eq!(sap["status"], "active");
    assert_eq!(u[ENTERPRISE]["organization"], "ACME");
    assert_eq!(u[ENTERPRISE]["department"], "Sales");
    assert_eq!(u[ENTERPRISE]["costCenter"], "CC1");
    assert_eq!(
        u[CUSTOM_USER]["attributes"],
        json!([{"name": "customAttribute1", "value": "one"}])
    );

    // Created in v2, read in v1.
    let made = apis
        .v2
        .post(
            "/Users",
            &json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", SAP_USER, ENTERPRISE],
                "userName": "from-v2",
                "name": {"familyName": "Two"},
                "timezone": "Asia/Tokyo",
                "emails": [{"value": "v2@example.com"}],
                ENTERPRISE: {"organization": "Org2", "department": "Dept2",
                    "manager": {"value": uuid}},
                SAP_USER: {"mailVerified": true, "sourceSystem": 100, "industry": "Energy",
                    "passwordDetails": {"status": "disabled"}, "status": "inactive"}
            }),
        )
        .await;
    made.expect(201);
    let v2_uuid = made.id();
    let v1_id2 = made.body[SAP_USER]["userId"].as_str().unwrap().to_string();
    let read = apis.v1.get(&format!("/Users/{v1_id2}")).await;
    read.expect(200);
    let r = &read.body;
    assert_eq!(r["id"], v1_id2.as_str());
    assert_eq!(r["userUuid"], v2_uuid.as_str());
    assert_eq!(r["timeZone"], "Asia/Tokyo");
    assert_eq!(r["company"], "Org2");
    assert_eq!(r["department"], "Dept2");
    assert_eq!(r["mailVerified"], "true");
    assert_eq!(r["sourceSystem"], "100");
    assert_eq!(r["industryCrm"], "Energy");
    assert_eq!(r["passwordStatus"], "disabled");
    assert_eq!(r[ENTERPRISE]["manager"]["value"], v1_id.as_str());
    assert!(r.get(SAP_USER).is_none());

    // A v1 PUT keeps what only v2 set; a v2 read sees the v1 change.
    let put = apis
        .v1
        .put(&format!("/Users/{v1_id2}"), &json!({"company": "Org3"}))
        .await;
    put.expect(200);
    let v2 = apis.v2.get(&format!("/Users/{v2_uuid}")).await;
    assert_eq!(v2.body[ENTERPRISE]["organization"], "Org3");
    assert_eq!(v2.body[SAP_USER]["userId"], v1_id2.as_str());
    assert_eq!(v2.body[SAP_USER]["status"], "inactive");
    assert_eq!(v2.body["timezone"], "Asia/Tokyo");
}

#[tokio::test]
async fn one_store_two_views_groups_and_read_only_membership_on_the_v2_user() {
    let apis = start().await;
    let user = apis.v1.post("/Users", &v1_user("gm", "G")).await;
    user.expect(201);
    let (user_v1, user_uuid) = (
        user.id(),
        user.body["userUuid"].as_str().unwrap().to_string(),
    );

    // Created in v2, read in v1.
    let g2 = apis
        .v2
        .post(
            "/Groups",
            &json!({"displayName": "V2 group", "members": [{"value": user_uuid}],
                CUSTOM_GROUP: {"description": "made in v2"}}),
        )
        .await;
    g2.expect(201);
    let g2_uuid = g2.id();
    let legacy = g2.body[CUSTOM_GROUP]["additionalId"]
        .as_str()
        .unwrap()
        .to_string();
    let read = apis.v1.get(&format!("/Groups/{legacy}")).await;
    read.expect(200);
    assert_eq!(read.body["id"], legacy.as_str());
    assert_eq!(read.body[CUSTOM_GROUP]["groupId"], g2_uuid.as_str());
    assert_eq!(read.body[CUSTOM_GROUP]["description"], "made in v2");
    assert_eq!(read.body["members"][0]["value"], user_v1.as_str());

    // Created in v1, read in v2.
    let g1 = apis
        .v1
        .post(
            "/Groups",
            &json!({"displayName": "V1 group", "members": [{"value": user_v1}]}),
        )
        .await;
    g1.expect(201);
    let g1_uuid = g1.body[CUSTOM_GROUP]["groupId"]
        .as_str()
        .unwrap()
        .to_string();
    let v2 = apis.v2.get(&format!("/Groups/{g1_uuid}")).await;
    v2.expect(200);
    assert_eq!(v2.body[CUSTOM_GROUP]["additionalId"], g1.id().as_str());
    assert_eq!(v2.body[CUSTOM_GROUP]["name"], "V1 group");
    assert_eq!(v2.body["members"][0]["value"], user_uuid.as_str());

    // Membership is read-only on the v2 user: a PUT with other groups changes nothing.
    let v2_user = apis.v2.get(&format!("/Users/{user_uuid}")).await;
    assert_eq!(v2_user.body["groups"].as_array().unwrap().len(), 2);
    let mut body = v2_user.body.clone();
    body["groups"] = json!([]);
    apis.v2
        .put(&format!("/Users/{user_uuid}"), &body)
        .await
        .expect(200);
    let v2_user = apis.v2.get(&format!("/Users/{user_uuid}")).await;
    assert_eq!(v2_user.body["groups"].as_array().unwrap().len(), 2);
    // And on the v1 user: `groups` in a v1 PUT is ignored.
    apis.v1
        .put(&format!("/Users/{user_v1}"), &json!({"groups": []}))
        .await
        .expect(200);
    let v1_user = apis.v1.get(&format!("/Users/{user_v1}")).await;
    assert_eq!(v1_user.body["groups"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn permissions_and_authentication_as_in_v2() {
    let readers = start_with_permissions(&["ReadUsers"]).await;
    readers.v1.get("/Users").await.expect(200);
    expect_error(
        &readers.v1.post("/Users", &v1_user("x", "X")).await,
        403,
        "FORBIDDEN",
    );
    expect_error(&readers.v1.get("/Groups").await, 403, "FORBIDDEN");
    let stranger = Scim::new(readers.v1.base.clone(), "Basic bm9ib2R5Om5vdGhpbmc=".into());
    let reply = stranger.get("/Users").await;
    assert_eq!(reply.status.as_u16(), 401, "{}", reply.describe());
    assert_eq!(message_code(&reply), "UNAUTHORIZED");
    drop(readers);

    let groups_only = start_with_permissions(&["ManageGroups"]).await;
    groups_only.v1.get("/Groups").await.expect(200);
    expect_error(&groups_only.v1.get("/Users").await, 403, "FORBIDDEN");
}

#[tokio::test]
async fn reachable_by_host_at_the_root_service_scim_path() {
    let config = TestConfig::new(&["acme"], ALL_DIRECTORY_PERMISSIONS);
    let file = config.path().join("acme.yaml");
    let yaml = std::fs::read_to_string(&file).unwrap().replace(
        "spec: {displayName: acme test tenant}",
        "spec: {displayName: acme test tenant, hosts: [acme.localhost]}",
    );
    std::fs::write(&file, yaml).unwrap();
    // Plain HTTP/1.1: the Host header (not an HTTP/2 :authority) names the tenant.
    let server = Idrelay::start_with(config, None, true).await;
    let v1 = Scim::new(
        format!("{}/service/scim", server.base_url()),
        server.admin("acme").basic_auth(),
    );
    let host = format!("acme.localhost:{}", server.port);
    let created = v1
        .send_with(
            Method::POST,
            "/Users",
            Some(&v1_user("hosted", "H")),
            &[("Host", &host)],
        )
        .await;
    created.expect(201);
    assert_eq!(
        created.headers["location"].to_str().unwrap(),
        format!("http://{host}/service/scim/Users/{}", created.id())
    );
    let by_path = Scim::new(
        format!("{}/tenants/acme/service/scim", server.base_url()),
        server.admin("acme").basic_auth(),
    );
    by_path
        .get(&format!("/Users/{}", created.id()))
        .await
        .expect(200);
}

#[tokio::test]
async fn every_v1_write_is_recorded_with_origin_scim_v1() {
    let mut apis = start().await;
    let v1 = &apis.v1;
    let user = v1.post("/Users", &v1_user("origin", "O")).await;
    user.expect(201);
    let uid = user.id();
    v1.put(&format!("/Users/{uid}"), &json!({"locale": "fr_FR"}))
        .await
        .expect(200);
    let group = v1
        .post(
            "/Groups",
            &json!({"displayName": "O", "members": [{"value": uid}]}),
        )
        .await;
    group.expect(201);
    let gid = group.id();
    v1.put(
        &format!("/Groups/{gid}"),
        &json!({"id": gid, "displayName": "O2"}),
    )
    .await
    .expect(200);
    v1.delete(&format!("/Groups/{gid}")).await.expect(204);
    v1.delete(&format!("/Users/{uid}")).await.expect(204);

    apis._server.process.kill();
    let store = idrelay::store::Store::open(&apis._server.data_dir)
        .await
        .unwrap();
    let changes = store.changes("acme", 0, 100).await.unwrap();
    assert_eq!(changes.len(), 6, "{changes:?}");
    assert!(
        changes
            .iter()
            .all(|c| c.origin == idrelay::directory::Origin::ScimV1),
        "{changes:?}"
    );
}
