import CLTrainCheck
import CLTrainTestSupport
import XCTest
@testable import CLTrainRuntime

/// Every algorithm an OpenCL convolution op may be tuned to (each implicit-GEMM tile configuration
/// the device runs, im2col + CLBlast per sample, the batch-spanning CLBlast GEMM), pinned in turn,
/// against the native CPU backend on the same seeded inputs: the tuner may pick any of them, so
/// each must be right, not just the one this machine would choose.
final class ConvCandidateTests: XCTestCase {
    func openCLDevice() throws -> Device {
        do {
            return try SharedOpenCL.device.get()
        } catch is SharedOpenCL.NoPlatform {
            throw XCTSkip("no OpenCL platform found (install pocl-opencl-icd): skipping the convolution candidate tests")
        }
    }

    /// The three ops of one convolution: forward (with `bias`, the input read through BN-ReLU when
    /// `norm`), input gradient (accumulating when `accumulate`) and weight gradient (BN-ReLU input
    /// when `norm`, with the bias gradient when `bias`).
    static func ops(n: Int, cin: Int, h: Int, w: Int, cout: Int, _ g: Conv2dGeometry, bias: Bool = false, sliced: Bool = false,
                    norm: Bool = false, accumulate: Bool = false) -> [OpCase] {
        [OpCatalog.conv2dForward(n: n, cin: cin, h: h, w: w, cout: cout, geometry: g, bias: bias, sliced: sliced, inputNorm: norm),
         OpCatalog.conv2dBackwardData(n: n, cin: cin, h: h, w: w, cout: cout, geometry: g, accumulate: accumulate, sliced: sliced),
         OpCatalog.conv2dBackwardWeight(n: n, cin: cin, h: h, w: w, cout: cout, geometry: g, bias: bias, sliced: sliced, inputNorm: norm)]
    }

    /// What the randomised suite leaves to chance or keeps too small to reach: DenseNet's growth
    /// and bottleneck convolutions (sliced, BN-ReLU input), 1x1 with stride 2, asymmetric kernels
    /// and dilations, batch 1 at dilation 4, a reduction many tiles deep (cin 70 x 3x3), more than
    /// 64 output (and input) channels so that several M tiles run, and more than 128 positions so
    /// that several N tiles run.
    static let hardCases: [OpCase] = {
        let c3 = Conv2dGeometry(kernel: 3, padding: 1)
        var cases: [OpCase] = []
        cases += ops(n: 3, cin: 48, h: 9, w: 10, cout: 12, c3, sliced: true, norm: true, accumulate: true)
        cases += ops(n: 2, cin: 48, h: 7, w: 7, cout: 12, c3, bias: true, sliced: true, norm: true)
        cases += ops(n: 3, cin: 20, h: 6, w: 5, cout: 16, Conv2dGeometry(kernel: 1), sliced: true, norm: true, accumulate: true)
        cases += ops(n: 2, cin: 9, h: 9, w: 7, cout: 6, Conv2dGeometry(kernel: 1, stride: 2), bias: true, norm: true)
        cases += ops(n: 2, cin: 5, h: 8, w: 9, cout: 7,
                     Conv2dGeometry(kernelH: 1, kernelW: 3, strideH: 1, strideW: 1, padH: 0, padW: 1, dilationH: 1, dilationW: 1),
                     bias: true, sliced: true)
        cases += ops(n: 2, cin: 3, h: 11, w: 7, cout: 5,
                     Conv2dGeometry(kernelH: 5, kernelW: 2, strideH: 2, strideW: 1, padH: 4, padW: 1, dilationH: 2, dilationW: 1),
                     norm: true, accumulate: true)
        cases += ops(n: 1, cin: 5, h: 9, w: 9, cout: 3, Conv2dGeometry(kernel: 3, padding: 4, dilation: 4), sliced: true, norm: true)
        cases += ops(n: 2, cin: 6, h: 7, w: 8, cout: 5, Conv2dGeometry(kernel: 3, stride: 2, padding: 2, dilation: 2), bias: true)
        cases += ops(n: 2, cin: 70, h: 6, w: 7, cout: 9, c3, sliced: true, norm: true, accumulate: true)
        cases += ops(n: 2, cin: 6, h: 5, w: 6, cout: 80, c3, bias: true, norm: true)
        cases += ops(n: 2, cin: 7, h: 12, w: 13, cout: 10, c3, sliced: true, accumulate: true)
        return cases
    }()

    /// Every candidate of every case within 1e-4 of the CPU backend; returns the (op, candidate)
    /// pairs checked.
    @discardableResult
    func checkEveryCandidate(_ cases: [OpCase], seed: UInt64) throws -> Int {
        let device = try openCLDevice()
        let backend = try XCTUnwrap(device.backend as? OpenCLBackend)
        let reference = Device(backend: CPUBackend())
        var pairs = 0
        for (index, opCase) in cases.enumerated() {
            let seed = seed + UInt64(index)
            let names = try KernelBenchmark().candidates(opCase, on: device)
            let tiled = ImplicitGemmConfiguration.candidates(for: backend).map { ConvAlgorithm.implicitGemm($0).name }
            let gemm = opCase.op == "conv2d_backward_weight" ? [ConvAlgorithm.gemmBatched] : [.gemmPerSample, .gemmBatched]
            XCTAssertEqual(names, tiled + gemm.map(\.name), "\(opCase.op) [\(opCase.shape)]")
            let expected = try opCase.prepare(on: reference, seed: seed)
            try expected.run()
            let values = try expected.results()
            for name in names {
                let mine = try opCase.prepare(on: device, seed: seed)
                try backend.tuner.pinning(name) { try mine.run() }
                let error = relativeError(try mine.results(), reference: values)
                XCTAssertLessThanOrEqual(error, 1e-4, "\(opCase.op) [\(opCase.shape)] with \(name): relative error \(error)")
                pairs += 1
            }
        }
        return pairs
    }

    func testEveryCandidateMatchesTheCPUBackendOnTheRandomisedConvolutions() throws {
        let cases = KernelSuites.randomised(seed: 2026, rounds: 2).filter { $0.family == "conv" }
        XCTAssertEqual(cases.count, 48)
        try checkEveryCandidate(cases, seed: 100)
    }

    func testEveryCandidateMatchesTheCPUBackendOnTheHardConvolutions() throws {
        try checkEveryCandidate(Self.hardCases, seed: 500)
    }

    /// The configurations only a GPU's tuner tries (the staged tilings a CPU device skips, and the
    /// vector widths 2 and 4), run on PoCL all the same: a GPU may pick any of them.
    func testEveryConfigurationAGPUMayPickMatchesTheCPUBackend() throws {
        let backend = try XCTUnwrap(try openCLDevice().backend as? OpenCLBackend)
        let usual = Set(ImplicitGemmConfiguration.candidates(for: backend))
        backend.triesEveryConfiguration = true
        defer { backend.triesEveryConfiguration = false }
        let every = ImplicitGemmConfiguration.candidates(for: backend)
        XCTAssertTrue(every.contains { $0.vector == 4 } && every.contains { $0.vector == 2 }, "\(every)")
        XCTAssertTrue(usual.isSubset(of: Set(every)))
        try checkEveryCandidate(Self.hardCases, seed: 700)
    }

    /// A convolution's second call takes the algorithm remembered for its shape and flags, which is
    /// the tuner's decision; another flag is another choice.
    func testTheChoiceIsRememberedPerShapeAndFlags() throws {
        let device = try openCLDevice()
        let backend = try XCTUnwrap(device.backend as? OpenCLBackend)
        let g = Conv2dGeometry(kernel: 3, padding: 1)
        let input = try device.tensor((0..<(2 * 5 * 7 * 6)).map { Float($0 % 13) / 13 }, shape: [2, 5, 7, 6])
        let weight = try device.tensor((0..<(3 * 5 * 9)).map { Float($0 % 7) / 7 - 0.5 }, shape: [3, 5, 3, 3])
        let bias = try device.tensor([0.1, -0.2, 0.3], shape: [3])
        let output = try device.makeTensor([2, 3, 7, 6])
        let s = OpenCLBackend.ConvShape(input: input, weight: weight, output: output, geometry: g)
        let plain = ConvChoiceKey(pass: .forward, n: 2, cin: 5, h: 7, w: 6, cout: 3, geometry: g, inputNorm: false, bias: false, accumulate: false)
        var withBias = plain
        withBias.bias = true
        for _ in 0..<2 { try backend.conv2dForward(input: input, weight: weight, bias: nil, output: output, geometry: g, inputNorm: nil) }
        let remembered = try XCTUnwrap(backend.convolutionChoices.remembered(plain))
        let decision = backend.tuner.decisions.first { $0.problem == backend.key(.forward, shape: s).problem }
        XCTAssertEqual(decision?.choice, remembered.name)
        XCTAssertNil(backend.convolutionChoices.remembered(withBias))
        try backend.conv2dForward(input: input, weight: weight, bias: bias, output: output, geometry: g, inputNorm: nil)
        XCTAssertNotNil(backend.convolutionChoices.remembered(withBias))
        // While pinned, every call asks the tuner and nothing new is remembered.
        var changed = withBias
        changed.n = 3
        let bigger = try device.makeTensor([3, 5, 7, 6]), biggerOut = try device.makeTensor([3, 3, 7, 6])
        try backend.tuner.pinning(ConvAlgorithm.gemmPerSample.name) {
            try backend.conv2dForward(input: bigger, weight: weight, bias: bias, output: biggerOut, geometry: g, inputNorm: nil)
        }
        XCTAssertNil(backend.convolutionChoices.remembered(changed))
    }

    /// A scratch budget of two samples splits a batch of 5 into chunks of 2, 2 and 1, so the
    /// batch-spanning GEMMs run chunks at an offset and a last chunk smaller than the others; a
    /// budget of one byte takes one sample per chunk (their per-sample fallback).
    func testEveryCandidateMatchesTheCPUBackendInChunks() throws {
        let backend = try XCTUnwrap(try openCLDevice().backend as? OpenCLBackend)
        let saved = backend.convolutionScratchBytes
        defer { backend.convolutionScratchBytes = saved }
        let shapes: [(cin: Int, cout: Int, geometry: Conv2dGeometry)] = [
            (6, 4, Conv2dGeometry(kernel: 3, padding: 1)),
            (7, 5, Conv2dGeometry(kernel: 1)),
        ]
        for shape in shapes {
            let g = shape.geometry
            let cases = Self.ops(n: 5, cin: shape.cin, h: 6, w: 7, cout: shape.cout, g, bias: true, sliced: true, norm: true,
                                 accumulate: true)
            let perSample = (shape.cin * g.kernelH * g.kernelW + shape.cout) * g.outputHeight(6) * g.outputWidth(7) * 4
            for budget in [2 * perSample + 8, 1] {
                backend.convolutionScratchBytes = budget
                try checkEveryCandidate(cases, seed: 900)
            }
        }
    }
}
