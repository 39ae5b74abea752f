"""``python -m labelling`` serves; ``python -m labelling migrate`` migrates the schema;
``python -m labelling import FILE`` takes over the programme's past (docs/import.md)."""

from cites_runtime.cli import service_cli

from .app import definition
from .imports import import_command
from .settings import LabellingSettings

service_cli(definition, LabellingSettings, own={"import": import_command})()
