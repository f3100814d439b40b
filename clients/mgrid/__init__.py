"""The ``mgrid`` wallet (DESIGN.md section 6): keyring, transaction building,
typed chain queries and the command line on top of them.

- keyring.py: keys at rest, one file per key, encrypted (``file``) or not (``test``);
  export and import as encrypted ASCII armor.
- hd.py: BIP-39 mnemonics and SLIP-0010 ed25519 derivation.
- chain.py: typed ABCI queries and broadcast results over CometBFT's JSON-RPC.
- tx.py: building, checking and signing transactions with app/tx/codec.py.
- cli.py: the ``mgrid`` command (argparse), exit codes in its docstring.
- session.py: what every command shares: environment, flags, the sign-and-broadcast tail.
- cmd_keys.py: the keys commands; cmd_txfile.py: tx sign, broadcast and wait.
- cmd_registry.py, cmd_market.py, cmd_settlement.py: the module commands.
- errors.py: the chain's error codes as messages a person can act on.
- render.py: chain records as JSON for scripts and as text for people.
- audit.py: re-running a cleared interval with the chain's clearing function.
"""
