/// How a CPU convolution is computed: what the CPU's tuner chooses among. Every algorithm computes
/// the same convolution up to float rounding (ConvAlgorithmTests check each against the others).
enum CPUConvAlgorithm: ConvolutionAlgorithm, Sendable {
    /// Each sample unfolded (im2col; a 1x1/s1/p0 convolution reads the sample itself) and one
    /// GEMM per sample, the samples split across threads (`convolveSamples`); a 1x1 convolution
    /// on a small map takes blocks of samples side by side, one GEMM per block (`sampleBlock`).
    case perSample
    /// Groups of samples unfolded together and one threaded GEMM per group: wider GEMMs when output
    /// channels are many.
    case batched
    /// Every tap's output channels stacked as the rows of one GEMM against the sample as it lies,
    /// then shifted sums (`CPUConvTapStacked.swift`): few output channels, stride 1.
    case tapStacked
    /// Only the taps each region of the output reaches inside the image (`CPUConvRegions.swift`):
    /// dilated convolutions on small maps, where many taps read only padding.
    case regions
    /// The input gradient as a forward convolution of the output gradient with the kernel turned
    /// around (`transposedGeometry`), per sample.
    case transposed
    /// Winograd F(m x m, 3 x 3) (`CPUConvWinograd.swift`), m = 2 or 4: 3x3 stride-1 convolutions
    /// (dilated ones on their sub-grids), with fewer multiplies than the direct sum (2.25x, 4x).
    case winograd(Int)
    /// The hand-written direct loops over a padded grid (`CPUConvDirect.swift`): stride 1.
    case direct

    /// Changed whenever an algorithm changes: a cache of timings from older code is ignored.
    static let revision = "cpu-conv-4"

    var name: String {
        switch self {
        case .perSample: return "im2col+gemm per sample"
        case .batched: return "im2col+gemm batched"
        case .tapStacked: return "tap-stacked gemm"
        case .regions: return "region plan"
        case .transposed: return "transposed per sample"
        case .winograd(let m): return "winograd F(\(m)x\(m),3x3)"
        case .direct: return "direct"
        }
    }

    /// Whether it reads its input one sample at a time, so that a fused batch norm + ReLU is
    /// applied as it reads (`ConvInput.sample`); the others get groups of samples normalised first.
    var normalizesAsItReads: Bool {
        switch self {
        case .perSample, .tapStacked, .winograd, .direct: return true
        case .batched, .regions, .transposed: return false
        }
    }
}

extension CPUBackend {
    /// The candidates of convolution `pass` at shape `s`, the rule first: the algorithm the
    /// measurements behind each rule favoured, then every other one that applies.
    func convolutionCandidates(_ pass: ConvPass, _ s: ConvShape) -> [CPUConvAlgorithm] {
        let g = s.geometry
        let strideOne = g.strideH == 1 && g.strideW == 1
        let hasPlan = ConvRegionPlan(s) != nil
        var rule: CPUConvAlgorithm
        var others: [CPUConvAlgorithm] = [.perSample]
        if Self.batchGroupSize(s) > 1 { others.append(.batched) }
        if hasPlan { others.append(.regions) }
        others += Self.winogradTiles(s).map(CPUConvAlgorithm.winograd)
        switch pass {
        case .forward, .backwardWeight:
            if strideOne && !g.isPointwise { others.append(.tapStacked) }
            if strideOne { others.append(.direct) }
            if hasPlan { rule = .regions }
            else if Self.usesTapStacking(s) { rule = .tapStacked }
            else if g.isPointwise || Self.groupSize(s) == 1 { rule = .perSample }
            else { rule = .batched }
        case .backwardData:
            let turns = transposedGeometry(s) != nil
            if turns { others.append(.transposed) }
            if directTransposedGeometry(s) != nil { others.append(.direct) }
            if hasPlan { rule = .regions }
            else if Self.groupSize(s) == 1 && turns && s.outChannels < s.inChannels { rule = .transposed }
            else if g.isPointwise || Self.groupSize(s) == 1 { rule = .perSample }
            else { rule = .batched }
        }
        return [rule] + others.filter { $0 != rule }
    }

    /// The algorithm convolution `pass` of shape `s` runs with: the tuner's choice among its
    /// candidates, timed by `run` (which must leave the op's real outputs as the op requires),
    /// remembered per shape and flags.
    func choose(_ pass: ConvPass, _ s: ConvShape, inputNorm: Bool = false, bias: Bool = false, accumulate: Bool = false,
                run: (CPUConvAlgorithm) throws -> Void) throws -> CPUConvAlgorithm {
        let key = ConvChoiceKey(pass: pass, n: s.n, cin: s.inChannels, h: s.height, w: s.width, cout: s.outChannels, geometry: s.geometry,
                                inputNorm: inputNorm, bias: bias, accumulate: accumulate)
        return try convolutionChoices.choose(key, tuner: tuner, candidates: { convolutionCandidates(pass, s) }, run: run,
                                             synchronize: {})
    }
}
