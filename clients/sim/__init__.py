"""``mgrid-sim``: simulated households trading on a running microgrid chain.

The infrastructure layer of DESIGN.md section 1 (meters, PV panels, loads)
in software, driving the chain through the same transactions real users
sign: registration through the utility cell, orders before gate closure,
meter readings signed by each meter's own key after each interval.

    profiles.py   households and their deterministic PV and load profiles
    household.py  accounts, signing, broadcasting and tracking transactions
    runner.py     the run: setup, then each interval's phases by block time
    display.py    the live table, the progress line and the final summary
    cli.py        the ``mgrid-sim`` command line and CSV output
"""
