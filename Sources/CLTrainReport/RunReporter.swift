import CLTrainIO
import CLTrainTraining
import Foundation

/// Draws a run's metrics into its output folder (metrics.csv, plot.svg) and as the line printed
/// after each epoch.
public struct RunReporter {
    public let directory: URL
    public let title: String

    public init(directory: URL, title: String) {
        self.directory = directory
        self.title = title
    }

    public func write(_ metrics: [EpochMetrics], curve: [LossCurve.Point] = []) throws {
        try AtomicFile.write(Data(MetricsCSV.render(metrics).utf8), to: directory.appendingPathComponent("metrics.csv"))
        try AtomicFile.write(Data(TrainingPlot.svg(metrics, curve: curve, title: title).utf8),
                             to: directory.appendingPathComponent("plot.svg"))
    }

    /// The line printed after each epoch.
    public static func line(_ m: EpochMetrics, epochs: Int) -> String {
        var text = String(format: "epoch %d/%d  lr %.4g  train loss %.4f acc %.2f%%", m.epoch, epochs, m.learningRate,
                          m.trainLoss, 100 * m.trainAccuracy)
        if let loss = m.testLoss, let accuracy = m.testAccuracy {
            text += String(format: "  test loss %.4f acc %.2f%%", loss, 100 * accuracy)
        }
        if let accuracy = m.emaTestAccuracy { text += String(format: "  ema acc %.2f%%", 100 * accuracy) }
        text += String(format: "  %.0f img/s  %@", m.imagesPerSecond, ProgressBar.formatDuration(m.seconds))
        return text
    }
}
