"""The index engine: weighting, capping and levels (SPEC §3), reviews and backfill (SPEC §4)."""
