/// One IDX file (the MNIST format), parsed and checked: a big-endian header, then unsigned bytes.
///
///     byte 0-1  0x00 0x00          magic: two zero bytes
///     byte 2    data type          0x08 = unsigned byte (the only type image datasets use)
///     byte 3    n                  number of dimensions (3 for images, 1 for labels)
///     byte 4+4k dimension k        big-endian UInt32, k = 0..<n
///     then      ∏ dimensions bytes, row-major
///
/// Plain or gzip-compressed files are both read (gzip is recognised by its magic bytes).
struct IDXFile {
    /// The sizes from the header, outermost first (count, rows, columns for images).
    let dimensions: [Int]
    /// The data after the header.
    let payload: [UInt8]

    /// Reads and checks the file at `path`, which must have `expectedRank` dimensions (`role` names
    /// what it should hold, for messages).
    init(path: String, expectedRank: Int, role: String) throws {
        let bytes = try FileBytes.read(path)
        try self.init(bytes: bytes, path: path, expectedRank: expectedRank, role: role)
    }

    /// Checks and parses `bytes`, read from `path`.
    init(bytes: [UInt8], path: String, expectedRank: Int, role: String) throws {
        let fixFormat = "expected an IDX \(role) file (\(expectedRank) dimension\(expectedRank == 1 ? "" : "s")), such as MNIST's *-\(role)-idx\(expectedRank)-ubyte[.gz]"
        guard bytes.count >= 4 else {
            throw DatasetError(.truncated, path: path, problem: "\(bytes.count) bytes is shorter than the 4-byte IDX magic number",
                               fix: DatasetError.refetchAdvice)
        }
        let magic = bytes[0..<4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        guard bytes[0] == 0, bytes[1] == 0 else {
            throw DatasetError(.badHeader, path: path,
                               problem: "magic number \(hex(magic)) at byte 0 is not IDX (IDX starts with bytes 00 00, then type, then rank)",
                               fix: fixFormat)
        }
        guard bytes[2] == 0x08 else {
            throw DatasetError(.badHeader, path: path,
                               problem: "data type \(hex(UInt32(bytes[2]), digits: 2)) at byte 2 (magic \(hex(magic))) is not unsigned byte 0x08",
                               fix: "only 8-bit IDX image and label files are supported; convert the file to unsigned bytes")
        }
        let rank = Int(bytes[3])
        guard rank == expectedRank else {
            throw DatasetError(.badHeader, path: path,
                               problem: "number of dimensions \(rank) at byte 3 (magic \(hex(magic))) should be \(expectedRank) for \(role)",
                               fix: fixFormat)
        }
        let headerSize = 4 + 4 * rank
        guard bytes.count >= headerSize else {
            throw DatasetError(.truncated, path: path,
                               problem: "\(bytes.count) bytes is shorter than the \(headerSize)-byte header of a rank-\(rank) IDX file",
                               fix: DatasetError.refetchAdvice)
        }
        var dimensions = [Int]()
        for k in 0..<rank {
            let offset = 4 + 4 * k
            let size = bytes[offset ..< offset + 4].reduce(0) { $0 << 8 | Int($1) }
            guard size > 0 else {
                throw DatasetError(.badHeader, path: path, problem: "dimension \(k) at byte \(offset) is 0",
                                   fix: "the file holds no data; " + DatasetError.refetchAdvice)
            }
            dimensions.append(size)
        }
        // A hostile header (0x7fffffff rows and columns) must not trap: the product saturates.
        let expectedBytes = dimensions.reduce(1) { product, size in
            let (result, overflow) = product.multipliedReportingOverflow(by: size)
            return overflow ? Int.max : result
        }
        let actualBytes = bytes.count - headerSize
        guard actualBytes == expectedBytes else {
            let shape = dimensions.map(String.init).joined(separator: "x")
            let itemSize = expectedBytes / dimensions[0]
            let detail = actualBytes < expectedBytes
                ? "item \(actualBytes / itemSize) (at byte \(headerSize + actualBytes / itemSize * itemSize)) is incomplete"
                : "\(actualBytes - expectedBytes) bytes left over"
            throw DatasetError(.truncated, path: path,
                               problem: "header promises \(shape) = \(expectedBytes) bytes after the \(headerSize)-byte header, file has \(actualBytes): \(detail)",
                               fix: DatasetError.refetchAdvice)
        }
        self.dimensions = dimensions
        self.payload = Array(bytes[headerSize...])
    }
}

/// `0x` and `digits` upper-case hex digits of `value`.
func hex(_ value: UInt32, digits: Int = 8) -> String {
    let text = String(value, radix: 16, uppercase: true)
    return "0x" + String(repeating: "0", count: max(0, digits - text.count)) + text
}
