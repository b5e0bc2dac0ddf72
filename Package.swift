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
            ]
        ),
        // Device tensors, the memory pool, and the two backends (OpenCL, native CPU).
        .target(
            name: "CLTrainRuntime",
            dependencies: [
                "COpenCL", "COpenBLAS", "CLTrainKernels",
            ]
        ),
        // The op catalogue, kernel suites, kernel benchmark and profiling backend: for `cltrain
        // bench`, Benchmarks/ and the tests, never for training.
        .target(
            name: "CLTrainCheck",
            dependencies: ["CLTrainRuntime"]
        ),
        // Weights files (safetensors) and atomic file writes; Foundation only.
        .target(name: "CLTrainIO"),
        // Run reporting: draws what Training produces (metrics CSV, SVG plots, epoch lines) and the
        // terminal progress bar.
        .target(
            name: "CLTrainReport",
            dependencies: ["CLTrainTraining", "CLTrainIO"]
        ),
        // Data sets (IDX, CIFAR binary), normalisation, augmentation and batching on the host.
        .target(
            name: "CLTrainData",
            dependencies: ["CZlib"]
        ),
        // Layers with hand-written backward passes, the loss, the models and their catalogue.
        .target(
            name: "CLTrainNN",
            dependencies: ["CLTrainRuntime", "CLTrainIO"]
        ),
        // The use cases: a training run (new or resumed), evaluation, prediction; the Trainer,
        // the training step, optimizers, schedules, checkpoints, metrics.
        .target(
            name: "CLTrainTraining",
            dependencies: [
                "CLTrainNN", "CLTrainData", "CLTrainIO", "CLTrainRuntime",
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
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "CLTrainRuntimeTests",
            dependencies: ["CLTrainRuntime", "CLTrainCheck"]
        ),
        .testTarget(
            name: "CLTrainIOTests",
            dependencies: ["CLTrainIO"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "CLTrainDataTests",
            dependencies: ["CLTrainData", "CZlib"]
        ),
        .testTarget(
            name: "CLTrainTrainingTests",
            dependencies: ["CLTrainTraining", "CLTrainNN", "CLTrainData", "CLTrainRuntime", .product(name: "Logging", package: "swift-log")]
        ),
        .testTarget(
            name: "cltrainTests",
            dependencies: ["cltrain"]
        ),
        .testTarget(
            name: "CLTrainNNTests",
            dependencies: ["CLTrainNN", "CLTrainRuntime", "CLTrainIO", "CLTrainCheck", "CLTrainTraining"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "CLTrainReportTests",
            dependencies: ["CLTrainReport", "CLTrainTraining"]
        ),
    ],
    swiftLanguageModes: [.v5]
)
