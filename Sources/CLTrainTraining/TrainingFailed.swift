import CLTrainNN
import CLTrainRuntime

/// A run stopped by an error of the device or the host while it trained or tested (an OpenCL
/// CL_OUT_OF_RESOURCES, a device lost, an allocation that failed), and what became of the
/// checkpoint: the training run writes one of the last good step when the failed step had not
/// begun to update the weights and the weights can still be read, and keeps the previous one
/// otherwise.
public struct TrainingFailed: Error, CustomStringConvertible {
    /// The device's (or host's) error.
    public let error: Error
    /// The step that was running (1-based; the number it would have had) and its epoch (1-based).
    public let step: Int
    public let epoch: Int
    /// Nil when the model (weights, BN statistics) and the optimizer still hold the state after
    /// the last finished step, `step - 1`: the failure came before the update began. Otherwise
    /// why they cannot be trusted (the update had begun, so the weights may be half-updated).
    public let untrustedBecause: String?
    public var lastStepIntact: Bool { untrustedBecause == nil }

    /// Why a failure during the update leaves weights that cannot be saved.
    public static let halfUpdated = "the failure came during the weight update, which may have left the weights half-updated"

    /// What the run did about its checkpoint.
    public enum Outcome: Sendable, Equatable {
        /// Not handled by a training run (a `Trainer` driven on its own).
        case none
        /// Wrote the checkpoint of the last good step into the folder.
        case wrote(folder: String, step: Int)
        /// Kept the folder's previous checkpoint (of `step`; nil: there is none yet), for the
        /// reason given (the weights cannot be trusted, or could not be read).
        case kept(folder: String, step: Int?, because: String)
    }
    public var outcome = Outcome.none

    public init(error: Error, step: Int, epoch: Int, untrustedBecause: String?) {
        self.error = error
        self.step = step
        self.epoch = epoch
        self.untrustedBecause = untrustedBecause
    }

    public var description: String {
        let what = "training stopped at step \(step) (epoch \(epoch)) on \(oneLineDescription(error))"
        switch outcome {
        case .none:
            return what
        case .wrote(let folder, let saved):
            return "\(what); wrote the checkpoint of step \(saved), the last good one, in \(folder). Resume with: cltrain train --resume \(folder)"
        case .kept(let folder, let saved, let why):
            guard let saved else { return "\(what); \(why), and no checkpoint was written yet: start the run again" }
            return "\(what); \(why), so the checkpoint of step \(saved) is kept. Resume with: cltrain train --resume \(folder)"
        }
    }
}

/// `error` as one line.
func oneLineDescription(_ error: Error) -> String {
    String(describing: error).split(whereSeparator: \.isNewline).joined(separator: " ")
}

/// The model's state a training forward changes besides the weights: BN running statistics (on
/// the device) and batch counters (on the host). Saved before every step and put back when the
/// step fails before its update, so the model is again exactly the last good step's. The copies
/// are 0 + 1 x value on the device (exact, as `ModelEMA` copies), one pair of launches per
/// buffer: a few KB per step.
final class BufferBackup {
    private let model: Model
    private let copies: [Tensor]
    private var counters: [Int]

    init(_ model: Model) throws {
        self.model = model
        copies = try model.buffers.map { try $0.value.device.makeTensor($0.value.shape) }
        counters = model.batchNorms.map(\.batchesTracked)
    }

    func save() throws {
        try Self.copy(model.buffers.map(\.value), into: copies)
        counters = model.batchNorms.map(\.batchesTracked)
    }

    func restore() throws {
        try Self.copy(copies, into: model.buffers.map(\.value))
        for (norm, count) in zip(model.batchNorms, counters) { norm.batchesTracked = count }
    }

    private static func copy(_ sources: [Tensor], into destinations: [Tensor]) throws {
        for (source, destination) in zip(sources, destinations) {
            let backend = destination.device.backend
            try backend.fill(destination, value: 0)
            try backend.axpy(alpha: 1, x: source, y: destination)
        }
    }
}
