// swift-tools-version: 6.1
// package-benchmark suites for cltrain, kept in their own package so the project's `swift test`
// never builds them. Run from this folder: `swift package benchmark` (see ../README.md).
import PackageDescription

let package = Package(
    name: "cltrain-benchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "cltrain", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.0", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "KernelBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "CLTrainRuntime", package: "cltrain"),
                .product(name: "CLTrainCheck", package: "cltrain"),
            ],
            path: "Benchmarks/KernelBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "TrainStepBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "CLTrainRuntime", package: "cltrain"),
                .product(name: "CLTrainNN", package: "cltrain"),
                .product(name: "CLTrainTraining", package: "cltrain"),
                .product(name: "CLTrainRandom", package: "cltrain"),
            ],
            path: "Benchmarks/TrainStepBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
