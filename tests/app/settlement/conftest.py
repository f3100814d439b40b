"""Settlement tests run on the market tests' microgrid (tests/app/market/conftest.py):
every participant has a meter from genesis, the settlement window is 30 s, the
shortfall penalty 50 per kWh and a missing reading costs 7."""

from tests.app.market.conftest import make_market, market

__all__ = ["make_market", "market"]
