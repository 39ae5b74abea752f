"""Every service keeps the one template of docs/anatomy.md: the same files, events born in
the domain, handlers that call the service only, routes that declare their view and a
summary, the same test fixtures. (The layers themselves are import-linter's, in make lint.)
"""

from __future__ import annotations

import ast
import importlib
import re
import typing
from pathlib import Path

import pytest
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from cites_contracts.envelope import Event

REPO = Path(__file__).resolve().parents[1]
SERVICES = sorted(p.parent.name for p in REPO.glob("services/*/pyproject.toml"))


def _package(name: str) -> Path:
    return REPO / "services" / name / name


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def test_every_service_is_found() -> None:
    assert SERVICES == ["dashboard", "funding", "labelling", "notifications", "partners"]


@pytest.mark.parametrize("name", SERVICES)
def test_a_service_has_the_template_files(name: str) -> None:
    pkg, tests = _package(name), REPO / "services" / name / "tests"
    required = ["__main__.py", "settings.py", "app.py", "domain/__init__.py", "service.py",
                "api/__init__.py", "api/views.py", "consumers.py"]
    missing = [f for f in required if not (pkg / f).is_file()]
    missing += [] if (pkg / "store.py").is_file() or (pkg / "store/__init__.py").is_file() \
        else ["store.py or store/"]
    missing += [] if sorted((pkg / "migrations").glob("[0-9][0-9][0-9][0-9]_*.sql")) \
        else ["migrations/NNNN_*.sql"]
    missing += [f"tests/{f}" for f in ("conftest.py", f"{name}_kit.py")
                if not (tests / f).is_file()]
    assert missing == []
    # One meaning per module name: no grab-bag modules.
    assert [p.name for p in pkg.rglob("*.py") if p.stem in {"common", "utils", "helpers"}] == []


@pytest.mark.parametrize("name", SERVICES)
def test_a_service_names_its_test_fixtures_alike(name: str) -> None:
    conftest = _tree(REPO / "services" / name / "tests" / "conftest.py")
    fixtures = {f.name for f in conftest.body
                if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))}
    # the service in memory, and (for a service that consumes or produces) on real Kafka
    assert {"settings", "service", "live"} <= fixtures
    assert (REPO / "services" / name / "tests" / "test_on_kafka.py").is_file()


def _event_classes(tree: ast.Module, module: str) -> set[str]:
    """Names bound in ``tree`` to event classes of the contracts."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "cites_contracts"):
            imported = importlib.import_module(node.module or "")
            for alias in node.names:
                value = getattr(imported, alias.name, None)
                if isinstance(value, type) and issubclass(value, Event):
                    names.add(alias.asname or alias.name)
    return names


@pytest.mark.parametrize("name", SERVICES)
def test_events_are_born_in_the_domain_only(name: str) -> None:
    built = []
    for path in sorted(_package(name).rglob("*.py")):
        if "domain" in path.relative_to(_package(name)).parts or path.name == "examples.py":
            continue
        tree = _tree(path)
        classes = _event_classes(tree, name)
        built += [f"{path.relative_to(REPO)}:{node.lineno} {node.func.id}"
                  for node in ast.walk(tree)
                  if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                  and node.func.id in classes]
    assert built == []


@pytest.mark.parametrize("name", SERVICES)
def test_handlers_call_the_service_only(name: str) -> None:
    tree = _tree(_package(name) / "consumers.py")
    reached = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module is None:
                reached |= {a.name for a in node.names}
            else:
                reached.add(node.module.split(".")[0])
    assert reached <= {"service", "domain"}


def _is_view(model: object) -> bool:
    """A ``*View``, a ``Page[*View]`` or a list of views."""
    if typing.get_origin(model) is list:
        return _is_view(typing.get_args(model)[0])
    return bool(re.search(r"View\]?$", getattr(model, "__name__", "")))


def _answers_json(route: APIRoute) -> bool:
    cls = getattr(route.response_class, "value", route.response_class)  # a default's
    return isinstance(cls, type) and issubclass(cls, JSONResponse)


def _routes(router: APIRouter) -> list[APIRoute]:
    """The router's routes, included routers' too (FastAPI keeps those apart)."""
    found = []
    for r in router.routes:
        if isinstance(r, APIRoute):
            found.append(r)
        elif isinstance(getattr(r, "original_router", None), APIRouter):
            found += _routes(r.original_router)
    return found


@pytest.mark.parametrize("name", SERVICES)
def test_every_route_declares_its_view_and_a_summary(name: str) -> None:
    definition = importlib.import_module(f"{name}.app").definition
    routes = [r for router in definition.routers for r in _routes(router)
              if r.include_in_schema]  # the API's; a page and its files are not
    assert routes
    no_summary = [r.path for r in routes if not r.summary]
    no_view = [f"{sorted(r.methods)} {r.path}" for r in routes
               if r.status_code != 204 and _answers_json(r) and not _is_view(r.response_model)]
    assert (no_summary, no_view) == ([], [])


def test_no_production_function_is_over_60_lines_without_saying_why() -> None:
    roots = [*REPO.glob("services/*/*/"), *REPO.glob("shared/*/cites_*/"), REPO / "deploy",
             REPO / "tools" / "docs"]
    long = []
    for root in roots:
        for path in root.rglob("*.py"):
            if "tests" in path.relative_to(REPO).parts:
                continue
            for node in ast.walk(_tree(path)):
                if (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                        and (node.end_lineno or 0) - node.lineno + 1 > 60
                        and "Long because" not in (ast.get_docstring(node) or "")):
                    long.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name}")
    assert long == []
