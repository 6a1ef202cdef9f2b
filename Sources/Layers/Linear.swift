import Tensors

/// Linear: y = x·Wᵀ + b     x: [rows, in]  W: [out, in]  b: [out]  y: [rows, out]
///
/// Any tensor whose element count is a multiple of `in` is read as `rows` rows, so an NHWC feature
/// map [n, h, w, d] is classified per position (rows = n·h·w) with no copy.
/// Initialisation (PyTorch's): W, b ~ U(±1/√in).
public final class Linear {
    public let inputFeatures: Int
    public let outputFeatures: Int
    public let weight: ParameterArena.Slice
    public let bias: ParameterArena.Slice?

    private let context: LayerContext
    private var input: Tensor?
    public let output = Tensor(shape: [0])

    public init(_ context: LayerContext, name: String, inputFeatures: Int, outputFeatures: Int, bias: Bool = true) {
        self.context = context
        self.inputFeatures = inputFeatures
        self.outputFeatures = outputFeatures
        weight = context.arena.register("\(name).weight", shape: [outputFeatures, inputFeatures], role: .weight)
        self.bias = bias ? context.arena.register("\(name).bias", shape: [outputFeatures], role: .normOrBias) : nil
    }

    public func initialize(_ random: inout ParameterInitializer) {
        let arena = context.arena, bound = 1 / Double(inputFeatures).squareRoot()
        random.fillUniform(arena.value(weight), count: inputFeatures * outputFeatures, bound: bound)
        if let bias { random.fillUniform(arena.value(bias), count: outputFeatures, bound: bound) }
    }

    /// W [out, in] copied into `w` (resized): a reader sees the weights of now and cannot write them.
    public func copyWeight(into w: Tensor) {
        w.resize(to: [outputFeatures, inputFeatures])
        w.data.update(from: context.arena.value(weight), count: w.count)
    }

    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.count % inputFeatures == 0, "Linear: input \(x.shape) is not rows of \(inputFeatures)")
        let rows = x.count / inputFeatures
        input = x
        output.resize(to: [rows, outputFeatures])
        let arena = context.arena
        context.timed(.linear) {
            let y = output.data
            // y = x·Wᵀ
            BLAS.sgemm(.none, .transposed, m: rows, n: outputFeatures, k: inputFeatures,
                       a: x.data, lda: inputFeatures, b: arena.value(weight), ldb: inputFeatures,
                       c: y, ldc: outputFeatures)
            // y += b
            if let bias {
                let b = arena.value(bias)
                for r in 0..<rows { for o in 0..<outputFeatures { y[r * outputFeatures + o] += b[o] } }
            }
        }
        return output
    }

    /// dW = dYᵀ·x, db = Σ_rows dY (written into the arena's gradients); returns dx = dY·W.
    public func backward(_ dY: Tensor) -> Tensor {
        guard let x = input else { preconditionFailure("Linear.backward before forward") }
        let rows = x.count / inputFeatures
        precondition(dY.count == rows * outputFeatures, "Linear.backward: dY \(dY.shape) for \(rows) rows")
        let inputGradient = context.gradientBuffer(x.shape, avoiding: dY)
        let arena = context.arena
        context.timed(.linear) {
            // dW = dYᵀ·x
            BLAS.sgemm(.transposed, .none, m: outputFeatures, n: inputFeatures, k: rows,
                       a: dY.data, lda: outputFeatures, b: x.data, ldb: inputFeatures,
                       c: arena.gradient(weight), ldc: inputFeatures)
            // db = Σ_rows dY
            if let bias {
                let db = arena.gradient(bias)
                db.update(repeating: 0, count: outputFeatures)
                for r in 0..<rows { for o in 0..<outputFeatures { db[o] += dY.data[r * outputFeatures + o] } }
            }
            // dx = dY·W
            BLAS.sgemm(.none, .none, m: rows, n: inputFeatures, k: outputFeatures,
                       a: dY.data, lda: outputFeatures, b: arena.value(weight), ldb: inputFeatures,
                       c: inputGradient.data, ldc: inputFeatures)
        }
        return inputGradient
    }
}
