import Foundation
import ImageWriting
import XCTest

final class PNGWriterTests: XCTestCase {
    func testPNGHasTheSignatureAnRGBHeaderAndTheEndChunk() {
        let rgb = (0..<5 * 3 * 3).map { UInt8(truncatingIfNeeded: $0 * 17) }
        let png = PNGWriter.encode(width: 5, height: 3, rgb: rgb)
        XCTAssertEqual(Array(png.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        // IHDR: length 13, width 5, height 3, depth 8, RGB.
        XCTAssertEqual(Array(png[8..<33].prefix(25)),
                       [0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52, 0, 0, 0, 5, 0, 0, 0, 3, 8, 2, 0, 0, 0] + Array(png[29..<33]))
        // The IEND chunk of every PNG, CRC included (PNG specification).
        XCTAssertEqual(Array(png.suffix(12)), [0, 0, 0, 0, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82])
    }

    /// `write` replaces a regular file, and refuses a link planted at the path without touching its target.
    func testWriteReplacesAFileAndRefusesALink() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("png-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("grid.png").path
        try Data("old".utf8).write(to: URL(fileURLWithPath: path))
        try PNGWriter.write(width: 1, height: 1, rgb: [1, 2, 3], to: path)
        XCTAssertEqual(FileManager.default.contents(atPath: path).map { [UInt8]($0) }, PNGWriter.encode(width: 1, height: 1, rgb: [1, 2, 3]))

        let target = folder.appendingPathComponent("target").path
        try Data("keep".utf8).write(to: URL(fileURLWithPath: target))
        let link = folder.appendingPathComponent("link.png").path
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
        XCTAssertThrowsError(try PNGWriter.write(width: 1, height: 1, rgb: [1, 2, 3], to: link)) { error in
            XCTAssertEqual("\(error)", "\(link): exists and is a symbolic link, not a regular file; nothing was written; remove it or choose another path")
        }
        XCTAssertEqual(try String(contentsOfFile: target, encoding: .utf8), "keep")
    }
}
