"""Source API clients: one package per system, plus the shared retry helper."""
