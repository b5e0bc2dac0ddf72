import ArgumentParser
import CLTrainRuntime
import CLTrainTraining
import Foundation

/// `cltrain tune`: choose every convolution's algorithm for a model ahead of a run, and show the
/// choices. With the default `--tune cached` only shapes the cache does not hold are timed (a
/// second call times nothing and shows the cached choices); `--tune full` times them all again.
struct Tune: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Tune a model's convolution shapes ahead of a run: one training step on random data, then each choice with its time.",
        discussion: """
            Every (op, shape) of one training step meets the device's tuner. With --tune cached (the default, as for \
            train) shapes already in the cache are reused and only new ones are timed; --tune full times every shape \
            again and updates the cache; --tune off shows the rule each op takes. The cache is the tuning-*.json file \
            beside the compiled programs. Use the batch size and input size of the run to come: they are part of each shape.
            """
    )

    @Option(name: .long, help: "Model name (see `cltrain models`).")
    var model: String

    @OptionGroup var shape: StepShapeOptions

    @OptionGroup var deviceOptions: DeviceOptions

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    func run() throws {
        try reportingErrors {
            let report = try ModelTuning.run(model: model, batchSize: shape.batchSize, channels: shape.channels, height: shape.size,
                                             width: shape.size, classes: shape.classes, on: deviceOptions.open())
            if json {
                try printJSON(report)
                return
            }
            print("\(model) on \(report.device), batch \(shape.batchSize), input \(report.input.map(String.init).joined(separator: "x")), "
                  + "tune \(report.mode)")
            for decision in report.decisions { print(Self.line(decision)) }
            print(String(format: "%d problems, %d measured, %.1f s tuning, %.1f s in all",
                         report.decisions.count, report.measuredCount, report.tuneSeconds, report.seconds))
        }
    }

    /// "op  shape  choice  its ms  (runner-up and its ms | cached | rule)", with any candidate
    /// that failed to run.
    static func line(_ decision: TuningDecision) -> String {
        var text = pad(decision.problem.op, 23) + " " + pad(decision.problem.shape, 64) + " " + pad(decision.choice, 30)
        switch decision.source {
        case .measured:
            text += String(format: " %9.3f ms", decision.milliseconds[decision.choice] ?? .nan)
            if let runnerUp = decision.runnerUp {
                text += "   runner-up " + runnerUp.name + String(format: " %.3f ms", runnerUp.milliseconds)
            }
        case .cached, .rule:
            text += " " + decision.source.rawValue
        }
        if !decision.unavailable.isEmpty {
            text += "   unavailable: " + decision.unavailable.keys.sorted().joined(separator: ", ")
        }
        return text
    }
}
