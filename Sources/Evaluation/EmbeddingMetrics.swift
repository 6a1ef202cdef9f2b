import Foundation
import RunConfig

/// Alignment and uniformity of ℓ2-normalised embeddings (Wang & Isola 2020), as sums ranks can add.
///
/// With f(x) the embedding divided by its ℓ2 norm (or, with `normalise: false`, the raw embedding
/// times `scale`, whose distances are not bounded: the MultiMix paper's alignment 3.02 and uniformity
/// −5.68 lie outside what normalised post-ReLU embeddings can give, [0, 2] and [−4, 0]; with `scale`
/// = 1/R, R the global RMS norm √(mean ‖z‖²), the scale-free protocol: a model's embeddings scaled
/// by any c > 0 give the same numbers, and the geometry, not the size, is compared):
///
///     alignment  = mean over same-class pairs {x, y} of ‖f(x) − f(y)‖₂^α,    α = 2
///     uniformity = log mean over all pairs {x, y} of exp(−t ‖f(x) − f(y)‖₂²), t = 2
///
/// Pairs: every unordered pair {i, j}, i < j, of the examples given to one `add` call (same class by
/// label for alignment). An `add` call with more than `maxSamples` examples first keeps a seeded random
/// subset of `maxSamples` of them (partial Fisher–Yates, SplitMix64), so the cost is at most
/// maxSamples²/2 distances: 2048 examples of dimension 512 take about a second. Each rank calls `add`
/// once with the embeddings of its shard of the test set; the sums are then added across ranks. The
/// result is the mean over pairs within each rank's (sampled) shard: an unbiased estimate of the
/// mean over all pairs when shards are random, with no embedding crossing the network.
public struct EmbeddingTally: Equatable, Sendable {
    /// Σ ‖f(x) − f(y)‖² over same-class pairs.
    public var alignmentSum: Double = 0
    /// Same-class pairs counted.
    public var alignmentPairs: Double = 0
    /// Σ exp(−2 ‖f(x) − f(y)‖²) over all pairs.
    public var uniformitySum: Double = 0
    /// Pairs counted.
    public var uniformityPairs: Double = 0

    /// The exponent α of alignment.
    public static let alpha = 2.0
    /// The temperature t of uniformity.
    public static let t = 2.0

    public init() {}

    /// Adds the pairs among `count` embeddings of `dimension` (row-major [count, dimension]) with their
    /// labels, sampling `maxSamples` of them first if there are more. `scale` multiplies raw embeddings
    /// (`normalise: false`).
    public mutating func add<Labels: Collection>(embeddings: UnsafeBufferPointer<Float>, dimension: Int, labels: Labels,
                                                 maxSamples: Int = 2048, seed: UInt64 = 0,
                                                 normalise: Bool = true, scale: Float = 1) where Labels.Element: BinaryInteger {
        let count = labels.count
        precondition(dimension >= 1 && embeddings.count == count * dimension,
                     "EmbeddingTally.add: \(embeddings.count) values for \(count) embeddings of dimension \(dimension)")
        let labels = labels.map { Int($0) }
        let chosen = EmbeddingTally.sample(count: count, keep: maxSamples, seed: seed)
        // f = z / ‖z‖ for the chosen rows (a zero vector stays zero); f = scale · z without normalising.
        var normalised = [Float](repeating: 0, count: chosen.count * dimension)
        for (row, index) in chosen.enumerated() {
            var squares: Float = 0
            for k in 0..<dimension { squares += embeddings[index * dimension + k] * embeddings[index * dimension + k] }
            let scale = !normalise ? scale : squares > 0 ? 1 / squares.squareRoot() : 0
            for k in 0..<dimension { normalised[row * dimension + k] = embeddings[index * dimension + k] * scale }
        }
        normalised.withUnsafeBufferPointer { f in
            for i in 0..<chosen.count {
                var exponentials = 0.0
                for j in (i + 1)..<max(chosen.count, i + 1) {
                    var distance2: Float = 0                           // ‖f(x) − f(y)‖²
                    for k in 0..<dimension {
                        let difference = f[i * dimension + k] - f[j * dimension + k]
                        distance2 += difference * difference
                    }
                    exponentials += exp(-EmbeddingTally.t * Double(distance2))
                    if labels[chosen[i]] == labels[chosen[j]] {
                        alignmentSum += pow(Double(distance2), EmbeddingTally.alpha / 2)
                        alignmentPairs += 1
                    }
                }
                uniformitySum += exponentials
                uniformityPairs += Double(chosen.count - 1 - i)
            }
        }
    }

    /// Adds pairs from an array of embeddings.
    public mutating func add<Labels: Collection>(embeddings: [Float], dimension: Int, labels: Labels,
                                                 maxSamples: Int = 2048, seed: UInt64 = 0,
                                                 normalise: Bool = true, scale: Float = 1) where Labels.Element: BinaryInteger {
        embeddings.withUnsafeBufferPointer {
            add(embeddings: $0, dimension: dimension, labels: labels, maxSamples: maxSamples, seed: seed,
                normalise: normalise, scale: scale)
        }
    }

    /// Adds another tally.
    public mutating func merge(_ other: EmbeddingTally) {
        alignmentSum += other.alignmentSum
        alignmentPairs += other.alignmentPairs
        uniformitySum += other.uniformitySum
        uniformityPairs += other.uniformityPairs
    }

    /// The four sums, for a sum all-reduce.
    public var flattened: [Double] { [alignmentSum, alignmentPairs, uniformitySum, uniformityPairs] }

    /// The tally from ``flattened`` (summed).
    public init(flattened values: [Double]) {
        precondition(values.count == 4, "EmbeddingTally(flattened:): \(values.count) values")
        (alignmentSum, alignmentPairs, uniformitySum, uniformityPairs) = (values[0], values[1], values[2], values[3])
    }

    /// Mean squared distance of same-class pairs, in [0, 4] (NaN with no such pairs).
    public var alignment: Double { alignmentSum / alignmentPairs }
    /// log of the mean Gaussian potential over pairs, in [−8, 0].
    public var uniformity: Double { log(uniformitySum / uniformityPairs) }

    /// The metrics under their `metrics.jsonl` names (of a tally of normalised embeddings).
    public var values: [String: Double] { [MetricName.alignment: alignment, MetricName.uniformity: uniformity] }

    /// The metrics under their `metrics.jsonl` names for a tally of raw embeddings.
    public var rawValues: [String: Double] { [MetricName.alignmentRaw: alignment, MetricName.uniformityRaw: uniformity] }

    /// The metrics under their `metrics.jsonl` names for a tally of embeddings divided by their global
    /// RMS norm (``EmbeddingNorms/rms``).
    public var scaleFreeValues: [String: Double] { [MetricName.alignmentScaleFree: alignment, MetricName.uniformityScaleFree: uniformity] }

    /// `keep` distinct indices of 0..<count in increasing order (all of them if count ≤ keep), chosen by a
    /// partial Fisher–Yates shuffle driven by SplitMix64 from `seed`.
    static func sample(count: Int, keep: Int, seed: UInt64) -> [Int] {
        guard count > keep else { return Array(0..<count) }
        var indices = Array(0..<count)
        var state = seed
        for i in 0..<keep {
            // SplitMix64 (Steele, Lea & Flood 2014).
            state &+= 0x9e37_79b9_7f4a_7c15
            var z = state
            z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
            z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
            z ^= z >> 31
            let j = i + Int(z % UInt64(count - i))
            indices.swapAt(i, j)
        }
        return indices[0..<keep].sorted()
    }
}

/// The sizes of the embeddings, as sums ranks can add: the global RMS norm R = √(Σ‖z‖² / N) that the
/// scale-free protocol divides by, and the mean norm Σ‖z‖ / N (`embedding_norm`).
public struct EmbeddingNorms: Equatable, Sendable {
    /// Σ ‖z‖² over the embeddings.
    public var squaredNormSum: Double = 0
    /// Σ ‖z‖.
    public var normSum: Double = 0
    /// N.
    public var count: Double = 0

    public init() {}

    /// Adds `count` embeddings of `dimension` (row-major [count, dimension]).
    public mutating func add(embeddings: [Float], dimension: Int) {
        precondition(dimension >= 1 && embeddings.count % dimension == 0,
                     "EmbeddingNorms.add: \(embeddings.count) values are not rows of \(dimension)")
        for row in 0..<(embeddings.count / dimension) {
            var squares = 0.0
            for k in 0..<dimension { squares += Double(embeddings[row * dimension + k]) * Double(embeddings[row * dimension + k]) }
            squaredNormSum += squares
            normSum += squares.squareRoot()
            count += 1
        }
    }

    /// The three sums, for a sum all-reduce.
    public var flattened: [Double] { [squaredNormSum, normSum, count] }

    /// The norms from ``flattened`` (summed).
    public init(flattened values: [Double]) {
        precondition(values.count == 3, "EmbeddingNorms(flattened:): \(values.count) values")
        (squaredNormSum, normSum, count) = (values[0], values[1], values[2])
    }

    /// R = √(Σ‖z‖² / N) (NaN with no embeddings).
    public var rms: Double { (squaredNormSum / count).squareRoot() }
    /// Σ‖z‖ / N.
    public var mean: Double { normSum / count }
}
