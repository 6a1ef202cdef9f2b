#!/usr/bin/env bash
# Run a study on one node: bash launch/study.sh STUDY.yaml [RANKS] [extra `multimix study` flags...]
#
#   bash launch/study.sh configs/studies/fashion-mnist-resnet20.yaml        # minutes
#   bash launch/study.sh configs/studies/cifar10-resnet20.yaml              # about 80 minutes on 2 cores
#   bash launch/study.sh configs/studies/cifar10-resnet20.yaml 2 --report-only
#
# The same set-up and mpirun flags as launch/train.sh (it runs through it). Finished runs are skipped
# and an interrupted one resumes, so the same command continues a study. Results: runs/NAME/.
exec env MULTIMIX_SUBCOMMAND=study bash "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/train.sh" "$@"
