import Checksums
import Crypto
import Foundation
import Layers
import SafeFiles
import RunConfig

/// A checkpoint read back and verified.
public struct Checkpoint: Sendable {
    /// Its folder (`…/checkpoints/step-000123`).
    public let folder: URL
    /// Its `state.json`.
    public let state: CheckpointState
    /// `model.safetensors`: parameters, BatchNorm statistics and step counters (`num_batches_tracked`),
    /// torchvision names, in name order.
    public let model: [StoredTensor]
    /// `optimizer.safetensors`: optimizer buffers (momentum), in name order.
    public let optimizer: [StoredTensor]
}

/// A run's `checkpoints/` folder, written by rank 0:
///
///     checkpoints/
///       step-000100/  model.safetensors  optimizer.safetensors  state.json  state.json.sha256
///       step-000200/  …
///       latest        "step-000200\n": the newest committed checkpoint
///       .tmp-…/       a save in progress, or the remains of one that crashed (removed by the next save)
///
/// `save` writes the three files into a `.tmp-` folder, fsyncs each file and the folder, renames it
/// to `step-NNNNNN`, fsyncs `checkpoints/`, then swaps `latest` (write `latest.tmp`, fsync, rename,
/// fsync): a crash at any point leaves `latest` naming a complete checkpoint. The pointer swap is the
/// commit; a step folder newer than `latest` (a crash between the rename and the swap) is ignored.
/// After saving, folders with a later step than the one saved (left by a run that was resumed from
/// an earlier checkpoint) are removed, and only the newest `keep` are kept.
///
/// `load` verifies `state.json` against `state.json.sha256` (where there is one), each other file's
/// size and SHA-256 against `state.json` before parsing, bounds every number, and refuses a
/// damaged checkpoint with a one-line ``CheckpointError`` naming it; `newestGood` walks back from
/// `latest` to the newest checkpoint that loads.
public final class CheckpointStore {
    /// The `checkpoints/` folder.
    public let folder: URL
    /// How many checkpoints to keep (newest first).
    public let keep: Int

    static let modelFile = "model.safetensors"
    static let optimizerFile = "optimizer.safetensors"
    static let stateFile = "state.json"
    /// The SHA-256 of `state.json` (hex and a newline): a flipped byte in a number that is still in
    /// range would otherwise steer a resume silently. Checkpoints written before it lack it.
    static let stateChecksumFile = "state.json.sha256"
    static let latestFile = "latest"
    static let temporaryPrefix = ".tmp-"

    /// Opens (creating if needed) the checkpoint folder.
    public init(folder: URL, keep: Int) throws {
        precondition(keep >= 1, "CheckpointStore: keep must be at least 1")
        self.folder = folder
        self.keep = keep
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        } catch {
            throw CheckpointError(path: folder.path, problem: "cannot create the folder (\(error.localizedDescription))",
                                  fix: "check that the run folder is writable")
        }
    }

    /// The folder name for `step`: `step-000123` (wider past a million steps).
    public static func folderName(step: Int) -> String { "step-" + String(format: "%06d", step) }

    /// The step a folder name stands for, or nil if it is not a checkpoint folder.
    public static func step(ofFolderNamed name: String) -> Int? {
        guard name.hasPrefix("step-") else { return nil }
        return Int(name.dropFirst(5))
    }

    /// Writes a checkpoint and commits it as `latest`; returns its folder.
    ///
    /// - Parameters:
    ///   - model: parameters and BatchNorm statistics (averaged across ranks beforehand), torchvision names.
    ///   - optimizer: optimizer buffers, e.g. `momentum.conv1.weight`.
    ///   - metrics: the last logged metrics, for `state.json`.
    ///   - evaluationPending: a stop signal ended the evaluation due at this step (see `CheckpointState`).
    ///   - batches: the batch sizes and the position in the epoch, for a resume on other ranks.
    @discardableResult
    public func save(step: Int, epoch: Int, worldSize: Int, config: TrainingConfig, metrics: [String: Double],
                     model: [TensorSlice], optimizer: [TensorSlice], evaluationPending: Bool = false,
                     batches: CheckpointState.Batches? = nil) throws -> URL {
        let fileManager = FileManager.default
        removeTemporaryFolders()
        let name = CheckpointStore.folderName(step: step)
        let temporary = folder.appendingPathComponent("\(CheckpointStore.temporaryPrefix)\(name)-\(ProcessInfo.processInfo.processIdentifier)")
        try fileManager.createDirectory(at: temporary, withIntermediateDirectories: false)
        // A save that fails (a full disk, a read-only folder) leaves nothing behind: its partial files
        // would keep the disk full.
        var committed = false
        defer { if !committed { try? fileManager.removeItem(at: temporary) } }

        let metadata = ["format": "pt", "step": String(step), "epoch": String(epoch)]
        let modelRecord = try Safetensors.write(model, metadata: metadata, to: temporary.appendingPathComponent(CheckpointStore.modelFile))
        let optimizerRecord = try Safetensors.write(optimizer, metadata: metadata, to: temporary.appendingPathComponent(CheckpointStore.optimizerFile))
        var state = CheckpointState(
            step: step, epoch: epoch, worldSize: worldSize, config: config, configHash: try config.hash(), metrics: metrics,
            files: [
                CheckpointStore.modelFile: .init(bytes: modelRecord.size, sha256: modelRecord.digest.hex),
                CheckpointStore.optimizerFile: .init(bytes: optimizerRecord.size, sha256: optimizerRecord.digest.hex),
            ],
            savedAt: ISO8601DateFormatter().string(from: Date()))
        if evaluationPending { state.evaluationPending = true }
        if let batches {
            state.baseGlobalBatchSize = batches.baseGlobalBatchSize
            state.globalBatchSize = batches.globalBatchSize
            state.stepInEpoch = batches.stepInEpoch
        }
        let stateRecord = try DurableFile.write(try state.encoded(), to: temporary.appendingPathComponent(CheckpointStore.stateFile))
        try DurableFile.write(Array((stateRecord.digest.hex + "\n").utf8), to: temporary.appendingPathComponent(CheckpointStore.stateChecksumFile))
        try DurableFile.syncFolder(temporary)

        // A folder already at this step (a resumed run saving the same step again) is set aside first.
        let final = folder.appendingPathComponent(name)
        if fileManager.fileExists(atPath: final.path) {
            let aside = folder.appendingPathComponent("\(CheckpointStore.temporaryPrefix)replaced-\(name)-\(UUID().uuidString)")
            try DurableFile.rename(final, to: aside)
        }
        try DurableFile.rename(temporary, to: final)
        committed = true
        try DurableFile.syncFolder(folder)

        try DurableFile.replace(CheckpointStore.latestFile, in: folder, with: Array("\(name)\n".utf8))

        prune(savedStep: step)
        removeTemporaryFolders()
        return final
    }

    /// Checkpoint folders, oldest step first.
    public func checkpointFolders() -> [URL] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.compactMap { name in CheckpointStore.step(ofFolderNamed: name).map { (step: $0, name: name) } }
            .sorted { $0.step < $1.step }
            .map { folder.appendingPathComponent($0.name) }
    }

    /// The folder `latest` names, if the pointer exists and names a checkpoint folder.
    public func latest() -> URL? { CheckpointStore.latest(in: folder) }

    /// The checkpoint folder `folder/latest` names, read without opening a store (nothing is created:
    /// for `multimix eval` and a study looking into run folders); nil without a pointer naming one.
    public static func latest(in folder: URL) -> URL? {
        guard let text = try? SafeFile.readText(folder.appendingPathComponent(latestFile).path, maximumBytes: 1024, fix: "") else {
            return nil
        }
        let name = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard step(ofFolderNamed: name) != nil else { return nil }
        return folder.appendingPathComponent(name)
    }

    /// The newest checkpoint that loads, walking back from `latest` past damaged ones; `refused` lists
    /// why each newer one was skipped (for the log). With no readable `latest`, every step folder is a
    /// candidate, newest first. `checkpoint` is nil when none loads (or there are none).
    public func newestGood() -> (checkpoint: Checkpoint?, refused: [CheckpointError]) {
        newestGood { _ in }
    }

    /// The newest checkpoint that loads and that `accept` does not refuse (it throws why), falling
    /// back past the ones that fail, each refused by name. Folders newer than `latest` are left out
    /// (uncommitted saves), unless `latest` names a folder that is missing: then the pointer is ignored
    /// and every folder is a candidate, so that intact checkpoints are never passed over.
    public func newestGood(accepting accept: (Checkpoint) throws -> Void) -> (checkpoint: Checkpoint?, refused: [CheckpointError]) {
        var candidates = checkpointFolders().reversed().map { $0 }
        var refused: [CheckpointError] = []
        if let latest = latest(), let latestStep = CheckpointStore.step(ofFolderNamed: latest.lastPathComponent) {
            if candidates.contains(where: { $0.lastPathComponent == latest.lastPathComponent }) {
                candidates.removeAll { (CheckpointStore.step(ofFolderNamed: $0.lastPathComponent) ?? 0) > latestStep }
            } else {
                refused.append(CheckpointError(path: folder.appendingPathComponent(CheckpointStore.latestFile).path,
                                               problem: "names \(latest.lastPathComponent), which is missing",
                                               fix: "the pointer is ignored; the newest intact checkpoint is used"))
            }
        }
        for candidate in candidates {
            do {
                let checkpoint = try CheckpointStore.load(candidate)
                try accept(checkpoint)
                return (checkpoint, refused)
            } catch let error as CheckpointError {
                refused.append(error)
            } catch {
                refused.append(CheckpointError(path: candidate.path, problem: "\(error)", fix: CheckpointError.damagedAdvice))
            }
        }
        return (nil, refused)
    }

    /// Loads and verifies the checkpoint in `folder` (a `step-…` folder).
    public static func load(_ folder: URL) throws -> Checkpoint {
        let statePath = folder.appendingPathComponent(stateFile)
        func fail(_ file: String, _ problem: String) -> CheckpointError {
            CheckpointError(path: folder.appendingPathComponent(file).path, problem: problem, fix: CheckpointError.damagedAdvice)
        }
        guard FileManager.default.fileExists(atPath: statePath.path) else {
            var isFolder: ObjCBool = false
            if !FileManager.default.fileExists(atPath: folder.path, isDirectory: &isFolder) || !isFolder.boolValue {
                throw CheckpointError(path: folder.path, problem: "no such checkpoint folder",
                                      fix: "give a checkpoint folder such as runs/NAME/checkpoints/step-000100")
            }
            throw fail(stateFile, "missing")
        }
        // A regular file of at most 16 MiB (a link to /dev/zero or a FIFO would be read forever).
        let stateData: Data
        do {
            stateData = Data(try SafeFile.readText(statePath.path, fix: CheckpointError.damagedAdvice).utf8)
        } catch let error as SafeFileError {
            throw fail(stateFile, error.problem)
        }
        let checksumPath = folder.appendingPathComponent(stateChecksumFile).path
        if FileManager.default.fileExists(atPath: checksumPath) || (try? FileManager.default.destinationOfSymbolicLink(atPath: checksumPath)) != nil {
            let expected: String
            do {
                expected = try SafeFile.readText(checksumPath, maximumBytes: 1024, fix: CheckpointError.damagedAdvice)
                    .trimmingCharacters(in: .whitespacesAndNewlines)
            } catch let error as SafeFileError {
                throw fail(stateChecksumFile, error.problem)
            }
            let digest = SHA256.hash(data: stateData).hex
            guard digest == expected else {
                throw fail(stateFile, "fails its SHA-256 check (\(stateChecksumFile) has \(expected.prefix(12))…, the file \(digest.prefix(12))…)")
            }
        }
        let state: CheckpointState
        do {
            state = try CheckpointState.decode(stateData)
        } catch {
            throw fail(stateFile, "not a valid state file (\(error.localizedDescription))")
        }
        if let folderStep = step(ofFolderNamed: folder.lastPathComponent), folderStep != state.step {
            throw fail(stateFile, "says step \(state.step) but the folder is for step \(folderStep)")
        }
        // Every number that will size or steer the resumed run is bounded before it is used.
        guard (0...maximumStep).contains(state.step), (0...maximumStep).contains(state.epoch), (1...65_536).contains(state.worldSize) else {
            throw fail(stateFile, "holds step \(state.step), epoch \(state.epoch), world size \(state.worldSize): not a position of a run")
        }
        // The batches of an elastic resume: a global batch is at most 65536 per rank (training.batch_size).
        let batches = 1...(65_536 * state.worldSize)
        for (key, value) in [("base_global_batch_size", state.baseGlobalBatchSize), ("global_batch_size", state.globalBatchSize)] {
            if let value, !batches.contains(value) {
                throw fail(stateFile, "holds \(key) \(value), not a batch of \(state.worldSize) rank\(state.worldSize == 1 ? "" : "s") (1 to \(batches.upperBound))")
            }
        }
        if let stepInEpoch = state.stepInEpoch, !(0...state.step).contains(stepInEpoch) {
            throw fail(stateFile, "holds step_in_epoch \(stepInEpoch), not a step of the epoch (0 to the step, \(state.step))")
        }
        do {
            try state.config.validate()
        } catch {
            throw fail(stateFile, "holds a config that is not valid (\(error))")
        }
        for file in [modelFile, optimizerFile] {
            guard let record = state.files[file] else { throw fail(stateFile, "has no checksum for \(file)") }
            let url = folder.appendingPathComponent(file)
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: url.path),
                  let size = attributes[.size] as? NSNumber else {
                throw fail(file, "missing")
            }
            guard size.intValue == record.bytes else {
                throw fail(file, "is \(size.intValue) bytes but state.json records \(record.bytes) (truncated?)")
            }
            let digest = try SHA256.hash(file: url).hex
            guard digest == record.sha256 else {
                throw fail(file, "fails its SHA-256 check (expected \(record.sha256.prefix(12))…, got \(digest.prefix(12))…)")
            }
        }
        let model = try Safetensors.read(folder.appendingPathComponent(modelFile)).tensors
        // BatchNorm's step counters (absent from checkpoints written before they were added).
        for counter in model where counter.name.hasSuffix(Checkpoint.batchesTrackedSuffix) {
            guard counter.dtype == .i64, counter.shape == [], let count = counter.integers.first, (0...Int64(maximumStep)).contains(count) else {
                throw fail(modelFile, "holds \(counter.name) as \(counter.dtype.rawValue) \(counter.shape) \(counter.integers), not a step count (an int64 scalar)")
            }
        }
        let optimizer = try Safetensors.read(folder.appendingPathComponent(optimizerFile)).tensors
        if let count = optimizer.first(where: { $0.name == optimizerStepName })?.values {
            guard count.count == 1, count[0].isFinite, count[0] >= 0, count[0] <= Float(maximumStep), count[0] == count[0].rounded() else {
                throw fail(optimizerFile, "holds \(optimizerStepName) = \(count.map { "\($0)" }.joined(separator: ", ")), not a step count")
            }
        }
        return Checkpoint(folder: folder, state: state, model: model, optimizer: optimizer)
    }

    /// The largest step (and epoch) a checkpoint may record: 2³⁰, far beyond any run, exact in Float.
    static let maximumStep = 1 << 30
    /// Name of the optimizer tensor holding SGD's step count (its first step initialises momentum).
    public static let optimizerStepName = SGD.stepCountName

    /// Removes folders with a later step than `savedStep`, then all but the newest `keep`.
    private func prune(savedStep: Int) {
        var folders = checkpointFolders()
        for stale in folders where (CheckpointStore.step(ofFolderNamed: stale.lastPathComponent) ?? 0) > savedStep {
            try? FileManager.default.removeItem(at: stale)
        }
        folders.removeAll { (CheckpointStore.step(ofFolderNamed: $0.lastPathComponent) ?? 0) > savedStep }
        for old in folders.dropLast(keep) {
            try? FileManager.default.removeItem(at: old)
        }
    }

    /// Removes `.tmp-` folders: the remains of saves that crashed (only rank 0 writes, one save at a time).
    private func removeTemporaryFolders() {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        for name in names where name.hasPrefix(CheckpointStore.temporaryPrefix) {
            try? FileManager.default.removeItem(at: folder.appendingPathComponent(name))
        }
    }
}
