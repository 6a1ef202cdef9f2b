
/// The reference convolution path: im2col in NHWC, then one matrix product through `BLAS.sgemm`.
///
/// Key: N batch, H×W input, C input channels, O output channels, kh×kw kernel, s stride, p padding,
/// Ho×Wo output, P = Ho·Wo output pixels per image, K = kh·kw·C (one patch).
///
///     col  [rows, K]   row (n, oh, ow) holds the patch x[n, oh·s−p+i, ow·s−p+j, c] in (i, j, c) order,
///                      zeros where the patch leaves the image (the padding)
///     w̃    [O, K]      the weights as OHWI: w̃[o, (i, j, c)] = w[o, c, i, j]
///
///     forward:          y[rows, O]  = col · w̃ᵀ (+ b)
///     backwardData:     dcol[rows, K] = dy · w̃,   dx = col2im(dcol)  (scatter-add of each patch)
///     backwardWeights:  dw̃[O, K]   = Σ dyᵀ · col,  dw = w̃ → OIHW,   db = Σ_rows dy
///
/// The batch is processed in chunks of images so that `col` stays near `columnBudgetBytes` (the
/// whole batch's col is 58 MB for a 16-channel 28×28 layer at batch 128). A 1×1, stride-1, unpadded
/// convolution needs no col: x is already [N·H·W, C].
///
/// All scratch (col, w̃, dw̃) is allocated in `init`; calls allocate nothing. Not thread-safe: one
/// caller at a time per kernel. im2col and col2im split a chunk's images over the thread pool
/// (`ComputeThreads`), and so does sgemm.
public final class Im2colConvolution: ConvolutionKernel {
    public let geometry: ConvolutionGeometry

    /// Images per chunk: the col buffer holds `chunkImages · P` rows.
    package let chunkImages: Int
    /// K = kh·kw·C.
    private let patchSize: Int
    /// P = Ho·Wo.
    private let outputPixels: Int
    /// 1×1, stride 1, padding 0: col would equal x.
    private let isPointwise: Bool

    private let columns: UnsafeMutablePointer<Float>      // col or dcol   [chunkImages·P, K]
    private let weightOHWI: UnsafeMutablePointer<Float>   // w̃ or dw̃      [O, K]

    /// Bytes of scratch this kernel holds (col and w̃), reported by the benchmark.
    package var scratchBytes: Int {
        ((isPointwise ? 0 : chunkImages * outputPixels * patchSize) + geometry.weightCount) * MemoryLayout<Float>.stride
    }

    /// Scratch target for col's size: large enough for long sgemm calls, small enough to stay in cache.
    /// Measured on ResNet-20's convolutions (`bench conv --threads 1 --clock thread-cpu`): 0.5–2 MB are
    /// equal, 4 MB is 2–4% slower, 16 MB 30–60% slower.
    package static let columnBudgetBytes = 1 << 20

    public init(_ geometry: ConvolutionGeometry) {
        let g = geometry
        precondition(g.outputHeight >= 1 && g.outputWidth >= 1, "Im2colConvolution: empty output for \(g)")
        self.geometry = g
        patchSize = g.kernelHeight * g.kernelWidth * g.inputChannels
        outputPixels = g.outputHeight * g.outputWidth
        isPointwise = g.kernelHeight == 1 && g.kernelWidth == 1 && g.stride == 1 && g.padding == 0
        let imageBytes = outputPixels * patchSize * MemoryLayout<Float>.stride
        chunkImages = max(1, min(g.batch, Self.columnBudgetBytes / max(imageBytes, 1)))
        let columnCount = isPointwise ? 0 : chunkImages * outputPixels * patchSize
        columns = .allocate(capacity: max(columnCount, 1))
        weightOHWI = .allocate(capacity: g.weightCount)
    }

    deinit {
        columns.deallocate()
        weightOHWI.deallocate()
    }

    // MARK: - The three passes

    /// y = col · w̃ᵀ (+ b)
    public func forward(input: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                        output: UnsafeMutablePointer<Float>) {
        let g = geometry, O = g.outputChannels, K = patchSize
        Self.permuteWeights(weight, weightOHWI, g, toOHWI: true)
        forEachChunk { first, count in
            let rows = count * outputPixels
            let y = output + first * outputPixels * O  // [rows, O]
            let col = chunkColumns(input, firstImage: first, images: count)
            BLAS.sgemm(.none, .transposed, m: rows, n: O, k: K, a: col, lda: K, b: weightOHWI, ldb: K,
                       c: y, ldc: O)
            if let bias { Self.addRowVector(bias, to: y, rows: rows, columns: O) }
        }
    }

    /// dcol = dy · w̃,  dx = col2im(dcol)
    public func backwardData(outputGradient: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                             inputGradient: UnsafeMutablePointer<Float>) {
        let g = geometry, O = g.outputChannels, K = patchSize
        Self.permuteWeights(weight, weightOHWI, g, toOHWI: true)
        let imageInputCount = g.inputHeight * g.inputWidth * g.inputChannels
        forEachChunk { first, count in
            let rows = count * outputPixels
            let dy = outputGradient + first * outputPixels * O  // [rows, O]
            let dx = inputGradient + first * imageInputCount
            if isPointwise {  // dx [rows, C] = dy · w̃ directly
                BLAS.sgemm(.none, .none, m: rows, n: K, k: O, a: dy, lda: O, b: weightOHWI, ldb: K, c: dx, ldc: K)
            } else {
                BLAS.sgemm(.none, .none, m: rows, n: K, k: O, a: dy, lda: O, b: weightOHWI, ldb: K,
                           c: columns, ldc: K)
                let columns = columns
                Self.forEachImage(count) { image in
                    let dxImage = dx + image * imageInputCount
                    dxImage.update(repeating: 0, count: imageInputCount)
                    Self.col2im(columns + image * outputPixels * K, into: dxImage, g)
                }
            }
        }
    }

    /// dw̃ = Σ_chunks dyᵀ · col,  dw = dw̃ as OIHW,  db = Σ_rows dy
    public func backwardWeights(input: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
                                weightGradient: UnsafeMutablePointer<Float>,
                                biasGradient: UnsafeMutablePointer<Float>?) {
        let g = geometry, O = g.outputChannels, K = patchSize
        biasGradient?.update(repeating: 0, count: O)
        forEachChunk { first, count in
            let rows = count * outputPixels
            let dy = outputGradient + first * outputPixels * O  // [rows, O]
            let col = chunkColumns(input, firstImage: first, images: count)
            BLAS.sgemm(.transposed, .none, m: O, n: K, k: rows, a: dy, lda: O, b: col, ldb: K,
                       beta: first == 0 ? 0 : 1, c: weightOHWI, ldc: K)
            if let biasGradient { Self.addRows(of: dy, rows: rows, columns: O, into: biasGradient) }
        }
        Self.permuteWeights(weightOHWI, weightGradient, g, toOHWI: false)
    }

    // MARK: - Chunks and patches

    /// Calls `body(firstImage, imageCount)` over the batch in chunks of `chunkImages` (one call for the
    /// whole batch when no col buffer is used).
    private func forEachChunk(_ body: (Int, Int) -> Void) {
        let step = isPointwise ? geometry.batch : chunkImages
        var first = 0
        while first < geometry.batch {
            let count = min(step, geometry.batch - first)
            body(first, count)
            first += count
        }
    }

    /// col for images first..<first+images (x itself when pointwise).
    private func chunkColumns(_ input: UnsafePointer<Float>, firstImage first: Int, images: Int) -> UnsafePointer<Float> {
        let g = geometry
        let imageInputCount = g.inputHeight * g.inputWidth * g.inputChannels
        if isPointwise { return input + first * imageInputCount }
        let columns = columns, rowLength = outputPixels * patchSize
        Self.forEachImage(images) { image in
            Self.im2col(input + (first + image) * imageInputCount, into: columns + image * rowLength, g)
        }
        return UnsafePointer(columns)
    }

    /// Calls `body(image)` for each image of a chunk, split over the thread pool (`ComputeThreads`).
    /// Images write disjoint parts of col and dx.
    private static func forEachImage(_ count: Int, _ body: (Int) -> Void) {
        Parallel.forEachChunk(count, minimumChunk: 1) { _, images in
            for image in images { body(image) }
        }
    }

    /// col[(oh, ow), (i, j, c)] = x[oh·s−p+i, ow·s−p+j, c] for one image (zeros outside it).
    /// x: [H, W, C]   col: [Ho·Wo, kh·kw·C]
    @inline(__always)
    private static func im2col(_ x: UnsafePointer<Float>, into col: UnsafeMutablePointer<Float>,
                               _ g: ConvolutionGeometry) {
        let H = g.inputHeight, W = g.inputWidth, C = g.inputChannels
        let kh = g.kernelHeight, kw = g.kernelWidth, s = g.stride, p = g.padding
        let rowLength = kw * C  // one kernel row of a patch: kw·C values
        var out = col
        for oh in 0..<g.outputHeight {
            for ow in 0..<g.outputWidth {
                let w0 = ow * s - p
                let wholeRowInside = w0 >= 0 && w0 + kw <= W
                for i in 0..<kh {
                    let ih = oh * s - p + i
                    if ih < 0 || ih >= H {
                        out.update(repeating: 0, count: rowLength)
                    } else if wholeRowInside {  // x[ih, w0..<w0+kw, :] is contiguous in NHWC
                        out.update(from: x + (ih * W + w0) * C, count: rowLength)
                    } else {
                        for j in 0..<kw {
                            let iw = w0 + j
                            if iw < 0 || iw >= W {
                                (out + j * C).update(repeating: 0, count: C)
                            } else {
                                (out + j * C).update(from: x + (ih * W + iw) * C, count: C)
                            }
                        }
                    }
                    out += rowLength
                }
            }
        }
    }

    /// dx[oh·s−p+i, ow·s−p+j, c] += dcol[(oh, ow), (i, j, c)] for one image (the adjoint of `im2col`;
    /// padding entries are dropped). dx must be zeroed first.
    @inline(__always)
    private static func col2im(_ col: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>,
                               _ g: ConvolutionGeometry) {
        let H = g.inputHeight, W = g.inputWidth, C = g.inputChannels
        let kh = g.kernelHeight, kw = g.kernelWidth, s = g.stride, p = g.padding
        let rowLength = kw * C
        var source = col
        for oh in 0..<g.outputHeight {
            for ow in 0..<g.outputWidth {
                let w0 = ow * s - p
                let jFirst = max(0, -w0), jEnd = min(kw, W - w0)  // taps inside the image
                for i in 0..<kh {
                    let ih = oh * s - p + i
                    if ih >= 0 && ih < H && jFirst < jEnd {
                        // The in-image taps j ∈ [jFirst, jEnd) are contiguous in both dcol and dx.
                        let target = dx + (ih * W + w0 + jFirst) * C
                        let from = source + jFirst * C
                        for t in 0..<((jEnd - jFirst) * C) { target[t] += from[t] }
                    }
                    source += rowLength
                }
            }
        }
    }

    // MARK: - Small loops

    /// Moves weights between OIHW and OHWI:  w̃[o, i, j, c] = w[o, c, i, j]  (`toOHWI`) or back.
    private static func permuteWeights(_ from: UnsafePointer<Float>, _ to: UnsafeMutablePointer<Float>,
                                       _ g: ConvolutionGeometry, toOHWI: Bool) {
        let C = g.inputChannels, taps = g.kernelHeight * g.kernelWidth
        for o in 0..<g.outputChannels {
            let source = from + o * C * taps, target = to + o * C * taps
            for c in 0..<C {
                for t in 0..<taps {
                    let oihw = c * taps + t, ohwi = t * C + c
                    if toOHWI { target[ohwi] = source[oihw] } else { target[oihw] = source[ohwi] }
                }
            }
        }
    }

    /// y[r, :] += b  for every row r of y [rows, columns]
    private static func addRowVector(_ b: UnsafePointer<Float>, to y: UnsafeMutablePointer<Float>,
                                     rows: Int, columns: Int) {
        for r in 0..<rows {
            let row = y + r * columns
            for c in 0..<columns { row[c] += b[c] }
        }
    }

    /// sum[:] += Σ_r a[r, :]  over the rows of a [rows, columns]
    private static func addRows(of a: UnsafePointer<Float>, rows: Int, columns: Int,
                                into sum: UnsafeMutablePointer<Float>) {
        for r in 0..<rows {
            let row = a + r * columns
            for c in 0..<columns { sum[c] += row[c] }
        }
    }
}
