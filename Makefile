# The front door. `make run` and `make test` work on a fresh machine: they create .venv and
# install everything the project needs from its own files.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
RUN_PORT ?= 8000
SESSIONS ?= 200
DURATION ?= 60
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test test-fast lint format bench loadtest install messages demo-data clean

$(INSTALLED): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# torch first and pinned: pip takes the CPU build that lies on this machine's disk.
	$(PY) -m pip install --quiet torch==2.13.0 2>&1 | grep -v "^WARNING: Location" || true
	$(PY) -m pip install --quiet -e '.[dev]' 2>&1 | grep -v "^WARNING: Location" || true
	$(PY) -c "import torch, django, channels, llama_cpp, sentence_transformers"
	touch $@

install: $(INSTALLED)

.env:
	$(PY) -c "import secrets; print('SECRET_KEY=' + secrets.token_urlsafe(50))" > .env

messages: $(INSTALLED)
	SECRET_KEY=$${SECRET_KEY:-only-for-compilemessages} $(PY) manage.py compilemessages --ignore=.venv -v 0

run: $(INSTALLED) .env messages
	$(PY) manage.py migrate --noinput -v 0
	$(PY) manage.py load_demo
	mkdir -p staticfiles
	$(PY) manage.py serve --port $(RUN_PORT)

# Everything on the embedded default (SQLite), then the database-facing suites once more on
# PostgreSQL + pgvector (from the pgserver package).
test: $(INSTALLED) messages
	$(PY) -m pytest -q -p no:cacheprovider
	CHATBOT_TEST_POSTGRES=1 $(PY) -m pytest -q -p no:cacheprovider tests/chatbot tests/knowledge

test-fast: $(INSTALLED) messages
	$(PY) -m pytest -q -m "not slow"

lint: $(INSTALLED)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(INSTALLED)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: $(INSTALLED) messages
	$(PY) -m bench.run

# 200 concurrent visitor sockets against a daphne of its own (demo FAQs, upstream simulator);
# exits non-zero when a message is lost. Against a running server: $(PY) -m bench.loadtest --url …
loadtest: $(INSTALLED) messages
	$(PY) -m bench.loadtest --start-server --sessions $(SESSIONS) --duration $(DURATION)

clean:
	rm -rf $(VENV) db.sqlite3* var staticfiles
