"""How people are authenticated is chosen explicitly, and production takes no shortcut:
static tokens only in development and tests, an identity provider always in production;
a service that could authenticate nobody does not start."""

from __future__ import annotations

import pytest
import runtime_testapp as testapp
from pydantic import ValidationError
from typer.testing import CliRunner

from cites_runtime.app import build_app
from cites_runtime.cli import service_cli
from cites_runtime.settings import ServiceSettings

DSN = "postgresql://service:x@db.internal:5432/cites"
ISSUER = "https://sso.example.gouv.fr/realms/cites"


def test_production_refuses_static_tokens() -> None:
    with pytest.raises(ValidationError) as refused:
        ServiceSettings(database_url=DSN, environment="production", auth_mode="static",
                        oidc_issuer=ISSUER)
    assert "SERVICE_AUTH_MODE=static is for development and tests" in str(refused.value)


def test_production_refuses_to_start_without_an_identity_provider() -> None:
    with pytest.raises(ValidationError) as refused:
        ServiceSettings(database_url=DSN, environment="production")
    assert "set SERVICE_OIDC_ISSUER" in str(refused.value)


def test_production_refuses_a_tokens_file_even_beside_an_identity_provider() -> None:
    with pytest.raises(ValidationError) as refused:
        ServiceSettings(database_url=DSN, environment="production", oidc_issuer=ISSUER,
                        tokens={"left-over": {"role": "national"}})
    assert "static tokens are for development and tests" in str(refused.value)
    assert "left-over" not in str(refused.value)


def test_production_refuses_an_unauthenticated_kafka_connection() -> None:
    """Every listener of the platform's brokers authenticates: in production a service
    without its principal would be refused by the broker anyway — it says so at start."""
    with pytest.raises(ValidationError) as refused:
        ServiceSettings(database_url=DSN, environment="production", oidc_issuer=ISSUER)
    assert "set SERVICE_KAFKA_USERNAME and SERVICE_KAFKA_PASSWORD" in str(refused.value)
    with pytest.raises(ValidationError) as refused:
        ServiceSettings(database_url=DSN, environment="production", oidc_issuer=ISSUER,
                        kafka_username="labelling")
    assert "SERVICE_KAFKA_PASSWORD" in str(refused.value)


def test_production_with_its_identity_provider_loads() -> None:
    settings = ServiceSettings(database_url=DSN, environment="production",
                               oidc_issuer=ISSUER + "/", kafka_username="labelling",
                               kafka_password="its-own")
    assert (settings.auth_mode, settings.oidc_issuer) == ("oidc", ISSUER)
    assert settings.auth_refusal() is None


@pytest.mark.parametrize("environment", ["development", "test"])
def test_static_tokens_are_a_development_and_test_mode(environment: str) -> None:
    settings = ServiceSettings(database_url=DSN, environment=environment, auth_mode="static",
                               tokens={"t": {"role": "viewer"}})
    assert settings.auth_refusal() is None


def test_an_app_that_could_authenticate_nobody_is_not_built() -> None:
    no_issuer = ServiceSettings(database_url=DSN)  # oidc, by default, and no issuer
    tokens_ignored = ServiceSettings(database_url=DSN, oidc_issuer=ISSUER,
                                     tokens={"t": {"role": "viewer"}})
    with pytest.raises(RuntimeError, match="SERVICE_OIDC_ISSUER is not set"):
        build_app(testapp.definition, no_issuer)
    with pytest.raises(RuntimeError, match="read only with SERVICE_AUTH_MODE=static"):
        build_app(testapp.definition, tokens_ignored)


def test_a_service_without_its_identity_provider_exits_saying_what_to_set() -> None:
    cli = service_cli(testapp.definition, lambda **given: ServiceSettings(
        **{"database_url": DSN, **given}))
    started = CliRunner().invoke(cli, ["serve"])
    assert started.exit_code == 1
    assert started.output.strip().splitlines() == [
        "testapp: cannot start: SERVICE_AUTH_MODE is oidc but SERVICE_OIDC_ISSUER is not "
        "set: name the identity provider (e.g. http://127.0.0.1:18080/realms/cites), or, in "
        "development and tests, set SERVICE_AUTH_MODE=static with SERVICE_TOKENS"]
