import CLTrainRandom
import CLTrainTestSupport
import XCTest
@testable import CLTrainRuntime

/// Convolutions that apply a batch norm + ReLU to their input as they read it (`inputNorm`)
/// against the convolution of that input normalised first by `batchNormApply`, on the CPU
/// backend, for every algorithm the tuner may pick at each shape: the per-sample loops (1x1,
/// im2col, tap stacking) and the ones that get groups of normalised samples (region plans,
/// batched im2col, several groups).
final class ConvInputNormTests: XCTestCase {
    let device = Device(backend: CPUBackend())
    var backend: any Backend { device.backend }
    var cpu: CPUBackend { device.backend as! CPUBackend }

    struct Case {
        let n: Int, cin: Int, h: Int, w: Int, cout: Int
        let geometry: Conv2dGeometry
        let why: String
    }

    let cases: [Case] = [
        Case(n: 3, cin: 7, h: 9, w: 8, cout: 5, geometry: Conv2dGeometry(kernel: 1), why: "1x1"),
        Case(n: 7, cin: 9, h: 6, w: 6, cout: 5, geometry: Conv2dGeometry(kernel: 1), why: "1x1 in blocks of 3 samples, the last of 1"),
        Case(n: 5, cin: 11, h: 2, w: 2, cout: 6, geometry: Conv2dGeometry(kernel: 1), why: "1x1 on 2x2 maps, the batch in one block"),
        Case(n: 1, cin: 6, h: 7, w: 7, cout: 4, geometry: Conv2dGeometry(kernel: 1, stride: 2), why: "per-sample im2col, 1x1 stride 2, batch 1"),
        Case(n: 2, cin: 5, h: 9, w: 7, cout: 6, geometry: Conv2dGeometry(kernel: 3, stride: 2, padding: 1), why: "region plan, stride 2"),
        Case(n: 2, cin: 5, h: 21, w: 19, cout: 6, geometry: Conv2dGeometry(kernel: 3, stride: 2, padding: 1), why: "per-sample im2col, stride 2"),
        Case(n: 3, cin: 6, h: 20, w: 17, cout: 7, geometry: Conv2dGeometry(kernel: 3, padding: 2, dilation: 2), why: "per-sample im2col, dilation 2"),
        Case(n: 3, cin: 17, h: 10, w: 9, cout: 5, geometry: Conv2dGeometry(kernel: 3, padding: 1), why: "tap stacking"),
        Case(n: 2, cin: 16, h: 12, w: 11, cout: 3, geometry: Conv2dGeometry(kernel: 3, padding: 4, dilation: 4), why: "region plan, dilation 4"),
        Case(n: 1, cin: 16, h: 40, w: 38, cout: 3, geometry: Conv2dGeometry(kernel: 3, padding: 4, dilation: 4), why: "tap stacking, dilation 4, batch 1"),
        Case(n: 3, cin: 5, h: 4, w: 4, cout: 7, geometry: Conv2dGeometry(kernel: 3, padding: 2, dilation: 2), why: "region plan"),
        Case(n: 3, cin: 6, h: 7, w: 5, cout: 64, geometry: Conv2dGeometry(kernel: 3, padding: 1), why: "region plan, 64 outputs"),
        Case(n: 3, cin: 6, h: 19, w: 18, cout: 64, geometry: Conv2dGeometry(kernel: 3, padding: 1), why: "batched im2col"),
        Case(n: 20, cin: 64, h: 32, w: 32, cout: 64, geometry: Conv2dGeometry(kernel: 3, padding: 1), why: "batched im2col, several groups"),
    ]

    func norm(_ c: Int, _ rng: inout SeededRandom) throws -> BatchNormReLU {
        BatchNormReLU(mean: try device.tensor(rng.floats(c, in: -0.3...0.3), shape: [c]),
                      invStd: try device.tensor(rng.floats(c, in: 0.5...1.5), shape: [c]),
                      weight: try device.tensor(rng.floats(c, in: 0.5...1.5), shape: [c]),
                      bias: try device.tensor(rng.floats(c, in: -0.5...0.2), shape: [c]))
    }

    func testConvolutionsOfANormalisedInputMatchNormalisingFirst() throws {
        var rng = SeededRandom(seed: 11)
        for c in cases {
            let g = c.geometry, outShape = [c.n, c.cout, g.outputHeight(c.h), g.outputWidth(c.w)]
            // The input is a channel slice of a wider tensor, as inside a dense block.
            let whole = try device.tensor(rng.floats(c.n * (c.cin + 2) * c.h * c.w), shape: [c.n, c.cin + 2, c.h, c.w])
            let input = whole.channels(1..<1 + c.cin)
            let weight = try device.tensor(rng.floats(c.cout * c.cin * g.kernelH * g.kernelW), shape: [c.cout, c.cin, g.kernelH, g.kernelW])
            let gradOutput = try device.tensor(rng.floats(outShape.reduce(1, *)), shape: outShape)
            let bn = try norm(c.cin, &rng)
            let normalized = try device.makeTensor([c.n, c.cin, c.h, c.w])
            try backend.batchNormApply(input: input, output: normalized, mean: bn.mean, invStd: bn.invStd, weight: bn.weight,
                                       bias: bn.bias, relu: true)
            XCTAssertGreaterThan(try device.read(normalized).filter { $0 == 0 }.count, 0, "\(c.why): the ReLU should cut some values")

            let reference = try device.makeTensor(outShape)
            try backend.conv2dForward(input: normalized, weight: weight, bias: nil, output: reference, geometry: g)
            let referenceGrad = try device.zeros(weight.shape)
            try backend.conv2dBackwardWeight(input: normalized, gradOutput: gradOutput, gradWeight: referenceGrad, gradBias: nil, geometry: g)
            // Every algorithm the tuner may pick, the rule's first.
            let s = shape(c)
            for algorithm in cpu.convolutionCandidates(.forward, s) {
                let fused = try device.makeTensor(outShape)
                try cpu.tuner.pinning(algorithm.name) {
                    try backend.conv2dForward(input: input, weight: weight, bias: nil, output: fused, geometry: g, inputNorm: bn)
                }
                // Winograd F(4x4, 3x3) rounds its transforms' products to about 1e-4 of the largest
                // values (of order 1 here, 10 for the weight gradient's long sums).
                let (rtol, atol): (Float, Float) = algorithm == .winograd(4) ? (2e-4, 3e-4) : (1e-5, 1e-5)
                assertClose(try device.read(fused), try device.read(reference), rtol: rtol, atol: atol, "\(c.why): forward, \(algorithm.name)")
            }
            for algorithm in cpu.convolutionCandidates(.backwardWeight, s) {
                let fusedGrad = try device.zeros(weight.shape)
                try cpu.tuner.pinning(algorithm.name) {
                    try backend.conv2dBackwardWeight(input: input, gradOutput: gradOutput, gradWeight: fusedGrad, gradBias: nil, geometry: g,
                                                     inputNorm: bn)
                }
                let (rtol, atol): (Float, Float) = algorithm == .winograd(4) ? (2e-4, 2e-3) : (1e-5, 1e-4)
                assertClose(try device.read(fusedGrad), try device.read(referenceGrad), rtol: rtol, atol: atol,
                            "\(c.why): weight gradient, \(algorithm.name)")
            }
        }
    }

    func shape(_ c: Case) -> CPUBackend.ConvShape {
        CPUBackend.ConvShape(n: c.n, inChannels: c.cin, height: c.h, width: c.w, outChannels: c.cout,
                             outHeight: c.geometry.outputHeight(c.h), outWidth: c.geometry.outputWidth(c.w), geometry: c.geometry)
    }

    func testEveryAlgorithmIsCovered() {
        let shapes = cases.map(shape)
        // Each case takes the algorithm its name says (the forward's order of choice).
        for (c, shape) in zip(cases, shapes) {
            let algorithm = ConvRegionPlan(shape) != nil ? "region plan"
                : CPUBackend.usesTapStacking(shape) ? "tap stacking"
                : shape.geometry.isPointwise ? "1x1"
                : CPUBackend.groupSize(shape) == 1 ? "per-sample im2col" : "batched im2col"
            XCTAssertTrue(c.why.hasPrefix(algorithm), "\(c.why) takes \(algorithm)")
        }
        XCTAssertTrue(shapes.contains { ConvRegionPlan($0) != nil }, "a region plan")
        XCTAssertTrue(shapes.contains { CPUBackend.usesTapStacking($0) }, "tap stacking")
        XCTAssertTrue(shapes.contains { cpu.convolutionCandidates(.forward, $0).first == .batched }, "batched im2col")
        XCTAssertTrue(shapes.contains {
            ConvRegionPlan($0) == nil && !CPUBackend.usesTapStacking($0) && !$0.geometry.isPointwise && CPUBackend.groupSize($0) == 1
        }, "per-sample im2col")
        XCTAssertTrue(shapes.contains { cpu.sampleBlock($0, chunks: 1) > 1 && $0.n % cpu.sampleBlock($0, chunks: 1) == 1 },
                      "1x1 in blocks of samples, the last of one")
        XCTAssertTrue(shapes.contains { $0.n * $0.inChannels * $0.inPlane > CPUBackend.normalizedGroupBudget },
                      "more samples than one normalised group holds")
    }

    /// The CPU's fused backward of a 1x1 convolution and the BN-ReLU it read
    /// (`conv2dBackwardDataBatchNormReLU`), its deferred terms applied after, against the
    /// convolution's input gradient and the batch norm's backward apart: on a channel slice of a
    /// wider tensor, batch 1, planes that are no multiple of the vector width; and a 3x3
    /// convolution, which the CPU does not fuse (it must say so and apply everything).
    func testTheFusedBackwardOfAConvolutionAndItsBatchNormMatchesTheTwoOps() throws {
        var rng = SeededRandom(seed: 12)
        let shapes: [(n: Int, cin: Int, h: Int, w: Int, cout: Int, kernel: Int)] = [
            (3, 7, 9, 8, 5, 1), (1, 13, 7, 7, 12, 1), (4, 20, 5, 3, 48, 1), (2, 6, 6, 5, 4, 3),
            // Blocks of samples (`sampleBlock`) on planes of 36, 4, 16 and 6 floats, a last block of one sample.
            (7, 9, 6, 6, 5, 1), (5, 11, 2, 2, 6, 1), (6, 10, 4, 4, 7, 1), (3, 8, 2, 3, 4, 1),
        ]
        for c in shapes {
            let g = Conv2dGeometry(kernel: c.kernel, padding: c.kernel / 2)
            let whole = try device.tensor(rng.floats(c.n * (c.cin + 3) * c.h * c.w), shape: [c.n, c.cin + 3, c.h, c.w])
            let input = whole.channels(2..<2 + c.cin)
            let weight = try device.tensor(rng.floats(c.cout * c.cin * c.kernel * c.kernel), shape: [c.cout, c.cin, c.kernel, c.kernel])
            let gradOutput = try device.tensor(rng.floats(c.n * c.cout * c.h * c.w), shape: [c.n, c.cout, c.h, c.w])
            let bn = try norm(c.cin, &rng)
            let prior = rng.floats(c.n * (c.cin + 3) * c.h * c.w)
            let initialGradients = (weight: rng.floats(c.cin), bias: rng.floats(c.cin))

            func run(fused: Bool) throws -> (gradInput: [Float], weight: [Float], bias: [Float], deferred: Bool) {
                let gradWhole = try device.tensor(prior, shape: [c.n, c.cin + 3, c.h, c.w])
                let gradInput = gradWhole.channels(2..<2 + c.cin)
                let gw = try device.tensor(initialGradients.weight, shape: [c.cin]), gb = try device.tensor(initialGradients.bias, shape: [c.cin])
                var deferred = false
                if fused {
                    let scale = try device.tensor(rng.floats(c.cin), shape: [c.cin]), shift = try device.tensor(rng.floats(c.cin), shape: [c.cin])
                    let before = (try device.read(scale), try device.read(shift))
                    deferred = try backend.conv2dBackwardDataBatchNormReLU(
                        gradOutput: gradOutput, weight: weight, geometry: g, input: input, norm: bn, gradInput: gradInput,
                        gradWeight: gw, gradBias: gb, deferredScale: scale, deferredShift: shift)
                    // Added into whatever was there: apply only what this call added.
                    let added = try (device.tensor(zip(device.read(scale), before.0).map { $0 - $1 }, shape: [c.cin]),
                                     device.tensor(zip(device.read(shift), before.1).map { $0 - $1 }, shape: [c.cin]))
                    let terms = try device.makeTensor(input.shape)
                    try backend.batchNormApply(input: input, output: terms, mean: device.tensor([Float](repeating: 0, count: c.cin), shape: [c.cin]),
                                               invStd: device.tensor([Float](repeating: 1, count: c.cin), shape: [c.cin]),
                                               weight: added.0, bias: added.1, relu: false)
                    try backend.channelCopy(from: terms, to: gradInput, accumulate: true)
                } else {
                    try backend.unfusedConv2dBackwardDataBatchNormReLU(gradOutput: gradOutput, weight: weight, geometry: g, input: input,
                                                                       norm: bn, gradInput: gradInput, gradWeight: gw, gradBias: gb)
                }
                return (try device.read(gradWhole), try device.read(gw), try device.read(gb), deferred)
            }
            let fused = try run(fused: true), apart = try run(fused: false)
            XCTAssertEqual(fused.deferred, c.kernel == 1, "\(c): fused only where the convolution is 1x1")
            assertClose(fused.gradInput, apart.gradInput, rtol: 1e-4, atol: 1e-5, "\(c) input gradient")
            assertClose(fused.weight, apart.weight, rtol: 1e-4, atol: 1e-5, "\(c) weight gradient")
            assertClose(fused.bias, apart.bias, rtol: 1e-4, atol: 1e-5, "\(c) bias gradient")
        }
    }
}
