import Datasets
import Foundation
import Mixing
import Models

/// A closed list of names in the config (`data.dataset`, `model.name`, `mixing.method`, ...).
///
/// Decoding a name that is not on the list throws a ``ConfigError`` naming the key path, the bad
/// name and the valid ones, with the closest as a suggestion.
public protocol ConfigChoice: RawRepresentable, CaseIterable, Codable, Sendable, CustomStringConvertible
where RawValue == String {
    /// What the list is of, for messages ("dataset", "model").
    static var noun: String { get }
}

extension ConfigChoice {
    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        let raw = try container.decode(String.self)
        guard let value = Self(rawValue: raw) else {
            let names = Self.allCases.map(\.rawValue)
            throw ConfigError(.badValue, path: ConfigPath.string(decoder.codingPath),
                              problem: "\"\(raw)\" is not a \(Self.noun)\(KeySuggestion.hint(for: raw, in: names))",
                              fix: "use one of \(names.joined(separator: ", "))")
        }
        self = value
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    public var description: String { rawValue }
}

extension DatasetName: ConfigChoice {
    public static let noun = "dataset"
}

/// `data.dataset`: a built-in benchmark (``DatasetName``), `image-folder` (the user's own images), or
/// `shards` (an image folder packed into tar shards by `multimix data pack`).
public enum DatasetChoice: String, ConfigChoice {
    case fashionMNIST = "fashion-mnist", mnist, cifar10, cifar100, imageFolder = "image-folder", shards
    public static let noun = "dataset"

    /// The built-in dataset; nil for `image-folder` and `shards` (images decoded file by file).
    public var builtIn: DatasetName? { DatasetName(rawValue: rawValue) }

    /// The choice for a built-in dataset.
    public init(_ name: DatasetName) { self.init(rawValue: name.rawValue)! }
}

extension BadImagePolicy: ConfigChoice {
    public static let noun = "bad-image policy"
}

extension ResNetSpecification.Name: ConfigChoice {
    public static let noun = "model"
}

extension MixingMethod: ConfigChoice {
    public static let noun = "mixing method"
}

extension MixingFallback: ConfigChoice {
    public static let noun = "mixing fallback"
}

extension MixedLossScale: ConfigChoice {
    public static let noun = "loss scale"
}

extension DenseMultiMix.AttentionNormalisation: ConfigChoice {
    public static let noun = "attention normalisation"
}

/// Dotted key paths (`eval.ood.dataset`, `schedule.milestones[1]`) from coding paths.
enum ConfigPath {
    static func string(_ codingPath: [CodingKey]) -> String {
        var out = ""
        for key in codingPath {
            if let index = key.intValue {
                out += "[\(index)]"
            } else {
                out += out.isEmpty ? key.stringValue : ".\(key.stringValue)"
            }
        }
        return out
    }
}
