"""``python -m labelling`` serves; ``python -m labelling migrate`` migrates the schema."""

from cites_runtime.cli import service_cli

from .app import definition
from .settings import LabellingSettings

service_cli(definition, LabellingSettings)()
