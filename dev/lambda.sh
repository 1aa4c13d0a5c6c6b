#!/usr/bin/env bash
# The enrichment Lambda with the ecosystem's tool. Installs cargo-lambda and zig (both PyPI wheels,
# pinned) into .dev/lambda-venv and the arm64 Rust target, then:
#   dev/lambda.sh install   only the tools (the test command uses them for `cargo lambda watch`)
#   dev/lambda.sh build     (default) release builds for provided.al2023 on x86_64 and arm64:
#                           target/lambda/x86_64/firesight-lambda/bootstrap.zip
#                           target/lambda/arm64/firesight-lambda/bootstrap.zip
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

CARGO_LAMBDA_VERSION=1.9.2
ZIG_VERSION=0.17.1
VENV=${FIRESIGHT_DEV_DIR:-.dev}/lambda-venv

install() {
    if ! { [[ -x $VENV/bin/cargo-lambda ]] && "$VENV/bin/cargo-lambda" lambda --version 2>/dev/null | grep -q "$CARGO_LAMBDA_VERSION" \
        && "$VENV/bin/python" -m ziglang version >/dev/null 2>&1; }; then
        mkdir -p "$(dirname "$VENV")"
        rm -rf "$VENV"
        python3 -m venv "$VENV"
        "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-compile \
            "cargo-lambda==$CARGO_LAMBDA_VERSION" "ziglang==$ZIG_VERSION"
    fi
    # arm64 is cross-compiled (zig links it); x86_64 is this machine's own target.
    if ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
        rustup target add aarch64-unknown-linux-gnu >&2
    fi
}

build() {
    # cargo-lambda finds zig as `python3 -m ziglang` with the venv's python first on PATH.
    export PATH="$PWD/$VENV/bin:$PATH"
    for arch in x86_64 arm64; do
        flag=--x86-64
        [[ $arch == arm64 ]] && flag=--arm64
        cargo lambda build --release --locked --bin firesight-lambda "$flag" --output-format zip \
            --lambda-dir "target/lambda/$arch" >&2
        zip=target/lambda/$arch/firesight-lambda/bootstrap.zip
        printf '%-7s %s  %s bytes\n' "$arch" "$zip" "$(stat -c %s "$zip")"
    done
}

case ${1:-build} in
    install) install ;;
    build) install && build ;;
    *)
        printf 'usage: %s [install|build]\n' "$0" >&2
        exit 2
        ;;
esac
