import CLTrainNN
import CLTrainRandom
import CLTrainRuntime
import Foundation

/// `cltrain tune`: meet every convolution shape of one training step of a model, so that the
/// device's tuner chooses (times, or reads from its cache) an algorithm for each ahead of a run,
/// and report what it chose. The step is the Trainer's own (`TrainingStep`: forward, loss,
/// backward, update) on seeded random data of the run's shape, so the shapes are the run's.
public enum ModelTuning {
    public struct Report: Codable, Sendable {
        public var model: String
        public var device: String
        public var batchSize: Int
        /// Input channels x height x width.
        public var input: [Int]
        /// The device's tuning mode.
        public var mode: TuneMode
        /// One per (op, shape) the step met, in the order met.
        public var decisions: [TuningDecision]
        /// Decisions made by timing in this run (the others were cached or the rule).
        public var measuredCount: Int
        /// Seconds spent timing candidates.
        public var tuneSeconds: Double
        /// Wall time of building the model and the whole step, tuning included.
        public var seconds: Double
    }

    /// One training step of `name` at `batchSize` x `channels` x `height` x `width` with
    /// `classes` classes on `device`, and the choices its tuner made. Each shape is timed at most
    /// once per tuner, so a second call on the same device reports the same choices without timing.
    public static func run(model name: String, batchSize: Int, channels: Int, height: Int, width: Int, classes: Int,
                           on device: Device) throws -> Report {
        let start = Date()
        let step = try SyntheticTrainingStep(model: name, batchSize: batchSize, channels: channels, height: height, width: width,
                                             classes: classes, device: device)
        let met = try device.backend.tuner.problems {
            try step()
            try device.backend.synchronize()
        }
        // Every problem this step met, whether it was decided now or earlier on this tuner.
        let decisions = device.backend.tuner.decisions.filter { met[$0.problem] != nil }
        return Report(model: name, device: device.name, batchSize: batchSize, input: [channels, height, width],
                      mode: device.backend.tuner.mode, decisions: decisions,
                      measuredCount: decisions.filter { $0.source == .measured }.count,
                      tuneSeconds: decisions.reduce(0) { $0 + $1.tuneSeconds }, seconds: Date().timeIntervalSince(start))
    }
}
