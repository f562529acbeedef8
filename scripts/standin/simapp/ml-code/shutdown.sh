#!/usr/bin/env bash
# drfc stand-in for the simapp's shutdown.sh: a pause, Bye!, then SIGTERM to PID 1.
# Under tini (docker run --init) that ends the container; with bash as PID 1 nothing happens.
sleep "${STANDIN_SHUTDOWN_SECONDS:-5}"
echo "Bye!"
kill 1
