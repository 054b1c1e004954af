# Copyright 2026 seg_ros maintainers
# Licensed under the Apache License, Version 2.0
"""ament_copyright, where it is installed (a robot's ROS install; it has no PyPI wheel)."""
import pytest

ament_copyright = pytest.importorskip('ament_copyright.main')


@pytest.mark.copyright
@pytest.mark.linter
def test_copyright():
    rc = ament_copyright.main(argv=['.', 'test'])
    assert rc == 0, 'Found errors'
