import CLTrainIO
import CLTrainNN
import CLTrainRuntime
import Foundation

/// `cltrain export`: trained weights as an ONNX inference graph.
///
/// The graph takes images already normalised as cltrain's own forward pass takes them,
/// `(pixel / 255 - mean[c]) / std[c]`, like PyTorch's exports of the same state_dict; the mean
/// and std the weights were trained with go into the file's metadata (`cltrain.mean`,
/// `cltrain.std`) and its doc string. BN runs as BatchNormalization nodes in inference mode
/// holding the running statistics, under the state_dict names (runtimes fold them into the
/// convolutions themselves).
public enum ModelExport {
    public struct Summary: Sendable {
        public let model: String
        public let output: String
        /// [C, H, W] of one input image; the batch dimension is symbolic.
        public let inputShape: [Int]
        public let classes: Int
        /// Whether the channels and size came from the weights' metadata (else from the flags).
        public let shapeFromMetadata: Bool
        public let nodes: Int
        public let initializers: Int
        public let bytes: Int
    }

    /// Load `weights` into model `name` and write its ONNX graph to `output` atomically.
    /// `channels`, `size` and `classes` are for weights without cltrain's metadata; `size`
    /// also overrides the stored image size (the models take any size large enough).
    public static func onnx(model name: String, weights: String, output: String, channels: Int?, size: Int?,
                            classes: Int) throws -> Summary {
        guard let entry = ModelCatalog.entry(named: name) else {
            throw UsageError("unknown model '\(name)': see `cltrain models` for the list")
        }
        let file = try SafetensorsFile.read(contentsOf: URL(fileURLWithPath: weights))
        let stored = RunMetadata(file.metadata)
        if let stored, let channels, channels != stored.inputChannels {
            throw UsageError("\(weights) is for \(stored.inputChannels)-channel images, not \(channels): drop --channels")
        }
        guard let inputChannels = stored?.inputChannels ?? channels,
              let height = size ?? stored?.height, let width = size ?? stored?.width else {
            throw UsageError("\(weights) holds no cltrain metadata: pass --channels and --size (the images the model takes)")
        }
        guard inputChannels > 0, height > 0, width > 0 else {
            throw UsageError("--channels and --size must be at least 1 (got \(inputChannels) and \(height))")
        }
        try entry.checkInputSize(height: height, width: width) { "use --size \($0)" }
        let model = try entry.make(inputChannels: inputChannels, classes: stored?.classes ?? classes,
                                   device: Device(backend: CPUBackend()), seed: 0)
        try ModelWeights.load(file, into: model)

        var onnx = try ONNXExport.model(model, name: entry.name, height: height, width: width)
        onnx.docString = "\(entry.name) exported by cltrain: input [batch, \(inputChannels), \(height), \(width)] float images "
            + "normalised as (pixel / 255 - mean[c]) / std[c]"
            + (stored.map { " with mean \(list($0.normalization.mean)) and std \(list($0.normalization.std))" } ?? "")
            + ", output logits [batch, \(model.classes)]"
        onnx.metadata = [("cltrain.model", entry.name), ("cltrain.input", "normalised")]
        if let stored {
            onnx.metadata += [("cltrain.dataset", stored.dataset), ("cltrain.mean", list(stored.normalization.mean)),
                              ("cltrain.std", list(stored.normalization.std))]
        }
        let bytes = onnx.serialized()
        try AtomicFile.write(bytes, to: URL(fileURLWithPath: output))
        return Summary(model: entry.name, output: output, inputShape: [inputChannels, height, width], classes: model.classes,
                       shapeFromMetadata: stored != nil && size == nil, nodes: onnx.graph.nodes.count,
                       initializers: onnx.graph.initializers.count, bytes: bytes.count)
    }

    private static func list(_ values: [Float]) -> String { values.map { "\($0)" }.joined(separator: ",") }
}
