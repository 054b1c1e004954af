# Two entry points do everything on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
SEG_ROS_ASSETS ?= $(abspath ../shared)
export SEG_ROS_ASSETS

.PHONY: venv demo test lint clean

venv:
	./scripts/setup_venv.sh

# The venv, plus tf2_ros and vision_msgs when setup_venv.sh built them from ../shared/ros2. The
# venv itself is an ament prefix too (pip installs seg_ros's ament index marker there), so
# launch_ros finds the package as it would in a sourced overlay.
ENV := . $(VENV)/bin/activate && { [ ! -f $(VENV)/ros2_extras/setup.sh ] || . $(VENV)/ros2_extras/setup.sh; } && export AMENT_PREFIX_PATH=$${AMENT_PREFIX_PATH:+$$AMENT_PREFIX_PATH:}$$VIRTUAL_ENV

demo: venv
	$(ENV) && seg-ros demo --output output/demo $(DEMO_ARGS)

test: venv
	$(ENV) && python -m pytest test $(PYTEST_ARGS)

lint: venv
	$(ENV) && python -m pytest test -m linter

clean:
	rm -rf build install log output *.egg-info
