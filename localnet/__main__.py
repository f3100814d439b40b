"""Entry point of ``python -m localnet``; see :mod:`localnet.cli`."""

from localnet.cli import main

raise SystemExit(main())
