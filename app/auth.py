"""Bearer-token authentication (SPEC section 9): who is calling, for which tenant, with which roles.

Keys: an HS256 secret, an RS/ES public key, or the IAM's JWKS (fetched off the event loop, cached, and fetched
again when a token names an unknown ``kid``, at most once per cooldown). Only the algorithms of the configured
keys are accepted, so ``alg: none`` and HS/RS confusion fail.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import get_default_algorithms

from app.errors import forbidden, unauthorized
from app.settings import ConfigError, Settings

_log = logging.getLogger("msr.auth")
_HMAC = ("HS256", "HS384", "HS512")
_ASYMMETRIC = ("RS256", "RS384", "RS512", "ES256", "ES384", "PS256")
_JWKS_MAX_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller."""

    user_id: str
    tenant_id: uuid.UUID
    roles: frozenset[str]
    is_admin: bool
    is_global_admin: bool = False


def claim_at(claims: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted claim path such as ``realm_access.roles``; None when absent."""
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


class JwksCache:
    """The IAM's signing keys by ``kid``, fetched in a worker thread and refreshed on rotation."""

    def __init__(self, url: str, cache_s: float, cooldown_s: float) -> None:
        self._url = url
        self._cache_s = cache_s
        self._cooldown_s = cooldown_s
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")
        self._lock = anyio.Lock()

    async def key_for(self, kid: str) -> jwt.PyJWK | None:
        """The key named ``kid``; fetches the JWKS when stale, or for a new kid once per cooldown."""
        now = time.monotonic()
        if kid in self._keys and now - self._fetched_at < self._cache_s:
            return self._keys[kid]
        async with self._lock:
            now = time.monotonic()
            stale = now - self._fetched_at >= self._cache_s
            may_refresh = now - self._fetched_at >= self._cooldown_s
            if stale or (kid not in self._keys and may_refresh):
                await self._refresh()
        return self._keys.get(kid)

    async def _refresh(self) -> None:
        try:
            document = await anyio.to_thread.run_sync(self._fetch)
            keys: dict[str, jwt.PyJWK] = {}
            for entry in document.get("keys", []):
                kid = entry.get("kid")
                if not isinstance(kid, str) or entry.get("use", "sig") != "sig":
                    continue
                try:
                    keys[kid] = jwt.PyJWK.from_dict(entry)
                except jwt.PyJWTError:
                    _log.warning("ignoring unusable JWKS key %s", kid)
        except (OSError, ValueError) as exc:
            # Keep the keys we had: an IAM hiccup must not log everyone out.
            _log.warning("JWKS fetch from %s failed: %s", self._url, exc)
            self._fetched_at = time.monotonic() - self._cache_s + self._cooldown_s
            return
        self._keys = keys
        self._fetched_at = time.monotonic()

    def _fetch(self) -> dict[str, Any]:
        request = urllib.request.Request(self._url, headers={"Accept": "application/json"})  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - scheme checked in Settings
                body = response.read(_JWKS_MAX_BYTES + 1)
        except urllib.error.HTTPError as exc:
            # The error carries the open response; close it or every failed fetch leaks a socket.
            exc.close()
            raise ValueError(f"JWKS endpoint answered HTTP {exc.code}") from None
        if len(body) > _JWKS_MAX_BYTES:
            raise ValueError("JWKS document too large")
        document = json.loads(body)
        if not isinstance(document, dict):
            raise ValueError("JWKS document is not an object")  # noqa: TRY004 - caught with parse errors
        return document


def load_public_key(value: str) -> str:
    """The PEM of ``MSR_JWT_PUBLIC_KEY`` (given inline or as a file path), checked to be a usable key."""
    if value.lstrip().startswith("-----BEGIN"):
        pem = value
    else:
        path = Path(value)
        if not path.is_file():
            raise ConfigError("MSR_JWT_PUBLIC_KEY must be a PEM public key or the path of a PEM file")
        pem = path.read_text(encoding="utf-8")
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except ValueError:
        raise ConfigError("MSR_JWT_PUBLIC_KEY is not a readable PEM public key") from None
    # A bad key would otherwise surface only as every request being a 401.
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        raise ConfigError("MSR_JWT_PUBLIC_KEY must be an RSA or EC public key")
    return pem


_VERIFIED_CACHE_SIZE = 4096


@dataclass(frozen=True, slots=True)
class _Verified:
    """A token verified earlier: JWT verification costs more than the rest of a typical request."""

    principal: Principal
    valid_until: float
    kid: str | None
    key: Any


class Authenticator:
    """Turns a bearer token into a :class:`Principal`, or raises a 401 :class:`ApiError`."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._verified: dict[str, _Verified] = {}
        self._secret = settings.jwt_secret
        self._public_key = load_public_key(settings.jwt_public_key) if settings.jwt_public_key else None
        self._jwks = (
            JwksCache(settings.jwks_url, settings.jwks_cache_s, settings.jwks_refresh_cooldown_s)
            if settings.jwks_url
            else None
        )
        offered: list[str] = []
        if self._secret:
            offered += _HMAC
        if self._public_key or self._jwks:
            offered += _ASYMMETRIC
        allowed = [a for a in offered if not settings.jwt_algorithms or a in settings.jwt_algorithms]
        known = get_default_algorithms()
        self._algorithms = frozenset(a for a in allowed if a in known)

    async def authenticate(self, token: str) -> Principal:
        """Verify the token and read its claims; a token verified before is answered from a bounded cache."""
        cached = self._verified.get(token)
        if cached is not None and time.time() < cached.valid_until and await self._still_trusted(cached):
            return cached.principal
        principal, header, key, expires = await self._verify(token)
        if len(self._verified) >= _VERIFIED_CACHE_SIZE:
            del self._verified[next(iter(self._verified))]
        kid = header.get("kid") if self._jwks is not None else None
        self._verified[token] = _Verified(principal, expires + self._settings.jwt_leeway_s, kid, key)
        return principal

    async def _still_trusted(self, cached: _Verified) -> bool:
        # A JWKS key can rotate away: the cached verdict holds only while the same key is still published.
        if self._jwks is None or cached.kid is None:
            return True
        return await self._jwks.key_for(cached.kid) is cached.key

    async def _verify(self, token: str) -> tuple[Principal, Mapping[str, Any], Any, float]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise unauthorized("malformed token") from None
        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or algorithm not in self._algorithms:
            raise unauthorized("token algorithm not allowed")
        key = await self._key_for(algorithm, header)
        settings = self._settings
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=[algorithm],
                audience=settings.jwt_audience,
                issuer=settings.jwt_issuer,
                leeway=settings.jwt_leeway_s,
                # Without a configured audience the claim is not ours to judge (SPEC 9: checked when set).
                options={"require": ["exp"], "verify_aud": settings.jwt_audience is not None},
            )
        except jwt.ExpiredSignatureError:
            raise unauthorized("token expired") from None
        except jwt.ImmatureSignatureError:
            raise unauthorized("token not valid yet") from None
        except jwt.InvalidAudienceError:
            raise unauthorized("token audience not accepted") from None
        except jwt.InvalidIssuerError:
            raise unauthorized("token issuer not accepted") from None
        except jwt.PyJWTError:
            raise unauthorized("invalid token") from None
        return self._principal(claims), header, key, float(claims["exp"])

    async def _key_for(self, algorithm: str, header: Mapping[str, Any]) -> Any:
        if algorithm in _HMAC:
            return self._secret
        if self._public_key is not None:
            return self._public_key
        assert self._jwks is not None
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise unauthorized("token has no key id")
        key = await self._jwks.key_for(kid)
        if key is None:
            raise unauthorized("token signed by an unknown key")
        return key

    def _principal(self, claims: Mapping[str, Any]) -> Principal:
        settings = self._settings
        user_id = claim_at(claims, settings.user_claim)
        if not isinstance(user_id, str) or not user_id or len(user_id) > 256:
            raise unauthorized(f"token has no usable {settings.user_claim!r} claim")
        tenant_raw = claim_at(claims, settings.tenant_claim)
        try:
            tenant_id = uuid.UUID(str(tenant_raw)) if isinstance(tenant_raw, str) else None
        except ValueError:
            tenant_id = None
        if tenant_id is None:
            raise unauthorized(f"token has no usable {settings.tenant_claim!r} claim (a UUID)")
        roles_raw = claim_at(claims, settings.roles_claim)
        if isinstance(roles_raw, str):
            roles = frozenset(roles_raw.split())
        elif isinstance(roles_raw, list):
            roles = frozenset(r for r in roles_raw if isinstance(r, str))
        else:
            roles = frozenset()
        is_admin = settings.admin_role in roles
        return Principal(user_id, tenant_id, roles, is_admin, is_admin and settings.global_admin_role in roles)


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer`` header, or a 401."""
    if not authorization:
        raise unauthorized("missing bearer token")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("expected 'Authorization: Bearer <token>'")
    return token.strip()


def require_admin(principal: Principal) -> Principal:
    """The principal when it is an admin, else a 403."""
    if not principal.is_admin:
        raise forbidden("admin role required")
    return principal


def mint_token(
    secret: str,
    *,
    user_id: str,
    tenant_id: uuid.UUID,
    admin: bool,
    ttl_s: int,
    settings: Settings,
) -> str:
    """A development HS256 token with the configured claim names (``msr token``)."""
    now = int(time.time())
    claims: dict[str, Any] = {"sub": user_id, "iat": now, "nbf": now, "exp": now + ttl_s}
    _set_claim(claims, settings.user_claim, user_id)
    _set_claim(claims, settings.tenant_claim, str(tenant_id))
    _set_claim(claims, settings.roles_claim, [settings.admin_role] if admin else [])
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    return jwt.encode(claims, secret, algorithm="HS256")


def _set_claim(claims: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    target = claims
    for part in parts[:-1]:
        target = target.setdefault(part, {})
    target[parts[-1]] = value
