"""The Kafka administrator's one-shot: topics, principals and their ACLs, from declarations.

``python -m cites_runtime.kafka_admin provision`` (the compose ``kafka-init`` job, the
native ``make run``, the tests' infrastructure) connects as the brokers' administrator
(``KAFKA_USERNAME``/``KAFKA_PASSWORD``, mechanism ``KAFKA_SASL_MECHANISM``) and

1. creates the catalogue's topics and each consumer's dead-letter topics as declared
   (:func:`cites_contracts.topics.apply`) — services never create topics themselves;
2. sets each service's SCRAM-SHA-512 credential from ``<SERVICE>_KAFKA_PASSWORD`` (run it
   again with a new password to rotate one);
3. makes each service's ACLs exactly :func:`cites_contracts.access.grants` of its
   declarations: missing ones are created, those no declaration gives any more deleted.

``reader NAME`` does the same for an outside team's principal (read-only, own groups).
ACLs and SCRAM credentials go through confluent-kafka's admin client: aiokafka's has
neither.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import json
import logging
import os
import secrets
import sys
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from cites_contracts.access import Grant, KafkaAccess, grants, principal, reader_grants
from cites_contracts.topics import apply as apply_topics
from cites_contracts.topics import declared_topics

__all__ = ["ADMIN", "admin_client", "apply_grants", "broker_answers", "broker_security",
           "load_declarations", "provision", "remove_principals", "set_passwords",
           "until_usable"]

ITERATIONS = 8192  # SCRAM-SHA-512's PBKDF2 rounds, as Kafka's own tools default to
ADMIN = "admin"
"""The brokers' administrator: declared in their configuration (SASL/PLAIN), so it exists
before any SCRAM credential does; the only super user. Services never connect as it."""


def broker_security(listeners: Sequence[str], admin_password: str, *,
                    controller: str = "CONTROLLER") -> dict[str, str]:
    """The brokers' authentication and authorisation, the same natively, in compose and in
    the tests' containers: every listener (``listeners`` and the ``controller``'s) is
    SASL_PLAINTEXT; clients use SCRAM-SHA-512, the administrator and the brokers among
    themselves PLAIN; the standard authoriser denies whatever no ACL allows. (The
    listeners' protocol map is the caller's: it names them.)"""
    if '"' in admin_password or "\\" in admin_password:
        raise ValueError("the administrator's password may not hold quotes or backslashes")
    plain = ("org.apache.kafka.common.security.plain.PlainLoginModule required "
             f'username="{ADMIN}" password="{admin_password}" '
             f'user_{ADMIN}="{admin_password}";')
    settings = {
        "sasl.enabled.mechanisms": "SCRAM-SHA-512,PLAIN",
        "sasl.mechanism.inter.broker.protocol": "PLAIN",
        "sasl.mechanism.controller.protocol": "PLAIN",
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users": f"User:{ADMIN}",
        "allow.everyone.if.no.acl.found": "false",
        f"listener.name.{controller.lower()}.sasl.enabled.mechanisms": "PLAIN",
        f"listener.name.{controller.lower()}.plain.sasl.jaas.config": plain,
    }
    for name in listeners:
        settings[f"listener.name.{name.lower()}.plain.sasl.jaas.config"] = plain
        settings[f"listener.name.{name.lower()}.scram-sha-512.sasl.jaas.config"] = (
            "org.apache.kafka.common.security.scram.ScramLoginModule required;")
    return settings


def broker_answers(access: KafkaAccess, *, create_topic: bool = True,
                   timeout: float = 20) -> str | None:
    """None when the broker answers ``access`` with a registered broker (and, with
    ``create_topic``, creates and deletes a topic through its advertised address), else
    why not: what the launcher and the tests' containers wait on. Runs in a thread of its
    own, so a caller inside a running event loop may call it."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    async def probe() -> None:
        admin = AIOKafkaAdminClient(**access.client_kwargs(),
                                    request_timeout_ms=int(timeout * 500))
        try:
            await admin.start()
            if not (await admin.describe_cluster()).get("brokers"):
                raise RuntimeError("no broker registered yet")
            if create_topic:
                topic = f"__cites_probe_{uuid.uuid4().hex[:12]}"
                created = await admin.create_topics([NewTopic(topic, 1, 1)])
                errors = [e for e in created.topic_errors if e[1] != 0]
                if errors:
                    raise RuntimeError(f"create topic: {errors}")
                await admin.delete_topics([topic])
        finally:
            await admin.close()

    quiet = logging.getLogger("aiokafka")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)
    try:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, asyncio.wait_for(probe(), timeout)).result()
    except Exception as exc:  # any failure means "not ready yet"
        return f"{type(exc).__name__}: {exc}"
    finally:
        quiet.setLevel(level)
    return None


def admin_client(access: KafkaAccess) -> Any:
    from confluent_kafka.admin import AdminClient
    # log_level 4: librdkafka's warnings and worse (its info lines went to stderr)
    return AdminClient({**access.librdkafka_config(), "client.id": "cites-kafka-admin",
                        "log_level": 4})


def _binding(grant: Grant) -> Any:
    from confluent_kafka.admin import (
        AclBinding,
        AclOperation,
        AclPermissionType,
        ResourcePatternType,
        ResourceType,
    )
    return AclBinding(ResourceType[grant.resource.upper()], grant.name,
                      ResourcePatternType[grant.pattern.upper()], f"User:{grant.principal}",
                      "*", AclOperation[grant.operation.upper()], AclPermissionType.ALLOW)


def _grant(binding: Any) -> Grant | None:
    """The grant an ACL is, or None when it is none we make (a deny, another host…)."""
    if binding.permission_type.name != "ALLOW" or binding.host != "*":
        return None
    resource, operation = binding.restype.name.lower(), binding.operation.name.lower()
    if resource not in ("topic", "group") or operation not in ("read", "write", "describe"):
        return None
    return Grant(binding.principal.removeprefix("User:"), resource, binding.name, operation,
                 binding.resource_pattern_type.name.lower())


def _acls_of(admin: Any, principal: str, timeout: float) -> list[Any]:
    from confluent_kafka.admin import (
        AclBindingFilter,
        AclOperation,
        AclPermissionType,
        ResourcePatternType,
        ResourceType,
    )
    query = AclBindingFilter(ResourceType.ANY, None,  # type: ignore[arg-type]
                             ResourcePatternType.ANY, f"User:{principal}",
                             None, AclOperation.ANY,  # type: ignore[arg-type]
                             AclPermissionType.ANY)
    return list(admin.describe_acls(query, request_timeout=timeout).result(timeout))


def apply_grants(access: KafkaAccess, wanted: Iterable[Grant], principals: Iterable[str], *,
                 timeout: float = 30.0) -> tuple[list[Grant], list[Grant]]:
    """Make the ACLs of ``principals`` exactly ``wanted``: (created, deleted)."""
    from confluent_kafka.admin import AclBindingFilter
    admin = admin_client(access)
    wanted = set(wanted)
    existing: dict[Grant, Any] = {}
    for who in set(principals):
        for binding in _acls_of(admin, who, timeout):
            if (grant := _grant(binding)) is not None:
                existing[grant] = binding
    create = sorted(wanted - set(existing))
    stale = sorted(set(existing) - wanted)
    if create:
        for future in admin.create_acls([_binding(g) for g in create],
                                        request_timeout=timeout).values():
            future.result(timeout)
    if stale:
        filters = [AclBindingFilter(b.restype, b.name, b.resource_pattern_type, b.principal,
                                    b.host, b.operation, b.permission_type)
                   for b in (existing[g] for g in stale)]
        for future in admin.delete_acls(filters, request_timeout=timeout).values():
            future.result(timeout)
    return create, stale


def set_passwords(access: KafkaAccess, passwords: Mapping[str, str], *,
                  timeout: float = 30.0) -> None:
    """Create or replace each principal's SCRAM-SHA-512 credential."""
    from confluent_kafka.admin import (
        ScramCredentialInfo,
        ScramMechanism,
        UserScramCredentialUpsertion,
    )
    if not passwords:
        return
    admin = admin_client(access)
    info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, ITERATIONS)
    upserts = [UserScramCredentialUpsertion(user, info, password.encode())
               for user, password in passwords.items()]
    for future in admin.alter_user_scram_credentials(upserts,
                                                     request_timeout=timeout).values():
        future.result(timeout)


def remove_principals(access: KafkaAccess, principals: Iterable[str], *,
                      timeout: float = 30.0) -> None:
    """Take principals down (an environment removed): their ACLs deleted, their password
    replaced by a random one nobody holds. Not deleted: Kafka 4.1 rebuilds the brokers'
    credentials at start by applying the metadata log's changes in hash order, and a
    deletion that empties a mechanism's map there drops every credential applied after it
    (ScramDelta.apply) — after a restart, nobody could sign in."""
    principals = list(principals)
    apply_grants(access, [], principals, timeout=timeout)
    set_passwords(access, {p: secrets.token_urlsafe(32) for p in principals},
                  timeout=timeout)


def load_declarations(files: Iterable[Path]) -> dict[str, dict[str, Any]]:
    """``consumes.json`` files by the service they declare."""
    found: dict[str, dict[str, Any]] = {}
    for path in files:
        declaration = json.loads(Path(path).read_text(encoding="utf-8"))
        found[declaration["service"]] = declaration
    return found


def service_grants(services: Sequence[str], declarations: Mapping[str, Mapping[str, Any]],
                   *, prefix: str = "") -> list[Grant]:
    """Every grant of ``services``, from the catalogue and their ``declarations``."""
    return [g for s in services
            for g in grants(s, declarations.get(s), prefix=prefix, consumers=declarations)]


async def until_usable(access: KafkaAccess, passwords: Mapping[str, str], *,
                       timeout: float = 30.0) -> None:
    """Wait until each principal can sign in with its password: a credential just set
    reaches the brokers through the metadata log, a moment after the controller took it."""
    deadline = asyncio.get_running_loop().time() + timeout
    # refusals are expected while it propagates: aiokafka would log each as an error
    quiet, level = logging.getLogger("aiokafka"), logging.getLogger("aiokafka").level
    quiet.setLevel(logging.CRITICAL)
    try:
        await _each_signs_in(access, passwords, deadline)
    finally:
        quiet.setLevel(level)


async def _each_signs_in(access: KafkaAccess, passwords: Mapping[str, str],
                         deadline: float) -> None:
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.errors import KafkaError

    for user, password in passwords.items():
        while True:
            client = AIOKafkaAdminClient(**access.as_user(user, password).client_kwargs(),
                                         request_timeout_ms=5000)
            try:
                await client.start()
                break
            except KafkaError:
                if asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(0.2)
            finally:
                await client.close()


async def provision(access: KafkaAccess, services: Sequence[str],
                    declarations: Mapping[str, Mapping[str, Any]], *, prefix: str = "",
                    passwords: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Topics, credentials (``passwords``, by service) and ACLs of ``services``' principals
    (:func:`cites_contracts.access.principal`: their names behind ``prefix``)."""
    topics = await apply_topics(access, declared_topics(sorted(declarations)), prefix=prefix)
    if passwords:
        named = {principal(s, prefix): p for s, p in passwords.items()}
        await asyncio.to_thread(set_passwords, access, named)
        await until_usable(access, named)
    created, deleted = await asyncio.to_thread(
        apply_grants, access, service_grants(services, declarations, prefix=prefix),
        [principal(s, prefix) for s in services])
    return {"topics": topics, "created": created, "deleted": deleted}


def _passwords(services: Iterable[str], environ: Mapping[str, str]) -> dict[str, str]:
    """``<SERVICE>_KAFKA_PASSWORD`` (or ``…_PASSWORD_FILE``) of each service."""
    found: dict[str, str] = {}
    for service in services:
        given = KafkaAccess.from_env(f"{service.upper()}_KAFKA_", environ).password
        if given:
            found[service] = given
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cites_runtime.kafka_admin",
                                     description=__doc__.splitlines()[0] if __doc__ else "")
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("provision", help="topics, service principals and their ACLs")
    up.add_argument("--services", required=True,
                    help="comma-separated: labelling,partners,funding,notifications,dashboard")
    up.add_argument("--consumes", nargs="*", type=Path, default=[],
                    help="the services' consumes.json files")
    up.add_argument("--prefix", default="", help="prefix of every topic and group name")
    up.add_argument("--require-passwords", action="store_true",
                    help="fail unless every service's <SERVICE>_KAFKA_PASSWORD is set")
    reader = commands.add_parser("reader", help="an outside team's read-only principal")
    reader.add_argument("name", help="the team's principal (its groups: <name>.…)")
    reader.add_argument("--password-file", type=Path, required=True)
    reader.add_argument("--topic", action="append", default=None,
                        help="a catalogue topic it may read (repeatable; default: all)")
    reader.add_argument("--prefix", default="")
    args = parser.parse_args(argv)
    access = KafkaAccess.from_env()
    try:
        if args.command == "reader":
            set_passwords(access, {args.name: args.password_file.read_text().strip()})
            created, deleted = apply_grants(
                access, reader_grants(args.name, prefix=args.prefix, topics=args.topic),
                [args.name])
            print(f"principal {args.name}: {len(created)} ACL(s) created, "
                  f"{len(deleted)} removed")
            return 0
        services = [s.strip() for s in args.services.split(",") if s.strip()]
        passwords = _passwords(services, os.environ)
        if args.require_passwords and (missing := sorted(set(services) - set(passwords))):
            print("no Kafka password for: " + ", ".join(
                f"{s.upper()}_KAFKA_PASSWORD" for s in missing), file=sys.stderr)
            return 2
        done = asyncio.run(provision(access, services, load_declarations(args.consumes),
                                     prefix=args.prefix, passwords=passwords))
    except Exception as exc:  # unreachable broker, refused request: say it, no traceback
        print(f"cannot provision Kafka at {access.bootstrap}: {type(exc).__name__}: {exc}",
              file=sys.stderr)
        return 2
    topics = done["topics"]
    for line in topics.drift:
        print(f"DRIFT {line}", file=sys.stderr)
    if topics.below_declared:
        print(f"BELOW DECLARED REPLICATION: {len(topics.below_declared)} topic(s) created "
              f"with {topics.brokers} replica(s): a development cluster", file=sys.stderr)
    print(f"{len(topics.created)} topic(s) created; credentials set for "
          f"{', '.join(sorted(passwords)) or 'nobody'}; {len(done['created'])} ACL(s) "
          f"created, {len(done['deleted'])} removed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
