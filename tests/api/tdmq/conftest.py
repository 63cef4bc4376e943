"""The TDMQ tests run on the API tests' shared server (tests/api/conftest.py), each database."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import CmqAccounts, RunningServer


@pytest.fixture
def cmq_account(server: RunningServer, cmq_accounts: CmqAccounts) -> Any:
    """The official CMQ SDK on the same server: what TDMQ manages, it sends and receives."""
    return cmq_accounts(server.base_url)
