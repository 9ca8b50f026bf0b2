"""The one loader of the Lua scripts in ``app/coordination/lua``, and their calls queued on pipelines."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from importlib import resources
from typing import Any

from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import ClusterPipeline
from redis.commands.core import AsyncScript

from app.coordination.redis import RedisConnection

AnyPipeline = Pipeline | ClusterPipeline
"""A non-transactional pipeline of a single server or of a cluster."""


@cache
def _text(name: str) -> str:
    return resources.files("app.coordination").joinpath("lua", f"{name}.lua").read_text(encoding="utf-8")


def load_script(redis: RedisConnection, name: str) -> AsyncScript:
    """The script ``lua/<name>.lua`` on the connection's client (sent to Redis once, then run by its SHA)."""
    return redis.client.register_script(_text(name))


async def queue_script(pipe: AnyPipeline, script: AsyncScript, keys: Sequence[str], args: Sequence[Any]) -> None:
    """Queue a call of ``script`` on ``pipe`` (its answer comes with the pipeline's).

    A single server's pipeline loads the script first if the server lacks it. A cluster's pipeline refuses EVALSHA
    (it could not load the script on a node that answered NOSCRIPT: a new, restarted or just promoted one), so on a
    cluster the script's text goes with the call (EVAL; the server caches it compiled).
    """
    if isinstance(pipe, ClusterPipeline):
        assert isinstance(script.script, str), "load_script registers the text"
        pipe.eval(script.script, len(keys), *keys, *args)
    else:
        await script(keys=keys, args=args, client=pipe)
