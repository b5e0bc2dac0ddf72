import CLTrainRandom
import Dispatch
import Foundation

/// Your own images in torchvision's `ImageFolder` layout: `DIR/train/CLASS/*.{jpg,jpeg,png}` and
/// `DIR/val/CLASS/...` (or `DIR/test/CLASS/...`), or a fraction of train held out.
///
/// Classes are the sorted names of train's folders (torchvision's order), labels their indices.
/// Hidden files and folders and files of other extensions are ignored; a class folder's
/// subfolders are searched too (as `os.walk`). Every problem is found here, before a model is
/// built: a missing `train/` or test split, no class folders, an empty class folder, a class in
/// one split and not the other, a file that does not decode, images of different sizes.
public enum ImageFolder {
    /// One image file and its label.
    public struct Entry: Sendable, Equatable {
        public var path: String
        public var label: Int32
    }

    /// The files of both splits.
    public struct Listing: Sendable, Equatable {
        public var directory: String
        public var classNames: [String]
        public var train: [Entry]
        public var test: [Entry]
        /// Where the test split comes from: "val", "test", or "train" (held out by `--val-split`).
        public var testFolder: String

        public func entries(_ split: DatasetSplit) -> [Entry] { split == .train ? train : test }
    }

    /// Lists `directory`. `valSplit` (in (0, 1)) holds out that fraction of each class's training
    /// images as the test split when there is no `val/` or `test/` folder: a stratified hold-out
    /// whose choice depends only on the files (so `eval` with the same fraction tests the same
    /// images). `requireTest`: a missing test split is an error (else the listing's `test` is empty).
    public static func list(_ directory: String, valSplit: Double? = nil, requireTest: Bool = true) throws -> Listing {
        guard DataFile.isDirectory(directory) else {
            throw DataError.missingDirectory(path: directory, dataset: DatasetKind.folder.displayName)
        }
        if let valSplit, !(valSplit > 0 && valSplit < 1) {
            throw DataError.invalidOption(reason: "--val-split \(valSplit) must be a fraction between 0 and 1, e.g. 0.1")
        }
        let trainPath = join(directory, "train")
        guard DataFile.isDirectory(trainPath) else { throw DataError.noTrainFolder(directory: directory) }
        let trainClasses = try classFolders(trainPath)
        guard !trainClasses.isEmpty else { throw DataError.noClassFolders(path: trainPath) }
        let testName = testFolderName(in: directory)
        var trainFiles = try trainClasses.map { try imageFiles(inClass: join(trainPath, $0)) }
        var testFiles: [[String]] = trainClasses.map { _ in [] }
        if let testName {
            let testPath = join(directory, testName)
            if valSplit != nil { throw DataError.valSplitWithTestFolder(folder: testPath) }
            let testClasses = try classFolders(testPath)
            if let extra = testClasses.first(where: { !trainClasses.contains($0) }) {
                throw DataError.classMissing(name: extra, presentIn: testPath, missingFrom: trainPath)
            }
            if let missing = trainClasses.first(where: { !testClasses.contains($0) }) {
                throw DataError.classMissing(name: missing, presentIn: trainPath, missingFrom: testPath)
            }
            testFiles = try trainClasses.map { try imageFiles(inClass: join(testPath, $0)) }
        } else if let valSplit {
            for c in trainFiles.indices {
                (trainFiles[c], testFiles[c]) = holdOut(trainFiles[c], fraction: valSplit, stream: UInt64(c))
            }
        } else if requireTest {
            throw DataError.noTestFolder(directory: directory)
        }
        func entries(_ files: [[String]]) -> [Entry] {
            files.enumerated().flatMap { c, paths in paths.map { Entry(path: $0, label: Int32(c)) } }
        }
        return Listing(directory: directory, classNames: trainClasses, train: entries(trainFiles), test: entries(testFiles),
                       testFolder: testName ?? "train")
    }

    /// The folder beside `train/` that holds the test split: `val`, else `test`; nil when neither exists.
    public static func testFolderName(in directory: String) -> String? {
        ["val", "test"].first { DataFile.isDirectory(join(directory, $0)) }
    }

    /// A class's files split into (kept, held out): `round(fraction x n)` of them, at most n - 1,
    /// chosen by a fixed seeded shuffle; both parts keep the listing's order.
    static func holdOut(_ files: [String], fraction: Double, stream: UInt64) -> ([String], [String]) {
        let n = files.count
        let held = min(Int((Double(n) * fraction).rounded()), n - 1)
        guard held > 0 else { return (files, []) }
        var order = Array(0..<n)
        var rng = SeededRandom(mixing: 0x5EED_F01D, stream)
        for i in stride(from: n - 1, to: 0, by: -1) { order.swapAt(i, rng.next(below: i + 1)) }
        let heldOut = Set(order.prefix(held))
        return (files.indices.filter { !heldOut.contains($0) }.map { files[$0] },
                files.indices.filter { heldOut.contains($0) }.map { files[$0] })
    }

    /// The visible subfolders of `path`, sorted by code point (Python's `sorted`).
    static func classFolders(_ path: String) throws -> [String] {
        try visibleNames(path).filter { DataFile.isDirectory(join(path, $0)) }.sorted(by: codePointOrder)
    }

    /// The image files under a class folder, at any depth, sorted as torchvision walks them.
    static func imageFiles(inClass path: String) throws -> [String] {
        var found: [String] = []
        func walk(_ folder: String, depth: Int) throws {
            guard depth < 32 else { return }  // a link cycle
            for name in try visibleNames(folder).sorted(by: codePointOrder) {
                let full = join(folder, name)
                if DataFile.isDirectory(full) {
                    try walk(full, depth: depth + 1)
                } else if ImageCodec.isImageFileName(name) {
                    found.append(full)
                }
            }
        }
        try walk(path, depth: 0)
        guard !found.isEmpty else { throw DataError.emptyClassFolder(path: path) }
        return found
    }

    static func visibleNames(_ path: String) throws -> [String] {
        do {
            return try FileManager.default.contentsOfDirectory(atPath: path).filter { !$0.hasPrefix(".") }
        } catch {
            throw DataError.unreadable(path: path, reason: (error as NSError).localizedDescription)
        }
    }

    static func codePointOrder(_ a: String, _ b: String) -> Bool {
        a.unicodeScalars.lexicographicallyPrecedes(b.unicodeScalars)
    }

    static func join(_ directory: String, _ name: String) -> String {
        (directory as NSString).appendingPathComponent(name)
    }
}

extension ImageFolder {
    /// How the images of a folder become a data set's bytes.
    public struct Decoding: Sendable, Equatable {
        /// Convert every image to 1 or 3 channels; nil: 3 when any image is RGB, else 1.
        public var channels: Int?
        /// Resize the shorter side to this (Pillow's bilinear filter, as torchvision's `Resize`)
        /// and center-crop to `resize` x `resize`; nil: the images' own size, which they must share.
        public var resize: Int?
        /// Refuse to decode more bytes than this; nil: the host's available memory.
        public var memoryBudget: Int?
        /// Decoding threads; nil: one per core.
        public var threads: Int?

        public init(channels: Int? = nil, resize: Int? = nil, memoryBudget: Int? = nil, threads: Int? = nil) {
            self.channels = channels
            self.resize = resize
            self.memoryBudget = memoryBudget
            self.threads = threads
        }
    }

    /// Decodes `entries` once, on one thread per core (each with its own `JPEGDecoder`), into a
    /// data set of uint8 images (the decoded set cached in memory). The first file that does not
    /// decode, or whose size differs without `resize`, is the error (in listing order).
    public static func decode(_ entries: [Entry], classNames: [String], directory: String, _ settings: Decoding) throws -> ImageDataset {
        if let channels = settings.channels, channels != 1 && channels != 3 {
            throw DataError.invalidOption(reason: "--channels \(channels) must be 1 (grayscale) or 3 (RGB)")
        }
        guard let firstEntry = entries.first else {
            throw DataError.invalidOption(reason: "'\(directory)' has no images in this split")
        }
        // Without --resize every image must have the first one's size.
        var height = settings.resize ?? 0, width = settings.resize ?? 0
        if settings.resize == nil {
            let first = try ImageCodec.read(firstEntry.path)
            (height, width) = (first.height, first.width)
        }
        // Until every image is seen, a set of unknown channels keeps room for 3 each.
        let slotChannels = settings.channels ?? 3
        let plane = height * width
        let slot = slotChannels * plane
        let (bytes, overflow) = entries.count.multipliedReportingOverflow(by: slot)
        let available = settings.memoryBudget ?? hostAvailableBytes() ?? Int.max
        if overflow || bytes > available {
            throw DataError.tooLargeForMemory(directory: directory, images: entries.count, bytes: overflow ? Int.max : bytes,
                                              available: available)
        }
        var pixels = [UInt8](repeating: 0, count: bytes)
        var gray = [Bool](repeating: false, count: entries.count)
        let failures = FailureList()
        let queue = WorkQueue(count: entries.count)
        let threads = max(1, min(settings.threads ?? ProcessInfo.processInfo.activeProcessorCount, entries.count))
        pixels.withUnsafeMutableBufferPointer { px in
            gray.withUnsafeMutableBufferPointer { isGray in
                let shared = SharedBuffers(pixels: px.baseAddress!, gray: isGray.baseAddress!)
                DispatchQueue.concurrentPerform(iterations: threads) { _ in
                    let decoder: JPEGDecoder
                    do { decoder = try JPEGDecoder() } catch { failures.add(index: -1, error); return }
                    while let index = queue.next(), !failures.any(before: index) {
                        do {
                            var image = try decoder.read(entries[index].path)
                            if let target = settings.channels { image = image.converted(toChannels: target) }
                            if settings.resize == nil, image.height != height || image.width != width {
                                throw DataError.mixedImageSizes(path: entries[index].path, width: image.width, height: image.height,
                                                                firstPath: firstEntry.path, firstWidth: width, firstHeight: height)
                            }
                            shared.gray[index] = image.channels == 1
                            store(image, resize: settings.resize, into: shared.pixels + index * slot)
                        } catch {
                            failures.add(index: index, error)
                        }
                    }
                }
            }
        }
        if let failure = failures.first { throw failure }
        let channels = settings.channels ?? (gray.allSatisfy { $0 } ? 1 : 3)
        if settings.channels == nil {
            // Gray images were stored in their slot's first plane.
            if channels == 3 {
                for i in gray.indices where gray[i] {
                    let base = i * slot
                    pixels.withUnsafeMutableBufferPointer { px in
                        for c in 1..<3 { (px.baseAddress! + base + c * plane).update(from: px.baseAddress! + base, count: plane) }
                    }
                }
            } else {
                // All gray: close up the slots' unused planes (moving down never overwrites a later image).
                pixels.withUnsafeMutableBufferPointer { px in
                    for i in 1..<max(entries.count, 1) { (px.baseAddress! + i * plane).update(from: px.baseAddress! + i * slot, count: plane) }
                }
                pixels.removeLast(pixels.count - entries.count * plane)
            }
        }
        return ImageDataset(images: pixels, labels: entries.map(\.label), count: entries.count, channels: channels,
                            height: height, width: width, classes: classNames.count, classNames: classNames)
    }

    /// Writes `image` planar at `dst`: as it is, or resized (shorter side to `resize`) and
    /// center-cropped to `resize` x `resize`.
    static func store(_ image: DecodedImage, resize: Int?, into dst: UnsafeMutablePointer<UInt8>) {
        let c = image.channels, h = image.height, w = image.width
        image.pixels.withUnsafeBufferPointer { src in
            guard let size = resize, size != h || size != w else {
                let plane = h * w
                for i in 0..<plane { for ch in 0..<c { dst[ch * plane + i] = src[i * c + ch] } }
                return
            }
            let (nh, nw) = Transforms.shorterSide(to: size, height: h, width: w)
            let (top, left) = Transforms.centerCropOrigin(height: nh, width: nw, cropHeight: size, cropWidth: size)
            var out = [Float](repeating: 0, count: c * size * size)
            out.withUnsafeMutableBufferPointer { o in
                Transforms.resample(src.baseAddress!, layout: .interleaved(channels: c, height: h, width: w), window: (0, 0, h, w),
                                    outHeight: nh, outWidth: nw, rows: top..<(top + size), columns: left..<(left + size),
                                    multiplier: 1, into: o.baseAddress!)
            }
            for i in 0..<out.count { dst[i] = UInt8(max(0, min(255, out[i].rounded()))) }
        }
    }

    /// MemAvailable from /proc/meminfo, nil where there is none.
    static func hostAvailableBytes() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("MemAvailable:") {
            return line.split(separator: " ").dropFirst().first.flatMap { Int($0) }.map { $0 * 1024 }
        }
        return nil
    }

    /// The decoding threads' destinations: each thread writes only its own images' bytes.
    private struct SharedBuffers: @unchecked Sendable {
        let pixels: UnsafeMutablePointer<UInt8>
        let gray: UnsafeMutablePointer<Bool>
    }

    /// Hands out indices 0..<count, one at a time, to the decoding threads.
    private final class WorkQueue: @unchecked Sendable {
        private let lock = NSLock()
        private var nextIndex = 0
        private let count: Int

        init(count: Int) { self.count = count }

        func next() -> Int? {
            lock.lock()
            defer { lock.unlock() }
            guard nextIndex < count else { return nil }
            nextIndex += 1
            return nextIndex - 1
        }
    }

    /// The errors met, kept so the one of the earliest file is reported.
    private final class FailureList: @unchecked Sendable {
        private let lock = NSLock()
        private var failures: [(index: Int, error: Error)] = []

        func add(index: Int, _ error: Error) {
            lock.lock()
            failures.append((index, error))
            lock.unlock()
        }

        /// Whether a file before `index` failed (later files need not be decoded).
        func any(before index: Int) -> Bool {
            lock.lock()
            defer { lock.unlock() }
            return failures.contains { $0.index < index }
        }

        var first: Error? {
            lock.lock()
            defer { lock.unlock() }
            return failures.min { $0.index < $1.index }?.error
        }
    }
}
