import ArgumentParser
import CLTrainTraining

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write trained weights as an ONNX inference graph (opset 17, dynamic batch).",
        discussion: "The graph takes images normalised as cltrain's training did ((pixel / 255 - mean) / std, stored in "
            + "the file's metadata) and returns logits [batch, classes]; BN runs in eval mode with its running statistics.")

    @Option(name: .long, help: "Model name (see `cltrain models`).")
    var model: String

    @Option(name: .long, help: "Weights (safetensors).")
    var weights: String

    @Option(name: .long, help: "ONNX file to write.")
    var output: String

    @Option(name: .long, help: "Image channels, for weights without cltrain's metadata.")
    var channels: Int?

    @Option(name: .long, help: "Image height and width, for weights without cltrain's metadata (else the stored size).")
    var size: Int?

    @Option(name: .long, help: "Classes of the model when the weights file does not say.")
    var classes = 10

    func validate() throws {
        if let channels, channels < 1 { throw ValidationError("--channels must be at least 1 (got \(channels))") }
        if let size, size < 1 { throw ValidationError("--size must be at least 1 (got \(size))") }
        guard classes > 0 else { throw ValidationError("--classes must be at least 1 (got \(classes))") }
    }

    func run() throws {
        try reportingErrors {
            let result = try ModelExport.onnx(model: model, weights: weights, output: output, channels: channels, size: size,
                                              classes: classes)
            let shape = result.inputShape.map(String.init).joined(separator: "x")
            print("wrote \(result.output): \(result.model), input batch x \(shape) "
                  + "(\(result.shapeFromMetadata ? "from the weights' metadata" : "from the flags")), logits batch x \(result.classes), "
                  + "\(result.nodes) nodes, \(result.initializers) initializers, \(result.bytes) bytes")
        }
    }
}
