"""The class -> code table of the Batch API, and product codes carried by domain errors."""

from __future__ import annotations

import pytest

from batchd.api.tc3 import errors as tc3_errors
from batchd.domain import errors


def subclasses(cls: type[errors.BatchdError]) -> list[type[errors.BatchdError]]:
    found = [cls]
    for child in cls.__subclasses__():
        found += subclasses(child)
    return found


@pytest.mark.parametrize("cls", subclasses(errors.BatchdError), ids=lambda cls: cls.__name__)
def test_every_error_class_has_a_code(cls: type[errors.BatchdError]) -> None:
    assert cls in tc3_errors.CODES, f"add {cls.__name__} to api/tc3/errors.py CODES"


def test_product_code_given_per_instance_wins() -> None:
    error = errors.NotFound("job job-a does not exist", code="ResourceNotFound.Job")

    assert tc3_errors.code_for(error) == "ResourceNotFound.Job"
    assert error.message == "job job-a does not exist"


def test_product_code_given_per_class_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(errors.ResourceInUse, "tc3_code", "ResourceInUse.Job")

    assert tc3_errors.code_for(errors.ResourceInUse()) == "ResourceInUse.Job"


def test_without_product_code_the_nearest_mapped_class_decides(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delitem(tc3_errors.CODES, errors.QueueFull)

    assert tc3_errors.code_for(errors.QueueFull()) == "LimitExceeded"
    assert tc3_errors.code_for(errors.BatchdError()) == "InternalError"


def test_the_code_keyword_leaves_other_instances_alone() -> None:
    errors.NotFound(code="ResourceNotFound.Job")

    assert tc3_errors.code_for(errors.NotFound()) == "ResourceNotFound"
