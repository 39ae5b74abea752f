"""``python -m dashboard`` serves; ``python -m dashboard migrate`` migrates the schema."""

from cites_runtime.cli import service_cli

from .app import definition
from .settings import DashboardSettings

service_cli(definition, DashboardSettings)()
