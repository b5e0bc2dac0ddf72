import CLTrainIO
import CLTrainTestSupport
import Foundation
import XCTest

/// `cltrain train` under `mpirun -np 2` (CPU backend, one thread per rank) against one process at
/// the same global batch. With `--freeze features` no batch norm sees a batch (the features run
/// in inference mode), so a step depends on no batch statistics and two ranks must give the
/// weights of one process to float rounding: a sharp check of the shards, the loss weights of
/// unequal shares, the gradient average and the data order. Without it each rank's batch norms
/// see their own share (PyTorch DDP's default), and the loss only stays within noise; with
/// `--sync-bn` they see the global batch's statistics and the weights match one process again.
final class DataParallelTests: XCTestCase {
    var directory: URL!
    var data: String { directory.appendingPathComponent("data").path }

    override func setUpWithError() throws {
        directory = try makeTemporaryDirectory()
        let data = directory.appendingPathComponent("data")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        try CLI.writeDataset(in: data, count: 64)
    }

    /// `cltrain arguments`, in one process or as `ranks` ranks of `mpirun`.
    private func train(ranks: Int, _ arguments: [String], timeout: Double = 180) throws -> ProcessResult {
        guard ranks > 1 else { return try CLI.run(["train"] + arguments, timeout: timeout) }
        let launcher = try mpirunExecutable()
        let running = try RunningProcess(launcher, ["--allow-run-as-root", "--oversubscribe", "-np", "\(ranks)", try CLI.executable().path,
                                                    "train"] + arguments)
        let deadline = Date().addingTimeInterval(timeout)
        while running.process.isRunning && Date() < deadline { usleep(20_000) }
        if running.process.isRunning { running.process.terminate() }
        return running.finish()
    }

    /// A small run's flags: DenseNet-BC-10-k4 (unless `extra` names a model) on the 64 images, on the
    /// CPU, each convolution with its rule (`--tune=off`, one word: mpirun takes a separate `--tune
    /// FILE` as its own), so that one process and the ranks take the same algorithms and the
    /// comparisons are of the synchronisation, not of the tuner's choices.
    private func flags(_ out: String, _ extra: [String], device: String = "cpu") -> [String] {
        (extra.contains("--model") ? [] : ["--model", "densenet-bc-10-k4"])
            + ["--data", data, "--device", device, "--tune=off", "--out", directory.appendingPathComponent(out).path] + extra
    }

    private func weights(_ run: String) throws -> [String: [Float]] {
        let file = try SafetensorsFile.read(contentsOf: directory.appendingPathComponent(run).appendingPathComponent("weights.safetensors"))
        return try Dictionary(uniqueKeysWithValues: file.tensorNames.filter { !$0.hasSuffix("num_batches_tracked") }.map { ($0, try file.floats($0)) })
    }

    /// The largest relative difference (L2 norm of the difference over the L2 norm) of a tensor.
    private func worstDifference(_ a: [String: [Float]], _ b: [String: [Float]]) -> (Double, String) {
        XCTAssertEqual(Set(a.keys), Set(b.keys))
        var worst = (0.0, "")
        for (name, x) in a {
            guard let y = b[name], x.count == y.count else { return (.infinity, name) }
            let difference = zip(x, y).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }.squareRoot()
            let norm = x.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            let relative = difference / max(norm, 1e-30)
            if relative > worst.0 { worst = (relative, name) }
        }
        return worst
    }

    private func metrics(_ run: String) throws -> [[String]] {
        let text = try String(contentsOf: directory.appendingPathComponent(run).appendingPathComponent("metrics.csv"), encoding: .utf8)
        return text.split(separator: "\n").dropFirst().map { $0.split(separator: ",").map(String.init) }
    }

    /// The names of a run folder's files, with TensorBoard's time stamp taken out.
    private func files(_ run: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory.appendingPathComponent(run).path)
            .map { $0.hasPrefix("events.out.tfevents.") ? "events.out.tfevents.*" : $0 }.sorted()
    }

    func testTwoRanksWithFrozenFeaturesGiveTheWeightsOfOneProcessAndWriteItsFiles() throws {
        // Batch 5 over 2 ranks: shares of 3 and 2 images (loss weights 6/5 and 4/5); 64 images
        // leave a last batch of 4. Two epochs of 13 steps, tested after each.
        let run = ["--epochs", "2", "--batch-size", "5", "--freeze", "features", "--lr", "0.05"]
        let one = try train(ranks: 1, flags("one", run))
        XCTAssertEqual(one.status, 0, one.stderr)
        let two = try train(ranks: 2, flags("two", run))
        XCTAssertEqual(two.status, 0, two.stdout + two.stderr)
        let (worst, name) = worstDifference(try weights("one"), try weights("two"))
        XCTAssertLessThan(worst, 1e-5, "\(name) differs")
        // Rank 0 alone writes: the folder holds the single-process files, and one epoch line each.
        XCTAssertEqual(try files("two"), try files("one"))
        XCTAssertEqual(two.stdout.components(separatedBy: "epoch 2/2").count - 1, 1, two.stdout)
        XCTAssert(two.stderr.contains("data-parallel: 2 ranks"), two.stderr)
        // The epochs' figures are the global batch's: the same losses and accuracies (the test pass sharded).
        let (a, b) = (try metrics("one"), try metrics("two"))
        XCTAssertEqual(a.count, 2)
        for (x, y) in zip(a, b) {
            XCTAssertEqual(x[0...2], y[0...2])  // epoch, step, lr
            for column in [3, 4, 5, 6] { XCTAssertEqual(Double(x[column])!, Double(y[column])!, accuracy: 1e-4, "column \(column)") }
        }
    }

    /// `--sync-bn`: every batch norm normalises with the global batch's statistics and its
    /// backward takes the global gradient sums, so two ranks give the weights (and running
    /// statistics) of one process, with equal shares (8 = 4 + 4) and unequal ones (5 = 3 + 2):
    /// 5 steps of DenseNet-BC-10-k4, one of DRN-D-22 (without --sync-bn two ranks are 1.6 away
    /// after one DRN step). DRN-D-22 is compared after one step only: on 28x28 images its last
    /// stages normalise 4x4 maps of a few samples, and over 5 steps float rounding alone is
    /// amplified without bound (measured: scaling the input by 1 + 3e-7 moves its batch norms'
    /// biases by 25% and conv weights by 2e-3 after 5 steps at a learning rate of 1e-5), so two
    /// ranks could only match one process there by summing in the same order; after one step
    /// they are 3e-6 (batch 8) and 5e-6 (batch 5) apart.
    func testTwoRanksWithSyncBatchNormGiveTheWeightsOfOneProcess() throws {
        for (model, steps) in [("densenet-bc-10-k4", "5"), ("drn-d-22", "1")] {
            for batch in [8, 5] {
                let run = ["--model", model, "--epochs", "1", "--steps", steps, "--batch-size", "\(batch)", "--lr", "0.05", "--sync-bn"]
                let one = try train(ranks: 1, flags("one-\(model)-\(batch)", run))
                XCTAssertEqual(one.status, 0, one.stderr)
                let two = try train(ranks: 2, flags("two-\(model)-\(batch)", run))
                XCTAssertEqual(two.status, 0, two.stdout + two.stderr)
                let (worst, name) = worstDifference(try weights("one-\(model)-\(batch)"), try weights("two-\(model)-\(batch)"))
                XCTAssertLessThan(worst, 1e-5, "\(model), batch \(batch): \(name) differs")
            }
        }
    }

    /// Two ranks on PoCL, each with its own OpenCL context on the same CPU device: with
    /// `--sync-bn`, 5 steps give the weights of one process on that device (unequal shares, 5 =
    /// 3 + 2), so the OpenCL backend's reads and writes of gradients and statistics take part too.
    func testTwoRanksOnOpenCLWithSyncBatchNormGiveTheWeightsOfOneProcess() throws {
        do {
            _ = try SharedOpenCL.device.get()
        } catch is SharedOpenCL.NoPlatform {
            throw XCTSkip("no OpenCL platform found (install pocl-opencl-icd): skipping two ranks on PoCL")
        }
        let run = ["--epochs", "1", "--steps", "5", "--batch-size", "5", "--lr", "0.05", "--sync-bn"]
        let one = try train(ranks: 1, flags("one-opencl", run, device: "opencl"), timeout: 300)
        XCTAssertEqual(one.status, 0, one.stderr)
        let two = try train(ranks: 2, flags("two-opencl", run, device: "opencl"), timeout: 300)
        XCTAssertEqual(two.status, 0, two.stdout + two.stderr)
        XCTAssert(two.stderr.contains("data-parallel: 2 ranks"), two.stderr)
        XCTAssert((two.stdout + two.stderr).contains("device: opencl:"), two.stdout + two.stderr)
        let (worst, name) = worstDifference(try weights("one-opencl"), try weights("two-opencl"))
        XCTAssertLessThan(worst, 1e-5, "\(name) differs")
    }

    func testTwoRanksWithPerRankBatchNormStayWithinNoiseOfOneProcess() throws {
        let run = ["--epochs", "3", "--batch-size", "16", "--lr", "0.05"]
        let one = try train(ranks: 1, flags("one", run))
        XCTAssertEqual(one.status, 0, one.stderr)
        let two = try train(ranks: 2, flags("two", run))
        XCTAssertEqual(two.status, 0, two.stdout + two.stderr)
        let (a, b) = (try metrics("one"), try metrics("two"))
        XCTAssertEqual(a.map { $0[1] }, b.map { $0[1] }, "the same steps")
        for (x, y) in zip(a, b) {
            let (lossA, lossB) = (Double(x[3])!, Double(y[3])!)
            XCTAssertEqual(lossA, lossB, accuracy: 0.05 * lossA, "train loss of epoch \(x[0])")
            XCTAssertNotEqual(lossA, lossB, "per-rank batch statistics differ from the global batch's")
        }
    }

    func testResumeContinuesTheSameRunWithAnotherNumberOfRanks() throws {
        // The reference: 2 epochs of 8 steps at once. Then the same run killed after step 6 (the
        // checkpoint of step 4 stays) and resumed with the other number of ranks, both ways.
        let run = ["--epochs", "2", "--batch-size", "8", "--freeze", "features", "--lr", "0.05", "--checkpoint-every", "4"]
        let whole = try train(ranks: 1, flags("whole", run))
        XCTAssertEqual(whole.status, 0, whole.stderr)
        for (first, then) in [(1, 2), (2, 1)] {
            let name = "from\(first)to\(then)"
            let killed = try train(ranks: first, flags(name, run + ["--kill-rank", "\(first - 1):6"]))
            XCTAssertNotEqual(killed.status, 0, killed.stderr)
            let folder = directory.appendingPathComponent(name).path
            let resumed = try train(ranks: then, ["--resume", folder])
            XCTAssertEqual(resumed.status, 0, resumed.stdout + resumed.stderr)
            XCTAssert(resumed.stderr.contains("at epoch 1, step 4"), resumed.stderr)
            let (worst, tensor) = worstDifference(try weights("whole"), try weights(name))
            XCTAssertLessThan(worst, 1e-5, "\(name): \(tensor) differs")
            XCTAssertEqual(try metrics(name).map { $0[0...2] }, try metrics("whole").map { $0[0...2] })
        }
    }

    func testAKilledRankEndsTheJobWithinSecondsAndLeavesALoadableCheckpoint() throws {
        let run = flags("run", ["--epochs", "2", "--batch-size", "8", "--checkpoint-every", "2", "--kill-rank", "1:3"])
        let result = try train(ranks: 2, run, timeout: 120)
        let ended = Date().timeIntervalSince1970
        XCTAssertNotEqual(result.status, 0, "the job must fail")
        let line = try XCTUnwrap(result.stderr.split(separator: "\n").first { $0.hasPrefix("rank 1 kills itself at ") }, result.stderr)
        let killed = try XCTUnwrap(Double(line.dropFirst("rank 1 kills itself at ".count)))
        XCTAssertLessThan(ended - killed, 10, "mpirun took \(ended - killed) s to end the job")
        XCTAssert(result.stderr.contains("rank 1") && result.stderr.contains("signal 9"), "mpirun names the rank:\n\(result.stderr)")
        // The checkpoint of step 2 is whole: one process resumes from it and finishes the run.
        let resumed = try train(ranks: 1, ["--resume", directory.appendingPathComponent("run").path])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssert(resumed.stderr.contains("at epoch 1, step 2"), resumed.stderr)
        XCTAssertEqual(try metrics("run").map { $0[1] }, ["8", "16"])
    }

    func testRanksStartedWithDifferentSettingsFailWithOneLineNamingTheRank() throws {
        // mpirun's MPMD form starts rank 0 and rank 1 with different flags.
        let cltrain = try CLI.executable().path
        let common = flags("run", ["--epochs", "1", "--batch-size", "8"])
        let running = try RunningProcess(try mpirunExecutable(), ["--allow-run-as-root", "--oversubscribe", "-np", "1", cltrain, "train"] + common
                                         + ["--lr", "0.1", ":", "-np", "1", cltrain, "train"] + common + ["--lr", "0.2"])
        let deadline = Date().addingTimeInterval(120)
        while running.process.isRunning && Date() < deadline { usleep(20_000) }
        if running.process.isRunning { running.process.terminate() }
        let result = running.finish()
        XCTAssertNotEqual(result.status, 0)
        let errors = result.stderr.split(separator: "\n").filter { $0.hasPrefix("error:") }
        XCTAssertEqual(errors, ["error: rank 1 runs with learningRate = 0.2 but rank 0 with 0.1: start every rank with the same settings, model and data"],
                       result.stderr)
    }

    func testABatchTheRanksCannotShareIsRefused() throws {
        let result = try train(ranks: 2, flags("run", ["--epochs", "1", "--batch-size", "7"]))
        XCTAssertNotEqual(result.status, 0)
        XCTAssert(result.stderr.contains("error: the epoch's last batch (1 image) cannot be shared by 2 ranks"), result.stderr)
    }
}
