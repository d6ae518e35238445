//! Loopback tests of provisioning jobs: `scim2-server` (the reference SCIM server) is a SCIM
//! source system; the target is the `acme` tenant's own directory reached over its SCIM API as
//! an Identity Authentication target (`http://127.0.0.1:PORT/tenants/acme/scim`, Basic auth
//! as acme's technical admin), all in the `idrelay` binary started with a config directory.
//!
//! What they show: a Read job creates the source's users and groups in the directory (group
//! members resolved), recorded with origin `job:<source id>` in the change log (the
//! loop-prevention marker); a second Read writes nothing unchanged; changes and deletions in
//! the source are carried over by the next full Read; Resync rewrites everything; a delta
//! read only reads what changed after the last run and never deletes; a deletion above
//! `ips.delete.threshold.users` deletes nothing and counts the entities as failed; the job
//! API refuses a caller without AccessIdentityProvisioningTenantAdminAPI, an unknown source
//! and an unknown job type; the job log has the statistics per system.

use crate::support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Idrelay, Scim, Scim2Server, TestConfig};

use idrelay::directory::Origin;

const SOURCE_ID: &str = "5a1b2c3d-0000-4000-8000-00000000a001";
const PERMISSIONS: &[&str] = &[
    "ManageUsers",
    "ReadUsers",
    "ManageGroups",
    "AccessIdentityProvisioningTenantAdminAPI",
];

/// Source (read) transformation: everything as it is.
const SOURCE_TRANSFORMATION: &str = r#"{"user": {"mappings": [{"sourcePath": "$", "targetPath": "$"}]}, "group": {"mappings": [{"sourcePath": "$", "targetPath": "$"}]}}"#;

/// Target (write) transformation into the directory: users by userName, name, emails;
/// groups with members resolved to the directory's ids.
const TARGET_TRANSFORMATION: &str = r#"{
  "user": {"mappings": [
    {"constant": ["urn:ietf:params:scim:schemas:core:2.0:User"], "targetPath": "$.schemas"},
    {"sourcePath": "$.userName", "targetPath": "$.userName"},
    {"sourcePath": "$.displayName", "targetPath": "$.displayName", "optional": true},
    {"sourcePath": "$.name", "targetPath": "$.name", "optional": true},
    {"sourcePath": "$.emails", "targetPath": "$.emails", "optional": true, "preserveArrayWithSingleElement": true}
  ]},
  "group": {"mappings": [
    {"constant": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "targetPath": "$.schemas"},
    {"sourcePath": "$.displayName", "targetPath": "$.displayName"},
    {"sourcePath": "$.members[*].value", "targetPath": "$.members[?(@.value)]", "optional": true,
     "preserveArrayWithSingleElement": true, "functions": [{"type": "resolveEntityIds", "entityType": "user"}]}
  ]}
}"#;

struct Setup {
    idrelay: Idrelay,
    source: Scim2Server,
}

impl Setup {
    /// idrelay (plain HTTP) with tenant `acme` and a reader-only admin, scim2-server as the
    /// source; then the systems (which need idrelay's port) with the given properties.
    async fn start(source_props: &[(&str, &str)], target_props: &[(&str, &str)]) -> Setup {
        let source = Scim2Server::start("source-token").await;
        let config = TestConfig::new(&["acme"], PERMISSIONS);
        std::fs::write(
            config.path().join("reader.yaml"),
            "\
apiVersion: v1
kind: Secret
metadata: {name: reader-secret}
stringData: {secret: \"reader-secret-value-0123456789\", source-token: \"source-token\"}
---
apiVersion: idrelay.dev/v1alpha1
kind: TechnicalAdmin
metadata: {name: acme-reader}
spec:
  tenantRef: {name: acme}
  displayName: reader
  clientId: 7e000000-0000-4000-8000-000000000001
  permissions: [ReadUsers]
  secrets: [{secretRef: {name: reader-secret, key: secret}}]
",
        )
        .unwrap();
        let idrelay = Idrelay::start_with(config, None, true).await;
        let admin = idrelay.admin("acme");
        let props = |pairs: &[(&str, &str)]| {
            let mut out = String::from("{");
            for (i, (k, v)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&format!("{k}: \"{v}\""));
            }
            out.push('}');
            out
        };
        let systems = format!(
            "\
apiVersion: v1
kind: Secret
metadata: {{name: target-secret}}
stringData: {{password: \"{password}\"}}
---
apiVersion: idrelay.dev/v1alpha1
kind: SourceSystem
metadata: {{name: scim-source}}
spec:
  tenantRef: {{name: acme}}
  displayName: SCIM source
  type: SCIM
  systemId: {SOURCE_ID}
  url: {source_url}
  authentication: {{bearerToken: {{tokenRef: {{name: reader-secret, key: source-token}}}}}}
  properties: {source_props}
  transformation: {source_tr}
---
apiVersion: idrelay.dev/v1alpha1
kind: TargetSystem
metadata: {{name: acme-directory}}
spec:
  tenantRef: {{name: acme}}
  displayName: ACME directory
  type: IdentityAuthentication
  url: http://127.0.0.1:{port}/tenants/acme/scim
  sourceSystemRefs: [{{name: scim-source}}]
  authentication:
    basic:
      username: {client_id}
      passwordRef: {{name: target-secret, key: password}}
  properties: {target_props}
  transformation: {target_tr}
",
            password = admin.secret,
            source_url = source.base_url(),
            source_props = props(source_props),
            source_tr = serde_json::to_string(SOURCE_TRANSFORMATION).unwrap(),
            port = idrelay.port,
            client_id = admin.client_id,
            target_props = props(target_props),
            target_tr = serde_json::to_string(TARGET_TRANSFORMATION).unwrap(),
        );
        std::fs::write(idrelay.config.path().join("systems.yaml"), systems).unwrap();
        let setup = Setup { idrelay, source };
        // The files driver picks the systems up: wait until the job API knows the source.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let reply = setup
                .api()
                .get(&format!(
                    "/ips/service/publicapi/v1/jobLogs?sourceSystemId={SOURCE_ID}"
                ))
                .await;
            reply.expect(200);
            let configured = setup.directory_sees_source().await;
            if configured {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the systems were not loaded:\n{}",
                setup.idrelay.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        setup
    }

    /// The job API of acme (Basic auth as its admin).
    fn api(&self) -> Scim {
        Scim::new(
            format!("{}/tenants/acme", self.idrelay.base_url()),
            self.idrelay.admin("acme").basic_auth(),
        )
    }

    async fn directory_sees_source(&self) -> bool {
        let status: Value = self.idrelay.status().await.unwrap();
        status.to_string().contains(SOURCE_ID)
    }

    /// Starts a job and waits for it to finish; returns its log.
    async fn run(&self, job_type: &str) -> Value {
        let reply = self
            .api()
            .send(
                reqwest::Method::POST,
                &format!("/ips/service/publicapi/v1/startJob/{SOURCE_ID}/jobs/{job_type}"),
                None,
            )
            .await;
        reply.expect(202);
        let job_id = reply.body["jobId"].as_str().unwrap().to_string();
        self.wait(&job_id).await
    }

    async fn wait(&self, job_id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let reply = self
                .api()
                .get(&format!("/ips/service/publicapi/v1/jobLogs/{job_id}"))
                .await;
            reply.expect(200);
            let status = reply.body["status"].as_str().unwrap_or("").to_string();
            if status == "Success" || status == "Finished with Error" {
                return reply.body.clone();
            }
            assert!(
                Instant::now() < deadline,
                "job {job_id} did not finish: {}\n{}",
                reply.body,
                self.idrelay.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn source_user(&self, user_name: &str, given: &str) -> String {
        let reply = self
            .source
            .scim()
            .post(
                "/Users",
                &json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": user_name,
                    "name": {"givenName": given, "familyName": "Example"},
                    "emails": [{"value": format!("{user_name}@example.org"), "primary": true}],
                }),
            )
            .await;
        reply.expect(201);
        reply.id()
    }

    /// The userNames in acme's directory, sorted.
    async fn directory_users(&self) -> Vec<String> {
        let reply = self
            .idrelay
            .scim_basic("acme")
            .get("/Users?count=100")
            .await;
        reply.expect(200);
        let mut names = support::user_names(&reply.body);
        names.sort();
        names
    }
}

/// The statistics row of `role` (`source` / `target`).
fn stats(log: &Value, role: &str) -> Value {
    log["statistics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["role"] == role)
        .cloned()
        .unwrap_or_else(|| panic!("no {role} statistics in {log}"))
}

fn counts(log: &Value, role: &str) -> [u64; 6] {
    let s = stats(log, role);
    ["read", "created", "updated", "deleted", "skipped", "failed"].map(|k| {
        s[k].as_u64()
            .unwrap_or_else(|| panic!("{k} missing in {s}"))
    })
}

#[tokio::test]
async fn read_job_provisions_into_the_directory_with_the_job_origin() {
    let setup = Setup::start(&[], &[]).await;
    let alice = setup.source_user("alice", "Alice").await;
    let bob = setup.source_user("bob", "Bob").await;
    setup.source_user("carol", "Carol").await;
    setup
        .source
        .scim()
        .post(
            "/Groups",
            &json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": "Engineers",
                "members": [{"value": alice}, {"value": bob}],
            }),
        )
        .await
        .expect(201);

    let log = setup.run("READ").await;
    assert_eq!(log["status"], "Success", "{log}");
    assert_eq!(log["trigger"], "IMMEDIATE");
    assert_eq!(log["readMode"], "Full Read");
    assert_eq!(log["jobType"], "READ");
    assert_eq!(counts(&log, "source")[0], 4, "{log}");
    assert_eq!(counts(&log, "target"), [0, 4, 0, 0, 0, 0], "{log}");
    assert_eq!(setup.directory_users().await, ["alice", "bob", "carol"]);
    let groups = setup.idrelay.scim_basic("acme").get("/Groups").await;
    groups.expect(200);
    let group = &groups.body["Resources"][0];
    assert_eq!(group["displayName"], "Engineers");
    assert_eq!(group["members"].as_array().unwrap().len(), 2, "{group}");

    // The loop-prevention marker: every change the job made is recorded as the job's.
    let store = idrelay::store::Store::open(&setup.idrelay.data_dir)
        .await
        .unwrap();
    let changes = store.changes("acme", 0, 100).await.unwrap();
    assert_eq!(changes.len(), 4);
    for change in &changes {
        assert_eq!(
            change.origin,
            Origin::ProvisioningJob {
                system_id: SOURCE_ID.to_string()
            },
            "{change:?}"
        );
    }

    // Nothing changed: nothing written.
    let log = setup.run("READ").await;
    assert_eq!(counts(&log, "target"), [0, 0, 0, 0, 0, 0], "{log}");
    assert_eq!(counts(&log, "source")[0], 4);

    // A change and a deletion in the source are carried over by the next full read.
    let source = setup.source.scim();
    source
        .put(
            &format!("/Users/{bob}"),
            &json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "bob",
                "displayName": "Bobby",
                "emails": [{"value": "bob@example.org", "primary": true}],
            }),
        )
        .await
        .expect(200);
    let carol_id = support::user_names(
        &source
            .get("/Users?filter=userName%20eq%20%22carol%22")
            .await
            .body,
    );
    assert_eq!(carol_id, ["carol"]);
    let carol = source
        .get("/Users?filter=userName%20eq%20%22carol%22")
        .await
        .body["Resources"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    source.delete(&format!("/Users/{carol}")).await.expect(204);
    let log = setup.run("READ").await;
    assert_eq!(log["status"], "Success", "{log}");
    assert_eq!(counts(&log, "target"), [0, 0, 1, 1, 0, 0], "{log}");
    assert_eq!(setup.directory_users().await, ["alice", "bob"]);
    let bobby = setup
        .idrelay
        .scim_basic("acme")
        .get("/Users?filter=userName%20eq%20%22bob%22")
        .await;
    assert_eq!(bobby.body["Resources"][0]["displayName"], "Bobby");
    let changes = store.changes("acme", 0, 100).await.unwrap();
    assert!(
        changes
            .iter()
            .all(|c| matches!(c.origin, Origin::ProvisioningJob { .. }))
    );

    // Resync writes everything again.
    let log = setup.run("RESYNC").await;
    assert_eq!(log["jobType"], "RESYNC");
    assert_eq!(counts(&log, "target"), [0, 0, 3, 0, 0, 0], "{log}");

    // The listing has all runs, newest first.
    let list = setup
        .api()
        .get(&format!(
            "/ips/service/publicapi/v1/jobLogs?sourceSystemId={SOURCE_ID}"
        ))
        .await;
    list.expect(200);
    assert_eq!(list.body["totalResults"], 4);
    assert_eq!(list.body["jobs"][0]["jobType"], "RESYNC");
}

#[tokio::test]
async fn delta_reads_and_the_deletion_threshold() {
    let setup = Setup::start(
        &[("ips.delta.read", "enabled")],
        &[("ips.delete.threshold.users", "1")],
    )
    .await;
    let mut ids = Vec::new();
    for name in ["u1", "u2", "u3"] {
        ids.push(setup.source_user(name, name).await);
    }
    // The first job is a full read even with delta enabled.
    let log = setup.run("READ").await;
    assert_eq!(log["readMode"], "Full Read");
    assert_eq!(counts(&log, "target")[1], 3, "{log}");

    // A delta read reads only what changed since, and never deletes.
    tokio::time::sleep(Duration::from_millis(20)).await;
    setup.source_user("u4", "u4").await;
    setup
        .source
        .scim()
        .delete(&format!("/Users/{}", ids[0]))
        .await
        .expect(204);
    let log = setup.run("READ").await;
    assert_eq!(log["readMode"], "Delta Read", "{log}");
    assert_eq!(counts(&log, "source")[0], 1, "{log}");
    assert_eq!(counts(&log, "target"), [0, 1, 0, 0, 0, 0], "{log}");
    assert_eq!(setup.directory_users().await, ["u1", "u2", "u3", "u4"]);

    // A full read (Resync) would delete 2 users: above the threshold of 1, nothing is deleted
    // and both count as failed.
    setup
        .source
        .scim()
        .delete(&format!("/Users/{}", ids[1]))
        .await
        .expect(204);
    let log = setup.run("RESYNC").await;
    assert_eq!(log["readMode"], "Full Read");
    assert_eq!(log["status"], "Finished with Error", "{log}");
    let target = counts(&log, "target");
    assert_eq!((target[3], target[5]), (0, 2), "{log}");
    let failed = log["failedEntities"].as_array().unwrap();
    assert_eq!(failed.len(), 2);
    assert!(
        failed[0]["reason"]
            .as_str()
            .unwrap()
            .contains("ips.delete.threshold.users=1"),
        "{log}"
    );
    assert_eq!(setup.directory_users().await, ["u1", "u2", "u3", "u4"]);
}

#[tokio::test]
async fn job_api_refusals() {
    let setup = Setup::start(&[], &[]).await;
    let api = setup.api();
    let start = |source: &str, job_type: &str| {
        format!("/ips/service/publicapi/v1/startJob/{source}/jobs/{job_type}")
    };
    let reply = api
        .send(
            reqwest::Method::POST,
            &start("no-such-source", "READ"),
            None,
        )
        .await;
    reply.expect(404);
    let reply = api
        .send(reqwest::Method::POST, &start(SOURCE_ID, "SIMULATE"), None)
        .await;
    reply.expect(400);
    let reader = Scim::new(
        format!("{}/tenants/acme", setup.idrelay.base_url()),
        format!(
            "Basic {}",
            base64_encode("7e000000-0000-4000-8000-000000000001:reader-secret-value-0123456789")
        ),
    );
    let reply = reader
        .send(reqwest::Method::POST, &start(SOURCE_ID, "READ"), None)
        .await;
    reply.expect(403);
    reader
        .get("/ips/service/publicapi/v1/jobLogs/whatever")
        .await
        .expect(403);
    api.get("/ips/service/publicapi/v1/jobLogs/no-such-job")
        .await
        .expect(404);
    // SAP's spelling without /service reaches the same endpoint.
    let reply = api
        .send(
            reqwest::Method::POST,
            &format!("/ips/publicapi/v1/startJob/{SOURCE_ID}/jobs/READ"),
            None,
        )
        .await;
    reply.expect(202);
    let log = setup.wait(reply.body["jobId"].as_str().unwrap()).await;
    assert_eq!(log["status"], "Success", "{log}");
    assert!(
        log["triggeredBy"]
            .as_str()
            .unwrap()
            .starts_with("Identity Provisioning API")
    );
    // The CLI starts a job, waits for it and prints its log; `job log` lists the runs.
    let admin = setup.idrelay.admin("acme");
    let cli = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_idrelay"))
            .arg("job")
            .args(args)
            .args(["--tenant", "acme", "--url", &setup.idrelay.base_url()])
            .args([
                "--client-id",
                &admin.client_id,
                "--client-secret",
                &admin.secret,
            ])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).to_string();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{stdout}\n{stderr}");
        stdout
    };
    let out = cli(&["run", SOURCE_ID, "--resync", "--wait", "--json"]);
    let log: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(log["jobType"], "RESYNC");
    assert_eq!(log["status"], "Success");
    let out = cli(&["log", "--source-system", SOURCE_ID]);
    assert_eq!(out.lines().count(), 2, "{out}");
    let out = cli(&["log", log["id"].as_str().unwrap()]);
    assert!(out.contains("Status:       Success"), "{out}");
}

fn base64_encode(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// The tenant's own directory as the source (Identity Authentication without URL) with
/// `ias.user.filter`, into scim2-server as a SCIM target.
#[tokio::test]
async fn own_directory_source_with_user_filter_into_a_scim_target() {
    let target = Scim2Server::start("target-token").await;
    let config = TestConfig::new(&["acme"], PERMISSIONS);
    let systems = format!(
        "\
apiVersion: v1
kind: Secret
metadata: {{name: target-token}}
stringData: {{token: target-token}}
---
apiVersion: idrelay.dev/v1alpha1
kind: SourceSystem
metadata: {{name: acme-ias}}
spec:
  tenantRef: {{name: acme}}
  displayName: ACME directory
  type: IdentityAuthentication
  systemId: {SOURCE_ID}
  properties: {{ias.api.version: \"2\", ias.user.filter: \"userName sw \\\"a\\\"\"}}
  transformation: {source_tr}
---
apiVersion: idrelay.dev/v1alpha1
kind: TargetSystem
metadata: {{name: scim-target}}
spec:
  tenantRef: {{name: acme}}
  displayName: SCIM target
  type: SCIM
  url: {target_url}
  sourceSystemRefs: [{{name: acme-ias}}]
  authentication: {{bearerToken: {{tokenRef: {{name: target-token, key: token}}}}}}
  transformation: {target_tr}
",
        source_tr = serde_json::to_string(SOURCE_TRANSFORMATION).unwrap(),
        target_url = target.base_url(),
        target_tr = serde_json::to_string(TARGET_TRANSFORMATION).unwrap(),
    );
    std::fs::write(config.path().join("systems.yaml"), systems).unwrap();
    let idrelay = Idrelay::start_with(config, None, true).await;
    let directory = idrelay.scim_basic("acme");
    for name in ["anna", "andrew", "bert"] {
        directory
            .post(
                "/Users",
                &json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": name,
                    "emails": [{"value": format!("{name}@example.org")}],
                }),
            )
            .await
            .expect(201);
    }
    let api = Scim::new(
        format!("{}/tenants/acme", idrelay.base_url()),
        idrelay.admin("acme").basic_auth(),
    );
    let reply = api
        .send(
            reqwest::Method::POST,
            &format!("/ips/service/publicapi/v1/startJob/{SOURCE_ID}/jobs/READ"),
            None,
        )
        .await;
    reply.expect(202);
    let job_id = reply.body["jobId"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    let log = loop {
        let reply = api
            .get(&format!("/ips/service/publicapi/v1/jobLogs/{job_id}"))
            .await;
        let status = reply.body["status"].as_str().unwrap_or("");
        if status == "Success" || status == "Finished with Error" {
            break reply.body.clone();
        }
        assert!(Instant::now() < deadline, "{}", idrelay.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(log["status"], "Success", "{log}");
    assert_eq!(counts(&log, "source")[0], 2, "{log}");
    assert_eq!(counts(&log, "target")[1], 2, "{log}");
    let users = target.scim().get("/Users").await;
    let mut names = support::user_names(&users.body);
    names.sort();
    assert_eq!(names, ["andrew", "anna"]);
}
