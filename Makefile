# Two entry points do everything on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
SEG_ROS_ASSETS ?= $(abspath ../shared)
export SEG_ROS_ASSETS

.PHONY: venv demo test lint clean

venv:
	./scripts/setup_venv.sh

demo: venv
	$(VENV)/bin/seg-ros demo --output output/demo $(DEMO_ARGS)

test: venv
	$(VENV)/bin/python -m pytest test $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/python -m pytest test -m linter

clean:
	rm -rf build install log output *.egg-info
