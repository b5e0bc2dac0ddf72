import CLTrainTraining
import Foundation

/// A training run's TensorBoard scalars, in a new events file in the run's folder:
/// `train/loss` and `train/accuracy` (means over the steps since the last point) every `every`
/// steps, and after each epoch `test/loss`, `test/accuracy` (when the epoch was tested),
/// `learning_rate` and `images_per_second`, all at the run's optimizer step. A resumed run opens
/// another file in the same folder and first logs a session start at its next step, so that
/// TensorBoard (which merges a folder's files) drops what the interrupted run logged after the
/// checkpoint it resumes from.
public final class TensorBoardLog {
    /// Steps between two `train/` points when the caller does not say.
    public static let defaultEvery = 50

    public let writer: EventFileWriter
    public let every: Int
    let clock: () -> Double
    /// The steps since the last `train/` point: images, summed loss (times images), correct.
    var windowImages = 0
    var windowLoss = 0.0
    var windowCorrect = 0.0

    /// `resumedAfter`: the step of the checkpoint a resumed run starts from; nil for a new run.
    public init(directory: URL, every: Int = defaultEvery, resumedAfter step: Int? = nil,
                clock: @escaping () -> Double = { Date().timeIntervalSince1970 }) throws {
        precondition(every > 0, "a log interval must be at least one step")
        self.every = every
        self.clock = clock
        writer = try EventFileWriter(directory: directory, wallTime: clock())
        if let step { try writer.write(TensorBoardEvent.sessionStart(step: step + 1, wallTime: clock())) }
    }

    /// After each training step (what `TrainingRun.run`'s `onProgress` hands over).
    public func record(_ progress: TrainingProgress) throws {
        try recordStep(progress.step, loss: progress.stepLoss, accuracy: progress.stepAccuracy, images: progress.stepImages)
    }

    /// One step's mean loss and accuracy over its `images`.
    public func recordStep(_ step: Int, loss: Double, accuracy: Double, images: Int) throws {
        windowImages += images
        windowLoss += loss * Double(images)
        windowCorrect += accuracy * Double(images)
        guard step % every == 0, windowImages > 0 else { return }
        let count = Double(windowImages)
        try write([("train/loss", windowLoss / count), ("train/accuracy", windowCorrect / count)], step: step)
        windowImages = 0
        windowLoss = 0
        windowCorrect = 0
    }

    /// After each epoch.
    public func record(_ epoch: EpochMetrics) throws {
        var values: [(String, Double)] = []
        if let loss = epoch.testLoss { values.append(("test/loss", loss)) }
        if let accuracy = epoch.testAccuracy { values.append(("test/accuracy", accuracy)) }
        values.append(("learning_rate", epoch.learningRate))
        values.append(("images_per_second", epoch.imagesPerSecond))
        try write(values, step: epoch.step)
    }

    func write(_ values: [(String, Double)], step: Int) throws {
        try writer.write(TensorBoardEvent.scalars(values.map { (tag: $0.0, value: Float($0.1)) }, step: step, wallTime: clock()))
    }
}
