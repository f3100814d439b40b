"""The certificates genesis section: defaults, the chain id kept as the microgrid's
name, and every refusal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from app.chain import Chain, GenesisError
from app.genesis import default_app_state
from app.kv import CacheKV, StoreView
from app.modules.certificates import keeper
from app.store import Store
from tests.app.certificates.conftest import cert_state
from tests.app.market.conftest import CAROL, START

NS = 10**9


def init(tmp_path: Path, state: dict[str, Any], chain_id: str = "mg-x") -> Chain:
    store = Store(str(tmp_path / "app.db"), sync=False)
    chain = Chain(store, check_invariants=True)
    try:
        chain.init_chain(chain_id, START * NS, json.dumps(state).encode(), 1)
    except Exception:
        store.close()
        raise
    return chain


@pytest.mark.parametrize(
    ("section", "wh"),
    [(None, 1_000_000), ({}, 1_000_000), ({"wh_per_certificate": 7}, 7)],
)
def test_params_and_chain_id(tmp_path: Path, section: dict[str, Any] | None, wh: int) -> None:
    state = cert_state(None)
    if section is not None:
        state["certificates"] = section
    chain = init(tmp_path, state, chain_id="mg-north-1")
    try:
        kv = chain.block_kv
        assert keeper.get_params(kv).wh_per_certificate == wh
        assert keeper.chain_id(kv) == "mg-north-1"
    finally:
        chain.store.close()


@pytest.mark.parametrize(
    ("state", "message"),
    [
        (cert_state(0), "wh_per_certificate: must be in 1..1000000000000000, got 0"),
        (cert_state(10**15 + 1), "must be in 1..1000000000000000"),
        ({**cert_state(), "certificates": {"wh_per_mwh": 1}}, "unknown fields ['wh_per_mwh']"),
        (
            {**cert_state(), "certificates": {"params": {"wh_per_certificate": 1}}},
            "unknown fields ['params']",
        ),
        (
            {**cert_state(), "certificates": {"wh_per_certificate": "many"}},
            "certificates",
        ),
        (
            {**default_app_state(balances={CAROL.address: 5}), "certificates": {}},
            None,  # no market, empty section: fine, the module is off
        ),
        (
            {
                **default_app_state(balances={CAROL.address: 5}),
                "certificates": {"wh_per_certificate": 1},
            },
            "certificates: needs a market section",
        ),
    ],
)
def test_refusals(tmp_path: Path, state: dict[str, Any], message: str | None) -> None:
    if message is None:
        chain = init(tmp_path, state)
        assert not keeper.is_configured(chain.block_kv)
        chain.store.close()
        return
    with pytest.raises(GenesisError, match="certificates") as info:
        init(tmp_path, state)
    assert message in str(info.value)


def test_forged_certificates_in_bank_genesis_refused(tmp_path: Path) -> None:
    state = cert_state()
    forged = f"rec/solar/{CAROL.address}/1700000000-1700000060"
    [carol] = [b for b in state["bank"]["balances"] if b["address"] == CAROL.address]
    carol["coins"].append({"denom": forged, "amount": "5"})
    with pytest.raises(GenesisError, match="only issued for metered export"):
        init(tmp_path, state)


def test_nothing_stored_before_genesis(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "app.db"), sync=False)
    try:
        kv = CacheKV(StoreView(store))
        assert not keeper.is_configured(kv) and keeper.chain_id(kv) == ""
        keeper.check_invariants(kv)  # off: nothing to check
    finally:
        store.close()
