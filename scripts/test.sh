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

section "cargo fmt --check"
cargo fmt --check

section "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings

section "cargo build --bins"
cargo build --bins

section "cargo test --no-fail-fast"
cargo test --no-fail-fast

section "all checks passed"
