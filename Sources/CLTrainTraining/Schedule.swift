import Foundation

/// The learning rate as a function of training progress.
public enum LearningRateSchedule: String, CaseIterable, Sendable, Codable {
    /// Divided by 10 at 50% and 75% of the epochs (the DenseNet paper's recipe).
    case step
    /// Cosine annealing from the base rate to 0 over the run, per epoch.
    case cosine
    case constant

    /// The rate for `epoch` (0-based) of `epochs`.
    public func learningRate(base: Float, epoch: Int, epochs: Int) -> Float {
        switch self {
        case .constant:
            return base
        case .step:
            var rate = base
            if Double(epoch) >= 0.5 * Double(epochs) { rate /= 10 }
            if Double(epoch) >= 0.75 * Double(epochs) { rate /= 10 }
            return rate
        case .cosine:
            return base * Float(0.5 * (1 + cos(Double.pi * Double(epoch) / Double(max(epochs, 1)))))
        }
    }
}
