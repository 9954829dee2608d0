"""Benchmark peers: the connector (CLI), dlt (rest_api source) and the raw floor."""
