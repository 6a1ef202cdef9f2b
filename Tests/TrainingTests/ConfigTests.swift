import Foundation
import RunConfig
import Training
import XCTest

/// The error `yaml` (with `overrides`) gives, as its one-line description ("no error" when it loads).
func configError(_ yaml: String, overrides: [String] = []) -> String {
    do {
        _ = try TrainingConfig.parse(yaml: yaml, overrides: overrides)
        return "no error"
    } catch {
        let text = "\(error)"
        XCTAssertFalse(text.contains("\n"), "not one line: \(text)")
        return text
    }
}

final class ConfigTests: XCTestCase {
    private func error(_ yaml: String, overrides: [String] = []) -> String { configError(yaml, overrides: overrides) }

    func testEmptyFileGivesDefaults() throws {
        XCTAssertEqual(try TrainingConfig.parse(yaml: ""), TrainingConfig())
    }

    func testFullFileDecodes() throws {
        let config = try TrainingConfig.parse(yaml: """
            name: cifar10-preactresnet18-multimix
            seed: 7
            data:
              dataset: cifar10
              root: /data/cifar-10-batches-bin
              train_subset: 5000
              augment: {crop_padding: 4, horizontal_flip: true}
            model: {name: preactresnet18, width: 0.5}
            mixing: {method: dense-multimix, n: 500, alpha: 1.0, probability: 0.5}
            optimizer: {lr: 0.1, momentum: 0.9, nesterov: true, weight_decay: 0.0001}
            schedule: {kind: multistep, warmup_epochs: 1, milestones: [100, 150], gamma: 0.1}
            training: {epochs: 200, batch_size: 128, threads: 4, skip_nonfinite: true, log_every_steps: 20}
            distributed: {bucket_mb: 8, check_every_steps: 10, stall_timeout_s: 30}
            eval: {every_epochs: 5, ood: {dataset: cifar100, root: /data/cifar-100-binary}}
            checkpoint: {every_epochs: 10, keep: 2}
            """)
        XCTAssertEqual(config.data.dataset, .cifar10)
        XCTAssertEqual(config.data.trainSubset, 5000)
        XCTAssertEqual(config.model.name, .preactresnet18)
        XCTAssertEqual(config.model.width, 0.5)
        XCTAssertEqual(config.mixing.method, .denseMultimix)
        XCTAssertEqual(config.mixing.alpha, .fixed(1.0))
        XCTAssertEqual(config.schedule.milestones, [100, 150])
        XCTAssertEqual(config.training.threads, 4)
        XCTAssertTrue(config.training.skipNonfinite)
        XCTAssertEqual(config.distributed.bucketMB, 8)
        XCTAssertEqual(config.eval.ood, [EvalConfig.OOD(dataset: .cifar100, root: "/data/cifar-100-binary")])
        XCTAssertEqual(config.checkpoint.keep, 2)
        XCTAssertEqual(config.optimizer.nesterov, true)
    }

    func testPartialSectionKeepsOtherDefaults() throws {
        let config = try TrainingConfig.parse(yaml: "optimizer: {lr: 0.05}\nmixing: {alpha: [0.5, 2.0]}")
        XCTAssertEqual(config.optimizer.lr, 0.05)
        XCTAssertEqual(config.optimizer.momentum, TrainingConfig().optimizer.momentum)
        XCTAssertEqual(config.mixing.alpha, .uniform(lower: 0.5, upper: 2.0))
    }

    func testUnknownKeyNamesPathValidKeysAndSuggestion() {
        XCTAssertEqual(error("optimizer: {lrr: 0.1}"),
                       "config: optimizer.lrr: unknown key (did you mean lr?); valid keys in optimizer are lr, momentum, nesterov, weight_decay")
        XCTAssertEqual(error("eval: {ood: {dataset: cifar100, rot: /x}}"),
                       "config: eval.ood.rot: unknown key (did you mean root?); valid keys in eval.ood are name, dataset, root")
        XCTAssertTrue(error("trainig: {epochs: 3}").hasPrefix("config: trainig: unknown key (did you mean training?); valid keys at the top level are name, seed, data,"))
        XCTAssertEqual(error("data: {augment: {flip: true}}"),
                       "config: data.augment.flip: unknown key; valid keys in data.augment are crop_padding, horizontal_flip, scale, ratio")
    }

    func testDuplicateKeyIsRefused() {
        XCTAssertEqual(error("seed: 1\nseed: 2"), "config: seed: given twice; keep one")
    }

    func testWrongTypesNameThePathAndValue() {
        XCTAssertEqual(error("training: {batch_size: many}"),
                       "config: training.batch_size: expected an integer, got \"many\"; write an integer there")
        XCTAssertEqual(error("optimizer: {lr: fast}"), "config: optimizer.lr: expected a number, got \"fast\"; write a number there")
        XCTAssertEqual(error("schedule: {milestones: [10, x]}"),
                       "config: schedule.milestones[1]: expected an integer, got \"x\"; write an integer there")
        XCTAssertEqual(error("model: resnet20"), "config: model: expected a mapping, got \"resnet20\"; give keys name, width")
        XCTAssertEqual(error("eval: {ood: {dataset: cifar100}}"), "config: eval.ood.root: missing; eval.ood needs root")
    }

    func testChoicesListTheValidNames() {
        XCTAssertEqual(error("data: {dataset: cifar11}"),
                       "config: data.dataset: \"cifar11\" is not a dataset (did you mean cifar10?); use one of fashion-mnist, mnist, cifar10, cifar100, image-folder, shards")
        XCTAssertEqual(error("mixing: {method: multi-mix}"),
                       "config: mixing.method: \"multi-mix\" is not a mixing method (did you mean multimix?); use one of erm, mixup, cutmix, manifold-mixup, multimix, dense-multimix")
        XCTAssertTrue(error("model: {name: resnet21}").contains("use one of resnet20, resnet32, resnet56, resnet110, preactresnet18, preactresnet34, wrn16-8, resnet18, resnet50"))
        XCTAssertEqual(error("schedule: {kind: step}"),
                       "config: schedule.kind: \"step\" is not a schedule kind; use one of cosine, multistep")
    }

    func testRangesAreChecked() {
        XCTAssertEqual(error("optimizer: {lr: -0.1}"), "config: optimizer.lr: -0.1 is not allowed; use a number > 0")
        XCTAssertEqual(error("optimizer: {lr: .nan}"), "config: optimizer.lr: nan is not allowed; use a number > 0")
        XCTAssertEqual(error("optimizer: {momentum: 1}"), "config: optimizer.momentum: 1.0 is not allowed; use a number in [0, 1)")
        XCTAssertEqual(error("mixing: {probability: 1.5}"), "config: mixing.probability: 1.5 is not allowed; use a number in [0, 1]")
        XCTAssertEqual(error("mixing: {alpha: 0}"),
                       "config: mixing.alpha: 0.0 is not allowed; use a number in (0, 1000], or a range [lo, hi] with 0 < lo ≤ hi ≤ 1000")
        XCTAssertEqual(error("mixing: {alpha: [2, 1]}"), "config: mixing.alpha: [2.0, 1.0] is not allowed; use a range [lo, hi] with 0 < lo ≤ hi ≤ 1000")
        // A concentration of 1e308 overflowed the Gamma sampler: every loss exactly 0, exit 0.
        XCTAssertEqual(error("mixing: {alpha: 1e308}"),
                       "config: mixing.alpha: 1e+308 is not allowed; use a number in (0, 1000], or a range [lo, hi] with 0 < lo ≤ hi ≤ 1000")
        XCTAssertTrue(error("mixing: {alpha: {from: 1, to: 1e300}}").hasSuffix("use {from: a, to: b} with a, b in (0, 1000]"))
        // 100000 threads crashed libgomp; 10000 stalled the machine.
        XCTAssertEqual(error("", overrides: ["training.threads=100000"]),
                       "config: training.threads: 100000 is not allowed; use an integer in [1, 256] (per rank; more threads than cores only slow a step)")
        XCTAssertEqual(error("mixing: {alpha: [1, 2, 3]}"), "config: mixing.alpha: a range needs 2 numbers, got 3; write alpha: [lo, hi]")
        XCTAssertEqual(error("training: {batch_size: 0}"), "config: training.batch_size: 0 is not allowed; use an integer in [1, 65536] (per rank)")
        // Sizes that would allocate beyond any machine are refused before anything is allocated.
        XCTAssertEqual(error("training: {batch_size: 1000000000}"),
                       "config: training.batch_size: 1000000000 is not allowed; use an integer in [1, 65536] (per rank)")
        XCTAssertEqual(error("mixing: {n: 100000000}"), "config: mixing.n: 100000000 is not allowed; use an integer in [1, 100000]")
        XCTAssertEqual(error("training: {epochs: 10}\nschedule: {milestones: [5, 5]}"),
                       "config: schedule.milestones[1]: 5 is not allowed; milestones must increase (the one before is 5)")
        XCTAssertEqual(error("training: {epochs: 10}\nschedule: {milestones: [5, 11]}"),
                       "config: schedule.milestones[1]: 11 is not allowed; each milestone is an epoch in [1, training.epochs] = [1, 10]")
        XCTAssertEqual(error("name: my run"), "config: name: \"my run\" is not allowed; use 1 to 200 letters, digits, '.', '_' and '-' (it names the run folder)")
        XCTAssertTrue(error("name: " + String(repeating: "a", count: 300)).hasSuffix("is not allowed; use 1 to 200 letters, digits, '.', '_' and '-' (it names the run folder)"))
        XCTAssertEqual(error("data: {dataset: cifar10}\neval: {ood: {dataset: mnist, root: /x}}"),
                       "config: eval.ood.dataset: mnist is not allowed; its images (1x28x28) must match the model's input (3x32x32)")
        XCTAssertEqual(error("checkpoint: {keep: 0}"), "config: checkpoint.keep: 0 is not allowed; use an integer ≥ 1")
    }

    func testFallbackKeys() throws {
        let config = try TrainingConfig.parse(yaml: "mixing: {method: multimix, probability: 0.5, fallback: mixup, fallback_alpha: 2}")
        XCTAssertEqual(config.mixing.fallback, .mixup)
        XCTAssertEqual(config.mixing.fallbackAlpha, 2)
        let defaults = try TrainingConfig.parse(yaml: "")
        XCTAssertNil(defaults.mixing.fallback)
        XCTAssertNil(defaults.mixing.fallbackAlpha)
        XCTAssertEqual(defaults.mixing.resolvedFallback, .erm)
        XCTAssertEqual(defaults.mixing.resolvedFallbackAlpha, 1)
        // Absent keys are not written: a config without them keeps the hash it had before they existed.
        XCTAssertFalse(try defaults.yamlText().contains("fallback"))
        XCTAssertEqual(try TrainingConfig.parse(yaml: try config.yamlText()), config)
        XCTAssertEqual(error("mixing: {fallback: cutmix}"),
                       "config: mixing.fallback: \"cutmix\" is not a mixing fallback; use one of erm, mixup")
        XCTAssertEqual(error("mixing: {fallback_alpha: 0}"),
                       "config: mixing.fallback_alpha: 0.0 is not allowed; use a number in (0, 1000] (α of the fallback's input mixup, Beta(α, α))")
        XCTAssertTrue(error("mixing: {fallback: mixup, fallback_alpha: 1e308}").hasSuffix("use a number in (0, 1000] (α of the fallback's input mixup, Beta(α, α))"))
    }

    func testOverridesApplyBeforeValidation() throws {
        let config = try TrainingConfig.parse(yaml: "optimizer: {lr: 5}", overrides: [
            "optimizer.lr=0.05", "schedule.milestones=[2, 4]", "training.epochs=6", "data.train_subset=100",
            "eval.ood={dataset: mnist, root: /usr/share/datasets/mnist}", "name=short",
        ])
        XCTAssertEqual(config.optimizer.lr, 0.05)
        XCTAssertEqual(config.schedule.milestones, [2, 4])
        XCTAssertEqual(config.training.epochs, 6)
        XCTAssertEqual(config.data.trainSubset, 100)
        XCTAssertEqual(config.eval.ood.map(\.dataset), [.mnist])
        XCTAssertEqual(config.name, "short")
        XCTAssertEqual(try TrainingConfig.parse(yaml: "eval: {ood: {dataset: mnist, root: /x}}", overrides: ["eval.ood=null"]).eval.ood, [])
    }

    func testOverrideErrors() {
        XCTAssertEqual(error("", overrides: ["optimizer.lrr=0.1"]),
                       "config: optimizer.lrr: unknown key (did you mean lr?); valid keys in optimizer are lr, momentum, nesterov, weight_decay")
        XCTAssertEqual(error("", overrides: ["optimizer.lr.x=0.1"]),
                       "config: optimizer.lr.x: optimizer.lr is a value, not a section; set optimizer.lr=VALUE")
        XCTAssertEqual(error("", overrides: ["optimizer.lr"]),
                       "config: optimizer.lr: an override must be key.path=value; write e.g. --set optimizer.lr=0.05")
        XCTAssertEqual(error("", overrides: ["optimizer.lr=-1"]), "config: optimizer.lr: -1.0 is not allowed; use a number > 0")
        XCTAssertEqual(error("", overrides: ["eval.ood={dataset: cifar100, rot: /x}"]),
                       "config: eval.ood.rot: unknown key (did you mean root?); valid keys in eval.ood are name, dataset, root")
    }

    func testSyntaxErrorIsOneLine() {
        XCTAssertTrue(error("optimizer: {lr: 0.1").hasPrefix("config: config: not valid YAML"))
    }

    /// YAML nested 5000 deep crashed Yams' recursive parser (a segfault): in a config, in a --set
    /// value (flow and block style alike) it is refused by line before parsing; 100 levels still parse.
    func testDeeplyNestedYAMLIsRefusedBeforeParsing() {
        let deep = String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000)
        XCTAssertEqual(error("optimizer: {lr: 0.1}\nx: " + deep),
                       "config: config: not valid YAML (line 2 nests more than 100 levels deep; a config is a few levels deep); fix the YAML at the line and column shown")
        XCTAssertTrue(error("", overrides: ["optimizer.lr=" + deep]).hasSuffix(
            "is not valid YAML (line 1 nests more than 100 levels deep; a config is a few levels deep); quote it or write a number, true/false, or [a, b]"))
        let block = (0..<5000).map { String(repeating: " ", count: $0) + "k:" }.joined(separator: "\n")
        XCTAssertTrue(error(block).contains("line 102 nests more than 100 levels deep"), error(block))
        let compact = String(repeating: "- ", count: 5000) + "x"
        XCTAssertTrue(error("a: \n" + compact).contains("line 2 nests more than 100 levels deep"))
        // Brackets inside quotes or comments are not nesting; 90 levels parse (and fail on the key).
        let quoted = String(repeating: "[", count: 200)
        XCTAssertEqual(error("name: \"\(quoted)\" # \(quoted)"), "config: name: \"\(quoted)\" is not allowed; use 1 to 200 letters, digits, '.', '_' and '-' (it names the run folder)")
        XCTAssertTrue(error("x: " + String(repeating: "[", count: 90) + String(repeating: "]", count: 90)).hasPrefix("config: x: unknown key"))
    }

    func testYAMLRoundTripAndReadableNumbers() throws {
        var config = TrainingConfig()
        config.name = "round-trip"
        config.optimizer.weightDecay = 5e-4
        config.eval.ood = [EvalConfig.OOD(dataset: .mnist, root: "/usr/share/datasets/mnist")]
        config.schedule.milestones = [3, 7]
        config.training.epochs = 9
        config.data.trainSubset = 1000
        let text = try config.yamlText()
        XCTAssertTrue(text.contains("lr: 0.1\n"), text)
        XCTAssertTrue(text.contains("weight_decay: 0.0005\n"), text)
        XCTAssertTrue(text.hasPrefix("name: round-trip\nseed: 0\ndata:\n"), text)
        XCTAssertEqual(try TrainingConfig.parse(yaml: text), config)
    }

    /// Every dataset, model and mixing method the libraries know is read from its YAML spelling and
    /// written back to it (the config's choices are the libraries' own enums).
    func testEveryChoiceRoundTripsThroughYAML() throws {
        for dataset in DataConfig.Dataset.allCases {
            let root = dataset.builtIn == nil ? ", root: /data/photos" : ""
            try assertRoundTrip(dataset, "data: {dataset: \(dataset.rawValue)\(root)}", "dataset", \.data.dataset)
        }
        for name in ModelConfig.Name.allCases {
            try assertRoundTrip(name, "model: {name: \(name.rawValue)}", "name", \.model.name)
        }
        for method in MixingConfig.Method.allCases {
            try assertRoundTrip(method, "mixing: {method: \(method.rawValue)}", "method", \.mixing.method)
        }
    }

    private func assertRoundTrip<Choice: ConfigChoice & Equatable>(_ choice: Choice, _ yaml: String, _ key: String,
                                                                  _ path: KeyPath<TrainingConfig, Choice>) throws {
        let config = try TrainingConfig.parse(yaml: yaml)
        XCTAssertEqual(config[keyPath: path], choice, yaml)
        let text = try config.yamlText()
        XCTAssertTrue(text.contains("  \(key): \(choice.rawValue)\n"), text)
        XCTAssertEqual(try TrainingConfig.parse(yaml: text), config, yaml)
    }

    /// `data.root` left out follows `data.dataset` (in the file or set by `--set`); a root given
    /// either way wins. The resolved config names its root, so `config.yaml` reloads to the same run.
    func testDataRootDefaultsToTheDatasetsFolder() throws {
        let expected: [DataConfig.Dataset: String] = [
            .fashionMNIST: "/usr/share/datasets/fashion-mnist", .mnist: ".cache/data/mnist",
            .cifar10: ".cache/data/cifar-10-batches-bin", .cifar100: ".cache/data/cifar-100-binary",
        ]
        XCTAssertEqual(Set(expected.keys), Set(DataConfig.Dataset.allCases).subtracting([.imageFolder, .shards]),
                       "every built-in dataset has a default folder (image folders and shards have none: data.root is required)")
        for (dataset, root) in expected {
            let config = try TrainingConfig.parse(yaml: "data: {dataset: \(dataset)}")
            XCTAssertEqual(config.data.root, root)
            XCTAssertEqual(DataConfig.defaultRoot(of: dataset), root)
            XCTAssertEqual(try TrainingConfig.parse(yaml: "", overrides: ["data.dataset=\(dataset)"]).data.root, root)
            XCTAssertEqual(try TrainingConfig.parse(yaml: "data: {dataset: \(dataset), root: /mine}").data.root, "/mine")
            XCTAssertEqual(try TrainingConfig.parse(yaml: "data: {dataset: \(dataset)}", overrides: ["data.root=/mine"]).data.root, "/mine")
            XCTAssertEqual(try TrainingConfig.parse(yaml: "data: {root: /mine}", overrides: ["data.dataset=\(dataset)"]).data.root, "/mine")
            XCTAssertTrue(try config.yamlText().contains("  root: \(root)\n"))
            XCTAssertEqual(try TrainingConfig.parse(yaml: config.yamlText()), config)
        }
        XCTAssertEqual(TrainingConfig().data.root, DataConfig.defaultRoot(of: TrainingConfig().data.dataset))
        XCTAssertEqual(error("data: {root: null}"), "config: data.root: null is not a value for this key; give a value, or remove the key for its default")
    }

    /// Names that YAML would read as numbers or booleans survive the round trip as strings.
    func testNumberLikeNamesRoundTrip() throws {
        for name in ["1e5", "2024", "true", "0.5"] {
            var config = TrainingConfig()
            config.name = name
            let text = try config.yamlText()
            XCTAssertEqual(try TrainingConfig.parse(yaml: text).name, name, text)
        }
    }

    func testHashIsStableAndSensitive() throws {
        let a = try TrainingConfig.parse(yaml: "seed: 1\noptimizer: {lr: 0.1, momentum: 0.9}")
        let b = try TrainingConfig.parse(yaml: "optimizer: {momentum: 0.9, lr: 0.1}\nseed: 1")
        XCTAssertEqual(try a.hash(), try b.hash())
        XCTAssertEqual(try a.hash().count, 64)
        let c = try TrainingConfig.parse(yaml: "seed: 1", overrides: ["optimizer.lr=0.10000001"])
        XCTAssertNotEqual(try a.hash(), try c.hash())
        XCTAssertTrue(try a.canonicalText().hasPrefix("checkpoint:"))
    }

    func testLoadFromFileAndUnreadableFile() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("config-\(UUID().uuidString).yaml")
        defer { try? FileManager.default.removeItem(at: url) }
        try Data("seed: 3\n".utf8).write(to: url)
        XCTAssertEqual(try TrainingConfig.load(contentsOf: url, overrides: ["seed=4"]).seed, 4)
        XCTAssertThrowsError(try TrainingConfig.load(contentsOf: url.appendingPathExtension("missing"))) { error in
            XCTAssertTrue("\(error)".hasSuffix("check the path given to --config"), "\(error)")
        }
    }

    func testRepositoryConfigsLoad() throws {
        let configs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../configs").standardized
        let files = (try? FileManager.default.contentsOfDirectory(at: configs, includingPropertiesForKeys: nil)) ?? []
        for file in files where file.pathExtension == "yaml" {
            XCTAssertNoThrow(try TrainingConfig.load(contentsOf: file), file.lastPathComponent)
        }
    }
}
