"""Issuance under random sequences of settlements, at the keeper level on the real
store of the test microgrid's genesis (each example on a fresh branch of it).

Random exports of four participants (one with two meters), far below and far
above a certificate's worth; the utility cell's flag set, changed and cleared
between intervals; end_block called again with intervals already settled
(alone, or together with the next one). A reference model that counts each
(generator, interval) once, while the generator is flagged, predicts every
issuance exactly: which generator, interval, count, technology and period. So
each generator is issued floor(total / wh_per_certificate) certificates with
the rest carried, the minted supply equals what was issued, and no interval is
ever certified twice. The module's and the bank's invariants hold throughout."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import crypto
from app.context import Context, Mode
from app.kv import CacheKV, StoreView
from app.modules.bank import keeper as bank
from app.modules.certificates import keeper
from app.modules.market import keeper as market
from app.modules.registry import keeper as registry
from app.modules.settlement import keeper as settlement
from app.pb.mgrid.certificates.v1 import certificates_pb2 as cert_pb2
from app.pb.mgrid.settlement.v1 import settlement_pb2
from tests.app.certificates.conftest import cert_state
from tests.app.market.conftest import ALICE, BOB, CAROL, EVE, METERS, START
from tests.support.inproc import InProcessNode
from tests.support.txs import key

PEOPLE = (ALICE, BOB, CAROL, EVE)
# (participant index, meter public key): CAROL has a second meter.
METER_SLOTS = [(i, METERS[p.address].public_key) for i, p in enumerate(PEOPLE)]
METER_SLOTS.append((2, key(81).public_key))
TECHNOLOGIES = ["", "solar", "wind"]
N0 = START // 60 + 5


@pytest.fixture(scope="module")
def genesis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessNode]:
    home: Path = tmp_path_factory.mktemp("certificates-props")
    node = InProcessNode(home, cert_state(), start_time=START)
    yield node
    node.close()


wh_values = st.one_of(st.sampled_from([1000, 1_000_000]), st.integers(1, 5000))
exports = st.one_of(
    st.just(0),
    st.integers(1, 2_000),
    st.integers(1, 3_000_000),
    st.sampled_from([999, 1000, 1001, 999_999, 1_000_000, 1_000_001]),
)
steps = st.lists(
    st.tuples(
        st.dictionaries(st.integers(0, 3), st.sampled_from(TECHNOLOGIES), max_size=3),
        st.lists(exports, min_size=len(METER_SLOTS), max_size=len(METER_SLOTS)),
        st.lists(st.integers(0, 30), max_size=3),  # earlier steps settled again (index mod i+1)
        st.booleans(),  # repeats in the same end_block call as this interval, or a call each
    ),
    min_size=1,
    max_size=12,
)


class Model:
    """What the rules say should happen: carry per generator, each (p, n) once."""

    def __init__(self, kv: Any, wh: int):
        self.kv, self.wh = kv, wh
        self.total = {p.address: 0 for p in PEOPLE}
        self.carry = {p.address: 0 for p in PEOPLE}
        self.first: dict[str, int] = {}
        self.last: dict[str, int] = {}
        self.counted: set[tuple[str, int]] = set()
        self.issuances: list[tuple[str, int, int, str, int, int]] = []

    def settle(self, n: int, export: dict[str, int], tech: dict[str, str]) -> None:
        for address in sorted(export, key=crypto.decode_address):
            x = export[address]
            if not x or not tech[address] or (address, n) in self.counted:
                continue
            self.counted.add((address, n))
            self.total[address] += x
            if self.carry[address] == 0:
                self.first[address] = n
            else:
                self.first[address] = min(self.first[address], n)
            self.last[address] = max(self.last.get(address, n), n)
            count, self.carry[address] = divmod(self.carry[address] + x, self.wh)
            if count:
                start = market.get_interval(self.kv, self.first[address]).start_time
                end = market.get_interval(self.kv, self.last[address]).end_time
                self.issuances.append((address, n, count, tech[address], start, end))
                self.first[address] = n


def _set_technology(kv: CacheKV, who: Any, technology: str) -> None:
    participant = registry.get_participant(kv, crypto.decode_address(who.address))
    assert participant is not None
    participant.technology = technology
    registry.set_participant(kv, participant)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(wh_values, steps)
def test_issued_exactly_once_per_certificate_worth(
    genesis: InProcessNode,
    wh: int,
    plan: list[tuple[dict[int, str], list[int], list[int], bool]],
) -> None:
    kv = CacheKV(StoreView(genesis.store))
    ctx = Context(kv, genesis.height + 1, genesis.time_ns, genesis.chain_id, Mode.DELIVER)
    keeper.PARAMS.set(kv, cert_pb2.Params(wh_per_certificate=wh))
    model = Model(kv, wh)
    tech = {p.address: "" for p in PEOPLE}
    exported: list[dict[str, int]] = []
    for i, (changes, values, repeats, together) in enumerate(plan):
        for who, technology in sorted(changes.items()):
            _set_technology(kv, PEOPLE[who], technology)
            tech[PEOPLE[who].address] = technology
        n = N0 + i
        per: dict[str, int] = {}
        for (who, meter), x in zip(METER_SLOTS, values, strict=True):
            address = PEOPLE[who].address
            reading = settlement_pb2.Reading(
                meter=meter, participant=address, interval=n, exported_wh=x, imported_wh=7
            )
            kv.set(settlement.READING + market.u64(n) + meter, reading.SerializeToString())
            per[address] = per.get(address, 0) + x
        exported.append(per)
        again = [N0 + r % (i + 1) for r in repeats]
        calls = [[*again, n]] if together else [[n], *([m] for m in again)]
        for call in calls:
            keeper.end_block(ctx, [settlement_pb2.IntervalSettlement(interval=m) for m in call])
            for m in call:
                model.settle(m, exported[m - N0], tech)
        keeper.check_invariants(kv)

    got = [
        (i.generator, i.interval, i.count, i.technology, i.period_start, i.period_end)
        for _, raw in kv.iterate(keeper.ISSUANCE)
        for i in [cert_pb2.Issuance.FromString(raw)]
    ]
    assert got == model.issuances
    seen = [(g, n) for g, n, *_ in got]
    assert len(seen) == len(set(seen)), "an interval certified twice for one generator"
    for p in PEOPLE:
        address = p.address
        raw = crypto.decode_address(address)
        record = keeper.get_generator(kv, raw)
        total = model.total[address]
        if total == 0:
            assert record is None
            continue
        assert record is not None
        assert record.issued == total // wh and record.carry_wh == total % wh
        assert record.exported_wh == total and record.certified_wh == record.issued * wh
        held = sum(c.amount for c in bank.get_balances(kv, raw) if c.denom.startswith("rec/"))
        assert held == record.issued
        for issuance in keeper.issuances_of(kv, raw):
            cls = keeper.parse_class(issuance.denom)
            assert (cls.generator, cls.technology) == (address, issuance.technology)
            assert cls.period_start < cls.period_end
    minted = sum(c.amount for c in bank.all_supply(kv) if c.denom.startswith("rec/"))
    assert minted == sum(model.total[a] // wh for a in model.total)
    keeper.check_invariants(kv)
    bank.check_invariants(kv)
