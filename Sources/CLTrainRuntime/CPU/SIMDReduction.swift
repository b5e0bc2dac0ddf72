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

    /// Integer lanes of the same width, for the ReLU's selects done with bit operations (the
    /// compiler leaves comparisons and SIMD masks scalar and branchy on baseline x86-64).
    typealias Bits = SIMD8<Int32>

    /// max(v, 0) per lane, a NaN kept (as PyTorch's ReLU keeps it, so a diverging run is seen):
    /// clears lanes whose sign bit is set unless they hold a NaN.
    @inline(__always)
    static func relu(_ v: V) -> V {
        let b = unsafeBitCast(v, to: Bits.self)
        let isNaN = (Bits(repeating: 0x7f80_0000) &- (b & Bits(repeating: 0x7fff_ffff))) &>> 31
        return unsafeBitCast(b & ~((b &>> 31) & ~isNaN), to: V.self)
    }

    /// dy where a ReLU output r (never negative: +0 or positive) is positive, else 0.
    @inline(__always)
    static func masked(_ dy: V, by r: V) -> V {
        let rb = unsafeBitCast(r, to: Bits.self)
        return unsafeBitCast(unsafeBitCast(dy, to: Bits.self) & ~((rb &- 1) &>> 31), to: V.self)
    }

    @inline(__always)
    static func masked(_ dy: Float, by r: Float) -> Float { r > 0 ? dy : 0 }

    /// q[i] = p[i] * scale + shift, or max(0, that) with `relu` (q may be p).
    static func affine(_ p: UnsafePointer<Float>, into q: UnsafeMutablePointer<Float>, _ n: Int, scale: Float, shift: Float,
                       relu useReLU: Bool = false) {
        let s = V(repeating: scale), t = V(repeating: shift)
        var i = 0
        if useReLU {
            while i + 8 <= n { store(relu(load(p, i) * s + t), q, i); i += 8 }
            while i < n { let v = p[i] * scale + shift; q[i] = v < 0 ? 0 : v; i += 1 }
        } else {
            while i + 8 <= n { store(load(p, i) * s + t, q, i); i += 8 }
            while i < n { q[i] = p[i] * scale + shift; i += 1 }
        }
    }

    /// (Σ dy, Σ dy (x - mean)), dy masked by `mask > 0` when given.
    static func gradientSums(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int, mean: Float,
                             mask: UnsafePointer<Float>? = nil) -> (dy: Float, dyCentered: Float) {
        if let mask {
            var a = V(), b = V(), i = 0
            let m = V(repeating: mean)
            while i + 8 <= n {
                let d = masked(load(dy, i), by: load(mask, i))
                a += d
                b += d * (load(x, i) - m)
                i += 8
            }
            var sumDy = a.sum(), sumCentered = b.sum()
            while i < n { let d = masked(dy[i], by: mask[i]); sumDy += d; sumCentered += d * (x[i] - mean); i += 1 }
            return (sumDy, sumCentered)
        }
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

    /// dx[i] (+)= a dy[i] + b x[i] + c, dy masked by `mask > 0` when given.
    static func batchNormInputGradient(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>,
                                       _ n: Int, a: Float, b: Float, c: Float, mask: UnsafePointer<Float>? = nil, accumulate: Bool) {
        if let mask {
            let va = V(repeating: a), vb = V(repeating: b), vc = V(repeating: c)
            var i = 0
            if accumulate {
                while i + 8 <= n { store(load(dx, i) + va * masked(load(dy, i), by: load(mask, i)) + vb * load(x, i) + vc, dx, i); i += 8 }
                while i < n { dx[i] += a * masked(dy[i], by: mask[i]) + b * x[i] + c; i += 1 }
            } else {
                while i + 8 <= n { store(va * masked(load(dy, i), by: load(mask, i)) + vb * load(x, i) + vc, dx, i); i += 8 }
                while i < n { dx[i] = a * masked(dy[i], by: mask[i]) + b * x[i] + c; i += 1 }
            }
            return
        }
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

    // MARK: A fused ReLU's mask found from the input

    /// The ReLU output `max(0, x * scale + shift)` as `affine` computes it, in registers: the
    /// mask of a batch norm's fused ReLU without reading its output.
    @inline(__always)
    static func reluOfAffine(_ x: V, _ s: V, _ t: V) -> V { relu(x * s + t) }

    @inline(__always)
    static func reluOfAffine(_ x: Float, _ scale: Float, _ shift: Float) -> Float {
        let v = x * scale + shift
        return v < 0 ? 0 : v
    }

    /// `gradientSums` with the mask `max(0, x * scale + shift)` (bitwise the mask `affine` with
    /// `relu` writes).
    static func gradientSums(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int, mean: Float,
                             maskScale scale: Float, maskShift shift: Float) -> (dy: Float, dyCentered: Float) {
        var a = V(), b = V(), i = 0
        let m = V(repeating: mean), s = V(repeating: scale), t = V(repeating: shift)
        while i + 8 <= n {
            let xv = load(x, i)
            let d = masked(load(dy, i), by: reluOfAffine(xv, s, t))
            a += d
            b += d * (xv - m)
            i += 8
        }
        var sumDy = a.sum(), sumCentered = b.sum()
        while i < n {
            let d = masked(dy[i], by: reluOfAffine(x[i], scale, shift))
            sumDy += d
            sumCentered += d * (x[i] - mean)
            i += 1
        }
        return (sumDy, sumCentered)
    }

    /// `batchNormInputGradient` with the mask `max(0, x * scale + shift)`.
    static func batchNormInputGradient(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>,
                                       _ n: Int, a: Float, b: Float, c: Float, maskScale scale: Float, maskShift shift: Float,
                                       accumulate: Bool) {
        let va = V(repeating: a), vb = V(repeating: b), vc = V(repeating: c), s = V(repeating: scale), t = V(repeating: shift)
        var i = 0
        if accumulate {
            while i + 8 <= n {
                let xv = load(x, i)
                store(load(dx, i) + va * masked(load(dy, i), by: reluOfAffine(xv, s, t)) + vb * xv + vc, dx, i)
                i += 8
            }
            while i < n { dx[i] += a * masked(dy[i], by: reluOfAffine(x[i], scale, shift)) + b * x[i] + c; i += 1 }
        } else {
            while i + 8 <= n {
                let xv = load(x, i)
                store(va * masked(load(dy, i), by: reluOfAffine(xv, s, t)) + vb * xv + vc, dx, i)
                i += 8
            }
            while i < n { dx[i] = a * masked(dy[i], by: reluOfAffine(x[i], scale, shift)) + b * x[i] + c; i += 1 }
        }
    }
}
