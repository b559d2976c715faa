"""TLS: autobahn over wss and RawSocket-over-TLS with a throwaway CA, server and
client certificate made by each test (the `cryptography` package, which autobahn
itself depends on), and TLS client certificate authentication (`auth.tls`).

These need the gateway itself, so they are skipped (by name) when
WAMP_TEST_ROUTER_URL points the suite at another router.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import os
import ssl
from pathlib import Path

import pytest
from autobahn.wamp.types import PublishOptions
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gateway_process import start_gateway, stop_gateway
from transport_clients import connect_rawsocket, connect_websocket
from wampclient import JoinRefused, within

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("WAMP_TEST_ROUTER_URL")),
    reason="tests the gateway's own TLS transports; WAMP_TEST_ROUTER_URL is set",
)

CLIENT_CN = "py-sensor-1"

REALM = """
[[realms]]
name = "realm1"
[[realms.roles]]
name = "anonymous"
permissions = [{ uri = "", match = "prefix", call = true, register = true, publish = true, subscribe = true }]
[[realms.roles]]
name = "device"
permissions = [{ uri = "com.example.", match = "prefix", call = true, register = true, publish = true, subscribe = true }]
"""


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _issue(subject: str, key, issuer_name: x509.Name, issuer_key, *, ca=False, eku=None, san=None):
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if ca:
        usage = dict.fromkeys(
            ["content_commitment", "key_encipherment", "data_encipherment", "key_agreement",
             "encipher_only", "decipher_only"],
            False,
        )
        builder = builder.add_extension(
            x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, **usage), critical=True
        )
    else:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
        )
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(path: Path, cert=None, key=None) -> None:
    if cert is not None:
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    else:
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )


class Pki:
    """ca.pem, server.pem/server.key (localhost, 127.0.0.1), client.pem/client.key (CN CLIENT_CN) in `directory`."""

    def __init__(self, directory: Path):
        self.dir = directory
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = _issue("gateway test CA", ca_key, _name("gateway test CA"), ca_key, ca=True)
        server_key = ec.generate_private_key(ec.SECP256R1())
        san = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        server = _issue("localhost", server_key, ca.subject, ca_key, eku=[ExtendedKeyUsageOID.SERVER_AUTH], san=san)
        client_key = ec.generate_private_key(ec.SECP256R1())
        client = _issue(CLIENT_CN, client_key, ca.subject, ca_key, eku=[ExtendedKeyUsageOID.CLIENT_AUTH])
        _write(directory / "ca.pem", cert=ca)
        _write(directory / "server.pem", cert=server)
        _write(directory / "server.key", key=server_key)
        _write(directory / "client.pem", cert=client)
        _write(directory / "client.key", key=client_key)

    def context(self, with_client_cert: bool = False) -> ssl.SSLContext:
        """A client context trusting only the test CA."""
        ctx = ssl.create_default_context(cafile=str(self.dir / "ca.pem"))
        if with_client_cert:
            ctx.load_cert_chain(str(self.dir / "client.pem"), str(self.dir / "client.key"))
        return ctx


def transports(tls: str, auth: str) -> str:
    """A wss and a tcps transport with the same `tls` table and auth section (paths relative to the config file)."""
    return "".join(
        f"""
[[transports]]
type = "{kind}"
listen = "127.0.0.1:0"
tls = {tls}
{auth}
"""
        for kind in ("websocket", "rawsocket")
    )


ANONYMOUS = '[transports.auth.anonymous]\nrole = "anonymous"\n'


@pytest.fixture
def pki(tmp_path) -> Pki:
    return Pki(tmp_path)


@pytest.fixture
def tls_gateway(tmp_path, pki):
    config = transports('{ cert = "server.pem", key = "server.key" }', ANONYMOUS) + REALM
    gw = start_gateway(tmp_path, config, expected_transports=2)
    yield gw
    stop_gateway(gw)


async def test_wss_and_rawsocket_over_tls(tls_gateway, pki, serializer):
    wss_url, tcps_url = tls_gateway.urls
    assert wss_url.startswith("wss://127.0.0.1:") and wss_url.endswith("/ws"), wss_url
    assert tcps_url.startswith("tcps://127.0.0.1:"), tcps_url
    ws = await connect_websocket(wss_url, serializer, ssl=pki.context())
    raw = await connect_rawsocket(tcps_url, serializer, ssl=pki.context())
    try:
        await within(ws.register(lambda x: x * 2, "com.example.double"))
        assert await within(raw.call("com.example.double", 21)) == 42
        received = asyncio.get_running_loop().create_future()
        await within(ws.subscribe(lambda msg: received.set_result(msg), "com.example.news"))
        await within(raw.publish("com.example.news", "over TLS", options=PublishOptions(acknowledge=True)))
        assert await within(received) == "over TLS"
    finally:
        await ws.close()
        await raw.close()


async def test_a_client_that_does_not_trust_the_server_fails(tls_gateway):
    untrusting = ssl.create_default_context()  # system roots: the test CA is not among them
    with pytest.raises(ssl.SSLCertVerificationError):
        await connect_rawsocket(tls_gateway.urls[1], "json", ssl=untrusting)


@pytest.fixture
def client_cert_gateway(tmp_path, pki):
    tls = '{ cert = "server.pem", key = "server.key", client_ca = "ca.pem" }'
    auth = '[transports.auth.tls]\nrole = "device"\n'
    gw = start_gateway(tmp_path, transports(tls, auth) + REALM, expected_transports=2)
    yield gw
    stop_gateway(gw)


@pytest.mark.parametrize("transport", ["wss", "tcps"])
async def test_the_client_certificate_cn_is_the_authid(client_cert_gateway, pki, transport):
    url = client_cert_gateway.urls[0 if transport == "wss" else 1]
    connect = connect_websocket if transport == "wss" else connect_rawsocket
    client = await connect(url, "cbor", ssl=pki.context(with_client_cert=True), authmethods=["tls"])
    try:
        details = await client.joined
        assert (details.authid, details.authmethod, details.authrole) == (CLIENT_CN, "tls", "device")
        assert details.authprovider == "static"
        # The role's permissions apply: com.example.* only.
        await within(client.register(lambda: "ok", "com.example.ping"))
        assert await within(client.call("com.example.ping")) == "ok"
    finally:
        await client.close()


async def test_a_client_certificate_is_required(client_cert_gateway, pki):
    host, port = client_cert_gateway.urls[1].removeprefix("tcps://").rsplit(":", 1)
    try:
        reader, writer = await asyncio.open_connection(host, int(port), ssl=pki.context())
        writer.write(b"\x7f\xf1\x00\x00")
        reply = await within(reader.read(4))
    except (ssl.SSLError, ConnectionError) as err:
        reply = err
    # TLS 1.3: the client's handshake completes first, the server's refusal arrives with the next read.
    assert not (isinstance(reply, bytes) and reply.startswith(b"\x7f")), f"accepted without a certificate: {reply!r}"


async def test_without_the_tls_method_the_certificate_is_not_enough(client_cert_gateway, pki):
    with pytest.raises(JoinRefused) as refused:
        await connect_rawsocket(
            client_cert_gateway.urls[1], "json", ssl=pki.context(with_client_cert=True), authmethods=["ticket"]
        )
    assert refused.value.reason == "wamp.error.no_matching_auth_method"
