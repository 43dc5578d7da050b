# The README's two commands are `make demo` and `make test`; everything depends on setup.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
NODE_TOOLS := tools/node_modules/.installed
CHECKOV := tools/.checkov/bin/checkov

.PHONY: setup debian-packages test test-web lint bench demo agent fuzz clean vm-tools demo-vm test-vm

setup: debian-packages $(STAMP) $(NODE_TOOLS) $(CHECKOV)

# The system tools the tests run (tools/debian-packages.txt): installed as root, else
# the exact command to run is printed and setup stops.
debian-packages:
	@tools/debian-packages.sh

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $@

$(CHECKOV): tools/checkov-requirements.txt
	python3 -m venv tools/.checkov
	tools/.checkov/bin/pip install -q -r tools/checkov-requirements.txt
	touch $@

$(NODE_TOOLS): tools/package.json tools/package-lock.json
	npm ci --prefix tools --no-audit --no-fund --loglevel=error
	touch $@

# The e2e tests run the local stack inside their own process, apart from the rest.
test: setup
	$(VENV)/bin/pytest -n 2 -m "not e2e and not vm"
	$(VENV)/bin/pytest -m "e2e and not vm and not web" -p no:xdist

# The dashboard in Debian's Chromium (playwright-core) against the local stack; every
# page's screenshot lands in .vmkit/web-artifacts/.
test-web: setup
	$(VENV)/bin/pytest -m web -p no:xdist

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/cfn-lint template.yaml
	$(VENV)/bin/sam validate --lint --template template.yaml
	$(CHECKOV) -f template.yaml --config-file .checkov.yaml --skip-download

export SAM_CLI_TELEMETRY := 0

# KEEP=1 keeps the stack up after the deploy, to open its dashboard page (Ctrl-C stops).
demo: setup
	$(PY) -m vmkit_local.demo $(if $(KEEP),--keep)

# The real-VM target (local/vmkit_local/vm/): qemu guests need these Debian packages.
VM_DEBIAN_PACKAGES := qemu-system-x86 qemu-utils mmdebstrap cloud-image-utils e2fsprogs openssh-client
VM_TOOLS := qemu-system-x86_64 qemu-img mmdebstrap cloud-localds mkfs.ext4 ssh
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

vm-tools:
	@for tool in $(VM_TOOLS); do command -v $$tool >/dev/null || missing=1; done; \
	if [ -n "$$missing" ]; then \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $(VM_DEBIAN_PACKAGES); \
	fi

demo-vm: setup vm-tools
	$(PY) -m vmkit_local.demo --vm

test-vm: setup vm-tools
	$(VENV)/bin/pytest -m vm -p no:xdist -s

bench: setup
	$(PY) -m bench

# schemathesis, every check and phase, against the REST API of a local stack it starts.
fuzz: setup
	$(PY) tools/fuzz_rest.py

# The agent zipapp and its sha256 in dist/; AGENT_VERSION=x embeds another version.
agent: setup
	$(PY) -m vmkit_agent.build --out dist $(if $(AGENT_VERSION),--version $(AGENT_VERSION))

clean:
	rm -rf $(VENV) tools/node_modules tools/.checkov .aws-sam .vmkit
