"""Bank: balances, transfers and total supply (cosmos-sdk x/bank in spirit)."""
