"""Bearer tokens over real HTTP (SPEC section 9): every bad token is a 401 in the error envelope, a valid
non-admin token on an admin route a 403, and each configured key type accepts its own valid tokens."""

import base64
import hashlib
import hmac
import json
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from app.asgi import create_app
from app.settings import ConfigError
from tests.support import TEST_SECRET, bearer, make_token

ADMIN_ROUTE = "/admin/settings"
TENANT = uuid.UUID("6f0b6d9e-3f6e-4a53-9a53-0d7c1f5f3a10")


def claims(**changes):
    """Claims of a valid admin token; a change to None removes the claim."""
    now = int(time.time())
    values = {"sub": "user-1", "tenant_id": str(TENANT), "roles": ["admin"], "iat": now, "exp": now + 600}
    values.update(changes)
    return {name: value for name, value in values.items() if value is not None}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_made(header: dict, payload: dict, sign=lambda signing_input: b"") -> str:
    """A token assembled by hand, so that it can carry what no JWT library would produce."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}"
    return f"{signing_input}.{b64url(sign(signing_input.encode()))}"


def public_pem(private_key) -> str:
    return (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key():
    return ec.generate_private_key(ec.SECP256R1())


def tampered(token: str) -> str:
    """The token with its payload changed to claim the admin role, and its signature kept."""
    header, encoded, signature = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    payload["roles"] = ["admin"]
    return f"{header}.{b64url(json.dumps(payload).encode())}.{signature}"


def assert_unauthorized(response, case: str = "") -> None:
    assert response.status_code == 401, (case, response.status_code, response.text)
    body = response.json()
    assert set(body) == {"error", "sent_at"}, case
    error = body["error"]
    assert error["code"] == "UNAUTHORIZED", case
    assert error["is_retryable"] is False, case
    assert isinstance(error["message"], str), case
    assert error["message"], case
    assert error["correlation_id"] == response.headers["X-Correlation-ID"], case
    assert response.headers["WWW-Authenticate"] == "Bearer", case


async def test_each_malformed_or_untrusted_token_is_401_in_the_error_envelope(server):
    now = int(time.time())
    cases = {
        "no header": {},
        "basic scheme": {"Authorization": "Basic dXNlcjpwYXNz"},
        "token without scheme": {"Authorization": make_token(admin=True)},
        "bearer without token": {"Authorization": "Bearer"},
        "garbage": bearer("not-a-token"),
        "three garbage parts": bearer("abc.def.ghi"),
        "alg none": bearer(hand_made({"alg": "none", "typ": "JWT"}, claims())),
        "alg None": bearer(hand_made({"alg": "None", "typ": "JWT"}, claims())),
        "no alg": bearer(hand_made({"typ": "JWT"}, claims())),
        "wrong secret": bearer(jwt.encode(claims(), "another-secret-that-is-32-bytes-long!!", "HS256")),
        "tampered payload": bearer(tampered(make_token(admin=False))),
        "HS384 of another secret": bearer(jwt.encode(claims(), "x" * 48, "HS384")),
        "expired beyond leeway": bearer(jwt.encode(claims(exp=now - 60), TEST_SECRET, "HS256")),
        "nbf in the future beyond leeway": bearer(jwt.encode(claims(nbf=now + 60), TEST_SECRET, "HS256")),
        "iat in the future beyond leeway": bearer(jwt.encode(claims(iat=now + 60), TEST_SECRET, "HS256")),
        "no exp": bearer(jwt.encode(claims(exp=None), TEST_SECRET, "HS256")),
        "missing sub": bearer(jwt.encode(claims(sub=None), TEST_SECRET, "HS256")),
        "empty sub": bearer(jwt.encode(claims(sub=""), TEST_SECRET, "HS256")),
        "missing tenant claim": bearer(jwt.encode(claims(tenant_id=None), TEST_SECRET, "HS256")),
        "tenant not a UUID": bearer(jwt.encode(claims(tenant_id="acme"), TEST_SECRET, "HS256")),
        "tenant a number": bearer(jwt.encode(claims(tenant_id=42), TEST_SECRET, "HS256")),
    }
    async with server.client() as client:
        for case, headers in cases.items():
            assert_unauthorized(await client.get(ADMIN_ROUTE, headers=headers), case)


async def test_expiry_and_not_before_within_the_leeway_are_accepted(server):
    now = int(time.time())
    recently_expired = jwt.encode(claims(exp=now - 2), TEST_SECRET, "HS256")
    almost_valid = jwt.encode(claims(nbf=now + 2), TEST_SECRET, "HS256")
    async with server.client() as client:
        assert (await client.get(ADMIN_ROUTE, headers=bearer(recently_expired))).status_code == 200
        assert (await client.get(ADMIN_ROUTE, headers=bearer(almost_valid))).status_code == 200


async def test_a_valid_non_admin_token_is_403_forbidden_on_an_admin_route(server):
    async with server.client() as client:
        response = await client.get(ADMIN_ROUTE, headers=bearer(make_token("user-2", TENANT)))
    assert response.status_code == 403
    body = response.json()
    assert set(body) == {"error", "sent_at"}
    assert body["error"]["code"] == "FORBIDDEN"
    assert body["error"]["is_retryable"] is False
    assert body["error"]["correlation_id"] == response.headers["X-Correlation-ID"]


async def test_a_space_separated_roles_string_is_read_as_roles(server):
    token = jwt.encode(claims(roles="viewer admin"), TEST_SECRET, "HS256")
    async with server.client() as client:
        assert (await client.get(ADMIN_ROUTE, headers=bearer(token))).status_code == 200


async def test_readiness_needs_no_token(server):
    async with server.client() as client:
        assert (await client.get("/readiness")).status_code == 200
        assert (await client.get("/readiness", headers=bearer("garbage"))).status_code == 200


async def test_an_audience_in_the_token_is_ignored_when_none_is_configured(server):
    token = jwt.encode(claims(aud="account", iss="https://iam.test/"), TEST_SECRET, "HS256")
    async with server.client() as client:
        assert (await client.get(ADMIN_ROUTE, headers=bearer(token))).status_code == 200


async def test_audience_and_issuer_are_checked_when_configured(settings, start_server):
    configured = settings.replace(jwt_audience="msr", jwt_issuer="https://iam.test/")
    right = {"aud": "msr", "iss": "https://iam.test/"}
    async with start_server(configured) as running, running.client() as client:
        accepted = jwt.encode(claims(**right), TEST_SECRET, "HS256")
        accepted_in_list = jwt.encode(claims(**{**right, "aud": ["other", "msr"]}), TEST_SECRET, "HS256")
        assert (await client.get(ADMIN_ROUTE, headers=bearer(accepted))).status_code == 200
        assert (await client.get(ADMIN_ROUTE, headers=bearer(accepted_in_list))).status_code == 200
        rejected = {
            "wrong aud": claims(**{**right, "aud": "other"}),
            "missing aud": claims(iss=right["iss"]),
            "wrong iss": claims(**{**right, "iss": "https://evil.test/"}),
            "missing iss": claims(aud=right["aud"]),
        }
        for case, payload in rejected.items():
            token = jwt.encode(payload, TEST_SECRET, "HS256")
            assert_unauthorized(await client.get(ADMIN_ROUTE, headers=bearer(token)), case)


async def test_an_rs256_public_key_accepts_its_tokens_and_rejects_hs_rs_confusion(settings, start_server, rsa_key):
    pem = public_pem(rsa_key)
    configured = settings.replace(jwt_secret=None, jwt_public_key=pem)
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def hmac_with_public_key(signing_input: bytes) -> bytes:
        return hmac.new(pem.encode(), signing_input, hashlib.sha256).digest()

    async with start_server(configured) as running, running.client() as client:
        valid = jwt.encode(claims(), rsa_key, "RS256")
        assert (await client.get(ADMIN_ROUTE, headers=bearer(valid))).status_code == 200
        rejected = {
            "HS256 signed with the public key PEM": hand_made(
                {"alg": "HS256", "typ": "JWT"}, claims(), hmac_with_public_key
            ),
            "HS256 with the old dev secret": jwt.encode(claims(), TEST_SECRET, "HS256"),
            "RS256 of another key": jwt.encode(claims(), other_key, "RS256"),
            "alg none": hand_made({"alg": "none", "typ": "JWT"}, claims()),
            "RS256 expired": jwt.encode(claims(exp=int(time.time()) - 60), rsa_key, "RS256"),
        }
        for case, token in rejected.items():
            assert_unauthorized(await client.get(ADMIN_ROUTE, headers=bearer(token)), case)


async def test_an_es256_public_key_file_accepts_its_tokens(settings, start_server, ec_key, rsa_key, tmp_path):
    key_file = tmp_path / "iam.pem"
    key_file.write_text(public_pem(ec_key))
    configured = settings.replace(jwt_secret=None, jwt_public_key=str(key_file))
    async with start_server(configured) as running, running.client() as client:
        valid = jwt.encode(claims(), ec_key, "ES256")
        assert (await client.get(ADMIN_ROUTE, headers=bearer(valid))).status_code == 200
        other = jwt.encode(claims(), ec.generate_private_key(ec.SECP256R1()), "ES256")
        assert_unauthorized(await client.get(ADMIN_ROUTE, headers=bearer(other)), "ES256 of another key")
        rs = jwt.encode(claims(), rsa_key, "RS256")
        assert_unauthorized(await client.get(ADMIN_ROUTE, headers=bearer(rs)), "RS256 against an EC key")


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("not a key and not a file", id="neither-pem-nor-file"),
        pytest.param("-----BEGIN PUBLIC KEY-----\ngarbage\n-----END PUBLIC KEY-----\n", id="garbage-pem"),
    ],
)
def test_an_unusable_public_key_is_a_start_up_error_naming_the_variable(settings, value):
    with pytest.raises(ConfigError, match="MSR_JWT_PUBLIC_KEY"):
        create_app(settings.replace(jwt_secret=None, jwt_public_key=value))


async def test_dotted_claim_paths_find_the_tenant_and_the_roles(settings, start_server):
    configured = settings.replace(tenant_claim="org.tenant", roles_claim="realm_access.roles")
    nested_admin = claims(tenant_id=None, roles=None, org={"tenant": str(TENANT)})
    nested_admin["realm_access"] = {"roles": ["offline_access", "admin"]}
    nested_user = {**nested_admin, "realm_access": {"roles": ["offline_access"]}}
    flat = claims()
    async with start_server(configured) as running, running.client() as client:
        admin = await client.get(ADMIN_ROUTE, headers=bearer(jwt.encode(nested_admin, TEST_SECRET, "HS256")))
        user = await client.get(ADMIN_ROUTE, headers=bearer(jwt.encode(nested_user, TEST_SECRET, "HS256")))
        top_level = await client.get(ADMIN_ROUTE, headers=bearer(jwt.encode(flat, TEST_SECRET, "HS256")))
    assert admin.status_code == 200
    assert user.status_code == 403
    assert_unauthorized(top_level, "tenant only at the top level")
