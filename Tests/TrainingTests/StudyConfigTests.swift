import Foundation
import Studies
import TestSupport
import Training
import XCTest

/// Study files are checked as strictly as train configs: one line naming the key path (or the
/// variant whose config fails), what is wrong and what is allowed.
final class StudyConfigTests: XCTestCase {
    var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("study-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("studies"), withIntermediateDirectories: true)
        try "name: base\ntraining: {epochs: 5}\nmixing: {method: multimix}\n"
            .write(to: folder.appendingPathComponent("studies/base.yaml"), atomically: true, encoding: .utf8)
    }

    override func tearDownWithError() throws {
        if let folder { try? FileManager.default.removeItem(at: folder) }
    }

    /// A study file with `variants` (YAML flow list) and extra top-level lines.
    func yaml(seeds: String = "[0, 1]", variants: String = "[{name: erm, set: [mixing.method=erm]}, {name: mm}]",
              extra: String = "") -> String {
        "name: s\nbase: base.yaml\nseeds: \(seeds)\nvariants: \(variants)\n" + extra
    }

    func parse(_ text: String) throws -> StudyConfig {
        try StudyConfig.parse(yaml: text, source: "s.yaml", folder: folder.appendingPathComponent("studies"))
    }

    /// The one-line error `text` gives.
    func error(_ text: String) -> String {
        do {
            _ = try parse(text)
            return "no error"
        } catch {
            let line = "\(error)"
            XCTAssertFalse(line.contains("\n"), "not one line: \(line)")
            return line
        }
    }

    func testRunsAreSeedMajorWithOverridesInOrder() throws {
        let study = try parse(yaml(extra: "set: [training.epochs=3, mixing.method=mixup]\n"))
        XCTAssertEqual(study.runs.map(\.name), ["erm-s00", "mm-s00", "erm-s01", "mm-s01"], "every variant of a seed, then the next seed")
        XCTAssertEqual(study.runs.map(\.config.seed), [0, 0, 1, 1])
        XCTAssertEqual(study.runs.map(\.config.name), ["erm-s00", "mm-s00", "erm-s01", "mm-s01"])
        XCTAssertEqual(study.runs.map(\.config.training.epochs), [3, 3, 3, 3], "the study's set applies to every variant")
        XCTAssertEqual(study.runs.map(\.config.mixing.method), [.erm, .mixup, .erm, .mixup], "the variant's set comes after the study's")
        XCTAssertEqual(StudyRun.name(variant: "v", seed: 123), "v-s123")
    }

    /// `base` is relative to the study file's folder, not the current directory; absolute stays.
    func testBaseIsRelativeToTheStudyFilesFolder() throws {
        let file = folder.appendingPathComponent("studies/s.yaml")
        try yaml().write(to: file, atomically: true, encoding: .utf8)
        let study = try StudyConfig.load(contentsOf: file)
        XCTAssertEqual(study.baseURL.path, folder.appendingPathComponent("studies/base.yaml").standardizedFileURL.path)
        XCTAssertEqual(study.runs.first?.config.training.epochs, 5)
        let absolute = try parse(yaml().replacingOccurrences(of: "base: base.yaml", with: "base: \(study.baseURL.path)"))
        XCTAssertEqual(absolute.baseURL.path, study.baseURL.path)
    }

    func testUnknownKeysNameThePathTheValidKeysAndTheClosest() {
        XCTAssertEqual(error(yaml(extra: "sed: [1]\n")),
                       "study s.yaml: sed: unknown key (did you mean set?); valid keys at the top level are name, base, seeds, set, compare_to, final_test, variants")
        XCTAssertEqual(error(yaml(variants: "[{name: a}, {name: b, sett: []}]")),
                       "study s.yaml: variants[1].sett: unknown key (did you mean set?); valid keys in variants[1] are name, set, seeds")
    }

    func testWrongTypesNameThePath() {
        XCTAssertEqual(error(yaml(seeds: "zero")), "study s.yaml: seeds: expected a list, got \"zero\"; write a list there")
        XCTAssertEqual(error(yaml(seeds: "[0, x]")), "study s.yaml: seeds[1]: expected an integer, got \"x\"; write an integer there")
        XCTAssertEqual(error(yaml(variants: "[{set: []}]")), "study s.yaml: variants[0].name: missing; variants[0] needs name")
        XCTAssertEqual(error("name: s\nbase: base.yaml\nvariants: [{name: a}]\n"), "study s.yaml: seeds: missing; the config needs seeds")
    }

    func testVariantNamesMustBeUniqueAndFolderSafe() {
        XCTAssertEqual(error(yaml(variants: "[{name: a}, {name: b}, {name: a}]")),
                       "study s.yaml: variants[2].name: \"a\" is given twice (also variants[0]); give each variant its own name")
        XCTAssertEqual(error(yaml(variants: "[{name: a/b}]")),
                       "study s.yaml: variants[0].name: \"a/b\" is not allowed; use 1 to 200 letters, digits, '.', '_' and '-' (it names a folder)")
        XCTAssertTrue(error(yaml().replacingOccurrences(of: "name: s\n", with: "name: ..\n")).hasPrefix("study s.yaml: name: \"..\" is not allowed"))
    }

    func testSeedsAndVariantsMustBeGivenAndSeedsDistinctAndNonNegative() {
        XCTAssertEqual(error(yaml(seeds: "[]")), "study s.yaml: seeds: no seeds; give at least one, e.g. seeds: [0, 1, 2]")
        XCTAssertEqual(error(yaml(variants: "[]")), "study s.yaml: variants: no variants; give at least one, e.g. variants: [{name: multimix}]")
        XCTAssertEqual(error(yaml(seeds: "[3, 1, 3]")), "study s.yaml: seeds[2]: 3 is given twice (also seeds[0]); give each seed once")
        XCTAssertEqual(error(yaml(seeds: "[-1]")), "study s.yaml: seeds[0]: -1 is not allowed; use an integer ≥ 0")
        // 100000 seeds were checked pairwise for minutes, silently: refused at once now.
        let started = Date()
        let many = "[" + (0..<100_000).map(String.init).joined(separator: ", ") + "]"
        XCTAssertTrue(error(yaml(seeds: many)).hasPrefix("study s.yaml: seeds: 100000 seeds × "), error(yaml(seeds: many)))
        XCTAssertEqual(error(yaml(seeds: "[" + (0..<5_000).map(String.init).joined(separator: ", ") + ", 5]", variants: "[{name: mm}]")),
                       "study s.yaml: seeds[5000]: 5 is given twice (also seeds[5]); give each seed once")
        XCTAssertLessThan(Date().timeIntervalSince(started), 20)
        // YAML nested 5000 deep crashed Yams' parser: refused by line before parsing.
        XCTAssertEqual(error(yaml(extra: "x: " + String(repeating: "[", count: 5000))),
                       "study s.yaml: (file): not valid YAML (line 5 nests more than 100 levels deep; a config is a few levels deep); fix the YAML at the line and column shown")
    }

    /// A bad override fails at once, naming the variant (or the study's set) and the key.
    func testBadOverridesNameTheVariantAndTheKey() {
        let variants = "[{name: a}, {name: b}, {name: c, set: [training.epochz=3]}]"
        XCTAssertEqual(error(yaml(variants: variants)),
                       "study s.yaml: variant 'c' (variants[2]): config: training.epochz: unknown key (did you mean epochs?); valid keys in training are epochs, batch_size, threads, skip_nonfinite, log_every_steps")
        XCTAssertEqual(error(yaml(variants: "[{name: a, set: [optimizer.lr=-1]}]")),
                       "study s.yaml: variant 'a' (variants[0]): config: optimizer.lr: -1.0 is not allowed; use a number > 0")
        XCTAssertEqual(error(yaml(extra: "set: [mixing.method=mixupp]\n")).prefix(34), "study s.yaml: set: config: mixing.")
        XCTAssertEqual(error(yaml(variants: "[{name: a, set: [seed=4]}]")),
                       "study s.yaml: variants[0].set[0]: seed is set by the study for each run; list the seeds under seeds")
    }

    /// `compare_to` names a variant; a variant's `seeds` are some of the study's, kept in its order.
    func testCompareToAndVariantSeeds() throws {
        let study = try parse(yaml(seeds: "[0, 1, 2]", variants: "[{name: erm, set: [mixing.method=erm]}, {name: mm, seeds: [2, 0]}]",
                                   extra: "compare_to: erm\n"))
        XCTAssertEqual(study.compareTo, ["erm"])
        XCTAssertEqual(study.runs.map(\.config.name), ["erm-s00", "mm-s00", "erm-s01", "erm-s02", "mm-s02"])
        XCTAssertEqual(try parse(yaml()).compareTo, [])
        XCTAssertEqual(error(yaml(extra: "compare_to: ermm\n")),
                       "study s.yaml: compare_to: \"ermm\" is not a variant of this study; name one of erm, mm, or remove the key")
        // Several baselines: a list, each a variant, each once.
        XCTAssertEqual(try parse(yaml(extra: "compare_to: [mm, erm]\n")).compareTo, ["mm", "erm"])
        XCTAssertEqual(error(yaml(extra: "compare_to: [erm, ermm]\n")),
                       "study s.yaml: compare_to[1]: \"ermm\" is not a variant of this study; name one of erm, mm, or remove the key")
        XCTAssertEqual(error(yaml(extra: "compare_to: [erm, erm]\n")),
                       "study s.yaml: compare_to[1]: \"erm\" is given twice (also compare_to[0]); name each baseline once")
        XCTAssertEqual(error(yaml(variants: "[{name: a, seeds: [0, 5]}]")),
                       "study s.yaml: variants[0].seeds[1]: 5 is not one of the study's seeds; use some of 0, 1, or remove the key for all")
        XCTAssertEqual(error(yaml(variants: "[{name: a, seeds: []}]")),
                       "study s.yaml: variants[0].seeds: no seeds; give at least one, or remove the key for all the study's seeds")
    }

    /// `final_test` needs runs that evaluate on the validation split: otherwise their own evaluations
    /// already are the test split's, and the study says so.
    func testFinalTestNeedsRunsEvaluatedOnTheValidationSplit() throws {
        XCTAssertFalse(try parse(yaml()).finalTest)
        XCTAssertEqual(error(yaml(extra: "final_test: true\n")),
                       "study s.yaml: final_test: run erm-s00 already evaluates on the test split (eval.split: test); "
                       + "set eval.split=validation (with data.validation_subset) in the study's set, or remove final_test")
        let validated = try parse(yaml(extra: "final_test: true\nset: [data.validation_subset=100, eval.split=validation]\n"))
        XCTAssertTrue(validated.finalTest)
        XCTAssertTrue(error(yaml(extra: "final_test: maybe\n")).hasPrefix("study s.yaml: final_test: "), error(yaml(extra: "final_test: maybe\n")))
    }

    /// Every study in configs/studies/ loads, with every run's config valid.
    func testShippedStudiesAreValid() throws {
        let studies = Repository.root.appendingPathComponent("configs/studies")
        let files = try FileManager.default.contentsOfDirectory(atPath: studies.path).filter { $0.hasSuffix(".yaml") }
        XCTAssertFalse(files.isEmpty)
        for file in files {
            let study = try StudyConfig.load(contentsOf: studies.appendingPathComponent(file))
            XCTAssertEqual(study.name + ".yaml", file)
            XCTAssertEqual(study.runs.count, study.variants.map { ($0.seeds ?? study.seeds).count }.reduce(0, +), file)
            for baseline in study.compareTo { XCTAssertTrue(study.variants.contains { $0.name == baseline }, file) }
        }
    }

    /// The Fashion-MNIST study keeps every step mixed and no fallback keys: its runs' configs (and so
    /// their hashes in finished.json) are those its README table was measured with.
    func testFashionStudyKeepsEveryStepMixed() throws {
        let study = try StudyConfig.load(contentsOf: Repository.root.appendingPathComponent("configs/studies/fashion-mnist-resnet20.yaml"))
        for run in study.runs {
            XCTAssertEqual(run.config.mixing.probability, 1, run.name)
            XCTAssertNil(run.config.mixing.fallback, run.name)
            XCTAssertNil(run.config.mixing.fallbackAlpha, run.name)
            XCTAssertFalse(try run.config.yamlText().contains("fallback"), run.name)
        }
    }

    func testMissingBaseFileIsRefused() {
        let text = yaml().replacingOccurrences(of: "base: base.yaml", with: "base: ../nowhere.yaml")
        XCTAssertEqual(error(text),
                       "study s.yaml: base: \"../nowhere.yaml\" (\(folder.appendingPathComponent("nowhere.yaml").standardizedFileURL.path)): cannot read it (No such file or directory); give a train config file, absolute or relative to the study file's folder")
    }

    func testBadBaseFileNamesTheBase() {
        let base = folder.appendingPathComponent("studies/base.yaml")
        try? "trainig: {epochs: 3}\n".write(to: base, atomically: true, encoding: .utf8)
        XCTAssertTrue(error(yaml()).hasPrefix("study s.yaml: base (\(base.standardizedFileURL.path)): config: trainig: unknown key (did you mean training?)"),
                      error(yaml()))
    }
}
