"""drfc stand-in for the image's default SAGEMAKER_PROGRAM: the single-container "sage-only" mode.

DRfC-style training must set SAGEMAKER_PROGRAM=sage-train.sh. Without it, the toolkit runs this
script with the training hyperparameters, which lack the sage-only arguments, and it fails the
way the real one does: an argparse error about --s3_yaml_name and exit status 2.
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="sagemaker_bootstrap.py")
    parser.add_argument("--s3_yaml_name", required=True)
    parser.add_argument("--world_name")
    parser.add_argument("--simulation_launch_file")
    parser.add_argument("--s3_ros_log_bucket")
    parser.parse_known_args(argv)
    print("sage-only mode (trainer and simulation in one container) is not part of the drfc stand-in", flush=True)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
