import Checksums
import Crypto
import Datasets
import Foundation
import SafeFiles
import Yams

extension TrainingConfig {
    /// The resolved config as YAML, keys in declaration order, numbers in their shortest form
    /// (`lr: 0.1`). This is the run folder's `config.yaml`; loading it gives back an equal config.
    public func yamlText() throws -> String {
        try serialised(sortKeys: false)
    }

    /// The canonical serialisation: as ``yamlText()`` with keys sorted at every level. Two configs
    /// that are equal have the same canonical text, whatever file or overrides they came from.
    public func canonicalText() throws -> String {
        try serialised(sortKeys: true)
    }

    /// SHA-256 of ``canonicalText()``, in hex: what ranks compare at start.
    public func hash() throws -> String {
        SHA256.hash(data: Array(try canonicalText().utf8)).hex
    }

    /// Writes ``yamlText()`` to `url` (the run folder's `config.yaml`).
    public func write(to url: URL) throws {
        try SafeFile.write(try yamlText(), to: url.path)
    }

    private func serialised(sortKeys: Bool) throws -> String {
        guard let node = try Yams.compose(yaml: YAMLEncoder().encode(self)) else { return "" }
        return try Yams.serialize(node: Self.shortestNumbers(node), sortKeys: sortKeys)
    }

    /// Yams writes floats in scientific notation with 15 digits (`1e-1`); this rewrites each plain float
    /// scalar as Swift's shortest round-tripping form (`0.1`, `4.0`, `1e-05`).
    private static func shortestNumbers(_ node: Node) -> Node {
        switch node {
        case .scalar(let scalar):
            guard scalar.style == .any || scalar.style == .plain, scalar.string.contains("e"),
                  let value = Double(scalar.string), value.isFinite else { return node }
            return Node(value.description, Tag(.float))
        case .mapping(let mapping):
            return Node(mapping.map { ($0.key, shortestNumbers($0.value)) })
        case .sequence(let sequence):
            return Node(sequence.map(shortestNumbers))
        }
    }
}
