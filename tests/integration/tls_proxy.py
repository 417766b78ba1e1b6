"""A real TLS proxy (Debian's nginx or Caddy) in front of a real hub, for the tests of issue 21:
a throwaway CA and a certificate for localhost, and the configuration files of ``deploy/`` run as
they are, only their placeholders (name, certificate paths, ports) replaced."""

from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.hub_server import free_port
from tests.integration.processes import Process

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
NGINX_SITE = DEPLOY / "nginx" / "lz-hub.conf"
CADDYFILE = DEPLOY / "caddy" / "Caddyfile"
# the placeholders of both files: what an administrator replaces, and so does the test
NAME, CERT, KEY, HUB = ("hub.example.org", "/etc/ssl/lz-hub/fullchain.pem", "/etc/ssl/lz-hub/privkey.pem",
                        "127.0.0.1:8750")


@dataclass(frozen=True)
class ThrowawayCA:
    ca: Path  # the CA certificate (what clients trust: REQUESTS_CA_BUNDLE, an NSS db)
    cert: Path
    key: Path


def make_ca(folder: Path) -> ThrowawayCA:
    """A CA made for this test only, and a certificate it signed for localhost, 127.0.0.1 and ::1."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lz test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
             x509.IPAddress(ipaddress.ip_address("::1"))]
    leaf = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    found = ThrowawayCA(folder / "ca.pem", folder / "fullchain.pem", folder / "privkey.pem")
    found.ca.write_bytes(ca.public_bytes(pem))
    found.cert.write_bytes(leaf.public_bytes(pem) + ca.public_bytes(pem))
    found.key.write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    found.key.chmod(0o600)
    return found


def _placed(text: str, tls: ThrowawayCA, hub_port: int) -> str:
    for placeholder in (NAME, CERT, KEY, HUB):
        assert placeholder in text, f"the deploy file lost its placeholder {placeholder}"
    return text.replace(CERT, str(tls.cert)).replace(KEY, str(tls.key)).replace(HUB, f"127.0.0.1:{hub_port}")


class TlsProxy:
    """One proxy process on a loopback port; ``url`` is its https address."""

    kind = ""

    def __init__(self, base: Path, tls: ThrowawayCA, hub_port: int):
        self.base, self.tls, self.hub_port = base, tls, hub_port
        base.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"https://localhost:{self.port}"
        self.process = Process(base, self.kind, {**os.environ, "HOME": str(base), "XDG_DATA_HOME": str(base / "data"),
                                                 "XDG_CONFIG_HOME": str(base / "config")})

    def start(self) -> None:
        raise NotImplementedError

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        self.process.stop(grace=10)

    def log(self) -> str:
        return self.process.log()


class Nginx(TlsProxy):
    kind = "nginx"

    def site(self) -> str:
        return _placed(NGINX_SITE.read_text(), self.tls, self.hub_port).replace(
            "listen 443 ssl;", f"listen 127.0.0.1:{self.port} ssl;").replace(NAME, "localhost")

    def start(self) -> None:
        (self.base / "lz-hub.conf").write_text(self.site())
        temp = self.base / "temp"
        temp.mkdir(exist_ok=True)
        # the main context around the site file: a private prefix, no daemon, no /var paths
        (self.base / "nginx.conf").write_text(
            (f"user {os.environ.get('USER', 'root')};\n" if os.geteuid() == 0 else "")
            + f"worker_processes 1;\npid {self.base}/nginx.pid;\nerror_log {self.base}/error.log info;\n"
            f"events {{ worker_connections 256; }}\n"
            f"http {{\n  access_log {self.base}/access.log;\n"
            + "".join(f"  {kind}_temp_path {temp}/{kind};\n" for kind in ("client_body", "proxy", "fastcgi",
                                                                            "uwsgi", "scgi"))
            + f"  include {self.base}/lz-hub.conf;\n}}\n")
        self.process.start([_which("nginx"), "-p", str(self.base), "-c", str(self.base / "nginx.conf"),
                            "-e", str(self.base / "error.log"), "-g", "daemon off;"], self._answers)


class Balancer(Nginx):
    """The same site file in front of several hubs: its upstream's one server line becomes one per
    hub, as docs/operations.md tells an administrator to do."""

    def __init__(self, base: Path, tls: ThrowawayCA, hub_ports: list[int]):
        super().__init__(base, tls, hub_ports[0])
        self.hub_ports = hub_ports

    def site(self) -> str:
        text = super().site()
        line = next(line for line in text.splitlines() if line.strip().startswith(f"server 127.0.0.1:{self.hub_port} "))
        return text.replace(line, "\n".join(line.replace(str(self.hub_port), str(port)) for port in self.hub_ports))


class Caddy(TlsProxy):
    kind = "caddy"

    def start(self) -> None:
        site = _placed(CADDYFILE.read_text(), self.tls, self.hub_port).replace(
            f"{NAME} {{", f"https://localhost:{self.port} {{\n\tbind 127.0.0.1")
        # global options for a test: no admin endpoint, no port-80 redirect, no ACME, no trust store
        (self.base / "Caddyfile").write_text(
            "{\n\tadmin off\n\tauto_https disable_redirects\n\tskip_install_trust\n"
            f"\tstorage file_system {self.base / 'data'}\n}}\n\n" + site)
        self.process.start([_which("caddy"), "run", "--adapter", "caddyfile", "--config", str(self.base / "Caddyfile")],
                           self._answers)


def _which(name: str) -> str:
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin") or name


def require(kind: str) -> None:
    if not _which(kind).startswith("/"):
        pytest.skip(f"Debian's {kind} is not installed (scripts/bootstrap installs it)")


PROXIES: dict[str, type[TlsProxy]] = {"nginx": Nginx, "caddy": Caddy}
