"""Replay every fuzz input kept in the repository through every fuzz target.

The inputs are the seeds in tests/fuzz/corpus/<target>/ (regression inputs of
fixed crashes among them, named ``regress-*``) and whatever crash the fuzzer
left in tests/fuzz/crashes/ that nobody has turned into a fix yet, which
fails here until it is. Every input goes through every target: an input
made for one target is just more bytes for another. The whole replay takes
seconds, so it runs with the fast suite.

Besides the replay: the seeds are what ``make_seeds.py`` writes today (a
stale seed would silently stop reaching deep), they do reach the handlers
they were written for, and each target does catch the bug class it exists
for (shown by planting one).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.abci import server
from app.chain import Chain, TxResult
from app.context import Context, Mode
from app.errors import ErrInvalidRequest
from app.tx.codec import DecodedTx
from tests.fuzz import make_seeds, targets
from tests.fuzz import world as w

FUZZ_DIR = Path(__file__).resolve().parent
CORPUS = FUZZ_DIR / "corpus"
CRASHES = FUZZ_DIR / "crashes"

INPUTS = sorted(CORPUS.glob("*/*")) + sorted(p for p in CRASHES.glob("*-*") if p.is_file())

# Regression inputs of bugs in files this harness may not fix: file name -> the
# report. Each runs as a strict xfail: it must keep failing until the fix lands,
# and then this entry must go (an unexpected pass fails the suite).
KNOWN_BUGS: dict[str, str] = {}


def _params() -> list[Any]:
    """pytest.param per (target, input)."""
    out: list[Any] = []
    for path in INPUTS:
        for name in targets.TARGETS:
            marks = []
            if path.name in KNOWN_BUGS:
                marks.append(pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[path.name]))
            out.append(
                pytest.param(name, path, id=f"{name}:{path.parent.name}/{path.name}", marks=marks)
            )
    return out


@pytest.mark.parametrize(("target", "path"), _params())
def test_replay(target: str, path: Path) -> None:
    targets.TARGETS[target](path.read_bytes())


def test_every_target_has_seeds() -> None:
    for name in targets.TARGETS:
        assert list((CORPUS / name).glob("*")), f"no seeds for {name} in {CORPUS / name}"


def test_seeds_are_current() -> None:
    """The committed seeds are what make_seeds.py writes now (rerun it if not)."""
    for name, seeds in make_seeds.all_seeds().items():
        for seed, data in seeds.items():
            path = CORPUS / name / seed
            assert path.is_file(), f"{path} is missing: run tests/fuzz/make_seeds.py"
            assert path.read_bytes() == data, f"{path} is stale: run tests/fuzz/make_seeds.py"


def test_chain_seeds_reach_the_handlers() -> None:
    """The chain_block seeds run each message kind they were written for to success,
    and between them reach clearing and settlement."""
    world = w.chain_world()
    passed: set[str] = set()
    events: set[str] = set()
    for path in sorted((CORPUS / "chain_block").glob("*")):
        time_ns, txs = targets.block_input(path.read_bytes())
        try:
            chain = world.chain(0)
            result = chain.finalize_block(world.height + 1, time_ns, txs)
        finally:
            world.reset()
        events |= {e.type for e in result.events}
        for raw, r in zip(txs, result.tx_results, strict=True):
            if r.code == 0:
                passed |= {m.WhichOneof("sum") for m in chain._decode(raw).body.messages}
    wanted = {
        "send", "place_order", "cancel_order", "meter_reading", "apply", "approve",
        "register_meter", "set_suspended", "storage_deposit", "create_dr_event", "dr_opt_in",
        "post_flex_need", "offer_flexibility", "announce_margin", "submit_demand",
        "publish_forecast",
    }  # fmt: skip
    assert wanted <= passed, f"seeds no longer reach {sorted(wanted - passed)}"
    assert {"market_clear", "settlement_interval", "reputation_update"} <= events


def test_proof_and_header_seeds_verify() -> None:
    world = w.proof_world()
    # 12 vector exist/nonexist facts (nonexist ones bring up to two neighbours each)
    assert sum(len(v) for v in world.present.values()) > 30
    lc = w.light_client_world()
    assert len(lc.updates) == 5 and len(lc.misbehaviours) == 2 and len(lc.genuine) >= 12


# ---- each target catches what it is for ----------------------------------------------


def _seed(target: str, name: str) -> bytes:
    return (CORPUS / target / name).read_bytes()


def test_chain_block_catches_a_failed_checktx_that_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    real = Chain.check_tx

    def leaky(self: Chain, raw: bytes, recheck: bool = False) -> TxResult:
        result = real(self, raw, recheck)
        if result.code:
            self.check_kv.set(b"leak", b"1")
        return result

    monkeypatch.setattr(Chain, "check_tx", leaky)
    with pytest.raises(AssertionError, match="changed state"):
        targets.chain_block(_seed("chain_block", "wrong-envelope"))


def test_chain_block_catches_nondeterminism(monkeypatch: pytest.MonkeyPatch) -> None:
    """A handler whose outcome depends on this node's history (here: whether it ran
    CheckTx new or Recheck) makes the two nodes' blocks differ."""
    real = Chain._run_msgs
    checked: list[bool] = []

    def history_dependent(ctx: Context, tx: DecodedTx, signer: bytes) -> None:
        if ctx.mode is Mode.CHECK:
            checked.append(True)
        elif ctx.mode is Mode.DELIVER and checked:
            checked.clear()
            raise ErrInvalidRequest("this node ran the tx through CheckTx before")
        real(ctx, tx, signer)

    monkeypatch.setattr(Chain, "_run_msgs", staticmethod(history_dependent))
    with pytest.raises(AssertionError, match="different tx results"):
        targets.chain_block(_seed("chain_block", "send"))


def test_framing_catches_a_lost_byte(monkeypatch: pytest.MonkeyPatch) -> None:
    real = server.split_frames

    def lossy(buf: bytearray) -> list[bytes]:
        return [f[1:] for f in real(buf)]

    monkeypatch.setattr(targets, "split_frames", lossy)
    with pytest.raises(AssertionError):
        targets.abci_framing(_seed("abci_framing", "requests-cut"))


def test_ics23_catches_a_verifier_that_accepts_anything(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(targets, "verify_membership", lambda *a: True)
    spec, root, key, value, proof = targets.ics23_case(_seed("ics23_proof", "seed-smt-exist-left"))
    forged = targets.ics23_input(spec, root, key, value + b"!", proof)
    with pytest.raises(AssertionError, match="does not hold"):
        targets.ics23_proof(forged)


def test_light_client_catches_an_unchecked_header(monkeypatch: pytest.MonkeyPatch) -> None:
    from app.pb.mgrid.ibc.v1 import ibc_pb2

    monkeypatch.setattr(targets, "verify_header", lambda cs, t, h, now: None)
    data = _seed("light_client", "update-skipping")
    header = ibc_pb2.Header.FromString(data[2:])
    header.signed_header.header.app_hash = b"\x01" * 32  # the signed bytes changed
    with pytest.raises(AssertionError, match="no validator signed"):
        targets.light_client(data[:2] + header.SerializeToString())
