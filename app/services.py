"""The replica's long-lived parts, built in the app's lifespan and reached by routes through ``app.state``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency

from app.auth import Authenticator, Principal, bearer_token, require_admin
from app.background import BackgroundTasks
from app.coordination.redis import RedisConnection
from app.domain.admin_settings import RuntimeSettings
from app.domain.erasure import Erasures
from app.domain.exports import ExportRunner, ExportWriter
from app.domain.sessions import SessionService
from app.live.cluster import PlaybackCluster
from app.live.presence import Presence
from app.live.registry import LiveRegistry
from app.settings import Settings
from store.erasure import ErasureStore
from store.events import EventStore
from store.exports import ExportFiles
from store.jobs import JobRepository
from store.playback import PlaybackStore
from store.pool import Database
from store.sessions import SessionRepository
from store.snapshots import SnapshotStore
from store.tenant_config import TenantConfigRepository


@dataclass(slots=True)
class Services:
    """Everything a request handler may need, wired once by ``create_app``."""

    settings: Settings
    db: Database
    redis: RedisConnection
    runtime: RuntimeSettings
    authenticator: Authenticator
    background: BackgroundTasks
    sessions: SessionService
    events: EventStore = field(init=False)
    """Ingest and reads of change events (built from ``db``)."""
    snapshots: SnapshotStore = field(init=False)
    """Checkpoints and their schedule (built from ``db``)."""
    tenant_configs: TenantConfigRepository = field(init=False)
    """Per-tenant snapshot configuration (built from ``db``)."""
    playback: LiveRegistry = field(init=False)
    """The sessions played and watched on this replica (closed by the app's lifespan)."""
    playback_store: PlaybackStore = field(init=False)
    """Playback fields of sessions, activity log, states (built from ``db``)."""
    jobs: JobRepository = field(init=False)
    """Background jobs: retention, rollup refresh, ... (built from ``db``)."""
    export_files: ExportFiles = field(init=False)
    """The stored files of exports (built from ``db``)."""
    export_runner: ExportRunner = field(init=False)
    """This replica's export worker (its loop is started with the others)."""
    presence: Presence = field(init=False)
    """This replica's live sessions and viewers in Redis, and every replica's (``GET /admin/sessions/live``)."""
    erasures: Erasures = field(init=False)
    """User erasure jobs (started here, resumed by any replica; closed by the app's lifespan)."""

    def __post_init__(self) -> None:
        self.events = EventStore(self.db)
        self.snapshots = SnapshotStore(self.db)
        self.tenant_configs = TenantConfigRepository(self.db)
        self.jobs = JobRepository(self.db)
        self.export_files = ExportFiles(self.db)
        writer = ExportWriter(self.events, self.export_files)
        self.export_runner = ExportRunner(self.jobs, self.export_files, writer, self.redis)
        self.erasures = Erasures(ErasureStore(self.db), self.jobs, self.sessions, self.redis, self.settings.job_lease_s)
        self.playback_store = PlaybackStore(self.db)
        self.playback = LiveRegistry(
            self.settings,
            self.sessions,
            self.events,
            self.playback_store,
            self.runtime,
            SessionRepository(self.db),
            PlaybackCluster(self.redis, self.settings.playback_lease_s),
        )
        self.presence = Presence(self.redis, self.playback)


ServicesDep = NamedDependency[Services]
"""Route parameter ``services``: the replica's services."""
PrincipalDep = NamedDependency[Principal]
"""Route parameter ``principal`` (any authenticated caller) or ``admin`` (an admin)."""


def services_of(state: State) -> Services:
    """The services stored on the app state at start-up."""
    services: Services = state.services
    return services


async def provide_services(state: State) -> Services:
    """Dependency: the replica's services."""
    return services_of(state)


async def provide_principal(services: ServicesDep, request: Request[Any, Any, Any]) -> Principal:
    """Dependency: the authenticated caller (401 otherwise).

    It depends on ``services`` so that Litestar resolves the two one after the other: dependencies of one level
    are resolved in a task group, which costs more than they do.
    """
    return await services.authenticator.authenticate(bearer_token(request.headers.get("authorization")))


async def provide_admin(principal: PrincipalDep) -> Principal:
    """Dependency: the authenticated caller, who must be an admin (403 otherwise)."""
    return require_admin(principal)
