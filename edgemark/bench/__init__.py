"""Benchmarking artifacts: each (artifact, threads, batch) measured in a fresh process."""
