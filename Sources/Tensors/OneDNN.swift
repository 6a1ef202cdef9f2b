import COneDNN
import COpenMP

/// The process-wide oneDNN CPU engine and its in-order stream, created on first use and kept for the
/// life of the process (oneDNN's primitives are tied to an engine; one CPU engine is all a process needs).
///
/// On the CPU an in-order stream executes each primitive on the calling thread (fanning out through
/// OpenMP) and returns when it is done, so `execute` needs no `dnnl_stream_wait` between passes.
final class OneDNNContext: @unchecked Sendable {
    // Safe: the engine and stream are created once, never mutated, and destroyed with the process.
    static let shared = OneDNNContext()

    let engine: dnnl_engine_t
    let stream: dnnl_stream_t

    private init() {
        var engine: dnnl_engine_t?
        OneDNN.check(dnnl_engine_create(&engine, dnnl_cpu, 0), "dnnl_engine_create(cpu, 0)")
        var stream: dnnl_stream_t?
        OneDNN.check(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags.rawValue), "dnnl_stream_create")
        self.engine = engine!
        self.stream = stream!
    }
}

/// Small helpers around oneDNN's C API: status checks, memory descriptors, primitives.
enum OneDNN {
    /// Stops with the call and oneDNN's status name when a call fails. A failure here is a programming
    /// error (an unsupported shape or a bad descriptor), not a runtime condition to recover from.
    static func check(_ status: dnnl_status_t, _ call: @autoclosure () -> String,
                      file: StaticString = #fileID, line: UInt = #line) {
        if status != dnnl_success {
            preconditionFailure("oneDNN: \(call()) failed: \(String(cString: dnnl_status2str(status)))",
                                file: file, line: line)
        }
    }

    /// A float32 memory descriptor of `dims` in layout `tag` (`dnnl_format_tag_any` lets a primitive choose).
    static func descriptor(_ dims: [Int], _ tag: dnnl_format_tag_t) -> dnnl_memory_desc_t {
        var md = dnnl_memory_desc_t()
        let dims64 = dims.map(Int64.init)
        check(dnnl_memory_desc_init_by_tag(&md, Int32(dims.count), dims64, dnnl_f32, tag),
              "dnnl_memory_desc_init_by_tag(\(dims))")
        return md
    }

    /// Primitive attributes asking for a user-managed scratchpad (so that execution never allocates).
    /// The caller destroys them once the primitive descriptor is made.
    static func userScratchpadAttributes() -> dnnl_primitive_attr_t {
        var attributes: dnnl_primitive_attr_t?
        check(dnnl_primitive_attr_create(&attributes), "dnnl_primitive_attr_create")
        check(dnnl_primitive_attr_set_scratchpad_mode(attributes, dnnl_scratchpad_mode_user),
              "dnnl_primitive_attr_set_scratchpad_mode")
        return attributes!
    }

    /// The name of the format tag that `md` is laid out in ("oihw", "OIhw8i8o", ...), found by trying
    /// every tag of its rank; "blocked" if none matches. For reports only: it is slow.
    static func formatName(_ md: dnnl_memory_desc_t) -> String {
        var md = md
        let dims = withUnsafeBytes(of: md.dims) { Array($0.bindMemory(to: Int64.self).prefix(Int(md.ndims))) }
        for raw in (dnnl_format_tag_any.rawValue + 1)..<dnnl_format_tag_last.rawValue {
            var candidate = dnnl_memory_desc_t()
            let tag = dnnl_format_tag_t(rawValue: raw)
            guard dnnl_memory_desc_init_by_tag(&candidate, md.ndims, dims, md.data_type, tag) == dnnl_success
            else { continue }
            if dnnl_memory_desc_equal(&md, &candidate) != 0 { return String(cString: dnnl_fmt_tag2str(tag)) }
        }
        return "blocked"
    }
}

/// One oneDNN primitive with its descriptor's memory layouts, destroyed with this object.
final class OneDNNPrimitive {
    let descriptor: dnnl_primitive_desc_t
    let primitive: dnnl_primitive_t
    private var arguments = UnsafeMutableBufferPointer<dnnl_exec_arg_t>(start: nil, count: 0)
    private var scratchpadMemory: OneDNNMemory?

    /// Creates the primitive descriptor for `operation` (a `dnnl_*_desc_t`), with user-managed
    /// scratchpad so that execution never allocates, and the primitive from it.
    init(operation: UnsafeRawPointer, hint: OneDNNPrimitive? = nil, what: String) {
        let context = OneDNNContext.shared
        let attributes = OneDNN.userScratchpadAttributes()
        defer { dnnl_primitive_attr_destroy(attributes) }
        var descriptor: dnnl_primitive_desc_t?
        OneDNN.check(dnnl_primitive_desc_create(&descriptor, operation, attributes, context.engine,
                                                hint?.descriptor),
                     "dnnl_primitive_desc_create(\(what))")
        var primitive: dnnl_primitive_t?
        OneDNN.check(dnnl_primitive_create(&primitive, descriptor), "dnnl_primitive_create(\(what))")
        self.descriptor = descriptor!
        self.primitive = primitive!
    }

    /// A reorder from layout `source` to layout `destination` (same dims).
    convenience init(reorderFrom source: dnnl_memory_desc_t, to destination: dnnl_memory_desc_t) {
        let context = OneDNNContext.shared
        var source = source, destination = destination
        let attributes = OneDNN.userScratchpadAttributes()
        defer { dnnl_primitive_attr_destroy(attributes) }
        var descriptor: dnnl_primitive_desc_t?
        OneDNN.check(dnnl_reorder_primitive_desc_create(&descriptor, &source, context.engine, &destination,
                                                        context.engine, attributes),
                     "dnnl_reorder_primitive_desc_create")
        self.init(reorderDescriptor: descriptor!)
    }

    private init(reorderDescriptor: dnnl_primitive_desc_t) {
        var primitive: dnnl_primitive_t?
        OneDNN.check(dnnl_primitive_create(&primitive, reorderDescriptor), "dnnl_primitive_create(reorder)")
        self.descriptor = reorderDescriptor
        self.primitive = primitive!
    }

    deinit {
        arguments.deallocate()
        dnnl_primitive_destroy(primitive)
        dnnl_primitive_desc_destroy(descriptor)
    }

    /// The layout the primitive chose for one of its arguments (`dnnl_query_weights_md`, ...).
    func layout(_ query: dnnl_query_t) -> dnnl_memory_desc_t {
        dnnl_primitive_desc_query_md(descriptor, query, 0).pointee
    }

    /// Bytes of scratchpad the primitive needs at execution (0 for none).
    var scratchpadBytes: Int {
        dnnl_memory_desc_get_size(dnnl_primitive_desc_query_md(descriptor, dnnl_query_scratchpad_md, 0))
    }

    /// Fixes the arguments of every later `run`: `arguments`, plus the scratchpad at `scratchpad` (at
    /// least `scratchpadBytes` long) when the primitive needs one. The memory objects stay; callers
    /// re-point their buffers (`OneDNNMemory.bind`) before each run.
    func prepare(_ arguments: [dnnl_exec_arg_t], scratchpad: UnsafeMutableRawPointer?) {
        var all = arguments
        if scratchpadBytes > 0 {
            let memory = OneDNNMemory(layout(dnnl_query_scratchpad_md))
            memory.bind(scratchpad!)
            scratchpadMemory = memory
            all.append(memory.argument(DNNL_ARG_SCRATCHPAD))
        }
        self.arguments.deallocate()
        self.arguments = .allocate(capacity: all.count)
        _ = self.arguments.initialize(from: all)
    }

    /// Runs the primitive on its prepared arguments; returns when it is done (in-order CPU stream).
    func run() {
        OneDNN.check(dnnl_primitive_execute(primitive, OneDNNContext.shared.stream, Int32(arguments.count),
                                            arguments.baseAddress), "dnnl_primitive_execute")
    }

    /// `run` with OpenMP limited to the calling thread, for work too small to share: oneDNN then runs
    /// it inline, with no parallel region (whose fork and barrier cost more than a small reorder, and
    /// far more when another process holds one of the cores). OpenMP's thread count is a per-thread
    /// setting, restored afterwards.
    func runOnCallingThread() {
        let threads = omp_get_max_threads()
        omp_set_num_threads(1)
        run()
        omp_set_num_threads(threads)
    }
}

/// A oneDNN memory object over a caller's buffer: the layout is fixed at creation, the buffer is
/// pointed at anew each call (`bind`), so no memory object is created per call.
final class OneDNNMemory {
    let memory: dnnl_memory_t
    let layout: dnnl_memory_desc_t

    /// Memory of layout `layout`; with `owned`, oneDNN allocates and owns a buffer for it (scratch for
    /// reordered weights), otherwise it has none until `bind`.
    init(_ layout: dnnl_memory_desc_t, owned: Bool = false) {
        var layout = layout
        var memory: dnnl_memory_t?
        // DNNL_MEMORY_ALLOCATE is ((void *)(size_t)-1): the all-ones address.
        let handle = owned ? UnsafeMutableRawPointer(bitPattern: UInt.max) : nil
        OneDNN.check(dnnl_memory_create(&memory, &layout, OneDNNContext.shared.engine, handle),
                     "dnnl_memory_create")
        self.memory = memory!
        self.layout = layout
    }

    deinit { dnnl_memory_destroy(memory) }

    /// Points this memory object at `pointer` for the next execution.
    func bind(_ pointer: UnsafeRawPointer) {
        OneDNN.check(dnnl_memory_set_data_handle(memory, UnsafeMutableRawPointer(mutating: pointer)),
                     "dnnl_memory_set_data_handle")
    }

    /// The argument `slot` (DNNL_ARG_SRC, ...) bound to this memory.
    func argument(_ slot: Int32) -> dnnl_exec_arg_t { dnnl_exec_arg_t(arg: slot, memory: memory) }
}
