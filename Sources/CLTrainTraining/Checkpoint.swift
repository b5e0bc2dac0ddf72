import CLTrainData
import CLTrainIO
import CLTrainNN
import CLTrainRuntime
import Foundation

/// A run's checkpoint: one safetensors file in the run's folder holding the model's weights and
/// BN statistics, the optimizer's buffers (`optimizer.<parameter>.momentum_buffer`, ...), the
/// weights' moving average with `--ema` (`ema.<parameter>`), and in
/// its metadata the run's settings, normalisation and the trainer's counters (epoch, position in
/// the epoch, step, metrics). One file written aside and renamed: a kill at any moment leaves
/// the previous checkpoint whole. Shuffling and augmentation depend only on (seed, epoch,
/// image), so no generator state is needed to continue exactly.
public enum Checkpoint {
    public static let fileName = "checkpoint.safetensors"
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
    }

    public static func url(in directory: URL) -> URL { directory.appendingPathComponent(fileName) }

    /// Write `trainer`'s checkpoint into `directory`.
    public static func write(_ trainer: Trainer, to directory: URL, metadata: RunMetadata) throws {
        let device = trainer.device
        let optimizerTensors = try trainer.extraState.map { ($0.name, $0.tensor.shape, try device.read($0.tensor)) }
        let contents = Contents(options: trainer.options, normalization: trainer.normalization, trainer: trainer.state)
        let json = String(decoding: try JSONEncoder().encode(contents), as: UTF8.self)
        var fields = metadata.dictionary
        fields[metadataKey] = json
        try ModelWeights.save(trainer.model, to: url(in: directory), extra: optimizerTensors, metadata: fields)
    }

    /// Read the checkpoint in `directory`.
    public static func read(from directory: URL) throws -> Saved {
        let file = url(in: directory)
        guard FileManager.default.fileExists(atPath: file.path) else {
            throw UsageError("\(directory.path) holds no checkpoint (\(fileName)): nothing to resume; start a run with --out")
        }
        let weights = try SafetensorsFile.read(contentsOf: file)
        guard let json = weights.metadata[metadataKey], let contents = try? JSONDecoder().decode(Contents.self, from: Data(json.utf8)),
              contents.version == 1
        else {
            throw UsageError("\(file.path) is not a cltrain checkpoint (its run state is missing or unreadable)")
        }
        return Saved(options: contents.options, normalization: contents.normalization, trainer: contents.trainer, file: weights)
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

extension Trainer {
    /// The tensors a checkpoint keeps besides the model's, by their names in the file.
    var extraState: [(name: String, tensor: Tensor)] {
        optimizer.state.map { ("optimizer.\($0.name)", $0.tensor) } + (ema?.state.map { ("ema.\($0.name)", $0.tensor) } ?? [])
    }
}
