"""``mgrid-relayer``: the IBC relayer between two microgrid chains (DESIGN.md section 6).

The relayer is not trusted by either chain: each chain runs a light client of
the other and accepts a packet only with an ICS-23 proof against the other
chain's app hash. The relayer carries signed headers and proofs, nothing more.

    config.py   the operator's TOML (chains, keys, path, timings)
    state.py    identifiers created by `link` and scan cursors (atomic JSON file)
    chain.py    one chain over CometBFT RPC: queries, proofs, headers, events, txs
    events.py   IBC events of a block (/block_results)
    path.py     the two chains of a path and light-client updates
    link.py     clients, connection and channel handshakes
    relay.py    the relaying loop (`start`) and `clear`
    status.py   `status`
    metrics.py  Prometheus text endpoint
    cli.py      the command line

docs/relayer.md is the operator's guide.
"""
