"""Access tokens of an Auth0 tenant, verified by PyJWT: RS256 signature with a key from the
tenant's JWKS (``PyJWKClient`` caches the key set and fetches it again when a token names an
unknown ``kid``), issuer, audience and expiry. auth0-python has a verifier for ID tokens only,
so access tokens are PyJWT's job."""

from __future__ import annotations

import logging
from typing import Any

from lz.hub.server.config import Auth0Config

log = logging.getLogger("lz.hub.server.tenant")


class TenantVerifier:
    def __init__(self, config: Auth0Config):
        import jwt

        self.config = config
        uri = f"{config.scheme}://{config.domain}/.well-known/jwks.json"
        try:  # PyJWT >= 2.13 waits this long between forced refetches for unknown kids
            self._jwks = jwt.PyJWKClient(uri, cache_keys=True, lifespan=3600, timeout=10,
                                         cooldown_duration=config.jwks_cooldown_s)
        except TypeError:
            self._jwks = jwt.PyJWKClient(uri, cache_keys=True, lifespan=3600, timeout=10)

    def subject(self, token: str) -> str | None:
        """The token's ``sub`` when it is a valid access token of the tenant for this hub, else None."""
        import jwt

        try:
            key = self._jwks.get_signing_key_from_jwt(token)
            claims: dict[str, Any] = jwt.decode(
                token, key.key, algorithms=["RS256"], audience=self.config.audience, issuer=self.config.issuer,
                options={"require": ["exp", "iss", "aud", "sub"]}, leeway=5)
        except jwt.PyJWKClientError as exc:
            log.warning("tenant token refused: %s", type(exc).__name__)
            return None
        except jwt.InvalidTokenError as exc:
            log.info("tenant token refused: %s", type(exc).__name__)
            return None
        sub = claims.get("sub")
        return sub if isinstance(sub, str) and sub else None
