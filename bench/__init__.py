"""Benchmarks (see ../shared/BENCH.md): each measures floors in the same run and reports ratios to them."""
