"""Settings every service shares; each service subclasses with its own env prefix.

``class LabellingSettings(ServiceSettings): model_config = service_config("labelling")``
reads ``LABELLING_DATABASE_URL``, ``LABELLING_KAFKA_BOOTSTRAP_SERVERS`` and so on.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from datetime import UTC, tzinfo
from functools import cached_property
from typing import Any, Literal, Self
from urllib.parse import urlsplit
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from cites_contracts.access import KafkaAccess
from cites_contracts.topics import ROLL_NUDGE_S

from .actor import Role, commune_code
from .uow import Clock, utc_now

__all__ = ["GRANTABLE_ROLES", "AuthMode", "Environment", "ServiceSettings", "TokenGrant",
           "service_config"]

Environment = Literal["development", "test", "production"]
AuthMode = Literal["oidc", "static"]

GRANTABLE_ROLES = tuple(r.value for r in Role if r is not Role.SYSTEM)
"""The roles a token may grant: all but the platform's own (``system``)."""


class TokenGrant(BaseModel):
    """What a bearer token allows: a role, for préfectures and rectorats their département,
    for a partner's person the partner she acts for (a collège's principal: her collège),
    for a commune its INSEE code."""

    role: str
    departement: str | None = None
    partner_id: UUID | None = None
    insee_code: str | None = None
    subject: str = "anonymous"

    def refusal(self) -> str | None:
        """Why no token may grant this (None when it may): an unknown role, the
        platform's own role, or a préfecture without its département (it would act for,
        and list, every département)."""
        if self.role == Role.SYSTEM:
            return "role 'system' is the platform's own: no token grants it"
        if self.role not in GRANTABLE_ROLES:
            return f"role {self.role!r} is unknown (one of {', '.join(GRANTABLE_ROLES)})"
        if self.role == Role.PREFECTURE and not (self.departement or "").strip():
            return ("role 'prefecture' needs its département (\"departement\": \"69\"); "
                    "without one it would act for every département")
        if self.partner_id is not None and self.role != Role.PARTNER:
            return (f"partner_id names the partner a role 'partner' acts for: role "
                    f"{self.role!r} acts for no partner")
        return self._commune_refusal()

    def _commune_refusal(self) -> str | None:
        if self.insee_code is None:
            return None
        if self.role != Role.COMMUNE:
            return (f"insee_code names the commune a role 'commune' acts for: role "
                    f"{self.role!r} acts for no commune")
        if commune_code(self.insee_code) is None:
            return (f"insee_code {self.insee_code!r} is not an INSEE commune code (5 "
                    "characters of a known département, e.g. 69256, 2A004, 97611)")
        return None


def service_config(service: str) -> SettingsConfigDict:
    return SettingsConfigDict(
        env_prefix=f"{service.upper()}_",
        env_nested_delimiter="__",
        extra="ignore",
        # A refused value is not echoed: settings hold secrets (tokens, passwords), and
        # a start-up error lands in logs.
        hide_input_in_errors=True,
        # Secrets as files (compose or Kubernetes secrets): a file named like the variable,
        # e.g. /run/secrets/labelling_tokens; a variable of the environment wins over it.
        secrets_dir=os.environ.get("CITES_SECRETS_DIR") or None,
    )


def _token_named(position: int, grant: object) -> str:
    """A token as an error message may name it: its position and subject, never itself."""
    subject = grant.get("subject") if isinstance(grant, Mapping) else \
        getattr(grant, "subject", None)
    return f"token #{position} (subject {subject if isinstance(subject, str) else 'anonymous'!r})"


def _grant_errors(given: object, exc: ValidationError) -> str:
    """``exc``'s errors with each token replaced by :func:`_token_named` (an error's
    location starts with the token, which is a secret)."""
    if not isinstance(given, Mapping):
        return "tokens must map each token to its grant ({\"<token>\": {\"role\": ...}})"
    positions = {token: n for n, token in enumerate(given, 1)}
    said = []
    for error in exc.errors(include_input=False):
        token, *field = error["loc"] or ("",)
        where = _token_named(positions[token], given[token]) if token in positions \
            else "a token"
        said.append(f"{where}: {'.'.join(map(str, field)) or 'grant'}: {error['msg']}")
    return "; ".join(said)


class ServiceSettings(BaseSettings):
    model_config = service_config("service")

    service_name: str = "service"
    # This service's own role (<SERVICE>_DATABASE_URL): no default, so that a service never
    # falls back on a superuser's DSN.
    database_url: SecretStr
    db_schema: str = Field("public", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    db_pool_min: int = 1
    db_pool_max: int = 10

    kafka_bootstrap_servers: str = "127.0.0.1:19092"
    # This service's principal on the brokers (<SERVICE>_KAFKA_USERNAME, _KAFKA_PASSWORD):
    # its ACLs let it write only its own topics and read what its consumes.json declares
    # (cites_contracts.access). Unset: an unauthenticated connection, which the platform's
    # brokers refuse (every listener is SASL).
    kafka_username: str | None = None
    kafka_password: SecretStr | None = None
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "PLAIN"] = "SCRAM-SHA-512"
    kafka_tls: bool = False
    kafka_ca_file: str | None = None
    # Topics are created by the administrator's one-shot (python -m
    # cites_runtime.kafka_admin provision), never by a service: its principal may not.
    # Tests, whose services connect as the administrator, create their prefixed topics so.
    provision_topics_on_start: bool = False
    # Prepended to every topic and consumer-group name: lets environments (or tests)
    # share one cluster without seeing each other's events.
    topic_prefix: str = ""

    http_host: str = "127.0.0.1"
    http_port: int = 8000
    # Share the API port with the service's other replicas (SO_REUSEPORT: each process binds
    # the same port and the kernel spreads the connections among them), so that one port
    # answers while any replica lives. Off by default: a second process on the port is then
    # refused, which is what catches two platforms given the same ports by mistake.
    http_reuse_port: bool = False
    # When set, /health/live, /health/ready, /metrics, /docs, /redoc, /openapi.json and
    # /asyncapi.json are served on this port only (what an orchestrator probes and
    # Prometheus scrapes, kept off the port users reach); unset, on the API port.
    ops_port: int | None = Field(None, ge=0, le=65535)
    ops_host: str | None = None
    """Where the ops port listens; unset, ``http_host``."""
    # Largest request body read (bytes); a larger one is a 413, refused before reading
    # more than this (and before authentication).
    http_max_body_bytes: int = Field(1024 * 1024, gt=0)

    # Where the platform runs. production refuses what is for development and tests
    # (static tokens, test flags, development keys) and requires an identity provider.
    environment: Environment = "development"
    # How people are authenticated: "oidc", access tokens (JWT) of the identity provider
    # at oidc_issuer; "static", the bearer tokens of <SERVICE>_TOKENS (development and
    # tests only: refused when environment is production).
    auth_mode: AuthMode = "oidc"
    # The identity provider (OpenID Connect), e.g. http://127.0.0.1:18080/realms/cites:
    # tokens must name it as their issuer (iss), exactly.
    oidc_issuer: str | None = None
    # The audience (aud) a token must name: the services' client at the provider.
    oidc_audience: str = "cites-api"
    # Where the provider's signing keys are; unset, the jwks_uri of
    # <oidc_issuer>/.well-known/openid-configuration (set it when the services reach the
    # provider at another address than the issuer's, as in docker compose).
    oidc_jwks_url: str | None = None
    # Clock skew tolerated on exp, nbf and iat (seconds).
    oidc_leeway_s: float = Field(10.0, ge=0, le=300)
    # Where the programme roles are in a token (a dotted path to a list of names; Keycloak:
    # realm_access.roles), the préfecture's or rectorat's département (a string claim),
    # the partner a partner's person acts for (a UUID claim: a collège's principal, her
    # collège) and a commune's INSEE code (a string claim: 69256, 2A004, 97611).
    oidc_roles_claim: str = "realm_access.roles"
    oidc_departement_claim: str = "departement"
    oidc_partner_claim: str = "partner_id"
    oidc_commune_claim: str = "insee_code"
    # token -> grant (auth_mode static only); e.g.
    # LABELLING_TOKENS='{"dev-national": {"role": "national"}}'. A grant no token may hold
    # (see TokenGrant.refusal) stops the service at start-up.
    tokens: dict[str, TokenGrant] = Field(default_factory=dict)

    log_level: str = "INFO"
    log_json: bool = True

    # Traces (cites_runtime.tracing): exported by OTLP over HTTP to this collector (its
    # base URL, e.g. http://127.0.0.1:4318, or the full traces URL); unset, OpenTelemetry's
    # standard OTEL_EXPORTER_OTLP_ENDPOINT (what make run and compose set); neither, tracing
    # is off (no provider, no span).
    otlp_endpoint: str | None = Field(
        default_factory=lambda: os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"))
    # Share of new traces recorded (a request's, a consumer batch's); a span with a
    # parent follows its parent's decision (parent-based), so a trace is whole or absent.
    trace_sample_ratio: float = Field(1.0, ge=0.0, le=1.0)
    trace_exporter: Any = Field(default=None, exclude=True)
    """A span exporter to hand spans to instead of OTLP (tests: ``InMemorySpanExporter``,
    read once the service has stopped); turns tracing on like ``otlp_endpoint``."""

    relay_enabled: bool = True
    relay_batch_size: int = 2000
    relay_poll_interval_s: float = 1.0
    relay_retention_hours: float = 168.0
    # Readiness fails when events wait longer than this while nothing is published
    # (and the broker answers: a broker outage alone keeps the API in service).
    relay_stall_s: float = Field(60.0, gt=0)
    # How often the relay appends a roll nudge to each partition of the personal-data
    # topics it produces (cites_contracts.topics.ERASURE_PROMISE: the promise assumes 300).
    relay_roll_nudge_s: float = Field(ROLL_NUDGE_S, gt=0)
    # Largest event (key + value + headers) a unit of work may emit: below the producer's
    # and the broker's 1 MiB, so the broker never refuses one of ours for its size.
    event_max_bytes: int = Field(512 * 1024, ge=1024, le=1_000_000)

    consumers_enabled: bool = True
    consumer_batch_size: int = 500
    consumer_max_attempts: int = 5
    # Kafka takes a consumer's partitions away when it does not poll for this long: a
    # batch retried in place gives its records back (rewound) after half of it, and polls.
    consumer_max_poll_interval_s: float = Field(300.0, ge=2)
    # Inbox rows older than this are purged: the consumer positions still stop a late
    # redelivery of their events (stale), so nothing is applied twice after the purge.
    inbox_retention_hours: float = Field(168.0, gt=0)

    # /health/live fails when a loop of the process (consumer, relay, a background job)
    # died, or made no progress for this long while work waited (a wedged batch).
    liveness_window_s: float = Field(60.0, gt=0)

    migrate_on_start: bool = False

    # Civil dates of the programme (label periods, budget years) are those of Paris.
    timezone: str = "Europe/Paris"
    clock: Clock = Field(default=utc_now, exclude=True)
    """Where units of work read the time (``uow.now``); tests give a fake clock."""

    @cached_property
    def zone(self) -> tzinfo:
        try:
            return ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            # A slim image may lack the tz database: UTC dates are off by at most a day.
            logging.getLogger(__name__).warning("time zone %r unknown, using UTC", self.timezone)
            return UTC

    @model_validator(mode="before")
    @classmethod
    def _database_url_given(cls, given: Any) -> Any:
        if isinstance(given, Mapping) and not given.get("database_url"):
            prefix = str(cls.model_config.get("env_prefix", "")).upper()
            raise ValueError(f"{prefix}DATABASE_URL is not set: give this service its own "
                             "role's DSN (postgresql://<role>:<password>@<host>:5432/cites)")
        return given

    @field_validator("otlp_endpoint")
    @classmethod
    def _an_otlp_url(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        v = v.strip()
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{v!r} is not an http(s) URL (OTLP over HTTP: "
                             "http://<collector>:4318)")
        return v

    @field_validator("trace_exporter")
    @classmethod
    def _a_span_exporter(cls, v: Any) -> Any:
        if v is not None and not callable(getattr(v, "export", None)):
            raise ValueError("trace_exporter must be a span exporter (given in code, "
                             "never from the environment)")
        return v

    @field_validator("oidc_issuer", "oidc_jwks_url")
    @classmethod
    def _an_http_url(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        v = v.strip().rstrip("/")
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{v!r} is not an http(s) URL")
        return v

    @model_validator(mode="after")
    def _production_signs_in_through_a_provider(self) -> Self:
        """In production people sign in through the identity provider: static tokens are
        refused, and so is a missing issuer; and the service signs in to Kafka as its own
        principal."""
        prefix = str(self.model_config.get("env_prefix", "")).upper()
        if self.environment != "production":
            return self
        if self.auth_mode == "static":
            raise ValueError(f"{prefix}AUTH_MODE=static is for development and tests: "
                             f"refused when {prefix}ENVIRONMENT is production (set "
                             f"{prefix}AUTH_MODE=oidc and {prefix}OIDC_ISSUER)")
        if self.oidc_issuer is None:
            raise ValueError(f"{prefix}ENVIRONMENT is production: set {prefix}OIDC_ISSUER, "
                             "the identity provider whose tokens the service accepts")
        if self.tokens:
            raise ValueError(f"{prefix}TOKENS is set but {prefix}ENVIRONMENT is production: "
                             "static tokens are for development and tests")
        if not self.kafka_username or self.kafka_password is None:
            raise ValueError(f"{prefix}ENVIRONMENT is production: set {prefix}KAFKA_USERNAME "
                             f"and {prefix}KAFKA_PASSWORD, the service's own principal (the "
                             "brokers authenticate every client)")
        return self

    def auth_refusal(self) -> str | None:
        """Why this service cannot authenticate anyone as configured (it then refuses to
        serve), or None. Checked when the app is built, not when settings are read: the
        command-line tools (migrate, dlq…) authenticate nobody."""
        prefix = str(self.model_config.get("env_prefix", "")).upper()
        if self.auth_mode == "oidc" and self.oidc_issuer is None:
            return (f"{prefix}AUTH_MODE is oidc but {prefix}OIDC_ISSUER is not set: name the "
                    "identity provider (e.g. http://127.0.0.1:18080/realms/cites), or, in "
                    f"development and tests, set {prefix}AUTH_MODE=static with "
                    f"{prefix}TOKENS")
        if self.auth_mode == "oidc" and self.tokens:
            return (f"{prefix}TOKENS is set but {prefix}AUTH_MODE is oidc: static tokens are "
                    f"read only with {prefix}AUTH_MODE=static (development and tests)")
        return None

    @field_validator("tokens", mode="wrap")
    @classmethod
    def _tokens_grant_what_they_may(cls, given: Any, handler: ValidatorFunctionWrapHandler
                                    ) -> dict[str, TokenGrant]:
        try:
            tokens: dict[str, TokenGrant] = handler(given)
        except ValidationError as exc:
            raise ValueError(_grant_errors(given, exc)) from None
        refused = [f"{_token_named(n, grant)}: {why}"
                   for n, grant in enumerate(tokens.values(), 1)
                   if (why := grant.refusal()) is not None]
        if refused:
            raise ValueError("; ".join(refused))
        return tokens

    @field_validator("topic_prefix")
    @classmethod
    def _prefix_is_clean(cls, v: str) -> str:
        if v and not v.replace(".", "").replace("-", "").replace("_", "").isalnum():
            raise ValueError("topic_prefix may hold only letters, digits, '.', '-' and '_'")
        return v

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    @property
    def kafka(self) -> KafkaAccess:
        """How this service reaches Kafka: every client it builds starts from this."""
        return KafkaAccess(
            self.kafka_bootstrap_servers, self.kafka_username,
            self.kafka_password.get_secret_value() if self.kafka_password else None,
            self.kafka_sasl_mechanism, self.kafka_tls, self.kafka_ca_file)

    @property
    def dsn(self) -> str:
        return self.database_url.get_secret_value()
