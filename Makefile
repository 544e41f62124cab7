# Two commands do all the set-up on a fresh machine (Python >= 3.10 with venv):
#   make suites   the test suites on the `sim` twin
#   make test     pytest-think's own tests (with ruff and mypy)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: suites test test-loaded lint browser ser2net sshd stress-ng tools bench clean

# Root installs system packages directly; anyone else through sudo.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

suites: $(STAMP)
	$(BIN)/pytest test_suites --board=sim --junitxml=reports/junit.xml --think-json=reports/results.json

lint: $(STAMP)
	$(BIN)/ruff check pytest_think tests bench fixtures conftest.py
	$(BIN)/mypy

# The browser test opens the compare page in Debian's Chromium (headless).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser test"; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; }

# The farm tests export twins' serial ports through Debian's ser2net (4.x), as labgrid's
# exporter does on a bench.
ser2net:
	@command -v ser2net >/dev/null 2>&1 || [ -x /usr/sbin/ser2net ] || { \
	  echo "installing Debian's ser2net for the farm tests"; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ser2net; }

# The loaded test run keeps every core busy with Debian's stress-ng.
stress-ng:
	@command -v stress-ng >/dev/null 2>&1 || [ -x /usr/bin/stress-ng ] || { \
	  echo "installing Debian's stress-ng for the loaded test run"; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends stress-ng; }

# The resume tests cut the connection to a real OpenSSH server on 127.0.0.1: Debian's
# openssh-server, whose sshd binary the tests start privately (own keys, config and port).
# Note: on a machine that runs systemd, installing the package also enables its service.
sshd:
	@[ -x /usr/sbin/sshd ] || command -v sshd >/dev/null 2>&1 || { \
	  echo "installing Debian's openssh-server for the resume tests"; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssh-server; }

# The Allure 3 command line (npm, package.json), for think report.
tools: node_modules/.bin/allure

node_modules/.bin/allure: package.json
	npm ci --no-audit --no-fund --silent
	touch $@

# pytest-think's own tests in two pytest-xdist workers. This outer session is not a board
# session, so the plug-in (under xdist it gives each worker a board) is left out of it; the
# sessions the tests start load it as a lab's do. TEST_WORKERS=0 runs them in one process.
TEST_WORKERS ?= 2

TEST_ARGS := tests -p no:think -n $(TEST_WORKERS) --dist worksteal

test: lint browser ser2net sshd tools
	$(BIN)/pytest $(TEST_ARGS)

# The same tests while an unrelated CPU hog (one stress-ng worker per core, at nice 0 like the
# tests) keeps every core busy: what a shared CI runner does to timing. The hog is stopped on
# every exit path (pass, failure, Ctrl-C, SIGTERM). LOAD_WORKERS=N sets the hog's worker count
# (0: one per online core).
LOAD_WORKERS ?= 0

test-loaded: lint browser ser2net sshd tools stress-ng
	@set -u; \
	stress-ng --cpu $(LOAD_WORKERS) --cpu-method all --quiet & hog=$$!; tests=; \
	trap 'kill -TERM $$tests $$hog 2>/dev/null; wait' EXIT; \
	trap 'exit 130' INT; trap 'exit 143' TERM; trap 'exit 129' HUP; \
	echo "stress-ng (pid $$hog): $(LOAD_WORKERS) cpu workers (0: one per core)"; \
	$(BIN)/pytest $(TEST_ARGS) & tests=$$!; \
	wait $$tests

bench: $(STAMP) ser2net sshd
	$(BIN)/python bench/bench_link.py --json reports/bench-link.json
	$(BIN)/python bench/bench_flash.py --json reports/bench-flash.json
	$(BIN)/python bench/bench_serial.py --json reports/bench-serial.json
	$(BIN)/python bench/bench_energy.py --json reports/bench-energy.json
	$(BIN)/python bench/bench_large_vectors.py --json reports/bench-large-vectors.json
	$(BIN)/python bench/bench_pipeline.py --json reports/bench-pipeline.json
	$(BIN)/python bench/bench_benchmark_entries.py --json reports/bench-benchmark-entries.json
	$(BIN)/python bench/bench_pool.py --json reports/bench-pool.json
	$(BIN)/python bench/bench_farm.py --json reports/bench-farm.json
	$(BIN)/python bench/bench_boards.py --json reports/bench-boards.json
	$(BIN)/python bench/bench_compare.py --json reports/bench-compare.json
	$(BIN)/python bench/bench_resume.py --json reports/bench-resume.json
	$(BIN)/python bench/bench_recovery.py --json reports/bench-recovery.json

clean:
	rm -rf $(VENV) reports/*.json reports/*.xml
