"""Domain modules: each owns a key prefix, its messages and handlers, its
queries, its genesis and its events (DESIGN.md section 5). Prefix bytes are
assigned here so that no two modules can collide."""

PREFIX_AUTH = b"\x01"
PREFIX_BANK = b"\x02"
PREFIX_REGISTRY = b"\x03"
PREFIX_MARKET = b"\x04"
PREFIX_SETTLEMENT = b"\x05"
PREFIX_REPUTATION = b"\x06"
PREFIX_TRANSFER = b"\x07"  # ibc/apps/transfer: denom traces
PREFIX_ENERGY = b"\x08"  # ibc/apps/energy: params, inter-microgrid trades, offers awaiting clearing
PREFIX_DEMAND_RESPONSE = b"\x09"  # DSO demand-response events and opt-ins
PREFIX_FLEXIBILITY = b"\x0a"  # DSO flexibility needs and offers
PREFIX_QUOTA = b"\x0b"  # EV-charging quotas under a transformer's margin
PREFIX_CERTIFICATES = b"\x0c"  # renewable energy certificates: issuance, carry, retirements
PREFIX_STORAGE = b"\x0d"  # community storage: state of charge, credits, deposits, redemptions
