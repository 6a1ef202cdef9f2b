import Foundation
import TestSupport
import Training
import XCTest

/// Every config in configs/ loads and validates, and names what its file name says.
final class ShippedConfigTests: XCTestCase {
    func testEveryShippedConfigIsValid() throws {
        let folder = Repository.root.appendingPathComponent("configs")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".yaml") }.sorted()
        XCTAssertGreaterThanOrEqual(files.count, 17)
        for file in files {
            let config = try TrainingConfig.load(contentsOf: folder.appendingPathComponent(file))
            let stem = String(file.dropLast(5))
            XCTAssertEqual(config.name, stem, file)
            XCTAssertTrue(stem.hasPrefix(config.data.dataset.rawValue + "-" + config.model.name.rawValue + "-"), file)
            XCTAssertTrue(stem.hasSuffix("-" + config.mixing.method.rawValue), file)
        }
        let fashion = files.filter { $0.hasPrefix("fashion-mnist-resnet20-") }.map { String($0.dropFirst("fashion-mnist-resnet20-".count).dropLast(5)) }
        XCTAssertEqual(Set(fashion), ["erm", "mixup", "manifold-mixup", "multimix", "dense-multimix"])
    }
}
