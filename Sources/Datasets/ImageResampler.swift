/// Crop, resize, flip, float conversion and normalisation of one decoded image, in two passes into the
/// batch buffer: Pillow's antialiased bilinear resampling (its `precompute_coeffs` with the triangle
/// filter, which `Image.resize(…, BILINEAR, box=…)` and so torchvision use), in Float instead of
/// Pillow's 8-bit intermediate.
///
/// For an output pixel i along an axis, with the box [b₀, b₁) over n outputs:
///
///     scale = (b₁ − b₀) / n,   f = max(scale, 1),   centre = b₀ + (i + ½)·scale
///     taps  x ∈ [⌊centre − f + ½⌋, ⌊centre + f + ½⌋) ∩ [0, in),   w(x) = max(0, 1 − |x − centre + ½| / f), Σw = 1
///
/// then x̂[c] = (v / 255 − mean[c]) / std[c]. JPEGs are decoded at the largest DCT scale 1/d
/// (d ∈ {8, 4, 2}) that keeps the box at least `size` pixels on each side, and only the rows and
/// columns the taps reach. One per worker thread: its buffers are reused from image to image.
final class ImageResampler {
    /// The taps of each output pixel along one axis.
    struct Axis {
        var start = [Int](), count = [Int](), weights = [Float]()
        var taps = 0
        /// The source range all taps lie in.
        var lower = 0, upper = 0

        mutating func compute(inSize: Int, boxStart: Double, boxLength: Double, outSize: Int) {
            let scale = boxLength / Double(outSize)
            let filterScale = max(scale, 1)
            let support = filterScale
            taps = Int(support.rounded(.up)) * 2 + 1
            start.removeAll(keepingCapacity: true)
            count.removeAll(keepingCapacity: true)
            weights.removeAll(keepingCapacity: true)
            weights.reserveCapacity(outSize * taps)
            lower = inSize
            upper = 0
            for i in 0..<outSize {
                let centre = boxStart + (Double(i) + 0.5) * scale
                let first = max(Int(centre - support + 0.5), 0)
                let end = min(Int(centre + support + 0.5), inSize)
                var total = 0.0
                let base = weights.count
                for x in first..<max(first, end) {
                    let w = max(0, 1 - abs((Double(x) - centre + 0.5) / filterScale))
                    weights.append(Float(w))
                    total += w
                }
                let n = weights.count - base
                if total > 0 { for k in 0..<n { weights[base + k] = Float(Double(weights[base + k]) / total) } }
                weights.append(contentsOf: repeatElement(0, count: taps - n))
                start.append(first)
                count.append(n)
                if n > 0 { lower = min(lower, first); upper = max(upper, first + n) }
            }
            if upper <= lower { lower = 0; upper = min(1, inSize) }
        }
    }

    let size: Int
    private var columns = Axis(), rows = Axis()
    /// The horizontal pass: one row of size × 3 floats per source row the vertical taps reach.
    private var horizontal = [Float]()
    /// One output row before normalisation, and the small-image mode's whole image.
    private var line = [Float]()
    private var staging = [Float]()

    init(size: Int) {
        self.size = size
        line = [Float](repeating: 0, count: size * 3)
    }

    /// Decodes the current file of `decoder` through `draw` into `destination` (size × size × 3 floats,
    /// HWC), normalised with `scale[c]` = 1 / (255·std[c]) and `shift[c]` = −mean[c] / std[c].
    func render(decoder: ImageDecoder, header: ImageDecoder.Header, draw: ImageTransform.Draw, cropPadding: Int,
                scale: SIMD4<Float>, shift: SIMD4<Float>, allowDCTScaling: Bool,
                into destination: UnsafeMutablePointer<Float>) throws(ImageDecodeError) {
        let d = header.isJPEG && allowDCTScaling ? ImageTransform.dctScale(for: draw.box, size: size) : 1
        let scaledWidth = (header.width + d - 1) / d, scaledHeight = (header.height + d - 1) / d
        let sx = Double(scaledWidth) / Double(header.width), sy = Double(scaledHeight) / Double(header.height)
        columns.compute(inSize: scaledWidth, boxStart: draw.box.x * sx, boxLength: draw.box.width * sx, outSize: size)
        rows.compute(inSize: scaledHeight, boxStart: draw.box.y * sy, boxLength: draw.box.height * sy, outSize: size)
        let region = try decoder.decode(scale: d, columns: columns.lower..<columns.upper, rows: rows.lower..<rows.upper,
                                        scaledWidth: scaledWidth)
        let rowFloats = size * 3
        if horizontal.count < region.height * rowFloats { horizontal = [Float](repeating: 0, count: region.height * rowFloats) }

        // Horizontal pass: every decoded row → size × 3 floats.
        decoder.withPixels { pixels in
            horizontal.withUnsafeMutableBufferPointer { out in
                columns.weights.withUnsafeBufferPointer { weights in
                    for r in 0..<region.height {
                        let source = pixels + r * region.width * 3
                        let target = out.baseAddress! + r * rowFloats
                        for i in 0..<size {
                            let first = columns.start[i] - region.x
                            let w = weights.baseAddress! + i * columns.taps
                            var red: Float = 0, green: Float = 0, blue: Float = 0
                            for k in 0..<columns.count[i] {
                                let p = source + (first + k) * 3
                                red += w[k] * Float(p[0]); green += w[k] * Float(p[1]); blue += w[k] * Float(p[2])
                            }
                            target[i * 3] = red; target[i * 3 + 1] = green; target[i * 3 + 2] = blue
                        }
                    }
                }
            }
        }

        // Vertical pass, normalisation and flip, into the destination (or the staging image first
        // when a padded crop follows).
        let padded = cropPadding > 0
        if padded && staging.count < size * rowFloats { staging = [Float](repeating: 0, count: size * rowFloats) }
        let flip = draw.flip && !padded
        staging.withUnsafeMutableBufferPointer { stage in
            let output = padded ? stage.baseAddress! : destination
            horizontal.withUnsafeBufferPointer { source in
                line.withUnsafeMutableBufferPointer { line in
                    rows.weights.withUnsafeBufferPointer { weights in
                        for j in 0..<size {
                            let first = rows.start[j] - region.y
                            let w = weights.baseAddress! + j * rows.taps
                            for x in 0..<rowFloats { line[x] = 0 }
                            for k in 0..<rows.count[j] {
                                let row = source.baseAddress! + (first + k) * rowFloats
                                let wk = w[k]
                                for x in 0..<rowFloats { line[x] += wk * row[x] }
                            }
                            let target = output + j * rowFloats
                            for i in 0..<size {
                                let o = (flip ? size - 1 - i : i) * 3
                                for c in 0..<3 { target[o + c] = line[i * 3 + c] * scale[c] + shift[c] }
                            }
                        }
                    }
                }
            }
            if padded { Self.padAndCrop(stage.baseAddress!, size: size, padding: cropPadding, draw: draw, fill: shift, into: destination) }
        }
    }

    /// `out(y, x) = in(y + dy − p, x' + dx − p)`, x' = flip ? S − 1 − x : x, the padding value (pixel 0,
    /// normalised) outside: ``Augmentation``'s crop on the resized image.
    private static func padAndCrop(_ image: UnsafeMutablePointer<Float>, size: Int, padding: Int, draw: ImageTransform.Draw,
                                   fill: SIMD4<Float>, into destination: UnsafeMutablePointer<Float>) {
        for y in 0..<size {
            let sourceY = y + draw.dy - padding
            for x in 0..<size {
                let sourceX = (draw.flip ? size - 1 - x : x) + draw.dx - padding
                let out = destination + (y * size + x) * 3
                if sourceY >= 0 && sourceY < size && sourceX >= 0 && sourceX < size {
                    let p = image + (sourceY * size + sourceX) * 3
                    out[0] = p[0]; out[1] = p[1]; out[2] = p[2]
                } else {
                    out[0] = fill[0]; out[1] = fill[1]; out[2] = fill[2]
                }
            }
        }
    }
}

/// Decodes an image file and renders it through a transform's choices into the model's input: an
/// ``ImageDecoder`` and the resampler, with their buffers kept from image to image. One per thread
/// (``ImageFileAssembler`` keeps one per worker; `multimix bench data` and the tests use it alone).
public final class ImageRenderer {
    /// Reads and decodes the files.
    public let decoder: ImageDecoder
    private let resampler: ImageResampler
    /// The square side of the output.
    public let size: Int
    /// Decode JPEGs at a reduced DCT scale where the box allows (on by default; off for comparisons).
    public var allowDCTScaling = true

    public init(size: Int, maxPixels: Int) {
        self.size = size
        decoder = ImageDecoder(maxPixels: maxPixels)
        resampler = ImageResampler(size: size)
    }

    /// Renders the file the decoder last read: `draw`'s box resampled to size × size, flipped,
    /// normalised with `statistics` (x̂ = (v / 255 − mean) / std) into `destination` (size² × 3 floats,
    /// HWC); with `cropPadding` > 0, then padded and cropped by `draw`'s offsets.
    public func render(header: ImageDecoder.Header, draw: ImageTransform.Draw, cropPadding: Int = 0,
                       statistics: ChannelStatistics, into destination: UnsafeMutablePointer<Float>) throws(ImageDecodeError) {
        var scale = SIMD4<Float>(repeating: 0), shift = SIMD4<Float>(repeating: 0)
        for c in 0..<3 {
            scale[c] = 1 / (255 * statistics.standardDeviation[c])
            shift[c] = -statistics.mean[c] / statistics.standardDeviation[c]
        }
        try resampler.render(decoder: decoder, header: header, draw: draw, cropPadding: cropPadding, scale: scale, shift: shift,
                             allowDCTScaling: allowDCTScaling, into: destination)
    }
}
