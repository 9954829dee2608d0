"""Raw records to staging rows plus rejects. Pure: no I/O, no clock (docs/architecture.md §1)."""
