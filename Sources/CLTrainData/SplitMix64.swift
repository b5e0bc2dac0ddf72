/// A small, fast, seedable generator (Steele, Lea and Flood's SplitMix64). The same seed gives
/// the same sequence on every platform and run, which is what shuffling and augmentation need.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public private(set) var state: UInt64

    public init(seed: UInt64) {
        state = seed
    }

    /// A generator whose seed is derived from several values (seed, epoch, sample, ...), so
    /// streams for different tuples are unrelated.
    public init(mixing values: UInt64...) {
        var h: UInt64 = 0x6A09_E667_F3BC_C909
        for v in values {
            h = SplitMix64.finalize((h ^ v) &+ 0x9E37_79B9_7F4A_7C15)
        }
        state = h
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return SplitMix64.finalize(state)
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

    static func finalize(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
