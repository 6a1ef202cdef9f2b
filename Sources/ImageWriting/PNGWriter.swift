import Foundation
import SafeFiles

/// Writes 8-bit RGB images as PNG through libspng (``ImageEncoder/png(_:width:height:channels:)``),
/// the library the image-folder reader decodes PNGs with.
public enum PNGWriter {
    /// PNG bytes of a `width`×`height` RGB image (`rgb`: rows of width·3 bytes, top row first).
    public static func encode(width: Int, height: Int, rgb: [UInt8]) -> [UInt8] {
        precondition(width > 0 && height > 0 && rgb.count == width * height * 3, "RGB image \(width)x\(height), \(rgb.count) bytes")
        do {
            return try ImageEncoder.png(rgb, width: width, height: height, channels: 3)
        } catch {
            preconditionFailure("libspng could not encode a \(width)x\(height) image: \(error)")
        }
    }

    /// Writes the PNG of the image to `path`, replacing a regular file there (atomically; a link, a
    /// device or a folder at `path` is refused: `SafeFile`).
    public static func write(width: Int, height: Int, rgb: [UInt8], to path: String) throws {
        let bytes = encode(width: width, height: height, rgb: rgb)
        try SafeFile.write(bytes, to: path)
    }
}
