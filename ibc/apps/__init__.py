"""IBC applications (ICS-26): each binds one port; ``ibc.ports`` routes to ``APPS``.

- ``transfer``: ICS-20 fungible token transfer (port "transfer", "ics20-1");
- ``energy``: inter-microgrid energy offers entered into the receiving
  chain's market (port "energy", "mgrid-energy-1").
"""

from __future__ import annotations

from ibc.apps.energy.app import EnergyApp
from ibc.apps.transfer.app import TransferApp

APPS = (TransferApp(), EnergyApp())

__all__ = ["APPS", "EnergyApp", "TransferApp"]
