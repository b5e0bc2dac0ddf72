import CLTrainRandom
import XCTest
@testable import CLTrainRuntime

/// Every backward of the CPU backend against central finite differences of its forward.
final class GradientCheckTests: XCTestCase {
    var device: Device!
    var backend: any Backend { device.backend }
    var rng = SeededRandom(seed: 0x5EED)
    let checker = GradientChecker()

    override func setUp() {
        device = Device(backend: CPUBackend())
        rng = SeededRandom(seed: 0x5EED)
    }

    // MARK: Convolution

    func checkConv(n: Int, inChannels: Int, height: Int, width: Int, outChannels: Int, geometry g: Conv2dGeometry,
                   bias useBias: Bool = true, file: StaticString = #filePath, line: UInt = #line) throws {
        let inShape = [n, inChannels, height, width]
        let wShape = [outChannels, inChannels, g.kernelH, g.kernelW]
        let outShape = [n, outChannels, g.outputHeight(height), g.outputWidth(width)]
        let x = rng.floats(inShape.reduce(1, *)), w = rng.floats(wShape.reduce(1, *), in: -0.5...0.5)
        let b = rng.floats(outChannels), r = rng.floats(outShape.reduce(1, *))

        func loss(_ x: [Float], _ w: [Float], _ b: [Float]) throws -> Double {
            let out = try device.makeTensor(outShape)
            try backend.conv2dForward(input: device.tensor(x, shape: inShape), weight: device.tensor(w, shape: wShape),
                                      bias: useBias ? device.tensor(b, shape: [outChannels]) : nil, output: out, geometry: g)
            return dot(try device.read(out), r)
        }
        let xt = try device.tensor(x, shape: inShape), wt = try device.tensor(w, shape: wShape)
        let gy = try device.tensor(r, shape: outShape)
        let gx = try device.gradientBothWays(inShape, rng: &rng, file: file, line: line) { gx, accumulate in
            try backend.conv2dBackwardData(gradOutput: gy, weight: wt, gradInput: gx, geometry: g, accumulate: accumulate)
        }
        let gb = try device.zeros([outChannels])
        let gw = try device.accumulatedGradient(wShape, rng: &rng) { gw in
            try backend.conv2dBackwardWeight(input: xt, gradOutput: gy, gradWeight: gw, gradBias: useBias ? gb : nil, geometry: g)
        }
        let name = "conv \(g) \(inShape) -> \(outShape)"
        try checker.check("\(name) input", at: x, analytic: gx, file: file, line: line) { try loss($0, w, b) }
        try checker.check("\(name) weight", at: w, analytic: gw, file: file, line: line) { try loss(x, $0, b) }
        if useBias {
            try checker.check("\(name) bias", at: b, analytic: try device.read(gb), file: file, line: line) { try loss(x, w, $0) }
        }
    }

    func testConvPointwise() throws {
        try checkConv(n: 2, inChannels: 5, height: 3, width: 4, outChannels: 3, geometry: Conv2dGeometry(kernel: 1))
    }

    func testConvPointwiseStrided() throws {
        try checkConv(n: 1, inChannels: 3, height: 5, width: 5, outChannels: 2, geometry: Conv2dGeometry(kernel: 1, stride: 2))
    }

    func testConv3x3Stride2Padding1() throws {
        try checkConv(n: 2, inChannels: 3, height: 5, width: 7, outChannels: 5, geometry: Conv2dGeometry(kernel: 3, stride: 2, padding: 1))
    }

    func testConv3x3Padding1NoBias() throws {
        try checkConv(n: 1, inChannels: 2, height: 4, width: 3, outChannels: 3, geometry: Conv2dGeometry(kernel: 3, padding: 1), bias: false)
    }

    func testConv3x3Dilation2Padding2() throws {
        try checkConv(n: 2, inChannels: 3, height: 6, width: 5, outChannels: 2, geometry: Conv2dGeometry(kernel: 3, padding: 2, dilation: 2))
    }

    func testConv7x7Stride2Padding3() throws {
        try checkConv(n: 1, inChannels: 3, height: 9, width: 7, outChannels: 2, geometry: Conv2dGeometry(kernel: 7, stride: 2, padding: 3))
    }

    // MARK: Pooling

    func checkPool(max isMax: Bool, n: Int, channels: Int, height: Int, width: Int, geometry g: Pool2dGeometry,
                   file: StaticString = #filePath, line: UInt = #line) throws {
        let inShape = [n, channels, height, width]
        let outShape = [n, channels, g.outputHeight(height), g.outputWidth(width)]
        // Max pooling needs clear winners: values 0.1 apart, far more than the step.
        let x = isMax ? rng.distinctFloats(inShape.reduce(1, *), gap: 0.1) : rng.floats(inShape.reduce(1, *))
        let r = rng.floats(outShape.reduce(1, *))
        func loss(_ x: [Float]) throws -> Double {
            let out = try device.makeTensor(outShape), input = try device.tensor(x, shape: inShape)
            if isMax {
                try backend.maxPool2dForward(input: input, output: out, geometry: g)
            } else {
                try backend.avgPool2dForward(input: input, output: out, geometry: g)
            }
            return dot(try device.read(out), r)
        }
        let xt = try device.tensor(x, shape: inShape), gy = try device.tensor(r, shape: outShape)
        let gx = try device.gradientBothWays(inShape, rng: &rng, file: file, line: line) { gx, accumulate in
            if isMax {
                try backend.maxPool2dBackward(input: xt, gradOutput: gy, gradInput: gx, geometry: g, accumulate: accumulate)
            } else {
                try backend.avgPool2dBackward(gradOutput: gy, gradInput: gx, geometry: g, accumulate: accumulate)
            }
        }
        try checker.check("\(isMax ? "max" : "avg") pool \(g) \(inShape)", at: x, analytic: gx, file: file, line: line, loss: loss)
    }

    func testMaxPool3x3Stride2Padding1() throws {
        try checkPool(max: true, n: 2, channels: 3, height: 7, width: 6, geometry: Pool2dGeometry(kernel: 3, stride: 2, padding: 1))
    }

    func testAvgPool2x2Stride2() throws {
        try checkPool(max: false, n: 2, channels: 3, height: 5, width: 4, geometry: Pool2dGeometry(kernel: 2, stride: 2))
    }

    func testAvgPool3x3Stride1Padding1() throws {
        try checkPool(max: false, n: 1, channels: 2, height: 4, width: 5, geometry: Pool2dGeometry(kernel: 3, stride: 1, padding: 1))
    }

    func testGlobalAvgPool() throws {
        for outShape in [[2, 3], [2, 3, 1, 1]] {
            let inShape = [2, 3, 3, 5]
            let x = rng.floats(inShape.reduce(1, *)), r = rng.floats(6)
            let gy = try device.tensor(r, shape: outShape)
            let gx = try device.gradientBothWays(inShape, rng: &rng) { gx, accumulate in
                try backend.globalAvgPoolBackward(gradOutput: gy, gradInput: gx, accumulate: accumulate)
            }
            try checker.check("global average pool to \(outShape)", at: x, analytic: gx) { x in
                let out = try device.makeTensor(outShape)
                try backend.globalAvgPoolForward(input: device.tensor(x, shape: inShape), output: out)
                return dot(try device.read(out), r)
            }
        }
    }

    // MARK: Normalisation and activation

    /// Batch norm alone and fused with the ReLU after it (`relu: true` forward, the saved output as
    /// the backward's mask; the mask found again from the input gives the same gradients bitwise).
    func testBatchNormTraining() throws {
        for shape in [[2, 3, 3, 2], [4, 5]] {
          for relu in [false, true] {
            let c = shape[1]
            let x = rng.floats(shape.reduce(1, *), in: -2...2), w = rng.floats(c, in: 0.5...1.5), b = rng.floats(c)
            let r = rng.floats(x.count)
            func run(_ x: [Float], _ w: [Float], _ b: [Float]) throws -> (output: Tensor, mean: Tensor, invStd: Tensor) {
                let out = try device.makeTensor(shape), mean = try device.makeTensor([c]), invStd = try device.makeTensor([c])
                try backend.batchNormForwardTraining(
                    input: device.tensor(x, shape: shape), output: out, weight: device.tensor(w, shape: [c]),
                    bias: device.tensor(b, shape: [c]), runningMean: device.zeros([c]), runningVar: device.full([c], value: 1),
                    saveMean: mean, saveInvStd: invStd, momentum: 0.1, epsilon: 1e-5, relu: relu)
                return (out, mean, invStd)
            }
            func loss(_ x: [Float], _ w: [Float], _ b: [Float]) throws -> Double { dot(try device.read(run(x, w, b).output), r) }

            let saved = try run(x, w, b)
            let xt = try device.tensor(x, shape: shape), wt = try device.tensor(w, shape: [c])
            let gy = try device.tensor(r, shape: shape)
            let gw = try device.zeros([c]), gb = try device.zeros([c])
            var calls = 0
            let gx = try device.gradientBothWays(shape, rng: &rng) { gx, accumulate in
                // The parameter gradients accumulate on every call: keep only the first call's.
                if calls == 1 { try backend.fill(gw, value: 0); try backend.fill(gb, value: 0) }
                calls += 1
                try backend.batchNormBackward(input: xt, gradOutput: gy, gradInput: gx, weight: wt, saveMean: saved.mean,
                                              saveInvStd: saved.invStd, gradWeight: gw, gradBias: gb,
                                              reluOutput: relu ? saved.output : nil, accumulate: accumulate)
            }
            let name = "batch norm\(relu ? " + relu" : "") \(shape)"
            if relu {
                let zeros = try device.read(saved.output).filter { $0 == 0 }.count
                XCTAssertGreaterThan(zeros, 0, "\(name): the ReLU should cut some outputs")
            }
            try checker.check("\(name) input", at: x, analytic: gx) { try loss($0, w, b) }
            try checker.check("\(name) weight", at: w, analytic: try device.read(gw)) { try loss(x, $0, b) }
            try checker.check("\(name) bias", at: b, analytic: try device.read(gb)) { try loss(x, w, $0) }
            if relu {
                func gradients(_ mask: ReLUMask) throws -> [Float] {
                    let gx = try device.makeTensor(shape), gw = try device.zeros([c]), gb = try device.zeros([c])
                    try backend.batchNormBackward(input: xt, gradOutput: gy, gradInput: gx, weight: wt, saveMean: saved.mean,
                                                  saveInvStd: saved.invStd, gradWeight: gw, gradBias: gb, relu: mask, accumulate: false)
                    return try device.read(gx) + device.read(gw) + device.read(gb)
                }
                XCTAssertEqual(try gradients(.input(bias: device.tensor(b, shape: [c]))), try gradients(.output(saved.output)),
                               "\(name): the mask found from the input should be the saved output's")
            }
          }
        }
    }

    func testReLU() throws {
        let shape = [2, 3, 2, 3]
        let x = rng.floatsAwayFromZero(shape.reduce(1, *), minimum: 0.1), r = rng.floats(x.count)
        let out = try device.makeTensor(shape)
        try backend.reluForward(input: device.tensor(x, shape: shape), output: out)
        let gy = try device.tensor(r, shape: shape)
        let gx = try device.gradientBothWays(shape, rng: &rng) { gx, accumulate in
            try backend.reluBackward(output: out, gradOutput: gy, gradInput: gx, accumulate: accumulate)
        }
        try checker.check("relu", at: x, analytic: gx) { x in
            let t = try device.tensor(x, shape: shape)
            try backend.reluForward(input: t, output: t)  // in place
            return dot(try device.read(t), r)
        }
    }

    // MARK: Linear

    func testLinearWithStridedInput() throws {
        // The input is 5 of the 8 features of a bigger [3, 8] tensor (sample stride 8).
        let n = 3, inF = 5, outF = 4, wide = 8
        let x = rng.floats(n * inF), w = rng.floats(outF * inF), b = rng.floats(outF), r = rng.floats(n * outF)
        func input(_ x: [Float]) throws -> Tensor {
            let big = try device.full([n, wide], value: 7)
            let slice = big.channels(2..<2 + inF)
            try backend.channelCopy(from: device.tensor(x, shape: [n, inF]), to: slice, accumulate: false)
            return slice
        }
        func loss(_ x: [Float], _ w: [Float], _ b: [Float]) throws -> Double {
            let out = try device.makeTensor([n, outF])
            try backend.linearForward(input: input(x), weight: device.tensor(w, shape: [outF, inF]),
                                      bias: device.tensor(b, shape: [outF]), output: out)
            return dot(try device.read(out), r)
        }
        let wt = try device.tensor(w, shape: [outF, inF]), gy = try device.tensor(r, shape: [n, outF])
        let gx = try device.gradientBothWays([n, inF], rng: &rng) { gx, accumulate in
            try backend.linearBackwardData(gradOutput: gy, weight: wt, gradInput: gx, accumulate: accumulate)
        }
        let gb = try device.zeros([outF])
        let gw = try device.accumulatedGradient([outF, inF], rng: &rng) { gw in
            try backend.linearBackwardWeight(input: input(x), gradOutput: gy, gradWeight: gw, gradBias: gb)
        }
        try checker.check("linear input", at: x, analytic: gx) { try loss($0, w, b) }
        try checker.check("linear weight", at: w, analytic: gw) { try loss(x, $0, b) }
        try checker.check("linear bias", at: b, analytic: try device.read(gb)) { try loss(x, w, $0) }
    }

    // MARK: Loss

    func testSoftmaxCrossEntropy() throws {
        for smoothing: Float in [0, 0.2] {
            let n = 3, classes = 5
            let x = rng.floats(n * classes, in: -2...2), labels: [Float] = [2, 0, 4]
            let scale = 1 / Float(n)
            let labelTensor = try device.tensor(labels, shape: [n])
            func forward(_ x: [Float]) throws -> (probabilities: Tensor, losses: [Float]) {
                let p = try device.makeTensor([n, classes]), l = try device.makeTensor([n])
                try backend.softmaxCrossEntropyForward(logits: device.tensor(x, shape: [n, classes]), labels: labelTensor,
                                                       probabilities: p, losses: l, labelSmoothing: smoothing)
                return (p, try device.read(l))
            }
            let g = try device.makeTensor([n, classes])
            try backend.softmaxCrossEntropyBackward(probabilities: forward(x).probabilities, labels: labelTensor, gradLogits: g, scale: scale,
                                                    labelSmoothing: smoothing)
            try checker.check("softmax cross-entropy, label smoothing \(smoothing)", at: x, analytic: try device.read(g)) { x in
                try forward(x).losses.reduce(0) { $0 + Double($1) } * Double(scale)
            }
        }
    }

    // MARK: Concatenation

    func testConcatAndSplit() throws {
        // concat(a[2, 2, 3, 3], b[2, 3, 3, 3]) into channel slices; split back with channelCopy.
        let aShape = [2, 2, 3, 3], bShape = [2, 3, 3, 3], outShape = [2, 5, 3, 3]
        let a = rng.floats(aShape.reduce(1, *)), b = rng.floats(bShape.reduce(1, *))
        let r = rng.floats(outShape.reduce(1, *))
        func loss(_ a: [Float], _ b: [Float]) throws -> Double {
            let out = try device.makeTensor(outShape)
            try backend.channelCopy(from: device.tensor(a, shape: aShape), to: out.channels(0..<2), accumulate: false)
            try backend.channelCopy(from: device.tensor(b, shape: bShape), to: out.channels(2..<5), accumulate: false)
            return dot(try device.read(out), r)
        }
        let gy = try device.tensor(r, shape: outShape)
        let ga = try device.gradientBothWays(aShape, rng: &rng) { ga, accumulate in
            try backend.channelCopy(from: gy.channels(0..<2), to: ga, accumulate: accumulate)
        }
        let gb = try device.gradientBothWays(bShape, rng: &rng) { gb, accumulate in
            try backend.channelCopy(from: gy.channels(2..<5), to: gb, accumulate: accumulate)
        }
        try checker.check("concat first input", at: a, analytic: ga) { try loss($0, b) }
        try checker.check("concat second input", at: b, analytic: gb) { try loss(a, $0) }
    }
}
