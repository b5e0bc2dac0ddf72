extension DecodedImage {
    /// The image scaled so that it covers `height` x `width` and then center-cropped to exactly
    /// that size: what torchvision's `Resize(size)` + `CenterCrop(size)` do for eval (for a square
    /// target, the shorter side goes to its size as `Resize` truncates the longer one). An image
    /// whose aspect differs from the target's loses the margins of its longer side; an image
    /// already of the target size is returned as it is (bit for bit).
    ///
    /// Resampling is the image folders' (`Transforms.resample`: Pillow's antialiased bilinear), so
    /// a photo shrunk to 28x28 averages its pixels instead of aliasing, and a file predicted on is
    /// made as the same file in a training folder.
    public func fitted(toHeight targetHeight: Int, width targetWidth: Int) -> DecodedImage {
        precondition(targetHeight > 0 && targetWidth > 0, "a target size is positive")
        if height == targetHeight && width == targetWidth { return self }
        let scaled: (height: Int, width: Int)
        if targetHeight == targetWidth {
            scaled = Transforms.shorterSide(to: targetHeight, height: height, width: width)
        } else {
            let scale = max(Double(targetHeight) / Double(height), Double(targetWidth) / Double(width))
            scaled = (max(targetHeight, Int(Double(height) * scale)), max(targetWidth, Int(Double(width) * scale)))
        }
        let (top, left) = Transforms.centerCropOrigin(height: scaled.height, width: scaled.width,
                                                      cropHeight: targetHeight, cropWidth: targetWidth)
        var planar = [Float](repeating: 0, count: channels * targetHeight * targetWidth)
        pixels.withUnsafeBufferPointer { src in
            planar.withUnsafeMutableBufferPointer { out in
                Transforms.resample(src.baseAddress!, layout: .interleaved(channels: channels, height: height, width: width),
                                    window: (0, 0, height, width), outHeight: scaled.height, outWidth: scaled.width,
                                    rows: top..<(top + targetHeight), columns: left..<(left + targetWidth),
                                    multiplier: 1, into: out.baseAddress!)
            }
        }
        let bytes = planar.map { UInt8(max(0, min(255, $0.rounded()))) }
        return DecodedImage(planar: bytes[...], channels: channels, height: targetHeight, width: targetWidth)
    }
}

extension DecodedImage {
    /// The whole image resampled to `outHeight` x `outWidth` with the image folders' resampling
    /// (Pillow's antialiased bilinear), as planar C x H x W floats times `multiplier` (1/255 gives
    /// [0, 1]), not rounded: for inputs of any size, such as localization's whole images.
    public func planarFloats(resizedToHeight outHeight: Int, width outWidth: Int, multiplier: Float = 1) -> [Float] {
        precondition(outHeight > 0 && outWidth > 0, "a target size is positive")
        var values = [Float](repeating: 0, count: channels * outHeight * outWidth)
        pixels.withUnsafeBufferPointer { src in
            values.withUnsafeMutableBufferPointer { out in
                Transforms.resample(src.baseAddress!, layout: .interleaved(channels: channels, height: height, width: width),
                                    window: (0, 0, height, width), outHeight: outHeight, outWidth: outWidth,
                                    rows: 0..<outHeight, columns: 0..<outWidth, multiplier: multiplier, into: out.baseAddress!)
            }
        }
        return values
    }
}
