import Evaluation
import Foundation
import TextEscaping
import Checkpointing
import RunConfig
import RunOutputs

/// A study's results, read from its run folders: each run's evaluations (the `"kind":"eval"` records
/// of its `metrics.jsonl`), and per variant the mean and sample standard deviation over seeds of each
/// final metric, with the best variant per metric where the metric has a known direction.
///
///     let results = try StudyResults.read(study, folder: study.folder(root: runsRoot))
///     results.summary(variant: "erm", metric: "top1")   // Summary(mean: 0.7, std: 0.2, count: 3)
///     results.best(metric: "ece")                       // ["multimix"]: lowest mean ECE
///
/// Everything but ``read(_:folder:)`` is pure; the tables are in `StudyResults+Tables.swift`.
public struct StudyResults: Equatable {
    /// One run that has at least one evaluation.
    public struct Run: Equatable {
        public var variant: String
        public var seed: Int
        /// The eval records of its metrics.jsonl, in order.
        public var evaluations: [MetricsRecord]
        /// Its finished.json; nil while the run is unfinished (its last evaluation is still used).
        public var finished: FinishedMarker?
        /// Its test.json (a study with `final_test`): the test split, once, on the final model.
        public var test: TestSplitResult?

        public init(variant: String, seed: Int, evaluations: [MetricsRecord], finished: FinishedMarker? = nil,
                    test: TestSplitResult? = nil) {
            self.variant = variant
            self.seed = seed
            self.evaluations = evaluations
            self.finished = finished
            self.test = test
        }

        /// `VARIANT-sNN`.
        public var name: String { StudyRun.name(variant: variant, seed: seed) }
        /// The final metrics: the last evaluation's values.
        public var final: [String: Double] { evaluations.last?.values ?? [:] }
    }

    /// Mean and sample standard deviation (n − 1) of one metric over a variant's seeds.
    public struct Summary: Equatable {
        public var mean: Double
        /// nil with a single value.
        public var std: Double?
        /// How many runs gave a value.
        public var count: Int
    }

    /// Which way a metric improves.
    public enum Direction: Equatable {
        case higherIsBetter, lowerIsBetter
    }

    /// The study's name.
    public var name: String
    /// Variant names, in the study's order.
    public var variants: [String]
    /// The study's seeds, in its order.
    public var seeds: [Int]
    /// The runs with at least one evaluation, variant-major.
    public var runs: [Run]
    /// Names of the study's runs without an evaluation (no folder, no metrics.jsonl, or no eval record).
    public var missing: [String]
    /// The study's `compare_to`: the variants the others are compared with seed by seed (empty: none).
    public var baselines: [String]
    /// The first of `baselines`: the one `results.csv`'s plain `d_METRIC` columns are against.
    public var baseline: String? { baselines.first }
    /// The classes of the training set: a variant whose mean top-1 is below twice chance (2/classes)
    /// did not learn (``didNotLearn(_:)``). Nil: unknown, no variant is ruled out.
    public var classCount: Int?
    /// How many runs the study plans: variants × seeds, fewer where a variant lists its own seeds.
    public var plannedRuns: Int
    /// The split the evaluations are on (the runs' `eval.split`): the test split, or the validation
    /// split in a study that keeps the test split for `final_test`. Plots and headings name it.
    public var evaluationSplit: EvalConfig.Split

    public init(name: String, variants: [String], seeds: [Int], runs: [Run], missing: [String] = [],
                baselines: [String] = [], classCount: Int? = nil, plannedRuns: Int? = nil, evaluationSplit: EvalConfig.Split = .test) {
        self.name = name
        self.variants = variants
        self.seeds = seeds
        self.runs = runs
        self.missing = missing
        self.baselines = baselines
        self.classCount = classCount
        self.plannedRuns = plannedRuns ?? variants.count * seeds.count
        self.evaluationSplit = evaluationSplit
    }

    /// Reads every run of `study` from `folder` (the study folder). A metrics.jsonl with a torn last
    /// line is read without it, as ``MetricsLog/read(_:)`` does; any other damaged line is an error.
    public static func read(_ study: StudyConfig, folder: URL) throws -> StudyResults {
        var runs: [Run] = [], missing: [String] = []
        // Tables list a variant's seeds together: the runs variant-major (they ran seed-major).
        let variantMajor = study.variants.flatMap { variant in study.runs.filter { $0.variant == variant.name } }
        for run in variantMajor {
            let runFolder = folder.appendingPathComponent(run.name)
            let log = runFolder.appendingPathComponent("metrics.jsonl")
            let evaluations = FileManager.default.fileExists(atPath: log.path)
                ? try MetricsLog.read(log).filter { $0.kind == .eval } : []
            if evaluations.isEmpty {
                missing.append(run.name)
            } else {
                runs.append(Run(variant: run.variant, seed: run.seed, evaluations: evaluations,
                                finished: FinishedMarker.read(runFolder: runFolder), test: try TestSplitResult.read(runFolder: runFolder)))
            }
        }
        return StudyResults(name: study.name, variants: study.variants.map(\.name), seeds: study.seeds,
                            runs: runs, missing: missing, baselines: study.compareTo,
                            classCount: study.runs.first?.config.data.dataset.builtIn?.classCount, plannedRuns: study.runs.count,
                            evaluationSplit: study.runs.first?.config.eval.split ?? .test)
    }

    /// Every final metric name of any run, sorted: the columns of the tables.
    public var metrics: [String] {
        Set(runs.flatMap { $0.final.keys }).sorted()
    }

    /// The runs of `variant`, in seed order.
    public func runs(of variant: String) -> [Run] {
        runs.filter { $0.variant == variant }
    }

    /// `metric`'s final values over `variant`'s runs (runs without it left out).
    public func summary(variant: String, metric: String) -> Summary? {
        StudyResults.summarise(runs(of: variant).compactMap { $0.final[metric] })
    }

    /// Mean and sample standard deviation: mean = Σx/n, std = √(Σ(x − mean)² / (n − 1)), nil for n = 1.
    /// A NaN value (a `null` in metrics.jsonl) makes both NaN. Nil for no values.
    public static func summarise(_ values: [Double]) -> Summary? {
        guard !values.isEmpty else { return nil }
        let n = Double(values.count)
        let mean = values.reduce(0, +) / n
        let std = values.count > 1 ? (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / (n - 1)).squareRoot() : nil
        return Summary(mean: mean, std: std, count: values.count)
    }

    /// The direction table: higher is better for `top1`, `top5` and names ending in `auroc`, `aupr_in`
    /// or `aupr_out`; lower is better for `nll`, `ece` and names starting with `alignment` or
    /// `uniformity` (`alignment_raw`). Nil (no best marked) for any other name.
    public static func direction(of metric: String) -> Direction? {
        if ["top1", "top5"].contains(metric) || ["auroc", "aupr_in", "aupr_out"].contains(where: metric.hasSuffix) {
            return .higherIsBetter
        }
        if ["nll", "ece"].contains(metric) || ["alignment", "uniformity"].contains(where: metric.hasPrefix) {
            return .lowerIsBetter
        }
        return nil
    }

    /// Whether `metric` is one a model that did not learn can win by being degenerate: a nearly
    /// uniform classifier is calibrated (ece), scores noise as unlike anything (`ood_gaussian_*`,
    /// `ood_uniform_*`), and collapsed embeddings are "aligned" (`alignment*`, `uniformity*`).
    public static func rewardsDegenerateModels(_ metric: String) -> Bool {
        metric == "ece" || ["alignment", "uniformity", "ood_gaussian_", "ood_uniform_"].contains(where: metric.hasPrefix)
    }

    /// Whether `variant` did not learn: its mean final top-1 is below twice chance, 2/classes (false
    /// when the class count or its top-1 is unknown).
    public func didNotLearn(_ variant: String) -> Bool {
        guard let classCount, let top1 = summary(variant: variant, metric: MetricName.top1)?.mean else { return false }
        return top1 < 2 / Double(classCount)
    }

    /// The variants with the best mean of `metric` (several on a tie); empty when the metric has no
    /// direction or fewer than two variants have a finite mean. A variant that did not learn is never
    /// best on a metric that rewards degenerate models (``rewardsDegenerateModels(_:)``).
    public func best(metric: String) -> [String] {
        guard let direction = StudyResults.direction(of: metric) else { return [] }
        let means = variants.compactMap { variant in
            summary(variant: variant, metric: metric).map { (variant, $0.mean) }
        }.filter { $0.1.isFinite }
        guard means.count >= 2 else { return [] }
        let eligible = StudyResults.rewardsDegenerateModels(metric) ? means.filter { !didNotLearn($0.0) } : means
        guard let target = direction == .higherIsBetter ? eligible.map(\.1).max() : eligible.map(\.1).min() else { return [] }
        return eligible.filter { $0.1 == target }.map(\.0)
    }

    /// The runs with a test.json, of the `plannedRuns`.
    public var testedRunCount: Int { runs.filter { $0.test != nil }.count }

    /// The same study read on the test split (each run's test.json in place of its evaluations), or
    /// nil until every planned run is finished and has one: the test split is reported once, for the
    /// whole study (`final_test`).
    public func testSplitResults() -> StudyResults? {
        guard missing.isEmpty, runs.count == plannedRuns, runs.allSatisfy({ $0.finished != nil && $0.test != nil }) else { return nil }
        var tested = self
        tested.name = name + " (test split)"
        tested.evaluationSplit = .test
        tested.runs = runs.map { run in
            var run = run
            let test = run.test!
            run.evaluations = [MetricsRecord(kind: .eval, step: test.step, epoch: Double(test.epoch), values: test.metrics)]
            return run
        }
        return tested
    }

    /// The runs without a finished.json (their last evaluation is reported all the same).
    public var unfinished: [String] {
        runs.filter { $0.finished == nil }.map(\.name)
    }
}
