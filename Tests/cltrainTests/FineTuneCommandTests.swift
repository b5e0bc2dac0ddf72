import CLTrainData
import CLTrainTestSupport
import Foundation
import XCTest

/// `cltrain train --init` with torchvision's own networks, converted by
/// scripts/torchvision-to-safetensors.py: resnet18 and densenet121 of 1000 classes fine-tuned to
/// 10 with `--freeze features`, and the one-line error of a stem made for other channels.
final class FineTuneCommandTests: XCTestCase {
    var directory: URL!

    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scripts/torchvision-to-safetensors.py")

    /// Imports the converter as a module (its name has dashes), then the torchvision it imports.
    static let prelude = """
        import importlib.util, sys
        spec = importlib.util.spec_from_file_location("converter", sys.argv[1])
        converter = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(converter)
        torchvision = converter.import_torchvision()
        """

    override func setUpWithError() throws {
        directory = try makeTemporaryDirectory()
    }

    /// A CIFAR-10 folder (3-channel 32 x 32, what torchvision's stems take) of 5 x 4 training and 8 test images.
    func writeCIFAR() throws -> URL {
        let folder = directory.appendingPathComponent("cifar")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for name in DatasetLoader.fileNames(kind: .cifar10, split: .train) {
            try Data(cifarRecords([0, 3, 5, 9], variant: .cifar10)).write(to: folder.appendingPathComponent(name))
        }
        try Data(cifarRecords((0..<8).map { UInt8($0) }, variant: .cifar10)).write(to: folder.appendingPathComponent("test_batch.bin"))
        return folder
    }

    func testTorchvisionNetworksFineTuneToTenClasses() throws {
        let check = try RunningProcess(URL(fileURLWithPath: "/usr/bin/env"), ["python3", "-c", Self.prelude, Self.script.path]).finish()
        guard check.status == 0 else {
            throw XCTSkip("python3 with torch, torchvision and safetensors not found (\(check.stderr.split(separator: "\n").last ?? "")); "
                          + "pip install torch torchvision safetensors, or put a venv with them first on PATH, to run this test")
        }
        let data = try writeCIFAR()
        // torchvision's networks as a user saves them, converted by the script.
        _ = try runPython(Self.prelude + """

            import os, torch
            folder = sys.argv[2]
            torch.manual_seed(0)
            for name in ("resnet18", "densenet121"):
                pth = os.path.join(folder, name + ".pth")
                torch.save(getattr(torchvision.models, name)(weights=None).state_dict(), pth)
                assert converter.main([pth, os.path.join(folder, name + ".safetensors")]) == 0
            """, [Self.script.path, directory.path])
        for (model, torchvision, classifier) in [("resnet-18", "resnet18", "fc"), ("densenet-121", "densenet121", "classifier")] {
            let converted = directory.appendingPathComponent("\(torchvision).safetensors").path
            let saved = directory.appendingPathComponent("\(model)-tuned.safetensors").path
            let result = try CLI.run(["train", "--model", model, "--dataset", "cifar10", "--data", data.path, "--init", converted,
                                      "--freeze", "features", "--steps", "2", "--batch-size", "4", "--no-augment", "--device", "cpu",
                                      "--save", saved, "--out", directory.appendingPathComponent("run-\(model)").path], timeout: 600)
            XCTAssertEqual(result.status, 0, "\(model): \(result.stderr)")
            XCTAssertTrue(result.stderr.contains("classifier: file has 1000 classes, model 10: re-initialised"), result.stderr)
            // Every tensor but the classifier is bitwise torchvision's after the steps; the classifier has 10 classes.
            let summary = try runPython("""
                import sys
                from safetensors.numpy import load_file
                file, tuned, prefix = load_file(sys.argv[1]), load_file(sys.argv[2]), sys.argv[3]
                assert set(file) == set(tuned), set(file) ^ set(tuned)
                for name in file:
                    if name.startswith(prefix + "."):
                        assert tuned[name].shape[0] == 10 and file[name].shape[0] == 1000, name
                    else:
                        assert file[name].dtype == tuned[name].dtype and file[name].shape == tuned[name].shape, name
                        assert file[name].tobytes() == tuned[name].tobytes(), name + " changed"
                print(len(file))
                """, [converted, saved, classifier])
            XCTAssertEqual(summary.trimmingCharacters(in: .whitespacesAndNewlines), model == "resnet-18" ? "122" : "727", model)
        }

        // A stem for RGB on grayscale data: one line that says to add --channels 3.
        let gray = directory.appendingPathComponent("gray")
        try FileManager.default.createDirectory(at: gray, withIntermediateDirectories: true)
        try CLI.writeDataset(in: gray)
        let resnet = directory.appendingPathComponent("resnet18.safetensors").path
        let result = try CLI.run(["train", "--quiet", "--model", "resnet-18", "--data", gray.path, "--init", resnet, "--steps", "1",
                                  "--device", "cpu", "--out", directory.appendingPathComponent("run-gray").path])
        XCTAssertNotEqual(result.status, 0)
        let lines = result.stderr.split(whereSeparator: \.isNewline)
        XCTAssertEqual(lines.count, 1, result.stderr)
        XCTAssertTrue(result.stderr.hasPrefix("error: \(resnet): tensor 'conv1.weight'"), result.stderr)
        XCTAssertTrue(result.stderr.contains("add --channels 3"), result.stderr)

        // The script's --input-channels 1 sums the stem over RGB: the grayscale data then fits.
        let summed = directory.appendingPathComponent("resnet18-gray.safetensors").path
        _ = try runPython(Self.prelude + "\nassert converter.main([sys.argv[2], sys.argv[3], '--input-channels', '1']) == 0",
                          [Self.script.path, directory.appendingPathComponent("resnet18.pth").path, summed])
        let fits = try CLI.run(["train", "--quiet", "--model", "resnet-18", "--data", gray.path, "--init", summed, "--freeze", "features",
                                "--steps", "1", "--batch-size", "4", "--device", "cpu", "--out", directory.appendingPathComponent("run-gray1").path])
        XCTAssertEqual(fits.status, 0, fits.stderr)
    }

    /// The script's errors are one line on stderr.
    func testTheScriptRefusesABadFileInOneLine() throws {
        guard pythonCanImport("torch, safetensors") else {
            throw XCTSkip("python3 with torch and safetensors not found; pip install torch safetensors to run this test")
        }
        let bad = directory.appendingPathComponent("bad.pth")
        try Data("not a checkpoint".utf8).write(to: bad)
        let list = directory.appendingPathComponent("list.pth")
        _ = try runPython("import sys, torch; torch.save([1, 2], sys.argv[1])", [list.path])
        for (file, words) in [(bad, ["not a PyTorch checkpoint"]), (list, ["holds a list", "state_dict"]),
                              (directory.appendingPathComponent("none.pth"), ["no such file"])] {
            let result = try RunningProcess(URL(fileURLWithPath: "/usr/bin/env"),
                                            ["python3", Self.script.path, file.path, directory.appendingPathComponent("x.safetensors").path]).finish()
            XCTAssertEqual(result.status, 1, result.stderr)
            XCTAssertEqual(result.stderr.split(whereSeparator: \.isNewline).count, 1, result.stderr)
            XCTAssertTrue(result.stderr.hasPrefix("error: \(file.path): "), result.stderr)
            for word in words { XCTAssertTrue(result.stderr.contains(word), result.stderr) }
        }
    }
}
