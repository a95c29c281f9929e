# Everything a new machine needs is Python >= 3.11, make and a C compiler.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev

.PHONY: run flower test bench bench-capacity lint lock clean

run: $(STAMP)
	exec $(BIN)/python -m devstack.run

# Flower against the broker of REDIS_URL, or else the embedded Redis of a running `make run`
# (same state directory). CALCQUEUE_FLOWER=1 make run starts it with everything else instead.
flower: $(STAMP)
	exec $(BIN)/celery -A config flower --conf=config/flowerconfig.py

test: $(STAMP)
	CALCQUEUE_STATE_DIR=$(CURDIR)/var/test $(BIN)/python -m pytest $(PYTEST_ARGS)

# Prints figures and ratios against baselines measured in the same run; asserts nothing.
bench: $(STAMP)
	$(BIN)/python -m bench.system $(BENCH_ARGS)

# The figures of docs/capacity.md, for the services DATABASE_URL and BROKER_URL name.
bench-capacity: $(STAMP)
	$(BIN)/python -m bench.capacity

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Dependencies are pinned with hashes in requirements*.lock, exported from uv.lock;
# `make lock` refreshes both after a change to pyproject.toml (needs uv).
$(STAMP): requirements-dev.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes \
		--no-deps -r requirements-dev.lock
	touch $@

lock:
	uv lock
	uv export --frozen --format requirements-txt --no-dev --no-emit-project -o requirements.lock
	uv export --frozen --format requirements-txt --all-groups --no-emit-project -o requirements-dev.lock

clean:
	rm -rf $(VENV) var
