import Foundation

/// A small, fast, seedable generator (Steele, Lea and Flood's SplitMix64). The same seed gives
/// the same numbers on every machine and run, which initial weights, shuffling, augmentation and
/// the tests that must repeat rely on.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    public private(set) var state: UInt64

    public init(seed: UInt64) {
        state = seed
    }

    /// A generator whose seed is derived from several values (seed, epoch, sample, ...), so
    /// streams for different tuples are unrelated.
    public init(mixing values: UInt64...) {
        var h: UInt64 = 0x6A09_E667_F3BC_C909
        for v in values {
            h = SeededRandom.finalize((h ^ v) &+ 0x9E37_79B9_7F4A_7C15)
        }
        state = h
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return SeededRandom.finalize(state)
    }

    /// A uniform integer in `0..<bound` (bound > 0), without modulo bias (Lemire's method).
    public mutating func next(below bound: Int) -> Int {
        precondition(bound > 0, "bound must be positive")
        let b = UInt64(bound)
        var product = next().multipliedFullWidth(by: b)
        if product.low < b {
            let threshold = (0 &- b) % b
            while product.low < threshold {
                product = next().multipliedFullWidth(by: b)
            }
        }
        return Int(product.high)
    }

    /// Uniform in [low, high), from the top 24 bits of one draw.
    public mutating func uniform(_ low: Float = -1, _ high: Float = 1) -> Float {
        low + (high - low) * Float(next() >> 40) / Float(1 << 24)
    }

    /// `count` uniform values in [low, high).
    public mutating func uniforms(_ count: Int, _ low: Float = -1, _ high: Float = 1) -> [Float] {
        (0..<count).map { _ in uniform(low, high) }
    }

    /// Standard normal (Box-Muller, in Double, from two draws).
    public mutating func normal() -> Float {
        let u1 = max(Double(next() >> 11) / Double(1 << 53), 1e-300)
        let u2 = Double(next() >> 11) / Double(1 << 53)
        return Float((-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2))
    }

    /// SplitMix64's output function: a bijective mix of all 64 bits.
    static func finalize(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
