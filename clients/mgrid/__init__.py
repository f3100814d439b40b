"""The ``mgrid`` wallet (DESIGN.md section 6): keyring, transaction building,
typed chain queries and the command line on top of them.

- keyring.py: keys at rest, one file per key, encrypted (``file``) or not (``test``).
- chain.py: typed ABCI queries and broadcast results over CometBFT's JSON-RPC.
- tx.py: building, checking and signing transactions with app/tx/codec.py.
- cli.py: the ``mgrid`` command (argparse), exit codes in its docstring.
"""
