import CLTrainTestSupport
import Foundation
import XCTest

/// Every bad input a user can give: one line on stderr that says what is wrong and what to do,
/// a non-zero exit, no crash or stack trace, and no file overwritten.
final class BadInputTests: XCTestCase {
    var directory: URL!
    /// A file `--save` points at in every failing run: it must survive untouched.
    var sentinel: URL!
    static let sentinelBytes = Data("precious weights".utf8)

    override func setUpWithError() throws {
        directory = try makeTemporaryDirectory()
        sentinel = directory.appendingPathComponent("keep.safetensors")
        try Self.sentinelBytes.write(to: sentinel)
    }

    /// Run a command that must fail; check the failure's shape and return its message.
    @discardableResult
    func expectFailure(_ arguments: [String], mentioning words: [String], environment: [String: String] = [:],
                       file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let result = try CLI.run(arguments, environment: environment)
        // Not ours: the diagnostic count PoCL's compiler prints itself. (Runs are --quiet: no log lines.)
        let lines = result.stderr.split(whereSeparator: \.isNewline)
            .filter { !$0.hasSuffix("error generated.") && !$0.hasSuffix("errors generated.") }
        XCTAssertNotEqual(result.status, 0, "\(arguments) succeeded: \(result.stdout)", file: file, line: line)
        XCTAssertEqual(lines.count, 1, "\(arguments): expected one line, got:\n\(result.stderr)", file: file, line: line)
        let message = lines.first.map(String.init) ?? ""
        print("bad input: cltrain \(arguments.prefix(2).joined(separator: " ")) ... -> status \(result.status): \(message)")
        XCTAssertTrue(message.hasPrefix("error: "), message, file: file, line: line)
        for word in words {
            XCTAssertTrue(message.lowercased().contains(word.lowercased()), "\(arguments): '\(message)' lacks '\(word)'", file: file, line: line)
        }
        for crash in ["Backtrac", "Fatal error", "crashed", "Stack dump"] {
            XCTAssertFalse(result.stderr.contains(crash), "\(arguments) crashed:\n\(result.stderr)", file: file, line: line)
        }
        XCTAssertEqual(try Data(contentsOf: sentinel), Self.sentinelBytes, "\(arguments) overwrote a file", file: file, line: line)
        return message
    }

    func train(_ data: URL, _ extra: [String] = []) -> [String] {
        ["train", "--quiet", "--model", "densenet-bc-10-k4", "--data", data.path, "--epochs", "1", "--device", "cpu",
         "--save", sentinel.path, "--out", directory.appendingPathComponent("run").path] + extra
    }

    func dataFolder(_ name: String) throws -> URL {
        let folder = directory.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try CLI.writeDataset(in: folder)
        return folder
    }

    // MARK: Data

    func testMissingDataFolder() throws {
        try expectFailure(train(directory.appendingPathComponent("nowhere")), mentioning: ["nowhere"])
    }

    func testMissingFile() throws {
        let data = try dataFolder("missing")
        try FileManager.default.removeItem(at: data.appendingPathComponent("train-labels-idx1-ubyte"))
        try expectFailure(train(data), mentioning: ["train-labels"])
    }

    func testWrongMagicNumber() throws {
        let data = try dataFolder("magic")
        var bytes = CLI.idxImages(count: 32)
        bytes[3] = 9
        try Data(bytes).write(to: data.appendingPathComponent("train-images-idx3-ubyte"))
        try expectFailure(train(data), mentioning: ["magic", "train-images"])
    }

    func testTruncatedFile() throws {
        let data = try dataFolder("truncated")
        try Data(CLI.idxImages(count: 32).dropLast(100)).write(to: data.appendingPathComponent("train-images-idx3-ubyte"))
        try expectFailure(train(data), mentioning: ["train-images"])
    }

    func testImageAndLabelCountsDiffer() throws {
        let data = try dataFolder("counts")
        try Data(idxLabels((0..<31).map { UInt8($0 % 10) })).write(to: data.appendingPathComponent("train-labels-idx1-ubyte"))
        try expectFailure(train(data), mentioning: ["32", "31"])
    }

    /// `--dataset folder`: a damaged image stops the run at load, naming the file, before a model
    /// is built; an empty class folder and a missing val/ are named the same way.
    func testImageFolderWithABadFile() throws {
        let data = directory.appendingPathComponent("images")
        let image = patternImage(width: 16, height: 16, channels: 1, value: 90)
        try writeImageFolder(data, ["train": ["cat": [image, image], "dog": [image]], "val": ["cat": [image], "dog": [image]]])
        let bad = data.appendingPathComponent("train/dog/001.jpg")
        try Data("<html>not found</html>".utf8).write(to: bad)
        try expectFailure(train(data, ["--dataset", "folder"]), mentioning: [bad.path, "remove it"])
        try FileManager.default.removeItem(at: bad)
        try FileManager.default.createDirectory(at: data.appendingPathComponent("train/bird"), withIntermediateDirectories: true)
        try expectFailure(train(data, ["--dataset", "folder"]), mentioning: ["train/bird", "no .jpg"])
        try FileManager.default.removeItem(at: data.appendingPathComponent("train/bird"))
        try FileManager.default.removeItem(at: data.appendingPathComponent("val"))
        try expectFailure(train(data, ["--dataset", "folder"]), mentioning: ["no val/", "--val-split"])
    }

    func testLabelOutsideTheClasses() throws {
        let data = try dataFolder("labels")
        try Data(idxLabels((0..<32).map { $0 == 5 ? 12 : UInt8($0 % 10) })).write(to: data.appendingPathComponent("train-labels-idx1-ubyte"))
        try expectFailure(train(data), mentioning: ["12"])
    }

    func testCorruptGzipStream() throws {
        let data = try dataFolder("gzip")
        try FileManager.default.removeItem(at: data.appendingPathComponent("train-images-idx3-ubyte"))
        try Data([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3] + (0..<64).map { UInt8($0 * 7 % 256) })
            .write(to: data.appendingPathComponent("train-images-idx3-ubyte.gz"))
        try expectFailure(train(data), mentioning: ["gzip"])
    }

    func testEmptyFile() throws {
        let data = try dataFolder("empty")
        try Data().write(to: data.appendingPathComponent("train-images-idx3-ubyte"))
        try expectFailure(train(data), mentioning: ["empty"])
    }

    func testCIFARFileOfPartialRecords() throws {
        let cifar = directory.appendingPathComponent("cifar")
        try FileManager.default.createDirectory(at: cifar, withIntermediateDirectories: true)
        for name in ["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"] {
            try Data(count: 3073 * 2).write(to: cifar.appendingPathComponent(name))
        }
        try Data(count: 3073 + 100).write(to: cifar.appendingPathComponent("data_batch_1.bin"))
        try expectFailure(["train", "--dataset", "cifar10", "--data", cifar.path, "--device", "cpu", "--save", sentinel.path,
                           "--out", directory.appendingPathComponent("run").path], mentioning: ["data_batch_1", "record"])
    }

    // MARK: Flags

    func testBadFlags() throws {
        let data = try dataFolder("flags")
        try expectFailure(train(data, ["--batch-size", "0"]), mentioning: ["--batch-size"])
        try expectFailure(train(data, ["--lr", "-0.1"]), mentioning: ["--lr"])  // parsed as a missing value
        try expectFailure(train(data, ["--lr=-0.1"]), mentioning: ["--lr must be a positive number"])
        try expectFailure(train(data, ["--lr", "nan"]), mentioning: ["--lr"])
        try expectFailure(train(data, ["--epochs", "0"]), mentioning: ["--epochs"])
        try expectFailure(train(data, ["--log-every", "0"]), mentioning: ["--log-every"])
        try expectFailure(["train", "--model", "densenet-7b", "--data", data.path], mentioning: ["densenet-7b", "cltrain models"])
        try expectFailure(["train", "--dataset", "imagenet", "--data", data.path], mentioning: ["imagenet"])
        try expectFailure(train(data, ["--device", "cuda:0"]), mentioning: ["cuda:0"])
        try expectFailure(["train", "--resume", data.path], mentioning: ["no checkpoint"])
        // An --out that cannot be created (below a regular file) is reported before training.
        try expectFailure(["train", "--data", data.path, "--device", "cpu", "--out", sentinel.appendingPathComponent("run").path],
                          mentioning: ["--out"])
        // A loss that becomes NaN names the step.
        try expectFailure(train(data, ["--mean", "0", "--std", "1e-38"]), mentioning: ["step 1", "nan"])
    }

    func testBadScheduleFlags() throws {
        let data = try dataFolder("schedule")
        try expectFailure(train(data, ["--optimizer", "lamb"]), mentioning: ["lamb", "adamw"])
        try expectFailure(train(data, ["--grad-clip", "0"]), mentioning: ["--grad-clip must be a positive number"])
        try expectFailure(train(data, ["--ema", "1"]), mentioning: ["--ema must be a decay in (0, 1)"])
        try expectFailure(train(data, ["--label-smoothing", "1.5"]), mentioning: ["--label-smoothing must be in [0, 1)"])
        try expectFailure(train(data, ["--schedule", "linear"]), mentioning: ["linear", "multistep"])
        try expectFailure(train(data, ["--milestones", "0.5"]), mentioning: ["--milestones", "--schedule multistep"])
        try expectFailure(train(data, ["--epochs", "3", "--schedule", "multistep", "--milestones", "2", "1"]), mentioning: ["--milestones must increase"])
        try expectFailure(train(data, ["--schedule", "multistep"]), mentioning: ["needs --milestones"])
        try expectFailure(train(data, ["--warmup-epochs", "1"]), mentioning: ["--warmup-epochs", "--epochs"])
        try expectFailure(train(data, ["--schedule", "cosine", "--min-lr", "0.5"]), mentioning: ["--min-lr", "--lr"])
    }

    // MARK: Models and their inputs

    func testAModelThatCannotTakeTheImagesIsOneLineBeforeTraining() throws {
        let data = try dataFolder("small-images")
        let train = try expectFailure(["train", "--quiet", "--model", "densenet-121", "--data", data.path, "--device", "cpu",
                                       "--save", sentinel.path, "--out", directory.appendingPathComponent("run").path],
                                      mentioning: ["28x28", "densenet-121", "29x29", "add --resize 32"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory.appendingPathComponent("run/checkpoint.safetensors").path), train)
        try expectFailure(["train", "--quiet", "--model", "densenet-121", "--resize", "16", "--data", data.path, "--device", "cpu",
                           "--out", directory.appendingPathComponent("run").path], mentioning: ["16x16", "use --resize 32"])
        for command in [["bench", "train", "--steps", "1"], ["tune"]] {
            try expectFailure(command + ["--model", "densenet-121", "--size", "28", "--device", "cpu"], mentioning: ["28x28", "29x29", "use --size 32"])
        }
        // The shapes of a synthetic step and of predict's classes.
        try expectFailure(["bench", "train", "--model", "densenet-bc-10-k4", "--size", "1", "--device", "cpu"], mentioning: ["--size at least 8"])
        try expectFailure(["bench", "train", "--model", "densenet-bc-10-k4", "--classes", "1", "--device", "cpu"], mentioning: ["--classes at least 2"])
        try expectFailure(["predict", "--model", "densenet-bc-10-k4", "--weights", sentinel.path, "--input", sentinel.path,
                           "--output", directory.appendingPathComponent("p.csv").path, "--classes", "0"], mentioning: ["--classes must be at least 1"])
    }

    /// `--resize` so large that no step can fit: refused before training with the figures, not an
    /// allocation crash or the OOM killer an hour later.
    func testAStepFarLargerThanMemoryIsOneLineBeforeTraining() throws {
        let data = try dataFolder("huge-resize")
        let run = directory.appendingPathComponent("run")
        let output = try expectFailure(["train", "--quiet", "--model", "densenet-bc-10-k4", "--resize", "6000", "--batch-size", "64",
                                        "--data", data.path, "--device", "cpu", "--out", run.path],
                                       mentioning: ["64 images of 6000x6000", "of host memory", "available", "lower --batch-size or --resize"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: run.appendingPathComponent("checkpoint.safetensors").path), output)
    }

    func testAResumeThatWouldChangeTheRunIsOneLine() throws {
        _ = try validWeights()
        let run = directory.appendingPathComponent("w").path
        try expectFailure(["train", "--resume", run, "--lr", "0.5", "--seed", "2"], mentioning: ["--lr, --seed would change it", "drop them"])
        try expectFailure(["train", "--resume", run, "--epochs", "2"], mentioning: ["--steps 1", "cannot extend"])
        try expectFailure(["train", "--resume", run, "--init", sentinel.path], mentioning: ["drop --init"])
    }

    // MARK: Weights

    /// Valid weights of densenet-bc-10-k4 for 28x28 one-channel images, written by cltrain.
    func validWeights() throws -> (data: URL, weights: URL) {
        let data = try dataFolder("weights-data")
        let weights = directory.appendingPathComponent("valid.safetensors")
        let result = try CLI.run(["train", "--model", "densenet-bc-10-k4", "--data", data.path, "--epochs", "1", "--steps", "1",
                                  "--batch-size", "8", "--device", "cpu", "--save", weights.path, "--out", directory.appendingPathComponent("w").path])
        XCTAssertEqual(result.status, 0, result.stderr)
        return (data, weights)
    }

    func eval(_ data: URL, _ weights: URL, model: String = "densenet-bc-10-k4") -> [String] {
        ["eval", "--model", model, "--weights", weights.path, "--data", data.path, "--device", "cpu"]
    }

    func testBadWeightsFiles() throws {
        let (data, weights) = try validWeights()
        let bytes = [UInt8](try Data(contentsOf: weights))
        let bad = directory.appendingPathComponent("bad.safetensors")
        func write(_ b: [UInt8]) throws { try Data(b).write(to: bad) }

        try write(Array(bytes.prefix(5)))
        try expectFailure(eval(data, bad), mentioning: ["bad.safetensors"])
        try write(Array(bytes.dropLast(1000)))
        try expectFailure(eval(data, bad), mentioning: ["bad.safetensors"])

        var header = bytes
        header.replaceSubrange(0..<8, with: withUnsafeBytes(of: UInt64(10_000_000).littleEndian) { Array($0) })
        try write(header)
        try expectFailure(eval(data, bad), mentioning: ["header"])

        let length = Int(safetensorsHeaderLength(bytes))
        var notJSON = bytes
        notJSON[8] = UInt8(ascii: "#")
        try write(notJSON)
        try expectFailure(eval(data, bad), mentioning: ["json"])

        let json = String(decoding: bytes[8..<8 + length], as: UTF8.self)
        func rewrite(_ edit: (String) -> String) throws {
            var text = edit(json)
            while text.utf8.count < length { text += " " }
            XCTAssertEqual(text.utf8.count, length, "the edit must keep the header length")
            try write(Array(bytes[0..<8]) + Array(text.utf8) + Array(bytes[(8 + length)...]))
        }
        // A dtype other than F32 (F16 over half the bytes would not match: say I32, same size).
        try rewrite { $0.replacingOccurrences(of: "\"classifier.bias\":{\"dtype\":\"F32\"", with: "\"classifier.bias\":{\"dtype\":\"I32\"") }
        try expectFailure(eval(data, bad), mentioning: ["classifier.bias", "I32"])
        // A missing tensor (renamed out of the model) is also an unexpected one: the first is reported.
        try rewrite { $0.replacingOccurrences(of: "\"classifier.bias\"", with: "\"classifier.bia5\"") }
        try expectFailure(eval(data, bad), mentioning: ["classifier.bias"])
        // A shape that does not fit the chosen model: same weights, another model.
        let shape = try expectFailure(eval(data, weights, model: "densenet-bc-10-k6"), mentioning: ["features.conv0.weight"])
        XCTAssertTrue(shape.contains("[12, 1, 3, 3]") && shape.contains("[8, 1, 3, 3]"), "both shapes: \(shape)")
        // An unexpected tensor only.
        try rewrite { $0.replacingOccurrences(of: "\"features.norm5.num_batches_tracked\"", with: "\"features.extra.thing_present\"") }
        try expectFailure(eval(data, bad), mentioning: ["features.extra.thing_present"])
    }

    // MARK: Devices

    func testABatchTooLargeForMemory() throws {
        try expectFailure(["bench", "train", "--model", "densenet-bc-10-k4", "--batch-size", "60000000", "--device", "cpu", "--steps", "1"],
                          mentioning: ["out of memory", "smaller batch"])
    }

    func testAKernelThatFailsToBuildShowsItsLog() throws {
        let listing = try CLI.run(["devices"])
        guard listing.stdout.contains("opencl:0") else { throw XCTSkip("no OpenCL platform found: skipping the kernel build failure test") }
        let kernels = directory.appendingPathComponent("kernels")
        try FileManager.default.createDirectory(at: kernels, withIntermediateDirectories: true)
        for family in ["conv", "pool", "concat", "norm", "elementwise", "loss", "optim"] {
            try Data("__kernel void \(family)_broken(__global float* x) { x[0] = not_declared_here; }\n".utf8)
                .write(to: kernels.appendingPathComponent("\(family).cl"))
        }
        try expectFailure(["bench", "kernels", "--device", "opencl:0", "--filter", "fill"], mentioning: ["not_declared_here", "failed to build"],
                          environment: ["CLTRAIN_KERNELS_DIR": kernels.path, "CLTRAIN_CACHE_DIR": directory.appendingPathComponent("cache").path])
    }
}
