"""Parts of `make demo` contributed by each service (imported by scripts/demo.py)."""
