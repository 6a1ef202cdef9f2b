import Checkpointing
import Checksums
import Crypto
import Datasets
import Foundation
import Layers
import RunConfig
import SafeFiles
import Training
import XCTest

final class CheckpointStoreTests: XCTestCase {
    private var folder: URL!
    /// A small "model": two parameters and a BatchNorm buffer, values depending on the step.
    private var storage: [[Float]] = []

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("checkpoints-\(UUID().uuidString)")
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: folder)
    }

    private func values(step: Int, count: Int, salt: Float) -> [Float] {
        (0..<count).map { Float($0) * 0.37 - salt + Float(step) * 1e-3 + Float.ulpOfOne * Float($0 % 5) }
    }

    /// Saves a checkpoint at `step` with values derived from it.
    @discardableResult
    private func save(_ store: CheckpointStore, step: Int, epoch: Int = 0) throws -> URL {
        let weight = values(step: step, count: 16 * 3 * 3 * 3, salt: 1)
        let bias = values(step: step, count: 10, salt: 2)
        let runningMean = values(step: step, count: 16, salt: 3)
        let momentum = values(step: step, count: 16 * 3 * 3 * 3, salt: 4)
        var config = TrainingConfig()
        config.name = "checkpoint-test"
        return try weight.withUnsafeBufferPointer { w in
            try bias.withUnsafeBufferPointer { b in
                try runningMean.withUnsafeBufferPointer { m in
                    try momentum.withUnsafeBufferPointer { v in
                        try store.save(step: step, epoch: epoch, worldSize: 2, config: config, metrics: ["loss": 0.5, "top1": .nan],
                                       model: [TensorSlice(name: "conv1.weight", shape: [16, 3, 3, 3], values: w),
                                               TensorSlice(name: "fc.bias", shape: [10], values: b),
                                               TensorSlice(name: "bn1.running_mean", shape: [16], values: m)],
                                       optimizer: [TensorSlice(name: "momentum.conv1.weight", shape: [16, 3, 3, 3], values: v)])
                    }
                }
            }
        }
    }

    private func names(_ store: CheckpointStore) -> [String] { store.checkpointFolders().map(\.lastPathComponent) }

    func testRoundTripIsBitExact() throws {
        let store = try CheckpointStore(folder: folder, keep: 3)
        let saved = try save(store, step: 123, epoch: 4)
        XCTAssertEqual(saved.lastPathComponent, "step-000123")
        XCTAssertEqual(store.latest()?.lastPathComponent, "step-000123")
        let checkpoint = try CheckpointStore.load(saved)
        XCTAssertEqual(checkpoint.state.step, 123)
        XCTAssertEqual(checkpoint.state.epoch, 4)
        XCTAssertEqual(checkpoint.state.worldSize, 2)
        XCTAssertEqual(checkpoint.state.config.name, "checkpoint-test")
        XCTAssertEqual(checkpoint.state.configHash, try checkpoint.state.config.hash())
        XCTAssertEqual(checkpoint.state.metrics["loss"], 0.5)
        XCTAssertTrue(checkpoint.state.metrics["top1"]!.isNaN)
        XCTAssertEqual(checkpoint.model.map(\.name), ["bn1.running_mean", "conv1.weight", "fc.bias"])
        XCTAssertEqual(checkpoint.model[1].shape, [16, 3, 3, 3])
        XCTAssertEqual(checkpoint.model[1].values.map(\.bitPattern), values(step: 123, count: 432, salt: 1).map(\.bitPattern))
        XCTAssertEqual(checkpoint.model[2].values.map(\.bitPattern), values(step: 123, count: 10, salt: 2).map(\.bitPattern))
        XCTAssertEqual(checkpoint.optimizer.map(\.name), ["momentum.conv1.weight"])
        XCTAssertEqual(checkpoint.optimizer[0].values.map(\.bitPattern), values(step: 123, count: 432, salt: 4).map(\.bitPattern))
        let state = try String(contentsOf: saved.appendingPathComponent("state.json"), encoding: .utf8)
        XCTAssertTrue(state.contains("\"sha256\" : \"\(try SHA256.hash(file: saved.appendingPathComponent("model.safetensors")).hex)\""), state)
    }

    /// The error loading `folder` gives, checked to be one line naming `file`.
    private func loadError(_ folder: URL, naming file: String) -> String {
        do {
            _ = try CheckpointStore.load(folder)
            XCTFail("\(folder.lastPathComponent) loaded")
            return ""
        } catch {
            let text = "\(error)"
            XCTAssertFalse(text.contains("\n"), text)
            XCTAssertTrue(text.hasPrefix(folder.appendingPathComponent(file).path + ": "), text)
            return text
        }
    }

    func testCorruptionIsRefusedByName() throws {
        let store = try CheckpointStore(folder: folder, keep: 5)
        let flipped = try save(store, step: 1)
        let model = flipped.appendingPathComponent("model.safetensors")
        var bytes = [UInt8](try Data(contentsOf: model))
        bytes[bytes.count - 5] ^= 0x01
        try Data(bytes).write(to: model)
        XCTAssertTrue(loadError(flipped, naming: "model.safetensors").contains("fails its SHA-256 check (expected "))

        let truncated = try save(store, step: 2)
        let optimizer = truncated.appendingPathComponent("optimizer.safetensors")
        let full = try Data(contentsOf: optimizer)
        try full.prefix(full.count - 4).write(to: optimizer)
        XCTAssertTrue(loadError(truncated, naming: "optimizer.safetensors").contains("is \(full.count - 4) bytes but state.json records \(full.count) (truncated?)"))

        let deleted = try save(store, step: 3)
        try FileManager.default.removeItem(at: deleted.appendingPathComponent("model.safetensors"))
        XCTAssertTrue(loadError(deleted, naming: "model.safetensors").contains(": missing; "))

        let noState = try save(store, step: 4)
        try FileManager.default.removeItem(at: noState.appendingPathComponent("state.json"))
        XCTAssertTrue(loadError(noState, naming: "state.json").contains(": missing; "))

        let badState = try save(store, step: 5)
        try Data("{\"step\": ".utf8).write(to: badState.appendingPathComponent("state.json"))
        XCTAssertTrue(loadError(badState, naming: "state.json").contains("fails its SHA-256 check (state.json.sha256 has "))
        try FileManager.default.removeItem(at: badState.appendingPathComponent("state.json.sha256"))   // as before it existed
        XCTAssertTrue(loadError(badState, naming: "state.json").contains("not a valid state file"))
    }

    func testNewestGoodFallsBackPastDamagedCheckpoints() throws {
        let store = try CheckpointStore(folder: folder, keep: 5)
        try save(store, step: 10)
        try save(store, step: 20)
        let newest = try save(store, step: 30)
        try Data([0]).write(to: newest.appendingPathComponent("optimizer.safetensors"))
        let (checkpoint, refused) = store.newestGood()
        XCTAssertEqual(checkpoint?.state.step, 20)
        XCTAssertEqual(refused.count, 1)
        XCTAssertTrue(refused[0].description.hasPrefix(newest.appendingPathComponent("optimizer.safetensors").path), refused[0].description)

        try FileManager.default.removeItem(at: store.folder.appendingPathComponent("step-000020"))
        XCTAssertEqual(store.newestGood().checkpoint?.state.step, 10)
        XCTAssertEqual(store.newestGood().refused.count, 1)
    }

    func testKeepPrunesOldest() throws {
        let store = try CheckpointStore(folder: folder, keep: 2)
        for step in [100, 200, 300, 400] { try save(store, step: step) }
        XCTAssertEqual(names(store), ["step-000200", "step-000300", "step-000400"].suffix(2).map { $0 })
        XCTAssertEqual(store.latest()?.lastPathComponent, "step-000400")
        try save(store, step: 1_234_567)
        XCTAssertEqual(names(store), ["step-000400", "step-1234567"])
    }

    /// A run resumed from step 200 that saves step 300 again replaces the old step 300 and drops
    /// anything later from the abandoned continuation.
    func testResumedRunReplacesLaterCheckpoints() throws {
        let store = try CheckpointStore(folder: folder, keep: 5)
        for step in [100, 200, 300, 400] { try save(store, step: step) }
        try save(store, step: 300, epoch: 9)
        XCTAssertEqual(names(store), ["step-000100", "step-000200", "step-000300"])
        XCTAssertEqual(store.newestGood().checkpoint?.state.epoch, 9)
    }

    func testCrashMidWriteLeavesLatestIntact() throws {
        let store = try CheckpointStore(folder: folder, keep: 3)
        try save(store, step: 50)
        // A save that died halfway: a temporary folder with a partial file, and no pointer swap.
        let leftover = store.folder.appendingPathComponent(".tmp-step-000060-99999")
        try FileManager.default.createDirectory(at: leftover, withIntermediateDirectories: true)
        try Data([1, 2, 3]).write(to: leftover.appendingPathComponent("model.safetensors"))
        // A save that died between the folder rename and the pointer swap: ignored until committed.
        let uncommitted = try save(try CheckpointStore(folder: folder.appendingPathComponent("other"), keep: 1), step: 70)
        try FileManager.default.moveItem(at: uncommitted, to: store.folder.appendingPathComponent("step-000070"))
        try Data("x".utf8).write(to: store.folder.appendingPathComponent("latest.tmp"))

        XCTAssertEqual(store.latest()?.lastPathComponent, "step-000050")
        let (checkpoint, refused) = store.newestGood()
        XCTAssertEqual(checkpoint?.state.step, 50)
        XCTAssertEqual(refused, [])

        try save(store, step: 60)
        let entries = try FileManager.default.contentsOfDirectory(atPath: store.folder.path)
        XCTAssertFalse(entries.contains { $0.hasPrefix(".tmp-") }, "\(entries)")
        XCTAssertEqual(names(store), ["step-000050", "step-000060"])
        XCTAssertEqual(store.newestGood().checkpoint?.state.step, 60)
    }

    /// Every number of a checkpoint that steers or sizes a resumed run is bounded when it is loaded:
    /// a state.json with step −5 or 10¹⁵, a config that does not validate (model.width 10⁶), a NaN
    /// or 10³⁰ optimizer step count are refused by file, not trapped on or allocated for.
    func testStateAndStepCountAreBoundedOnLoad() throws {
        let store = try CheckpointStore(folder: folder, keep: 3)
        let saved = try save(store, step: 10)
        func tampered(keepingChecksum: Bool = false, _ change: (inout [String: Any]) -> Void) throws -> URL {
            let copy = folder.appendingPathComponent("copy-\(UUID().uuidString)")   // not a step- folder: no name check
            try FileManager.default.copyItem(at: saved, to: copy)
            // Without state.json.sha256 (as checkpoints written before it), so that the bounds are what refuses.
            if !keepingChecksum { try FileManager.default.removeItem(at: copy.appendingPathComponent("state.json.sha256")) }
            let url = copy.appendingPathComponent("state.json")
            var state = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
            change(&state)
            try JSONSerialization.data(withJSONObject: state).write(to: url)
            return copy
        }
        XCTAssertNoThrow(try CheckpointStore.load(try tampered { _ in }))
        XCTAssertTrue(FileManager.default.fileExists(atPath: saved.appendingPathComponent("state.json.sha256").path))
        // With its checksum, any change to state.json is refused, even one within every bound.
        XCTAssertThrowsError(try CheckpointStore.load(try tampered(keepingChecksum: true) { $0["step_in_epoch"] = 1 })) { error in
            XCTAssertTrue("\(error)".contains("state.json: fails its SHA-256 check (state.json.sha256 has "), "\(error)")
        }
        for (change, expected) in [({ (s: inout [String: Any]) in s["step"] = -5 }, "holds step -5"),
                                   ({ (s: inout [String: Any]) in s["epoch"] = 1_000_000_000_000_000 }, "holds step 10, epoch 1000000000000000"),
                                   ({ (s: inout [String: Any]) in
                                       var config = s["config"] as! [String: Any]
                                       var model = config["model"] as! [String: Any]
                                       model["width"] = 1_000_000
                                       config["model"] = model
                                       s["config"] = config }, "holds a config that is not valid (config: model.width: 1000000.0 is not allowed"),
                                   // The elastic-resume numbers: a division by zero, an allocation of 1e12, a negative position.
                                   ({ (s: inout [String: Any]) in s["base_global_batch_size"] = 0 }, "holds base_global_batch_size 0, not a batch of 2 ranks (1 to 131072)"),
                                   ({ (s: inout [String: Any]) in s["global_batch_size"] = 1_000_000_000_000 }, "holds global_batch_size 1000000000000, not a batch"),
                                   ({ (s: inout [String: Any]) in s["step_in_epoch"] = -3 }, "holds step_in_epoch -3, not a step of the epoch (0 to the step, 10)")] {
            XCTAssertThrowsError(try CheckpointStore.load(try tampered(change))) { error in
                XCTAssertTrue("\(error)".contains("state.json: " + expected), "\(error)")
            }
        }
        for bad: Float in [.nan, 1e30, -1, 2.5] {
            var count = bad
            let other = try CheckpointStore(folder: folder.appendingPathComponent("count-\(UUID().uuidString)"), keep: 1)
            let weight = [Float](repeating: 0, count: 4)
            let url = try weight.withUnsafeBufferPointer { w in
                try withUnsafePointer(to: &count) { c in
                    try other.save(step: 3, epoch: 0, worldSize: 1, config: TrainingConfig(), metrics: [:],
                                   model: [TensorSlice(name: "fc.bias", shape: [4], values: w)],
                                   optimizer: [TensorSlice(name: "optimizer.step_count", shape: [1], values: UnsafeBufferPointer(start: c, count: 1))])
                }
            }
            XCTAssertThrowsError(try CheckpointStore.load(url)) { error in
                XCTAssertTrue("\(error)".contains("optimizer.safetensors: holds optimizer.step_count = \(bad)"), "\(error)")
            }
            XCTAssertNil(other.newestGood().checkpoint, "--resume auto refuses it too")
        }
    }

    /// `model.safetensors` holds `<bn>.num_batches_tracked` for each BatchNorm layer (an int64 scalar,
    /// as PyTorch's state dict has it); it loads, restores into a model (which does not read it), and
    /// a counter that is not an int64 scalar step count is refused by name. Checkpoints without the
    /// counters (written before them) still load: every other test here saves none.
    func testBatchNormCountersAreInt64ScalarsAndChecked() throws {
        let arena = ParameterArena()
        for (name, role) in [("conv1.weight", ParameterArena.Role.weight), ("bn1.weight", .normOrBias), ("bn1.bias", .normOrBias),
                             ("bn1.running_mean", .buffer), ("bn1.running_var", .buffer),
                             ("layer1.0.downsample.1.running_mean", .buffer), ("layer1.0.downsample.1.running_var", .buffer)] {
            _ = arena.register(name, shape: [2], role: role, initial: 0.5)
        }
        arena.finalize()
        let store = try CheckpointStore(folder: folder, keep: 1)
        var tracked: Int64 = 1234
        let url = try withUnsafePointer(to: &tracked) {
            try store.save(step: 1234, epoch: 0, worldSize: 1, config: TrainingConfig(), metrics: [:],
                           model: Checkpoint.modelTensors(arena, batchesTracked: $0), optimizer: [])
        }
        let checkpoint = try CheckpointStore.load(url)
        let counters = checkpoint.model.filter { $0.name.hasSuffix(".num_batches_tracked") }
        XCTAssertEqual(counters, [StoredTensor(name: "bn1.num_batches_tracked", shape: [], integers: [1234]),
                                  StoredTensor(name: "layer1.0.downsample.1.num_batches_tracked", shape: [], integers: [1234])])
        XCTAssertEqual(checkpoint.model.count, 7 + 2)
        try checkpoint.restoreParameters(into: arena, modelName: "test")

        for (index, bad) in [StoredTensor(name: "bn1.num_batches_tracked", shape: [], values: [3]),
                             StoredTensor(name: "bn1.num_batches_tracked", shape: [1], integers: [3]),
                             StoredTensor(name: "bn1.num_batches_tracked", shape: [], integers: [-1])].enumerated() {
            let other = try CheckpointStore(folder: folder.appendingPathComponent("bad-\(index)"), keep: 1)
            let saved = try bad.values.withUnsafeBufferPointer { v in
                try bad.integers.withUnsafeBufferPointer { i in
                    try other.save(step: 3, epoch: 0, worldSize: 1, config: TrainingConfig(), metrics: [:],
                                   model: [bad.dtype == .f32 ? TensorSlice(name: bad.name, shape: bad.shape, values: v)
                                                             : TensorSlice(name: bad.name, shape: bad.shape, integers: i)],
                                   optimizer: [])
                }
            }
            XCTAssertTrue(loadError(saved, naming: "model.safetensors").contains("holds bn1.num_batches_tracked as "))
        }
    }

    /// A `latest` that names a missing (older) step must not hide the intact newer checkpoints: the
    /// pointer is ignored and reported, and the newest intact one is used.
    func testLatestNamingAMissingStepIsIgnored() throws {
        let store = try CheckpointStore(folder: folder, keep: 3)
        try save(store, step: 10)
        try save(store, step: 20)
        try Data("step-000005\n".utf8).write(to: store.folder.appendingPathComponent("latest"))
        let (checkpoint, refused) = store.newestGood()
        XCTAssertEqual(checkpoint?.state.step, 20)
        XCTAssertEqual(refused.count, 1)
        XCTAssertTrue("\(refused[0])".contains("latest: names step-000005, which is missing"), "\(refused)")
    }

    /// A save that fails half way (here: a tensor given twice) leaves no temporary folder behind.
    func testFailedSaveLeavesNothingBehind() throws {
        let store = try CheckpointStore(folder: folder, keep: 3)
        try save(store, step: 10)
        let values = [Float](repeating: 1, count: 2)
        XCTAssertThrowsError(try values.withUnsafeBufferPointer { v in
            try store.save(step: 11, epoch: 0, worldSize: 1, config: TrainingConfig(), metrics: [:],
                           model: [TensorSlice(name: "a", shape: [2], values: v), TensorSlice(name: "a", shape: [2], values: v)],
                           optimizer: [])
        })
        let entries = try FileManager.default.contentsOfDirectory(atPath: store.folder.path)
        XCTAssertFalse(entries.contains { $0.hasPrefix(".tmp-") }, "\(entries)")
        XCTAssertEqual(names(store), ["step-000010"])
    }

    func testNoCheckpointsAndMissingFolder() throws {
        let store = try CheckpointStore(folder: folder, keep: 1)
        XCTAssertNil(store.latest())
        XCTAssertNil(store.newestGood().checkpoint)
        XCTAssertThrowsError(try CheckpointStore.load(folder.appendingPathComponent("step-000001"))) { error in
            XCTAssertTrue("\(error)".contains("no such checkpoint folder"), "\(error)")
        }
    }
}
