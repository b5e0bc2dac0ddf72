import CLTrainRandom
import Dispatch
import Foundation

/// How a data set is cut into batches.
public struct BatchOptions: Sendable, Equatable, Codable {
    public var batchSize: Int
    /// Shuffle each epoch (seeded by `seed` and the epoch); false keeps file order.
    public var shuffle: Bool
    /// Random crop after zero padding by `padding` pixels, and random horizontal flip (p = 0.5).
    public var augment: Bool
    public var padding: Int
    /// Resize every image to `resize` x `resize` (bilinear) before cropping; nil keeps the size.
    public var resize: Int?
    /// Drop the last batch of an epoch when it is smaller than `batchSize`.
    public var dropLast: Bool
    public var seed: UInt64
    /// Image-folder batches (torchvision's crops): the output is `crop` x `crop`; with `augment`
    /// a random resized crop of each image (`ResizedCropDraw`) plus flip, without it a center
    /// crop. `padding` and `resize` are then unused.
    public var crop: Int?

    public init(
        batchSize: Int, shuffle: Bool = true, augment: Bool = false, padding: Int = 4,
        resize: Int? = nil, dropLast: Bool = false, seed: UInt64 = 0, crop: Int? = nil
    ) {
        self.batchSize = batchSize
        self.shuffle = shuffle
        self.augment = augment
        self.padding = padding
        self.resize = resize
        self.dropLast = dropLast
        self.seed = seed
        self.crop = crop
    }
}

/// A batch ready for the model: normalised float images N x C x H x W and class indices as floats.
public struct Batch: Sendable, Equatable {
    public var images: [Float]
    /// Class index of each image as a float; empty for an unlabelled data set.
    public var labels: [Float]
    public var count: Int
    public var channels: Int
    public var height: Int
    public var width: Int
    /// The epoch and the position in it (samples before this batch) this batch came from.
    public var epoch: Int
    public var position: Int
    /// Indices of the images in the data set.
    public var indices: [Int]
}

/// The random choices of one sample's augmentation.
public struct AugmentDraw: Sendable, Equatable {
    /// Top-left corner of the crop in the padded image, each in 0...2*padding.
    public var top: Int
    public var left: Int
    public var flip: Bool

    /// The draw for sample `index` (its index in the data set) in `epoch`: it depends on nothing else.
    public static func make(seed: UInt64, epoch: Int, index: Int, padding: Int) -> AugmentDraw {
        var rng = SeededRandom(mixing: seed, 0xA0A0_0001, UInt64(bitPattern: Int64(epoch)), UInt64(bitPattern: Int64(index)))
        let top = rng.next(below: 2 * padding + 1)
        let left = rng.next(below: 2 * padding + 1)
        let flip = rng.next() >> 63 == 1
        return AugmentDraw(top: top, left: left, flip: flip)
    }
}

/// A data set, its normalisation and batch options, validated once; hands out epoch iterators.
public struct Batcher: Sendable {
    public let dataset: ImageDataset
    public let normalization: Normalization
    public let options: BatchOptions

    public init(dataset: ImageDataset, normalization: Normalization, options: BatchOptions) throws {
        guard options.batchSize > 0 else {
            throw DataError.invalidOption(reason: "batch size \(options.batchSize) must be at least 1")
        }
        guard options.padding >= 0, options.padding <= 1024 else {
            throw DataError.invalidOption(reason: "padding \(options.padding) must be in 0...1024")
        }
        if let size = options.resize, !(1...8192).contains(size) {
            throw DataError.invalidOption(reason: "resize \(size) must be in 1...8192")
        }
        if let crop = options.crop, !(1...min(dataset.height, dataset.width)).contains(crop) {
            throw DataError.invalidOption(
                reason: "crop \(crop) must be in 1...\(min(dataset.height, dataset.width)), the images being \(dataset.width)x\(dataset.height)")
        }
        try normalization.validate(channels: dataset.channels)
        self.dataset = dataset
        self.normalization = normalization
        self.options = options
    }

    /// Output image height and width (after the optional resize).
    public var outputHeight: Int { options.crop ?? options.resize ?? dataset.height }
    public var outputWidth: Int { options.crop ?? options.resize ?? dataset.width }

    /// Batches in one epoch.
    public var batchesPerEpoch: Int {
        let n = dataset.count
        let b = options.batchSize
        return options.dropLast ? n / b : (n + b - 1) / b
    }

    /// The order in which epoch `epoch` visits the data set: a function of (seed, epoch) only.
    public func order(epoch: Int) -> [Int] {
        var order = Array(0..<dataset.count)
        guard options.shuffle, order.count > 1 else { return order }
        var rng = SeededRandom(mixing: options.seed, 0x5EED_0002, UInt64(bitPattern: Int64(epoch)))
        for i in stride(from: order.count - 1, to: 0, by: -1) {
            order.swapAt(i, rng.next(below: i + 1))
        }
        return order
    }

    /// Iterates epoch `epoch` from `position` (samples already consumed in it, normally a
    /// multiple of the batch size). Resuming from a saved (epoch, position) with the same seed
    /// and options yields exactly the batches the interrupted run would have seen.
    ///
    /// `part`, for one rank of a data-parallel run, gives the positions within a batch of `n`
    /// images that this rank takes (the global batches stay the single-process ones): each batch
    /// then holds only those images, with the global batch's `position`, and the iterator still
    /// moves by whole global batches.
    public func batches(epoch: Int, position: Int = 0, part: (@Sendable (Int) -> Range<Int>)? = nil) throws -> BatchIterator {
        guard position >= 0 && position <= dataset.count else {
            throw DataError.invalidOption(reason: "position \(position) is outside 0...\(dataset.count)")
        }
        return BatchIterator(batcher: self, epoch: epoch, order: order(epoch: epoch), position: position, part: part)
    }

    /// Like `batches(epoch:position:part:)`, preparing up to `depth` batches ahead on a background thread.
    public func prefetchingBatches(epoch: Int, position: Int = 0, depth: Int = 2,
                                   part: (@Sendable (Int) -> Range<Int>)? = nil) throws -> PrefetchingBatches {
        PrefetchingBatches(try batches(epoch: epoch, position: position, part: part), depth: depth)
    }

    /// Builds the batch of the given samples (positions `position..<position+indices.count` of `epoch`).
    func makeBatch(indices: [Int], epoch: Int, position: Int) -> Batch {
        if let crop = options.crop { return makeCroppedBatch(indices: indices, epoch: epoch, position: position, crop: crop) }
        let c = dataset.channels
        let h = dataset.height
        let w = dataset.width
        let oh = outputHeight
        let ow = outputWidth
        let inSize = c * h * w
        let outSize = c * oh * ow
        let resizing = oh != h || ow != w
        let padding = options.augment ? options.padding : 0
        var images = [Float](repeating: 0, count: indices.count * outSize)
        var scaled = [Float](repeating: 0, count: inSize)
        var resized = [Float](repeating: 0, count: resizing ? outSize : 0)
        dataset.images.withUnsafeBufferPointer { px in
            images.withUnsafeMutableBufferPointer { out in
                for (k, index) in indices.enumerated() {
                    let base = index * inSize
                    for j in 0..<inSize { scaled[j] = Float(px[base + j]) / 255 }
                    var draw = AugmentDraw(top: 0, left: 0, flip: false)
                    if options.augment {
                        draw = AugmentDraw.make(seed: options.seed, epoch: epoch, index: index, padding: padding)
                    }
                    let dst = UnsafeMutableBufferPointer(rebasing: out[(k * outSize)..<((k + 1) * outSize)])
                    if resizing {
                        scaled.withUnsafeBufferPointer { s in
                            resized.withUnsafeMutableBufferPointer { r in
                                Transforms.resizeBilinear(
                                    s, into: r, channels: c, height: h, width: w, outHeight: oh, outWidth: ow)
                            }
                        }
                    }
                    (resizing ? resized : scaled).withUnsafeBufferPointer { s in
                        Transforms.cropFlipNormalize(
                            s, into: dst, channels: c, height: oh, width: ow,
                            shiftY: draw.top - padding, shiftX: draw.left - padding, flip: draw.flip,
                            mean: normalization.mean, std: normalization.std)
                    }
                }
            }
        }
        let labels = dataset.labels.isEmpty ? [] : indices.map { Float(dataset.labels[$0]) }
        return Batch(
            images: images, labels: labels, count: indices.count,
            channels: c, height: oh, width: ow, epoch: epoch, position: position, indices: indices)
    }
}

extension Batcher {
    /// An image-folder batch: each image's random resized crop (resampled with Pillow's bilinear
    /// filter) and flip when augmenting, else its center crop; then normalised.
    func makeCroppedBatch(indices: [Int], epoch: Int, position: Int, crop: Int) -> Batch {
        let c = dataset.channels, h = dataset.height, w = dataset.width
        let outSize = c * crop * crop
        let layout = PixelLayout.planar(channels: c, height: h, width: w)
        var images = [Float](repeating: 0, count: indices.count * outSize)
        let (centerTop, centerLeft) = Transforms.centerCropOrigin(height: h, width: w, cropHeight: crop, cropWidth: crop)
        // Large images (224 x 224 crops) are cut on every core, so that one batch thread keeps a
        // fast device fed; small ones (28 x 28) on this thread, where that costs more than it saves.
        let pieces = indices.count * outSize >= 1 << 20 ? min(indices.count, ProcessInfo.processInfo.activeProcessorCount) : 1
        dataset.images.withUnsafeBufferPointer { px in
            images.withUnsafeMutableBufferPointer { out in
                let shared = (source: px.baseAddress!, destination: out.baseAddress!)
                let piece = { (part: Int) in
                    var window = [Float](repeating: 0, count: outSize)
                    window.withUnsafeMutableBufferPointer { win in
                        for k in stride(from: part, to: indices.count, by: pieces) {
                            let index = indices[k]
                            let src = shared.source + index * dataset.imageSize
                            var flip = false
                            if options.augment {
                                let draw = ResizedCropDraw.make(seed: options.seed, epoch: epoch, index: index, height: h, width: w)
                                flip = draw.flip
                                Transforms.resample(src, layout: layout, window: (draw.top, draw.left, draw.height, draw.width),
                                                    outHeight: crop, outWidth: crop, rows: 0..<crop, columns: 0..<crop,
                                                    multiplier: 1 / 255, into: win.baseAddress!)
                            } else {
                                for ch in 0..<c {
                                    for y in 0..<crop {
                                        let row = src + ch * h * w + (centerTop + y) * w + centerLeft
                                        for x in 0..<crop { win[(ch * crop + y) * crop + x] = Float(row[x]) / 255 }
                                    }
                                }
                            }
                            let dst = UnsafeMutableBufferPointer(start: shared.destination + k * outSize, count: outSize)
                            Transforms.cropFlipNormalize(
                                UnsafeBufferPointer(win), into: dst, channels: c, height: crop, width: crop,
                                shiftY: 0, shiftX: 0, flip: flip, mean: normalization.mean, std: normalization.std)
                        }
                    }
                }
                if pieces == 1 { piece(0) } else { DispatchQueue.concurrentPerform(iterations: pieces, execute: piece) }
            }
        }
        let labels = dataset.labels.isEmpty ? [] : indices.map { Float(dataset.labels[$0]) }
        return Batch(
            images: images, labels: labels, count: indices.count,
            channels: c, height: crop, width: crop, epoch: epoch, position: position, indices: indices)
    }
}

/// The batches of one epoch, in order. Deterministic: see `Batcher.batches(epoch:position:)`.
public struct BatchIterator: IteratorProtocol, Sequence, Sendable {
    public let batcher: Batcher
    public let epoch: Int
    /// Samples of this epoch consumed so far; save it with the epoch to resume.
    public private(set) var position: Int
    private let order: [Int]
    /// This rank's positions within a global batch of n images (nil: all of them).
    private let part: (@Sendable (Int) -> Range<Int>)?

    init(batcher: Batcher, epoch: Int, order: [Int], position: Int, part: (@Sendable (Int) -> Range<Int>)? = nil) {
        self.batcher = batcher
        self.epoch = epoch
        self.order = order
        self.position = position
        self.part = part
    }

    public mutating func next() -> Batch? {
        let remaining = order.count - position
        let size = Swift.min(batcher.options.batchSize, remaining)
        guard size > 0, !(batcher.options.dropLast && size < batcher.options.batchSize) else { return nil }
        let global = order[position..<(position + size)]
        let mine = part.map { global.dropFirst($0(size).lowerBound).prefix($0(size).count) } ?? global
        let batch = batcher.makeBatch(indices: Array(mine), epoch: epoch, position: position)
        position += size
        return batch
    }
}
