import CLTrainRandom
import CLTrainTestSupport
import XCTest
@testable import CLTrainRuntime

/// Winograd convolution F(2x2, 3x3) and F(4x4, 3x3) on the CPU backend: the transforms against a
/// direct correlation of one tile, and forward, input gradient and weight gradient against the
/// backend's other algorithms (themselves checked against direct loops in `ConvAlgorithmTests`),
/// with and without bias, a fused batch norm + ReLU, accumulation; odd sizes, tiny images,
/// dilation 1, 2 and 4, padding 0 up to three times the dilation.
final class WinogradTests: XCTestCase {
    /// Three threads, so that chunks split unevenly over them.
    let cpu = CPUBackend(threads: 3)
    lazy var device = Device(backend: cpu)

    struct Case {
        let n: Int, cin: Int, h: Int, w: Int, cout: Int
        let geometry: Conv2dGeometry
        let bias: Bool
    }

    let cases: [Case] = [
        Case(n: 3, cin: 3, h: 7, w: 5, cout: 5, geometry: Conv2dGeometry(kernel: 3, padding: 1), bias: true),
        Case(n: 1, cin: 16, h: 13, w: 11, cout: 12, geometry: Conv2dGeometry(kernel: 3, padding: 2, dilation: 2), bias: false),
        Case(n: 3, cin: 48, h: 13, w: 11, cout: 12, geometry: Conv2dGeometry(kernel: 3, padding: 4, dilation: 4), bias: true),
        Case(n: 1, cin: 64, h: 13, w: 11, cout: 64, geometry: Conv2dGeometry(kernel: 3, padding: 1), bias: true),
        Case(n: 3, cin: 16, h: 13, w: 11, cout: 12, geometry: Conv2dGeometry(kernel: 3), bias: false),
        Case(n: 3, cin: 5, h: 1, w: 1, cout: 3, geometry: Conv2dGeometry(kernel: 3, padding: 1), bias: true),
        Case(n: 1, cin: 3, h: 3, w: 3, cout: 5, geometry: Conv2dGeometry(kernel: 3), bias: false),
        Case(n: 3, cin: 6, h: 3, w: 3, cout: 4, geometry: Conv2dGeometry(kernel: 3, padding: 2, dilation: 2), bias: true),
        Case(n: 1, cin: 12, h: 7, w: 5, cout: 48, geometry: Conv2dGeometry(kernel: 3, padding: 4, dilation: 4), bias: false),
        // Padding twice the dilation (the input gradient has none) and three times (its padding is negative).
        Case(n: 3, cin: 7, h: 9, w: 10, cout: 5, geometry: Conv2dGeometry(kernel: 3, padding: 4, dilation: 2), bias: true),
        Case(n: 3, cin: 4, h: 6, w: 5, cout: 3, geometry: Conv2dGeometry(kernel: 3, padding: 6, dilation: 2), bias: false),
        Case(n: 3, cin: 9, h: 8, w: 9, cout: 6, geometry: Conv2dGeometry(kernel: 3, padding: 2), bias: true),
        Case(n: 1, cin: 5, h: 11, w: 7, cout: 6, geometry: Conv2dGeometry(kernelH: 3, kernelW: 3, strideH: 1, strideW: 1, padH: 2, padW: 1,
                                                                            dilationH: 2, dilationW: 1), bias: true),
        // Maps wide enough for groups of eight tiles that all lie inside the image (the gather without bounds checks).
        Case(n: 2, cin: 8, h: 30, w: 41, cout: 6, geometry: Conv2dGeometry(kernel: 3, padding: 1), bias: true),
        Case(n: 1, cin: 6, h: 37, w: 45, cout: 5, geometry: Conv2dGeometry(kernel: 3, padding: 2, dilation: 2), bias: false),
    ]

    /// Allowed error, relative to the largest value of the reference: F(4x4, 3x3)'s transforms
    /// multiply by up to 8 and divide by 24, so it loses more precision than F(2x2, 3x3).
    func tolerance(_ m: Int) -> Float { m == 2 ? 1e-5 : 1e-4 }

    func name(_ c: Case, _ m: Int) -> String {
        "F(\(m)x\(m)) \(c.n)x\(c.cin)x\(c.h)x\(c.w) \(c.geometry) -> \(c.cout)"
    }

    func shape(_ c: Case) -> CPUBackend.ConvShape {
        CPUBackend.ConvShape(n: c.n, inChannels: c.cin, height: c.h, width: c.w, outChannels: c.cout,
                             outHeight: c.geometry.outputHeight(c.h), outWidth: c.geometry.outputWidth(c.w), geometry: c.geometry)
    }

    func norm(_ c: Int, _ rng: inout SeededRandom) throws -> BatchNormReLU {
        BatchNormReLU(mean: try device.tensor(rng.floats(c, in: -0.3...0.3), shape: [c]),
                      invStd: try device.tensor(rng.floats(c, in: 0.5...1.5), shape: [c]),
                      weight: try device.tensor(rng.floats(c, in: 0.5...1.5), shape: [c]),
                      bias: try device.tensor(rng.floats(c, in: -0.5...0.2), shape: [c]))
    }

    /// The largest `|a - b|` over the largest `|b|`.
    func error(_ a: [Float], _ b: [Float]) -> Float {
        let scale = b.map(abs).max() ?? 0
        return zip(a, b).map { abs($0 - $1) }.max().map { $0 / max(scale, .leastNormalMagnitude) } ?? 0
    }

    /// `assertClose` within `tolerance(m)` of the reference's largest value; returns the error.
    @discardableResult
    func check(_ a: [Float], _ b: [Float], m: Int, _ message: String, file: StaticString = #filePath, line: UInt = #line) -> Float {
        let scale = b.map(abs).max() ?? 0
        assertClose(a, b, rtol: tolerance(m), atol: tolerance(m) * scale, message, file: file, line: line)
        return error(a, b)
    }

    /// The worst errors seen, by tile size, printed at the end of a test.
    func report(_ what: String, _ worst: [Int: Float]) {
        for m in worst.keys.sorted() { print("Winograd \(what) F(\(m)x\(m), 3x3): worst error \(worst[m]!) of the largest value") }
    }

    // MARK: Which shapes

    func testTilesApplyToThreeByThreeStrideOneWithPaddingAMultipleOfTheDilation() {
        func tiles(_ g: Conv2dGeometry, h: Int = 9, w: Int = 9) -> [Int] {
            CPUBackend.winogradTiles(CPUBackend.ConvShape(n: 2, inChannels: 4, height: h, width: w, outChannels: 3,
                                                          outHeight: g.outputHeight(h), outWidth: g.outputWidth(w), geometry: g))
        }
        for c in cases { XCTAssertEqual(CPUBackend.winogradTiles(shape(c)), [2, 4], "\(c.geometry)") }
        XCTAssertEqual(tiles(Conv2dGeometry(kernel: 3, stride: 2, padding: 1)), [], "stride 2")
        XCTAssertEqual(tiles(Conv2dGeometry(kernelH: 3, kernelW: 3, strideH: 1, strideW: 2, padH: 1, padW: 1, dilationH: 1, dilationW: 1)),
                       [], "stride 2 across")
        XCTAssertEqual(tiles(Conv2dGeometry(kernel: 1)), [], "1x1")
        XCTAssertEqual(tiles(Conv2dGeometry(kernel: 5, padding: 2)), [], "5x5")
        XCTAssertEqual(tiles(Conv2dGeometry(kernelH: 3, kernelW: 1, strideH: 1, strideW: 1, padH: 1, padW: 0, dilationH: 1, dilationW: 1)),
                       [], "3x1")
        XCTAssertEqual(tiles(Conv2dGeometry(kernel: 3, padding: 1, dilation: 2)), [], "padding 1, dilation 2")
        XCTAssertEqual(tiles(Conv2dGeometry(kernel: 3, padding: 3, dilation: 2)), [], "padding 3, dilation 2")
        XCTAssertEqual(tiles(Conv2dGeometry(kernelH: 3, kernelW: 3, strideH: 1, strideW: 1, padH: 2, padW: 1, dilationH: 2, dilationW: 2)),
                       [], "padding 1 across, dilation 2")
    }

    // MARK: The transforms

    /// Eight random tiles at once: `A^T [(G g G^T) ⊙ (B^T d B)] A` is the correlation of d with g,
    /// with the kernel transform `weight` (Swift) and the tiles' matrices `B^T` and `A^T` as the C
    /// loops apply them (CPUKernelPathTests checks those loops against the same matrices); and
    /// `weightGradient` is the adjoint of `weight` (`<weight(g), U> == <g, weightGradient(U)>`).
    func testTransformsComputeTheCorrelationOfATileAndTheirAdjoints() {
        var rng = SeededRandom(seed: 5)
        typealias Lanes = WinogradTransform.Lanes
        func random(_ count: Int) -> [Lanes] { (0..<count).map { _ in Lanes(rng.floats(8)) } }
        func dot(_ a: [Lanes], _ b: [Lanes]) -> Lanes { zip(a, b).map { $0 * $1 }.reduce(Lanes(), +) }
        /// L X R^T for an `rows x n` matrix L, X `n x n` (row stride `alpha`) and an `cols x n` R.
        func sandwich(_ l: [[Float]], _ x: [Lanes], _ r: [[Float]], alpha: Int) -> [Lanes] {
            var out = [Lanes](repeating: Lanes(), count: alpha * alpha)
            for i in 0..<l.count {
                for j in 0..<r.count {
                    for a in 0..<l[i].count { for b in 0..<r[j].count { out[i * alpha + j] += l[i][a] * r[j][b] * x[a * alpha + b] } }
                }
            }
            return out
        }
        let bt: [Int: [[Float]]] = [2: [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]],
                                    4: [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0], [0, -2, -1, 2, 1, 0],
                                        [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]]]
        let at: [Int: [[Float]]] = [2: [[1, 1, 1, 0], [0, 1, -1, -1]],
                                    4: [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]]]
        for m in [2, 4] {
            let t = WinogradTransform(m: m), alpha = t.alpha, area = alpha * alpha
            var u = [Lanes](repeating: Lanes(), count: area)
            let input = random(area), kernel = random(9)
            for i in 0..<3 { for j in 0..<3 { u[i * alpha + j] = kernel[i * 3 + j] } }
            u.withUnsafeMutableBufferPointer { t.weight($0.baseAddress!) }
            let product = zip(u, sandwich(bt[m]!, input, bt[m]!, alpha: alpha)).map { $0 * $1 }
            let output = sandwich(at[m]!, product, at[m]!, alpha: alpha)
            for i in 0..<m {
                for j in 0..<m {
                    var direct = Lanes()
                    for a in 0..<3 { for b in 0..<3 { direct += input[(i + a) * alpha + j + b] * kernel[a * 3 + b] } }
                    let got = output[i * alpha + j]
                    for lane in 0..<8 {
                        XCTAssertEqual(got[lane], direct[lane], accuracy: 1e-4 * max(1, abs(direct[lane])), "F(\(m)) output (\(i), \(j))")
                    }
                }
            }
            let big = random(area)
            var kernelGradient = big
            kernelGradient.withUnsafeMutableBufferPointer { t.weightGradient($0.baseAddress!) }
            var transformed = [Lanes](repeating: Lanes(), count: area)
            for i in 0..<3 { for j in 0..<3 { transformed[i * alpha + j] = kernel[i * 3 + j] } }
            transformed.withUnsafeMutableBufferPointer { t.weight($0.baseAddress!) }
            var kernelSide = Lanes()
            for i in 0..<3 { for j in 0..<3 { kernelSide += kernel[i * 3 + j] * kernelGradient[i * alpha + j] } }
            let tileSide = dot(transformed, big)
            for lane in 0..<8 {
                XCTAssertEqual(kernelSide[lane], tileSide[lane], accuracy: 1e-4 * max(1, abs(tileSide[lane])), "F(\(m)) G, G^T")
            }
        }
    }

    // MARK: The three operations against the backend's other algorithms

    func testForwardMatchesTheOtherAlgorithms() throws {
        var rng = SeededRandom(seed: 21)
        var worst: [Int: Float] = [:]
        for c in cases {
            let g = c.geometry, outShape = [c.n, c.cout, g.outputHeight(c.h), g.outputWidth(c.w)]
            // The input is a channel slice of a wider tensor, and so is the output, as inside a dense block.
            let whole = try device.tensor(rng.floats(c.n * (c.cin + 2) * c.h * c.w), shape: [c.n, c.cin + 2, c.h, c.w])
            let input = whole.channels(1..<1 + c.cin)
            let weight = try device.tensor(rng.floats(c.cout * c.cin * 9), shape: [c.cout, c.cin, 3, 3])
            let bias = c.bias ? try device.tensor(rng.floats(c.cout), shape: [c.cout]) : nil
            let bn = try norm(c.cin, &rng)
            let s = shape(c)
            for inputNorm in [nil, bn] {
                let reference = try device.makeTensor(outShape)
                try cpu.conv2dForward(input: input, weight: weight, bias: bias, output: reference, geometry: g, inputNorm: inputNorm)
                let expected = try device.read(reference)
                for m in CPUBackend.winogradTiles(s) {
                    let block = try device.tensor(rng.floats(c.n * (c.cout + 3) * outShape[2] * outShape[3]),
                                                  shape: [c.n, c.cout + 3, outShape[2], outShape[3]])
                    let out = block.channels(2..<2 + c.cout)
                    try cpu.conv2dForwardWinograd(s, tile: m, input: cpu.convInput(s, x: cpu.pointer(input), xStride: input.sampleStride, norm: inputNorm),
                                                  w: cpu.dense(weight), bias: bias.map { cpu.dense($0) }, y: cpu.pointer(out),
                                                  yStride: out.sampleStride, pool: device.pool)
                    let e = check(try device.read(out), expected, m: m, "forward \(inputNorm == nil ? "" : "BN-ReLU ")\(name(c, m))")
                    worst[m] = max(worst[m] ?? 0, e)
                }
            }
        }
        report("forward", worst)
    }

    func testInputGradientMatchesTheOtherAlgorithms() throws {
        var rng = SeededRandom(seed: 22)
        var worst: [Int: Float] = [:]
        for c in cases {
            let g = c.geometry, outShape = [c.n, c.cout, g.outputHeight(c.h), g.outputWidth(c.w)]
            let weight = try device.tensor(rng.floats(c.cout * c.cin * 9), shape: [c.cout, c.cin, 3, 3])
            let gradOutput = try device.tensor(rng.floats(outShape.reduce(1, *)), shape: outShape)
            let prior = rng.floats(c.n * (c.cin + 2) * c.h * c.w)
            let s = shape(c)
            for accumulate in [false, true] {
                let referenceBlock = try device.tensor(prior, shape: [c.n, c.cin + 2, c.h, c.w])
                let reference = referenceBlock.channels(1..<1 + c.cin)
                try cpu.conv2dBackwardData(gradOutput: gradOutput, weight: weight, gradInput: reference, geometry: g, accumulate: accumulate)
                let expected = try device.read(reference)
                for m in CPUBackend.winogradTiles(s) {
                    let block = try device.tensor(prior, shape: [c.n, c.cin + 2, c.h, c.w])
                    let gradInput = block.channels(1..<1 + c.cin)
                    try cpu.conv2dBackwardDataWinograd(s, tile: m, gy: cpu.pointer(gradOutput), gyStride: gradOutput.sampleStride,
                                                       w: cpu.dense(weight), gx: cpu.pointer(gradInput), gxStride: gradInput.sampleStride,
                                                       accumulate: accumulate, pool: device.pool)
                    let e = check(try device.read(gradInput), expected, m: m, "input gradient\(accumulate ? " (accumulated)" : "") \(name(c, m))")
                    worst[m] = max(worst[m] ?? 0, e)
                    // The channels around the slice are left alone.
                    XCTAssertEqual(try device.read(block.channels(0..<1)), try device.read(referenceBlock.channels(0..<1)), name(c, m))
                }
            }
        }
        report("input gradient", worst)
    }

    func testWeightGradientMatchesTheOtherAlgorithms() throws {
        var rng = SeededRandom(seed: 23)
        var worst: [Int: Float] = [:]
        for c in cases {
            let g = c.geometry, outShape = [c.n, c.cout, g.outputHeight(c.h), g.outputWidth(c.w)]
            let whole = try device.tensor(rng.floats(c.n * (c.cin + 2) * c.h * c.w), shape: [c.n, c.cin + 2, c.h, c.w])
            let input = whole.channels(1..<1 + c.cin)
            let gradOutput = try device.tensor(rng.floats(outShape.reduce(1, *)), shape: outShape)
            let prior = rng.floats(c.cout * c.cin * 9)
            let bn = try norm(c.cin, &rng)
            let s = shape(c)
            for inputNorm in [nil, bn] {
                let reference = try device.tensor(prior, shape: [c.cout, c.cin, 3, 3])
                try cpu.conv2dBackwardWeight(input: input, gradOutput: gradOutput, gradWeight: reference, gradBias: nil, geometry: g,
                                             inputNorm: inputNorm)
                let expected = try device.read(reference)
                for m in CPUBackend.winogradTiles(s) {
                    let gradWeight = try device.tensor(prior, shape: [c.cout, c.cin, 3, 3])
                    try cpu.conv2dBackwardWeightWinograd(s, tile: m, input: cpu.convInput(s, x: cpu.pointer(input), xStride: input.sampleStride,
                                                                                          norm: inputNorm),
                                                         gy: cpu.pointer(gradOutput), gyStride: gradOutput.sampleStride,
                                                         gw: cpu.dense(gradWeight), pool: device.pool)
                    let e = check(try device.read(gradWeight), expected, m: m,
                                  "weight gradient (accumulated) \(inputNorm == nil ? "" : "BN-ReLU ")\(name(c, m))")
                    worst[m] = max(worst[m] ?? 0, e)
                }
            }
        }
        report("weight gradient", worst)
    }

    // MARK: Threads and memory

    /// The weight gradient's per-thread sums are added in a fixed order: repeated calls give the
    /// same bits, with several threads at work.
    func testWeightGradientIsDeterministic() throws {
        var rng = SeededRandom(seed: 24)
        let c = Case(n: 4, cin: 16, h: 15, w: 13, cout: 12, geometry: Conv2dGeometry(kernel: 3, padding: 1), bias: false)
        let s = shape(c)
        let input = try device.tensor(rng.floats(c.n * c.cin * c.h * c.w), shape: [c.n, c.cin, c.h, c.w])
        let gradOutput = try device.tensor(rng.floats(c.n * c.cout * c.h * c.w), shape: [c.n, c.cout, c.h, c.w])
        for m in [2, 4] {
            let area = (m + 2) * (m + 2), tiles = c.n * CPUBackend.WinogradTiling(s, m: m).tilesPerSample
            XCTAssertGreaterThan(cpu.winogradChunks(tiles: tiles, area: area, channels: c.cin, cost: area * c.cin * c.cout).threads, 1,
                                 "F(\(m)): one thread")
            var results: [[Float]] = []
            for _ in 0..<3 {
                let gradWeight = try device.zeros([c.cout, c.cin, 3, 3])
                try cpu.conv2dBackwardWeightWinograd(s, tile: m, input: ConvInput(x: cpu.pointer(input), stride: input.sampleStride,
                                                                                  channels: c.cin, plane: s.inPlane),
                                                     gy: cpu.pointer(gradOutput), gyStride: gradOutput.sampleStride,
                                                     gw: cpu.dense(gradWeight), pool: device.pool)
                results.append(try device.read(gradWeight))
            }
            XCTAssertEqual(results[1], results[0], "F(\(m))")
            XCTAssertEqual(results[2], results[0], "F(\(m))")
        }
    }

    /// All scratch comes from the pool and goes back to it; a repeated call allocates nothing new.
    func testScratchIsGivenBackAndReused() throws {
        var rng = SeededRandom(seed: 25)
        let c = cases[2]
        let s = shape(c), outShape = [c.n, c.cout, s.outHeight, s.outWidth]
        let input = try device.tensor(rng.floats(c.n * c.cin * c.h * c.w), shape: [c.n, c.cin, c.h, c.w])
        let weight = try device.tensor(rng.floats(c.cout * c.cin * 9), shape: [c.cout, c.cin, 3, 3])
        let output = try device.makeTensor(outShape), gradOutput = try device.tensor(rng.floats(outShape.reduce(1, *)), shape: outShape)
        let gradInput = try device.makeTensor(input.shape), gradWeight = try device.zeros(weight.shape)
        let bn = try norm(c.cin, &rng)
        func step() throws {
            for m in [2, 4] {
                let source = cpu.convInput(s, x: cpu.pointer(input), xStride: input.sampleStride, norm: bn)
                try cpu.conv2dForwardWinograd(s, tile: m, input: source, w: cpu.dense(weight), bias: nil, y: cpu.pointer(output),
                                              yStride: output.sampleStride, pool: device.pool)
                try cpu.conv2dBackwardDataWinograd(s, tile: m, gy: cpu.pointer(gradOutput), gyStride: gradOutput.sampleStride,
                                                   w: cpu.dense(weight), gx: cpu.pointer(gradInput), gxStride: gradInput.sampleStride,
                                                   accumulate: false, pool: device.pool)
                try cpu.conv2dBackwardWeightWinograd(s, tile: m, input: source, gy: cpu.pointer(gradOutput), gyStride: gradOutput.sampleStride,
                                                     gw: cpu.dense(gradWeight), pool: device.pool)
            }
        }
        let before = device.pool.statistics
        try step()
        let first = device.pool.statistics
        XCTAssertEqual(first.liveBytes, before.liveBytes, "scratch was not given back")
        try step()
        XCTAssertEqual(device.pool.statistics.deviceAllocations, first.deviceAllocations, "a repeated step allocated device memory")
        XCTAssertEqual(device.pool.statistics.liveBytes, before.liveBytes)
    }
}
