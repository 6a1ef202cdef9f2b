import Datasets
import Foundation
import RunConfig
import Models
import SwiftMPI
import Tensors

/// Evaluation of a model on a test split shared out over the ranks (each example seen once), with
/// the counts reduced across ranks, as rank 0 reports them:
///
///     top-1, top-5, NLL, ECE (15 bins)         ClassificationTally, summed over ranks
///     alignment, uniformity of ℓ2-normalised   EmbeddingTally (pairs within each rank's shard), summed
///       pooled embeddings, of raw ones, and
///       of ones divided by the global RMS norm  (R from EmbeddingNorms, summed over ranks first)
///     mean embedding norm                      EmbeddingNorms, summed
///     OOD by maximum softmax probability       scores gathered to rank 0: AUROC, AUPR-in, AUPR-out
///     reliability bins, MSP histograms         EvaluationDetails (for the report), counts summed
///
/// BatchNorm uses its running statistics (the trainer averages them over the ranks first).
public struct Evaluator {
    /// An evaluation ended early by `stopRequested`: no metrics.
    public struct EvaluationStopped: Error {}

    /// An image of an evaluated set (an image folder's val/, an OOD folder) could not be decoded;
    /// `detail` is `PATH: REASON` on the rank that read it, nil on the others.
    public struct EvaluationImageError: Error, CustomStringConvertible {
        public let detail: String?
        public var description: String {
            (detail.map { "evaluation: cannot decode \($0)" } ?? "evaluation: another rank could not decode an image (its error line names the file)")
                + "; replace or remove the file (evaluation never skips an image)"
        }
    }

    /// An out-of-distribution set: its metrics are `ood_NAME_auroc`, … (`ood_auroc`, … when `name` is "").
    public struct OutOfDistributionSet {
        public let name: String
        public let data: any TrainingData
        public init(name: String, data: any TrainingData) {
            self.name = name
            self.data = data
        }
    }

    public let model: ResNet
    public let communicator: Communicator
    public var batchSize = 500
    /// Called after every batch (the trainer's progress watchdog).
    public var onBatch: (() -> Void)?
    /// Asked after every batch on this rank (the trainer's stop signal); the ranks agree on it in the
    /// batch's one all-reduce, so `true` anywhere ends the evaluation on every rank with
    /// `EvaluationStopped`: a signalled job stops within a batch instead of after the whole evaluation.
    public var stopRequested: (() -> Bool)?

    public init(model: ResNet, communicator: Communicator, batchSize: Int = 500) {
        self.model = model
        self.communicator = communicator
        self.batchSize = batchSize
    }

    /// The metrics on `data`'s test split (and against `outOfDistribution`'s test split when given);
    /// the same dictionary on every rank.
    public func evaluate(_ data: any TrainingData, outOfDistribution: (any TrainingData)?) throws -> [String: Double] {
        try evaluate(data, outOfDistributionSets: outOfDistribution.map { [OutOfDistributionSet(name: "", data: $0)] } ?? [])
    }

    /// The metrics on `data`'s test split, and against each out-of-distribution set's test split; the
    /// same dictionary on every rank.
    public func evaluate(_ data: any TrainingData, outOfDistributionSets: [OutOfDistributionSet] = []) throws -> [String: Double] {
        try evaluateWithDetails(data, outOfDistributionSets: outOfDistributionSets).metrics
    }

    /// The metrics, and the reliability bins and MSP histograms behind them (``EvaluationDetails``,
    /// step and epoch left 0); the same on every rank.
    public func evaluateWithDetails(_ data: any TrainingData, outOfDistributionSets: [OutOfDistributionSet] = []) throws
        -> (metrics: [String: Double], details: EvaluationDetails) {
        let wasTraining = model.isTraining
        model.isTraining = false
        defer { model.isTraining = wasTraining }

        var tally = ClassificationTally()
        var embeddings: [Float] = [], labels: [Int32] = [], scores: [Double] = []
        var histogram = ScoreHistogram(name: EvaluationDetails.inDistribution)
        try pass(data) { logits, z, batchLabels, count in
            let real = UnsafeBufferPointer(rebasing: logits[0..<(count * model.classCount)])
            tally.add(logits: real, classes: model.classCount, labels: batchLabels.prefix(count))
            embeddings += z.prefix(count * model.featureChannels)
            labels += batchLabels.prefix(count)
            let msp = OODScores.maximumSoftmaxProbabilities(logits: real, classes: model.classCount)
            histogram.add(msp)
            if !outOfDistributionSets.isEmpty { scores += msp }
        }
        // The global RMS norm R = √(Σ‖z‖² / N) over every rank's embeddings, for the scale-free protocol.
        var norms = EmbeddingNorms()
        norms.add(embeddings: embeddings, dimension: model.featureChannels)
        var normSums = norms.flattened
        try communicator.allreduce(&normSums, op: .sum)
        norms = EmbeddingNorms(flattened: normSums)
        // Alignment and uniformity three times: on ℓ2-normalised embeddings (Wang & Isola), on raw ones,
        // and on raw ones divided by R (scale-free).
        var normalised = EmbeddingTally(), raw = EmbeddingTally(), scaleFree = EmbeddingTally()
        if !labels.isEmpty {
            let seed = UInt64(communicator.rank), dimension = model.featureChannels
            normalised.add(embeddings: embeddings, dimension: dimension, labels: labels, seed: seed)
            raw.add(embeddings: embeddings, dimension: dimension, labels: labels, seed: seed, normalise: false)
            scaleFree.add(embeddings: embeddings, dimension: dimension, labels: labels, seed: seed, normalise: false,
                          scale: norms.rms > 0 ? Float(1 / norms.rms) : 0)
        }
        var sums = tally.flattened + normalised.flattened + raw.flattened + scaleFree.flattened + histogram.counts
        try communicator.allreduce(&sums, op: .sum)
        var parts = Array(sums)[...]
        func take(_ count: Int) -> [Double] { defer { parts = parts.dropFirst(count) }; return Array(parts.prefix(count)) }
        tally = ClassificationTally(flattened: take(tally.flattened.count))
        normalised = EmbeddingTally(flattened: take(normalised.flattened.count))
        raw = EmbeddingTally(flattened: take(raw.flattened.count))
        scaleFree = EmbeddingTally(flattened: take(scaleFree.flattened.count))
        histogram.counts = Array(parts)
        var histograms = [histogram]
        var metrics = tally.values.merging(normalised.values) { first, _ in first }
        metrics.merge(raw.rawValues) { first, _ in first }
        metrics.merge(scaleFree.scaleFreeValues) { first, _ in first }
        metrics[MetricName.embeddingNorm] = norms.mean

        let inAll = outOfDistributionSets.isEmpty ? [] : try gatherScores(scores)
        for set in outOfDistributionSets {
            var outScores: [Double] = []
            try pass(set.data) { logits, _, _, count in
                outScores += OODScores.maximumSoftmaxProbabilities(
                    logits: UnsafeBufferPointer(rebasing: logits[0..<(count * model.classCount)]), classes: model.classCount)
            }
            var outHistogram = ScoreHistogram(name: set.name.isEmpty ? "ood" : set.name)
            outHistogram.add(outScores)
            try communicator.allreduce(&outHistogram.counts, op: .sum)
            histograms.append(outHistogram)
            let outAll = try gatherScores(outScores)
            var ood = [Double](repeating: 0, count: 3)
            if communicator.rank == 0 {
                let result = OODScores.evaluate(inDistribution: inAll, outOfDistribution: outAll)
                ood = [result.auroc, result.auprIn, result.auprOut]
            }
            try communicator.broadcast(&ood, root: 0)
            metrics.merge(OODScores(auroc: ood[0], auprIn: ood[1], auprOut: ood[2]).values(forSet: set.name)) { first, _ in first }
        }
        return (metrics, EvaluationDetails(reliability: EvaluationDetails.reliability(of: tally), histograms: histograms))
    }

    /// Runs the model over this rank's shard of `data`'s test split; `body` gets the logits, the pooled
    /// embeddings, the labels and how many leading rows are real examples (the rest is padding).
    private func pass(_ data: any TrainingData,
                      _ body: (UnsafeBufferPointer<Float>, UnsafeBufferPointer<Float>, UnsafeBufferPointer<Int32>, Int) -> Void) throws {
        let loader = data.evaluationLoader(rank: communicator.rank, worldSize: communicator.size, batchSize: batchSize)
        defer { loader.stop() }
        let input = Tensor(shape: [0])
        while let batch = loader.next() {
            input.resize(to: [batch.count, batch.shape.height, batch.shape.width, batch.shape.channels])
            input.data.update(from: batch.images.baseAddress!, count: input.count)
            let z = model.pool(model.encode(input))
            let logits = model.classify(z)
            body(UnsafeBufferPointer(start: logits.data, count: logits.count), UnsafeBufferPointer(start: z.data, count: z.count),
                 batch.labels, batch.realCount)
            onBatch?()
            // One all-reduce a batch carries both flags, so that no rank is left waiting: an image file
            // that could not be decoded stops the evaluation (scoring the blank in its place would change
            // the metrics silently), and so does a stop signal.
            var flags = [batch.failure == nil ? 0.0 : 1, stopRequested?() == true ? 1 : 0]
            try communicator.allreduce(&flags, op: .sum)
            if flags[0] > 0 { throw EvaluationImageError(detail: batch.failure) }
            if flags[1] > 0 { throw EvaluationStopped() }
        }
    }

    /// Every rank's scores, concatenated on rank 0 (empty elsewhere). Shards differ in size by at most
    /// one example: each pads to the largest with NaN, which rank 0 drops.
    private func gatherScores(_ scores: [Double]) throws -> [Double] {
        var longest: [Int64] = [Int64(scores.count)]
        try communicator.allreduce(&longest, op: .max)
        let padded = scores + [Double](repeating: .nan, count: Int(longest[0]) - scores.count)
        return (try communicator.gather(padded, root: 0) ?? []).filter { !$0.isNaN }
    }
}
