import Tensors
import XCTest

/// Both convolution kernels (oneDNN, im2col + sgemm) against a naive direct convolution, against each
/// other on ResNet-sized shapes, and against central finite differences.
///
/// Tolerances. Every output element is a sum of n float32 products (forward: n = C·kh·kw, +1 with a
/// bias; backward data: at most O·kh·kw; weight and bias gradients: N·Ho·Wo). Whatever the summation
/// order or blocking, float32 rounding bounds the error by γₙ₊₁·Σ|terms| with γₖ = k·u/(1 − k·u),
/// u = 2⁻²⁴ (Higham, Accuracy and Stability of Numerical Algorithms, §3.1; the +1 is the product's own
/// rounding). The naive reference accumulates the value and Σ|terms| in Double, so each element is
/// checked against its own bound rather than one loose global tolerance. A wrong tap or a missing
/// image shifts an element by one whole term, far above γₙ·Σ|terms| for these sizes.
///
/// oneDNN picks its kernels by the CPU's instruction set (AVX-512 here). The reference machine has
/// AVX2 only: `DNNL_MAX_CPU_ISA=AVX2 swift test -c release --filter ConvolutionTests` runs these checks
/// on the AVX2 kernels (and their weight layouts) too.
final class ConvolutionTests: XCTestCase {

    // MARK: - Shapes

    /// Small shapes covering 1×1 and 3×3, stride 1 and 2, padding 0 and 1 (and 2), odd and non-square
    /// sizes, one and three input channels, batch 1 and 3.
    static let smallGeometries: [ConvolutionGeometry] = [
        .init(batch: 1, inputChannels: 1, inputHeight: 5, inputWidth: 5, outputChannels: 2,
              kernelHeight: 3, kernelWidth: 3, stride: 1, padding: 0),
        .init(batch: 3, inputChannels: 3, inputHeight: 7, inputWidth: 6, outputChannels: 4,
              kernelHeight: 3, kernelWidth: 3, stride: 2, padding: 1),
        .init(batch: 1, inputChannels: 3, inputHeight: 6, inputWidth: 6, outputChannels: 5,
              kernelHeight: 1, kernelWidth: 1, stride: 1, padding: 0),
        .init(batch: 3, inputChannels: 4, inputHeight: 7, inputWidth: 7, outputChannels: 3,
              kernelHeight: 1, kernelWidth: 1, stride: 2, padding: 0),
        .init(batch: 3, inputChannels: 1, inputHeight: 9, inputWidth: 9, outputChannels: 4,
              kernelHeight: 3, kernelWidth: 3, stride: 2, padding: 0),
        .init(batch: 3, inputChannels: 8, inputHeight: 5, inputWidth: 7, outputChannels: 16,
              kernelHeight: 3, kernelWidth: 3, stride: 1, padding: 1),
        .init(batch: 1, inputChannels: 3, inputHeight: 28, inputWidth: 28, outputChannels: 16,
              kernelHeight: 3, kernelWidth: 3, stride: 1, padding: 1),
        .init(batch: 3, inputChannels: 16, inputHeight: 9, inputWidth: 9, outputChannels: 8,
              kernelHeight: 3, kernelWidth: 3, stride: 2, padding: 1),
        .init(batch: 1, inputChannels: 2, inputHeight: 6, inputWidth: 5, outputChannels: 3,
              kernelHeight: 2, kernelWidth: 3, stride: 1, padding: 1),
        .init(batch: 3, inputChannels: 3, inputHeight: 8, inputWidth: 8, outputChannels: 8,
              kernelHeight: 5, kernelWidth: 5, stride: 2, padding: 2),
    ]

    /// ResNet-20's and PreAct ResNet-18's convolution kinds: the first at the training batch of 128
    /// (oneDNN picks its threading and reduction strategy by size), the others at a reduced batch.
    static let resnetGeometries: [ConvolutionGeometry] = [
        .init(batch: 128, inputChannels: 16, inputHeight: 28, inputWidth: 28, outputChannels: 16,
              kernelHeight: 3, kernelWidth: 3, stride: 1, padding: 1),
        .init(batch: 16, inputChannels: 32, inputHeight: 16, inputWidth: 16, outputChannels: 64,
              kernelHeight: 3, kernelWidth: 3, stride: 2, padding: 1),
        .init(batch: 16, inputChannels: 64, inputHeight: 16, inputWidth: 16, outputChannels: 128,
              kernelHeight: 1, kernelWidth: 1, stride: 2, padding: 0),
    ]

    // MARK: - Against the naive direct convolution

    func testOneDNNMatchesNaiveConvolution() { checkAgainstNaive(.oneDNN) }

    func testIm2colMatchesNaiveConvolution() { checkAgainstNaive(.im2col) }

    private func checkAgainstNaive(_ backend: ConvolutionBackend) {
        for (index, g) in Self.smallGeometries.enumerated() {
            let kernel = makeConvolutionKernel(g, backend: backend)
            for withBias in [false, true, false] {  // also: a bias-less call after a bias call, same kernel
                let seed = UInt64(index * 10 + (withBias ? 1 : 0))
                let x = Self.values(g.inputCount, seed: seed), w = Self.values(g.weightCount, seed: seed + 100)
                let b = Self.values(g.outputChannels, seed: seed + 200)
                let dy = Self.values(g.outputCount, seed: seed + 300)
                let label = "\(backend) \(g) bias: \(withBias)"
                let taps = g.kernelHeight * g.kernelWidth, pixels = g.batch * g.outputHeight * g.outputWidth

                let y = Self.forward(kernel, x, w, withBias ? b : nil)
                let yReference = NaiveConvolution.forward(g, x, w, withBias ? b : nil)
                expectWithinBound(y, yReference, terms: g.inputChannels * taps + 1, "forward, \(label)")

                let dx = Self.backwardData(kernel, dy, w)
                expectWithinBound(dx, NaiveConvolution.backwardData(g, dy, w), terms: g.outputChannels * taps,
                                  "backward data, \(label)")

                let (dw, db) = Self.backwardWeights(kernel, x, dy, withBias: withBias)
                let (dwReference, dbReference) = NaiveConvolution.backwardWeights(g, x, dy)
                expectWithinBound(dw, dwReference, terms: pixels, "backward weights, \(label)")
                if withBias { expectWithinBound(db!, dbReference, terms: pixels, "backward bias, \(label)") }
            }
        }
    }

    // MARK: - oneDNN against im2col on ResNet shapes

    /// The two backends on shapes too large for the naive loops. Each is within γₙ·Σ|terms| of the exact
    /// result, so they are within 2γₙ·Σ|terms| of each other; Σ|terms| is the same convolution run on
    /// |x|, |w| and |dy| (computed here by the im2col kernel, itself within a factor 1 + γₙ of exact).
    func testOneDNNMatchesIm2colOnResNetShapes() {
        for (index, g) in Self.resnetGeometries.enumerated() {
            let fast = makeConvolutionKernel(g, backend: .oneDNN), reference = makeConvolutionKernel(g, backend: .im2col)
            let seed = UInt64(1000 + index)
            let x = Self.values(g.inputCount, seed: seed), w = Self.values(g.weightCount, seed: seed + 1)
            let b = Self.values(g.outputChannels, seed: seed + 2), dy = Self.values(g.outputCount, seed: seed + 3)
            let absX = x.map(abs), absW = w.map(abs), absB = b.map(abs), absDY = dy.map(abs)
            let taps = g.kernelHeight * g.kernelWidth, pixels = g.batch * g.outputHeight * g.outputWidth

            expectClose(Self.forward(fast, x, w, b), Self.forward(reference, x, w, b),
                        magnitude: Self.forward(reference, absX, absW, absB), terms: g.inputChannels * taps + 1,
                        "forward \(g)")
            expectClose(Self.backwardData(fast, dy, w), Self.backwardData(reference, dy, w),
                        magnitude: Self.backwardData(reference, absDY, absW), terms: g.outputChannels * taps,
                        "backward data \(g)")
            let (dw, db) = Self.backwardWeights(fast, x, dy, withBias: true)
            let (dwReference, dbReference) = Self.backwardWeights(reference, x, dy, withBias: true)
            let (dwMagnitude, dbMagnitude) = Self.backwardWeights(reference, absX, absDY, withBias: true)
            expectClose(dw, dwReference, magnitude: dwMagnitude, terms: pixels, "backward weights \(g)")
            expectClose(db!, dbReference!, magnitude: dbMagnitude!, terms: pixels, "backward bias \(g)")
        }
    }

    // MARK: - Finite differences

    /// L = Σ y ⊙ g with y = conv(x, w) + b, so ∂L/∂x = backwardData(g), ∂L/∂w and ∂L/∂b = backwardWeights(x, g).
    /// L is linear in each of x, w, b, so the central difference (L(θ+h) − L(θ−h)) / 2h has no truncation
    /// error at any h: only rounding remains, about u·Σ|y ⊙ g| / h. With h = 0.5 and L summed in Double
    /// from float32 outputs that is ~1e-5 here; the tolerance is 1e-3 of the gradient's largest entry.
    func testGradientsMatchFiniteDifferences() {
        let g = ConvolutionGeometry(batch: 2, inputChannels: 3, inputHeight: 5, inputWidth: 6, outputChannels: 4,
                                    kernelHeight: 3, kernelWidth: 3, stride: 2, padding: 1)
        for backend in ConvolutionBackend.allCases {
            let kernel = makeConvolutionKernel(g, backend: backend)
            let x = Self.values(g.inputCount, seed: 7), w = Self.values(g.weightCount, seed: 8)
            let b = Self.values(g.outputChannels, seed: 9)
            let upstream = Self.values(g.outputCount, seed: 10)
            let h: Float = 0.5
            // parameters = [x, w, b]; L as a function of them.
            func loss(_ p: [[Float]]) -> Double {
                zip(Self.forward(kernel, p[0], p[1], p[2]), upstream).reduce(0) { $0 + Double($1.0) * Double($1.1) }
            }
            func centralDifference(_ which: Int, _ i: Int) -> Double {
                var plus = [x, w, b], minus = [x, w, b]
                plus[which][i] += h
                minus[which][i] -= h
                return (loss(plus) - loss(minus)) / (2 * Double(h))
            }
            let dx = Self.backwardData(kernel, upstream, w)
            let (dw, db) = Self.backwardWeights(kernel, x, upstream, withBias: true)
            for (which, (name, analytic)) in [("dx", dx), ("dw", dw), ("db", db!)].enumerated() {
                let scale = Double(analytic.map(abs).max()!)
                for i in analytic.indices {
                    XCTAssertEqual(Double(analytic[i]), centralDifference(which, i), accuracy: 1e-3 * scale,
                                   "\(backend) \(name)[\(i)] against central differences")
                }
            }
        }
    }

    // MARK: - Running a kernel on arrays

    /// Outputs start as NaN: a kernel must overwrite every element (the protocol's contract).
    static func forward(_ kernel: ConvolutionKernel, _ x: [Float], _ w: [Float], _ b: [Float]?) -> [Float] {
        var y = [Float](repeating: .nan, count: kernel.geometry.outputCount)
        if let b {
            kernel.forward(input: x, weight: w, bias: b, output: &y)
        } else {
            kernel.forward(input: x, weight: w, bias: nil, output: &y)
        }
        return y
    }

    static func backwardData(_ kernel: ConvolutionKernel, _ dy: [Float], _ w: [Float]) -> [Float] {
        var dx = [Float](repeating: .nan, count: kernel.geometry.inputCount)
        kernel.backwardData(outputGradient: dy, weight: w, inputGradient: &dx)
        return dx
    }

    static func backwardWeights(_ kernel: ConvolutionKernel, _ x: [Float], _ dy: [Float],
                                withBias: Bool) -> (dw: [Float], db: [Float]?) {
        var dw = [Float](repeating: .nan, count: kernel.geometry.weightCount)
        guard withBias else {
            kernel.backwardWeights(input: x, outputGradient: dy, weightGradient: &dw, biasGradient: nil)
            return (dw, nil)
        }
        var db = [Float](repeating: .nan, count: kernel.geometry.outputChannels)
        kernel.backwardWeights(input: x, outputGradient: dy, weightGradient: &dw, biasGradient: &db)
        return (dw, db)
    }

    // MARK: - Checks

    /// γₙ = n·u / (1 − n·u), u = 2⁻²⁴, for a sum of `terms` float32 products (+1 for the product's rounding).
    static func gamma(_ terms: Int) -> Double {
        let nu = Double(terms + 1) * 0x1p-24
        return nu / (1 - nu)
    }

    private func expectWithinBound(_ actual: [Float], _ reference: NaiveConvolution.Result, terms: Int, _ label: String,
                                   file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(actual.count, reference.value.count, label, file: file, line: line)
        let gamma = Self.gamma(terms)
        var failures = 0
        for i in actual.indices {
            let bound = gamma * reference.magnitude[i] + Double(Float.leastNormalMagnitude)
            if !(abs(Double(actual[i]) - reference.value[i]) <= bound) {
                failures += 1
                if failures <= 3 {
                    XCTFail("\(label): [\(i)] = \(actual[i]), exact \(reference.value[i]), bound \(bound)",
                            file: file, line: line)
                }
            }
        }
        XCTAssertEqual(failures, 0, "\(label): elements outside γₙ·Σ|terms|", file: file, line: line)
    }

    private func expectClose(_ actual: [Float], _ expected: [Float], magnitude: [Float], terms: Int, _ label: String,
                             file: StaticString = #filePath, line: UInt = #line) {
        let gamma = Self.gamma(terms)
        var failures = 0
        for i in actual.indices {
            let bound = 2 * gamma * (1 + gamma) * Double(magnitude[i]) + Double(Float.leastNormalMagnitude)
            if !(abs(Double(actual[i]) - Double(expected[i])) <= bound) {
                failures += 1
                if failures <= 3 {
                    XCTFail("\(label): [\(i)] = \(actual[i]) vs \(expected[i]), bound \(bound)", file: file, line: line)
                }
            }
        }
        XCTAssertEqual(failures, 0, "\(label): elements outside 2γₙ·Σ|terms|", file: file, line: line)
    }

    /// Deterministic values in [-1, 1) (SplitMix64).
    static func values(_ count: Int, seed: UInt64) -> [Float] {
        var state = seed &* 0x9E37_79B9_7F4A_7C15
        return (0..<count).map { _ in
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            return Float(z >> 40) * 0x1p-23 - 1
        }
    }
}

/// The naive direct convolution, the labelled reference for both kernels: seven plain loops over
/// (n, oh, ow, o, c, i, j), accumulated in Double, with Σ|terms| alongside each value for error bounds.
enum NaiveConvolution {
    struct Result {
        var value: [Double]
        var magnitude: [Double]

        init(count: Int) {
            value = [Double](repeating: 0, count: count)
            magnitude = [Double](repeating: 0, count: count)
        }

        mutating func add(_ term: Double, at index: Int) {
            value[index] += term
            magnitude[index] += abs(term)
        }
    }

    /// Calls `body(xIndex, wIndex, yIndex)` for every (output element, in-image tap) pair of `g`:
    /// y[n, oh, ow, o] gets x[n, oh·s−p+i, ow·s−p+j, c] · w[o, c, i, j].
    static func forEachTap(_ g: ConvolutionGeometry, _ body: (Int, Int, Int) -> Void) {
        for n in 0..<g.batch {
            for oh in 0..<g.outputHeight {
                for ow in 0..<g.outputWidth {
                    for o in 0..<g.outputChannels {
                        let yIndex = ((n * g.outputHeight + oh) * g.outputWidth + ow) * g.outputChannels + o
                        for c in 0..<g.inputChannels {
                            for i in 0..<g.kernelHeight {
                                let ih = oh * g.stride - g.padding + i
                                guard ih >= 0 && ih < g.inputHeight else { continue }
                                for j in 0..<g.kernelWidth {
                                    let iw = ow * g.stride - g.padding + j
                                    guard iw >= 0 && iw < g.inputWidth else { continue }
                                    let xIndex = ((n * g.inputHeight + ih) * g.inputWidth + iw) * g.inputChannels + c
                                    let wIndex = ((o * g.inputChannels + c) * g.kernelHeight + i) * g.kernelWidth + j
                                    body(xIndex, wIndex, yIndex)
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// y = x ⋆ w + b
    static func forward(_ g: ConvolutionGeometry, _ x: [Float], _ w: [Float], _ b: [Float]?) -> Result {
        var y = Result(count: g.outputCount)
        if let b {
            for index in 0..<g.outputCount { y.add(Double(b[index % g.outputChannels]), at: index) }
        }
        forEachTap(g) { xi, wi, yi in y.add(Double(x[xi]) * Double(w[wi]), at: yi) }
        return y
    }

    /// dx[xi] = Σ dy[yi] · w[wi] over the taps that read x[xi]
    static func backwardData(_ g: ConvolutionGeometry, _ dy: [Float], _ w: [Float]) -> Result {
        var dx = Result(count: g.inputCount)
        forEachTap(g) { xi, wi, yi in dx.add(Double(dy[yi]) * Double(w[wi]), at: xi) }
        return dx
    }

    /// dw[wi] = Σ x[xi] · dy[yi] over the taps that use w[wi];  db[o] = Σ dy[n, oh, ow, o]
    static func backwardWeights(_ g: ConvolutionGeometry, _ x: [Float], _ dy: [Float]) -> (dw: Result, db: Result) {
        var dw = Result(count: g.weightCount), db = Result(count: g.outputChannels)
        forEachTap(g) { xi, wi, yi in dw.add(Double(x[xi]) * Double(dy[yi]), at: wi) }
        for index in 0..<g.outputCount { db.add(Double(dy[index]), at: index % g.outputChannels) }
        return (dw, db)
    }
}
