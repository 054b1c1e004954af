# Copyright 2026 seg_ros maintainers
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""Build and install seg_ros: colcon (ament_python) on a robot, or ``pip install .`` in a venv."""
from glob import glob

from setuptools import find_packages, setup

package_name = 'seg_ros'

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test', 'test.*']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml', 'README.md']),
        ('share/' + package_name + '/launch', glob('launch/*.launch.py')),
        ('share/' + package_name + '/config', glob('config/*.yaml') + glob('config/*.xml')
         + glob('config/*.rviz')),
        ('share/' + package_name + '/config/taxonomy', glob('config/taxonomy/*.yaml')),
        ('share/' + package_name + '/engines', ['engines/README.md']),
    ],
    # ROS 2 packages (rclpy, message packages) come from the robot's ROS install or, in a venv,
    # from the ros-* wheels; they are not listed here because their PyPI names differ.
    install_requires=['numpy', 'PyYAML', 'onnx'],
    extras_require={
        # Jetson images ship OpenCV and onnxruntime-gpu from their own sources; a plain CPU
        # machine takes these wheels.
        'cpu': ['onnxruntime', 'opencv-python-headless'],
        'export': ['torch', 'onnxscript', 'onnxslim', 'onnxconverter-common'],
        'tools': ['matplotlib', 'tqdm', 'rosbags', 'Pillow'],
        # The flake8 plugins ament_flake8 runs on a ROS install (python3-flake8-* packages).
        'test': ['pytest<9', 'flake8', 'pydocstyle', 'flake8-import-order', 'flake8-quotes',
                 'flake8-builtins', 'flake8-comprehensions', 'flake8-docstrings',
                 'flake8-blind-except', 'flake8-class-newline', 'flake8-deprecated', 'mypy',
                 'types-PyYAML', 'types-tqdm',
                 # the documentation build (test/test_docs.py)
                 'sphinx', 'myst-parser',
                 # cuda-python's bindings import without a GPU: the TensorRT backend's CUDA
                 # layer is tested against the real library (it reports the missing driver).
                 'cuda-python>=12.6,<13'],
        # Foreign models for "seg-ros wrap"'s tests (test/test_wrap.py): torchvision's
        # segmentation networks and Hugging Face's SegFormer, built from configs. Apart from
        # "test" because torchvision pulls torch (install torch first, as for "export").
        'foreign': ['torchvision', 'transformers'],
    },
    zip_safe=True,
    maintainer='seg_ros maintainers',
    maintainer_email='seg-ros@example.com',
    description='Onboard semantic segmentation for ROS 2 with a traversability grid for Nav2.',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'segmentation_node = seg_ros.ros.node:main',
            'seg-ros = seg_ros.tools.cli:main',
        ],
    },
)
