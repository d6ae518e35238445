//! Replays of Microsoft Entra ID's and Okta's SCIM request sequences, with their quirks,
//! against a real idrelay process over loopback (HTTPS, self-signed certificate).
//!
//! Sources: spec/scim.md §1.5 (test connection), §1.8 (groups), §1.9 (soft delete),
//! §1.10 (Entra's compliance quirks), §2.1 (Okta) and §5 (Okta's Runscope spec test).
//!
//! Invariant: every request is what the vendor's client really sends (capitalised keys
//! and ops, string booleans, value arrays for removal, …) and every assertion is what that
//! client needs from the answer to carry on.

use crate::support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{ALL_DIRECTORY_PERMISSIONS, Idrelay, Reply, SCIM_JSON, Scim, patch_op, with_query};

const CORE_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const CORE_GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
/// The group schema Entra puts next to the core one (spec/scim.md §1.8).
const ENTRA_GROUP: &str =
    "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group";

/// Okta's spec test asserts each response within 600 ms (spec/scim.md §5).
const OKTA_RESPONSE_BUDGET: Duration = Duration::from_millis(600);

#[track_caller]
fn assert_scim_json(reply: &Reply) {
    assert!(
        reply.content_type().starts_with(SCIM_JSON),
        "Content-Type must be {SCIM_JSON}: {}",
        reply.describe()
    );
}

/// A ListResponse with integer paging fields; returns its resources.
#[track_caller]
fn list_response(reply: &Reply) -> Vec<Value> {
    reply.expect(200);
    assert_scim_json(reply);
    let body = &reply.body;
    assert_eq!(
        body["schemas"],
        json!([LIST_RESPONSE]),
        "not a ListResponse: {}",
        reply.describe()
    );
    for field in ["totalResults", "startIndex", "itemsPerPage"] {
        assert!(
            body[field].is_u64(),
            "{field} must be an integer: {}",
            reply.describe()
        );
    }
    let resources = body["Resources"].as_array().cloned().unwrap_or_default();
    assert!(
        body["totalResults"].as_u64().unwrap() as usize >= resources.len(),
        "totalResults below the page size: {}",
        reply.describe()
    );
    resources
}

/// A SCIM error body with a string `status` equal to the HTTP status.
#[track_caller]
fn assert_scim_error(reply: &Reply, status: u16, scim_type: Option<&str>) {
    reply.expect(status);
    assert_scim_json(reply);
    assert_eq!(
        reply.body["schemas"],
        json!([ERROR]),
        "not a SCIM error: {}",
        reply.describe()
    );
    assert_eq!(
        reply.body["status"],
        json!(status.to_string()),
        "status must be a string: {}",
        reply.describe()
    );
    if let Some(scim_type) = scim_type {
        assert_eq!(
            reply.body["scimType"],
            json!(scim_type),
            "scimType: {}",
            reply.describe()
        );
    }
}

/// PATCH answers 200 with the resource or 204 (RFC 7644 §3.5.2).
#[track_caller]
fn assert_patch_ok(reply: &Reply) {
    assert!(
        matches!(reply.status.as_u16(), 200 | 204),
        "PATCH must answer 200 or 204: {}",
        reply.describe()
    );
}

async fn get_user(scim: &Scim, id: &str) -> Value {
    let reply = scim.get(&format!("/Users/{id}")).await;
    reply.expect(200);
    reply.body
}

async fn get_group_members(scim: &Scim, id: &str) -> Vec<String> {
    let reply = scim.get(&format!("/Groups/{id}")).await;
    reply.expect(200);
    let mut members: Vec<String> = reply.body["members"]
        .as_array()
        .map(|m| {
            m.iter()
                .filter_map(|v| v["value"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    members.sort();
    members
}

async fn filter_users(scim: &Scim, filter: &str) -> Vec<Value> {
    list_response(&scim.get(&with_query("/Users", &[("filter", filter)])).await)
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

// ---------------------------------------------------------------------------------------
// Microsoft Entra ID
// ---------------------------------------------------------------------------------------

/// An Entra user create, as the provisioning service sends it without the
/// `aadOptscim062020` flag: capitalised keys, `meta.resourceType`, empty `roles`,
/// a null attribute, phone numbers to be stored exactly as sent.
fn entra_user(user_name: &str, given: &str, family: &str, external_id: &str) -> Value {
    json!({
        "schemas": [CORE_USER, ENTERPRISE],
        "externalId": external_id,
        "UserName": user_name,
        "Active": true,
        "displayName": format!("{given} {family}"),
        "emails": [{"Primary": true, "type": "work", "value": user_name}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": format!("{given} {family}"), "familyName": family, "givenName": given},
        "phoneNumbers": [{"type": "work", "value": "+1 (555) 010-0000 ext. 7"}],
        "addresses": null,
        "roles": [],
        ENTERPRISE: {"employeeNumber": "701984", "department": "Sales"},
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entra_user_lifecycle() {
    let server = Idrelay::start(&["acme"], ALL_DIRECTORY_PERMISSIONS).await;
    let scim = server.scim("acme").await;

    // Test connection (§1.5): a filter on a random GUID answers 200 with an empty list.
    let guid = "1f0c6d3e-9a1b-4c5d-8e7f-0a1b2c3d4e5f";
    let probe = scim
        .get(&with_query(
            "/Users",
            &[("filter", &format!("userName eq \"{guid}\""))],
        ))
        .await;
    assert!(list_response(&probe).is_empty());
    assert_eq!(probe.body["totalResults"], json!(0));
    let probe = scim
        .get(&with_query(
            "/Groups",
            &[
                ("excludedAttributes", "members"),
                ("filter", &format!("displayName eq \"{guid}\"")),
            ],
        ))
        .await;
    assert!(list_response(&probe).is_empty());

    // Create with Entra's quirks → 201, Location = meta.location, canonical attribute names.
    let created = scim
        .post(
            "/Users",
            &entra_user("alice@contoso.com", "Alice", "Example", "alice-ext"),
        )
        .await;
    created.expect(201);
    assert_scim_json(&created);
    let alice = created.id();
    let location = created
        .headers
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no Location header: {}", created.describe()));
    assert_eq!(
        Some(location),
        created.body["meta"]["location"].as_str(),
        "Location must equal meta.location"
    );
    assert!(
        uuid::Uuid::parse_str(&alice).is_ok(),
        "ids are UUIDs: {alice}"
    );
    let body = &created.body;
    assert_eq!(
        body["userName"],
        json!("alice@contoso.com"),
        "{}",
        created.describe()
    );
    assert_eq!(body["active"], json!(true), "{}", created.describe());
    assert!(body["meta"]["created"].is_string() && body["meta"]["lastModified"].is_string());
    assert_eq!(
        body["phoneNumbers"][0]["value"],
        json!("+1 (555) 010-0000 ext. 7"),
        "data is stored exactly as sent"
    );
    assert_eq!(body[ENTERPRISE]["employeeNumber"], json!("701984"));

    // Matching: userName, externalId and the work email, each with `eq`.
    for filter in [
        r#"userName eq "alice@contoso.com""#,
        r#"externalId eq "alice-ext""#,
        r#"emails[type eq "work"].value eq "alice@contoso.com""#,
    ] {
        let found = filter_users(&scim, filter).await;
        assert_eq!(found.len(), 1, "filter {filter}");
        assert_eq!(found[0]["id"], json!(alice), "filter {filter}");
    }

    // Legacy PATCH: capitalised ops and the string "False".
    let reply = scim
        .patch(
            &format!("/Users/{alice}"),
            &patch_op(json!([
                {"op": "Replace", "path": "active", "value": "False"},
                {"op": "Add", "path": "displayName", "value": "Alice E."}
            ])),
        )
        .await;
    assert_patch_ok(&reply);
    let user = get_user(&scim, &alice).await;
    assert_eq!(
        user["active"],
        json!(false),
        "string \"False\" is stored as a boolean"
    );
    assert_eq!(user["displayName"], json!("Alice E."));

    // Soft-deleted users still come back on GET and on filters (§1.9).
    assert_eq!(
        filter_users(&scim, r#"userName eq "alice@contoso.com""#)
            .await
            .len(),
        1
    );

    // Flagged PATCH: lowercase op, no path, dotted keys, a real boolean.
    let reply = scim
        .patch(
            &format!("/Users/{alice}"),
            &patch_op(json!([{"op": "replace", "value": {
                "name.givenName": "Alicia",
                format!("{ENTERPRISE}:employeeNumber"): "701985",
                "active": true
            }}])),
        )
        .await;
    assert_patch_ok(&reply);
    let user = get_user(&scim, &alice).await;
    assert_eq!(user["name"]["givenName"], json!("Alicia"));
    assert_eq!(
        user["name"]["familyName"],
        json!("Example"),
        "other sub-attributes stay"
    );
    assert_eq!(user[ENTERPRISE]["employeeNumber"], json!("701985"));
    assert_eq!(
        user[ENTERPRISE]["department"],
        json!("Sales"),
        "other extension fields stay"
    );
    assert_eq!(user["active"], json!(true));

    // A value-filter path into the work email.
    let reply = scim
        .patch(
            &format!("/Users/{alice}"),
            &patch_op(json!([{
                "op": "Replace",
                "path": "emails[type eq \"work\"].value",
                "value": "alicia@contoso.com"
            }])),
        )
        .await;
    assert_patch_ok(&reply);
    let user = get_user(&scim, &alice).await;
    let emails = user["emails"].as_array().cloned().unwrap_or_default();
    assert_eq!(emails.len(), 1, "{user}");
    assert_eq!(emails[0]["value"], json!("alicia@contoso.com"));
    assert_eq!(
        emails[0]["primary"],
        json!(true),
        "the other sub-attributes stay"
    );

    // The manager, sent as an array with a null $ref, both with the URN path and with
    // the bare `manager` path Entra uses.
    let bob = scim
        .post(
            "/Users",
            &entra_user("bob@contoso.com", "Bob", "Boss", "bob-ext"),
        )
        .await;
    bob.expect(201);
    let bob = bob.id();
    let carol = scim
        .post(
            "/Users",
            &entra_user("carol@contoso.com", "Carol", "Chief", "carol-ext"),
        )
        .await;
    carol.expect(201);
    let carol = carol.id();
    let reply = scim
        .patch(
            &format!("/Users/{alice}"),
            &patch_op(json!([{
                "op": "Add",
                "path": format!("{ENTERPRISE}:manager"),
                "value": [{"$ref": null, "value": bob}]
            }])),
        )
        .await;
    assert_patch_ok(&reply);
    let user = get_user(&scim, &alice).await;
    assert_eq!(user[ENTERPRISE]["manager"]["value"], json!(bob), "{user}");
    let reply = scim
        .patch(
            &format!("/Users/{alice}"),
            &patch_op(json!([{
                "op": "Add",
                "path": "manager",
                "value": [{"$ref": null, "value": carol}]
            }])),
        )
        .await;
    assert_patch_ok(&reply);
    let user = get_user(&scim, &alice).await;
    assert_eq!(
        user[ENTERPRISE]["manager"]["value"],
        json!(carol),
        "bare `manager` path: {user}"
    );

    // Disable, then hard delete: 204, then 404 and no longer found.
    let reply = scim
        .patch(
            &format!("/Users/{alice}"),
            &patch_op(json!([{"op": "Replace", "path": "active", "value": "False"}])),
        )
        .await;
    assert_patch_ok(&reply);
    assert_eq!(get_user(&scim, &alice).await["active"], json!(false));
    scim.delete(&format!("/Users/{alice}")).await.expect(204);
    assert_scim_error(&scim.get(&format!("/Users/{alice}")).await, 404, None);
    assert!(
        filter_users(&scim, r#"userName eq "alice@contoso.com""#)
            .await
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entra_group_lifecycle() {
    let server = Idrelay::start(&["acme"], ALL_DIRECTORY_PERMISSIONS).await;
    let scim = server.scim("acme").await;

    let mut users = Vec::new();
    for (name, given) in [
        ("u1@contoso.com", "One"),
        ("u2@contoso.com", "Two"),
        ("u3@contoso.com", "Three"),
    ] {
        let reply = scim
            .post(
                "/Users",
                &entra_user(name, given, "User", &format!("{given}-ext")),
            )
            .await;
        reply.expect(201);
        users.push(reply.id());
    }
    let (u1, u2, u3) = (users[0].clone(), users[1].clone(), users[2].clone());

    // Groups are created empty, with Entra's extra schema (§1.8).
    let created = scim
        .post(
            "/Groups",
            &json!({
                "schemas": [CORE_GROUP, ENTRA_GROUP],
                "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
                "displayName": "Sales",
                "meta": {"resourceType": "Group"},
                "members": []
            }),
        )
        .await;
    created.expect(201);
    assert_scim_json(&created);
    let group = created.id();

    // Matching and reading exclude members.
    let found = list_response(
        &scim
            .get(&with_query(
                "/Groups",
                &[
                    ("excludedAttributes", "members"),
                    ("filter", r#"displayName eq "Sales""#),
                ],
            ))
            .await,
    );
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["id"], json!(group));
    assert!(
        found[0].get("members").is_none(),
        "members excluded: {}",
        found[0]
    );
    let read = scim
        .get(&format!("/Groups/{group}?excludedAttributes=members"))
        .await;
    read.expect(200);
    assert!(
        read.body.get("members").is_none(),
        "members excluded: {}",
        read.body
    );

    // Add members with a null $ref.
    let reply = scim
        .patch(
            &format!("/Groups/{group}"),
            &patch_op(json!([{"op": "Add", "path": "members", "value": [
                {"$ref": null, "value": u1},
                {"$ref": null, "value": u2},
                {"$ref": null, "value": u3}
            ]}])),
        )
        .await;
    assert_patch_ok(&reply);
    assert_eq!(
        get_group_members(&scim, &group).await,
        sorted(vec![u1.clone(), u2.clone(), u3.clone()])
    );

    // Legacy removal: a value array removes only the listed members (§4 PATCH).
    let reply = scim
        .patch(
            &format!("/Groups/{group}"),
            &patch_op(json!([{"op": "Remove", "path": "members", "value": [{"value": u1}]}])),
        )
        .await;
    assert_patch_ok(&reply);
    assert_eq!(
        get_group_members(&scim, &group).await,
        sorted(vec![u2.clone(), u3.clone()]),
        "only the listed member is removed"
    );

    // Flagged removal: a value-filter path.
    let reply = scim
        .patch(
            &format!("/Groups/{group}"),
            &patch_op(json!([{"op": "remove", "path": format!("members[value eq \"{u2}\"]")}])),
        )
        .await;
    assert_patch_ok(&reply);
    assert_eq!(get_group_members(&scim, &group).await, vec![u3.clone()]);

    // Rename, then match on the new name.
    let reply = scim
        .patch(
            &format!("/Groups/{group}"),
            &patch_op(json!([{"op": "Replace", "path": "displayName", "value": "Sales EMEA"}])),
        )
        .await;
    assert_patch_ok(&reply);
    let found = list_response(
        &scim
            .get(&with_query(
                "/Groups",
                &[
                    ("excludedAttributes", "members"),
                    ("filter", r#"displayName eq "Sales EMEA""#),
                ],
            ))
            .await,
    );
    assert_eq!(found.len(), 1);

    // Group displayName must be unique (§1.10).
    let duplicate = scim
        .post(
            "/Groups",
            &json!({"schemas": [CORE_GROUP], "displayName": "Sales EMEA", "members": []}),
        )
        .await;
    assert_scim_error(&duplicate, 409, Some("uniqueness"));

    scim.delete(&format!("/Groups/{group}")).await.expect(204);
    assert_scim_error(&scim.get(&format!("/Groups/{group}")).await, 404, None);
}

// ---------------------------------------------------------------------------------------
// Okta
// ---------------------------------------------------------------------------------------

/// Records every reply so the 600 ms budget can be checked per call at the end.
struct Timed {
    scim: Scim,
    slowest: Vec<(Duration, String)>,
}

impl Timed {
    fn check(&mut self, reply: Reply) -> Reply {
        self.slowest
            .push((reply.elapsed, format!("{} {}", reply.method, reply.url)));
        reply
    }
    async fn get(&mut self, path: &str) -> Reply {
        let reply = self.scim.get(path).await;
        self.check(reply)
    }
    async fn post(&mut self, path: &str, body: &Value) -> Reply {
        let reply = self.scim.post(path, body).await;
        self.check(reply)
    }
    async fn put(&mut self, path: &str, body: &Value) -> Reply {
        let reply = self.scim.put(path, body).await;
        self.check(reply)
    }
    async fn patch(&mut self, path: &str, body: &Value) -> Reply {
        let reply = self.scim.patch(path, body).await;
        self.check(reply)
    }
    async fn delete(&mut self, path: &str) -> Reply {
        let reply = self.scim.delete(path).await;
        self.check(reply)
    }
}

/// The user Okta's spec test creates.
fn okta_user(user_name: &str) -> Value {
    json!({
        "schemas": [CORE_USER],
        "userName": user_name,
        "name": {"givenName": "Runscope", "familyName": "User"},
        "emails": [{"primary": true, "value": user_name, "type": "work"}],
        "displayName": "Runscope User",
        "locale": "en-US",
        "externalId": "00ujl29u0le5T6Aj10h7",
        "groups": [],
        "password": "1mz050nq",
        "active": true
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn okta_spec_test_and_user_lifecycle() {
    let server = Idrelay::start(&["acme"], ALL_DIRECTORY_PERMISSIONS).await;
    let mut okta = Timed {
        scim: server.scim("acme").await,
        slowest: Vec::new(),
    };

    // Discovery: 200 on GET, 405 on POST.
    for endpoint in ["/ServiceProviderConfig", "/ResourceTypes", "/Schemas"] {
        let reply = okta.get(endpoint).await;
        reply.expect(200);
        assert_scim_json(&reply);
        let reply = okta.post(endpoint, &json!({})).await;
        assert_eq!(
            reply.status.as_u16(),
            405,
            "POST {endpoint}: {}",
            reply.describe()
        );
    }

    // Paging fields are integers.
    list_response(&okta.get("/Users?count=1&startIndex=1").await);

    // Assignment: look the user up first, with Okta's paging parameters.
    let user_name = "Runscope.User.7f3a@atko.example";
    let lookup = okta
        .get(&with_query(
            "/Users",
            &[
                ("filter", &format!("userName eq \"{user_name}\"")),
                ("startIndex", "1"),
                ("count", "100"),
            ],
        ))
        .await;
    assert!(list_response(&lookup).is_empty());
    assert_eq!(lookup.body["totalResults"], json!(0));

    // Create → 201; the password is never returned; readOnly `groups` is ignored.
    let created = okta.post("/Users", &okta_user(user_name)).await;
    created.expect(201);
    assert_scim_json(&created);
    assert!(
        created.body.get("password").is_none(),
        "password is returned:never"
    );
    let id = created.id();

    // Case-insensitive userName match (randomUsernameCaps).
    let caps = okta
        .get(&with_query(
            "/Users",
            &[
                (
                    "filter",
                    &format!("userName eq \"{}\"", user_name.to_uppercase()),
                ),
                ("startIndex", "1"),
                ("count", "100"),
            ],
        ))
        .await;
    let found = list_response(&caps);
    assert_eq!(found.len(), 1, "{}", caps.describe());
    assert_eq!(found[0]["id"], json!(id));

    // The same user again (in another case) → 409 with a SCIM error body.
    let duplicate = okta
        .post("/Users", &okta_user(&user_name.to_lowercase()))
        .await;
    assert_scim_error(&duplicate, 409, Some("uniqueness"));

    // Unknown id → 404 with a detail.
    let missing = okta
        .get("/Users/010101010101010101010101010101010101")
        .await;
    assert_scim_error(&missing, 404, None);
    assert!(
        missing.body["detail"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "404 needs a detail: {}",
        missing.describe()
    );

    // Malformed filter → 400 invalidFilter.
    let bad = okta
        .get(&with_query("/Users", &[("filter", "userName eq")]))
        .await;
    assert_scim_error(&bad, 400, Some("invalidFilter"));

    // Update: GET, then PUT the whole resource back with changes.
    let mut user = okta.get(&format!("/Users/{id}")).await.body;
    user["name"]["givenName"] = json!("Another");
    user["name"]["familyName"] = json!("Name");
    user["password"] = json!("new-password-1");
    let replaced = okta.put(&format!("/Users/{id}"), &user).await;
    replaced.expect(200);
    assert_eq!(replaced.body["name"]["givenName"], json!("Another"));
    assert!(
        replaced.body.get("password").is_none(),
        "password is returned:never"
    );
    let stored = okta.get(&format!("/Users/{id}")).await;
    assert_eq!(stored.body["name"]["familyName"], json!("Name"));

    // Deactivate: PATCH with no path.
    let deactivated = okta
        .patch(
            &format!("/Users/{id}"),
            &patch_op(json!([{"op": "replace", "value": {"active": false}}])),
        )
        .await;
    assert_patch_ok(&deactivated);
    let stored = okta.get(&format!("/Users/{id}")).await;
    assert_eq!(stored.body["active"], json!(false));

    // Reactivate: App Integration Wizard apps use PUT for everything.
    let mut user = stored.body.clone();
    user["active"] = json!(true);
    okta.put(&format!("/Users/{id}"), &user).await.expect(200);
    assert_eq!(
        okta.get(&format!("/Users/{id}")).await.body["active"],
        json!(true)
    );

    // Import: index paging with count=100.
    let page = okta.get("/Users?startIndex=1&count=100").await;
    let resources = list_response(&page);
    assert_eq!(resources.len(), 1);
    list_response(&okta.get("/Groups").await);

    // Group Push: create, then mix a filtered remove with an add, replace all members,
    // rename with Okta's no-path replace (carrying the id), delete.
    let other = okta
        .post("/Users", &okta_user("second.user@atko.example"))
        .await;
    other.expect(201);
    let other = other.id();
    let group = okta
        .post(
            "/Groups",
            &json!({"schemas": [CORE_GROUP], "displayName": "Okta Pushed", "members": [{"value": id, "display": "Runscope User"}]}),
        )
        .await;
    group.expect(201);
    let group = group.id();
    let reply = okta
        .patch(
            &format!("/Groups/{group}"),
            &patch_op(json!([
                {"op": "remove", "path": format!("members[value eq \"{id}\"]")},
                {"op": "add", "path": "members", "value": [{"value": other, "display": "second.user@atko.example"}]}
            ])),
        )
        .await;
    assert_patch_ok(&reply);
    assert_eq!(
        get_group_members(&okta.scim, &group).await,
        vec![other.clone()]
    );
    let reply = okta
        .patch(
            &format!("/Groups/{group}"),
            &patch_op(json!([{"op": "replace", "path": "members", "value": [
                {"value": id, "display": "Runscope User"},
                {"value": other, "display": "second.user@atko.example"}
            ]}])),
        )
        .await;
    assert_patch_ok(&reply);
    assert_eq!(
        get_group_members(&okta.scim, &group).await,
        sorted(vec![id.clone(), other.clone()])
    );
    let reply = okta
        .patch(
            &format!("/Groups/{group}"),
            &patch_op(
                json!([{"op": "replace", "value": {"id": group, "displayName": "Okta Renamed"}}]),
            ),
        )
        .await;
    assert_patch_ok(&reply);
    assert_eq!(
        okta.get(&format!("/Groups/{group}")).await.body["displayName"],
        json!("Okta Renamed")
    );
    okta.delete(&format!("/Groups/{group}")).await.expect(204);

    // Okta's gate: every call answered within 600 ms.
    okta.slowest.sort();
    let (slowest, call) = okta.slowest.last().cloned().unwrap();
    assert!(
        slowest < OKTA_RESPONSE_BUDGET,
        "slowest call took {slowest:?} (budget {OKTA_RESPONSE_BUDGET:?}): {call}"
    );
    eprintln!(
        "okta: {} calls, slowest {slowest:?} ({call})",
        okta.slowest.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_works_on_scim() {
    let server = Idrelay::start(&["acme"], ALL_DIRECTORY_PERMISSIONS).await;
    let scim = server.scim_basic("acme");
    let reply = scim
        .get(&with_query(
            "/Users",
            &[("filter", r#"userName eq "nobody""#)],
        ))
        .await;
    assert!(list_response(&reply).is_empty());
}
