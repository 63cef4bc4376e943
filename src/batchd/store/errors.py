"""The one boundary where database driver errors become batchd errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import exc as sa_exc

from batchd.domain import errors


def translate(error: Exception) -> errors.BatchdError | None:
    """The batchd error for a driver error, or None when it is not a driver error."""
    if isinstance(error, sa_exc.IntegrityError):
        return errors.ResourceInUse("the resource changed concurrently; retry the request")
    if isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError):
        text = str(error.orig) if error.orig is not None else str(error)
        if "locked" in text or "busy" in text:
            return errors.StoreUnavailable("the database stayed locked; retry shortly")
        return errors.StoreUnavailable("lost the database connection; retry shortly")
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return errors.StoreUnavailable("lost the database connection; retry shortly")
    return None


@contextmanager
def driver_errors() -> Iterator[None]:
    """Re-raise driver errors as batchd errors, keeping the cause."""
    try:
        yield
    except sa_exc.SQLAlchemyError as error:
        translated = translate(error)
        if translated is None:
            raise
        raise translated from error
