"""Focused tests for the bugs the fuzzers found, one per bug.

Each bug's input also stays in the corpus as ``regress-*`` (replayed through
every target by test_corpus.py); the test here pins the fixed behaviour down
at its edge. docs/fuzzing.md lists them.
"""

from __future__ import annotations

from app.kv import StoreView
from app.modules.market import keeper as market_keeper
from app.modules.market.queries import INT64_MAX
from app.pb.mgrid.market.v1 import market_pb2
from tests.fuzz import world as w

INTERVAL_QUERY = "/mgrid.market.v1.Query/Interval"


def test_market_interval_query_beyond_int64_is_a_clear_error() -> None:
    """Found by test_properties.test_any_query_is_answered: Query/Interval with an id
    whose times exceed int64 raised ValueError from protobuf (answered with
    ResponseException). The last interval that fits is answered; the next one is an
    invalid request naming it."""
    world = w.chain_world()
    chain = world.chain(0)
    view = StoreView(chain.store)
    state = market_keeper.get_state(view)
    params, _ = market_keeper.get_params(view)
    seconds = params.interval_seconds
    last = state.anchor_interval + (INT64_MAX - state.anchor_time) // seconds - 1
    assert market_keeper.interval_times(state, params, last)[1] <= INT64_MAX
    assert market_keeper.interval_times(state, params, last + 1)[1] > INT64_MAX

    ok = chain.query(INTERVAL_QUERY, market_pb2.QueryIntervalRequest(id=last).SerializeToString())
    assert ok.code == 0, ok.log
    record = market_pb2.QueryIntervalResponse.FromString(ok.value).interval
    assert record.id == last and record.end_time <= INT64_MAX

    for n in (last + 1, 2**64 - 1):
        bad = chain.query(INTERVAL_QUERY, market_pb2.QueryIntervalRequest(id=n).SerializeToString())
        assert (bad.codespace, bad.code) == ("tx", 9), bad
        assert f"interval {n}" in bad.log and "int64" in bad.log
