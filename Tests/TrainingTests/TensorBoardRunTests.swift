import Foundation
import RunOutputs
import TestSupport
import Training
import XCTest

extension TrainerRunTests {
    /// A 2-rank run's TensorBoard files, read back with the `tensorboard` package (its EventAccumulator,
    /// as TensorBoard loads a run): every value of metrics.jsonl is there as a scalar `KIND/NAME` at its
    /// step, once, with the same float32 value, and nothing else; one parameter histogram per
    /// evaluation; one file per session (rank 0 alone writes). The run is interrupted after step 10 was
    /// logged with its last checkpoint at step 8 (the step-11 checkpoint removed, as a crash before it
    /// would leave things) and resumed: the first file is cut back to step 8, and the second begins with
    /// a START at step 9, so the lost steps' points are neither duplicated nor left behind.
    func testTensorBoardFilesHoldEveryMetricAtItsStepAcrossAResume() throws {
        _ = try PythonReference.require(tensorBoard: true)
        let path = try config("tb", method: "multimix", epochs: 2, replacing: [
            // 512 training images (100 more held out for validation): 8 steps per epoch on 2 ranks of 32.
            "data": "{dataset: fashion-mnist, root: /usr/share/datasets/fashion-mnist, train_subset: 512, validation_subset: 100, augment: {crop_padding: 0, horizontal_flip: false}}",
            "eval": "{every_epochs: 1, split: validation}",
        ])
        let run = folder.appendingPathComponent("tb-run"), tb = run.appendingPathComponent("tb")
        let first = try train(ranks: 2, config: path, runDirectory: run, arguments: ["--max-steps", "11"])
        XCTAssertEqual(first.status, 0, first.output)
        XCTAssertEqual(try TensorBoardLog.eventFiles(in: tb).count, 1, "one events file per session: rank 0's")
        // What a TensorBoard watching the run had read before the interruption: the first file as it was.
        let live = folder.appendingPathComponent("tb-live")
        try FileManager.default.createDirectory(at: live, withIntermediateDirectories: true)
        for file in try TensorBoardLog.eventFiles(in: tb) {
            try FileManager.default.copyItem(at: file, to: live.appendingPathComponent(file.lastPathComponent))
        }
        let lost = try MetricsLog.read(run.appendingPathComponent("metrics.jsonl"))
        XCTAssertTrue(lost.contains { $0.kind == .train && $0.step == 10 }, "step 10 was logged before the interruption")
        try FileManager.default.removeItem(at: run.appendingPathComponent("checkpoints/step-000011"))

        let second = try train(ranks: 2, config: path, runDirectory: run, arguments: ["--resume", "auto"])
        XCTAssertEqual(second.status, 0, second.output)
        XCTAssertTrue(second.output.contains("step-000008 (step 8"), second.output)
        XCTAssertEqual(try TensorBoardLog.eventFiles(in: tb).count, 2, "one events file per session: rank 0's")

        let loaded = try readTensorBoard(tb)
        // Every metrics.jsonl value at its step, once, as float32; no other point.
        let records = try MetricsLog.read(run.appendingPathComponent("metrics.jsonl"))
        XCTAssertEqual(records.filter { $0.kind == .train }.map(\.step), [2, 4, 6, 8, 10, 12, 14, 16])
        XCTAssertEqual(records.filter { $0.kind == .eval }.map(\.step), [8, 16])
        var expected: [String: [Int: Float]] = [:]
        for record in records {
            for (name, value) in record.values {
                let tag = TensorBoardLog.tag(record.kind, name)
                XCTAssertNil(expected[tag]?[record.step], "metrics.jsonl holds \(tag) twice at step \(record.step)")
                expected[tag, default: [:]][record.step] = Float(value)
            }
        }
        XCTAssertTrue(expected.keys.contains("train/loss") && expected.keys.contains("eval/top1"), "\(expected.keys)")
        assertScalars(try XCTUnwrap(loaded["scalars"] as? [String: [[Any]]]), equal: expected, "the run's tb/")

        // A TensorBoard that read the first file before the resume and then reads the second (the new
        // file's START purges the lost steps' points) shows the same: the first file as it was, the second.
        let resumedFile = try XCTUnwrap(TensorBoardLog.eventFiles(in: tb).last)
        try FileManager.default.copyItem(at: resumedFile, to: live.appendingPathComponent(resumedFile.lastPathComponent))
        let watched = try readTensorBoard(live)
        assertScalars(try XCTUnwrap(watched["scalars"] as? [String: [[Any]]]), equal: expected, "the live view")

        // A parameter histogram per evaluation, every parameter counted.
        let histograms = try XCTUnwrap((loaded["histograms"] as? [String: [[Double]]])?[TensorBoardLog.parametersTag], "\(loaded["histograms"] ?? "none")")
        XCTAssertEqual(histograms.map { Int($0[0]) }, [8, 16])
        for point in histograms {
            XCTAssertGreaterThan(point[1], 1000)
            XCTAssertEqual(point[2], point[1], "the buckets count every parameter")
        }

        // The first session's file cut back to the checkpoint's step; the second starting after it.
        let files = try XCTUnwrap(loaded["files"] as? [[String: Any]])
        XCTAssertEqual(files.count, 2)
        XCTAssertEqual(files.map { $0["version"] as? String }, ["brain.Event:2", "brain.Event:2"])
        XCTAssertEqual(files.first?["summary_steps"] as? [Int], [2, 4, 6, 8, 8, 8])   // train ×4, eval, histogram
        XCTAssertEqual(files.map { $0["start_steps"] as? [Int] }, [[1], [9]])
        XCTAssertEqual(files.last?["summary_steps"] as? [Int], [10, 12, 14, 16, 16, 16])
    }

    /// A TensorBoard folder as Tests/TrainingTests/tensorboard_events.py reads it with the `tensorboard` package.
    private func readTensorBoard(_ folder: URL) throws -> [String: Any] {
        let script = Repository.root.appendingPathComponent("Tests/TrainingTests/tensorboard_events.py").path
        let read = try PythonReference.run([script, folder.path], timeout: 120, tensorBoard: true)
        XCTAssertEqual(read.status, 0, read.output)
        let line = try XCTUnwrap(read.output.split(separator: "\n").last { $0.hasPrefix("{") }, read.output)
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }

    /// TensorBoard's scalars (tag → [[step, value or null]]) are `expected` (tag → step → value): the
    /// same tags, each step once and in order, each value the same float32 (NaN as null).
    private func assertScalars(_ scalars: [String: [[Any]]], equal expected: [String: [Int: Float]], _ what: String) {
        XCTAssertEqual(Set(scalars.keys), Set(expected.keys), what)
        for (tag, points) in expected {
            let found = scalars[tag] ?? []
            XCTAssertEqual(found.map { $0[0] as? Int ?? -1 }, points.keys.sorted(), "\(what): \(tag), each step once, in order")
            for point in found {
                guard let step = point[0] as? Int, let want = points[step] else { continue }
                let value = (point[1] as? Double).map(Float.init) ?? .nan
                XCTAssertTrue(value == want || (value.isNaN && want.isNaN), "\(what): \(tag) at step \(step): TensorBoard \(value), metrics.jsonl \(want)")
            }
        }
    }
}
