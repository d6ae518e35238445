//! The committed CRD YAML (`crds/idrelay.dev.yaml`) must be exactly what the code generates.

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
