# The README's two commands are `make demo` and `make test`; everything depends on setup.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
NODE_TOOLS := tools/node_modules/.installed

.PHONY: setup debian-packages test lint bench demo agent clean

setup: debian-packages $(STAMP) $(NODE_TOOLS)

# The system tools the tests run (tools/debian-packages.txt): installed as root, else
# the exact command to run is printed and setup stops.
debian-packages:
	@tools/debian-packages.sh

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $@

$(NODE_TOOLS): tools/package.json tools/package-lock.json
	npm ci --prefix tools --no-audit --no-fund --loglevel=error
	touch $@

# The e2e tests run the local stack inside their own process, apart from the rest.
test: setup
	$(VENV)/bin/pytest -n 2 -m "not e2e"
	$(VENV)/bin/pytest -m e2e -p no:xdist

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/cfn-lint template.yaml
	$(VENV)/bin/sam validate --lint --template template.yaml

export SAM_CLI_TELEMETRY := 0

demo: setup
	$(PY) -m vmkit_local.demo

bench: setup
	$(PY) -m bench

# The agent zipapp and its sha256 in dist/; AGENT_VERSION=x embeds another version.
agent: setup
	$(PY) -m vmkit_agent.build --out dist $(if $(AGENT_VERSION),--version $(AGENT_VERSION))

clean:
	rm -rf $(VENV) tools/node_modules .aws-sam .vmkit
