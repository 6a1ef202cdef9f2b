import Foundation
import Yams

/// YAML composed only after its nesting is bounded: Yams parses nested collections recursively, so
/// a config, a `--set` value or a study file nested thousands of levels deep (`[[[[…`) would overflow
/// the stack and crash instead of being refused. Every YAML a user gives goes through `compose`.
public enum YAMLNesting {
    /// Far beyond any config or study (a few levels), far below what overflows the stack.
    public static let maximumDepth = 100

    /// Too deep to parse, as the error's text (`line 3 nests more than 100 levels deep …`).
    struct TooDeep: Error, CustomStringConvertible {
        let line: Int
        var description: String {
            "line \(line) nests more than \(YAMLNesting.maximumDepth) levels deep; a config is a few levels deep"
        }
    }

    /// `Yams.compose(yaml:)`, after refusing text nested deeper than `maximumDepth`.
    public static func compose(_ yaml: String) throws -> Node? {
        if let line = firstTooDeepLine(yaml) { throw TooDeep(line: line) }
        return try Yams.compose(yaml: yaml)
    }

    /// The first line (from 1) whose nesting may pass `maximumDepth`, or nil. An over-estimate that
    /// needs no parser: each level of a block collection is indented further or opens with `- ` or
    /// `? `, each level of a flow collection opens a bracket (outside quotes and comments).
    public static func firstTooDeepLine(_ yaml: String) -> Int? {
        var flow = 0
        var lineNumber = 0
        for line in yaml.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let bytes = Array(line.utf8)
            var index = bytes.prefix { $0 == UInt8(ascii: " ") }.count
            var depth = index
            // Compact block entries: `- - - x`, `? ? x`.
            while index + 1 < bytes.count, bytes[index] == UInt8(ascii: "-") || bytes[index] == UInt8(ascii: "?"),
                  bytes[index + 1] == UInt8(ascii: " ") {
                depth += 1
                index += 2
                while index < bytes.count, bytes[index] == UInt8(ascii: " ") { index += 1 }
            }
            var quote: UInt8? = nil
            var deepestFlow = flow
            while index < bytes.count {
                let byte = bytes[index]
                if let open = quote {
                    if byte == UInt8(ascii: "\\") && open == UInt8(ascii: "\"") { index += 1 } else if byte == open { quote = nil }
                } else if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'") {
                    quote = byte
                } else if byte == UInt8(ascii: "#") && (index == 0 || bytes[index - 1] == UInt8(ascii: " ")) {
                    break
                } else if byte == UInt8(ascii: "[") || byte == UInt8(ascii: "{") {
                    flow += 1
                    deepestFlow = max(deepestFlow, flow)
                } else if byte == UInt8(ascii: "]") || byte == UInt8(ascii: "}") {
                    flow = max(0, flow - 1)
                }
                index += 1
            }
            if depth + deepestFlow > maximumDepth { return lineNumber }
        }
        return nil
    }
}
