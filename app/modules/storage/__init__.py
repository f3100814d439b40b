"""Storage: storage-backed energy credits (issue 11). See keeper.py."""
