"""featc benchmarks: training data against a hand-written DuckDB query, compile time, online latency.

Run with ``python -m bench.run`` (see bench/README.md).
"""
