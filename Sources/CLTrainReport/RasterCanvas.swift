import CLTrainData

/// An sRGB colour of 8-bit channels.
public struct RGB: Sendable, Equatable, Hashable {
    public var r: UInt8, g: UInt8, b: UInt8

    public init(_ r: UInt8, _ g: UInt8, _ b: UInt8) {
        self.r = r
        self.g = g
        self.b = b
    }

    public static let white = RGB(255, 255, 255)
    public static let black = RGB(0, 0, 0)
    /// The colours of right and wrong predictions (matplotlib's tab:green and tab:red).
    public static let right = RGB(0x2c, 0xa0, 0x2c)
    public static let wrong = RGB(0xd6, 0x27, 0x28)

    /// `#rrggbb`, for SVG.
    public var hex: String {
        let digits = Array("0123456789abcdef")
        return "#" + [r, g, b].map { "\(digits[Int($0 >> 4)])\(digits[Int($0 & 15)])" }.joined()
    }

    /// The colour `t` (0...1) of the way from `self` to `other`.
    public func mixed(with other: RGB, _ t: Double) -> RGB {
        let t = max(0, min(1, t.isFinite ? t : 0))
        func channel(_ a: UInt8, _ b: UInt8) -> UInt8 { UInt8((Double(a) + (Double(b) - Double(a)) * t).rounded()) }
        return RGB(channel(r, other.r), channel(g, other.g), channel(b, other.b))
    }

    /// Perceived brightness (0...255), to choose black or white text over it.
    public var luma: Double { 0.299 * Double(r) + 0.587 * Double(g) + 0.114 * Double(b) }
}

/// A small RGB raster image to draw figures on: filled and outlined rectangles, images scaled by
/// nearest neighbour, and text in `BitmapFont`, horizontal or turned to read upwards. Everything
/// is clipped to the canvas. `image` gives a `DecodedImage` for `ImageCodec.encodePNG`.
public struct RasterCanvas: Sendable {
    public let width: Int
    public let height: Int
    /// H x W x 3 bytes.
    public private(set) var pixels: [UInt8]

    public init(width: Int, height: Int, background: RGB = .white) {
        precondition(width > 0 && height > 0, "a canvas has pixels")
        self.width = width
        self.height = height
        pixels = [UInt8](repeating: 0, count: width * height * 3)
        fill(x: 0, y: 0, width: width, height: height, background)
    }

    /// The colour at (`x`, `y`).
    public func pixel(x: Int, y: Int) -> RGB {
        let i = (y * width + x) * 3
        return RGB(pixels[i], pixels[i + 1], pixels[i + 2])
    }

    public mutating func set(x: Int, y: Int, _ color: RGB) {
        guard x >= 0, y >= 0, x < width, y < height else { return }
        let i = (y * width + x) * 3
        pixels[i] = color.r
        pixels[i + 1] = color.g
        pixels[i + 2] = color.b
    }

    /// Fills the rectangle with its top-left corner at (`x`, `y`).
    public mutating func fill(x: Int, y: Int, width w: Int, height h: Int, _ color: RGB) {
        let x0 = max(0, x), y0 = max(0, y), x1 = min(width, x + w), y1 = min(height, y + h)
        guard x0 < x1, y0 < y1 else { return }
        for row in y0..<y1 {
            var i = (row * width + x0) * 3
            for _ in x0..<x1 {
                pixels[i] = color.r
                pixels[i + 1] = color.g
                pixels[i + 2] = color.b
                i += 3
            }
        }
    }

    /// Outlines the rectangle with lines `thickness` pixels wide, drawn inside it.
    public mutating func stroke(x: Int, y: Int, width w: Int, height h: Int, _ color: RGB, thickness: Int = 1) {
        let t = max(1, min(thickness, w, h))
        fill(x: x, y: y, width: w, height: t, color)
        fill(x: x, y: y + h - t, width: w, height: t, color)
        fill(x: x, y: y, width: t, height: h, color)
        fill(x: x + w - t, y: y, width: t, height: h, color)
    }

    /// Draws `image` (gray or RGB) into the rectangle at (`x`, `y`) of `w` x `h`, each canvas pixel
    /// taking the image pixel under its centre (nearest neighbour: integer scales stay crisp).
    public mutating func draw(_ image: DecodedImage, x: Int, y: Int, width w: Int, height h: Int) {
        guard w > 0, h > 0 else { return }
        for row in max(0, y)..<min(height, y + h) {
            let sy = min(image.height - 1, (row - y) * image.height / h)
            for column in max(0, x)..<min(width, x + w) {
                let sx = min(image.width - 1, (column - x) * image.width / w)
                let i = (sy * image.width + sx) * image.channels
                let color = image.channels == 3 ? RGB(image.pixels[i], image.pixels[i + 1], image.pixels[i + 2])
                    : RGB(image.pixels[i], image.pixels[i], image.pixels[i])
                set(x: column, y: row, color)
            }
        }
    }

    /// Where text is placed relative to its x: its start, middle or end.
    public enum Anchor: Sendable { case start, middle, end }

    /// Draws `text` with its glyphs' top at `y` and, by `anchor`, starting, centred or ending at
    /// `x`; each font pixel becomes `scale` x `scale`. `upward` turns it a quarter to read from
    /// bottom to top, the start at (`x`, `y`) being its bottom-left (a column label).
    public mutating func text(_ text: String, x: Int, y: Int, scale: Int = 1, color: RGB = .black, anchor: Anchor = .start,
                              upward: Bool = false) {
        let scale = max(1, scale)
        let length = BitmapFont.width(of: text, scale: scale)
        let shift = anchor == .start ? 0 : anchor == .middle ? length / 2 : length
        for (n, character) in text.enumerated() {
            for column in 0..<BitmapFont.glyphWidth {
                for row in 0..<BitmapFont.glyphHeight where BitmapFont.isInk(character, column: column, row: row) {
                    let along = n * BitmapFont.advance * scale + column * scale - shift
                    let across = row * scale
                    if upward {
                        fill(x: x + across, y: y - along - scale, width: scale, height: scale, color)
                    } else {
                        fill(x: x + along, y: y + across, width: scale, height: scale, color)
                    }
                }
            }
        }
    }

    /// The canvas as an RGB image (`ImageCodec.encodePNG` writes it).
    public var image: DecodedImage { DecodedImage(pixels: pixels, width: width, height: height, channels: 3) }
}
