"""Type stubs for the compiled module _call_keys.pyx (kept in step with it by
tests/test_packaging.py)."""


def call_key(arrays: tuple, args: tuple) -> tuple | None: ...
