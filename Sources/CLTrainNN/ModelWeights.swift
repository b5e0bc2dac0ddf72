import CLTrainIO
import CLTrainRuntime
import Foundation

/// Moves a model's state through safetensors files with PyTorch's `state_dict` names, so the
/// same file loads in cltrain and in the reference PyTorch models.
public enum ModelWeights {
    /// Every tensor of the state (parameters and buffers) with its name and values, read from
    /// the device, in state_dict order.
    public static func stateTensors(of model: Model) throws -> [SafetensorsWriter.Tensor] {
        try model.parameters.map { ($0.name, $0.shape, try $0.value.device.read($0.value)) }
            + model.buffers.map { ($0.name, $0.value.shape, try $0.value.device.read($0.value)) }
    }

    /// The names and shapes a weights file for `model` must hold.
    public static func expectedTensors(of model: Model) -> [(name: String, shape: [Int])] {
        model.parameters.map { ($0.name, $0.shape) } + model.buffers.map { ($0.name, $0.value.shape) }
    }

    /// Write the model's weights, running statistics and `num_batches_tracked` (and `extra`
    /// tensors, e.g. an optimizer's state in a checkpoint), atomically.
    /// With `checksum`, the file carries a `SafetensorsChecksum` (checkpoints do).
    public static func save(_ model: Model, to url: URL, extra: [SafetensorsWriter.Tensor] = [], metadata: [String: String] = [:],
                            checksum: Bool = false) throws {
        try SafetensorsWriter.write(tensors: try stateTensors(of: model) + extra, int64Scalars: counters(of: model), metadata: metadata,
                                    checksum: checksum, to: url)
    }

    /// The bytes `save` writes, in memory: a snapshot of the model as it is now, to write later
    /// (or again, after a failed write) with `AtomicFile.write`.
    public static func encode(_ model: Model, metadata: [String: String] = [:]) throws -> Data {
        try SafetensorsWriter.encode(tensors: try stateTensors(of: model), int64Scalars: counters(of: model), metadata: metadata)
    }

    static func counters(of model: Model) -> [SafetensorsWriter.Int64Scalar] {
        model.batchNorms.map { (name: join($0.name, "num_batches_tracked"), value: Int64($0.batchesTracked)) }
    }

    /// Load a weights file into `model` after checking every name and shape; returns the file's
    /// metadata. Nothing is changed when the file does not fit.
    @discardableResult
    public static func load(_ url: URL, into model: Model) throws -> [String: String] {
        let file = try SafetensorsFile.read(contentsOf: url)
        try load(file, into: model)
        return file.metadata
    }

    /// Load an already read file into `model`; tensors named in `allowExtra` may be present too.
    public static func load(_ file: SafetensorsFile, into model: Model, allowExtra: Set<String> = []) throws {
        try file.validate(against: expectedTensors(of: model), allowExtra: allowExtra)
        try write(file, into: model)
    }

    /// What `loadFitting` left as the model had it.
    public struct FittingLoad: Equatable, Sendable {
        /// The file's metadata.
        public var metadata: [String: String]
        /// The classifier's class count in the file, when it differs from the model's: the
        /// classifier (weight and bias) keeps the model's initialisation. nil: it was loaded.
        public var fileClasses: Int?
        /// The tensors of the model not loaded from the file (the classifier's, or none).
        public var skipped: [String]
    }

    /// Load a pretrained network into a model that may classify another number of classes:
    /// every tensor must fit by name and shape as in `load`, except the classifier's weight and
    /// bias (`model.classifier`), which keep the model's initialisation when the file's differ
    /// from them in the class count alone. Any other mismatch throws `validate`'s error and
    /// changes nothing.
    public static func loadFitting(_ url: URL, into model: Model) throws -> FittingLoad {
        try loadFitting(SafetensorsFile.read(contentsOf: url), into: model)
    }

    public static func loadFitting(_ file: SafetensorsFile, into model: Model) throws -> FittingLoad {
        let (weight, bias, _) = model.classifier
        var skipped: [String] = []
        var fileClasses: Int?
        if let found = file.tensors[weight.name]?.shape, found.count == weight.shape.count, found.first != weight.shape.first,
           Array(found.dropFirst()) == Array(weight.shape.dropFirst()),
           bias.map({ file.tensors[$0.name]?.shape == [found[0]] }) ?? true {
            fileClasses = found[0]
            skipped = [weight.name] + (bias.map { [$0.name] } ?? [])
        }
        let skip = Set(skipped)
        try file.validate(against: expectedTensors(of: model).filter { !skip.contains($0.name) }, allowExtra: skip)
        try write(file, into: model, skipping: skip)
        return FittingLoad(metadata: file.metadata, fileClasses: fileClasses, skipped: skipped)
    }

    /// Write a validated file's tensors into `model`, all but `skipping`, with the batch norms'
    /// `num_batches_tracked` where the file has them.
    private static func write(_ file: SafetensorsFile, into model: Model, skipping skip: Set<String> = []) throws {
        let parameters = model.parameters.filter { !skip.contains($0.name) }
        // Read everything before writing anything, so a bad dtype leaves the model untouched.
        let parameterValues = try parameters.map { try file.floats($0.name, shape: $0.shape) }
        let bufferValues = try model.buffers.map { try file.floats($0.name, shape: $0.value.shape) }
        for (p, values) in zip(parameters, parameterValues) { try p.value.device.write(values, to: p.value) }
        for (b, values) in zip(model.buffers, bufferValues) { try b.value.device.write(values, to: b.value) }
        for norm in model.batchNorms {
            let name = join(norm.name, "num_batches_tracked")
            if file.tensors[name] != nil { norm.batchesTracked = try file.integer(name) }
        }
    }
}
