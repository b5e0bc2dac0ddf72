import CLTrainData
import CLTrainNN
import CLTrainRuntime

/// Eval-mode passes over a data set, in file order.
public enum Evaluation {
    /// Mean loss and accuracy of `model` on a labelled `dataset`.
    public static func evaluate(_ model: Model, on device: Device, dataset: ImageDataset, normalization: Normalization,
                                batchSize: Int, resize: Int? = nil, crop: Int? = nil) throws -> (loss: Double, accuracy: Double) {
        let result = try classify(model, on: device, dataset: dataset, normalization: normalization, batchSize: batchSize,
                                  resize: resize, crop: crop)
        return (result.loss, result.accuracy)
    }

    /// `evaluate`, keeping each image's predicted class (the largest probability, the first of equals).
    public static func classify(_ model: Model, on device: Device, dataset: ImageDataset, normalization: Normalization,
                                batchSize: Int, resize: Int? = nil, crop: Int? = nil) throws -> (loss: Double, accuracy: Double, predicted: [Int]) {
        var lossSum = 0.0
        var correct = 0
        var predicted: [Int] = []
        predicted.reserveCapacity(dataset.count)
        let criterion = SoftmaxCrossEntropy()
        try forEachBatch(dataset, normalization: normalization, batchSize: batchSize, resize: resize, crop: crop) { batch in
            let input = try device.tensor(batch.images, shape: [batch.count, batch.channels, batch.height, batch.width])
            let labels = try device.tensor(batch.labels, shape: [batch.count])
            let result = try criterion.forward(model.forward(input, training: false), labels: labels)
            lossSum += result.loss * Double(batch.count)
            correct += result.correct
            let classes = result.probabilities.count / max(batch.count, 1)
            for i in 0..<batch.count {
                let row = result.probabilities[i * classes..<(i + 1) * classes]
                predicted.append((row.indices.max(by: { row[$0] < row[$1] }) ?? row.startIndex) - row.startIndex)
            }
        }
        let n = Double(max(dataset.count, 1))
        return (lossSum / n, Double(correct) / n, predicted)
    }

    /// Eval-mode logits of every image of `dataset`, row by row.
    public static func logits(_ model: Model, on device: Device, dataset: ImageDataset, normalization: Normalization,
                              batchSize: Int, resize: Int? = nil) throws -> [[Float]] {
        var rows: [[Float]] = []
        rows.reserveCapacity(dataset.count)
        try forEachBatch(dataset, normalization: normalization, batchSize: batchSize, resize: resize) { batch in
            let input = try device.tensor(batch.images, shape: [batch.count, batch.channels, batch.height, batch.width])
            let values = try device.read(model.forward(input, training: false))
            let classes = values.count / batch.count
            for i in 0..<batch.count { rows.append(Array(values[i * classes..<(i + 1) * classes])) }
        }
        return rows
    }

    static func forEachBatch(_ dataset: ImageDataset, normalization: Normalization, batchSize: Int, resize: Int?, crop: Int? = nil,
                             _ body: (Batch) throws -> Void) throws {
        let options = BatchOptions(batchSize: batchSize, shuffle: false, augment: false, resize: resize, crop: crop)
        let batcher = try Batcher(dataset: dataset, normalization: normalization, options: options)
        for batch in try batcher.prefetchingBatches(epoch: 0) { try body(batch) }
    }
}
