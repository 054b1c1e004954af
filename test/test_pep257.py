# Copyright 2026 seg_ros maintainers
# Licensed under the Apache License, Version 2.0
"""ament_pep257 docstring style over the package."""
import pytest

ament_pep257 = pytest.importorskip('ament_pep257.main')


@pytest.mark.linter
@pytest.mark.pep257
def test_pep257():
    rc = ament_pep257.main(argv=['.', 'test'])
    assert rc == 0, 'Found code style errors / warnings'
