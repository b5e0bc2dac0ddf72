import Foundation

/// The three convolution ops, as each backend lists its candidates per op.
enum ConvPass: Hashable, Sendable {
    case forward, backwardData, backwardWeight

    /// The op's name in tuning keys.
    var op: String {
        switch self {
        case .forward: return "conv2d_forward"
        case .backwardData: return "conv2d_backward_data"
        case .backwardWeight: return "conv2d_backward_weight"
        }
    }
}

/// What decides a convolution's algorithm: the op, every size (the output's follow from the
/// geometry) and the flags that may change which candidate is fastest.
struct ConvChoiceKey: Hashable, Sendable {
    var pass: ConvPass
    var n, cin, h, w, cout: Int
    var geometry: Conv2dGeometry
    var inputNorm, bias, accumulate: Bool

    /// The tuner's key: the same facts as text (what the cache file and `cltrain tune` show).
    var problem: TuningProblem {
        let g = geometry
        var text = "n\(n) \(cin)x\(h)x\(w) -> \(cout)x\(g.outputHeight(h))x\(g.outputWidth(w)) k\(g.kernelH)x\(g.kernelW)"
            + " s\(g.strideH)x\(g.strideW) p\(g.padH)x\(g.padW) d\(g.dilationH)x\(g.dilationW)"
        if inputNorm { text += " bn-relu" }
        if bias { text += " bias" }
        if accumulate { text += " accumulate" }
        return TuningProblem(op: pass.op, shape: text)
    }
}

/// A way a backend computes a convolution, named as the tuner and its cache know it.
protocol ConvolutionAlgorithm: Hashable {
    var name: String { get }
}

/// The algorithm each convolution (op, shape, flags) of one backend runs with, once its tuner has
/// chosen it: a step looks up a small key here instead of building the tuner's text key, ~300
/// times a step.
final class ConvChoices<Algorithm: ConvolutionAlgorithm>: @unchecked Sendable {
    private var chosen: [ConvChoiceKey: Algorithm] = [:]
    private let lock = NSLock()

    init() {}

    /// The algorithm remembered for `key`, if any.
    func remembered(_ key: ConvChoiceKey) -> Algorithm? {
        lock.lock()
        defer { lock.unlock() }
        return chosen[key]
    }

    /// The algorithm for `key`: the one remembered, or `tuner`'s choice among `candidates()` (rule
    /// first), each timed by `run`, which must leave the op's real outputs as the op requires
    /// (scratch outputs, or outputs the op overwrites anyway). While the tuner is pinned or
    /// recording, every call asks it and nothing is remembered.
    func choose(_ key: ConvChoiceKey, tuner: Autotuner, candidates: () -> [Algorithm], run: (Algorithm) throws -> Void,
                synchronize: () throws -> Void) throws -> Algorithm {
        let steered = tuner.isSteered
        if !steered, let known = remembered(key) { return known }
        let list = candidates()
        let byName = Dictionary(list.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        let name = try tuner.choose(key.problem, candidates: list.map(\.name), run: { try run(byName[$0]!) }, synchronize: synchronize)
        let algorithm = byName[name]!
        if !steered {
            lock.lock()
            chosen[key] = algorithm
            lock.unlock()
        }
        return algorithm
    }
}
