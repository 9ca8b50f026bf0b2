-- The playback lease epoch of the owner that last saved a session's clock (see the save_clock query). Epochs only
-- grow for a session, so a save of an older epoch comes from an owner whose lease was taken (one that was frozen
-- and woke up): it is refused, and the saved clock stays the newer owner's.
ALTER TABLE sessions ADD COLUMN clock_epoch bigint NOT NULL DEFAULT 0;
