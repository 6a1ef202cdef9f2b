import CZlib
import Foundation

/// Reads a zip archive (stored and deflated entries, zip64 directories) by its central directory, for
/// `multimix data fetch tinyimagenet`. Every entry's CRC-32 is checked.
final class ZipReader {
    struct Entry {
        let name: String
        let method: UInt16
        let compressedSize: Int
        let size: Int
        let crc: UInt32
        let localHeaderOffset: Int
    }

    let path: String
    private let data: Data
    private(set) var entries: [Entry] = []

    init(_ path: String) throws {
        self.path = path
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        } catch {
            throw FetchError("\(path): cannot read (\(error.localizedDescription)); check the file")
        }
        try readDirectory()
    }

    private func damaged(_ what: String) -> FetchError {
        FetchError("\(path): not a readable zip archive (\(what)); the download is damaged or is not the archive: delete it and fetch again")
    }

    private func u16(_ offset: Int) -> Int { Int(data[data.startIndex + offset]) | Int(data[data.startIndex + offset + 1]) << 8 }
    private func u32(_ offset: Int) -> Int { u16(offset) | u16(offset + 2) << 16 }
    private func u64(_ offset: Int) -> Int { u32(offset) | u32(offset + 4) << 32 }

    private func readDirectory() throws {
        let count = data.count
        guard count >= 22 else { throw damaged("too short") }
        var end = -1
        var position = count - 22
        while position >= max(0, count - 22 - 65_535) {
            if u32(position) == 0x0605_4B50 { end = position; break }
            position -= 1
        }
        guard end >= 0 else { throw damaged("no end of central directory") }
        var entryCount = u16(end + 10)
        var directoryOffset = u32(end + 16)
        // Zip64: the locator just before the end record points at the zip64 end record.
        if end >= 20, u32(end - 20) == 0x0706_4B50 {
            let record = u64(end - 20 + 8)
            guard record >= 0, record + 56 <= count, u32(record) == 0x0606_4B50 else { throw damaged("bad zip64 end record") }
            entryCount = u64(record + 32)
            directoryOffset = u64(record + 48)
        }
        var offset = directoryOffset
        for _ in 0..<entryCount {
            guard offset >= 0, offset + 46 <= count, u32(offset) == 0x0201_4B50 else { throw damaged("bad central directory entry") }
            let nameLength = u16(offset + 28), extraLength = u16(offset + 30), commentLength = u16(offset + 32)
            guard offset + 46 + nameLength + extraLength <= count else { throw damaged("truncated central directory") }
            let name = String(decoding: data[(data.startIndex + offset + 46)..<(data.startIndex + offset + 46 + nameLength)], as: UTF8.self)
            var compressed = u32(offset + 20), size = u32(offset + 24), local = u32(offset + 42)
            // Zip64 extra field: the 8-byte values whose 4-byte fields are all ones, in this order.
            var extra = offset + 46 + nameLength
            let extraEnd = extra + extraLength
            while extra + 4 <= extraEnd {
                let id = u16(extra), length = u16(extra + 2)
                if id == 0x0001 {
                    var field = extra + 4
                    if size == 0xFFFF_FFFF { size = u64(field); field += 8 }
                    if compressed == 0xFFFF_FFFF { compressed = u64(field); field += 8 }
                    if local == 0xFFFF_FFFF { local = u64(field) }
                }
                extra += 4 + length
            }
            entries.append(Entry(name: name, method: UInt16(u16(offset + 10)), compressedSize: compressed, size: size,
                                 crc: UInt32(u32(offset + 16)), localHeaderOffset: local))
            offset += 46 + nameLength + extraLength + commentLength
        }
    }

    /// The entry's bytes, inflated and checked against its CRC-32.
    func contents(of entry: Entry) throws -> Data {
        let local = entry.localHeaderOffset
        guard local >= 0, local + 30 <= data.count, u32(local) == 0x0403_4B50 else { throw damaged("bad local header of \(entry.name)") }
        let start = local + 30 + u16(local + 26) + u16(local + 28)
        guard start + entry.compressedSize <= data.count else { throw damaged("\(entry.name) ends past the file") }
        let stored = data[(data.startIndex + start)..<(data.startIndex + start + entry.compressedSize)]
        var output = Data(count: entry.size)
        switch entry.method {
        case 0:
            guard entry.compressedSize == entry.size else { throw damaged("stored \(entry.name) with two sizes") }
            output = Data(stored)
        case 8:
            var stream = z_stream()
            guard inflateInit2_(&stream, -15, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else { throw damaged("zlib") }
            defer { inflateEnd(&stream) }
            let status: Int32 = stored.withUnsafeBytes { input in
                output.withUnsafeMutableBytes { out in
                    stream.next_in = UnsafeMutablePointer(mutating: input.bindMemory(to: Bytef.self).baseAddress)
                    stream.avail_in = uInt(input.count)
                    stream.next_out = out.bindMemory(to: Bytef.self).baseAddress
                    stream.avail_out = uInt(out.count)
                    return inflate(&stream, Z_FINISH)
                }
            }
            guard status == Z_STREAM_END, Int(stream.total_out) == entry.size else { throw damaged("\(entry.name) does not inflate to its size") }
        default:
            throw damaged("\(entry.name) uses compression method \(entry.method)")
        }
        let crc = output.withUnsafeBytes { UInt32(crc32(0, $0.bindMemory(to: Bytef.self).baseAddress, uInt($0.count))) }
        guard crc == entry.crc else { throw damaged("\(entry.name) fails its CRC-32") }
        return output
    }
}
