import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension HashFunction {
    /// The digest of the file at `url`, read in 1 MiB chunks and fed to the hash as they come, so a
    /// file of any size costs one chunk of memory:
    ///
    ///     try SHA256.hash(file: url).hex          // a checkpoint's or a dataset file's checksum
    ///     try Insecure.MD5.hash(file: url).hex    // a download, against its publisher's MD5
    public static func hash(file url: URL) throws(ChecksumError) -> Digest {
        let descriptor = open(url.path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw ChecksumError(url, "cannot open it to check its checksum", errno) }
        defer { close(descriptor) }
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 64)
        defer { chunk.deallocate() }
        var hash = Self()
        while true {
            let count = read(descriptor, chunk.baseAddress, chunk.count)
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { throw ChecksumError(url, "cannot read it to check its checksum", errno) }
            if count == 0 { return hash.finalize() }
            hash.update(bufferPointer: UnsafeRawBufferPointer(rebasing: chunk[..<count]))
        }
    }
}

/// A file whose checksum could not be computed, as one line: `PATH: PROBLEM (system reason); FIX`.
public struct ChecksumError: Error, CustomStringConvertible, LocalizedError {
    public let path: String
    public let problem: String
    /// The system's reason (`strerror` of the call's `errno`).
    public let reason: String

    init(_ url: URL, _ problem: String, _ code: Int32) {
        path = url.path
        self.problem = problem
        reason = String(cString: strerror(code))
    }

    public var description: String { "\(path): \(problem) (\(reason)); check that it exists and is readable" }
    public var errorDescription: String? { description }
}
