"""Evaluate a multimix checkpoint in PyTorch, as `multimix eval` does: top-1, top-5 and NLL on the
test split of the checkpoint's dataset.

    python python/eval_checkpoint.py RUN_OR_CHECKPOINT [--data-root DIR] [--batch-size 500] [--json]

RUN_OR_CHECKPOINT: a run folder, its checkpoints/ folder (the latest checkpoint) or a step folder.
The model comes from state.json and loads strictly (multimix_models.load_checkpoint). The data is
read as Sources/Datasets reads it: IDX (Fashion-MNIST, MNIST; .gz or not) or CIFAR binary files,
the test split in file order, normalised per channel with the whole training split's statistics,

    x = (pixel / 255 - mean[c]) / std[c]     in float32, mean and std from exact Double sums

so that the inputs are bit-for-bit the ones multimix evaluates. An image folder (data.dataset:
image-folder) is read with Pillow from ROOT/val/ with torchvision's transforms (read_image_folder):
the same geometry as multimix's, resampled by Pillow in 8-bit steps instead of multimix's Float, so
top-1 agrees to within a few images, not bit for bit.
"""
import argparse
import gzip
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from multimix_models import checkpoint_folder, load_checkpoint  # noqa: E402


def _read(path):
    """The bytes of `path`, or of `path`.gz (gunzipped), whichever exists first (.gz first)."""
    for candidate in (path + ".gz", path):
        if os.path.isfile(candidate):
            opener = gzip.open if candidate.endswith(".gz") else open
            with opener(candidate, "rb") as f:
                return f.read()
    raise FileNotFoundError(f"{path}[.gz] does not exist")


def read_idx(root, split):
    """(images [n, 1, h, w] uint8, labels [n]) of an IDX split ("train" or "test")."""
    stem = "train" if split == "train" else "t10k"

    def load(kind, rank):
        for name in (f"{stem}-{kind}-idx{rank}-ubyte", f"{stem}-{kind}.idx{rank}-ubyte"):
            for suffix in (".gz", ""):
                if os.path.isfile(os.path.join(root, name + suffix)):
                    return _read(os.path.join(root, name))
        raise FileNotFoundError(f"{root}: no {stem}-{kind}-idx{rank}-ubyte[.gz]")

    images, labels = load("images", 3), load("labels", 1)
    n, h, w = (int.from_bytes(images[4 + 4 * i:8 + 4 * i], "big") for i in range(3))
    pixels = np.frombuffer(images, dtype=np.uint8, offset=16, count=n * h * w).reshape(n, 1, h, w)
    return pixels, np.frombuffer(labels, dtype=np.uint8, offset=8, count=n).astype(np.int64)


def read_cifar(root, split, fine_classes):
    """(images [n, 3, 32, 32] uint8, labels [n]) of CIFAR-10 (fine_classes False) or CIFAR-100 (fine labels)."""
    if fine_classes:
        files, label_bytes = ["train.bin" if split == "train" else "test.bin"], 2
    else:
        files = [f"data_batch_{i}.bin" for i in range(1, 6)] if split == "train" else ["test_batch.bin"]
        label_bytes = 1
    records = np.concatenate([np.frombuffer(_read(os.path.join(root, name)), dtype=np.uint8)
                              .reshape(-1, label_bytes + 3072) for name in files])
    return records[:, label_bytes:].reshape(-1, 3, 32, 32), records[:, label_bytes - 1].astype(np.int64)


def read_split(dataset, root, split):
    if dataset in ("fashion-mnist", "mnist"):
        return read_idx(root, split)
    if dataset in ("cifar10", "cifar100"):
        return read_cifar(root, split, dataset == "cifar100")
    raise ValueError(f"unknown dataset '{dataset}'")


IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")


def read_image_folder(root, config):
    """uint8 [n, 3, S, S] and int64 labels of ROOT/val/CLASS/..., as `multimix eval` reads them: classes
    are train/'s folder names in sorted order (torchvision's ImageFolder; names starting with "." are
    not classes), files in torchvision's order, each opened with Pillow, converted to RGB, and
    transformed as torchvision's Resize(floor(S / eval_crop_fraction)) + CenterCrop(S) (bilinear), or
    resized to S x S when data.augment.crop_padding > 0 (small images)."""
    from PIL import Image
    size = config.get("image_size", 224)
    fraction = config.get("eval_crop_fraction", 0.875)
    padded = config.get("augment", {}).get("crop_padding", 0) > 0
    classes = sorted(e.name for e in os.scandir(os.path.join(root, "train")) if e.is_dir() and not e.name.startswith("."))
    images, labels = [], []
    for label, name in enumerate(classes):
        folder = os.path.join(root, "val", name)
        if not os.path.isdir(folder):
            continue
        for directory, subfolders, files in sorted(os.walk(folder, followlinks=True)):
            subfolders[:] = [d for d in subfolders if not d.startswith(".")]
            for file in sorted(files):
                if not file.lower().endswith(IMAGE_EXTENSIONS):
                    continue
                image = Image.open(os.path.join(directory, file)).convert("RGB")
                if padded:
                    image = image.resize((size, size), Image.BILINEAR)
                else:
                    w, h = image.size
                    short = int(size / fraction)
                    image = image.resize((short, int(short * h / w)) if w <= h else (int(short * w / h), short), Image.BILINEAR)
                    w, h = image.size
                    left, top = int(round((w - size) / 2.0)), int(round((h - size) / 2.0))
                    image = image.crop((left, top, left + size, top + size))
                images.append(np.asarray(image, dtype=np.uint8).transpose(2, 0, 1))
                labels.append(label)
    return np.stack(images), np.array(labels, dtype=np.int64)


def channel_statistics(images):
    """Per-channel (mean, std) of pixel / 255 as float32, summed in Double over a histogram exactly as
    ChannelStatistics(of:) sums (same order of operations, so the same roundings)."""
    means, deviations = [], []
    for c in range(images.shape[1]):
        histogram = np.bincount(images[:, c].reshape(-1), minlength=256)
        n = total = squares = 0.0
        for value in range(256):
            count = float(histogram[value])
            x = value / 255
            n += count
            total += count * x
            squares += count * x * x
        mean = total / n if n > 0 else 0.0
        variance = max(0.0, squares / n - mean * mean) if n > 0 else 0.0
        means.append(np.float32(mean))
        deviations.append(np.float32(max(math.sqrt(variance), 1e-6)))
    return means, deviations


def normalise(images, means, deviations):
    """float32 [n, C, H, W]: (pixel / 255 - mean[c]) / std[c], each operation rounded to float32."""
    values = np.arange(256, dtype=np.float32)
    table = np.stack([(values / np.float32(255) - m) / s for m, s in zip(means, deviations)])  # [C, 256]
    return np.stack([table[c][images[:, c]] for c in range(images.shape[1])], axis=1)


def evaluate(path, data_root=None, batch_size=500):
    """{"correct", "count", "top1", "top5", "nll", "step"} on the checkpoint's test split."""
    model, state = load_checkpoint(path)
    data = state["config"]["data"]
    root = data_root or data["root"]
    if data["dataset"] == "image-folder":
        normalize = data.get("normalize", {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]})
        means = [np.float32(v) for v in normalize["mean"]]
        deviations = [np.float32(v) for v in normalize["std"]]
        images, labels = read_image_folder(root, data)
    else:
        train_images, _ = read_split(data["dataset"], root, "train")
        means, deviations = channel_statistics(train_images)
        images, labels = read_split(data["dataset"], root, "test")
    correct = top5 = 0
    nll = 0.0
    with torch.no_grad():
        for start in range(0, len(labels), batch_size):
            x = torch.from_numpy(normalise(images[start:start + batch_size], means, deviations))
            y = torch.from_numpy(labels[start:start + batch_size])
            logits = model(x)
            finite = torch.isfinite(logits).all(dim=1)
            # the rank of y: classes above it, ties to the lower index (argmax takes the first maximum)
            z_y = logits.gather(1, y[:, None])
            index = torch.arange(logits.shape[1])[None, :]
            rank = ((logits > z_y) | ((logits == z_y) & (index < y[:, None]))).sum(dim=1)
            correct += int(((rank == 0) & finite).sum())
            top5 += int(((rank < 5) & finite).sum())
            nll += float(-F.log_softmax(logits.double(), dim=1).gather(1, y[:, None]).sum())
    count = len(labels)
    return {"correct": correct, "count": count, "top1": correct / count, "top5": top5 / count, "nll": nll / count,
            "step": state["step"], "checkpoint": checkpoint_folder(path)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", help="a run folder, its checkpoints/ folder, or a step folder")
    parser.add_argument("--data-root", help="where the dataset is, if not at the checkpoint's data.root")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    arguments = parser.parse_args()
    result = evaluate(arguments.checkpoint, arguments.data_root, arguments.batch_size)
    if arguments.json:
        print(json.dumps(result, sort_keys=True))
    else:
        print(f"checkpoint {result['checkpoint']} (step {result['step']})")
        for name in ("top1", "top5", "nll"):
            print(f"  {name:<14} {result[name]:.4f}")
        print(f"  correct        {result['correct']} of {result['count']}")


if __name__ == "__main__":
    main()
