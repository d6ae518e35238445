//! The committed CRD YAML (`crds/idrelay.dev.yaml`) must be exactly what the code generates, and
//! the CRDs are usable from kubectl: printer columns, short names, the `idrelay` category,
//! descriptions and schema defaults.

const COMMITTED: &str = "crds/idrelay.dev.yaml";

#[test]
fn committed_crds_match_the_code() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(COMMITTED);
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let generated = idrelay::api::crds::to_yaml();
    if committed != generated {
        let first_diff = committed
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .map(|i| i + 1)
            .unwrap_or(committed.lines().count().min(generated.lines().count()) + 1);
        panic!(
            "{COMMITTED} is out of date with src/api (first difference at line {first_diff}).\n\
             Regenerate it with:\n\n    cargo run --bin idrelay -- crds > {COMMITTED}\n"
        );
    }
}

#[test]
fn crds_are_well_formed() {
    let crds = idrelay::api::crds::all();
    assert_eq!(crds.len(), 5);
    for crd in &crds {
        assert_eq!(crd.spec.group, "idrelay.dev");
        assert_eq!(
            crd.spec.names.categories.as_deref(),
            Some(&["idrelay".to_owned()][..])
        );
        let version = &crd.spec.versions[0];
        assert_eq!(version.name, "v1alpha1");
        assert!(
            version
                .subresources
                .as_ref()
                .and_then(|s| s.status.as_ref())
                .is_some()
        );
        let schema = serde_json::to_value(&version.schema).unwrap();
        let conditions =
            &schema["openAPIV3Schema"]["properties"]["status"]["properties"]["conditions"];
        assert_eq!(conditions["x-kubernetes-list-type"], "map");
        assert_eq!(conditions["x-kubernetes-list-map-keys"][0], "type");
    }
    let admin = serde_json::to_value(&crds[1].spec.versions[0].schema).unwrap();
    let display = &admin["openAPIV3Schema"]["properties"]["spec"]["properties"]["displayName"];
    assert_eq!(
        display["x-kubernetes-validations"][0]["rule"],
        "self == oldSelf"
    );
}

/// Every field has a description (they are what `kubectl explain` shows).
#[test]
fn every_field_is_documented() {
    fn walk(path: &str, schema: &serde_json::Value, missing: &mut Vec<String>) {
        if let Some(props) = schema["properties"].as_object() {
            for (name, prop) in props {
                let p = format!("{path}.{name}");
                let top_meta = matches!(name.as_str(), "apiVersion" | "kind" | "metadata");
                if !top_meta && prop["description"].as_str().is_none_or(str::is_empty) {
                    missing.push(p.clone());
                }
                walk(&p, prop, missing);
            }
        }
        if schema["items"].is_object() {
            walk(&format!("{path}[]"), &schema["items"], missing);
        }
    }
    let mut missing = Vec::new();
    for crd in idrelay::api::crds::all() {
        let schema = serde_json::to_value(&crd.spec.versions[0].schema).unwrap();
        walk(
            &crd.spec.names.kind,
            &schema["openAPIV3Schema"],
            &mut missing,
        );
    }
    assert!(
        missing.is_empty(),
        "fields without a description: {missing:?}"
    );
}

/// The printer columns of a kind, as (name, type, JSONPath).
fn columns(kind: &str) -> Vec<(String, String, String)> {
    let crd = idrelay::api::crds::all()
        .into_iter()
        .find(|c| c.spec.names.kind == kind)
        .unwrap();
    crd.spec.versions[0]
        .additional_printer_columns
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|c| (c.name, c.type_, c.json_path))
        .collect()
}

/// A printer column as (name, type, JSONPath).
type Column = (&'static str, &'static str, &'static str);

/// `kubectl get` shows Ready and Reason (from the Ready condition) first and Age last on every
/// kind, and what matters per kind in between.
#[test]
fn printer_columns() {
    let ready = ".status.conditions[?(@.type==\"Ready\")].status";
    let reason = ".status.conditions[?(@.type==\"Ready\")].reason";
    let expected: [(&str, &[Column]); 5] = [
        ("Tenant", &[("Hosts", "string", ".spec.hosts")]),
        (
            "TechnicalAdmin",
            &[
                ("Tenant", "string", ".spec.tenantRef.name"),
                ("ClientID", "string", ".status.clientId"),
            ],
        ),
        (
            "SourceSystem",
            &[
                ("Tenant", "string", ".spec.tenantRef.name"),
                ("SystemID", "string", ".status.systemId"),
            ],
        ),
        (
            "TargetSystem",
            &[
                ("Pending", "integer", ".status.pending"),
                ("Failed", "integer", ".status.failed"),
            ],
        ),
        (
            "RealTimeTarget",
            &[
                ("Version", "integer", ".spec.version"),
                ("Auth", "string", ".status.authentication"),
                ("Pushed", "integer", ".status.pushed"),
            ],
        ),
    ];
    for (kind, middle) in expected {
        let mut want = vec![
            ("Ready".to_owned(), "string".to_owned(), ready.to_owned()),
            ("Reason".to_owned(), "string".to_owned(), reason.to_owned()),
        ];
        want.extend(
            middle
                .iter()
                .map(|(n, t, p)| (n.to_string(), t.to_string(), p.to_string())),
        );
        want.push((
            "Age".to_owned(),
            "date".to_owned(),
            ".metadata.creationTimestamp".to_owned(),
        ));
        assert_eq!(columns(kind), want, "{kind}");
    }
}

/// Every column's JSONPath points at a field of the schema (a typo would show an empty column).
#[test]
fn printer_columns_point_at_schema_fields() {
    for crd in idrelay::api::crds::all() {
        let version = &crd.spec.versions[0];
        let schema = serde_json::to_value(&version.schema).unwrap();
        for column in version.additional_printer_columns.iter().flatten() {
            let path = column.json_path.split("[?").next().unwrap();
            if path.starts_with(".metadata.") {
                continue;
            }
            let mut node = &schema["openAPIV3Schema"];
            for part in path.trim_start_matches('.').split('.') {
                node = &node["properties"][part];
            }
            assert!(
                node.is_object(),
                "{}: column {} points at {path}, not in the schema",
                crd.spec.names.kind,
                column.name
            );
        }
    }
}

/// Short names: one per kind, all distinct, none taken by a built-in resource (`kubectl get
/// <short name>` would be ambiguous); every kind in the `idrelay` category.
#[test]
fn short_names_and_categories() {
    const BUILTIN: &[&str] = &[
        "cm", "cs", "csr", "ds", "deploy", "ep", "ev", "hpa", "ing", "limits", "netpol", "no",
        "ns", "pdb", "po", "pv", "pvc", "quota", "rc", "rs", "sa", "sc", "sts", "svc", "crd",
        "crds", "pc", "psp", "ingclass", "ipc", "ippool",
    ];
    let mut seen = std::collections::BTreeSet::new();
    let mut names = Vec::new();
    for crd in idrelay::api::crds::all() {
        let short = crd.spec.names.short_names.clone().unwrap_or_default();
        assert_eq!(short.len(), 1, "{}", crd.spec.names.kind);
        for s in short {
            assert!(
                !BUILTIN.contains(&s.as_str()),
                "{s} is a built-in short name"
            );
            assert!(
                s.starts_with("id"),
                "{s}: idrelay short names start with id"
            );
            assert!(seen.insert(s.clone()), "{s} used twice");
            names.push(s);
        }
        assert_eq!(
            crd.spec.names.categories.as_deref(),
            Some(&["idrelay".to_owned()][..]),
            "{}",
            crd.spec.names.kind
        );
    }
    assert_eq!(names, ["idt", "idta", "idss", "idts", "idrt"]);
}

/// Rust defaults appear as schema defaults, so `kubectl explain` and the API server agree with
/// both drivers.
#[test]
fn schema_defaults() {
    let crds = idrelay::api::crds::all();
    let spec = |i: usize| {
        serde_json::to_value(&crds[i].spec.versions[0].schema).unwrap()["openAPIV3Schema"]
            ["properties"]["spec"]["properties"]
            .clone()
    };
    let (tenant, admin, source, target, realtime) = (spec(0), spec(1), spec(2), spec(3), spec(4));
    assert_eq!(
        tenant["realTimeRateLimit"]["default"],
        idrelay::api::tenant::DEFAULT_REAL_TIME_RATE_LIMIT
    );
    assert_eq!(admin["lockOnFailedLogons"]["default"], false);
    assert_eq!(
        admin["secrets"]["items"]["properties"]["expiresIn"]["default"],
        "Never"
    );
    assert_eq!(source["enabled"]["default"], true);
    assert_eq!(source["type"]["default"], "IdentityAuthentication");
    assert_eq!(target["enabled"]["default"], true);
    assert_eq!(realtime["version"]["default"], 2);
    assert_eq!(realtime["enabled"]["default"], true);
    assert_eq!(realtime["groups"]["default"], false);
    assert_eq!(realtime["type"]["default"], "IdentityProvisioning");
    assert_eq!(
        realtime["runtimeUrl"]["default"],
        idrelay::api::real_time_target::DEFAULT_RUNTIME_URL
    );
    // The schema default and the one reconcile applies when the field is absent agree.
    assert_eq!(
        idrelay::api::real_time_target::DEFAULT_RUNTIME_URL,
        idrelay::reconcile::real_time_target::DEFAULT_RUNTIME_URL
    );
}
