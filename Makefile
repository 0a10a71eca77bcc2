# malina: two commands do everything on a fresh Debian 12 machine (as root):
#   make demo   set everything up and run the full netboot sequence on the simulated lab
#   make test   set everything up and run all tests
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PYTEST := $(VENV)/bin/pytest
REPORTS := build/reports
PYTEST_ARGS ?=

.PHONY: setup venv images test test-rack-emulated hook-test demo lint lock report lab-down clean \
        bench-hook bench-backend bench-install bench-sim

setup:
	@bash scripts/setup.sh

# The Python venv alone (setup does it too): all that lint and lock need.
venv:
	@bash scripts/venv.sh

images: setup
	@$(PY) -m harness.cli lab images

hook-test: setup
	@if [ -f hook/Makefile ]; then $(MAKE) --no-print-directory -C hook test; fi

# All tests: hook unit tests (googletest), then every pytest test and scenario (docker lab included), then the
# scenarios that are not sim_only on the emulated rack (test-rack-emulated).
test: setup images hook-test
	@mkdir -p $(REPORTS)
	@$(PY) -m harness.cli lab down --stale >/dev/null
	@set +e; $(PYTEST) -p no:cacheprovider --junitxml=$(REPORTS)/junit.xml \
	    --alluredir=$(REPORTS)/allure-results --clean-alluredir $(PYTEST_ARGS); rc=$$?; \
	  $(PY) -m harness.cli lab down --stale >/dev/null; \
	  if [ $$rc -eq 5 ]; then echo "no tests ran" >&2; exit 1; fi; \
	  $(MAKE) --no-print-directory test-rack-emulated; rack=$$?; \
	  if [ $$rc -ne 0 ]; then exit $$rc; fi; exit $$rack

# The scenarios on the emulated rack (lab.emulated-rack.yaml): simulated boards reached only as real ones
# (pty, RFC 2217, SNMP PoE, command power, the relay as the switch), through the rack session with managed
# services. `make test` runs it after the main run; results join the same report.
EMURACK_LAB := lab.emulated-rack.yaml
EMURACK_ARGS ?= -m "not sim_only"
test-rack-emulated: setup images
	@mkdir -p $(REPORTS)
	@$(PY) -m harness.emurack --lab $(EMURACK_LAB) -- $(PYTEST) -p no:cacheprovider scenarios --lab $(EMURACK_LAB) \
	    $(EMURACK_ARGS) --junitxml=$(REPORTS)/junit-rack-emulated.xml --alluredir=$(REPORTS)/allure-results

demo: setup images
	@$(PY) -m harness.cli demo

# The checks tests/test_style.py runs (testkit.style): ruff, mypy strict, shellcheck on every shell script.
lint: venv
	@$(PY) -m testkit.style

# requirements.lock from requirements.in with pip's resolver against the configured package index; keeps the
# current pins where they still fit, UPGRADE=1 takes the newest allowed versions.
lock: venv
	@$(PY) scripts/lock.py $(if $(filter 1,$(UPGRADE)),--upgrade)

report:
	@bash scripts/report.sh $(REPORTS)

lab-down:
	@$(PY) -m harness.cli lab down --all

bench-hook: setup images
	@$(PY) -m bench.hook
bench-backend: setup
	@$(PY) -m bench.backend
bench-install: setup
	@$(PY) -m bench.install
bench-sim: setup images
	@$(PY) -m bench.sim

clean:
	rm -rf build $(VENV) allure-results allure-report
