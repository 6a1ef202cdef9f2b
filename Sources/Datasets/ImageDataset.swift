/// A labelled image dataset in memory: 8-bit pixels, channel-last (NHWC), one `Int32` label each.
///
///     pixels: [count, height, width, channels] UInt8, contiguous
///     labels: [count] Int32, each in 0..<classNames.count
///
/// Pixels stay 8-bit (a quarter of the memory of Float); the loader converts and normalises a batch at
/// a time.
public struct ImageDataset: Sendable {
    /// Shape of every image.
    public let shape: ImageShape
    /// All pixels, image after image, each HWC.
    public let pixels: [UInt8]
    /// One label per image.
    public let labels: [Int32]
    /// Class names, indexed by label.
    public let classNames: [String]

    /// A dataset over `pixels` (count · shape.elementCount bytes) and `labels`.
    /// - Precondition: sizes agree and every label is a class index (readers check this first and throw).
    public init(shape: ImageShape, pixels: [UInt8], labels: [Int32], classNames: [String]) {
        precondition(pixels.count == labels.count * shape.elementCount,
                     "\(pixels.count) pixel bytes for \(labels.count) images of \(shape)")
        precondition(labels.allSatisfy { $0 >= 0 && Int($0) < classNames.count }, "label outside the classes")
        self.shape = shape
        self.pixels = pixels
        self.labels = labels
        self.classNames = classNames
    }

    /// Number of images.
    public var count: Int { labels.count }

    /// A new dataset of the images at `indices`, in that order.
    public func subset(_ indices: [Int]) -> ImageDataset {
        let size = shape.elementCount
        var subsetPixels = [UInt8](repeating: 0, count: indices.count * size)
        subsetPixels.withUnsafeMutableBufferPointer { destination in
            pixels.withUnsafeBufferPointer { source in
                for (position, index) in indices.enumerated() {
                    precondition(index >= 0 && index < count, "subset index \(index) outside 0..<\(count)")
                    (destination.baseAddress! + position * size).update(from: source.baseAddress! + index * size, count: size)
                }
            }
        }
        return ImageDataset(shape: shape, pixels: subsetPixels, labels: indices.map { labels[$0] },
                            classNames: classNames)
    }
}
