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

"""
Launch seg_ros's segmentation_node on a camera.

    ros2 launch seg_ros segmentation.launch.py image:=/camera/color/image_raw \
        camera_info:=/camera/color/camera_info model:=/path/espnet_camvid.onnx

Every knob is a launch argument; ``ros2 launch seg_ros segmentation.launch.py --show-args``
lists them. The shared-memory Fast DDS profile is applied to this launch's processes (set
``dds_profile:=''`` to keep your own); the camera driver and RViz on the same host should use it
too, or large best-effort images are mostly lost between processes.
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from seg_ros.ros.dds_env import profile_variable

PACKAGE = 'seg_ros'


def _dds_profile(context, *args, **kwargs):
    """Point Fast DDS at the profile under the variable name this distro reads."""
    profile = LaunchConfiguration('dds_profile').perform(context)
    if not profile:
        return []
    # Humble and Jazzy (Fast DDS 2.x) read FASTRTPS_*; Kilted and later (Fast DDS 3) FASTDDS_*.
    return [SetEnvironmentVariable(profile_variable(), profile)]


def _node(context, *args, **kwargs):
    """Create the node; model/backend override the params file only when given."""
    overrides = {}
    for arg, param in (('model', 'model_path'), ('backend', 'backend')):
        value = LaunchConfiguration(arg).perform(context)
        if value:
            overrides[param] = value
    if LaunchConfiguration('managed').perform(context).lower() in ('true', '1', 'yes'):
        overrides['autostart'] = False   # a lifecycle manager configures and activates it
    return [Node(
        package=PACKAGE,
        executable='segmentation_node',
        name=LaunchConfiguration('node_name'),
        namespace=LaunchConfiguration('namespace'),
        output='screen',
        emulate_tty=True,
        parameters=[LaunchConfiguration('params_file'), overrides],
        remappings=[('image', LaunchConfiguration('image')),
                    ('camera_info', LaunchConfiguration('camera_info'))],
        arguments=['--ros-args', '--log-level', LaunchConfiguration('log_level')],
    )]


def generate_launch_description():
    share = get_package_share_directory(PACKAGE)
    args = [
        DeclareLaunchArgument('model', default_value='',
                              description='Model file (.onnx in the seg_ros contract, or '
                                          ".engine with backend:=tensorrt; '' = the params "
                                          "file's model_path)"),
        DeclareLaunchArgument('backend', default_value='',
                              description="onnxruntime | tensorrt ('' = the params file's)"),
        DeclareLaunchArgument('params_file',
                              default_value=os.path.join(share, 'config', 'segmentation.yaml'),
                              description='Node parameters (YAML)'),
        DeclareLaunchArgument('image', default_value='/camera/image_raw',
                              description='Input image topic (sensor_msgs/Image); with '
                                          'input_transport: compressed, <image>/compressed'),
        DeclareLaunchArgument('camera_info', default_value='/camera/camera_info',
                              description='Camera info topic of that image'),
        DeclareLaunchArgument('namespace', default_value='',
                              description='Namespace of the node and its outputs'),
        DeclareLaunchArgument('node_name', default_value='segmentation_node',
                              description='Node name (the shipped params file is keyed /**: '
                                          'and applies under any name and namespace)'),
        DeclareLaunchArgument('dds_profile',
                              default_value=os.path.join(share, 'config', 'fastdds_shm.xml'),
                              description="Fast DDS XML profile ('' = leave the environment)"),
        DeclareLaunchArgument('managed', default_value='false',
                              description='true: the node waits for a lifecycle manager '
                                          '(nav2_lifecycle_manager, ros2 lifecycle set) to '
                                          'configure and activate it; false: it starts itself'),
        DeclareLaunchArgument('log_level', default_value='info',
                              description='debug | info | warn | error'),
    ]
    return LaunchDescription(args + [OpaqueFunction(function=_dds_profile),
                                     OpaqueFunction(function=_node)])
