import Foundation
import Tensors

/// The transforms of image folders, as torchvision defines them, reduced to their geometry: a crop box
/// in the source image, resampled to `size` × `size` (``ImageResampler``), flipped, normalised.
///
///     training   RandomResizedCrop(size, scale, ratio) + RandomHorizontalFlip()
///     evaluation Resize(⌊size / crop_fraction⌋) + CenterCrop(size)      (224 → 256 → 224)
///     small      Resize((size, size)) [+ RandomCrop(size, padding) + flip in training]
///
/// The random choices of image `position` in a batch come from blocks 8·position ..< 8·position + 8 of
/// the stream (seed, epoch, step, rank, `.resizedCrop`): a pure function of those, whichever worker
/// decodes the image.
public struct ImageTransform: Equatable, Sendable {
    public enum Geometry: Equatable, Sendable {
        /// torchvision's `RandomResizedCrop`: area fraction in `scale`, aspect ratio (w / h) in `ratio`.
        case randomResizedCrop(scale: ClosedRange<Double>, ratio: ClosedRange<Double>)
        /// Shorter side resized to ⌊size / fraction⌋, then the centre `size` × `size`.
        case centerCrop(fraction: Double)
        /// The whole image resized to `size` × `size` (small images: the identity at their own size).
        case resize
    }

    /// The square side the model sees.
    public let size: Int
    /// Where the crop box comes from.
    public let geometry: Geometry
    /// Flip left–right with probability 1/2.
    public let horizontalFlip: Bool
    /// With `.resize`: random crop after zero-padding by this many pixels (today's CIFAR recipe).
    public let cropPadding: Int

    public init(size: Int, geometry: Geometry, horizontalFlip: Bool = false, cropPadding: Int = 0) {
        precondition(size > 0 && cropPadding >= 0, "transform size \(size), padding \(cropPadding)")
        self.size = size
        self.geometry = geometry
        self.horizontalFlip = horizontalFlip
        self.cropPadding = cropPadding
    }

    /// A crop box in source pixels (fractional: the centre crop maps back from the resized image).
    public struct Box: Equatable, Sendable {
        public let x: Double, y: Double, width: Double, height: Double
        public init(x: Double, y: Double, width: Double, height: Double) {
            self.x = x; self.y = y; self.width = width; self.height = height
        }
    }

    /// The random choices for one image: its box, its flip and (small-image mode) its crop offsets.
    public struct Draw: Equatable, Sendable {
        public let box: Box
        public let flip: Bool
        public let dy: Int, dx: Int
        public init(box: Box, flip: Bool = false, dy: Int = 0, dx: Int = 0) {
            self.box = box; self.flip = flip; self.dy = dy; self.dx = dx
        }
    }

    /// The JPEG DCT scale 1/d for a box: the largest d ∈ {8, 4, 2} that keeps the box at least `size`
    /// pixels on each side (libjpeg-turbo's scaled decoding, as simplejpeg's `min_width`), else 1.
    public static func dctScale(for box: Box, size: Int) -> Int {
        for d in [8, 4, 2] where box.width / Double(d) >= Double(size) && box.height / Double(d) >= Double(size) { return d }
        return 1
    }

    /// The 32 random words of image `position` (blocks 8·position ..< 8·position + 8).
    public struct Words {
        let stream: RandomStream
        let first: UInt32
        public init(stream: RandomStream, position: Int) {
            self.stream = stream
            first = UInt32(position) &* 8
        }
        /// Word `index` (0..<32).
        public subscript(index: Int) -> UInt32 { stream.block(at: first &+ UInt32(index / 4))[index % 4] }
        /// Word `index` as a uniform in [0, 1).
        func uniform(_ index: Int) -> Double { Double(self[index]) * 0x1p-32 }
        /// Word `index` as an integer in 0..<bound (⌊u · bound / 2³²⌋).
        func integer(_ index: Int, below bound: Int) -> Int { Int((UInt64(self[index]) * UInt64(bound)) >> 32) }
    }

    /// The choices for an image of `width` × `height` pixels (`words`: nil for evaluation, no randomness).
    public func draw(width: Int, height: Int, words: Words?) -> Draw {
        let flip = horizontalFlip && (words.map { $0[22] >> 31 == 1 } ?? false)
        let range = 2 * cropPadding + 1
        let dy = words.map { $0.integer(23, below: range) } ?? cropPadding
        let dx = words.map { $0.integer(24, below: range) } ?? cropPadding
        let box: Box
        switch geometry {
        case .resize:
            box = Box(x: 0, y: 0, width: Double(width), height: Double(height))
        case .centerCrop(let fraction):
            box = Self.centerCropBox(width: width, height: height, size: size, fraction: fraction)
        case .randomResizedCrop(let scale, let ratio):
            box = words.map { Self.randomResizedCropBox(width: width, height: height, scale: scale, ratio: ratio, words: $0) }
                ?? Self.centerCropBox(width: width, height: height, size: size, fraction: 0.875)
        }
        return Draw(box: box, flip: flip, dy: dy, dx: dx)
    }

    /// torchvision's `RandomResizedCrop.get_params`: up to 10 tries of an area fraction in `scale`
    /// and a log-uniform aspect ratio in `ratio`, rounded (half to even, as Python's `round`); the
    /// first box that fits is placed uniformly. Else the centre crop at the nearest allowed ratio.
    ///
    ///     try k:  area = W·H·U(scale),  r = exp(U(log ratio)),  w = round(√(area·r)),  h = round(√(area/r))
    ///     fits:   0 < w ≤ W and 0 < h ≤ H  →  y ~ U{0 … H − h},  x ~ U{0 … W − w}
    public static func randomResizedCropBox(width: Int, height: Int, scale: ClosedRange<Double>, ratio: ClosedRange<Double>,
                                            words: Words) -> Box {
        let area = Double(width * height)
        let logRatio = log(ratio.lowerBound)...log(ratio.upperBound)
        for attempt in 0..<10 {
            let target = area * (scale.lowerBound + (scale.upperBound - scale.lowerBound) * words.uniform(2 * attempt))
            let aspect = exp(logRatio.lowerBound + (logRatio.upperBound - logRatio.lowerBound) * words.uniform(2 * attempt + 1))
            let w = Int((target * aspect).squareRoot().rounded(.toNearestOrEven))
            let h = Int((target / aspect).squareRoot().rounded(.toNearestOrEven))
            if w > 0 && w <= width && h > 0 && h <= height {
                let y = words.integer(20, below: height - h + 1), x = words.integer(21, below: width - w + 1)
                return Box(x: Double(x), y: Double(y), width: Double(w), height: Double(h))
            }
        }
        let inRatio = Double(width) / Double(height)
        var w = width, h = height
        if inRatio < ratio.lowerBound {
            h = Int((Double(w) / ratio.lowerBound).rounded(.toNearestOrEven))
        } else if inRatio > ratio.upperBound {
            w = Int((Double(h) * ratio.upperBound).rounded(.toNearestOrEven))
        }
        return Box(x: Double((width - w) / 2), y: Double((height - h) / 2), width: Double(w), height: Double(h))
    }

    /// `Resize(⌊size / fraction⌋)` then `CenterCrop(size)`, mapped back to the source: the shorter
    /// side becomes s = ⌊size / fraction⌋, the longer ⌊s · long / short⌋ (torchvision truncates), the
    /// crop starts at round((resized − size) / 2).
    public static func centerCropBox(width: Int, height: Int, size: Int, fraction: Double) -> Box {
        let shorter = Int((Double(size) / fraction).rounded(.down))
        let (resizedWidth, resizedHeight) = width <= height
            ? (shorter, Int(Double(shorter) * Double(height) / Double(width)))
            : (Int(Double(shorter) * Double(width) / Double(height)), shorter)
        let left = (Double(resizedWidth - size) / 2).rounded(.toNearestOrEven)
        let top = (Double(resizedHeight - size) / 2).rounded(.toNearestOrEven)
        let sx = Double(width) / Double(resizedWidth), sy = Double(height) / Double(resizedHeight)
        return Box(x: left * sx, y: top * sy, width: Double(size) * sx, height: Double(size) * sy)
    }
}
