import ArgumentParser
import CLTrainDistributed
import CLTrainRuntime
import Foundation

@main
struct CLTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cltrain",
        abstract: "Train DenseNet and Dilated Residual Networks on OpenCL GPUs, or on the CPU.",
        subcommands: [Train.self, Eval.self, Predict.self, Localize.self, Export.self, Models.self, Bench.self, Tune.self, Devices.self]
    )

    /// Parse and run; a usage error is one line on stderr (what is wrong, and where to read more)
    /// with exit status 64, never a stack trace. Help and version output are unchanged.
    static func main() {
        // Line-buffered stdout: epoch lines reach a log file or pipe as they are printed.
        setvbuf(stdout, nil, _IOLBF, 0)
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let exit as ExitCode {
            Foundation.exit(exit.rawValue)
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                Self.exit(withError: error)  // --help and friends
            }
            let first = fullMessage(for: error).split(whereSeparator: \.isNewline).first.map(String.init) ?? "\(error)"
            let message = first.hasPrefix("Error: ") ? String(first.dropFirst("Error: ".count)) : first
            FileHandle.standardError.write(Data("error: \(message) (see cltrain --help)\n".utf8))
            Foundation.exit(code.rawValue)
        }
    }
}

/// `--device auto|cpu|opencl[:N]` and `--tune off|cached|full`, shared by every command that runs ops.
struct DeviceOptions: ParsableArguments {
    /// The device given (nil: none was, and `train --resume` keeps the run's).
    @Option(name: .customLong("device"), help: "auto (an OpenCL GPU if any, else the CPU), cpu, opencl, or opencl:N (see `cltrain devices`) (default: auto).",
            transform: { try DeviceChoice(parsing: $0) })
    var deviceChoice: DeviceChoice?

    var device: DeviceChoice { deviceChoice ?? .auto }

    @Option(name: .long, help: ArgumentHelp(
        "How convolutions (OpenCL and CPU) choose their algorithm: off (a fixed rule), cached (time a new shape once, keep "
            + "the winner beside the compiled programs, reuse it on later runs), full (time every shape again and update the cache).",
        valueName: "off|cached|full"),
            transform: { try TuneMode(parsing: $0) })
    var tune: TuneMode = .cached

    func open() throws -> Device {
        try Device.open(device, tune: tune)
    }
}

/// The shape of one synthetic training step (`bench train`, `tune`): as a run on Fashion-MNIST
/// unless told otherwise.
struct StepShapeOptions: ParsableArguments {
    @Option(name: .long, help: "Images per batch (as the run's --batch-size).")
    var batchSize = 64

    @Option(name: .long, help: "Input height and width (as the run's images, or its --resize).")
    var size = 28

    @Option(name: .long, help: "Input channels.")
    var channels = 1

    @Option(name: .long, help: "Classes.")
    var classes = 10

    func validate() throws {
        guard batchSize > 0, size >= 8, channels > 0, classes > 1 else {
            throw ValidationError("--batch-size and --channels must be at least 1, --size at least 8, --classes at least 2")
        }
    }
}

/// Run `body`; report any error as one line on stderr (no stack trace) and exit non-zero.
func reportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let exit as ExitCode {
        throw exit
    } catch {
        FileHandle.standardError.write(Data("error: \(oneLine(error))\n".utf8))
        throw ExitCode(1)
    }
}

/// `value` as pretty-printed JSON with sorted keys on stdout (every command's `--json`).
func printJSON<Value: Encodable>(_ value: Value) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

/// This process's communicator: MPI's when mpirun or srun started it, else the single process.
/// A launch that cannot work (e.g. srun without PMIx) is one error line and exit status 1.
func openCommunicator() throws -> any Communicator {
    do {
        return try communicatorFromEnvironment()
    } catch {
        FileHandle.standardError.write(Data("error: \(oneLine(error))\n".utf8))
        throw ExitCode(1)
    }
}

/// An error as one line that says what happened.
func oneLine(_ error: Error) -> String {
    let text = String(describing: error)
    return text.split(whereSeparator: \.isNewline).joined(separator: " ")
}
