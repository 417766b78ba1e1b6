"""The ``/metrics`` endpoint: prometheus-client's HTTP server on a daemon thread, one registry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server

from lz.core.errors import ConfigError
from lz.metrics.address import parse_address


@dataclass
class Endpoint:
    address: str  # HOST:PORT actually bound (a port 0 asked for becomes the real one)
    server: Any

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def serve(address: str, registry: CollectorRegistry) -> Endpoint:
    host, port = parse_address(address)
    try:
        server, _thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise ConfigError(f"--metrics {address}: {exc.strerror or exc}") from None
    bound, bound_port = server.server_address[:2]
    bound_host = bound.decode() if isinstance(bound, bytes) else str(bound)
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    return Endpoint(f"{shown}:{bound_port}", server)
