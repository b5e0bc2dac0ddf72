import CLTrainData
import CLTrainDistributed
import CLTrainNN
import CLTrainRuntime
import Foundation

/// One rank's part in a data-parallel run (PyTorch DDP's arithmetic): each rank trains on its
/// share of every global batch, the ranks agree on the batch's loss before backward, and after
/// backward they average the gradients, so that every rank takes the same optimizer step from
/// the same weights. A run of one process has none (`SingleProcess` would only add copies).
///
/// Per step, two collectives in the same order on every rank: `reduceStep` (loss sum, correct
/// count, images, stop votes: one sum of four numbers) and `averageGradients` (the gradients in
/// buckets, `GradientBuckets`). Between epochs `averageBuffers` makes the batch-norm running
/// statistics one set again.
public final class DataParallel {
    public let communicator: any Communicator
    /// The trainable parameters in the order backward finishes them (the reverse of state_dict
    /// order), which is the order of the buckets.
    let parameters: [Parameter]
    let buckets: GradientBuckets
    /// Polled once per step, before the step's sum: whether this rank wants the run to stop
    /// (Ctrl-C, SIGTERM). The run stops when any rank does, at the same step on every rank.
    public var stopVote: () -> Bool = { false }
    /// Whether some rank voted to stop in the last step.
    public private(set) var stopAgreed = false
    /// Seconds spent averaging gradients (reading them from the device, the sums, writing the
    /// averages back) over `averagedSteps` steps, and the bytes each step sends.
    public private(set) var averagingSeconds = 0.0
    public private(set) var averagedSteps = 0
    public var gradientBytes: Int { parameters.reduce(0) { $0 + $1.count } * MemoryLayout<Float>.size }

    public var rank: Int { communicator.rank }
    public var ranks: Int { communicator.size }

    /// For `communicator`'s rank, averaging the gradients of `parameters` (state_dict order).
    public init(communicator: any Communicator, parameters: [Parameter], bucketBytes: Int = BucketLayout.defaultBucketBytes) {
        self.communicator = communicator
        self.parameters = parameters.reversed()
        buckets = GradientBuckets(sizes: self.parameters.map(\.count), bucketBytes: bucketBytes, communicator: communicator)
        ready = [Bool](repeating: false, count: self.parameters.count)
        for (index, parameter) in self.parameters.enumerated() {
            parameter.onGradientFinal = { [weak self] in try self?.gradientFinal(index) }
        }
    }

    /// Whether the step's backward is running (gradients that become final go to their buckets),
    /// and which gradients are in their buckets. Outside a step (the memory probe's backward, a
    /// test pass) a final gradient is left alone.
    private var collecting = false
    private var ready: [Bool]

    /// The step's backward begins: each gradient goes to its bucket when its layer says it is final.
    func beginBackward() { collecting = true }

    private func gradientFinal(_ index: Int) throws {
        guard collecting, !ready[index] else { return }
        let start = Date()
        let parameter = parameters[index]
        try parameter.gradient.device.read(parameter.gradient, into: buckets.staging(index))
        ready[index] = true
        try buckets.markReady(index: index)
        averagingSeconds += Date().timeIntervalSince(start)
    }

    /// This rank's positions in a global batch of `count` images.
    public func share(of count: Int) -> BatchShard { BatchShard(count: count, rank: rank, ranks: ranks) }

    /// The global batch's loss and correct count from this rank's, and the agreed stop: all ranks
    /// then see the same loss (a NaN stops every rank at the same step). Returns the global
    /// result and the number of images in the global batch.
    func reduceStep(_ result: SoftmaxCrossEntropy.Result, images: Int) throws -> (result: SoftmaxCrossEntropy.Result, images: Int) {
        let vote = stopVote()
        let sums = try communicator.sum([result.loss * Double(images), Double(result.correct), Double(images), vote ? 1 : 0])
        stopAgreed = sums[3] > 0
        var global = result
        global.loss = sums[0] / max(sums[2], 1)
        global.correct = Int(sums[1].rounded())
        return (global, Int(sums[2].rounded()))
    }

    /// Replace every gradient by its average over the ranks: most are already in their buckets,
    /// read there during backward as their layers finished them (a bucket's sum starts as soon
    /// as its last gradient is in); any other is read now; then the averages are written back.
    func averageGradients() throws {
        let start = Date()
        for (index, parameter) in parameters.enumerated() where !ready[index] {
            try parameter.gradient.device.read(parameter.gradient, into: buckets.staging(index))
            ready[index] = true
            try buckets.markReady(index: index)
        }
        collecting = false
        ready = ready.map { _ in false }
        try buckets.finish()
        for (index, parameter) in parameters.enumerated() {
            try parameter.gradient.device.write(buckets.gradient(index), to: parameter.gradient)
        }
        averagingSeconds += Date().timeIntervalSince(start)
        averagedSteps += 1
    }

    /// Synchronised batch norm (`--sync-bn`): every batch norm of `model` takes the statistics
    /// of the global batch in training, and its backward the global per-channel gradient sums,
    /// each a sum over the ranks (an all-reduce per batch norm forward and backward, in the
    /// same order on every rank since every rank runs the same model).
    func synchronizeBatchNorms(_ model: Model) {
        let communicator = communicator
        for norm in model.batchNorms {
            norm.synchronization = { values in try values.withUnsafeMutableBufferPointer { try communicator.allreduceSum($0) } }
        }
    }

    /// Make the batch-norm running statistics (every buffer of `model`) their average over the
    /// ranks. Without synchronised batch norm each rank's statistics follow its own shards; their
    /// updates are linear, so averaging now or at the end gives the same numbers, and the run
    /// averages before every test pass and checkpoint (timm's `distribute_bn`): what is tested
    /// and saved is one model, the same on every rank, and a checkpoint holds no per-rank state.
    func averageBuffers(_ model: Model) throws {
        let buffers = model.buffers
        var values: [Float] = []
        for buffer in buffers { values += try buffer.value.device.read(buffer.value) }
        try values.withUnsafeMutableBufferPointer { try communicator.allreduceSum($0) }
        let scale = 1 / Float(ranks)
        var offset = 0
        for buffer in buffers {
            let count = buffer.value.count
            try buffer.value.device.write(values[offset..<(offset + count)].map { $0 * scale }, to: buffer.value)
            offset += count
        }
    }

    /// Mean loss and accuracy of `model` on `dataset`, each rank testing its contiguous share
    /// and the sums added over the ranks.
    func evaluate(_ model: Model, on device: Device, dataset: ImageDataset, normalization: Normalization,
                  batchSize: Int, resize: Int?, crop: Int?) throws -> (loss: Double, accuracy: Double) {
        let range = BatchShard(count: dataset.count, rank: rank, ranks: ranks).range
        var mine = (loss: 0.0, accuracy: 0.0)
        if !range.isEmpty {
            mine = try Evaluation.evaluate(model, on: device, dataset: dataset.images(range), normalization: normalization,
                                           batchSize: batchSize, resize: resize, crop: crop)
        }
        let n = Double(range.count)
        let sums = try communicator.sum([mine.loss * n, (mine.accuracy * n).rounded()])
        let total = Double(max(dataset.count, 1))
        return (sums[0] / total, sums[1] / total)
    }

    /// A cheap fingerprint of a data set (its shape, every label, a sample of its bytes), for
    /// checking at start that every rank reads the same data.
    public static func fingerprint(_ dataset: ImageDataset) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ value: UInt64) { hash = (hash ^ value) &* 0x100_0000_01b3 }
        [dataset.count, dataset.channels, dataset.height, dataset.width, dataset.classes].forEach { mix(UInt64($0)) }
        dataset.labels.forEach { mix(UInt64(UInt32(bitPattern: $0))) }
        dataset.images.withUnsafeBufferPointer { bytes in
            for i in stride(from: 0, to: bytes.count, by: 97) { mix(UInt64(bytes[i])) }
        }
        return "\(dataset.count) images, \(String(hash, radix: 16))"
    }
}

extension ImageDataset {
    /// The images at `range`, in order.
    fileprivate func images(_ range: Range<Int>) -> ImageDataset {
        ImageDataset(images: Array(images[(range.lowerBound * imageSize)..<(range.upperBound * imageSize)]),
                     labels: labels.isEmpty ? [] : Array(labels[range]), count: range.count, channels: channels,
                     height: height, width: width, classes: classes, classNames: classNames)
    }
}
