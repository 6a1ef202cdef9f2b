/// One batch from a ``PrefetchingLoader``: a view of the loader's buffer, valid until the next call
/// of ``PrefetchingLoader/next()`` (copy what must outlive it).
///
///     images: [count, H, W, C] Float, NHWC, normalised
///     labels: [count] Int32
public struct Batch {
    /// The epoch this batch belongs to.
    public let epoch: Int
    /// Its step within the epoch, from 0.
    public let step: Int
    /// Images in the batch (the batch size, or fewer for a kept partial last batch).
    public let count: Int
    /// How many leading images are real examples rather than a padded sampler's repeats (evaluation
    /// counts only these).
    public let realCount: Int
    /// Shape of each image.
    public let shape: ImageShape
    /// Pixels, NHWC.
    public let images: UnsafeBufferPointer<Float>
    /// Labels.
    public let labels: UnsafeBufferPointer<Int32>
    /// Whether this is the epoch's last batch.
    public let isLastOfEpoch: Bool
    /// Images that failed to decode and were replaced by another of their class (image folders).
    public var badImages = 0
    /// An image that failed and was not replaced (`PATH: REASON`): the trainer stops on it.
    public var failure: String?
}
