import CLTrainTestSupport
import Foundation
import XCTest

@testable import CLTrainData

/// `--dataset folder`: torchvision's ImageFolder layout, its odd cases and its one-line errors,
/// the cached decoded set, and the crops of its batches.
final class ImageFolderTests: XCTestCase {
    func gray(_ value: Int, _ size: Int = 8) -> DecodedImage { patternImage(width: size, height: size, channels: 1, value: value) }
    func rgb(_ value: Int, _ size: Int = 8) -> DecodedImage { patternImage(width: size, height: size, channels: 3, value: value) }

    func folderSource(_ root: URL, resize: Int? = nil, channels: Int? = nil, valSplit: Double? = nil) -> DataSource {
        DataSource(kind: .folder, directory: root.path, channels: channels, resize: resize, valSplit: valSplit)
    }

    // MARK: Layout

    func testClassesAreTrainsSortedFolderNamesAndLabelsFollowThem() throws {
        let root = try makeTemporaryDirectory()
        // Code-point order, as Python's sorted(): upper case before lower case.
        let classes = ["zebra": 10, "Ant": 20, "bee": 30, "ant": 40]
        try writeImageFolder(root, [
            "train": classes.mapValues { [gray($0), gray($0 + 1)] },
            "val": classes.mapValues { [gray($0)] },
        ])
        let (train, test) = try folderSource(root).loadTrainAndTest()
        XCTAssertEqual(train.classNames, ["Ant", "ant", "bee", "zebra"])
        XCTAssertEqual(test.classNames, train.classNames)
        XCTAssertEqual(train.classes, 4)
        XCTAssertEqual(train.labels, [0, 0, 1, 1, 2, 2, 3, 3])
        XCTAssertEqual(test.labels, [0, 1, 2, 3])
        // Each image is its class's: the first pixel tells.
        for i in 0..<train.count {
            XCTAssertEqual(Int(train.image(i).first!), classes[train.classNames[Int(train.labels[i])]]! + i % 2)
        }
        XCTAssertEqual(train.channels, 1)
        XCTAssertEqual([train.height, train.width], [8, 8])
    }

    func testHiddenAndNonImageFilesAreIgnoredAndSubfoldersSearched() throws {
        let root = try makeTemporaryDirectory()
        try writeImageFolder(root, [
            "train": ["cat": [gray(10)], "dog": (0..<5).map { gray(100 + $0) }],  // uneven classes
            "test": ["cat": [gray(11)], "dog": [gray(101)]],  // test/ serves when there is no val/
        ])
        let train = root.appendingPathComponent("train")
        try Data("x".utf8).write(to: train.appendingPathComponent("README.txt"))  // not in a class
        try Data("x".utf8).write(to: train.appendingPathComponent("cat/notes.txt"))
        try Data("junk".utf8).write(to: train.appendingPathComponent("cat/.DS_Store"))
        try Data("junk".utf8).write(to: train.appendingPathComponent("cat/._001.png"))  // macOS's resource forks
        try writePNG(gray(200), to: train.appendingPathComponent(".hidden-class/001.png").path)
        try writePNG(gray(201), to: train.appendingPathComponent("cat/.thumbs/001.png").path)
        try writePNG(gray(12), to: train.appendingPathComponent("cat/more/deeper.PNG").path)  // nested, upper case
        let (data, test) = try folderSource(root).loadTrainAndTest()
        XCTAssertEqual(data.classNames, ["cat", "dog"])
        XCTAssertEqual(data.count, 7)
        XCTAssertEqual(data.labels, [0, 0, 1, 1, 1, 1, 1])
        XCTAssertEqual(data.images.first, 10)
        XCTAssertEqual(data.image(1).first, 12)
        XCTAssertEqual(test.count, 2)
    }

    func testGrayAndRGBMixedGiveRGBUnlessChannelsSaysOtherwise() throws {
        let root = try makeTemporaryDirectory()
        let color = DecodedImage(pixels: (0..<(8 * 8)).flatMap { _ in [200, 100, 50] as [UInt8] }, width: 8, height: 8, channels: 3)
        try writeImageFolder(root, ["train": ["a": [gray(30), color]], "val": ["a": [gray(40)]]])
        let (train, test) = try folderSource(root).loadTrainAndTest()
        XCTAssertEqual(train.channels, 3)
        XCTAssertEqual(test.channels, 3, "the test split takes the training split's channels")
        // The gray image repeats its plane; the RGB one keeps its planes.
        let plane = 64
        XCTAssertEqual(Array(train.image(0)), [UInt8](repeating: 30, count: 3 * plane))
        XCTAssertEqual(Array(train.image(1)), [UInt8](repeating: 200, count: plane) + [UInt8](repeating: 100, count: plane)
                       + [UInt8](repeating: 50, count: plane))
        let single = try folderSource(root, channels: 1).load(split: .train)
        XCTAssertEqual(single.channels, 1)
        // Pillow's convert("L"): (200*299 + 100*587 + 50*114) / 1000 = 124.4
        XCTAssertEqual(Array(single.image(1)), [UInt8](repeating: 124, count: plane))
    }

    func testDifferentSizesNeedResizeAndResizeKeepsTheCenterSquare() throws {
        let root = try makeTemporaryDirectory()
        let wide = patternImage(width: 20, height: 10, channels: 1, value: 50)
        try writeImageFolder(root, ["train": ["a": [gray(50, 10), wide]], "val": ["a": [gray(60, 10)]]])
        assertDataError(try folderSource(root).loadTrainAndTest(), mentioning: "--resize N") {
            guard case let .mixedImageSizes(path, width, height, firstPath, _, _) = $0 else { return false }
            return path.hasSuffix("train/a/001.png") && width == 20 && height == 10 && firstPath.hasSuffix("train/a/000.png")
        }
        let (train, test) = try folderSource(root, resize: 6).loadTrainAndTest()
        XCTAssertEqual([train.height, train.width, test.height, test.width], [6, 6, 6, 6])
        // A flat image stays flat through the filter.
        XCTAssertEqual(Set(train.image(1)), [50])
        XCTAssertEqual(Transforms.shorterSide(to: 6, height: 10, width: 20) == (6, 12), true)
        XCTAssertEqual(Transforms.shorterSide(to: 8, height: 25, width: 10) == (20, 8), true)
    }

    func testResizeAveragesWhenShrinkingAndKeepsTheCenter() throws {
        // A 4x8 ramp resized to shorter side 2 (2x4) and center-cropped to 2x2 keeps the middle
        // columns; at scale 2 Pillow's triangle spans four source columns (weights 1, 3, 3, 1).
        var pixels = [UInt8](repeating: 0, count: 4 * 8)
        for y in 0..<4 { for x in 0..<8 { pixels[y * 8 + x] = UInt8(x * 20) } }
        let image = DecodedImage(pixels: pixels, width: 8, height: 4, channels: 1)
        var out = [UInt8](repeating: 0, count: 4)
        out.withUnsafeMutableBufferPointer { ImageFolder.store(image, resize: 2, into: $0.baseAddress!) }
        // Resized columns 1 and 2: (20 + 3*40 + 3*60 + 80) / 8 = 50, (60 + 3*80 + 3*100 + 120) / 8 = 90.
        XCTAssertEqual(out, [50, 90, 50, 90])
    }

    /// The cached set's resize against torchvision's own `Resize(N)` + `CenterCrop(N)` on PIL images
    /// (Pillow's fixed-point filter rounds between its two passes; cltrain's does not).
    func testResizeMatchesTorchvisionsPillowPipeline() throws {
        guard pythonCanImport("PIL") else { throw XCTSkip("python3 with Pillow is needed") }
        let root = try makeTemporaryDirectory()
        for (name, width, height, size) in [("down", 37, 23, 10), ("up", 9, 14, 20), ("square", 30, 30, 12)] {
            let image = patternImage(width: width, height: height, channels: 3, value: 40, pattern: 180, seed: width)
            let path = root.appendingPathComponent("\(name).png").path
            try writePNG(image, to: path)
            let script = """
                import sys
                from PIL import Image
                img = Image.open(sys.argv[1]).convert("RGB")
                n = int(sys.argv[2])
                w, h = img.size
                # torchvision.transforms.Resize(n): shorter side to n, the longer truncated; then CenterCrop(n)
                size = (n, int(n * h / w)) if w <= h else (int(n * w / h), n)
                img = img.resize(size, Image.BILINEAR)
                left, top = int(round((img.size[0] - n) / 2.0)), int(round((img.size[1] - n) / 2.0))
                img = img.crop((left, top, left + n, top + n))
                print(" ".join(str(v) for v in img.tobytes()))
                """
            let pillow = try runPython(script, [path, String(size)]).split(separator: " ").map { Int($0.trimmingCharacters(in: .whitespacesAndNewlines))! }
            var ours = [UInt8](repeating: 0, count: 3 * size * size)
            ours.withUnsafeMutableBufferPointer { ImageFolder.store(image, resize: size, into: $0.baseAddress!) }
            // Pillow's bytes are interleaved, ours planar.
            var worst = 0
            for i in 0..<(size * size) { for c in 0..<3 { worst = max(worst, abs(Int(ours[c * size * size + i]) - pillow[i * 3 + c])) } }
            XCTAssertLessThanOrEqual(worst, 1, "\(name): \(width)x\(height) -> \(size)")
        }
    }

    func testValSplitHoldsOutAStratifiedFixedFraction() throws {
        let root = try makeTemporaryDirectory()
        try writeImageFolder(root, ["train": ["a": (0..<20).map { gray($0) }, "b": (0..<10).map { gray(100 + $0) }, "c": [gray(200)]]])
        assertDataError(try folderSource(root).loadTrainAndTest(), mentioning: "--val-split") {
            if case .noTestFolder = $0 { return true } else { return false }
        }
        let listing = try ImageFolder.list(root.path, valSplit: 0.2)
        XCTAssertEqual(listing, try ImageFolder.list(root.path, valSplit: 0.2), "the hold-out depends on the files only")
        XCTAssertEqual(listing.testFolder, "train")
        let counts = { (entries: [ImageFolder.Entry]) in (0..<3).map { c in entries.filter { $0.label == c }.count } }
        XCTAssertEqual(counts(listing.test), [4, 2, 0], "20% of each class; a class of one keeps its image")
        XCTAssertEqual(counts(listing.train), [16, 8, 1])
        XCTAssertTrue(Set(listing.train.map(\.path)).isDisjoint(with: listing.test.map(\.path)))
        XCTAssertNotEqual(listing.test.filter { $0.label == 0 }.map { ($0.path as NSString).lastPathComponent },
                          ["000.png", "001.png", "002.png", "003.png"], "held out at random, not the first files")
        let (train, test) = try folderSource(root, valSplit: 0.2).loadTrainAndTest()
        XCTAssertEqual([train.count, test.count], [25, 6])
        XCTAssertEqual(try folderSource(root).load(split: .train).count, 31, "the training split alone needs no test split")
        // A val folder and --val-split contradict each other.
        try writeImageFolder(root, ["val": ["a": [gray(1)], "b": [gray(2)], "c": [gray(3)]]])
        assertDataError(try folderSource(root, valSplit: 0.2).load(split: .test), mentioning: "drop --val-split") {
            if case .valSplitWithTestFolder = $0 { return true } else { return false }
        }
    }

    func testLimitTakesImagesOfEveryClass() throws {
        let root = try makeTemporaryDirectory()
        try writeImageFolder(root, ["train": ["a": (0..<10).map { gray($0) }, "b": (0..<10).map { gray(100 + $0) }],
                                    "val": ["a": [gray(1)], "b": [gray(2)]]])
        let limited = try folderSource(root).load(split: .train, limit: 6)
        XCTAssertEqual(limited.count, 6)
        XCTAssertEqual(Set(limited.labels), [0, 1])
        XCTAssertEqual(limited, try folderSource(root).load(split: .train, limit: 6))
    }

    // MARK: Bad input: one line naming the file or folder, before any training

    func testACorruptOrNonImageFileIsNamed() throws {
        let root = try makeTemporaryDirectory()
        try writeImageFolder(root, ["train": ["a": (0..<12).map { gray($0) }], "val": ["a": [gray(1)]]])
        let broken = root.appendingPathComponent("train/a/007.png").path
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: broken)))
        bytes.removeLast(bytes.count / 2)  // cut short
        try Data(bytes).write(to: URL(fileURLWithPath: broken))
        assertOneLineError(ImageCodecError.self, try folderSource(root).loadTrainAndTest(), mentions: [broken, "replace or remove"]) { _ in true }
        try writePNG(gray(7), to: broken)
        let text = root.appendingPathComponent("train/a/notes.jpg").path
        try Data("not an image".utf8).write(to: URL(fileURLWithPath: text))
        assertOneLineError(ImageCodecError.self, try folderSource(root).loadTrainAndTest(), mentions: [text, "remove it"]) { _ in true }
    }

    func testEmptyClassFolderIsNamed() throws {
        let root = try makeTemporaryDirectory()
        try writeImageFolder(root, ["train": ["a": [gray(1)]], "val": ["a": [gray(1)]]])
        let empty = root.appendingPathComponent("train/b")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        try Data("x".utf8).write(to: empty.appendingPathComponent("labels.csv"))
        assertDataError(try folderSource(root).loadTrainAndTest(), mentioning: empty.path) {
            if case .emptyClassFolder = $0 { return true } else { return false }
        }
    }

    func testAClassInOneSplitOnlyIsNamed() throws {
        let root = try makeTemporaryDirectory()
        try writeImageFolder(root, ["train": ["a": [gray(1)], "b": [gray(2)]], "val": ["a": [gray(1)], "b": [gray(2)], "c": [gray(3)]]])
        assertDataError(try folderSource(root).loadTrainAndTest(), mentioning: "class 'c'") {
            guard case let .classMissing(name, presentIn, missingFrom) = $0 else { return false }
            return name == "c" && presentIn.hasSuffix("val") && missingFrom.hasSuffix("train")
        }
        try FileManager.default.removeItem(at: root.appendingPathComponent("val/c"))
        try FileManager.default.removeItem(at: root.appendingPathComponent("val/b"))
        assertDataError(try folderSource(root).loadTrainAndTest(), mentioning: "class 'b'") {
            guard case let .classMissing(name, presentIn, missingFrom) = $0 else { return false }
            return name == "b" && presentIn.hasSuffix("train") && missingFrom.hasSuffix("val")
        }
    }

    func testNoImagesNoTrainFolderNoMemory() throws {
        let root = try makeTemporaryDirectory()
        assertDataError(try folderSource(root).loadTrainAndTest(), mentioning: "no train/ folder") {
            if case .noTrainFolder = $0 { return true } else { return false }
        }
        try FileManager.default.createDirectory(at: root.appendingPathComponent("train"), withIntermediateDirectories: true)
        try Data("x".utf8).write(to: root.appendingPathComponent("train/image.png"))  // not in a class folder
        assertDataError(try folderSource(root).loadTrainAndTest(), mentioning: "no class folders") {
            if case .noClassFolders = $0 { return true } else { return false }
        }
        assertDataError(try folderSource(root.appendingPathComponent("nowhere")).loadTrainAndTest(), mentioning: "nowhere") {
            if case .missingDirectory = $0 { return true } else { return false }
        }
        try writeImageFolder(root, ["train": ["a": (0..<10).map { gray($0) }], "val": ["a": [gray(1)]]])
        var source = folderSource(root, channels: 1)
        source.memoryBudget = 100
        assertDataError(try source.loadTrainAndTest(), mentioning: "640 bytes") {
            if case .tooLargeForMemory(_, 10, 640, 100) = $0 { return true } else { return false }
        }
    }

    // MARK: Crops

    func testRandomResizedCropDrawsAreReproducibleAndInBounds() {
        var areas: [Double] = []
        for index in 0..<500 {
            let draw = ResizedCropDraw.make(seed: 3, epoch: 1, index: index, height: 40, width: 30)
            XCTAssertEqual(draw, ResizedCropDraw.make(seed: 3, epoch: 1, index: index, height: 40, width: 30))
            XCTAssertTrue(draw.height > 0 && draw.width > 0 && draw.top >= 0 && draw.left >= 0, "\(draw)")
            XCTAssertTrue(draw.top + draw.height <= 40 && draw.left + draw.width <= 30, "\(draw)")
            let ratio = Double(draw.width) / Double(draw.height)
            XCTAssertTrue(ratio > 0.6 && ratio < 1.6, "\(draw)")
            areas.append(Double(draw.width * draw.height) / 1200)
        }
        XCTAssertGreaterThan(areas.min()!, 0.06)
        XCTAssertLessThan(areas.min()!, 0.2, "small crops happen")
        XCTAssertGreaterThan(areas.max()!, 0.8, "large crops happen")
        let flips = (0..<500).filter { ResizedCropDraw.make(seed: 3, epoch: 1, index: $0, height: 40, width: 30).flip }.count
        XCTAssertTrue((200...300).contains(flips), "\(flips) flips in 500")
        // Another epoch, index or seed draws anew.
        let base = ResizedCropDraw.make(seed: 3, epoch: 1, index: 7, height: 40, width: 30)
        let others = [ResizedCropDraw.make(seed: 3, epoch: 2, index: 7, height: 40, width: 30),
                      ResizedCropDraw.make(seed: 3, epoch: 1, index: 8, height: 40, width: 30),
                      ResizedCropDraw.make(seed: 4, epoch: 1, index: 7, height: 40, width: 30)]
        XCTAssertTrue(others.allSatisfy { $0 != base })
        // An image too thin for any ratio in 3/4...4/3 falls back to the center crop of the nearest.
        let thin = ResizedCropDraw.make(seed: 0, epoch: 0, index: 0, height: 2, width: 100)
        XCTAssertEqual([thin.top, thin.left, thin.height, thin.width], [0, 48, 2, 3])
    }

    func testCenterCropGeometryRoundsHalvesToEvenAsTorchvision() {
        XCTAssertTrue(Transforms.centerCropOrigin(height: 10, width: 10, cropHeight: 4, cropWidth: 4) == (3, 3))
        XCTAssertTrue(Transforms.centerCropOrigin(height: 5, width: 7, cropHeight: 2, cropWidth: 2) == (2, 2))  // 1.5 -> 2, 2.5 -> 2
        XCTAssertTrue(Transforms.centerCropOrigin(height: 4, width: 9, cropHeight: 1, cropWidth: 2) == (2, 4))  // 1.5 -> 2, 3.5 -> 4
    }

    func testBatchesTakeTheCenterCropWithoutAugmentAndRandomResizedCropsWithIt() throws {
        // One 1x6x6 image whose pixel is its index.
        let data = ImageDataset(images: (0..<36).map { UInt8($0) }, labels: [0], count: 1, channels: 1, height: 6, width: 6, classes: 1)
        let plain = try Batcher(dataset: data, normalization: .identity(channels: 1), options: BatchOptions(batchSize: 1, crop: 4))
        let batch = try XCTUnwrap(Array(try plain.batches(epoch: 0)).first)
        XCTAssertEqual([batch.height, batch.width], [4, 4])
        let expected = (1..<5).flatMap { y in (1..<5).map { x in Float(y * 6 + x) / 255 } }
        XCTAssertEqual(batch.images, expected)
        // Augmented: the draw's window resampled to 4x4, mirrored when it says so.
        let augmented = try Batcher(dataset: data, normalization: .identity(channels: 1),
                                    options: BatchOptions(batchSize: 1, augment: true, seed: 5, crop: 4))
        for epoch in 0..<6 {
            let images = try XCTUnwrap(Array(try augmented.batches(epoch: epoch)).first).images
            XCTAssertEqual(images, try XCTUnwrap(Array(try augmented.batches(epoch: epoch)).first).images, "a function of (seed, epoch, index)")
            let draw = ResizedCropDraw.make(seed: 5, epoch: epoch, index: 0, height: 6, width: 6)
            // Within the window's value range: rows top..<top+h, columns left..<left+w.
            let low = Float(draw.top * 6 + draw.left) / 255, high = Float((draw.top + draw.height - 1) * 6 + draw.left + draw.width - 1) / 255
            XCTAssertTrue(images.allSatisfy { $0 >= low - 1e-6 && $0 <= high + 1e-6 }, "\(draw): \(images)")
            // Values grow along a row, or shrink when mirrored.
            let growing = images[3] >= images[0]
            XCTAssertEqual(growing, !draw.flip || draw.width == 1, "\(draw)")
        }
    }

    // MARK: --channels for every data set

    func testChannelsConvertIDXAndCIFARBothWays() throws {
        let root = try makeTemporaryDirectory()
        let labels: [UInt8] = [0, 1, 2]
        try Data(idxImages(count: 3, rows: 28, cols: 28)).write(to: root.appendingPathComponent("train-images-idx3-ubyte"))
        try Data(idxLabels(labels)).write(to: root.appendingPathComponent("train-labels-idx1-ubyte"))
        let gray = try DataSource(kind: .fashionMNIST, directory: root.path).load(split: .train)
        let rgb = try DataSource(kind: .fashionMNIST, directory: root.path, channels: 3).load(split: .train)
        XCTAssertEqual(rgb.channels, 3)
        XCTAssertEqual(rgb.classNames, DatasetKind.fashionMNIST.classNames)
        for i in 0..<3 {
            let planes = Array(rgb.image(i))
            for c in 0..<3 { XCTAssertEqual(Array(planes[(c * 784)..<((c + 1) * 784)]), Array(gray.image(i))) }
        }
        XCTAssertEqual(rgb.converted(toChannels: 1), gray, "gray to RGB and back is the identity")

        try Data(cifarRecords([3, 4], variant: .cifar10)).write(to: root.appendingPathComponent("data_batch_1.bin"))
        let color = try DataSource(kind: .cifar10, directory: root.path).load(split: .train, limit: 2)
        let luma = try DataSource(kind: .cifar10, directory: root.path, channels: 1).load(split: .train, limit: 2)
        XCTAssertEqual([luma.channels, luma.count], [1, 2])
        for i in [0, 500, 1023] {
            let r = color.images[i], g = color.images[1024 + i], b = color.images[2048 + i]
            XCTAssertEqual(luma.images[i], DecodedImage(pixels: [r, g, b], width: 1, height: 1, channels: 3).converted(toChannels: 1).pixels[0])
        }
    }

    func testImagenetNormalizationForOneAndThreeChannels() {
        XCTAssertEqual(NormalizationPreset.imagenet.normalization(channels: 3), Normalization(mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225]))
        let one = NormalizationPreset.imagenet.normalization(channels: 1)
        XCTAssertEqual(one.mean[0], 0.299 * 0.485 + 0.587 * 0.456 + 0.114 * 0.406, accuracy: 1e-6)
        XCTAssertEqual(one.std[0], 0.299 * 0.229 + 0.587 * 0.224 + 0.114 * 0.225, accuracy: 1e-6)
    }
}
