"""PyTorch's side of `launch/bench/vs-pytorch.sh`: training steps of the same model, shapes and
optimizer as `multimix bench train`, timed the same way.

    python python/bench_train.py --model resnet20 --input 1x28x28 --classes 10 --batch 128 --threads 2

Each step: forward, soft-target cross-entropy on one-hot targets, backward, SGD (momentum 0.9, weight
decay 5e-4), on one fixed random batch; steps after --warmup are timed and the median is reported, as
one JSON line with `images_per_second`. --channels-last tries PyTorch's other layout (take the faster
of the two for a comparison). The models are multimix's own (python/multimix_models.py).
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from multimix_models import ResNet  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--model", default="resnet20")
parser.add_argument("--input", default="3x32x32", help="CxHxW")
parser.add_argument("--classes", type=int, default=10)
parser.add_argument("--width", type=float, default=1.0)
parser.add_argument("--batch", type=int, default=128)
parser.add_argument("--threads", type=int, default=2)
parser.add_argument("--warmup", type=int, default=3)
parser.add_argument("--steps", type=int, default=10)
parser.add_argument("--channels-last", action="store_true")
args = parser.parse_args()

torch.set_num_threads(args.threads)
torch.manual_seed(0)
channels, height, width = (int(v) for v in args.input.split("x"))
layout = torch.channels_last if args.channels_last else torch.contiguous_format
model = ResNet(args.model, channels, args.classes, args.width).to(memory_format=layout).train()
x = torch.randn(args.batch, channels, height, width).contiguous(memory_format=layout)
targets = torch.nn.functional.one_hot(torch.randint(0, args.classes, (args.batch,)), args.classes).float()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)


def step():
    optimizer.zero_grad(set_to_none=True)
    loss = -(targets * torch.log_softmax(model(x), dim=1)).sum(dim=1).mean()
    loss.backward()
    optimizer.step()
    return loss.item()


for _ in range(args.warmup):
    step()
times = []
for _ in range(args.steps):
    start = time.perf_counter()
    step()
    times.append(time.perf_counter() - start)
median = statistics.median(times)
print(json.dumps({"framework": "torch " + torch.__version__, "model": args.model, "input": args.input,
                  "batch": args.batch, "threads": torch.get_num_threads(), "channels_last": args.channels_last,
                  "images_per_second": round(args.batch / median, 2), "step_seconds_median": round(median, 5),
                  "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "unset")}))
