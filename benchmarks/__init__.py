"""Benchmarks: speed, memory and decision quality. Run them all with `make bench`; results in docs/benchmarks.md."""
