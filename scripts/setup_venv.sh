#!/usr/bin/env bash
# Create .venv/ with ROS 2 (Kilted wheels from PyPI), the runtime, the export and test extras,
# and seg_ros itself installed with `pip install .`. Safe to re-run: it only adds what is missing
# and always reinstalls seg_ros from the working tree.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
ROS2_EXTRAS_SRC=${ROS2_EXTRAS_SRC:-$(cd .. && pwd)/shared/ros2}
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
  # torchvision with it, pinned to the release built against that torch (0.28 <-> 2.13).
  "$PIP" install -q --disable-pip-version-check "torch==2.13.0" "torchvision==0.28.0" 2>&1 | quiet
  "$PIP" install -q --disable-pip-version-check ".[cpu,export,tools,test]" 2>&1 | quiet
  # colcon builds and tests the package here as on a robot (test/test_colcon_install.py).
  "$PIP" install -q --disable-pip-version-check colcon-core colcon-ros colcon-python-setup-py \
    colcon-package-information colcon-library-path colcon-recursive-crawl colcon-test-result \
    ros-ament-package 2>&1 | quiet
  # rosdep resolves package.xml against ../shared/ros2's rosdistro snapshot, offline
  # (test/test_rosdep.py); on a robot it comes with the ROS install (python3-rosdep).
  "$PIP" install -q --disable-pip-version-check rosdep 2>&1 | quiet
  # Type stubs for the TensorRT backend's mypy check. --no-deps: its dependencies are the real
  # TensorRT wheels, which download from NVIDIA's own index at install time.
  "$PIP" install -q --disable-pip-version-check --no-deps tensorrt-stubs 2>&1 | quiet
  # What a robot's ROS install has and PyPI lacks (launch, launch_ros, launch_testing,
  # ament_copyright, ament_xmllint; tf2_ros and vision_msgs built from source), from
  # ../shared/ros2 when it is beside the clone. On a robot these come from the ROS install.
  if [ -x "$ROS2_EXTRAS_SRC/install.sh" ]; then
    echo "[setup] installing launch, launch_testing and ament_copyright from $ROS2_EXTRAS_SRC"
    "$ROS2_EXTRAS_SRC/install.sh" "$VENV/bin/python" 2>&1 | quiet
    echo "[setup] building tf2_ros and vision_msgs into $VENV/ros2_extras (about a minute)"
    "$ROS2_EXTRAS_SRC/build.sh" "$VENV" "$VENV/ros2_extras" 2>&1 | quiet
  else
    echo "[setup] no $ROS2_EXTRAS_SRC: launch_testing, ament_copyright, tf2_ros and vision_msgs"
    echo "[setup] come from a ROS 2 install (source /opt/ros/<distro>/setup.bash)"
  fi
  touch "$stamp"
fi
echo "[setup] installing seg_ros from $(pwd)"
"$PIP" install -q --disable-pip-version-check --no-deps --force-reinstall . 2>&1 | quiet
# setuptools leaves its build copy in build/lib; the linters would check that stale copy too.
rm -rf build/lib build/bdist.*
# launch_ros looks for executables in <prefix>/lib/<package>/ (what colcon's setup.cfg gives).
mkdir -p "$VENV/lib/seg_ros"
for exe in segmentation_node seg-ros; do
  ln -sf "../../bin/$exe" "$VENV/lib/seg_ros/$exe"
done
echo "[setup] ready: $VENV/bin/segmentation_node, $VENV/bin/seg-ros"
