"""Behind a corporate proxy: the TRAEDE emulator served over HTTPS with a CA made at test time
(as a proxy that re-signs TLS would present), and an HTTP CONNECT proxy on 127.0.0.1.

Without the CA the first call is refused at once with a message naming TRAEDE_CA_BUNDLE; with
TRAEDE_CA_BUNDLE (or the standard SSL_CERT_FILE) it is accepted; with verification on and a
wrong CA it is refused; HTTPS_PROXY is honoured (the proxy sees the CONNECT).
"""

import contextlib
import datetime as dt
import ipaddress
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from connector.config import TraedeSettings
from connector.emulator.server import EmulatorServer
from connector.emulator.traede import create_traede_app
from connector.errors import SourceUnreachableError
from connector.sources.traede.client import TraedeClient
from tests.integration.traede_support import APP_KEY, SYSTEM_ID, TOKEN

pytestmark = pytest.mark.integration


USAGE_OFF = dict.fromkeys(
    ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
     "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only"),
    False,
)  # fmt: skip


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _make_ca(directory: Path, label: str) -> tuple[Path, ec.EllipticCurvePrivateKey, x509.Name]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    name = _name(f"Test proxy CA {label}")
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    path = directory / f"ca-{label}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path, key, name


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1 it signed, and an unrelated CA."""
    directory = tmp_path_factory.mktemp("tls")
    ca_path, ca_key, ca_name = _make_ca(directory, "good")
    wrong_path, _, _ = _make_ca(directory, "wrong")
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    cert_path = directory / "server.pem"
    key_path = directory / "server-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return {"ca": ca_path, "wrong": wrong_path, "cert": cert_path, "key": key_path}


@pytest.fixture(scope="module")
def https_url(tls_files: dict[str, Path]) -> Iterator[str]:
    app, _state = create_traede_app(
        seed=3, invoices=5, credit_notes=0, accounting_entries=3, token=TOKEN, app_key=APP_KEY
    )
    server = EmulatorServer(
        app, ssl_certfile=str(tls_files["cert"]), ssl_keyfile=str(tls_files["key"])
    )
    with server:
        yield server.url


@pytest.fixture(autouse=True)
def no_ambient_tls_or_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only what each test sets: no machine-wide CA file, directory or proxy."""
    for name in ("SSL_CERT_FILE", "SSL_CERT_DIR", "HTTPS_PROXY", "https_proxy", "HTTP_PROXY",
                 "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)


def _probe(url: str, **env: str) -> str:
    settings = TraedeSettings.from_env(
        {
            "TRAEDE_BASE_URL": url,
            "TRAEDE_API_TOKEN": TOKEN,
            "TRAEDE_APP_KEY": APP_KEY,
            "TRAEDE_SYSTEM_ID": SYSTEM_ID,
            "CONNECTOR_HTTP_TIMEOUT": "5",
            **env,
        }
    )
    with TraedeClient(settings) as client:
        return client.probe()


def test_untrusted_certificate_is_refused_at_once_naming_the_variable(https_url: str) -> None:
    with pytest.raises(SourceUnreachableError) as err:
        _probe(https_url)
    message = str(err.value)
    assert "TRAEDE_CA_BUNDLE" in message and "SSL_CERT_FILE" in message
    assert err.value.exit_code == 2


def test_ca_bundle_variable_is_trusted(https_url: str, tls_files: dict[str, Path]) -> None:
    assert _probe(https_url, TRAEDE_CA_BUNDLE=str(tls_files["ca"]))


def test_standard_ssl_cert_file_is_trusted(
    https_url: str, tls_files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_files["ca"]))
    assert _probe(https_url)


def test_wrong_ca_with_verification_on_is_refused(
    https_url: str, tls_files: dict[str, Path]
) -> None:
    with pytest.raises(SourceUnreachableError, match="TRAEDE_CA_BUNDLE"):
        _probe(https_url, TRAEDE_CA_BUNDLE=str(tls_files["wrong"]), TRAEDE_VERIFY_TLS="true")


class ConnectProxy:
    """A minimal HTTP CONNECT proxy on 127.0.0.1 that records the targets it tunnels to."""

    def __init__(self) -> None:
        self.targets: list[str] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._tunnel, args=(client,), daemon=True).start()

    def _tunnel(self, client: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = client.recv(4096)
            if not chunk:
                client.close()
                return
            head += chunk
        method, target = head.split(b"\r\n", 1)[0].split()[:2]
        if method != b"CONNECT":
            client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            client.close()
            return
        self.targets.append(target.decode())
        host, port = target.decode().rsplit(":", 1)
        upstream = socket.create_connection((host, int(port)))
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        for a, b in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()

    def close(self) -> None:
        self._listener.close()


def test_https_proxy_is_honoured(
    https_url: str, tls_files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = ConnectProxy()
    try:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        assert _probe(https_url, TRAEDE_CA_BUNDLE=str(tls_files["ca"]))
        assert proxy.targets and proxy.targets[0] == https_url.removeprefix("https://")
    finally:
        proxy.close()
