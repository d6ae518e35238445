//! Real-time pushes resume after a restart of idrelay and nothing is lost: changes committed
//! while the target could not be reached (the RealTimeTarget points at a port where nothing
//! listens, so every push fails and is retried; the cursor holds) are pushed after idrelay was
//! killed (SIGKILL) and started again with the target reachable — from the persisted cursor,
//! without a second Provision.

use crate::realtime_common;
use crate::support;

use std::time::Duration;

use realtime_common::{Chain, basic_auth, condition, systems_yaml, target_yaml, user_body};
use support::{ALL_DIRECTORY_PERMISSIONS, Idrelay, Scim2Server, TestConfig, free_port};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_resume_after_a_restart() {
    let target = Scim2Server::start("target-token").await;
    let idrelay = Idrelay::start_with(
        TestConfig::new(&["acme"], ALL_DIRECTORY_PERMISSIONS),
        None,
        true,
    )
    .await;
    let mut chain = Chain { idrelay, target };
    let client_id = chain.idrelay.admin("acme").client_id.clone();
    let reply = chain
        .acme()
        .post("/Users", &user_body("before", "Before"))
        .await;
    reply.expect(201);
    let before_id = reply.id();
    let config = |runtime_url: &str| {
        format!(
            "{}{}",
            systems_yaml(&chain.target.base_url()),
            target_yaml("push", runtime_url, &basic_auth(&client_id), ""),
        )
    };
    let good = config(&chain.idrelay.base_url());
    let dead = config(&format!("http://127.0.0.1:{}", free_port()));
    chain.write("systems.yaml", &good);
    chain.wait_user("before", Some("Before")).await;
    chain.wait_condition("push", "Provisioned", "True").await;

    // The target becomes unreachable; changes are committed meanwhile.
    chain.write("systems.yaml", &dead);
    chain
        .wait_for("the unreachable URL in status", async |c: &Chain| {
            c.realtime_status("push").await["url"]
                .as_str()
                .is_some_and(|u| !u.starts_with(&format!("{}/tenants/", c.idrelay.base_url())))
        })
        .await;
    let mut ids = Vec::new();
    for n in 0..5 {
        let reply = chain
            .acme()
            .post("/Users", &user_body(&format!("offline{n}"), "Offline"))
            .await;
        reply.expect(201);
        ids.push(reply.id());
    }
    chain
        .acme()
        .put(
            &format!("/Users/{}", ids[0]),
            &user_body("offline0", "Changed"),
        )
        .await
        .expect(200);
    chain
        .acme()
        .delete(&format!("/Users/{before_id}"))
        .await
        .expect(204);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(chain.user_in_target("offline1").await.is_none());
    assert!(chain.user_in_target("before").await.is_some());

    // Kill, make the target reachable again, start: everything arrives.
    chain.idrelay.process.kill();
    chain.write("systems.yaml", &good);
    chain.idrelay.restart().await;
    chain.wait_user("offline0", Some("Changed")).await;
    for n in 1..5 {
        chain
            .wait_user(&format!("offline{n}"), Some("Offline"))
            .await;
    }
    chain.wait_gone("before").await;
    // Resumed from the cursor: the Provision of the first run is not repeated.
    let status = chain.wait_condition("push", "Provisioned", "True").await;
    assert_eq!(
        condition(&status, "Provisioned")["message"],
        "1 users provisioned",
        "{status}"
    );
}
