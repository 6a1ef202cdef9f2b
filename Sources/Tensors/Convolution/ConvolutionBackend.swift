/// Which implementation runs a convolution: oneDNN's primitives (the default, fastest here) or the
/// im2col + OpenBLAS reference twin (for checking, and for machines where oneDNN is slow).
public enum ConvolutionBackend: String, CaseIterable, Sendable {
    case oneDNN = "onednn"
    case im2col

    /// The kernel for `geometry` on this backend: made once per layer shape, reused every step.
    public func makeKernel(_ geometry: ConvolutionGeometry) -> ConvolutionKernel {
        switch self {
        case .oneDNN: OneDNNConvolution(geometry)
        case .im2col: Im2colConvolution(geometry)
        }
    }
}

/// The kernel for `geometry` on `backend` (oneDNN unless told otherwise).
public func makeConvolutionKernel(_ geometry: ConvolutionGeometry,
                                  backend: ConvolutionBackend = .oneDNN) -> ConvolutionKernel {
    backend.makeKernel(geometry)
}
