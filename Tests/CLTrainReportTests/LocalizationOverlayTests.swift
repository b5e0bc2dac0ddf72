import CLTrainData
import CLTrainReport
import CLTrainTraining
import XCTest

final class LocalizationOverlayTests: XCTestCase {
    func testTheHeatmapIsBlendedAndTheBoxDrawnOnTop() throws {
        // A gray 16x16 image; the map is hot in the right half.
        let image = DecodedImage(pixels: [UInt8](repeating: 100, count: 256), width: 16, height: 16, channels: 1)
        let map = ResponseMap(width: 16, height: 16, values: (0..<256).map { $0 % 16 >= 8 ? 1 : 0 })
        let box = PixelBox(x0: 8, y0: 2, x1: 16, y1: 14)
        let out = LocalizationOverlay.render(image, map: map, boxes: [box])
        XCTAssertEqual([out.width, out.height, out.channels], [16, 16, 3])
        func pixel(_ x: Int, _ y: Int) -> [UInt8] { Array(out.pixels[3 * (y * 16 + x)..<3 * (y * 16 + x) + 3]) }
        // Cold: half gray 100, half jet(0) = dark blue (0, 0, 127.5).
        XCTAssertEqual(pixel(2, 8), [50, 50, 114])
        // Hot, inside the box: half jet(1) = dark red.
        XCTAssertEqual(pixel(12, 8), [114, 50, 50])
        // The outline: white on the box's edge pixels, not outside it.
        XCTAssertEqual(pixel(8, 8), [255, 255, 255])
        XCTAssertEqual(pixel(15, 8), [255, 255, 255])
        XCTAssertEqual(pixel(12, 2), [255, 255, 255])
        XCTAssertEqual(pixel(12, 13), [255, 255, 255])
        XCTAssertEqual(pixel(12, 1), [114, 50, 50])
        XCTAssertEqual(pixel(12, 14), [114, 50, 50])
        // It encodes and decodes back at the image's size.
        let decoded = try ImageCodec.decode(try ImageCodec.encodePNG(out), source: "overlay")
        XCTAssertEqual(decoded, out)
    }

    func testJetRunsFromBlueThroughGreenToRed() {
        XCTAssertEqual(LocalizationOverlay.jet(0), [0, 0, 127.5])
        XCTAssertEqual(LocalizationOverlay.jet(0.5), [127.5, 255, 127.5])
        XCTAssertEqual(LocalizationOverlay.jet(1), [127.5, 0, 0])
        XCTAssertEqual(LocalizationOverlay.jet(.nan), [0, 0, 127.5])
    }
}
