"""Memory is released once a burst of ended viewers is over, not in its middle, and not for a few viewers."""

import gc
import logging

from app.live.memory import MemoryRelease
from tests.support import serve


class Cycle:
    """An object in a reference cycle: only the cyclic collector frees it."""

    def __init__(self) -> None:
        self.me = self


def releases(caplog) -> int:
    return sum("viewers ended" in record.getMessage() for record in caplog.records)


def test_a_burst_of_ended_viewers_is_collected_once_it_is_over(caplog):
    caplog.set_level(logging.INFO, logger="msr.playback")
    release = MemoryRelease(after=3)
    gc.collect()
    gc.disable()
    try:
        garbage = Cycle()
        del garbage
        release.ended(2)
        release.upkeep()
        assert releases(caplog) == 0, "two viewers are no burst"
        release.ended()
        release.attached()
        release.upkeep()
        assert releases(caplog) == 0, "a viewer attached since the last upkeep: the burst may go on"
        assert any(isinstance(o, Cycle) for o in gc.get_objects())
        release.upkeep()
        assert releases(caplog) == 1
        assert not any(isinstance(o, Cycle) for o in gc.get_objects()), "the cycle was collected"
        release.upkeep()
        assert releases(caplog) == 1, "counted afresh after a release"
    finally:
        gc.enable()


async def test_what_start_up_made_is_frozen_out_of_collections_until_the_server_stops(settings):
    gc.unfreeze()
    async with serve(settings) as server:
        app = server.server.config.app
        # The modules, the application and its routes: tens of thousands of objects no collection walks again.
        assert gc.get_freeze_count() > 10_000
        assert not any(tracked is app for tracked in gc.get_objects())
    assert gc.get_freeze_count() == 0, "handed back to the collector at shutdown"
    assert any(tracked is app for tracked in gc.get_objects())
