import Checksums
import Crypto
import DataFetch
import Datasets
import Foundation
import SafeFiles
import TestSupport
import XCTest

/// `multimix data fetch`, run as the built tool against a local HTTP server (Tests/DatasetsTests/
/// fetch_server.py) serving archives built in the official layout from the local mirror
/// (`../shared/data`, or `$MULTIMIX_SHARED_DATA`): resuming, checksums, 404s, stalls, mirror folders.
/// No test needs the internet; without the mirror they skip.
final class DataFetchTests: XCTestCase {
    static let archives = (NSTemporaryDirectory() as NSString).appendingPathComponent("multimix-fetch-archives-\(getpid())")
    static let script = Repository.root.appendingPathComponent("Tests/DatasetsTests/fetch_server.py").path
    var server: Process?
    var port = 0
    var log = ""

    override class func tearDown() {
        try? FileManager.default.removeItem(atPath: archives)
        super.tearDown()
    }

    override func tearDown() {
        if let server, server.isRunning {
            kill(server.processIdentifier, SIGKILL)
            server.waitUntilExit()
        }
        super.tearDown()
    }

    /// The local mirror of the real data, or a skip.
    func sharedData() throws -> String {
        let environment = ProcessInfo.processInfo.environment["MULTIMIX_SHARED_DATA"] ?? ""
        let folder = environment.isEmpty ? Repository.root.appendingPathComponent("../shared/data").standardized.path : environment
        guard FileManager.default.fileExists(atPath: folder + "/cifar-100-binary/test.bin.xz") else {
            throw XCTSkip("no local data mirror at \(folder) (set MULTIMIX_SHARED_DATA); CI has one")
        }
        return folder
    }

    /// Builds an archive in the server's folder once per test process.
    func archive(_ kind: String, _ name: String, corrupt: Bool = false) throws -> String {
        let shared = try sharedData()
        let path = (Self.archives as NSString).appendingPathComponent(name)
        if FileManager.default.fileExists(atPath: path) { return path }
        try FileManager.default.createDirectory(atPath: Self.archives, withIntermediateDirectories: true)
        let folder = kind == "make-cifar10" ? "cifar-10-batches-bin" : "cifar-100-binary"
        let result = try MPIRun.launch(["python3", Self.script, kind, shared + "/" + folder, path] + (corrupt ? ["--corrupt"] : []), timeout: 120)
        XCTAssertEqual(result.status, 0, result.output)
        return path
    }

    /// Starts the server on a free port.
    func startServer() throws {
        let folder = try DatasetFixtures.temporaryFolder()
        let portFile = folder + "/port"
        log = folder + "/requests.log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", Self.script, "serve", Self.archives, portFile, log]
        process.standardInput = FileHandle.nullDevice
        try process.run()
        server = process
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline {
            if let text = try? String(contentsOfFile: portFile, encoding: .utf8), let value = Int(text) {
                port = value
                return
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        XCTFail("the test server did not start within 15 s")
        throw XCTSkip("no server")
    }

    func url(_ mode: String, _ name: String) -> String { "http://127.0.0.1:\(port)/\(mode)/\(name)" }
    var requests: [String] { ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init) }

    func multimix(_ arguments: [String], timeout: Double = 60) throws -> MPIRun.Result {
        let tool = MPIRun.executable("multimix")
        guard FileManager.default.isExecutableFile(atPath: tool) else {
            throw XCTSkip("\(tool) not built (swift build builds it; or set MULTIMIX_BIN_DIR)")
        }
        return try MPIRun.launch([tool] + arguments, timeout: timeout, environment: ["MULTIMIX_PROGRESS": "lines"])
    }

    /// The last line of the output, which must be the one error line.
    func errorLine(_ result: MPIRun.Result, file: StaticString = #filePath, line: UInt = #line) -> String {
        let last = result.output.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "\n").last.map(String.init) ?? ""
        XCTAssertEqual(result.status, 1, result.output, file: file, line: line)
        XCTAssertTrue(last.hasPrefix("multimix: error: "), result.output, file: file, line: line)
        return last
    }

    /// Nothing half-written: no staging folder, and no dataset folder unless `dataset` is given.
    func assertNoLeftovers(_ into: String, file: StaticString = #filePath, line: UInt = #line) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: into)) ?? []
        XCTAssertFalse(names.contains { $0.hasPrefix(".fetch-") && !$0.hasSuffix(".lock") }, "\(names)", file: file, line: line)
    }

    func testFullCIFAR10FetchFromALocalMirrorResumesAfterADroppedConnection() throws {
        let archivePath = try archive("make-cifar10", "cifar-10-binary.tar.gz")
        let archiveSize = ((try FileManager.default.attributesOfItem(atPath: archivePath))[.size] as! NSNumber).intValue
        try startServer()
        let into = try DatasetFixtures.temporaryFolder()
        let result = try multimix(["data", "fetch", "cifar10", "--into", into, "--from", url("drop", "cifar-10-binary.tar.gz")])
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.output.contains("connection lost"), result.output)
        // The server sent half the archive on the first connection; the second request asks for the rest.
        let resumedAt = result.output.components(separatedBy: "continuing at byte ").dropFirst().first?.prefix { $0.isNumber } ?? ""
        XCTAssertEqual(String(resumedAt), "\(archiveSize / 2)", result.output)
        XCTAssertEqual(requests, ["/drop/cifar-10-binary.tar.gz -", "/drop/cifar-10-binary.tar.gz bytes=\(resumedAt)-"])
        XCTAssertTrue(result.output.contains("not the official file byte for byte"), result.output)
        XCTAssertTrue(result.output.contains("checked  7 files against the SHA-256s the project ships"), result.output)
        XCTAssertTrue(result.output.contains("train 50000, test 10000 images, 10 classes"), result.output)
        XCTAssertTrue(result.output.contains("data.root: \(into)/cifar-10-batches-bin"), result.output)
        let test = try DatasetSource(.cifar10, root: into + "/cifar-10-batches-bin").load(.test)
        XCTAssertEqual(test.labels.prefix(10).map(Int.init), [3, 8, 8, 0, 6, 6, 1, 6, 3, 1])
        XCTAssertFalse(FileManager.default.fileExists(atPath: into + "/.downloads"), "the download is deleted once installed")
        assertNoLeftovers(into)

        // Once per folder: a second fetch finds it in place and downloads nothing.
        let again = try multimix(["data", "fetch", "cifar10", "--into", into, "--from", url("drop", "cifar-10-binary.tar.gz")])
        XCTAssertEqual(again.status, 0, again.output)
        XCTAssertTrue(again.output.contains("present  cifar10 is already in"), again.output)
        XCTAssertEqual(requests.count, 2)
    }

    func testAnInterruptedDownloadContinuesOnTheNextRun() throws {
        _ = try archive("make-cifar100-test", "cifar-100-binary.tar.gz")
        try startServer()
        let into = try DatasetFixtures.temporaryFolder()
        let arguments = ["data", "fetch", "cifar100", "--split", "test", "--into", into, "--retries", "0",
                         "--from", url("drop", "cifar-100-binary.tar.gz")]
        let first = try multimix(arguments)
        let line = errorLine(first)
        XCTAssertTrue(line.contains(url("drop", "cifar-100-binary.tar.gz") + ": connection lost"), line)
        XCTAssertTrue(line.contains("run the same command again to continue"), line)
        let part = into + "/.downloads/cifar-100-binary.tar.gz.part"
        let kept = ((try FileManager.default.attributesOfItem(atPath: part))[.size] as! NSNumber).intValue
        XCTAssertGreaterThan(kept, 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: into + "/cifar-100-binary"))

        let second = try multimix(arguments)
        XCTAssertEqual(second.status, 0, second.output)
        XCTAssertTrue(second.output.contains("continuing at byte \(kept)"), second.output)
        XCTAssertEqual(requests.last, "/drop/cifar-100-binary.tar.gz bytes=\(kept)-")
        XCTAssertTrue(second.output.contains("test 10000 images, 100 classes"), second.output)
        XCTAssertTrue(second.output.contains("note     coarse_label_names.txt"), "files without a shipped hash are named: \(second.output)")
        assertNoLeftovers(into)
    }

    func testAServerThatIgnoresRangeStartsOver() throws {
        _ = try archive("make-cifar100-test", "cifar-100-binary.tar.gz")
        try startServer()
        let into = try DatasetFixtures.temporaryFolder()
        try FileManager.default.createDirectory(atPath: into + "/.downloads", withIntermediateDirectories: true)
        try Data(repeating: 0xAB, count: 5000).write(to: URL(fileURLWithPath: into + "/.downloads/cifar-100-binary.tar.gz.part"))
        let result = try multimix(["data", "fetch", "cifar100", "--split", "test", "--into", into, "--from", url("norange", "cifar-100-binary.tar.gz")])
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.output.contains("the server ignores resume requests"), result.output)
        XCTAssertEqual(requests, ["/norange/cifar-100-binary.tar.gz bytes=5000-"])
    }

    func testACorruptedArchiveNamesTheFileAndTheExpectedHash() throws {
        _ = try archive("make-cifar100-test", "cifar-100-binary-corrupt.tar.gz", corrupt: true)
        try startServer()
        let into = try DatasetFixtures.temporaryFolder()
        let result = try multimix(["data", "fetch", "cifar100", "--split", "test", "--into", into, "--from", url("files", "cifar-100-binary-corrupt.tar.gz")])
        let line = errorLine(result)
        XCTAssertTrue(line.contains("cifar-100-binary/test.bin: SHA-256 "), line)
        XCTAssertTrue(line.contains("is not the expected d8b1e6b7b3bee4020055f0699b111f60b1af1e262aeb93a0b659061746f8224a"), line)
        XCTAssertFalse(FileManager.default.fileExists(atPath: into + "/cifar-100-binary"), "nothing installed")
        XCTAssertFalse(FileManager.default.fileExists(atPath: into + "/.downloads/cifar-100-binary-corrupt.tar.gz"), "the bad download is deleted")
        assertNoLeftovers(into)
    }

    func testA404IsOneLineNamingTheURL() throws {
        try startServer()
        let into = try DatasetFixtures.temporaryFolder()
        let missing = url("files", "cifar-10-binary-missing.tar.gz")
        let result = try multimix(["data", "fetch", "cifar10", "--into", into, "--from", missing])
        XCTAssertEqual(errorLine(result), "multimix: error: \(missing): HTTP 404 Not Found; check the URL, or download the file elsewhere and give it with --from")
        XCTAssertFalse(FileManager.default.fileExists(atPath: into + "/.downloads/cifar-10-binary-missing.tar.gz.part"))
    }

    func testAStalledServerTimesOutWithAClearMessage() throws {
        _ = try archive("make-cifar100-test", "cifar-100-binary.tar.gz")
        try startServer()
        let into = try DatasetFixtures.temporaryFolder()
        let stalled = url("stall", "cifar-100-binary.tar.gz")
        let result = try multimix(["data", "fetch", "cifar100", "--into", into, "--from", stalled, "--stall-timeout", "1", "--retries", "0"], timeout: 30)
        let line = errorLine(result)
        XCTAssertTrue(line.hasPrefix("multimix: error: \(stalled): no data for 1 s (stalled; --stall-timeout sets the limit) at byte 1000 of "), line)
        XCTAssertLessThan(result.seconds, 10)
    }

    func testMirrorFoldersAsLaunchSetupUsesThem() throws {
        let shared = try sharedData()
        let into = try DatasetFixtures.temporaryFolder()
        // ../shared/data holds CIFAR-100's test split alone, xz-compressed file by file.
        let result = try multimix(["data", "fetch", "cifar100", "--split", "test", "--into", into, "--from", shared])
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.output.contains("checked  1 file against the SHA-256s the project ships"), result.output)
        let incomplete = try multimix(["data", "fetch", "cifar100", "--into", into, "--from", shared, "--force"])
        XCTAssertTrue(errorLine(incomplete).contains("has no train.bin (nor .gz or .xz)"), incomplete.output)
        XCTAssertTrue(FileManager.default.fileExists(atPath: into + "/cifar-100-binary/test.bin"), "a failed fetch leaves the installed copy alone")
        let debian = "/usr/share/datasets/fashion-mnist"
        if FileManager.default.fileExists(atPath: debian + "/train-images-idx3-ubyte.gz") {
            let fashion = try multimix(["data", "fetch", "fashion-mnist", "--into", into, "--from", debian])
            XCTAssertEqual(fashion.status, 0, fashion.output)
            XCTAssertTrue(fashion.output.contains("checked  4 files against the SHA-256s the project ships"), fashion.output)
            XCTAssertTrue(fashion.output.contains("train 60000, test 10000 images, 10 classes"), fashion.output)
        }
        assertNoLeftovers(into)
    }

    /// A server whose body never ends is cut off past the most the dataset's download can be (it
    /// filled the disk); the partial download is removed, nothing is installed.
    func testAnEndlessBodyIsCutOff() throws {
        try startServer()
        let into = try DatasetFixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: into) }
        let result = try multimix(["data", "fetch", "cifar100", "--split", "test", "--into", into, "--retries", "0",
                                   "--from", url("endless", "cifar-100-binary.tar.gz")], timeout: 120)
        XCTAssertFalse(result.timedOut, result.output)
        XCTAssertTrue(errorLine(result).contains("the server sends more than"), result.output)
        XCTAssertTrue(result.output.contains("(the partial download was removed)"), result.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: into + "/.downloads/cifar-100-binary.tar.gz.part"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: into + "/cifar-100-binary"))
    }

    func testBadRequestsAreOneLine() throws {
        let unknown = try multimix(["data", "fetch", "imagenet"])
        XCTAssertEqual(unknown.status, 2)
        XCTAssertTrue(unknown.output.hasPrefix("multimix: error: unknown dataset 'imagenet'; choose fashion-mnist, mnist, cifar10 or cifar100, or an image archive: tinyimagenet, lsun-crop, lsun-resize, isun, tinyimagenet-crop, tinyimagenet-resize."), unknown.output)
        let gz = try multimix(["data", "fetch", "mnist", "--from", "http://127.0.0.1:9/train-images-idx3-ubyte.gz"])
        XCTAssertTrue(errorLine(gz).contains("mnist is 4 files; give the URL of the folder that holds"), gz.output)
        let nothing = try multimix(["data", "fetch", "cifar10", "--from", "/nonexistent/cifar.tar.gz"])
        XCTAssertEqual(errorLine(nothing), "multimix: error: --from /nonexistent/cifar.tar.gz: no such file or folder; give a URL, the dataset's archive or a folder holding its files")
    }

    func testAMissingDatasetNamesTheFetchCommand() throws {
        let config = Repository.root.appendingPathComponent("configs/cifar10-preactresnet18-erm.yaml").path
        let result = try multimix(["train", "--config", config, "--set", "data.root=/nonexistent/data/cifar-10-batches-bin", "--max-steps", "1"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.output.contains("data.root: /nonexistent/data/cifar-10-batches-bin does not exist; run `multimix data fetch cifar10 --into /nonexistent/data`"), result.output)
        XCTAssertEqual(DatasetName.cifar10.fetchAdvice(root: ".cache/data/cifar-10-batches-bin"),
                       "run `multimix data fetch cifar10` (from the folder you train in), or point data.root at the dataset's folder")
    }

    // MARK: - OOD image archives

    /// A small archive in the layout of ODIN's LSUN.tar.gz, in the server's folder.
    func oodArchive(_ kind: String, _ name: String) throws -> String {
        let path = (Self.archives as NSString).appendingPathComponent(name)
        try FileManager.default.createDirectory(atPath: Self.archives, withIntermediateDirectories: true)
        if !FileManager.default.fileExists(atPath: path) {
            let result = try MPIRun.launch(["python3", Self.script, kind, path], timeout: 60)
            XCTAssertEqual(result.status, 0, result.output)
        }
        return path
    }

    /// lsun-crop from a local HTTP server: the SHA-256 of the download printed and recorded beside
    /// the images; the images unpacked, nested as in the archive, and nothing else (no text file, no
    /// symbolic or hard link); a second fetch finds it in place.
    func testAnOODArchiveIsUnpackedWithItsSHA256Recorded() throws {
        let archive = try oodArchive("make-ood", "LSUN.tar.gz")
        try startServer()
        let into = try DatasetFixtures.temporaryFolder()
        let result = try multimix(["data", "fetch", "lsun-crop", "--into", into, "--from", "http://127.0.0.1:\(port)/files/"])
        XCTAssertEqual(result.status, 0, result.output)
        let sha = try SHA256.hash(file: URL(fileURLWithPath: archive)).hex
        XCTAssertTrue(result.output.contains("sha256   \(sha)  LSUN.tar.gz"), result.output)
        XCTAssertTrue(result.output.contains("no checksum is published for lsun-crop"), result.output)
        let folder = into + "/lsun-crop"
        XCTAssertEqual(try String(contentsOfFile: folder + "/fetched-archive.sha256", encoding: .utf8), "\(sha)  LSUN.tar.gz\n")
        let images = try ImageFolderListing.unlabelledImages(in: folder)
        XCTAssertEqual((0..<images.count).map { images.displayPath(of: $0) },
                       ["0", "1", "2", "3", "4", "sub/5"].map { folder + "/LSUN/test/\($0).png" })
        for unwanted in ["LSUN/readme.txt", "LSUN/test/link.png", "LSUN/test/hard.png"] {
            var info = stat()
            XCTAssertNotEqual(lstat(folder + "/" + unwanted, &info), 0, "\(unwanted) was unpacked")
        }
        XCTAssertTrue(result.output.contains("eval.ood: {name: lsun-crop, dataset: image-folder, root: \(folder)}"), result.output)
        assertNoLeftovers(into)
        XCTAssertFalse(FileManager.default.fileExists(atPath: into + "/.downloads"), "the download is removed")
        let again = try multimix(["data", "fetch", "lsun-crop", "--into", into, "--from", url("files", "LSUN.tar.gz")])
        XCTAssertEqual(again.status, 0, again.output)
        XCTAssertTrue(again.output.contains("present  lsun-crop is already in \(folder) (6 images)"), again.output)
    }

    /// tinyimagenet from a local HTTP server (a small zip64 archive in cs231n's layout): train/ as it
    /// is, val/images sorted into val/CLASS by val_annotations.txt, test/ and the box files left out,
    /// the SHA-256 recorded; a damaged zip is one line and installs nothing.
    func testTinyImageNetUnpacksToAnImageFolder() throws {
        let archive = try oodArchive("make-tinyimagenet", "tiny-imagenet-200.zip")
        try startServer()
        let into = try DatasetFixtures.temporaryFolder()
        let result = try multimix(["data", "fetch", "tinyimagenet", "--into", into, "--from", "http://127.0.0.1:\(port)/files/"], timeout: 120)
        XCTAssertEqual(result.status, 0, result.output)
        let folder = into + "/tinyimagenet"
        let sha = try SHA256.hash(file: URL(fileURLWithPath: archive)).hex
        XCTAssertEqual(try String(contentsOfFile: folder + "/fetched-archive.sha256", encoding: .utf8), "\(sha)  tiny-imagenet-200.zip\n")
        XCTAssertTrue(result.output.contains("sha256   \(sha)  tiny-imagenet-200.zip"), result.output)
        XCTAssertTrue(result.output.contains("ready    tinyimagenet in \(folder): train 6, val 4 images, 3 classes"), result.output)
        XCTAssertTrue(result.output.contains("data: {dataset: image-folder, root: \(folder), image_size: 64}"), result.output)
        let listing = try ImageFolderListing(root: folder)
        XCTAssertEqual(listing.classNames, ["n01443537", "n01629819", "n02124075"])
        XCTAssertEqual((0..<listing.train.count).map { listing.train.displayPath(of: $0) }.first, folder + "/train/n01443537/images/n01443537_0.JPEG")
        XCTAssertEqual((0..<(listing.validation?.count ?? 0)).map { listing.validation!.displayPath(of: $0) },
                       ["n01443537/val_0", "n01443537/val_2", "n01629819/val_1", "n01629819/val_3"].map { folder + "/val/\($0).JPEG" })
        XCTAssertEqual(listing.validation?.labels, [0, 0, 1, 1])
        XCTAssertEqual(listing.otherFiles, 0, "box files are left out")
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder + "/test"))
        XCTAssertEqual(try String(contentsOfFile: folder + "/wnids.txt", encoding: .utf8), "n01443537\nn01629819\nn02124075\n")
        assertNoLeftovers(into)

        let damaged = (Self.archives as NSString).appendingPathComponent("damaged.zip")
        var bytes = try Data(contentsOf: URL(fileURLWithPath: archive))
        let dataStart = 30 + Int(bytes[26]) + Int(bytes[27]) << 8 + Int(bytes[28]) + Int(bytes[29]) << 8
        bytes[dataStart + 2] ^= 0x5A   // inside the first entry's (wnids.txt's) deflated data
        try bytes.write(to: URL(fileURLWithPath: damaged))
        let other = try DatasetFixtures.temporaryFolder()
        let refused = try multimix(["data", "fetch", "tinyimagenet", "--into", other, "--from", damaged], timeout: 120)
        XCTAssertTrue(errorLine(refused).contains("\(damaged): not a readable zip archive (tiny-imagenet-200/wnids.txt"), refused.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: other + "/tinyimagenet"))
        assertNoLeftovers(other)
    }

    /// A download over --max-size, an entry that would leave the folder, a file that is no archive:
    /// one line each, nothing installed, nothing written outside.
    func testOODArchivesAreBoundedAndConfined() throws {
        _ = try oodArchive("make-ood", "LSUN.tar.gz")
        _ = try oodArchive("make-ood-escape", "escape.tar.gz")
        try startServer()
        let base = try DatasetFixtures.temporaryFolder()
        let into = base + "/data"
        let size = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: Self.archives + "/LSUN.tar.gz")[.size] as? NSNumber).intValue
        let big = try multimix(["data", "fetch", "isun", "--into", into, "--from", url("files", "LSUN.tar.gz"), "--max-size", "0.001"])
        XCTAssertEqual(errorLine(big), "multimix: error: \(url("files", "LSUN.tar.gz")): more than 1048 bytes (\(size) announced), the most allowed for this file; check the address, or raise --max-size")
        XCTAssertFalse(FileManager.default.fileExists(atPath: into + "/isun"))
        XCTAssertEqual((try? FileManager.default.contentsOfDirectory(atPath: into + "/.downloads")) ?? [], [])
        let escape = try multimix(["data", "fetch", "lsun-resize", "--into", into, "--from", url("files", "escape.tar.gz")])
        XCTAssertTrue(errorLine(escape).hasSuffix("the entry ../escaped.png would be written outside the dataset's folder; the archive is not a plain image archive: nothing was installed"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: into + "/lsun-resize"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: into + "/escaped.png"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: base + "/escaped.png"))
        assertNoLeftovers(into)
        let text = base + "/notes.tar.gz"
        XCTAssertTrue(FileManager.default.createFile(atPath: text, contents: Data("not an archive\n".utf8)))
        let notArchive = try multimix(["data", "fetch", "tinyimagenet-crop", "--into", into, "--from", text])
        XCTAssertTrue(errorLine(notArchive).contains("\(text): not a gzip file"), notArchive.output)
        let unknown = try multimix(["data", "fetch", "lsun"])
        XCTAssertEqual(unknown.status, 2)
        XCTAssertTrue(unknown.output.contains("unknown dataset 'lsun'; choose fashion-mnist, mnist, cifar10 or cifar100, or an image archive: tinyimagenet, lsun-crop, lsun-resize, isun, tinyimagenet-crop, tinyimagenet-resize."), unknown.output)
    }
}
