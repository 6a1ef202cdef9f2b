import Foundation

/// Why a dataset could not be read, as one line: the file, what is wrong with it (record, byte offset
/// or header field), and what to do about it.
///
///     /data/cifar-10-batches-bin/test_batch.bin: truncated: 30729000 bytes is not a whole number of
///     3073-byte records (last record 9999 starts at byte 30726927); re-download or re-run launch/setup.sh
///
/// Readers never crash or return silent garbage on bad input; they throw this.
public struct DatasetError: Error, CustomStringConvertible, LocalizedError, Equatable {
    /// The kind of problem, for code that reacts to it (tests match on it and on the text).
    public enum Kind: String, Sendable {
        /// A folder or file that should exist does not.
        case missing
        /// The file has no bytes.
        case empty
        /// The file ends before its format says it should (or has bytes left over).
        case truncated
        /// A header field (magic number, data type, dimension) is not what the format needs.
        case badHeader
        /// A label lies outside the dataset's classes.
        case labelOutOfRange
        /// The file exists but could not be read or decompressed.
        case unreadable
        /// Files disagree with each other (image and label counts, shapes).
        case inconsistent
        /// A path or name that is not a dataset this tool knows.
        case unrecognised
    }

    /// The kind of problem.
    public let kind: Kind
    /// The file or folder at fault.
    public let path: String
    /// What is wrong, naming the record, byte offset or header field.
    public let problem: String
    /// What to do about it.
    public let fix: String

    /// An error about `path`.
    public init(_ kind: Kind, path: String, problem: String, fix: String) {
        self.kind = kind
        self.path = path
        self.problem = problem
        self.fix = fix
    }

    /// The one-line message: `PATH: PROBLEM; FIX`.
    public var description: String { "\(path): \(problem); \(fix)" }
    /// Same as ``description``, for `localizedDescription`.
    public var errorDescription: String? { description }

    /// The advice for data that is missing or damaged.
    static let refetchAdvice = "re-run launch/setup.sh or unpack the official archive again and point data.root at it"
}
