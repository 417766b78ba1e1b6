"""A fake Auth0 tenant on 127.0.0.1 for tests: the device-code, token and JWKS endpoints of a
real tenant, access tokens signed RS256 with a test key (``cryptography``), keys that rotate.
What a device code's polls answer is scripted: e.g. ``["authorization_pending", "ok"]``."""

from __future__ import annotations

import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa


def new_key() -> Any:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class FakeTenant:
    def __init__(self, audience: str = "https://lz-hub", client_id: str = "cli-123"):
        self.audience = audience
        self.client_id = client_id
        self.keys: dict[str, Any] = {"k1": new_key()}
        self.kid = "k1"
        self.script: list[str] = ["ok"]
        self.polls: list[str] = []
        self.access_s = 300
        self.refresh_tokens: set[str] = set()
        self.jwks_fetches = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.port = self.server.server_address[1]
        self.domain = f"127.0.0.1:{self.port}"
        self.issuer = f"http://{self.domain}/"
        self._codes: dict[str, list[str]] = {}
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def rotate(self) -> str:
        kid = f"k{len(self.keys) + 1}"
        self.keys[kid] = new_key()
        self.kid = kid
        return kid

    def token(self, sub: str = "auth0|alice", *, audience: str | None = None, issuer: str | None = None,
              exp_in: float | None = None, key: Any = None, kid: str | None = None) -> str:
        now = time.time()
        claims = {"sub": sub, "aud": audience or self.audience, "iss": issuer or self.issuer, "iat": int(now),
                  "exp": int(now + (self.access_s if exp_in is None else exp_in)), "scope": "offline_access"}
        return jwt.encode(claims, key or self.keys[self.kid], algorithm="RS256", headers={"kid": kid or self.kid})

    def _jwks(self) -> dict[str, Any]:
        keys = []
        for kid, key in self.keys.items():
            jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
            keys.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
        return {"keys": keys}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        tenant = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _params(self) -> dict[str, str]:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                if self.headers.get("Content-Type", "").startswith("application/json"):
                    return {k: str(v) for k, v in json.loads(raw or "{}").items()}
                return dict(parse_qsl(raw))

            def do_GET(self) -> None:
                if self.path == "/.well-known/jwks.json":
                    tenant.jwks_fetches += 1
                    self._send(200, tenant._jwks())
                else:
                    self._send(404, {"error": "not_found"})

            def do_POST(self) -> None:
                params = self._params()
                if params.get("client_id") != tenant.client_id:
                    self._send(401, {"error": "access_denied", "error_description": "Unauthorized client"})
                elif self.path == "/oauth/device/code":
                    code = secrets.token_urlsafe(16)
                    tenant._codes[code] = list(tenant.script)
                    self._send(200, {"device_code": code, "user_code": "BCDF-GHJK",
                                     "verification_uri": f"http://{tenant.domain}/activate",
                                     "verification_uri_complete": f"http://{tenant.domain}/activate?user_code=BCDF-GHJK",
                                     "expires_in": 900, "interval": 1})
                elif self.path == "/oauth/token" and params.get("grant_type", "").endswith("device_code"):
                    steps = tenant._codes.get(params.get("device_code", ""))
                    step = steps.pop(0) if steps else "expired_token"
                    tenant.polls.append(step)
                    if step == "ok":
                        self._send(200, tenant._tokens())
                    else:
                        self._send(403, {"error": step, "error_description": step.replace("_", " ")})
                elif self.path == "/oauth/token" and params.get("grant_type") == "refresh_token":
                    if params.get("refresh_token") in tenant.refresh_tokens:
                        self._send(200, {k: v for k, v in tenant._tokens().items() if k != "refresh_token"})
                    else:
                        self._send(403, {"error": "invalid_grant", "error_description": "Unknown or invalid refresh token."})
                else:
                    self._send(404, {"error": "not_found"})

        return Handler

    def _tokens(self) -> dict[str, Any]:
        refresh = "v1." + secrets.token_urlsafe(24)
        self.refresh_tokens.add(refresh)
        return {"access_token": self.token(), "refresh_token": refresh, "token_type": "Bearer",
                "expires_in": self.access_s, "scope": "offline_access"}
