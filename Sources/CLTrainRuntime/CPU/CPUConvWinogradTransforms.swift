/// The fixed matrices of Winograd's minimal filtering algorithms F(2 x 2, 3 x 3) and
/// F(4 x 4, 3 x 3), as in Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks"
/// (2016): interpolation points 0, 1, -1 (and infinity) for F(2, 3); 0, 1, -1, 2, -2 (and
/// infinity) for F(4, 3). A tile of `alpha = m + 2` input values gives `m` outputs of a 3-tap
/// correlation:
///
///     y = A^T [(G g) ⊙ (B^T d)]          (one dimension)
///     Y = A^T [(G g G^T) ⊙ (B^T d B)] A  (two: each transform applied down columns, then along rows)
///
/// Here are the kernel's transforms, `G g G^T` and its adjoint, on eight channels at once
/// (`SIMD8<Float>`), in place on a tile of `alpha x alpha` lanes stored row-major at row stride
/// `alpha`; a transform that shrinks its tile leaves the result in the top-left corner. The tiles'
/// transforms (`B^T d B`, `A^T M A` and its adjoint `A dY A^T`) are C loops of each CPU path
/// (`Sources/CLTrainCPUKernels/winograd_body.inc`), eight tiles at once.
struct WinogradTransform {
    typealias Lanes = SIMD8<Float>

    /// Outputs per tile side: 2 or 4.
    let m: Int
    /// Input values per tile side: `m + 2`.
    let alpha: Int

    init(m: Int) {
        precondition(m == 2 || m == 4, "Winograd: F(\(m)x\(m), 3x3) is not implemented (2 or 4)")
        self.m = m
        alpha = m + 2
    }

    /// `L X L^T` for the 1-D transform `line` (`L`, `outputs x inputs`): `line` down each of the
    /// `inputs` columns of X, then along each of the `outputs` rows of the result. `line(p, stride)`
    /// reads its inputs from `p[i * stride]` and overwrites them with its outputs.
    @inline(__always)
    private func sandwich(_ tile: UnsafeMutablePointer<Lanes>, inputs: Int, outputs: Int,
                          _ line: (UnsafeMutablePointer<Lanes>, Int) -> Void) {
        for column in 0..<inputs { line(tile + column, alpha) }
        for row in 0..<outputs { line(tile + row * alpha, 1) }
    }

    /// Kernel g (`3 x 3`) -> `G g G^T` (`alpha x alpha`).
    func weight(_ tile: UnsafeMutablePointer<Lanes>) {
        if m == 2 {
            sandwich(tile, inputs: 3, outputs: 4, Self.weightLine2)
        } else {
            sandwich(tile, inputs: 3, outputs: 6, Self.weightLine4)
        }
    }

    /// Gradient of a transformed kernel dU (`alpha x alpha`) -> kernel gradient `G^T dU G`
    /// (`3 x 3`): the adjoint of `weight`.
    func weightGradient(_ tile: UnsafeMutablePointer<Lanes>) {
        if m == 2 {
            sandwich(tile, inputs: 4, outputs: 3, Self.weightGradientLine2)
        } else {
            sandwich(tile, inputs: 6, outputs: 3, Self.weightGradientLine4)
        }
    }

    // MARK: F(2, 3)

    /// G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
    @inline(__always)
    static func weightLine2(_ p: UnsafeMutablePointer<Lanes>, _ s: Int) {
        let g0 = p[0], g1 = p[s], g2 = p[2 * s]
        let even = 0.5 * (g0 + g2), odd = 0.5 * g1
        p[0] = g0
        p[s] = even + odd
        p[2 * s] = even - odd
        p[3 * s] = g2
    }

    /// G^T = [1 1/2 1/2 0; 0 1/2 -1/2 0; 0 1/2 1/2 1]
    @inline(__always)
    static func weightGradientLine2(_ p: UnsafeMutablePointer<Lanes>, _ s: Int) {
        let u0 = p[0], u1 = p[s], u2 = p[2 * s], u3 = p[3 * s]
        let sum = 0.5 * (u1 + u2)
        p[0] = u0 + sum
        p[s] = 0.5 * (u1 - u2)
        p[2 * s] = sum + u3
    }

    // MARK: F(4, 3)

    /// G = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1]
    @inline(__always)
    static func weightLine4(_ p: UnsafeMutablePointer<Lanes>, _ s: Int) {
        let g0 = p[0], g1 = p[s], g2 = p[2 * s]
        let even1 = (-1.0 / 6) * (g0 + g2), odd1 = (-1.0 / 6) * g1
        let even2 = (1.0 / 24) * g0 + (1.0 / 6) * g2, odd2 = (1.0 / 12) * g1
        p[0] = 0.25 * g0
        p[s] = even1 + odd1
        p[2 * s] = even1 - odd1
        p[3 * s] = even2 + odd2
        p[4 * s] = even2 - odd2
        p[5 * s] = g2
    }

    /// G^T = [1/4 -1/6 -1/6 1/24 1/24 0; 0 -1/6 1/6 1/12 -1/12 0; 0 -1/6 -1/6 1/6 1/6 1]
    @inline(__always)
    static func weightGradientLine4(_ p: UnsafeMutablePointer<Lanes>, _ s: Int) {
        let u0 = p[0], u1 = p[s], u2 = p[2 * s], u3 = p[3 * s], u4 = p[4 * s], u5 = p[5 * s]
        let sum12 = u1 + u2, diff12 = u1 - u2, sum34 = u3 + u4, diff34 = u3 - u4
        p[0] = 0.25 * u0 - (1.0 / 6) * sum12 + (1.0 / 24) * sum34
        p[s] = (-1.0 / 6) * diff12 + (1.0 / 12) * diff34
        p[2 * s] = (-1.0 / 6) * sum12 + (1.0 / 6) * sum34 + u5
    }

    // MARK: Lanes in float buffers

    /// Eight floats at `p` (no alignment needed).
    @inline(__always)
    static func load(_ p: UnsafePointer<Float>) -> Lanes {
        UnsafeRawPointer(p).loadUnaligned(as: Lanes.self)
    }

    /// The first `count` floats at `p`, zeros in the other lanes.
    @inline(__always)
    static func load(_ p: UnsafePointer<Float>, count: Int) -> Lanes {
        if count == Lanes.scalarCount { return load(p) }
        var lanes = Lanes()
        for l in 0..<count { lanes[l] = p[l] }
        return lanes
    }

    /// `lanes` into eight floats at `p` (no alignment needed).
    @inline(__always)
    static func store(_ lanes: Lanes, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: lanes, as: Lanes.self)
    }

    /// The first `count` lanes into `count` floats at `p`.
    @inline(__always)
    static func store(_ lanes: Lanes, _ p: UnsafeMutablePointer<Float>, count: Int) {
        if count == Lanes.scalarCount { return store(lanes, p) }
        for l in 0..<count { p[l] = lanes[l] }
    }
}
