"""Taking over the money of the years before the platform: per cité and budget year, what
its dotation committed and paid (``docs/import.md``), read from a JSON or CSV file, each
cité in a transaction of its own (:func:`funding.service.import_past_money`), with the
runtime's report of every line (:mod:`cites_runtime.imports`). Used by the command line
(``python -m funding import FILE``) and the national coordination's ``POST /imports``.
Run it after labelling's import of the same cités: funding knows them by the reference
their label carried.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import sys
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import asdict, dataclass
from pathlib import Path

import typer

from cites_runtime import imports
from cites_runtime.cli import settings_or_exit, units_of_work
from cites_runtime.imports import Line, Problem
from cites_runtime.uow import Cause, UnitOfWork

from . import service
from .domain.past import PastMoneyRecord

__all__ = ["CSV_COLUMNS", "Done", "Report", "import_command", "line", "read", "run"]


@dataclass(frozen=True, slots=True)
class Done:
    number: int
    reference: str
    cite_id: str | None
    outcome: str
    """imported (years taken over), unchanged — or refused (``problems`` say why)."""
    years: int = 0
    """The years this import took over."""
    problems: tuple[Problem, ...] = ()


Report = imports.Report[Done]

CSV_COLUMNS = ("reference", "year", "programme", "dotation", "committed", "paid")
"""The CSV file's columns (a header line names them, in any order): one line per cité,
year and programme, amounts in cents; the lines of one reference make its record."""


_NUMBERS = {"year", "dotation", "committed", "paid"}
"""Columns read as whole numbers (what is not one stays text, and its line is refused)."""


def line(number: int, raw: object) -> Line[PastMoneyRecord]:
    return imports.line(number, raw, PastMoneyRecord)


def _read_csv(text: str) -> list[Line[PastMoneyRecord]]:
    """The lines of each reference gathered into its record, numbered by its first line."""
    reader = csv.DictReader(io.StringIO(text))
    missing = {"reference", "year", "committed", "paid"} - set(reader.fieldnames or ())
    if missing:
        raise ValueError(f"the CSV header lacks {', '.join(sorted(missing))} (columns: "
                         f"{', '.join(CSV_COLUMNS)})")
    records: dict[str, tuple[int, list[dict[str, str | int]]]] = {}
    for row in reader:
        cells: dict[str, str | int] = {
            k: int(v) if k in _NUMBERS and v.strip().isdigit() else v.strip()
            for k, v in row.items() if k is not None and v and v.strip()}
        reference = str(cells.pop("reference", ""))
        records.setdefault(reference, (reader.line_num, []))[1].append(cells)
    return [line(number, {"reference": reference, "years": years})
            for reference, (number, years) in records.items()]


def read(text: str, fmt: str) -> list[Line[PastMoneyRecord]]:
    """The lines of a ``json`` file (``{"cites": [record, …]}``) or a ``csv`` one."""
    if fmt == "json":
        return [line(n, raw) for n, raw in enumerate(imports.records_json(text, "cites"),
                                                     start=1)]
    if fmt == "csv":
        return _read_csv(text)
    raise ValueError(f"unknown format {fmt!r}: json or csv")


def _done(item: Line[PastMoneyRecord], done: service.PastTaken | None,
          problems: tuple[Problem, ...]) -> Done:
    if done is None:
        return Done(item.number, item.reference or "", None, "refused", problems=problems)
    return Done(item.number, done.reference, done.cite_id, done.outcome, done.years)


async def run(lines: Sequence[Line[PastMoneyRecord]],
              unit_of_work: Callable[[], AbstractAsyncContextManager[UnitOfWork]], *,
              dry_run: bool = False) -> Report:
    """Take over every line that reads as a record, each cité in its own unit of work
    (whose cause must mark its events imported); report every line."""
    return await imports.run(lines, unit_of_work, service.import_past_money, _done,
                             dry_run=dry_run)


def import_command(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True,
                                help="The cités' past money: .json or .csv (docs/import.md)"),
    fmt: str | None = typer.Option(None, "--format", help="json or csv (default: the "
                                   "file's extension)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check every line and report; "
                                 "keep nothing, publish nothing"),
    as_json: bool = typer.Option(False, "--json", help="The report as JSON"),
) -> None:
    """Take over what the cités' dotations of the years before the platform committed and
    paid: marked imported, idempotent, all or nothing per cité; exits 1 when a line is
    refused."""
    from .settings import FundingSettings

    s = settings_or_exit("funding", FundingSettings)
    try:
        lines = read(file.read_text(encoding="utf-8"), fmt or file.suffix.lstrip(".").lower())
    except (ValueError, UnicodeDecodeError) as exc:
        sys.exit(f"funding import: {file}: {exc}")

    async def go() -> Report:
        async with units_of_work(s, lambda: Cause.new(imported=True)) as units:
            return await run(lines, units, dry_run=dry_run)

    report = asyncio.run(go())
    if as_json:
        print(json.dumps(asdict(report), indent=2, default=str))
    else:
        imports.print_report(
            report, file.name, ("line", "reference", "outcome", "cité", "years"),
            lambda d: (str(d.number), d.reference, d.outcome, d.cite_id or "", str(d.years)),
            ("imported", "unchanged", "refused"))
    raise typer.Exit(1 if report.refused else 0)

