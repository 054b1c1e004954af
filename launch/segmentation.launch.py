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

Every knob is a launch argument; ``ros2 launch seg_ros segmentation.launch.py --show-args`` lists
them. The shared-memory Fast DDS profile is applied to this launch's processes (set
``dds_profile:=''`` to keep your own); the camera driver and RViz on the same host should use it
too, or large best-effort images are mostly lost between processes.

With ``managed:=true respawn:=true`` a node that dies is started again and brought back to the
state its lifecycle manager had left it in (configure, then activate if it was active), through
its own lifecycle services: a bond-less ``nav2_lifecycle_manager`` would never notice the
respawn and would leave it unconfigured (doc/lifecycle.md).
"""
import os
from typing import Any, Optional

from ament_index_python.packages import get_package_share_directory
from launch import EventHandler, LaunchDescription
from launch.actions import (DeclareLaunchArgument, OpaqueFunction, RegisterEventHandler,
                            SetEnvironmentVariable)
from launch.event_handlers import OnProcessStart
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode, Node
from launch_ros.events.lifecycle import StateTransition
from lifecycle_msgs.msg import Transition
from seg_ros.ros.dds_env import profile_variable

PACKAGE = 'seg_ros'
TRUE = ('true', '1', 'yes')
STABLE = ('unconfigured', 'inactive', 'active', 'finalized')


class Recovery:
    """
    Bring a respawned managed node back to the state its manager last left it in.

    Every transition the node makes is followed (its ``transition_event`` topic, through the
    LifecycleNode action). When the process starts again after a death and the last stable
    state was inactive or active, it is configured, then activated if it was active: what
    the manager's start-up did for it, through the same ``change_state`` service. A request
    can go to the dead process (the graph still lists its service for a while) and is then
    never answered, so each one is repeated until the new process answers.
    """

    def __init__(self, node: LifecycleNode) -> None:
        self.node = node
        self.starts = 0
        self.state = 'unconfigured'            # the last stable state a transition ended in
        self.target: Optional[str] = None      # the state a recovery is bringing it back to

    def on_start(self, event: Any, context: Any) -> None:
        self.starts += 1
        if self.starts == 1:
            import threading

            threading.Thread(target=self._watch, args=(context,), daemon=True).start()
        want = self.target or (self.state if self.state in ('inactive', 'active') else None)
        self.state = 'unconfigured'            # a new process starts unconfigured
        if self.starts == 1 or want is None:
            return
        self.target = want
        print(f'[seg_ros launch] {self.node.node_name} respawned: bringing it back to '
              f'"{want}" (configure{", activate" if want == "active" else ""})', flush=True)
        context.add_completion_future(context.asyncio_loop.run_in_executor(
            None, self._bring_back, context, want, self.starts))

    def on_transition(self, context: Any) -> None:
        goal = context.locals.event.goal_state
        if goal in STABLE:
            self.state = goal

    def _watch(self, context: Any) -> None:
        """
        Ask the node its state every half second, besides following its transition events.

        A transition event published before launch's subscription has matched the new
        process's publisher is lost (a manager may configure a node within a fraction of a
        second of its start); the state it answers is not. A node that dies within about a
        second of a transition may therefore come back in the state it had before it.
        """
        import time
        from launch_ros.ros_adapters import get_ros_node
        from lifecycle_msgs.srv import GetState

        get = get_ros_node(context).create_client(GetState, f'{self.node.node_name}/get_state')
        while not context.is_shutdown:
            start = self.starts
            answer = _call(get, GetState.Request(), 0.5)
            label = answer.current_state.label if answer is not None else None
            if label in STABLE and self.target is None and start == self.starts:
                self.state = label
            time.sleep(0.5)

    def _bring_back(self, context: Any, want: str, start: int) -> None:
        from launch_ros.ros_adapters import get_ros_node
        from lifecycle_msgs.srv import ChangeState as ChangeStateSrv, GetState

        ros = get_ros_node(context)
        change = ros.create_client(ChangeStateSrv, f'{self.node.node_name}/change_state')
        get = ros.create_client(GetState, f'{self.node.node_name}/get_state')
        steps = [(Transition.TRANSITION_CONFIGURE, 'inactive')]
        if want == 'active':
            steps.append((Transition.TRANSITION_ACTIVATE, 'active'))
        try:
            for transition, reached in steps:
                while not context.is_shutdown and start == self.starts:
                    request = ChangeStateSrv.Request()
                    request.transition.id = transition
                    answer = _call(change, request)
                    if answer is not None and answer.success:
                        break
                    # No answer (sent to the dead process) or refused (an earlier, unanswered
                    # request did reach the new one): is it there already?
                    state = _call(get, GetState.Request())
                    if state is not None and state.current_state.label == reached:
                        break
                    if answer is not None:
                        print(f'[seg_ros launch] {self.node.node_name}: transition '
                              f'{transition} refused in state '
                              f'{state.current_state.label if state else "?"}; giving up',
                              flush=True)
                        return
            if start == self.starts and not context.is_shutdown:
                self.target = None
        finally:
            ros.destroy_client(change)
            ros.destroy_client(get)


def _call(client: Any, request: Any, timeout: float = 3.0) -> Any:
    """Call a service; None when it is not there or does not answer within ``timeout``."""
    import threading

    if not client.wait_for_service(timeout_sec=timeout):
        return None
    done = threading.Event()
    future = client.call_async(request)
    future.add_done_callback(lambda _: done.set())
    if not done.wait(timeout):
        return None
    return future.result()


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
    managed = LaunchConfiguration('managed').perform(context).lower() in TRUE
    if managed:
        overrides['autostart'] = False   # a lifecycle manager configures and activates it
    respawn = LaunchConfiguration('respawn').perform(context).lower() in TRUE
    options = {
        'package': PACKAGE,
        'executable': 'segmentation_node',
        'name': LaunchConfiguration('node_name'),
        'namespace': LaunchConfiguration('namespace'),
        'output': 'screen',
        'emulate_tty': True,
        'parameters': [LaunchConfiguration('params_file'), overrides],
        'remappings': [('image', LaunchConfiguration('image')),
                       ('camera_info', LaunchConfiguration('camera_info'))],
        'arguments': ['--ros-args', '--log-level', LaunchConfiguration('log_level')],
        'respawn': respawn,
        'respawn_delay': float(LaunchConfiguration('respawn_delay').perform(context)),
    }
    if not managed:
        return [Node(**options)]   # autostart: a respawned node starts itself
    node = LifecycleNode(**options)
    recovery = Recovery(node)
    return [
        RegisterEventHandler(OnProcessStart(target_action=node, on_start=recovery.on_start)),
        RegisterEventHandler(EventHandler(
            matcher=lambda event: isinstance(event, StateTransition) and event.action is node,
            entities=OpaqueFunction(function=recovery.on_transition))),
        node,
    ]


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
        DeclareLaunchArgument('respawn', default_value='false',
                              description='true: start the node again when it dies (with '
                                          'managed:=true it is also configured and activated '
                                          'again if its manager had left it active)'),
        DeclareLaunchArgument('respawn_delay', default_value='2.0',
                              description='seconds to wait before a respawn'),
        DeclareLaunchArgument('log_level', default_value='info',
                              description='debug | info | warn | error'),
    ]
    return LaunchDescription(args + [OpaqueFunction(function=_dds_profile),
                                     OpaqueFunction(function=_node)])
