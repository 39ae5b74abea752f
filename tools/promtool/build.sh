#!/bin/sh
# promtool (Prometheus's rule checker and rule unit tester) built from its Go module, pinned
# here, into tools/promtool/bin/ when missing; prints the binary's path. Go's module cache
# holds the sources (downloaded once through the module proxy); nothing is installed
# elsewhere. `make test` runs it first; tests/test_observability.py runs it too, so that a
# bare pytest finds promtool (a built binary answers at once).
set -eu
MODULE=github.com/prometheus/prometheus
VERSION=v0.316.0
here=$(cd "$(dirname "$0")" && pwd)
out="$here/bin/promtool-$VERSION"
if [ -x "$out" ]; then
    echo "$out"
    exit 0
fi
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
[ -x "$GO" ] || command -v "$GO" >/dev/null || {
    echo "Go (1.26+) is needed to build promtool: see go.dev/doc/install" >&2
    exit 1
}
source=$("$GO" mod download -json "$MODULE@$VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -d "$source" ] || { echo "go mod download $MODULE@$VERSION gave no source" >&2; exit 1; }
mkdir -p "$here/bin"
echo "building promtool from $MODULE@$VERSION (once) ..." >&2
# Built as its own main module (the repository's go.work names folders the module lacks).
(cd "$source" && GOWORK=off CGO_ENABLED=0 "$GO" build -trimpath \
    -ldflags "-s -w -X github.com/prometheus/common/version.Version=$VERSION" \
    -o "$out.tmp" ./cmd/promtool) >&2
mv "$out.tmp" "$out"
echo "$out"
