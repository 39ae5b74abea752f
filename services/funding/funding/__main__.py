"""``python -m funding`` serves; ``python -m funding migrate`` migrates the schema;
``python -m funding import FILE`` takes over the money of the years before the platform
(docs/import.md)."""

from cites_runtime.cli import service_cli

from .app import definition
from .imports import import_command
from .settings import FundingSettings

service_cli(definition, FundingSettings, own={"import": import_command})()
