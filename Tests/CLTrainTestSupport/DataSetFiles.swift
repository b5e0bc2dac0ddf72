import CLTrainData
import CZlib
import Foundation
import XCTest

// Small data sets in the formats cltrain reads: IDX (plain or gzip) and CIFAR binary.

public func bigEndian(_ value: Int) -> [UInt8] {
    let v = UInt32(truncatingIfNeeded: value)
    return [UInt8(v >> 24), UInt8((v >> 16) & 0xff), UInt8((v >> 8) & 0xff), UInt8(v & 0xff)]
}

/// An idx3-ubyte file of `count` images of `rows` x `cols`; pixel i of the file is `pixel(i)`.
public func idxImages(count: Int, rows: Int, cols: Int, pixel: (Int) -> UInt8 = { UInt8($0 % 251) }) -> [UInt8] {
    [0, 0, 8, 3] + bigEndian(count) + bigEndian(rows) + bigEndian(cols)
        + (0..<(count * rows * cols)).map(pixel)
}

/// An idx1-ubyte file of `labels`.
public func idxLabels(_ labels: [UInt8]) -> [UInt8] {
    [0, 0, 8, 1] + bigEndian(labels.count) + labels
}

/// CIFAR records: image i has label `labels[i]` (and coarse label `labels[i] / 5` for CIFAR-100)
/// and pixel j equal to (i * 7 + j) % 256.
public func cifarRecords(_ labels: [UInt8], variant: CIFAR.Variant) -> [UInt8] {
    var bytes: [UInt8] = []
    for (i, label) in labels.enumerated() {
        if variant == .cifar100 { bytes.append(label / 5) }
        bytes.append(label)
        bytes += (0..<CIFAR.imageBytes).map { UInt8((i * 7 + $0) % 256) }
    }
    return bytes
}

/// Writes `bytes` as a gzip file with zlib's gzopen/gzwrite.
public func writeGzip(_ bytes: [UInt8], to path: String) throws {
    guard let file = gzopen(path, "wb9") else { throw CocoaError(.fileWriteUnknown) }
    let written = bytes.withUnsafeBytes { raw -> Int32 in
        guard let base = raw.baseAddress else { return 0 }
        return gzwrite(file, base, UInt32(raw.count))
    }
    let closed = gzclose(file)
    guard Int(written) == bytes.count, closed == Z_OK else { throw CocoaError(.fileWriteUnknown) }
}

extension XCTestCase {
    /// Gzip bytes in memory, by way of a temporary file written with gzopen.
    public func gzipBytes(_ bytes: [UInt8]) throws -> [UInt8] {
        let url = try makeTemporaryDirectory().appendingPathComponent("data.gz")
        try writeGzip(bytes, to: url.path)
        return [UInt8](try Data(contentsOf: url))
    }
}

// Image folders (torchvision's ImageFolder layout) of PNGs written with cltrain's own encoder.

/// A `width` x `height` image of `channels` whose every sample is `value` plus a small pattern
/// of its position (`pattern` levels at most), so images are not flat.
public func patternImage(width: Int, height: Int, channels: Int, value: Int, pattern: Int = 0, seed: Int = 0) -> DecodedImage {
    var pixels = [UInt8](repeating: 0, count: width * height * channels)
    for i in pixels.indices {
        let wiggle = pattern > 0 ? Int(UInt32(truncatingIfNeeded: (i &+ seed &* 7919) &* 2_654_435_761) >> 24) % (pattern + 1) : 0
        pixels[i] = UInt8(max(0, min(255, value + wiggle)))
    }
    return DecodedImage(pixels: pixels, width: width, height: height, channels: channels)
}

/// Writes `image` as a PNG at `path` (folders created as needed).
public func writePNG(_ image: DecodedImage, to path: String) throws {
    try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    try Data(ImageCodec.encodePNG(image)).write(to: URL(fileURLWithPath: path))
}

/// Writes an image folder: for each split ("train", "val", ...), each class's images as
/// `root/split/class/NNN.png`. Returns each split's files as written, by class.
@discardableResult
public func writeImageFolder(_ root: URL, _ splits: [String: [String: [DecodedImage]]]) throws -> [String: [String: [String]]] {
    var written: [String: [String: [String]]] = [:]
    for (split, classes) in splits {
        for (name, images) in classes {
            let folder = root.appendingPathComponent(split).appendingPathComponent(name)
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            for (i, image) in images.enumerated() {
                let path = folder.appendingPathComponent(String(format: "%03d.png", i)).path
                try writePNG(image, to: path)
                written[split, default: [:]][name, default: []].append(path)
            }
        }
    }
    return written
}
