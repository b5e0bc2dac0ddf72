/// Vectorised loops over one contiguous run of floats (a channel plane of one sample), eight
/// lanes at a time, for batch norm. (Plain multiply-adds: `addProduct` is a fused multiply-add,
/// a library call per lane on x86-64 without FMA enabled.)
enum SIMDReduction {
    typealias V = SIMD8<Float>

    @inline(__always)
    static func load(_ p: UnsafePointer<Float>, _ i: Int) -> V {
        UnsafeRawPointer(p + i).loadUnaligned(as: V.self)
    }

    @inline(__always)
    static func store(_ v: V, _ p: UnsafeMutablePointer<Float>, _ i: Int) {
        UnsafeMutableRawPointer(p + i).storeBytes(of: v, as: V.self)
    }

    /// Σ p[i].
    static func sum(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = V(), i = 0
        while i + 8 <= n { acc += load(p, i); i += 8 }
        var total = acc.sum()
        while i < n { total += p[i]; i += 1 }
        return total
    }

    /// Σ (p[i] - mean)^2.
    static func squaredDeviations(_ p: UnsafePointer<Float>, _ n: Int, from mean: Float) -> Float {
        var acc = V(), i = 0
        let m = V(repeating: mean)
        while i + 8 <= n { let d = load(p, i) - m; acc += d * d; i += 8 }
        var total = acc.sum()
        while i < n { let d = p[i] - mean; total += d * d; i += 1 }
        return total
    }

    /// q[i] = p[i] * scale + shift (q may be p).
    static func affine(_ p: UnsafePointer<Float>, into q: UnsafeMutablePointer<Float>, _ n: Int, scale: Float, shift: Float) {
        let s = V(repeating: scale), t = V(repeating: shift)
        var i = 0
        while i + 8 <= n { store(load(p, i) * s + t, q, i); i += 8 }
        while i < n { q[i] = p[i] * scale + shift; i += 1 }
    }

    /// (Σ dy, Σ dy (x - mean)).
    static func gradientSums(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int, mean: Float) -> (dy: Float, dyCentered: Float) {
        var a = V(), b = V(), i = 0
        let m = V(repeating: mean)
        while i + 8 <= n {
            let d = load(dy, i)
            a += d
            b += d * (load(x, i) - m)
            i += 8
        }
        var sumDy = a.sum(), sumCentered = b.sum()
        while i < n { sumDy += dy[i]; sumCentered += dy[i] * (x[i] - mean); i += 1 }
        return (sumDy, sumCentered)
    }

    /// dx[i] (+)= a dy[i] + b x[i] + c.
    static func batchNormInputGradient(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>,
                                       _ n: Int, a: Float, b: Float, c: Float, accumulate: Bool) {
        let va = V(repeating: a), vb = V(repeating: b), vc = V(repeating: c)
        var i = 0
        if accumulate {
            while i + 8 <= n { store(load(dx, i) + va * load(dy, i) + vb * load(x, i) + vc, dx, i); i += 8 }
            while i < n { dx[i] += a * dy[i] + b * x[i] + c; i += 1 }
        } else {
            while i + 8 <= n { store(va * load(dy, i) + vb * load(x, i) + vc, dx, i); i += 8 }
            while i < n { dx[i] = a * dy[i] + b * x[i] + c; i += 1 }
        }
    }
}
