import Evaluation
import Foundation
import Checkpointing
import RunConfig
import RunOutputs
import SafeFiles
import TextEscaping
import Yams

/// A study: one base train config run as several variants, each with several seeds.
///
///     name: fashion-mnist-mixing              # the study folder is runs/NAME/
///     base: fashion-mnist-base.yaml           # a train config, relative to this file's folder
///     seeds: [0, 1, 2]
///     set: ["training.epochs=10"]             # optional: overrides for every variant, applied first
///     compare_to: erm                         # optional: paired differences against this variant (or a list)
///     final_test: true                        # optional: each run's test split once, sealed until all have one
///     variants:
///       - {name: erm, set: ["mixing.method=erm"]}
///       - {name: multimix, set: []}           # set is optional
///       - {name: literal, seeds: [0]}         # seeds is optional: a subset of the study's, default all
///
/// Every (variant, seed) is a run named `VARIANT-sNN` (the seed zero-padded to two digits) whose
/// config is the base file with the study's `set`, the variant's `set`, `seed=S` and
/// `name=VARIANT-sNN` applied in that order (``StudyRun``). Loading is as strict as a train config's:
/// unknown keys name their path, the valid keys and the closest match; types and values are checked;
/// and every run's config is resolved and validated, so a bad override fails at once, naming the
/// variant and the key (``StudyError``).
public struct StudyConfig: Equatable, Sendable {
    /// One entry of `variants`.
    public struct Variant: Codable, Equatable, Sendable {
        /// `variants[i].name`: names the variant's runs. Letters, digits, `.`, `_`, `-`; unique.
        public var name: String
        /// `variants[i].set`: `key.path=value` overrides, as `multimix train --set` takes them.
        public var set: [String]
        /// `variants[i].seeds`: the variant's seeds, some of the study's `seeds` (nil: all of them).
        public var seeds: [Int]?

        public init(name: String, set: [String] = [], seeds: [Int]? = nil) {
            self.name = name
            self.set = set
            self.seeds = seeds
        }

        public init(from decoder: Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            name = try container.decode(String.self, forKey: .name)
            set = try container.decodeIfPresent([String].self, forKey: .set) ?? []
            seeds = try container.decodeIfPresent([Int].self, forKey: .seeds)
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case name, set, seeds
        }
    }

    /// `name`: the study folder is `RUN_DIR_ROOT/NAME/`. Letters, digits, `.`, `_`, `-`.
    public var name: String
    /// `base`: the train config file as written in the study file.
    public var base: String
    /// `seeds`: distinct integers ≥ 0, in the order the runs go.
    public var seeds: [Int]
    /// `set`: overrides applied to every variant, before the variant's own (optional).
    public var set: [String]
    /// `variants`: at least one, names distinct, in the order the runs go.
    public var variants: [Variant]
    /// `compare_to`: the variants the others are compared with seed by seed (paired differences with a
    /// 95% t-interval in the tables and the report), one name or a list; empty: none (optional).
    public var compareTo: [String]
    /// `final_test`: when the runs evaluate on the validation split (`eval.split: validation`), each
    /// finished run is evaluated once more, on the test split, into its folder's `test.json`; the
    /// study tabulates those only when every run has one (`results-test.*`): the test split is
    /// reported once, for the whole study, never for a part of it (optional, default false).
    public var finalTest: Bool
    /// The base file: `base` itself when absolute, otherwise relative to the study file's folder.
    public var baseURL: URL
    /// Every run with its config, in the order they run: seed-major (every variant with the first
    /// seed, then every variant with the next), so that a long study cut short or still going has
    /// complete paired rounds to compare. A variant with its own `seeds` runs in those seeds' rounds.
    public var runs: [StudyRun]

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, base, seeds, set, compareTo = "compare_to", finalTest = "final_test", variants
    }

    /// The study folder under `root` (the `--run-dir-root`): `root/NAME`.
    public func folder(root: URL) -> URL { root.appendingPathComponent(name) }
}

/// One (variant, seed) of a study, with its resolved train config.
public struct StudyRun: Equatable, Sendable {
    public var variant: String
    public var seed: Int
    /// The config: base, study `set`, variant `set`, `seed=SEED`, `name=VARIANT-sNN`.
    public var config: TrainingConfig

    /// `VARIANT-sNN`: the run's name and folder.
    public var name: String { StudyRun.name(variant: variant, seed: seed) }

    /// `erm-s00`, `erm-s07`, `erm-s123`: the seed zero-padded to two digits.
    public static func name(variant: String, seed: Int) -> String {
        "\(variant)-s" + (seed < 10 ? "0\(seed)" : "\(seed)")
    }
}

/// A study file that was refused: the file, where in it (or which variant's config), and why.
///
///     study s.yaml: variants[1].name: "erm" is given twice (also variants[0]); give each variant its own name
///     study s.yaml: variant 'mixup' (variants[2]): config: mixing.alpah: unknown key (did you mean alpha?); valid keys in mixing are …
public struct StudyError: Error, CustomStringConvertible, LocalizedError {
    /// The study file.
    public var file: String
    /// Where the problem is: a key path of the study file (`variants[1].name`), or the run config it
    /// concerns (`variant 'erm' (variants[0])`, `set`, `base`).
    public var location: String
    /// What is wrong: the underlying config error's own line, or the problem and the fix.
    public var message: String

    public init(file: String, location: String, message: String) {
        self.file = file
        self.location = location
        self.message = message
    }

    public var description: String { "study \(file): \(location): \(message)" }
    public var errorDescription: String? { description }
}

extension StudyConfig {
    /// Reads and checks a study file and resolves every run's config.
    public static func load(contentsOf url: URL) throws -> StudyConfig {
        let text: String
        do {
            text = try SafeFile.readText(url.path, fix: "check the path given to --config")
        } catch let error as SafeFileError {
            throw StudyError(file: url.path, location: "(file)", message: "\(error.problem); \(error.fix)")
        }
        return try parse(yaml: text, source: url.path, folder: url.deletingLastPathComponent())
    }

    /// Checks study-file text; `source` names it in errors, `folder` is where a relative `base` is.
    public static func parse(yaml: String, source: String, folder: URL) throws -> StudyConfig {
        func refuse(_ error: ConfigError) -> StudyError {
            StudyError(file: source, location: error.path.isEmpty ? "(top level)" : error.path,
                       message: "\(error.problem); \(error.fix)".split(whereSeparator: \.isNewline).joined(separator: " "))
        }
        let node: Node
        do {
            node = try YAMLNesting.compose(yaml) ?? Node([(Node, Node)]())
            try ConfigSchema(CodingKeys.self).check(node, path: "")
            for (index, variant) in (node.mapping?["variants"]?.sequence ?? []).enumerated() {
                try ConfigSchema(Variant.CodingKeys.self).check(variant, path: "variants[\(index)]")
            }
        } catch let error as ConfigError {
            throw refuse(error)
        } catch {
            throw StudyError(file: source, location: "(file)", message: "not valid YAML (\(error)); fix the YAML at the line and column shown")
        }
        let file: StudyFile
        do {
            file = try YAMLDecoder().decode(StudyFile.self, from: Yams.serialize(node: node))
        } catch let error as DecodingError {
            throw refuse(TrainingConfig.configError(error, in: node))
        }
        do {
            try file.validate()
        } catch let error as ConfigError {
            throw refuse(error)
        }
        return try file.resolved(source: source, folder: folder)
    }
}

/// The study file as decoded, before its runs are resolved.
private struct StudyFile: Decodable {
    var name: String
    var base: String
    var seeds: [Int]
    var set: [String]
    var variants: [StudyConfig.Variant]
    var compareTo: [String]
    var finalTest: Bool

    init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: StudyConfig.CodingKeys.self)
        name = try container.decode(String.self, forKey: .name)
        base = try container.decode(String.self, forKey: .base)
        seeds = try container.decode([Int].self, forKey: .seeds)
        set = try container.decodeIfPresent([String].self, forKey: .set) ?? []
        variants = try container.decode([StudyConfig.Variant].self, forKey: .variants)
        // One name, or a list of names.
        if let one = try? container.decodeIfPresent(String.self, forKey: .compareTo) {
            compareTo = [one]
        } else {
            compareTo = try container.decodeIfPresent([String].self, forKey: .compareTo) ?? []
        }
        finalTest = try container.decodeIfPresent(Bool.self, forKey: .finalTest) ?? false
    }

    /// The most runs (variants × seeds) a study may have.
    static let maximumRuns = 10_000

    /// Names, seeds and variants, each as a ``ConfigError`` at its key path.
    func validate() throws {
        let folderRule = "use 1 to 200 letters, digits, '.', '_' and '-' (it names a folder)"
        guard TrainingConfig.isFolderName(name) else { throw ConfigError.outOfRange("name", "\"\(name)\"", folderRule) }
        guard !base.isEmpty else { throw ConfigError.outOfRange("base", "\"\"", "give the train config file the study starts from") }
        guard !seeds.isEmpty else { throw ConfigError(.badValue, path: "seeds", problem: "no seeds", fix: "give at least one, e.g. seeds: [0, 1, 2]") }
        // A study is a handful of runs per variant; 100000 seeds took minutes to check before a word.
        let runs = StudyFile.maximumRuns
        guard seeds.count <= runs, variants.count <= runs, seeds.count * variants.count <= runs else {
            throw ConfigError(.badValue, path: "seeds", problem: "\(seeds.count) seeds × \(variants.count) variants is more than \(runs) runs",
                              fix: "split the study, or give fewer seeds or variants")
        }
        var firstOfSeed: [Int: Int] = [:]
        for (index, seed) in seeds.enumerated() {
            guard seed >= 0 else { throw ConfigError.outOfRange("seeds[\(index)]", seed, "use an integer ≥ 0") }
            if let first = firstOfSeed[seed] {
                throw ConfigError(.badValue, path: "seeds[\(index)]", problem: "\(seed) is given twice (also seeds[\(first)])", fix: "give each seed once")
            }
            firstOfSeed[seed] = index
        }
        guard !variants.isEmpty else {
            throw ConfigError(.badValue, path: "variants", problem: "no variants", fix: "give at least one, e.g. variants: [{name: multimix}]")
        }
        var firstOfName: [String: Int] = [:]
        for (index, variant) in variants.enumerated() {
            let path = "variants[\(index)]"
            guard TrainingConfig.isFolderName(variant.name) else { throw ConfigError.outOfRange(path + ".name", "\"\(variant.name)\"", folderRule) }
            if let first = firstOfName[variant.name] {
                throw ConfigError(.badValue, path: path + ".name", problem: "\"\(variant.name)\" is given twice (also variants[\(first)])",
                                  fix: "give each variant its own name")
            }
            firstOfName[variant.name] = index
            try StudyFile.refuseRunKeys(variant.set, path: path + ".set")
            for (seedIndex, seed) in (variant.seeds ?? []).enumerated() where !seeds.contains(seed) {
                throw ConfigError(.badValue, path: path + ".seeds[\(seedIndex)]", problem: "\(seed) is not one of the study's seeds",
                                  fix: "use some of \(seeds.map(String.init).joined(separator: ", ")), or remove the key for all")
            }
            if variant.seeds?.isEmpty == true {
                throw ConfigError(.badValue, path: path + ".seeds", problem: "no seeds", fix: "give at least one, or remove the key for all the study's seeds")
            }
        }
        try StudyFile.refuseRunKeys(set, path: "set")
        for (index, baseline) in compareTo.enumerated() {
            let path = compareTo.count == 1 ? "compare_to" : "compare_to[\(index)]"
            guard variants.contains(where: { $0.name == baseline }) else {
                throw ConfigError(.badValue, path: path, problem: "\"\(baseline)\" is not a variant of this study",
                                  fix: "name one of \(variants.map(\.name).joined(separator: ", ")), or remove the key")
            }
            if let first = compareTo.firstIndex(of: baseline), first < index {
                throw ConfigError(.badValue, path: path, problem: "\"\(baseline)\" is given twice (also compare_to[\(first)])", fix: "name each baseline once")
            }
        }
    }

    /// `seed` and `name` belong to the study (`seeds`, the run names); an override of them is refused.
    private static func refuseRunKeys(_ overrides: [String], path: String) throws {
        for (index, override) in overrides.enumerated() {
            let key = override.split(separator: "=", maxSplits: 1).first.map(String.init) ?? ""
            if key == "seed" || key == "name" {
                throw ConfigError(.badOverride, path: "\(path)[\(index)]", problem: "\(key) is set by the study for each run",
                                  fix: key == "seed" ? "list the seeds under seeds" : "the run is named VARIANT-sNN; name the variant instead")
            }
        }
    }

    /// Every run's config, each failure naming what it concerns: the base file, the study's `set`, a
    /// variant, or a variant with a seed.
    func resolved(source: String, folder: URL) throws -> StudyConfig {
        let baseURL = base.hasPrefix("/") ? URL(fileURLWithPath: base) : folder.appendingPathComponent(base).standardizedFileURL
        func fail(_ location: String, _ message: String) -> StudyError { StudyError(file: source, location: location, message: message) }
        let text: String
        do {
            text = try SafeFile.readText(baseURL.path, fix: "give a train config file, absolute or relative to the study file's folder")
        } catch let error as SafeFileError {
            throw fail("base", "\"\(base)\" (\(baseURL.path)): \(error.problem); \(error.fix)")
        }
        func resolve(_ overrides: [String], _ location: String) throws -> TrainingConfig {
            do {
                return try TrainingConfig.parse(yaml: text, overrides: overrides, source: baseURL.path)
            } catch {
                throw fail(location, "\(error)")
            }
        }
        _ = try resolve([], "base (\(baseURL.path))")
        _ = try resolve(set, "set")
        let locations = variants.indices.map { "variant '\(variants[$0].name)' (variants[\($0)])" }
        for (variant, location) in zip(variants, locations) { _ = try resolve(set + variant.set, location) }
        var runs: [StudyRun] = []
        for seed in seeds {
            for (variant, location) in zip(variants, locations) where variant.seeds?.contains(seed) ?? true {
                let name = StudyRun.name(variant: variant.name, seed: seed)
                let config = try resolve(set + variant.set + ["seed=\(seed)", "name=\(name)"], location + ", seed \(seed)")
                runs.append(StudyRun(variant: variant.name, seed: seed, config: config))
            }
        }
        if finalTest, let run = runs.first(where: { $0.config.eval.split == .test }) {
            throw fail("final_test", "run \(run.name) already evaluates on the test split (eval.split: test); "
                       + "set eval.split=validation (with data.validation_subset) in the study's set, or remove final_test")
        }
        return StudyConfig(name: name, base: base, seeds: seeds, set: set, variants: variants, compareTo: compareTo,
                           finalTest: finalTest, baseURL: baseURL, runs: runs)
    }
}
