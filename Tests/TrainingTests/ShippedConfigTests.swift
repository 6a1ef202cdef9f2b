import Foundation
import RunConfig
import TestSupport
import Training
import XCTest

/// Every config in configs/ loads and validates, and names what its file name says; every MultiMix
/// and Dense MultiMix config has the recipe, and a `-paper` twin the paper's settings.
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
            let isPaper = stem.hasSuffix("-paper")
            XCTAssertTrue((isPaper ? String(stem.dropLast(6)) : stem).hasSuffix("-" + config.mixing.method.rawValue), file)
            guard [.multimix, .denseMultimix].contains(config.mixing.method) else { continue }
            if isPaper {
                XCTAssertEqual(config.mixing.multiMixOptions, .paper, file)
                XCTAssertEqual(config.mixing.alpha, .uniform(lower: 0.5, upper: 2), file)
                // The authors' alternation: MultiMix on half the steps, input mixup on the others (docs/method.md,
                // "What the paper says").
                XCTAssertEqual(config.mixing.probability, 0.5, file)
                XCTAssertEqual(config.mixing.fallback, .mixup, file)
                XCTAssertEqual(config.mixing.fallbackAlpha, 2, file)
            } else {
                XCTAssertEqual(config.mixing.m, 2, file)
                XCTAssertTrue(files.contains(stem + "-paper.yaml"), "\(file) has no -paper twin")
            }
        }
        let fashion = files.filter { $0.hasPrefix("fashion-mnist-resnet20-") }.map { String($0.dropFirst("fashion-mnist-resnet20-".count).dropLast(5)) }
        XCTAssertEqual(Set(fashion), ["erm", "mixup", "manifold-mixup", "multimix", "dense-multimix", "multimix-paper", "dense-multimix-paper"])
    }
}
