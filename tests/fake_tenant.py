"""A fake Auth0 tenant on 127.0.0.1 for tests: the device-code, token and JWKS endpoints of a
real tenant, access tokens signed RS256 with a test key (``cryptography``), keys that rotate.
What a device code's polls answer is scripted: e.g. ``["authorization_pending", "ok"]``.

Its universal login for the authorization-code grant with PKCE: ``GET /authorize`` answers a form
("Log in as" a name, or deny), ``POST /authorize`` sends the browser back to ``redirect_uri`` with
a one-use code, and ``/oauth/token`` gives that code's tokens only for the verifier of its S256
challenge and the same ``redirect_uri``."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

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
        self.auth_codes: dict[str, dict[str, str]] = {}  # code -> challenge, redirect_uri, sub
        self.exchanges: list[dict[str, str]] = []  # what authorization-code token requests sent
        self.token_options: dict[str, Any] = {}  # e.g. {"audience": "https://elsewhere"}: a token the hub refuses
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

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

            def _page(self, status: int, body: str) -> None:
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _redirect(self, location: str) -> None:
                self.send_response(302)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _params(self) -> dict[str, str]:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                if self.headers.get("Content-Type", "").startswith("application/json"):
                    return {k: str(v) for k, v in json.loads(raw or "{}").items()}
                return dict(parse_qsl(raw))

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                if url.path == "/.well-known/jwks.json":
                    tenant.jwks_fetches += 1
                    self._send(200, tenant._jwks())
                elif url.path == "/authorize":
                    status, body = tenant._login_page(dict(parse_qsl(url.query)))
                    self._page(status, body)
                else:
                    self._send(404, {"error": "not_found"})

            def do_POST(self) -> None:
                params = self._params()
                if params.get("client_id") != tenant.client_id:
                    self._send(401, {"error": "access_denied", "error_description": "Unauthorized client"})
                elif self.path == "/authorize":
                    self._redirect(tenant._authorized(params))
                elif self.path == "/oauth/token" and params.get("grant_type") == "authorization_code":
                    status, body = tenant._code_tokens(params)
                    self._send(status, body)
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

    # -- universal login: authorization code with PKCE -----------------------------------------------
    def _login_page(self, query: dict[str, str]) -> tuple[int, str]:
        wrong = ("unknown client" if query.get("client_id") != self.client_id else
                 "response_type must be code" if query.get("response_type") != "code" else
                 "code_challenge_method must be S256" if query.get("code_challenge_method") != "S256" else
                 "code_challenge missing" if not query.get("code_challenge") else
                 "redirect_uri missing" if not query.get("redirect_uri") else "")
        if wrong:
            return 400, f"<!doctype html><title>Error</title><p id='error'>{html.escape(wrong)}</p>"
        hidden = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                         for k, v in query.items() if k in ("client_id", "redirect_uri", "state", "code_challenge"))
        return 200, ('<!doctype html><title>Fake tenant</title><form method="post" action="/authorize">'
                     f'{hidden}<label>Log in as <input name="username" value="alice"></label>'
                     '<button id="tenant-login" type="submit" name="decision" value="allow">Log in</button>'
                     '<button id="tenant-deny" type="submit" name="decision" value="deny">Deny</button></form>')

    def _authorized(self, form: dict[str, str]) -> str:
        """Where the browser goes back to: a new one-use code, or the tenant's refusal."""
        back = form.get("redirect_uri", "")
        if form.get("decision") == "deny":
            answer = {"error": "access_denied", "error_description": "User did not authorize the request"}
        else:
            code = secrets.token_urlsafe(16)
            self.auth_codes[code] = {"challenge": form.get("code_challenge", ""), "redirect_uri": back,
                                     "sub": f"auth0|{form.get('username') or 'alice'}"}
            answer = {"code": code}
        if form.get("state"):
            answer["state"] = form["state"]
        return back + ("&" if "?" in back else "?") + urlencode(answer)

    def _code_tokens(self, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        self.exchanges.append(dict(params))
        found = self.auth_codes.pop(params.get("code", ""), None)  # one use, right or wrong
        verifier = params.get("code_verifier", "")
        computed = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
        if found is None:
            return 403, {"error": "invalid_grant", "error_description": "Invalid authorization code"}
        if params.get("redirect_uri") != found["redirect_uri"]:
            return 403, {"error": "invalid_grant", "error_description": "Invalid redirect_uri"}
        if not verifier or computed != found["challenge"]:
            return 403, {"error": "invalid_grant", "error_description": "Failed to verify code verifier"}
        now = time.time()
        id_token = jwt.encode({"sub": found["sub"], "aud": self.client_id, "iss": self.issuer, "iat": int(now),
                               "exp": int(now + 36000)}, self.keys[self.kid], algorithm="RS256",
                              headers={"kid": self.kid})
        return 200, {"access_token": self.token(found["sub"], **self.token_options), "id_token": id_token,
                     "token_type": "Bearer", "expires_in": self.access_s, "scope": "openid profile email"}

    def _tokens(self) -> dict[str, Any]:
        refresh = "v1." + secrets.token_urlsafe(24)
        self.refresh_tokens.add(refresh)
        return {"access_token": self.token(), "refresh_token": refresh, "token_type": "Bearer",
                "expires_in": self.access_s, "scope": "offline_access"}
