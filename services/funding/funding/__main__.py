"""``python -m funding`` serves; ``python -m funding migrate`` migrates the schema."""

from cites_runtime.cli import service_cli

from .app import definition
from .settings import FundingSettings

service_cli(definition, FundingSettings)()
