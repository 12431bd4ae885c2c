# The two commands of the README, plus the ones contributors use.
#   make demo   build what is needed and run the demo
#   make test   lint + the suite for every codec and engine, and on the oldest and
#               newest supported dependencies + wheel install check
PYTHON ?= python3
VENV := .venv
NOX := $(VENV)/bin/nox

.PHONY: demo test lint bench clean

$(NOX): Makefile
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet "nox==2026.10.20" "uv==0.13.9"
	touch $(NOX)

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
