import CLTrainRuntime
import Foundation

/// One row of `cltrain bench kernels`.
public struct KernelMeasurement: Codable, Sendable {
    public var op: String
    public var family: String
    public var shape: String
    /// The algorithm the op was pinned to (`--all-candidates`); nil: the tuner's choice.
    public var candidate: String?
    /// Mean time of one run, in milliseconds.
    public var milliseconds: Double
    public var gflops: Double?
    public var gigabytesPerSecond: Double
    /// Largest relative error against the reference device (only with a reference).
    public var relativeError: Double?
    public var passed: Bool?
}

/// Times op cases on a device and, given a reference device, compares their results.
public struct KernelBenchmark {
    public var minimumSeconds: Double
    public var maximumRuns: Int

    public init(minimumSeconds: Double = 0.3, maximumRuns: Int = 50) {
        self.minimumSeconds = minimumSeconds
        self.maximumRuns = maximumRuns
    }

    /// Mean seconds of one run of `prepared` on `device` after one warm-up run.
    public func time(_ prepared: PreparedOp, on device: Device) throws -> Double {
        try prepared.run()
        try device.backend.synchronize()
        var runs = 0
        let start = Date()
        repeat {
            try prepared.run()
            runs += 1
            if runs % 4 == 0 || runs == 1 { try device.backend.synchronize() }
        } while runs < maximumRuns && (runs < 2 || Date().timeIntervalSince(start) < minimumSeconds)
        try device.backend.synchronize()
        return Date().timeIntervalSince(start) / Double(runs)
    }

    /// Compare one fresh run of `opCase` on `device` with one on `reference`.
    public func compare(_ opCase: OpCase, on device: Device, reference: Device, seed: UInt64 = 42) throws -> Float {
        let mine = try opCase.prepare(on: device, seed: seed)
        try mine.run()
        let theirs = try opCase.prepare(on: reference, seed: seed)
        try theirs.run()
        return relativeError(try mine.results(), reference: try theirs.results())
    }

    /// Time `opCase` (and compare it when `reference` is given, with `tolerance`).
    public func measure(_ opCase: OpCase, on device: Device, reference: Device? = nil, tolerance: Float = 1e-4) throws -> KernelMeasurement {
        var error: Float?
        if let reference { error = try compare(opCase, on: device, reference: reference) }
        let seconds = try time(try opCase.prepare(on: device), on: device)
        return KernelMeasurement(
            op: opCase.op, family: opCase.family, shape: opCase.shape, milliseconds: seconds * 1000,
            gflops: opCase.flops > 0 ? opCase.flops / seconds / 1e9 : nil,
            gigabytesPerSecond: opCase.bytes / seconds / 1e9,
            relativeError: error.map(Double.init), passed: error.map { $0 <= tolerance })
    }

    /// The algorithms `device`'s tuner may choose among for `opCase`, the rule first: those of every
    /// problem one run meets (an op with one algorithm meets none: empty).
    public func candidates(_ opCase: OpCase, on device: Device) throws -> [String] {
        let prepared = try opCase.prepare(on: device)
        let problems = try device.backend.tuner.problems { try prepared.run() }
        try device.backend.synchronize()
        // Pinning applies to every problem of the run, so only the names all of them offer.
        let lists = problems.sorted { $0.key.description < $1.key.description }.map(\.value)
        guard let first = lists.first else { return [] }
        return first.filter { name in lists.allSatisfy { $0.contains(name) } }
    }

    /// `measure` once per candidate of `opCase`, the op pinned to it; one row with the tuner's
    /// choice when the op has no candidates to choose among.
    public func measureCandidates(_ opCase: OpCase, on device: Device, reference: Device? = nil,
                                  tolerance: Float = 1e-4) throws -> [KernelMeasurement] {
        let names = try candidates(opCase, on: device)
        if names.isEmpty { return [try measure(opCase, on: device, reference: reference, tolerance: tolerance)] }
        return try names.map { name in
            var row = try device.backend.tuner.pinning(name) {
                try measure(opCase, on: device, reference: reference, tolerance: tolerance)
            }
            row.candidate = name
            return row
        }
    }

    /// The device's SGEMM rate on n x n x n, for scale.
    public func sgemmGflops(on device: Device, size: Int = 2048) throws -> Double {
        let opCase = OpCatalog.sgemm(m: size, n: size, k: size)
        return opCase.flops / (try time(try opCase.prepare(on: device), on: device)) / 1e9
    }
}
