"""Settings.from_env: the defaults of SPEC section 4, and a malformed variable is a start-up error naming it."""

from pathlib import Path

import pytest

from app.settings import ConfigError, Settings

SECRET = "s" * 32


def test_an_empty_environment_gives_the_documented_defaults():
    settings = Settings.from_env({})
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.database_url is None
    assert settings.database_read_url is None
    assert settings.redis_url is None
    assert settings.redis_prefix == "msr:"
    assert settings.data_dir == Path(".msr")
    assert settings.jwt_secret is None
    assert settings.jwt_public_key is None
    assert settings.jwks_url is None
    assert not settings.has_verification_key
    assert settings.jwt_audience is None
    assert settings.jwt_issuer is None
    assert settings.jwt_algorithms == ()
    assert (settings.user_claim, settings.tenant_claim, settings.roles_claim) == ("sub", "tenant_id", "roles")
    assert settings.admin_role == "admin"
    assert settings.allowed_origins == ()
    assert settings.session_idle_timeout_s == 300
    assert settings.frame_interval_ms == 100
    assert settings.max_body_bytes == 16 * 1024 * 1024
    assert settings.log_level == "INFO"


def test_empty_and_blank_variables_count_as_unset():
    settings = Settings.from_env({"MSR_PORT": "", "MSR_DATABASE_URL": "   ", "MSR_JWT_SECRET": ""})
    assert settings.port == 8000
    assert settings.database_url is None
    assert settings.jwt_secret is None


def test_well_formed_variables_are_read():
    settings = Settings.from_env(
        {
            "MSR_HOST": "0.0.0.0",
            "MSR_PORT": "9000",
            "MSR_DATABASE_URL": "postgresql://u:p@db:5432/msr",
            "MSR_DATABASE_READ_URL": "postgres://u:p@replica/msr",
            "MSR_REDIS_URL": "rediss://cache:6380/2",
            "MSR_DATA_DIR": "/var/lib/msr",
            "MSR_JWKS_URL": "https://iam.example/.well-known/jwks.json",
            "MSR_JWT_AUDIENCE": "msr",
            "MSR_JWT_ISSUER": "https://iam.example/",
            "MSR_JWT_ALGORITHMS": "RS256, ES256",
            "MSR_TENANT_CLAIM": "org.tenant",
            "MSR_ROLES_CLAIM": "realm_access.roles",
            "MSR_ALLOWED_ORIGINS": "https://ops.example, http://localhost:5173",
            "MSR_SESSION_IDLE_TIMEOUT_S": "60.5",
            "MSR_FRAME_INTERVAL_MS": "50",
            "MSR_LOG_LEVEL": "debug",
        }
    )
    assert settings.port == 9000
    assert settings.database_url == "postgresql://u:p@db:5432/msr"
    assert settings.redis_url == "rediss://cache:6380/2"
    assert settings.data_dir == Path("/var/lib/msr")
    assert settings.jwt_algorithms == ("RS256", "ES256")
    assert settings.tenant_claim == "org.tenant"
    assert settings.roles_claim == "realm_access.roles"
    assert settings.allowed_origins == ("https://ops.example", "http://localhost:5173")
    assert settings.session_idle_timeout_s == 60.5
    assert settings.frame_interval_ms == 50
    assert settings.log_level == "DEBUG"


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        pytest.param({"MSR_PORT": "abc"}, "MSR_PORT", id="port-not-a-number"),
        pytest.param({"MSR_PORT": "80.5"}, "MSR_PORT", id="port-not-an-integer"),
        pytest.param({"MSR_PORT": "0"}, "MSR_PORT", id="port-zero"),
        pytest.param({"MSR_PORT": "70000"}, "MSR_PORT", id="port-too-large"),
        pytest.param({"MSR_DATABASE_URL": "mysql://db/msr"}, "MSR_DATABASE_URL", id="database-scheme"),
        pytest.param({"MSR_DATABASE_URL": "db:5432"}, "MSR_DATABASE_URL", id="database-not-a-url"),
        pytest.param({"MSR_DATABASE_READ_URL": "http://db"}, "MSR_DATABASE_READ_URL", id="read-url-scheme"),
        pytest.param({"MSR_REDIS_URL": "http://cache:6379"}, "MSR_REDIS_URL", id="redis-scheme"),
        pytest.param({"MSR_JWT_SECRET": "short"}, "MSR_JWT_SECRET", id="short-secret"),
        pytest.param(
            {"MSR_JWT_PUBLIC_KEY": "-----BEGIN PUBLIC KEY-----", "MSR_JWKS_URL": "https://iam/jwks"},
            "MSR_JWKS_URL",
            id="public-key-and-jwks",
        ),
        pytest.param({"MSR_JWKS_URL": "ftp://iam/jwks"}, "MSR_JWKS_URL", id="jwks-scheme"),
        pytest.param({"MSR_JWT_ALGORITHMS": "none"}, "MSR_JWT_ALGORITHMS", id="algorithm-none"),
        pytest.param({"MSR_JWT_ALGORITHMS": "HS256,XX999"}, "MSR_JWT_ALGORITHMS", id="algorithm-unknown"),
        pytest.param(
            {"MSR_JWT_SECRET": SECRET, "MSR_JWT_ALGORITHMS": "RS256"},
            "MSR_JWT_ALGORITHMS",
            id="algorithms-of-no-configured-key",
        ),
        pytest.param({"MSR_TENANT_CLAIM": "org..tenant"}, "MSR_TENANT_CLAIM", id="claim-empty-segment"),
        pytest.param({"MSR_ROLES_CLAIM": "realm access"}, "MSR_ROLES_CLAIM", id="claim-space"),
        pytest.param({"MSR_USER_CLAIM": ".sub"}, "MSR_USER_CLAIM", id="claim-leading-dot"),
        pytest.param({"MSR_ALLOWED_ORIGINS": "ops.example"}, "MSR_ALLOWED_ORIGINS", id="origin-no-scheme"),
        pytest.param({"MSR_ALLOWED_ORIGINS": "https://ops.example/app"}, "MSR_ALLOWED_ORIGINS", id="origin-with-path"),
        pytest.param({"MSR_ALLOWED_ORIGINS": "ftp://ops.example"}, "MSR_ALLOWED_ORIGINS", id="origin-scheme"),
        pytest.param({"MSR_ALLOWED_ORIGINS": "https://"}, "MSR_ALLOWED_ORIGINS", id="origin-no-host"),
        pytest.param({"MSR_SESSION_IDLE_TIMEOUT_S": "soon"}, "MSR_SESSION_IDLE_TIMEOUT_S", id="idle-not-a-number"),
        pytest.param({"MSR_SESSION_IDLE_TIMEOUT_S": "0"}, "MSR_SESSION_IDLE_TIMEOUT_S", id="idle-zero"),
        pytest.param({"MSR_SESSION_IDLE_TIMEOUT_S": "nan"}, "MSR_SESSION_IDLE_TIMEOUT_S", id="idle-nan"),
        pytest.param({"MSR_SESSION_IDLE_TIMEOUT_S": "inf"}, "MSR_SESSION_IDLE_TIMEOUT_S", id="idle-infinite"),
        pytest.param({"MSR_FRAME_INTERVAL_MS": "1"}, "MSR_FRAME_INTERVAL_MS", id="frame-interval-too-small"),
        pytest.param({"MSR_MAX_BODY_BYTES": "10"}, "MSR_MAX_BODY_BYTES", id="max-body-too-small"),
        pytest.param({"MSR_DB_POOL_MIN": "5", "MSR_DB_POOL_MAX": "2"}, "MSR_DB_POOL_MIN", id="pool-min-over-max"),
        pytest.param({"MSR_JWT_LEEWAY_S": "-1"}, "MSR_JWT_LEEWAY_S", id="negative-leeway"),
        pytest.param({"MSR_JWKS_CACHE_S": "0"}, "MSR_JWKS_CACHE_S", id="jwks-cache-zero"),
        pytest.param({"MSR_SETTINGS_POLL_S": "-0.5"}, "MSR_SETTINGS_POLL_S", id="settings-poll-negative"),
        pytest.param({"MSR_LOG_LEVEL": "verbose"}, "MSR_LOG_LEVEL", id="log-level"),
    ],
)
def test_a_malformed_variable_raises_config_error_naming_it(env, variable):
    with pytest.raises(ConfigError) as raised:
        Settings.from_env(env)
    assert variable in str(raised.value)


def test_config_error_message_shows_the_rejected_value():
    with pytest.raises(ConfigError, match="'abc'"):
        Settings.from_env({"MSR_PORT": "abc"})


def test_settings_built_directly_are_validated_too():
    with pytest.raises(ConfigError, match="MSR_JWT_SECRET"):
        Settings(jwt_secret="short")
    with pytest.raises(ConfigError, match="MSR_PORT"):
        Settings().replace(port=0)


def test_a_wildcard_origin_is_accepted():
    assert Settings.from_env({"MSR_ALLOWED_ORIGINS": "*"}).allowed_origins == ("*",)


def test_the_read_replica_wait_is_read_and_bounded():
    assert Settings.from_env({}).database_read_wait_ms == 500
    assert Settings.from_env({"MSR_DATABASE_READ_WAIT_MS": "0"}).database_read_wait_ms == 0
    for raw in ("-1", "60001", "soon"):
        with pytest.raises(ConfigError, match="MSR_DATABASE_READ_WAIT_MS"):
            Settings.from_env({"MSR_DATABASE_READ_WAIT_MS": raw})
