# Two commands for a newcomer: `make demo` and `make test`. Both install what they need.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INDEX ?= indexes/dtc
# The team's machines carry the transcripts beside the repo; anywhere else, clone them.
CORPUS ?= $(if $(wildcard ../shared/corpus/podcast),../shared/corpus,https://github.com/DataTalksClub/datatalksclub.github.io.git)
# What the page title and the LLM's instructions call the show ("Ask the DataTalks.Club podcast").
PODCAST_NAME ?= the DataTalks.Club podcast
# CPU-only torch: PyPI's Linux wheels bundle CUDA (a ~6 GB venv a CPU machine never uses).
TORCH_VERSION ?= 2.13.0
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

# Debian's Chromium for the browser tests (Playwright's own browser download is not used).
CHROMIUM ?= /usr/bin/chromium
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: install demo search tune test eval bench bench-app scale space clean-index lock audit

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@start=$$(date +%s); \
	if $(BIN)/python -c "import urllib.request as u; u.urlopen('$(TORCH_INDEX)/torch/', timeout=5)" >/dev/null 2>&1; then \
	  echo "installing torch $(TORCH_VERSION) (CPU build) from $(TORCH_INDEX)"; \
	  $(BIN)/pip install --quiet --extra-index-url $(TORCH_INDEX) "torch==$(TORCH_VERSION)"; \
	else \
	  echo "$(TORCH_INDEX) unreachable: installing torch $(TORCH_VERSION) from the configured package index"; \
	  $(BIN)/pip install --quiet "torch==$(TORCH_VERSION)"; \
	fi && \
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]' && \
	echo "installed in $$(( $$(date +%s) - start ))s; venv size $$(du -sh $(VENV) | cut -f1); $$($(BIN)/python -c 'import torch; print("torch", torch.__version__)')"
	@touch $@

$(INDEX)/manifest.json: | install
	$(BIN)/rag ingest $(CORPUS) --index $(INDEX) --name "$(PODCAST_NAME)"

$(CHROMIUM):
	@command -v apt-get >/dev/null || { echo "install Chromium and set CHROMIUM=/path/to/chromium"; exit 1; }
	$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium

demo: install $(INDEX)/manifest.json
	RAG_INDEX=$(INDEX) $(BIN)/python app.py

search: install $(INDEX)/manifest.json
	$(BIN)/rag search --index $(INDEX)

# Once, after the index is built: the relevance model search re-ranks with (rag tune; ~35 min on 2 cores).
tune: install $(INDEX)/manifest.json
	$(BIN)/rag tune --index $(INDEX)

test: install $(CHROMIUM)
	CHROMIUM=$(CHROMIUM) $(BIN)/python -m pytest

eval: install $(INDEX)/manifest.json
	$(BIN)/python eval/retrieval.py --questions ../shared/eval/dev-questions.jsonl --index $(INDEX)

bench: install
	$(BIN)/python eval/bench.py --corpus $(CORPUS)

# The index grown COPIES times with distractors, built and served (eval/scale.py; README "Scale").
COPIES ?= 30
scale: install $(INDEX)/manifest.json
	$(BIN)/python eval/scale.py --index $(INDEX) --copies $(COPIES) --compare-lexical

space: install
	$(BIN)/python scripts/make_space.py --index $(INDEX) --out $(DIR)

# Against a running app (make demo in another shell): 20 concurrent sessions.
bench-app: install
	$(BIN)/python eval/bench_app.py --url http://127.0.0.1:$${GRADIO_SERVER_PORT:-7860}/ --sessions 20

# Re-resolve every dependency in a scratch venv and write the versions to constraints.txt,
# which make install, CI and the Space's requirements.txt install with. Run it on purpose,
# then run make test and commit constraints.txt.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet "torch==$(TORCH_VERSION)" -e '.[test]'
	{ sed -n '1,2p' constraints.txt; .lock-venv/bin/pip freeze --exclude-editable | sed 's/+cpu$$//'; } > constraints.txt.new
	mv constraints.txt.new constraints.txt && rm -rf .lock-venv
	@echo "constraints.txt refreshed: $$(grep -c '==' constraints.txt) pinned packages"

# The locked set (constraints.txt) against published advisories (PyPA's pip-audit, which asks
# PyPI's vulnerability data): exits 1 on a known vulnerability. Where the registry is a
# mirror without that data, each package is listed as not audited.
audit: install
	$(BIN)/pip install --quiet pip-audit
	$(BIN)/pip-audit -r constraints.txt --no-deps --disable-pip --progress-spinner off

clean-index:
	rm -rf $(INDEX)
