import Foundation
import XCTest

@testable import CLTrainData

/// The real Fashion-MNIST files, when installed (Debian's dataset-fashion-mnist package).
final class FashionMNISTTests: XCTestCase {
    func testInstalledFashionMNIST() throws {
        guard let directory = DatasetKind.fashionMNIST.defaultDirectory,
              FileManager.default.fileExists(atPath: directory)
        else {
            throw XCTSkip("Fashion-MNIST is not installed at /usr/share/datasets/fashion-mnist (apt-get install dataset-fashion-mnist)")
        }
        let train = try DatasetLoader.load(kind: .fashionMNIST, split: .train)
        XCTAssertEqual(train.count, 60000)
        XCTAssertEqual([train.channels, train.height, train.width, train.classes], [1, 28, 28, 10])
        XCTAssertEqual(train.images.count, 60000 * 784)
        XCTAssertEqual(Set(train.labels), Set(0..<10))
        let test = try DatasetLoader.load(kind: .fashionMNIST, split: .test)
        XCTAssertEqual(test.count, 10000)
        XCTAssertEqual(test.labels.count, 10000)

        let norm = Normalization.compute(train)
        print("Fashion-MNIST train: mean \(norm.mean[0]), std \(norm.std[0])")
        XCTAssertEqual(norm.mean[0], 0.2860, accuracy: 5e-4)
        XCTAssertEqual(norm.std[0], 0.3530, accuracy: 5e-4)
    }
}
