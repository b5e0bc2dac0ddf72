import CLTrainCPUKernels
import CLTrainRandom
import XCTest
@testable import CLTrainRuntime

/// The batch-norm loops of `CLTrainCPUKernels` on every path this CPU runs (baseline, AVX2 + FMA,
/// AVX-512), each against a plain scalar reference in Double (sums, gradients) or in unfused
/// Float (the affine, which every path writes bitwise), at lengths around the vector widths.
final class CPUKernelPathTests: XCTestCase {
    let lengths = [0, 1, 7, 8, 9, 31, 33, 784]

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

    func testSumsAndSquaredDeviations() {
        var random = SeededRandom(seed: 11)
        for (name, k) in paths {
            for n in lengths {
                let p = random.uniforms(n, -3, 5)
                let sum = Double(k.sum(p, n))
                let exact = p.reduce(0.0) { $0 + Double($1) }
                XCTAssertEqual(sum, exact, accuracy: tolerance(n, p.reduce(0.0) { $0 + abs(Double($1)) }), "\(name) sum n \(n)")

                let mean = Float(n == 0 ? 0 : exact / Double(n))
                let squares = Double(k.squared_deviations(p, n, mean))
                let exactSquares = p.reduce(0.0) { $0 + (Double($1) - Double(mean)) * (Double($1) - Double(mean)) }
                XCTAssertEqual(squares, exactSquares, accuracy: tolerance(n, exactSquares) * 2, "\(name) squares n \(n)")
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
                var p = random.uniforms(n, -2, 2)
                if n > 3 { p[n / 2] = .nan; p[n - 1] = -.nan; p[0] = shift / -scale }
                for relu in [false, true] {
                    let expected = p.map { affine($0, scale, shift, relu: relu) }
                    var q = [Float](repeating: 7, count: n)
                    k.affine(p, &q, n, scale, shift, relu)
                    var inPlace = p
                    inPlace.withUnsafeMutableBufferPointer { k.affine($0.baseAddress!, $0.baseAddress!, n, scale, shift, relu) }
                    for i in 0..<n {
                        let why = "\(name) relu \(relu) n \(n) at \(i)"
                        if expected[i].isNaN {
                            XCTAssertTrue(q[i].isNaN && inPlace[i].isNaN, why)
                        } else {
                            XCTAssertEqual(q[i].bitPattern, expected[i].bitPattern, why)
                            XCTAssertEqual(inPlace[i].bitPattern, expected[i].bitPattern, why)
                        }
                        if relu { XCTAssertFalse(q[i] < 0, why) }
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
                let (dy, x, mask) = gradientInputs(n, &random)
                let affineMask = x.map { affine($0, scale, shift, relu: true) }
                let plainDy = dy.map { $0.isNaN ? 0.5 : $0 }
                for variant in ["none", "mask", "affine"] {
                    var sums: [Float] = [0, 0]
                    let used: [Float]
                    switch variant {
                    case "none": used = plainDy.map { $0 }; k.gradient_sums(plainDy, x, n, mean, nil, &sums)
                    case "mask": used = zip(dy, mask).map { $1 > 0 ? $0 : 0 }; k.gradient_sums(dy, x, n, mean, mask, &sums)
                    default:
                        let dy = kept(dy, affineMask)
                        used = zip(dy, affineMask).map { $1 > 0 ? $0 : 0 }
                        k.gradient_sums_mask_affine(dy, x, n, mean, scale, shift, &sums)
                    }
                    let terms = zip(used, x).map { Double($0) * (Double($1) - Double(mean)) }
                    let why = "\(name) mask \(variant) n \(n)"
                    XCTAssertEqual(Double(sums[0]), used.reduce(0.0) { $0 + Double($1) },
                                   accuracy: tolerance(n, used.reduce(0.0) { $0 + abs(Double($1)) }), why)
                    XCTAssertEqual(Double(sums[1]), terms.reduce(0, +),
                                   accuracy: tolerance(n, terms.reduce(0.0) { $0 + abs($1) }) * 2, why)
                }
            }
        }
    }

    func testInputGradientWithoutMaskWithAMaskAndWithTheMaskOfAnAffineAccumulatingOrNot() {
        var random = SeededRandom(seed: 14)
        let a: Float = 0.7, b: Float = -0.45, c: Float = 0.12, scale: Float = 1.1, shift: Float = 0.2
        for (name, k) in paths {
            for n in lengths {
                let (dy, x, mask) = gradientInputs(n, &random)
                let affineMask = x.map { affine($0, scale, shift, relu: true) }
                let plainDy = dy.map { $0.isNaN ? -0.25 : $0 }
                let initial = random.uniforms(n, -1, 1)
                for variant in ["none", "mask", "affine"] {
                    for accumulate in [false, true] {
                        var dx = initial
                        let used: [Float]
                        switch variant {
                        case "none": used = plainDy; k.input_gradient(plainDy, x, &dx, n, a, b, c, nil, accumulate)
                        case "mask": used = zip(dy, mask).map { $1 > 0 ? $0 : 0 }; k.input_gradient(dy, x, &dx, n, a, b, c, mask, accumulate)
                        default:
                            let dy = kept(dy, affineMask)
                            used = zip(dy, affineMask).map { $1 > 0 ? $0 : 0 }
                            k.input_gradient_mask_affine(dy, x, &dx, n, a, b, c, scale, shift, accumulate)
                        }
                        for i in 0..<n {
                            let base = accumulate ? Double(initial[i]) : 0
                            let parts = [base, Double(a) * Double(used[i]), Double(b) * Double(x[i]), Double(c)]
                            XCTAssertEqual(Double(dx[i]), parts.reduce(0, +), accuracy: parts.reduce(0.0) { $0 + abs($1) } * 4.8e-7,
                                           "\(name) mask \(variant) accumulate \(accumulate) n \(n) at \(i)")
                        }
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
