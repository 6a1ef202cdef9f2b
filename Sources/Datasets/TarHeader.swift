import Foundation

/// One 512-byte tar header block: parsed (ustar, with GNU and pax names handled by the readers) or
/// written (plain ustar, for ``ShardPacker``). Shared by the archive unpacker of `data fetch` and the
/// shard reader, so both read the same fields the same way.
public struct TarHeader: Equatable, Sendable {
    /// The member's name (ustar prefix joined with `/` when present).
    public let name: String
    /// The member's size in bytes, from the octal size field.
    public let size: Int
    /// The type flag (`0` or NUL: a regular file; `L`, `x`: long names; others: folders, links).
    public let type: UInt8
    /// Whether the header's checksum field matches its bytes.
    public let checksumMatches: Bool

    /// Block size of tar.
    public static let blockSize = 512

    /// The header in `block` (512 bytes); nil when its size field is not a number.
    public init?<Bytes: RandomAccessCollection>(_ block: Bytes) where Bytes.Element == UInt8, Bytes.Index == Int {
        let header = Array(block)
        precondition(header.count == Self.blockSize, "a tar header is 512 bytes")
        guard let size = Self.octal(header[124..<136]) else { return nil }
        var name = Self.string(header[0..<100])
        if header[257..<262].elementsEqual(Array("ustar".utf8)), case let prefix = Self.string(header[345..<500]), !prefix.isEmpty {
            name = prefix + "/" + name
        }
        self.name = name
        self.size = size
        type = header[156]
        checksumMatches = Self.octal(header[148..<156]) == Self.checksum(header)
    }

    /// Whether the member is a regular file.
    public var isRegularFile: Bool { type == UInt8(ascii: "0") || type == 0 || type == UInt8(ascii: "7") }

    /// Bytes the member's data takes in the archive (its size rounded up to whole blocks).
    public var paddedSize: Int { (size + Self.blockSize - 1) / Self.blockSize * Self.blockSize }

    /// A plain ustar header of a regular file `name` (at most 100 ASCII bytes) of `size` bytes
    /// (below 8 GiB), mode 0644, owner 0, time 0: the same bytes for the same member.
    public static func ustar(name: String, size: Int) -> [UInt8] {
        let nameBytes = Array(name.utf8)
        precondition(nameBytes.count <= 100 && size >= 0 && size < 1 << 33, "ustar member \(name) of \(size) bytes")
        var header = [UInt8](repeating: 0, count: blockSize)
        func put(_ text: String, at offset: Int) { header.replaceSubrange(offset..<offset + text.utf8.count, with: text.utf8) }
        header.replaceSubrange(0..<nameBytes.count, with: nameBytes)
        put("0000644", at: 100)
        put("0000000", at: 108)
        put("0000000", at: 116)
        put(String(repeating: "0", count: 11 - String(size, radix: 8).count) + String(size, radix: 8), at: 124)
        put("00000000000", at: 136)
        header[156] = UInt8(ascii: "0")
        put("ustar", at: 257)
        put("00", at: 263)
        let sum = String(checksum(header), radix: 8)
        put(String(repeating: "0", count: 6 - sum.count) + sum, at: 148)
        header[154] = 0
        header[155] = UInt8(ascii: " ")
        return header
    }

    /// The header checksum: the sum of its bytes with the checksum field read as spaces.
    static func checksum(_ header: [UInt8]) -> Int {
        var sum = 0
        for (offset, byte) in header.enumerated() { sum += (148..<156).contains(offset) ? 0x20 : Int(byte) }
        return sum
    }

    /// A NUL-terminated text field.
    public static func string(_ bytes: ArraySlice<UInt8>) -> String {
        String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }

    /// An octal number field: octal digits only, spaces and NULs around them allowed, empty reads as 0;
    /// nil for anything else (a sign: `-0000001750` trapped a size computation once; base-256).
    static func octal(_ bytes: ArraySlice<UInt8>) -> Int? {
        let text = string(bytes).trimmingCharacters(in: .whitespaces)
        guard text.utf8.count <= 12, text.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "7")).contains($0) }) else { return nil }
        return text.isEmpty ? 0 : Int(text, radix: 8)
    }
}
