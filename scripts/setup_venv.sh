#!/usr/bin/env bash
# Create .venv/ with ROS 2 (Kilted wheels from PyPI), the runtime, the export and test extras,
# and seg_ros itself installed with `pip install .`. Safe to re-run: it only adds what is missing
# and always reinstalls seg_ros from the working tree.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
quiet() { grep -v -e 'is ignored: it is neither a file nor a directory' -e '^$' || true; }

if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating $VENV with $($PYTHON --version)"
  "$PYTHON" -m venv "$VENV"
fi
PIP="$VENV/bin/pip"
stamp="$VENV/.seg_ros-deps-$(cat scripts/setup_venv.sh setup.py | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "[setup] installing ROS 2 wheels and dependencies (about a minute on a fresh machine)"
  "$PIP" install -q --disable-pip-version-check \
    "ros-rclpy[fastrtps]" ros-sensor-msgs ros-nav-msgs ros-std-msgs ros-geometry-msgs \
    ros-diagnostic-msgs ros-visualization-msgs ros-lifecycle-msgs \
    ros-ament-flake8 ros-ament-pep257 ros-ament-index-python 2>&1 | quiet
  # torch first, pinned: an unpinned "torch" would pull the newest CUDA build (several GB).
  "$PIP" install -q --disable-pip-version-check "torch==2.13.0" 2>&1 | quiet
  "$PIP" install -q --disable-pip-version-check ".[cpu,export,tools,test]" 2>&1 | quiet
  # colcon builds the package here as on a robot (test/test_colcon_install.py).
  "$PIP" install -q --disable-pip-version-check colcon-core colcon-ros colcon-python-setup-py \
    colcon-package-information colcon-library-path colcon-recursive-crawl ros-ament-package \
    2>&1 | quiet
  # Type stubs for the TensorRT backend's mypy check. --no-deps: its dependencies are the real
  # TensorRT wheels, which download from NVIDIA's own index at install time.
  "$PIP" install -q --disable-pip-version-check --no-deps tensorrt-stubs 2>&1 | quiet
  touch "$stamp"
fi
echo "[setup] installing seg_ros from $(pwd)"
"$PIP" install -q --disable-pip-version-check --no-deps --force-reinstall . 2>&1 | quiet
# launch_ros looks for executables in <prefix>/lib/<package>/ (what colcon's setup.cfg gives).
mkdir -p "$VENV/lib/seg_ros"
for exe in segmentation_node seg-ros; do
  ln -sf "../../bin/$exe" "$VENV/lib/seg_ros/$exe"
done
echo "[setup] ready: $VENV/bin/segmentation_node, $VENV/bin/seg-ros"
