import CLTrainCPUKernels
import CLTrainRandom
import XCTest
@testable import CLTrainRuntime

/// The loops of `CLTrainCPUKernels` on every path this CPU runs (baseline, AVX2 + FMA,
/// AVX-512), each against a plain scalar reference in Double (sums, gradients) or in unfused
/// Float (the affine, which every path writes bitwise), at lengths around the vector widths.
final class CPUKernelPathTests: XCTestCase {
    let lengths = [0, 1, 4, 7, 8, 9, 12, 31, 33, 784]
    /// Runs per call: one, and several apart with gaps between them (which hold NaNs that no loop may read).
    let runCounts = [1, 3]

    /// The paths this CPU runs, with their names.
    var paths: [(name: String, kernels: cltrain_cpu_kernels_t)] {
        let all: [(String, cltrain_cpu_kernels_path_t)] = [
            ("baseline", CLTRAIN_CPU_KERNELS_BASELINE), ("avx2", CLTRAIN_CPU_KERNELS_AVX2), ("avx512", CLTRAIN_CPU_KERNELS_AVX512),
        ]
        return all.compactMap { name, path in cltrain_cpu_kernels_for_path(path).map { (name, $0.pointee) } }
    }

    func testTheActivePathIsOneThisCPURunsAndTheBackendNamesIt() {
        let active = cltrain_cpu_kernels_active_path()
        XCTAssertNotNil(cltrain_cpu_kernels_for_path(active))
        XCTAssertNotNil(cltrain_cpu_kernels_for_path(CLTRAIN_CPU_KERNELS_BASELINE))
        XCTAssertTrue(["baseline", "avx2", "avx512"].contains(SIMDReduction.path))
        XCTAssertTrue(CPUBackend().info.driver.hasSuffix(", kernels \(SIMDReduction.path)"))
        #if arch(x86_64)
        // A path above the baseline where the CPU has AVX2 (all this project's machines).
        if ProcessInfo.processInfo.environment["CLTRAIN_CPU_KERNELS"] == nil,
           let flags = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8), flags.contains(" avx2 ") {
            XCTAssertNotEqual(SIMDReduction.path, "baseline")
        }
        #endif
    }

    /// |error| allowed for a float sum of `count` terms whose magnitudes add to `magnitude`.
    func tolerance(_ count: Int, _ magnitude: Double) -> Double { Double(count + 4) * 1.2e-7 * magnitude + 1e-30 }

    /// `runs` runs of `values.count / runs` floats laid out `stride` apart (the run plus a gap of
    /// three NaNs): the layout the loops read, and the stride.
    func spread(_ values: [Float], runs: Int) -> (floats: [Float], stride: Int) {
        let n = values.count / max(runs, 1), stride = n + 3
        var floats = [Float](repeating: .nan, count: runs * stride)
        for r in 0..<runs { for i in 0..<n { floats[r * stride + i] = values[r * n + i] } }
        return (floats, stride)
    }

    /// The other way: the runs' floats of a spread layout, gaps dropped.
    func gathered(_ floats: [Float], n: Int, runs: Int, stride: Int) -> [Float] {
        (0..<runs).flatMap { r in floats[r * stride ..< r * stride + n] }
    }

    func testSumsAndSquaredDeviations() {
        var random = SeededRandom(seed: 11)
        for (name, k) in paths {
            for n in lengths {
                for runs in runCounts {
                    let p = random.uniforms(n * runs, -3, 5)
                    let (floats, stride) = spread(p, runs: runs)
                    let sum = k.sum(floats, n, runs, stride)
                    let exact = p.reduce(0.0) { $0 + Double($1) }
                    XCTAssertEqual(sum, exact, accuracy: tolerance(n * runs, p.reduce(0.0) { $0 + abs(Double($1)) }),
                                   "\(name) sum n \(n) runs \(runs)")

                    let mean = Float(n == 0 ? 0 : exact / Double(n * runs))
                    let squares = k.squared_deviations(floats, n, runs, stride, mean)
                    let exactSquares = p.reduce(0.0) { $0 + (Double($1) - Double(mean)) * (Double($1) - Double(mean)) }
                    XCTAssertEqual(squares, exactSquares, accuracy: tolerance(n * runs, exactSquares) * 2,
                                   "\(name) squares n \(n) runs \(runs)")
                }
            }
        }
    }

    /// x * scale + shift rounded twice (no fused multiply-add), the ReLU as max(v, 0) keeping a NaN.
    func affine(_ x: Float, _ scale: Float, _ shift: Float, relu: Bool) -> Float {
        let product = x * scale
        let v = product + shift
        return relu && v <= 0 ? 0 : v
    }

    func testAffineIsBitwiseTheUnfusedScalarOnEveryPathInPlaceOrNotAndKeepsNaNThroughTheReLU() {
        var random = SeededRandom(seed: 12)
        let scale: Float = 1.37, shift: Float = -0.29
        for (name, k) in paths {
            for n in lengths {
                for runs in runCounts {
                    var p = random.uniforms(n * runs, -2, 2)
                    if n > 3 { p[n / 2] = .nan; p[n - 1] = -.nan; p[0] = shift / -scale }
                    let (floats, stride) = spread(p, runs: runs)
                    for relu in [false, true] {
                        let expected = p.map { affine($0, scale, shift, relu: relu) }
                        var q = [Float](repeating: 7, count: floats.count)
                        k.affine(floats, stride, &q, stride, n, runs, scale, shift, relu)
                        var inPlace = floats
                        inPlace.withUnsafeMutableBufferPointer { k.affine($0.baseAddress!, stride, $0.baseAddress!, stride, n, runs, scale, shift, relu) }
                        let written = gathered(q, n: n, runs: runs, stride: stride), writtenInPlace = gathered(inPlace, n: n, runs: runs, stride: stride)
                        for i in 0..<n * runs {
                            let why = "\(name) relu \(relu) n \(n) runs \(runs) at \(i)"
                            if expected[i].isNaN {
                                XCTAssertTrue(written[i].isNaN && writtenInPlace[i].isNaN, why)
                            } else {
                                XCTAssertEqual(written[i].bitPattern, expected[i].bitPattern, why)
                                XCTAssertEqual(writtenInPlace[i].bitPattern, expected[i].bitPattern, why)
                            }
                            if relu { XCTAssertFalse(written[i] < 0, why) }
                        }
                        // The gaps between runs are left as they were.
                        for r in 0..<runs { for i in n..<stride { XCTAssertEqual(q[r * stride + i], 7, "\(name) gap n \(n) runs \(runs)") } }
                    }
                }
            }
        }
    }

    /// dy, x, a ReLU output as mask (zeros, positives), and a NaN in dy where the mask is 0 (masked
    /// out as 0, never multiplied).
    func gradientInputs(_ n: Int, _ random: inout SeededRandom) -> (dy: [Float], x: [Float], mask: [Float]) {
        var dy = random.uniforms(n, -1, 1)
        let x = random.uniforms(n, -2, 3)
        var mask = random.uniforms(n, -1, 1).map { max($0, 0) }
        if n > 2 { mask[1] = 0; dy[1] = .nan }
        return (dy, x, mask)
    }

    /// dy with its NaN replaced where `mask` keeps it (left where the mask drops it).
    func kept(_ dy: [Float], _ mask: [Float]) -> [Float] { zip(dy, mask).map { $0.isNaN && $1 > 0 ? 0.3 : $0 } }

    func testGradientSumsWithoutMaskWithAMaskAndWithTheMaskOfAnAffine() {
        var random = SeededRandom(seed: 13)
        let scale: Float = 0.8, shift: Float = -0.3, mean: Float = 0.4
        for (name, k) in paths {
            for n in lengths {
                for runs in runCounts {
                    let (dy, x, mask) = gradientInputs(n * runs, &random)
                    let affineMask = x.map { affine($0, scale, shift, relu: true) }
                    let plainDy = dy.map { $0.isNaN ? 0.5 : $0 }
                    let (xs, stride) = spread(x, runs: runs), masks = spread(mask, runs: runs).floats
                    for variant in ["none", "mask", "affine"] {
                        var sums: [Double] = [0, 0]
                        let used: [Float]
                        switch variant {
                        case "none":
                            used = plainDy
                            k.gradient_sums(spread(plainDy, runs: runs).floats, stride, xs, stride, n, runs, mean, nil, 0, &sums)
                        case "mask":
                            used = zip(dy, mask).map { $1 > 0 ? $0 : 0 }
                            k.gradient_sums(spread(dy, runs: runs).floats, stride, xs, stride, n, runs, mean, masks, stride, &sums)
                        default:
                            let dy = kept(dy, affineMask)
                            used = zip(dy, affineMask).map { $1 > 0 ? $0 : 0 }
                            k.gradient_sums_mask_affine(spread(dy, runs: runs).floats, stride, xs, stride, n, runs, mean, scale, shift, &sums)
                        }
                        let terms = zip(used, x).map { Double($0) * (Double($1) - Double(mean)) }
                        let why = "\(name) mask \(variant) n \(n) runs \(runs)"
                        XCTAssertEqual(sums[0], used.reduce(0.0) { $0 + Double($1) },
                                       accuracy: tolerance(n * runs, used.reduce(0.0) { $0 + abs(Double($1)) }), why)
                        XCTAssertEqual(sums[1], terms.reduce(0, +), accuracy: tolerance(n * runs, terms.reduce(0.0) { $0 + abs($1) }) * 2, why)
                    }
                }
            }
        }
    }

    func testInputGradientWithoutMaskWithAMaskAndWithTheMaskOfAnAffineAccumulatingOrNot() {
        var random = SeededRandom(seed: 14)
        let a: Float = 0.7, b: Float = -0.45, c: Float = 0.12, scale: Float = 1.1, shift: Float = 0.2
        for (name, k) in paths {
            for n in lengths {
                for runs in runCounts {
                    let (dy, x, mask) = gradientInputs(n * runs, &random)
                    let affineMask = x.map { affine($0, scale, shift, relu: true) }
                    let plainDy = dy.map { $0.isNaN ? -0.25 : $0 }
                    let initial = random.uniforms(n * runs, -1, 1)
                    let (xs, stride) = spread(x, runs: runs), masks = spread(mask, runs: runs).floats
                    for variant in ["none", "mask", "affine"] {
                        for accumulate in [false, true] {
                            var dx = spread(initial, runs: runs).floats
                            let used: [Float]
                            switch variant {
                            case "none":
                                used = plainDy
                                k.input_gradient(spread(plainDy, runs: runs).floats, stride, xs, stride, &dx, stride, n, runs, a, b, c, nil, 0, accumulate)
                            case "mask":
                                used = zip(dy, mask).map { $1 > 0 ? $0 : 0 }
                                k.input_gradient(spread(dy, runs: runs).floats, stride, xs, stride, &dx, stride, n, runs, a, b, c, masks, stride,
                                                 accumulate)
                            default:
                                let dy = kept(dy, affineMask)
                                used = zip(dy, affineMask).map { $1 > 0 ? $0 : 0 }
                                k.input_gradient_mask_affine(spread(dy, runs: runs).floats, stride, xs, stride, &dx, stride, n, runs, a, b, c,
                                                             scale, shift, accumulate)
                            }
                            let written = gathered(dx, n: n, runs: runs, stride: stride)
                            for i in 0..<n * runs {
                                let base = accumulate ? Double(initial[i]) : 0
                                let parts = [base, Double(a) * Double(used[i]), Double(b) * Double(x[i]), Double(c)]
                                XCTAssertEqual(Double(written[i]), parts.reduce(0, +), accuracy: parts.reduce(0.0) { $0 + abs($1) } * 4.8e-7,
                                               "\(name) mask \(variant) accumulate \(accumulate) n \(n) runs \(runs) at \(i)")
                            }
                            for r in 0..<runs { for i in n..<stride { XCTAssertTrue(dx[r * stride + i].isNaN, "\(name) gap n \(n) runs \(runs)") } }
                        }
                    }
                }
            }
        }
    }

    /// The direct convolution loops (forward and weight gradient) on every path against a Double
    /// reference of their formula, with two register blocks of output channels, a tap count that
    /// is not a multiple of three, and two samples.
    func testDirectConvolutionLoops() {
        var random = SeededRandom(seed: 13)
        for (name, k) in paths {
            let block = k.conv_block, span = k.conv_span
            let cin = 5, cout = 2 * block, positions = 3 * span, samples = 2
            for offsets in [[0, 1, 2, 9, 10, 11, 18, 19, 20], [0, 3, 7, 12], [4]] {
                let taps = offsets.count, xStride = positions + offsets.max()! + 3
                let x = random.uniforms(samples * cin * xStride), w = random.uniforms(cin * taps * cout)
                var y = [Float](repeating: .nan, count: cout * positions)
                k.direct_conv(x, xStride, cin, w, offsets, taps, &y, positions, cout, positions)
                for co in 0..<cout {
                    for q in 0..<positions {
                        var sum = 0.0, magnitude = 0.0
                        for ci in 0..<cin {
                            for t in 0..<taps {
                                let term = Double(w[(ci * taps + t) * cout + co]) * Double(x[ci * xStride + q + offsets[t]])
                                sum += term
                                magnitude += abs(term)
                            }
                        }
                        XCTAssertEqual(Double(y[co * positions + q]), sum, accuracy: tolerance(cin * taps, magnitude),
                                       "\(name) direct_conv taps \(taps) co \(co) q \(q)")
                    }
                }

                let dy = random.uniforms(samples * cout * positions), initial = random.uniforms(cin * taps * cout)
                var dw = initial
                k.direct_conv_weight(x, cin * xStride, xStride, cin, offsets, taps, dy, cout * positions, positions, cout, positions,
                                     samples, &dw)
                for ci in 0..<cin {
                    for t in 0..<taps {
                        for co in 0..<cout {
                            var sum = Double(initial[(ci * taps + t) * cout + co]), magnitude = abs(sum)
                            for s in 0..<samples {
                                for q in 0..<positions {
                                    let term = Double(dy[s * cout * positions + co * positions + q])
                                        * Double(x[s * cin * xStride + ci * xStride + q + offsets[t]])
                                    sum += term
                                    magnitude += abs(term)
                                }
                            }
                            XCTAssertEqual(Double(dw[(ci * taps + t) * cout + co]), sum, accuracy: tolerance(samples * positions, magnitude),
                                           "\(name) direct_conv_weight taps \(taps) ci \(ci) t \(t) co \(co)")
                        }
                    }
                }
            }
        }
    }

    /// Winograd's output transform (A^T M A, scattered into the image) and output-gradient transform
    /// (A dY A^T, gathered from it) on every path against Double references, for F(2x2) and
    /// F(4x4): groups of eight whole tiles (the four-floats-at-a-time path), tiles cut by the
    /// image's edge, a last group of fewer than eight, two samples, dilation 1 and 2. No multiply-add
    /// is fused, so every path writes the same bits.
    func testWinogradOutputTransforms() {
        var random = SeededRandom(seed: 17)
        let at: [Int: [[Double]]] = [2: [[1, 1, 1, 0], [0, 1, -1, -1]],
                                     4: [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]]]
        for m in [2, 4] {
            for dilation in [1, 2] {
                let height = 13, width = 37, channels = 3, plane = height * width, samples = 2
                let tiling = CPUBackend.WinogradTiling(m: m, height: height, width: width, outHeight: height, outWidth: width,
                                                       padH: dilation, padW: dilation, dilationH: dilation, dilationW: dilation)
                let tiles = tiling.tilesPerSample + 5, ld = (tiles + 7) / 8 * 8, alpha = m + 2, area = alpha * alpha
                let matrix = at[m]!
                let product = random.uniforms(area * channels * ld), bias = random.uniforms(channels)
                let initial = random.uniforms(samples * channels * plane), gy = random.uniforms(samples * channels * plane)
                var first: (y: [Float], dm: [Float])?
                for (name, k) in paths {
                    let label = "\(name) F(\(m)x\(m)) dilation \(dilation)"
                    for accumulate in [false, true] {
                        var y = initial
                        tiling.withPlacement(first: 0, count: tiles, sampleStride: channels * plane) { origins, rows, cols in
                            k.winograd_output(product, ld, channels, m, tiles, origins, rows, cols, plane, dilation * width, dilation, bias,
                                              accumulate, &y)
                        }
                        var expected = initial.map(Double.init)
                        for j in 0..<tiles {
                            let sample = j / tiling.tilesPerSample, local = j % tiling.tilesPerSample
                            let row0 = tiling.rowOrigins[local / tiling.colOrigins.count], col0 = tiling.colOrigins[local % tiling.colOrigins.count]
                            for ch in 0..<channels {
                                for i in 0..<m where row0 + i * dilation < height {
                                    for c in 0..<m where col0 + c * dilation < width {
                                        var sum = Double(bias[ch])
                                        for a in 0..<alpha {
                                            for b in 0..<alpha {
                                                sum += matrix[i][a] * Double(product[((a * alpha + b) * channels + ch) * ld + j]) * matrix[c][b]
                                            }
                                        }
                                        let index = (sample * channels + ch) * plane + (row0 + i * dilation) * width + col0 + c * dilation
                                        expected[index] = (accumulate ? expected[index] : 0) + sum
                                    }
                                }
                            }
                        }
                        for i in y.indices where abs(Double(y[i]) - expected[i]) > 1e-4 * max(1, abs(expected[i])) {
                            XCTFail("\(label) winograd_output accumulate \(accumulate): y[\(i)] = \(y[i]), expected \(expected[i])")
                            break
                        }
                        if !accumulate {
                            if let first { XCTAssertEqual(y, first.y, "\(label) winograd_output differs from \(paths[0].name)") }
                            var dm = [Float](repeating: .nan, count: area * channels * ld)
                            tiling.withPlacement(first: 0, count: tiles, sampleStride: channels * plane) { origins, rows, cols in
                                k.winograd_output_gradient(gy, channels, m, tiles, origins, rows, cols, plane, dilation * width, dilation, &dm, ld)
                            }
                            for j in 0..<ld {
                                let sample = j / tiling.tilesPerSample, local = j % tiling.tilesPerSample
                                let row0 = tiling.rowOrigins[local / tiling.colOrigins.count], col0 = tiling.colOrigins[local % tiling.colOrigins.count]
                                for ch in 0..<channels {
                                    for a in 0..<alpha {
                                        for b in 0..<alpha {
                                            var sum = 0.0
                                            for i in 0..<m where j < tiles && row0 + i * dilation < height {
                                                for c in 0..<m where col0 + c * dilation < width {
                                                    let index = (sample * channels + ch) * plane + (row0 + i * dilation) * width + col0 + c * dilation
                                                    sum += matrix[i][a] * Double(gy[index]) * matrix[c][b]
                                                }
                                            }
                                            let got = dm[((a * alpha + b) * channels + ch) * ld + j]
                                            XCTAssertEqual(Double(got), sum, accuracy: 1e-4 * max(1, abs(sum)),
                                                           "\(label) winograd_output_gradient tile \(j) channel \(ch) value \(a), \(b)")
                                        }
                                    }
                                }
                            }
                            if let first { XCTAssertEqual(dm, first.dm, "\(label) winograd_output_gradient differs from \(paths[0].name)") }
                            if first == nil { first = (y, dm) }
                        }
                    }
                }
            }
        }
    }

    /// Winograd's input transform (B^T d B, d gathered from the image through a batch norm + ReLU
    /// or as it lies, zero in the padding) on every path against a Double reference, for F(2x2)
    /// and F(4x4), dilation 1 and 2, padded and not (whole groups of F(4x4) tiles, read four
    /// floats at a time, occur unpadded), two samples and a short last group; every path writes
    /// the same bits.
    func testWinogradInputTransform() {
        var random = SeededRandom(seed: 19)
        let bt: [Int: [[Double]]] = [2: [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]],
                                     4: [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0], [0, -2, -1, 2, 1, 0],
                                         [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]]]
        for m in [2, 4] {
            for (dilation, pad) in [(1, 1), (1, 0), (2, 2), (2, 0)] {
                let height = 13, width = 37, channels = 3, plane = height * width, samples = 2
                let outHeight = height + 2 * pad - 2 * dilation, outWidth = width + 2 * pad - 2 * dilation
                let tiling = CPUBackend.WinogradTiling(m: m, height: height, width: width, outHeight: outHeight, outWidth: outWidth,
                                                       padH: pad, padW: pad, dilationH: dilation, dilationW: dilation)
                let tiles = tiling.tilesPerSample + 5, ld = (tiles + 7) / 8 * 8, alpha = m + 2, area = alpha * alpha
                let matrix = bt[m]!
                let x = random.uniforms(samples * channels * plane)
                let scales = random.uniforms(channels).map { $0 + 1 }, shifts = random.uniforms(channels)
                for normalized in [false, true] {
                    var first: [Float]?
                    for (name, k) in paths {
                        let label = "\(name) F(\(m)x\(m)) dilation \(dilation) pad \(pad) normalized \(normalized)"
                        var v = [Float](repeating: .nan, count: area * channels * ld)
                        tiling.withInputPlacement(first: 0, count: tiles, sampleStride: channels * plane) { origins, rows, cols in
                            k.winograd_input(x, channels, plane, m, tiles, origins, rows, cols, dilation * width, dilation,
                                             normalized ? scales : nil, normalized ? shifts : nil, &v, ld)
                        }
                        for j in 0..<ld {
                            let sample = j / tiling.tilesPerSample, local = j % tiling.tilesPerSample
                            let row0 = tiling.rowOrigins[local / tiling.colOrigins.count] - pad
                            let col0 = tiling.colOrigins[local % tiling.colOrigins.count] - pad
                            for ch in 0..<channels {
                                var d = [[Double]](repeating: [Double](repeating: 0, count: alpha), count: alpha)
                                for i in 0..<alpha {
                                    for c in 0..<alpha {
                                        let row = row0 + i * dilation, col = col0 + c * dilation
                                        guard j < tiles, row >= 0, row < height, col >= 0, col < width else { continue }
                                        let value = x[(sample * channels + ch) * plane + row * width + col]
                                        d[i][c] = Double(normalized ? max(0, value * scales[ch] + shifts[ch]) : value)
                                    }
                                }
                                for a in 0..<alpha {
                                    for b in 0..<alpha {
                                        var sum = 0.0
                                        for i in 0..<alpha { for c in 0..<alpha { sum += matrix[a][i] * d[i][c] * matrix[b][c] } }
                                        let got = v[((a * alpha + b) * channels + ch) * ld + j]
                                        XCTAssertEqual(Double(got), sum, accuracy: 1e-4 * max(1, abs(sum)),
                                                       "\(label) winograd_input tile \(j) channel \(ch) value \(a), \(b)")
                                    }
                                }
                            }
                        }
                        if let first { XCTAssertEqual(v, first, "\(label) differs from \(paths[0].name)") } else { first = v }
                    }
                }
            }
        }
    }

    func testThisMachineRunsEveryPath() throws {
        #if arch(x86_64)
        guard let flags = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { throw XCTSkip("no /proc/cpuinfo") }
        let names = paths.map(\.name)
        if flags.contains(" avx2 "), flags.contains(" fma ") { XCTAssertTrue(names.contains("avx2"), "\(names)") }
        if flags.contains(" avx512bw ") { XCTAssertTrue(names.contains("avx512"), "\(names)") }
        #else
        throw XCTSkip("x86-64 only")
        #endif
    }
}
