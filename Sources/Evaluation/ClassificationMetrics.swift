import Foundation
import RunConfig

/// Accuracy, negative log-likelihood and calibration of a classifier, as sums that ranks can add.
///
/// Each rank feeds its share of the test set, batch by batch, into `add`; the tallies are then summed
/// across ranks (`merge` in-process, or `flattened` through an MPI all-reduce and `init(flattened:)`),
/// and rank 0 reads the metrics:
///
///     var tally = ClassificationTally()
///     tally.add(logits: logits, classes: 10, labels: labels)      // logits: [n, classes], row-major
///     let global = ClassificationTally(flattened: allreduceSum(tally.flattened))
///     global.top1, global.top5, global.nll, global.ece
///
/// Definitions, for one example with logits z (C classes), label y, softmax p = softmax(z):
/// - top-k correct: fewer than k classes rank above y, ranking by logit with ties broken by lower
///   class index (so top-1 agrees with argmax taking the first maximum); a row with a non-finite
///   logit (a diverged model) is never correct, and makes NLL and ECE NaN;
/// - NLL: −log p_y = logsumexp(z) − z_y (in Double), averaged;
/// - ECE (Guo et al. 2017) with 15 equal-width bins of confidence c = maxⱼ pⱼ, bin b = (b/15, (b+1)/15]:
///   ECE = Σ_b |correct_b − Σ_{i∈b} c_i| / N, where correct_b counts top-1 hits in bin b.
public struct ClassificationTally: Equatable, Sendable {
    /// Confidence bins for ECE.
    public static let binCount = 15

    /// Examples seen.
    public var count: Double = 0
    /// Top-1 hits.
    public var top1Correct: Double = 0
    /// Top-5 hits.
    public var top5Correct: Double = 0
    /// Σ −log p_y.
    public var nllSum: Double = 0
    /// Examples per confidence bin.
    public var binExamples = [Double](repeating: 0, count: binCount)
    /// Σ confidence per bin.
    public var binConfidence = [Double](repeating: 0, count: binCount)
    /// Top-1 hits per bin.
    public var binCorrect = [Double](repeating: 0, count: binCount)

    public init() {}

    /// Adds a batch: `logits` is [n, classes] row-major, `labels` has n entries in 0..<classes.
    public mutating func add<Labels: Collection>(logits: UnsafeBufferPointer<Float>, classes: Int, labels: Labels)
    where Labels.Element: BinaryInteger {
        precondition(classes >= 1 && logits.count == labels.count * classes,
                     "ClassificationTally.add: \(logits.count) logits for \(labels.count) labels of \(classes) classes")
        for (row, label) in labels.enumerated() {
            let y = Int(label)
            precondition((0..<classes).contains(y), "ClassificationTally.add: label \(y) outside 0..<\(classes)")
            let z = UnsafeBufferPointer(rebasing: logits[row * classes..<(row + 1) * classes])
            // rank of y: classes above it, ties going to the lower index (argmax takes the first maximum).
            var rank = 0
            var maximum = z[0]
            var finite = true
            for j in 0..<classes {
                if z[j] > z[y] || (z[j] == z[y] && j < y) { rank += 1 }
                maximum = max(maximum, z[j])
                finite = finite && z[j].isFinite
            }
            // NaN compares false with everything: without this, a NaN row would rank y first.
            if !finite { rank = Int.max }
            // logsumexp(z) = m + log Σⱼ exp(zⱼ − m), m = max z
            var sum = 0.0
            for j in 0..<classes { sum += exp(Double(z[j]) - Double(maximum)) }
            let logSumExp = Double(maximum) + log(sum)
            let confidence = 1 / sum                                   // max p = exp(m − lse)
            let hit: Double = rank == 0 ? 1 : 0
            count += 1
            top1Correct += hit
            top5Correct += rank < 5 ? 1 : 0
            nllSum += logSumExp - Double(z[y])
            // (Non-finite logits, from a diverged model, give a NaN confidence: it goes to bin 0, and the
            // NaN it carries makes NLL and ECE NaN, as they should be.)
            let bin = ScoreHistogram.bin(of: confidence, count: Self.binCount)
            binExamples[bin] += 1
            binConfidence[bin] += confidence
            binCorrect[bin] += hit
        }
    }

    /// Adds a batch from an array of logits.
    public mutating func add<Labels: Collection>(logits: [Float], classes: Int, labels: Labels) where Labels.Element: BinaryInteger {
        logits.withUnsafeBufferPointer { add(logits: $0, classes: classes, labels: labels) }
    }

    /// Adds another tally (another rank's, another batch's).
    public mutating func merge(_ other: ClassificationTally) {
        count += other.count
        top1Correct += other.top1Correct
        top5Correct += other.top5Correct
        nllSum += other.nllSum
        for b in 0..<Self.binCount {
            binExamples[b] += other.binExamples[b]
            binConfidence[b] += other.binConfidence[b]
            binCorrect[b] += other.binCorrect[b]
        }
    }

    /// The tally as 4 + 3 × 15 Doubles, for a sum all-reduce: count, top-1, top-5, NLL sum, then the
    /// bins' examples, confidences and hits. Counts stay exact in Double up to 2⁵³.
    public var flattened: [Double] {
        [count, top1Correct, top5Correct, nllSum] + binExamples + binConfidence + binCorrect
    }

    /// The tally from ``flattened`` (summed).
    public init(flattened values: [Double]) {
        precondition(values.count == 4 + 3 * Self.binCount, "ClassificationTally(flattened:): \(values.count) values")
        count = values[0]
        top1Correct = values[1]
        top5Correct = values[2]
        nllSum = values[3]
        binExamples = Array(values[4..<4 + Self.binCount])
        binConfidence = Array(values[4 + Self.binCount..<4 + 2 * Self.binCount])
        binCorrect = Array(values[4 + 2 * Self.binCount..<4 + 3 * Self.binCount])
    }

    /// Top-1 accuracy in [0, 1] (NaN with no examples).
    public var top1: Double { top1Correct / count }
    /// Top-5 accuracy in [0, 1].
    public var top5: Double { top5Correct / count }
    /// Mean negative log-likelihood (nats).
    public var nll: Double { nllSum / count }
    /// Expected calibration error in [0, 1], 15 bins.
    public var ece: Double {
        (0..<Self.binCount).reduce(0.0) { $0 + abs(binCorrect[$1] - binConfidence[$1]) } / count
    }

    /// The metrics under their `metrics.jsonl` names.
    public var values: [String: Double] {
        [MetricName.top1: top1, MetricName.top5: top5, MetricName.nll: nll, MetricName.ece: ece]
    }
}

/// The names metrics have in `metrics.jsonl`, `state.json` and the report.
public enum MetricName {
    /// Training: mean soft-target cross-entropy over the logged interval.
    public static let loss = "loss"
    /// Training: the learning rate at the logged step.
    public static let learningRate = "lr"
    /// Training: images per second over the logged interval, all ranks together.
    public static let imagesPerSecond = "images_per_s"
    /// Evaluation: top-1 accuracy on the test split, in [0, 1].
    public static let top1 = "top1"
    /// Evaluation: top-5 accuracy.
    public static let top5 = "top5"
    /// Evaluation: mean negative log-likelihood.
    public static let nll = "nll"
    /// Evaluation: expected calibration error, 15 bins.
    public static let ece = "ece"
    /// Evaluation: alignment of ℓ2-normalised embeddings (lower is better).
    public static let alignment = "alignment"
    /// Evaluation: uniformity of ℓ2-normalised embeddings (lower is more uniform).
    public static let uniformity = "uniformity"
    /// Evaluation: alignment of the raw pooled embeddings (the protocol whose magnitudes match the paper's).
    public static let alignmentRaw = "alignment_raw"
    /// Evaluation: uniformity of the raw pooled embeddings.
    public static let uniformityRaw = "uniformity_raw"
    /// Evaluation: alignment of the pooled embeddings divided by their global RMS norm (scale-free).
    public static let alignmentScaleFree = "alignment_rms"
    /// Evaluation: uniformity of the pooled embeddings divided by their global RMS norm (scale-free).
    public static let uniformityScaleFree = "uniformity_rms"
    /// Evaluation: the mean ℓ2 norm of the pooled embeddings.
    public static let embeddingNorm = "embedding_norm"
    /// OOD by maximum softmax probability: area under the ROC curve (against `eval.ood`'s dataset;
    /// `ood_gaussian_auroc`, `ood_uniform_auroc` against the noise sets of `eval.noise_ood_images`).
    public static let oodAUROC = "ood_auroc"
    /// OOD: average precision with in-distribution as positive.
    public static let oodAUPRIn = "ood_aupr_in"
    /// OOD: average precision with out-of-distribution as positive.
    public static let oodAUPROut = "ood_aupr_out"
}
