/// The fixed matrices of Winograd's minimal filtering algorithms F(2 x 2, 3 x 3) and
/// F(4 x 4, 3 x 3), as in Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks"
/// (2016): interpolation points 0, 1, -1 (and infinity) for F(2, 3); 0, 1, -1, 2, -2 (and
/// infinity) for F(4, 3). A tile of `alpha = m + 2` input values gives `m` outputs of a 3-tap
/// correlation:
///
///     y = A^T [(G g) ⊙ (B^T d)]          (one dimension)
///     Y = A^T [(G g G^T) ⊙ (B^T d B)] A  (two: each transform applied down columns, then along rows)
///
/// Every transform here works on eight lanes at once (`SIMD8<Float>`: eight tiles, or eight
/// channels), in place on a tile of `alpha x alpha` lanes stored row-major at row stride
/// `alpha`; a transform that shrinks its tile leaves the result in the top-left corner.
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

    /// Input tile d (`alpha x alpha`) -> `B^T d B` (`alpha x alpha`).
    func input(_ tile: UnsafeMutablePointer<Lanes>) {
        if m == 2 {
            sandwich(tile, inputs: 4, outputs: 4, Self.inputLine2)
        } else {
            sandwich(tile, inputs: 6, outputs: 6, Self.inputLine4)
        }
    }

    /// Kernel g (`3 x 3`) -> `G g G^T` (`alpha x alpha`).
    func weight(_ tile: UnsafeMutablePointer<Lanes>) {
        if m == 2 {
            sandwich(tile, inputs: 3, outputs: 4, Self.weightLine2)
        } else {
            sandwich(tile, inputs: 3, outputs: 6, Self.weightLine4)
        }
    }

    /// Product tile M (`alpha x alpha`) -> output tile `A^T M A` (`m x m`).
    func output(_ tile: UnsafeMutablePointer<Lanes>) {
        if m == 2 {
            sandwich(tile, inputs: 4, outputs: 2, Self.outputLine2)
        } else {
            sandwich(tile, inputs: 6, outputs: 4, Self.outputLine4)
        }
    }

    /// Output-gradient tile dY (`m x m`) -> `A dY A^T` (`alpha x alpha`): the adjoint of `output`.
    func outputGradient(_ tile: UnsafeMutablePointer<Lanes>) {
        if m == 2 {
            sandwich(tile, inputs: 2, outputs: 4, Self.outputGradientLine2)
        } else {
            sandwich(tile, inputs: 4, outputs: 6, Self.outputGradientLine4)
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

    /// B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
    @inline(__always)
    static func inputLine2(_ p: UnsafeMutablePointer<Lanes>, _ s: Int) {
        let d0 = p[0], d1 = p[s], d2 = p[2 * s], d3 = p[3 * s]
        p[0] = d0 - d2
        p[s] = d1 + d2
        p[2 * s] = d2 - d1
        p[3 * s] = d1 - d3
    }

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

    /// A^T = [1 1 1 0; 0 1 -1 -1]
    @inline(__always)
    static func outputLine2(_ p: UnsafeMutablePointer<Lanes>, _ s: Int) {
        let m0 = p[0], m1 = p[s], m2 = p[2 * s], m3 = p[3 * s]
        p[0] = m0 + m1 + m2
        p[s] = m1 - m2 - m3
    }

    /// A = [1 0; 1 1; 1 -1; 0 -1]
    @inline(__always)
    static func outputGradientLine2(_ p: UnsafeMutablePointer<Lanes>, _ s: Int) {
        let y0 = p[0], y1 = p[s]
        p[0] = y0
        p[s] = y0 + y1
        p[2 * s] = y0 - y1
        p[3 * s] = -y1
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

    /// B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1]
    @inline(__always)
    static func inputLine4(_ p: UnsafeMutablePointer<Lanes>, _ s: Int) {
        let d0 = p[0], d1 = p[s], d2 = p[2 * s], d3 = p[3 * s], d4 = p[4 * s], d5 = p[5 * s]
        let a = d4 - 4 * d2, b = d3 - 4 * d1   // rows 1 and 2: a ± b
        let c = d4 - d2, e = 2 * (d3 - d1)     // rows 3 and 4: c ± e
        p[0] = 4 * d0 - 5 * d2 + d4
        p[s] = a + b
        p[2 * s] = a - b
        p[3 * s] = c + e
        p[4 * s] = c - e
        p[5 * s] = 4 * d1 - 5 * d3 + d5
    }

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

    /// A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]
    @inline(__always)
    static func outputLine4(_ p: UnsafeMutablePointer<Lanes>, _ s: Int) {
        let m0 = p[0], m1 = p[s], m2 = p[2 * s], m3 = p[3 * s], m4 = p[4 * s], m5 = p[5 * s]
        let sum12 = m1 + m2, diff12 = m1 - m2, sum34 = m3 + m4, diff34 = m3 - m4
        p[0] = m0 + sum12 + sum34
        p[s] = diff12 + 2 * diff34
        p[2 * s] = sum12 + 4 * sum34
        p[3 * s] = diff12 + 8 * diff34 + m5
    }

    /// A = [1 0 0 0; 1 1 1 1; 1 -1 1 -1; 1 2 4 8; 1 -2 4 -8; 0 0 0 1]
    @inline(__always)
    static func outputGradientLine4(_ p: UnsafeMutablePointer<Lanes>, _ s: Int) {
        let y0 = p[0], y1 = p[s], y2 = p[2 * s], y3 = p[3 * s]
        let even1 = y0 + y2, odd1 = y1 + y3
        let even2 = y0 + 4 * y2, odd2 = 2 * y1 + 8 * y3
        p[0] = y0
        p[s] = even1 + odd1
        p[2 * s] = even1 - odd1
        p[3 * s] = even2 + odd2
        p[4 * s] = even2 - odd2
        p[5 * s] = y3
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
