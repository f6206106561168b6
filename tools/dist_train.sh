#!/usr/bin/env bash
# Usage: tools/dist_train.sh CONFIG GPUS [train.py args]
# Multi-node: NNODES, NODE_RANK, MASTER_ADDR and PORT come from the environment.
# Without a GPU, GPUS processes train on the CPU over gloo.
exec "$(dirname "$0")/dist_run.sh" train.py "$2" "$1" "${@:3}"
