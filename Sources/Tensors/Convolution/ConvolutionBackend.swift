import COneDNN

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

/// The thread count of both libraries a convolution may run on.
///
/// Debian's oneDNN is built on GNU OpenMP (`DNNL_CPU_RUNTIME = DNNL_RUNTIME_OMP`), so its primitives use
/// OpenMP's thread count; OpenBLAS (the pthreads build) keeps its own. `set` sets both.
///
/// OpenMP's count is a per-thread setting: it applies to parallel regions started from the thread
/// that called `set` (and to threads it creates later), so call it on the thread that will run the
/// convolutions, at start-up. `OMP_NUM_THREADS` sets the same default from the environment.
///
/// OpenMP's wait policy can only be set from the environment, before the process starts (libgomp
/// reads it when it is loaded). By default an idle OpenMP thread spins before it sleeps, and on a
/// machine whose cores are also busy with other work (other processes, MPI ranks sharing cores,
/// OpenBLAS's own spinning threads) that spinning starves the thread it waits for: there,
/// `OMP_WAIT_POLICY=passive` made oneDNN's ResNet-20 convolutions 3-4x faster (`multimix bench conv`,
/// 2 threads, 2 cores, medians; every call took about 16 ms, a scheduler time slice, without it).
public enum ConvolutionThreads {
    /// Makes oneDNN (OpenMP) and OpenBLAS use `count` threads each.
    public static func set(_ count: Int) {
        precondition(count >= 1, "ConvolutionThreads.set: count must be at least 1 (got \(count))")
        omp_set_num_threads(Int32(count))
        BLAS.threadCount = count
    }

    /// The threads oneDNN's next parallel region on this thread will use.
    public static var oneDNNCount: Int { Int(omp_get_max_threads()) }
}
