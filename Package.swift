// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "cltrain",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "cltrain", targets: ["cltrain"]),
        .library(name: "CLTrainRuntime", targets: ["CLTrainRuntime"]),
        .library(name: "CLTrainNN", targets: ["CLTrainNN"]),
        .library(name: "CLTrainData", targets: ["CLTrainData"]),
        .library(name: "CLTrainIO", targets: ["CLTrainIO"]),
        .library(name: "CLTrainReport", targets: ["CLTrainReport"]),
        .library(name: "CLTrainTraining", targets: ["CLTrainTraining"]),
        .library(name: "CLTrainCheck", targets: ["CLTrainCheck"]),
        .library(name: "CLTrainRandom", targets: ["CLTrainRandom"]),
        .library(name: "CLTrainDistributed", targets: ["CLTrainDistributed"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
    ],
    targets: [
        // C shims over system libraries (OpenCL + CLBlast; OpenBLAS CBLAS; zlib).
        .systemLibrary(
            name: "COpenCL",
            path: "Sources/COpenCL",
            providers: [.apt(["ocl-icd-opencl-dev", "opencl-headers", "libclblast-dev"])]
        ),
        .systemLibrary(
            name: "COpenBLAS",
            path: "Sources/COpenBLAS",
            providers: [.apt(["libopenblas-dev"])]
        ),
        .systemLibrary(
            name: "CZlib",
            path: "Sources/CZlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        // JPEG decoding (libjpeg-turbo's TurboJPEG API) and PNG decoding and encoding (libpng's
        // simplified API), for image folders, predictions on image files and report images.
        .systemLibrary(
            name: "CTurboJPEG",
            path: "Sources/CTurboJPEG",
            providers: [.apt(["libturbojpeg0-dev"])]
        ),
        .systemLibrary(
            name: "CPNG",
            path: "Sources/CPNG",
            providers: [.apt(["libpng-dev"])]
        ),
        // Open MPI, for data-parallel runs over several processes; only CLTrainDistributed sees it.
        // pkg-config's `ompi` gives Debian's include folder, which is outside the default path.
        .systemLibrary(
            name: "CMPI",
            path: "Sources/CMPI",
            pkgConfig: "ompi",
            providers: [.apt(["libopenmpi-dev"])]
        ),
        // The hand-written OpenCL kernels, embedded in the binary.
        .target(
            name: "CLTrainKernels",
            path: "Kernels",
            resources: [
                .embedInCode("conv.cl"),
                .embedInCode("pool.cl"),
                .embedInCode("concat.cl"),
                .embedInCode("norm.cl"),
                .embedInCode("elementwise.cl"),
                .embedInCode("loss.cl"),
                .embedInCode("optim.cl"),
                .embedInCode("conv_implicit_gemm.cl"),
            ]
        ),
        // The CPU backend's batch-norm loops in C, compiled for AVX-512, AVX2 + FMA and baseline
        // x86-64 and chosen at run time by the CPU's features (a portable build runs the fast path).
        .target(name: "CLTrainCPUKernels"),
        // The seeded generator (SplitMix64) behind initial weights, shuffling, augmentation and
        // test inputs; Foundation only.
        .target(name: "CLTrainRandom"),
        // Device tensors, the memory pool, and the two backends (OpenCL, native CPU).
        .target(
            name: "CLTrainRuntime",
            dependencies: [
                "COpenCL", "COpenBLAS", "CLTrainKernels", "CLTrainCPUKernels",
            ]
        ),
        // The op catalogue, kernel suites, kernel and training-step benchmarks and the profiling
        // backend: for `cltrain bench`, Benchmarks/ and the tests, never for training.
        .target(
            name: "CLTrainCheck",
            dependencies: ["CLTrainRuntime", "CLTrainRandom", "CLTrainNN", "CLTrainTraining", "CLTrainDistributed"]
        ),
        // Several processes (ranks): the communicator (MPI under mpirun or srun, otherwise one
        // process without MPI), gradient buckets, batch shards and the allreduce benchmark.
        .target(
            name: "CLTrainDistributed",
            dependencies: ["CMPI"]
        ),
        // Weights files (safetensors) and atomic file writes; Foundation only.
        .target(name: "CLTrainIO"),
        // Run reporting: draws what Training produces (metrics CSV, SVG plots, epoch lines) and the
        // terminal progress bar.
        .target(
            name: "CLTrainReport",
            dependencies: ["CLTrainTraining", "CLTrainIO"]
        ),
        // Data sets (IDX, CIFAR binary, image folders), image decoding and PNG encoding,
        // normalisation, augmentation and batching on the host.
        .target(
            name: "CLTrainData",
            dependencies: ["CZlib", "CTurboJPEG", "CPNG", "CLTrainRandom"]
        ),
        // Layers with hand-written backward passes, the loss, the models and their catalogue.
        .target(
            name: "CLTrainNN",
            dependencies: ["CLTrainRuntime", "CLTrainIO", "CLTrainRandom"]
        ),
        // The use cases: a training run (new or resumed), evaluation, prediction; the Trainer,
        // the training step, optimizers, schedules, checkpoints, metrics.
        .target(
            name: "CLTrainTraining",
            dependencies: [
                "CLTrainNN", "CLTrainData", "CLTrainIO", "CLTrainRuntime", "CLTrainRandom", "CLTrainDistributed",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "cltrain",
            dependencies: [
                "CLTrainRuntime",
                "CLTrainNN",
                "CLTrainData",
                "CLTrainIO",
                "CLTrainReport",
                "CLTrainTraining",
                "CLTrainCheck",
                "CLTrainRandom",
                "CLTrainDistributed",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The helpers of the test targets, each written once (see its files).
        .target(
            name: "CLTrainTestSupport",
            dependencies: ["CLTrainData", "CLTrainRuntime", "CZlib"],
            path: "Tests/CLTrainTestSupport"
        ),
        .testTarget(
            name: "CLTrainRuntimeTests",
            dependencies: ["CLTrainRuntime", "CLTrainCheck", "CLTrainRandom", "CLTrainTestSupport"]
        ),
        .testTarget(
            name: "CLTrainIOTests",
            dependencies: ["CLTrainIO", "CLTrainRandom", "CLTrainTestSupport"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "CLTrainDataTests",
            dependencies: ["CLTrainData", "CLTrainRandom", "CLTrainTestSupport"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "CLTrainTrainingTests",
            dependencies: ["CLTrainTraining", "CLTrainNN", "CLTrainData", "CLTrainRuntime", "CLTrainRandom", "CLTrainTestSupport", .product(name: "Logging", package: "swift-log")],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "cltrainTests",
            dependencies: ["cltrain", "CLTrainTestSupport"]
        ),
        .testTarget(
            name: "CLTrainNNTests",
            dependencies: ["CLTrainNN", "CLTrainRuntime", "CLTrainIO", "CLTrainCheck", "CLTrainTraining", "CLTrainRandom", "CLTrainTestSupport"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "CLTrainDistributedTests",
            dependencies: ["CLTrainDistributed", "CLTrainTestSupport"]
        ),
        .testTarget(
            name: "CLTrainReportTests",
            dependencies: ["CLTrainReport", "CLTrainTraining", "CLTrainTestSupport"]
        ),
    ],
    swiftLanguageModes: [.v5]
)
