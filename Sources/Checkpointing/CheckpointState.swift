import Foundation
import RunConfig

/// A checkpoint's `state.json`: where the run was, what it was, and a checksum per file.
///
///     {
///       "config" : { "name" : "…", "optimizer" : { "lr" : 0.1, … }, … },
///       "config_hash" : "9f2c…",
///       "epoch" : 3,
///       "files" : { "model.safetensors" : { "bytes" : 1079072, "sha256" : "3f1c…" }, "optimizer.safetensors" : { … } },
///       "format" : 1,
///       "metrics" : { "loss" : 0.41, "top1" : 0.87 },
///       "saved_at" : "2026-11-25T19:40:00Z",
///       "step" : 1404,
///       "world_size" : 2
///     }
public struct CheckpointState: Codable, Equatable, Sendable {
    /// The size and SHA-256 of one file of the checkpoint.
    public struct FileRecord: Codable, Equatable, Sendable {
        /// Size in bytes.
        public var bytes: Int
        /// Lower-case hex SHA-256 of the file's bytes.
        public var sha256: String
    }

    /// The layout version of the checkpoint folder (1).
    public var format = 1
    /// Optimizer steps completed.
    public var step: Int
    /// Epochs completed.
    public var epoch: Int
    /// Ranks in the run that wrote it.
    public var worldSize: Int
    /// The resolved config.
    public var config: TrainingConfig
    /// `config.hash()`, to compare with a resuming run's.
    public var configHash: String
    /// The last logged metrics (loss, accuracy, ...); non-finite values are written as "nan"/"inf".
    public var metrics: [String: Double]
    /// File name → size and checksum, for every other file of the folder.
    public var files: [String: FileRecord]
    /// When it was written (ISO 8601, UTC).
    public var savedAt: String
    /// `true` when a stop signal ended the evaluation due at this step: a resumed run evaluates before
    /// it trains on (absent otherwise).
    public var evaluationPending: Bool? = nil
    /// The global batch the config's learning rate is for: the run's first (absent before elastic
    /// resume existed: `training.batch_size` × `world_size` then).
    public var baseGlobalBatchSize: Int? = nil
    /// The global batch of the steps taken in the current epoch, and how many were taken.
    public var globalBatchSize: Int? = nil
    public var stepInEpoch: Int? = nil

    enum CodingKeys: String, CodingKey {
        case format, step, epoch, worldSize = "world_size", config, configHash = "config_hash", metrics, files,
             savedAt = "saved_at", evaluationPending = "evaluation_pending",
             baseGlobalBatchSize = "base_global_batch_size", globalBatchSize = "global_batch_size", stepInEpoch = "step_in_epoch"
    }

    /// What a resume on another number of ranks needs besides the step.
    public struct Batches: Equatable, Sendable {
        public var baseGlobalBatchSize: Int
        public var globalBatchSize: Int
        public var stepInEpoch: Int

        public init(baseGlobalBatchSize: Int, globalBatchSize: Int, stepInEpoch: Int) {
            self.baseGlobalBatchSize = baseGlobalBatchSize
            self.globalBatchSize = globalBatchSize
            self.stepInEpoch = stepInEpoch
        }
    }

    /// Pretty, key-sorted JSON.
    func encoded() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return Array(try encoder.encode(self)) + [0x0a]
    }

    /// Parses `state.json` bytes.
    static func decode(_ data: Data) throws -> CheckpointState {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try decoder.decode(CheckpointState.self, from: data)
    }
}
