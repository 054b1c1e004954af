"""Network definitions and the wrappers that put them into the seg_ros contract."""
