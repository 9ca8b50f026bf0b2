"""Errors of the store, independent of the driver that raised them."""


class StoreError(Exception):
    """Base of every error the store raises."""


class StoreUnavailableError(StoreError):
    """PostgreSQL cannot be reached or did not answer in time; retrying later may work."""


class ConflictError(StoreError):
    """A write lost an optimistic-concurrency race (stale ``occ_lock``) or broke a uniqueness rule."""


class NotFoundError(StoreError):
    """The row does not exist (or is not visible to the caller's tenant)."""
