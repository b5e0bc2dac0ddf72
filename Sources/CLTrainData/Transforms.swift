/// Per-image transforms on CHW float images in pixel space ([0, 1]), applied in the order
/// torchvision's `Resize -> RandomCrop(padding) -> RandomHorizontalFlip -> Normalize` would.
public enum Transforms {
    /// Bilinear resize of a CHW image to `outHeight` x `outWidth` with half-pixel centres
    /// (PyTorch's `interpolate(mode: "bilinear", align_corners: false)`, no antialiasing).
    public static func resizeBilinear(
        _ src: [Float], channels: Int, height: Int, width: Int, outHeight: Int, outWidth: Int
    ) -> [Float] {
        precondition(src.count == channels * height * width, "source must be C x H x W")
        var dst = [Float](repeating: 0, count: channels * outHeight * outWidth)
        src.withUnsafeBufferPointer { s in
            dst.withUnsafeMutableBufferPointer { d in
                resizeBilinear(s, into: d, channels: channels, height: height, width: width,
                               outHeight: outHeight, outWidth: outWidth)
            }
        }
        return dst
    }

    static func resizeBilinear(
        _ src: UnsafeBufferPointer<Float>, into dst: UnsafeMutableBufferPointer<Float>,
        channels: Int, height: Int, width: Int, outHeight: Int, outWidth: Int
    ) {
        let ys = axis(in: height, out: outHeight)
        let xs = axis(in: width, out: outWidth)
        for c in 0..<channels {
            let plane = c * height * width
            let outPlane = c * outHeight * outWidth
            for y in 0..<outHeight {
                let (y0, y1, wy) = ys[y]
                let row0 = plane + y0 * width
                let row1 = plane + y1 * width
                for x in 0..<outWidth {
                    let (x0, x1, wx) = xs[x]
                    let top = src[row0 + x0] + (src[row0 + x1] - src[row0 + x0]) * wx
                    let bottom = src[row1 + x0] + (src[row1 + x1] - src[row1 + x0]) * wx
                    dst[outPlane + y * outWidth + x] = top + (bottom - top) * wy
                }
            }
        }
    }

    /// For each output coordinate: the two source coordinates and the weight of the second.
    private static func axis(in size: Int, out: Int) -> [(Int, Int, Float)] {
        let scale = Double(size) / Double(out)
        return (0..<out).map { i in
            let s = max(0, (Double(i) + 0.5) * scale - 0.5)
            let i0 = min(Int(s), size - 1)
            let i1 = min(i0 + 1, size - 1)
            return (i0, i1, Float(s - Double(i0)))
        }
    }

    /// Zero-pads a CHW image by `padding` on every side, takes the `height` x `width` window
    /// whose top-left corner is (`top`, `left`) in the padded image (each in 0...2*padding),
    /// and mirrors it left-right when `flip` is set.
    public static func padCropFlip(
        _ src: [Float], channels: Int, height: Int, width: Int,
        padding: Int, top: Int, left: Int, flip: Bool
    ) -> [Float] {
        precondition(src.count == channels * height * width, "source must be C x H x W")
        var dst = [Float](repeating: 0, count: src.count)
        src.withUnsafeBufferPointer { s in
            dst.withUnsafeMutableBufferPointer { d in
                cropFlipNormalize(
                    s, into: d, channels: channels, height: height, width: width,
                    shiftY: top - padding, shiftX: left - padding, flip: flip, mean: nil, std: nil)
            }
        }
        return dst
    }

    /// out[c, y, x] = (in[c, y + shiftY, x' + shiftX] - mean[c]) / std[c], with x' = W-1-x when
    /// flipping, and 0 (before normalising) for source pixels outside the image.
    static func cropFlipNormalize(
        _ src: UnsafeBufferPointer<Float>, into dst: UnsafeMutableBufferPointer<Float>,
        channels: Int, height: Int, width: Int,
        shiftY: Int, shiftX: Int, flip: Bool, mean: [Float]?, std: [Float]?
    ) {
        for c in 0..<channels {
            let m = mean?[c] ?? 0
            let s = std?[c] ?? 1
            let plane = c * height * width
            for y in 0..<height {
                let sy = y + shiftY
                let rowOut = plane + y * width
                guard sy >= 0 && sy < height else {
                    let padded = (0 - m) / s
                    for x in 0..<width { dst[rowOut + x] = padded }
                    continue
                }
                let rowIn = plane + sy * width
                for x in 0..<width {
                    let sx = (flip ? width - 1 - x : x) + shiftX
                    let v: Float = (sx >= 0 && sx < width) ? src[rowIn + sx] : 0
                    dst[rowOut + x] = (v - m) / s
                }
            }
        }
    }
}
