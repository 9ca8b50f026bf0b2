"""Generated data sets: the demo data and the benchmark sets S, M, L and P of BENCH.md.

A data set is deterministic for its seed and end instant: the same spec, seed and end give the same events.
Entities look like the seed's: vehicles (GeoJSON points driving loops around Singapore) in ``fleet.vehicles``,
tasks (points, or polygons for a work area, changing status and assignee) in ``ops.tasks``, and zones
(polygons that grow and shrink) in ``geo.zones``. Each entity's ``entity_state`` is a JSON object of 300-600 bytes
with ``id``, ``geojson`` (a GeoJSON Feature as a string, with ``properties.kind`` and ``name``), ``occ_lock``,
``tenant_id``, ``created_at``, ``updated_at`` and ``entity_type``. The first event of every entity creates it;
most later ones update it, a few delete it, and a deleted entity's next event creates it again.

:func:`load_dataset` streams the events into ``events`` with one binary COPY (memory stays bounded by the number
of entities, never by the number of events), then takes a checkpoint at every whole hour of the span.
"""

from __future__ import annotations

import logging
import math
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import msgspec

from store import queries
from store.partitions import ensure_partitions
from store.pool import Database
from store.snapshots import SnapshotStore
from store.tenant_config import TenantConfigRepository

_log = logging.getLogger("msr.store.datasets")
_Q = queries.load("datasets.sql")
_COLUMNS = ("tenant_id", "event_timestamp", "table_name", "entity_id", "op", "entity_state")
_ONE_MICROSECOND = timedelta(microseconds=1)
_NAMESPACE = uuid.UUID("0f4b6c1e-3f8a-4c55-9a1e-6d2a8b7c9e10")
_ENCODE = msgspec.json.Encoder().encode

# Singapore, inside lon 103.6-104.0 and lat 1.25-1.45 with a margin for the loops and polygons.
_LON = (103.64, 103.96)
_LAT = (1.28, 1.42)

VEHICLES = "fleet.vehicles"
TASKS = "ops.tasks"
ZONES = "geo.zones"
TABLES = (VEHICLES, TASKS, ZONES)
"""The tables of a generated data set."""
_TABLE_CYCLE = (VEHICLES,) * 12 + (TASKS,) * 5 + (ZONES,) * 3
"""Entity ``i`` belongs to ``_TABLE_CYCLE[i % 20]``: 60 % vehicles, 25 % tasks, 15 % zones."""
_KIND = {VEHICLES: "vehicle", TASKS: "task", ZONES: "zone"}
_TASK_STATUS = ("open", "assigned", "en_route", "on_site", "done")
_TASK_AREA_VERTICES = 4

DELETE_PROBABILITY = 0.01
"""Chance that an update-eligible event deletes its entity instead."""
SNAPSHOT_INTERVAL = "0 * * * *"
"""The snapshot schedule a loaded tenant gets: hourly checkpoints, as the loader takes them."""


@dataclass(frozen=True, slots=True)
class DatasetSpec:
    """The size of a data set."""

    name: str
    entities: int
    events: int
    span: timedelta

    def __post_init__(self) -> None:
        if self.entities < 1 or self.events < self.entities:
            raise ValueError("a data set needs at least one entity and at least one event per entity")
        if self.span <= timedelta(0):
            raise ValueError("span must be > 0")


DATASETS: dict[str, DatasetSpec] = {
    "S": DatasetSpec("S", 1_000, 100_000, timedelta(days=2)),
    "M": DatasetSpec("M", 10_000, 1_000_000, timedelta(days=7)),
    "L": DatasetSpec("L", 100_000, 10_000_000, timedelta(days=7)),
    # Dense: 333 events per second of history, so that one session at 1000x offers more than a server delivers.
    "P": DatasetSpec("P", 1_000, 400_000, timedelta(minutes=20)),
}
"""The benchmark data sets of BENCH.md."""
DEMO = DatasetSpec("demo", 400, 120_000, timedelta(days=3))
"""The demo data: a few hundred entities over three days, an update every few minutes each."""


@dataclass(frozen=True, slots=True)
class LoadResult:
    """What a load stored."""

    events: int
    checkpoints: int
    start: datetime
    end: datetime


class _Entity:
    """One entity's fixed parameters (drawn once from the seed) and its version."""

    __slots__ = (
        "center_lat",
        "center_lon",
        "created_at",
        "deleted",
        "entity_id",
        "kind",
        "name",
        "omega",
        "phase",
        "plate",
        "radius",
        "table",
        "version",
        "vertices",
    )

    def __init__(self, index: int, seed: int, rng: random.Random) -> None:
        self.table = _TABLE_CYCLE[index % len(_TABLE_CYCLE)]
        self.kind = _KIND[self.table]
        self.entity_id = str(uuid.uuid5(_NAMESPACE, f"{seed}:{index}"))
        self.name = f"{self.kind.title()} {index + 1}"
        self.center_lon = rng.uniform(*_LON)
        self.center_lat = rng.uniform(*_LAT)
        # Vehicles drive loops of 0.5-2.5 km radius in 20-90 minutes; zones breathe over hours.
        self.radius = rng.uniform(0.005, 0.022)
        self.omega = 2 * math.pi / rng.uniform(1200, 5400)
        self.phase = rng.uniform(0, 2 * math.pi)
        if self.table == ZONES:
            self.vertices = rng.randint(5, 8)
        else:
            # One task in three has a work area (a small square) instead of a point.
            self.vertices = _TASK_AREA_VERTICES if self.table == TASKS and index % 3 == 0 else 0
        self.plate = f"SG{rng.randrange(1000, 9999)}{chr(rng.randrange(65, 91))}"
        self.version = 0
        self.deleted = True
        self.created_at = ""


def _polygon(entity: _Entity, radius: float, seconds: float) -> list[list[list[float]]]:
    ring = []
    for k in range(entity.vertices):
        angle = entity.phase + 2 * math.pi * k / entity.vertices
        wobble = 1 + 0.15 * math.sin(3 * angle + seconds / 7200)
        ring.append(
            [
                round(entity.center_lon + radius * wobble * math.cos(angle), 5),
                round(entity.center_lat + radius * wobble * math.sin(angle), 5),
            ]
        )
    ring.append(ring[0])
    return [ring]


def _feature(entity: _Entity, seconds: float, rng: random.Random) -> dict[str, object]:
    properties: dict[str, object] = {"kind": entity.kind, "name": entity.name}
    if entity.table == VEHICLES:
        angle = entity.phase + entity.omega * seconds
        geometry: dict[str, object] = {
            "type": "Point",
            "coordinates": [
                round(entity.center_lon + entity.radius * math.cos(angle), 6),
                round(entity.center_lat + 0.8 * entity.radius * math.sin(angle), 6),
            ],
        }
        properties["heading"] = round(math.degrees(angle + math.pi / 2) % 360, 1)
        properties["speed_kmh"] = round(rng.uniform(18, 70), 1)
        properties["plate"] = entity.plate
    elif entity.table == TASKS:
        if entity.vertices == _TASK_AREA_VERTICES:
            geometry = {"type": "Polygon", "coordinates": _polygon(entity, 0.002, 0.0)}
        else:
            geometry = {"type": "Point", "coordinates": [round(entity.center_lon, 6), round(entity.center_lat, 6)]}
        properties["status"] = _TASK_STATUS[entity.version % len(_TASK_STATUS)]
        properties["assignee"] = f"Vehicle {rng.randrange(1, 500)}"
        properties["priority"] = rng.choice(("low", "normal", "high"))
    else:
        radius = entity.radius * (1 + 0.3 * math.sin(entity.omega * seconds / 6))
        geometry = {"type": "Polygon", "coordinates": _polygon(entity, radius, seconds)}
        properties["capacity"] = rng.randrange(5, 60)
    return {"type": "Feature", "geometry": geometry, "properties": properties}


def _state(entity: _Entity, tenant: str, at: datetime, seconds: float, rng: random.Random) -> str:
    updated = at.isoformat().replace("+00:00", "Z")
    return _ENCODE(
        {
            "id": entity.entity_id,
            "geojson": _ENCODE(_feature(entity, seconds, rng)).decode(),
            "occ_lock": entity.version,
            "tenant_id": tenant,
            "created_at": entity.created_at or updated,
            "updated_at": updated,
            "entity_type": entity.kind,
        }
    ).decode()


def generate(
    spec: DatasetSpec, tenant_id: uuid.UUID, end: datetime, *, seed: int = 1
) -> Iterator[tuple[uuid.UUID, datetime, str, str, bytes, str | None]]:
    """The data set's events in time order, as ``events`` COPY records (without ``seq``: the sequence sets it).

    Times are spread evenly over ``(end - span, end]`` with a random jitter, strictly increasing, so an entity
    never has two events at the same microsecond. Memory is bounded by the number of entities.
    """
    rng = random.Random(seed)
    entities = [_Entity(i, seed, rng) for i in range(spec.entities)]
    start = end - spec.span
    tenant = str(tenant_id)
    step = spec.span / spec.events
    previous = start
    for k in range(spec.events):
        at = max(start + step * (k + rng.random()), previous + _ONE_MICROSECOND)
        previous = at
        # Every entity is created once first, in index order; later events pick entities at random.
        entity = entities[k] if k < spec.entities else entities[rng.randrange(spec.entities)]
        entity.version += 1
        if entity.deleted:
            op = b"c"
            entity.deleted = False
            entity.created_at = ""
        elif rng.random() < DELETE_PROBABILITY:
            entity.deleted = True
            yield (tenant_id, at, entity.table, entity.entity_id, b"d", None)
            continue
        else:
            op = b"u"
        state = _state(entity, tenant, at, (at - start).total_seconds(), rng)
        if op == b"c":
            entity.created_at = at.isoformat().replace("+00:00", "Z")
        yield (tenant_id, at, entity.table, entity.entity_id, op, state)


async def tenant_has_events(db: Database, tenant_id: uuid.UUID | None = None) -> bool:
    """Whether the tenant (None: any tenant) has stored an event."""
    async with db.connection() as conn:
        found: bool = await conn.fetchval(_Q["tenant_has_events"], tenant_id)
    return found


def whole_hours(start: datetime, end: datetime) -> list[datetime]:
    """The whole hours within ``(start, end]``."""
    hour = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    hours = []
    while hour <= end:
        hours.append(hour)
        hour += timedelta(hours=1)
    return hours


async def load_dataset(
    db: Database,
    spec: DatasetSpec,
    tenant_id: uuid.UUID,
    end: datetime,
    *,
    seed: int = 1,
    checkpoints: bool = True,
) -> LoadResult:
    """Load a generated data set for a tenant that has no events yet, and take its hourly checkpoints.

    Creates the daily partitions of the span first, gives the tenant hourly snapshots, and streams every event
    with one COPY (one transaction). Raises ValueError when the tenant already has events.
    """
    if await tenant_has_events(db, tenant_id):
        raise ValueError(f"tenant {tenant_id} has events already")
    start = end - spec.span
    await ensure_partitions(db, start.astimezone(UTC).date(), end.astimezone(UTC).date())
    await TenantConfigRepository(db).set_snapshot_interval(tenant_id, SNAPSHOT_INTERVAL, "dataset-loader")
    async with db.connection() as conn:
        async with conn.transaction():
            await conn.execute(_Q["no_statement_timeout"])
            await conn.copy_records_to_table(
                "events", records=generate(spec, tenant_id, end, seed=seed), columns=_COLUMNS, timeout=None
            )
        async with conn.transaction():
            await conn.execute(_Q["no_statement_timeout"])
            await conn.execute(_Q["analyze_events"], timeout=None)
    _log.info("loaded data set %s: %d events for tenant %s", spec.name, spec.events, tenant_id)
    taken = 0
    if checkpoints:
        snapshots = SnapshotStore(db)
        for hour in whole_hours(start, end):
            if await snapshots.take_checkpoint(tenant_id, hour) is not None:
                taken += 1
    return LoadResult(spec.events, taken, start, end)
