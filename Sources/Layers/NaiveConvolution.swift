import Tensors

/// The naive reference convolution: direct loops, no library. It exists so that layers and their
/// gradient checks do not depend on a fast kernel; the fast kernels are tested against
/// references of their own in `Tensors`.
///
/// Weights are re-laid once per call into a scratch `wᵀ: [kh, kw, ic, oc]` (allocated at creation)
/// so that every inner loop runs over contiguous output channels.
public final class NaiveConvolution: ConvolutionKernel {
    public let geometry: ConvolutionGeometry
    /// [kh, kw, ic, oc]
    private let transposed: UnsafeMutablePointer<Float>

    public init(geometry: ConvolutionGeometry) {
        self.geometry = geometry
        transposed = .allocate(capacity: max(geometry.weightCount, 1))
    }

    deinit { transposed.deallocate() }

    /// wᵀ[kh, kw, ic, oc] = w[oc, ic, kh, kw]
    private func transposeWeights(_ w: UnsafePointer<Float>) {
        let g = geometry
        for o in 0..<g.outputChannels {
            for i in 0..<g.inputChannels {
                for kh in 0..<g.kernelHeight {
                    for kw in 0..<g.kernelWidth {
                        transposed[((kh * g.kernelWidth + kw) * g.inputChannels + i) * g.outputChannels + o] =
                            w[((o * g.inputChannels + i) * g.kernelHeight + kh) * g.kernelWidth + kw]
                    }
                }
            }
        }
    }

    /// Calls `body(outputPixel, inputPixel, kh, kw)` for every output pixel and every kernel tap
    /// that lands inside the (unpadded) input; pixel numbers are flat over [n, h, w].
    private func forEachTap(_ body: (Int, Int, Int, Int) -> Void) {
        let g = geometry
        for n in 0..<g.batch {
            for oh in 0..<g.outputHeight {
                for ow in 0..<g.outputWidth {
                    let outputPixel = (n * g.outputHeight + oh) * g.outputWidth + ow
                    for kh in 0..<g.kernelHeight {
                        // ih = oh·s − p + kh
                        let ih = oh * g.stride - g.padding + kh
                        if ih < 0 || ih >= g.inputHeight { continue }
                        for kw in 0..<g.kernelWidth {
                            let iw = ow * g.stride - g.padding + kw
                            if iw < 0 || iw >= g.inputWidth { continue }
                            body(outputPixel, (n * g.inputHeight + ih) * g.inputWidth + iw, kh, kw)
                        }
                    }
                }
            }
        }
    }

    public func forward(input: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                        output: UnsafeMutablePointer<Float>) {
        let g = geometry, ic = g.inputChannels, oc = g.outputChannels
        transposeWeights(weight)
        // y[p, o] = b[o]
        for p in 0..<(g.batch * g.outputHeight * g.outputWidth) {
            for o in 0..<oc { output[p * oc + o] = bias?[o] ?? 0 }
        }
        // y[p, o] += Σ_{kh,kw,i} x[q(p,kh,kw), i] · w[o, i, kh, kw]
        forEachTap { p, q, kh, kw in
            let y = output + p * oc
            for i in 0..<ic {
                let xv = input[q * ic + i]
                let wRow = transposed + ((kh * g.kernelWidth + kw) * ic + i) * oc
                for o in 0..<oc { y[o] += xv * wRow[o] }
            }
        }
    }

    public func backwardData(outputGradient: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                             inputGradient: UnsafeMutablePointer<Float>) {
        let g = geometry, ic = g.inputChannels, oc = g.outputChannels
        transposeWeights(weight)
        inputGradient.update(repeating: 0, count: g.inputCount)
        // dx[q(p,kh,kw), i] += Σ_o dy[p, o] · w[o, i, kh, kw]
        forEachTap { p, q, kh, kw in
            let dy = outputGradient + p * oc
            for i in 0..<ic {
                let wRow = transposed + ((kh * g.kernelWidth + kw) * ic + i) * oc
                var sum: Float = 0
                for o in 0..<oc { sum += dy[o] * wRow[o] }
                inputGradient[q * ic + i] += sum
            }
        }
    }

    public func backwardWeights(input: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
                                weightGradient: UnsafeMutablePointer<Float>, biasGradient: UnsafeMutablePointer<Float>?) {
        let g = geometry, ic = g.inputChannels, oc = g.outputChannels
        transposed.update(repeating: 0, count: g.weightCount)
        // dwᵀ[kh, kw, i, o] = Σ_p x[q(p,kh,kw), i] · dy[p, o]
        forEachTap { p, q, kh, kw in
            let dy = outputGradient + p * oc
            for i in 0..<ic {
                let xv = input[q * ic + i]
                let row = transposed + ((kh * g.kernelWidth + kw) * ic + i) * oc
                for o in 0..<oc { row[o] += xv * dy[o] }
            }
        }
        // dw[o, i, kh, kw] = dwᵀ[kh, kw, i, o]
        for o in 0..<oc {
            for i in 0..<ic {
                for kh in 0..<g.kernelHeight {
                    for kw in 0..<g.kernelWidth {
                        weightGradient[((o * ic + i) * g.kernelHeight + kh) * g.kernelWidth + kw] =
                            transposed[((kh * g.kernelWidth + kw) * ic + i) * oc + o]
                    }
                }
            }
        }
        // db[o] = Σ_p dy[p, o]
        if let biasGradient {
            biasGradient.update(repeating: 0, count: oc)
            for p in 0..<(g.batch * g.outputHeight * g.outputWidth) {
                for o in 0..<oc { biasGradient[o] += outputGradient[p * oc + o] }
            }
        }
    }
}
