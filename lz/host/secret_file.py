"""Reading files that hold a password (hub tokens, token sets): one place decides what a safe one is."""

from __future__ import annotations

from pathlib import Path

from lz.core.errors import UserError

OTHERS = 0o077  # group and other permission bits: a secret's file grants neither anything


def open_to_others(mode: int) -> bool:
    """Whether a file of this ``st_mode`` lets accounts other than its owner near it."""
    return bool(mode & OTHERS)


def read_secret(path: Path, what: str, missing: str) -> str:
    """The text of ``path``, refusing a file others may read with one line that says the fix: a
    leaked token is a stolen login, and a loud refusal gets the file mended before it is used.
    ``what`` names the secret in messages; ``missing`` says how to make one when there is none."""
    try:
        st = path.stat()
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"no {what} at {path} ({missing})") from None
    except OSError as exc:
        raise UserError(f"cannot read the {what} {path}: {exc.strerror}") from None
    if open_to_others(st.st_mode):
        raise UserError(f"{what} {path} is readable by others: chmod 600 {path}")
    return text
