"""Reliability and security suites: crash, faults, bad input, database faults, secrets."""
