"""Tokens verified against the IAM's JWKS: cached, refreshed when a token names a new key id (key rotation),
at most once per cooldown, and kept when the IAM is briefly unreachable. The JWKS is served by the test
itself on loopback."""

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from tests.support import TEST_SECRET, bearer

ADMIN_ROUTE = "/admin/settings"


@dataclass
class SigningKey:
    kid: str
    private: object
    algorithm: str

    def jwk(self) -> dict:
        family = RSAAlgorithm if self.algorithm.startswith("RS") else ECAlgorithm
        entry = family.to_jwk(self.private.public_key(), as_dict=True)  # type: ignore[attr-defined]
        return {**entry, "kid": self.kid, "use": "sig", "alg": self.algorithm}

    def token(self, kid: str | None = None, **changes) -> str:
        now = int(time.time())
        claims = {"sub": "admin-1", "tenant_id": str(uuid.UUID(int=7)), "roles": ["admin"], "exp": now + 600}
        claims.update(changes)
        return jwt.encode(claims, self.private, self.algorithm, headers={"kid": kid or self.kid})


@dataclass
class JwksServer:
    """The IAM's JWKS endpoint: serves ``keys`` and counts the fetches."""

    url: str = ""
    keys: list[SigningKey] = field(default_factory=list)
    failing: bool = False
    _fetches: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def fetches(self) -> int:
        with self._lock:
            return self._fetches

    def answer(self) -> tuple[int, bytes]:
        with self._lock:
            self._fetches += 1
            if self.failing:
                return 503, b"IAM down"
            return 200, json.dumps({"keys": [key.jwk() for key in self.keys]}).encode()


@pytest.fixture(scope="module")
def key_a() -> SigningKey:
    return SigningKey("key-a", rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256")


@pytest.fixture(scope="module")
def key_b() -> SigningKey:
    return SigningKey("key-b", ec.generate_private_key(ec.SECP256R1()), "ES256")


@pytest.fixture
def jwks() -> Iterator[JwksServer]:
    state = JwksServer()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body = state.answer()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/.well-known/jwks.json"
    # A short poll interval keeps shutdown() quick.
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def jwks_settings(settings, jwks: JwksServer, **changes):
    return settings.replace(jwt_secret=None, jwks_url=jwks.url, **changes)


async def status(client, token: str) -> int:
    return (await client.get(ADMIN_ROUTE, headers=bearer(token))).status_code


async def test_a_token_signed_by_a_key_of_the_jwks_is_accepted(settings, start_server, jwks, key_a, key_b):
    jwks.keys = [key_a, key_b]
    async with start_server(jwks_settings(settings, jwks)) as running, running.client() as client:
        assert await status(client, key_a.token()) == 200
        assert await status(client, key_b.token()) == 200
        assert jwks.fetches == 1


async def test_after_rotation_to_a_new_key_only_its_tokens_are_accepted(settings, start_server, jwks, key_a, key_b):
    jwks.keys = [key_a]
    configured = jwks_settings(settings, jwks, jwks_refresh_cooldown_s=0)
    async with start_server(configured) as running, running.client() as client:
        assert await status(client, key_a.token()) == 200
        jwks.keys = [key_b]
        assert await status(client, key_b.token()) == 200
        assert jwks.fetches == 2
        # Key A is gone from the refreshed document: the cache follows the IAM, not the past.
        assert await status(client, key_a.token()) == 401


async def test_during_rotation_both_published_keys_are_accepted(settings, start_server, jwks, key_a, key_b):
    jwks.keys = [key_a]
    configured = jwks_settings(settings, jwks, jwks_refresh_cooldown_s=0)
    async with start_server(configured) as running, running.client() as client:
        assert await status(client, key_a.token()) == 200
        jwks.keys = [key_a, key_b]
        assert await status(client, key_b.token()) == 200
        assert await status(client, key_a.token()) == 200
        assert jwks.fetches == 2


async def test_a_token_with_an_unknown_or_missing_kid_is_401(settings, start_server, jwks, key_a):
    jwks.keys = [key_a]
    configured = jwks_settings(settings, jwks, jwks_refresh_cooldown_s=0)
    no_kid = jwt.encode(
        {"sub": "u", "tenant_id": str(uuid.UUID(int=7)), "exp": int(time.time()) + 600}, key_a.private, "RS256"
    )
    async with start_server(configured) as running, running.client() as client:
        for token in (key_a.token(kid="key-zzz"), no_kid):
            response = await client.get(ADMIN_ROUTE, headers=bearer(token))
            assert response.status_code == 401
            assert response.json()["error"]["code"] == "UNAUTHORIZED"


async def test_a_kid_of_the_jwks_with_another_algorithm_is_401(settings, start_server, jwks, key_a, key_b):
    jwks.keys = [key_a, key_b]
    async with start_server(jwks_settings(settings, jwks)) as running, running.client() as client:
        # Signed by key B (ES256) but naming key A (RS256): the key's own algorithm decides.
        assert await status(client, key_b.token(kid=key_a.kid)) == 401
        assert await status(client, jwt.encode({"sub": "u"}, TEST_SECRET, "HS256", headers={"kid": "key-a"})) == 401


async def test_unknown_kids_refetch_the_jwks_at_most_once_per_cooldown(settings, start_server, jwks, key_a, key_b):
    jwks.keys = [key_a]
    configured = jwks_settings(settings, jwks, jwks_refresh_cooldown_s=0.5)
    async with start_server(configured) as running, running.client() as client:
        assert await status(client, key_a.token()) == 200
        started = time.monotonic()
        for n in range(5):
            assert await status(client, key_a.token(kid=f"unknown-{n}")) == 401
        assert time.monotonic() - started < 0.5, "the requests must fall inside one cooldown"
        assert jwks.fetches == 1
        jwks.keys = [key_a, key_b]
        deadline = time.monotonic() + 5
        while await status(client, key_b.token()) != 200:
            assert time.monotonic() < deadline, "the new key was never fetched"
            await asyncio.sleep(0.05)
        assert time.monotonic() - started >= 0.5
        assert jwks.fetches == 2


async def test_concurrent_requests_naming_a_new_kid_fetch_the_jwks_once(settings, start_server, jwks, key_a, key_b):
    jwks.keys = [key_a]
    configured = jwks_settings(settings, jwks, jwks_refresh_cooldown_s=0)
    async with start_server(configured) as running, running.client() as client:
        assert await status(client, key_a.token()) == 200
        jwks.keys = [key_a, key_b]
        token = key_b.token()
        statuses = await asyncio.gather(*(status(client, token) for _ in range(10)))
    assert statuses == [200] * 10
    assert jwks.fetches == 2


async def test_an_unreachable_iam_keeps_the_keys_already_fetched(settings, start_server, jwks, key_a):
    jwks.keys = [key_a]
    configured = jwks_settings(settings, jwks, jwks_cache_s=0.2, jwks_refresh_cooldown_s=0)
    async with start_server(configured) as running, running.client() as client:
        assert await status(client, key_a.token()) == 200
        jwks.failing = True
        # Once the cache is stale every request tries the IAM, fails, and still knows key A.
        deadline = time.monotonic() + 5
        while jwks.fetches < 2:
            assert time.monotonic() < deadline, "the stale cache was never refreshed"
            assert await status(client, key_a.token()) == 200
            await asyncio.sleep(0.05)
        assert await status(client, key_a.token()) == 200
        assert await status(client, key_a.token(kid="key-new")) == 401
