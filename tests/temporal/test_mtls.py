"""mTLS to Temporal: the client presents its certificate and checks the frontend's against a private CA.

The dev server speaks plaintext only, so the test puts a TLS terminator in front of it on loopback that
requires a client certificate signed by the test CA (as Temporal Cloud and a self-hosted frontend with
``requireClientAuth`` do) and forwards the HTTP/2 bytes. Keys and certificates are generated per run.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.testing import WorkflowEnvironment

from billing.errors import ConfigurationError, TemporalUnreachableError
from billing.settings import TemporalSettings
from host.temporal import connect, connect_or_explain


@dataclass
class Issued:
    cert: Path
    key: Path


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool = False,
    server: bool = False,
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer[0] if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
    return builder.sign(issuer[1] if issuer else key, hashes.SHA256())


@dataclass
class Pki:
    ca: Path
    server: Issued
    client: Issued
    stranger: Issued  # signed by another CA


def _issue(directory: Path, name: str, ca: tuple[x509.Name, ec.EllipticCurvePrivateKey], server: bool) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _certificate(name, key, ca, server=server)
    issued = Issued(directory / f"{name}.pem", directory / f"{name}.key")
    issued.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key, issued.key)
    return issued


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = _certificate("billing test CA", ca_key, None, ca=True)
    (directory / "ca.pem").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    other_key = ec.generate_private_key(ec.SECP256R1())
    other = _certificate("another CA", other_key, None, ca=True)
    return Pki(
        ca=directory / "ca.pem",
        server=_issue(directory, "frontend", (ca_cert.subject, ca_key), server=True),
        client=_issue(directory, "worker", (ca_cert.subject, ca_key), server=False),
        stranger=_issue(directory, "stranger", (other.subject, other_key), server=False),
    )


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


@contextlib.asynccontextmanager
async def tls_frontend(pki: Pki, upstream: str) -> AsyncIterator[str]:
    """Loopback TLS listener that requires a client certificate from the test CA and forwards to ``upstream``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki.ca))
    context.load_cert_chain(str(pki.server.cert), str(pki.server.key))
    context.verify_mode = ssl.CERT_REQUIRED
    context.set_alpn_protocols(["h2"])
    host, port = upstream.rsplit(":", 1)
    tasks: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
        except OSError:
            writer.close()
            return
        for task in (
            asyncio.create_task(_pipe(reader, up_writer)),
            asyncio.create_task(_pipe(up_reader, writer)),
        ):
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
    try:
        yield f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _upstream(env: WorkflowEnvironment) -> str:
    return env.client.service_client.config.target_host


async def test_mtls_connects_with_the_client_certificate(dev_server_env: WorkflowEnvironment, pki: Pki) -> None:
    async with tls_frontend(pki, _upstream(dev_server_env)) as address:
        settings = TemporalSettings(
            address=address,
            tls_client_cert_file=pki.client.cert,
            tls_client_key_file=pki.client.key,
            tls_server_ca_file=pki.ca,
            tls_server_name="localhost",
        )
        client = await connect(settings)
        info = await client.workflow_service.get_system_info(GetSystemInfoRequest())
        assert info.server_version


@pytest.mark.parametrize("who", ["nobody", "stranger"])
async def test_a_frontend_requiring_mtls_refuses_other_clients(
    dev_server_env: WorkflowEnvironment, pki: Pki, who: str
) -> None:
    async with tls_frontend(pki, _upstream(dev_server_env)) as address:
        identity: dict[str, Path] = {} if who == "nobody" else {"tls_client_cert_file": pki.stranger.cert}
        if who == "stranger":
            identity["tls_client_key_file"] = pki.stranger.key
        settings = TemporalSettings(address=address, tls_server_ca_file=pki.ca, tls_server_name="localhost", **identity)
        with pytest.raises(TemporalUnreachableError, match=address):
            await connect_or_explain(settings, wait=0)  # the SDK's connect makes a first call


def test_a_certificate_without_its_key_names_the_missing_setting(pki: Pki) -> None:
    with pytest.raises(ConfigurationError) as info:
        TemporalSettings(tls_client_cert_file=pki.client.cert)
    assert info.value.setting == "BILLING_TEMPORAL_TLS_CLIENT_KEY_FILE"


def test_an_unreadable_file_names_its_setting(tmp_path: Path, pki: Pki) -> None:
    settings = TemporalSettings(tls_client_cert_file=tmp_path / "missing.pem", tls_client_key_file=pki.client.key)
    with pytest.raises(ConfigurationError) as info:
        settings.tls_config()
    assert info.value.setting == "BILLING_TEMPORAL_TLS_CLIENT_CERT_FILE"
    assert settings.tls_enabled()
