"""Taking over records of the programme's past, the same way in every service that owns
some of it (labelling its cités' history, funding their past money): a file or a request
body read into numbered **lines** (each a record, or what is wrong with it), each record
imported in a unit of work of its own — all or nothing per record —, in the order the
service says, and a **report** of every line. A dry run imports each line and rolls it back:
every check runs, nothing is kept, nothing is published.

Hand-written because it is the few lines of orchestration around each service's own import
function (validated records → one transaction each → a report); the parsing is pydantic's,
the table rich's.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

import typer
from pydantic import BaseModel, Field, ValidationError
from rich.console import Console
from rich.table import Table

from .cli import units_of_work
from .errors import DomainError, RuleBroken
from .settings import ServiceSettings
from .uow import Cause, UnitOfWork

R = TypeVar("R", bound=BaseModel)
T = TypeVar("T")

__all__ = ["AS_JSON", "DRY_RUN", "FORMAT", "Line", "Outcome", "Problem", "ProblemView",
           "Report", "command", "line", "print_report", "problems_of", "records_json",
           "refusal", "run"]


@dataclass(frozen=True, slots=True)
class Problem:
    """Why a line is refused: the field (dotted path in the record), the rule, in words."""

    field: str
    rule: str
    message: str


@dataclass(frozen=True, slots=True)
class Line(Generic[R]):
    """One record of the file: where it is (a JSON record's number from 1, a CSV line's
    number), its record when it reads as one, else what is wrong with it."""

    number: int
    reference: str | None
    record: R | None
    problems: tuple[Problem, ...] = ()


class ProblemView(BaseModel):
    """A :class:`Problem` in an API's import report."""

    field: str = Field(description="Where in the record (dotted path)")
    rule: str
    message: str

    @classmethod
    def of(cls, p: Problem) -> ProblemView:
        return cls(field=p.field, rule=p.rule, message=p.message)


class Outcome(Protocol):
    """What became of one line: the service's own dataclass, with at least these."""

    @property
    def number(self) -> int: ...

    @property
    def outcome(self) -> str: ...


D = TypeVar("D", bound=Outcome)


@dataclass(slots=True)
class Report(Generic[D]):
    dry_run: bool
    lines: list[D] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(1 for d in self.lines if d.outcome == outcome)

    @property
    def refused(self) -> list[D]:
        return [d for d in self.lines if d.outcome == "refused"]


def problems_of(exc: ValidationError) -> tuple[Problem, ...]:
    """A record's validation errors, one problem each."""
    return tuple(Problem(".".join(map(str, e["loc"])) or "record", e["type"], e["msg"])
                 for e in exc.errors(include_input=False, include_url=False))


def refusal(exc: DomainError) -> tuple[Problem, ...]:
    """A domain's refusal of a record: each broken rule, or the error itself."""
    if isinstance(exc, RuleBroken):
        return tuple(Problem(f.field, f.rule, f.message) for f in exc.failures)
    return (Problem("record", type(exc).__name__.lower(), exc.message),)


def line(number: int, raw: object, model: type[R]) -> Line[R]:
    """Record ``number`` of a file or body, read as a ``model`` or refused (its
    ``reference``, when it has one, names it in the report either way)."""
    reference = raw.get("reference") if isinstance(raw, dict) else None
    try:
        record = model.model_validate(raw)
    except ValidationError as exc:
        return Line(number, reference if isinstance(reference, str) else None, None,
                    problems_of(exc))
    return Line(number, getattr(record, "reference", None), record)


def records_json(text: str | bytes, key: str) -> list[Any]:
    """The records of ``{key: [record, …]}`` (or of the list alone). A file that is not such
    JSON at all raises ValueError."""
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if isinstance(data, dict) and set(data) == {key}:
        data = data[key]
    if not isinstance(data, list):
        raise ValueError(f'expected {{"{key}": [...]}} or a list of records')
    return data


class _Rehearsed(Exception):
    """Rolls a dry run's transaction back once its outcome is known."""

    def __init__(self, done: object):
        self.done = done


async def run(
        lines: Iterable[Line[R]],
        unit_of_work: Callable[[], AbstractAsyncContextManager[UnitOfWork]],
        apply: Callable[[UnitOfWork, R], Awaitable[T]],
        done: Callable[[Line[R], T | None, tuple[Problem, ...]], D], *,
        order: Callable[[R], Any] | None = None, dry_run: bool = False) -> Report[D]:
    """Import every line that reads as a record, each by ``apply`` in its own unit of work
    (whose cause must mark its events imported), records in ``order`` (then by line);
    ``done`` says what became of each line, in the report, in the file's order."""
    report: Report[D] = Report(dry_run)

    def key(item: Line[R]) -> tuple[bool, Any, int]:
        ordered = order(item.record) if order is not None and item.record is not None else 0
        return item.record is None, ordered, item.number

    for item in sorted(lines, key=key):
        if item.record is None:
            report.lines.append(done(item, None, item.problems))
            continue
        try:
            async with unit_of_work() as uow:
                result = await apply(uow, item.record)
                if dry_run:
                    raise _Rehearsed(result)
        except _Rehearsed as rehearsed:
            result = rehearsed.done  # type: ignore[assignment]
        except DomainError as exc:
            report.lines.append(done(item, None, refusal(exc)))
            continue
        report.lines.append(done(item, result, ()))
    report.lines.sort(key=lambda d: d.number)
    return report


def print_report(report: Report[D], name: str, columns: Sequence[str],
                 row: Callable[[D], Sequence[str]], outcomes: Sequence[str]) -> None:
    """The report as a table on the terminal (``row`` gives a line's cells, ``why`` last),
    then the count of each outcome."""
    console = Console()
    table = Table(title=f"{name}: {len(report.lines)} line(s)"
                  + (" — dry run, nothing kept" if report.dry_run else ""))
    for col in (*columns, "why"):
        table.add_column(col)
    for d in report.lines:
        problems: Sequence[Problem] = getattr(d, "problems", ())
        why = "\n".join(f"{p.field}: {p.message} ({p.rule})" for p in problems)
        table.add_row(*row(d), why)
    console.print(table)
    console.print(", ".join(f"{report.count(o)} {o}" for o in outcomes))


# --- the command line (``python -m <service> import FILE``) --------------------------------

FORMAT: Any = typer.Option(None, "--format", help="json or csv (default: the file's "
                           "extension)")
DRY_RUN: Any = typer.Option(False, "--dry-run", help="Check every line and report; keep "
                            "nothing, publish nothing")
AS_JSON: Any = typer.Option(False, "--json", help="The report as JSON")


def command(service: str, settings: ServiceSettings, file: Path, fmt: str | None,
            read: Callable[[str, str], Sequence[Line[R]]],
            take: Callable[[Sequence[Line[R]], Callable[[], AbstractAsyncContextManager[
                UnitOfWork]]], Awaitable[Report[D]]],
            show: Callable[[Report[D], str], None], *, as_json: bool) -> None:
    """A service's import command: ``file`` read (``fmt``, else its extension), its lines
    taken over beside the running service (units of work on its schema whose events are
    marked imported; its relay publishes them), the report shown (or as JSON); exits 1 when
    a line is refused, with a message when the file cannot be read."""
    try:
        lines = read(file.read_text(encoding="utf-8"), fmt or file.suffix.lstrip(".").lower())
    except (ValueError, UnicodeDecodeError) as exc:
        sys.exit(f"{service} import: {file}: {exc}")

    async def go() -> Report[D]:
        async with units_of_work(settings, lambda: Cause.new(imported=True)) as units:
            return await take(lines, units)

    report = asyncio.run(go())
    if as_json:
        print(json.dumps(asdict(report), indent=2, default=str))
    else:
        show(report, file.name)
    raise typer.Exit(1 if report.refused else 0)
