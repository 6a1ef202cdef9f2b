// swift-tools-version:6.0
//
// multimix-mpi: data-parallel MultiMix training over MPI, in Swift.
// Targets follow ../shared/DESIGN.md: C module maps at the bottom, one job per Swift module above them.
import PackageDescription

let package = Package(
    name: "multimix-mpi",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "multimix", targets: ["multimix"]),
        .library(name: "SwiftMPI", targets: ["SwiftMPI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        // SHA-256 and MD5 (BoringSSL's, through the Crypto product only).
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        // C module maps over system libraries (installed by launch/setup.sh).
        .systemLibrary(name: "CMPI", pkgConfig: "ompi",
                       providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // oneDNN's C API (Debian ships no .pc file for it: headers in /usr/include, links dnnl and gomp).
        .systemLibrary(name: "COneDNN", providers: [.apt(["libdnnl-dev"])]),
        // GNU OpenMP's runtime: the process's one thread pool (oneDNN's, and the engine's loops').
        .systemLibrary(name: "COpenMP", providers: [.apt(["libgomp1"])]),

        // Image decoding and encoding in C over libjpeg-turbo and libspng (libjpeg reports errors by longjmp).
        .target(name: "CImageCodecs", linkerSettings: [.linkedLibrary("jpeg"), .linkedLibrary("spng")]),

        // The Swift MPI wrapper: communicators, typed collectives, requests, errors as throws.
        .target(name: "SwiftMPI", dependencies: ["CMPI"]),
        // Distributed: gradient buckets all-reduced during backward, consensus, the watchdog, parameter checksums.
        .target(name: "Distributed", dependencies: ["SwiftMPI"]),
        // Tensors: BLAS facade (sgemm), and later storage, kernels, RNG.
        .target(name: "Tensors", dependencies: ["COpenBLAS", "COneDNN", "COpenMP"]),
        // Layers with explicit forward/backward, the flat parameter arena, SGD and schedules.
        .target(name: "Layers", dependencies: ["Tensors"]),
        // The ResNet family, chosen by name.
        .target(name: "Models", dependencies: ["Layers", "Tensors"]),

        // Mixing: ERM, mixup, CutMix, manifold mixup, MultiMix, Dense MultiMix (one `Mixer` each); their
        // samplers; the objective (targets, stacking, the soft-target cross-entropy of Layers).
        .target(name: "Mixing", dependencies: ["Tensors", "Layers"]),

        // SafeFiles: reads and writes that a link, a device or a FIFO planted at the path cannot redirect,
        // sizes bounded before they allocate, and durable writes (fsync, then rename) hashed as they go.
        .target(name: "SafeFiles", dependencies: [.product(name: "Crypto", package: "swift-crypto")]),
        // Checksums: SHA-256 and MD5 of files read in chunks (swift-crypto), digests as hex.
        .target(name: "Checksums", dependencies: [.product(name: "Crypto", package: "swift-crypto")]),
        // ImageWriting: pictures drawn (an RGB canvas, a bitmap font) and encoded (PNG, JPEG) through CImageCodecs.
        .target(name: "ImageWriting", dependencies: ["CImageCodecs", "SafeFiles"]),

        // Datasets: CIFAR and IDX readers, rank sharding, augmentation, the prefetching loader.
        .target(name: "Datasets", dependencies: [
            "Tensors", "CZlib", "CImageCodecs", "SafeFiles", "Checksums", "ImageWriting",
            .product(name: "Crypto", package: "swift-crypto"),
        ]),

        // DataFetch: `multimix data fetch`: resumable downloads, archive and per-file checksums, unpacking.
        .target(name: "DataFetch", dependencies: [
            "Datasets", "CZlib", "SafeFiles", "Checksums", "SwiftMPI", .product(name: "Crypto", package: "swift-crypto"),
        ]),

        // TextEscaping: text from data made safe for JSON strings, HTML pages, CSV and Markdown cells.
        .target(name: "TextEscaping"),
        // RunConfig: the run's config (schema from CodingKeys, YAML loading, validation, serialisation, hash).
        .target(name: "RunConfig", dependencies: [
            "Datasets", "Mixing", "Models", "Tensors", "Checksums", "SafeFiles", .product(name: "Yams", package: "Yams"),
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        // Checkpointing: safetensors, the checkpoint store, durable writes, the run folder's lock and markers,
        // and the mapping between the parameter arena / optimizer state and tensor names.
        .target(name: "Checkpointing", dependencies: [
            "RunConfig", "SafeFiles", "Checksums", "TextEscaping", "Layers", .product(name: "Crypto", package: "swift-crypto"),
        ]),
        // Evaluation: classification, calibration, OOD and embedding metrics over ranks.
        .target(name: "Evaluation", dependencies: ["RunConfig", "SafeFiles", "TextEscaping", "Distributed", "SwiftMPI", "Models", "Tensors", "Datasets"]),
        // RunOutputs: the metrics log, TensorBoard event files, SVG plots, report pages, progress lines.
        .target(name: "RunOutputs", dependencies: ["RunConfig", "Evaluation", "SafeFiles", "TextEscaping", "SwiftMPI"]),
        // Studies: study files (runs x seeds), their results tables and paired comparisons.
        .target(name: "Studies", dependencies: [
            "RunConfig", "RunOutputs", "Evaluation", "Checkpointing", "SafeFiles", "TextEscaping", .product(name: "Yams", package: "Yams"),
        ]),
        // Training: the data-parallel loop (Trainer, TrainingStep), run setup, stop signals.
        .target(name: "Training", dependencies: [
            "SwiftMPI", "Distributed", "Tensors", "Layers", "Models", "Mixing", "Datasets",
            "RunConfig", "Checkpointing", "Evaluation", "RunOutputs", "Studies", "SafeFiles", "Checksums",
            .product(name: "Yams", package: "Yams"), .product(name: "Crypto", package: "swift-crypto"),
        ]),

        // The command-line tool.
        .executableTarget(name: "multimix", dependencies: [
            "SwiftMPI", "Distributed", "Tensors", "Layers", "Models", "Mixing", "Datasets", "DataFetch",
            "RunConfig", "Checkpointing", "Evaluation", "RunOutputs", "Studies", "Training",
            "SafeFiles", "Checksums", "ImageWriting", "TextEscaping", "CMPI",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // Multi-rank scenarios for the tests: run under mpirun by Tests/SwiftMPITests.
        .executableTarget(name: "mpi-scenarios", dependencies: ["SwiftMPI", "Distributed", "Tensors", "Layers", "Models", "CMPI"], path: "Sources/MPIScenarios"),

        // Tests. TestSupport holds shared helpers (closeness checks, the mpirun launcher).
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "ChecksumsTests", dependencies: ["Checksums", .product(name: "Crypto", package: "swift-crypto")]),
        .testTarget(name: "ImageWritingTests", dependencies: ["ImageWriting"]),
        .testTarget(name: "SwiftMPITests", dependencies: ["SwiftMPI", "TestSupport"]),
        .testTarget(name: "TensorsTests", dependencies: ["Tensors", "TestSupport"]),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets", "DataFetch", "Tensors", "SafeFiles", "Checksums", "ImageWriting", "TestSupport",
                                                     .product(name: "Crypto", package: "swift-crypto")],
                    exclude: ["fetch_server.py", "image_reference.py"]),
        .testTarget(name: "LayersTests", dependencies: ["Layers", "Tensors", "TestSupport"]),
        .testTarget(name: "ModelsTests", dependencies: ["Models", "Layers", "Tensors", "Datasets", "TestSupport"]),
        .testTarget(name: "TrainingTests", dependencies: [
            "Training", "RunConfig", "Checkpointing", "Evaluation", "RunOutputs", "Studies", "SafeFiles", "Checksums", "TextEscaping", "Distributed",
            "Datasets", "Layers", "Mixing", "Models", "Tensors", "TestSupport", .product(name: "Crypto", package: "swift-crypto"),
        ],
                    exclude: ["metrics_reference.py", "tensorboard_events.py"]),
        // The system as users launch it: launch/ scripts, clusters in network namespaces, Slurm.
        .testTarget(name: "SystemTests", dependencies: ["Training", "Checkpointing", "RunOutputs", "SwiftMPI", "TestSupport"]),
        .testTarget(name: "MixingTests", dependencies: ["Mixing", "Layers", "Tensors", "TestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
