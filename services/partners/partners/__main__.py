"""``python -m partners`` serves; ``migrate`` and ``dlq list|replay`` as every service."""

from cites_runtime.cli import service_cli

from .app import definition
from .settings import PartnersSettings

service_cli(definition, PartnersSettings)()
