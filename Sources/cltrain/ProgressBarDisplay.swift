import CLTrainReport
import CLTrainTraining
import Foundation

/// The training progress bar on stderr when it is a terminal; nothing otherwise (the epoch
/// lines on stdout then tell the story).
final class ProgressBarDisplay {
    private let printer: ProgressPrinter?

    init(enabled: Bool = true) {
        printer = enabled && ProgressBar.isTerminal(STDERR_FILENO)
            ? ProgressPrinter(bar: ProgressBar(width: ProgressBar.terminalWidth(STDERR_FILENO))) : nil
    }

    func update(_ p: TrainingProgress) {
        guard let printer else { return }
        printer.bar.prefix = "epoch \(p.epoch)/\(p.epochs)"
        printer.update(done: p.imagesDone, total: p.imagesTotal, elapsed: p.elapsedSeconds,
                       fields: ProgressBar.trainingFields(loss: p.meanLoss, accuracy: p.accuracy, imagesPerSecond: p.imagesPerSecond))
    }

    func finishLine() { printer?.finish() }
}

func formatDuration(_ seconds: Double) -> String { ProgressBar.formatDuration(seconds) }
