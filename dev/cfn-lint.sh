#!/usr/bin/env bash
# Lints the CloudFormation templates under deploy/cloudformation/ with cfn-lint (PyPI, pinned), installed
# into .dev/cfn-venv. Fails on any error or warning; informational messages (I-rules) are printed but do
# not fail the run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

CFN_LINT_VERSION=1.58.0
VENV=${FIRESIGHT_DEV_DIR:-.dev}/cfn-venv

if ! { [[ -x $VENV/bin/cfn-lint ]] && "$VENV/bin/cfn-lint" --version 2>/dev/null | grep -q "$CFN_LINT_VERSION"; }; then
    mkdir -p "$(dirname "$VENV")"
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-compile "cfn-lint==$CFN_LINT_VERSION"
fi

# cfn-lint's exit code is a bit mask: 2 errors, 4 warnings, 8 informational (0 when nothing matched).
# Errors and warnings fail; a run with informational messages only passes.
status=0
"$VENV/bin/cfn-lint" --format parseable -- deploy/cloudformation/*.yaml || status=$?
if (( status & ~8 )); then
    printf 'cfn-lint: errors or warnings in deploy/cloudformation/ (exit %d)\n' "$status" >&2
    exit 1
fi
printf 'cfn-lint %s: deploy/cloudformation/*.yaml clean (no errors, no warnings)\n' "$CFN_LINT_VERSION"
