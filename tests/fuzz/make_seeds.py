"""Write the seed corpus of every fuzz target into tests/fuzz/corpus/<target>/.

    .venv/bin/python tests/fuzz/make_seeds.py [--check]

Seeds are small inputs that reach deep: valid signed transactions of each
message kind against the chain world, framed ABCI requests, valid ICS-23
proofs (the public vectors in ../shared/ics23-testdata and proofs from our
own store) and valid light client updates. The fuzzer mutates them; the
pytest replay (test_corpus.py) runs them through every target. The output
is deterministic: rerunning rewrites the same bytes (``--check`` fails if a
file would change, e.g. after the chain world changed). Files named
``regress-*`` are regression inputs from fixed crashes and are never
touched here.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from app.abci.server import frame
from app.pb.cosmos.ics23.v1 import proofs_pb2
from app.pb.mgrid.bank.v1 import bank_pb2
from app.pb.mgrid.base.v1 import coin_pb2
from app.pb.mgrid.ibc.v1 import ibc_pb2
from app.pb.mgrid.market.v1 import market_pb2
from app.pb.mgrid.settlement.v1 import settlement_pb2
from app.pb.mgrid.tx.v1 import tx_pb2
from app.pb.tendermint.abci import types_pb2 as abci
from app.router import QUERY_ROUTES
from ibc.commitment import SPECS, compress, verify_membership, verify_non_membership
from tests.fuzz import targets as t
from tests.fuzz import world as w


def shared_vectors() -> Path:
    """The public ICS-23 vectors: <repo>/../shared/ics23-testdata, or under
    $MGRID_SHARED_DIR (as tests/ibc/commitment/conftest.py finds them)."""
    shared = os.environ.get("MGRID_SHARED_DIR")
    base = Path(shared) if shared else Path(__file__).resolve().parents[3] / "shared"
    path = base / "ics23-testdata"
    if not path.is_dir():
        raise FileNotFoundError(
            f"ICS-23 test vectors not found at {path}: they belong in the shared directory "
            "beside the repository clone; set MGRID_SHARED_DIR to use another location"
        )
    return path


# KEYS indices (world.KEYS) and their meters (world.METER_KEYS indices)
UTILITY, REGULATOR, ALICE, BOB, CAROL, DAVE, EVE, STORE, STORE2 = range(9)
METER_OF = {ALICE: 0, BOB: 5, CAROL: 2, EVE: 4, STORE: 1, STORE2: 3}


def _msg(**fields: object) -> tx_pb2.Msg:
    return tx_pb2.Msg(**fields)  # type: ignore[arg-type]


def body(*msgs: tx_pb2.Msg, fee: int = 0, memo: str = "") -> tx_pb2.TxBody:
    out = tx_pb2.TxBody(memo=memo)
    out.messages.extend(msgs)
    if fee:
        out.fee.CopyFrom(coin_pb2.Coin(denom="ugrid", amount=str(fee)))
    return out


def reading(who: int, interval: int, exported: int, imported: int) -> tx_pb2.Msg:
    """A meter reading with placeholders; chain_block signs it with the meter it names."""
    r = settlement_pb2.MeterReading(
        chain_id="@c",
        meter=f"@m{METER_OF[who]}".encode(),
        participant=f"@{who}",
        interval=interval,
        exported_wh=exported,
        imported_wh=imported,
        sequence=interval,
    )
    return _msg(meter_reading=settlement_pb2.MsgMeterReading(reading=r.SerializeToString()))


def order(side: int, interval: int, wh: int, price: int | None = None) -> tx_pb2.Msg:
    o = market_pb2.MsgPlaceOrder(side=side, interval=interval, quantity_wh=wh)  # type: ignore[arg-type]
    if price is not None:
        o.price = price
    return _msg(place_order=o)


def send(to: int, amount: int) -> tx_pb2.Msg:
    return _msg(
        send=bank_pb2.MsgSend(
            to_address=f"@{to}", amount=[coin_pb2.Coin(denom="ugrid", amount=str(amount))]
        )
    )


def block(offset: int, *txs: tuple[int, bytes]) -> bytes:
    return bytes([offset]) + b"".join(bytes([kind]) + t.chunk(data) for kind, data in txs)


def signed(who: int, b: tx_pb2.TxBody, flags: int = 0) -> tuple[int, bytes]:
    return (t.SIGNED | flags | who, b.SerializeToString(deterministic=True))


def chain_block_seeds() -> dict[str, bytes]:
    world = w.chain_world()
    n, n2 = world.settling_interval, world.open_interval
    later = n2 + 2
    sell, buy = market_pb2.SIDE_SELL, market_pb2.SIDE_BUY
    readings = [reading(p, n, 1800 if p == CAROL else 0, 0) for p in (CAROL,)] + [
        reading(BOB, n, 0, 1500),
        reading(ALICE, n, 500, 0),
        reading(EVE, n, 0, 800),
    ]
    from app.pb.mgrid.demand_response.v1 import demand_response_pb2 as dr
    from app.pb.mgrid.flexibility.v1 import flexibility_pb2 as fx
    from app.pb.mgrid.quota.v1 import quota_pb2 as qt
    from app.pb.mgrid.registry.v1 import registry_pb2 as rg
    from app.pb.mgrid.storage.v1 import storage_pb2 as st

    valid_send = t.build_tx(
        t.SIGNED | ALICE, body(send(BOB, 7)).SerializeToString(), dict(world.sequences)
    )
    return {
        "send": block(0, signed(ALICE, body(send(BOB, 10)))),
        "send-fee-memo": block(0, signed(BOB, body(send(ALICE, 3), fee=5, memo="fuzz"))),
        "two-sends-same-signer": block(
            1, signed(ALICE, body(send(BOB, 1))), signed(ALICE, body(send(CAROL, 2)))
        ),
        "orders": block(
            2,
            signed(ALICE, body(order(sell, n2, 400, 130))),
            signed(EVE, body(order(buy, n2, 300))),
            signed(DAVE, body(order(buy, n2, 300, 200))),  # unregistered: fails
        ),
        "readings-in-window": block(4, *(signed(CAROL, body(r)) for r in readings)),
        "readings-last-second": block(26, *(signed(BOB, body(r)) for r in readings)),
        "gate-closure": block(
            60,
            signed(CAROL, body(order(sell, later, 900, 110))),
            signed(BOB, body(order(buy, later, 900, 280))),
        ),
        "cancel-then-settle": block(
            40, signed(CAROL, body(_msg(cancel_order=market_pb2.MsgCancelOrder(order_id=5))))
        ),
        "settle-missing-readings": block(200, signed(ALICE, body(send(EVE, 1)))),
        "registry": block(
            3,
            signed(DAVE, body(_msg(apply=rg.MsgApply(role=rg.ROLE_CONSUMER, bus="b2")))),
            signed(UTILITY, body(_msg(approve=rg.MsgApprove(participant=f"@{DAVE}")))),
            signed(
                UTILITY,
                body(
                    _msg(
                        register_meter=rg.MsgRegisterMeter(
                            participant=f"@{DAVE}", pub_key=bytes(range(32))
                        )
                    )
                ),
            ),
            signed(
                REGULATOR,
                body(_msg(set_suspended=rg.MsgSetSuspended(participant=f"@{EVE}", suspended=True))),
            ),
        ),
        "storage": block(
            3,
            signed(
                ALICE,
                body(_msg(storage_deposit=st.MsgDeposit(storage=f"@{STORE}", interval=n2, wh=100))),
            ),
            signed(
                BOB,
                body(_msg(storage_redeem=st.MsgRedeem(storage=f"@{STORE2}", interval=n2, wh=50))),
            ),
        ),
        "demand-response": block(
            3,
            signed(
                UTILITY,
                body(
                    _msg(
                        create_dr_event=dr.MsgCreateEvent(
                            interval=later,
                            bus="b2",
                            requested_wh=1000,
                            reward_per_kwh=10,
                            penalty_per_kwh=5,
                        )
                    )
                ),
            ),
            signed(BOB, body(_msg(dr_opt_in=dr.MsgOptIn(event_id=1, committed_wh=200)))),
        ),
        "flexibility": block(
            3,
            signed(
                UTILITY,
                body(
                    _msg(
                        post_flex_need=fx.MsgPostNeed(
                            interval=later,
                            bus="b1",
                            quantity_wh=500,
                            max_price_per_kwh=100,
                            penalty_per_kwh=5,
                        )
                    )
                ),
            ),
            signed(
                ALICE,
                body(
                    _msg(
                        offer_flexibility=fx.MsgOfferFlexibility(
                            need_id=1, quantity_wh=200, price_per_kwh=50
                        )
                    )
                ),
            ),
        ),
        "quota": block(
            3,
            signed(
                UTILITY,
                body(
                    _msg(
                        announce_margin=qt.MsgAnnounceMargin(
                            bus="b1",
                            interval=later + 1,
                            margin_w=5000,
                            penalty_per_kwh=10,
                            trading_seconds=30,
                        )
                    )
                ),
            ),
            signed(ALICE, body(_msg(submit_demand=qt.MsgSubmitDemand(margin_id=1, demand_w=1000)))),
        ),
        "utility-params-forecast": block(
            3,
            signed(
                UTILITY,
                body(
                    _msg(
                        publish_forecast=market_pb2.MsgPublishForecast(
                            interval=later, generation_wh=5000, demand_wh=4000
                        )
                    )
                ),
            ),
        ),
        "raw-valid-and-replayed": block(1, (t.RAW, valid_send), (t.RAW, valid_send)),
        "wrong-envelope": block(
            1, signed(ALICE, body(send(BOB, 1)), flags=t.KEEP_ENVELOPE), (t.RAW, b"\x0a\x00")
        ),
    }


def tx_decode_seeds(blocks: dict[str, bytes]) -> dict[str, bytes]:
    out: dict[str, bytes] = {"empty-fields": b"\x0a\x00\x12\x00\x1a\x00"}
    for name, data in blocks.items():
        _, txs = t.block_input(data)
        for i, tx in enumerate(txs):
            out[f"{name}-{i}"] = tx
    return out


def abci_seeds(blocks: dict[str, bytes]) -> tuple[dict[str, bytes], dict[str, bytes]]:
    world = w.chain_world()
    _, [tx] = t.block_input(blocks["send"])
    height = world.height
    bal = bank_pb2.QueryBalanceRequest(address=w.KEYS[ALICE].address, denom="ugrid")
    requests = {
        "echo": abci.Request(echo=abci.RequestEcho(message="hello")),
        "flush": abci.Request(flush=abci.RequestFlush()),
        "info": abci.Request(info=abci.RequestInfo(version="0.38.26")),
        "check-tx": abci.Request(check_tx=abci.RequestCheckTx(tx=tx)),
        "recheck-tx": abci.Request(check_tx=abci.RequestCheckTx(tx=tx, type=abci.RECHECK)),
        "query-key-proven": abci.Request(
            query=abci.RequestQuery(path="/store/key", data=b"\x01x", prove=True, height=height)
        ),
        "query-balance": abci.Request(
            query=abci.RequestQuery(
                path="/mgrid.bank.v1.Query/Balance", data=bal.SerializeToString()
            )
        ),
        "prepare-proposal": abci.Request(
            prepare_proposal=abci.RequestPrepareProposal(
                max_tx_bytes=1 << 20, txs=[tx, b"junk"], height=height + 1
            )
        ),
        "process-proposal": abci.Request(
            process_proposal=abci.RequestProcessProposal(txs=[tx], height=height + 1)
        ),
        "finalize-block": abci.Request(
            finalize_block=abci.RequestFinalizeBlock(
                txs=[tx], height=height + 1, time={"seconds": world.base_time_ns // w.NS + 1}
            )
        ),
        "verify-vote-extension": abci.Request(
            verify_vote_extension=abci.RequestVerifyVoteExtension(vote_extension=b"x")
        ),
        "list-snapshots": abci.Request(list_snapshots=abci.RequestListSnapshots()),
        "offer-snapshot": abci.Request(
            offer_snapshot=abci.RequestOfferSnapshot(
                snapshot=abci.Snapshot(height=height, format=1, chunks=1, hash=bytes(32)),
                app_hash=bytes(32),
            )
        ),
        "load-snapshot-chunk": abci.Request(
            load_snapshot_chunk=abci.RequestLoadSnapshotChunk(height=height, format=1)
        ),
    }
    for route in QUERY_ROUTES.values():  # every query the app serves, plausibly filled
        q = route.request_type()
        for field in q.DESCRIPTOR.fields:
            if field.is_repeated or field.message_type is not None:
                continue
            if field.type == field.TYPE_STRING:
                setattr(q, field.name, w.KEYS[ALICE].address)
            elif field.type in (field.TYPE_UINT64, field.TYPE_UINT32):
                interval = "interval" in field.name
                setattr(q, field.name, world.settling_interval if interval else 1)
        requests[f"query-{route.service.split('.')[1]}-{route.method}"] = abci.Request(
            query=abci.RequestQuery(path=route.path, data=q.SerializeToString())
        )
    raw = {name: r.SerializeToString() for name, r in requests.items()}
    stream = b"".join(frame(raw[k]) for k in ("echo", "check-tx", "flush", "info"))
    framing = {
        "requests-whole": b"\x00" + stream,
        "requests-cut": b"\x03\x00\x01\x00\x07\x00\x30" + stream,
        "varint-11-bytes": b"\x00" + b"\x80" * 10 + b"\x00",
        "varint-10-bytes-zero": b"\x00" + b"\x80" * 9 + b"\x00",
        "length-over-limit": b"\x00" + bytes.fromhex("8180808001") + b"x",
        "incomplete-body": b"\x01\x00\x02" + b"\x05abc",
    }
    return raw, framing


def ics23_seeds() -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for spec in ("iavl", "smt", "tendermint"):
        for kind in ("exist", "nonexist"):
            for pos in ("left", "middle", "right"):
                path = shared_vectors() / spec / f"{kind}_{pos}.json"
                vec = json.loads(path.read_text())
                data = t.ics23_input(
                    spec,
                    bytes.fromhex(vec["root"]),
                    bytes.fromhex(vec["key"]),
                    bytes.fromhex(vec.get("value") or ""),
                    bytes.fromhex(vec["proof"]),
                )
                out[f"{spec}-{kind}-{pos}"] = data
    world = w.proof_world()
    store, root = world.store, world.store_root
    proofs = []
    for key in (w.STORE_KEYS[0], w.STORE_KEYS[9], b"\x00", w.STORE_KEYS[-1]):
        proof = store.prove(key)
        proofs.append(proof)
        value = store.get(key) or b""
        out[f"store-exist-{key.hex()[:16]}"] = t.ics23_input(
            "smt", root, key, value, proof.SerializeToString()
        )
    for key in w.ABSENT_KEYS:
        proof = store.prove(key)
        proofs.append(proof)
        out[f"store-nonexist-{key.hex()[:16]}"] = t.ics23_input(
            "smt", root, key, b"", proof.SerializeToString()
        )
    batch = proofs_pb2.CommitmentProof()
    for p in proofs:
        batch.batch.entries.add().CopyFrom(_entry(p))
    out["store-batch"] = t.ics23_input(
        "smt", root, w.STORE_KEYS[0], store.get(w.STORE_KEYS[0]) or b"", batch.SerializeToString()
    )
    out["store-compressed"] = t.ics23_input(
        "smt", root, w.ABSENT_KEYS[0], b"", compress(batch).SerializeToString()
    )
    for name, data in out.items():  # every seed proves what it claims
        spec_name, r, key, value, raw = t.ics23_case(data)
        proof = proofs_pb2.CommitmentProof.FromString(raw)
        ok = verify_membership(SPECS[spec_name], r, proof, key, value) or verify_non_membership(
            SPECS[spec_name], r, proof, key
        )
        assert ok, f"seed {name} does not verify"
    return {f"seed-{k}": v for k, v in out.items()}


def _entry(p: proofs_pb2.CommitmentProof) -> proofs_pb2.BatchEntry:
    entry = proofs_pb2.BatchEntry()
    if p.WhichOneof("proof") == "exist":
        entry.exist.CopyFrom(p.exist)
    else:
        entry.nonexist.CopyFrom(p.nonexist)
    return entry


def light_client_seeds() -> dict[str, bytes]:
    world = w.light_client_world()
    out: dict[str, bytes] = {}
    for name, header in world.updates.items():
        index = 1 if name.startswith("golden") else 0
        out[f"update-{name}"] = bytes([t.UPDATE, index]) + header.SerializeToString()
    for name, m in world.misbehaviours.items():
        out[f"misbehaviour-{name}"] = bytes([t.MISBEHAVIOUR, 0]) + m.SerializeToString()
    for i, scenario in enumerate(world.scenarios):
        cs = scenario.client_state.SerializeToString()
        out[f"client-state-{i}"] = bytes([t.CLIENT_STATE, i]) + cs
    weak = ibc_pb2.ClientState()
    weak.CopyFrom(world.scenarios[0].client_state)
    weak.trust_level.numerator, weak.trust_level.denominator = 1, 3
    weak.max_clock_drift_ns = 10**18
    out["client-state-lax"] = bytes([t.CLIENT_STATE, 0]) + weak.SerializeToString()
    return out


def all_seeds() -> dict[str, dict[str, bytes]]:
    blocks = chain_block_seeds()
    requests, framing = abci_seeds(blocks)
    return {
        "tx_decode": tx_decode_seeds(blocks),
        "chain_block": blocks,
        "abci_framing": framing,
        "abci_request": requests,
        "ics23_proof": ics23_seeds(),
        "light_client": light_client_seeds(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if any seed would change")
    args = parser.parse_args()
    stale = []
    for target, seeds in all_seeds().items():
        d = w.CORPUS_DIR / target
        d.mkdir(parents=True, exist_ok=True)
        for name, data in seeds.items():
            path = d / name
            if path.exists() and path.read_bytes() == data:
                continue
            stale.append(str(path))
            if not args.check:
                path.write_bytes(data)
        print(f"{target}: {len(seeds)} seeds")
    if stale:
        print(("stale: " if args.check else "written: ") + ", ".join(stale))
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
