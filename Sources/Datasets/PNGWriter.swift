import CZlib
import Foundation

/// Writes 8-bit RGB images as PNG: the signature, then IHDR, IDAT and IEND chunks.
///
///     chunk = length (UInt32 BE) · type (4 ASCII) · data · CRC-32 of type+data (UInt32 BE)
///     IHDR  = width, height (UInt32 BE) · bit depth 8 · colour type 2 (RGB) · 0 · 0 · 0 (no interlace)
///     IDAT  = zlib stream of the rows, each prefixed with filter byte 0 (none)
///
/// zlib's `compress2` makes the stream and `crc32` the checksums; nothing else is needed.
public enum PNGWriter {
    /// PNG bytes of a `width`×`height` RGB image (`rgb`: rows of width·3 bytes, top row first).
    public static func encode(width: Int, height: Int, rgb: [UInt8]) -> [UInt8] {
        precondition(width > 0 && height > 0 && rgb.count == width * height * 3, "RGB image \(width)x\(height), \(rgb.count) bytes")
        var raw = [UInt8]()
        raw.reserveCapacity(height * (1 + width * 3))
        for y in 0..<height {
            raw.append(0)  // filter: none
            raw += rgb[y * width * 3 ..< (y + 1) * width * 3]
        }
        var compressedSize = compressBound(uLong(raw.count))
        var compressed = [UInt8](repeating: 0, count: Int(compressedSize))
        let status = compress2(&compressed, &compressedSize, raw, uLong(raw.count), 6)
        precondition(status == Z_OK, "zlib compress2 failed with status \(status)")
        compressed.removeLast(compressed.count - Int(compressedSize))

        var header = bigEndian(UInt32(width)) + bigEndian(UInt32(height))
        header += [8, 2, 0, 0, 0]
        return [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
            + chunk("IHDR", header) + chunk("IDAT", compressed) + chunk("IEND", [])
    }

    /// Writes the PNG of the image to `path`, replacing a regular file there (atomically; a link, a
    /// device or a folder at `path` is refused: `SafeFile`).
    public static func write(width: Int, height: Int, rgb: [UInt8], to path: String) throws {
        let bytes = encode(width: width, height: height, rgb: rgb)
        try SafeFile.write(bytes, to: path)
    }

    /// One chunk: length, type, data, CRC-32 over type and data.
    static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let typeAndData = Array(type.utf8) + data
        let crc = UInt32(crc32(0, typeAndData, uInt(typeAndData.count)))
        return bigEndian(UInt32(data.count)) + typeAndData + bigEndian(crc)
    }

    /// The four big-endian bytes of `value`.
    static func bigEndian(_ value: UInt32) -> [UInt8] {
        [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: value >> $0) }
    }

    /// Decodes a PNG written by ``encode(width:height:rgb:)`` (8-bit RGB, filter 0 rows), checking
    /// the signature and every CRC: a test door, not a general PNG reader. Nil if anything is off.
    package static func decodeOwnPNG(_ bytes: [UInt8]) -> (width: Int, height: Int, rgb: [UInt8])? {
        guard bytes.count > 8, Array(bytes[0..<8]) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] else { return nil }
        func uint32(_ offset: Int) -> Int { bytes[offset ..< offset + 4].reduce(0) { $0 << 8 | Int($1) } }
        var offset = 8, width = 0, height = 0
        var idat = [UInt8]()
        while offset + 12 <= bytes.count {
            let length = uint32(offset)
            guard offset + 12 + length <= bytes.count else { return nil }
            let typeAndData = Array(bytes[offset + 4 ..< offset + 8 + length])
            guard UInt32(crc32(0, typeAndData, uInt(typeAndData.count))) == UInt32(uint32(offset + 8 + length)) else { return nil }
            let type = String(decoding: typeAndData[0..<4], as: UTF8.self)
            let data = Array(typeAndData[4...])
            if type == "IHDR" {
                guard data.count == 13, Array(data[8..<13]) == [8, 2, 0, 0, 0] else { return nil }
                width = data[0..<4].reduce(0) { $0 << 8 | Int($1) }
                height = data[4..<8].reduce(0) { $0 << 8 | Int($1) }
            } else if type == "IDAT" {
                idat += data
            } else if type == "IEND" {
                break
            }
            offset += 12 + length
        }
        let rowSize = 1 + width * 3
        var rawSize = uLong(rowSize * height)
        var raw = [UInt8](repeating: 0, count: Int(rawSize))
        guard width > 0, height > 0, uncompress(&raw, &rawSize, idat, uLong(idat.count)) == Z_OK,
              Int(rawSize) == rowSize * height else { return nil }
        var rgb = [UInt8]()
        for y in 0..<height {
            guard raw[y * rowSize] == 0 else { return nil }
            rgb += raw[y * rowSize + 1 ..< (y + 1) * rowSize]
        }
        return (width, height, rgb)
    }
}
