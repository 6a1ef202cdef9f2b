import Foundation
import Mixing
import RunConfig
import Training
import XCTest

/// The recipe's config keys: parsed, checked, and handed to the mixers as they were written.
final class RecipeConfigTests: XCTestCase {
    private func error(_ yaml: String) -> String {
        do {
            _ = try TrainingConfig.parse(yaml: yaml)
            return "no error"
        } catch {
            return "\(error)"
        }
    }

    func testDefaultsAreThePapersMethod() throws {
        let config = try TrainingConfig.parse(yaml: "")
        XCTAssertEqual(config.mixing.multiMixOptions, .paper)
        XCTAssertNil(config.data.validationSubset)
        XCTAssertEqual(config.eval.split, .test)
        XCTAssertEqual(config.eval.noiseOODImages, 0)
    }

    func testRecipeKeysReachTheMixers() throws {
        let config = try TrainingConfig.parse(yaml: """
            data: {validation_subset: 5000}
            mixing: {m: 4, loss_scale: erm-matched, clean_loss_weight: 1.5, attention: softmax}
            training: {batch_size: 64}
            eval: {split: validation, noise_ood_images: 2000}
            """)
        XCTAssertEqual(config.mixing.multiMixOptions,
                       MultiMixOptions(examplesPerMix: 4, lossScale: .ermMatched, cleanLossWeight: 1.5, attention: .softmax))
        XCTAssertEqual(config.data.validationSubset, 5000)
        XCTAssertEqual(config.eval.split, .validation)
        XCTAssertEqual(config.eval.noiseOODImages, 2000)
        // And back through YAML unchanged.
        XCTAssertEqual(try TrainingConfig.parse(yaml: try config.yamlText()), config)
    }

    func testAlphaScheduleParsesAndRoundTrips() throws {
        let config = try TrainingConfig.parse(yaml: "mixing: {alpha: {from: 0.2, to: 2.0}}")
        XCTAssertEqual(config.mixing.alpha, .annealed(from: 0.2, to: 2.0))
        XCTAssertEqual(try TrainingConfig.parse(yaml: try config.yamlText()), config)
        XCTAssertEqual(error("mixing: {alpha: {from: 0, to: 2}}"),
                       "config: mixing.alpha: {from: 0.0, to: 2.0} is not allowed; use {from: a, to: b} with a, b in (0, 1000]")
        XCTAssertEqual(error("mixing: {alpha: fast}"),
                       "config: mixing.alpha: expected a number, a list [lo, hi] or {from: a, to: b}; write e.g. alpha: 1.0, alpha: [0.5, 2.0] or alpha: {from: 0.2, to: 2.0}")
    }

    /// `name: null` and `--set name=` are refused (they used to run into runs/null); null on an
    /// optional key means absent.
    func testNullsOnlyRemoveOptionalKeys() throws {
        XCTAssertEqual(error("name: null"), "config: name: null is not a value for this key; give a value, or remove the key for its default")
        XCTAssertEqual(error("optimizer: {lr: ~}"), "config: optimizer.lr: expected a number, got nothing (null); write a number there")
        XCTAssertThrowsError(try TrainingConfig.parse(yaml: "", overrides: ["name="])) { error in
            XCTAssertEqual("\(error)", "config: name: no value after '='; write --set name=VALUE (null removes an optional key)")
        }
        let config = try TrainingConfig.parse(yaml: "data: {dataset: cifar10, train_subset: 100}\neval: {ood: {dataset: cifar100, root: /x}}",
                                              overrides: ["eval.ood=null", "data.train_subset=null"])
        XCTAssertEqual(config.eval.ood, [])
        XCTAssertNil(config.data.trainSubset)
    }

    func testRecipeKeysAreChecked() {
        XCTAssertEqual(error("mixing: {m: 200}\ntraining: {batch_size: 64}"),
                       "config: mixing.m: 200 is not allowed; use an integer in [1, training.batch_size] = [1, 64], or remove the key for all b")
        XCTAssertEqual(error("mixing: {m: 0}"),
                       "config: mixing.m: 0 is not allowed; use an integer in [1, training.batch_size] = [1, 128], or remove the key for all b")
        XCTAssertEqual(error("mixing: {clean_loss_weight: -1}"),
                       "config: mixing.clean_loss_weight: -1.0 is not allowed; use a number in [0, 1000] (0: no clean loss)")
        XCTAssertTrue(error("mixing: {loss_scale: ermmatched}").hasPrefix("config: mixing.loss_scale: \"ermmatched\" is not a loss scale (did you mean erm-matched?)"),
                      error("mixing: {loss_scale: ermmatched}"))
        XCTAssertTrue(error("mixing: {attention: soft}").contains("use one of relu-l1, softmax"))
        XCTAssertEqual(error("eval: {split: validation}"),
                       "config: eval.split: validation is not allowed; set data.validation_subset to hold examples out for validation, or use eval.split: test")
        XCTAssertEqual(error("data: {validation_subset: 0}"),
                       "config: data.validation_subset: 0 is not allowed; use an integer ≥ 1, or remove the key for no validation split")
        XCTAssertEqual(error("eval: {noise_ood_images: 1000000}"),
                       "config: eval.noise_ood_images: 1000000 is not allowed; use an integer in [0, 100000] (0: none)")
    }
}
