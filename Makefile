# mm-reactor: `make demo` and `make test` create the environment on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_VERSION ?= 2.13.0
STAMP := $(VENV)/.installed

.PHONY: install demo test lint typecheck bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	@# CPU torch first (where there is no GPU) and pinned, so nothing pulls a newer CUDA build.
	echo "torch==$(TORCH_VERSION)" > $(VENV)/constraints.txt
	$(BIN)/pip install --quiet "torch==$(TORCH_VERSION)"
	$(BIN)/pip install --quiet -c $(VENV)/constraints.txt -e ".[all,dev]"
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install mm-reactor with every extra and its dev tools

demo: $(STAMP)  ## offline demo: OCR + image experts on an embedded Ray, replayed controller
	$(BIN)/reactor demo

test: $(STAMP)  ## the whole test suite (CPU, offline)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy orchestrator llm experts loading extensions redaction

bench: $(STAMP)  ## side-by-side benchmarks (each prints its ratios)
	$(BIN)/python bench/hop_overhead.py
	$(BIN)/python bench/image_chain.py
	$(BIN)/python bench/concurrent_calls.py
	$(BIN)/python bench/batching.py
	$(BIN)/python bench/sam_embedding_reuse.py
	$(BIN)/python bench/plan_vs_react.py
	$(BIN)/python bench/stream_first_event.py
	$(BIN)/python bench/resume.py
	$(BIN)/python bench/memory_growth.py
	$(BIN)/python bench/ocr_speed.py
	$(BIN)/python bench/video_throughput.py
	$(BIN)/python bench/annotator_batching.py
	$(BIN)/python bench/segment_all_points.py
	$(BIN)/python bench/service_load.py

clean:
	rm -rf $(VENV) reactor-demo-output .pytest_cache .ruff_cache .mypy_cache
