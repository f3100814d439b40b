"""The relaying loop on two in-process chains: packets, acknowledgements, timeouts,
batching, duplicates, failures, crash and resume, client refresh."""

from __future__ import annotations

from typing import Any

import pytest

from ibc.relayer import relay as relaymod
from ibc.relayer.metrics import Metrics
from tests.ibc.relayer.conftest import Env
from tests.support.ibcpair import IBCNode


def _relay_until_idle(env: Env, relayer: relaymod.Relayer, rounds: int = 6) -> dict[str, int]:
    """Rounds with a block on both chains between them, until one relays nothing."""
    total: dict[str, int] = {}
    for _ in range(rounds):
        env.pair.step()
        report = relayer.relay_once()
        for k, n in report.relayed.items():
            total[k] = total.get(k, 0) + n
        if not report.total and not relayer.pending_count():
            break
    return total


def _commitments(node: IBCNode, channel: str) -> list[int]:
    return list(node.q("PacketCommitments", port_id="transfer", channel_id=channel).sequences)


def test_transfer_is_received_and_acknowledged(linked: Env) -> None:
    env = linked
    ch_a, _ = env.channel("transfer")
    before = env.balance(env.a, "alice", "ugrid")
    env.transfer(env.a, 1_000)
    assert _commitments(env.a, ch_a) == [1]
    relayed = _relay_until_idle(env, env.relayer())
    assert relayed == {"recv": 1, "ack": 1}
    (voucher, amount), *_ = env.vouchers(env.b, "bob").items()
    assert amount == 1_000
    assert env.balance(env.a, "alice", "ugrid") == before - 1_000
    assert _commitments(env.a, ch_a) == []  # acknowledged: commitment gone
    # And back: the voucher returns home and the escrow is released.
    env.transfer(env.b, 400, sender="bob", receiver="alice", denom=voucher)
    assert _relay_until_idle(env, env.relayer()) == {"recv": 1, "ack": 1}
    assert env.balance(env.a, "alice", "ugrid") == before - 600
    assert env.vouchers(env.b, "bob") == {voucher: 600}


def test_many_packets_are_split_into_transactions(linked: Env) -> None:
    env = linked
    env.path.b.batch_size = 10  # one update + 9 receipts per tx, then 10 per tx
    for _ in range(3):
        for _ in range(8):
            env.transfer(env.a, 5)
    relayer = env.relayer()
    broadcasts = env.rpc_b.broadcasts
    env.pair.step()
    report = relayer.relay_once()
    assert report.relayed == {"recv": 24}
    assert env.rpc_b.broadcasts - broadcasts == 3  # 10 + 10 + 5 messages (1 update)
    total = _relay_until_idle(env, relayer)
    assert total.get("ack") == 24
    assert list(env.vouchers(env.b, "bob").values()) == [120]


def test_two_relayers_do_not_submit_duplicates(linked: Env) -> None:
    env = linked
    first, second = env.relayer(), env.relayer(env.new_path())
    env.transfer(env.a, 10)
    env.pair.step()
    assert first.relay_once().relayed == {"recv": 1}
    broadcasts = env.rpc_a.broadcasts + env.rpc_b.broadcasts
    # The second relayer sees the same send_packet but the chain says it is received.
    assert second.relay_once().relayed.get("recv", 0) == 0
    env.pair.step()
    acks = [first.relay_once().relayed.get("ack", 0), second.relay_once().relayed.get("ack", 0)]
    assert sorted(acks) == [0, 1]
    # Only the one acknowledgement transaction was sent between them.
    assert env.rpc_a.broadcasts + env.rpc_b.broadcasts == broadcasts + 1
    assert list(env.vouchers(env.b, "bob").values()) == [10]


def test_timeout_refunds_the_sender(linked: Env) -> None:
    env = linked
    ch_a, _ = env.channel("transfer")
    before = env.balance(env.a, "alice", "ugrid")
    env.transfer(env.a, 700, timeout_height=env.b.height + 3, timeout_seconds=0)
    assert env.balance(env.a, "alice", "ugrid") == before - 700
    env.pair.step(5)  # nobody relayed in time
    total = _relay_until_idle(env, env.relayer())
    assert total == {"timeout": 1}
    assert env.balance(env.a, "alice", "ugrid") == before
    assert _commitments(env.a, ch_a) == []
    assert env.vouchers(env.b, "bob") == {}


def test_timeout_by_timestamp(linked: Env) -> None:
    env = linked
    before = env.balance(env.a, "alice", "ugrid")
    env.transfer(env.a, 50, timeout_seconds=3)
    env.pair.step(6)
    assert _relay_until_idle(env, env.relayer()) == {"timeout": 1}
    assert env.balance(env.a, "alice", "ugrid") == before


def test_restart_resumes_from_the_saved_cursor(linked: Env) -> None:
    env = linked
    first = env.relayer()
    env.pair.step()
    first.relay_once()  # scanned up to here, cursor saved
    env.transfer(env.a, 33)
    env.transfer(env.b, 44, sender="bob", receiver="alice")
    # The first relayer dies here; a new process reads the state file.
    cursor_a = env.path.end("a").cursor
    second = env.relayer(env.new_path())
    assert second.path.end("a").cursor == cursor_a
    total = _relay_until_idle(env, second)
    assert total == {"recv": 2, "ack": 2}
    assert list(env.vouchers(env.b, "bob").values()) == [33]
    assert list(env.vouchers(env.a, "alice").values()) == [44]


def test_cursor_stays_at_the_oldest_pending_packet(linked: Env) -> None:
    env = linked
    relayer = env.relayer()
    env.transfer(env.a, 10)
    sent_at = env.a.height
    env.rpc_b.fail_next = [_refused("out of gas")] * 1
    env.pair.step()
    report = relayer.relay_once()
    assert report.errors == 1 and not report.relayed
    assert env.path.end("a").cursor <= sent_at  # a restart would find it again
    total = _relay_until_idle(env, relayer)
    assert total == {"recv": 1, "ack": 1}
    assert env.path.end("a").cursor > sent_at


def _refused(log: str) -> dict[str, Any]:
    """A transaction the node refused (as CheckTx answers: nothing committed)."""
    return {
        "check_tx": {"code": 9, "codespace": "test", "log": log},
        "hash": "00" * 32,
        "height": "0",
    }


def test_failed_batch_is_retried_message_by_message(linked: Env) -> None:
    env = linked
    metrics = env.path.metrics = Metrics()
    relayer = env.relayer()
    for _ in range(3):
        env.transfer(env.a, 7)
    env.pair.step()
    # The batch fails on chain (not a crash); then each packet goes alone and lands.
    env.rpc_b.fail_next = [_refused("boom")]
    report = relayer.relay_once()
    assert report.errors == 1
    assert report.relayed == {"recv": 3}
    assert metrics.get("mgrid_relayer_errors_total", chain="mg-b") == 1
    assert (
        metrics.get(
            "mgrid_relayer_packets_relayed_total", src_chain="mg-a", dst_chain="mg-b", kind="recv"
        )
        == 3
    )
    assert 'mgrid_relayer_errors_total{chain="mg-b"} 1' in metrics.render()


def test_a_packet_that_keeps_failing_backs_off(linked: Env) -> None:
    env = linked
    relayer = env.relayer()
    env.transfer(env.a, 7)
    env.pair.step()
    env.rpc_b.fail_next = [_refused("no")] * 3
    broadcasts = env.rpc_b.broadcasts
    for _ in range(4):  # fails in round 1, skips 2, fails in 3, skips 4 and 5
        relayer.relay_once()
    assert env.rpc_b.broadcasts - broadcasts == 2
    (pending,) = relayer.sends["a"].values()
    assert pending.failures == 2
    assert _relay_until_idle(env, relayer, rounds=12).get("recv") == 1


def test_client_is_refreshed_before_it_expires(env: Env) -> None:
    from ibc.relayer import link as linkmod

    linkmod.link(env.path, trusting_period_ns=90 * 10**9, max_clock_drift_ns=10 * 10**9)
    relayer = env.relayer()
    client_b = env.path.end("b").client_id
    start = env.b.q("ClientState", client_id=client_b).client_state.latest_height
    report = relaymod.RoundReport()
    relayer.refresh_clients(report)
    assert report.updated_clients == []  # young enough
    env.pair.advance(40)  # older than 1/3 of 90 s
    relayer.refresh_clients(report)
    assert sorted(report.updated_clients) == sorted(
        [f"mg-a:{env.path.end('a').client_id}", f"mg-b:{client_b}"]
    )
    assert env.b.q("ClientState", client_id=client_b).client_state.latest_height > start


def test_handshake_started_by_someone_else_is_completed(linked: Env) -> None:
    from app.pb.mgrid.ibc.v1 import ibc_pb2
    from tests.support.ibcpair import key

    env = linked
    relayer = env.relayer()
    env.pair.step()
    relayer.relay_once()
    # Someone opens a second transfer channel on the path's connection (Init on b).
    init = ibc_pb2.MsgChannelOpenInit(
        port_id="transfer",
        channel=ibc_pb2.Channel(
            state=ibc_pb2.CHANNEL_STATE_INIT,
            ordering=ibc_pb2.ORDER_UNORDERED,
            counterparty=ibc_pb2.ChannelCounterparty(port_id="transfer"),
            connection_hops=[env.path.end("b").connection_id],
            version="ics20-1",
        ),
    )
    result = env.pair.submit(env.b, ("channel_open_init", init), signer=key("carol"))
    assert result.code == 0, result.log
    new_b = dict(next(e for e in result.events if e.type == "channel_open_init").attributes)[
        "channel_id"
    ]
    total = _relay_until_idle(env, relayer)
    assert total == {"chan_try": 1, "chan_ack": 1, "chan_confirm": 1}
    chan_b = env.b.q("Channel", port_id="transfer", channel_id=new_b).channel
    assert chan_b.state == ibc_pb2.CHANNEL_STATE_OPEN
    chan_a = env.a.q("Channel", port_id="transfer", channel_id=chan_b.counterparty.channel_id)
    assert chan_a.channel.state == ibc_pb2.CHANNEL_STATE_OPEN


@pytest.mark.parametrize("from_height", [None, 1])
def test_clear_relays_everything_and_returns(linked: Env, from_height: int | None) -> None:
    env = linked
    env.transfer(env.a, 5)
    env.transfer(env.b, 6, sender="bob", receiver="alice")
    relayer = env.relayer(env.new_path())
    total = relayer.clear(from_height)
    assert total.relayed == {"recv": 2, "ack": 2}
    assert relayer.pending_count() == 0


def test_energy_offer_acknowledged_at_clearing_is_relayed_back(linked: Env) -> None:
    """The energy app acknowledges in FinalizeBlock when the interval clears (no tx):
    the relayer finds that acknowledgement in finalize_block_events."""
    from app.pb.mgrid.ibc.energy.v1 import energy_pb2
    from app.pb.mgrid.market.v1 import market_pb2
    from tests.support.ibcpair import key

    env = linked
    ch_a, ch_b = env.channel("energy")
    schedule = env.b.query(market_pb2.DESCRIPTOR, "Schedule", market_pb2.QueryScheduleRequest())
    n = schedule.first_open + 1
    record = env.b.query(
        market_pb2.DESCRIPTOR, "Interval", market_pb2.QueryIntervalRequest(id=n)
    ).interval
    offer = energy_pb2.MsgOfferEnergy(
        source_channel=ch_a,
        side=market_pb2.SIDE_SELL,
        delivery_start=record.start_time,
        quantity_wh=2_000,
        limit_price=150,
        timeout_timestamp=env.a.time_ns + 3600 * 10**9,
        denom="ugrid",
    )
    assert env.pair.submit(env.a, ("offer_energy", offer), signer=key("utility")).code == 0
    relayer = env.relayer()
    assert _relay_until_idle(env, relayer) == {"recv": 1}
    buy = market_pb2.MsgPlaceOrder(
        side=market_pb2.SIDE_BUY, interval=n, quantity_wh=1_500, price=250
    )
    assert env.pair.submit(env.b, ("place_order", buy), signer=key("bob")).code == 0
    env.pair.advance(max(0, record.gate_closure_time - env.b.block_time) + 2)
    assert _relay_until_idle(env, relayer) == {"ack": 1}

    def trade(node: IBCNode, channel: str, outgoing: bool) -> energy_pb2.InterTrade:
        req = energy_pb2.QueryTradeRequest(channel_id=channel, sequence=1, outgoing=outgoing)
        return node.query(energy_pb2.DESCRIPTOR, "Trade", req).trade

    mine, theirs = trade(env.a, ch_a, True), trade(env.b, ch_b, False)
    assert mine.status == theirs.status == energy_pb2.OFFER_STATUS_FILLED
    assert mine.result.filled_wh == 1_500
