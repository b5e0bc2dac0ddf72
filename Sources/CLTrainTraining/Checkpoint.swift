import CLTrainData
import CLTrainIO
import CLTrainNN
import CLTrainRuntime
import Foundation

/// A run's checkpoint: one safetensors file in the run's folder holding the model's weights and
/// BN statistics, the optimizer's buffers (`optimizer.<parameter>.momentum_buffer`, ...), the
/// weights' moving average with `--ema` (`ema.<parameter>`), and in
/// its metadata the run's settings, normalisation and the trainer's counters (epoch, position in
/// the epoch, step, metrics), and a checksum of all of it (`SafetensorsChecksum`). One file
/// written aside and renamed: a kill at any moment leaves the previous checkpoint whole. The one
/// before it stays beside it (`checkpoint-previous.safetensors`, a hard link: no extra space), so
/// that a checkpoint damaged later (a disk error, a file cut short by a copy) still leaves one to
/// resume from. Shuffling and augmentation depend only on (seed, epoch, image), so no generator
/// state is needed to continue exactly.
public enum Checkpoint {
    public static let fileName = "checkpoint.safetensors"
    public static let previousFileName = "checkpoint-previous.safetensors"
    /// Where a damaged checkpoint is moved when a run resumes from the previous one, so that the
    /// next checkpoint does not keep it as the previous.
    public static let damagedFileName = "checkpoint.safetensors.damaged"
    static let metadataKey = "cltrain.checkpoint"

    struct Contents: Codable {
        var version = 1
        var options: TrainingOptions
        var normalization: Normalization
        var trainer: TrainerState
    }

    /// What a checkpoint says about its run.
    public struct Saved {
        public let options: TrainingOptions
        public let normalization: Normalization
        public let trainer: TrainerState
        let file: SafetensorsFile
        /// Set when the newest checkpoint was damaged and this is the previous one: which file
        /// was bad, why, and the steps that will be trained again. Nil normally.
        public var fallback: String?
    }

    public static func url(in directory: URL) -> URL { directory.appendingPathComponent(fileName) }
    public static func previousURL(in directory: URL) -> URL { directory.appendingPathComponent(previousFileName) }

    /// Write `trainer`'s checkpoint into `directory`, keeping the one it replaces as the previous.
    public static func write(_ trainer: Trainer, to directory: URL, metadata: RunMetadata) throws {
        let device = trainer.device
        let optimizerTensors = try trainer.extraState.map { ($0.name, $0.tensor.shape, try device.read($0.tensor)) }
        let contents = Contents(options: trainer.options, normalization: trainer.normalization, trainer: trainer.state)
        let json = String(decoding: try JSONEncoder().encode(contents), as: UTF8.self)
        var fields = metadata.dictionary
        fields[metadataKey] = json
        try keepAsPrevious(in: directory)
        try ModelWeights.save(trainer.model, to: url(in: directory), extra: optimizerTensors, metadata: fields, checksum: true)
    }

    /// Make the current checkpoint the previous one, atomically, without copying it: a hard link
    /// renamed over the previous (where the file system has no hard links, the checkpoint itself
    /// is renamed; a resume in the moment before the new one is in place takes the previous).
    static func keepAsPrevious(in directory: URL) throws {
        let current = url(in: directory).path, previous = previousURL(in: directory).path
        var isDirectory: ObjCBool = false
        // Only a file is kept (something else in the way makes the write itself fail, as before).
        guard FileManager.default.fileExists(atPath: current, isDirectory: &isDirectory), !isDirectory.boolValue else { return }
        let temporary = directory.appendingPathComponent(".\(previousFileName).\(getpid()).tmp").path
        _ = unlink(temporary)
        // When the previous already is the current (a write of the new one failed), rename finds
        // two links to one file and does nothing: the temporary link must still go.
        defer { _ = unlink(temporary) }
        var moved = link(current, temporary) == 0 && rename(temporary, previous) == 0
        if !moved {
            _ = unlink(temporary)
            moved = rename(current, previous) == 0
        }
        guard moved else {
            throw WeightsFileError.writeFailed(file: previous, reason: "keeping the previous checkpoint: \(String(cString: strerror(errno)))")
        }
    }

    /// Read the newest good checkpoint in `directory`: the current one, or, when it is missing,
    /// cut short or fails its checksum, the previous one (then `fallback` says so, and the damaged
    /// file is moved to `damagedFileName`). Throws a one-line `CheckpointError` when none is good.
    /// Checkpoints from before checksums load as they are.
    public static func read(from directory: URL) throws -> Saved {
        let current = url(in: directory), previous = previousURL(in: directory)
        let fileManager = FileManager.default
        guard fileManager.fileExists(atPath: current.path) || fileManager.fileExists(atPath: previous.path) else {
            throw UsageError("\(directory.path) holds no checkpoint (\(fileName)): nothing to resume; start a run with --out")
        }
        let newest: Result<Saved, CheckpointError.Problem> = load(current)
        if case let .success(saved) = newest { return saved }
        guard case let .failure(problem) = newest else { fatalError("unreachable") }
        switch load(previous) {
        case var .success(saved):
            let lost = problem.step.map { " (\($0 - saved.trainer.step) steps, to step \($0))" } ?? ""
            saved.fallback = "\(problem.text); resuming from \(previousFileName) at step \(saved.trainer.step): the steps after it\(lost) are trained again"
            if fileManager.fileExists(atPath: current.path) {
                _ = rename(current.path, directory.appendingPathComponent(damagedFileName).path)
                saved.fallback! += "; the damaged file is kept as \(damagedFileName)"
            }
            return saved
        case let .failure(previousProblem):
            throw CheckpointError.noGoodCheckpoint(directory: directory.path, problems: [problem, previousProblem])
        }
    }

    /// One checkpoint file, checked: its format, its checksum (when it has one), its run state.
    static func load(_ file: URL) -> Result<Saved, CheckpointError.Problem> {
        let name = file.lastPathComponent
        guard FileManager.default.fileExists(atPath: file.path) else { return .failure(.init(text: "\(name) is missing", step: nil)) }
        let weights: SafetensorsFile
        do {
            weights = try SafetensorsFile.read(contentsOf: file)
        } catch {
            return .failure(.init(text: "\(name) is damaged (\(error))", step: nil))
        }
        let contents = weights.metadata[metadataKey].flatMap { try? JSONDecoder().decode(Contents.self, from: Data($0.utf8)) }
        if SafetensorsChecksum.verify(weights) == false {
            return .failure(.init(text: "\(name) is damaged (its contents do not match its checksum)", step: contents?.trainer.step))
        }
        guard let contents, contents.version == 1 else {
            return .failure(.init(text: "\(name) is not a cltrain checkpoint (its run state is missing or unreadable)", step: nil))
        }
        return .success(Saved(options: contents.options, normalization: contents.normalization, trainer: contents.trainer, file: weights))
    }

    /// Load a checkpoint's tensors (model, optimizer, EMA) into `trainer`'s model and optimizer, and its counters.
    public static func restore(_ saved: Saved, into trainer: Trainer) throws {
        let extraState = trainer.extraState
        try ModelWeights.load(saved.file, into: trainer.model, allowExtra: Set(extraState.map(\.name)))
        for (name, tensor) in extraState {
            try trainer.device.write(try saved.file.floats(name, shape: tensor.shape), to: tensor)
        }
        trainer.restore(saved.trainer)
    }
}

/// A run folder with no checkpoint to resume from that can be trusted.
public enum CheckpointError: Error, CustomStringConvertible, Equatable {
    /// What is wrong with one checkpoint file, and its step when that could still be read.
    public struct Problem: Error, Equatable {
        public let text: String
        public let step: Int?
    }

    case noGoodCheckpoint(directory: String, problems: [Problem])

    public var description: String {
        switch self {
        case let .noGoodCheckpoint(directory, problems):
            return "\(directory) has no good checkpoint to resume from: " + problems.map(\.text).joined(separator: "; ")
                + "; start the run again with --out (or --init with its weights.safetensors)"
        }
    }
}

extension Trainer {
    /// The tensors a checkpoint keeps besides the model's, by their names in the file.
    var extraState: [(name: String, tensor: Tensor)] {
        optimizer.state.map { ("optimizer.\($0.name)", $0.tensor) } + (ema?.state.map { ("ema.\($0.name)", $0.tensor) } ?? [])
    }
}
