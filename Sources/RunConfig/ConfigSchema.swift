import Foundation
import Yams

/// The shape of the config file: the valid keys at each level and which of them are sections.
///
/// Built from the config types' `CodingKeys`, so it cannot drift from them. `check` walks a parsed
/// YAML tree before decoding and refuses unknown or repeated keys by their full path, listing the
/// valid keys at that level and suggesting the closest.
public struct ConfigSchema: Sendable {
    /// Valid keys at this level, in declaration order.
    let keys: [String]
    /// The keys whose values are themselves sections.
    let sections: [String: ConfigSchema]
    /// Whether the section may also be a list of such mappings (`eval.ood`).
    let allowsList: Bool

    public init<Keys: CodingKey & CaseIterable>(_ keys: Keys.Type, sections: [String: ConfigSchema] = [:], allowsList: Bool = false) {
        self.keys = Keys.allCases.map(\.stringValue)
        self.sections = sections
        self.allowsList = allowsList
    }

    /// The whole config.
    static let config = ConfigSchema(TrainingConfig.CodingKeys.self, sections: [
        "data": ConfigSchema(DataConfig.CodingKeys.self, sections: [
            "augment": ConfigSchema(DataConfig.Augment.CodingKeys.self),
            "normalize": ConfigSchema(DataConfig.Normalize.CodingKeys.self),
        ]),
        "model": ConfigSchema(ModelConfig.CodingKeys.self),
        "mixing": ConfigSchema(MixingConfig.CodingKeys.self),
        "optimizer": ConfigSchema(OptimizerConfig.CodingKeys.self),
        "schedule": ConfigSchema(ScheduleConfig.CodingKeys.self),
        "training": ConfigSchema(LoopConfig.CodingKeys.self),
        "distributed": ConfigSchema(DistributedConfig.CodingKeys.self),
        "eval": ConfigSchema(EvalConfig.CodingKeys.self, sections: [
            "ood": ConfigSchema(EvalConfig.OOD.CodingKeys.self, allowsList: true),
            "baseline": ConfigSchema(EvalConfig.Baseline.CodingKeys.self),
        ]),
        "checkpoint": ConfigSchema(CheckpointConfig.CodingKeys.self),
    ])

    /// Refuses unknown and repeated keys in `node`, the value at `path` ("" for the top level).
    public func check(_ node: Node, path: String) throws {
        if node.null != nil, !path.isEmpty { return }   // an absent optional section (eval.ood: null)
        if allowsList, let list = node.sequence {
            for (index, element) in list.enumerated() {
                guard element.mapping != nil else {
                    throw ConfigError(.wrongType, path: "\(path)[\(index)]", problem: "expected a mapping, got \(ConfigNode.describe(element))",
                                      fix: "give keys \(keys.joined(separator: ", "))")
                }
                try check(element, path: "\(path)[\(index)]")
            }
            return
        }
        guard let mapping = node.mapping else {
            throw ConfigError(.wrongType, path: path, problem: "expected a mapping\(allowsList ? " or a list of mappings" : ""), got \(ConfigNode.describe(node))",
                              fix: "give keys \(keys.joined(separator: ", "))")
        }
        var seen = Set<String>()
        for pair in mapping {
            let key = pair.key.string ?? "\(pair.key)"
            let keyPath = ConfigSchema.join(path, key)
            guard keys.contains(key) else { throw unknownKey(key, at: path) }
            guard seen.insert(key).inserted else {
                throw ConfigError(.duplicateKey, path: keyPath, problem: "given twice", fix: "keep one")
            }
            try sections[key]?.check(pair.value, path: keyPath)
        }
    }

    /// The schema of the section at `components` (for `--set`), refusing unknown keys along the way.
    /// Returns nil when the path ends at a value rather than a section.
    func resolve(_ components: [String]) throws -> ConfigSchema? {
        var schema: ConfigSchema? = self
        var path = ""
        for key in components {
            guard let current = schema else {
                throw ConfigError(.unknownKey, path: ConfigSchema.join(path, key),
                                  problem: "\(path) is a value, not a section", fix: "set \(path)=VALUE")
            }
            guard current.keys.contains(key) else { throw current.unknownKey(key, at: path) }
            schema = current.sections[key]
            path = ConfigSchema.join(path, key)
        }
        return schema
    }

    private func unknownKey(_ key: String, at path: String) -> ConfigError {
        ConfigError(.unknownKey, path: ConfigSchema.join(path, key),
                    problem: "unknown key\(KeySuggestion.hint(for: key, in: keys))",
                    fix: "valid keys \(path.isEmpty ? "at the top level" : "in \(path)") are \(keys.joined(separator: ", "))")
    }

    static func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }
}

/// Small operations on parsed YAML trees: merge, set by path, look up by path, describe.
public enum ConfigNode {
    /// `override` laid over `base`: mappings merge key by key, anything else replaces.
    static func merge(_ base: Node, _ override: Node) -> Node {
        guard let baseMapping = base.mapping, let overMapping = override.mapping else { return override }
        var pairs = baseMapping.map { (key: $0.key.string ?? "", value: $0.value) }
        for pair in overMapping {
            let key = pair.key.string ?? ""
            if let index = pairs.firstIndex(where: { $0.key == key }) {
                pairs[index].value = merge(pairs[index].value, pair.value)
            } else {
                pairs.append((key, pair.value))
            }
        }
        return Node(pairs.map { (Node($0.key), $0.value) })
    }

    /// `node` with `value` at the key path `components`, creating mappings on the way.
    static func setting(_ value: Node, at components: ArraySlice<String>, in node: Node?) -> Node {
        guard let key = components.first else { return value }
        var pairs = (node?.mapping).map { $0.map { (key: $0.key.string ?? "", value: $0.value) } } ?? []
        if let index = pairs.firstIndex(where: { $0.key == key }) {
            pairs[index].value = setting(value, at: components.dropFirst(), in: pairs[index].value)
        } else {
            pairs.append((key, setting(value, at: components.dropFirst(), in: nil)))
        }
        return Node(pairs.map { (Node($0.key), $0.value) })
    }

    /// `node` without the key at the key path `components` (unchanged where the path is absent).
    static func removing(_ components: ArraySlice<String>, from node: Node) -> Node {
        guard let key = components.first, let mapping = node.mapping else { return node }
        let pairs: [(Node, Node)] = mapping.compactMap { pair in
            guard pair.key.string == key else { return (pair.key, pair.value) }
            return components.count == 1 ? nil : (pair.key, removing(components.dropFirst(), from: pair.value))
        }
        return Node(pairs)
    }

    /// The node at a decoding path, if there is one.
    static func lookup(_ codingPath: [CodingKey], in node: Node) -> Node? {
        var current: Node? = node
        for key in codingPath {
            if let index = key.intValue, let sequence = current?.sequence {
                current = index < sequence.count ? sequence[index] : nil
            } else {
                current = current?.mapping?.first { $0.key.string == key.stringValue }?.value
            }
        }
        return current
    }

    /// A value as a message shows it: a scalar's text in quotes, or what kind of node it is.
    static func describe(_ node: Node?) -> String {
        switch node {
        case .scalar(let scalar)?: return scalar.string.isEmpty || scalar.string == "null" || scalar.string == "~"
            ? "nothing (null)" : "\"\(scalar.string)\""
        case .mapping?: return "a mapping"
        case .sequence?: return "a list"
        case nil: return "nothing"
        }
    }
}
