//! Integration tests of the SCIM 2.0 API (`/tenants/acme/scim`) over loopback HTTP: the runtime
//! runs in-process with a temporary data directory and a configuration applied directly
//! (tenant `acme`, technical admins with different permissions), served on 127.0.0.1:0.
//!
//! Covers: discovery (and 405 on writes), CRUD with Location/ETag/If-Match/If-None-Match,
//! media types and malformed bodies, listing (filter, sort, index and cursor paging, count=0,
//! attributes/excludedAttributes), `.search` and the root `/.search`, permissions, Bulk
//! (bulkId references, failOnErrors, limits) and the request size limit.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;

use idrelay::api::Permission;
use idrelay::runtime::{
    AdminConfig, AdminSecret, Runtime, RuntimeConfig, RuntimeOptions, TenantConfig,
};
use idrelay::server::{AppOptions, TlsMode, bind, serve_listener};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::sync::oneshot;

const SCIM_JSON: &str = "application/scim+json";
const SECRET: &str = "integration-test-secret";
const ADMIN: &str = "11111111-1111-4111-8111-111111111111";
const READER: &str = "22222222-2222-4222-8222-222222222222";
const USERS_ONLY: &str = "33333333-3333-4333-8333-333333333333";

fn admin(client_id: &str, permissions: &[Permission]) -> (String, AdminConfig) {
    (
        client_id.to_string(),
        AdminConfig {
            resource: format!("default/{client_id}"),
            display_name: client_id.to_string(),
            client_id: client_id.to_string(),
            user_id: format!("P{}", &client_id[..6]),
            permissions: permissions.iter().copied().collect::<BTreeSet<_>>(),
            secrets: vec![AdminSecret {
                value: SECRET.into(),
                expires_at: None,
            }],
            lock_after_failed_logons: false,
        },
    )
}

fn config() -> RuntimeConfig {
    let acme = TenantConfig {
        name: "acme".into(),
        hosts: vec![],
        admins: BTreeMap::from([
            admin(ADMIN, &[Permission::ManageUsers, Permission::ManageGroups]),
            admin(READER, &[Permission::ReadUsers]),
            admin(USERS_ONLY, &[Permission::ManageUsers]),
        ]),
        ..TenantConfig::default()
    };
    RuntimeConfig {
        tenants: BTreeMap::from([("acme".to_string(), acme)]),
        ..RuntimeConfig::default()
    }
}

/// A running server; dropping it stops the server.
struct Server {
    addr: SocketAddr,
    _stop: oneshot::Sender<()>,
    _dir: tempfile::TempDir,
    client: reqwest::Client,
}

async fn start() -> Server {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let runtime: Arc<Runtime> = Runtime::open(RuntimeOptions {
        data_dir: dir.path().to_path_buf(),
    })
    .await
    .unwrap();
    runtime.apply(config()).await.unwrap();
    let (listener, addr) = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(serve_listener(
        listener,
        runtime,
        TlsMode::Plain,
        AppOptions::default(),
        async {
            let _ = stopped.await;
        },
    ));
    Server {
        addr,
        _stop: stop,
        _dir: dir,
        client: reqwest::Client::new(),
    }
}

/// A response with its parsed body (Null when empty).
struct Reply {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    #[track_caller]
    fn expect(self, status: StatusCode) -> Reply {
        assert_eq!(self.status, status, "body: {}", self.body);
        if !self.body.is_null() {
            assert_eq!(
                self.header("content-type"),
                Some(SCIM_JSON),
                "content type of {}",
                self.body
            );
        }
        self
    }

    #[track_caller]
    fn expect_error(self, status: StatusCode, scim_type: Option<&str>) -> Reply {
        let reply = self.expect(status);
        assert_eq!(
            reply.body["schemas"][0],
            "urn:ietf:params:scim:api:messages:2.0:Error"
        );
        assert_eq!(reply.body["status"], status.as_u16().to_string());
        match scim_type {
            Some(t) => assert_eq!(reply.body["scimType"], t, "{}", reply.body),
            None => assert!(reply.body.get("scimType").is_none(), "{}", reply.body),
        }
        reply
    }
}

impl Server {
    fn url(&self, path: &str) -> String {
        format!("http://{}/tenants/acme/scim{path}", self.addr)
    }

    fn request(&self, client_id: &str, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .basic_auth(client_id, Some(SECRET))
    }

    async fn send(&self, builder: reqwest::RequestBuilder) -> Reply {
        let response = builder.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.call_as(ADMIN, method, path, body).await
    }

    async fn call_as(
        &self,
        client_id: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Reply {
        let mut builder = self.request(client_id, method, path);
        if let Some(body) = body {
            builder = builder
                .header("content-type", SCIM_JSON)
                .body(body.to_string());
        }
        self.send(builder).await
    }

    async fn create_user(&self, user_name: &str) -> Value {
        self.call(Method::POST, "/Users", Some(user(user_name)))
            .await
            .expect(StatusCode::CREATED)
            .body
    }
}

fn user(user_name: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": user_name,
        "name": {"givenName": "Given", "familyName": format!("Family {user_name}")},
        "emails": [{"type": "work", "value": format!("{user_name}@example.com"), "primary": true}],
        "active": true,
    })
}

/// A SearchRequest body (RFC 7644 §3.4.3) with the given parameters.
fn search(mut parameters: Value) -> Value {
    parameters["schemas"] = json!(["urn:ietf:params:scim:api:messages:2.0:SearchRequest"]);
    parameters
}

fn ids(list: &Value) -> Vec<String> {
    list["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

fn enc(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[tokio::test]
async fn discovery_endpoints_are_read_only() {
    let server = start().await;
    let spc = server
        .call(Method::GET, "/ServiceProviderConfig", None)
        .await
        .expect(StatusCode::OK);
    assert_eq!(spc.body["bulk"]["supported"], true);
    assert_eq!(spc.body["bulk"]["maxOperations"], 1000);
    assert_eq!(spc.body["etag"]["supported"], true);

    let types = server
        .call(Method::GET, "/ResourceTypes", None)
        .await
        .expect(StatusCode::OK);
    assert_eq!(types.body["totalResults"], 2);
    assert_eq!(
        types.body["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:ListResponse"
    );
    let user_type = server
        .call(Method::GET, "/ResourceTypes/User", None)
        .await
        .expect(StatusCode::OK);
    assert_eq!(user_type.body["endpoint"], "/Users");
    server
        .call(Method::GET, "/ResourceTypes/Nope", None)
        .await
        .expect_error(StatusCode::NOT_FOUND, None);

    let schemas = server
        .call(Method::GET, "/Schemas", None)
        .await
        .expect(StatusCode::OK);
    assert!(schemas.body["totalResults"].as_u64().unwrap() >= 5);
    let core = server
        .call(
            Method::GET,
            "/Schemas/urn:ietf:params:scim:schemas:core:2.0:User",
            None,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        core.body["id"],
        "urn:ietf:params:scim:schemas:core:2.0:User"
    );

    for path in [
        "/ServiceProviderConfig",
        "/ResourceTypes",
        "/Schemas",
        "/ResourceTypes/User",
    ] {
        for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            server
                .call(method, path, Some(json!({})))
                .await
                .expect_error(StatusCode::METHOD_NOT_ALLOWED, None);
        }
    }
    // Any authenticated admin may read discovery; nobody unauthenticated.
    server
        .call_as(READER, Method::GET, "/Schemas", None)
        .await
        .expect(StatusCode::OK);
    let anonymous = server
        .send(server.client.get(server.url("/ServiceProviderConfig")))
        .await;
    anonymous.expect_error(StatusCode::UNAUTHORIZED, None);
}

#[tokio::test]
async fn user_lifecycle_with_etags() {
    let server = start().await;
    let created = server
        .call(Method::POST, "/Users", Some(user("alice")))
        .await
        .expect(StatusCode::CREATED);
    let id = created.body["id"].as_str().unwrap().to_string();
    let location = created.body["meta"]["location"].as_str().unwrap();
    assert_eq!(created.header("location"), Some(location));
    assert_eq!(location, server.url(&format!("/Users/{id}")));
    let etag = created.header("etag").unwrap().to_string();
    assert_eq!(created.body["meta"]["version"], etag.as_str());
    assert!(created.body["meta"]["created"].is_string());

    // Duplicate userName (case-insensitive) → 409 uniqueness.
    server
        .call(Method::POST, "/Users", Some(user("ALICE")))
        .await
        .expect_error(StatusCode::CONFLICT, Some("uniqueness"));

    let read = server
        .call(Method::GET, &format!("/Users/{id}"), None)
        .await
        .expect(StatusCode::OK);
    assert_eq!(read.header("etag"), Some(etag.as_str()));
    assert_eq!(read.body["userName"], "alice");

    let not_modified = server
        .send(
            server
                .request(ADMIN, Method::GET, &format!("/Users/{id}"))
                .header("if-none-match", &etag),
        )
        .await;
    assert_eq!(not_modified.status, StatusCode::NOT_MODIFIED);
    assert!(not_modified.body.is_null());
    let modified = server
        .send(
            server
                .request(ADMIN, Method::GET, &format!("/Users/{id}"))
                .header("if-none-match", "W/\"999\""),
        )
        .await;
    assert_eq!(modified.status, StatusCode::OK);

    // attributes / excludedAttributes on GET.
    let projected = server
        .call(
            Method::GET,
            &format!("/Users/{id}?attributes=userName"),
            None,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(projected.body["userName"], "alice");
    assert!(projected.body.get("name").is_none());
    assert_eq!(projected.body["id"], id.as_str());
    let excluded = server
        .call(
            Method::GET,
            &format!("/Users/{id}?excludedAttributes=emails"),
            None,
        )
        .await
        .expect(StatusCode::OK);
    assert!(excluded.body.get("emails").is_none());
    assert!(excluded.body.get("name").is_some());

    // PUT: stale If-Match → 412; matching → 200 with a new ETag.
    let mut replacement = user("alice");
    replacement["displayName"] = json!("Alice A.");
    let stale = server
        .request(ADMIN, Method::PUT, &format!("/Users/{id}"))
        .header("content-type", SCIM_JSON)
        .header("if-match", "W/\"999\"")
        .body(replacement.to_string());
    server
        .send(stale)
        .await
        .expect_error(StatusCode::PRECONDITION_FAILED, None);
    let put = server
        .request(ADMIN, Method::PUT, &format!("/Users/{id}"))
        .header("content-type", "application/json")
        .header("if-match", &etag)
        .body(replacement.to_string());
    let replaced = server.send(put).await.expect(StatusCode::OK);
    assert_eq!(replaced.body["displayName"], "Alice A.");
    let etag2 = replaced.header("etag").unwrap().to_string();
    assert_ne!(etag2, etag);

    // PATCH with Entra's capitalised op and string boolean; projection honoured.
    let patch = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [
            {"op": "Replace", "path": "active", "value": "False"},
            {"op": "Add", "path": "emails[type eq \"work\"].value", "value": "alice@new.example.com"},
        ]
    });
    let patched = server
        .call(
            Method::PATCH,
            &format!("/Users/{id}?excludedAttributes=name"),
            Some(patch),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(patched.body["active"], false);
    assert_eq!(patched.body["emails"][0]["value"], "alice@new.example.com");
    assert!(patched.body.get("name").is_none());
    assert!(patched.header("etag").is_some());

    // Okta: no-path replace.
    let okta = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "value": {"active": true}}]});
    let patched = server
        .call(Method::PATCH, &format!("/Users/{id}"), Some(okta))
        .await
        .expect(StatusCode::OK);
    assert_eq!(patched.body["active"], true);
    let current_etag = patched.header("etag").unwrap().to_string();

    // DELETE: stale If-Match → 412; then 204; then 404.
    let stale = server
        .request(ADMIN, Method::DELETE, &format!("/Users/{id}"))
        .header("if-match", &etag);
    server
        .send(stale)
        .await
        .expect_error(StatusCode::PRECONDITION_FAILED, None);
    let delete = server
        .request(ADMIN, Method::DELETE, &format!("/Users/{id}"))
        .header("if-match", &current_etag);
    let deleted = server.send(delete).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert!(deleted.body.is_null());
    server
        .call(Method::GET, &format!("/Users/{id}"), None)
        .await
        .expect_error(StatusCode::NOT_FOUND, None);
    server
        .call(Method::DELETE, &format!("/Users/{id}"), None)
        .await
        .expect_error(StatusCode::NOT_FOUND, None);
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "active", "value": false}]});
    server
        .call(Method::PATCH, &format!("/Users/{id}"), Some(patch))
        .await
        .expect_error(StatusCode::NOT_FOUND, None);
}

#[tokio::test]
async fn media_types_and_malformed_bodies() {
    let server = start().await;
    let text = server
        .request(ADMIN, Method::POST, "/Users")
        .header("content-type", "text/plain")
        .body(user("a").to_string());
    server
        .send(text)
        .await
        .expect_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, None);
    // No Content-Type at all is accepted.
    let bare = server
        .request(ADMIN, Method::POST, "/Users")
        .body(user("bare").to_string());
    server.send(bare).await.expect(StatusCode::CREATED);
    let broken = server
        .request(ADMIN, Method::POST, "/Users")
        .header("content-type", SCIM_JSON)
        .body("{\"userName\":");
    server
        .send(broken)
        .await
        .expect_error(StatusCode::BAD_REQUEST, Some("invalidSyntax"));
    let array = server
        .request(ADMIN, Method::POST, "/Users")
        .header("content-type", SCIM_JSON)
        .body("[]");
    server
        .send(array)
        .await
        .expect_error(StatusCode::BAD_REQUEST, Some("invalidSyntax"));
    server
        .call(
            Method::POST,
            "/Users",
            Some(json!({"name": {"givenName": "x"}})),
        )
        .await
        .expect(StatusCode::BAD_REQUEST);
    let bad_patch =
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": "x"});
    let created = server.create_user("patchme").await;
    let id = created["id"].as_str().unwrap();
    server
        .call(Method::PATCH, &format!("/Users/{id}"), Some(bad_patch))
        .await
        .expect(StatusCode::BAD_REQUEST);
    // Over the body limit → 413 SCIM error.
    let huge = json!({"userName": "huge", "displayName": "x".repeat(2 * 1024 * 1024)});
    server
        .call(Method::POST, "/Users", Some(huge))
        .await
        .expect_error(StatusCode::PAYLOAD_TOO_LARGE, None);
    // Methods a collection does not support → 405.
    server
        .call(Method::DELETE, "/Users", None)
        .await
        .expect_error(StatusCode::METHOD_NOT_ALLOWED, None);
    server
        .call(Method::POST, &format!("/Users/{id}"), Some(user("x")))
        .await
        .expect_error(StatusCode::METHOD_NOT_ALLOWED, None);
}

#[tokio::test]
async fn listing_filters_sorts_and_pages() {
    let server = start().await;
    let mut created = Vec::new();
    for name in ["carol", "alice", "bob", "dave", "erin"] {
        created.push(
            server.create_user(name).await["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }

    // Entra test connection: random userName → 200 empty ListResponse.
    let empty = server
        .call(
            Method::GET,
            &format!(
                "/Users?filter={}",
                enc("userName eq \"7c9e6679-7425-40de-944b-e07fc1f90ae7\"")
            ),
            None,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(empty.body["totalResults"], 0);
    assert_eq!(empty.body["Resources"], json!([]));

    // caseExact=false on userName; Entra's email value filter.
    let bob = server
        .call(
            Method::GET,
            &format!("/Users?filter={}", enc("userName eq \"BOB\"")),
            None,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(ids(&bob.body), vec![created[2].clone()]);
    let by_mail = server
        .call(
            Method::GET,
            &format!(
                "/Users?filter={}",
                enc("emails[type eq \"work\"].value eq \"dave@example.com\"")
            ),
            None,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(ids(&by_mail.body), vec![created[3].clone()]);
    let or = server
        .call(
            Method::GET,
            &format!(
                "/Users?filter={}",
                enc("userName sw \"a\" or (userName eq \"erin\" and active eq true)")
            ),
            None,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(or.body["totalResults"], 2);

    server
        .call(
            Method::GET,
            &format!("/Users?filter={}", enc("userName eq")),
            None,
        )
        .await
        .expect_error(StatusCode::BAD_REQUEST, Some("invalidFilter"));
    let too_long = format!("userName eq \"{}\"", "x".repeat(5000));
    server
        .call(
            Method::POST,
            "/Users/.search",
            Some(search(json!({"filter": too_long}))),
        )
        .await
        .expect_error(StatusCode::BAD_REQUEST, Some("invalidFilter"));

    // Sorting.
    let sorted = server
        .call(
            Method::GET,
            "/Users?sortBy=userName&sortOrder=descending",
            None,
        )
        .await
        .expect(StatusCode::OK);
    let names: Vec<&str> = sorted.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["userName"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["erin", "dave", "carol", "bob", "alice"]);

    // Index paging.
    let page = server
        .call(
            Method::GET,
            "/Users?sortBy=userName&startIndex=2&count=2",
            None,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(page.body["totalResults"], 5);
    assert_eq!(page.body["startIndex"], 2);
    assert_eq!(page.body["itemsPerPage"], 2);
    let names: Vec<&str> = page.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["userName"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["bob", "carol"]);
    let zero = server
        .call(Method::GET, "/Users?count=0", None)
        .await
        .expect(StatusCode::OK);
    assert_eq!(zero.body["totalResults"], 5);
    assert_eq!(zero.body["Resources"], json!([]));
    let past = server
        .call(Method::GET, "/Users?startIndex=99", None)
        .await
        .expect(StatusCode::OK);
    assert_eq!(past.body["totalResults"], 5);
    assert_eq!(past.body["Resources"], json!([]));

    // Cursor paging walks every user exactly once.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    for _ in 0..10 {
        let page = server
            .call(
                Method::GET,
                &format!("/Users?count=2&cursor={}", enc(&cursor)),
                None,
            )
            .await
            .expect(StatusCode::OK);
        seen.extend(ids(&page.body));
        match page.body.get("nextCursor").and_then(Value::as_str) {
            Some(next) => cursor = next.to_string(),
            None => break,
        }
    }
    assert_eq!(seen, created);
    server
        .call(Method::GET, "/Users?cursor=garbage!", None)
        .await
        .expect_error(StatusCode::BAD_REQUEST, Some("invalidCursor"));

    // attributes / excludedAttributes on every listed resource.
    let projected = server
        .call(Method::GET, "/Users?attributes=userName", None)
        .await
        .expect(StatusCode::OK);
    for r in projected.body["Resources"].as_array().unwrap() {
        assert!(r.get("userName").is_some() && r.get("id").is_some() && r.get("emails").is_none());
    }

    // POST /Users/.search with the same parameters in the body.
    let searched = server
        .call(
            Method::POST,
            "/Users/.search",
            Some(search(json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                "filter": "userName ew \"e\"",
                "sortBy": "userName",
                "attributes": ["userName"],
                "startIndex": 1,
                "count": 10,
            }))),
        )
        .await
        .expect(StatusCode::OK);
    let names: Vec<&str> = searched.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["userName"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["alice", "dave"]);
    assert!(searched.body["Resources"][0].get("name").is_none());
}

#[tokio::test]
async fn groups_root_search_and_permissions() {
    let server = start().await;
    let alice = server.create_user("alice").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let bob = server.create_user("bob").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let group = server
        .call(
            Method::POST,
            "/Groups",
            Some(json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": "Engineering",
                "members": [{"value": alice}],
            })),
        )
        .await
        .expect(StatusCode::CREATED);
    let gid = group.body["id"].as_str().unwrap().to_string();
    assert_eq!(
        group.header("location"),
        Some(server.url(&format!("/Groups/{gid}")).as_str())
    );

    // Entra: member add with capitalised op, then read without members.
    let add = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Add", "path": "members", "value": [{"$ref": null, "value": bob}]}]});
    server
        .call(Method::PATCH, &format!("/Groups/{gid}"), Some(add))
        .await
        .expect(StatusCode::OK);
    let full = server
        .call(Method::GET, &format!("/Groups/{gid}"), None)
        .await
        .expect(StatusCode::OK);
    assert_eq!(full.body["members"].as_array().unwrap().len(), 2);
    let lean = server
        .call(
            Method::GET,
            &format!("/Groups/{gid}?excludedAttributes=members"),
            None,
        )
        .await
        .expect(StatusCode::OK);
    assert!(lean.body.get("members").is_none());
    assert_eq!(lean.body["displayName"], "Engineering");
    let matched = server
        .call(
            Method::GET,
            &format!(
                "/Groups?excludedAttributes=members&filter={}",
                enc("displayName eq \"Engineering\"")
            ),
            None,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(ids(&matched.body), vec![gid.clone()]);
    assert!(matched.body["Resources"][0].get("members").is_none());
    server
        .call(
            Method::POST,
            "/Groups/.search",
            Some(search(json!({"filter": "displayName sw \"Eng\""}))),
        )
        .await
        .expect(StatusCode::OK);

    // Root search: users then groups, paged over both.
    let root = server
        .call(
            Method::POST,
            "/.search",
            Some(search(json!({"startIndex": 2, "count": 5}))),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(root.body["totalResults"], 3);
    assert_eq!(ids(&root.body), vec![bob.clone(), gid.clone()]);
    assert_eq!(root.body["Resources"][1]["meta"]["resourceType"], "Group");
    let filtered = server
        .call(
            Method::POST,
            "/.search",
            Some(search(json!({"filter": "displayName eq \"Engineering\""}))),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(ids(&filtered.body), vec![gid.clone()]);
    let mut seen = Vec::new();
    let mut cursor = String::new();
    for _ in 0..10 {
        let page = server
            .call(
                Method::POST,
                "/.search",
                Some(search(json!({"count": 2, "cursor": cursor}))),
            )
            .await
            .expect(StatusCode::OK);
        seen.extend(ids(&page.body));
        match page.body.get("nextCursor").and_then(Value::as_str) {
            Some(next) => cursor = next.to_string(),
            None => break,
        }
    }
    assert_eq!(seen, vec![alice.clone(), bob.clone(), gid.clone()]);

    // ReadUsers: reads users (also through the root search), nothing else.
    server
        .call_as(READER, Method::GET, "/Users", None)
        .await
        .expect(StatusCode::OK);
    server
        .call_as(READER, Method::GET, &format!("/Users/{alice}"), None)
        .await
        .expect(StatusCode::OK);
    server
        .call_as(READER, Method::POST, "/Users", Some(user("mallory")))
        .await
        .expect_error(StatusCode::FORBIDDEN, None);
    server
        .call_as(READER, Method::DELETE, &format!("/Users/{alice}"), None)
        .await
        .expect_error(StatusCode::FORBIDDEN, None);
    server
        .call_as(READER, Method::GET, "/Groups", None)
        .await
        .expect_error(StatusCode::FORBIDDEN, None);
    server
        .call_as(READER, Method::GET, &format!("/Groups/{gid}"), None)
        .await
        .expect_error(StatusCode::FORBIDDEN, None);
    let readers_root = server
        .call_as(READER, Method::POST, "/.search", Some(search(json!({}))))
        .await
        .expect(StatusCode::OK);
    assert_eq!(ids(&readers_root.body), vec![alice.clone(), bob.clone()]);
    let bulk = json!({"Operations": [{"method": "POST", "path": "/Users", "bulkId": "x", "data": user("m")}]});
    server
        .call_as(READER, Method::POST, "/Bulk", Some(bulk))
        .await
        .expect_error(StatusCode::FORBIDDEN, None);
    // ManageUsers without ManageGroups: users yes, groups no.
    server
        .call_as(USERS_ONLY, Method::POST, "/Users", Some(user("carol")))
        .await
        .expect(StatusCode::CREATED);
    server
        .call_as(USERS_ONLY, Method::DELETE, &format!("/Groups/{gid}"), None)
        .await
        .expect_error(StatusCode::FORBIDDEN, None);
    // Wrong secret.
    let wrong = server
        .client
        .get(server.url("/Users"))
        .basic_auth(ADMIN, Some("nope"));
    server
        .send(wrong)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, None);

    server
        .call(Method::DELETE, &format!("/Groups/{gid}"), None)
        .await;
    server
        .call(Method::GET, &format!("/Groups/{gid}"), None)
        .await
        .expect_error(StatusCode::NOT_FOUND, None);
}

#[tokio::test]
async fn bulk_with_references_errors_and_limits() {
    let server = start().await;
    let existing = server.create_user("existing").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let request = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "Operations": [
            {"method": "POST", "path": "/Groups", "bulkId": "g1", "data": {
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": "Bulk group",
                "members": [{"type": "User", "value": "bulkId:u1"}]}},
            {"method": "POST", "path": "Users", "bulkId": "u1", "data": user("bulk-user")},
            {"method": "POST", "path": "/Users", "bulkId": "dup", "data": user("existing")},
            {"method": "PATCH", "path": format!("/Users/{existing}"), "data": {
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "Replace", "path": "displayName", "value": "Patched"}]}},
            {"method": "DELETE", "path": "/Users/00000000-0000-4000-8000-000000000000"},
        ]
    });
    let response = server
        .call(Method::POST, "/Bulk", Some(request))
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        response.body["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
    );
    let ops = response.body["Operations"].as_array().unwrap().clone();
    assert_eq!(ops.len(), 5, "{}", response.body);
    let by_bulk_id = |b: &str| ops.iter().find(|o| o["bulkId"] == b).unwrap().clone();
    let user_op = by_bulk_id("u1");
    assert_eq!(user_op["status"], "201");
    assert_eq!(user_op["method"], "POST");
    assert!(user_op["version"].as_str().unwrap().starts_with("W/"));
    let user_location = user_op["location"].as_str().unwrap().to_string();
    assert!(user_location.starts_with(&server.url("/Users/")));
    let group_op = by_bulk_id("g1");
    assert_eq!(group_op["status"], "201", "{}", response.body);
    let dup = by_bulk_id("dup");
    assert_eq!(dup["status"], "409");
    assert_eq!(dup["response"]["scimType"], "uniqueness");
    let patch_op = ops.iter().find(|o| o["method"] == "PATCH").unwrap();
    assert_eq!(patch_op["status"], "200");
    assert_eq!(
        patch_op["location"],
        server.url(&format!("/Users/{existing}")).as_str()
    );
    let delete_op = ops.iter().find(|o| o["method"] == "DELETE").unwrap();
    assert_eq!(delete_op["status"], "404");

    // The bulkId reference resolved to the created user.
    let group_path = group_op["location"]
        .as_str()
        .unwrap()
        .rsplit_once("/scim")
        .unwrap()
        .1
        .to_string();
    let group = server
        .call(Method::GET, &group_path, None)
        .await
        .expect(StatusCode::OK);
    let user_id = user_location.rsplit('/').next().unwrap();
    assert_eq!(group.body["members"][0]["value"], user_id);

    // failOnErrors: 1 → stop after the first failure.
    let request = json!({
        "failOnErrors": 1,
        "Operations": [
            {"method": "POST", "path": "/Users", "bulkId": "a", "data": user("existing")},
            {"method": "POST", "path": "/Users", "bulkId": "b", "data": user("never-created")},
        ]
    });
    let response = server
        .call(Method::POST, "/Bulk", Some(request))
        .await
        .expect(StatusCode::OK);
    assert_eq!(response.body["Operations"].as_array().unwrap().len(), 1);
    let none = server
        .call(
            Method::GET,
            &format!("/Users?filter={}", enc("userName eq \"never-created\"")),
            None,
        )
        .await;
    assert_eq!(none.body["totalResults"], 0);

    // Limits and malformed requests.
    let op = json!({"method": "DELETE", "path": "/Users/x"});
    let too_many = json!({"Operations": vec![op; 1001]});
    server
        .call(Method::POST, "/Bulk", Some(too_many))
        .await
        .expect_error(StatusCode::PAYLOAD_TOO_LARGE, None);
    let reserved = json!({"Operations": [{"method": "DELETE", "path": "/Users/bulkId"}]});
    server
        .call(Method::POST, "/Bulk", Some(reserved))
        .await
        .expect_error(StatusCode::BAD_REQUEST, Some("invalidValue"));
    server
        .call(Method::POST, "/Bulk", Some(json!({"schemas": []})))
        .await
        .expect_error(StatusCode::BAD_REQUEST, Some("invalidSyntax"));
    server
        .call(Method::GET, "/Bulk", None)
        .await
        .expect_error(StatusCode::METHOD_NOT_ALLOWED, None);
}
