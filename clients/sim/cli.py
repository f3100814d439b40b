"""``mgrid-sim``: run simulated households against a running microgrid chain.

    mgrid-sim --node http://127.0.0.1:26657 \\
        --keyring-dir .localnet/mg-1/keyring --keyring-backend test \\
        --households 8 --intervals 5 --seed 1 --misbehave 1 --csv run.csv

The faucet and the utility cell sign with keys from the keyring (``--faucet``,
``--utility``: key names, ``faucet`` and ``utility`` by default, as in every
localnet). The households' wallet and meter keys are derived from
``--seed`` and live in memory only; ``--save-keys`` also writes them to the
keyring as ``sim<seed>-h01`` and ``sim<seed>-h01-meter`` (and so on) so that
``mgrid`` can query and sign for them after the run.

With ``--offer-channel CHANNEL --counterparty-node URL`` the utility cell
also offers the neighbouring microgrid behind URL the households' forecast
residual supply each interval, as a SELL over the IBC energy channel
CHANNEL of this chain (clients/sim/offers.py gives the rule; a relayer must
be running between the two chains). ``--offer-share X`` offers that share
of it.

Exit codes: 0 the requested intervals were settled, 1 they were not (or the
chain refused the setup), 2 usage error, 3 node unreachable, 4 keyring
error, 130 interrupted (Ctrl-C; the summary of what was settled is printed
and the CSV written all the same).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from clients.mgrid.chain import ChainError
from clients.mgrid.keyring import BACKENDS, KeyExists, Keyring, KeyringError
from clients.mgrid.session import DEFAULT_KEYRING_DIR
from clients.rpc import DEFAULT_NODE, RPC, NodeUnreachable, RPCError
from clients.sim import display as disp
from clients.sim.runner import RunResult, SimConfig, SimError, Simulator

EXIT_OK, EXIT_INCOMPLETE, EXIT_USAGE, EXIT_NODE, EXIT_KEYRING = 0, 1, 2, 3, 4
EXIT_INTERRUPTED = 130
RPC_TIMEOUT_S = 15.0


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {text}")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text}")
    return value


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    d = SimConfig()
    p = argparse.ArgumentParser(
        prog="mgrid-sim",
        description="Drive simulated households (PV, loads, meters, wallets) against a running "
        "microgrid chain: register them, place their orders, submit their meter readings and "
        "show each settled interval.",
        allow_abbrev=False,
    )
    g = p.add_argument_group("chain and keys")
    g.add_argument("--node", metavar="URL", default=DEFAULT_NODE, help=f"default {DEFAULT_NODE}")
    g.add_argument("--keyring-dir", metavar="DIR", default=DEFAULT_KEYRING_DIR)
    g.add_argument("--keyring-backend", choices=BACKENDS, default="file")
    g.add_argument("--passphrase-file", metavar="FILE", help="passphrase of a 'file' keyring")
    g.add_argument("--faucet", metavar="NAME", default="faucet", help="key that funds households")
    g.add_argument("--utility", metavar="NAME", default="utility", help="the utility cell's key")
    g.add_argument(
        "--save-keys",
        action="store_true",
        help="also write the households' keys to the keyring (sim<seed>-hNN, sim<seed>-hNN-meter)",
    )
    s = p.add_argument_group("simulation")
    s.add_argument("--households", type=_positive, default=d.households, metavar="N")
    s.add_argument("--intervals", type=_positive, default=d.intervals, metavar="K",
                   help=f"settled intervals to run for (default {d.intervals})")  # fmt: skip
    s.add_argument("--seed", type=int, default=d.seed, help="households, profiles, keys")
    s.add_argument("--misbehave", type=_non_negative, default=d.misbehave, metavar="M",
                   help=f"prosumers that over-promise (default {d.misbehave})")  # fmt: skip
    s.add_argument("--overpromise", type=float, default=d.overpromise, metavar="X",
                   help=f"they sell X times their forecast production (default {d.overpromise:g})")  # fmt: skip
    s.add_argument("--forecast-error", type=_fraction, default=d.forecast_error, metavar="E",
                   help=f"relative standard deviation of actual vs forecast (default {d.forecast_error:g})")  # fmt: skip
    s.add_argument("--missing-readings", type=_fraction, default=d.missing_reading_rate,
                   metavar="P", help="probability that a meter misses an interval's window (default 0)")  # fmt: skip
    s.add_argument("--prosumer-share", type=_fraction, default=d.prosumer_share, metavar="X")
    s.add_argument("--grid-fill-share", type=_fraction, default=d.grid_fill_share, metavar="X",
                   help="share of honest households ordering with --grid-fill (default 1)")  # fmt: skip
    s.add_argument("--start-hour", type=float, default=d.start_hour, metavar="H",
                   help=f"simulated time of day of the first interval (default {d.start_hour:g})")  # fmt: skip
    s.add_argument("--slot-minutes", type=_positive, default=d.slot_minutes, metavar="M",
                   help=f"simulated minutes per chain interval (default {d.slot_minutes})")  # fmt: skip
    s.add_argument("--funding", type=_positive, default=d.funding, metavar="AMOUNT",
                   help=f"smallest units of the denom given to each household (default {d.funding})")  # fmt: skip
    s.add_argument("--no-forecast", action="store_true", help="the utility publishes no forecast")
    s.add_argument("--poll", type=float, default=d.poll_seconds, metavar="SECONDS",
                   help=f"pause between polls of the node (default {d.poll_seconds:g})")  # fmt: skip
    x = p.add_argument_group("offers to a neighbouring microgrid (IBC energy channel)")
    x.add_argument("--offer-channel", metavar="CHANNEL", default="",
                   help="this chain's end of the energy channel to offer the residual supply over")  # fmt: skip
    x.add_argument("--counterparty-node", metavar="URL",
                   help="RPC of the neighbouring chain (its schedule, denom and price bounds)")  # fmt: skip
    x.add_argument("--offer-share", type=_fraction, default=d.offer_share, metavar="X",
                   help="share of the forecast residual supply offered (default 1)")  # fmt: skip
    x.add_argument("--offer-lead", type=_non_negative, default=d.offer_lead_seconds,
                   metavar="SECONDS", help="the neighbour's gate must close at least this long "
                   f"after its block time (default {d.offer_lead_seconds}): time to relay")  # fmt: skip
    o = p.add_argument_group("output")
    o.add_argument("--output", "-o", choices=("text", "json"), default="text",
                   help="json: the result as one JSON document on stdout, the live view on stderr")  # fmt: skip
    o.add_argument("--csv", metavar="FILE", help="one row per settled interval")
    o.add_argument("--csv-households", metavar="FILE", help="one row per household and interval")
    return p


def config_from(args: argparse.Namespace) -> SimConfig:
    config = SimConfig(
        households=args.households,
        intervals=args.intervals,
        seed=args.seed,
        misbehave=args.misbehave,
        prosumer_share=args.prosumer_share,
        grid_fill_share=args.grid_fill_share,
        forecast_error=args.forecast_error,
        overpromise=args.overpromise,
        missing_reading_rate=args.missing_readings,
        start_hour=args.start_hour,
        slot_minutes=args.slot_minutes,
        funding=args.funding,
        publish_forecast=not args.no_forecast,
        poll_seconds=args.poll,
        offer_channel=args.offer_channel,
        offer_share=args.offer_share,
        offer_lead_seconds=args.offer_lead,
    )
    config.profile()  # raises ValueError for values out of range
    if args.misbehave and args.misbehave >= args.households:
        raise ValueError(
            f"--misbehave {args.misbehave} leaves no honest household of {args.households}"
        )
    if args.offer_channel and not args.counterparty_node:
        raise ValueError("--offer-channel needs --counterparty-node URL (the neighbour's RPC)")
    if args.counterparty_node and not args.offer_channel:
        raise ValueError("--counterparty-node is for offers: give --offer-channel CHANNEL too")
    if args.poll <= 0:
        raise ValueError(f"--poll must be > 0, got {args.poll}")
    return config


def write_csv(path: str, fields: Sequence[str], rows: Sequence[dict[str, Any]]) -> None:
    with open(Path(path).expanduser(), "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(fields))
        writer.writeheader()
        writer.writerows(rows)


def save_keys(keyring: Keyring, sim: Simulator, seed: int, out: disp.Display) -> None:
    written = 0
    for h in sim.households:
        for name, key in (
            (f"sim{seed}-{h.name}", h.wallet_key),
            (f"sim{seed}-{h.name}-meter", h.meter_key),
        ):
            try:
                keyring.add(name, key.seed)
                written += 1
            except KeyExists:
                if keyring.get(name).address != key.address:
                    out.event(f"keyring already has a different key named {name!r}; not replaced")
    out.event(f"{written} household keys written to {keyring.directory} (sim{seed}-hNN[-meter])")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    as_json = args.output == "json"
    live = sys.stderr if as_json else sys.stdout
    out = disp.Display(live, offers=bool(args.offer_channel))
    try:
        config = config_from(args)
    except ValueError as exc:
        print(f"mgrid-sim: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    passphrase: Any = None
    if args.passphrase_file:
        passphrase = Path(args.passphrase_file).expanduser().read_text().splitlines()[0]
    keyring = Keyring(args.keyring_dir, args.keyring_backend, passphrase)
    try:
        faucet = keyring.private_key(args.faucet)
        utility = keyring.private_key(args.utility)
    except KeyringError as exc:
        print(f"mgrid-sim: keyring: {exc}", file=sys.stderr)
        return EXIT_KEYRING
    rpc = RPC(args.node, timeout=RPC_TIMEOUT_S)
    counterparty = (
        RPC(args.counterparty_node, timeout=RPC_TIMEOUT_S) if args.counterparty_node else None
    )
    sim = Simulator(rpc, faucet, utility, config, reporter=out, counterparty=counterparty)
    result: RunResult | None = None
    code = EXIT_OK
    try:
        try:
            result = sim.setup()
            out.denom = result.denom
            if args.save_keys:
                save_keys(keyring, sim, config.seed, out)
            result = sim.run()
        except KeyboardInterrupt:  # during setup (run() handles its own)
            result = sim.result
            if result is not None:
                result.interrupted = True
        except NodeUnreachable as exc:
            out.close()
            print(f"mgrid-sim: {exc}", file=sys.stderr)
            return EXIT_NODE
        except (SimError, ChainError, RPCError, KeyringError) as exc:
            out.close()
            print(f"mgrid-sim: {exc}", file=sys.stderr)
            code = EXIT_INCOMPLETE
        if result is None:
            return EXIT_INTERRUPTED if code == EXIT_OK else code
        out.close()
        out.summary(result)
        if args.csv:
            write_csv(
                args.csv, disp.INTERVAL_FIELDS, [disp.interval_record(r) for r in result.rows]
            )
        if args.csv_households:
            write_csv(args.csv_households, disp.HOUSEHOLD_FIELDS, disp.household_records(result))
        if as_json:
            print(json.dumps(disp.result_json(result), indent=2))
    finally:
        out.close()
    if result.interrupted:
        return EXIT_INTERRUPTED
    if code != EXIT_OK or not result.complete:
        return EXIT_INCOMPLETE
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
