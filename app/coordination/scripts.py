"""The one loader of the Lua scripts in ``app/coordination/lua``."""

from __future__ import annotations

from functools import cache
from importlib import resources

from redis.commands.core import AsyncScript

from app.coordination.redis import RedisConnection


@cache
def _text(name: str) -> str:
    return resources.files("app.coordination").joinpath("lua", f"{name}.lua").read_text(encoding="utf-8")


def load_script(redis: RedisConnection, name: str) -> AsyncScript:
    """The script ``lua/<name>.lua`` on the connection's client (sent to Redis once, then run by its SHA)."""
    return redis.client.register_script(_text(name))
