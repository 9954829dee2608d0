"""Benchmark of the accounting export connector against dlt and a raw floor (see README.md)."""
