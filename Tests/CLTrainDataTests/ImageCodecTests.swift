import CLTrainTestSupport
import Foundation
import XCTest

@testable import CLTrainData

/// JPEG and PNG decoding against the pixels Pillow decodes from the same files
/// (Fixtures/images, written by scripts/make-image-fixtures.py), PNG encoding, and the
/// one-line errors for files that are not images.
final class ImageCodecTests: XCTestCase {
    struct Fixture: Decodable {
        let file: String
        let width: Int
        let height: Int
        let channels: Int
    }

    var folder: URL { Bundle.module.resourceURL!.appendingPathComponent("Fixtures/images") }

    func fixtures() throws -> [Fixture] {
        try JSONDecoder().decode([Fixture].self, from: Data(contentsOf: folder.appendingPathComponent("manifest.json")))
    }

    func testEveryFixtureDecodesAsPillowDoesWithinOneLevel() throws {
        let list = try fixtures()
        XCTAssertGreaterThanOrEqual(list.count, 10)
        let decoder = try JPEGDecoder()
        for fixture in list {
            let image = try decoder.read(folder.appendingPathComponent(fixture.file).path)
            XCTAssertEqual([image.width, image.height, image.channels], [fixture.width, fixture.height, fixture.channels], fixture.file)
            let expected = [UInt8](try Data(contentsOf: folder.appendingPathComponent(fixture.file + ".pixels")))
            XCTAssertEqual(image.pixels.count, expected.count, fixture.file)
            let worst = zip(image.pixels, expected).map { abs(Int($0) - Int($1)) }.max() ?? 0
            XCTAssertLessThanOrEqual(worst, 1, "\(fixture.file): off by \(worst) levels from Pillow")
        }
    }

    func testRGBToGrayIsPillowsLuma() throws {
        // gray.png is Pillow's convert("L") of rgb.png: the conversion must agree exactly.
        let rgb = try ImageCodec.read(folder.appendingPathComponent("rgb.png").path)
        let gray = try ImageCodec.read(folder.appendingPathComponent("gray.png").path)
        XCTAssertEqual(rgb.converted(toChannels: 1), gray)
        let back = gray.converted(toChannels: 3)
        XCTAssertEqual(back.channels, 3)
        XCTAssertEqual(Array(back.pixels[0..<3]), [gray.pixels[0], gray.pixels[0], gray.pixels[0]])
    }

    func testPNGEncodingRoundTripsExactly() throws {
        for channels in [1, 3] {
            let pixels = (0..<(13 * 7 * channels)).map { UInt8(($0 * 53 + 11) % 256) }
            let image = DecodedImage(pixels: pixels, width: 13, height: 7, channels: channels)
            let png = try ImageCodec.encodePNG(image)
            XCTAssertTrue(ImageCodec.isPNG(png))
            XCTAssertEqual(try ImageCodec.decode(png, source: "memory"), image)
        }
    }

    func testPlanarLayoutRoundTrips() {
        let planar: [UInt8] = [1, 2, 3, 4, 10, 20, 30, 40, 100, 110, 120, 130]
        let image = DecodedImage(planar: planar[...], channels: 3, height: 2, width: 2)
        XCTAssertEqual(Array(image.pixels[0..<3]), [1, 10, 100])
        XCTAssertEqual(image.planar, planar)
    }

    func testFilesThatAreNotImagesAreOneLineErrorsNamingTheFile() throws {
        let dir = try makeTemporaryDirectory().path
        let text = join(dir, "notes.png")
        try write(Array("not an image\n".utf8), to: text)
        assertOneLineError(ImageCodecError.self, try ImageCodec.read(text), mentions: ["notes.png", "neither a JPEG nor a PNG"]) { _ in true }

        let empty = join(dir, "empty.jpg")
        try write([], to: empty)
        assertOneLineError(ImageCodecError.self, try ImageCodec.read(empty), mentions: ["empty.jpg", "empty"]) { _ in true }

        let missing = join(dir, "missing.jpg")
        assertOneLineError(ImageCodecError.self, try ImageCodec.read(missing), mentions: ["missing.jpg", "cannot be read"]) { _ in true }

        // Cut short: the first half of a real JPEG and of a real PNG.
        for name in ["rgb-420.jpg", "rgb.png"] {
            let bytes = [UInt8](try Data(contentsOf: folder.appendingPathComponent(name)))
            let cut = join(dir, "cut-" + name)
            try write(Array(bytes.prefix(bytes.count / 2)), to: cut)
            assertOneLineError(ImageCodecError.self, try ImageCodec.read(cut), mentions: ["cut-" + name, "damaged"]) { _ in true }
        }
    }

    func testImageFileNames() {
        XCTAssertTrue(ImageCodec.isImageFileName("a/b/cat.JPG"))
        XCTAssertTrue(ImageCodec.isImageFileName("x.jpeg"))
        XCTAssertTrue(ImageCodec.isImageFileName("x.png"))
        XCTAssertFalse(ImageCodec.isImageFileName("x.txt"))
        XCTAssertFalse(ImageCodec.isImageFileName("png"))
    }
}
