"""Process settings: one frozen object built from the environment once, in the composition root.

Nothing reads the environment at import time. Tests build ``Settings(...)`` directly.
Runtime settings that operators change while the server runs (the admin settings of seed 000)
live in PostgreSQL instead; see ``store.settings``.

This module is long on purpose: it is the one list of every ``MSR_*`` variable, each field with its docstring and
its check, so that an operator reads the whole configuration in one place.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from app.coordination.redis import check_url as check_redis_url

_T = TypeVar("_T")

_DEFAULT_DATA_DIR = Path(".msr")
_HMAC = frozenset({"HS256", "HS384", "HS512"})
_ALGORITHMS = frozenset({"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "PS256"})
_CLAIM_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_:-]*(\.[A-Za-z_][A-Za-z0-9_:-]*)*$")


class ConfigError(ValueError):
    """A setting in the environment is malformed; the message names the variable and the fix."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the server needs to start, validated in the constructor."""

    host: str = "127.0.0.1"
    """Listen address (``MSR_HOST``)."""
    port: int = 8000
    """Listen port (``MSR_PORT``)."""
    database_url: str | None = None
    """PostgreSQL DSN (``MSR_DATABASE_URL``); None starts the embedded PostgreSQL."""
    database_read_url: str | None = None
    """Optional read replica for replay queries (``MSR_DATABASE_READ_URL``)."""
    database_read_wait_ms: int = 500
    """How long a replay read waits for the read replica to replay what the primary had committed when the read
    began (``MSR_DATABASE_READ_WAIT_MS``); a replica further behind is skipped and the primary answers."""
    redis_url: str | None = None
    """Redis URL (``MSR_REDIS_URL``): one server, ``redis+cluster://host:port[,host:port...]`` for a Redis Cluster or
    ``redis+sentinel://host:port[,host:port...]/service[/db]`` for a Sentinel set; None starts the embedded Redis."""
    redis_prefix: str = "msr:"
    """Prefix of every Redis key (``MSR_REDIS_PREFIX``), so deployments can share a Redis."""
    data_dir: Path = _DEFAULT_DATA_DIR
    """Where the embedded servers and the development secret live (``MSR_DATA_DIR``)."""
    jwt_secret: str | None = None
    """HS256 secret (``MSR_JWT_SECRET``)."""
    jwt_public_key: str | None = None
    """PEM of the RS256/ES256 verification key, or a path to it (``MSR_JWT_PUBLIC_KEY``)."""
    jwks_url: str | None = None
    """The IAM's JWKS endpoint (``MSR_JWKS_URL``)."""
    jwt_audience: str | None = None
    """Required ``aud`` when set (``MSR_JWT_AUDIENCE``)."""
    jwt_issuer: str | None = None
    """Required ``iss`` when set (``MSR_JWT_ISSUER``)."""
    jwt_algorithms: tuple[str, ...] = ()
    """Allowed algorithms (``MSR_JWT_ALGORITHMS``, comma list); empty means those of the configured keys."""
    jwt_leeway_s: float = 10.0
    """Clock skew allowed on ``exp``/``nbf`` (``MSR_JWT_LEEWAY_S``)."""
    jwks_cache_s: float = 300.0
    """How long a fetched JWKS is trusted before it is fetched again (``MSR_JWKS_CACHE_S``)."""
    jwks_refresh_cooldown_s: float = 10.0
    """Least time between two fetches caused by an unknown ``kid`` (``MSR_JWKS_REFRESH_COOLDOWN_S``)."""
    user_claim: str = "sub"
    """Claim holding the user id (``MSR_USER_CLAIM``)."""
    tenant_claim: str = "tenant_id"
    """Claim holding the tenant id, a dotted path allowed (``MSR_TENANT_CLAIM``)."""
    roles_claim: str = "roles"
    """Claim holding the roles, a dotted path allowed (``MSR_ROLES_CLAIM``)."""
    admin_role: str = "admin"
    """Role that makes a principal an admin of their tenant (``MSR_ADMIN_ROLE``)."""
    global_admin_role: str = "msr-global-admin"
    """Role that, with the admin role, extends an admin's reach to every tenant (``MSR_GLOBAL_ADMIN_ROLE``)."""
    allowed_origins: tuple[str, ...] = ()
    """WebSocket/CORS origin allow-list (``MSR_ALLOWED_ORIGINS``); empty means same origin only."""
    session_idle_timeout_s: float = 300.0
    """Idle time after which an ACTIVE session becomes INACTIVE (``MSR_SESSION_IDLE_TIMEOUT_S``)."""
    frame_interval_ms: int = 100
    """Wall-clock period of playback frames (``MSR_FRAME_INTERVAL_MS``)."""
    playback_read_ahead_s: float = 5.0
    """How far ahead of the playback clock a session reads, in wall seconds at its speed
    (``MSR_PLAYBACK_READ_AHEAD_S``)."""
    playback_buffer_events: int = 10_000
    """Most events a session holds read ahead (``MSR_PLAYBACK_BUFFER_EVENTS``)."""
    playback_lease_s: float = 5.0
    """How long a replica owns a session's clock without renewing (``MSR_PLAYBACK_LEASE_S``); a replica that dies
    is replaced within this time."""
    job_lease_s: float = 30.0
    """How long a replica holds a user-erasure job without renewing (``MSR_JOB_LEASE_S``); when it dies, another
    replica resumes the job within this time."""
    job_keep_days: float = 7.0
    """How long a finished job, and an export's file with it, is kept after it ended (``MSR_JOB_KEEP_DAYS``)."""
    viewer_queue_frames: int = 50
    """Frames a viewer may have pending before they are conflated (``MSR_VIEWER_QUEUE_FRAMES``)."""
    viewer_queue_bytes: int = 1 << 20
    """Bytes of pending frames a viewer may have before they are conflated (``MSR_VIEWER_QUEUE_BYTES``)."""
    viewer_history_frames: int = 100
    """Frames kept per viewer for ``resume`` after a reconnect (``MSR_VIEWER_HISTORY_FRAMES``)."""
    viewer_history_bytes: int = 1 << 20
    """Bytes of frames kept per viewer for ``resume`` (``MSR_VIEWER_HISTORY_BYTES``)."""
    diff_seek_within_s: float = 600.0
    """A seek at most this far (event time) from a viewer's picture is sent as a diff, not a state
    (``MSR_DIFF_SEEK_WITHIN_S``; negative: never)."""
    viewport_geometry_path: str = "geojson"
    """Where an entity's geometry is in its ``entity_state``, for viewports: member names joined by dots
    (``MSR_VIEWPORT_GEOMETRY_PATH``; a member holding a JSON string is parsed, as the demo's ``geojson``)."""
    ws_max_message_bytes: int = 64 * 1024
    """Largest WebSocket message a client may send; larger closes the connection with 1009
    (``MSR_WS_MAX_MESSAGE_BYTES``)."""
    ws_rate_limit: float = 20.0
    """Messages per second a client may send, in bursts of up to twice that; a flood closes with 1008
    (``MSR_WS_RATE_LIMIT``)."""
    ws_auth_timeout_s: float = 5.0
    """How long a connection without an ``Authorization`` header has to send its ``auth`` message
    (``MSR_WS_AUTH_TIMEOUT_S``)."""
    ws_ping_interval_s: float = 20.0
    """Period of WebSocket keepalive pings; a peer that does not answer within the same time is dropped
    (``MSR_WS_PING_INTERVAL_S``)."""
    ws_resume_wait_ms: int = 300
    """How long after ``hello`` the server waits for a ``resume`` before it sends a fresh viewer its state
    (``MSR_WS_RESUME_WAIT_MS``); any other message ends the wait at once."""
    ws_resume_grace_s: float = 30.0
    """How long a dropped viewer's frames are kept for it to ``resume`` (``MSR_WS_RESUME_GRACE_S``)."""
    ws_resume_max_parked: int = 5000
    """Most dropped viewers a replica keeps for a ``resume`` at once, all sessions together
    (``MSR_WS_RESUME_MAX_PARKED``); past it a dropped viewer is given up and its client gets a fresh state."""
    send_timeout_s: float = 15.0
    """Longest a connection's send buffer may stay full (``MSR_SEND_TIMEOUT_S``): a client that reads nothing (a
    viewer, or a reader of a streamed answer) is cut after it, instead of holding a socket, a buffer or a database
    cursor."""
    http_header_timeout_s: float = 10.0
    """Time a connection has to send a request's line and headers (``MSR_HTTP_HEADER_TIMEOUT_S``): a slowloris
    client is cut after it, and an idle keep-alive connection too."""
    http_body_timeout_s: float = 30.0
    """Time a request's body has to arrive once its head is in (``MSR_HTTP_BODY_TIMEOUT_S``): a slower one is
    answered 408 ``REQUEST_TIMEOUT`` (cut when the application has begun its answer)."""
    http_max_header_bytes: int = 16 * 1024
    """Largest request line plus headers (``MSR_HTTP_MAX_HEADER_BYTES``); larger is a 431
    ``REQUEST_HEADERS_TOO_LARGE``, before the application."""
    max_body_bytes: int = 16 * 1024 * 1024
    """Largest request body accepted (``MSR_MAX_BODY_BYTES``)."""
    max_event_bytes: int = 1024 * 1024
    """Largest ingested event, as sent: an NDJSON line or an item of a JSON array (``MSR_MAX_EVENT_BYTES``);
    this bounds its ``entity_state`` too."""
    max_state_depth: int = 32
    """Deepest nesting of objects and arrays in an ingested ``entity_state`` (``MSR_MAX_STATE_DEPTH``)."""
    db_pool_min: int = 2
    """Least connections kept open to PostgreSQL (``MSR_DB_POOL_MIN``)."""
    db_pool_max: int = 10
    """Most connections open to PostgreSQL (``MSR_DB_POOL_MAX``)."""
    db_command_timeout_s: float = 30.0
    """Client-side timeout of one database command (``MSR_DB_COMMAND_TIMEOUT_S``)."""
    db_statement_timeout_ms: int = 30_000
    """Server-side ``statement_timeout`` of every connection (``MSR_DB_STATEMENT_TIMEOUT_MS``)."""
    settings_poll_s: float = 0.5
    """How often a replica checks for changed admin settings (``MSR_SETTINGS_POLL_S``)."""
    capture_batch: int = 500
    """Outbox rows a capture drainer stores per transaction (``MSR_CAPTURE_BATCH``)."""
    capture_poll_s: float = 5.0
    """How often capture looks for new sources, and drains without a NOTIFY wake-up (``MSR_CAPTURE_POLL_S``)."""
    log_level: str = "INFO"
    """Log level (``MSR_LOG_LEVEL``)."""
    static_dir: Path = field(default_factory=lambda: Path(__file__).resolve().parent.parent / "static")
    """Folder of the browser UI (``MSR_STATIC_DIR``)."""
    tile_url: str | None = None
    """URL template of a raster tile server for the map's background (``MSR_TILE_URL``), such as
    ``https://tiles.example/{z}/{x}/{y}.png`` or a path on this server; unset, the map shows only its built-in
    Natural Earth basemap (the control rooms are offline)."""
    metrics_token: str | None = None
    """Bearer token that ``GET /metrics`` on the API port requires (``MSR_METRICS_TOKEN``, at least 16 characters);
    unset, the API port does not serve metrics (404)."""
    metrics_port: int | None = None
    """Port of a separate listener that serves ``/metrics`` without a token (``MSR_METRICS_PORT``), for a
    Prometheus that scrapes each replica on a private network; unset, there is none."""
    metrics_host: str = "127.0.0.1"
    """Address of that listener (``MSR_METRICS_HOST``); the image sets ``0.0.0.0``."""
    dev_mode: bool = False
    """Whether the server runs with the generated development secret. Set by ``msr serve`` when no key is
    configured, never from the environment: only then does ``GET /ui/dev-token`` give loopback clients the
    development admin token."""
    dev_allow_remote: bool = False
    """Let development mode listen on a non-loopback ``MSR_HOST`` (``MSR_DEV_ALLOW_REMOTE``). Off by default:
    a development server signs tokens with a secret on disk and anyone who can reach it could use the demo
    admin; ``msr serve`` refuses such an address unless this is set, and then warns."""

    def __post_init__(self) -> None:
        _check(1 <= self.port <= 65535, "MSR_PORT", f"must be a port number 1-65535, got {self.port}")
        for name, url, schemes in (
            ("MSR_DATABASE_URL", self.database_url, ("postgres", "postgresql")),
            ("MSR_DATABASE_READ_URL", self.database_read_url, ("postgres", "postgresql")),
            (
                "MSR_REDIS_URL",
                self.redis_url,
                ("redis", "rediss", "unix", "redis+cluster", "rediss+cluster", "redis+sentinel"),
            ),
        ):
            if url is not None:
                scheme = urlsplit(url).scheme
                _check(scheme in schemes, name, f"must be a URL with scheme {' or '.join(schemes)}")
        if self.redis_url is not None:
            try:
                check_redis_url(self.redis_url)
            except ValueError as exc:
                raise ConfigError(f"MSR_REDIS_URL {exc}") from None
        _check(
            self.jwt_secret is None or len(self.jwt_secret.encode()) >= 32,
            "MSR_JWT_SECRET",
            "must be at least 32 bytes long (HS256 needs a key as long as its hash)",
        )
        _check(
            not (self.jwt_public_key and self.jwks_url),
            "MSR_JWKS_URL",
            "set either MSR_JWT_PUBLIC_KEY or MSR_JWKS_URL, not both",
        )
        if self.jwks_url is not None:
            _check(
                urlsplit(self.jwks_url).scheme in ("http", "https"),
                "MSR_JWKS_URL",
                "must be an http(s) URL",
            )
        unknown = [a for a in self.jwt_algorithms if a not in _ALGORITHMS]
        _check(not unknown, "MSR_JWT_ALGORITHMS", f"unknown algorithm(s) {unknown}; use {sorted(_ALGORITHMS)}")
        if self.jwt_algorithms and self.has_verification_key:
            usable = (self.jwt_secret is not None and any(a in _HMAC for a in self.jwt_algorithms)) or (
                bool(self.jwt_public_key or self.jwks_url) and any(a not in _HMAC for a in self.jwt_algorithms)
            )
            # Otherwise every token would be rejected: a configuration mistake, not a policy.
            _check(usable, "MSR_JWT_ALGORITHMS", "allows no algorithm of the configured key")
        for name, claim in (
            ("MSR_USER_CLAIM", self.user_claim),
            ("MSR_TENANT_CLAIM", self.tenant_claim),
            ("MSR_ROLES_CLAIM", self.roles_claim),
            ("MSR_VIEWPORT_GEOMETRY_PATH", self.viewport_geometry_path),
        ):
            _check(bool(_CLAIM_PATH.match(claim)), name, "must be a name or a dotted path of names")
        _check(bool(self.admin_role), "MSR_ADMIN_ROLE", "must not be empty")
        _check(_positive(self.session_idle_timeout_s), "MSR_SESSION_IDLE_TIMEOUT_S", "must be > 0")
        _check(10 <= self.frame_interval_ms <= 10_000, "MSR_FRAME_INTERVAL_MS", "must be 10-10000")
        _check(0 <= self.database_read_wait_ms <= 60_000, "MSR_DATABASE_READ_WAIT_MS", "must be 0-60000")
        _check(self.max_body_bytes >= 1024, "MSR_MAX_BODY_BYTES", "must be >= 1024")
        _check(
            _positive(self.playback_read_ahead_s) and self.playback_read_ahead_s * 1000 > self.frame_interval_ms,
            "MSR_PLAYBACK_READ_AHEAD_S",
            "must be > 0 and longer than MSR_FRAME_INTERVAL_MS",
        )
        _check(self.playback_buffer_events >= 100, "MSR_PLAYBACK_BUFFER_EVENTS", "must be >= 100")
        _check(
            _positive(self.playback_lease_s) and self.playback_lease_s >= 0.5,
            "MSR_PLAYBACK_LEASE_S",
            "must be >= 0.5",
        )
        for name, value in (
            ("MSR_VIEWER_QUEUE_FRAMES", self.viewer_queue_frames),
            ("MSR_VIEWER_QUEUE_BYTES", self.viewer_queue_bytes),
            ("MSR_VIEWER_HISTORY_FRAMES", self.viewer_history_frames),
            ("MSR_VIEWER_HISTORY_BYTES", self.viewer_history_bytes),
        ):
            _check(value >= 1, name, "must be >= 1")
        _check(self.ws_max_message_bytes >= 1024, "MSR_WS_MAX_MESSAGE_BYTES", "must be >= 1024")
        _check(_positive(self.ws_rate_limit), "MSR_WS_RATE_LIMIT", "must be > 0")
        _check(_positive(self.ws_auth_timeout_s), "MSR_WS_AUTH_TIMEOUT_S", "must be > 0")
        _check(_positive(self.ws_ping_interval_s), "MSR_WS_PING_INTERVAL_S", "must be > 0")
        _check(0 <= self.ws_resume_wait_ms <= 10_000, "MSR_WS_RESUME_WAIT_MS", "must be 0-10000")
        for ok, name, problem in (
            (_positive(self.job_lease_s) and self.job_lease_s >= 0.5, "MSR_JOB_LEASE_S", "must be >= 0.5"),
            (_positive(self.job_keep_days), "MSR_JOB_KEEP_DAYS", "must be > 0"),
            (_positive(self.ws_resume_grace_s, zero=True), "MSR_WS_RESUME_GRACE_S", "must be >= 0"),
            (self.ws_resume_max_parked >= 0, "MSR_WS_RESUME_MAX_PARKED", "must be >= 0"),
            (_positive(self.send_timeout_s), "MSR_SEND_TIMEOUT_S", "must be > 0"),
            (_positive(self.http_header_timeout_s), "MSR_HTTP_HEADER_TIMEOUT_S", "must be > 0"),
            (_positive(self.http_body_timeout_s), "MSR_HTTP_BODY_TIMEOUT_S", "must be > 0"),
            (self.http_max_header_bytes >= 1024, "MSR_HTTP_MAX_HEADER_BYTES", "must be >= 1024"),
            (self.max_event_bytes >= 1024, "MSR_MAX_EVENT_BYTES", "must be >= 1024"),
            (1 <= self.max_state_depth <= 1000, "MSR_MAX_STATE_DEPTH", "must be 1-1000"),
        ):
            _check(ok, name, problem)
        _check(1 <= self.db_pool_min <= self.db_pool_max, "MSR_DB_POOL_MIN", "must be 1..MSR_DB_POOL_MAX")
        _check(_positive(self.db_command_timeout_s), "MSR_DB_COMMAND_TIMEOUT_S", "must be > 0")
        _check(self.db_statement_timeout_ms >= 0, "MSR_DB_STATEMENT_TIMEOUT_MS", "must be >= 0")
        _check(_positive(self.jwt_leeway_s, zero=True), "MSR_JWT_LEEWAY_S", "must be >= 0")
        _check(_positive(self.jwks_cache_s), "MSR_JWKS_CACHE_S", "must be > 0")
        _check(_positive(self.jwks_refresh_cooldown_s, zero=True), "MSR_JWKS_REFRESH_COOLDOWN_S", "must be >= 0")
        _check(_positive(self.settings_poll_s), "MSR_SETTINGS_POLL_S", "must be > 0")
        _check(self.capture_batch > 0, "MSR_CAPTURE_BATCH", "must be > 0")
        _check(_positive(self.capture_poll_s), "MSR_CAPTURE_POLL_S", "must be > 0")
        _check(
            self.log_level in ("DEBUG", "INFO", "WARNING", "ERROR"),
            "MSR_LOG_LEVEL",
            "must be DEBUG, INFO, WARNING or ERROR",
        )
        _check(
            self.metrics_token is None or len(self.metrics_token) >= 16,
            "MSR_METRICS_TOKEN",
            "must be at least 16 characters (a guessable token would expose the metrics)",
        )
        _check(
            self.metrics_port is None or (1 <= self.metrics_port <= 65535 and self.metrics_port != self.port),
            "MSR_METRICS_PORT",
            "must be a port number 1-65535 other than MSR_PORT",
        )
        if self.tile_url is not None:
            _check(_is_tile_template(self.tile_url), "MSR_TILE_URL", _TILE_URL_PROBLEM)
        for origin in self.allowed_origins:
            _check(
                origin == "*" or _is_origin(origin),
                "MSR_ALLOWED_ORIGINS",
                f"{origin!r} is not an origin like https://host:port or *",
            )

    @property
    def has_verification_key(self) -> bool:
        """Whether any token verification key is configured."""
        return bool(self.jwt_secret or self.jwt_public_key or self.jwks_url)

    def replace(self, **changes: object) -> Settings:
        """Return a copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Build settings from ``MSR_*`` variables; a malformed value raises ConfigError naming it."""
        reader = _EnvReader(env)
        values: dict[str, object] = {
            "host": reader.text("MSR_HOST"),
            "port": reader.parse("MSR_PORT", int, "an integer"),
            "database_url": reader.text("MSR_DATABASE_URL"),
            "database_read_url": reader.text("MSR_DATABASE_READ_URL"),
            "database_read_wait_ms": reader.parse("MSR_DATABASE_READ_WAIT_MS", int, "an integer"),
            "redis_url": reader.text("MSR_REDIS_URL"),
            "redis_prefix": reader.text("MSR_REDIS_PREFIX"),
            "data_dir": reader.parse("MSR_DATA_DIR", Path, "a path"),
            "jwt_secret": reader.text("MSR_JWT_SECRET"),
            "jwt_public_key": reader.text("MSR_JWT_PUBLIC_KEY"),
            "jwks_url": reader.text("MSR_JWKS_URL"),
            "jwt_audience": reader.text("MSR_JWT_AUDIENCE"),
            "jwt_issuer": reader.text("MSR_JWT_ISSUER"),
            "jwt_algorithms": reader.parse("MSR_JWT_ALGORITHMS", _comma_list, "a comma list"),
            "jwt_leeway_s": reader.parse("MSR_JWT_LEEWAY_S", float, "a number of seconds"),
            "jwks_cache_s": reader.parse("MSR_JWKS_CACHE_S", float, "a number of seconds"),
            "jwks_refresh_cooldown_s": reader.parse("MSR_JWKS_REFRESH_COOLDOWN_S", float, "a number of seconds"),
            "user_claim": reader.text("MSR_USER_CLAIM"),
            "tenant_claim": reader.text("MSR_TENANT_CLAIM"),
            "roles_claim": reader.text("MSR_ROLES_CLAIM"),
            "admin_role": reader.text("MSR_ADMIN_ROLE"),
            "global_admin_role": reader.text("MSR_GLOBAL_ADMIN_ROLE"),
            "allowed_origins": reader.parse("MSR_ALLOWED_ORIGINS", _comma_list, "a comma list of origins"),
            "session_idle_timeout_s": reader.parse("MSR_SESSION_IDLE_TIMEOUT_S", float, "a number of seconds"),
            "frame_interval_ms": reader.parse("MSR_FRAME_INTERVAL_MS", int, "an integer"),
            "max_body_bytes": reader.parse("MSR_MAX_BODY_BYTES", int, "an integer"),
            "playback_read_ahead_s": reader.parse("MSR_PLAYBACK_READ_AHEAD_S", float, "a number of seconds"),
            "playback_buffer_events": reader.parse("MSR_PLAYBACK_BUFFER_EVENTS", int, "an integer"),
            "playback_lease_s": reader.parse("MSR_PLAYBACK_LEASE_S", float, "a number of seconds"),
            "job_lease_s": reader.parse("MSR_JOB_LEASE_S", float, "a number of seconds"),
            "job_keep_days": reader.parse("MSR_JOB_KEEP_DAYS", float, "a number of days"),
            "viewer_queue_frames": reader.parse("MSR_VIEWER_QUEUE_FRAMES", int, "an integer"),
            "viewer_queue_bytes": reader.parse("MSR_VIEWER_QUEUE_BYTES", int, "an integer"),
            "viewer_history_frames": reader.parse("MSR_VIEWER_HISTORY_FRAMES", int, "an integer"),
            "viewer_history_bytes": reader.parse("MSR_VIEWER_HISTORY_BYTES", int, "an integer"),
            "diff_seek_within_s": reader.parse("MSR_DIFF_SEEK_WITHIN_S", float, "a number of seconds"),
            "viewport_geometry_path": reader.parse("MSR_VIEWPORT_GEOMETRY_PATH", str, "member names joined by dots"),
            "ws_max_message_bytes": reader.parse("MSR_WS_MAX_MESSAGE_BYTES", int, "an integer"),
            "ws_rate_limit": reader.parse("MSR_WS_RATE_LIMIT", float, "a number of messages per second"),
            "ws_auth_timeout_s": reader.parse("MSR_WS_AUTH_TIMEOUT_S", float, "a number of seconds"),
            "ws_ping_interval_s": reader.parse("MSR_WS_PING_INTERVAL_S", float, "a number of seconds"),
            "ws_resume_wait_ms": reader.parse("MSR_WS_RESUME_WAIT_MS", int, "an integer"),
            "ws_resume_grace_s": reader.parse("MSR_WS_RESUME_GRACE_S", float, "a number of seconds"),
            "ws_resume_max_parked": reader.parse("MSR_WS_RESUME_MAX_PARKED", int, "an integer"),
            "send_timeout_s": reader.parse("MSR_SEND_TIMEOUT_S", float, "a number of seconds"),
            "http_header_timeout_s": reader.parse("MSR_HTTP_HEADER_TIMEOUT_S", float, "a number of seconds"),
            "http_body_timeout_s": reader.parse("MSR_HTTP_BODY_TIMEOUT_S", float, "a number of seconds"),
            "http_max_header_bytes": reader.parse("MSR_HTTP_MAX_HEADER_BYTES", int, "an integer"),
            "max_event_bytes": reader.parse("MSR_MAX_EVENT_BYTES", int, "an integer"),
            "max_state_depth": reader.parse("MSR_MAX_STATE_DEPTH", int, "an integer"),
            "db_pool_min": reader.parse("MSR_DB_POOL_MIN", int, "an integer"),
            "db_pool_max": reader.parse("MSR_DB_POOL_MAX", int, "an integer"),
            "db_command_timeout_s": reader.parse("MSR_DB_COMMAND_TIMEOUT_S", float, "a number of seconds"),
            "db_statement_timeout_ms": reader.parse("MSR_DB_STATEMENT_TIMEOUT_MS", int, "an integer"),
            "settings_poll_s": reader.parse("MSR_SETTINGS_POLL_S", float, "a number of seconds"),
            "capture_batch": reader.parse("MSR_CAPTURE_BATCH", int, "an integer"),
            "capture_poll_s": reader.parse("MSR_CAPTURE_POLL_S", float, "a number of seconds"),
            "log_level": reader.parse("MSR_LOG_LEVEL", str.upper, "a level name"),
            "static_dir": reader.parse("MSR_STATIC_DIR", Path, "a path"),
            "tile_url": reader.text("MSR_TILE_URL"),
            "dev_allow_remote": reader.parse("MSR_DEV_ALLOW_REMOTE", _flag, "true or false"),
            "metrics_token": reader.text("MSR_METRICS_TOKEN"),
            "metrics_port": reader.parse("MSR_METRICS_PORT", int, "an integer"),
            "metrics_host": reader.text("MSR_METRICS_HOST"),
        }
        return cls(**{name: value for name, value in values.items() if value is not None})  # type: ignore[arg-type]


def _check(ok: bool, variable: str, problem: str) -> None:
    if not ok:
        raise ConfigError(f"{variable} {problem}")


def _positive(value: float, *, zero: bool = False) -> bool:
    # NaN fails every comparison, and an infinite timeout or period would silently disable its feature.
    return math.isfinite(value) and (value >= 0 if zero else value > 0)


def _is_origin(value: str) -> bool:
    # Browsers send Origin as scheme://host[:port] exactly; anything more could never match.
    try:
        parts = urlsplit(value)
        _ = parts.port
    except ValueError:
        return False
    return (
        parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and parts.username is None
        and not (parts.path or parts.query or parts.fragment)
        and value == f"{parts.scheme}://{parts.netloc}"
    )


_TILE_URL_PROBLEM = (
    "must be an http(s) URL or a path starting with / that holds {z}, {x} and {y}, "
    "such as https://tiles.example/{z}/{x}/{y}.png"
)


def _is_tile_template(value: str) -> bool:
    # MapLibre fills {z}/{x}/{y} in; a template without them would fetch one tile for the whole world.
    if not all(part in value for part in ("{z}", "{x}", "{y}")) or any(c.isspace() for c in value):
        return False
    if value.startswith("/") and not value.startswith("//"):
        return True
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _flag(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(raw)


def is_loopback_host(host: str | None) -> bool:
    """Whether an address (or ``localhost``) is on this machine: 127.0.0.0/8, ::1, or IPv4-mapped loopback."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def _comma_list(raw: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in raw.split(",") if item.strip())


class _EnvReader:
    """Reads optional variables; empty strings count as unset."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def text(self, name: str) -> str | None:
        raw = self._env.get(name, "").strip()
        return raw or None

    def parse(self, name: str, convert: Callable[[str], _T], expected: str) -> _T | None:
        raw = self.text(name)
        if raw is None:
            return None
        try:
            return convert(raw)
        except ValueError:
            raise ConfigError(f"{name} must be {expected}, got {raw!r}") from None
