import Layers
import Tensors
import XCTest

/// Conv2d's backward against central differences. The loss L = Σ r·y is linear in x, in w and in b
/// separately, so a central difference is exact in exact arithmetic for any step: h = 0.5 (exact in
/// float32) leaves only rounding, about √N·2⁻²⁴·max|r·y| ≈ 1e-6 in L, i.e. ≲ 1e-6 in the slope,
/// against gradients of order 1. Tolerance 1e-4 relative.
final class Conv2dTests: XCTestCase {
    struct Case {
        var batch, height, width, inputChannels, outputChannels, kernel, stride, padding: Int
        var bias: Bool
    }

    let cases = [
        Case(batch: 2, height: 5, width: 5, inputChannels: 3, outputChannels: 4, kernel: 3, stride: 1, padding: 1, bias: true),
        Case(batch: 2, height: 7, width: 6, inputChannels: 3, outputChannels: 2, kernel: 3, stride: 2, padding: 1, bias: false),
        Case(batch: 1, height: 5, width: 5, inputChannels: 4, outputChannels: 3, kernel: 1, stride: 1, padding: 0, bias: true),
        Case(batch: 2, height: 5, width: 6, inputChannels: 2, outputChannels: 3, kernel: 1, stride: 2, padding: 0, bias: false),
        Case(batch: 1, height: 9, width: 9, inputChannels: 1, outputChannels: 2, kernel: 7, stride: 2, padding: 3, bias: true),
    ]

    /// Every backend: the naive reference, the im2col twin and oneDNN.
    let backends: [(String, LayerContext.ConvolutionFactory)] = [
        ("naive", { NaiveConvolution(geometry: $0) }),
        ("im2col", { ConvolutionBackend.im2col.makeKernel($0) }),
        ("onednn", { ConvolutionBackend.oneDNN.makeKernel($0) }),
    ]

    func testBackwardMatchesFiniteDifferences() {
        for (backend, factory) in backends { for (n, c) in cases.enumerated() {
            let context = LayerContext(makeConvolution: factory)
            let conv = Conv2d(context, name: "conv", inputChannels: c.inputChannels, outputChannels: c.outputChannels,
                              kernelSize: c.kernel, stride: c.stride, padding: c.padding, bias: c.bias)
            context.arena.finalize()
            var random = ParameterInitializer(seed: UInt64(n))
            conv.initialize(&random)
            let x = FiniteDifferences.randomTensor([c.batch, c.height, c.width, c.inputChannels], seed: 100 + UInt64(n))
            let y = conv.forward(x)
            let r = FiniteDifferences.randomTensor(y.shape, seed: 200 + UInt64(n))
            let dx = conv.backward(r)!.values
            let loss = { FiniteDifferences.weightedSum(conv.forward(x), r) }
            let arena = context.arena
            checkGradient("\(backend) case \(n) dx", loss: loss, values: x.data, count: x.count, analytic: dx, step: 0.5, tolerance: 1e-4)
            checkGradient("\(backend) case \(n) dw", loss: loss, values: arena.value(conv.weight), count: arena.entry(conv.weight).count,
                          analytic: gradientValues(arena, conv.weight), step: 0.5, tolerance: 1e-4)
            if let bias = conv.bias {
                checkGradient("\(backend) case \(n) db", loss: loss, values: arena.value(bias), count: c.outputChannels,
                              analytic: gradientValues(arena, bias), step: 0.5, tolerance: 1e-4)
            }
        } }
    }

    /// The output shape, ⌊(h + 2p − k)/s⌋ + 1, and one value by hand.
    func testForwardByHand() {
        let context = LayerContext(makeConvolution: { NaiveConvolution(geometry: $0) })
        let conv = Conv2d(context, name: "conv", inputChannels: 1, outputChannels: 1, kernelSize: 3, stride: 2, padding: 1,
                          bias: true)
        context.arena.finalize()
        context.arena.value(conv.weight).update(repeating: 1, count: 9)
        context.arena.value(conv.bias!).pointee = 0.5
        // x = 1…25 on a 5×5 grid; y[0,0] = 0.5 + (1 + 2 + 6 + 7) (the padded tap is 0)
        let x = Tensor(shape: [1, 5, 5, 1], values: (1...25).map(Float.init))
        let y = conv.forward(x)
        XCTAssertEqual(y.shape, [1, 3, 3, 1])
        XCTAssertEqual(y[0], 16.5)
        // y[1,1] = 0.5 + Σ of the 3×3 block centred on x(2,2) = 13: 9·13
        XCTAssertEqual(y[4], 117.5)
    }
}
