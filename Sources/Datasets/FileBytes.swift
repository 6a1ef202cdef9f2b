import CZlib
import Foundation
import SafeFiles

/// Whole-file reads with the checks every reader needs first: the file exists, is not empty, and
/// reads (or, for gzip files, decompresses) completely. Errors are ``DatasetError``s naming the file.
enum FileBytes {
    /// The bytes of the file at `path`, decompressed if it is gzip (magic bytes 1f 8b).
    static func read(_ path: String) throws -> [UInt8] {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
            throw DatasetError(.missing, path: path, problem: "file does not exist", fix: DatasetError.refetchAdvice)
        }
        guard !isFolder.boolValue else {
            throw DatasetError(.unreadable, path: path, problem: "is a folder, not a file", fix: "name the data file itself")
        }
        // A FIFO would block the read, a device never end it.
        if let kind = SafeFile.nonRegularKind(path) {
            throw DatasetError(.unreadable, path: path, problem: "is \(kind), not a regular file", fix: "name the data file itself")
        }
        let raw = try readPlain(path)
        guard !raw.isEmpty else {
            throw DatasetError(.empty, path: path, problem: "file is empty (0 bytes)", fix: DatasetError.refetchAdvice)
        }
        return raw.count >= 2 && raw[0] == 0x1F && raw[1] == 0x8B ? try gunzip(path) : raw
    }

    /// The raw bytes of `path`.
    private static func readPlain(_ path: String) throws -> [UInt8] {
        guard let file = fopen(path, "rb") else {
            throw DatasetError(.unreadable, path: path, problem: "cannot open: \(String(cString: strerror(errno)))",
                               fix: "check the file's permissions")
        }
        defer { fclose(file) }
        fseek(file, 0, SEEK_END)
        let size = ftell(file)
        fseek(file, 0, SEEK_SET)
        guard size >= 0 else {
            throw DatasetError(.unreadable, path: path, problem: "cannot find its size", fix: "check the file")
        }
        var readCount = 0
        let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
            readCount = size == 0 ? 0 : fread(buffer.baseAddress, 1, size, file)
            initialized = readCount
        }
        guard readCount == size else {
            throw DatasetError(.unreadable, path: path, problem: "read \(readCount) of \(size) bytes",
                               fix: "check the disk and the file")
        }
        return bytes
    }

    /// The most a gzip data file may unpack to (CIFAR's largest file is 150 MB): a small file that
    /// unpacks without end is refused before it takes the memory.
    static let maximumDecompressedBytes = 1 << 31

    /// The decompressed contents of the gzip file at `path`.
    private static func gunzip(_ path: String) throws -> [UInt8] {
        guard let file = gzopen(path, "rb") else {
            throw DatasetError(.unreadable, path: path, problem: "cannot open as gzip", fix: "check the file")
        }
        defer { gzclose(file) }
        gzbuffer(file, 1 << 20)
        var output = [UInt8]()
        let chunk = 1 << 22
        while true {
            let start = output.count
            output.append(contentsOf: repeatElement(0, count: chunk))
            let got = output.withUnsafeMutableBufferPointer { buffer in
                gzread(file, buffer.baseAddress! + start, UInt32(chunk))
            }
            var code: Int32 = 0
            let message = String(cString: gzerror(file, &code))
            if got < 0 || (code != Z_OK && code != Z_STREAM_END) {
                let kind: DatasetError.Kind = code == Z_BUF_ERROR ? .truncated : .unreadable
                throw DatasetError(kind, path: path,
                                   problem: "gzip stream is damaged after \(start + max(0, Int(got))) decompressed bytes (zlib: \(message))",
                                   fix: DatasetError.refetchAdvice)
            }
            output.removeLast(chunk - Int(got))
            if got == 0 { break }
            guard output.count <= maximumDecompressedBytes else {
                throw DatasetError(.unreadable, path: path,
                                   problem: "decompresses to more than \(maximumDecompressedBytes) bytes, more than any dataset file",
                                   fix: DatasetError.refetchAdvice)
            }
        }
        return output
    }
}
