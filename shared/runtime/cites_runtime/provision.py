"""``python -m cites_runtime.provision``: each service's login role and schema, over SQL.

The one-shot job a deployment runs before the services' migrations (``docker compose``'s
``db-init``; a Kubernetes Job), against any PostgreSQL — a container's or a managed one:
nothing relies on an image's init scripts. Idempotent: a role that exists gets the
password given now (rotation = run it again with new ones).

Environment: ``CITES_ADMIN_DATABASE_URL`` (a role that may create roles and schemas),
``CITES_SERVICES`` (comma-separated names), and ``<SERVICE>_DB_PASSWORD`` for each.
"""

from __future__ import annotations

import asyncio
import os
import sys

import asyncpg

from .db import provision_service_schema, quote_ident

__all__ = ["main", "provision"]


async def provision(admin_dsn: str, passwords: dict[str, str]) -> None:
    """One role and one schema per service (``passwords``: name → its role's password);
    each role can use only its schema (:func:`~cites_runtime.db.provision_service_schema`)."""
    admin = await asyncpg.connect(admin_dsn)
    try:
        for service, password in passwords.items():
            await provision_service_schema(admin, service, service, password)
            # A role made earlier keeps its password otherwise: this run's is the one.
            await admin.execute(f"ALTER ROLE {quote_ident(service)} PASSWORD "
                                + "'" + password.replace("'", "''") + "'")
    finally:
        await admin.close()


def main() -> int:
    admin = os.environ.get("CITES_ADMIN_DATABASE_URL")
    services = [s.strip() for s in os.environ.get("CITES_SERVICES", "").split(",") if s.strip()]
    missing = [f"{s.upper()}_DB_PASSWORD" for s in services
               if not os.environ.get(f"{s.upper()}_DB_PASSWORD")]
    if not admin or not services or missing:
        print("provision: set CITES_ADMIN_DATABASE_URL, CITES_SERVICES and a password for "
              "each service" + (f" (missing: {', '.join(missing)})" if missing else ""),
              file=sys.stderr)
        return 2
    asyncio.run(provision(admin, {s: os.environ[f"{s.upper()}_DB_PASSWORD"]
                                  for s in services}))
    print(f"provisioned: {', '.join(services)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
