"""What the test modules share: the accuracy-contract checks (``helpers``), the small-shape
sweep generators (``sweep``), and the registry of every public op with a small case
(``ops``). Importable as ``support`` because pytest puts ``tests/`` on sys.path."""
