//! Provision on demand and the removal of a real-time target, over loopback:
//!
//! - `idrelay provision NAME --admin URL` requests a Provision through the admin endpoint and
//!   follows it to `<n> users provisioned`: every user is pushed again (a user changed behind
//!   idrelay's back in the final target is restored); an unknown target fails with exit code 1;
//! - deleting the RealTimeTarget stops its pushes and drops its queue (cursor): later changes are
//!   not pushed, the real-time log keeps its history, and a target added again under the same
//!   name starts fresh (a new initial Provision of every user).

use crate::realtime_common;
use crate::support;

use std::time::Duration;

use realtime_common::{Chain, basic_auth, condition, systems_yaml, target_yaml, user_body};
use support::{ALL_DIRECTORY_PERMISSIONS, Idrelay, Scim2Server, TestConfig};

async fn start(users: &[&str]) -> Chain {
    let target = Scim2Server::start("target-token").await;
    let idrelay = Idrelay::start_with(
        TestConfig::new(&["acme"], ALL_DIRECTORY_PERMISSIONS),
        None,
        true,
    )
    .await;
    let chain = Chain { idrelay, target };
    for user in users {
        chain
            .acme()
            .post("/Users", &user_body(user, "Original"))
            .await
            .expect(201);
    }
    chain.write("systems.yaml", &with_target(&chain, true));
    for user in users {
        chain.wait_user(user, Some("Original")).await;
    }
    chain.wait_condition("push", "Provisioned", "True").await;
    chain
}

/// The chain's systems, with or without the RealTimeTarget `push`.
fn with_target(chain: &Chain, target: bool) -> String {
    let client_id = &chain.idrelay.admin("acme").client_id;
    let mut yaml = systems_yaml(&chain.target.base_url());
    if target {
        yaml.push_str(&target_yaml(
            "push",
            &chain.idrelay.base_url(),
            &basic_auth(client_id),
            "",
        ));
    }
    yaml
}

fn provision_command(chain: &Chain, name: &str) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_idrelay"))
        .arg("provision")
        .arg(name)
        .arg("--admin")
        .arg(chain.idrelay.admin_url())
        .arg("--timeout")
        .arg("60")
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idrelay_provision_pushes_every_user_again() {
    let chain = start(&["ada", "grace", "linus"]).await;
    // Changed in the final target behind idrelay's back.
    let ada = chain.user_in_target("ada").await.unwrap();
    let id = ada["id"].as_str().unwrap().to_string();
    let mut tampered = ada.clone();
    tampered["title"] = serde_json::json!("Tampered");
    chain
        .target
        .scim()
        .put(&format!("/Users/{id}"), &tampered)
        .await
        .expect(200);
    chain.wait_user("ada", Some("Tampered")).await;

    let output = tokio::task::spawn_blocking({
        let admin = chain.idrelay.admin_url();
        move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_idrelay"))
                .args(["provision", "push", "--admin", &admin, "--timeout", "60"])
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}\n{}",
        String::from_utf8_lossy(&output.stderr),
        chain.idrelay.log()
    );
    assert_eq!(stdout.trim(), "3 users provisioned");
    chain.wait_user("ada", Some("Original")).await;
    let status = chain.realtime_status("push").await;
    assert_eq!(
        condition(&status, "Provisioned")["message"],
        "3 users provisioned",
        "{status}"
    );

    // An unknown target: exit code 1 and a message naming it.
    let output = provision_command(&chain, "nosuch");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("default/nosuch"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_target_stops_its_pushes_and_keeps_the_log() {
    let chain = start(&["ada"]).await;
    chain
        .acme()
        .post("/Users", &user_body("pushed", "P"))
        .await
        .expect(201);
    chain.wait_user("pushed", Some("P")).await;
    let logs = |c: &Chain| {
        let api = c.acme_api();
        async move {
            api.get("/ipsproxy/service/api/v1/logs/realtime").await.body["totalResults"]
                .as_u64()
                .unwrap_or(0)
        }
    };
    let before = logs(&chain).await;
    assert!(before >= 2, "{before}");

    // Delete the RealTimeTarget.
    chain.write("systems.yaml", &with_target(&chain, false));
    chain
        .wait_for("the target gone from status", async |c: &Chain| {
            c.realtime_status("push").await.is_null()
        })
        .await;
    chain
        .acme()
        .post("/Users", &user_body("later", "L"))
        .await
        .expect(201);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(chain.user_in_target("later").await.is_none());
    // The real-time log keeps its history.
    assert_eq!(logs(&chain).await, before);

    // Added again: its queue was dropped, so it starts fresh with a Provision of all 3 users
    // (a kept cursor would have resumed with `1 users provisioned`).
    chain.write("systems.yaml", &with_target(&chain, true));
    chain.wait_user("later", Some("L")).await;
    let status = chain.wait_condition("push", "Provisioned", "True").await;
    assert_eq!(
        condition(&status, "Provisioned")["message"],
        "3 users provisioned",
        "{status}"
    );
}
