import Foundation
import SafeFiles
import RunConfig

/// A run folder's `finished.json`: rank 0 writes it (atomically: a temporary file, fsynced, then
/// renamed) once a run of `multimix study` returns `.completed`, so that the study skips the run
/// when it is started again.
///
///     {"config_hash":"9f2c…","cpu":"AMD EPYC (avx2 fma avx)","epoch":10,"step":2340,"wall_seconds":412.7,"world_size":2}
///
/// `config_hash` is ``configHash(_:)`` of the run's config: a study whose file has since changed the
/// run (other epochs, another method) refuses to skip it rather than report stale results.
/// `wall_seconds` is the wall time of the invocation that finished the run (from building the trainer
/// to the final checkpoint; a resumed run counts only its last part), and `cpu` the processor it ran
/// on (rank 0's; absent in markers written before it was kept): a study carried across machines says
/// which wall times are comparable.
public struct FinishedMarker: Codable, Equatable, Sendable {
    /// The file's name in a run folder.
    public static let fileName = "finished.json"

    /// ``configHash(_:)`` of the config that the run trained with.
    public var configHash: String
    /// Epochs completed.
    public var epoch: Int
    /// Optimizer steps completed.
    public var step: Int
    /// Wall time of the invocation that finished the run, in seconds.
    public var wallSeconds: Double
    /// Ranks in that invocation.
    public var worldSize: Int
    /// The processor of that invocation's rank 0, e.g. "AMD EPYC (avx2 fma avx)"; nil in older markers.
    public var cpu: String?

    public init(configHash: String, epoch: Int, step: Int, wallSeconds: Double, worldSize: Int, cpu: String? = nil) {
        self.configHash = configHash
        self.epoch = epoch
        self.step = step
        self.wallSeconds = wallSeconds
        self.worldSize = worldSize
        self.cpu = cpu
    }

    enum CodingKeys: String, CodingKey {
        case configHash = "config_hash", epoch, step, wallSeconds = "wall_seconds", worldSize = "world_size", cpu
    }

    /// The config's hash with `training.threads` set to 1: how many threads a rank uses does not make
    /// it another run, so a study can be continued on a machine with other cores.
    public static func configHash(_ config: TrainingConfig) throws -> String {
        var comparable = config
        comparable.training.threads = 1
        return try comparable.hash()
    }

    /// The marker of `runFolder`, or nil when it has none (or one that does not parse: the run is then
    /// resumed, finds itself complete, and writes a new one).
    public static func read(runFolder: URL) -> FinishedMarker? {
        guard let text = try? SafeFile.readText(runFolder.appendingPathComponent(fileName).path, maximumBytes: 1 << 20, fix: "") else { return nil }
        let data = Data(text.utf8)
        return try? JSONDecoder().decode(FinishedMarker.self, from: data)
    }

    /// Writes `runFolder/finished.json` durably: a temporary file, fsynced, renamed, folder fsynced.
    public func write(runFolder: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try DurableFile.replace(FinishedMarker.fileName, in: runFolder, with: Array(try encoder.encode(self)) + [0x0A])
    }
}

/// The study's view of a run: whether it already finished, and marking it finished.
