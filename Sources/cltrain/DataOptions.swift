import ArgumentParser
import CLTrainData
import CLTrainRuntime
import CLTrainTraining
import Foundation

/// `--dataset`, `--data`, `--mean`, `--std`: shared by train, eval and predict.
struct DataOptions: ParsableArguments {
    @Option(name: .long, help: "fashion-mnist, mnist, cifar10 or cifar100.",
            transform: { text in
                guard let kind = DatasetKind(rawValue: text.lowercased()) else {
                    throw ValidationError("unknown dataset '\(text)': use fashion-mnist, mnist, cifar10 or cifar100")
                }
                return kind
            })
    var dataset: DatasetKind = .fashionMNIST

    @Option(name: .customLong("data"), help: "Folder of the data set files (default for fashion-mnist: /usr/share/datasets/fashion-mnist).")
    var dataDirectory: String?

    @Option(name: .long, parsing: .upToNextOption, help: "Per-channel mean (one value per channel) overriding the stored or computed one.")
    var mean: [Float] = []

    @Option(name: .long, parsing: .upToNextOption, help: "Per-channel standard deviation, with --mean.")
    var std: [Float] = []

    /// The override, when both are given.
    func normalizationOverride() throws -> Normalization? {
        if mean.isEmpty && std.isEmpty { return nil }
        guard mean.count == std.count else {
            throw ValidationError("--mean and --std need the same number of values (one per channel)")
        }
        return Normalization(mean: mean, std: std)
    }
}

/// A folder that results go into: created if missing, and checked writable before any work.
func prepareOutputDirectory(_ path: String) throws -> URL {
    let url = URL(fileURLWithPath: path, isDirectory: true)
    do {
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    } catch {
        throw UsageError("cannot create the output folder \(path) (a file is in its way, or no permission); choose another --out")
    }
    let probe = url.appendingPathComponent(".cltrain-write-test-\(getpid())")
    guard FileManager.default.createFile(atPath: probe.path, contents: Data("ok".utf8)) else {
        throw UsageError("the output folder \(path) is not writable; choose another --out")
    }
    try? FileManager.default.removeItem(at: probe)
    return url
}

/// Fail before training when the output folder's disk cannot hold what the run will write
/// (a checkpoint beside its temporary copy, and the weights).
func checkFreeSpace(at url: URL, needed: Int) throws {
    guard let attributes = try? FileManager.default.attributesOfFileSystem(forPath: url.path),
          let free = (attributes[.systemFreeSize] as? NSNumber)?.int64Value else { return }
    if free < Int64(needed) {
        throw UsageError("\(url.path) has \(formatBytes(Int(free))) free but the run needs about \(formatBytes(needed)) "
                         + "for its checkpoints and weights; free some space or choose another --out")
    }
}
