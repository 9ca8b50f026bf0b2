"""``msr capture add | list | remove``: which tables of which PostgreSQL sources the server captures."""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from collections.abc import Callable

from app.embedded import EmbeddedPostgres
from app.settings import Settings
from store.capture import CapturedTable, CaptureRepository, CaptureSetupError, install_capture, uninstall_capture
from store.errors import StoreUnavailableError
from store.migrate import migrate
from store.pool import Database, PoolConfig


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser], default_tenant: uuid.UUID) -> None:
    """Register ``capture`` and its subcommands."""
    capture = commands.add_parser("capture", help="capture tables of a PostgreSQL source (triggers and an outbox)")
    actions = capture.add_subparsers(dest="capture_command", required=True)
    source_help = "the source database's URL (default: the server's own database)"
    tenant_help = f"the tenant the changes are recorded for (default {default_tenant}, the demo tenant)"
    add = actions.add_parser("add", help="install the triggers on a table and record its changes")
    add.add_argument("table", help="schema.table in the source")
    add.add_argument("--key", required=True, help="the NOT NULL column that is the entity id (the primary key)")
    add.add_argument("--source-url", default="", help=source_help)
    add.add_argument("--tenant", default=str(default_tenant), help=tenant_help)
    listing = actions.add_parser("list", help="list the captured tables")
    listing.add_argument("--tenant", help="only this tenant's")
    remove = actions.add_parser("remove", help="drop a table's triggers and stop recording its changes")
    remove.add_argument("table", help="schema.table in the source")
    remove.add_argument("--source-url", default="", help=source_help)
    remove.add_argument("--tenant", default=str(default_tenant), help=tenant_help)


async def _run(database_url: str, args: argparse.Namespace) -> int:
    await migrate(database_url)
    db = Database(PoolConfig(dsn=database_url, min_size=1, max_size=1))
    await db.open()
    try:
        repository = CaptureRepository(db)
        if args.capture_command == "list":
            tenant = None if args.tenant is None else uuid.UUID(args.tenant)
            for table in await repository.tables(tenant):
                print(
                    f"{table.tenant_id}  {table.table_name}  key={table.key_column}  source={table.source_url or '-'}"
                )
            return 0
        table = CapturedTable(uuid.UUID(args.tenant), args.source_url, args.table, getattr(args, "key", ""))
        source = args.source_url or database_url
        if args.capture_command == "add":
            await install_capture(source, table)
            await repository.add(table)
            print(f"capturing {table.table_name} (key {table.key_column}) for tenant {table.tenant_id}")
            return 0
        await uninstall_capture(source, table)
        if not await repository.remove(table.tenant_id, table.source_url, table.table_name):
            print(f"msr capture remove: {table.table_name} was not captured for tenant {table.tenant_id}")
            return 1
        print(f"stopped capturing {table.table_name} for tenant {table.tenant_id}")
        return 0
    finally:
        await db.close()


def _embedded_database(settings: Settings) -> tuple[str, Callable[[], None]]:
    """The embedded server's database URL, and how to leave it as it was found.

    ``msr capture`` is run beside a running ``msr serve`` (``make run``): an embedded server that was running
    already is left running.
    """
    postgres = EmbeddedPostgres(settings.data_dir)
    was_running = (postgres.data_dir / "postmaster.pid").exists()
    url = postgres.start()
    return url, _nothing if was_running else postgres.stop


def _nothing() -> None:
    """Leave the database as it is (a configured one, or an embedded one that was running already)."""


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Run a ``capture`` subcommand against the server's database (the embedded one when none is configured)."""
    if args.tenant is not None:
        try:
            uuid.UUID(args.tenant)
        except ValueError:
            print("msr capture: --tenant must be a UUID", file=sys.stderr)
            return 2
    if settings.database_url:
        database_url, leave = settings.database_url, _nothing
    else:
        database_url, leave = _embedded_database(settings)
    try:
        return asyncio.run(_run(database_url, args))
    except (CaptureSetupError, StoreUnavailableError) as exc:
        print(f"msr capture: {exc}", file=sys.stderr)
        return 1
    finally:
        leave()
