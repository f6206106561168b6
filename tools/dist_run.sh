#!/usr/bin/env bash
# Usage: tools/dist_run.sh SCRIPT NPROC [script args]  (used by dist_train.sh and
# dist_test.sh). Multi-node: NNODES, NODE_RANK, MASTER_ADDR and PORT come from the
# environment. Without a GPU, NPROC processes run on the CPU over gloo.
SCRIPT=$1
NPROC=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
PYTHON=${PYTHON:-python}

PYTHONPATH="$(dirname "$0")/..":${PYTHONPATH:-} \
exec "$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$NPROC" \
    --master_port="$PORT" \
    "$(dirname "$0")/$SCRIPT" \
    "${@:3}" --launcher pytorch
