"""Simulated households: who they are, what their panels and loads do, what
they order and what their meters read.

Everything here is a pure function of the run's seed: the same seed gives the
same households, keys, energies, orders and readings on every machine, so a
rerun against a fresh chain repeats the run. Random draws come from
``random.Random`` instances seeded with SHA-256 of a label naming what is
drawn (seed, household, slot, purpose), so adding a draw somewhere never
shifts another. Floats are used inside; every quantity that reaches the
chain is rounded to whole Wh (or whole price units) right here, with
``round`` (half to even), so the rounding is part of the deterministic result.

Simulated time. A chain interval of the localnet lasts 20 s, far too short
for realistic energies, so the simulator compresses a day: interval ``k`` of
a run (``k = 0, 1, ...``) stands for the slot of ``slot_minutes`` starting at
``start_hour + k * slot_minutes / 60`` o'clock, and each household produces
and consumes in it what it would in that slot of a day.

Profiles:
- PV (prosumers): a bell curve around 13:00 (zero before 06:00 and after
  20:00) times the panel's peak power, times that slot's weather (one draw
  for the whole microgrid, 0.7 to 1.0).
- Load: a base load, a morning bump around 07:30 and an evening peak around
  19:00, each scaled per household, with +-10 % variation per slot.
The profile value is the household's forecast; what its meter then sees is
the forecast with an independent relative error on PV and on load (normal,
standard deviation ``forecast_error``, clipped at two deviations).

Behaviour: a prosumer sells its forecast surplus or buys its forecast
deficit, unless that net is too small against the uncertainty of its
forecast (see ``HEDGE``); a consumer buys its forecast load. A misbehaving household
over-promises: it sells ``overpromise`` times its forecast PV production, at
a cheap price, and then delivers only what it really produced.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass
from functools import cached_property

from app.crypto import PrivateKey

PROSUMER = "prosumer"
CONSUMER = "consumer"
BUY = "buy"
SELL = "sell"
DEFAULT_BUSES = ("f1", "f2")

# Price units are rounded down to this step (the chain's prices are per kWh
# in the denom's smallest unit: 175000 ugrid/kWh is 0.175 grid/kWh).
PRICE_STEP = 1000
# An honest prosumer trades its forecast net only when the expected error of that
# net (forecast_error x the root sum of squares of PV and load) is at most this
# share of it: the chain's reputation judges the deviation relative to the contract.
HEDGE = 1 / 3


def rng(seed: int, *labels: object) -> random.Random:
    """A generator for one purpose, independent of every other draw of the run."""
    text = "/".join(str(part) for part in ("mgrid-sim", seed, *labels))
    return random.Random(int.from_bytes(hashlib.sha256(text.encode()).digest()[:16], "big"))


def key_seed(seed: int, name: str, purpose: str) -> bytes:
    """The 32-byte ed25519 seed of a household's ``wallet`` or ``meter`` key."""
    return hashlib.sha256(f"mgrid-sim/v1/{seed}/{name}/{purpose}".encode()).digest()


@dataclass(frozen=True, slots=True)
class ProfileConfig:
    """How households behave, apart from who they are."""

    seed: int
    start_hour: float = 8.0
    slot_minutes: int = 120
    forecast_error: float = 0.1
    overpromise: float = 4.0
    missing_reading_rate: float = 0.0

    def __post_init__(self) -> None:
        if not 0 <= self.start_hour < 24:
            raise ValueError(f"start hour must be in [0, 24), got {self.start_hour}")
        if not 1 <= self.slot_minutes <= 24 * 60:
            raise ValueError(f"slot minutes must be in 1..1440, got {self.slot_minutes}")
        if not 0 <= self.forecast_error <= 1:
            raise ValueError(f"forecast error must be in [0, 1], got {self.forecast_error}")
        if self.overpromise < 1:
            raise ValueError(f"overpromise must be at least 1, got {self.overpromise}")
        if not 0 <= self.missing_reading_rate <= 1:
            raise ValueError(
                f"missing reading rate must be in [0, 1], got {self.missing_reading_rate}"
            )

    @property
    def slot_hours(self) -> float:
        return self.slot_minutes / 60

    def hour_of(self, slot: int) -> float:
        """Clock hour (0..24) at the middle of slot ``slot`` of the run."""
        return (self.start_hour + (slot + 0.5) * self.slot_hours) % 24


@dataclass(frozen=True)
class Household:
    """One simulated energy cell: its role, bus, appliances, temper and keys."""

    index: int  # 1-based
    name: str  # "h01"
    role: str  # PROSUMER or CONSUMER
    bus: str
    pv_peak_w: int  # 0 for consumers
    base_load_w: int
    morning_w: int
    evening_w: int
    price_bias: float  # 0..1: where its limit prices sit between feed-in and retail
    grid_fill: bool
    misbehaving: bool
    wallet_seed: bytes
    meter_seed: bytes

    @cached_property
    def wallet_key(self) -> PrivateKey:
        return PrivateKey(self.wallet_seed)

    @cached_property
    def meter_key(self) -> PrivateKey:
        return PrivateKey(self.meter_seed)

    @property
    def address(self) -> str:
        return self.wallet_key.address

    @property
    def label(self) -> str:
        """Name with a mark for the misbehaving: ``h03!``."""
        return self.name + ("!" if self.misbehaving else "")


def make_households(
    seed: int,
    count: int,
    *,
    misbehave: int = 1,
    prosumer_share: float = 0.5,
    grid_fill_share: float = 1.0,
    buses: tuple[str, ...] = DEFAULT_BUSES,
) -> list[Household]:
    """``count`` households: about ``prosumer_share`` of them prosumers, the
    rest consumers, on ``buses`` in turn; ``misbehave`` of the prosumers
    over-promise. At least one consumer when ``count >= 2``, and at least one
    honest prosumer when three or more households are honest.
    """
    if count < 1:
        raise ValueError(f"need at least one household, got {count}")
    if misbehave < 0 or (misbehave and misbehave > count - 1):
        raise ValueError(
            f"{misbehave} misbehaving of {count} households: leave at least one honest household"
        )
    if not buses:
        raise ValueError("need at least one bus")
    prosumers = round(count * prosumer_share)
    low = misbehave + (1 if count - misbehave >= 3 else 0)
    high = count - 1 if count >= 2 else count
    prosumers = min(max(prosumers, low, 1), high)
    draw = rng(seed, "households")
    prosumer_positions = sorted(draw.sample(range(count), prosumers))
    misbehaving = set(draw.sample(prosumer_positions, misbehave))
    out = []
    for i in range(count):
        name = f"h{i + 1:02d}"
        r = rng(seed, name, "appliances")
        role = PROSUMER if i in prosumer_positions else CONSUMER
        out.append(
            Household(
                index=i + 1,
                name=name,
                role=role,
                bus=buses[i % len(buses)],
                pv_peak_w=round(r.uniform(2500, 5500)) if role == PROSUMER else 0,
                base_load_w=round(
                    r.uniform(250, 600) if role == PROSUMER else r.uniform(500, 1400)
                ),
                morning_w=round(r.uniform(300, 1200)),
                evening_w=round(r.uniform(800, 2500)),
                price_bias=r.random(),
                grid_fill=r.random() < grid_fill_share,
                misbehaving=i in misbehaving,
                wallet_seed=key_seed(seed, name, "wallet"),
                meter_seed=key_seed(seed, name, "meter"),
            )
        )
    return out


# -- energy ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Energy:
    """What a household produces and consumes in one slot, in whole Wh."""

    pv_wh: int
    load_wh: int

    @property
    def net_wh(self) -> int:
        """Surplus (positive) or deficit (negative)."""
        return self.pv_wh - self.load_wh

    @property
    def exported_wh(self) -> int:
        return max(0, self.net_wh)

    @property
    def imported_wh(self) -> int:
        return max(0, -self.net_wh)


def _bump(hour: float, centre: float, width: float) -> float:
    return math.exp(-0.5 * ((hour - centre) / width) ** 2)


def pv_shape(hour: float) -> float:
    """Share of peak PV power at ``hour``: a bell around 13:00, zero at night."""
    if not 6.0 <= hour <= 20.0:
        return 0.0
    return _bump(hour, 13.0, 2.2)


def weather(seed: int, slot: int) -> float:
    """Clear-sky share of the slot, the same for every panel of the microgrid."""
    return rng(seed, "weather", slot).uniform(0.7, 1.0)


def forecast(h: Household, slot: int, cfg: ProfileConfig) -> Energy:
    """The household's expectation for ``slot``: its profile, without error."""
    hour = cfg.hour_of(slot)
    pv_w = h.pv_peak_w * pv_shape(hour) * weather(cfg.seed, slot)
    load_w = (
        h.base_load_w + h.morning_w * _bump(hour, 7.5, 1.0) + h.evening_w * _bump(hour, 19.0, 1.5)
    )
    load_w *= 1 + rng(cfg.seed, h.name, slot, "load").uniform(-0.1, 0.1)
    return Energy(round(pv_w * cfg.slot_hours), round(load_w * cfg.slot_hours))


def _error(cfg: ProfileConfig, *labels: object) -> float:
    e = cfg.forecast_error
    if not e:
        return 0.0
    return min(2 * e, max(-2 * e, rng(cfg.seed, *labels).gauss(0.0, e)))


def actual(h: Household, slot: int, cfg: ProfileConfig) -> Energy:
    """What really happens in ``slot``: the forecast with its errors."""
    f = forecast(h, slot, cfg)
    pv = f.pv_wh * (1 + _error(cfg, h.name, slot, "pv-error"))
    load = f.load_wh * (1 + _error(cfg, h.name, slot, "load-error"))
    return Energy(max(0, round(pv)), max(0, round(load)))


# -- orders and readings --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MarketTerms:
    """What a household needs to know of the market params to order."""

    feed_in_tariff: int
    retail_tariff: int
    min_price: int
    max_price: int
    min_order_wh: int
    max_order_wh: int


@dataclass(frozen=True, slots=True)
class OrderPlan:
    side: str  # BUY or SELL
    quantity_wh: int
    price: int | None  # None: priced automatically at gate closure
    grid_fill: bool


def _price(terms: MarketTerms, low: float, high: float, bias: float) -> int:
    """A limit price at ``low + bias * (high - low)`` of the feed-in..retail spread."""
    spread = terms.retail_tariff - terms.feed_in_tariff
    raw = terms.feed_in_tariff + spread * (low + (high - low) * min(1.0, max(0.0, bias)))
    price = int(raw) // PRICE_STEP * PRICE_STEP
    return min(terms.max_price, max(terms.min_price, price))


def plan_order(h: Household, slot: int, cfg: ProfileConfig, terms: MarketTerms) -> OrderPlan | None:
    """The household's order for ``slot``, or None when it has too little to trade."""
    f = forecast(h, slot, cfg)
    bias = h.price_bias + rng(cfg.seed, h.name, slot, "price").uniform(-0.1, 0.1)
    if h.misbehaving:
        side, quantity = SELL, round(f.pv_wh * cfg.overpromise)
        price, grid_fill = _price(terms, 0.0, 0.1, bias), True
    elif h.role == PROSUMER and cfg.forecast_error * math.hypot(f.pv_wh, f.load_wh) > (
        abs(f.net_wh) * HEDGE
    ):
        return None  # the net is small against the forecast's own error: not worth a promise
    elif f.net_wh > 0:
        side, quantity = SELL, f.net_wh
        price, grid_fill = _price(terms, 0.1, 0.5, bias), h.grid_fill
    else:
        side, quantity = BUY, -f.net_wh
        price, grid_fill = _price(terms, 0.5, 0.95, bias), h.grid_fill
    quantity = min(quantity, terms.max_order_wh)
    if quantity < max(1, terms.min_order_wh):
        return None
    return OrderPlan(side, quantity, price, grid_fill)


def meter_reading(h: Household, slot: int, cfg: ProfileConfig) -> Energy | None:
    """What the household's meter reports for ``slot``; None when it misses the window
    (with probability ``missing_reading_rate``)."""
    if cfg.missing_reading_rate and (
        rng(cfg.seed, h.name, slot, "skip-reading").random() < cfg.missing_reading_rate
    ):
        return None
    return actual(h, slot, cfg)
