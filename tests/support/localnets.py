"""A 4-validator mgrid localnet for one test module, via the operators' command line."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from localnet.testing import LocalnetRunner


def mgrid_localnet(
    tmp_path_factory: pytest.TempPathFactory, port_offset: int, chain_id: str
) -> Iterator[LocalnetRunner]:
    """Up before the module's tests, down after them; use with ``yield from``."""
    runner = LocalnetRunner(
        tmp_path_factory.mktemp(chain_id) / "net",
        port_offset=port_offset,
        chain_id=chain_id,
        validators=4,
        app="mgrid",
        block_time=0.5,
    )
    runner.up()
    yield runner
    runner.down(check=False)
