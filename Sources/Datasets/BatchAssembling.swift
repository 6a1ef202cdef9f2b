/// What a ``PrefetchingLoader`` needs to fill its buffers: a dataset's size and image shape, and a
/// batch of examples assembled (augmented, normalised) by index as a pure function of (seed, epoch,
/// step, rank) and the indices. ``BatchAssembler`` does it from pixels in memory,
/// ``ImageFileAssembler`` by decoding files.
public protocol BatchAssembling: Sendable {
    /// Examples the indices range over.
    var exampleCount: Int { get }
    /// The shape of every assembled image (the model's input).
    var imageShape: ImageShape { get }
    /// Fills `images` (indices.count · H·W·C floats, NHWC) and `labels` with the batch of `indices`
    /// for (epoch, step, rank).
    func assemble(indices: UnsafeBufferPointer<Int>, epoch: Int, step: Int, rank: Int,
                  images: UnsafeMutableBufferPointer<Float>, labels: UnsafeMutableBufferPointer<Int32>) -> AssemblyReport
}

/// What went wrong while a batch was assembled (files only: pixels in memory cannot fail).
public struct AssemblyReport: Equatable, Sendable {
    /// Images that failed to decode and were replaced (`data.on_bad_image: skip`).
    public var badImages = 0
    /// The first image that failed and was not replaced (`data.on_bad_image: error`, or no
    /// replacement decoded): `PATH: REASON`. The batch holds zeros in its place.
    public var failure: String?

    public init(badImages: Int = 0, failure: String? = nil) {
        self.badImages = badImages
        self.failure = failure
    }

    /// Nothing went wrong.
    public static let clean = AssemblyReport()
}
