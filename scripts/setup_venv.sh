#!/usr/bin/env bash
# Create .venv/ with ROS 2 (Kilted wheels from PyPI), the runtime, the export and test extras,
# and seg_ros itself installed with `pip install .`. Safe to re-run: it only adds what is missing
# and always reinstalls seg_ros from the working tree. Ends by writing $VENV/setup.sh, the one
# file to source: it activates the venv, adds tf2_ros/vision_msgs and the ament index.
#
# SEG_ROS_TORCH chooses the PyTorch build (only `seg-ros export` and the demo's first export
# use it):
#   cpu  (default) the CPU wheel from PyTorch's CPU index (about 200 MB); where that index
#        cannot be reached, torch from the configured index (a CUDA build on PyPI: see README)
#   cuda the default wheel from the configured index (on PyPI: the CUDA build plus about 15
#        nvidia-* wheels, several GB)
#   none no torch, no export extra: export and the demo need an exported .onnx from elsewhere
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
SEG_ROS_TORCH=${SEG_ROS_TORCH:-cpu}
TORCH_VERSION=2.13.0
TORCHVISION_VERSION=0.28.0   # the release built against that torch
TORCH_CPU_INDEX=${TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}
case "$SEG_ROS_TORCH" in
  cpu|cuda|none) ;;
  *) echo "[setup] SEG_ROS_TORCH=$SEG_ROS_TORCH: expected cpu, cuda or none" >&2; exit 2 ;;
esac
ROS2_EXTRAS_SRC=${ROS2_EXTRAS_SRC:-$(cd .. && pwd)/shared/ros2}
NAV2_KIT_SRC=${NAV2_KIT_SRC:-$(cd .. && pwd)/shared/nav2}
quiet() { grep -v -e 'is ignored: it is neither a file nor a directory' -e '^$' || true; }

if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating $VENV with $($PYTHON --version)"
  "$PYTHON" -m venv "$VENV"
fi
PIP="$VENV/bin/pip"
stamp="$VENV/.seg_ros-deps-$({ cat scripts/setup_venv.sh setup.py; echo "$SEG_ROS_TORCH"; } \
  | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "[setup] installing ROS 2 wheels and dependencies (about a minute on a fresh machine)"
  "$PIP" install -q --disable-pip-version-check \
    "ros-rclpy[fastrtps]" ros-sensor-msgs ros-nav-msgs ros-std-msgs ros-geometry-msgs \
    ros-diagnostic-msgs ros-visualization-msgs ros-lifecycle-msgs \
    ros-ament-flake8 ros-ament-pep257 ros-ament-index-python 2>&1 | quiet
  # torch first, pinned: an unpinned "torch" would pull the newest CUDA build (several GB).
  # torchvision and transformers build the foreign models test/test_wrap.py wraps.
  extras=cpu,export,tools,test,foreign
  case "$SEG_ROS_TORCH" in
    cpu)
      # A 5 s look at the CPU index first: pip would retry an unreachable index for minutes.
      if "$VENV/bin/python" -c "import sys, urllib.request
urllib.request.urlopen(sys.argv[1] + '/torch/', timeout=5)" "$TORCH_CPU_INDEX" 2>/dev/null; then
        echo "[setup] torch $TORCH_VERSION, CPU build, from $TORCH_CPU_INDEX"
        "$PIP" install -q --disable-pip-version-check "torch==$TORCH_VERSION" \
          "torchvision==$TORCHVISION_VERSION" --index-url "$TORCH_CPU_INDEX" 2>&1 | quiet
      else
        echo "[setup] $TORCH_CPU_INDEX cannot be reached: torch $TORCH_VERSION from the" \
          "configured package index (CPU build only if that index holds one)"
        "$PIP" install -q --disable-pip-version-check "torch==$TORCH_VERSION" \
          "torchvision==$TORCHVISION_VERSION" 2>&1 | quiet
      fi ;;
    cuda)
      echo "[setup] torch $TORCH_VERSION from the configured index (on PyPI: CUDA, several GB)"
      "$PIP" install -q --disable-pip-version-check "torch==$TORCH_VERSION" \
        "torchvision==$TORCHVISION_VERSION" 2>&1 | quiet ;;
    none)
      echo "[setup] SEG_ROS_TORCH=none: no torch, so no seg-ros export"
      extras=cpu,tools,test
      "$PIP" install -q --disable-pip-version-check onnxscript onnxslim 2>&1 | quiet ;;
  esac
  [ "$SEG_ROS_TORCH" = none ] || "$VENV/bin/python" -c \
    "import torch; v = torch.version.cuda; print('[setup] torch', torch.__version__, f'(CUDA {v})' if v else '(CPU build)')"
  "$PIP" install -q --disable-pip-version-check ".[$extras]" 2>&1 | quiet
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
  # Nav2's real costmap (nav2_costmap_2d) for test/test_nav2_costmap.py, from ../shared/nav2
  # when it is beside the clone (prebuilt: seconds; else built from source, about 25 minutes).
  # On a robot it comes with Nav2 (ros-<distro>-nav2-costmap-2d). Without it those tests skip.
  if [ -x "$NAV2_KIT_SRC/install.sh" ]; then
    echo "[setup] installing Nav2's nav2_costmap_2d into $VENV/nav2 from $NAV2_KIT_SRC"
    if ! "$NAV2_KIT_SRC/install.sh" "$VENV" "$VENV/nav2" 2>&1 | quiet; then
      echo "[setup] WARNING: $NAV2_KIT_SRC/install.sh failed: the real-costmap tests will skip"
    fi
  else
    echo "[setup] no $NAV2_KIT_SRC: the real-costmap tests need nav2_costmap_2d from a ROS install"
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
# One file to source for everything: the venv, tf2_ros and vision_msgs from ros2_extras, and
# the venv as an ament prefix (pip installs seg_ros's ament index marker and share/ there), so
# launch_ros and ament_index find the package as in a sourced colcon overlay.
venv_abs=$(cd "$VENV" && pwd)
cat > "$VENV/setup.sh" <<SETUP
# Written by scripts/setup_venv.sh. Source it (bash, zsh, sh): . $VENV/setup.sh
. "$venv_abs/bin/activate"
if [ -f "$venv_abs/ros2_extras/setup.sh" ]; then . "$venv_abs/ros2_extras/setup.sh"; fi
case ":\${AMENT_PREFIX_PATH:-}:" in
  *":$venv_abs:"*) ;;
  *) export AMENT_PREFIX_PATH="\${AMENT_PREFIX_PATH:+\$AMENT_PREFIX_PATH:}$venv_abs" ;;
esac
SETUP
echo "[setup] ready: . $VENV/setup.sh, then seg-ros and segmentation_node"
