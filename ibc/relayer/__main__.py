"""``python -m ibc.relayer``: the same as the ``mgrid-relayer`` command."""

import sys

from ibc.relayer.cli import main

sys.exit(main())
