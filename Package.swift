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
        // Distributed: gradient buckets all-reduced during backward, the stall watch, parameter checksums.
        .target(name: "Distributed", dependencies: ["SwiftMPI"]),
        // Tensors: BLAS facade (sgemm), and later storage, kernels, RNG.
        .target(name: "Tensors", dependencies: ["COpenBLAS", "COneDNN", "COpenMP"]),
        // Layers with explicit forward/backward, the flat parameter arena, SGD and schedules.
        .target(name: "Layers", dependencies: ["Tensors"]),
        // The ResNet family, chosen by name.
        .target(name: "Models", dependencies: ["Layers"]),

        // Mixing: ERM, mixup, CutMix, manifold mixup, MultiMix, Dense MultiMix; their samplers.
        .target(name: "Mixing", dependencies: ["Tensors"]),

        // Datasets: CIFAR and IDX readers, rank sharding, augmentation, the prefetching loader.
        .target(name: "Datasets", dependencies: ["Tensors", "CZlib", "CImageCodecs"]),

        // DataFetch: `multimix data fetch`: resumable downloads, archive and per-file checksums, unpacking.
        .target(name: "DataFetch", dependencies: ["Datasets", "CZlib"]),

        // Training: config, checkpoints (safetensors, SHA-256), evaluation metrics, run outputs.
        .target(name: "Training", dependencies: [
            "SwiftMPI", "Distributed", "Tensors", "Layers", "Models", "Mixing", "Datasets",
            .product(name: "Yams", package: "Yams"),
        ]),

        // The command-line tool.
        .executableTarget(name: "multimix", dependencies: [
            "SwiftMPI", "Tensors", "Models", "Mixing", "Datasets", "DataFetch", "Training", "CMPI",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // Multi-rank scenarios for the tests: run under mpirun by Tests/SwiftMPITests.
        .executableTarget(name: "mpi-scenarios", dependencies: ["SwiftMPI", "Distributed", "Models", "CMPI"], path: "Sources/MPIScenarios"),

        // Tests. TestSupport holds shared helpers (closeness checks, the mpirun launcher).
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "SwiftMPITests", dependencies: ["SwiftMPI", "TestSupport"]),
        .testTarget(name: "TensorsTests", dependencies: ["Tensors", "TestSupport"]),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets", "DataFetch", "Tensors", "TestSupport"],
                    exclude: ["fetch_server.py", "image_reference.py"]),
        .testTarget(name: "LayersTests", dependencies: ["Layers", "TestSupport"]),
        .testTarget(name: "ModelsTests", dependencies: ["Models", "Datasets", "TestSupport"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Datasets", "TestSupport"],
                    exclude: ["metrics_reference.py", "tensorboard_events.py"]),
        // The system as users launch it: launch/ scripts, clusters in network namespaces, Slurm.
        .testTarget(name: "SystemTests", dependencies: ["Training", "SwiftMPI", "TestSupport"]),
        .testTarget(name: "MixingTests", dependencies: ["Mixing", "Layers", "TestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
