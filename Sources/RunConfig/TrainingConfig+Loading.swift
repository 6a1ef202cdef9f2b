import Datasets
import Foundation
import SafeFiles
import Yams

extension TrainingConfig {
    /// Reads, checks and resolves a config file, then applies `--set` overrides and validates.
    ///
    ///     let config = try TrainingConfig.load(contentsOf: url, overrides: ["optimizer.lr=0.05"])
    ///
    /// Throws a one-line ``ConfigError`` for the first problem: unreadable file, YAML syntax, unknown
    /// key (anywhere, including in overrides), wrong type, or a value out of range.
    public static func load(contentsOf url: URL, overrides: [String] = []) throws -> TrainingConfig {
        try parse(yaml: try readText(url), overrides: overrides, source: url.path)
    }

    /// Whether the config file at `url`, with `overrides` applied, gives the key at `keyPath` (e.g.
    /// `training.threads`) a value itself instead of leaving it to its default: where it does not,
    /// `multimix train` sizes the rank's thread pool from the machine.
    public static func setsKey(_ keyPath: String, contentsOf url: URL, overrides: [String] = []) throws -> Bool {
        var node: Node? = try userNode(yaml: try readText(url), overrides: overrides, source: url.path)
        for key in keyPath.split(separator: ".") { node = node?.mapping?[Node(String(key))] }
        return node != nil
    }

    private static func readText(_ url: URL) throws -> String {
        do {
            return try SafeFile.readText(url.path, fix: "check the path given to --config")
        } catch let error as SafeFileError {
            throw ConfigError(.unreadable, path: url.path, problem: error.problem, fix: error.fix)
        }
    }

    /// Resolves YAML text: defaults, then the text's keys, then each override (`key.path=value`, the
    /// value parsed as YAML: `3`, `0.1`, `true`, `[60, 120]`, `{dataset: cifar100, root: /d}`), in
    /// order; then decodes and validates. `source` names the text in syntax errors.
    public static func parse(yaml: String, overrides: [String] = [], source: String = "config") throws -> TrainingConfig {
        let user = try userNode(yaml: yaml, overrides: overrides, source: source)
        // data.root's and data.augment.crop_padding's defaults depend on data.dataset: left out here,
        // DataConfig's decoder fills them in.
        let defaults = ConfigNode.removing(["data", "augment", "crop_padding"], from: ConfigNode.removing(["data", "root"],
                                           from: try Yams.compose(yaml: YAMLEncoder().encode(TrainingConfig()))!))
        let merged = ConfigNode.merge(defaults, user)
        let config: TrainingConfig
        do {
            config = try YAMLDecoder().decode(TrainingConfig.self, from: Yams.serialize(node: merged))
        } catch let error as ConfigError {
            throw error
        } catch let error as DecodingError {
            throw configError(error, in: merged)
        }
        try refuseNulls(in: user, resolved: try Yams.compose(yaml: YAMLEncoder().encode(config))!, path: "")
        try config.validate()
        return config
    }

    /// The keys the text and the overrides give, checked against the schema, without defaults.
    private static func userNode(yaml: String, overrides: [String], source: String) throws -> Node {
        let schema = ConfigSchema.config
        var user: Node
        do {
            user = try YAMLNesting.compose(yaml) ?? Node([(Node, Node)]())
        } catch {
            throw ConfigError(.syntax, path: source, problem: "not valid YAML (\(error))",
                              fix: "fix the YAML at the line and column shown")
        }
        try schema.check(user, path: "")
        for override in overrides {
            let (components, value) = try parseOverride(override)
            if let section = try schema.resolve(components) {
                try section.check(value, path: components.joined(separator: "."))
            }
            user = ConfigNode.setting(value, at: components[...], in: user)
        }
        return user
    }

    /// A `null` written for a key that is not optional (`name: null`) would decode as the text "null" or
    /// a default: refuse it by path. On an optional key (`eval.ood: null`, `mixing.m: null`) it means absent.
    private static func refuseNulls(in user: Node, resolved: Node, path: String) throws {
        guard let mapping = user.mapping else { return }
        for (keyNode, value) in mapping {
            guard let key = keyNode.string else { continue }
            let keyPath = ConfigSchema.join(path, key)
            let resolvedValue = resolved.mapping?[Node(key)]
            if value.null != nil || value.string == "null" || value.string == "~" {
                // An optional key set to null decodes as absent and is not written back.
                if resolvedValue != nil {
                    throw ConfigError(.wrongType, path: keyPath, problem: "null is not a value for this key",
                                      fix: "give a value, or remove the key for its default")
                }
            } else if let resolvedValue {
                try refuseNulls(in: value, resolved: resolvedValue, path: keyPath)
            }
        }
    }

    /// Splits `key.path=value` and parses the value as YAML.
    static func parseOverride(_ text: String) throws -> (components: [String], value: Node) {
        guard let equals = text.firstIndex(of: "="), equals != text.startIndex else {
            throw ConfigError(.badOverride, path: text, problem: "an override must be key.path=value",
                              fix: "write e.g. --set optimizer.lr=0.05")
        }
        let components = text[..<equals].split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        let valueText = String(text[text.index(after: equals)...])
        guard !valueText.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw ConfigError(.badOverride, path: String(text[..<equals]), problem: "no value after '='",
                              fix: "write --set \(text[..<equals])=VALUE (null removes an optional key)")
        }
        guard !components.contains(where: \.isEmpty) else {
            throw ConfigError(.badOverride, path: String(text[..<equals]), problem: "empty key in the path",
                              fix: "write e.g. --set optimizer.lr=0.05")
        }
        do {
            return (components, try YAMLNesting.compose(valueText) ?? Node("null"))
        } catch {
            let shown = valueText.count > 60 ? valueText.prefix(60) + "…" : valueText
            throw ConfigError(.badOverride, path: components.joined(separator: "."),
                              problem: "the value \"\(shown)\" is not valid YAML\(error is YAMLNesting.TooDeep ? " (\(error))" : "")",
                              fix: "quote it or write a number, true/false, or [a, b]")
        }
    }

    /// A decoding failure as a one-line ``ConfigError`` naming the path and the value found there
    /// (also used for study files).
    public static func configError(_ error: DecodingError, in node: Node) -> ConfigError {
        switch error {
        case .typeMismatch(let type, let context), .valueNotFound(let type, let context):
            let found = ConfigNode.describe(ConfigNode.lookup(context.codingPath, in: node))
            return ConfigError(.wrongType, path: ConfigPath.string(context.codingPath),
                               problem: "expected \(expectation(type)), got \(found)", fix: "write \(expectation(type)) there")
        case .keyNotFound(let key, let context):
            let section = ConfigPath.string(context.codingPath)
            return ConfigError(.wrongType, path: ConfigSchema.join(section, key.stringValue),
                               problem: "missing", fix: "\(section.isEmpty ? "the config" : section) needs \(key.stringValue)")
        case .dataCorrupted(let context):
            // Errors thrown inside `init(from:)` (a bad choice, a bad alpha) arrive wrapped.
            if let inner = context.underlyingError as? ConfigError { return inner }
            return ConfigError(.wrongType, path: ConfigPath.string(context.codingPath),
                               problem: context.debugDescription, fix: "check the value's type")
        @unknown default:
            return ConfigError(.wrongType, path: "", problem: "\(error)", fix: "check the config")
        }
    }

    /// "an integer", "a number", ... for the type the decoder wanted.
    private static func expectation(_ type: Any.Type) -> String {
        switch type {
        case is Int.Type: return "an integer"
        case is Double.Type: return "a number"
        case is Bool.Type: return "true or false"
        case is String.Type: return "a string"
        case is Node.Mapping.Type: return "a mapping"
        case is Node.Sequence.Type: return "a list"
        default: return "a single value"
        }
    }
}
