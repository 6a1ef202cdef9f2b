import Glibc

/// Many file paths in one byte buffer, each NUL-terminated, kept as the bytes the file system gave
/// (a name that is not UTF-8 still opens): a million image paths cost one allocation, not a million
/// Strings. Immutable once built, so it is shared freely between threads.
public final class PathTable: Sendable {
    private let bytes: [UInt8]
    private let starts: [Int]

    /// A table of `paths`, each given as its bytes (without a NUL).
    public init(_ paths: [[UInt8]]) {
        var bytes = [UInt8]()
        bytes.reserveCapacity(paths.reduce(0) { $0 + $1.count + 1 })
        var starts = [Int]()
        starts.reserveCapacity(paths.count)
        for path in paths {
            starts.append(bytes.count)
            bytes.append(contentsOf: path)
            bytes.append(0)
        }
        self.bytes = bytes
        self.starts = starts
    }

    /// Number of paths.
    public var count: Int { starts.count }

    /// Calls `body` with path `index` as a C string (for `open`).
    public func withCString<Result>(at index: Int, _ body: (UnsafePointer<CChar>) throws -> Result) rethrows -> Result {
        try bytes.withUnsafeBufferPointer { buffer in
            try buffer.baseAddress!.advanced(by: starts[index]).withMemoryRebound(to: CChar.self, capacity: 1) { try body($0) }
        }
    }

    /// Path `index` as the bytes the file system gave.
    public func bytes(at index: Int) -> ArraySlice<UInt8> {
        let end = index + 1 < starts.count ? starts[index + 1] - 1 : bytes.count - 1
        return bytes[starts[index]..<end]
    }

    /// Path `index` for people: invalid UTF-8 shown as U+FFFD, control characters escaped, so a
    /// hostile name cannot rewrite a terminal line or a log.
    public func displayPath(at index: Int) -> String {
        PathTable.display(bytes(at: index))
    }

    /// `bytes` for people (see ``displayPath(at:)``).
    public static func display<Bytes: Collection>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        var text = ""
        for scalar in String(decoding: bytes, as: UTF8.self).unicodeScalars {
            if scalar.value < 0x20 || scalar.value == 0x7F {
                text += "\\u{\(String(scalar.value, radix: 16))}"
            } else {
                text.unicodeScalars.append(scalar)
            }
        }
        return text
    }
}
