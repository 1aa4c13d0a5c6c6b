#!/usr/bin/env bash
# Refresh the committed crawler list from the npm package `crawler-user-agents`
# (https://github.com/monperrus/crawler-user-agents, MIT licence, Martin Monperrus
# and contributors).
#
# Writes, under crates/firesight-core/data/crawlers/:
#   crawler-user-agents.json  the package's list, byte for byte
#   LICENSE                   the package's licence, byte for byte
#   README.md                 origin, version, tarball digest and licence
# categories.json next to them is firesight's own file and is left alone.
#
# Usage: dev/crawlers.sh [VERSION]
#   VERSION defaults to the pinned one below; change the pin to move to a newer
#   list, run this, then `cargo test -p firesight-core crawler` (names, categories
#   and every listed instance are checked against the new list).
#
# Settings (environment):
#   NPM  npm client (default npm); only `npm pack` from the registry is used.
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd)
DEST=$REPO_ROOT/crates/firesight-core/data/crawlers
NPM=${NPM:-npm}

PACKAGE=crawler-user-agents
VERSION=${1:-1.60.0}

log() { printf 'crawlers: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

command -v "$NPM" >/dev/null || die "$NPM not found"
WORK=$(mktemp -d)
trap 'rm -rf -- "$WORK"' EXIT

log "fetching $PACKAGE@$VERSION"
(cd "$WORK" && "$NPM" pack --silent "$PACKAGE@$VERSION" >/dev/null)
TARBALL=$WORK/$PACKAGE-$VERSION.tgz
[[ -f $TARBALL ]] || die "npm pack did not write $TARBALL"
tar -xzf "$TARBALL" -C "$WORK"

LICENSE_ID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["license"])' "$WORK/package/package.json")
[[ $LICENSE_ID == MIT ]] || die "licence is now '$LICENSE_ID', not MIT: review before committing"
python3 - "$WORK/package/crawler-user-agents.json" <<'PY' || die "unexpected list shape"
import json, sys
entries = json.load(open(sys.argv[1]))
assert isinstance(entries, list) and entries, "empty list"
for e in entries:
    assert isinstance(e.get("pattern"), str) and e["pattern"], e
    assert isinstance(e.get("instances"), list), e
PY

mkdir -p "$DEST"
cp -- "$WORK/package/crawler-user-agents.json" "$DEST/crawler-user-agents.json"
cp -- "$WORK/package/LICENSE" "$DEST/LICENSE"
SHA=$(sha256sum "$TARBALL" | cut -d' ' -f1)
COUNT=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$DEST/crawler-user-agents.json")
cat >"$DEST/README.md" <<MD
# Crawler user agents

\`crawler-user-agents.json\` and \`LICENSE\` are copied unchanged from the npm package
[\`$PACKAGE\`](https://www.npmjs.com/package/$PACKAGE) version $VERSION
(tarball SHA-256 \`$SHA\`), the list maintained at
<https://github.com/monperrus/crawler-user-agents>: $COUNT patterns of robots, crawlers and
spiders with example user agents. It is distributed under the MIT licence, reproduced in
\`LICENSE\` ($(grep -m1 Copyright "$DEST/LICENSE")).

\`categories.json\` is firesight's own: how the list's \`tags\` map to the \`firesight.crawler.category\`
values, and the few patterns whose category firesight sets itself.

Refresh with \`dev/crawlers.sh [VERSION]\` (the pin is in the script), then run
\`cargo test -p firesight-core crawler\`.
MD
log "wrote $COUNT patterns of $PACKAGE@$VERSION to $DEST"
