"""Multi-validator CometBFT localnets on one machine (DESIGN.md sections 5 and 6).

``python -m localnet up`` creates a network of N validators, each a
CometBFT node plus its ABCI app (``mgridd``, or CometBFT's kvstore example
for comparison benchmarks), under one home directory, starts it and waits
until it commits blocks. ``down``, ``status``, ``stop-node``, ``start-node``
and ``kill-app`` operate on a running network through the pids recorded in
its state file.

Modules: :mod:`localnet.layout` (ports, addresses, directories, state file),
:mod:`localnet.create` (homes, genesis, config), :mod:`localnet.tomledit`
(config.toml editing), :mod:`localnet.commands` (binaries and command lines),
:mod:`localnet.procs` (processes), :mod:`localnet.network` (up/down and node
control), :mod:`localnet.status` (heights and app hashes), :mod:`localnet.netns`
(one network namespace per node, partitions), :mod:`localnet.testnet` (node
homes for real machines), :mod:`localnet.cli`.
"""
