import Foundation

/// Why a config was refused, as one line: the key path, what is wrong with its value, what is allowed.
///
///     config: optimizer.lrr: unknown key; valid keys in optimizer are lr, momentum, nesterov, weight_decay (did you mean lr?)
///     config: mixing.probability: 1.5 is out of range; use a number in [0, 1]
///
/// Every rank checks its config before any MPI work; the first problem found is thrown.
public struct ConfigError: Error, CustomStringConvertible, LocalizedError, Equatable, Sendable {
    /// The kind of problem, for code and tests that react to it.
    public enum Kind: String, Sendable {
        /// The file could not be read.
        case unreadable
        /// The text is not valid YAML.
        case syntax
        /// A key that the config does not have (misspelt, or at the wrong level).
        case unknownKey
        /// A key given twice at the same level.
        case duplicateKey
        /// A value of the wrong type (a word where a number belongs, a list where a mapping belongs).
        case wrongType
        /// A value of the right type outside its allowed range or list.
        case badValue
        /// A `--set` override that is not `key.path=value`.
        case badOverride
    }

    /// The kind of problem.
    public let kind: Kind
    /// The dotted key path at fault (`optimizer.lr`), or the file for unreadable and syntax errors.
    public let path: String
    /// What is wrong.
    public let problem: String
    /// What is allowed, or what to do.
    public let fix: String

    public init(_ kind: Kind, path: String, problem: String, fix: String) {
        self.kind = kind
        self.path = path
        self.problem = problem
        self.fix = fix
    }

    /// The one-line message: `config: PATH: PROBLEM; FIX`.
    public var description: String { "config: " + detail }

    /// The message without its `config:` prefix: `PATH: PROBLEM; FIX` (study files use their own).
    public var detail: String {
        let line = "\(path.isEmpty ? "(top level)" : path): \(problem); \(fix)"
        return line.split(whereSeparator: \.isNewline).joined(separator: " ")
    }

    /// Same as ``description``, for `localizedDescription`.
    public var errorDescription: String? { description }

    /// `value` at `path` lies outside what is allowed.
    public static func outOfRange(_ path: String, _ value: Any, _ allowed: String) -> ConfigError {
        ConfigError(.badValue, path: path, problem: "\(value) is not allowed", fix: allowed)
    }
}

/// Closest-key suggestions for misspellings.
enum KeySuggestion {
    /// The candidate nearest to `key` by edit distance, if it is near enough to be a likely typo.
    static func closest(to key: String, in candidates: [String]) -> String? {
        let scored = candidates.map { (candidate: $0, distance: editDistance(key.lowercased(), $0.lowercased())) }
        guard let best = scored.min(by: { $0.distance < $1.distance }) else { return nil }
        let limit = max(2, key.count / 3)
        return best.distance <= limit ? best.candidate : nil
    }

    /// " (did you mean X?)" or "".
    static func hint(for key: String, in candidates: [String]) -> String {
        closest(to: key, in: candidates).map { " (did you mean \($0)?)" } ?? ""
    }

    /// Levenshtein distance: insertions, deletions and substitutions each cost 1.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var previous = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var current = [i] + [Int](repeating: 0, count: b.count)
            for j in stride(from: 1, through: b.count, by: 1) {
                let substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
                current[j] = min(previous[j] + 1, current[j - 1] + 1, substitution)
            }
            previous = current
        }
        return a.isEmpty ? b.count : previous[b.count]
    }
}
