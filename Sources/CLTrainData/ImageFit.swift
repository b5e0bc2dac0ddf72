extension DecodedImage {
    /// The image scaled so that it covers `height` x `width` (its shorter side, relative to the
    /// target's aspect, meets the target) and then center-cropped to exactly that size: what
    /// torchvision's `Resize(size)` + `CenterCrop(size)` do for eval. An image whose aspect differs
    /// from the target's loses the middle-out margins of its longer side; an image already of the
    /// target size is returned as it is (bit for bit).
    ///
    /// Resampling is Pillow's antialiased bilinear (`Image.resize(BILINEAR)`: a triangle filter whose
    /// support grows with the downscale factor, weights renormalised at the borders, rows then
    /// columns, each pass rounded to 8 bits), so a large photo shrunk to 28x28 averages its pixels
    /// instead of aliasing. (Pillow's fixed-point weights may differ from these by a level.)
    public func fitted(toHeight targetHeight: Int, width targetWidth: Int) -> DecodedImage {
        precondition(targetHeight > 0 && targetWidth > 0, "a target size is positive")
        if height == targetHeight && width == targetWidth { return self }
        let scale = max(Double(targetHeight) / Double(height), Double(targetWidth) / Double(width))
        let scaledHeight = max(targetHeight, Int((Double(height) * scale).rounded()))
        let scaledWidth = max(targetWidth, Int((Double(width) * scale).rounded()))
        let scaled = resampled(toHeight: scaledHeight, width: scaledWidth)
        let top = (scaledHeight - targetHeight) / 2, left = (scaledWidth - targetWidth) / 2
        var out = [UInt8](repeating: 0, count: targetHeight * targetWidth * channels)
        for y in 0..<targetHeight {
            let source = ((top + y) * scaledWidth + left) * channels
            let row = y * targetWidth * channels
            for i in 0..<(targetWidth * channels) { out[row + i] = scaled.pixels[source + i] }
        }
        return DecodedImage(pixels: out, width: targetWidth, height: targetHeight, channels: channels)
    }

    /// Separable antialiased bilinear resampling to `outHeight` x `outWidth`.
    func resampled(toHeight outHeight: Int, width outWidth: Int) -> DecodedImage {
        if outHeight == height && outWidth == width { return self }
        let xs = Self.filterTaps(in: width, out: outWidth)
        let ys = Self.filterTaps(in: height, out: outHeight)
        // Rows first (W -> outWidth), rounded to 8 bits as Pillow does between its passes, then columns.
        var horizontal = [Float](repeating: 0, count: height * outWidth * channels)
        for y in 0..<height {
            for x in 0..<outWidth {
                let (first, weights) = xs[x]
                for c in 0..<channels {
                    var sum: Float = 0
                    for (k, w) in weights.enumerated() { sum += w * Float(pixels[(y * width + first + k) * channels + c]) }
                    horizontal[(y * outWidth + x) * channels + c] = max(0, min(255, sum.rounded()))
                }
            }
        }
        var out = [UInt8](repeating: 0, count: outHeight * outWidth * channels)
        for y in 0..<outHeight {
            let (first, weights) = ys[y]
            for x in 0..<outWidth {
                for c in 0..<channels {
                    var sum: Float = 0
                    for (k, w) in weights.enumerated() { sum += w * horizontal[((first + k) * outWidth + x) * channels + c] }
                    out[(y * outWidth + x) * channels + c] = UInt8(max(0, min(255, sum.rounded())))
                }
            }
        }
        return DecodedImage(pixels: out, width: outWidth, height: outHeight, channels: channels)
    }

    /// For each output coordinate: the first source coordinate it reads and the weights of the
    /// consecutive source coordinates from there (Pillow's `precompute_coeffs` for BILINEAR).
    static func filterTaps(in size: Int, out: Int) -> [(Int, [Float])] {
        let scale = Double(size) / Double(out)
        let support = max(scale, 1)
        return (0..<out).map { i in
            let center = (Double(i) + 0.5) * scale
            let low = max(0, Int((center - support + 0.5).rounded(.down)))
            let high = min(size, Int((center + support + 0.5).rounded(.down)))
            var weights = (low..<max(high, low + 1)).map { j -> Double in
                let t = abs((Double(j) + 0.5 - center) / support)
                return max(0, 1 - t)
            }
            let total = weights.reduce(0, +)
            if total > 0 { weights = weights.map { $0 / total } } else { weights = [1] + Array(repeating: 0, count: weights.count - 1) }
            return (min(low, size - 1), weights.map(Float.init))
        }
    }
}
