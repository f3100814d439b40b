"""Households and profiles of ``mgrid-sim``: deterministic for a seed, different
for another, whole Wh everywhere the chain looks, and an over-promiser that
sells more than it produces."""

from __future__ import annotations

import pytest

from clients.sim import profiles
from clients.sim.profiles import MarketTerms, ProfileConfig

TERMS = MarketTerms(
    feed_in_tariff=80_000,
    retail_tariff=250_000,
    min_price=80_000,
    max_price=250_000,
    min_order_wh=100,
    max_order_wh=10**9,
)
SLOTS = range(8)


def day(seed: int, count: int = 8, **kw: object) -> list[tuple[object, ...]]:
    """Everything a run derives from the seed, for ``count`` households over SLOTS."""
    cfg = ProfileConfig(seed=seed, **kw)  # type: ignore[arg-type]
    hs = profiles.make_households(seed, count)
    out: list[tuple[object, ...]] = []
    for h in hs:
        out.append((h.name, h.role, h.bus, h.misbehaving, h.address, h.meter_key.public_key))
        for k in SLOTS:
            out.append(
                (
                    profiles.forecast(h, k, cfg),
                    profiles.actual(h, k, cfg),
                    profiles.plan_order(h, k, cfg, TERMS),
                    profiles.meter_reading(h, k, cfg),
                )
            )
    return out


def test_a_seed_gives_the_same_run_and_another_seed_a_different_one() -> None:
    assert day(7) == day(7)
    assert day(7) != day(8)
    a, b = profiles.make_households(7, 8), profiles.make_households(8, 8)
    assert {h.address for h in a}.isdisjoint({h.address for h in b})


def test_chain_facing_quantities_are_whole_numbers() -> None:
    cfg = ProfileConfig(seed=3)
    for h in profiles.make_households(3, 10, misbehave=2):
        for k in SLOTS:
            for energy in (profiles.forecast(h, k, cfg), profiles.actual(h, k, cfg)):
                for value in (energy.pv_wh, energy.load_wh, energy.exported_wh, energy.imported_wh):
                    assert type(value) is int and value >= 0
            plan = profiles.plan_order(h, k, cfg, TERMS)
            if plan is not None:
                assert type(plan.quantity_wh) is int and plan.quantity_wh >= TERMS.min_order_wh
                assert type(plan.price) is int
                assert TERMS.min_price <= plan.price <= TERMS.max_price
                assert plan.price % profiles.PRICE_STEP == 0


def test_roles_buses_and_keys() -> None:
    hs = profiles.make_households(5, 8, misbehave=1, buses=("f1", "f2"))
    assert [h.name for h in hs] == [f"h{i:02d}" for i in range(1, 9)]
    assert {h.bus for h in hs} == {"f1", "f2"}
    prosumers = [h for h in hs if h.role == profiles.PROSUMER]
    consumers = [h for h in hs if h.role == profiles.CONSUMER]
    assert len(prosumers) == 4 and len(consumers) == 4
    assert all(h.pv_peak_w > 0 for h in prosumers) and all(h.pv_peak_w == 0 for h in consumers)
    bad = [h for h in hs if h.misbehaving]
    assert len(bad) == 1 and bad[0].role == profiles.PROSUMER and bad[0].label.endswith("!")
    keys = {h.wallet_key.public_key for h in hs} | {h.meter_key.public_key for h in hs}
    assert len(keys) == 16  # wallet and meter keys all distinct


@pytest.mark.parametrize(("count", "misbehave"), [(1, 0), (2, 1), (3, 1), (3, 2), (5, 2), (20, 3)])
def test_mixes_are_feasible(count: int, misbehave: int) -> None:
    hs = profiles.make_households(1, count, misbehave=misbehave)
    assert sum(h.misbehaving for h in hs) == misbehave
    assert all(h.role == profiles.PROSUMER for h in hs if h.misbehaving)
    if count >= 2:
        assert any(h.role == profiles.CONSUMER for h in hs)


def test_too_many_misbehaving_is_refused() -> None:
    with pytest.raises(ValueError, match="honest"):
        profiles.make_households(1, 3, misbehave=3)


def test_the_over_promiser_sells_more_than_it_produces() -> None:
    cfg = ProfileConfig(seed=1, overpromise=4.0)
    bad = next(h for h in profiles.make_households(1, 8) if h.misbehaving)
    daylight = [k for k in SLOTS if profiles.forecast(bad, k, cfg).pv_wh > 100]
    assert daylight
    for k in daylight:
        plan = profiles.plan_order(bad, k, cfg, TERMS)
        produced = profiles.actual(bad, k, cfg)
        assert plan is not None and plan.side == profiles.SELL and plan.grid_fill
        assert plan.quantity_wh > 3 * produced.pv_wh
        assert plan.quantity_wh > 3 * produced.exported_wh
        # what its meter reports is what it really produced, not what it sold
        reading = profiles.meter_reading(bad, k, cfg)
        assert reading == produced and reading.exported_wh < plan.quantity_wh


def test_honest_households_trade_their_forecast_net() -> None:
    cfg = ProfileConfig(seed=2)
    for h in profiles.make_households(2, 8, misbehave=0):
        for k in SLOTS:
            f = profiles.forecast(h, k, cfg)
            plan = profiles.plan_order(h, k, cfg, TERMS)
            if plan is None:
                continue
            assert plan.price is not None
            if plan.side == profiles.SELL:
                assert plan.quantity_wh == f.net_wh > 0
                assert plan.price <= (TERMS.feed_in_tariff + TERMS.retail_tariff) // 2
            else:
                assert plan.quantity_wh == -f.net_wh > 0
                assert plan.price >= (TERMS.feed_in_tariff + TERMS.retail_tariff) // 2
            if h.role == profiles.CONSUMER:
                assert plan.side == profiles.BUY


def test_forecast_error_moves_actuals_within_two_deviations() -> None:
    exact = ProfileConfig(seed=4, forecast_error=0.0)
    noisy = ProfileConfig(seed=4, forecast_error=0.1)
    moved = 0
    for h in profiles.make_households(4, 8):
        for k in SLOTS:
            f = profiles.forecast(h, k, noisy)
            assert profiles.actual(h, k, exact) == f
            a = profiles.actual(h, k, noisy)
            moved += a != f
            assert abs(a.load_wh - f.load_wh) <= 0.2 * f.load_wh + 1
            assert abs(a.pv_wh - f.pv_wh) <= 0.2 * f.pv_wh + 1
    assert moved > 0


def test_missing_readings_follow_the_rate() -> None:
    hs = profiles.make_households(9, 8)
    never = ProfileConfig(seed=9)
    always = ProfileConfig(seed=9, missing_reading_rate=1.0)
    some = ProfileConfig(seed=9, missing_reading_rate=0.3)
    assert all(profiles.meter_reading(h, k, never) is not None for h in hs for k in SLOTS)
    assert all(profiles.meter_reading(h, k, always) is None for h in hs for k in SLOTS)
    skipped = sum(profiles.meter_reading(h, k, some) is None for h in hs for k in SLOTS)
    assert 0 < skipped < len(hs) * len(SLOTS)


def test_pv_follows_the_sun() -> None:
    assert profiles.pv_shape(3.0) == profiles.pv_shape(22.0) == 0.0
    assert profiles.pv_shape(13.0) == 1.0
    assert profiles.pv_shape(9.0) < profiles.pv_shape(11.0) < profiles.pv_shape(13.0)
    cfg = ProfileConfig(seed=1, start_hour=0.0, slot_minutes=60)
    h = next(h for h in profiles.make_households(1, 4) if h.role == profiles.PROSUMER)
    assert profiles.forecast(h, 2, cfg).pv_wh == 0  # 02:30
    assert profiles.forecast(h, 12, cfg).pv_wh > 1000  # 12:30


@pytest.mark.parametrize(
    "bad",
    [
        {"start_hour": 24.0},
        {"slot_minutes": 0},
        {"forecast_error": 1.5},
        {"overpromise": 0.5},
        {"missing_reading_rate": -0.1},
    ],
)
def test_config_out_of_range(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        ProfileConfig(seed=1, **bad)  # type: ignore[arg-type]
