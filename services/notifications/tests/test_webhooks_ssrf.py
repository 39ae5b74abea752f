"""Webhooks cannot be turned against us (issue 22, item 4), on real PostgreSQL and a real
HTTP receiver: no subscription nor delivery reaches a private, loopback, link-local, CGNAT
or metadata address unless the test flag says so (refused in production); each attempt
resolves the host once and connects to that address (DNS rebinding); no proxy from the
environment; the signing secrets are sealed at rest under rotatable keys."""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from cryptography import x509
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from notifications.app import definition
from notifications.domain.webhooks import refused_address
from notifications.secret_box import SecretBox, reseal_secrets, secret_resealer
from notifications.settings import NotificationsSettings
from notifications.webhook_sender import deliver_due, pinned_address
from notifications_kit import LABELLED, a_cite_labelled, subscribe, verified
from pydantic import SecretStr, ValidationError

from cites_runtime.testing import AS_NATIONAL, FakeClock, ServiceUnderTest, in_memory
from cites_runtime.testing.http import Receiver, free_port, serve_app
from cites_runtime.testing.plugin import SettingsFactory

PUBLIC = "93.184.215.14"

REFUSED = [  # (address, what the refusal says)
    ("10.1.2.3", "private"), ("172.16.0.1", "private"), ("192.168.1.1", "private"),
    ("fc00::1", "private"), ("fd12:3456::1", "private"),
    ("127.0.0.1", "loopback"), ("127.8.9.10", "loopback"), ("::1", "loopback"),
    ("169.254.1.1", "link-local"), ("fe80::1", "link-local"),
    ("100.64.0.1", "CGNAT"), ("100.127.255.254", "CGNAT"),
    ("169.254.169.254", "metadata"), ("100.100.100.200", "metadata"),
    ("fd00:ec2::254", "metadata"),
    ("0.0.0.0", "unspecified"), ("::", "unspecified"),
    ("224.0.0.1", "multicast"), ("239.255.255.250", "multicast"), ("ff02::1", "multicast"),
    ("240.0.0.1", "reserved"), ("255.255.255.255", "reserved"),
    ("::ffff:127.0.0.1", "loopback"), ("::ffff:169.254.169.254", "metadata"),
    ("::ffff:100.100.100.200", "metadata"), ("::ffff:10.0.0.1", "private"),
    ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
    ("64:ff9b::a9fe:a9fe", "NAT64"),
]


@pytest.fixture
async def strict(service_settings: SettingsFactory, clock: FakeClock
                 ) -> AsyncIterator[ServiceUnderTest]:
    """The service as compose and make run start it: no test flag."""
    clock.now = datetime.now(UTC)
    s = service_settings(NotificationsSettings, send_interval_s=3600.0,
                         webhook_timeout_s=1.0, webhook_max_attempts=3)
    async with in_memory(definition, s) as running:
        yield running


@pytest.fixture
async def loose(service_settings: SettingsFactory, clock: FakeClock
                ) -> AsyncIterator[ServiceUnderTest]:
    """With the test flag: its receivers listen on loopback."""
    clock.now = datetime.now(UTC)
    s = service_settings(NotificationsSettings, send_interval_s=3600.0,
                         webhook_allow_private_hosts_for_tests=True, webhook_timeout_s=2.0)
    async with in_memory(definition, s) as running:
        yield running


class Resolver:
    """A DNS that answers what it is told, one answer per call (the last one repeated),
    and counts the calls."""

    def __init__(self, *answers: list[str]):
        self.answers = list(answers)
        self.calls: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def _literal(address: str) -> str:
    return f"[{address}]" if ":" in address else address


# --- the table ---------------------------------------------------------------------------


@pytest.mark.parametrize(("address", "why"), REFUSED)
def test_every_refused_range_is_named(address: str, why: str) -> None:
    assert why in (refused_address(ipaddress.ip_address(address)) or ""), address


@pytest.mark.parametrize("address", [PUBLIC, "8.8.8.8", "2606:4700:4700::1111",
                                     "100.63.255.255", "100.128.0.1"])
def test_public_addresses_are_not_refused(address: str) -> None:
    assert refused_address(ipaddress.ip_address(address)) is None


async def test_a_subscription_to_any_refused_address_is_a_422_without_the_test_flag(
    strict: ServiceUnderTest,
) -> None:
    urls = [f"http://{_literal(a)}:8080/x" for a, _ in REFUSED] + [
        "http://127.0.0.1:15432/", "http://169.254.169.254/latest/meta-data/",
        "http://localhost/x", "http://hooks.localhost/x"]
    for url in urls:
        refused = await strict.http.post("/webhooks", headers=AS_NATIONAL,
                                         json={"url": url, "event_types": [LABELLED]})
        assert refused.status_code == 422 and "outside systems" in refused.text, (url,
                                                                                 refused.text)
    assert await strict.runtime.pool.fetchval(
        "SELECT count(*) FROM webhook_subscriptions") == 0


@pytest.mark.parametrize(("address", "why"), REFUSED)
async def test_a_name_resolving_to_any_refused_address_is_refused_at_sending_time(
    address: str, why: str,
) -> None:
    resolver = Resolver([PUBLIC, address])  # ANY address refused refuses the name
    target, refusal = await pinned_address("https://hooks.partner.example/x", resolver,
                                           allow_private_for_tests=False)
    assert target is None and why in refusal and address in refusal


async def test_a_delivery_to_a_name_resolving_privately_fails_with_the_reason_unsent(
    strict: ServiceUnderTest,
) -> None:
    sub = await subscribe(strict, "https://hooks.partner.example/x")
    await a_cite_labelled(strict)
    assert await deliver_due(strict.runtime, Resolver(["169.254.169.254"])) == 1
    log = (await strict.http.get(f"/webhooks/{sub['subscription_id']}/deliveries",
                                 headers=AS_NATIONAL)).json()["items"]
    assert [(d["status"], d["attempts"]) for d in log] == [("failed", 1)]
    assert "cloud metadata (169.254.169.254)" in log[0]["last_error"]


# --- where the connection goes -------------------------------------------------------------


async def test_dns_rebinding_cannot_redirect_a_delivery_to_loopback(
    strict: ServiceUnderTest,
) -> None:
    """The name answers a public address when checked, then 127.0.0.1 (where a service of
    ours listens): the sender resolved once and connects to the public address only."""
    receiver, port = Receiver(), free_port()
    sub = await subscribe(strict, f"http://rebinding.partner.example:{port}/x")
    resolver = Resolver([PUBLIC], ["127.0.0.1"])
    async with serve_app(receiver, port=port):
        await a_cite_labelled(strict)
        assert await deliver_due(strict.runtime, resolver) == 1
    assert receiver.received == [] and resolver.calls == ["rebinding.partner.example"]
    (d,) = (await strict.http.get(f"/webhooks/{sub['subscription_id']}/deliveries",
                                  headers=AS_NATIONAL)).json()["items"]
    assert d["status"] == "pending" and "injoignable" in d["last_error"]  # retried


async def test_the_connection_goes_to_the_resolved_address_with_the_names_host_header(
    loose: ServiceUnderTest,
) -> None:
    """A name the system cannot resolve, answered once by the injected resolver: the
    receiver gets the request, so nothing resolved the name again."""
    receiver, port = Receiver(), free_port()
    await subscribe(loose, f"http://hooks.unresolvable.invalid:{port}/x")
    resolver = Resolver(["127.0.0.1"], ["10.255.255.1"])
    async with serve_app(receiver, port=port):
        await a_cite_labelled(loose)
        assert await deliver_due(loose.runtime, resolver) == 1
    ((headers, _),) = receiver.received
    assert headers["host"] == f"hooks.unresolvable.invalid:{port}"
    assert resolver.calls == ["hooks.unresolvable.invalid"]


async def test_a_redirect_is_not_followed(loose: ServiceUnderTest) -> None:
    elsewhere, port_elsewhere = Receiver(), free_port()
    receiver, port = Receiver(status=307, headers={
        "location": f"http://127.0.0.1:{port_elsewhere}/metadata"}), free_port()
    sub = await subscribe(loose, f"http://127.0.0.1:{port}/x")
    async with serve_app(receiver, port=port), serve_app(elsewhere, port=port_elsewhere):
        await a_cite_labelled(loose)
        assert await deliver_due(loose.runtime) == 1
    assert len(receiver.received) == 1 and elsewhere.received == []
    (d,) = (await loose.http.get(f"/webhooks/{sub['subscription_id']}/deliveries",
                                 headers=AS_NATIONAL)).json()["items"]
    assert (d["status"], d["last_status"]) == ("pending", 307)


async def test_proxy_variables_of_the_environment_are_ignored(
    loose: ServiceUnderTest, monkeypatch: pytest.MonkeyPatch,
) -> None:
    receiver, proxy = Receiver(), Receiver()
    port, proxy_port = free_port(), free_port()
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{proxy_port}")
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    await subscribe(loose, f"http://127.0.0.1:{port}/x")
    async with serve_app(receiver, port=port), serve_app(proxy, port=proxy_port):
        await a_cite_labelled(loose)
        assert await deliver_due(loose.runtime) == 1
    assert len(receiver.received) == 1 and proxy.received == []


def _tls_files(directory: Path, name: str) -> tuple[Path, Path, Path]:
    """(CA certificate, server certificate for ``name``, its key), written in
    ``directory``: a CA of the test's own, for a receiver speaking TLS."""
    now = datetime.now(UTC)

    def issued(subject: str, key: ec.EllipticCurvePrivateKey, issuer: str,
               signer: ec.EllipticCurvePrivateKey, ca: bool) -> x509.Certificate:
        builder = (x509.CertificateBuilder()
                   .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
                   .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - timedelta(minutes=5))
                   .not_valid_after(now + timedelta(hours=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if ca:
            builder = builder.add_extension(x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True,
                content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        else:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(
        ec.SECP256R1())
    ca = issued("test CA", ca_key, "test CA", ca_key, ca=True)
    leaf = issued(name, key, "test CA", ca_key, ca=False)
    paths = directory / "ca.pem", directory / "cert.pem", directory / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


@asynccontextmanager
async def _serve_tls(app: Any, port: int, cert: Path, key: Path) -> AsyncIterator[None]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None,
                                           access_log=False, lifespan="off",
                                           ssl_certfile=str(cert), ssl_keyfile=str(key)))
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), task.result()
        await asyncio.sleep(0.05)
    try:
        yield
    finally:
        server.should_exit = True
        await task


@pytest.mark.parametrize(("certified", "delivered"), [("hooks.partner.example", True),
                                                      ("someone.else.example", False)])
async def test_tls_is_verified_against_the_name_though_the_connection_goes_to_the_address(
    loose: ServiceUnderTest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    certified: str, delivered: bool,
) -> None:
    ca, cert, key = _tls_files(tmp_path, certified)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))  # the trust store: our test CA only
    receiver, port = Receiver(), free_port()
    sub = await subscribe(loose, f"https://hooks.partner.example:{port}/x")
    async with _serve_tls(receiver, port, cert, key):
        await a_cite_labelled(loose)
        assert await deliver_due(loose.runtime, Resolver(["127.0.0.1"])) == 1
    assert len(receiver.received) == (1 if delivered else 0)
    (d,) = (await loose.http.get(f"/webhooks/{sub['subscription_id']}/deliveries",
                                 headers=AS_NATIONAL)).json()["items"]
    assert d["status"] == ("delivered" if delivered else "pending"), d


# --- secrets at rest -----------------------------------------------------------------------


async def test_signing_secrets_are_not_readable_in_the_table(
    loose: ServiceUnderTest,
) -> None:
    sub = await subscribe(loose, f"http://127.0.0.1:{free_port()}/x")
    rotated = (await loose.http.post(f"/webhooks/{sub['subscription_id']}/rotate-secret",
                                     headers=AS_NATIONAL)).json()["secret"]
    row = await loose.runtime.pool.fetchval("SELECT w::text FROM webhook_subscriptions w")
    for secret in (sub["secret"], rotated):
        key = secret.removeprefix("whsec_")
        assert key not in row and "whsec_" not in row


async def test_a_new_key_in_front_still_opens_the_old_secrets_and_reseals_them(
    loose: ServiceUnderTest,
) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    runtime = loose.runtime
    runtime.settings = runtime.settings.model_copy(
        update={"webhook_secret_keys": SecretStr(old)})
    receiver, port = Receiver(), free_port()
    sub = await subscribe(loose, f"http://127.0.0.1:{port}/x")
    pool = runtime.pool
    sealed_by_old = await pool.fetchval("SELECT secret FROM webhook_subscriptions")
    runtime.settings = runtime.settings.model_copy(
        update={"webhook_secret_keys": SecretStr(f"{new},{old}")})
    async with serve_app(receiver, port=port):
        await a_cite_labelled(loose)
        assert await deliver_due(runtime) == 1  # opened with the old key
        assert await reseal_secrets(runtime) == 1
        assert await reseal_secrets(runtime) == 0
        runtime.settings = runtime.settings.model_copy(
            update={"webhook_secret_keys": SecretStr(new)})  # the old key removed
        await a_cite_labelled(loose)
        assert await deliver_due(runtime) == 1
    for headers, body in receiver.received:
        verified(sub["secret"], headers, body)
    resealed = await pool.fetchval("SELECT secret FROM webhook_subscriptions")
    assert resealed != sealed_by_old
    assert SecretBox([new]).open(resealed) == sub["secret"]


@pytest.fixture
async def loose_without_resealer(service_settings: SettingsFactory, clock: FakeClock
                                 ) -> AsyncIterator[ServiceUnderTest]:
    """As ``loose``, but its resealing job never runs by itself: the test calls it, so the
    job's first round cannot seal the secret before the test looks."""
    clock.now = datetime.now(UTC)
    s = service_settings(NotificationsSettings, send_interval_s=3600.0,
                         webhook_allow_private_hosts_for_tests=True, webhook_timeout_s=2.0)
    alone = dataclasses.replace(definition, background=[
        job for job in definition.background if job is not secret_resealer])
    async with in_memory(alone, s) as running:
        yield running


async def test_a_secret_stored_in_clear_before_sealing_is_sealed_at_start(
    loose_without_resealer: ServiceUnderTest,
) -> None:
    loose = loose_without_resealer
    receiver, port = Receiver(), free_port()
    sub = await subscribe(loose, f"http://127.0.0.1:{port}/x")
    pool = loose.runtime.pool
    await pool.execute("UPDATE webhook_subscriptions SET secret = $1", sub["secret"])
    async with serve_app(receiver, port=port):
        await a_cite_labelled(loose)
        assert await deliver_due(loose.runtime) == 1  # before the resealer's first round
        assert await reseal_secrets(loose.runtime) == 1
        assert not (await pool.fetchval("SELECT secret FROM webhook_subscriptions")
                    ).startswith("whsec_")
        await a_cite_labelled(loose)
        assert await deliver_due(loose.runtime) == 1
    for headers, body in receiver.received:
        verified(sub["secret"], headers, body)
    assert len(receiver.received) == 2


# --- production ----------------------------------------------------------------------------


def test_production_refuses_the_test_flag_and_a_missing_key(
        monkeypatch: pytest.MonkeyPatch) -> None:
    key = SecretStr(Fernet.generate_key().decode())
    dsn = SecretStr("postgresql://notifications:x@db.internal:5432/cites")
    # The platform's environment setting, read under the service's prefix.
    monkeypatch.setenv("NOTIFICATIONS_ENVIRONMENT", "production")
    monkeypatch.setenv("NOTIFICATIONS_OIDC_ISSUER", "https://sso.example.gouv.fr/realms/cites")
    monkeypatch.setenv("NOTIFICATIONS_KAFKA_USERNAME", "notifications")
    monkeypatch.setenv("NOTIFICATIONS_KAFKA_PASSWORD", "its-own")
    with pytest.raises(ValidationError, match="for tests"):
        NotificationsSettings(database_url=dsn, webhook_allow_private_hosts_for_tests=True,
                              webhook_secret_keys=key)
    for unset in (None, ""):  # "": what compose passes when the variable is not set
        with pytest.raises(ValidationError, match="NOTIFICATIONS_WEBHOOK_SECRET_KEYS"):
            NotificationsSettings(database_url=dsn, webhook_secret_keys=unset)
    with pytest.raises(ValidationError, match="Fernet keys"):
        NotificationsSettings(database_url=dsn, environment="development",
                              webhook_secret_keys=SecretStr("not-a-key"))
    assert NotificationsSettings(database_url=dsn,
                                 webhook_secret_keys=key).environment == "production"
    for elsewhere in ("development", "test"):  # the test flag is refused in production only
        assert NotificationsSettings(database_url=dsn, environment=elsewhere,
                                     webhook_allow_private_hosts_for_tests=True
                                     ).webhook_allow_private_hosts_for_tests
