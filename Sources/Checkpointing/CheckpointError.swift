import Foundation
import RunConfig

/// Why a checkpoint or safetensors file was refused, as one line: the file (and tensor), what is
/// wrong, what to do.
///
///     runs/a/checkpoints/step-000400/model.safetensors: fails its SHA-256 check (expected 3f1c…, got 9a0e…); the file is damaged: resume from an earlier checkpoint (--resume auto falls back to one) or delete step-000400
public struct CheckpointError: Error, CustomStringConvertible, LocalizedError, Equatable, Sendable {
    /// The file or folder at fault.
    public let path: String
    /// What is wrong, naming the tensor or field.
    public let problem: String
    /// What to do about it.
    public let fix: String

    public init(path: String, problem: String, fix: String) {
        self.path = path
        self.problem = problem
        self.fix = fix
    }

    /// The one-line message: `PATH: PROBLEM; FIX`.
    public var description: String {
        "\(path): \(problem); \(fix)".split(whereSeparator: \.isNewline).joined(separator: " ")
    }

    /// Same as ``description``, for `localizedDescription`.
    public var errorDescription: String? { description }

    /// Advice for a file whose bytes are wrong.
    static let damagedAdvice = "the file is damaged or was not written by this tool: resume from an earlier checkpoint (--resume auto falls back to one) or delete the folder"
}
