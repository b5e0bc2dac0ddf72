import CLTrainData
import CLTrainTraining

/// The picture `cltrain localize` writes for one image: its response map as a jet heatmap
/// (blue low, red high, as the CAM and DRN papers draw them) blended over the image, and the
/// boxes outlined on top. Self-contained (no canvas): each pixel is computed once.
public enum LocalizationOverlay {
    /// `image` (gray or RGB) as RGB with `map` (resized to the image, see `ResponseMap.resized`)
    /// blended over it with weight `opacity`, then each of `boxes` outlined in white, the first
    /// drawn last (on top). The line is 1 pixel thick up to 128-pixel images and grows with the
    /// image so that it stays visible when a large image is shrunk for viewing.
    public static func render(_ image: DecodedImage, map: ResponseMap, boxes: [PixelBox], opacity: Float = 0.5) -> DecodedImage {
        precondition(map.width == image.width && map.height == image.height, "the map is resized to the image first")
        precondition(opacity >= 0 && opacity <= 1, "opacity is a fraction")
        let rgb = image.converted(toChannels: 3)
        let heat = map.normalized
        var pixels = rgb.pixels
        for i in 0..<heat.count {
            let colour = jet(heat[i])
            for c in 0..<3 {
                let blended = (1 - opacity) * Float(rgb.pixels[3 * i + c]) + opacity * colour[c]
                pixels[3 * i + c] = UInt8(min(255, max(0, blended.rounded())))
            }
        }
        var out = DecodedImage(pixels: pixels, width: image.width, height: image.height, channels: 3)
        let thickness = max(1, min(image.width, image.height) / 128)
        for box in boxes.reversed() { outline(box, thickness: thickness, colour: [255, 255, 255], in: &out) }
        return out
    }

    /// Matplotlib's / OpenCV's "jet" colour of `v` in [0, 1], as 0-255 RGB: piecewise-linear
    /// dark blue, blue, cyan, yellow, red, dark red.
    public static func jet(_ v: Float) -> [Float] {
        let v = min(1, max(0, v.isNaN ? 0 : v))
        func ramp(_ x: Float) -> Float { 255 * min(1, max(0, x)) }
        return [ramp(1.5 - abs(4 * v - 3)), ramp(1.5 - abs(4 * v - 2)), ramp(1.5 - abs(4 * v - 1))]
    }

    /// Draw `box`'s edges (`thickness` pixels inside it, clipped to the image).
    static func outline(_ box: PixelBox, thickness: Int, colour: [UInt8], in image: inout DecodedImage) {
        guard box.width > 0 && box.height > 0 else { return }
        let w = image.width
        func paint(_ x: Int, _ y: Int) {
            guard x >= 0 && x < w && y >= 0 && y < image.height else { return }
            for c in 0..<3 { image.pixels[3 * (y * w + x) + c] = colour[c] }
        }
        let t = min(thickness, (min(box.width, box.height) + 1) / 2)
        for k in 0..<t {
            for x in box.x0..<box.x1 { paint(x, box.y0 + k); paint(x, box.y1 - 1 - k) }
            for y in box.y0..<box.y1 { paint(box.x0 + k, y); paint(box.x1 - 1 - k, y) }
        }
    }
}
