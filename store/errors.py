"""Errors of the store, independent of the driver that raised them."""

from datetime import datetime


class StoreError(Exception):
    """Base of every error the store raises."""


class StoreUnavailableError(StoreError):
    """PostgreSQL cannot be reached or did not answer in time; retrying later may work."""


class StoreFullError(StoreUnavailableError):
    """PostgreSQL has no disk space left for a write (SQLSTATE 53100); its transaction was rolled back."""


class ConflictError(StoreError):
    """A write lost an optimistic-concurrency race (stale ``occ_lock``) or broke a uniqueness rule."""


class NotFoundError(StoreError):
    """The row does not exist (or is not visible to the caller's tenant)."""


class BeforeRetainedHistoryError(StoreError):
    """An ingested event is at or before the instant retention cut its tenant's history at.

    Storing it would change answers retention can no longer reconstruct (the older events are gone).
    """

    def __init__(self, row: int, retained_from: datetime) -> None:
        super().__init__(f"row {row} is at or before {retained_from.isoformat()}, where retention cut the history")
        self.row = row
        self.retained_from = retained_from
