/// One rank's part of a global batch.
///
/// The global batch is the single-process batch for the same seed (the same image indices in the
/// same order); rank r takes a contiguous run of it, the first `count % ranks` ranks one image
/// more than the others, so shares differ by at most one.
///
/// Loss weight: each rank's loss is the mean over its own images, and the gradient sum is divided by
/// the number of ranks (`GradientBuckets` averages, as PyTorch DDP). So that the update equals the
/// single-process one (the mean over the global batch) when shares differ, rank r scales its mean
/// loss by `lossWeight` = ranks x share / count before backward: the average over ranks of
/// (ranks x n_r / B) x mean_r is the sum of n_r / B x mean_r, the global mean. With equal shares
/// the weight is exactly 1 and nothing changes.
public struct BatchShard: Equatable, Sendable {
    /// Positions within the global batch (0 ..< count).
    public let range: Range<Int>
    /// The factor for this rank's mean loss (see above).
    public let lossWeight: Double

    /// Rank `rank`'s share of a global batch of `count` images over `ranks` ranks. A rank may get no
    /// image when `count < ranks` (weight 0); a training loop refuses such a batch size.
    public init(count: Int, rank: Int, ranks: Int) {
        precondition(count >= 0 && ranks > 0 && (0..<ranks).contains(rank))
        let base = count / ranks, extra = count % ranks
        let start = rank * base + min(rank, extra)
        let length = base + (rank < extra ? 1 : 0)
        range = start..<(start + length)
        lossWeight = count == 0 ? 0 : Double(ranks) * Double(length) / Double(count)
    }

    /// This rank's images of a global batch given as indices into the data set.
    public func indices(of batch: [Int]) -> ArraySlice<Int> { batch[range] }
}
