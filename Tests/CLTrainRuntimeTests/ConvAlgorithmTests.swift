import CLTrainRandom
import CLTrainTestSupport
import XCTest
@testable import CLTrainRuntime

/// The CPU backend's convolution algorithms against a direct convolution written out as loops,
/// for forward, input gradient and weight gradient: region plans (taps that read only padding
/// skipped) and tap stacking (few output channels: one GEMM on the input, then shifted sums).
final class ConvAlgorithmTests: XCTestCase {
    struct Case {
        let n: Int, cin: Int, h: Int, w: Int, cout: Int
        let geometry: Conv2dGeometry
    }

    /// Shapes where the plan is used: DRN's dilated stages on 4x4 maps, a 3x3 with padding 1 on
    /// 4x4, odd sizes, batch 1, stride 2, an asymmetric kernel, and padding so large that some
    /// outputs read only padding.
    let regionCases: [Case] = [
        Case(n: 3, cin: 5, h: 4, w: 4, cout: 7, geometry: Conv2dGeometry(kernel: 3, padding: 4, dilation: 4)),
        Case(n: 1, cin: 3, h: 5, w: 3, cout: 4, geometry: Conv2dGeometry(kernel: 3, padding: 2, dilation: 2)),
        Case(n: 2, cin: 6, h: 4, w: 4, cout: 5, geometry: Conv2dGeometry(kernel: 3, padding: 1)),
        Case(n: 2, cin: 3, h: 7, w: 5, cout: 3, geometry: Conv2dGeometry(kernel: 3, stride: 2, padding: 2, dilation: 2)),
        Case(n: 2, cin: 2, h: 3, w: 6, cout: 3, geometry: Conv2dGeometry(kernelH: 3, kernelW: 5, strideH: 1, strideW: 2,
                                                                          padH: 2, padW: 4, dilationH: 2, dilationW: 1)),
        Case(n: 2, cin: 3, h: 4, w: 4, cout: 2, geometry: Conv2dGeometry(kernel: 3, padding: 3)),
    ]

    /// Shapes that go through tap stacking: DenseNet's growth convolution at odd sizes, batch 1,
    /// dilation 2 and 4, an asymmetric kernel, a valid (unpadded) 5x5.
    let stackedCases: [Case] = [
        Case(n: 3, cin: 17, h: 16, w: 15, cout: 5, geometry: Conv2dGeometry(kernel: 3, padding: 1)),
        Case(n: 1, cin: 16, h: 20, w: 18, cout: 3, geometry: Conv2dGeometry(kernel: 3, padding: 2, dilation: 2)),
        Case(n: 2, cin: 18, h: 28, w: 26, cout: 4, geometry: Conv2dGeometry(kernel: 3, padding: 4, dilation: 4)),
        Case(n: 2, cin: 20, h: 5, w: 8, cout: 7, geometry: Conv2dGeometry(kernelH: 1, kernelW: 3, strideH: 1, strideW: 1,
                                                                           padH: 0, padW: 1, dilationH: 1, dilationW: 1)),
        Case(n: 2, cin: 16, h: 9, w: 8, cout: 2, geometry: Conv2dGeometry(kernel: 5)),
    ]

    func shape(_ c: Case) -> CPUBackend.ConvShape {
        CPUBackend.ConvShape(n: c.n, inChannels: c.cin, height: c.h, width: c.w, outChannels: c.cout,
                             outHeight: c.geometry.outputHeight(c.h), outWidth: c.geometry.outputWidth(c.w), geometry: c.geometry)
    }

    /// Calls `body(sample, co, oh, ow, ci, ih, iw, kernelIndex)` for every multiply-add of the
    /// convolution that reads inside the input.
    func forEachTap(_ c: Case, _ body: (Int, Int, Int, Int, Int, Int, Int, Int) -> Void) {
        let g = c.geometry, ho = g.outputHeight(c.h), wo = g.outputWidth(c.w)
        for s in 0..<c.n {
            for co in 0..<c.cout {
                for oh in 0..<ho {
                    for ow in 0..<wo {
                        for ci in 0..<c.cin {
                            for ki in 0..<g.kernelH {
                                for kj in 0..<g.kernelW {
                                    let ih = oh * g.strideH - g.padH + ki * g.dilationH
                                    let iw = ow * g.strideW - g.padW + kj * g.dilationW
                                    if ih >= 0 && ih < c.h && iw >= 0 && iw < c.w {
                                        body(s, co, oh, ow, ci, ih, iw, ki * g.kernelW + kj)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    func testThePlanIsUsedForEveryCaseAndSkipsWork() {
        for c in regionCases {
            let plan = ConvRegionPlan(shape(c))
            XCTAssertNotNil(plan, "\(c.geometry) on \(c.h)x\(c.w)")
            XCTAssertLessThanOrEqual(plan?.workFraction ?? 1, 0.8)
        }
        // DRN-C-26's dilation-4 stage on 4x4 maps reads only the centre tap: 1/9 of the work.
        let d4 = CPUBackend.ConvShape(n: 64, inChannels: 512, height: 4, width: 4, outChannels: 512, outHeight: 4, outWidth: 4,
                                      geometry: Conv2dGeometry(kernel: 3, padding: 4, dilation: 4))
        XCTAssertEqual(ConvRegionPlan(d4)?.workFraction ?? 0, 1.0 / 9, accuracy: 1e-12)
        XCTAssertEqual(ConvRegionPlan(d4)?.regions.map(\.kernelIndex), [[4]])
        // A 28x28 map loses little at its border: the dense path is kept.
        let big = CPUBackend.ConvShape(n: 64, inChannels: 48, height: 28, width: 28, outChannels: 12, outHeight: 28, outWidth: 28,
                                       geometry: Conv2dGeometry(kernel: 3, padding: 1))
        XCTAssertTrue(ConvRegionPlan(big) == nil, "28x28 has a region plan")
        XCTAssertTrue(CPUBackend.usesTapStacking(big))
        for c in stackedCases {
            XCTAssertTrue(ConvRegionPlan(shape(c)) == nil, "\(c.geometry) on \(c.h)x\(c.w) has a region plan")
            XCTAssertTrue(CPUBackend.usesTapStacking(shape(c)), "\(c.geometry) on \(c.h)x\(c.w)")
        }
    }

    /// Shapes for the other algorithms: 1x1 (stride 1 and 2; on small maps in blocks of samples), batch 1, many output channels
    /// (batched im2col's wide GEMM), odd sizes, dilation 2 and 4 on maps larger than their reach.
    let otherCases: [Case] = [
        Case(n: 3, cin: 7, h: 9, w: 8, cout: 5, geometry: Conv2dGeometry(kernel: 1)),
        Case(n: 1, cin: 6, h: 7, w: 7, cout: 4, geometry: Conv2dGeometry(kernel: 1, stride: 2)),
        Case(n: 3, cin: 6, h: 19, w: 18, cout: 64, geometry: Conv2dGeometry(kernel: 3, padding: 1)),
        Case(n: 2, cin: 5, h: 21, w: 19, cout: 6, geometry: Conv2dGeometry(kernel: 3, stride: 2, padding: 1)),
        Case(n: 2, cin: 9, h: 13, w: 11, cout: 12, geometry: Conv2dGeometry(kernel: 3, padding: 2, dilation: 2)),
        Case(n: 1, cin: 8, h: 17, w: 15, cout: 16, geometry: Conv2dGeometry(kernel: 3, padding: 4, dilation: 4)),
        Case(n: 2, cin: 4, h: 11, w: 9, cout: 3, geometry: Conv2dGeometry(kernel: 3)),
        Case(n: 7, cin: 9, h: 6, w: 6, cout: 5, geometry: Conv2dGeometry(kernel: 1)),
        Case(n: 5, cin: 11, h: 2, w: 2, cout: 6, geometry: Conv2dGeometry(kernel: 1)),
    ]

    /// Absolute tolerance of an algorithm's results here (values of order 1): float rounding, and
    /// for Winograd F(4x4, 3x3) the larger rounding of its transforms (points 0, ±1, ±1/2, whose
    /// products reach 1e-4 of the result; F(2x2, 3x3) stays at float rounding).
    func tolerance(_ algorithm: CPUConvAlgorithm) -> Float {
        algorithm == .winograd(4) ? 4e-4 : 1e-5
    }

    /// Every algorithm the tuner may pick for each op at each shape (`convolutionCandidates`), run
    /// through the backend's public ops with the tuner pinned to it.
    func testEveryCandidateMatchesDirectLoops() throws {
        let backend = CPUBackend()
        let device = Device(backend: backend)
        var rng = SeededRandom(seed: 11)
        for c in regionCases + stackedCases + otherCases {
            let g = c.geometry, ho = g.outputHeight(c.h), wo = g.outputWidth(c.w), area = g.kernelH * g.kernelW
            let xs = rng.floats(c.n * c.cin * c.h * c.w), ws = rng.floats(c.cout * c.cin * area)
            let bs = rng.floats(c.cout), gys = rng.floats(c.n * c.cout * ho * wo), prior = rng.floats(c.n * c.cin * c.h * c.w)
            // The sums in double precision: long float sums differ by order alone.
            var yd = [Double](repeating: 0, count: c.n * c.cout * ho * wo)
            for s in 0..<c.n { for co in 0..<c.cout { for p in 0..<ho * wo { yd[(s * c.cout + co) * ho * wo + p] = Double(bs[co]) } } }
            var gxd = prior.map(Double.init), gwd = [Double](repeating: 0.5, count: ws.count)
            forEachTap(c) { s, co, oh, ow, ci, ih, iw, k in
                let yi = ((s * c.cout + co) * ho + oh) * wo + ow, xi = ((s * c.cin + ci) * c.h + ih) * c.w + iw
                let wi = (co * c.cin + ci) * area + k
                yd[yi] += Double(ws[wi]) * Double(xs[xi])
                gxd[xi] += Double(ws[wi]) * Double(gys[yi])
                gwd[wi] += Double(gys[yi]) * Double(xs[xi])
            }
            let y = yd.map(Float.init), gx = gxd.map(Float.init), gw = gwd.map(Float.init)
            let name = "\(c.n)x\(c.cin)x\(c.h)x\(c.w) \(g) -> \(c.cout)"
            let x = try device.tensor(xs, shape: [c.n, c.cin, c.h, c.w]), w = try device.tensor(ws, shape: [c.cout, c.cin, g.kernelH, g.kernelW])
            let s = shape(c)
            for algorithm in backend.convolutionCandidates(.forward, s) {
                // The output is channels 1... of a larger tensor, as DenseNet's layers write into their block.
                let block = try device.makeTensor([c.n, c.cout + 2, ho, wo])
                let out = block.channels(1..<c.cout + 1)
                try backend.tuner.pinning(algorithm.name) {
                    try backend.conv2dForward(input: x, weight: w, bias: device.tensor(bs, shape: [c.cout]), output: out, geometry: g)
                }
                assertClose(try device.read(out), y, rtol: 1e-5, atol: tolerance(algorithm), "forward \(algorithm.name) \(name)")
            }
            let gy = try device.tensor(gys, shape: [c.n, c.cout, ho, wo])
            for algorithm in backend.convolutionCandidates(.backwardData, s) {
                let gradInput = try device.tensor(prior, shape: [c.n, c.cin, c.h, c.w])
                // Overwriting: the planes are cleared first, including positions no tap reaches.
                let fresh = try device.tensor(rng.floats(prior.count), shape: [c.n, c.cin, c.h, c.w])
                try backend.tuner.pinning(algorithm.name) {
                    try backend.conv2dBackwardData(gradOutput: gy, weight: w, gradInput: gradInput, geometry: g, accumulate: true)
                    try backend.conv2dBackwardData(gradOutput: gy, weight: w, gradInput: fresh, geometry: g, accumulate: false)
                }
                assertClose(try device.read(gradInput), gx, rtol: 1e-5, atol: tolerance(algorithm), "input gradient (accumulated) \(algorithm.name) \(name)")
                assertClose(try device.read(fresh), zip(gx, prior).map { $0 - $1 }, rtol: 1e-5, atol: tolerance(algorithm),
                            "input gradient \(algorithm.name) \(name)")
            }
            for algorithm in backend.convolutionCandidates(.backwardWeight, s) {
                let gradWeight = try device.tensor([Float](repeating: 0.5, count: ws.count), shape: [c.cout, c.cin, g.kernelH, g.kernelW])
                try backend.tuner.pinning(algorithm.name) {
                    try backend.conv2dBackwardWeight(input: x, gradOutput: gy, gradWeight: gradWeight, gradBias: nil, geometry: g)
                }
                assertClose(try device.read(gradWeight), gw, rtol: 1e-5, atol: 10 * tolerance(algorithm), "weight gradient (accumulated) \(algorithm.name) \(name)")
            }
        }
    }
}
