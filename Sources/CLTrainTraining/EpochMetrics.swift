import Foundation

/// What one finished epoch measured. Accuracies are fractions in 0...1.
public struct EpochMetrics: Codable, Sendable, Equatable {
    /// 1-based epoch number.
    public var epoch: Int
    /// Optimizer steps taken so far, this epoch included.
    public var step: Int
    /// Learning rate of the epoch's last step (the rate changes every step; see `LearningRateCurve`).
    public var learningRate: Double
    public var trainLoss: Double
    /// Fraction correct, 0...1.
    public var trainAccuracy: Double
    /// Absent when the epoch was not evaluated on the test set.
    public var testLoss: Double?
    /// Fraction correct, 0...1; absent when not evaluated.
    public var testAccuracy: Double?
    /// The test accuracy of the weights' moving average (`--ema`); absent without one.
    public var emaTestAccuracy: Double?
    /// Wall time of the epoch in seconds.
    public var seconds: Double
    /// Training throughput over the epoch.
    public var imagesPerSecond: Double

    public init(
        epoch: Int, step: Int, learningRate: Double,
        trainLoss: Double, trainAccuracy: Double,
        testLoss: Double? = nil, testAccuracy: Double? = nil,
        seconds: Double, imagesPerSecond: Double, emaTestAccuracy: Double? = nil
    ) {
        self.emaTestAccuracy = emaTestAccuracy
        self.epoch = epoch
        self.step = step
        self.learningRate = learningRate
        self.trainLoss = trainLoss
        self.trainAccuracy = trainAccuracy
        self.testLoss = testLoss
        self.testAccuracy = testAccuracy
        self.seconds = seconds
        self.imagesPerSecond = imagesPerSecond
    }
}
