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
Fine-tuning a zoo network on the user's own labelled frames (``seg-ros finetune``).

:mod:`~seg_ros.offline.training.data` reads and checks the labelled folders, turns their
label values into training classes (a class list, an ignore value, a label mapping or the
functional taxonomy), augments and weighs them, all in NumPy/OpenCV;
:mod:`~seg_ros.offline.training.losses` has the losses and the learning-rate schedule;
:mod:`~seg_ros.offline.training.trainer` runs the training, validates every epoch with
:mod:`seg_ros.offline.metrics` (the code ``seg-ros evaluate`` uses), logs, checkpoints, resumes,
and exports the best epoch through :mod:`seg_ros.zoo.export`. PyTorch is imported only by the
last two.
"""
