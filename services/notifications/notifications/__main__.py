"""``python -m notifications`` serves; ``python -m notifications migrate`` migrates."""

from cites_runtime.cli import service_cli

from .app import definition
from .settings import NotificationsSettings

service_cli(definition, NotificationsSettings)()
