"""PyTorch's side of `launch/bench/vs-pytorch.sh`: training steps of the same model, shapes and
optimizer as `multimix bench train`, timed the same way.

    python python/bench_train.py --model resnet20 --input 1x28x28 --classes 10 --batch 128 --threads 2

Each step: forward, soft-target cross-entropy on one-hot targets, backward, SGD (momentum 0.9, weight
decay 5e-4), on one fixed random batch; steps after --warmup are timed and the median is reported, as
one JSON line with `images_per_second`. --channels-last tries PyTorch's other layout (take the faster
of the two for a comparison). The models are multimix's own (python/multimix_models.py).

--account adds where a step's time goes, from torch.profiler over the timed steps (mean ms per step,
each op's inclusive time, keys as `multimix bench train --json` names its layer kinds where they
match): convolution forward and backward (data and weights together: autograd runs them as one
node), batch norm, ReLU and the residual add forward and backward, pooling, linear, loss, the
optimizer. The profiler's own overhead makes that step slower than the plain timing above.
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
parser.add_argument("--account", action="store_true", help="also time each kind of layer with torch.profiler")
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
    with torch.profiler.record_function("forward"):
        logits = model(x)
    with torch.profiler.record_function("loss"):
        loss = -(targets * torch.log_softmax(logits, dim=1)).sum(dim=1).mean()
    with torch.profiler.record_function("backward"):
        loss.backward()
    with torch.profiler.record_function("optimizer"):
        optimizer.step()
    return loss.item()


# Inclusive op times, by the names the profiler gives forward ops and autograd's backward nodes.
ACCOUNT = {
    "convolution_forward_seconds": ["aten::conv2d"],
    "convolution_backward_seconds": ["ConvolutionBackward0"],
    "batch_norm_forward_seconds": ["aten::batch_norm"],
    "batch_norm_backward_seconds": ["NativeBatchNormBackward0"],
    "relu_forward_seconds": ["aten::relu", "aten::relu_"],
    "relu_backward_seconds": ["ReluBackward0"],
    "add_forward_seconds": [],  # forward aten::add inside "forward" (the optimizer adds too): below
    "add_backward_seconds": ["AddBackward0"],
    "pooling_seconds": ["aten::adaptive_avg_pool2d", "MeanBackward1", "AdaptiveAvgPool2DBackward0"],
    "linear_seconds": ["aten::linear", "AddmmBackward0", "TBackward0"],
    "forward_seconds": ["forward"],
    "loss_seconds": ["loss"],
    "backward_seconds": ["backward"],
    "optimizer_seconds": ["optimizer"],
}


def account(steps):
    """Mean seconds per step of each ACCOUNT key over `steps` profiled steps."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profile:
        for _ in range(steps):
            step()
    totals = {event.key: event.cpu_time_total for event in profile.key_averages()}  # microseconds
    result = {key: round(sum(totals.get(name, 0.0) for name in names) / steps / 1e6, 6) for key, names in ACCOUNT.items()}
    # The residual adds of the forward pass: aten::add events whose parent chain reaches "forward".
    adds = 0.0
    for event in profile.events():
        if event.name in ("aten::add", "aten::add_"):
            parent = event.cpu_parent
            while parent is not None and parent.name not in ("forward", "optimizer", "backward"):
                parent = parent.cpu_parent
            if parent is not None and parent.name == "forward":
                adds += event.cpu_time_total
    result["add_forward_seconds"] = round(adds / steps / 1e6, 6)
    return result


for _ in range(args.warmup):
    step()
times = []
for _ in range(args.steps):
    start = time.perf_counter()
    step()
    times.append(time.perf_counter() - start)
median = statistics.median(times)
extra = account(args.steps) if args.account else {}
print(json.dumps({**extra, "framework": "torch " + torch.__version__, "model": args.model, "input": args.input,
                  "batch": args.batch, "threads": torch.get_num_threads(), "channels_last": args.channels_last,
                  "images_per_second": round(args.batch / median, 2), "step_seconds_median": round(median, 5),
                  "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "unset")}))
