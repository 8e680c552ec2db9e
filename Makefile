# All set-up happens here: a fresh clone needs nothing but python3 (>= 3.10) and make.
PYTHON ?= python3
VENV := .venv
KVENV := .venv-kernel
PY := $(CURDIR)/$(VENV)/bin/python
KPY := $(CURDIR)/$(KVENV)/bin/python
# pycryptodomex: gateway_provisioners' remote launcher (tests/test_remote_kernels.py) runs here.
KERNEL_PINS := ipykernel==7.4.0 jupyter-client==8.10.0 orjson==3.13.0 nbclient==0.11.0 nbformat==5.11.1 \
	pycryptodomex==3.24.2
SPEC := $(VENV)/share/jupyter/kernels/python3/kernel.json
PYTEST_ARGS ?=

.PHONY: all setup sshd bytecode run test lint typecheck unit bench chaos clean

all: setup

setup: $(VENV)/.stamp $(KVENV)/.stamp $(SPEC) sshd

# The remote-kernel tests run sshd in network namespaces (root only; they skip, saying why,
# elsewhere). As root, install openssh-server where it is missing, with services kept from
# starting (a policy-rc.d for the install: no sshd may be left listening on this machine).
sshd:
	@if [ "$$(id -u)" = 0 ] && ! [ -x /usr/sbin/sshd ] && command -v apt-get >/dev/null; then \
	  echo "installing openssh-server for the remote-kernel tests"; \
	  own_policy=; [ -e /usr/sbin/policy-rc.d ] || { own_policy=1; \
	    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; }; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y -qq openssh-server >/dev/null 2>&1 || \
	    { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq openssh-server >/dev/null 2>&1; } || \
	    echo "openssh-server could not be installed: the remote-kernel tests will skip"; \
	  [ -z "$$own_policy" ] || rm -f /usr/sbin/policy-rc.d; \
	fi

$(VENV)/.stamp: pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q -e '.[dev]'
	touch $@

$(KVENV)/.stamp: Makefile
	test -x $(KVENV)/bin/python || $(PYTHON) -m venv $(KVENV)
	$(KVENV)/bin/python -m pip install -q $(KERNEL_PINS)
	touch $@

# Register the kernel venv's ipykernel as kernelspec `python3` in our venv's
# sys.prefix data dir, exactly as `ipykernel install --sys-prefix` would from there.
$(SPEC): $(VENV)/.stamp $(KVENV)/.stamp
	cd / && $(KPY) -m ipykernel install --prefix $(CURDIR)/$(VENV) --name python3 >/dev/null
	touch $@

# Byte-compile our tree, as pip does for an installed package: with PYTHONDONTWRITEBYTECODE
# set (as on our dev machines), every process the tests and the demo spawn (supervisor CLI,
# Jupyter Server, hosts) would otherwise recompile it, about 0.4 s each. Incremental;
# __pycache__ is git-ignored.
bytecode: $(VENV)/.stamp
	$(PY) -m compileall -q protocol actors supervisor jupyter_client >/dev/null

run: setup bytecode
	$(PY) -m jupyter_client.demo

lint: $(VENV)/.stamp
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(MAKE) typecheck

# mypy cannot follow setuptools' editable finder for our package-dir mapping, so it
# checks a throwaway tree of symlinks laid out the way the installed package is.
# TYPECHECK_DIR lets two checks run side by side without removing each other's tree.
TYPECHECK_DIR ?= build/typecheck
typecheck: $(VENV)/.stamp
	rm -rf $(TYPECHECK_DIR) && mkdir -p $(TYPECHECK_DIR)/jupyter_client
	for f in jupyter_client/*; do ln -s $(CURDIR)/$$f $(TYPECHECK_DIR)/jupyter_client/; done
	for d in protocol actors supervisor; do ln -s $(CURDIR)/$$d $(TYPECHECK_DIR)/jupyter_client/$$d; done
	cd $(TYPECHECK_DIR) && $(CURDIR)/$(VENV)/bin/mypy --config-file $(CURDIR)/pyproject.toml -p jupyter_client

# Two phases: most tests run on two xdist workers (each worker is its own process with its
# own runtime dir and leak check); tests marked `serial` (chaos, port squatting) load the
# machine on purpose or count restarts under timing, so they run alone afterwards.
PYTEST_PARALLEL ?= -n 2
unit: setup bytecode
	$(PY) -m pytest $(PYTEST_PARALLEL) -m "not serial" $(PYTEST_ARGS)
	$(PY) -m pytest -m serial $(PYTEST_ARGS)

test: setup
	$(MAKE) lint
	$(MAKE) unit

bench: setup bytecode
	$(PY) -m bench

chaos: setup
	CHAOS_SECONDS=600 $(PY) -m pytest tests -s -k "chaos or fuzz or sweep" $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) $(KVENV) build *.egg-info .mypy_cache .pytest_cache .ruff_cache .hypothesis
