import ArgumentParser
import CLTrainCheck
import CLTrainRuntime
import Foundation

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure speed (and check results) on a device.",
        subcommands: [BenchKernels.self, BenchTrain.self, BenchAllreduce.self]
    )
}

struct BenchKernels: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernels",
        abstract: "Time every op on shapes of DenseNet-BC-100 and DRN-C-26; with --check, compare each with the CPU backend."
    )

    @OptionGroup var deviceOptions: DeviceOptions

    @Option(name: .long, help: "Images per batch in the shapes.")
    var batchSize = 64

    @Flag(name: .long, help: "Compare every op with the native CPU backend; exit non-zero above --tolerance.")
    var check = false

    @Option(name: .long, help: "Largest relative error (to the result's largest magnitude) --check accepts.")
    var tolerance: Float = 1e-4

    @Option(name: .long, help: "Only ops whose name or shape contains this text (e.g. conv2d, d4).")
    var filter: String?

    @Flag(name: .long, help: "Run each op once with every algorithm its backend may choose (one row each) rather than the tuned choice.")
    var allCandidates = false

    @Option(name: .long, help: "Minimum seconds spent timing each op.")
    var seconds = 0.3

    @Flag(name: .long, help: "Print JSON instead of a table.")
    var json = false

    func validate() throws {
        guard batchSize > 0 else { throw ValidationError("--batch-size must be at least 1") }
        guard tolerance.isFinite, tolerance > 0 else { throw ValidationError("--tolerance must be a positive number") }
    }

    func run() throws {
        try reportingErrors {
            let device = try deviceOptions.open()
            let reference = check ? Device(backend: CPUBackend()) : nil
            let bench = KernelBenchmark(minimumSeconds: seconds)
            var cases = KernelSuites.benchmark(batch: batchSize)
            if let filter { cases = cases.filter { $0.op.contains(filter) || $0.shape.contains(filter) } }

            let buildStart = Date()
            if let cl = device.backend as? OpenCLBackend { try cl.buildAllPrograms() }
            let buildSeconds = Date().timeIntervalSince(buildStart)
            let peak = try bench.sgemmGflops(on: device)
            if !json {
                print("device: \(device.name) (\(device.info.driver)); SGEMM 2048^3: \(String(format: "%.1f", peak)) GFLOP/s; "
                      + "kernels ready in \(String(format: "%.2f", buildSeconds)) s; batch \(batchSize)")
                printHeader()
            }
            var rows: [KernelMeasurement] = []
            for opCase in cases {
                let measured = allCandidates
                    ? try bench.measureCandidates(opCase, on: device, reference: reference, tolerance: tolerance)
                    : [try bench.measure(opCase, on: device, reference: reference, tolerance: tolerance)]
                rows += measured
                if !json { measured.forEach(printRow) }
            }
            let failures = rows.filter { $0.passed == false }
            if json {
                struct Report: Codable {
                    var device: DeviceInfo
                    var batchSize: Int
                    var sgemmGflops: Double
                    var programSeconds: Double
                    var checked: Bool
                    var allCandidates: Bool
                    var tolerance: Float
                    var passed: Bool
                    var measurements: [KernelMeasurement]
                    var memory: String
                }
                let report = Report(device: device.info, batchSize: batchSize, sgemmGflops: peak, programSeconds: buildSeconds,
                                    checked: check, allCandidates: allCandidates, tolerance: tolerance, passed: failures.isEmpty, measurements: rows,
                                    memory: device.pool.statistics.description)
                try printJSON(report)
            } else {
                print("memory pool: \(device.pool.statistics)")
                if check {
                    let what = allCandidates ? "(op, candidate) pairs" : "ops"
                    print(failures.isEmpty
                          ? "check passed: \(rows.count) \(what) within \(tolerance) of the CPU backend"
                          : "check FAILED: \(failures.count) of \(rows.count) \(what) above \(tolerance): "
                            + failures.map { "\($0.op) [\($0.shape)]" + ($0.candidate.map { " \($0)" } ?? "") }.joined(separator: ", "))
                }
            }
            if !failures.isEmpty { throw ExitCode(1) }
        }
    }

    private func printHeader() {
        let columns = [pad("op", 30), pad("shape", 44)] + (allCandidates ? [pad("candidate", 30)] : [])
            + [lpad("ms", 9), lpad("GFLOP/s", 9), lpad("GB/s", 8)] + (check ? [lpad("rel.err", 9), "  ok"] : [])
        print(columns.joined(separator: " "))
    }

    private func printRow(_ row: KernelMeasurement) {
        var columns = [pad(row.op, 30), pad(row.shape, 44)] + (allCandidates ? [pad(row.candidate ?? "-", 30)] : [])
        columns += [lpad(String(format: "%.3f", row.milliseconds), 9), lpad(row.gflops.map { String(format: "%.1f", $0) } ?? "-", 9),
                    lpad(String(format: "%.1f", row.gigabytesPerSecond), 8)]
        if let error = row.relativeError {
            columns += [lpad(String(format: "%.1e", error), 9), row.passed == true ? "  ok" : "  FAIL"]
        }
        print(columns.joined(separator: " "))
    }
}

func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
}

func lpad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
}
