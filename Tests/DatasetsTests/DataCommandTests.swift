import Datasets
import Foundation
import TestSupport
import XCTest

/// `multimix data inspect`, run as the built tool: output, PNG grid, one-line errors, exit codes.
final class DataCommandTests: XCTestCase {
    func multimix(_ arguments: [String]) throws -> MPIRun.Result {
        let tool = MPIRun.executable("multimix")
        guard FileManager.default.isExecutableFile(atPath: tool) else {
            throw XCTSkip("\(tool) not built (swift build builds it; or set MULTIMIX_BIN_DIR)")
        }
        return try MPIRun.launch([tool] + arguments, timeout: 60)
    }

    func testInspectPrintsReportAndWritesGrid() throws {
        let folder = try DatasetFixtures.cifar10Folder()
        let png = try DatasetFixtures.temporaryFolder() + "/grid.png"
        let result = try multimix(["data", "inspect", folder, "--grid", png, "--per-class", "1", "--split", "test"])
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssert(result.output.contains("dataset  CIFAR-10 binary at \(folder)"), result.output)
        XCTAssert(result.output.contains("splits   train 10, test 3"), result.output)
        XCTAssert(result.output.contains("(test split, per channel, pixel / 255)"), result.output)
        XCTAssert(result.output.contains("grid     \(png): 10 classes x 1 test images"), result.output)
        let decoded = decodePNG([UInt8](try Data(contentsOf: URL(fileURLWithPath: png))))
        XCTAssertNotNil(decoded)
    }

    func testBadDataIsOneLineAndNonZeroExit() throws {
        let folder = try DatasetFixtures.cifar10Folder()
        let path = DatasetFixtures.write(DatasetFixtures.cifarRecords(labels: [[3], [42]]), to: folder, name: "test_batch.bin")
        let result = try multimix(["data", "inspect", folder])
        XCTAssertEqual(result.status, 1)
        XCTAssertEqual(result.output.trimmingCharacters(in: .whitespacesAndNewlines),
                       "multimix: error: \(path): label 42 of record 1 (byte offset 3073) is outside 0...9; the file is damaged or is not CIFAR-10; re-run launch/setup.sh or unpack the official archive again and point data.root at it")
    }

    func testValidationOfGridOptions() throws {
        let result = try multimix(["data", "inspect", "cifar10", "--grid", "grid.jpg"])
        XCTAssertEqual(result.status, 2, "a bad command line")
        XCTAssertEqual(result.output.trimmingCharacters(in: .whitespacesAndNewlines),
                       "multimix: error: --grid names a PNG file; end it in .png (got grid.jpg). (see --help)")
    }
}
