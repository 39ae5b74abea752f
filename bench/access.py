"""How the benchmarks reach Kafka: as the brokers' administrator (``infra.kafka``, from the
same resolution as the tests': the launcher's ``.local/infra.json``, the environment's
``KAFKA_*``, or a container). Their services get the same principal and create their
prefixed topics at start, as the tests' do: no service's ACLs name a benchmark's topics."""

from __future__ import annotations

from typing import Any

from cites_runtime.testing.infra import Infra


def kafka_settings(infra: Infra) -> dict[str, Any]:
    """A service's settings (keyword arguments) connecting as the administrator."""
    access = infra.kafka
    return {"kafka_bootstrap_servers": access.bootstrap, "kafka_username": access.username,
            "kafka_password": access.password, "kafka_sasl_mechanism": access.mechanism,
            "provision_topics_on_start": True}


def kafka_env(service: str, infra: Infra) -> dict[str, str]:
    """The same, as ``python -m <service>``'s environment (``<SERVICE>_KAFKA_…``)."""
    access, p = infra.kafka, service.upper() + "_"
    env = {f"{p}KAFKA_BOOTSTRAP_SERVERS": access.bootstrap,
           f"{p}KAFKA_SASL_MECHANISM": access.mechanism,
           f"{p}PROVISION_TOPICS_ON_START": "true"}
    if access.username is not None:
        env[f"{p}KAFKA_USERNAME"] = access.username
        env[f"{p}KAFKA_PASSWORD"] = access.password or ""
    return env
