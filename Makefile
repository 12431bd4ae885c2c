# The commands of the README, plus the ones contributors use.
#   make install  build the three packages for this machine and install fast-langgraph[rust]
#                 into the active environment (the python3 on PATH; PYTHON=... for another)
#   make demo     build what is needed and run the demo
#   make test     lint + the suite for every codec and engine, and on the oldest and
#                 newest supported dependencies + dist and its install check
#   make dist     what a release uploads, into dist/ (nox -s dist)
PYTHON ?= python3
VENV := .venv
NOX := $(VENV)/bin/nox
UV := $(VENV)/bin/uv
MATURIN := $(VENV)/bin/maturin
# `make install MYPYC=0` installs the engine interpreted (no C compiler needed).
MYPYC ?= 1
INSTALL_WHEELS := build/install

.PHONY: install demo test lint bench dist clean

$(NOX): Makefile
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet "nox==2026.10.20" "uv==0.13.9" "maturin==1.16.0"
	touch $(NOX)

# Each build prints its own progress (cargo's, setuptools' and mypyc's); the wheels are
# then installed by file, so no index can offer the unrelated "fast-langgraph" on PyPI.
# Third-party dependencies come from PyPI as usual.
install: $(NOX)
	@echo "== installing into $$($(PYTHON) -c 'import sys; print(sys.prefix)')"
	rm -rf $(INSTALL_WHEELS)
	@echo "== fast-langgraph-rs: the native codec (Rust, release build)"
	$(MATURIN) build --release --locked --interpreter $(PYTHON) \
		--manifest-path packages/fast-langgraph-rs/Cargo.toml --out $(INSTALL_WHEELS)
	@echo "== fast-langgraph-pure: the storage engine (FAST_LANGGRAPH_MYPYC=$(MYPYC))"
	FAST_LANGGRAPH_MYPYC=$(MYPYC) $(UV) build --wheel --python $(PYTHON) \
		--out-dir $(INSTALL_WHEELS) packages/fast-langgraph-pure
	@echo "== fast-langgraph: the public package"
	$(UV) build --wheel --python $(PYTHON) --out-dir $(INSTALL_WHEELS) packages/fast-langgraph
	$(UV) pip install --python $(PYTHON) \
		--reinstall-package fast-langgraph --reinstall-package fast-langgraph-pure \
		--reinstall-package fast-langgraph-rs \
		$(INSTALL_WHEELS)/fast_langgraph_rs-*.whl $(INSTALL_WHEELS)/fast_langgraph_pure-*.whl \
		"$$(ls $(INSTALL_WHEELS)/fast_langgraph-*.whl)[rust]"
	$(PYTHON) -c "import fast_langgraph as f; print('fast-langgraph', f.__version__, \
		'codec:', f.__impl__, 'engine:', 'compiled' if f.ENGINE_COMPILED else 'interpreted')"

dist: $(NOX)
	$(NOX) -s dist

demo: $(NOX)
	$(NOX) -s demo

test: $(NOX)
	$(NOX) -s lint tests versions install_check bench_smoke

lint: $(NOX)
	$(NOX) -s lint

bench: $(NOX)
	$(NOX) -s bench

clean:
	rm -rf $(VENV) .nox build dist target
