import CLTrainData

/// One class's response at each position of an image, row-major `height` x `width`: a DRN's
/// class response map or a class activation map (what `Localization` computes), and the
/// geometry weakly-supervised localization does on it: bilinear resizing, a threshold relative
/// to the map's range, 8-connected regions and their boxes. No model here: tests draw maps by hand.
public struct ResponseMap: Equatable, Sendable {
    public let width: Int
    public let height: Int
    public var values: [Float]

    public init(width: Int, height: Int, values: [Float]) {
        precondition(width > 0 && height > 0 && values.count == width * height, "a map holds height x width values")
        self.width = width
        self.height = height
        self.values = values
    }

    public subscript(x: Int, y: Int) -> Float { values[y * width + x] }

    public var minimum: Float { values.min()! }
    public var maximum: Float { values.max()! }

    /// The map resized bilinearly to `width` x `height` with half-pixel centres (PyTorch's
    /// `interpolate(mode="bilinear", align_corners=False)`): a map computed at output stride 8
    /// laid over the image it came from, each cell centred on the pixels it stands for.
    public func resized(width outWidth: Int, height outHeight: Int) -> ResponseMap {
        if outWidth == width && outHeight == height { return self }
        let out = Transforms.resizeBilinear(values, channels: 1, height: height, width: width, outHeight: outHeight, outWidth: outWidth)
        return ResponseMap(width: outWidth, height: outHeight, values: out)
    }

    /// Each value as a fraction of the map's range, (v - min) / (max - min), as the CAM authors'
    /// code normalises a map before thresholding and colouring it; a flat map is all 0. For a
    /// map whose minimum is 0 (a ReLU's), this is v / max.
    public var normalized: [Float] {
        let low = minimum, range = maximum - low
        guard range > 0, range.isFinite else { return [Float](repeating: 0, count: values.count) }
        return values.map { ($0 - low) / range }
    }

    /// The positions whose normalised value is at least `threshold` (0 < threshold < 1).
    public func mask(threshold: Float) -> [Bool] {
        let low = minimum, range = maximum - low
        guard range > 0, range.isFinite else { return [Bool](repeating: false, count: values.count) }
        return values.map { ($0 - low) / range >= threshold }
    }

    /// The 8-connected regions of `mask(threshold:)`, largest first.
    public func regions(threshold: Float) -> [Region] {
        Region.connected(mask(threshold: threshold), width: width, height: height, values: values)
    }
}

/// A box of whole pixels: columns x0..<x1 and rows y0..<y1 (so its width is x1 - x0), the
/// edges in the coordinates of the image it was found in.
public struct PixelBox: Equatable, Codable, Sendable, CustomStringConvertible {
    public var x0: Int
    public var y0: Int
    public var x1: Int
    public var y1: Int

    public init(x0: Int, y0: Int, x1: Int, y1: Int) {
        precondition(x0 <= x1 && y0 <= y1, "a box's corners are ordered")
        self.x0 = x0
        self.y0 = y0
        self.x1 = x1
        self.y1 = y1
    }

    public var width: Int { x1 - x0 }
    public var height: Int { y1 - y0 }
    public var area: Int { width * height }

    /// Area of the intersection over area of the union (0 for boxes that do not meet).
    public func intersectionOverUnion(_ other: PixelBox) -> Double {
        let w = max(0, min(x1, other.x1) - max(x0, other.x0)), h = max(0, min(y1, other.y1) - max(y0, other.y0))
        let union = area + other.area - w * h
        return union > 0 ? Double(w * h) / Double(union) : 0
    }

    public var description: String { "(\(x0),\(y0))-(\(x1),\(y1))" }
}

/// One 8-connected region of a thresholded map: its bounding box, its size in positions, and
/// the map's largest value inside it.
public struct Region: Equatable, Sendable {
    public var box: PixelBox
    public var area: Int
    public var peak: Float

    /// The 8-connected regions of the `true` positions of a row-major `width` x `height` mask,
    /// largest area first (a tie keeps the region met first in row order). `values` gives
    /// each region's peak.
    public static func connected(_ mask: [Bool], width: Int, height: Int, values: [Float]) -> [Region] {
        precondition(mask.count == width * height && values.count == mask.count, "mask and values hold height x width")
        var seen = [Bool](repeating: false, count: mask.count)
        var regions: [Region] = []
        var stack: [Int] = []
        for start in mask.indices where mask[start] && !seen[start] {
            seen[start] = true
            stack.append(start)
            var x0 = width, y0 = height, x1 = 0, y1 = 0, area = 0
            var peak = -Float.infinity
            while let i = stack.popLast() {
                let x = i % width, y = i / width
                x0 = min(x0, x); x1 = max(x1, x + 1); y0 = min(y0, y); y1 = max(y1, y + 1)
                area += 1
                peak = max(peak, values[i])
                for dy in -1...1 {
                    let ny = y + dy
                    guard ny >= 0 && ny < height else { continue }
                    for dx in -1...1 {
                        let nx = x + dx, j = ny * width + nx
                        guard nx >= 0 && nx < width, mask[j], !seen[j] else { continue }
                        seen[j] = true
                        stack.append(j)
                    }
                }
            }
            regions.append(Region(box: PixelBox(x0: x0, y0: y0, x1: x1, y1: y1), area: area, peak: peak))
        }
        // A stable sort: equal areas keep row order.
        return regions.enumerated().sorted { a, b in
            a.element.area != b.element.area ? a.element.area > b.element.area : a.offset < b.offset
        }.map(\.element)
    }
}
