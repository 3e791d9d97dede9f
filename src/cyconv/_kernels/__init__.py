"""Compiled kernels: compute only (no validation, no allocation policy)."""
