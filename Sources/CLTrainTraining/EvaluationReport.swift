import CLTrainData
import Foundation

/// What `cltrain eval --report` shows: the confusion matrix, each class's numbers, and which test
/// images go in the picture grid. Computed from labels and predictions alone, so a test can check
/// it by hand; `CLTrainReport.ReportFolder` draws and writes it.
public struct EvaluationReport: Sendable {
    /// One class's numbers. `accuracy` is the share of its images predicted as it (its recall);
    /// nil where it has no images (accuracy, recall) or nothing was predicted as it (precision).
    public struct ClassStats: Sendable, Equatable, Codable {
        public var name: String
        /// Test images of this class.
        public var count: Int
        /// Test images predicted as this class.
        public var predicted: Int
        /// Images of this class predicted as it.
        public var correct: Int
        public var accuracy: Double?
        public var precision: Double?
        public var recall: Double?
    }

    /// One picture of the grid.
    public struct GridImage: Sendable {
        /// Its index in the test set.
        public var index: Int
        public var image: DecodedImage
        public var label: Int
        public var predicted: Int
        public var isCorrect: Bool { label == predicted }
    }

    public var model: String
    public var weights: String
    public var dataset: String
    public var device: String
    public var date: Date
    public var images: Int
    public var loss: Double
    public var accuracy: Double
    public var classNames: [String]
    /// `confusion[t][p]`: images of class t predicted as p.
    public var confusion: [[Int]]
    public var perClass: [ClassStats]
    /// The images of the grid: the misclassified ones first, each group in test-set order.
    public var grid: [GridImage]

    /// The grid holds at most this many images (8 x 8).
    public static let gridSize = 64

    /// The report of `predicted` against `dataset`'s labels, over `classNames.count` classes
    /// (at least the data set's).
    public init(dataset: ImageDataset, predicted: [Int], loss: Double, classNames: [String], model: String, weights: String,
                datasetName: String, device: String, date: Date = Date(), gridSize: Int = EvaluationReport.gridSize) {
        precondition(predicted.count == dataset.count && dataset.labels.count == dataset.count, "one prediction per labelled image")
        let labels = dataset.labels.map(Int.init)
        let classes = max(classNames.count, dataset.classes, (labels.max() ?? -1) + 1, (predicted.max() ?? -1) + 1)
        let names = classNames + (classNames.count..<classes).map(String.init)
        self.model = model
        self.weights = weights
        self.dataset = datasetName
        self.device = device
        self.date = date
        self.images = dataset.count
        self.loss = loss
        self.classNames = names
        self.confusion = Self.confusionMatrix(labels: labels, predicted: predicted, classes: classes)
        self.perClass = Self.classStats(confusion, names: names)
        let correct = zip(labels, predicted).filter { $0 == $1 }.count
        self.accuracy = dataset.count == 0 ? 0 : Double(correct) / Double(dataset.count)
        self.grid = Self.gridOrder(labels: labels, predicted: predicted, count: gridSize).map { i in
            GridImage(index: i, image: DecodedImage(planar: dataset.image(i), channels: dataset.channels, height: dataset.height,
                                                    width: dataset.width),
                      label: labels[i], predicted: predicted[i])
        }
    }

    /// `m[t][p]`: how many of `labels` equal t where `predicted` is p.
    public static func confusionMatrix(labels: [Int], predicted: [Int], classes: Int) -> [[Int]] {
        var matrix = [[Int]](repeating: [Int](repeating: 0, count: classes), count: classes)
        for (t, p) in zip(labels, predicted) { matrix[t][p] += 1 }
        return matrix
    }

    /// Per-class count, accuracy (= recall) and precision from a confusion matrix.
    public static func classStats(_ confusion: [[Int]], names: [String]) -> [ClassStats] {
        confusion.indices.map { c in
            let count = confusion[c].reduce(0, +)
            let predicted = confusion.reduce(0) { $0 + $1[c] }
            let correct = confusion[c][c]
            let recall = count == 0 ? nil : Double(correct) / Double(count)
            return ClassStats(name: names[c], count: count, predicted: predicted, correct: correct, accuracy: recall,
                              precision: predicted == 0 ? nil : Double(correct) / Double(predicted), recall: recall)
        }
    }

    /// The first `count` indices with the misclassified images first, each group in order (as the
    /// seeds' `visualize_results` shows mistakes before successes).
    public static func gridOrder(labels: [Int], predicted: [Int], count: Int) -> [Int] {
        let wrong = labels.indices.filter { labels[$0] != predicted[$0] }
        let right = labels.indices.filter { labels[$0] == predicted[$0] }
        return Array((wrong + right).prefix(max(0, count)))
    }

    /// Misclassified test images.
    public var wrong: Int { images - confusion.indices.reduce(0) { $0 + confusion[$1][$1] } }
}
