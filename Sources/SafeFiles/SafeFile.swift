import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The one way this tool writes a file a user names or that lies in a folder others can write to
/// (`report --out`, `inspect --grid`, the files of a run or a study, downloads, locks): what already
/// lies at the path may not redirect the write. The tool runs as root, so a symbolic link planted at
/// a path, or a device node given as one, would otherwise reach anything on the machine.
///
///     try SafeFile.write(bytes, to: path)                  // replaced atomically: temporary, fsync, rename
///     let fd = try SafeFile.open(path, flags: O_WRONLY | O_CREAT | O_APPEND)   // never through a link
///     try SafeFile.requireReadableFile(path, what: "--from")  // not a FIFO, a device, a folder
///
/// A target that exists and is not a regular file (a link, a device, a FIFO, a folder) is refused
/// with a one-line ``SafeFileError``.
public enum SafeFile {
    /// Writes `bytes` to `path` atomically: a new file beside it (created exclusively, never through a
    /// link), fsynced, renamed over `path`. A failure leaves `path` as it was and no temporary behind.
    public static func write<Bytes: Collection>(_ bytes: Bytes, to path: String) throws where Bytes.Element == UInt8 {
        try requireReplaceable(path)
        let folder = (path as NSString).deletingLastPathComponent
        let temporary = (folder.isEmpty ? "" : folder + "/") + ".\((path as NSString).lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let descriptor: Int32
        do {
            descriptor = try open(temporary, flags: O_WRONLY | O_CREAT | O_EXCL)
        } catch let error as SafeFileError {
            throw SafeFileError(path: path, problem: error.problem, fix: error.fix)
        }
        var done = false
        defer {
            Glibc.close(descriptor)
            if !done { unlink(temporary) }
        }
        let data = Array(bytes)
        var offset = 0
        while offset < data.count {
            let written = data.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress! + offset, data.count - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                throw SafeFileError(path: path, problem: "cannot write (\(String(cString: strerror(errno))))", fix: "check the disk's free space")
            }
            offset += written
        }
        guard fsync(descriptor) == 0 else {
            throw SafeFileError(path: path, problem: "cannot write (\(String(cString: strerror(errno))))", fix: "check the disk's free space")
        }
        guard rename(temporary, path) == 0 else {
            throw SafeFileError(path: path, problem: "cannot replace the file (\(String(cString: strerror(errno))))", fix: "check that the folder is writable")
        }
        done = true
    }

    /// Writes `text` as UTF-8 (see `write(_:to:)`).
    public static func write(_ text: String, to path: String) throws {
        try write(Array(text.utf8), to: path)
    }

    /// Opens `path` with `flags` (`O_NOFOLLOW` and `O_CLOEXEC` added): a symbolic link at the path is
    /// refused, as is anything but a regular file. Returns the descriptor.
    public static func open(_ path: String, flags: Int32, mode: mode_t = 0o644) throws -> Int32 {
        let descriptor = Glibc.open(path, flags | O_NOFOLLOW | O_CLOEXEC, mode)
        guard descriptor >= 0 else {
            if errno == ELOOP { throw refusal(path, "a symbolic link") }
            if errno == EEXIST { throw SafeFileError(path: path, problem: "exists already", fix: "remove it, or write elsewhere") }
            throw SafeFileError(path: path, problem: "cannot open for writing (\(String(cString: strerror(errno))))",
                                fix: "check that the folder exists and is writable")
        }
        var status = stat()
        guard fstat(descriptor, &status) == 0, status.st_mode & S_IFMT == S_IFREG else {
            Glibc.close(descriptor)
            throw refusal(path, kind(status.st_mode))
        }
        return descriptor
    }

    /// Refuses a path that exists and is not a regular file (looked at without following a link).
    public static func requireReplaceable(_ path: String) throws {
        var status = stat()
        guard lstat(path, &status) == 0 else { return }
        guard status.st_mode & S_IFMT == S_IFREG else { throw refusal(path, kind(status.st_mode)) }
    }

    /// Requires `path` (links followed) to be a regular file to read: a FIFO, a device or a folder
    /// would block, never end, or be misread. `what` names where the path came from (`--from`).
    public static func requireReadableFile(_ path: String, what: String) throws {
        var status = stat()
        guard stat(path, &status) == 0 else {
            throw SafeFileError(path: "\(what) \(path)", problem: "cannot read it (\(String(cString: strerror(errno))))",
                                fix: "give an existing file")
        }
        if let kind = nonRegularKind(path) {
            throw SafeFileError(path: "\(what) \(path)", problem: "is \(kind), not a regular file", fix: "give a regular file")
        }
    }

    /// What `path` is (links followed) when it exists and is not a regular file ("a FIFO", "a device",
    /// …); nil for a regular file or nothing.
    public static func nonRegularKind(_ path: String) -> String? {
        var status = stat()
        guard stat(path, &status) == 0, status.st_mode & S_IFMT != S_IFREG else { return nil }
        return kind(status.st_mode)
    }

    /// Reads a text file a user gives (a config, a study, a checkpoint's state.json, a metrics log):
    /// a regular file (links followed) of at most `maximumBytes`, in UTF-8. A FIFO or a device would
    /// block or never end; other bytes are refused naming the offset. `fix` ends each message.
    public static func readText(_ path: String, maximumBytes: Int = 16 << 20, fix: String) throws -> String {
        let descriptor = Glibc.open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard descriptor >= 0 else {
            throw SafeFileError(path: path, problem: "cannot read it (\(String(cString: strerror(errno))))", fix: fix)
        }
        defer { Glibc.close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0, status.st_mode & S_IFMT == S_IFREG else {
            throw SafeFileError(path: path, problem: "is \(kind(status.st_mode)), not a regular file", fix: fix)
        }
        guard Int(status.st_size) <= maximumBytes else {
            throw SafeFileError(path: path, problem: "is \(status.st_size) bytes, more than the \(maximumBytes) such a file may have", fix: fix)
        }
        var bytes = [UInt8](repeating: 0, count: Int(status.st_size))
        var filled = 0
        while filled < bytes.count {
            let got = bytes.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress! + filled, $0.count - filled) }
            if got < 0 && errno == EINTR { continue }
            guard got > 0 else { break }
            filled += got
        }
        bytes.removeLast(bytes.count - filled)
        var parser = Unicode.UTF8.ForwardParser()
        var iterator = bytes.makeIterator()
        var offset = 0
        while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let encoded): offset += encoded.count
            case .emptyInput: return String(decoding: bytes, as: UTF8.self)
            case .error:
                throw SafeFileError(path: path, problem: "is not UTF-8 text (an invalid byte at offset \(offset))", fix: fix)
            }
        }
    }

    /// Whether `path` is a regular file, looked at without following a link.
    public static func isRegularFile(_ path: String) -> Bool {
        var status = stat()
        return lstat(path, &status) == 0 && status.st_mode & S_IFMT == S_IFREG
    }

    /// "a symbolic link", "a device", … for a file mode.
    static func kind(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFLNK: return "a symbolic link"
        case S_IFDIR: return "a folder"
        case S_IFCHR, S_IFBLK: return "a device"
        case S_IFIFO: return "a FIFO"
        case S_IFSOCK: return "a socket"
        default: return "not a regular file"
        }
    }

    static func refusal(_ path: String, _ kind: String) -> SafeFileError {
        SafeFileError(path: path, problem: "exists and is \(kind), not a regular file; nothing was written",
                      fix: "remove it or choose another path")
    }
}

/// A write or read that `SafeFile` refused, as one line: `PATH: PROBLEM; FIX`.
public struct SafeFileError: Error, CustomStringConvertible, LocalizedError, Equatable {
    public let path: String
    public let problem: String
    public let fix: String
    /// Whether what lies at `path` was refused (a link, a device, …), rather than the system failing.
    public var isRefusal: Bool { problem.hasPrefix("exists and is") }

    public init(path: String, problem: String, fix: String) {
        self.path = path
        self.problem = problem
        self.fix = fix
    }

    public var description: String { "\(path): \(problem); \(fix)" }
    public var errorDescription: String? { description }
}
