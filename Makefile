# Two entry points do everything on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
SEG_ROS_ASSETS ?= $(abspath ../shared)
export SEG_ROS_ASSETS

.PHONY: venv demo test lint clean

venv:
	./scripts/setup_venv.sh

# The one activation setup_venv.sh writes (the docs use it too): the venv, tf2_ros and
# vision_msgs when built from ../shared/ros2, and the venv as an ament prefix.
ENV := . $(VENV)/setup.sh

demo: venv
	$(ENV) && seg-ros demo --output output/demo $(DEMO_ARGS)

test: venv
	$(ENV) && python -m pytest test $(PYTEST_ARGS)

lint: venv
	$(ENV) && python -m pytest test -m linter

clean:
	rm -rf build install log output *.egg-info doc/_build
