/// The few protocol-buffer encodings TensorBoard's event files need, written by hand: varints,
/// little-endian fixed-width numbers, length-delimited strings, messages and packed doubles.
///
///     var value = ProtobufWriter()
///     value.string(1, "train/loss")        // 0A 0A "train/loss"
///     value.float(2, 0.5)                  // 15 00 00 00 3F
public struct ProtobufWriter {
    /// Wire types (the low 3 bits of a field's key).
    public enum WireType: UInt64 {
        case varint = 0, fixed64 = 1, lengthDelimited = 2, fixed32 = 5
    }

    /// The message's bytes so far.
    public private(set) var bytes: [UInt8] = []

    public init() {}

    /// A base-128 varint, 7 bits per byte, least significant first (negative numbers take 10 bytes).
    public mutating func varint(_ value: UInt64) {
        var rest = value
        while rest >= 0x80 {
            bytes.append(UInt8(rest & 0x7F) | 0x80)
            rest >>= 7
        }
        bytes.append(UInt8(rest))
    }

    /// A field's key: its number and wire type.
    public mutating func key(_ field: Int, _ type: WireType) {
        varint(UInt64(field) << 3 | type.rawValue)
    }

    /// An `int64` field (`step`).
    public mutating func int64(_ field: Int, _ value: Int64) {
        key(field, .varint)
        varint(UInt64(bitPattern: value))
    }

    /// An enum field (`SessionLog.status`).
    public mutating func enumeration(_ field: Int, _ value: Int) {
        int64(field, Int64(value))
    }

    /// A `double` field: 8 bytes, little-endian.
    public mutating func double(_ field: Int, _ value: Double) {
        key(field, .fixed64)
        littleEndian(value.bitPattern)
    }

    /// A `float` field: 4 bytes, little-endian.
    public mutating func float(_ field: Int, _ value: Float) {
        key(field, .fixed32)
        littleEndian(value.bitPattern)
    }

    /// A `string` field: its length, then its UTF-8 bytes.
    public mutating func string(_ field: Int, _ value: String) {
        lengthDelimited(field, Array(value.utf8))
    }

    /// An embedded message field.
    public mutating func message(_ field: Int, _ value: ProtobufWriter) {
        lengthDelimited(field, value.bytes)
    }

    /// A `repeated double` field, packed (proto3's default): one length, then 8 bytes per value.
    public mutating func packedDoubles(_ field: Int, _ values: [Double]) {
        var packed = ProtobufWriter()
        for value in values { packed.littleEndian(value.bitPattern) }
        lengthDelimited(field, packed.bytes)
    }

    private mutating func lengthDelimited(_ field: Int, _ payload: [UInt8]) {
        key(field, .lengthDelimited)
        varint(UInt64(payload.count))
        bytes += payload
    }

    private mutating func littleEndian<Integer: FixedWidthInteger>(_ value: Integer) {
        withUnsafeBytes(of: value.littleEndian) { bytes += $0 }
    }
}

/// Reads the top-level fields of an encoded message (enough to find an event's step and kind).
struct ProtobufReader {
    /// One field: its number and, by wire type, its integer value or its bytes.
    struct Field {
        var number: Int
        var integer: UInt64 = 0
        var payload: ArraySlice<UInt8> = []
    }

    /// The fields of `bytes` in order; nil if they are not a well-formed message.
    static func fields(_ bytes: ArraySlice<UInt8>) -> [Field]? {
        var fields: [Field] = []
        var position = bytes.startIndex
        func varint() -> UInt64? {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while position < bytes.endIndex, shift < 64 {
                let byte = bytes[position]
                position += 1
                value |= UInt64(byte & 0x7F) << shift
                if byte < 0x80 { return value }
                shift += 7
            }
            return nil
        }
        func fixed(_ count: Int) -> UInt64? {
            guard bytes.endIndex - position >= count else { return nil }
            let value = bytes.littleEndianInteger(at: position, count: count)
            position += count
            return value
        }
        while position < bytes.endIndex {
            guard let key = varint(), key >> 3 > 0, key >> 3 <= UInt64(Int32.max) else { return nil }
            var field = Field(number: Int(key >> 3))
            switch ProtobufWriter.WireType(rawValue: key & 7) {
            case .varint?: guard let value = varint() else { return nil }; field.integer = value
            case .fixed64?: guard let value = fixed(8) else { return nil }; field.integer = value
            case .fixed32?: guard let value = fixed(4) else { return nil }; field.integer = value
            case .lengthDelimited?:
                guard let length = varint(), length <= UInt64(bytes.endIndex - position) else { return nil }
                field.payload = bytes[position..<position + Int(length)]
                position += Int(length)
            case nil: return nil
            }
            fields.append(field)
        }
        return fields
    }
}

extension ArraySlice<UInt8> {
    /// The unsigned little-endian integer in the `count` (at most 8) bytes from index `at`.
    func littleEndianInteger(at start: Int, count: Int) -> UInt64 {
        (0..<count).reduce(UInt64(0)) { $0 | UInt64(self[start + $1]) << (8 * UInt64($1)) }
    }
}
