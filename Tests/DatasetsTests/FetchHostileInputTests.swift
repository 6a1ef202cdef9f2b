import Foundation
import TestSupport
import XCTest

/// `multimix data fetch` and `data inspect` against inputs an attacker would try (the tool runs as
/// root): hand-made tar headers, devices and FIFOs as sources, links planted in the download folder,
/// archives that unpack to more than the dataset can be, another dataset's files. Each is one line
/// `multimix: error: …`, exit 1, fast, with nothing written through a link and nothing installed.
final class FetchHostileInputTests: XCTestCase {
    var folder: String!

    override func setUpWithError() throws {
        folder = try DatasetFixtures.temporaryFolder()
    }

    override func tearDownWithError() throws {
        if let folder { try? FileManager.default.removeItem(atPath: folder) }
    }

    func assertRefused(_ arguments: [String], _ text: String, file: StaticString = #filePath, line: UInt = #line) throws {
        try ToolRefusal.assert(arguments, text, file: file, line: line)
    }

    /// A 512-byte tar header with `size` written as given (any text: a sign, too many digits).
    func header(name: String, type: Character, size: String) -> [UInt8] {
        var block = [UInt8](repeating: 0, count: 512)
        func put(_ text: String, at offset: Int) { for (i, byte) in text.utf8.enumerated() { block[offset + i] = byte } }
        put(name, at: 0)
        put("0000644", at: 100)
        put(size, at: 124)
        block[156] = UInt8(ascii: type.unicodeScalars.first!)
        put("ustar  ", at: 257)
        put("        ", at: 148)
        let sum = block.reduce(0) { $0 + Int($1) }
        put(String(format: "%06o", sum) + "\0 ", at: 148)
        return block
    }

    /// `blocks` followed by the end marker, gzipped (gzip -n), as a file in the test folder.
    func gzippedTar(_ name: String, _ blocks: [UInt8]) throws -> String {
        let tar = folder + "/" + name + ".tar"
        try Data(blocks + [UInt8](repeating: 0, count: 1024)).write(to: URL(fileURLWithPath: tar))
        let result = try MPIRun.launch(["gzip", "-n", "-f", tar], timeout: 30)
        XCTAssertEqual(result.status, 0, result.output)
        return tar + ".gz"
    }

    /// Tar headers whose sizes are negative or far beyond any file of the dataset (GNU long name, pax,
    /// folder, member) are refused before anything is allocated or written: no trap, no abort.
    func testTarHeadersWithNegativeOrHugeSizesAreRefused() throws {
        let cases: [(String, [UInt8], String)] = [
            ("negative-longname", header(name: "././@LongLink", type: "L", size: "-0000001750"), "the size field is not a number"),
            ("huge-longname", header(name: "././@LongLink", type: "L", size: "777777777777"), "declares 68719476735 bytes for a long-name or pax header"),
            ("huge-pax", header(name: "pax", type: "x", size: "100000000000"), "declares 8589934592 bytes for a long-name or pax header"),
            ("huge-folder", header(name: "cifar-10-batches-bin/", type: "5", size: "100000000000"), "declares 8589934592 bytes for cifar-10-batches-bin/"),
            ("huge-member", header(name: "cifar-10-batches-bin/data_batch_1.bin", type: "0", size: "10000000000"),
             "declares 1073741824 bytes for cifar-10-batches-bin/data_batch_1.bin"),
        ]
        for (name, blocks, expected) in cases {
            let archive = try gzippedTar(name, blocks)
            let into = folder + "/into-" + name
            try assertRefused(["data", "fetch", "cifar10", "--from", archive, "--into", into], expected)
            XCTAssertFalse(FileManager.default.fileExists(atPath: into + "/cifar-10-batches-bin"), name)
        }
    }

    /// A device or a FIFO as --from (or as a file of a mirror folder) is refused at once, not read forever.
    func testDevicesAndFIFOsAsSourcesAreRefusedAtOnce() throws {
        try assertRefused(["data", "fetch", "cifar10", "--from", "/dev/zero", "--into", folder + "/a"],
                          "--from /dev/zero: is a device, not a regular file")
        let fifo = folder + "/fifo.tar.gz"
        XCTAssertEqual(mkfifo(fifo, 0o644), 0)
        try assertRefused(["data", "fetch", "cifar10", "--from", fifo, "--into", folder + "/b"], "is a FIFO, not a regular file")
        let mirror = folder + "/mirror"
        try FileManager.default.createDirectory(atPath: mirror, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: mirror + "/train-images-idx3-ubyte.gz", withDestinationPath: "/dev/zero")
        try assertRefused(["data", "fetch", "mnist", "--from", mirror, "--into", folder + "/c"], "is a device, not a regular file")
    }

    /// A link planted at DIR/.downloads/NAME (to /dev/zero) or at NAME.part (to a file) is never followed.
    func testLinksPlantedInTheDownloadFolderAreNotFollowed() throws {
        let downloads = folder + "/into/.downloads"
        try FileManager.default.createDirectory(atPath: downloads, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: downloads + "/cifar-10-binary.tar.gz", withDestinationPath: "/dev/zero")
        try assertRefused(["data", "fetch", "cifar10", "--into", folder + "/into"], "is not a download an earlier fetch kept")

        let victim = folder + "/victim"
        try Data("precious\n".utf8).write(to: URL(fileURLWithPath: victim))
        try FileManager.default.removeItem(atPath: downloads + "/cifar-10-binary.tar.gz")
        try FileManager.default.createSymbolicLink(atPath: downloads + "/cifar-10-binary.tar.gz.part", withDestinationPath: victim)
        try assertRefused(["data", "fetch", "cifar10", "--from", "http://127.0.0.1:9/cifar-10-binary.tar.gz", "--into", folder + "/into"],
                          "cifar-10-binary.tar.gz.part: exists and is a symbolic link")
        XCTAssertEqual(try String(contentsOfFile: victim, encoding: .utf8), "precious\n", "the link's target was written")
    }

    /// A small .gz in a mirror folder that unpacks to more than the official file is cut off at its
    /// size, and nothing is installed.
    func testACompressedFileThatUnpacksTooFarIsCutOff() throws {
        let mirror = folder + "/bomb"
        try FileManager.default.createDirectory(atPath: mirror, withIntermediateDirectories: true)
        let made = try MPIRun.launch(["bash", "-c", "head -c 60000000 /dev/zero | gzip -n > '\(mirror)/train-images-idx3-ubyte.gz'"], timeout: 60)
        XCTAssertEqual(made.status, 0, made.output)
        try assertRefused(["data", "fetch", "mnist", "--from", mirror, "--into", folder + "/d"],
                          "unpacks to more than 47040016 bytes, the size of the official file")
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder + "/d/mnist"))
    }

    /// Fashion-MNIST's files offered as MNIST are recognised by the SHA-256s the project ships for them.
    func testAnotherDatasetsFilesAreRecognised() throws {
        let fashion = "/usr/share/datasets/fashion-mnist"
        guard FileManager.default.fileExists(atPath: fashion + "/train-labels-idx1-ubyte.gz") else {
            throw XCTSkip("Debian's dataset-fashion-mnist is not installed (launch/setup.sh installs it)")
        }
        try assertRefused(["data", "fetch", "mnist", "--from", fashion, "--into", folder + "/e"],
                          "is fashion-mnist's train-images-idx3-ubyte (its SHA-256 is the one the project ships for fashion-mnist), not mnist's")
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder + "/e/mnist"))
    }
}
