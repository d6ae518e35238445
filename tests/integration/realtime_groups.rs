//! Group pushes of a RealTimeTarget with `spec.groups: true` (beyond SAP): a group created,
//! renamed and deleted in acme through SCIM v2 reaches `scim2-server` through the real-time
//! API and the target system; a target without `groups` pushes users only.

use crate::realtime_common;
use crate::support;

use std::time::Duration;

use realtime_common::{Chain, GROUP, basic_auth, systems_yaml, target_yaml, user_body};
use serde_json::json;
use support::{ALL_DIRECTORY_PERMISSIONS, Idrelay, Scim2Server, TestConfig};

async fn start(groups: bool) -> Chain {
    let target = Scim2Server::start("target-token").await;
    let idrelay = Idrelay::start_with(
        TestConfig::new(&["acme"], ALL_DIRECTORY_PERMISSIONS),
        None,
        true,
    )
    .await;
    let chain = Chain { idrelay, target };
    let client_id = chain.idrelay.admin("acme").client_id.clone();
    let extra = if groups { "  groups: true\n" } else { "" };
    chain.write(
        "systems.yaml",
        &format!(
            "{}{}",
            systems_yaml(&chain.target.base_url()),
            target_yaml(
                "push",
                &chain.idrelay.base_url(),
                &basic_auth(&client_id),
                extra
            ),
        ),
    );
    chain.wait_condition("push", "Provisioned", "True").await;
    chain
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_are_pushed_when_the_target_asks_for_them() {
    let chain = start(true).await;
    let reply = chain
        .acme()
        .post(
            "/Groups",
            &json!({"schemas": [GROUP], "displayName": "Engineering"}),
        )
        .await;
    reply.expect(201);
    let id = reply.id();
    chain
        .wait_for("group Engineering in the target", async |c: &Chain| {
            c.group_in_target("Engineering").await.is_some()
        })
        .await;
    chain
        .acme()
        .put(
            &format!("/Groups/{id}"),
            &json!({"schemas": [GROUP], "displayName": "Platform"}),
        )
        .await
        .expect(200);
    chain
        .wait_for(
            "group renamed to Platform in the target",
            async |c: &Chain| {
                c.group_in_target("Platform").await.is_some()
                    && c.group_in_target("Engineering").await.is_none()
            },
        )
        .await;
    chain
        .acme()
        .delete(&format!("/Groups/{id}"))
        .await
        .expect(204);
    chain
        .wait_for("group Platform deleted in the target", async |c: &Chain| {
            c.group_in_target("Platform").await.is_none()
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_groups_only_users_are_pushed() {
    let chain = start(false).await;
    chain
        .acme()
        .post(
            "/Groups",
            &json!({"schemas": [GROUP], "displayName": "Hidden"}),
        )
        .await
        .expect(201);
    // A user written after the group is pushed: the group was already passed over.
    chain
        .acme()
        .post("/Users", &user_body("after", "A"))
        .await
        .expect(201);
    chain.wait_user("after", Some("A")).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(chain.group_in_target("Hidden").await.is_none());
}
