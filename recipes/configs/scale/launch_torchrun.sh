#!/usr/bin/env bash
# Multi-node DDP with torchrun: run this script once on every node, e.g. on two nodes of 8 GPUs
#   NNODES=2 NODE_RANK=0 MASTER_ADDR=node0 recipes/configs/scale/launch_torchrun.sh   # on node0
#   NNODES=2 NODE_RANK=1 MASTER_ADDR=node0 recipes/configs/scale/launch_torchrun.sh   # on node1
# RECIPE picks the recipe script (default deepid2plus); any further arguments go to it:
#   RECIPE=alexnet_imagenet recipes/configs/scale/launch_torchrun.sh --trainer.max_epochs 90
# torchrun starts one process per GPU and sets RANK/LOCAL_RANK/WORLD_SIZE, which Lightning
# reads (TorchElasticEnvironment): the trainer then joins the group instead of spawning.
set -euo pipefail
cd "$(dirname "$0")/../../.."
NNODES=${NNODES:-2}
NODE_RANK=${NODE_RANK:-0}
NPROC_PER_NODE=${NPROC_PER_NODE:-$(nvidia-smi --list-gpus 2>/dev/null | wc -l)}
MASTER_ADDR=${MASTER_ADDR:-localhost}
MASTER_PORT=${MASTER_PORT:-29500}
RECIPE=${RECIPE:-deepid2plus}
exec torchrun \
  --nnodes "$NNODES" --node_rank "$NODE_RANK" --nproc_per_node "$NPROC_PER_NODE" \
  --master_addr "$MASTER_ADDR" --master_port "$MASTER_PORT" \
  "recipes/$RECIPE.py" fit \
  --config recipes/configs/scale/multinode.yaml \
  --trainer.num_nodes "$NNODES" --trainer.devices "$NPROC_PER_NODE" \
  "$@"
