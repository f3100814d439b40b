"""Fixtures of the localnet tests: which ABCI apps to run networks with.

Networks run CometBFT's kvstore example app always, and the microgrid app
``mgridd`` too once it is installed. ``LOCALNET_TEST_APPS=kvstore,mgrid``
chooses explicitly.
"""

from __future__ import annotations

import importlib.util
import os

import pytest

from localnet.commands import mgridd_binary
from localnet.errors import BinaryNotFound


def _mgridd_installed() -> bool:
    try:
        mgridd_binary()
    except BinaryNotFound:
        return False
    return importlib.util.find_spec("app.daemon") is not None


def apps_under_test() -> list[str]:
    chosen = os.environ.get("LOCALNET_TEST_APPS")
    if chosen:
        return [app.strip() for app in chosen.split(",") if app.strip()]
    return ["kvstore", "mgrid"] if _mgridd_installed() else ["kvstore"]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "app_kind" in metafunc.fixturenames:
        metafunc.parametrize("app_kind", apps_under_test(), scope="module")
