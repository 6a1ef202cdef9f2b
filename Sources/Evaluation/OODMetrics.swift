import Foundation
import RunConfig

/// Out-of-distribution detection by maximum softmax probability (Hendrycks & Gimpel 2017).
///
/// Each test example gets the score s = maxⱼ softmax(z)ⱼ; in-distribution examples should score higher.
/// Unlike the tallies these need every score, so ranks gather their scores (one Double per example)
/// to rank 0, which calls `evaluate`.
///
/// - AUROC: P(s_in > s_out) + ½ P(s_in = s_out) over all in/out pairs (Mann–Whitney, ties halved).
/// - AUPR-in: average precision with in-distribution as positive and s as the score.
/// - AUPR-out: average precision with out-of-distribution as positive and −s as the score.
///
/// Average precision is scikit-learn's `average_precision_score`: AP = Σₖ (Rₖ − Rₖ₋₁) Pₖ over the
/// distinct thresholds, highest first, where Pₖ and Rₖ are the precision and recall of "score ≥ threshold k".
public struct OODScores: Equatable, Sendable {
    public var auroc: Double
    public var auprIn: Double
    public var auprOut: Double

    public init(auroc: Double, auprIn: Double, auprOut: Double) {
        self.auroc = auroc
        self.auprIn = auprIn
        self.auprOut = auprOut
    }

    /// The metrics under their `metrics.jsonl` names.
    public var values: [String: Double] {
        [MetricName.oodAUROC: auroc, MetricName.oodAUPRIn: auprIn, MetricName.oodAUPROut: auprOut]
    }

    /// The metrics named for the set `name`: `ood_NAME_auroc`, … (plain `ood_auroc`, … for "").
    public func values(forSet name: String) -> [String: Double] {
        guard !name.isEmpty else { return values }
        return Dictionary(uniqueKeysWithValues: values.map { key, value in
            (key.replacingOccurrences(of: "ood_", with: "ood_\(name)_"), value)
        })
    }

    /// Scores in-distribution against out-of-distribution examples by their MSP scores.
    public static func evaluate(inDistribution: [Double], outOfDistribution: [Double]) -> OODScores {
        precondition(!inDistribution.isEmpty && !outOfDistribution.isEmpty, "OODScores.evaluate: empty score set")
        return OODScores(auroc: areaUnderROC(positives: inDistribution, negatives: outOfDistribution),
                         auprIn: averagePrecision(positives: inDistribution, negatives: outOfDistribution),
                         auprOut: averagePrecision(positives: outOfDistribution.map { -$0 }, negatives: inDistribution.map { -$0 }))
    }

    /// maxⱼ softmax(z)ⱼ = 1 / Σⱼ exp(zⱼ − max z) for each row of `logits` ([n, classes], row-major).
    public static func maximumSoftmaxProbabilities(logits: UnsafeBufferPointer<Float>, classes: Int) -> [Double] {
        precondition(classes >= 1 && logits.count % classes == 0, "maximumSoftmaxProbabilities: \(logits.count) logits, \(classes) classes")
        return (0..<logits.count / classes).map { row in
            let z = logits[row * classes..<(row + 1) * classes]
            let maximum = Double(z.max()!)
            return 1 / z.reduce(0.0) { $0 + exp(Double($1) - maximum) }
        }
    }

    /// Groups of (positives, negatives) sharing one score, highest score first.
    private static func groups(positives: [Double], negatives: [Double]) -> [(positives: Double, negatives: Double)] {
        let labelled = (positives.map { ($0, true) } + negatives.map { ($0, false) }).sorted { $0.0 > $1.0 }
        var out: [(positives: Double, negatives: Double)] = []
        var previous: Double?
        for (score, isPositive) in labelled {
            if score != previous { out.append((0, 0)) }
            previous = score
            if isPositive { out[out.count - 1].positives += 1 } else { out[out.count - 1].negatives += 1 }
        }
        return out
    }

    /// AUROC by counting, for each positive, the negatives scored below it (ties count ½).
    static func areaUnderROC(positives: [Double], negatives: [Double]) -> Double {
        var negativesAbove = 0.0
        var wins = 0.0
        for group in groups(positives: positives, negatives: negatives) {
            // positives here beat every negative below: all negatives minus those above and tied.
            wins += group.positives * (Double(negatives.count) - negativesAbove - group.negatives) + 0.5 * group.positives * group.negatives
            negativesAbove += group.negatives
        }
        return wins / (Double(positives.count) * Double(negatives.count))
    }

    /// Average precision: Σₖ (Rₖ − Rₖ₋₁) Pₖ over thresholds at each distinct score, highest first.
    static func averagePrecision(positives: [Double], negatives: [Double]) -> Double {
        var truePositives = 0.0, falsePositives = 0.0, precisionSum = 0.0
        for group in groups(positives: positives, negatives: negatives) {
            truePositives += group.positives
            falsePositives += group.negatives
            // recall rises by group.positives / P at precision TP / (TP + FP)
            precisionSum += group.positives * truePositives / (truePositives + falsePositives)
        }
        return precisionSum / Double(positives.count)
    }
}
