# w3msg: `make run` starts a node with defaults; `make test` runs every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PROTOS := $(shell find proto -name '*.proto')

.PHONY: setup run test lint typecheck interop interop-js interop-js-waku bench-relay bench-store clean

$(STAMP): pyproject.toml setup.py $(PROTOS) scripts/install-system-deps.sh
	./scripts/install-system-deps.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(BIN)/w3msg-node run $(ARGS)

lint: setup
	$(BIN)/ruff check w3msg_libp2p tests benchmarks interop setup.py
	$(BIN)/lint-imports

typecheck: setup
	$(BIN)/mypy w3msg_libp2p

interop-js:
	./scripts/interop-js-deps.sh

interop-js-waku:
	./scripts/interop-js-waku-deps.sh

test: setup lint typecheck interop-js interop-js-waku
	$(BIN)/pytest -q

# The cross-implementation harness alone: builds the Go, Rust, JS and go-waku peers (cached in
# interop/.cache/), runs every scenario of interop/scenarios/ (printing the matrix) and the js-libp2p
# and js-waku tests of tests/interop/. `make test` runs all of it too.
interop: setup interop-js interop-js-waku
	$(BIN)/pytest -q -p no:cacheprovider interop/tests tests/interop

bench-relay: setup
	@$(BIN)/python benchmarks/relay_bench.py $(ARGS)

bench-store: setup
	@$(BIN)/python benchmarks/store_bench.py $(ARGS)

clean:
	rm -rf $(VENV) build *.egg-info w3msg_libp2p/pb/*_pb2.py w3msg_libp2p/pb/*_pb2.pyi
