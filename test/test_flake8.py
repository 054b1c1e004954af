# Copyright 2026 seg_ros maintainers
# Licensed under the Apache License, Version 2.0
"""ament_flake8 over the package, as every ROS 2 Python package carries it."""
import pytest

ament_flake8 = pytest.importorskip('ament_flake8.main')


@pytest.mark.flake8
@pytest.mark.linter
def test_flake8():
    rc, errors = ament_flake8.main_with_errors(argv=[])
    assert rc == 0, 'Found %d code style errors / warnings:\n' % len(errors) + '\n'.join(errors)
