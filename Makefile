# Two commands do all set-up on a fresh machine: `make test` and `make bench`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
KERNEL_SOURCES := $(wildcard src/cyconv/_kernels/*.pyx src/cyconv/_kernels/*.pxd src/cyconv/_kernels/*.h)

.PHONY: test bench bench-full bench-dask build clean info demo sanitize

$(VENV)/.installed: pyproject.toml setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "setuptools>=64" wheel "Cython>=3.0" "numpy>=2.0"
	$(PY) -m pip install --quiet --no-build-isolation -e ".[test]"
	touch $@

$(VENV)/.built: $(VENV)/.installed $(KERNEL_SOURCES) setup.py
	$(PY) setup.py --quiet build_ext --inplace -j 2
	touch $@

build: $(VENV)/.built

# torch (CPU, pinned) is the optional oracle and competitor; its wheel is on local disk here.
$(VENV)/.compare: $(VENV)/.installed
	$(PY) -m pip install --quiet "torch==2.13.0" || echo "torch not installed: benchmarks run without it"
	$(PY) -m pip install --quiet "matplotlib>=3.5" || echo "matplotlib not installed: no plot"
	touch $@

test: $(VENV)/.built $(VENV)/.compare
	$(PY) -m pytest -q tests

bench: $(VENV)/.built $(VENV)/.compare
	# NumPy's matmul is the ceiling: benchmark it with OpenBLAS's own core detection.
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(PY) -m cyconv bench --quick --compare --output bench-results.md --plot bench-results.png

bench-full: $(VENV)/.built $(VENV)/.compare
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(PY) -m pytest benchmarks --benchmark-only --benchmark-group-by=group --benchmark-columns=median,iqr,rounds

$(VENV)/.bench: $(VENV)/.installed
	$(PY) -m pip install --quiet --no-build-isolation -e ".[test,bench]"
	touch $@

# The cyconv.dask overhead table: single call vs threaded scheduler vs LocalCluster, and the
# side-by-side with dask-image (README, "Past one machine: Dask").
bench-dask: $(VENV)/.built $(VENV)/.bench
	$(PY) -m cyconv bench --dask

$(VENV)/.demo: $(VENV)/.installed
	$(PY) -m pip install --quiet --no-build-isolation -e ".[test,demo]"
	touch $@

# Trains the digits CNN (scikit-learn's bundled 8x8 digits, no download) and times an epoch
# against cyconv.reference.
demo: $(VENV)/.built $(VENV)/.demo
	$(PY) -m cyconv demo

# The test suite against kernels built with ASan + UBSan in build/sanitize (see tools/sanitize.sh).
sanitize: $(VENV)/.installed $(VENV)/.compare
	sh tools/sanitize.sh $(PY)

info: $(VENV)/.built
	$(PY) -m cyconv info

clean:
	rm -rf build $(VENV) src/cyconv/_kernels/*.c src/cyconv/_kernels/*.so src/*.egg-info
