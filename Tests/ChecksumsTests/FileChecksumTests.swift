import Checksums
import Crypto
import Foundation
import XCTest

/// Files hashed as the tool hashes checkpoints and downloads (`hash(file:)`, read in 1 MiB chunks)
/// give the published vectors in `hex`: FIPS 180-4's for SHA-256 (NIST CSRC "SHA256.pdf", and the
/// one-million-'a' vector of FIPS 180-2), RFC 1321's for MD5.
final class FileChecksumTests: XCTestCase {
    private var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("checksums-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: folder)
    }

    /// A file holding `bytes`.
    private func file(_ bytes: [UInt8]) throws -> URL {
        let url = folder.appendingPathComponent(UUID().uuidString)
        try Data(bytes).write(to: url)
        return url
    }

    func testSHA256OfFilesMatchesFIPS180Vectors() throws {
        let vectors: [([UInt8], String)] = [
            ([], "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            (Array("abc".utf8), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
            (Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8),
             "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
            ([UInt8](repeating: 0x61, count: 1_000_000), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"),
        ]
        for (bytes, expected) in vectors {
            XCTAssertEqual(try SHA256.hash(file: file(bytes)).hex, expected, "\(bytes.count) bytes")
        }
    }

    func testMD5OfFilesMatchesRFC1321Vectors() throws {
        let vectors = ["": "d41d8cd98f00b204e9800998ecf8427e", "abc": "900150983cd24fb0d6963f7d28e17f72",
                       "message digest": "f96b697d7cb7938d525a2f31aaf161d0",
                       String(repeating: "1234567890", count: 8): "57edf4a22be3c955ac49da2e2107b67a"]
        for (text, expected) in vectors {
            XCTAssertEqual(try Insecure.MD5.hash(file: file(Array(text.utf8))).hex, expected, text)
        }
    }

    /// A file of several chunks, the last one partial, hashes as its bytes do in one go.
    func testAFileOfSeveralChunksHashesAsItsBytesInOneGo() throws {
        var state: UInt32 = 12345
        let bytes = (0..<(5 << 19) + 17).map { _ -> UInt8 in
            state = state &* 1_103_515_245 &+ 12345
            return UInt8(truncatingIfNeeded: state >> 16)
        }
        let url = try file(bytes)
        XCTAssertEqual(try SHA256.hash(file: url), SHA256.hash(data: bytes))
        XCTAssertEqual(try Insecure.MD5.hash(file: url), Insecure.MD5.hash(data: bytes))
    }

    func testAnUnreadableFileIsOneLineNamingItAndTheFix() {
        let missing = folder.appendingPathComponent("absent.bin")
        XCTAssertThrowsError(try SHA256.hash(file: missing)) { error in
            XCTAssertEqual("\(error)", "\(missing.path): cannot open it to check its checksum (No such file or directory); check that it exists and is readable")
        }
        XCTAssertThrowsError(try SHA256.hash(file: folder)) { error in
            XCTAssertTrue("\(error)".hasPrefix("\(folder.path): cannot read it to check its checksum (Is a directory)"), "\(error)")
        }
    }
}
