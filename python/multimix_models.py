"""PyTorch definitions of the models multimix trains, named as its checkpoints name their tensors.

    from multimix_models import load_checkpoint
    model, state = load_checkpoint("runs/NAME")          # or runs/NAME/checkpoints[/step-000460]
    logits = model(x)                                    # x: [b, C, H, W] float32, normalised

`load_checkpoint` builds the model from the checkpoint's state.json (model.name, model.width,
data.dataset) and loads model.safetensors with `load_state_dict(..., strict=True)`: every tensor,
BatchNorm's `num_batches_tracked` included, matches by name and shape (checkpoints written before
multimix stored `num_batches_tracked` get the step count there). The architectures mirror
Sources/Models (ResNetSpecification, ResidualBlocks, ResNet):

    resnet20/32/56/110   CIFAR ResNet (He et al. 2016): 3x3 conv 16 + BN + ReLU, three stages of
                         n = (depth - 2) / 6 basic blocks (16/32/64), option-A shortcuts
                         (subsample, zero-pad channels: no parameters), global pool, linear
    preactresnet18/34    3x3 stem conv 64 (no BN, no max-pool), pre-activation blocks with a 1x1
                         conv shortcut where the shape changes, final BN + ReLU (`bn`), pool, linear
    preactresnet18-alignmixup
                         AlignMixup's PreAct ResNet-18 (the MultiMix authors' previous code,
                         cifar10_100/models/resnet.py): 3x3 conv 64 + BN + ReLU stem, the same
                         pre-activation stages, no final BN + ReLU (signed embeddings), pool, linear
    wrn16-8              WideResNet-16-8: as preactresnet, stem 16, stages 128/256/512 x 2
    resnet18, resnet50   torchvision's (7x7/2 stem, max-pool, basic or bottleneck blocks, stride on
                         the 3x3 conv, conv + BN projection shortcuts)

`width` scales every channel count (rounded half up, at least 1), as `model.width` does.
Only torch is needed (numpy and safetensors to load checkpoints and data).
"""
import json
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

MODEL_NAMES = ["resnet20", "resnet32", "resnet56", "resnet110", "preactresnet18", "preactresnet34",
               "wrn16-8", "resnet18", "resnet50", "preactresnet18-alignmixup"]

# Pre-activation models without the final BN + ReLU: AlignMixup's PreAct ResNet-18 (conv-BN-ReLU stem,
# the pool straight after the last block: signed embeddings).
NO_FINAL_BN = {"preactresnet18-alignmixup"}

# data.dataset -> (input channels, classes)
DATASETS = {"fashion-mnist": (1, 10), "mnist": (1, 10), "cifar10": (3, 10), "cifar100": (3, 100)}


def specification(name, width=1.0):
    """(stem, stem channels, block, shortcut, [(channels, blocks, stride)]), channels scaled by width."""
    def stages(channels, blocks):
        return [(c, n, 1 if i == 0 else 2) for i, (c, n) in enumerate(zip(channels, blocks))]

    if name in ("resnet20", "resnet32", "resnet56", "resnet110"):
        n = (int(name[len("resnet"):]) - 2) // 6
        spec = ("cifar", 16, "basic", "subsample", stages([16, 32, 64], [n, n, n]))
    elif name in ("preactresnet18", "preactresnet34"):
        blocks = [2, 2, 2, 2] if name.endswith("18") else [3, 4, 6, 3]
        spec = ("preact", 64, "preact", "projection", stages([64, 128, 256, 512], blocks))
    elif name == "preactresnet18-alignmixup":
        spec = ("cifar", 64, "preact", "projection", stages([64, 128, 256, 512], [2, 2, 2, 2]))
    elif name == "wrn16-8":
        spec = ("preact", 16, "preact", "projection", stages([128, 256, 512], [2, 2, 2]))
    elif name == "resnet18":
        spec = ("imagenet", 64, "basic", "projection", stages([64, 128, 256, 512], [2, 2, 2, 2]))
    elif name == "resnet50":
        spec = ("imagenet", 64, "bottleneck", "projection", stages([64, 128, 256, 512], [3, 4, 6, 3]))
    else:
        raise ValueError(f"unknown model '{name}'; known models: {', '.join(MODEL_NAMES)}")

    def scale(c):
        return max(1, math.floor(c * width + 0.5))  # Swift's .rounded(): half away from zero

    stem, stem_channels, block, shortcut, table = spec
    return stem, scale(stem_channels), block, shortcut, [(scale(c), n, s) for c, n, s in table]


class PostActivationBlock(nn.Module):
    """Basic (3x3, 3x3) or bottleneck (1x1, 3x3, 1x1) block: units conv -> BN -> ReLU, the last BN's
    output plus the shortcut before its ReLU. Shortcut: identity, option A, or downsample (conv, BN)."""

    def __init__(self, cin, width, cout, kernels, stride_unit, stride, shortcut):
        super().__init__()
        self.units = len(kernels)
        channels = cin
        for i, k in enumerate(kernels):
            out = cout if i == len(kernels) - 1 else width
            setattr(self, f"conv{i + 1}", nn.Conv2d(channels, out, k, stride if i == stride_unit else 1, k // 2, bias=False))
            setattr(self, f"bn{i + 1}", nn.BatchNorm2d(out))
            channels = out
        reshapes = stride != 1 or cin != cout
        self.downsample = None
        self.subsample = None
        if reshapes and shortcut == "projection":
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        elif reshapes:
            self.subsample = (stride, cout - cin)

    def forward(self, x):
        h = x
        for i in range(1, self.units):
            h = F.relu(getattr(self, f"bn{i}")(getattr(self, f"conv{i}")(h)))
        h = getattr(self, f"bn{self.units}")(getattr(self, f"conv{self.units}")(h))
        if self.downsample is not None:
            r = self.downsample(x)
        elif self.subsample is not None:
            # option A: every s-th pixel, channels zero-padded (the odd one, if any, at the end)
            stride, extra = self.subsample
            r = F.pad(x[:, :, ::stride, ::stride], (0, 0, 0, 0, extra // 2, extra - extra // 2))
        else:
            r = x
        return F.relu(h + r)


class PreActivationBlock(nn.Module):
    """a = relu(bn1(x)); y = conv2(relu(bn2(conv1(a)))) + (downsample(a) if the shape changes else x)."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False))

    def forward(self, x):
        a = F.relu(self.bn1(x))
        y = self.conv2(F.relu(self.bn2(self.conv1(a))))
        return y + (self.downsample(a) if self.downsample is not None else x)


class ResNet(nn.Module):
    """One of MODEL_NAMES for `in_channels`-channel images and `num_classes` classes."""

    def __init__(self, name, in_channels, num_classes, width=1.0):
        super().__init__()
        stem, channels, block, shortcut, stages = specification(name, width)
        imagenet = stem == "imagenet"
        self.name = name
        self.conv1 = nn.Conv2d(in_channels, channels, 7 if imagenet else 3, 2 if imagenet else 1, 3 if imagenet else 1,
                               bias=False)
        self.bn1 = None if stem == "preact" else nn.BatchNorm2d(channels)
        self.maxpool = nn.MaxPool2d(3, 2, 1) if imagenet else None
        for i, (width_i, count, stride) in enumerate(stages):
            out = 4 * width_i if block == "bottleneck" else width_i
            blocks = []
            for j in range(count):
                s = stride if j == 0 else 1
                if block == "basic":
                    blocks.append(PostActivationBlock(channels, width_i, out, [3, 3], 0, s, shortcut))
                elif block == "bottleneck":
                    blocks.append(PostActivationBlock(channels, width_i, out, [1, 3, 1], 1, s, shortcut))
                else:
                    blocks.append(PreActivationBlock(channels, out, s))
                channels = out
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.stage_count = len(stages)
        self.bn = nn.BatchNorm2d(channels) if block == "preact" and name not in NO_FINAL_BN else None
        self.fc = nn.Linear(channels, num_classes)

    def features(self, x):
        """The pooled embedding Z [b, d]."""
        h = self.conv1(x)
        if self.bn1 is not None:
            h = F.relu(self.bn1(h))
        if self.maxpool is not None:
            h = self.maxpool(h)
        for i in range(self.stage_count):
            h = getattr(self, f"layer{i + 1}")(h)
        if self.bn is not None:
            h = F.relu(self.bn(h))
        return h.mean(dim=(2, 3))

    def forward(self, x):
        return self.fc(self.features(x))


def model_from_config(config, num_classes=None):
    """The (untrained) model a run's resolved config describes (state.json's "config"). An image folder
    (RGB) has as many classes as its train/ folder has class folders: give `num_classes`."""
    dataset = config["data"]["dataset"]
    if dataset == "image-folder":
        if num_classes is None:
            raise ValueError("an image-folder model needs num_classes (its train/ folder's class count)")
        in_channels = 3
    elif dataset not in DATASETS:
        raise ValueError(f"unknown dataset '{dataset}'; known: {', '.join(DATASETS)}, image-folder")
    else:
        in_channels, num_classes = DATASETS[dataset]
    model = config["model"]
    return ResNet(model["name"], in_channels, num_classes, float(model.get("width", 1.0)))


def checkpoint_folder(path):
    """A step folder from a run folder, its checkpoints/ folder (their latest), or a step folder."""
    for candidate in (os.path.join(path, "checkpoints"), path):
        latest = os.path.join(candidate, "latest")
        if os.path.isfile(latest):
            with open(latest) as f:
                return os.path.join(candidate, f.read().strip())
    if os.path.isfile(os.path.join(path, "state.json")):
        return path
    raise FileNotFoundError(f"{path}: neither a checkpoint folder (state.json) nor a run or checkpoints folder (latest)")


def load_checkpoint(path):
    """(model in eval mode with the checkpoint's tensors loaded strictly, state.json as a dict)."""
    from safetensors.torch import load_file

    folder = checkpoint_folder(path)
    with open(os.path.join(folder, "state.json")) as f:
        state = json.load(f)
    tensors = load_file(os.path.join(folder, "model.safetensors"))
    model = model_from_config(state["config"], num_classes=tensors["fc.weight"].shape[0])
    for name in model.state_dict():
        # checkpoints written before multimix stored BatchNorm's counter: one training forward per step
        if name.endswith(".num_batches_tracked") and name not in tensors:
            tensors[name] = torch.tensor(state["step"], dtype=torch.long)
    model.load_state_dict(tensors, strict=True)
    return model.eval(), state
