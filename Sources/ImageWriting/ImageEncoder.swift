import CImageCodecs
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Encoding through libjpeg-turbo and libspng (CImageCodecs, the libraries the image-folder reader
/// decodes with), for `data inspect --grid` (``PNGWriter``) and for tests that build image folders.
public enum ImageEncoder {
    /// `pixels` (height rows of width × channels bytes; channels 1 or 3) as a PNG file's bytes.
    public static func png(_ pixels: [UInt8], width: Int, height: Int, channels: Int) throws(ImageEncodeError) -> [UInt8] {
        precondition(pixels.count == width * height * channels, "\(pixels.count) bytes for \(width)x\(height)x\(channels)")
        return try encode { output, size, error in
            pixels.withUnsafeBufferPointer { mmx_png_encode($0.baseAddress, UInt32(width), UInt32(height), Int32(channels), output, size, error) }
        }
    }

    /// RGB `pixels` as a baseline JPEG file's bytes at `quality` (1...100).
    public static func jpeg(_ pixels: [UInt8], width: Int, height: Int, quality: Int = 90) throws(ImageEncodeError) -> [UInt8] {
        precondition(pixels.count == width * height * 3, "\(pixels.count) bytes for \(width)x\(height) RGB")
        return try encode { output, size, error in
            pixels.withUnsafeBufferPointer { mmx_jpeg_encode($0.baseAddress, UInt32(width), UInt32(height), Int32(quality), output, size, error) }
        }
    }

    private static func encode(_ call: (UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>, UnsafeMutablePointer<Int>,
                                        UnsafeMutablePointer<CChar>) -> Int32) throws(ImageEncodeError) -> [UInt8] {
        var output: UnsafeMutablePointer<UInt8>? = nil
        var size = 0
        var error = [CChar](repeating: 0, count: Int(MMX_ERROR_SIZE))
        let code = error.withUnsafeMutableBufferPointer { call(&output, &size, $0.baseAddress!) }
        defer { free(output) }
        guard code == MMX_OK, let output else {
            throw ImageEncodeError(reason: error.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
        }
        return Array(UnsafeBufferPointer(start: output, count: size))
    }
}

/// Why libspng or libjpeg-turbo could not encode an image: the library's message.
public struct ImageEncodeError: Error, CustomStringConvertible, Equatable {
    public let reason: String
    public var description: String { reason }
}
