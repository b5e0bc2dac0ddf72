/// Per-channel statistics for `x' = (x / 255 - mean[c]) / std[c]`.
public struct Normalization: Codable, Equatable, Sendable {
    public var mean: [Float]
    public var std: [Float]

    public init(mean: [Float], std: [Float]) {
        self.mean = mean
        self.std = std
    }

    /// Leaves pixels scaled to [0, 1].
    public static func identity(channels: Int) -> Normalization {
        Normalization(mean: Array(repeating: 0, count: channels), std: Array(repeating: 1, count: channels))
    }

    /// Checks one finite mean and one finite positive std per channel.
    public func validate(channels: Int) throws {
        guard mean.count == channels, std.count == channels else {
            throw DataError.invalidNormalization(
                reason: "\(mean.count) means and \(std.count) stds for \(channels) channels")
        }
        for (c, m) in mean.enumerated() where !m.isFinite {
            throw DataError.invalidNormalization(reason: "mean of channel \(c) is \(m)")
        }
        for (c, s) in std.enumerated() where !(s.isFinite && s > 0) {
            throw DataError.invalidNormalization(reason: "std of channel \(c) is \(s), not positive")
        }
    }

    /// The mean and (population) standard deviation of each channel of `dataset`, over pixels
    /// scaled to [0, 1]. A channel with no spread gets std 1 so the result always validates.
    public static func compute(_ dataset: ImageDataset) -> Normalization {
        let c = dataset.channels
        let plane = dataset.height * dataset.width
        var sums = [UInt64](repeating: 0, count: c)
        var squares = [UInt64](repeating: 0, count: c)
        dataset.images.withUnsafeBufferPointer { px in
            for n in 0..<dataset.count {
                for ch in 0..<c {
                    let base = (n * c + ch) * plane
                    var s: UInt64 = 0
                    var q: UInt64 = 0
                    for i in 0..<plane {
                        let v = UInt64(px[base + i])
                        s &+= v
                        q &+= v * v
                    }
                    sums[ch] &+= s
                    squares[ch] &+= q
                }
            }
        }
        let total = Double(dataset.count * plane)
        var mean = [Float](repeating: 0, count: c)
        var std = [Float](repeating: 1, count: c)
        guard total > 0 else { return Normalization(mean: mean, std: std) }
        for ch in 0..<c {
            let m = Double(sums[ch]) / total
            let variance = max(0, Double(squares[ch]) / total - m * m)
            mean[ch] = Float(m / 255)
            let s = variance.squareRoot() / 255
            std[ch] = s > 0 ? Float(s) : 1
        }
        return Normalization(mean: mean, std: std)
    }
}

/// Normalisations known by name (`--normalize`).
public enum NormalizationPreset: String, Codable, Sendable, CaseIterable {
    /// torchvision's ImageNet statistics, what its pretrained models expect: mean 0.485 0.456
    /// 0.406, std 0.229 0.224 0.225. For one channel, each is the luma-weighted sum of the three
    /// (0.299 R + 0.587 G + 0.114 B, the weights of the RGB-to-gray conversion): mean 0.4590, std
    /// 0.2256 (the std so weighted, not the std of the luma, which would need the channels'
    /// correlations).
    case imagenet

    public func normalization(channels: Int) -> Normalization {
        let mean: [Float] = [0.485, 0.456, 0.406], std: [Float] = [0.229, 0.224, 0.225]
        guard channels == 1 else { return Normalization(mean: mean, std: std) }
        let luma: [Float] = [0.299, 0.587, 0.114]
        func weighted(_ v: [Float]) -> Float { zip(v, luma).reduce(0) { $0 + $1.0 * $1.1 } }
        return Normalization(mean: [weighted(mean)], std: [weighted(std)])
    }
}
