"""Benchmarks that print figures (`make bench`). Tests never assert on wall-clock time."""
