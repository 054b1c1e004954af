"""The ROS 2 edge: the node, its parameters, message builders, the replay player, DDS set-up."""
