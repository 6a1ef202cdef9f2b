/// Training-time augmentation: random crop with zero padding, then random horizontal flip
/// (torchvision's `RandomCrop(size, padding)` followed by `RandomHorizontalFlip()`).
///
/// For an H×W image, padding p and offsets dy, dx ∈ 0...2p, flip f ∈ {0, 1}:
///
///     out(y, x) = in(y + dy − p, x' + dx − p),   x' = f ? W − 1 − x : x
///                 (0 where that lies outside the image: the zero padding, before normalisation)
///
/// The draws for an image come from one Philox block (``Draw/init(block:augmentation:)``), so they
/// are a pure function of the stream key and the image's place in the batch.
public struct Augmentation: Equatable, Sendable, Codable {
    /// Zero padding p on each side before cropping back to the original size; 0 for no crop.
    public var cropPadding: Int
    /// Whether to flip left–right with probability 1/2.
    public var horizontalFlip: Bool

    /// An augmentation; `cropPadding` ≥ 0.
    public init(cropPadding: Int = 0, horizontalFlip: Bool = false) {
        precondition(cropPadding >= 0, "crop padding \(cropPadding)")
        self.cropPadding = cropPadding
        self.horizontalFlip = horizontalFlip
    }

    /// No augmentation (evaluation, and digits).
    public static let none = Augmentation()
    /// The usual CIFAR recipe: pad 4, crop 32, flip.
    public static let cifar = Augmentation(cropPadding: 4, horizontalFlip: true)

    /// Whether this changes images at all.
    public var isIdentity: Bool { cropPadding == 0 && !horizontalFlip }

    /// The random choices for one image.
    public struct Draw: Equatable, Sendable {
        /// Crop offset down, in 0...2p (p means no shift).
        public let dy: Int
        /// Crop offset right, in 0...2p.
        public let dx: Int
        /// Whether to flip left–right.
        public let flip: Bool

        /// Choices from explicit values (tests).
        public init(dy: Int, dx: Int, flip: Bool) {
            self.dy = dy
            self.dx = dx
            self.flip = flip
        }

        /// Choices from a block of four random words: dy from word 0, dx from word 1, flip from the
        /// top bit of word 2. Offsets are ⌊u · (2p + 1) / 2³²⌋, whose bias (at most (2p+1)/2³²) is far
        /// below anything training could notice.
        public init(block: SIMD4<UInt32>, augmentation: Augmentation) {
            let range = UInt64(2 * augmentation.cropPadding + 1)
            dy = Int((UInt64(block.x) * range) >> 32)
            dx = Int((UInt64(block.y) * range) >> 32)
            flip = augmentation.horizontalFlip && block.z >> 31 == 1
        }
    }
}
