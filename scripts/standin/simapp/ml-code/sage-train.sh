#!/usr/bin/env bash
# drfc stand-in for the simapp's sage-train.sh: runs the training worker with the toolkit's arguments.
# The real script starts redis-server on 6379 first; here the training worker serves that port itself.
echo "Starting sage-train.sh"
python3 -m simapp_standin.trainer "$@"
exit $?
