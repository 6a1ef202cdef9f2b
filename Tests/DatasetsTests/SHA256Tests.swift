import Datasets
import Foundation
import SafeFiles
import XCTest

/// FIPS 180-4 example vectors (NIST CSRC "SHA256.pdf", and the one-million-'a' vector of FIPS 180-2).
final class SHA256Tests: XCTestCase {
    func testEmptyMessage() {
        XCTAssertEqual(SHA256.hash([UInt8]()).hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    func testABC() {
        XCTAssertEqual(SHA256.hash(Array("abc".utf8)).hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    func test448BitMessage() {
        let message = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
        XCTAssertEqual(SHA256.hash(Array(message.utf8)).hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }

    func testMillionAs() {
        XCTAssertEqual(SHA256.hash([UInt8](repeating: 0x61, count: 1_000_000)).hex,
                       "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    /// Feeding the same bytes in uneven pieces (crossing block boundaries) gives the same digest.
    func testStreamingInPiecesMatchesOneShot() {
        let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        var hash = SHA256()
        var start = 0
        for size in [1, 63, 64, 65, 7, 200, 128] where start < bytes.count {
            let end = min(start + size, bytes.count)
            hash.update(bytes[start..<end])
            start = end
        }
        hash.update(bytes[start...])
        XCTAssertEqual(hash.finalize(), SHA256.hash(bytes))
    }

    func testFileHashMatchesBytes() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("sha-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: url) }
        let bytes = [UInt8](repeating: 0x61, count: 1_000_000)
        try Data(bytes).write(to: url)
        XCTAssertEqual(try SHA256.hash(file: url).hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }
}
