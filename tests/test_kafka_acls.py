"""Kafka's trust boundary, on the real broker: every listener authenticates, and each
service's principal may do exactly what its declarations grant (cites_contracts.access),
applied by the administrator's one-shot (cites_runtime.kafka_admin). The forged
``TerritoryLabelled`` of issue 22 — produced to labelling.labels by anyone but labelling —
is refused by the broker itself."""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    GroupAuthorizationFailedError,
    KafkaError,
    TopicAuthorizationFailedError,
)
from funding.app import definition as funding
from labelling.app import definition as labelling
from notifications.app import definition as notifications
from partners.app import definition as partners

from cites_contracts.access import Grant, KafkaAccess, grants, principal, reader_grants
from cites_contracts.topics import dead_letter_topics
from cites_runtime.app import ServiceDefinition
from cites_runtime.kafka_admin import (
    admin_client,
    apply_grants,
    load_declarations,
    provision,
    remove_principals,
    set_passwords,
    until_usable,
)
from cites_runtime.testing import delete_topics
from cites_runtime.testing.infra import Infra

REPO = Path(__file__).resolve().parents[1]
DECLARATIONS = load_declarations(sorted(REPO.glob("services/*/consumes.json")))
SERVICES = ("labelling", "partners", "funding", "notifications", "dashboard")
DEFINITIONS: dict[str, ServiceDefinition] = {
    d.name: d for d in (labelling, partners, funding, notifications)}


# -- the grants, from the declarations -----------------------------------------------------
@pytest.mark.parametrize("name", sorted(DEFINITIONS))
def test_a_services_grants_cover_what_its_code_produces_and_consumes(name: str) -> None:
    """The declarations the ACLs come from and the code agree: what a service's code
    produces it may write, what its consumer subscribes to it may read under its group
    (a handler added without its consumes.json line would be refused by the broker)."""
    definition = DEFINITIONS[name]
    allowed = set(grants(name, DECLARATIONS.get(name), consumers=DECLARATIONS))
    for topic in definition.produces:
        assert Grant(name, "topic", topic.name, "write") in allowed, topic.name
    if definition.consumer is not None:
        for topic in definition.consumer.topics:
            assert Grant(name, "topic", topic, "read") in allowed, topic
        for dead in dead_letter_topics(definition.consumer.name):
            assert Grant(name, "topic", dead.name, "write") in allowed
        assert Grant(name, "group", definition.consumer.name, "read") in allowed


def test_only_the_owner_writes_a_topic_and_nobody_reads_undeclared() -> None:
    every = [g for s in SERVICES for g in grants(s, DECLARATIONS.get(s), consumers=DECLARATIONS)]
    writers = {g.name: set() for g in every if g.operation == "write"}
    for g in every:
        if g.operation == "write":
            writers[g.name].add(g.principal)
    assert writers["labelling.labels"] == {"labelling"}
    assert writers["partners.contacts"] == {"partners"}
    assert all(len(w) == 1 for w in writers.values()), writers
    # personal data: read only by whom declares it (notifications mails the contacts)
    readers = {g.principal for g in every if g.name == "partners.contacts"
               and g.operation == "read"}
    assert readers == {"notifications"}
    # the dashboard measures lag: it describes, it does not read what it does not consume
    assert Grant("dashboard", "group", "partners", "describe") in every
    assert Grant("dashboard", "topic", "partners.contacts", "read") not in every


def test_an_environments_principals_and_names_carry_its_prefix() -> None:
    found = grants("funding", DECLARATIONS["funding"], prefix="e2e1.")
    assert {g.principal for g in found} == {"e2e1.funding"} == {principal("funding", "e2e1.")}
    assert all(g.name.startswith("e2e1.") for g in found)
    reader = reader_grants("team-x", prefix="e2e1.")
    assert Grant("team-x", "group", "team-x.", "read", "prefixed") in reader
    with pytest.raises(ValueError, match="not topics of the catalogue"):
        reader_grants("team-x", topics=["funding.dlq"])


# -- on the broker ---------------------------------------------------------------------------
@dataclass
class Environment:
    prefix: str
    admin: KafkaAccess
    passwords: dict[str, str]

    def of(self, service: str) -> KafkaAccess:
        return self.admin.as_user(principal(service, self.prefix), self.passwords[service])

    def topic(self, name: str) -> str:
        return self.prefix + name


@pytest.fixture
async def environment(infra: Infra) -> AsyncIterator[Environment]:
    """The platform's principals and ACLs under a fresh prefix, as `make run` makes them."""
    prefix = f"acl{uuid.uuid4().hex[:8]}."
    passwords = {s: secrets.token_urlsafe(18) for s in SERVICES}
    done = await provision(infra.kafka, SERVICES, DECLARATIONS, prefix=prefix,
                           passwords=passwords)
    assert done["created"] and not done["deleted"]
    yield Environment(prefix, infra.kafka, passwords)
    await asyncio.to_thread(remove_principals, infra.kafka,
                            [principal(s, prefix) for s in SERVICES])
    await delete_topics(infra.kafka, prefix)


async def produce(access: KafkaAccess, topic: str, value: bytes = b"{}",
                  key: bytes = b"k", headers: list[tuple[str, bytes]] | None = None) -> None:
    producer = AIOKafkaProducer(**access.client_kwargs(), request_timeout_ms=10_000,
                                enable_idempotence=True, acks="all")
    try:
        await producer.start()
        await producer.send_and_wait(topic, value, key=key, headers=headers)
    finally:
        await producer.stop()


async def test_a_service_writes_its_own_topic_and_no_other(environment: Environment) -> None:
    labels = environment.topic("labelling.labels")
    await produce(environment.of("labelling"), labels)  # its own: accepted
    for intruder in ("partners", "funding", "notifications", "dashboard"):
        with pytest.raises(TopicAuthorizationFailedError):
            await produce(environment.of(intruder), labels)


async def test_without_credentials_or_with_a_wrong_password_nobody_gets_in(
        environment: Environment) -> None:
    anonymous = KafkaAccess(environment.admin.bootstrap)
    wrong = environment.admin.as_user(principal("labelling", environment.prefix), "guessed")
    for access in (anonymous, wrong):
        with pytest.raises(KafkaError):
            await asyncio.wait_for(produce(access, environment.topic("labelling.labels")), 30)


async def test_personal_data_is_read_only_by_whom_declares_it(
        environment: Environment) -> None:
    contacts = environment.topic("partners.contacts")
    await produce(environment.of("partners"), contacts, b'{"email": "x@example.org"}')

    async def read_as(service: str) -> int | str:
        """How many records it read, or how the broker refused: the fetch (a principal
        that may describe the topic) or the topic's metadata (one that may not even)."""
        consumer = AIOKafkaConsumer(**environment.of(service).client_kwargs(),
                                    enable_auto_commit=False)
        await consumer.start()
        try:
            tps = [TopicPartition(contacts, p) for p in range(3)]
            consumer.assign(tps)
            for tp in tps:
                consumer.seek(tp, 0)
            found = 0
            for _ in range(6):
                got = await consumer.getmany(*tps, timeout_ms=500)
                found += sum(len(r) for r in got.values())
            if contacts in consumer._client.cluster.unauthorized_topics:
                return "metadata refused"
            return found
        except TopicAuthorizationFailedError:
            return "fetch refused"
        finally:
            await consumer.stop()

    assert await read_as("notifications") == 1
    assert await read_as("dashboard") == "fetch refused"  # it describes, to measure lag
    for stranger in ("funding", "labelling"):
        assert await read_as(stranger) == "metadata refused"


async def test_a_service_cannot_move_another_services_offsets(
        environment: Environment) -> None:
    labels = environment.topic("labelling.labels")
    await produce(environment.of("labelling"), labels)
    consumer = AIOKafkaConsumer(labels, **environment.of("funding").client_kwargs(),
                                group_id=environment.topic("partners"),
                                enable_auto_commit=False)
    with pytest.raises(GroupAuthorizationFailedError):
        await consumer.start()
        await asyncio.wait_for(consumer.getmany(timeout_ms=5000), 20)
        await consumer.commit()
    await consumer.stop()


async def test_services_create_no_topic(environment: Environment) -> None:
    admin = AIOKafkaAdminClient(**environment.of("labelling").client_kwargs())
    await admin.start()
    try:
        created = await admin.create_topics([NewTopic(environment.topic("mine"), 1, 1)])
        assert [code for _, code, *_ in created.topic_errors] == [29]  # TOPIC_AUTHORIZATION
    finally:
        await admin.close()


async def test_a_password_is_rotated_by_provisioning_again(
        environment: Environment, infra: Infra) -> None:
    old = environment.of("dashboard")
    new_password = secrets.token_urlsafe(18)
    await provision(infra.kafka, ["dashboard"], DECLARATIONS, prefix=environment.prefix,
                    passwords={"dashboard": new_password})
    environment.passwords["dashboard"] = new_password
    admin = AIOKafkaAdminClient(**environment.of("dashboard").client_kwargs())
    await admin.start()
    await admin.close()
    with pytest.raises(KafkaError):
        stale = AIOKafkaAdminClient(**old.client_kwargs(), request_timeout_ms=5000)
        try:
            await asyncio.wait_for(stale.start(), 30)
        finally:
            await stale.close()


async def test_acls_no_declaration_gives_are_removed(environment: Environment,
                                                     infra: Infra) -> None:
    who = principal("funding", environment.prefix)
    extra = Grant(who, "topic", environment.topic("labelling.labels"), "write")
    created, _ = await asyncio.to_thread(apply_grants, infra.kafka,
                                         [*grants("funding", DECLARATIONS["funding"],
                                                  prefix=environment.prefix), extra], [who])
    assert created == [extra]
    await produce(environment.of("funding"), environment.topic("labelling.labels"))
    done = await provision(infra.kafka, ["funding"], DECLARATIONS, prefix=environment.prefix)
    assert done["deleted"] == [extra] and not done["created"]
    with pytest.raises(TopicAuthorizationFailedError):
        await produce(environment.of("funding"), environment.topic("labelling.labels"))


async def test_an_outside_teams_reader_reads_and_writes_nothing(
        environment: Environment, infra: Infra, tmp_path: Path) -> None:
    team = f"{environment.prefix}team-x"
    secret = tmp_path / "password"
    secret.write_text(secrets.token_urlsafe(18))
    env = {"KAFKA_BOOTSTRAP_SERVERS": infra.kafka.bootstrap,
           "KAFKA_USERNAME": infra.kafka.username or "",
           "KAFKA_PASSWORD": infra.kafka.password or "",
           "KAFKA_SASL_MECHANISM": infra.kafka.mechanism, "PATH": "/usr/bin:/bin"}
    done = await asyncio.to_thread(subprocess.run, [
        sys.executable, "-m", "cites_runtime.kafka_admin", "reader", team,
        "--password-file", str(secret), "--prefix", environment.prefix],
        env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    reader = infra.kafka.as_user(team, secret.read_text())
    try:
        await produce(environment.of("labelling"), environment.topic("labelling.labels"))
        consumer = AIOKafkaConsumer(environment.topic("labelling.labels"),
                                    **reader.client_kwargs(), group_id=f"{team}.audit",
                                    auto_offset_reset="earliest", enable_auto_commit=False)
        await consumer.start()
        try:
            got: list[Any] = []
            for _ in range(20):
                batch = await consumer.getmany(timeout_ms=500)
                got += [r for rs in batch.values() for r in rs]
                if got:
                    break
            assert len(got) == 1
            await consumer.commit()
        finally:
            await consumer.stop()
        # an idempotent producer asks for a producer id first: a principal that may
        # write nothing is refused that already
        with pytest.raises((TopicAuthorizationFailedError, ClusterAuthorizationFailedError)):
            await produce(reader, environment.topic("labelling.labels"))
    finally:
        await asyncio.to_thread(remove_principals, infra.kafka, [team])


def test_the_cli_refuses_to_provision_a_service_without_its_password(infra: Infra) -> None:
    env = {"KAFKA_BOOTSTRAP_SERVERS": infra.kafka.bootstrap,
           "KAFKA_USERNAME": infra.kafka.username or "",
           "KAFKA_PASSWORD": infra.kafka.password or "",
           "KAFKA_SASL_MECHANISM": infra.kafka.mechanism, "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "cites_runtime.kafka_admin", "provision",
                           "--services", "labelling", "--require-passwords",
                           "--prefix", f"acl{uuid.uuid4().hex[:8]}."],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "LABELLING_KAFKA_PASSWORD" in done.stderr



@pytest.mark.exclusive  # restarts the shared Kafka
async def test_principals_taken_down_keep_everyone_else_signed_in_across_a_restart(
        infra: Infra) -> None:
    """A principal taken down loses its ACLs and its password, but its credential is not
    deleted (Kafka 4.1 rebuilds the credentials at start with deletions applied in hash
    order: one that empties the map dropped every credential after it); after a broker
    restart, the others still sign in."""
    infra.require_stoppable("kafka")
    prefix = f"acl{uuid.uuid4().hex[:8]}."
    kept, gone = principal("kept", prefix), principal("gone", prefix)
    passwords = {kept: secrets.token_urlsafe(18), gone: secrets.token_urlsafe(18)}
    await asyncio.to_thread(set_passwords, infra.kafka, passwords)
    await until_usable(infra.kafka, passwords)
    await asyncio.to_thread(remove_principals, infra.kafka, [gone])
    admin = admin_client(infra.kafka)  # kept while its future runs
    described = admin.describe_user_scram_credentials([gone])
    assert described[gone].result(30) is not None  # disabled, not deleted

    async def signs_in(user: str) -> bool:
        client = AIOKafkaAdminClient(**infra.kafka.as_user(user, passwords[user])
                                     .client_kwargs(), request_timeout_ms=5000)
        try:
            await asyncio.wait_for(client.start(), 30)
            return True
        except (KafkaError, TimeoutError):
            return False
        finally:
            await client.close()

    try:
        await asyncio.to_thread(infra.stop, "kafka")
    finally:
        await asyncio.to_thread(infra.start, "kafka")
    assert await signs_in(kept)
    assert not await signs_in(gone)
    await asyncio.to_thread(remove_principals, infra.kafka, [kept])
