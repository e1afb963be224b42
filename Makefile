# The README's commands. Everything runs from the project's own .venv.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# Keep the demo's store inside the project (.mlops/), whatever the caller's environment says.
unexport MLFLOW_TRACKING_URI

.PHONY: demo test lab bench lint chromium redis clean
EXT_SRC := package.json yarn.lock tsconfig.json $(wildcard labextension/*.ts labextension/components/*/*.ts labextension/components/*/*.tsx style/*)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,dask,serve]'
	touch $(STAMP)

demo: $(STAMP)
	mkdir -p notebooks/output
	$(VENV)/bin/papermill --log-level WARNING notebooks/train_classifier.ipynb notebooks/output/train_classifier.ipynb
	$(VENV)/bin/mlops-nb summary --experiment train_classifier
	$(VENV)/bin/mlops-nb validate notebooks/train_classifier.ipynb --pipeline pipelines/train_classifier.yaml
	$(VENV)/bin/mlops-nb run pipelines/train_classifier.yaml --env dev
	$(VENV)/bin/mlops-nb sweep pipelines/train_classifier.yaml --env dev --grid alpha=0.0001,0.001 epochs=5,15 --workers 2
	@echo
	@echo "Executed notebook: notebooks/output/train_classifier.ipynb"
	@echo "Store:             .mlops/ (MLflow SQLite store and artifacts)"

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
chromium:
	@command -v chromium >/dev/null 2>&1 || test -x /usr/bin/chromium || \
		($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium >/dev/null)

# Streaming tests start Debian's redis-server on 127.0.0.1 themselves.
redis:
	@command -v redis-server >/dev/null 2>&1 || \
		($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq redis-server >/dev/null)

# The front end's packages (jlpm comes with jupyterlab); under CI=true yarn.lock must already match package.json.
NODE_STAMP := node_modules/.mlops-nb-installed
$(NODE_STAMP): $(STAMP) package.json yarn.lock
	jlpm install
	touch $@

test: $(STAMP) $(NODE_STAMP) chromium redis
	$(VENV)/bin/ruff check .
	jlpm check:types
	jlpm typecheck
	$(VENV)/bin/python -m pytest -q

# Link the extension's build output into the venv, so a later `jlpm build` shows on reload.
mlops_nb/labextension/package.json: $(STAMP) $(EXT_SRC)
	jlpm install
	jlpm build
	$(VENV)/bin/jupyter labextension develop --overwrite .
	touch $@

# The scheduler runs beside JupyterLab, in its own process, and stops when the lab stops.
lab: $(STAMP) mlops_nb/labextension/package.json
	$(VENV)/bin/mlops-nb scheduler & scheduler=$$!; trap 'kill $$scheduler 2>/dev/null; wait $$scheduler' EXIT INT TERM; \
	$(VENV)/bin/jupyter lab --ip=127.0.0.1 --no-browser $(if $(filter 0,$(shell id -u)),--allow-root) notebooks/train_classifier.ipynb

bench: $(STAMP)
	for script in benchmarks/bench_*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	jlpm typecheck

clean:
	rm -rf $(VENV) .mlops notebooks/output node_modules mlops_nb/labextension lib tsconfig.tsbuildinfo test-output
