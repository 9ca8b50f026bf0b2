"""Memory is released once a burst of ended viewers is over, not in its middle, and not for a few viewers."""

import gc
import logging

from app.live.memory import MemoryRelease


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
