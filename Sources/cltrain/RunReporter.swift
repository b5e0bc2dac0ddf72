import CLTrainIO
import CLTrainReport
import Foundation

/// Writes a run's results into its output folder: metrics.csv, plot.svg, weights.safetensors.
struct RunReporter {
    let directory: URL
    let title: String

    var weightsURL: URL { directory.appendingPathComponent("weights.safetensors") }

    func write(_ metrics: [EpochMetrics]) throws {
        try AtomicFile.write(Data(MetricsCSV.render(metrics).utf8), to: directory.appendingPathComponent("metrics.csv"))
        try AtomicFile.write(Data(TrainingPlot.svg(metrics, title: title).utf8), to: directory.appendingPathComponent("plot.svg"))
    }

    /// The line printed after each epoch.
    static func line(_ m: EpochMetrics, epochs: Int) -> String {
        var text = String(format: "epoch %d/%d  lr %.4g  train loss %.4f acc %.2f%%", m.epoch, epochs, m.learningRate,
                          m.trainLoss, 100 * m.trainAccuracy)
        if let loss = m.testLoss, let accuracy = m.testAccuracy {
            text += String(format: "  test loss %.4f acc %.2f%%", loss, 100 * accuracy)
        }
        text += String(format: "  %.0f img/s  %@", m.imagesPerSecond, formatDuration(m.seconds))
        return text
    }
}
