"""The hub's HTTP client (requests): one session, the token in a header (never in a URL), timeouts
on every call, and retries with backoff on network errors and 5xx. A 429 (a rate limit) and a
5xx wait what ``Retry-After`` says, up to ``max_wait_s`` (one wait longer than that is not
waited: the 429 becomes the error). Refusals (4xx) become one-line ``HubRefused`` errors carrying
the HTTP status."""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import requests

from lz.core.errors import Unavailable, UserError
from lz.host.fs import write_atomically
from lz.host.secret_file import read_secret
from lz.hub.protocol.transport import transport_problem

log = logging.getLogger("lz.hub.agent.client")


class HubRefused(UserError):
    """The hub answered with a 4xx: ``status`` and its one-line reason."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def retry_after(response: requests.Response) -> float | None:
    """``Retry-After`` in seconds (delta-seconds only; a date or garbage reads as absent)."""
    text = response.headers.get("Retry-After", "").strip()
    try:
        seconds = float(text)
    except ValueError:
        return None
    return seconds if 0 <= seconds < 1e9 else None


class HubUnavailable(Unavailable):
    """No answer after the retries (network error, timeout or 5xx): try again later."""


def read_token(path: Path) -> str:
    """The token file's first line; refuses a file others may read (it is a password)."""
    text = read_secret(path, "hub token", "create one with `lz hub token create`").strip()
    if not text:
        raise UserError(f"hub token file {path} is empty")
    return text.splitlines()[0].strip()


def write_token(path: Path, token: str) -> None:
    """Atomically, created 0600 from the start."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_atomically(path, token + "\n")


def _reason(response: requests.Response) -> str:
    try:
        detail = response.json().get("detail")
    except ValueError:
        return f"hub answered {response.status_code}"
    if isinstance(detail, list) and detail:  # request validation: the first problem, on one line
        first = detail[0]
        where = ".".join(str(p) for p in first.get("loc", []) if p not in ("body", "query", "path"))
        return f"{where}: {first.get('msg')}" if where else str(first.get("msg"))
    return " ".join(str(detail).split()) if detail else f"hub answered {response.status_code}"


class HubClient:
    def __init__(self, url: str, token: str | Callable[[], str], *, timeout_s: float = 30.0, retries: int = 5,
                 backoff_s: float = 0.5, sleep: Callable[[float], None] = time.sleep,
                 session: requests.Session | None = None, max_wait_s: float = 60.0):
        self.url = url.rstrip("/")
        self.max_wait_s = max_wait_s
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.sleep = sleep
        self.session = session or requests.Session()
        self.token = token  # a callable gives the current access token (refreshed when due)
        if isinstance(token, str):
            self.session.headers["Authorization"] = f"Bearer {token}"
        self.session.headers["User-Agent"] = "lz-hub-client"

    def request(self, method: str, path: str, *, timeout_s: float | None = None, retries: int | None = None,
                body: Callable[[], Any] | None = None, stream: bool = False, **kwargs: Any) -> requests.Response:
        """Send, retrying network errors and 5xx with exponential backoff and jitter. ``body``
        makes a fresh request body for each try (a file reopened from its start)."""
        tries = 1 + (self.retries if retries is None else retries)
        refreshed = False
        for attempt in range(tries):
            told: float | None = None  # what this answer's Retry-After says
            if not isinstance(self.token, str):
                self.session.headers["Authorization"] = f"Bearer {self.token()}"
            data = body() if body is not None else None
            try:
                response = self.session.request(method, self.url + path, timeout=timeout_s or self.timeout_s,
                                                data=data, stream=stream, **kwargs)
            except requests.RequestException as exc:
                problem = transport_problem(exc)
            else:
                if response.status_code == 401 and not refreshed and hasattr(self.token, "force_refresh") \
                        and self.token.force_refresh():
                    refreshed = True  # revoked or expired early: one refresh, then try again
                    response.close()
                    continue
                told = retry_after(response)
                if response.status_code == 429 and told is not None and told <= self.max_wait_s \
                        and attempt + 1 < tries:
                    problem = f"hub answered 429 ({_reason(response)})"
                    response.close()
                elif response.status_code < 500:
                    if response.status_code >= 400:
                        raise HubRefused(response.status_code, _reason(response))
                    return response
                else:
                    problem = f"hub answered {response.status_code}"
                    response.close()
            finally:
                if data is not None and hasattr(data, "close"):
                    data.close()
            if attempt + 1 < tries:
                delay = min(30.0, self.backoff_s * 2 ** attempt) * (0.5 + random.random() / 2)
                if told is not None:  # the hub said when: no sooner, and never longer than max_wait_s
                    delay = min(self.max_wait_s, max(delay, told))
                log.log(logging.WARNING if told else logging.INFO, "%s %s: %s; retrying in %.1fs", method, path,
                        problem, delay)
                self.sleep(delay)
        raise HubUnavailable(f"hub {self.url} unreachable ({problem})")

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs).json()

    def post(self, path: str, payload: Any = None, **kwargs: Any) -> Any:
        return self.request("POST", path, json=payload, **kwargs).json()

    def put(self, path: str, **kwargs: Any) -> Any:
        return self.request("PUT", path, **kwargs).json()

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.request("DELETE", path, **kwargs).json()

    def upload(self, method: str, path: str, file: Path, content_type: str, **kwargs: Any) -> Any:
        def _open() -> BinaryIO:
            return open(file, "rb")

        return self.request(method, path, body=_open, headers={"Content-Type": content_type}, **kwargs).json()

    def download(self, path: str, target: Path, **kwargs: Any) -> None:
        """Into ``target`` (0600), via a temporary file renamed at the end."""
        tmp = target.with_name(f".{target.name}.part")
        response = self.request("GET", path, stream=True, **kwargs)
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as handle:
                for chunk in _chunks(response):
                    handle.write(chunk)
            os.replace(tmp, target)
        except requests.RequestException as exc:
            tmp.unlink(missing_ok=True)
            raise HubUnavailable(f"download from {self.url} broke off ({type(exc).__name__})") from None
        finally:
            response.close()


def _chunks(response: requests.Response) -> Iterator[bytes]:
    yield from response.iter_content(chunk_size=1 << 20)
