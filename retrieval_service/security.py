"""TLS credentials, a self-signed certificate helper, token authentication and safe binding.

Tokens travel in the ``authorization`` metadata as ``Bearer <token>``. A server with a token refuses
every call without it (UNAUTHENTICATED) except gRPC health checking and reflection; admin RPCs need
the admin token (the token when no separate admin token is set) and are refused on a server with
neither. Without TLS a server binds loopback only, unless told otherwise.
"""
from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import grpc
from ivfpq.errors import HwragError

from .wire import AUTH_KEY

log = logging.getLogger(__name__)

OPEN_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")


@dataclass
class Security:
    """Server-side security settings (all optional; the defaults serve loopback-only, no auth)."""
    tls_cert: str | None = None  # PEM certificate chain file
    tls_key: str | None = None  # PEM private key file
    token: str | None = None  # required on every call (except health/reflection) when set
    admin_token: str | None = None  # required on admin RPCs; defaults to ``token``
    allow_insecure_remote: bool = False  # bind a non-loopback address without TLS

    @property
    def tls(self) -> bool:
        return bool(self.tls_cert)

    def check(self) -> None:
        if bool(self.tls_cert) != bool(self.tls_key):
            raise HwragError("TLS needs both a certificate and a key file (tls_cert, tls_key)")
        for f in (self.tls_cert, self.tls_key):
            if f and not Path(f).is_file():
                raise HwragError(f"TLS file {f} does not exist")


def read_token(value: str | None = None, file: str | None = None, env: str | None = None) -> str | None:
    """A token from a literal, a file (first line), or an environment variable, in that order."""
    if value:
        return value
    if file:
        p = Path(file)
        if not p.is_file():
            raise HwragError(f"token file {file} does not exist")
        return p.read_text().strip() or None
    if env and os.environ.get(env):
        return os.environ[env]
    return None


def make_self_signed(directory, hosts=("localhost", "127.0.0.1", "::1"), days: int = 30) -> tuple[Path, Path]:
    """Write ``cert.pem`` and ``key.pem`` (self-signed, for local use) into ``directory``.

    Uses the ``cryptography`` package when installed, else the ``openssl`` command. The certificate
    names ``hosts`` as subject alternative names; clients use it as their root certificate.
    """
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    cert, key = d / "cert.pem", d / "key.pem"
    try:
        _self_signed_cryptography(cert, key, hosts, days)
    except ImportError:
        _self_signed_openssl(cert, key, hosts, days)
    os.chmod(key, 0o600)
    return cert, key


def _san(hosts) -> list[str]:
    out = []
    for h in hosts:
        try:
            ipaddress.ip_address(h)
            out.append(f"IP:{h}")
        except ValueError:
            out.append(f"DNS:{h}")
    return out


def _self_signed_openssl(cert: Path, key: Path, hosts, days: int) -> None:
    exe = shutil.which("openssl")
    if exe is None:
        raise HwragError("making a self-signed certificate needs the `cryptography` package or the "
                         "`openssl` command; neither is available")
    with tempfile.TemporaryDirectory() as tmp:
        k, c = Path(tmp) / "key.pem", Path(tmp) / "cert.pem"
        cmd = [exe, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
               "-keyout", str(k), "-out", str(c), "-days", str(days), "-subj", f"/CN={hosts[0]}",
               "-addext", "subjectAltName=" + ",".join(_san(hosts)),
               "-addext", "basicConstraints=critical,CA:TRUE"]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise HwragError(f"openssl failed to make a certificate: {r.stderr.strip()[-500:]}")
        os.replace(k, key)
        os.replace(c, cert)


def _self_signed_cryptography(cert: Path, key: Path, hosts, days: int) -> None:
    import datetime

    from cryptography import x509  # noqa: I001 (optional dependency)
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    pk = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])])
    sans = []
    for h in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            sans.append(x509.DNSName(h))
    now = datetime.datetime.now(datetime.timezone.utc)
    crt = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(pk.public_key())
           .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
           .not_valid_after(now + datetime.timedelta(days=days))
           .add_extension(x509.SubjectAlternativeName(sans), critical=False)
           .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
           .sign(pk, hashes.SHA256()))
    key.write_bytes(pk.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()))
    cert.write_bytes(crt.public_bytes(serialization.Encoding.PEM))


def server_credentials(sec: Security) -> grpc.ServerCredentials:
    return grpc.ssl_server_credentials([(Path(sec.tls_key).read_bytes(), Path(sec.tls_cert).read_bytes())])


def is_loopback(host: str) -> bool:
    h = host.strip("[]")
    if h == "localhost":
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def split_address(addr: str) -> tuple[str, int]:
    host, sep, port = addr.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise HwragError(f"address {addr!r} must be host:port (e.g. 127.0.0.1:50051, [::1]:0)")
    return host, int(port)


def check_bind(addr: str, sec: Security) -> None:
    host, _ = split_address(addr)
    if not sec.tls and not sec.allow_insecure_remote and not is_loopback(host):
        raise HwragError(f"refusing to listen on {addr} without TLS: give a certificate and key, listen on "
                         "loopback (127.0.0.1, ::1, localhost), or allow insecure remote binding explicitly")


def _token_ok(metadata, token: str) -> bool:
    for k, v in metadata or ():
        if k == AUTH_KEY:
            return hmac.compare_digest(str(v).encode(), f"Bearer {token}".encode())
    return False


class TokenAuthInterceptor(grpc.aio.ServerInterceptor):
    """UNAUTHENTICATED for calls without the right token; admin methods need the admin token."""

    def __init__(self, token: str | None, admin_token: str | None, admin_methods: set[str],
                 streaming_methods: set[str]):
        self.token = token
        self.admin_token = admin_token or token
        self.admin_methods = admin_methods
        self.streaming_methods = streaming_methods

    async def intercept_service(self, continuation, details):
        method = details.method
        if method.startswith(OPEN_PREFIXES):
            return await continuation(details)
        if method in self.admin_methods:
            if self.admin_token is None:
                return self._deny(method, "admin RPCs are disabled: this server was started without an "
                                  "admin token")
            need = self.admin_token
        else:
            need = self.token
        if need is not None and not _token_ok(details.invocation_metadata, need):
            what = "admin token" if method in self.admin_methods else "token"
            return self._deny(method, f"missing or wrong {what}: send metadata "
                              f"'{AUTH_KEY}: Bearer <token>'")
        return await continuation(details)

    def _deny(self, method: str, message: str):
        if method in self.streaming_methods:
            async def deny_stream(request_iterator, context):
                await context.abort(grpc.StatusCode.UNAUTHENTICATED, message)
                yield b""  # pragma: no cover (unreachable; makes this an async generator)

            return grpc.stream_stream_rpc_method_handler(deny_stream)

        async def deny(request, context):
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

        return grpc.unary_unary_rpc_method_handler(deny)
