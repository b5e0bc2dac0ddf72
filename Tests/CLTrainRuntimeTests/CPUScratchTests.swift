import CLTrainRandom
import XCTest
@testable import CLTrainRuntime

/// The CPU backend takes its scratch (column matrices, per-thread buffers, repacked weights) from
/// the device's memory pool: the pool's peak counts it, every call gives all of it back, and a
/// call that repeats an earlier one is served from the pool's cache (what `bench train` reports
/// as device allocations per step after the first).
final class CPUScratchTests: XCTestCase {
    /// Four threads, so that the per-sample loops split into several chunks, each with buffers of
    /// its own, on any machine.
    let device = Device(backend: CPUBackend(threads: 4))
    var backend: CPUBackend { device.backend as! CPUBackend }

    struct Case {
        let n: Int, cin: Int, h: Int, w: Int, cout: Int
        let geometry: Conv2dGeometry
        let why: String
        var shape: CPUBackend.ConvShape {
            CPUBackend.ConvShape(n: n, inChannels: cin, height: h, width: w, outChannels: cout,
                                 outHeight: geometry.outputHeight(h), outWidth: geometry.outputWidth(w), geometry: geometry)
        }
    }

    /// One shape per algorithm, chosen by shape as the backend chooses (see `testEveryCaseTakesItsAlgorithm`).
    let cases: [Case] = [
        Case(n: 2, cin: 5, h: 16, w: 14, cout: 6, geometry: Conv2dGeometry(kernel: 3, stride: 2, padding: 1), why: "im2col per sample"),
        Case(n: 3, cin: 6, h: 12, w: 12, cout: 64, geometry: Conv2dGeometry(kernel: 3, padding: 1), why: "im2col, samples grouped"),
        Case(n: 3, cin: 5, h: 4, w: 4, cout: 7, geometry: Conv2dGeometry(kernel: 3, padding: 4, dilation: 4), why: "region plan"),
        Case(n: 3, cin: 17, h: 16, w: 15, cout: 5, geometry: Conv2dGeometry(kernel: 3, padding: 1), why: "tap stacking"),
    ]

    func testEveryCaseTakesItsAlgorithm() {
        let s = cases.map(\.shape)
        XCTAssertTrue(ConvRegionPlan(s[0]) == nil && !CPUBackend.usesTapStacking(s[0]) && CPUBackend.groupSize(s[0]) == 1,
                      cases[0].why)
        XCTAssertTrue(ConvRegionPlan(s[1]) == nil && !CPUBackend.usesTapStacking(s[1]) && CPUBackend.groupSize(s[1]) > 1,
                      cases[1].why)
        XCTAssertNotNil(ConvRegionPlan(s[2]), cases[2].why)
        XCTAssertTrue(ConvRegionPlan(s[3]) == nil && CPUBackend.usesTapStacking(s[3]), cases[3].why)
        // Tap stacking's input gradient is the convolution with the kernel turned around, per sample.
        XCTAssertNotNil(backend.transposedGeometry(s[3]))
        XCTAssertGreaterThan(backend.sampleChunkCount(s[3]), 1, "tap stacking should split its samples across threads")
    }

    /// The tensors of one convolution case, made once so that repeated calls allocate no tensors.
    struct Operands {
        let input: Tensor, weight: Tensor, bias: Tensor, output: Tensor, gradOutput: Tensor
        let gradInput: Tensor, gradWeight: Tensor, gradBias: Tensor
        let norm: BatchNormReLU
    }

    func operands(_ c: Case, _ rng: inout SeededRandom) throws -> Operands {
        let g = c.geometry, out = [c.n, c.cout, g.outputHeight(c.h), g.outputWidth(c.w)]
        let weightShape = [c.cout, c.cin, g.kernelH, g.kernelW]
        return Operands(
            input: try randomTensor(device: device, shape: [c.n, c.cin, c.h, c.w], rng: &rng),
            weight: try randomTensor(device: device, shape: weightShape, rng: &rng),
            bias: try randomTensor(device: device, shape: [c.cout], rng: &rng),
            output: try device.makeTensor(out),
            gradOutput: try randomTensor(device: device, shape: out, rng: &rng),
            gradInput: try device.makeTensor([c.n, c.cin, c.h, c.w]),
            gradWeight: try device.zeros(weightShape),
            gradBias: try device.zeros([c.cout]),
            norm: BatchNormReLU(mean: try randomTensor(device: device, shape: [c.cin], rng: &rng, in: -0.3...0.3),
                                invStd: try randomTensor(device: device, shape: [c.cin], rng: &rng, in: 0.5...1.5),
                                weight: try randomTensor(device: device, shape: [c.cin], rng: &rng, in: 0.5...1.5),
                                bias: try randomTensor(device: device, shape: [c.cin], rng: &rng, in: -0.5...0.2)))
    }

    /// What the pool's peak rose above the live bytes of the tensors while `body` ran; fails when
    /// the live bytes do not come back to where they started (scratch kept).
    func scratchPeak(_ what: String, file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Void) rethrows -> Int {
        let pool = device.pool
        let before = pool.statistics.liveBytes
        pool.resetPeak()
        try body()
        let after = pool.statistics
        XCTAssertEqual(after.liveBytes, before, "\(what): scratch was not given back", file: file, line: line)
        return after.peakLiveBytes - before
    }

    func testConvolutionScratchIsCountedAndGivenBack() throws {
        var rng = SeededRandom(seed: 5)
        for c in cases {
            let t = try operands(c, &rng)
            for norm in [nil, t.norm] {
                let name = "\(c.why)\(norm == nil ? "" : ", input through BN-ReLU")"
                let forward = try scratchPeak("forward, \(name)") {
                    try backend.conv2dForward(input: t.input, weight: t.weight, bias: t.bias, output: t.output, geometry: c.geometry,
                                              inputNorm: norm)
                }
                XCTAssertGreaterThan(forward, 0, "forward, \(name): no scratch seen by the pool")
                let weight = try scratchPeak("weight gradient, \(name)") {
                    try backend.conv2dBackwardWeight(input: t.input, gradOutput: t.gradOutput, gradWeight: t.gradWeight,
                                                     gradBias: t.gradBias, geometry: c.geometry, inputNorm: norm)
                }
                XCTAssertGreaterThan(weight, 0, "weight gradient, \(name): no scratch seen by the pool")
            }
            for accumulate in [false, true] {
                let data = try scratchPeak("input gradient, \(c.why)") {
                    try backend.conv2dBackwardData(gradOutput: t.gradOutput, weight: t.weight, gradInput: t.gradInput,
                                                   geometry: c.geometry, accumulate: accumulate)
                }
                XCTAssertGreaterThan(data, 0, "input gradient, \(c.why): no scratch seen by the pool")
            }
        }
    }

    /// Tap stacking gives each thread a `[k * k * Cout, H * W]` buffer: the peak holds all of them.
    func testEveryThreadsBufferIsCounted() throws {
        var rng = SeededRandom(seed: 6)
        let c = cases[3], s = c.shape
        let t = try operands(c, &rng)
        let chunks = backend.sampleChunkCount(s)
        let perThread = c.geometry.kernelH * c.geometry.kernelW * c.cout * s.inPlane * MemoryLayout<Float>.stride
        let peak = try scratchPeak("tap stacking forward") {
            try backend.conv2dForward(input: t.input, weight: t.weight, bias: nil, output: t.output, geometry: c.geometry)
        }
        XCTAssertGreaterThanOrEqual(peak, chunks * perThread, "\(chunks) threads' buffers of \(perThread) bytes")
    }

    func testRepeatedCallsAllocateNothingNew() throws {
        var rng = SeededRandom(seed: 7)
        for c in cases {
            let t = try operands(c, &rng)
            func step() throws {
                for norm in [nil, t.norm] {
                    try backend.conv2dForward(input: t.input, weight: t.weight, bias: t.bias, output: t.output, geometry: c.geometry,
                                              inputNorm: norm)
                    try backend.conv2dBackwardWeight(input: t.input, gradOutput: t.gradOutput, gradWeight: t.gradWeight,
                                                     gradBias: t.gradBias, geometry: c.geometry, inputNorm: norm)
                }
                try backend.conv2dBackwardData(gradOutput: t.gradOutput, weight: t.weight, gradInput: t.gradInput,
                                               geometry: c.geometry, accumulate: false)
            }
            try step()
            let first = device.pool.statistics
            for _ in 0..<3 { try step() }
            let later = device.pool.statistics
            XCTAssertEqual(later.deviceAllocations, first.deviceAllocations, "\(c.why): a repeated call allocated device memory")
            XCTAssertGreaterThan(later.reuseHits, first.reuseHits, "\(c.why): no scratch served from the cache")
            XCTAssertEqual(later.liveBytes, first.liveBytes, "\(c.why): live bytes grew")
            XCTAssertEqual(later.peakLiveBytes, first.peakLiveBytes, "\(c.why): the peak grew")
        }
    }

    func testMaxPoolScratchIsCountedGivenBackAndReused() throws {
        var rng = SeededRandom(seed: 8)
        let g = Pool2dGeometry(kernel: 3, stride: 2, padding: 1)
        let input = try randomTensor(device: device, shape: [4, 64, 28, 28], rng: &rng)
        let outShape = [4, 64, g.outputHeight(28), g.outputWidth(28)]
        let output = try device.makeTensor(outShape), gradOutput = try randomTensor(device: device, shape: outShape, rng: &rng)
        let gradInput = try device.makeTensor(input.shape)
        func forward() throws { try backend.maxPool2dForward(input: input, output: output, geometry: g) }
        func backward() throws {
            try backend.maxPool2dBackward(input: input, gradOutput: gradOutput, gradInput: gradInput, geometry: g, accumulate: false)
        }
        XCTAssertGreaterThan(try scratchPeak("max pool forward", forward), 0)
        XCTAssertGreaterThan(try scratchPeak("max pool backward", backward), 0)
        let first = device.pool.statistics
        for _ in 0..<3 {
            try forward()
            try backward()
        }
        XCTAssertEqual(device.pool.statistics.deviceAllocations, first.deviceAllocations, "a repeated max pool allocated device memory")
    }

    func testScratchIsAlignedCountedAndReleased() throws {
        let pool = device.pool
        let before = pool.statistics
        let scratch = CPUScratch(pool)
        let floats = try scratch.floats(1000), ints = try scratch.int32s(10)
        XCTAssertEqual(Int(bitPattern: floats) % 64, 0)
        XCTAssertEqual(Int(bitPattern: ints) % 64, 0)
        floats.update(repeating: 1, count: 1000)
        ints.update(repeating: 2, count: 10)
        XCTAssertEqual(pool.statistics.liveBytes, before.liveBytes + MemoryPool.sizeClass(4000) + MemoryPool.sizeClass(40))
        scratch.release()
        XCTAssertEqual(pool.statistics.liveBytes, before.liveBytes)
        // The same sizes again come from the cache.
        let again = CPUScratch(pool)
        _ = try again.floats(1000)
        _ = try again.int32s(10)
        again.release()
        XCTAssertEqual(pool.statistics.deviceAllocations, before.deviceAllocations + 2)
        XCTAssertEqual(pool.statistics.reuseHits, before.reuseHits + 2)
    }

    /// A request the host cannot serve is an error the op throws, not a crash; nothing is kept.
    func testScratchTooLargeForTheHostThrows() throws {
        let scratch = CPUScratch(device.pool)
        defer { scratch.release() }
        let before = device.pool.statistics.liveBytes
        XCTAssertThrowsError(try scratch.floats(Int.max / 8)) { error in
            XCTAssertTrue(error is OutOfMemoryError, "\(error)")
        }
        XCTAssertEqual(device.pool.statistics.liveBytes, before)
    }
}
