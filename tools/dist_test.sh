#!/usr/bin/env bash
# MMPose's tools/dist_test.sh, on torch.distributed.run and this repository's tools/test.py (diffpose_mm
# registered; on machines without CUDA the processes talk over gloo, see diffpose_mm/engine/launch.py).
#   bash tools/dist_test.sh CONFIG CHECKPOINT NUM_PROCESSES [test.py options]     PYTHON=.venv/bin/python
CONFIG=$1
CHECKPOINT=$2
GPUS=$3
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}

PYTHONPATH="$(dirname $0)/..":$PYTHONPATH \
${PYTHON:-python} -m torch.distributed.run \
    --nnodes=$NNODES \
    --node_rank=$NODE_RANK \
    --master_addr=$MASTER_ADDR \
    --nproc_per_node=$GPUS \
    --master_port=$PORT \
    $(dirname "$0")/test.py \
    $CONFIG \
    $CHECKPOINT \
    --launcher pytorch \
    ${@:4}
