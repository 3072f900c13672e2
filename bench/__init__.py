"""Benchmark harness: one adapter per backend, recall recomputed here, tables, JSON and PNG plots."""
