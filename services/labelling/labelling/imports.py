"""Taking over the programme's past: records read from a file (JSON or CSV, ``docs/import.md``),
each imported in a transaction of its own (:func:`labelling.service.import_cite`: all or
nothing per cité), and a report of every line — imported, completed, unchanged, or refused
and why. Used by the command line (``python -m labelling import FILE``) and the national
coordination's ``POST /imports``.

Lines are imported in the order of their decisions (the programme's order: a 2019 cité
expires, releasing its QPVs, before a later one claims them), each against the platform as
the lines before it left it. ``dry_run`` imports each line and rolls it back: every check
runs, nothing is kept, nothing is published.
"""

from __future__ import annotations

import csv
import getpass
import io
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import typer

from cites_runtime import imports
from cites_runtime.actor import Actor, Role
from cites_runtime.cli import settings_or_exit
from cites_runtime.imports import Line, Problem
from cites_runtime.uow import UnitOfWork

from . import service
from .domain.records import CiteRecord

__all__ = ["CSV_COLUMNS", "Done", "Line", "Problem", "Report", "import_command", "line", "read",
           "read_csv", "read_json", "run"]

@dataclass(frozen=True, slots=True)
class Done:
    number: int
    reference: str
    cite_id: str | None
    candidature_id: UUID | None
    outcome: str
    """imported, completed, unchanged — or refused (``problems`` say why)."""
    status: str | None = None
    problems: tuple[Problem, ...] = ()


Report = imports.Report[Done]


# --- reading -----------------------------------------------------------------------------


def line(number: int, raw: object) -> Line[CiteRecord]:
    """Record ``number`` of a file or body, read as a :class:`CiteRecord` or refused."""
    return imports.line(number, raw, CiteRecord)


def read_json(text: str | bytes) -> list[Line[CiteRecord]]:
    """``{"cites": [record, …]}`` (or the list alone): one line per record, numbered from 1.
    A file that is not such JSON at all raises ValueError."""
    return [line(n, raw) for n, raw in enumerate(imports.records_json(text, "cites"), start=1)]


CSV_COLUMNS = (
    "reference", "wave_id", "departement", "territory_name", "communes", "qpvs", "schools",
    "lead_college_uai", "troika", "filed_on", "decided_on", "label_years",
    "convention_signed_on", "requested_annual_contribution", "renewal_filed_on",
    "renewal_decided_on", "renewal_period_start", "renewal_period_end",
    "renewal_convention_signed_on", "renewal_qpv_list", "renewal_communes", "renewal_qpvs",
    "renewal_schools",
)
"""The CSV file's columns (a header line names them, in any order). Lists hold items
separated by ``|``, an item's parts by ``:`` (a name last, so it may hold one):
``communes`` ``93001:Aubervilliers``; ``qpvs`` ``QP093001:4520:Franc-Moisin``;
``schools`` ``0930123A:college:rep_plus:Collège Jean Moulin``; ``troika``
``prefet:pref@interieur.gouv.fr``. A cité renewed more than once takes one more line per
renewal: its reference and the ``renewal_*`` columns only. A renewal that gave the cité a
new perimeter states it whole in ``renewal_qpv_list`` (2015 or 2024), ``renewal_communes``,
``renewal_qpvs`` and ``renewal_schools``."""

_CITE_COLUMNS = set(CSV_COLUMNS) - {c for c in CSV_COLUMNS if c.startswith("renewal_")} - {
    "reference"}


def _items(cell: str, names: Sequence[str]) -> list[dict[str, str]]:
    """``a:b:c|…`` → ``[{names[0]: a, …}]``; the last part takes what is left."""
    items = []
    for item in filter(None, (i.strip() for i in cell.split("|"))):
        parts = [p.strip() for p in item.split(":", len(names) - 1)]
        items.append(dict(zip(names, parts, strict=False)))
    return items


def _present(row: dict[str, str], *names: str) -> dict[str, str]:
    return {n: row[n] for n in names if row.get(n)}


def _renewal(row: dict[str, str]) -> dict[str, Any] | None:
    if not any(row.get(c) for c in CSV_COLUMNS if c.startswith("renewal_")):
        return None
    renewal: dict[str, Any] = {k.removeprefix("renewal_"): v for k, v in _present(
        row, "renewal_filed_on", "renewal_decided_on", "renewal_convention_signed_on").items()}
    if row.get("renewal_period_start") or row.get("renewal_period_end"):
        renewal["period"] = {"start": row.get("renewal_period_start"),
                             "end": row.get("renewal_period_end")}
    if row.get("renewal_qpv_list"):
        renewal["perimeter"] = {"qpv_list": row["renewal_qpv_list"],
                                **_perimeter(row, prefix="renewal_")}
    return renewal


def _perimeter(row: dict[str, str], prefix: str = "") -> dict[str, Any]:
    return {"communes": _items(row.get(f"{prefix}communes", ""), ("insee_code", "name")),
            "qpvs": _items(row.get(f"{prefix}qpvs", ""), ("code", "population", "name")),
            "schools": _items(row.get(f"{prefix}schools", ""),
                              ("uai", "kind", "education_priority", "name"))}


def _record(row: dict[str, str]) -> dict[str, Any]:
    dossier: dict[str, Any] = {
        "territory_name": row.get("territory_name", ""), **_perimeter(row),
        "troika": _items(row.get("troika", ""), ("role", "email")),
        **_present(row, "lead_college_uai", "requested_annual_contribution"),
    }
    return {**_present(row, "reference", "wave_id", "departement", "filed_on", "decided_on",
                       "label_years", "convention_signed_on"), "dossier": dossier}


def read_csv(text: str) -> list[Line[CiteRecord]]:
    """One cité per line (a header line first), numbered as the file's lines; lines that
    repeat a reference add a renewal to it. A file without the header raises ValueError."""
    reader = csv.DictReader(io.StringIO(text))
    missing = {"reference", "decided_on"} - set(reader.fieldnames or ())
    if missing:
        raise ValueError(f"the CSV header lacks {', '.join(sorted(missing))} (columns: "
                         f"{', '.join(CSV_COLUMNS)})")
    groups: dict[str, tuple[int, dict[str, Any]]] = {}
    odd: list[Line[CiteRecord]] = []
    for row in reader:
        number = reader.line_num
        row = {k: (v or "").strip() for k, v in row.items() if k is not None}
        ref = row.get("reference", "")
        if ref in groups:
            extra = [c for c in _CITE_COLUMNS if row.get(c)]
            if extra:
                odd.append(Line(number, ref, None, (Problem(
                    ",".join(sorted(extra)), "renewal_line",
                    f"reference {ref} is on line {groups[ref][0]} already: a further line "
                    "of it holds only renewal_* columns"),)))
                continue
        else:
            groups[ref] = (number, _record(row) | {"renewals": []})
        renewal = _renewal(row)
        if renewal is not None:
            groups[ref][1]["renewals"].append(renewal)
    return sorted([line(n, raw) for n, raw in groups.values()] + odd,
                  key=lambda line: line.number)


def read(text: str, fmt: str) -> list[Line[CiteRecord]]:
    """The lines of a ``json`` or ``csv`` file."""
    if fmt == "json":
        return read_json(text)
    if fmt == "csv":
        return read_csv(text)
    raise ValueError(f"unknown format {fmt!r}: json or csv")


# --- importing ---------------------------------------------------------------------------


def _done(item: Line[CiteRecord], done: service.Imported | None, problems: tuple[Problem, ...]
          ) -> Done:
    if done is None:
        return Done(item.number, item.reference or "", None, None, "refused",
                    problems=problems)
    return Done(item.number, done.reference, done.cite_id, done.candidature_id, done.outcome,
                done.status.value)


async def run(lines: Sequence[Line[CiteRecord]],
              unit_of_work: Callable[[], AbstractAsyncContextManager[UnitOfWork]],
              actor: Actor, *, dry_run: bool = False) -> Report:
    """Import every line that reads as a record, each in its own unit of work (whose cause
    must mark its events imported), in the programme's order — by decision date —; report
    every line."""
    async def apply(uow: UnitOfWork, record: CiteRecord) -> service.Imported:
        return await service.import_cite(uow, record, actor)

    return await imports.run(lines, unit_of_work, apply, _done,
                             order=lambda record: record.decided_on, dry_run=dry_run)


# --- the command line ----------------------------------------------------------------------


def import_command(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True,
                                help="The programme's records: .json or .csv (docs/import.md)"),
    fmt: str | None = imports.FORMAT, dry_run: bool = imports.DRY_RUN,
    as_json: bool = imports.AS_JSON,
) -> None:
    """Import the programme's past (cités, their candidatures, decisions, conventions and
    renewals, with their dates): the same events as the live path, marked imported.
    Idempotent; all or nothing per cité; exits 1 when a line is refused."""
    from .settings import LabellingSettings

    actor = Actor(Role.NATIONAL, f"import:{getpass.getuser()}")
    imports.command("labelling", settings_or_exit("labelling", LabellingSettings), file, fmt,
                    read, lambda lines, units: run(lines, units, actor, dry_run=dry_run),
                    _print, as_json=as_json)


def _print(report: Report, name: str) -> None:
    imports.print_report(
        report, name, ("line", "reference", "outcome", "cité", "status"),
        lambda d: (str(d.number), d.reference, d.outcome, d.cite_id or "", d.status or ""),
        ("imported", "completed", "unchanged", "refused"))
