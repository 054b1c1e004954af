"""
Traversability: from a label image to functional ids, a cost grid and obstacle points.

:mod:`~seg_ros.traversability.taxonomy` maps model classes onto the functional classes,
:mod:`~seg_ros.traversability.geometry` turns pixels into ground or depth points,
:mod:`~seg_ros.traversability.grid` rasterises them into an occupancy grid, and
:mod:`~seg_ros.traversability.pipeline` chains the three for the node. All pure NumPy.
"""
from seg_ros.traversability.pipeline import (Config, DATASET_PRESETS, defaults,
                                             from_parameters, PARAMETERS, resolve_taxonomy,
                                             Traversability, TraversabilityResult)

__all__ = ['Config', 'DATASET_PRESETS', 'defaults', 'from_parameters', 'PARAMETERS',
           'resolve_taxonomy', 'Traversability', 'TraversabilityResult']
