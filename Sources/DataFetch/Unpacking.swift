import CZlib
import Checksums
import Crypto
import Datasets
import Foundation
import SafeFiles

/// A file being written, hashed (SHA-256) as it goes.
final class HashingFile {
    let path: String
    private let file: UnsafeMutablePointer<FILE>
    private var hash = SHA256()
    private(set) var size = 0

    init(_ path: String) throws {
        // A new file, never through a link planted in the staging folder.
        let descriptor = try SafeFile.open(path, flags: O_WRONLY | O_CREAT | O_TRUNC)
        guard let file = fdopen(descriptor, "wb") else {
            close(descriptor)
            throw FetchError("\(path): cannot create (\(String(cString: strerror(errno)))); check that the folder is writable")
        }
        self.path = path
        self.file = file
    }

    deinit { fclose(file) }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard !bytes.isEmpty else { return }
        hash.update(bufferPointer: bytes)
        size += bytes.count
        guard fwrite(bytes.baseAddress, 1, bytes.count, file) == bytes.count else {
            throw FetchError("\(path): cannot write (\(String(cString: strerror(errno)))); check the disk's free space")
        }
    }

    /// Flushes the file and returns its SHA-256 (hex) and size.
    func finish() throws -> (sha256: String, size: Int) {
        guard fflush(file) == 0, fsync(fileno(file)) == 0 else {
            throw FetchError("\(path): cannot write (\(String(cString: strerror(errno)))); check the disk's free space")
        }
        return (hash.finalize().hex, size)
    }
}

/// A source of bytes read in order: a gzip file (zlib), a plain file, or `xz -dc`'s output.
protocol ByteStream: AnyObject {
    /// Reads up to `buffer.count` bytes; 0 at the end.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
}

extension ByteStream {
    /// Copies everything that is left to `sink`, refusing more than `limit` bytes (the official file's
    /// size: a small compressed file may unpack to fill the disk).
    func copyAll(to sink: HashingFile, limit: Int, source: String) throws {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let got = try read(into: buffer)
            if got == 0 { return }
            guard sink.size + got <= limit else {
                throw FetchError("\(source): unpacks to more than \(limit) bytes, the size of the official file; it is not the official file: delete it, or use another mirror")
            }
            try sink.write(UnsafeRawBufferPointer(rebasing: buffer[0..<got]))
        }
    }

    /// Reads and drops `count` bytes (false if the stream ends first), without holding them.
    func skip(_ count: Int, using buffer: UnsafeMutableRawBufferPointer) throws -> Bool {
        var left = count
        while left > 0 {
            let want = min(left, buffer.count)
            guard try readExactly(want, into: buffer) else { return false }
            left -= want
        }
        return true
    }

    /// Reads exactly `count` bytes into `buffer` (false if the stream ends first).
    func readExactly(_ count: Int, into buffer: UnsafeMutableRawBufferPointer) throws -> Bool {
        var filled = 0
        while filled < count {
            let got = try read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[filled..<count]))
            if got == 0 { return false }
            filled += got
        }
        return true
    }
}

/// A gzip file read through zlib (which also reads a plain file as it is; `requireGzip` refuses that).
final class GzipStream: ByteStream {
    let path: String
    private let file: gzFile
    private var produced = 0

    init(_ path: String, requireGzip: Bool) throws {
        if requireGzip {
            // Two bytes, not the whole file (which may be endless: a device, a FIFO).
            let head = FileHandle(forReadingAtPath: path).flatMap { try? $0.read(upToCount: 2) }
            guard let head, head.count == 2, head.first == 0x1F, head.last == 0x8B else {
                throw FetchError("\(path): not a gzip file (it should start with the bytes 1f 8b); the download is damaged or is not the archive: delete it and fetch again, or give the official archive")
            }
        }
        guard let file = gzopen(path, "rb") else {
            throw FetchError("\(path): cannot open (\(String(cString: strerror(errno)))); check the file")
        }
        gzbuffer(file, 1 << 20)
        self.path = path
        self.file = file
    }

    deinit { gzclose(file) }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let got = gzread(file, buffer.baseAddress, UInt32(buffer.count))
        var code: Int32 = 0
        let message = String(cString: gzerror(file, &code))
        if got < 0 || (code != Z_OK && code != Z_STREAM_END) {
            let what = code == Z_BUF_ERROR ? "ends early (truncated)" : "is damaged (zlib: \(message))"
            throw FetchError("\(path): the gzip data \(what) after \(produced) unpacked bytes; delete it and fetch again, or use another mirror")
        }
        produced += Int(got)
        return Int(got)
    }
}

/// The decompressed output of `xz -dc FILE` (xz-utils), for mirrors that store files xz-compressed.
final class XZStream: ByteStream {
    let path: String
    private let process = Process()
    private let output: FileHandle
    private let errors = Pipe()

    init(_ path: String) throws {
        self.path = path
        let pipe = Pipe()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["xz", "-dc", path]
        process.standardOutput = pipe
        process.standardError = errors
        do {
            try process.run()
        } catch {
            throw FetchError("\(path): cannot run xz to unpack it (\(error.localizedDescription)); install xz-utils")
        }
        output = pipe.fileHandleForReading
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let got = Glibc.read(output.fileDescriptor, buffer.baseAddress, buffer.count)
        if got > 0 { return got }
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                .trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: "\n", with: " ")
            let reason = process.terminationStatus == 127 ? "xz is not installed (install xz-utils)" : "xz failed: \(message)"
            throw FetchError("\(path): cannot unpack: \(reason); check the mirror's file")
        }
        return 0
    }
}

/// Reads a tar archive (ustar, GNU and pax names) from a stream, entry by entry.
///
/// Every size a header declares is bounded before anything is read or allocated: a member by
/// `maximumMemberBytes` (the dataset's largest file), a long name or pax record by
/// `maximumMetadataBytes`; a size field that is not plain octal digits (a sign, base-256) is refused.
enum TarReader {
    /// The most bytes a GNU long name or a pax header may declare.
    static let maximumMetadataBytes = 1 << 16

    /// Calls `destination(name)` for every regular file in the archive; a path it returns receives the
    /// file's bytes (then `written(name, sha256, size)` is called), nil skips the file.
    /// `maxTotalBytes` bounds the sum of the written files' sizes (read from their headers first).
    static func extract(_ stream: ByteStream, archive: String, maximumMemberBytes: Int, maxTotalBytes: Int = .max,
                        destination: (String) throws -> String?,
                        written: (String, String, Int) throws -> Void) throws {
        var total = 0
        let block = UnsafeMutableRawBufferPointer.allocate(byteCount: 512, alignment: 16)
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { block.deallocate(); chunk.deallocate() }
        var longName: String? = nil
        var offset = 0
        while true {
            guard try stream.readExactly(512, into: block) else {
                throw FetchError("\(archive): the archive ends without its end marker (at byte \(offset) of the tar data); the download is incomplete: delete it and fetch again")
            }
            offset += 512
            if block.allSatisfy({ $0 == 0 }) {
                // The end: read on to the end of the gzip stream, so that zlib checks its CRC.
                while try stream.read(into: chunk) > 0 {}
                return
            }
            guard let header = TarHeader(UnsafeRawBufferPointer(block)) else {
                throw FetchError("\(archive): damaged tar header at byte \(offset - 512) (the size field is not a number); the archive is damaged: delete it and fetch again")
            }
            let (size, type, padded) = (header.size, header.type, header.paddedSize)
            var name = header.name
            if let long = longName { name = long }
            longName = nil
            let isMetadata = type == UInt8(ascii: "L") || type == UInt8(ascii: "x")
            let limit = isMetadata ? maximumMetadataBytes : maximumMemberBytes
            guard size <= limit else {
                let what = isMetadata ? "a long-name or pax header, more than the \(limit) such a header may have"
                    : "\(name), more than the \(limit) of the dataset's largest file"
                throw FetchError("\(archive): the tar header at byte \(offset - 512) declares \(size) bytes for \(what); the archive is not the official one: delete it and fetch again")
            }
            switch type {
            case UInt8(ascii: "L"), UInt8(ascii: "x"):
                // A GNU long name, or pax extended attributes (their `path=` record names the next entry).
                let data = try readAll(stream, count: padded, archive: archive, offset: offset)
                let text = String(decoding: data.prefix(size), as: UTF8.self)
                longName = type == UInt8(ascii: "L") ? text.trimmingCharacters(in: CharacterSet(charactersIn: "\0"))
                    : text.split(separator: "\n").compactMap { record -> String? in
                        guard let range = record.range(of: " path=") else { return nil }
                        return String(record[range.upperBound...])
                    }.last
            case UInt8(ascii: "0"), 0, UInt8(ascii: "7"):
                let target = try destination(name)
                if target != nil {
                    total += size
                    guard total <= maxTotalBytes else {
                        throw FetchError("\(archive): unpacks to more than \(maxTotalBytes) bytes (at \(name)); it is not the expected archive: nothing was installed")
                    }
                }
                let sink = try target.map(HashingFile.init)
                var left = size
                while left > 0 {
                    let want = min(left, chunk.count)
                    guard try stream.readExactly(want, into: chunk) else {
                        throw FetchError("\(archive): the archive ends inside \(name) (\(size - left) of its \(size) bytes); the download is incomplete: delete it and fetch again")
                    }
                    try sink?.write(UnsafeRawBufferPointer(rebasing: chunk[0..<want]))
                    left -= want
                }
                if padded > size { _ = try readAll(stream, count: padded - size, archive: archive, offset: offset) }
                if let sink {
                    let (sha, bytes) = try sink.finish()
                    try written(name, sha, bytes)
                }
            default:
                // Folders, links, devices: skipped (never written).
                guard try stream.skip(padded, using: chunk) else {
                    throw FetchError("\(archive): the archive ends early (at byte \(offset) of the tar data); the download is incomplete: delete it and fetch again")
                }
            }
            offset += padded
        }
    }

    private static func readAll(_ stream: ByteStream, count: Int, archive: String, offset: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        let complete = try bytes.withUnsafeMutableBytes { try stream.readExactly(count, into: $0) }
        guard complete else {
            throw FetchError("\(archive): the archive ends early (at byte \(offset) of the tar data); the download is incomplete: delete it and fetch again")
        }
        return bytes
    }
}
