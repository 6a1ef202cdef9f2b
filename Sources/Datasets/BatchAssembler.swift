import Tensors

/// Turns dataset indices into a training batch: gather, augment, normalise, as Float NHWC.
///
///     images: [b, H, W, C] Float, x̂ = (pixel / 255 − mean[c]) / std[c]   (padding pixels are 0 before
///             normalisation, so they come out as −mean[c] / std[c])
///     labels: [b] Int32
///
/// A batch is a pure function of (seed, epoch, step, rank) and the indices: image i of the batch
/// takes its augmentation from block i of the stream (seed, epoch, step, rank, `.augmentation`),
/// whichever thread assembles it and whatever came before.
public struct BatchAssembler: BatchAssembling {
    /// The images and labels.
    public let dataset: ImageDataset
    /// Normalisation.
    public let statistics: ChannelStatistics
    /// Crop and flip (``Augmentation/none`` for evaluation).
    public let augmentation: Augmentation
    /// The run's seed.
    public let seed: UInt64
    /// Normalised value of each byte per channel: `lookup[c · 256 + v] = (v / 255 − mean[c]) / std[c]`.
    let lookup: [Float]

    /// An assembler over `dataset`.
    /// - Precondition: `statistics` has one entry per channel of the images.
    public init(dataset: ImageDataset, statistics: ChannelStatistics, augmentation: Augmentation, seed: UInt64) {
        precondition(statistics.mean.count == dataset.shape.channels,
                     "\(statistics.mean.count) channel statistics for \(dataset.shape.channels)-channel images")
        self.dataset = dataset
        self.statistics = statistics
        self.augmentation = augmentation
        self.seed = seed
        var lookup = [Float](repeating: 0, count: dataset.shape.channels * 256)
        for channel in 0..<dataset.shape.channels {
            for value in 0..<256 {
                lookup[channel * 256 + value] =
                    (Float(value) / 255 - statistics.mean[channel]) / statistics.standardDeviation[channel]
            }
        }
        self.lookup = lookup
    }

    /// The augmentation choices for image `position` of batch (epoch, step) on `rank`.
    public func draw(epoch: Int, step: Int, rank: Int, position: Int) -> Augmentation.Draw {
        let stream = RandomStream(seed: seed, epoch: epoch, step: step, rank: rank, purpose: .augmentation)
        return Augmentation.Draw(block: stream.block(at: UInt32(position)), augmentation: augmentation)
    }

    public var exampleCount: Int { dataset.count }
    public var imageShape: ImageShape { dataset.shape }

    /// Fills `images` (at least indices.count · H·W·C floats) and `labels` with the batch of
    /// `indices` for (epoch, step, rank).
    @discardableResult
    public func assemble(indices: UnsafeBufferPointer<Int>, epoch: Int, step: Int, rank: Int,
                         images: UnsafeMutableBufferPointer<Float>, labels: UnsafeMutableBufferPointer<Int32>) -> AssemblyReport {
        let size = dataset.shape.elementCount
        precondition(images.count >= indices.count * size && labels.count >= indices.count, "batch buffers too small")
        let stream = RandomStream(seed: seed, epoch: epoch, step: step, rank: rank, purpose: .augmentation)
        for (position, index) in indices.enumerated() {
            let draw = augmentation.isIdentity
                ? Augmentation.Draw(dy: 0, dx: 0, flip: false)
                : Augmentation.Draw(block: stream.block(at: UInt32(position)), augmentation: augmentation)
            writeImage(at: index, draw: draw, into: images.baseAddress! + position * size)
            labels[position] = dataset.labels[index]
        }
        return .clean
    }

    /// Array-returning form of ``assemble(indices:epoch:step:rank:images:labels:)``, for tests and tools.
    public func assemble(indices: [Int], epoch: Int, step: Int, rank: Int) -> (images: [Float], labels: [Int32]) {
        var images = [Float](repeating: 0, count: indices.count * dataset.shape.elementCount)
        var labels = [Int32](repeating: 0, count: indices.count)
        _ = indices.withUnsafeBufferPointer { indexBuffer in
            images.withUnsafeMutableBufferPointer { imageBuffer in
                labels.withUnsafeMutableBufferPointer { labelBuffer in
                    assemble(indices: indexBuffer, epoch: epoch, step: step, rank: rank,
                             images: imageBuffer, labels: labelBuffer)
                }
            }
        }
        return (images, labels)
    }

    /// Writes image `index`, cropped, flipped and normalised per `draw`, as H·W·C floats at `destination`.
    ///
    ///     out(y, x) = in(y + dy − p, x' + dx − p),  x' = flip ? W − 1 − x : x,  zero outside
    public func writeImage(at index: Int, draw: Augmentation.Draw, into destination: UnsafeMutablePointer<Float>) {
        let height = dataset.shape.height, width = dataset.shape.width, channels = dataset.shape.channels
        let padding = augmentation.cropPadding
        precondition(index >= 0 && index < dataset.count, "image index \(index) outside 0..<\(dataset.count)")
        dataset.pixels.withUnsafeBufferPointer { pixels in
            lookup.withUnsafeBufferPointer { table in
                let image = pixels.baseAddress! + index * dataset.shape.elementCount
                let table = table.baseAddress!
                for y in 0..<height {
                    let sourceY = y + draw.dy - padding
                    let row = destination + y * width * channels
                    guard sourceY >= 0 && sourceY < height else {
                        for x in 0..<width {
                            for c in 0..<channels { row[x * channels + c] = table[c * 256] }
                        }
                        continue
                    }
                    let sourceRow = image + sourceY * width * channels
                    for x in 0..<width {
                        let sourceX = (draw.flip ? width - 1 - x : x) + draw.dx - padding
                        let out = row + x * channels
                        if sourceX >= 0 && sourceX < width {
                            let pixel = sourceRow + sourceX * channels
                            for c in 0..<channels { out[c] = table[c &* 256 &+ Int(pixel[c])] }
                        } else {
                            for c in 0..<channels { out[c] = table[c * 256] }
                        }
                    }
                }
            }
        }
    }
}
