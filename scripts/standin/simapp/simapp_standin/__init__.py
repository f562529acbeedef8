"""drfc's offline stand-in for the DeepRacer simapp image (trainer and Robomaker roles).

It reproduces what the real image does at its edges (commands, environment, S3 objects and their
formats, log lines, ports, exit codes and signal behaviour) without ROS, Gazebo or TensorFlow.
See README.md next to this package for the knobs.
"""
