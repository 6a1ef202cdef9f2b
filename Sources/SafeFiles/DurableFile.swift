import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// The C calls under names that the methods below do not shadow.
private func posixClose(_ descriptor: Int32) -> Int32 { close(descriptor) }
private func posixWrite(_ descriptor: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int { write(descriptor, bytes, count) }
private func posixRename(_ source: String, _ destination: String) -> Int32 { rename(source, destination) }

/// A file written with POSIX calls so it can be fsynced before it is renamed into place, hashing
/// (SHA-256) every byte as it goes.
///
///     let file = try DurableFile(creating: url)
///     try file.write(bytes)
///     let (digest, size) = try file.close()   // fsync, then close
public final class DurableFile {
    public let url: URL
    private var descriptor: Int32
    private var hash = SHA256()
    public private(set) var size = 0

    /// Creates (or truncates) `url` for writing.
    public init(creating url: URL) throws {
        self.url = url
        // Never through a link or into a device planted at the path (SafeFile).
        do {
            descriptor = try SafeFile.open(url.path, flags: O_WRONLY | O_CREAT | O_TRUNC)
        } catch let refusal as SafeFileError {
            throw SafeFileError(path: url.path, problem: refusal.problem, fix: refusal.fix)
        }
    }

    deinit {
        if descriptor >= 0 { _ = posixClose(descriptor) }
    }

    /// Appends `bytes`, retrying short writes.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        hash.update(bufferPointer: bytes)
        var offset = 0
        while offset < bytes.count {
            let written = posixWrite(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                throw DurableFile.error(url, "write failed")
            }
            offset += written
        }
        size += bytes.count
    }

    /// Appends `bytes`.
    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    /// Flushes the file to stable storage and closes it; returns the SHA-256 and size of what was written.
    public func close() throws -> (digest: SHA256.Digest, size: Int) {
        defer {
            _ = posixClose(descriptor)
            descriptor = -1
        }
        guard fsync(descriptor) == 0 else { throw DurableFile.error(url, "fsync failed") }
        return (hash.finalize(), size)
    }

    /// Writes `bytes` to `url` and fsyncs it.
    @discardableResult
    public static func write(_ bytes: [UInt8], to url: URL) throws -> (digest: SHA256.Digest, size: Int) {
        let file = try DurableFile(creating: url)
        try file.write(bytes)
        return try file.close()
    }

    /// Replaces `folder/name` with `bytes` durably: `name.tmp` written and fsynced, renamed over
    /// `name`, the folder fsynced. A reader sees the old file or the new one, never a part.
    public static func replace(_ name: String, in folder: URL, with bytes: [UInt8]) throws {
        let temporary = folder.appendingPathComponent(name + ".tmp")
        try write(bytes, to: temporary)
        try rename(temporary, to: folder.appendingPathComponent(name))
        try syncFolder(folder)
    }

    /// Fsyncs a folder, so that renames and new entries in it survive a crash.
    public static func syncFolder(_ url: URL) throws {
        let descriptor = open(url.path, O_RDONLY)
        guard descriptor >= 0 else { throw error(url, "cannot open the folder to fsync it") }
        defer { _ = posixClose(descriptor) }
        guard fsync(descriptor) == 0 else { throw error(url, "fsync of the folder failed") }
    }

    /// Renames `source` to `destination` atomically (replacing a file there, not a non-empty folder).
    public static func rename(_ source: URL, to destination: URL) throws {
        guard posixRename(source.path, destination.path) == 0 else {
            throw error(source, "cannot rename to \(destination.lastPathComponent)")
        }
    }

    private static func error(_ url: URL, _ what: String) -> SafeFileError {
        SafeFileError(path: url.path, problem: "\(what) (\(String(cString: strerror(errno))))",
                        fix: "check that the disk has space and the run folder is writable")
    }
}
