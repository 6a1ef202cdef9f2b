import Tensors

/// Synthetic out-of-distribution sets: images of pure noise with a training set's per-channel mean and
/// standard deviation, so that a detector cannot tell them apart by brightness or contrast alone.
///
///     gaussian:  pixel/255 = mean[c] + std[c]·N(0, 1)                 clamped to [0, 1], rounded
///     uniform:   pixel/255 = mean[c] + std[c]·√3·U(−1, 1)             (the same mean and std)
///
/// Every pixel is drawn independently, from a stream keyed by the seed and the kind: the same images
/// every time.
public enum NoiseImages {
    /// The kinds of noise.
    public enum Kind: String, CaseIterable, Sendable {
        case gaussian, uniform
    }

    /// `count` noise images of `shape` with `statistics`' mean and deviation per channel.
    public static func make(_ kind: Kind, count: Int, shape: ImageShape, statistics: ChannelStatistics, seed: UInt64 = 0) -> ImageDataset {
        precondition(count >= 0 && statistics.mean.count == shape.channels,
                     "NoiseImages: \(count) images of \(shape) with \(statistics.mean.count)-channel statistics")
        var random = RandomStream(seed: seed, epoch: Kind.allCases.firstIndex(of: kind)!, purpose: .sampling)
        let channels = shape.channels
        var pixels = [UInt8](repeating: 0, count: count * shape.elementCount)
        for index in pixels.indices {
            let c = index % channels
            let (mean, std) = (statistics.mean[c], statistics.standardDeviation[c])
            let value: Float
            switch kind {
            case .gaussian: value = random.nextNormal(mean: mean, standardDeviation: std)
            case .uniform: value = mean + std * 3.0.squareRoot().float * (2 * random.nextFloat() - 1)
            }
            pixels[index] = UInt8(min(max(value, 0), 1) * 255 + 0.5)
        }
        return ImageDataset(shape: shape, pixels: pixels, labels: [Int32](repeating: 0, count: count), classNames: ["noise"])
    }
}

private extension Double {
    var float: Float { Float(self) }
}
