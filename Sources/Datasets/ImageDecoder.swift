import CImageCodecs
import Glibc

/// Why an image file could not be used, for the one-line error and for `data.on_bad_image: skip`.
public struct ImageDecodeError: Error, CustomStringConvertible, Equatable {
    public enum Kind: String, Sendable {
        /// The file could not be opened or read, or is not a regular file.
        case unreadable
        /// Neither a JPEG nor a PNG (empty, text, another format).
        case notAnImage
        /// The library refused the data: truncated or damaged.
        case corrupt
        /// Above `data.max_image_pixels` (or the byte limit), refused before decoding.
        case tooLarge
    }
    public let kind: Kind
    /// What is wrong, in a few words.
    public let reason: String
    public var description: String { reason }
    public init(kind: Kind, reason: String) {
        self.kind = kind
        self.reason = reason
    }
}

/// Reads and decodes image files with libjpeg-turbo and libspng (the C target `CImageCodecs`): a
/// file's bytes, its size from the header, and any rectangle of it at a reduced DCT scale. One per
/// thread: it keeps its buffers between images, so decoding allocates nothing once they are large
/// enough.
public final class ImageDecoder {
    /// Largest width × height decoded (`data.max_image_pixels`): checked from the header, before any
    /// pixel buffer is allocated.
    public let maxPixels: Int
    /// The default limit: Pillow's `MAX_IMAGE_PIXELS`.
    public static let defaultMaxPixels = 89_478_485
    /// Largest file read: 4 bytes per allowed pixel plus 1 MiB (no JPEG or PNG of an allowed size is
    /// larger), so a huge file is refused before it is read.
    public let maxFileBytes: Int
    /// The current file's bytes (`fileSize` of them).
    private(set) var file: [UInt8] = []
    private(set) var fileSize = 0
    /// The latest decoded region, RGB rows.
    private(set) var pixels: [UInt8] = []
    private var error = [CChar](repeating: 0, count: Int(MMX_ERROR_SIZE))

    /// A decoder refusing images above `maxPixels` pixels.
    public init(maxPixels: Int) {
        precondition(maxPixels > 0, "pixel limit \(maxPixels)")
        self.maxPixels = maxPixels
        maxFileBytes = maxPixels.multipliedReportingOverflow(by: 4).overflow ? Int.max : maxPixels * 4 + (1 << 20)
    }

    /// The format and full size of an image, from its header.
    public struct Header: Equatable, Sendable {
        public let isJPEG: Bool
        public let width: Int
        public let height: Int
    }

    /// A decoded rectangle: `height` rows of `width` RGB pixels starting at column `x` and row `y` of
    /// the image scaled by 1/`scale`.
    public struct Region {
        public let scale: Int
        public let x: Int
        public let y: Int
        public let width: Int
        public let height: Int
    }

    /// Reads the file at `path` (a regular file, at most ``maxFileBytes``; opened without blocking,
    /// so a FIFO named `x.jpg` is refused instead of hanging).
    public func read(path: UnsafePointer<CChar>) throws(ImageDecodeError) {
        try read(descriptor: open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC))
    }

    /// Reads example `index` of `files` (see ``read(path:)``).
    public func read(_ files: ImageFileList, example index: Int) throws(ImageDecodeError) {
        try read(descriptor: files.withPath(of: index) { open($0, O_RDONLY | O_NONBLOCK | O_CLOEXEC) })
    }

    /// Reads the file open at `descriptor` (−1: opening failed, errno says why), and closes it.
    private func read(descriptor: Int32) throws(ImageDecodeError) {
        guard descriptor >= 0 else { throw ImageDecodeError(kind: .unreadable, reason: "cannot open (\(String(cString: strerror(errno))))") }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            throw ImageDecodeError(kind: .unreadable, reason: "not a regular file")
        }
        let size = Int(info.st_size)
        guard size <= maxFileBytes else {
            throw ImageDecodeError(kind: .tooLarge, reason: "\(size) bytes is more than an image within data.max_image_pixels can take (\(maxFileBytes))")
        }
        if file.count < size + 1 { file = [UInt8](repeating: 0, count: max(size + 1, file.count * 2)) }
        var total = 0
        let failure: Int32? = file.withUnsafeMutableBytes { buffer in
            while total < size {
                let got = Glibc.read(descriptor, buffer.baseAddress! + total, size - total)
                if got < 0 { if errno == EINTR { continue }; return errno }
                if got == 0 { break }
                total += got
            }
            return nil
        }
        if let failure { throw ImageDecodeError(kind: .unreadable, reason: "cannot read (\(String(cString: strerror(failure))))") }
        fileSize = total
    }

    /// Takes `bytes` as the current file (images in memory).
    public func use(bytes: [UInt8]) {
        if file.count < bytes.count + 1 { file = [UInt8](repeating: 0, count: bytes.count + 1) }
        file.replaceSubrange(0..<bytes.count, with: bytes)
        fileSize = bytes.count
    }

    /// The current file's format and size.
    /// - Throws: `.tooLarge` for more than ``maxPixels`` pixels, so that nothing sized by the header is
    ///   allocated for such an image (every decoding path reads the header first).
    public func header() throws(ImageDecodeError) -> Header {
        var info = mmx_image_info()
        let code = file.withUnsafeBufferPointer { mmx_image_info_read($0.baseAddress, fileSize, &info, &error) }
        try check(code)
        guard UInt64(info.width) * UInt64(info.height) <= UInt64(maxPixels) else {
            throw ImageDecodeError(kind: .tooLarge,
                                   reason: "\(info.width)x\(info.height) pixels is above the limit of \(maxPixels) (data.max_image_pixels)")
        }
        return Header(isJPEG: info.format == MMX_FORMAT_JPEG, width: Int(info.width), height: Int(info.height))
    }

    /// Decodes rows `rows` and (at least) columns `columns` of the current file scaled by 1/`scale`
    /// (1, 2, 4 or 8; JPEG only above 1) into ``pixels``. `scaledWidth` is the scaled image's width
    /// (it bounds the columns libjpeg may widen the range to).
    /// The requested columns are exact (the pixels a whole decode gives): libjpeg's fancy upsampling
    /// treats a cropped region's outermost columns as the image's edge, so one more column is decoded
    /// on each side where the image has one.
    public func decode(scale: Int, columns requested: Range<Int>, rows: Range<Int>, scaledWidth: Int) throws(ImageDecodeError) -> Region {
        let columns = max(0, requested.lowerBound - 1)..<min(scaledWidth, requested.upperBound + 1)
        // The buffer is sized here, before libjpeg or libspng sees the file: bound it first.
        let (area, overflow) = rows.count.multipliedReportingOverflow(by: scaledWidth)
        guard !overflow, area <= maxPixels else {
            throw ImageDecodeError(kind: .tooLarge, reason: "\(scaledWidth)x\(rows.count) pixels to decode is above the limit of \(maxPixels) (data.max_image_pixels)")
        }
        let needed = area * 3
        if pixels.count < needed { pixels = [UInt8](repeating: 0, count: max(needed, pixels.count * 2)) }
        var outX: UInt32 = 0, outWidth: UInt32 = 0
        let code = file.withUnsafeBufferPointer { data in
            pixels.withUnsafeMutableBufferPointer { out in
                mmx_image_decode(data.baseAddress, fileSize, UInt64(maxPixels), Int32(scale),
                                 UInt32(columns.lowerBound), UInt32(rows.lowerBound), UInt32(columns.count), UInt32(rows.count),
                                 out.baseAddress, &outX, &outWidth, &error)
            }
        }
        try check(code)
        return Region(scale: scale, x: Int(outX), y: rows.lowerBound, width: Int(outWidth), height: rows.count)
    }

    /// A copy of the latest decoded region's pixels (`region.height` rows of `region.width` RGB pixels).
    public func pixels(of region: Region) -> [UInt8] { Array(pixels.prefix(region.width * region.height * 3)) }

    /// Calls `body` with the decoded pixels.
    func withPixels<Result>(_ body: (UnsafePointer<UInt8>) -> Result) -> Result {
        pixels.withUnsafeBufferPointer { body($0.baseAddress!) }
    }

    /// Decodes the whole file at full scale as RGB (for tools and tests).
    public func decodeWhole(path: UnsafePointer<CChar>) throws(ImageDecodeError) -> (width: Int, height: Int, rgb: [UInt8]) {
        try read(path: path)
        let header = try header()
        let region = try decode(scale: 1, columns: 0..<header.width, rows: 0..<header.height, scaledWidth: header.width)
        return (region.width, region.height, Array(pixels.prefix(region.width * region.height * 3)))
    }

    private func check(_ code: Int32) throws(ImageDecodeError) {
        guard code != MMX_OK else { return }
        let reason = error.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        switch code {
        case MMX_NOT_AN_IMAGE: throw ImageDecodeError(kind: .notAnImage, reason: reason)
        case MMX_TOO_LARGE: throw ImageDecodeError(kind: .tooLarge, reason: reason)
        default: throw ImageDecodeError(kind: .corrupt, reason: reason)
        }
    }
}
