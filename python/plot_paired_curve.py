"""A paired-difference curve across studies: for each point, a variant minus its baseline, seed by
seed (the same seeds: same data order, same initial weights), mean and 95% t-interval, against a
number (the training-set size), one panel per metric. Reads the studies' `results-test.csv` (or
`results.csv`); writes one self-contained SVG.

    python3 python/plot_paired_curve.py --out docs/studies/data-size.svg --x-label "training images" \\
        --point runs/size-1k/results-test.csv:multimix-1k:erm-1k:1000 \\
        --point runs/cifar10-resnet20-regime/results-test.csv:multimix-faithful:erm:5000 ...

Each --point is CSV:VARIANT:BASELINE:X. The x axis is logarithmic. After the table it prints, per
metric, where the mean difference changes sign (between which two points, and where a straight line
in log x crosses 0), or that it keeps one sign: the "when to turn it on" answer. Standard library only.
"""
import argparse
import csv
import math
import os
import stat
import statistics
import sys
import tempfile
from html import escape

T975 = [12.706205, 4.302653, 3.182446, 2.776445, 2.570582, 2.446912, 2.364624, 2.306004, 2.262157, 2.228139]


def paired(rows, variant, baseline, metric):
    """Per-seed differences variant − baseline on metric (seeds both have), mean, 95% half-width."""
    def values(name):
        out = {}
        for row in rows:
            if row["variant"] == name and row["seed"].isdigit() and row.get(metric, "") not in ("", "nan"):
                out[int(row["seed"])] = float(row[metric])
        return out
    mine, base = values(variant), values(baseline)
    seeds = sorted(set(mine) & set(base))
    if not seeds:
        raise SystemExit(f"plot_paired_curve.py: no seed has {metric} for both {variant} and {baseline}")
    d = [mine[s] - base[s] for s in seeds]
    mean = statistics.fmean(d)
    half = T975[len(d) - 2] * statistics.stdev(d) / math.sqrt(len(d)) if 2 <= len(d) <= 11 else None
    return mean, half, d


def panel(points, metric, left, top, width, height, x_label):
    xs = [math.log10(x) for x, _, _ in points]
    lows = [m - (h or 0) for _, m, h in points] + [0.0]
    highs = [m + (h or 0) for _, m, h in points] + [0.0]
    x0, x1 = min(xs) - 0.15, max(xs) + 0.15
    y0, y1 = min(lows), max(highs)
    pad = (y1 - y0) * 0.1 or 0.01
    y0, y1 = y0 - pad, y1 + pad
    px = lambda v: left + (v - x0) / (x1 - x0) * width
    py = lambda v: top + (y1 - v) / (y1 - y0) * height
    out = [f'<rect x="{left}" y="{top}" width="{width}" height="{height}" fill="none" stroke="#999"/>',
           f'<line x1="{left}" x2="{left + width}" y1="{py(0):.1f}" y2="{py(0):.1f}" stroke="#000" stroke-dasharray="4 3"/>',
           f'<text x="{left + width / 2}" y="{top - 8}" text-anchor="middle" font-weight="bold">{escape(metric)}: variant − baseline</text>',
           f'<text x="{left + width / 2}" y="{top + height + 34}" text-anchor="middle">{escape(x_label)} (log scale)</text>']
    for value in (y0 + pad, 0.0, y1 - pad):
        out.append(f'<text x="{left - 6}" y="{py(value) + 4:.1f}" text-anchor="end">{value:+.3f}</text>')
    path = []
    for (x, mean, half), lx in zip(points, xs):
        cx, cy = px(lx), py(mean)
        out.append(f'<text x="{cx:.1f}" y="{top + height + 16}" text-anchor="middle">{x:g}</text>')
        if half is not None:
            out.append(f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{py(mean - half):.1f}" y2="{py(mean + half):.1f}" stroke="#0072B2"/>')
        out.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="4" fill="#0072B2"><title>{x:g}: {mean:+.4f}'
                   + (f' ± {half:.4f}' if half is not None else '') + '</title></circle>')
        path.append(f"{cx:.1f},{cy:.1f}")
    out.append(f'<polyline points="{" ".join(path)}" fill="none" stroke="#0072B2"/>')
    return out


def sign_changes(points):
    """Where the mean difference of (x, mean) points (sorted by x) changes sign: a list of
    (x_before, x_after, x_at_zero), x_at_zero on the straight line between them in log x."""
    changes = []
    for (xa, ma), (xb, mb) in zip(points, points[1:]):
        if (ma > 0) != (mb > 0) and ma != mb:
            t = ma / (ma - mb)
            changes.append((xa, xb, 10 ** (math.log10(xa) + t * (math.log10(xb) - math.log10(xa)))))
    return changes


def crossing_line(metric, points):
    """One line: where `metric`'s mean difference crosses 0, or that it does not."""
    changes = sign_changes(points)
    if not changes:
        side = "above" if points[0][1] > 0 else "at or below"
        return f"{metric}: the mean difference is {side} 0 at every x ({points[0][0]:g} to {points[-1][0]:g})"
    return f"{metric}: " + "; ".join(
        f"the mean difference changes sign between {a:g} and {b:g} (0 at about {at:.3g} on a straight line in log x)"
        for a, b, at in changes)


def write_new_file(path, text):
    """Writes `path` whole or not at all (a temporary file beside it, then a rename), and never
    through a link or over anything but a regular file (it may run as root on a shared machine)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and not stat.S_ISREG(mode):
        kind = "a symbolic link" if stat.S_ISLNK(mode) else "not a regular file"
        raise SystemExit(f"plot_paired_curve.py: --out {path!r} is {kind}; remove it or choose another path")
    folder = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".plot-", suffix=".svg")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--point", action="append", required=True, help="CSV:VARIANT:BASELINE:X")
    parser.add_argument("--metric", action="append", help="metrics to plot (default: top1, ece, ood_auroc)")
    parser.add_argument("--x-label", default="x")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    metrics = args.metric or ["top1", "ece", "ood_auroc"]
    tables, specs = {}, []
    for spec in args.point:
        parts = spec.rsplit(":", 3)
        if len(parts) != 4:
            raise SystemExit(f"plot_paired_curve.py: --point {spec!r} is not CSV:VARIANT:BASELINE:X")
        path, variant, baseline, x = parts
        try:
            x = float(x)
        except ValueError:
            raise SystemExit(f"plot_paired_curve.py: --point {spec!r}: X must be a number")
        if x <= 0:
            raise SystemExit(f"plot_paired_curve.py: --point {spec!r}: X must be > 0 (the axis is logarithmic)")
        if path not in tables:
            with open(path, newline="", encoding="utf-8") as handle:
                tables[path] = list(csv.DictReader(handle))
        specs.append((path, variant, baseline, x))
    specs.sort(key=lambda spec: spec[3])
    width, height, gap = 300, 220, 90
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{len(metrics) * (width + gap) + 40}" height="{height + 110}" '
           'font-family="sans-serif" font-size="12">']
    lines, crossings = [], []
    for index, metric in enumerate(metrics):
        points = []
        for path, variant, baseline, x in specs:
            mean, half, d = paired(tables[path], variant, baseline, metric)
            points.append((x, mean, half))
            lines.append(f"{metric}\t{x:g}\t{variant} − {baseline}\t{mean:+.4f}\t"
                         + (f"[{mean - half:+.4f}, {mean + half:+.4f}]" if half is not None else "[–]")
                         + "\t" + " ".join(f"{v:+.4f}" for v in d))
        svg += panel(points, metric, 70 + index * (width + gap), 30, width, height, args.x_label)
        crossings.append(crossing_line(metric, [(x, mean) for x, mean, _ in points]))
    svg.append("</svg>")
    write_new_file(args.out, "\n".join(svg) + "\n")
    print("metric\tx\tdifference\tmean\t95% interval\tper seed")
    print("\n".join(lines))
    print("\n".join(crossings))


if __name__ == "__main__":
    main(sys.argv[1:])
