#!/bin/sh
# Prometheus's programs built from its Go module, pinned here (the one place: the compose
# stand-in image of deploy/images/build.py takes the binary from here too), into
# tools/promtool/bin/ when missing; prints each binary's path, one a line.
#
#   sh tools/promtool/build.sh                        # promtool (the rules' checker and tester)
#   sh tools/promtool/build.sh prometheus             # the server (tests/test_prometheus.py)
#   sh tools/promtool/build.sh promtool prometheus    # both (`make promtool`, CI's tools stage)
#
# Go's module cache holds the sources (downloaded once through the module proxy); nothing is
# installed elsewhere. The second program reuses the first one's packages from Go's build
# cache. The server is built without the `builtinassets` tag, as a plain `go build` is: its
# web UI is not embedded (/ says so), its HTTP API (/api/v1/...) is whole.
# tests/test_observability.py and tests/test_prometheus.py run this too, so that a bare
# pytest finds the binaries (a built one answers at once).
set -eu
MODULE=github.com/prometheus/prometheus
VERSION=v0.316.0
here=$(cd "$(dirname "$0")" && pwd)
[ $# -gt 0 ] || set -- promtool
for program in "$@"; do
    case $program in
        promtool | prometheus) ;;
        *) echo "build.sh: $program is not one of promtool, prometheus" >&2; exit 2 ;;
    esac
done

source=
for program in "$@"; do
    out="$here/bin/$program-$VERSION"
    if [ ! -x "$out" ]; then
        if [ -z "$source" ]; then
            GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
            [ -x "$GO" ] || command -v "$GO" >/dev/null || {
                echo "Go (1.26+) is needed to build $program: see go.dev/doc/install" >&2
                exit 1
            }
            source=$("$GO" mod download -json "$MODULE@$VERSION" \
                | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
            [ -d "$source" ] || { echo "go mod download $MODULE@$VERSION gave no source" >&2; exit 1; }
            mkdir -p "$here/bin"
        fi
        echo "building $program from $MODULE@$VERSION (once) ..." >&2
        # Built as its own main module (the repository's go.work names folders the module
        # lacks); the release's number (its VERSION file, 3.x) in --version and build_info.
        (cd "$source" && GOWORK=off CGO_ENABLED=0 "$GO" build -trimpath \
            -ldflags "-s -w -X github.com/prometheus/common/version.Version=$(cat VERSION)" \
            -o "$out.tmp" "./cmd/$program") >&2
        mv "$out.tmp" "$out"
    fi
    echo "$out"
done
