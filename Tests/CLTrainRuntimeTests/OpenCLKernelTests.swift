import CLTrainRandom
import CLTrainTestSupport
import XCTest
@testable import CLTrainRuntime

/// One tensor on both devices, made from the same host values. With `padding`, the tensor is
/// the channel slice `before..<before+C` of a bigger one whose other channels hold random
/// values that no op may touch.
final class Twin {
    let shape: [Int]
    let before: Int, after: Int
    let cpuFull: Tensor, clFull: Tensor
    let cpu: Tensor, cl: Tensor
    let initial: [Float]

    init(cpuDevice: Device, clDevice: Device, shape: [Int], padding: (Int, Int), inside: [Float]?, rng: inout SeededRandom) throws {
        self.shape = shape
        (before, after) = padding
        var fullShape = shape
        if before + after > 0 {
            precondition(shape.count >= 2, "only N x C x ... tensors have channel slices")
            fullShape[1] += before + after
        }
        var values = rng.floats(fullShape.reduce(1, *))
        if let inside {
            var k = 0
            Twin.forEachInside(fullShape: fullShape, before: before, channels: shape.count >= 2 ? shape[1] : 0) { i in
                values[i] = inside[k]; k += 1
            }
            precondition(k == inside.count, "\(inside.count) values for shape \(shape)")
        }
        initial = values
        cpuFull = try cpuDevice.tensor(values, shape: fullShape)
        clFull = try clDevice.tensor(values, shape: fullShape)
        if before + after > 0 {
            cpu = cpuFull.channels(before..<before + shape[1])
            cl = clFull.channels(before..<before + shape[1])
        } else {
            cpu = cpuFull
            cl = clFull
        }
    }

    /// Calls `body` with the flat index of every element of the slice, in order.
    static func forEachInside(fullShape: [Int], before: Int, channels: Int, _ body: (Int) -> Void) {
        let total = fullShape.reduce(1, *)
        if fullShape.count < 2 || channels == fullShape[1] {
            for i in 0..<total { body(i) }
            return
        }
        let plane = fullShape.dropFirst(2).reduce(1, *)
        for n in 0..<fullShape[0] {
            for c in before..<before + channels {
                let base = (n * fullShape[1] + c) * plane
                for q in 0..<plane { body(base + q) }
            }
        }
    }

    var insideCount: Int { shape.reduce(1, *) }
}

/// Every OpenCL op on the first OpenCL device (PoCL in CI) against `CPUBackend` on the same
/// seeded inputs: odd sizes, batch 1, channel counts not multiple of 4, 1x1/3x3/7x7 kernels,
/// strides, dilations, padded pooling, and channel slices of bigger tensors.
final class OpenCLKernelTests: XCTestCase {
    var cpuDevice: Device!
    var clDevice: Device!
    var clBackend: OpenCLBackend { clDevice.backend as! OpenCLBackend }
    var rng = SeededRandom(seed: 2024)

    override func setUpWithError() throws {
        switch SharedOpenCL.device {
        case .success(let device): clDevice = device
        case .failure(let error): throw XCTSkip("no OpenCL platform: \(error)")
        }
        cpuDevice = Device(backend: CPUBackend())
        rng = SeededRandom(seed: 2024)
    }

    // MARK: Harness

    /// A tensor on both devices; `padding` makes it a channel slice, `nan` fills it with NaN
    /// (outputs that must be overwritten without being read).
    func twin(_ shape: [Int], padding: (Int, Int) = (0, 0), values: [Float]? = nil, nan: Bool = false) throws -> Twin {
        let inside = nan ? [Float](repeating: .nan, count: shape.reduce(1, *)) : values
        return try Twin(cpuDevice: cpuDevice, clDevice: clDevice, shape: shape, padding: padding, inside: inside, rng: &rng)
    }

    /// Runs `body` on the CPU backend with the twins' CPU tensors, then on the OpenCL backend
    /// with their OpenCL tensors; then checks every twin in `outputs` agrees (whole storage,
    /// within 1e-4 of the largest expected magnitude) and that OpenCL left the channels
    /// outside each slice untouched.
    func compare(_ name: String, outputs: [Twin], rtol: Float = 1e-4,
                 file: StaticString = #filePath, line: UInt = #line,
                 _ body: (any Backend, (Twin) -> Tensor) throws -> Void) throws {
        try body(cpuDevice.backend, { $0.cpu })
        try body(clDevice.backend, { $0.cl })
        for (index, output) in outputs.enumerated() {
            let expected = try cpuDevice.read(output.cpuFull)
            let actual = try clDevice.read(output.clFull)
            let scale = expected.lazy.filter { $0.isFinite }.map { abs($0) }.max() ?? 1
            assertClose(actual, expected, rtol: rtol, atol: rtol * max(scale, 1e-3), "\(name) output \(index)", file: file, line: line)
            if output.before + output.after > 0 {
                var inside = [Bool](repeating: false, count: actual.count)
                Twin.forEachInside(fullShape: output.clFull.shape, before: output.before, channels: output.shape[1]) { inside[$0] = true }
                let touched = actual.indices.filter { !inside[$0] && actual[$0].bitPattern != output.initial[$0].bitPattern }
                XCTAssertTrue(touched.isEmpty, "\(name) output \(index): \(touched.count) elements outside the slice changed",
                              file: file, line: line)
            }
        }
    }

    // MARK: Build errors

    func testBrokenKernelThrowsBuildErrorWithLog() throws {
        let source = "__kernel void broken(__global float* x) { x[0] = undeclared_name; }"
        XCTAssertThrowsError(try clBackend.buildProgram(name: "broken.cl", source: source)) { error in
            guard let error = error as? KernelBuildError else { return XCTFail("expected KernelBuildError, got \(error)") }
            XCTAssertTrue(error.log.contains("undeclared_name"), "the build log should name the error: \(error.log)")
            XCTAssertEqual(error.program, "broken.cl")
        }
    }

    func testEveryKernelFileBuilds() throws {
        try clBackend.buildAllPrograms()
    }

    // MARK: Convolution

    struct ConvCase {
        var n, cin, h, w, cout: Int
        var geometry: Conv2dGeometry
        var bias = true
        /// Channel slices: input (and gradInput), output (and gradOutput).
        var inputPadding = (0, 0), outputPadding = (0, 0)
    }

    static let convCases: [ConvCase] = [
        ConvCase(n: 1, cin: 3, h: 7, w: 9, cout: 5, geometry: Conv2dGeometry(kernel: 3, padding: 1)),
        ConvCase(n: 3, cin: 6, h: 9, w: 7, cout: 7, geometry: Conv2dGeometry(kernel: 7, stride: 2, padding: 3),
                 inputPadding: (2, 1), outputPadding: (1, 3)),
        ConvCase(n: 2, cin: 5, h: 11, w: 10, cout: 6, geometry: Conv2dGeometry(kernel: 3, padding: 2, dilation: 2),
                 bias: false, outputPadding: (3, 0)),
        ConvCase(n: 2, cin: 3, h: 13, w: 12, cout: 3, geometry: Conv2dGeometry(kernel: 3, padding: 4, dilation: 4),
                 inputPadding: (0, 2)),
        ConvCase(n: 2, cin: 4, h: 9, w: 11, cout: 5, geometry: Conv2dGeometry(kernel: 3, stride: 2)),
        ConvCase(n: 3, cin: 10, h: 5, w: 6, cout: 6, geometry: Conv2dGeometry(kernel: 1),
                 inputPadding: (4, 2), outputPadding: (1, 1)),
        ConvCase(n: 1, cin: 7, h: 6, w: 5, cout: 9, geometry: Conv2dGeometry(kernel: 1), bias: false),
        ConvCase(n: 2, cin: 3, h: 8, w: 7, cout: 4, geometry: Conv2dGeometry(kernel: 1, stride: 2)),
    ]

    func checkConvolution(_ cc: ConvCase, label: String) throws {
        let g = cc.geometry
        let inShape = [cc.n, cc.cin, cc.h, cc.w]
        let outShape = [cc.n, cc.cout, g.outputHeight(cc.h), g.outputWidth(cc.w)]
        let wShape = [cc.cout, cc.cin, g.kernelH, g.kernelW]
        let name = "\(label) conv \(g) \(inShape) -> \(outShape)"

        let input = try twin(inShape, padding: cc.inputPadding)
        let weight = try twin(wShape)
        let bias = cc.bias ? try twin([cc.cout]) : nil
        let output = try twin(outShape, padding: cc.outputPadding, nan: true)
        try compare("\(name) forward", outputs: [output]) { backend, on in
            try backend.conv2dForward(input: on(input), weight: on(weight), bias: bias.map(on), output: on(output), geometry: g)
        }

        let gradOutput = try twin(outShape, padding: cc.outputPadding)
        for accumulate in [false, true] {
            let gradInput = try twin(inShape, padding: cc.inputPadding, nan: !accumulate)
            try compare("\(name) backward data (accumulate \(accumulate))", outputs: [gradInput]) { backend, on in
                try backend.conv2dBackwardData(gradOutput: on(gradOutput), weight: on(weight), gradInput: on(gradInput),
                                               geometry: g, accumulate: accumulate)
            }
        }

        let gradWeight = try twin(wShape)
        let gradBias = cc.bias ? try twin([cc.cout]) : nil
        try compare("\(name) backward weight", outputs: [gradWeight] + (gradBias.map { [$0] } ?? [])) { backend, on in
            try backend.conv2dBackwardWeight(input: on(input), gradOutput: on(gradOutput), gradWeight: on(gradWeight),
                                             gradBias: gradBias.map(on), geometry: g)
        }
    }

    func testConvolutions() throws {
        for cc in Self.convCases { try checkConvolution(cc, label: "") }
    }

    /// A tiny scratch budget forces one or two samples per chunk.
    func testConvolutionsInChunks() throws {
        let backend = clBackend
        let saved = backend.convolutionScratchBytes
        defer { backend.convolutionScratchBytes = saved }
        for cc in [Self.convCases[1], Self.convCases[5]] {
            let g = cc.geometry
            let perSample = cc.cin * g.kernelH * g.kernelW * g.outputHeight(cc.h) * g.outputWidth(cc.w) * 4
            backend.convolutionScratchBytes = 1
            try checkConvolution(cc, label: "one sample per chunk")
            backend.convolutionScratchBytes = 2 * perSample + 8
            try checkConvolution(cc, label: "two samples per chunk")
        }
    }

    // MARK: Pooling

    func testPooling() throws {
        let cases: [(shape: [Int], geometry: Pool2dGeometry, inPad: (Int, Int), outPad: (Int, Int))] = [
            ([2, 3, 7, 9], Pool2dGeometry(kernel: 3, stride: 2, padding: 1), (0, 0), (0, 0)),
            ([1, 5, 8, 8], Pool2dGeometry(kernel: 2), (1, 2), (2, 0)),
            ([3, 2, 9, 7], Pool2dGeometry(kernel: 3, stride: 1, padding: 1), (0, 3), (1, 1)),
            ([2, 3, 5, 6], Pool2dGeometry(kernel: 2, stride: 1), (0, 0), (0, 0)),
        ]
        for (shape, g, inPad, outPad) in cases {
            let outShape = [shape[0], shape[1], g.outputHeight(shape[2]), g.outputWidth(shape[3])]
            let name = "pool \(g) \(shape)"
            let input = try twin(shape, padding: inPad)
            let gradOutput = try twin(outShape, padding: outPad)

            let maxOut = try twin(outShape, padding: outPad, nan: true)
            try compare("max \(name) forward", outputs: [maxOut]) { backend, on in
                try backend.maxPool2dForward(input: on(input), output: on(maxOut), geometry: g)
            }
            let avgOut = try twin(outShape, padding: outPad, nan: true)
            try compare("avg \(name) forward", outputs: [avgOut]) { backend, on in
                try backend.avgPool2dForward(input: on(input), output: on(avgOut), geometry: g)
            }
            for accumulate in [false, true] {
                let maxGrad = try twin(shape, padding: inPad, nan: !accumulate)
                try compare("max \(name) backward (accumulate \(accumulate))", outputs: [maxGrad]) { backend, on in
                    try backend.maxPool2dBackward(input: on(input), gradOutput: on(gradOutput), gradInput: on(maxGrad),
                                                  geometry: g, accumulate: accumulate)
                }
                let avgGrad = try twin(shape, padding: inPad, nan: !accumulate)
                try compare("avg \(name) backward (accumulate \(accumulate))", outputs: [avgGrad]) { backend, on in
                    try backend.avgPool2dBackward(gradOutput: on(gradOutput), gradInput: on(avgGrad), geometry: g, accumulate: accumulate)
                }
            }
        }
    }

    func testMaxPoolTiesAndNegativeValuesNextToPadding() throws {
        // All-negative inputs (padding must not win) with many ties (the first maximum wins).
        let shape = [2, 3, 6, 7]
        let values = (0..<shape.reduce(1, *)).map { Float(-1 - ($0 * 7919) % 3) }
        let input = try twin(shape, values: values)
        let g = Pool2dGeometry(kernel: 3, stride: 2, padding: 1)
        let outShape = [2, 3, g.outputHeight(6), g.outputWidth(7)]
        let output = try twin(outShape, nan: true)
        let gradOutput = try twin(outShape)
        let gradInput = try twin(shape, nan: true)
        try compare("max pool with ties", outputs: [output, gradInput]) { backend, on in
            try backend.maxPool2dForward(input: on(input), output: on(output), geometry: g)
            try backend.maxPool2dBackward(input: on(input), gradOutput: on(gradOutput), gradInput: on(gradInput),
                                          geometry: g, accumulate: false)
        }
    }

    func testGlobalAveragePooling() throws {
        let cases: [(shape: [Int], outShape: [Int], inPad: (Int, Int), outPad: (Int, Int))] = [
            ([2, 5, 7, 7], [2, 5], (0, 0), (0, 0)),
            ([1, 3, 3, 5], [1, 3, 1, 1], (2, 1), (1, 2)),
            ([3, 6, 1, 1], [3, 6], (0, 0), (3, 0)),
        ]
        for (shape, outShape, inPad, outPad) in cases {
            let input = try twin(shape, padding: inPad)
            let output = try twin(outShape, padding: outPad, nan: true)
            try compare("global avg pool \(shape) forward", outputs: [output]) { backend, on in
                try backend.globalAvgPoolForward(input: on(input), output: on(output))
            }
            let gradOutput = try twin(outShape, padding: outPad)
            for accumulate in [false, true] {
                let gradInput = try twin(shape, padding: inPad, nan: !accumulate)
                try compare("global avg pool \(shape) backward (accumulate \(accumulate))", outputs: [gradInput]) { backend, on in
                    try backend.globalAvgPoolBackward(gradOutput: on(gradOutput), gradInput: on(gradInput), accumulate: accumulate)
                }
            }
        }
    }

    // MARK: Concatenation

    func testChannelCopy() throws {
        for accumulate in [false, true] {
            let source = try twin([3, 5, 4, 7], padding: (2, 1))
            let destination = try twin([3, 5, 4, 7], padding: (4, 3), nan: !accumulate)
            try compare("channel copy (accumulate \(accumulate))", outputs: [destination]) { backend, on in
                try backend.channelCopy(from: on(source), to: on(destination), accumulate: accumulate)
            }
            let dense = try twin([1, 3, 5, 5])
            let slice = try twin([1, 3, 5, 5], padding: (1, 0), nan: !accumulate)
            try compare("channel copy dense into slice (accumulate \(accumulate))", outputs: [slice]) { backend, on in
                try backend.channelCopy(from: on(dense), to: on(slice), accumulate: accumulate)
            }
        }
    }

    // MARK: Normalisation and activation

    func testBatchNorm() throws {
        let cases: [(shape: [Int], padding: (Int, Int))] = [
            ([2, 5, 7, 9], (0, 0)),
            ([1, 3, 4, 4], (2, 1)),
            ([4, 6, 1, 1], (1, 3)),
            ([3, 7, 17, 19], (0, 0)),  // more elements per channel than work-items in a group
        ]
        for (shape, padding) in cases {
            let c = shape[1]
            let name = "batch norm \(shape)"
            let input = try twin(shape, padding: padding, values: rng.floats(shape.reduce(1, *), in: -2...3))
            let weight = try twin([c]), bias = try twin([c])
            let runningMean = try twin([c]), runningVar = try twin([c], values: rng.floats(c, in: 0.5...2))
            let saveMean = try twin([c], nan: true), saveInvStd = try twin([c], nan: true)
            let output = try twin(shape, padding: padding, nan: true)
            try compare("\(name) training forward", outputs: [output, saveMean, saveInvStd, runningMean, runningVar]) { backend, on in
                try backend.batchNormForwardTraining(input: on(input), output: on(output), weight: on(weight), bias: on(bias),
                                                     runningMean: on(runningMean), runningVar: on(runningVar),
                                                     saveMean: on(saveMean), saveInvStd: on(saveInvStd),
                                                     momentum: 0.1, epsilon: 1e-5)
            }

            let inference = try twin(shape, padding: padding, nan: true)
            try compare("\(name) inference forward", outputs: [inference]) { backend, on in
                try backend.batchNormForwardInference(input: on(input), output: on(inference), weight: on(weight), bias: on(bias),
                                                      runningMean: on(runningMean), runningVar: on(runningVar), epsilon: 1e-5)
            }

            let gradOutput = try twin(shape, padding: padding)
            for accumulate in [false, true] {
                let gradInput = try twin(shape, padding: padding, nan: !accumulate)
                let gradWeight = try twin([c]), gradBias = try twin([c])
                try compare("\(name) backward (accumulate \(accumulate))", outputs: [gradInput, gradWeight, gradBias],
                            rtol: 3e-4) { backend, on in
                    try backend.batchNormBackward(input: on(input), gradOutput: on(gradOutput), gradInput: on(gradInput),
                                                  weight: on(weight), saveMean: on(saveMean), saveInvStd: on(saveInvStd),
                                                  gradWeight: on(gradWeight), gradBias: on(gradBias), accumulate: accumulate)
                }
            }
        }
    }

    func testRelu() throws {
        let shape = [3, 5, 3, 7]
        let input = try twin(shape, padding: (1, 2))
        let output = try twin(shape, padding: (2, 0), nan: true)
        try compare("relu forward", outputs: [output]) { backend, on in
            try backend.reluForward(input: on(input), output: on(output))
        }
        let inPlace = try twin(shape, padding: (0, 3))
        try compare("relu forward in place", outputs: [inPlace]) { backend, on in
            try backend.reluForward(input: on(inPlace), output: on(inPlace))
        }
        let gradOutput = try twin(shape)
        for accumulate in [false, true] {
            let gradInput = try twin(shape, padding: (1, 1), nan: !accumulate)
            try compare("relu backward (accumulate \(accumulate))", outputs: [gradInput]) { backend, on in
                try backend.reluBackward(output: on(output), gradOutput: on(gradOutput), gradInput: on(gradInput), accumulate: accumulate)
            }
        }
    }

    // MARK: Basic

    func testFillAddAxpy() throws {
        let shape = [3, 5, 2, 3]
        let filled = try twin(shape, padding: (1, 2))
        try compare("fill", outputs: [filled]) { backend, on in try backend.fill(on(filled), value: 2.5) }
        let vector = try twin([37])
        try compare("fill vector", outputs: [vector]) { backend, on in try backend.fill(on(vector), value: -1) }

        let a = try twin(shape, padding: (2, 0)), b = try twin(shape)
        let sum = try twin(shape, padding: (0, 1), nan: true)
        try compare("add", outputs: [sum]) { backend, on in try backend.add(on(a), on(b), output: on(sum)) }
        let aliased = try twin(shape, padding: (1, 1))
        try compare("add into its first input", outputs: [aliased]) { backend, on in
            try backend.add(on(aliased), on(b), output: on(aliased))
        }
        let y = try twin(shape, padding: (3, 1))
        try compare("axpy", outputs: [y]) { backend, on in try backend.axpy(alpha: -0.75, x: on(a), y: on(y)) }
        let scaled = try twin(shape, padding: (2, 1))
        try compare("axpy into its own input (a scaling)", outputs: [scaled]) { backend, on in
            try backend.axpy(alpha: -0.25, x: on(scaled), y: on(scaled))
        }
    }

    func testSgemmWithOffsets() throws {
        // C (4 x 5, ld 7) = 0.5 * A^T (A stored 6 x 4) * B (6 x 5, ld 8) + 2 * C, inside bigger tensors.
        let a = try twin([2, 6, 4]), b = try twin([6, 8]), c = try twin([5, 7])
        try compare("sgemm", outputs: [c]) { backend, on in
            let aView = on(a).samples(1..<2)
            try backend.sgemm(transposeA: true, transposeB: false, m: 4, n: 5, k: 6, alpha: 0.5,
                              a: aView, lda: 4, b: on(b), ldb: 8, beta: 2, c: on(c).samples(1..<5), ldc: 7)
        }
    }

    // MARK: Linear

    func testLinear() throws {
        let cases: [(input: [Int], padding: (Int, Int), out: Int)] = [
            ([3, 10], (0, 0), 7),
            ([2, 6, 1, 1], (3, 2), 5),
            ([1, 9], (1, 0), 3),
        ]
        for (inShape, padding, outFeatures) in cases {
            let n = inShape[0], inFeatures = inShape.dropFirst().reduce(1, *)
            let name = "linear \(inShape) -> \(outFeatures)"
            let input = try twin(inShape, padding: padding)
            let weight = try twin([outFeatures, inFeatures]), bias = try twin([outFeatures])
            let output = try twin([n, outFeatures], padding: (2, 1), nan: true)
            try compare("\(name) forward", outputs: [output]) { backend, on in
                try backend.linearForward(input: on(input), weight: on(weight), bias: on(bias), output: on(output))
            }
            let gradOutput = try twin([n, outFeatures], padding: (0, 2))
            for accumulate in [false, true] {
                let gradInput = try twin(inShape, padding: padding, nan: !accumulate)
                try compare("\(name) backward data (accumulate \(accumulate))", outputs: [gradInput]) { backend, on in
                    try backend.linearBackwardData(gradOutput: on(gradOutput), weight: on(weight), gradInput: on(gradInput),
                                                   accumulate: accumulate)
                }
            }
            let gradWeight = try twin([outFeatures, inFeatures]), gradBias = try twin([outFeatures])
            try compare("\(name) backward weight", outputs: [gradWeight, gradBias]) { backend, on in
                try backend.linearBackwardWeight(input: on(input), gradOutput: on(gradOutput), gradWeight: on(gradWeight),
                                                 gradBias: on(gradBias))
            }
        }
    }

    // MARK: Loss

    func testSoftmaxCrossEntropy() throws {
        for (n, classes, smoothing) in [(4, 10, Float(0)), (1, 3, 0), (5, 7, 0), (4, 10, 0.1), (5, 7, 0.3)] {
            let logits = try twin([n, classes], padding: (1, 2), values: rng.floats(n * classes, in: -30...30))
            let labels = try twin([n], values: (0..<n).map { _ in Float(Int.random(in: 0..<classes, using: &rng)) })
            let probabilities = try twin([n, classes], nan: true), losses = try twin([n], nan: true)
            try compare("softmax cross-entropy \(n)x\(classes) smoothing \(smoothing) forward", outputs: [probabilities, losses]) { backend, on in
                try backend.softmaxCrossEntropyForward(logits: on(logits), labels: on(labels),
                                                       probabilities: on(probabilities), losses: on(losses), labelSmoothing: smoothing)
            }
            let gradLogits = try twin([n, classes], padding: (0, 1), nan: true)
            try compare("softmax cross-entropy \(n)x\(classes) smoothing \(smoothing) backward", outputs: [gradLogits]) { backend, on in
                try backend.softmaxCrossEntropyBackward(probabilities: on(probabilities), labels: on(labels),
                                                        gradLogits: on(gradLogits), scale: 1 / Float(n), labelSmoothing: smoothing)
            }
        }
    }

    // MARK: Optimizers

    func testSGD() throws {
        for nesterov in [true, false] {
            let shape = [7, 3, 3, 3]
            let parameter = try twin(shape), gradient = try twin(shape), buffer = try twin(shape)
            let hyper = SGDParameters(learningRate: 0.1, momentum: 0.9, weightDecay: 1e-3, nesterov: nesterov)
            try compare("sgd (nesterov \(nesterov))", outputs: [parameter, buffer]) { backend, on in
                try backend.sgdUpdate(parameter: on(parameter), gradient: on(gradient), momentumBuffer: on(buffer), hyper: hyper)
                try backend.sgdUpdate(parameter: on(parameter), gradient: on(gradient), momentumBuffer: on(buffer), hyper: hyper)
            }
        }
    }

    func testAdam() throws {
        let shape = [11, 5]
        let parameter = try twin(shape), gradient = try twin(shape)
        let first = try twin(shape), second = try twin(shape, values: rng.floats(55, in: 0...0.1))
        try compare("adam", outputs: [parameter, first, second]) { backend, on in
            for step in [1, 2, 3] {
                let hyper = AdamParameters(learningRate: 1e-2, weightDecay: 1e-2, step: step)
                try backend.adamUpdate(parameter: on(parameter), gradient: on(gradient), firstMoment: on(first),
                                       secondMoment: on(second), hyper: hyper)
            }
        }
    }
}
