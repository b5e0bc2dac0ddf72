import CLTrainData
import Foundation

/// A picture laid out once, in pixels, and drawn two ways: as SVG (vector shapes, real text,
/// embedded PNG images) and as PNG through a `RasterCanvas` with `BitmapFont` text. Text is laid
/// out with the bitmap font's metrics; the SVG's monospace text at `10 x scale` px has about the
/// same width, so both pictures show the same thing in the same places.
public struct Figure: Sendable {
    public enum Element: Sendable {
        case rect(x: Int, y: Int, width: Int, height: Int, fill: RGB?, stroke: RGB?, thickness: Int)
        case text(String, x: Int, y: Int, scale: Int, color: RGB, anchor: RasterCanvas.Anchor, upward: Bool)
        case image(DecodedImage, x: Int, y: Int, width: Int, height: Int)
    }

    public let width: Int
    public let height: Int
    public var background: RGB
    public private(set) var elements: [Element] = []

    public init(width: Int, height: Int, background: RGB = .white) {
        self.width = max(1, width)
        self.height = max(1, height)
        self.background = background
    }

    public mutating func rect(x: Int, y: Int, width: Int, height: Int, fill: RGB? = nil, stroke: RGB? = nil, thickness: Int = 1) {
        elements.append(.rect(x: x, y: y, width: width, height: height, fill: fill, stroke: stroke, thickness: thickness))
    }

    /// Text whose glyphs' top is at `y` (see `RasterCanvas.text`).
    public mutating func text(_ text: String, x: Int, y: Int, scale: Int = 1, color: RGB = .black,
                              anchor: RasterCanvas.Anchor = .start, upward: Bool = false) {
        elements.append(.text(text, x: x, y: y, scale: scale, color: color, anchor: anchor, upward: upward))
    }

    public mutating func image(_ image: DecodedImage, x: Int, y: Int, width: Int, height: Int) {
        elements.append(.image(image, x: x, y: y, width: width, height: height))
    }

    /// The figure drawn on a canvas of its size.
    public func raster() -> RasterCanvas {
        var canvas = RasterCanvas(width: width, height: height, background: background)
        for element in elements {
            switch element {
            case let .rect(x, y, w, h, fill, stroke, thickness):
                if let fill { canvas.fill(x: x, y: y, width: w, height: h, fill) }
                if let stroke { canvas.stroke(x: x, y: y, width: w, height: h, stroke, thickness: thickness) }
            case let .text(text, x, y, scale, color, anchor, upward):
                canvas.text(text, x: x, y: y, scale: scale, color: color, anchor: anchor, upward: upward)
            case let .image(image, x, y, w, h):
                canvas.draw(image, x: x, y: y, width: w, height: h)
            }
        }
        return canvas
    }

    /// The figure as PNG bytes.
    public func png() throws -> [UInt8] {
        try ImageCodec.encodePNG(raster().image)
    }

    /// The figure as a standalone SVG document; images are embedded PNGs (`xlink:href`, which
    /// SVG 1.1 viewers need as well as browsers) drawn pixelated, as the PNG draws them.
    public func svg(title: String) throws -> String {
        var out = """
        <?xml version="1.0" encoding="UTF-8"?>
        <svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="\(width)" height="\(height)" viewBox="0 0 \(width) \(height)" \
        font-family="DejaVu Sans Mono, Menlo, Consolas, monospace">
        <title>\(TrainingPlot.escapeXML(title))</title>
        <rect x="0" y="0" width="\(width)" height="\(height)" fill="\(background.hex)"/>

        """
        for element in elements {
            switch element {
            case let .rect(x, y, w, h, fill, stroke, thickness):
                if let fill { out += "<rect x=\"\(x)\" y=\"\(y)\" width=\"\(w)\" height=\"\(h)\" fill=\"\(fill.hex)\"/>\n" }
                if let stroke {
                    // Inside the rectangle, as the canvas draws it.
                    let t = Double(max(1, thickness)), half = t / 2
                    out += "<rect x=\"\(coord(Double(x) + half))\" y=\"\(coord(Double(y) + half))\" width=\"\(coord(Double(w) - t))\" "
                        + "height=\"\(coord(Double(h) - t))\" fill=\"none\" stroke=\"\(stroke.hex)\" stroke-width=\"\(coord(t))\"/>\n"
                }
            case let .text(text, x, y, scale, color, anchor, upward):
                let size = 10 * max(1, scale)
                let baseline = y + 7 * max(1, scale)
                let textAnchor = anchor == .start ? "start" : anchor == .middle ? "middle" : "end"
                let turn = upward ? " transform=\"rotate(-90 \(x) \(y))\"" : ""
                let bold = scale > 1 ? " font-weight=\"bold\"" : ""
                out += "<text x=\"\(x)\" y=\"\(baseline)\" font-size=\"\(size)\"\(bold) fill=\"\(color.hex)\" text-anchor=\"\(textAnchor)\"\(turn)>"
                    + "\(TrainingPlot.escapeXML(text))</text>\n"
            case let .image(image, x, y, w, h):
                let data = Data(try ImageCodec.encodePNG(image)).base64EncodedString()
                out += "<image x=\"\(x)\" y=\"\(y)\" width=\"\(w)\" height=\"\(h)\" preserveAspectRatio=\"none\" "
                    + "style=\"image-rendering:pixelated\" xlink:href=\"data:image/png;base64,\(data)\"/>\n"
            }
        }
        out += "</svg>\n"
        return out
    }
}
