import XCTest
@testable import CLTrainTraining

/// The geometry of localization on maps drawn by hand: the threshold, 8-connected regions,
/// boxes, and resizing a stride-8 map onto the image.
final class LocalizationGeometryTests: XCTestCase {
    /// A map from rows of characters: '.' is 0, a digit d is d.
    func map(_ rows: [String]) -> ResponseMap {
        let values = rows.flatMap { $0.map { $0 == "." ? Float(0) : Float(String($0))! } }
        return ResponseMap(width: rows[0].count, height: rows.count, values: values)
    }

    func testDiagonalNeighboursJoinARegionAndTheLargestComesFirst() {
        let m = map([
            "9.....",
            ".5..4.",
            "..5.44",
            "......",
            "3.....",
        ])
        let regions = m.regions(threshold: 0.2)
        XCTAssertEqual(regions.map(\.area), [3, 3, 1], "the diagonal 9-5-5 is one region, the 4s another, the lone 3 a third")
        XCTAssertEqual(regions[0].box, PixelBox(x0: 0, y0: 0, x1: 3, y1: 3), "a tie keeps the region met first in row order")
        XCTAssertEqual(regions[0].peak, 9)
        XCTAssertEqual(regions[1].box, PixelBox(x0: 4, y0: 1, x1: 6, y1: 3))
        XCTAssertEqual(regions[2].box, PixelBox(x0: 0, y0: 4, x1: 1, y1: 5))
    }

    func testTheThresholdIsAFractionOfTheMapsRange() {
        let m = map(["1234", "5678", "9..."])
        // Range 0...9: 0.5 keeps values >= 4.5.
        XCTAssertEqual(m.mask(threshold: 0.5), [false, false, false, false, true, true, true, true, true, false, false, false])
        // Shifting the map (a bias) changes nothing: the threshold is relative to min and max.
        let shifted = ResponseMap(width: 4, height: 3, values: m.values.map { $0 - 20 })
        XCTAssertEqual(shifted.mask(threshold: 0.5), m.mask(threshold: 0.5))
        XCTAssertEqual(shifted.mask(threshold: 0.99), [false, false, false, false, false, false, false, false, true, false, false, false])
        // A flat map has no region.
        XCTAssertEqual(ResponseMap(width: 2, height: 2, values: [3, 3, 3, 3]).regions(threshold: 0.2), [])
    }

    func testTheLargestRegionWinsOverTheHighestPeak() {
        let m = map([
            "9.1111",
            "..1111",
        ])
        let regions = m.regions(threshold: 0.1)
        XCTAssertEqual(regions.first?.box, PixelBox(x0: 2, y0: 0, x1: 6, y1: 2))
        XCTAssertEqual(regions.first?.area, 8)
        XCTAssertEqual(regions.last?.peak, 9)
    }

    func testARegionMayWrapAroundAHole() {
        let m = map([
            "11111",
            "1...1",
            "11111",
        ])
        let regions = m.regions(threshold: 0.5)
        XCTAssertEqual(regions.count, 1)
        XCTAssertEqual(regions[0].area, 12)
        XCTAssertEqual(regions[0].box, PixelBox(x0: 0, y0: 0, x1: 5, y1: 3))
    }

    /// One hot cell of a 4x4 map resized to a 32x32 image lands on the 8x8 pixels that cell stands
    /// for: half-pixel centres put cell (1, 2)'s peak between pixels 11 and 12 across and 19 and 20
    /// down, and a threshold of 0.5 keeps a box centred there, one cell wide.
    func testResizingMapsACellOntoItsPixels() {
        var values = [Float](repeating: 0, count: 16)
        values[2 * 4 + 1] = 1
        let resized = ResponseMap(width: 4, height: 4, values: values).resized(width: 32, height: 32)
        XCTAssertEqual(resized.width, 32)
        XCTAssertEqual(resized[11, 19], resized[12, 20], accuracy: 1e-6)
        XCTAssertEqual(resized.maximum, resized[11, 19], accuracy: 1e-6)
        let box = resized.regions(threshold: 0.5).first?.box
        // Bilinear weights fall to 0.5 four pixels from the centre: pixels 8..<16 and 16..<24.
        XCTAssertEqual(box, PixelBox(x0: 8, y0: 16, x1: 16, y1: 24))
        // Non-square: a 4x2 map on a 40x20 image, right half hot.
        let wide = ResponseMap(width: 4, height: 2, values: [0, 0, 1, 1, 0, 0, 1, 1]).resized(width: 40, height: 20)
        XCTAssertEqual(wide.regions(threshold: 0.5).first?.box, PixelBox(x0: 20, y0: 0, x1: 40, y1: 20))
    }

    func testIntersectionOverUnion() {
        let a = PixelBox(x0: 0, y0: 0, x1: 10, y1: 10)
        XCTAssertEqual(a.intersectionOverUnion(a), 1)
        XCTAssertEqual(a.intersectionOverUnion(PixelBox(x0: 5, y0: 0, x1: 15, y1: 10)), 50.0 / 150.0, accuracy: 1e-12)
        XCTAssertEqual(a.intersectionOverUnion(PixelBox(x0: 10, y0: 10, x1: 20, y1: 20)), 0)
    }
}
