import Foundation
import XCTest

@testable import CLTrainData

final class NormalizationTests: XCTestCase {
    func testPerChannelMeanAndStd() throws {
        // Two images, two channels of 2 pixels: channel 0 holds 0, 255, 0, 255; channel 1 holds 51 everywhere.
        let data = ImageDataset(
            images: [0, 255, 51, 51, 0, 255, 51, 51], labels: [0, 1], count: 2,
            channels: 2, height: 1, width: 2, classes: 2)
        let norm = Normalization.compute(data)
        XCTAssertEqual(norm.mean[0], 0.5, accuracy: 1e-6)
        XCTAssertEqual(norm.std[0], 0.5, accuracy: 1e-6)
        XCTAssertEqual(norm.mean[1], 0.2, accuracy: 1e-6)
        // No spread: std falls back to 1 so the statistics stay usable.
        XCTAssertEqual(norm.std[1], 1)
        XCTAssertNoThrow(try norm.validate(channels: 2))
    }

    func testMatchesDirectComputation() {
        let data = syntheticDataset(count: 7, channels: 3, height: 5, width: 3)
        let norm = Normalization.compute(data)
        let plane = 15
        for c in 0..<3 {
            var values: [Double] = []
            for n in 0..<7 {
                let base = (n * 3 + c) * plane
                values += data.images[base..<(base + plane)].map { Double($0) / 255 }
            }
            let mean = values.reduce(0, +) / Double(values.count)
            let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count)
            XCTAssertEqual(Double(norm.mean[c]), mean, accuracy: 1e-6)
            XCTAssertEqual(Double(norm.std[c]), variance.squareRoot(), accuracy: 1e-6)
        }
    }

    func testCodableRoundTrip() throws {
        let norm = Normalization(mean: [0.4914, 0.4822, 0.4465], std: [0.247, 0.2435, 0.2616])
        let json = try JSONEncoder().encode(norm)
        XCTAssertEqual(try JSONDecoder().decode(Normalization.self, from: json), norm)
    }

    func testValidate() {
        XCTAssertNoThrow(try Normalization.identity(channels: 3).validate(channels: 3))
        XCTAssertThrowsError(try Normalization(mean: [0], std: [1]).validate(channels: 3))
        XCTAssertThrowsError(try Normalization(mean: [0], std: [-1]).validate(channels: 1))
        XCTAssertThrowsError(try Normalization(mean: [0], std: [.infinity]).validate(channels: 1))
    }
}
