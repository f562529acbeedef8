#!/usr/bin/env bash
# drfc stand-in for the simapp's Robomaker entry point:  run.sh run|multi [launch file]
#
# Picks the worker index (DOCKER_REPLICA_SLOT, else the /mnt/comms/workers election, in multi mode
# only), applies MULTI_CONFIG, then starts the "launch" (simapp_standin/launch.py) in the background
# and waits for it. No signal traps: under tini a SIGTERM ends this script, and with it the container.
export PYTHONUNBUFFERED=1
export DEEPRACER_JOB_TYPE_ENV=LOCAL
export ROLLOUT_IDX=${ROLLOUT_IDX:-0}
MODE=${1:-}
LAUNCH_FILE=${2:-distributed_training.launch.py}

multi_config_entry() { # $1 = field; prints "null" when the entry or field is missing (like jq)
  python3 -c 'import json, os, sys
try:
    entry = json.loads(os.environ["MULTI_CONFIG"])["multi_config"][int(sys.argv[1])]
    print(entry[sys.argv[2]])
except (LookupError, ValueError, TypeError):
    print("null")' "$ROLLOUT_IDX" "$1"
}

if [[ $MODE == multi ]]; then
  if [[ -n ${DOCKER_REPLICA_SLOT:-} ]]; then
    WORKER_NUM=$DOCKER_REPLICA_SLOT
  else
    COMMS_FILE=/mnt/comms/workers
    echo "$HOSTNAME" >>"$COMMS_FILE"
    WORKER_NUM=$(grep -n -x -F "$HOSTNAME" "$COMMS_FILE" | head -n 1 | cut -d: -f1)
  fi
  export ROLLOUT_IDX=$((WORKER_NUM - 1))
  if [[ -n ${MULTI_CONFIG:-} ]]; then
    echo "$MULTI_CONFIG"
    S3_YAML_NAME=$(multi_config_entry config_file)
    WORLD_NAME=$(multi_config_entry world_name)
    export S3_YAML_NAME WORLD_NAME
  fi
  echo "Starting as worker $ROLLOUT_IDX, using world $WORLD_NAME and configuration $S3_YAML_NAME."
fi

export ROS_DOMAIN_ID=$ROLLOUT_IDX
echo "Using ROS_DOMAIN_ID=$ROS_DOMAIN_ID for worker $ROLLOUT_IDX"

if [[ -n ${RTF_OVERRIDE:-} ]]; then
  echo "Setting RTF to ${RTF_OVERRIDE} for ${WORLD_NAME:-}"
fi
if [[ ${DEBUG_REWARD,,} == true ]]; then
  echo "Enabling Reward Debugging"
fi

python3 -m simapp_standin.launch "$LAUNCH_FILE" &
LAUNCH_PID=$!
echo "Started ros2 launch with PID $LAUNCH_PID"

if [[ -n ${MULTI_CONFIG:-} ]]; then
  ALTER=/scripts/alter_environment_$ROLLOUT_IDX.sh
else
  ALTER=/scripts/alter_environment.sh
fi
if [[ -f $ALTER ]]; then
  echo "Altering environment"
  bash "$ALTER" &
fi

echo "IP: $(hostname -I) ($(hostname))"
wait "$LAUNCH_PID"
code=$?
echo "ros2 launch process exited with code $code"
exit "$code"
