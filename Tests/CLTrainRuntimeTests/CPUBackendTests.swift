import CLTrainRandom
import CLTrainTestSupport
import XCTest
@testable import CLTrainRuntime

/// Forward values against hand-computed numbers, channel-slice views, optimizers and memory.
final class CPUBackendTests: XCTestCase {
    var device: Device!
    var backend: any Backend { device.backend }
    var rng = SeededRandom(seed: 7)

    override func setUp() {
        device = Device(backend: CPUBackend())
        rng = SeededRandom(seed: 7)
    }

    func testInfo() {
        let info = CPUBackend(threads: 3).info
        XCTAssertEqual(info.backend, "cpu")
        XCTAssertEqual(info.kind, .cpu)
        XCTAssertEqual(info.computeUnits, 3)
        XCTAssertFalse(info.name.isEmpty)
        XCTAssertTrue(info.driver.hasPrefix("OpenBLAS"), info.driver)
        XCTAssertGreaterThan(info.globalMemoryBytes, 0)
    }

    func testAllocationFailureIsThrown() {
        let cpu = CPUBackend()
        XCTAssertThrowsError(try cpu.allocate(bytes: Int.max / 2)) { XCTAssertTrue($0 is AllocationFailure) }
        XCTAssertThrowsError(try device.makeTensor([Int.max / 16])) { XCTAssertTrue($0 is OutOfMemoryError, "\($0)") }
    }

    func testAllocationIsAlignedAndZeroBytesWork() throws {
        let cpu = CPUBackend()
        for bytes in [0, 1, 1000] {
            let buffer = try cpu.allocate(bytes: bytes)
            XCTAssertEqual(Int(bitPattern: buffer.handle) % 64, 0)
            XCTAssertGreaterThanOrEqual(buffer.bytes, bytes)
            cpu.deallocate(buffer)
        }
    }

    func testConvForwardByHand() throws {
        // x[i][j] = 4i + j + 1 on a 4 x 4 input, one 3 x 3 kernel.
        let x = try device.tensor((1...16).map(Float.init), shape: [1, 1, 4, 4])
        let w = try device.tensor([1, 2, 0, -1, 0.5, 3, 0, -2, 1], shape: [1, 1, 3, 3])
        let out = try device.makeTensor([1, 1, 2, 2])
        try backend.conv2dForward(input: x, weight: w, bias: nil, output: out, geometry: Conv2dGeometry(kernel: 3))
        assertClose(try device.read(out), [15, 19.5, 33, 37.5], rtol: 1e-5, atol: 1e-5, "valid 3x3")
        try backend.conv2dForward(input: x, weight: w, bias: device.tensor([0.5], shape: [1]), output: out,
                                  geometry: Conv2dGeometry(kernel: 3, stride: 2, padding: 1))
        assertClose(try device.read(out), [3, 6, 33, 38], rtol: 1e-5, atol: 1e-5, "3x3/s2/p1 with bias 0.5")
    }

    func testPoolingForwardByHand() throws {
        let x = try device.tensor([1, 5, 2, 0, 3, -1, 4, 4, -2, 6, 0, 1, 7, 2, 3, 8], shape: [1, 1, 4, 4])
        let out = try device.makeTensor([1, 1, 2, 2])
        try backend.maxPool2dForward(input: x, output: out, geometry: Pool2dGeometry(kernel: 2))
        XCTAssertEqual(try device.read(out), [5, 4, 7, 8])
        try backend.avgPool2dForward(input: x, output: out, geometry: Pool2dGeometry(kernel: 2))
        assertClose(try device.read(out), [2, 2.5, 3.25, 3], rtol: 1e-6, atol: 1e-6, "avg 2x2")
        // 3x3/s2/p1: the padded zeros count in the divisor (9) but never win the max.
        let negative = try device.tensor([-1, -2, -3, -4], shape: [1, 1, 2, 2])
        let one = try device.makeTensor([1, 1, 1, 1])
        try backend.maxPool2dForward(input: negative, output: one, geometry: Pool2dGeometry(kernel: 3, stride: 2, padding: 1))
        XCTAssertEqual(try device.read(one), [-1])
        try backend.avgPool2dForward(input: negative, output: one, geometry: Pool2dGeometry(kernel: 3, stride: 2, padding: 1))
        assertClose(try device.read(one), [-10 / 9], rtol: 1e-6, atol: 1e-6, "count_include_pad")
    }

    func testMaxPoolTiesGoToTheFirstPosition() throws {
        let x = try device.tensor([3, 3, 3, 3], shape: [1, 1, 2, 2])
        let gy = try device.tensor([1], shape: [1, 1, 1, 1])
        let gx = try device.makeTensor([1, 1, 2, 2])
        try backend.maxPool2dBackward(input: x, gradOutput: gy, gradInput: gx, geometry: Pool2dGeometry(kernel: 2), accumulate: false)
        XCTAssertEqual(try device.read(gx), [1, 0, 0, 0])
    }

    func testBatchNormStatisticsByHand() throws {
        // One channel holding 1, 2, 3, 4: mean 2.5, biased variance 1.25, unbiased 5/3.
        let x = try device.tensor([1, 2, 3, 4], shape: [2, 1, 1, 2])
        let out = try device.makeTensor([2, 1, 1, 2])
        let runningMean = try device.tensor([0], shape: [1]), runningVar = try device.tensor([1], shape: [1])
        let mean = try device.makeTensor([1]), invStd = try device.makeTensor([1])
        try backend.batchNormForwardTraining(input: x, output: out, weight: device.tensor([2], shape: [1]),
                                             bias: device.tensor([0.5], shape: [1]), runningMean: runningMean,
                                             runningVar: runningVar, saveMean: mean, saveInvStd: invStd, momentum: 0.1, epsilon: 1e-5)
        let s = Float(1 / (1.25 + 1e-5).squareRoot())
        assertClose(try device.read(mean), [2.5], rtol: 1e-6, atol: 0, "saved mean")
        assertClose(try device.read(invStd), [s], rtol: 1e-6, atol: 0, "saved 1/std")
        assertClose(try device.read(runningMean), [0.25], rtol: 1e-6, atol: 0, "running mean")
        assertClose(try device.read(runningVar), [0.9 + 0.1 * 5 / 3], rtol: 1e-6, atol: 0, "running variance (unbiased)")
        assertClose(try device.read(out), [-1.5, -0.5, 0.5, 1.5].map { $0 * s * 2 + 0.5 }, rtol: 1e-5, atol: 1e-5, "output")

        // Eval mode uses the running statistics.
        try backend.batchNormForwardInference(input: x, output: out, weight: device.tensor([2], shape: [1]),
                                              bias: device.tensor([0.5], shape: [1]), runningMean: runningMean,
                                              runningVar: runningVar, epsilon: 1e-5)
        let rs = 1 / (Float(0.9 + 0.1 * 5.0 / 3) + 1e-5).squareRoot()
        assertClose(try device.read(out), [1, 2, 3, 4].map { ($0 - 0.25) * rs * 2 + 0.5 }, rtol: 1e-5, atol: 1e-5, "eval output")
    }

    func testSoftmaxCrossEntropyByHandAndStable() throws {
        let labels = try device.tensor([2, 0], shape: [2])
        let p = try device.makeTensor([2, 3]), losses = try device.makeTensor([2])
        try backend.softmaxCrossEntropyForward(logits: device.tensor([1, 2, 3, 1000, 1001, 1002], shape: [2, 3]),
                                               labels: labels, probabilities: p, losses: losses)
        let e = [1.0, 2.718281828, 7.389056099], total = e.reduce(0, +)
        let expected = e.map { Float($0 / total) }
        assertClose(try device.read(p), expected + expected, rtol: 1e-5, atol: 1e-6, "softmax")
        assertClose(try device.read(losses), [Float(log(total) - 2), Float(log(total))], rtol: 1e-5, atol: 1e-6, "losses")
        let g = try device.makeTensor([2, 3])
        try backend.softmaxCrossEntropyBackward(probabilities: p, labels: labels, gradLogits: g, scale: 0.5)
        let g0 = expected.enumerated().map { 0.5 * ($1 - ($0 == 2 ? 1 : 0)) }
        let g1 = expected.enumerated().map { 0.5 * ($1 - ($0 == 0 ? 1 : 0)) }
        assertClose(try device.read(g), g0 + g1, rtol: 1e-5, atol: 1e-6, "gradient")
    }

    func testSGDNesterovWithWeightDecay() throws {
        let p = try device.tensor([1, -2], shape: [2]), buffer = try device.tensor([0.2, 0], shape: [2])
        try backend.sgdUpdate(parameter: p, gradient: device.tensor([0.5, 0.25], shape: [2]), momentumBuffer: buffer,
                              hyper: SGDParameters(learningRate: 0.1, momentum: 0.9, weightDecay: 0.01, nesterov: true))
        // d = 0.51, buf = 0.18 + 0.51 = 0.69, d = 0.51 + 0.621 = 1.131; d = 0.23, buf = 0.23, d = 0.437.
        assertClose(try device.read(buffer), [0.69, 0.23], rtol: 1e-6, atol: 1e-6, "momentum buffer")
        assertClose(try device.read(p), [0.8869, -2.0437], rtol: 1e-6, atol: 1e-6, "parameter")

        try backend.sgdUpdate(parameter: p, gradient: device.tensor([1, 1], shape: [2]), momentumBuffer: buffer,
                              hyper: SGDParameters(learningRate: 0.5, momentum: 0.5, weightDecay: 0, nesterov: false))
        // Plain momentum: buf = 0.5 buf + g, p -= lr * buf.
        assertClose(try device.read(buffer), [1.345, 1.115], rtol: 1e-6, atol: 1e-6, "plain momentum buffer")
        assertClose(try device.read(p), [0.8869 - 0.6725, -2.0437 - 0.5575], rtol: 1e-5, atol: 1e-6, "plain momentum parameter")
    }

    func testAdamTwoSteps() throws {
        let p = try device.tensor([1, -2], shape: [2])
        let m = try device.zeros([2]), v = try device.zeros([2])
        // The second element uses weight decay 0.1; run it in its own tensors.
        let q = try device.tensor([-2], shape: [1]), mq = try device.zeros([1]), vq = try device.zeros([1])
        for (step, grads) in [(1, [Float(0.5), 0.25]), (2, [-0.3, 0.1])] {
            try backend.adamUpdate(parameter: p, gradient: device.tensor(grads, shape: [2]), firstMoment: m, secondMoment: v,
                                   hyper: AdamParameters(learningRate: 0.1, step: step))
            try backend.adamUpdate(parameter: q, gradient: device.tensor([grads[1]], shape: [1]), firstMoment: mq, secondMoment: vq,
                                   hyper: AdamParameters(learningRate: 0.1, weightDecay: 0.1, step: step))
        }
        // Computed in double precision by hand (PyTorch's formula).
        assertClose([try device.read(p)[0], try device.read(q)[0]], [0.8808501989417752, -2.0599661765022854],
                    rtol: 1e-6, atol: 1e-6, "Adam after two steps")
    }

    func testElementwiseOps() throws {
        let a = try device.tensor([1, 2, 3, 4], shape: [2, 2]), b = try device.tensor([10, 20, 30, 40], shape: [2, 2])
        try backend.add(a, b, output: a)  // output aliases a
        XCTAssertEqual(try device.read(a), [11, 22, 33, 44])
        try backend.axpy(alpha: -0.5, x: b, y: a)
        XCTAssertEqual(try device.read(a), [6, 12, 18, 24])
        try backend.fill(a, value: 3)
        XCTAssertEqual(try device.read(a), [3, 3, 3, 3])
    }

    func testSgemmWithOffsetsAndLeadingDimensions() throws {
        // A is rows 1...2 of a [3, 4] storage (offset 4, lda 4), B^T [2, 3], C [2, 2] with ldc 3.
        let storage = try device.tensor((0..<12).map(Float.init), shape: [3, 4])
        let a = storage.samples(1..<3)
        let bt = try device.tensor([1, 0, 2, 0, 1, -1], shape: [2, 3])
        let c = try device.full([2, 3], value: 1)
        try backend.sgemm(transposeA: false, transposeB: true, m: 2, n: 2, k: 3, alpha: 2, a: a, lda: 4,
                          b: bt, ldb: 3, beta: 1, c: c, ldc: 3)
        // A = [[4,5,6],[8,9,10]]; A B = [[16,-1],[28,-1]]; C = 2 A B + 1 (third column untouched).
        XCTAssertEqual(try device.read(c), [33, -1, 1, 57, -1, 1])
    }

    /// Ops writing a channel slice of a bigger tensor (sample stride > sample size) and reading
    /// one, against the same ops on dense tensors; the neighbouring channels stay untouched.
    func testOpsOnChannelSlices() throws {
        let n = 2, h = 5, w = 4, sentinel: Float = 42
        let sliceRange = 2..<5, c = sliceRange.count
        func slicedOutput(_ run: (Tensor) throws -> Void, dense: (Tensor) throws -> Void, name: String) throws {
            let big = try device.full([n, 7, h, w], value: sentinel)
            let reference = try device.makeTensor([n, c, h, w])
            try run(big.channels(sliceRange))
            try dense(reference)
            XCTAssertEqual(big.channels(sliceRange).sampleStride, 7 * h * w)
            assertClose(try device.read(big.channels(sliceRange)), try device.read(reference), rtol: 1e-6, atol: 1e-6, name)
            let outside = try device.read(big.channels(0..<2)) + device.read(big.channels(5..<7))
            XCTAssertTrue(outside.allSatisfy { $0 == sentinel }, "\(name) wrote outside its channel slice")
        }
        // The input is itself a channel slice of another tensor.
        let source = try randomTensor(device: device, shape: [n, 6, h, w], rng: &rng)
        let input = source.channels(1..<4)
        let denseInput = try device.copy(input)
        XCTAssertEqual(try device.read(input), try device.read(denseInput))

        let weight = try randomTensor(device: device, shape: [c, 3, 3, 3], rng: &rng), bias = try randomTensor(device: device, shape: [c], rng: &rng)
        let pointwise = try randomTensor(device: device, shape: [c, 3, 1, 1], rng: &rng)
        for (g, k) in [(Conv2dGeometry(kernel: 3, padding: 1), weight), (Conv2dGeometry(kernel: 1), pointwise)] {
            try slicedOutput({ try backend.conv2dForward(input: input, weight: k, bias: bias, output: $0, geometry: g) },
                             dense: { try backend.conv2dForward(input: denseInput, weight: k, bias: bias, output: $0, geometry: g) },
                             name: "conv \(g)")
            try slicedOutput({ out in
                try backend.fill(out, value: 1)
                try backend.conv2dBackwardData(gradOutput: input, weight: k, gradInput: out, geometry: g, accumulate: true)
            }, dense: { out in
                try backend.fill(out, value: 1)
                try backend.conv2dBackwardData(gradOutput: denseInput, weight: k, gradInput: out, geometry: g, accumulate: true)
            }, name: "conv backward data \(g)")
        }
        let ones = try device.full([c], value: 1), zeros = try device.zeros([c])
        try slicedOutput({ try backend.batchNormForwardTraining(
            input: input, output: $0, weight: ones, bias: zeros, runningMean: device.zeros([c]), runningVar: device.zeros([c]),
            saveMean: device.makeTensor([c]), saveInvStd: device.makeTensor([c]), momentum: 0.1, epsilon: 1e-5) },
                         dense: { try backend.batchNormForwardTraining(
            input: denseInput, output: $0, weight: ones, bias: zeros, runningMean: device.zeros([c]), runningVar: device.zeros([c]),
            saveMean: device.makeTensor([c]), saveInvStd: device.makeTensor([c]), momentum: 0.1, epsilon: 1e-5) },
                         name: "batch norm")
        try slicedOutput({ try backend.reluForward(input: input, output: $0) },
                         dense: { try backend.reluForward(input: denseInput, output: $0) }, name: "relu")
        try slicedOutput({ try backend.channelCopy(from: input, to: $0, accumulate: false) },
                         dense: { try backend.channelCopy(from: denseInput, to: $0, accumulate: false) }, name: "channelCopy")
        try slicedOutput({ try backend.add(input, input, output: $0) },
                         dense: { try backend.add(denseInput, denseInput, output: $0) }, name: "add")
        let pool = Pool2dGeometry(kernel: 3, stride: 1, padding: 1)
        try slicedOutput({ try backend.maxPool2dForward(input: input, output: $0, geometry: pool) },
                         dense: { try backend.maxPool2dForward(input: denseInput, output: $0, geometry: pool) }, name: "max pool")
        try slicedOutput({ out in
            try backend.fill(out, value: 0.5)
            try backend.avgPool2dBackward(gradOutput: input, gradInput: out, geometry: pool, accumulate: true)
        }, dense: { out in
            try backend.fill(out, value: 0.5)
            try backend.avgPool2dBackward(gradOutput: denseInput, gradInput: out, geometry: pool, accumulate: true)
        }, name: "avg pool backward")
    }

    /// Big enough to take the multi-threaded paths; compares with a single-threaded backend.
    func testThreadedMatchesSingleThreaded() throws {
        let single = Device(backend: CPUBackend(threads: 1))
        let x = rng.floats(4 * 16 * 24 * 24), w = rng.floats(32 * 16 * 9, in: -0.2...0.2)
        func run(_ d: Device) throws -> [Float] {
            let input = try d.tensor(x, shape: [4, 16, 24, 24]), weight = try d.tensor(w, shape: [32, 16, 3, 3])
            let out = try d.makeTensor([4, 32, 24, 24])
            try d.backend.conv2dForward(input: input, weight: weight, bias: nil, output: out, geometry: Conv2dGeometry(kernel: 3, padding: 1))
            let gx = try d.makeTensor([4, 16, 24, 24])
            try d.backend.conv2dBackwardData(gradOutput: out, weight: weight, gradInput: gx, geometry: Conv2dGeometry(kernel: 3, padding: 1), accumulate: false)
            let c = 16
            let y = try d.makeTensor([4, c, 24, 24])
            try d.backend.batchNormForwardTraining(input: gx, output: y, weight: d.full([c], value: 1), bias: d.zeros([c]),
                                                   runningMean: d.zeros([c]), runningVar: d.full([c], value: 1),
                                                   saveMean: d.makeTensor([c]), saveInvStd: d.makeTensor([c]), momentum: 0.1, epsilon: 1e-5)
            let pooled = try d.makeTensor([4, c, 12, 12])
            try d.backend.maxPool2dForward(input: y, output: pooled, geometry: Pool2dGeometry(kernel: 3, stride: 2, padding: 1))
            try d.backend.reluForward(input: pooled, output: pooled)
            return try d.read(pooled)
        }
        assertClose(try run(device), try run(single), rtol: 1e-4, atol: 1e-4, "threaded vs single-threaded")
    }

    func testPoolLiveBytesReturnAfterOps() throws {
        let before = device.pool.statistics.liveBytes
        do {
            let x = try randomTensor(device: device, shape: [2, 3, 8, 8], rng: &rng)
            let y = try device.makeTensor([2, 3, 4, 4])
            try backend.maxPool2dForward(input: x, output: y, geometry: Pool2dGeometry(kernel: 2))
        }
        XCTAssertEqual(device.pool.statistics.liveBytes, before)
    }
}

final class DropoutTests: XCTestCase {
    func testDropoutDropsAboutPAndScalesTheRestAndBackwardUsesTheSameMask() throws {
        let device = Device(backend: CPUBackend())
        let values = (0..<20_000).map { Float($0 % 97) + 1 }
        let input = try device.tensor(values, shape: [4, 5, 1000])
        let output = try device.makeTensor(input.shape)
        try device.backend.dropoutForward(input: input, output: output, probability: 0.3, seed: 12345)
        let y = try device.read(output)
        let dropped = y.filter { $0 == 0 }.count
        XCTAssertEqual(Double(dropped) / Double(y.count), 0.3, accuracy: 0.015)
        for (a, b) in zip(values, y) where b != 0 { XCTAssertEqual(b, a / 0.7, accuracy: 1e-4) }

        let gradient = try device.tensor([Float](repeating: 1, count: values.count), shape: input.shape)
        try device.backend.dropoutBackward(gradOutput: gradient, gradInput: gradient, probability: 0.3, seed: 12345, accumulate: false)
        for (g, b) in zip(try device.read(gradient), y) { XCTAssertEqual(g == 0, b == 0) }

        let other = try device.makeTensor(input.shape)
        try device.backend.dropoutForward(input: input, output: other, probability: 0.3, seed: 54321)
        XCTAssertNotEqual(try device.read(other), y, "another seed, another mask")
    }
}
