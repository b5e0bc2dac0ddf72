import CLTrainRandom
import Foundation

/// The random choices of one sample's random resized crop and flip (torchvision's
/// `RandomResizedCrop(scale=(0.08, 1.0), ratio=(3/4, 4/3))` then `RandomHorizontalFlip()`):
/// the window of the source image to resize to the crop size, and whether to mirror it.
public struct ResizedCropDraw: Sendable, Equatable {
    public var top: Int
    public var left: Int
    public var height: Int
    public var width: Int
    public var flip: Bool

    public init(top: Int, left: Int, height: Int, width: Int, flip: Bool) {
        self.top = top
        self.left = left
        self.height = height
        self.width = width
        self.flip = flip
    }

    /// torchvision's defaults: the window's area is 8% to 100% of the image's, its aspect ratio
    /// (width / height) 3/4 to 4/3 on a log scale.
    public static let scale = (0.08, 1.0)
    public static let ratio = (3.0 / 4.0, 4.0 / 3.0)

    /// The draw for sample `index` in `epoch` of an image of `height` x `width`: it depends on
    /// nothing else, so a resumed run crops as the uninterrupted one did. As
    /// `RandomResizedCrop.get_params`: up to 10 tries of an area and a ratio whose window fits,
    /// else the center crop of the ratio nearest the image's.
    public static func make(seed: UInt64, epoch: Int, index: Int, height: Int, width: Int) -> ResizedCropDraw {
        precondition(height > 0 && width > 0, "an image has pixels")
        var rng = SeededRandom(mixing: seed, 0xA0A0_0002, UInt64(bitPattern: Int64(epoch)), UInt64(bitPattern: Int64(index)))
        func uniform(_ low: Double, _ high: Double) -> Double {
            low + (high - low) * Double(rng.next() >> 11) / Double(UInt64(1) << 53)
        }
        let area = Double(height * width)
        let logRatio = (log(ratio.0), log(ratio.1))
        var window: (top: Int, left: Int, height: Int, width: Int)?
        for _ in 0..<10 {
            let target = area * uniform(scale.0, scale.1)
            let aspect = exp(uniform(logRatio.0, logRatio.1))
            // Python's round() rounds halves to even.
            let w = Int((target * aspect).squareRoot().rounded(.toNearestOrEven))
            let h = Int((target / aspect).squareRoot().rounded(.toNearestOrEven))
            if w > 0, w <= width, h > 0, h <= height {
                let top = rng.next(below: height - h + 1)
                let left = rng.next(below: width - w + 1)
                window = (top, left, h, w)
                break
            }
        }
        if window == nil {
            let inRatio = Double(width) / Double(height)
            var w = width, h = height
            if inRatio < ratio.0 {
                h = Int((Double(w) / ratio.0).rounded(.toNearestOrEven))
            } else if inRatio > ratio.1 {
                w = Int((Double(h) * ratio.1).rounded(.toNearestOrEven))
            }
            window = ((height - h) / 2, (width - w) / 2, h, w)
        }
        let flip = rng.next() >> 63 == 1
        let chosen = window!
        return ResizedCropDraw(top: chosen.top, left: chosen.left, height: chosen.height, width: chosen.width, flip: flip)
    }
}

extension Transforms {
    /// The size of an image of `height` x `width` resized so its shorter side is `size`
    /// (torchvision's `Resize(size)`: the longer side is truncated, `int(size * long / short)`).
    public static func shorterSide(to size: Int, height: Int, width: Int) -> (height: Int, width: Int) {
        if height <= width { return (size, max(1, size * width / height)) }
        return (max(1, size * height / width), size)
    }

    /// The top-left corner of a `cropHeight` x `cropWidth` center crop (torchvision's
    /// `CenterCrop`: `int(round((H - h) / 2))`, halves rounded to even).
    public static func centerCropOrigin(height: Int, width: Int, cropHeight: Int, cropWidth: Int) -> (top: Int, left: Int) {
        (Int((Double(height - cropHeight) / 2).rounded(.toNearestOrEven)),
         Int((Double(width - cropWidth) / 2).rounded(.toNearestOrEven)))
    }
}

/// Where the bytes of an 8-bit image lie: element (c, y, x) is at
/// `c * channelStride + y * rowStride + x * pixelStride` (planar C x H x W or interleaved H x W x C).
struct PixelLayout {
    var channels: Int
    var height: Int
    var width: Int
    var channelStride: Int
    var rowStride: Int
    var pixelStride: Int

    static func planar(channels: Int, height: Int, width: Int) -> PixelLayout {
        PixelLayout(channels: channels, height: height, width: width,
                    channelStride: height * width, rowStride: width, pixelStride: 1)
    }

    static func interleaved(channels: Int, height: Int, width: Int) -> PixelLayout {
        PixelLayout(channels: channels, height: height, width: width,
                    channelStride: 1, rowStride: width * channels, pixelStride: channels)
    }
}

/// One axis of Pillow's bilinear resampling (`Image.resize(size, BILINEAR)`, what torchvision's
/// `Resize` does to PIL images): each output pixel is a triangle-filter average of the source
/// pixels near its centre, the filter widened by the scale when shrinking (antialiasing), its
/// weights normalised where it meets the edges.
struct ResampleAxis {
    /// The first source index each output reads, and how many it reads.
    var first: [Int]
    var count: [Int]
    /// Weights per output (the unused ones are 0).
    var taps: Int
    /// outputs x taps.
    var weights: [Float]

    init(inSize: Int, outSize: Int) {
        precondition(inSize > 0 && outSize > 0, "sizes must be positive")
        let scale = Double(inSize) / Double(outSize)
        let filterScale = max(scale, 1)
        let support = filterScale
        taps = Int(support.rounded(.up)) * 2 + 1
        first = [Int](repeating: 0, count: outSize)
        count = [Int](repeating: 0, count: outSize)
        weights = [Float](repeating: 0, count: outSize * taps)
        for o in 0..<outSize {
            let center = (Double(o) + 0.5) * scale
            let low = max(Int(center - support + 0.5), 0)
            let high = min(Int(center + support + 0.5), inSize)
            var values: [Double] = []
            for x in low..<max(high, low) {
                let t = abs((Double(x) - center + 0.5) / filterScale)
                values.append(t < 1 ? 1 - t : 0)
            }
            let sum = values.reduce(0, +)
            first[o] = low
            count[o] = min(values.count, taps)
            for (k, v) in values.prefix(taps).enumerated() { weights[o * taps + k] = Float(sum > 0 ? v / sum : 0) }
        }
    }
}

extension Transforms {
    /// Resamples the `window` (top, left, height, width) of `src` to `outHeight` x `outWidth`
    /// with Pillow's bilinear filter (rows, rounded to 8 bits, then columns), and writes output rows `rows` and columns `columns`
    /// (a center crop of the resized image) planar into `dst`, times `multiplier`.
    static func resample(
        _ src: UnsafePointer<UInt8>, layout: PixelLayout, window: (top: Int, left: Int, height: Int, width: Int),
        outHeight: Int, outWidth: Int, rows: Range<Int>, columns: Range<Int>, multiplier: Float,
        into dst: UnsafeMutablePointer<Float>
    ) {
        let ys = ResampleAxis(inSize: window.height, outSize: outHeight)
        let xs = ResampleAxis(inSize: window.width, outSize: outWidth)
        let outW = columns.count
        // Horizontal pass over every window row: window.height x outW per channel.
        var horizontal = [Float](repeating: 0, count: window.height * outW)
        xs.weights.withUnsafeBufferPointer { xw in
        ys.weights.withUnsafeBufferPointer { yw in
        horizontal.withUnsafeMutableBufferPointer { h in
            for c in 0..<layout.channels {
                for y in 0..<window.height {
                    let row = src + c * layout.channelStride + (window.top + y) * layout.rowStride + window.left * layout.pixelStride
                    let line = h.baseAddress! + y * outW
                    for (j, x) in columns.enumerated() {
                        let start = row + xs.first[x] * layout.pixelStride
                        let weights = xw.baseAddress! + x * xs.taps
                        var sum: Float = 0
                        for k in 0..<xs.count[x] { sum += weights[k] * Float(start[k * layout.pixelStride]) }
                        // Rounded to 8 bits between the passes, as Pillow does.
                        line[j] = min(max(sum.rounded(), 0), 255)
                    }
                }
                let plane = dst + c * rows.count * outW
                for (i, y) in rows.enumerated() {
                    let out = plane + i * outW
                    out.update(repeating: 0, count: outW)
                    let weights = yw.baseAddress! + y * ys.taps
                    for k in 0..<ys.count[y] {
                        let w = weights[k]
                        let line = h.baseAddress! + (ys.first[y] + k) * outW
                        for j in 0..<outW { out[j] += w * line[j] }
                    }
                    if multiplier != 1 { for j in 0..<outW { out[j] *= multiplier } }
                }
            }
        }
        }
        }
    }
}
