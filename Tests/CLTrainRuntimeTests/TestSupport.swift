import CLTrainRandom
import CLTrainTestSupport
import XCTest
@testable import CLTrainRuntime

extension SeededRandom {
    /// Uniform values in `range`.
    mutating func floats(_ count: Int, in range: ClosedRange<Float> = -1...1) -> [Float] {
        (0..<count).map { _ in Float.random(in: range, using: &self) }
    }

    /// Values with `minimum <= |x| <= 1` and random signs (keeps clear of a kink at 0).
    mutating func floatsAwayFromZero(_ count: Int, minimum: Float) -> [Float] {
        (0..<count).map { _ in Float.random(in: minimum...1, using: &self) * (Bool.random(using: &self) ? 1 : -1) }
    }

    /// Distinct values spaced `gap` apart in random order (no ties or near-ties for max pooling).
    mutating func distinctFloats(_ count: Int, gap: Float) -> [Float] {
        (0..<count).map { Float($0 - count / 2) * gap }.shuffled(using: &self)
    }
}

/// A tensor of `shape` on `device` with values uniform in `range`.
func randomTensor(device: Device, shape: [Int], rng: inout SeededRandom, in range: ClosedRange<Float> = -1...1) throws -> Tensor {
    try device.tensor(rng.floats(shape.reduce(1, *), in: range), shape: shape)
}

/// `Σ a[i] * b[i]` in Double: the scalar loss of a gradient check, with `b` fixed random weights.
func dot(_ a: [Float], _ b: [Float]) -> Double {
    precondition(a.count == b.count, "dot of \(a.count) and \(b.count) values")
    var sum = 0.0
    for i in a.indices { sum += Double(a[i]) * Double(b[i]) }
    return sum
}

/// Compares analytic gradients with central finite differences of a scalar loss.
///
/// Use it with `loss(values) = Σ op(values) * R` for fixed random `R` (then the analytic
/// gradient is the op's backward fed with `gradOutput = R`). Each value is moved by `±eps` in
/// float32, and the difference is divided by the distance actually moved.
struct GradientChecker {
    var eps: Float = 1e-2
    var rtol: Float = 2e-2
    var atol: Float = 2e-3

    /// Central differences of `loss` around `values`.
    func numericalGradient(of values: [Float], loss: ([Float]) throws -> Double) rethrows -> [Float] {
        var x = values
        var gradient = [Float](repeating: 0, count: values.count)
        for i in values.indices {
            let original = values[i]
            let up = original + eps, down = original - eps
            x[i] = up
            let lossUp = try loss(x)
            x[i] = down
            let lossDown = try loss(x)
            x[i] = original
            gradient[i] = Float((lossUp - lossDown) / (Double(up) - Double(down)))
        }
        return gradient
    }

    /// Asserts `analytic` matches the numerical gradient of `loss` at `values`.
    func check(_ name: String, at values: [Float], analytic: [Float],
               file: StaticString = #filePath, line: UInt = #line, loss: ([Float]) throws -> Double) rethrows {
        let numeric = try numericalGradient(of: values, loss: loss)
        XCTAssertTrue(numeric.contains { abs($0) > 1e-3 }, "\(name): the loss does not depend on these values", file: file, line: line)
        assertClose(analytic, numeric, rtol: rtol, atol: atol, "\(name) gradient (analytic vs numeric)", file: file, line: line)
    }
}

extension Device {
    /// Runs an op's backward into `shape` twice: overwriting a NaN-filled tensor, then
    /// accumulating into random values; checks the second is the first plus those values and
    /// returns the first (the gradient).
    func gradientBothWays(_ shape: [Int], rng: inout SeededRandom, file: StaticString = #filePath, line: UInt = #line,
                          _ run: (Tensor, Bool) throws -> Void) throws -> [Float] {
        let fresh = try full(shape, value: .nan)
        try run(fresh, false)
        let gradient = try read(fresh)
        let base = rng.floats(gradient.count)
        let accumulated = try tensor(base, shape: shape)
        try run(accumulated, true)
        assertClose(try read(accumulated), zip(base, gradient).map(+), rtol: 1e-5, atol: 1e-5,
                    "accumulate: true should add the gradient", file: file, line: line)
        return gradient
    }

    /// Runs a parameter-gradient op (which always accumulates) on random starting values and
    /// returns what it added.
    func accumulatedGradient(_ shape: [Int], rng: inout SeededRandom, _ run: (Tensor) throws -> Void) throws -> [Float] {
        let base = rng.floats(shape.reduce(1, *))
        let t = try tensor(base, shape: shape)
        try run(t)
        return zip(try read(t), base).map { $0 - $1 }
    }
}
