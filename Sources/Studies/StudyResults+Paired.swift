import Evaluation
import Foundation
import TextEscaping
import Checkpointing
import RunConfig
import RunOutputs

/// Paired differences against each of the study's `compare_to` variants (its baselines): seed s of a
/// variant against seed s of the baseline (same data order, same initialisation), so the seed-to-seed
/// spread that both share cancels out of the comparison.
///
///     dₛ = variant(s) − baseline(s)                   for each seed s both have the metric for
///     d̄ = Σ dₛ / n,   s_d = √(Σ (dₛ − d̄)² / (n − 1))
///     95% interval: d̄ ± t₀.₉₇₅(n − 1) · s_d / √n       (Student's t, n − 1 degrees of freedom)
///
/// With n = 3 seeds t₀.₉₇₅(2) = 4.303: an interval clear of 0 needs d̄ > 2.48 s_d.
extension StudyResults {
    /// One variant's paired differences from the baseline on one metric.
    public struct PairedDifference: Equatable {
        /// The seeds both runs have the metric for, in the study's order.
        public var seeds: [Int]
        /// dₛ = variant − baseline, per seed in `seeds`' order.
        public var differences: [Double]
        /// d̄.
        public var mean: Double
        /// s_d; nil for one seed.
        public var std: Double?
        /// d̄ ± t₀.₉₇₅(n − 1)·s_d/√n; nil for one seed.
        public var interval: (low: Double, high: Double)? {
            guard let std, seeds.count >= 2 else { return nil }
            let half = StudyResults.tQuantile975(degreesOfFreedom: seeds.count - 1) * std / Double(seeds.count).squareRoot()
            return (mean - half, mean + half)
        }
    }

    /// `variant` − `baseline` (default: the first of `compare_to`) on `metric`, seed by seed; nil
    /// without a baseline, for the baseline itself, or when no seed has the metric in both.
    public func paired(variant: String, metric: String, against baseline: String? = nil) -> PairedDifference? {
        guard let baseline = baseline ?? self.baseline, variant != baseline else { return nil }
        let base = Dictionary(runs(of: baseline).compactMap { run in run.final[metric].map { (run.seed, $0) } }) { first, _ in first }
        let mine = Dictionary(runs(of: variant).compactMap { run in run.final[metric].map { (run.seed, $0) } }) { first, _ in first }
        let seeds = self.seeds.filter { base[$0] != nil && mine[$0] != nil }
        let differences = seeds.map { mine[$0]! - base[$0]! }
        guard let summary = StudyResults.summarise(differences) else { return nil }
        return PairedDifference(seeds: seeds, differences: differences, mean: summary.mean, std: summary.std)
    }

    /// t₀.₉₇₅(ν), the 97.5% quantile of Student's t with ν degrees of freedom: a table for ν ≤ 30
    /// (scipy.stats.t.ppf, 6 decimals), the Cornish–Fisher expansion in 1/ν about z = 1.959964 above
    /// (within 2·10⁻⁶ of the exact value from ν = 31 on).
    public static func tQuantile975(degreesOfFreedom nu: Int) -> Double {
        precondition(nu >= 1, "t quantile: \(nu) degrees of freedom")
        let table = [12.706205, 4.302653, 3.182446, 2.776445, 2.570582, 2.446912, 2.364624, 2.306004, 2.262157, 2.228139,
                     2.200985, 2.178813, 2.160369, 2.144787, 2.131450, 2.119905, 2.109816, 2.100922, 2.093024, 2.085963,
                     2.079614, 2.073873, 2.068658, 2.063899, 2.059539, 2.055529, 2.051831, 2.048407, 2.045230, 2.042272]
        if nu <= table.count { return table[nu - 1] }
        let z = 1.959963985, v = Double(nu)
        let z3 = z * z * z, z5 = z3 * z * z, z7 = z5 * z * z
        return z + (z3 + z) / (4 * v) + (5 * z5 + 16 * z3 + 3 * z) / (96 * v * v)
            + (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / (384 * v * v * v)
    }

    /// The variants compared with `baseline`: all the others, in the study's order.
    func comparedVariants(against baseline: String) -> [String] {
        variants.filter { $0 != baseline }
    }

    /// The paired table against `baseline` (default: the first of `compare_to`): a row per compared
    /// variant, a column per metric, "d̄ [low, high]" (n seeds; "d̄ [–]" with one seed). Nil without a
    /// baseline.
    public func pairedTable(against baseline: String? = nil) -> Table? {
        guard let baseline = baseline ?? self.baseline else { return nil }
        let metrics = self.metrics
        let rows = comparedVariants(against: baseline).map { variant -> [Cell] in
            [Cell(text: variant)] + metrics.map { metric in
                guard let paired = paired(variant: variant, metric: metric, against: baseline) else { return Cell(text: "") }
                let interval = paired.interval.map { "[\(StudyResults.signed($0.low)), \(StudyResults.signed($0.high))]" } ?? "[–]"
                return Cell(text: "\(StudyResults.signed(paired.mean)) \(interval)")
            }
        }
        return Table(header: ["variant"] + metrics, rows: rows)
    }

    /// The per-seed differences against `baseline` (default: the first of `compare_to`): a row per run
    /// of a compared variant, a column per metric (empty where the baseline lacks that seed or
    /// metric). Nil without a baseline.
    public func pairedSeedTable(against baseline: String? = nil) -> Table? {
        guard let baseline = baseline ?? self.baseline else { return nil }
        let metrics = self.metrics, compared = comparedVariants(against: baseline)
        let differences = Dictionary(uniqueKeysWithValues: compared.flatMap { variant in
            metrics.map { metric in ("\(variant)\u{0}\(metric)", paired(variant: variant, metric: metric, against: baseline)) }
        })
        let rows = compared.flatMap { variant in
            runs(of: variant).map(\.seed).map { seed -> [Cell] in
                [Cell(text: variant), Cell(text: "\(seed)")] + metrics.map { metric in
                    guard let paired = differences["\(variant)\u{0}\(metric)"] ?? nil, let index = paired.seeds.firstIndex(of: seed) else {
                        return Cell(text: "")
                    }
                    return Cell(text: StudyResults.signed(paired.differences[index]))
                }
            }
        }
        return Table(header: ["variant", "seed"] + metrics, rows: rows)
    }

    /// The sentence under the paired tables against `baseline` (default: the first of `compare_to`).
    func pairedNote(against baseline: String? = nil) -> String? {
        guard let baseline = baseline ?? self.baseline else { return nil }
        return "Paired differences against \(baseline) (compare_to): for each seed, the variant's final value minus "
            + "\(baseline)'s with the same seed; the mean over seeds and its 95% t-interval, mean ± t(0.975, n − 1)·s/√n "
            + "(t = 4.303 for 3 seeds; [–] with one seed). An interval that excludes 0 is a difference the seeds agree on."
    }

    /// A value with its sign: "+0.0123", "-0.0050" (4 decimals; 3 significant digits below 0.01).
    static func signed(_ value: Double) -> String {
        guard value.isFinite else { return "n/a" }
        let text = format(value)
        return value >= 0 ? "+" + text : text
    }
}
