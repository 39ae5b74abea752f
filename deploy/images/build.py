"""Builds the local stand-in images and the compose CLI, for a Docker engine with no registry.

    python3 deploy/images/build.py [images [--force] [NAME ...]]    # every image, or those named
    python3 deploy/images/build.py compose-cli                      # the `docker compose` plugin
    python3 deploy/images/build.py list                             # names, recipe hashes, state

Each image is deploy/images/<folder>/Dockerfile, built from a context assembled in
.local/images/<folder>/ (the folder's files plus what build.py fetches for it: Debian's root
filesystem, Kafka's jars, the Mailpit and Jaeger binaries, Prometheus's from
tools/promtool/build.sh). An image is labelled with a hash of its recipe inputs (its folder,
its pinned versions, the machine's own CAs, its base's hash) and rebuilt only when that hash
differs from the label of the image the engine has, so a second run costs a few `docker
image inspect`s (--force rebuilds, e.g. after editing build.py itself).
Standard library only: it runs before any virtualenv exists. Build logs go to
.local/images/logs/; a failure prints the log's tail and exits non-zero.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
WORK = Path(os.environ.get("CITES_LOCAL_DIR", REPO / ".local")).resolve() / "images"
LABEL = "fr.cites-educatives.recipe"
DEBIAN_SUITE, DEBIAN_MIRROR = "bookworm", "http://deb.debian.org/debian"
MAILPIT_MODULE, MAILPIT_VERSION = "github.com/axllent/mailpit", "v1.27.11"
COMPOSE_MODULE, COMPOSE_VERSION = "github.com/docker/compose/v5", "v5.6.0"
JAEGER_MODULE, JAEGER_VERSION = "github.com/jaegertracing/jaeger", "v1.75.0"
"""Jaeger's Go module: its v1 tag of the release whose v2 image is jaegertracing/jaeger:2.12.0."""
PROMETHEUS_BUILD = REPO / "tools" / "promtool" / "build.sh"
"""Builds promtool and the Prometheus server from their Go module, pinned there (the one
place: `make promtool` and the tests build the same binaries)."""
DEPENDENCY_GOAL = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies"
LOCAL_CAS = Path("/usr/local/share/ca-certificates")


class BuildError(Exception):
    """Ends the command with one message on stderr and exit code 1."""


def say(message: str) -> None:
    print(f"[images] {message}", file=sys.stderr, flush=True)


def run(
    cmd: list[str], *, log: Path, cwd: Path | None = None, env: dict[str, str] | None = None
) -> None:
    """Run `cmd`, its output appended to `log`; on failure raise with the log's tail."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as out:
        out.write(f"\n$ {' '.join(cmd)}\n")
        out.flush()
        done = subprocess.run(
            cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    if done.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        raise BuildError(f"{cmd[0]} failed (exit {done.returncode}), log {log}:\n{tail}")


def require(tool: str, debian_packages: list[str]) -> None:
    """Make sure `tool` is on PATH, installing Debian packages when we are root with apt."""
    if shutil.which(tool):
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        say(f"installing {' '.join(debian_packages)} with apt-get ...")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        apt = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *debian_packages]
        for cmd in (["apt-get", "update", "-q"], apt):
            subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    if not shutil.which(tool):
        raise BuildError(f"{tool} is needed: apt-get install {' '.join(debian_packages)}")


def go_module_dir(module: str, version: str, log: Path) -> Path:
    """The module's source as the Go module proxy serves it (read-only, in Go's module cache)."""
    if not shutil.which("go"):
        raise BuildError(
            "Go (1.26+) is needed to build Mailpit, Jaeger and the compose CLI: see "
            "go.dev/doc/install"
        )
    out = subprocess.run(
        ["go", "mod", "download", "-json", f"{module}@{version}"],
        capture_output=True, text=True, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    if out.returncode != 0:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(out.stdout + out.stderr)
        raise BuildError(f"go mod download {module}@{version} failed:\n{out.stdout}{out.stderr}")
    return Path(json.loads(out.stdout)["Dir"])


# ----------------------------------------------------------------------------- extras
# What goes into an image's build context besides its folder's files.
def local_cas() -> list[Path]:
    """The certificate authorities this machine trusts besides Debian's (a TLS-inspecting
    proxy's, for one): the images trust them too, or pip and npm in a build cannot connect."""
    return sorted(LOCAL_CAS.glob("*.crt")) if LOCAL_CAS.is_dir() else []


def debian_rootfs(context: Path, log: Path) -> None:
    """rootfs.tar: a minbase root filesystem, without the .debs and package lists
    debootstrap leaves behind (the image's first step fetches fresh lists); local-ca/: the
    machine's own certificate authorities."""
    for ca in local_cas():
        shutil.copy(ca, context / "local-ca" / ca.name)
    require("debootstrap", ["debootstrap"])
    rootfs = WORK / "debian-rootfs"
    shutil.rmtree(rootfs, ignore_errors=True)
    run(["debootstrap", "--variant=minbase", DEBIAN_SUITE, str(rootfs), DEBIAN_MIRROR], log=log)
    for leftover in [
        *(rootfs / "var/cache/apt/archives").glob("*.deb"),
        *(rootfs / "var/lib/apt/lists").glob("*_*"),
    ]:
        leftover.unlink()
    run(
        ["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(context / "rootfs.tar"), "."],
        log=log,
    )
    shutil.rmtree(rootfs)


def kafka_jars(context: Path, log: Path) -> None:
    """libs/: Kafka's jars from Maven Central (Maven's local repository cached in WORK/m2)."""
    require("mvn", ["maven", "openjdk-17-jre-headless"])
    mvn = ["mvn", "-q", "-B", "-f", str(context / "pom.xml"), DEPENDENCY_GOAL]
    mvn += ["-DincludeScope=runtime", f"-DoutputDirectory={context / 'libs'}"]
    run([*mvn, f"-Dmaven.repo.local={WORK / 'm2'}"], log=log)


def mailpit_binary(context: Path, log: Path) -> None:
    """mailpit: built as upstream's Dockerfile does; the web UI's bundle is not in the Go
    module, so it is built from the module's own sources (npm ci, esbuild) first."""
    require("npm", ["nodejs", "npm"])
    source = WORK / "src" / f"mailpit-{MAILPIT_VERSION}"
    shutil.rmtree(source, ignore_errors=True)
    shutil.copytree(go_module_dir(MAILPIT_MODULE, MAILPIT_VERSION, log), source)
    subprocess.run(["chmod", "-R", "u+w", str(source)], check=True)  # the module cache is read-only
    run(["npm", "ci", "--no-audit", "--no-fund"], cwd=source, log=log)
    run(["npm", "run", "package"], cwd=source, log=log)
    ldflags = f"-s -w -X {MAILPIT_MODULE}/config.Version={MAILPIT_VERSION}"
    go = ["go", "build", "-trimpath", "-ldflags", ldflags, "-o", str(context / "mailpit"), "."]
    run(go, cwd=source, log=log, env={**os.environ, "CGO_ENABLED": "0"})
    shutil.rmtree(source)


def jaeger_binary(context: Path, log: Path) -> None:
    """jaeger: ``cmd/jaeger`` built in its module (its own main module, so its go.mod's
    replace and exclude directives apply), statically linked."""
    source = go_module_dir(JAEGER_MODULE, JAEGER_VERSION, log)
    ldflags = f"-s -w -X {JAEGER_MODULE}/internal/version.latestVersion={JAEGER_VERSION}"
    go = ["go", "build", "-trimpath", "-ldflags", ldflags, "-o", str(context / "jaeger")]
    run([*go, "./cmd/jaeger"], cwd=source, log=log, env={**os.environ, "CGO_ENABLED": "0"})


def prometheus_pin() -> tuple[str, str]:
    """(module, version) as tools/promtool/build.sh pins them."""
    text = PROMETHEUS_BUILD.read_text()
    found = dict(re.findall(r"^(MODULE|VERSION)=(\S+)$", text, re.MULTILINE))
    if set(found) != {"MODULE", "VERSION"}:
        raise BuildError(f"{PROMETHEUS_BUILD} pins no MODULE= and VERSION= lines")
    return found["MODULE"], found["VERSION"]


def prometheus_binaries(context: Path, log: Path) -> None:
    """prometheus and promtool, as tools/promtool/build.sh builds them (once: it reuses
    what `make promtool` built); prometheus.yml: the module's example configuration, as
    upstream's image has it."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as out:
        built = subprocess.run(
            ["sh", str(PROMETHEUS_BUILD), "prometheus", "promtool"],
            stdout=subprocess.PIPE, stderr=out, text=True, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    if built.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        raise BuildError(f"{PROMETHEUS_BUILD} failed, log {log}:\n{tail}")
    for binary, name in zip(built.stdout.split(), ("prometheus", "promtool"), strict=True):
        shutil.copy(binary, context / name)
    source = go_module_dir(*prometheus_pin(), log)
    shutil.copy(source / "documentation" / "examples" / "prometheus.yml", context)


# ----------------------------------------------------------------------------- images
@dataclass(frozen=True)
class Image:
    name: str
    folder: str
    base: str | None = None  # another image of the set, built first
    pins: str = ""  # versions fetched outside the folder: part of the recipe hash
    extras: Callable[[Path, Path], None] | None = field(default=None, compare=False)
    host_inputs: Callable[[], list[Path]] | None = field(default=None, compare=False)


DEBIAN = "cites-local/debian:bookworm"
IMAGES = [  # bases first
    Image(DEBIAN, "debian", pins=f"debootstrap minbase {DEBIAN_SUITE}", extras=debian_rootfs,
          host_inputs=local_cas),
    Image("cites-local/python:3.11-bookworm", "python", base=DEBIAN),
    Image("cites-local/kafka:4.1.1", "kafka", base=DEBIAN, extras=kafka_jars),
    Image("cites-local/postgres:15", "postgres", base=DEBIAN),
    Image("cites-local/mailpit:v1.27.11", "mailpit", base=DEBIAN,
          pins=f"{MAILPIT_MODULE}@{MAILPIT_VERSION}", extras=mailpit_binary),
    Image("cites-local/jaeger:2.12.0", "jaeger", base=DEBIAN,
          pins=f"{JAEGER_MODULE}@{JAEGER_VERSION}", extras=jaeger_binary),
    Image("cites-local/prometheus:v3.16.0", "prometheus", base=DEBIAN,
          pins="@".join(prometheus_pin()), extras=prometheus_binaries),
]  # fmt: skip
BY_NAME = {image.name: image for image in IMAGES}


def recipe_hash(image: Image) -> str:
    """sha256 of the image's folder (paths and bytes), its pins, the files it takes from this
    machine and its base's recipe hash."""
    digest = hashlib.sha256(f"{image.name}\n{image.pins}\n".encode())
    if image.base:
        digest.update(recipe_hash(BY_NAME[image.base]).encode())
    folder = HERE / image.folder
    files = sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    for path in [*files, *(image.host_inputs() if image.host_inputs else [])]:
        digest.update(
            f"\n{path.relative_to(folder) if path.is_relative_to(folder) else path}\n".encode()
        )
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def image_id(name: str) -> str | None:
    out = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Id}}", name],
        capture_output=True, text=True, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    return out.stdout.strip() if out.returncode == 0 else None


def engine_recipe(name: str) -> str | None:
    """The recipe label of the engine's image `name`; None when it has no such image."""
    fmt = '{{ index .Config.Labels "' + LABEL + '" }}'
    out = subprocess.run(
        ["docker", "image", "inspect", "--format", fmt, name],
        capture_output=True, text=True, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    return out.stdout.strip() if out.returncode == 0 else None


def build(image: Image) -> None:
    context, log = WORK / image.folder, WORK / "logs" / f"{image.folder}.log"
    log.unlink(missing_ok=True)
    shutil.rmtree(context, ignore_errors=True)
    shutil.copytree(HERE / image.folder, context)
    if image.extras:
        image.extras(context, log)
    replaced = image_id(image.name)
    tag = ["-t", image.name, "--label", f"{LABEL}={recipe_hash(image)}"]
    run(["docker", "build", "--pull=false", "--force-rm", *tag, str(context)], log=log)
    shutil.rmtree(context)
    if replaced and replaced != image_id(image.name):
        # the image this one replaced, now untagged; kept by the engine while a container or
        # another image still uses it
        subprocess.run(
            ["docker", "image", "rm", replaced], capture_output=True, stdin=subprocess.DEVNULL
        )


def ensure_engine() -> None:
    info = subprocess.run(["docker", "info"], capture_output=True, stdin=subprocess.DEVNULL)
    if info.returncode != 0:
        raise BuildError(
            "no Docker engine answers (`docker info` failed): start one (as root: `dockerd &`)"
        )


def cmd_images(names: list[str], force: bool) -> None:
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise BuildError(f"no such image in the set: {', '.join(unknown)} (see `list`)")
    ensure_engine()
    wanted = set(names or BY_NAME)
    for image in IMAGES:
        if image.name not in wanted:
            continue
        recipe = recipe_hash(image)
        if image.base and engine_recipe(image.base) != recipe_hash(BY_NAME[image.base]):
            raise BuildError(f"{image.name} needs {image.base} up to date first: build it too")
        if not force and engine_recipe(image.name) == recipe:
            say(f"{image.name}: up to date (recipe {recipe})")
            continue
        say(f"{image.name}: building (recipe {recipe}) ...")
        started = time.monotonic()
        build(image)
        say(f"{image.name}: built in {time.monotonic() - started:.0f} s")


def cmd_compose_cli(force: bool) -> None:
    """`docker compose` as a CLI plugin, built from its Go module (as its own main module, so
    its go.mod's exclude directives apply) when the docker CLI has none that works."""
    version = subprocess.run(
        ["docker", "compose", "version"], capture_output=True, text=True, stdin=subprocess.DEVNULL
    )
    if not force and version.returncode == 0:
        say(f"compose CLI: present ({version.stdout.strip()})")
        return
    plugins = Path(os.environ.get("DOCKER_CONFIG", Path.home() / ".docker")) / "cli-plugins"
    plugins.mkdir(parents=True, exist_ok=True)
    log = WORK / "logs" / "compose-cli.log"
    log.unlink(missing_ok=True)
    say(f"compose CLI: building {COMPOSE_MODULE}@{COMPOSE_VERSION} into {plugins} ...")
    started = time.monotonic()
    source = go_module_dir(COMPOSE_MODULE, COMPOSE_VERSION, log)
    ldflags = f"-w -X {COMPOSE_MODULE}/internal.Version={COMPOSE_VERSION}"
    out = plugins / "docker-compose"
    go = ["go", "build", "-trimpath", "-ldflags", ldflags, "-o", str(out), "./cmd"]
    run(go, cwd=source, log=log, env={**os.environ, "CGO_ENABLED": "0"})
    say(f"compose CLI: built in {time.monotonic() - started:.0f} s")


def cmd_list() -> None:
    for image in IMAGES:
        recipe, have = recipe_hash(image), engine_recipe(image.name)
        state = "absent" if have is None else "up to date" if have == recipe else "stale"
        print(f"{image.name:32} {recipe}  {state}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "command", nargs="?", default="images", choices=["images", "compose-cli", "list"]
    )
    parser.add_argument("names", nargs="*", help="images to build (default: all)")
    parser.add_argument("--force", action="store_true", help="build even when up to date")
    args = parser.parse_args(argv)
    try:
        if args.command == "images":
            cmd_images(args.names, args.force)
        elif args.command == "compose-cli":
            cmd_compose_cli(args.force)
        else:
            cmd_list()
    except BuildError as exc:
        say(str(exc))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
