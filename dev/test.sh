#!/usr/bin/env bash
# The one test command. On a fresh machine of the project's kind it installs what is missing (with the
# browser the dashboard test drives: Debian's Chromium and playwright-core from npm; Debian's nginx for
# the seed pipeline), starts the real services the integration tests talk to (OpenSearch, PostgreSQL,
# moto), then runs every check CI runs: formatting, clippy with warnings as errors, cfn-lint on the
# CloudFormation template, and all tests.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

dev/services.sh up
dev/fixtures.sh
dev/browser.sh
dev/schemathesis.sh
dev/lambda.sh install
dev/cfn-lint.sh
dev/seed-pipeline.sh --install
eval "$(dev/services.sh env)"

cargo fmt --all -- --check
cargo clippy --locked --workspace --all-targets -- -D warnings
cargo test --locked --workspace
