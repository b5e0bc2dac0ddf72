import CLTrainData
import CLTrainTraining

/// The picture `cltrain localize` writes for one image: its response map as a jet heatmap
/// (blue low, red high, as the CAM and DRN papers draw them) blended over the image, and the
/// boxes outlined on top (on the report canvas).
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
        var canvas = RasterCanvas(width: image.width, height: image.height)
        canvas.draw(DecodedImage(pixels: pixels, width: image.width, height: image.height, channels: 3),
                    x: 0, y: 0, width: image.width, height: image.height)
        let thickness = max(1, min(image.width, image.height) / 128)
        for box in boxes.reversed() where box.width > 0 && box.height > 0 {
            canvas.stroke(x: box.x0, y: box.y0, width: box.width, height: box.height, .white, thickness: thickness)
        }
        return canvas.image
    }

    /// Matplotlib's / OpenCV's "jet" colour of `v` in [0, 1], as 0-255 RGB: piecewise-linear
    /// dark blue, blue, cyan, yellow, red, dark red.
    public static func jet(_ v: Float) -> [Float] {
        let v = min(1, max(0, v.isNaN ? 0 : v))
        func ramp(_ x: Float) -> Float { 255 * min(1, max(0, x)) }
        return [ramp(1.5 - abs(4 * v - 3)), ramp(1.5 - abs(4 * v - 2)), ramp(1.5 - abs(4 * v - 1))]
    }
}
