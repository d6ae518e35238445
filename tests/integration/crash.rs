//! Crash test (issue 2, "Must show"): the `idrelay` process is killed with SIGKILL during a burst
//! of concurrent SCIM creates; after a restart on the same data directory every create that was
//! acknowledged (201) is present, nothing else is half-written, and group memberships written
//! before the burst survive.
//!
//! Invariants checked after the restart:
//! - every acknowledged user is readable by id with the acknowledged `userName`;
//! - the number of burst users present lies between the acknowledged and the sent count;
//! - every user in the listing is complete (`id`, `userName`, `meta`) and was actually sent;
//! - no `userName` and no `id` appears twice;
//! - groups keep exactly the members they had when the burst started.
//!
//! The process helper (spawn, readiness wait, kill on drop) is local to this file on purpose.

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use rand::Rng as _;
use serde_json::{Value, json};

const TENANT: &str = "acme";
const CLIENT_ID: &str = "6f1d3c2a-0000-4000-8000-000000000001";
const SECRET: &str = "crash-test-secret-value";
const SCIM_JSON: &str = "application/scim+json";
const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// Concurrent writers in the burst.
const WRITERS: usize = 32;
/// Users the burst tries to create in total.
const BURST_USERS: usize = 2000;

fn config_yaml() -> String {
    format!(
        r#"apiVersion: idrelay.dev/v1alpha1
kind: Tenant
metadata: {{name: {TENANT}}}
spec: {{displayName: ACME}}
---
apiVersion: v1
kind: Secret
metadata: {{name: {TENANT}-admin-secret}}
stringData: {{secret: "{SECRET}"}}
---
apiVersion: idrelay.dev/v1alpha1
kind: TechnicalAdmin
metadata: {{name: {TENANT}-admin}}
spec:
  tenantRef: {{name: {TENANT}}}
  displayName: ACME provisioning admin
  clientId: {CLIENT_ID}
  permissions: [ManageUsers, ReadUsers, ManageGroups]
  secrets: [{{secretRef: {{name: {TENANT}-admin-secret, key: secret}}}}]
"#
    )
}

/// reqwest is built without a default TLS provider; building a client needs one installed.
fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// One running `idrelay serve` process; SIGKILLed and reaped on drop.
struct Idrelay {
    child: Option<Child>,
    base: String,
    log: PathBuf,
}

impl Idrelay {
    async fn start(config: &Path, data: &Path, log: PathBuf) -> Idrelay {
        let listen = format!("127.0.0.1:{}", free_port());
        let admin = format!("127.0.0.1:{}", free_port());
        let log_file = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_idrelay"))
            .arg("serve")
            .arg("--config")
            .arg(config)
            .arg("--data-dir")
            .arg(data)
            .args([
                "--listen",
                &listen,
                "--admin-listen",
                &admin,
                "--plain-http",
            ])
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .spawn()
            .unwrap();
        let mut server = Idrelay {
            child: Some(child),
            base: format!("http://{listen}/tenants/{TENANT}/scim"),
            log,
        };
        server.wait_ready(&admin).await;
        server
    }

    async fn wait_ready(&mut self, admin: &str) {
        install_crypto_provider();
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                panic!(
                    "idrelay exited before it was ready ({status}):\n{}",
                    self.log_text()
                );
            }
            if let Ok(resp) = http.get(format!("http://{admin}/readyz")).send().await
                && resp.status() == 200
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "idrelay not ready after 60 s:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL (std's `Child::kill` sends SIGKILL on Unix) and reap. Returns whether the process
    /// was still running when killed.
    fn kill(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return false;
        };
        let was_running = child.try_wait().unwrap().is_none();
        let _ = child.kill();
        let _ = child.wait();
        was_running
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Idrelay {
    fn drop(&mut self) {
        self.kill();
    }
}

fn http_client() -> reqwest::Client {
    install_crypto_provider();
    reqwest::Client::builder()
        .no_proxy()
        .http1_only()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

fn basic_auth() -> String {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{SECRET}"));
    format!("Basic {token}")
}

fn user_body(user_name: &str) -> Value {
    json!({
        "schemas": [USER_SCHEMA],
        "userName": user_name,
        "name": {"givenName": "Crash", "familyName": user_name},
        "emails": [{"value": format!("{user_name}@example.com"), "type": "work", "primary": true}],
        "active": true
    })
}

async fn send_json(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: &Value,
) -> (u16, Value) {
    let resp = http
        .request(method, url)
        .header("authorization", basic_auth())
        .header("content-type", SCIM_JSON)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, value)
}

async fn get_json(http: &reqwest::Client, url: &str) -> (u16, Value) {
    let resp = http
        .get(url)
        .header("authorization", basic_auth())
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("GET {url}: body is not JSON ({e}): {text}"));
    (status, value)
}

async fn create_user(http: &reqwest::Client, base: &str, user_name: &str) -> String {
    let (status, body) = send_json(
        http,
        reqwest::Method::POST,
        &format!("{base}/Users"),
        &user_body(user_name),
    )
    .await;
    assert_eq!(status, 201, "create user {user_name}: {body}");
    body["id"].as_str().unwrap().to_owned()
}

async fn create_group(
    http: &reqwest::Client,
    base: &str,
    name: &str,
    members: &[String],
) -> String {
    let members: Vec<Value> = members.iter().map(|id| json!({"value": id})).collect();
    let body = json!({"schemas": [GROUP_SCHEMA], "displayName": name, "members": members});
    let (status, body) = send_json(
        http,
        reqwest::Method::POST,
        &format!("{base}/Groups"),
        &body,
    )
    .await;
    assert_eq!(status, 201, "create group {name}: {body}");
    body["id"].as_str().unwrap().to_owned()
}

/// Every resource of a type, following index paging until `totalResults` is reached.
async fn list_all(http: &reqwest::Client, base: &str, resource: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut start = 1usize;
    loop {
        let (status, page) = get_json(
            http,
            &format!("{base}/{resource}?startIndex={start}&count=200"),
        )
        .await;
        assert_eq!(status, 200, "list {resource} at {start}: {page}");
        let total = page["totalResults"].as_u64().unwrap() as usize;
        let resources = page["Resources"].as_array().cloned().unwrap_or_default();
        if all.len() >= total {
            break;
        }
        assert!(
            !resources.is_empty(),
            "empty page at startIndex={start} before totalResults={total}: {page}"
        );
        start += resources.len();
        all.extend(resources);
    }
    all
}

fn member_ids(group: &Value) -> BTreeSet<String> {
    group["members"]
        .as_array()
        .map(|ms| {
            ms.iter()
                .filter_map(|m| m["value"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// What the burst observed: acknowledged creates, how many were sent, and failures that are not
/// explained by the kill.
#[derive(Default)]
struct BurstLog {
    acked: Vec<(String, String)>,
    failures: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_during_concurrent_creates_keeps_every_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(config.join("acme.yaml"), config_yaml()).unwrap();

    let mut first = Idrelay::start(&config, &data, dir.path().join("first.log")).await;
    let http = http_client();
    let base = first.base.clone();

    // Groups with members, written before the burst; one membership is removed by PATCH.
    let mut members = Vec::new();
    for i in 0..5 {
        members.push(create_user(&http, &base, &format!("member-{i}")).await);
    }
    let engineering = create_group(&http, &base, "engineering", &members[0..3]).await;
    let sales = create_group(&http, &base, "sales", &members[2..5]).await;
    let patch = json!({
        "schemas": [PATCH_SCHEMA],
        "Operations": [{"op": "remove", "path": format!("members[value eq \"{}\"]", members[0])}]
    });
    let (status, body) = send_json(
        &http,
        reqwest::Method::PATCH,
        &format!("{base}/Groups/{engineering}"),
        &patch,
    )
    .await;
    assert!(
        status == 200 || status == 204,
        "PATCH remove member: {status} {body}"
    );
    let expected_groups: BTreeMap<String, BTreeSet<String>> = BTreeMap::from([
        (engineering.clone(), members[1..3].iter().cloned().collect()),
        (sales.clone(), members[2..5].iter().cloned().collect()),
    ]);

    // The burst: WRITERS tasks create BURST_USERS users; SIGKILL lands while requests are in flight.
    let log = Arc::new(parking_lot::Mutex::new(BurstLog::default()));
    let killed = Arc::new(AtomicBool::new(false));
    let acked_count = Arc::new(AtomicU64::new(0));
    let in_flight = Arc::new(AtomicU64::new(0));
    let sent_names = Arc::new(parking_lot::Mutex::new(BTreeSet::<String>::new()));
    let per_writer = BURST_USERS.div_ceil(WRITERS);
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let (http, base, log, killed, acked_count, in_flight, sent_names) = (
            http.clone(),
            base.clone(),
            log.clone(),
            killed.clone(),
            acked_count.clone(),
            in_flight.clone(),
            sent_names.clone(),
        );
        writers.push(tokio::spawn(async move {
            for i in 0..per_writer {
                let n = w * per_writer + i;
                if n >= BURST_USERS {
                    break;
                }
                let user_name = format!("burst-{w:02}-{i:04}");
                sent_names.lock().insert(user_name.clone());
                in_flight.fetch_add(1, Ordering::SeqCst);
                let sent = http
                    .post(format!("{base}/Users"))
                    .header("authorization", basic_auth())
                    .header("content-type", SCIM_JSON)
                    .body(user_body(&user_name).to_string())
                    .send()
                    .await;
                let outcome = match sent {
                    Ok(resp) => {
                        let status = resp.status().as_u16();
                        resp.text().await.map(|text| (status, text))
                    }
                    Err(e) => Err(e),
                };
                in_flight.fetch_sub(1, Ordering::SeqCst);
                match outcome {
                    Ok((201, text)) => {
                        let body: Value = serde_json::from_str(&text).unwrap();
                        assert_eq!(body["userName"], user_name.as_str(), "201 body: {body}");
                        let id = body["id"].as_str().unwrap().to_owned();
                        log.lock().acked.push((id, user_name));
                        acked_count.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok((status, text)) => {
                        log.lock()
                            .failures
                            .push(format!("POST {user_name}: {status} {text}"));
                    }
                    Err(e) => {
                        if !killed.load(Ordering::SeqCst) {
                            log.lock()
                                .failures
                                .push(format!("POST {user_name} before kill: {e}"));
                        }
                        break;
                    }
                }
            }
        }));
    }

    let threshold = rand::rng().random_range(100..=1000u64);
    let extra_delay = Duration::from_micros(rand::rng().random_range(0..=5000u64));
    let wait_start = Instant::now();
    while acked_count.load(Ordering::SeqCst) < threshold {
        assert!(
            wait_start.elapsed() < Duration::from_secs(120),
            "burst too slow: {} acked",
            acked_count.load(Ordering::SeqCst)
        );
        assert!(
            log.lock().failures.is_empty(),
            "failures during burst: {:?}",
            log.lock().failures
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    tokio::time::sleep(extra_delay).await;
    let in_flight_at_kill = in_flight.load(Ordering::SeqCst);
    killed.store(true, Ordering::SeqCst);
    let first_log = first.log_text();
    assert!(
        first.kill(),
        "idrelay had exited before the kill:\n{first_log}"
    );
    for writer in writers {
        writer.await.unwrap();
    }
    drop(first);

    let (acked, failures) = {
        let log = log.lock();
        (log.acked.clone(), log.failures.clone())
    };
    let sent_names = sent_names.lock().clone();
    assert!(failures.is_empty(), "unexpected failures: {failures:?}");
    assert!(
        in_flight_at_kill > 0,
        "no request was in flight at the kill"
    );
    assert!(
        acked.len() < BURST_USERS,
        "the burst completed before the kill"
    );
    eprintln!(
        "kill after {} acked (threshold {threshold}), {} sent, {in_flight_at_kill} in flight",
        acked.len(),
        sent_names.len()
    );

    // Restart on the same data directory and check what survived.
    let second = Idrelay::start(&config, &data, dir.path().join("second.log")).await;
    let http = http_client();
    let base = second.base.clone();

    for (id, user_name) in &acked {
        let (status, user) = get_json(&http, &format!("{base}/Users/{id}")).await;
        assert_eq!(
            status, 200,
            "acknowledged user {user_name} ({id}) missing after restart: {user}"
        );
        assert_eq!(user["userName"], user_name.as_str(), "user {id}: {user}");
        assert_eq!(user["id"], id.as_str());
    }

    let users = list_all(&http, &base, "Users").await;
    let mut seen_names = BTreeSet::new();
    let mut seen_ids = BTreeSet::new();
    let mut burst_present = 0usize;
    for user in &users {
        let id = user["id"]
            .as_str()
            .unwrap_or_else(|| panic!("user without id: {user}"));
        let user_name = user["userName"]
            .as_str()
            .unwrap_or_else(|| panic!("user without userName: {user}"));
        let meta = &user["meta"];
        assert_eq!(meta["resourceType"], "User", "meta of {user}");
        assert!(
            meta["created"].is_string() && meta["lastModified"].is_string(),
            "meta of {user}"
        );
        assert!(
            meta["location"].as_str().is_some_and(|l| l.ends_with(id)),
            "meta.location of {user}"
        );
        assert_eq!(
            user["emails"][0]["value"],
            format!("{user_name}@example.com"),
            "incomplete user {user}"
        );
        assert!(seen_ids.insert(id.to_owned()), "duplicate id {id}");
        assert!(
            seen_names.insert(user_name.to_owned()),
            "duplicate userName {user_name}"
        );
        if user_name.starts_with("burst-") {
            assert!(
                sent_names.contains(user_name),
                "user {user_name} was never sent"
            );
            burst_present += 1;
        } else {
            assert!(user_name.starts_with("member-"), "unexpected user {user}");
        }
    }
    for (id, _) in &acked {
        assert!(
            seen_ids.contains(id),
            "acknowledged user {id} missing from the listing"
        );
    }
    assert!(
        (acked.len()..=sent_names.len()).contains(&burst_present),
        "burst users present {burst_present}, acked {}, sent {}",
        acked.len(),
        sent_names.len()
    );
    eprintln!(
        "after restart: {burst_present} burst users present, {} users in total",
        users.len()
    );

    let groups = list_all(&http, &base, "Groups").await;
    assert_eq!(
        groups.len(),
        expected_groups.len(),
        "groups after restart: {groups:?}"
    );
    for (id, expected) in &expected_groups {
        let (status, group) = get_json(&http, &format!("{base}/Groups/{id}")).await;
        assert_eq!(status, 200, "group {id}: {group}");
        assert_eq!(&member_ids(&group), expected, "members of {group}");
    }

    // The store still takes writes, and uniqueness holds against the recovered data.
    create_user(&http, &base, "after-restart").await;
    if let Some((_, user_name)) = acked.first() {
        let (status, body) = send_json(
            &http,
            reqwest::Method::POST,
            &format!("{base}/Users"),
            &user_body(user_name),
        )
        .await;
        assert_eq!(status, 409, "re-create of {user_name}: {body}");
    }
}
