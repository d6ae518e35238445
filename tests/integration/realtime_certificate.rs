//! `certificate` authentication of a RealTimeTarget end to end over loopback HTTPS: acme's tenant
//! CA issues the client certificate `<common name>(<admin user id>)`, writes it to the output
//! Secret (files mode: `<data-dir>/secrets/default/<name>/` with `tls.crt`, `tls.key`, `ca.crt`
//! and a PKCS#12 keystore under the given password), and the pusher presents it to acme's
//! real-time API (mTLS, no other credential), which delivers to `scim2-server`. Users created,
//! updated and deleted through SCIM v2, SCIM v1 and CSV arrive there.
//!
//! The runtime serves HTTPS with a test server certificate that its outbound clients trust
//! through `SSL_CERT_FILE` (the system trust store). Also: a common name that makes the subject
//! longer than 64 characters stalls the target with that message; and Test Connection reports
//! `TLSError` when the target's server certificate is not trusted (the runtime's own generated
//! self-signed certificate).

use crate::realtime_common;
use crate::support;

use realtime_common::{
    Chain, Https, basic_auth, certificate_auth, condition, server_certificate, start_https,
    systems_yaml, target_yaml, user_body,
};
use support::{ALL_DIRECTORY_PERMISSIONS, Scim2Server, TestConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_authentication_pushes_every_change() {
    let certs = tempfile::tempdir().unwrap();
    let (crt, key) = server_certificate(certs.path());
    let target = Scim2Server::start("target-token").await;
    let idrelay = start_https(
        TestConfig::new(&["acme"], ALL_DIRECTORY_PERMISSIONS),
        Https {
            identity: Some((&crt, &key)),
            trust: Some(&crt),
        },
    )
    .await;
    let chain = Chain { idrelay, target };
    chain
        .acme()
        .post("/Users", &user_body("before", "Before"))
        .await
        .expect(201);
    let runtime_url = chain.idrelay.base_url();
    let too_long = "c".repeat(27); // 27 + 2 + 36 (UUID user id) = 65 > 64
    chain.write(
        "systems.yaml",
        &format!(
            "{}{}{}",
            systems_yaml(&chain.target.base_url()),
            target_yaml(
                "push",
                &runtime_url,
                &certificate_auth("RT push", "push-cert"),
                ""
            ),
            target_yaml(
                "toolong",
                &runtime_url,
                &certificate_auth(&too_long, "long-cert"),
                ""
            ),
        ),
    );
    // The initial Provision, authenticated by the client certificate.
    chain.wait_user("before", Some("Before")).await;
    let status = chain
        .wait_condition("push", "ConnectionVerified", "True")
        .await;
    assert_eq!(status["authentication"], "Certificate", "{status}");
    chain.wait_condition("push", "Ready", "True").await;
    // The status reports the Provision once the driver has observed the pusher's progress,
    // which can be a pass after the user reached the target.
    let status = chain.wait_condition("push", "Provisioned", "True").await;
    assert_eq!(
        condition(&status, "Provisioned")["message"],
        "1 users provisioned",
        "{status}"
    );

    chain.create_update_delete_through_every_api().await;

    // The output Secret: PEM files and the keystore, CN <common name>(<admin user id>).
    let user_id = chain.admin_user_id("acme-admin").await;
    let out = chain.idrelay.data_dir.join("secrets/default/push-cert");
    let read = |k: &str| std::fs::read_to_string(out.join(k)).unwrap();
    let cert_pem = read("tls.crt");
    assert_eq!(
        idrelay::auth::certificates::certificate_subject_cn(&cert_pem).unwrap(),
        format!("RT push({user_id})")
    );
    assert_eq!(
        read("ca.crt"),
        std::fs::read_to_string(chain.idrelay.data_dir.join("ca/acme/ca.crt")).unwrap()
    );
    assert!(read("tls.key").contains("PRIVATE KEY"));
    let p12 = std::fs::read(out.join("keystore.p12")).unwrap();
    let contents = idrelay::auth::certificates::read_pkcs12(&p12, "keystore-pass-0123").unwrap();
    assert_eq!(contents.chain_der.len(), 2);
    assert!(idrelay::auth::certificates::read_pkcs12(&p12, "wrong-password").is_err());
    // The key never reaches the status or the log.
    let key_line = read("tls.key").lines().nth(1).unwrap().to_string();
    assert!(!chain.status().await.to_string().contains(&key_line));
    assert!(!chain.idrelay.log().contains(&key_line));

    // The subject would be longer than 64 characters: Stalled with that message.
    let status = chain.realtime_status("toolong").await;
    let ready = condition(&status, "Ready");
    assert_eq!(ready["status"], "False", "{status}");
    assert_eq!(ready["reason"], "InvalidCommonName", "{status}");
    assert!(
        ready["message"]
            .as_str()
            .unwrap()
            .contains("The maximum length of the CN is 64 characters"),
        "{status}"
    );
    assert!(
        !chain
            .idrelay
            .data_dir
            .join("secrets/default/long-cert")
            .exists()
    );
}

/// Test Connection to a target whose server certificate is not trusted: `TLSError` (the
/// runtime's own generated self-signed certificate, not in the trust store).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_server_certificate_is_a_tls_error() {
    let target = Scim2Server::start("target-token").await;
    let idrelay = start_https(
        TestConfig::new(&["acme"], ALL_DIRECTORY_PERMISSIONS),
        Https {
            identity: None,
            trust: None,
        },
    )
    .await;
    let chain = Chain { idrelay, target };
    let client_id = chain.idrelay.admin("acme").client_id.clone();
    chain.write(
        "systems.yaml",
        &format!(
            "{}{}",
            systems_yaml(&chain.target.base_url()),
            target_yaml(
                "push",
                &chain.idrelay.base_url(),
                &basic_auth(&client_id),
                ""
            ),
        ),
    );
    let what = "ConnectionVerified=False with reason TLSError";
    chain
        .wait_for(what, async |c: &Chain| {
            condition(&c.realtime_status("push").await, "ConnectionVerified")["reason"]
                == "TLSError"
        })
        .await;
    let status = chain.realtime_status("push").await;
    assert_eq!(
        condition(&status, "ConnectionVerified")["status"],
        "False",
        "{status}"
    );
    assert_eq!(condition(&status, "Ready")["status"], "False", "{status}");
    // Nothing is pushed over the untrusted connection.
    chain
        .acme()
        .post("/Users", &user_body("nottrusted", "X"))
        .await
        .expect(201);
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert!(chain.user_in_target("nottrusted").await.is_none());
}

/// `spec.caRef` makes a target trust a server certificate outside the system trust store: the
/// same setup is `TLSError` without it, and connects and pushes with the listener's certificate
/// in a Secret referenced by `caRef`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ca_ref_trusts_the_listener_certificate() {
    let certs = tempfile::tempdir().unwrap();
    let (crt, key) = server_certificate(certs.path());
    let target = Scim2Server::start("target-token").await;
    let idrelay = start_https(
        TestConfig::new(&["acme"], ALL_DIRECTORY_PERMISSIONS),
        Https {
            identity: Some((&crt, &key)),
            trust: None,
        },
    )
    .await;
    let chain = Chain { idrelay, target };
    let client_id = chain.idrelay.admin("acme").client_id.clone();
    let runtime_url = chain.idrelay.base_url();
    let systems = systems_yaml(&chain.target.base_url());
    chain.write(
        "systems.yaml",
        &format!(
            "{systems}{}",
            target_yaml("push", &runtime_url, &basic_auth(&client_id), "")
        ),
    );
    chain
        .wait_for("TLSError without caRef", async |c: &Chain| {
            condition(&c.realtime_status("push").await, "ConnectionVerified")["reason"]
                == "TLSError"
        })
        .await;

    let pem = std::fs::read_to_string(&crt).unwrap();
    let ca_secret = format!(
        "---\napiVersion: v1\nkind: Secret\nmetadata: {{name: listener-ca}}\nstringData:\n  ca.crt: {}\n",
        serde_json::to_string(&pem).unwrap()
    );
    chain.write(
        "systems.yaml",
        &format!(
            "{systems}{ca_secret}{}",
            target_yaml(
                "push",
                &runtime_url,
                &basic_auth(&client_id),
                "  caRef: {name: listener-ca, key: ca.crt}\n"
            )
        ),
    );
    chain
        .wait_condition("push", "ConnectionVerified", "True")
        .await;
    chain
        .acme()
        .post("/Users", &user_body("trusted", "T"))
        .await
        .expect(201);
    chain.wait_user("trusted", Some("T")).await;
}
