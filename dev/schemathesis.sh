#!/usr/bin/env bash
# Install schemathesis (PyPI, pinned) into its own venv under .dev, for the test that fuzzes the API
# from its OpenAPI document (tests/it/schemathesis.rs). Idempotent.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

VERSION=4.32.5
VENV=${FIRESIGHT_DEV_DIR:-.dev}/schemathesis-venv

if [[ -x $VENV/bin/schemathesis ]] && "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q "$VERSION"; then
    exit 0
fi
mkdir -p "$(dirname "$VENV")"
rm -rf "$VENV"
python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-compile "schemathesis==$VERSION"
"$VENV/bin/schemathesis" --version >&2
