"""Reads a run's TensorBoard folder with the tensorboard package, for TensorBoardRunTests.swift.

    python Tests/TrainingTests/tensorboard_events.py runs/NAME/tb

Prints one JSON object:
  "scalars":    {tag: [[step, value], ...]} as TensorBoard's EventAccumulator loads the folder (every
                file in name order, its purge of orphaned data on, nothing sampled away); NaN as null
  "histograms": {tag: [[step, count, sum of the bucket counts], ...]}, loaded the same way
  "files":      [{"name", "version", "summary_steps", "start_steps"}], each file read on its own
                with the event file loader (its events in order)
"""
import json
import math
import os
import sys

from tensorboard.backend.event_processing import event_accumulator, event_file_loader

folder = sys.argv[1]

accumulator = event_accumulator.EventAccumulator(
    folder, size_guidance={event_accumulator.SCALARS: 0, event_accumulator.HISTOGRAMS: 0})
accumulator.Reload()
tags = accumulator.Tags()
scalars = {tag: [[e.step, None if math.isnan(e.value) else e.value] for e in accumulator.Scalars(tag)]
           for tag in tags[event_accumulator.SCALARS]}
histograms = {tag: [[e.step, e.histogram_value.num, sum(e.histogram_value.bucket)] for e in accumulator.Histograms(tag)]
              for tag in tags[event_accumulator.HISTOGRAMS]}

files = []
for name in sorted(os.listdir(folder)):
    version, summary_steps, start_steps = None, [], []
    for event in event_file_loader.EventFileLoader(os.path.join(folder, name)).Load():
        kind = event.WhichOneof("what")
        if kind == "file_version":
            version = event.file_version
        elif kind == "summary":
            summary_steps.append(event.step)
        elif kind == "session_log" and event.session_log.status == event.session_log.START:
            start_steps.append(event.step)
    files.append({"name": name, "version": version, "summary_steps": summary_steps, "start_steps": start_steps})

print(json.dumps({"scalars": scalars, "histograms": histograms, "files": files}))
